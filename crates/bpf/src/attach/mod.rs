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
//!
//! This module holds what every kind shares (the programs a tool brings,
//! the attach plan, interrupts) and sends each target to its kind's file:
//! `events.rs` (tracepoints, raw tracepoints, USDT), `syscall_table.rs`,
//! `kernel.rs` (kernel functions and their backends), `user.rs` (user
//! functions), `multi.rs` (multi links split around bad targets).

mod events;
mod kernel;
mod multi;
mod plan;
mod syscall_table;
mod user;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use libbpf_rs::{MapMut, ProgramMut};
use rtools_core::spec::KernelFlavor;
use rtools_core::targets::{Attach, Target};

use crate::error::BpfError;
use crate::links::{Attachment, Links};
use crate::system;
pub use plan::{Skipped, Step};
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
    /// What attached and how, in order.
    pub plan: Vec<Step>,
    /// Targets skipped with the reason.
    pub warnings: Vec<Skipped>,
    /// Slots that really attached.
    pub attached_slots: usize,
}

impl Attached {
    fn link(&mut self, a: Attachment) {
        self.links.push(a);
    }

    fn planned(&mut self, slot: usize, target: &Target, how: impl fmt::Display) {
        self.plan.push(Step::Attached {
            slot,
            target: target.name.clone(),
            kind: target.attach.kind(),
            how: how.to_string(),
        });
        self.attached_slots += 1;
    }

    fn skipped(&mut self, target: &Target, reason: impl fmt::Display) {
        self.warnings.push(Skipped {
            target: target.name.clone(),
            kind: target.attach.kind(),
            reason: reason.to_string(),
        });
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
                events::tracepoint(progs.tracepoint, slot, target, category, event, &mut out)
            }
            Attach::RawTracepoint { event } => {
                events::raw_tracepoint(progs.raw_tracepoint, slot, target, event, &mut out)
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
                let usdt = events::Usdt {
                    binary,
                    provider,
                    name,
                };
                events::usdt(progs.usdt, slot, target, &usdt, opts.pid, &mut out)
            }
        }
    }
    for ((ret, flavor), slots) in kernel {
        kernel::attach_kernel(progs, targets, &slots, ret, flavor, opts.backend, &mut out)?;
    }
    for ((binary, ret), slots) in uprobes {
        user::attach_uprobes(progs, targets, &binary, ret, &slots, opts.pid, &mut out)?;
    }
    if out.links.is_empty() {
        return Err(BpfError::NothingAttached {
            what: "probe",
            reasons: out
                .warnings
                .iter()
                .map(Skipped::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        });
    }
    Ok(out)
}

/// A libbpf error with its cause (the errno), on one line.
fn why(e: &libbpf_rs::Error) -> String {
    format!("{e:#}")
}
