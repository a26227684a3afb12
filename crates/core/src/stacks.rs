//! Call stacks as stackcount counts them: frames, the caller frame that
//! entry probes miss, and merging stacks that symbolize alike.

use std::collections::HashMap;

/// One symbolized frame.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Frame {
    pub addr: u64,
    /// The function, or `[unknown]`.
    pub name: String,
    /// The address's offset into the function, when known.
    pub offset: Option<u64>,
}

impl Frame {
    pub fn unknown(addr: u64) -> Frame {
        Frame {
            addr,
            name: "[unknown]".to_string(),
            offset: None,
        }
    }

    /// The same frame under another name.
    pub fn named(self, name: &str) -> Frame {
        Frame {
            name: name.to_string(),
            ..self
        }
    }
}

/// The marker frame of an event whose stack the stack map could not take
/// (bpf_get_stackid's error `id`): counted under it, so totals stay exact.
/// None for ids that are stacks, or no stack at all.
pub fn lost_marker(id: i32) -> Option<&'static str> {
    const EEXIST: i32 = 17;
    const ENOMEM: i32 = 12;
    match -id {
        EEXIST => Some("[lost stack: hash collision]"),
        ENOMEM => Some("[lost stack: stack map full]"),
        _ => None,
    }
}

/// A counted stack, frames leaf first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackRow {
    pub comm: String,
    /// The process, with -P; None when stacks of all processes merge.
    pub pid: Option<u32>,
    pub kernel: Vec<Frame>,
    pub user: Vec<Frame>,
    pub count: u64,
}

/// Puts back the caller that frame-pointer unwinding skips at a
/// function's first instruction. There the caller has not pushed a frame
/// for the callee yet, so the walk goes from the leaf straight to the
/// caller's caller; the return address at the stack pointer (`entry_return`)
/// is the missing frame. Kernels that already add it have it second.
/// Returns whether it inserted one.
pub fn insert_entry_caller(user: &mut Vec<u64>, entry_return: u64) -> bool {
    if entry_return == 0 || user.is_empty() || user.get(1) == Some(&entry_return) {
        return false;
    }
    user.insert(1, entry_return);
    true
}

/// Drops the frames of rtools' own BPF program and what runs it from the
/// top of a kernel stack: the trampoline of an fentry/fexit program, and
/// `bpf_trace_runN` (and `__bpf_trace_*`) of a raw tracepoint's, so the
/// stack starts at the probed function or the tracepoint's caller, as
/// with kprobes and BCC's perf tracepoints.
pub fn trim_bpf_frames(kernel: &mut Vec<Frame>) {
    let runs_bpf = |name: &str| {
        name.starts_with("bpf_prog_")
            || name.starts_with("bpf_trampoline_")
            || name.starts_with("__bpf_trace_")
            || name
                .strip_prefix("bpf_trace_run")
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    let own = kernel.iter().take_while(|f| runs_bpf(&f.name)).count();
    kernel.drain(..own);
}

/// Merges rows that print the same: stacks that read the same once
/// symbolized (the same function at different addresses, one binary in
/// several processes), of the same command where the output shows it
/// (`by_comm`: folded lines, JSON, flame graphs and -P show it; BCC's text
/// without -P does not). Then sorts them BCC's way: ascending by count.
pub fn merge(rows: Vec<StackRow>, by_comm: bool) -> Vec<StackRow> {
    type Key = (String, Option<u32>, Vec<String>, Vec<String>);
    let names =
        |frames: &[Frame]| -> Vec<String> { frames.iter().map(|f| f.name.clone()).collect() };
    let mut merged: HashMap<Key, StackRow> = HashMap::new();
    for row in rows {
        let comm = if by_comm || row.pid.is_some() {
            row.comm.clone()
        } else {
            String::new()
        };
        let key = (comm, row.pid, names(&row.kernel), names(&row.user));
        merged
            .entry(key)
            .and_modify(|m| m.count += row.count)
            .or_insert(row);
    }
    let mut rows: Vec<StackRow> = merged.into_values().collect();
    rows.sort_by(|a, b| {
        (a.count, &a.comm, a.pid, names(&a.user), names(&a.kernel)).cmp(&(
            b.count,
            &b.comm,
            b.pid,
            names(&b.user),
            names(&b.kernel),
        ))
    });
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renaming_a_frame_keeps_its_address_and_offset() {
        let frame = Frame {
            addr: 0x1234,
            name: "old".into(),
            offset: Some(4),
        };
        assert_eq!(
            frame.named("new"),
            Frame {
                addr: 0x1234,
                name: "new".into(),
                offset: Some(4)
            }
        );
        assert_eq!(Frame::unknown(9).name, "[unknown]");
    }

    #[test]
    fn lost_stack_ids_name_their_cause() {
        assert_eq!(lost_marker(-17), Some("[lost stack: hash collision]"));
        assert_eq!(lost_marker(-12), Some("[lost stack: stack map full]"));
        assert_eq!(lost_marker(-14), None); // EFAULT: no stack at all
        assert_eq!(lost_marker(12), None); // a stack id
        assert_eq!(lost_marker(17), None);
    }

    fn frame(name: &str, addr: u64) -> Frame {
        Frame {
            addr,
            name: name.into(),
            offset: Some(0),
        }
    }

    #[test]
    fn entry_caller_is_inserted_once() {
        let mut stack = vec![0x10, 0x30, 0x40];
        insert_entry_caller(&mut stack, 0x20);
        assert_eq!(stack, [0x10, 0x20, 0x30, 0x40]);
        // A kernel that already reports it: no duplicate.
        let mut stack = vec![0x10, 0x20, 0x30];
        insert_entry_caller(&mut stack, 0x20);
        assert_eq!(stack, [0x10, 0x20, 0x30]);
        let mut stack = vec![0x10];
        insert_entry_caller(&mut stack, 0);
        assert_eq!(stack, [0x10]);
    }

    #[test]
    fn bpf_frames_are_trimmed_from_the_top_only() {
        let mut stack = vec![
            frame("bpf_prog_baa4_rtools_tracing", 1),
            frame("bpf_trampoline_6442462553", 2),
            frame("vfs_read", 3),
            frame("bpf_prog_other", 4),
        ];
        trim_bpf_frames(&mut stack);
        let names: Vec<&str> = stack.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["vfs_read", "bpf_prog_other"]);
    }

    /// Issue 25: stacks at a tracepoint (attached raw) began with
    /// bpf_trace_run4 above BCC's first frame.
    #[test]
    fn raw_tracepoint_runners_are_trimmed_from_the_top() {
        let mut stack = vec![
            frame("bpf_trace_run4", 1),
            frame("__bpf_trace_sched_switch", 2),
            frame("__schedule", 3),
            frame("bpf_trace_runner", 4),
        ];
        trim_bpf_frames(&mut stack);
        let names: Vec<&str> = stack.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["__schedule", "bpf_trace_runner"]);
    }

    #[test]
    fn merge_sums_alike_stacks_and_sorts_ascending() {
        let row = |pid: Option<u32>, addr: u64, count: u64| StackRow {
            comm: "app".into(),
            pid,
            kernel: vec![],
            user: vec![frame("gamma", addr), frame("main", 1)],
            count,
        };
        let other = StackRow {
            user: vec![frame("delta", 9)],
            ..row(None, 0, 5)
        };
        let rows = merge(
            vec![row(None, 0x100, 3), row(None, 0x200, 4), other.clone()],
            true,
        );
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].count, rows[1].count), (5, 7));
        assert_eq!(rows[1].user[0].name, "gamma");
        // With -P the pids keep rows apart.
        let rows = merge(vec![row(Some(1), 0x100, 3), row(Some(2), 0x100, 4)], false);
        assert_eq!(rows.len(), 2);
    }

    /// Regression (issue 10): two programs with one stack print one stack
    /// with the sum where the command is not shown, one per command where
    /// it is.
    #[test]
    fn stacks_of_two_commands_merge_where_the_command_is_not_shown() {
        let row = |comm: &str, count: u64| StackRow {
            comm: comm.into(),
            pid: None,
            kernel: vec![frame("__x64_sys_getcpu", 1)],
            user: vec![],
            count,
        };
        let rows = merge(vec![row("a", 1000), row("b", 500)], false);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].count, 1500);
        let rows = merge(vec![row("a", 1000), row("b", 500)], true);
        assert_eq!(rows.len(), 2);
    }
}
