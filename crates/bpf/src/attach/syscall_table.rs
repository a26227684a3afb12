//! Wide syscall wildcards: one raw_syscalls program pair and a table from
//! syscall number to slot, instead of one link per syscall tracepoint
//! (attach and detach in milliseconds instead of seconds).

use libbpf_rs::{Link, MapCore, MapFlags, ProgramMut};
use rtools_core::targets::{Attach, Target};

use super::{Attached, SyscallPrograms};
use crate::error::{map_error, BpfError};
use crate::links::Attachment;
use crate::syscalls;

/// Below this many syscall tracepoints, one link each costs less than a
/// program on every syscall of the machine; at or above it the raw_syscalls
/// table wins (one attach, one detach).
pub const SYSCALL_TABLE_MIN: usize = 8;
/// The syscall numbers the table holds, from count.h.
pub const SYSCALL_NR_MAX: u32 = crate::skel::count::types::limits::SYSCALL_NR_MAX.0;

/// A `syscalls:sys_{enter,exit}_NAME` target with a known syscall number.
pub(super) struct SyscallEntry {
    pub(super) slot: usize,
    key: u32,
}

pub(super) fn syscall_table_entries(targets: &[Target]) -> Vec<SyscallEntry> {
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

pub(super) fn attach_syscall_table(
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
            .map_err(map_error("syscall_slots"))?;
    }
    let wants = |exit: bool| table.iter().any(|e| (e.key >= SYSCALL_NR_MAX) == exit);
    for (exit, prog) in [(false, progs.sys_enter), (true, progs.sys_exit)] {
        if !wants(exit) {
            continue;
        }
        out.link(Attachment::Libbpf(attach_raw_syscalls(prog, exit)?));
    }
    for entry in table {
        out.planned(entry.slot, &targets[entry.slot], "raw_syscalls table");
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
}

/// Attaches `prog` to raw_syscalls' sys_enter, or with `exit` sys_exit.
pub(crate) fn attach_raw_syscalls(prog: &ProgramMut<'_>, exit: bool) -> Result<Link, BpfError> {
    let tp = if exit { "sys_exit" } else { "sys_enter" };
    prog.attach_raw_tracepoint(tp)
        .map_err(|source| BpfError::AttachFor {
            what: format!("raw_syscalls:{tp}"),
            source,
        })
}
