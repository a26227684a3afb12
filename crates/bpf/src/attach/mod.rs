//! Attach strategies (SPEC §3): every target gets the cheapest mechanism
//! this kernel supports, with its slot as the BPF cookie.
//!
//! - tracepoints: one link each (a raw tracepoint's where the tool reads no
//!   field and the kernel allows), or, for wide syscall wildcards, one
//!   raw_syscalls program with a syscall-number table (attach and detach in
//!   milliseconds instead of seconds);
//! - kernel functions: kprobe-multi (one link for all), fentry/fexit (a
//!   trampoline each), kprobe (one link each); `auto` tries them in that
//!   order, `--backend` forces one;
//! - user functions: uprobe.multi links of 128 functions (made by the
//!   keeper, keeper.rs, where there is one), else a uprobe each;
//! - USDT probes through libbpf's USDT support;
//! - perf events (software, hardware, profile): one per online CPU.
//!
//! A target that cannot be attached is skipped with a warning; only when
//! nothing attaches is it an error. A stop signal interrupts attaching
//! between links.
//!
//! This module holds what every kind shares (the programs a tool brings,
//! the attach plan, interrupts) and sends each target to its kind's file:
//! `events.rs` (tracepoints, raw tracepoints, USDT), `syscall_table.rs`,
//! `kernel.rs` (kernel functions and their backends), `user.rs` (user
//! functions), `multi.rs` (multi links split around bad targets),
//! `perf.rs` (perf events).

mod events;
mod kernel;
mod multi;
mod perf;
mod plan;
mod programs;
mod syscall_table;
mod user;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use libbpf_rs::ProgramMut;
use rtools_core::spec::KernelFlavor;
use rtools_core::targets::{Attach, Target};

use crate::error::BpfError;
use crate::links::{Attachment, Links};
use crate::tracing_progs;
pub use plan::{Reason, Skipped, Step};
pub(crate) use programs::{event_programs, set_autoload};
pub use programs::{Needs, Programs, SyscallPrograms};
pub(crate) use syscall_table::attach_raw_syscalls;
use syscall_table::{attach_syscall_table, syscall_table_entries};
pub use syscall_table::{SYSCALL_NR_MAX, SYSCALL_TABLE_MIN};

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
/// probes: thousands of probes take seconds, and Ctrl-C must answer within
/// one. A flag the tool's signal handler sets; the default never stops.
#[derive(Debug, Clone, Default)]
pub struct Stop(Option<Arc<AtomicBool>>);

impl Stop {
    /// Stops once `flag` is set.
    pub fn on(flag: Arc<AtomicBool>) -> Stop {
        Stop(Some(flag))
    }

    fn check(&self) -> Result<(), BpfError> {
        if self.0.as_ref().is_some_and(|f| f.load(Ordering::SeqCst)) {
            Err(BpfError::Interrupted)
        } else {
            Ok(())
        }
    }
}

const NOT_FOR_THIS_TOOL: &str = "this tool does not attach to this kind of probe";

/// Options that change how targets attach.
#[derive(Debug, Clone, Default)]
pub struct AttachOptions {
    /// `-p`: uprobes and USDT probes fire only in this process.
    pub pid: Option<u32>,
    pub backend: Backend,
    /// When to give up attaching.
    pub stop: Stop,
    /// Where the verifier's log of a program rtools built per target
    /// (fentry, raw tracepoints without cookies) goes when the kernel
    /// refuses it; None asks for no log.
    pub verifier_log: Option<VerifierLog>,
}

/// Takes each line of a refused program's verifier log, with the target
/// the program was for (`-v` prints them). Loading again with a log costs
/// time, so only a caller that shows the log asks for it.
#[derive(Clone)]
pub struct VerifierLog(Arc<LogLine>);

/// Takes a target and one line of its program's log.
type LogLine = dyn Fn(&str, &str) + Send + Sync;

impl VerifierLog {
    pub fn new(line: impl Fn(&str, &str) + Send + Sync + 'static) -> VerifierLog {
        VerifierLog(Arc::new(line))
    }

    pub(crate) fn show(&self, target: &str, log: &str) {
        for line in log.lines() {
            (self.0)(target, line);
        }
    }
}

impl fmt::Debug for VerifierLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VerifierLog")
    }
}

/// What got attached, how, and what was skipped.
#[derive(Default)]
pub struct Attached {
    pub links: Links,
    /// What attached and how, in order.
    pub plan: Vec<Step>,
    /// Targets skipped with the reason.
    pub warnings: Vec<Skipped>,
    /// Slots that really attached.
    pub attached_slots: usize,
}

impl Attached {
    /// Adds what another attach made: trace attaches a group of targets
    /// at a time.
    pub fn merge(&mut self, other: Attached) {
        self.links.extend(other.links);
        self.plan.extend(other.plan);
        self.warnings.extend(other.warnings);
        self.attached_slots += other.attached_slots;
    }

    pub(crate) fn link(&mut self, a: Attachment) {
        self.links.push(a);
    }

    pub(crate) fn planned(&mut self, slot: usize, target: &Target, how: impl fmt::Display) {
        self.plan.push(Step::Attached {
            slot,
            target: target.name.clone(),
            kind: target.attach.kind(),
            how: how.to_string(),
        });
        self.attached_slots += 1;
    }

    /// Records a probe of one link: made by `attach` with `prog`, or
    /// skipped when the tool has no program for its kind or it failed.
    fn one_link<'obj>(
        &mut self,
        prog: Option<&ProgramMut<'obj>>,
        slot: usize,
        target: &Target,
        how: impl fmt::Display,
        attach: impl FnOnce(&ProgramMut<'obj>) -> libbpf_rs::Result<libbpf_rs::Link>,
    ) {
        let Some(prog) = prog else {
            self.skipped(target, NOT_FOR_THIS_TOOL);
            return;
        };
        match attach(prog) {
            Ok(link) => {
                self.link(Attachment::Libbpf(link));
                self.planned(slot, target, how);
            }
            Err(e) => self.skipped(target, &e),
        }
    }

    fn skipped(&mut self, target: &Target, reason: impl Into<Reason>) {
        self.warnings.push(Skipped {
            target: target.name.clone(),
            kind: target.attach.kind(),
            reason: reason.into(),
        });
    }
}

/// A raw tracepoint link for `slot` on `event`, and how it was made: with
/// the tool's raw tracepoint program (which reads its slot from the
/// cookie), or where raw tracepoints carry no cookie, with a program of
/// its own cloned from the template. None when the tool has neither.
fn raw_tracepoint(
    progs: &Programs<'_, '_>,
    slot: usize,
    event: &str,
    log: Option<&VerifierLog>,
) -> Option<Result<(Attachment, &'static str), Reason>> {
    if let Some(prog) = progs.raw_tracepoint {
        let link = events::raw_tracepoint(prog, slot, event);
        return Some(
            link.map(|l| (Attachment::Libbpf(l), "raw tracepoint link"))
                .map_err(|e| Reason::from(&e)),
        );
    }
    let template = progs.raw_tracepoint_template?;
    let link = tracing_progs::attach_raw_tracepoint(template, event, slot as u32, log);
    Some(link.map(|fd| {
        (
            Attachment::Fd(fd),
            "raw tracepoint link (a program per link)",
        )
    }))
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
        opts.stop.check()?;
        match &target.attach {
            Attach::Tracepoint { .. } if use_table && table.iter().any(|e| e.slot == slot) => {}
            Attach::Tracepoint { category, event } => {
                let raw = progs
                    .tracepoints_as_raw
                    .then(|| raw_tracepoint(progs, slot, event, opts.verifier_log.as_ref()))
                    .flatten();
                match raw {
                    Some(Ok((link, how))) => {
                        out.link(link);
                        out.planned(slot, target, how);
                    }
                    _ => out.one_link(progs.tracepoint, slot, target, "tracepoint link", |p| {
                        events::tracepoint(p, slot, category, event)
                    }),
                }
            }
            Attach::RawTracepoint { event } => {
                match raw_tracepoint(progs, slot, event, opts.verifier_log.as_ref()) {
                    Some(Ok((link, how))) => {
                        out.link(link);
                        out.planned(slot, target, how);
                    }
                    Some(Err(reason)) => out.skipped(target, reason),
                    None => out.skipped(target, NOT_FOR_THIS_TOOL),
                }
            }
            Attach::Kernel {
                ret,
                flavor,
                offset,
                ..
            } => {
                // Only a kprobe attaches inside a function.
                let flavor = if *offset != 0 {
                    KernelFlavor::Offset
                } else {
                    *flavor
                };
                kernel.entry((*ret, flavor)).or_default().push(slot);
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
                let how = format!("usdt {provider}:{name}");
                out.one_link(progs.usdt, slot, target, how, |p| {
                    events::usdt(p, slot, binary, provider, name, opts.pid)
                })
            }
            Attach::Perf(event) => {
                perf::attach_perf(progs.perf_event, slot, target, event, &mut out)
            }
        }
    }
    for ((ret, flavor), slots) in kernel {
        kernel::attach_kernel(progs, targets, &slots, ret, flavor, opts, &mut out)?;
    }
    for ((binary, ret), slots) in uprobes {
        user::attach_uprobes(progs, targets, &binary, ret, &slots, opts, &mut out)?;
    }
    if out.links.is_empty() {
        return Err(BpfError::NothingAttached {
            what: "probe",
            skipped: out.warnings,
        });
    }
    Ok(out)
}
