//! Attach strategies (SPEC §3): every target gets the cheapest mechanism
//! this kernel supports, with its slot as the BPF cookie.
//!
//! - tracepoints: one link each, or, for wide syscall wildcards, one
//!   raw_syscalls program with a syscall-number table (attach and detach in
//!   milliseconds instead of seconds);
//! - kernel functions: kprobe-multi (one link for all), fentry/fexit (a
//!   trampoline each), kprobe (one link each); `auto` tries them in that
//!   order, `--backend` forces one;
//! - user functions: uprobe.multi links of 128 functions (made by the
//!   keeper, keeper.rs, where there is one), else a uprobe each;
//! - USDT probes through libbpf's USDT support.
//!
//! A target that cannot be attached is skipped with a warning; only when
//! nothing attaches is it an error. A stop signal interrupts attaching
//! between links.

use std::collections::BTreeMap;
use std::fmt;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use libbpf_rs::{
    KprobeMultiOpts, KprobeOpts, MapCore, MapFlags, MapMut, ProgramMut, RawTracepointOpts,
    TracepointCategory, TracepointOpts, UprobeMultiOpts, UprobeOpts, UsdtOpts,
};
use rtools_core::spec::KernelFlavor;
use rtools_core::targets::{Attach, Target};

use crate::error::BpfError;
use crate::keeper;
use crate::links::{Attachment, Links};
use crate::syscalls;
use crate::system;
use crate::tracing_progs::{self, KernelBtf};

/// How kernel functions are attached (`--backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    #[default]
    Auto,
    KprobeMulti,
    Fentry,
    Kprobe,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Auto => "auto",
            Backend::KprobeMulti => "kprobe-multi",
            Backend::Fentry => "fentry",
            Backend::Kprobe => "kprobe",
        })
    }
}

/// The stop request (Ctrl-C, SIGTERM) that ends a long attach between
/// probes, set by the tool.
static INTERRUPT: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// Lets `flag` (set by a stop signal) interrupt attaching: thousands of
/// probes take seconds, and Ctrl-C must answer within one.
pub fn interrupt_on(flag: Arc<AtomicBool>) {
    let _ = INTERRUPT.set(flag);
}

fn check_interrupt() -> Result<(), BpfError> {
    if INTERRUPT.get().is_some_and(|f| f.load(Ordering::SeqCst)) {
        Err(BpfError::Interrupted)
    } else {
        Ok(())
    }
}

/// Uprobes per uprobe.multi link: one link's attach is one system call
/// that cannot be interrupted, so thousands go in batches.
const UPROBE_BATCH: usize = keeper::MAX_BATCH;

/// A backend whose first this-many functions all fail is taken as not
/// working on this kernel (rather than trying 50,000 functions).
const GIVE_UP_AFTER: usize = 16;

/// Below this many syscall tracepoints, one link each costs less than a
/// program on every syscall of the machine; at or above it the raw_syscalls
/// table wins (one attach, one detach).
pub const SYSCALL_TABLE_MIN: usize = 8;
/// Must match SYSCALL_NR_MAX in count.h.
pub const SYSCALL_NR_MAX: u32 = 1024;

/// The programs a tool brings, one per attach kind; each reads its slot
/// from the attach cookie. `tracing_template` is loaded code that fentry
/// and fexit programs are cloned from. A tool that only times functions
/// has no tracepoint, syscall-table or USDT programs.
pub struct Programs<'a, 'obj> {
    pub tracepoint: Option<&'a ProgramMut<'obj>>,
    pub raw_tracepoint: Option<&'a ProgramMut<'obj>>,
    pub syscalls: Option<SyscallPrograms<'a, 'obj>>,
    pub kprobe: &'a ProgramMut<'obj>,
    pub kprobe_multi: &'a ProgramMut<'obj>,
    pub tracing_template: &'a ProgramMut<'obj>,
    pub uprobe: &'a ProgramMut<'obj>,
    pub uprobe_multi: &'a ProgramMut<'obj>,
    pub usdt: Option<&'a ProgramMut<'obj>>,
}

/// The raw_syscalls programs and their syscall-number table.
pub struct SyscallPrograms<'a, 'obj> {
    pub sys_enter: &'a ProgramMut<'obj>,
    pub sys_exit: &'a ProgramMut<'obj>,
    pub slots: &'a MapMut<'obj>,
}

const NOT_FOR_THIS_TOOL: &str = "this tool does not attach to this kind of probe";

/// Turns off loading of the programs `needs` does not ask for, in a
/// skeleton whose programs follow the shared naming (`rt_tracepoint`,
/// `rt_kprobe`, ... in count.bpf.c and stack.bpf.c). The caller decides
/// about its fentry template.
macro_rules! set_autoload {
    ($progs:expr, $needs:expr) => {{
        let (progs, needs) = (&mut $progs, $needs);
        progs.rt_tracepoint.set_autoload(needs.tracepoint);
        progs.rt_raw_tp.set_autoload(needs.raw_tracepoint);
        progs.rt_sys_enter.set_autoload(needs.syscall_table);
        progs.rt_sys_exit.set_autoload(needs.syscall_table);
        progs.rt_kprobe.set_autoload(needs.kernel);
        progs.rt_kprobe_multi.set_autoload(needs.kernel);
        progs.rt_uprobe.set_autoload(needs.uprobe);
        progs.rt_uprobe_multi.set_autoload(needs.uprobe_multi);
        progs.rt_usdt.set_autoload(needs.usdt);
    }};
}
pub(crate) use set_autoload;

/// The [`Programs`] of a loaded skeleton with the shared naming, with
/// `$template` as the fentry/fexit template.
macro_rules! event_programs {
    ($skel:expr, $template:ident) => {{
        let (p, maps) = (&$skel.progs, &$skel.maps);
        $crate::attach::Programs {
            tracepoint: Some(&p.rt_tracepoint),
            raw_tracepoint: Some(&p.rt_raw_tp),
            syscalls: Some($crate::attach::SyscallPrograms {
                sys_enter: &p.rt_sys_enter,
                sys_exit: &p.rt_sys_exit,
                slots: &maps.syscall_slots,
            }),
            kprobe: &p.rt_kprobe,
            kprobe_multi: &p.rt_kprobe_multi,
            tracing_template: &p.$template,
            uprobe: &p.rt_uprobe,
            uprobe_multi: &p.rt_uprobe_multi,
            usdt: Some(&p.rt_usdt),
        }
    }};
}
pub(crate) use event_programs;

/// Which programs the targets need loaded.
#[derive(Debug, Default, Clone, Copy)]
pub struct Needs {
    pub tracepoint: bool,
    pub raw_tracepoint: bool,
    pub syscall_table: bool,
    pub kernel: bool,
    pub uprobe: bool,
    pub uprobe_multi: bool,
    pub usdt: bool,
}

impl Needs {
    pub fn of(targets: &[Target]) -> Needs {
        let mut needs = Needs {
            syscall_table: syscall_table_entries(targets).len() >= SYSCALL_TABLE_MIN,
            ..Needs::default()
        };
        for target in targets {
            match &target.attach {
                Attach::Tracepoint { .. } => needs.tracepoint = true,
                Attach::RawTracepoint { .. } => needs.raw_tracepoint = true,
                Attach::Kernel { .. } => needs.kernel = true,
                Attach::Uprobe { .. } => needs.uprobe = true,
                Attach::Usdt { .. } => needs.usdt = true,
            }
        }
        needs.uprobe_multi = needs.uprobe && system::has_uprobe_multi();
        needs
    }
}

/// Options that change how targets attach.
#[derive(Debug, Clone, Copy, Default)]
pub struct AttachOptions {
    /// `-p`: uprobes and USDT probes fire only in this process.
    pub pid: Option<u32>,
    pub backend: Backend,
}

/// What got attached, how, and what was skipped.
#[derive(Default)]
pub struct Attached {
    pub links: Links,
    /// One line per target or group: `slot 3 vfs_read: kprobe-multi`.
    pub plan: Vec<String>,
    /// Targets skipped with the reason.
    pub warnings: Vec<String>,
    /// Slots that really attached.
    pub attached_slots: usize,
}

impl Attached {
    fn link(&mut self, a: Attachment) {
        self.links.push(a);
    }

    fn planned(&mut self, slot: usize, target: &Target, how: impl fmt::Display) {
        self.plan.push(format!(
            "slot {slot} {} ({}): {how}",
            target.name,
            target.attach.kind()
        ));
        self.attached_slots += 1;
    }

    fn skipped(&mut self, target: &Target, reason: impl fmt::Display) {
        self.warnings.push(format!(
            "skipped {} ({}): {reason}",
            target.name,
            target.attach.kind()
        ));
    }
}

/// Attaches every target; fails only if none attaches.
pub fn attach_all(
    progs: &Programs<'_, '_>,
    targets: &[Target],
    opts: &AttachOptions,
) -> Result<Attached, BpfError> {
    let mut out = Attached::default();
    let mut kernel: BTreeMap<(bool, KernelFlavor), Vec<usize>> = BTreeMap::new();
    let mut uprobes: BTreeMap<(PathBuf, bool), Vec<usize>> = BTreeMap::new();
    let table = syscall_table_entries(targets);
    let use_table = table.len() >= SYSCALL_TABLE_MIN && progs.syscalls.is_some();
    if let (true, Some(syscalls)) = (use_table, &progs.syscalls) {
        attach_syscall_table(syscalls, targets, &table, &mut out)?;
    }
    for (slot, target) in targets.iter().enumerate() {
        check_interrupt()?;
        match &target.attach {
            Attach::Tracepoint { .. } if use_table && table.iter().any(|e| e.slot == slot) => {}
            Attach::Tracepoint { category, event } => {
                let opts = TracepointOpts {
                    cookie: slot as u64,
                    ..Default::default()
                };
                let category = TracepointCategory::Custom(category.clone());
                let Some(prog) = progs.tracepoint else {
                    out.skipped(target, NOT_FOR_THIS_TOOL);
                    continue;
                };
                match prog.attach_tracepoint_with_opts(category, event, opts) {
                    Ok(link) => {
                        out.link(Attachment::Libbpf(link));
                        out.planned(slot, target, "tracepoint link");
                    }
                    Err(e) => out.skipped(target, why(&e)),
                }
            }
            Attach::RawTracepoint { event } => {
                let opts = RawTracepointOpts {
                    cookie: slot as u64,
                    ..Default::default()
                };
                let Some(prog) = progs.raw_tracepoint else {
                    out.skipped(target, NOT_FOR_THIS_TOOL);
                    continue;
                };
                match prog.attach_raw_tracepoint_with_opts(event, opts) {
                    Ok(link) => {
                        out.link(Attachment::Libbpf(link));
                        out.planned(slot, target, "raw tracepoint link");
                    }
                    Err(e) => out.skipped(target, why(&e)),
                }
            }
            Attach::Kernel { ret, flavor, .. } => {
                kernel.entry((*ret, *flavor)).or_default().push(slot);
            }
            Attach::Uprobe { binary, ret, .. } => {
                uprobes
                    .entry((binary.clone(), *ret))
                    .or_default()
                    .push(slot);
            }
            Attach::Usdt {
                binary,
                provider,
                name,
            } => {
                let usdt_opts = UsdtOpts {
                    cookie: slot as u64,
                    ..Default::default()
                };
                let pid = opts.pid.map_or(-1, |p| p as i32);
                let Some(prog) = progs.usdt else {
                    out.skipped(target, NOT_FOR_THIS_TOOL);
                    continue;
                };
                match prog.attach_usdt_with_opts(pid, binary, provider, name, usdt_opts) {
                    Ok(link) => {
                        out.link(Attachment::Libbpf(link));
                        out.planned(slot, target, format_args!("usdt {provider}:{name}"));
                    }
                    Err(e) => out.skipped(target, why(&e)),
                }
            }
        }
    }
    for ((ret, flavor), slots) in kernel {
        attach_kernel(progs, targets, &slots, ret, flavor, opts.backend, &mut out)?;
    }
    for ((binary, ret), slots) in uprobes {
        attach_uprobes(progs, targets, &binary, ret, &slots, opts.pid, &mut out)?;
    }
    if out.links.is_empty() {
        return Err(BpfError::NothingAttached {
            what: "probe",
            reasons: out.warnings.join("; "),
        });
    }
    Ok(out)
}

/// A `syscalls:sys_{enter,exit}_NAME` target with a known syscall number.
struct SyscallEntry {
    slot: usize,
    key: u32,
}

fn syscall_table_entries(targets: &[Target]) -> Vec<SyscallEntry> {
    targets
        .iter()
        .enumerate()
        .filter_map(|(slot, t)| match &t.attach {
            Attach::Tracepoint { category, event } if category == "syscalls" => {
                let (base, name) = if let Some(n) = event.strip_prefix("sys_enter_") {
                    (0, n)
                } else {
                    (SYSCALL_NR_MAX, event.strip_prefix("sys_exit_")?)
                };
                let nr = syscalls::number(name).filter(|&nr| nr < SYSCALL_NR_MAX)?;
                Some(SyscallEntry {
                    slot,
                    key: base + nr,
                })
            }
            _ => None,
        })
        .collect()
}

fn attach_syscall_table(
    progs: &SyscallPrograms<'_, '_>,
    targets: &[Target],
    table: &[SyscallEntry],
    out: &mut Attached,
) -> Result<(), BpfError> {
    for entry in table {
        let value = (entry.slot as u32 + 1).to_ne_bytes();
        progs
            .slots
            .update(&entry.key.to_ne_bytes(), &value, MapFlags::ANY)
            .map_err(|e| BpfError::Map {
                map: "syscall_slots",
                detail: e.to_string(),
            })?;
    }
    let wants = |exit: bool| table.iter().any(|e| (e.key >= SYSCALL_NR_MAX) == exit);
    for (exit, prog, tp) in [
        (false, progs.sys_enter, "sys_enter"),
        (true, progs.sys_exit, "sys_exit"),
    ] {
        if !wants(exit) {
            continue;
        }
        let link = prog
            .attach_raw_tracepoint(tp)
            .map_err(|e| BpfError::NothingAttached {
                what: "syscall tracepoint",
                reasons: format!("raw_syscalls:{tp}: {}", why(&e)),
            })?;
        out.link(Attachment::Libbpf(link));
    }
    for entry in table {
        out.planned(entry.slot, &targets[entry.slot], "raw_syscalls table");
    }
    Ok(())
}

/// The backends to try for one group of kernel functions, best first.
fn kernel_backends(flavor: KernelFlavor, forced: Backend) -> Vec<Backend> {
    match (forced, flavor) {
        (Backend::Auto, KernelFlavor::Fentry) => vec![Backend::Fentry],
        (Backend::Auto, KernelFlavor::Kprobe) => vec![Backend::KprobeMulti, Backend::Kprobe],
        (Backend::Auto, KernelFlavor::Auto) => {
            vec![Backend::KprobeMulti, Backend::Fentry, Backend::Kprobe]
        }
        (forced, _) => vec![forced],
    }
}

/// Outcome of one backend on a group of functions.
enum BackendResult {
    /// Some or all attached; the rest were skipped individually.
    Attached,
    /// The backend does not work on this kernel at all.
    Unsupported(String),
    /// A stop signal came while attaching.
    Interrupted,
}

#[allow(clippy::too_many_arguments)]
fn attach_kernel(
    progs: &Programs<'_, '_>,
    targets: &[Target],
    slots: &[usize],
    ret: bool,
    flavor: KernelFlavor,
    forced: Backend,
    out: &mut Attached,
) -> Result<(), BpfError> {
    let mut failures = Vec::new();
    for backend in kernel_backends(flavor, forced) {
        let result = match backend {
            Backend::KprobeMulti => kprobe_multi(progs.kprobe_multi, targets, slots, ret, out),
            Backend::Fentry => fentry(progs.tracing_template, targets, slots, ret, out),
            Backend::Kprobe | Backend::Auto => kprobe(progs.kprobe, targets, slots, ret, out),
        };
        match result {
            BackendResult::Attached => {
                if !failures.is_empty() {
                    out.plan.push(format!(
                        "kernel backends that failed first: {}",
                        failures.join("; ")
                    ));
                }
                return Ok(());
            }
            BackendResult::Unsupported(reason) => failures.push(format!("{backend}: {reason}")),
            BackendResult::Interrupted => return Err(BpfError::Interrupted),
        }
    }
    Err(BpfError::NoKernelBackend {
        reasons: failures.join("; "),
    })
}

/// A libbpf error with its cause (the errno), on one line.
fn why(e: &libbpf_rs::Error) -> String {
    format!("{e:#}")
}

fn kernel_func(target: &Target) -> &str {
    match &target.attach {
        Attach::Kernel { func, .. } => func,
        _ => unreachable!("kernel groups hold kernel targets"),
    }
}

/// Links made by [`attach_split`], each with the slots it covers, and the
/// slots no link would take.
struct Split {
    links: Vec<(Attachment, Vec<usize>)>,
    refused: Vec<(usize, String)>,
}

/// A refused multi link: why, and whether the mechanism itself is missing
/// (EOPNOTSUPP) rather than one of the targets bad.
struct MultiError {
    unsupported: bool,
    text: String,
}

impl From<libbpf_rs::Error> for MultiError {
    fn from(e: libbpf_rs::Error) -> MultiError {
        MultiError {
            unsupported: e.kind() == libbpf_rs::ErrorKind::Unsupported,
            text: why(&e),
        }
    }
}

impl From<std::io::Error> for MultiError {
    fn from(e: std::io::Error) -> MultiError {
        MultiError {
            unsupported: e.kind() == std::io::ErrorKind::Unsupported,
            text: e.to_string(),
        }
    }
}

/// Attaches `slots` through one multi link (kprobe.multi, uprobe.multi).
/// The kernel refuses a whole link for one bad target, so a refused batch
/// is split in halves until the bad targets are found; the rest still get
/// few links. Fails when the mechanism itself is missing: EOPNOTSUPP, or
/// no target attached at all.
fn attach_split(
    slots: &[usize],
    attach: impl Fn(&[usize]) -> Result<Attachment, MultiError>,
) -> Result<Split, SplitError> {
    let mut split = Split {
        links: Vec::new(),
        refused: Vec::new(),
    };
    let mut first_error = None;
    let mut pending = vec![slots.to_vec()];
    while let Some(batch) = pending.pop() {
        if check_interrupt().is_err() {
            return Err(SplitError::Interrupted);
        }
        match attach(&batch) {
            Ok(link) => split.links.push((link, batch)),
            Err(e) if e.unsupported => return Err(SplitError::Unsupported(e.text)),
            Err(e) if batch.len() == 1 => {
                first_error.get_or_insert_with(|| e.text.clone());
                split.refused.push((batch[0], e.text));
            }
            Err(e) => {
                first_error.get_or_insert(e.text);
                let (a, b) = batch.split_at(batch.len() / 2);
                pending.push(b.to_vec());
                pending.push(a.to_vec());
            }
        }
    }
    if split.links.is_empty() {
        return Err(SplitError::Unsupported(
            first_error.unwrap_or_else(|| "nothing to attach".into()),
        ));
    }
    Ok(split)
}

/// Why [`attach_split`] attached nothing.
enum SplitError {
    /// The mechanism is missing, or every target was refused.
    Unsupported(String),
    Interrupted,
}

impl Attached {
    /// Records the links and refusals of [`attach_split`].
    fn split(&mut self, targets: &[Target], split: Split, how: &str) {
        for (link, slots) in split.links {
            self.link(link);
            for slot in slots {
                self.planned(slot, &targets[slot], how);
            }
        }
        for (slot, reason) in split.refused {
            self.skipped(&targets[slot], reason);
        }
    }
}

fn kprobe_multi(
    prog: &ProgramMut<'_>,
    targets: &[Target],
    slots: &[usize],
    ret: bool,
    out: &mut Attached,
) -> BackendResult {
    let split = attach_split(slots, |batch| {
        let opts = KprobeMultiOpts {
            symbols: batch
                .iter()
                .map(|&s| kernel_func(&targets[s]).to_string())
                .collect(),
            cookies: batch.iter().map(|&s| s as u64).collect(),
            retprobe: ret,
            ..Default::default()
        };
        Ok(Attachment::Libbpf(
            prog.attach_kprobe_multi_with_opts(opts)?,
        ))
    });
    match split {
        Ok(split) => {
            out.split(
                targets,
                split,
                if ret {
                    "kretprobe-multi"
                } else {
                    "kprobe-multi"
                },
            );
            BackendResult::Attached
        }
        Err(SplitError::Unsupported(reason)) => BackendResult::Unsupported(reason),
        Err(SplitError::Interrupted) => BackendResult::Interrupted,
    }
}

fn fentry(
    template: &ProgramMut<'_>,
    targets: &[Target],
    slots: &[usize],
    ret: bool,
    out: &mut Attached,
) -> BackendResult {
    if !system::has_btf() {
        return BackendResult::Unsupported(
            "this kernel has no BTF (/sys/kernel/btf/vmlinux)".into(),
        );
    }
    let btf = match KernelBtf::load() {
        Ok(btf) => btf,
        Err(e) => return BackendResult::Unsupported(e),
    };
    let how = if ret { "fexit" } else { "fentry" };
    per_function(targets, slots, out, how, |slot, func| {
        let link = tracing_progs::attach(&btf, template, func, ret, slot as u64)?;
        Ok(vec![Attachment::Fd(link)])
    })
}

fn kprobe(
    prog: &ProgramMut<'_>,
    targets: &[Target],
    slots: &[usize],
    ret: bool,
    out: &mut Attached,
) -> BackendResult {
    if !system::has_kprobes() {
        return BackendResult::Unsupported(
            "this kernel has no kprobes (CONFIG_KPROBES is off)".into(),
        );
    }
    let how = if ret { "kretprobe" } else { "kprobe" };
    per_function(targets, slots, out, how, |slot, func| {
        let opts = KprobeOpts {
            cookie: slot as u64,
            ..Default::default()
        };
        let link = prog
            .attach_kprobe_with_opts(ret, func, opts)
            .map_err(|e| why(&e))?;
        Ok(vec![Attachment::Libbpf(link)])
    })
}

/// Attaches function by function. If none attaches the backend counts as
/// unsupported (so `auto` moves on); otherwise failures are skips.
fn per_function(
    targets: &[Target],
    slots: &[usize],
    out: &mut Attached,
    how: &str,
    mut attach: impl FnMut(usize, &str) -> Result<Vec<Attachment>, String>,
) -> BackendResult {
    let mut failed = Vec::new();
    let mut attached = Vec::new();
    for &slot in slots {
        if check_interrupt().is_err() {
            return BackendResult::Interrupted;
        }
        match attach(slot, kernel_func(&targets[slot])) {
            Ok(links) => attached.push((slot, links)),
            Err(e) => failed.push((slot, e)),
        }
        if attached.is_empty() && failed.len() >= GIVE_UP_AFTER {
            break;
        }
    }
    if attached.is_empty() {
        let (_, first) = failed
            .into_iter()
            .next()
            .unwrap_or((0, "no functions".into()));
        return BackendResult::Unsupported(first);
    }
    for (slot, links) in attached {
        links.into_iter().for_each(|l| out.link(l));
        out.planned(slot, &targets[slot], how);
    }
    for (slot, reason) in failed {
        out.skipped(&targets[slot], reason);
    }
    BackendResult::Attached
}

fn uprobe_offset(target: &Target) -> usize {
    match &target.attach {
        Attach::Uprobe { offset, .. } => *offset as usize,
        _ => unreachable!("uprobe groups hold uprobe targets"),
    }
}

/// uprobe.multi links of [`UPROBE_BATCH`] functions where the kernel has
/// them, else one uprobe per function. Interruptible between links.
fn attach_uprobes(
    progs: &Programs<'_, '_>,
    targets: &[Target],
    binary: &PathBuf,
    ret: bool,
    slots: &[usize],
    pid: Option<u32>,
    out: &mut Attached,
) -> Result<(), BpfError> {
    let pid = pid.map_or(-1, |p| p as i32);
    let how = if ret { "uretprobe" } else { "uprobe" };
    let mut single = slots.to_vec();
    if system::has_uprobe_multi() {
        single.clear();
        for (i, batch) in slots.chunks(UPROBE_BATCH).enumerate() {
            let split = attach_split(batch, |batch| {
                let offsets: Vec<u64> = batch
                    .iter()
                    .map(|&s| uprobe_offset(&targets[s]) as u64)
                    .collect();
                let cookies: Vec<u64> = batch.iter().map(|&s| s as u64).collect();
                // Through the keeper where there is one (see keeper.rs).
                let prog = progs.uprobe_multi.as_fd();
                if let Some(made) =
                    keeper::uprobe_multi(prog, binary, &offsets, &cookies, ret, pid.max(0) as u32)
                {
                    return Ok(Attachment::Fd(made?));
                }
                let opts = UprobeMultiOpts {
                    offsets: offsets.iter().map(|&o| o as usize).collect(),
                    cookies,
                    retprobe: ret,
                    ..Default::default()
                };
                let link = progs
                    .uprobe_multi
                    .attach_uprobe_multi_with_opts(pid, binary, "", opts)?;
                Ok(Attachment::Libbpf(link))
            });
            match split {
                Ok(split) => out.split(targets, split, &format!("{how}.multi")),
                Err(SplitError::Interrupted) => return Err(BpfError::Interrupted),
                // The mechanism is missing: every function on its own.
                Err(SplitError::Unsupported(e)) if i == 0 => {
                    out.plan
                        .push(format!("{how}.multi failed ({e}); one {how} each"));
                    single = slots.to_vec();
                    break;
                }
                Err(SplitError::Unsupported(e)) => {
                    batch.iter().for_each(|&s| out.skipped(&targets[s], &e));
                }
            }
        }
    }
    for slot in single {
        check_interrupt()?;
        let opts = UprobeOpts {
            cookie: slot as u64,
            retprobe: ret,
            ..Default::default()
        };
        let offset = uprobe_offset(&targets[slot]);
        match progs
            .uprobe
            .attach_uprobe_with_opts(pid, binary, offset, opts)
        {
            Ok(link) => {
                out.link(Attachment::Libbpf(link));
                out.planned(slot, &targets[slot], how);
            }
            Err(e) => out.skipped(&targets[slot], why(&e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(category: &str, event: &str) -> Target {
        Target {
            name: format!("{category}:{event}"),
            attach: Attach::Tracepoint {
                category: category.into(),
                event: event.into(),
            },
        }
    }

    #[test]
    fn syscall_events_map_to_table_keys() {
        let targets = [
            tp("syscalls", "sys_enter_read"),
            tp("sched", "sched_switch"),
            tp("syscalls", "sys_exit_getppid"),
            tp("syscalls", "sys_enter_not_a_syscall"),
        ];
        let entries = syscall_table_entries(&targets);
        let got: Vec<_> = entries.iter().map(|e| (e.slot, e.key)).collect();
        assert_eq!(got, [(0, 0), (2, SYSCALL_NR_MAX + 110)]);
    }

    #[test]
    fn auto_tries_the_fastest_backend_first() {
        use Backend::*;
        assert_eq!(
            kernel_backends(KernelFlavor::Auto, Auto),
            [KprobeMulti, Fentry, Kprobe]
        );
        assert_eq!(
            kernel_backends(KernelFlavor::Kprobe, Auto),
            [KprobeMulti, Kprobe]
        );
        assert_eq!(kernel_backends(KernelFlavor::Fentry, Auto), [Fentry]);
        assert_eq!(kernel_backends(KernelFlavor::Auto, Kprobe), [Kprobe]);
    }
}
