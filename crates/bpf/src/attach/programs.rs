//! The BPF programs a tool brings to attach with, and which of them the
//! targets need loaded.

use libbpf_rs::{MapMut, ProgramMut};
use rtools_core::targets::{Attach, Target};

use super::syscall_table::{syscall_table_entries, SYSCALL_TABLE_MIN};
use crate::kernel_probes;

/// The programs a tool brings, one per attach kind; each reads its slot
/// from the attach cookie. `tracing_template` is loaded code that fentry
/// and fexit programs are cloned from. A tool has only the kinds it
/// attaches: one that only times functions has no tracepoint,
/// syscall-table or USDT programs, and trace brings, per probe, the kinds
/// its targets need.
#[derive(Default)]
pub struct Programs<'a, 'obj> {
    pub tracepoint: Option<&'a ProgramMut<'obj>>,
    pub raw_tracepoint: Option<&'a ProgramMut<'obj>>,
    /// Where raw tracepoints carry no cookie (kernels before 6.10) and the
    /// tool's raw tracepoint program reads one: loaded code cloned per
    /// raw tracepoint with its slot built in (see tracing_progs.rs).
    pub raw_tracepoint_template: Option<&'a ProgramMut<'obj>>,
    pub syscalls: Option<SyscallPrograms<'a, 'obj>>,
    pub kprobe: Option<&'a ProgramMut<'obj>>,
    pub kprobe_multi: Option<&'a ProgramMut<'obj>>,
    pub tracing_template: Option<&'a ProgramMut<'obj>>,
    pub uprobe: Option<&'a ProgramMut<'obj>>,
    pub uprobe_multi: Option<&'a ProgramMut<'obj>>,
    pub usdt: Option<&'a ProgramMut<'obj>>,
    pub perf_event: Option<&'a ProgramMut<'obj>>,
    /// Whether tracepoints may attach through `raw_tracepoint` (a program
    /// that reads no tracepoint field): no copy of the event per hit, and
    /// a link that detaches in microseconds instead of a perf event's
    /// tens of milliseconds. Where the kernel refuses (no such raw
    /// tracepoint), the tracepoint link is used. Where raw tracepoints
    /// carry no cookie (a probe of the kernel says), each gets a program
    /// of its own (`raw_tracepoint_template`).
    pub tracepoints_as_raw: bool,
}

/// The raw_syscalls programs and their syscall-number table.
pub struct SyscallPrograms<'a, 'obj> {
    pub sys_enter: &'a ProgramMut<'obj>,
    pub sys_exit: &'a ProgramMut<'obj>,
    pub slots: &'a MapMut<'obj>,
}

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
        progs.rt_perf_event.set_autoload(needs.perf_event);
    }};
}
pub(crate) use set_autoload;

/// The [`Programs`] of a loaded skeleton with the shared naming, with
/// `$template` as the fentry/fexit template (and, where raw tracepoints
/// carry no cookie, the raw tracepoint one).
macro_rules! event_programs {
    ($skel:expr, $template:ident) => {{
        let (p, maps) = (&$skel.progs, &$skel.maps);
        let cookies = $crate::kernel_probes::raw_tracepoint_cookies();
        $crate::attach::Programs {
            tracepoint: Some(&p.rt_tracepoint),
            raw_tracepoint: cookies.then_some(&p.rt_raw_tp),
            raw_tracepoint_template: (!cookies).then_some(&p.$template),
            syscalls: Some($crate::attach::SyscallPrograms {
                sys_enter: &p.rt_sys_enter,
                sys_exit: &p.rt_sys_exit,
                slots: &maps.syscall_slots,
            }),
            kprobe: Some(&p.rt_kprobe),
            kprobe_multi: Some(&p.rt_kprobe_multi),
            tracing_template: Some(&p.$template),
            uprobe: Some(&p.rt_uprobe),
            uprobe_multi: Some(&p.rt_uprobe_multi),
            usdt: Some(&p.rt_usdt),
            perf_event: Some(&p.rt_perf_event),
            tracepoints_as_raw: true,
        }
    }};
}
pub(crate) use event_programs;

/// Which programs the targets need loaded.
#[derive(Debug, Default, Clone, Copy)]
pub struct Needs {
    pub tracepoint: bool,
    pub raw_tracepoint: bool,
    /// The fentry template, cloned per raw tracepoint (and per tracepoint
    /// attached raw) where they carry no cookie.
    pub raw_tracepoint_template: bool,
    pub syscall_table: bool,
    pub kernel: bool,
    pub uprobe: bool,
    pub uprobe_multi: bool,
    pub usdt: bool,
    pub perf_event: bool,
}

impl Needs {
    pub fn of(targets: &[Target]) -> Needs {
        let mut needs = Needs {
            syscall_table: syscall_table_entries(targets).len() >= SYSCALL_TABLE_MIN,
            ..Needs::default()
        };
        // A program that reads its cookie does not load as a raw
        // tracepoint where raw tracepoints carry none.
        let cookies = kernel_probes::raw_tracepoint_cookies();
        for target in targets {
            match &target.attach {
                // Loaded also where raw tracepoints serve: the fallback.
                Attach::Tracepoint { .. } => {
                    needs.tracepoint = true;
                    needs.raw_tracepoint = cookies;
                    needs.raw_tracepoint_template = !cookies;
                }
                Attach::RawTracepoint { .. } => {
                    needs.raw_tracepoint = cookies;
                    needs.raw_tracepoint_template = !cookies;
                }
                Attach::Kernel { .. } => needs.kernel = true,
                Attach::Uprobe { .. } => needs.uprobe = true,
                Attach::Usdt { .. } => needs.usdt = true,
                Attach::Perf(_) => needs.perf_event = true,
            }
        }
        needs.uprobe_multi = needs.uprobe && kernel_probes::uprobe_multi();
        needs
    }
}
