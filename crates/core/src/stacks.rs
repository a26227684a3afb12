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
pub fn insert_entry_caller(user: &mut Vec<u64>, entry_return: u64) {
    if entry_return == 0 || user.is_empty() || user.get(1) == Some(&entry_return) {
        return;
    }
    user.insert(1, entry_return);
}

/// Drops the frames of rtools' own BPF program and its trampoline from the
/// top of a kernel stack taken in an fentry/fexit program, so the stack
/// starts at the probed function, as with kprobes.
pub fn trim_bpf_frames(kernel: &mut Vec<Frame>) {
    let own = kernel
        .iter()
        .take_while(|f| f.name.starts_with("bpf_prog_") || f.name.starts_with("bpf_trampoline_"))
        .count();
    kernel.drain(..own);
}

/// Merges rows whose stacks read the same once symbolized (the same
/// function at different addresses, one binary in several processes),
/// then sorts them BCC's way: ascending by count.
pub fn merge(rows: Vec<StackRow>) -> Vec<StackRow> {
    type Key = (String, Option<u32>, Vec<String>, Vec<String>);
    let names =
        |frames: &[Frame]| -> Vec<String> { frames.iter().map(|f| f.name.clone()).collect() };
    let mut merged: HashMap<Key, StackRow> = HashMap::new();
    for row in rows {
        let key = (
            row.comm.clone(),
            row.pid,
            names(&row.kernel),
            names(&row.user),
        );
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
        let rows = merge(vec![
            row(None, 0x100, 3),
            row(None, 0x200, 4),
            other.clone(),
        ]);
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].count, rows[1].count), (5, 7));
        assert_eq!(rows[1].user[0].name, "gamma");
        // With -P the pids keep rows apart.
        let rows = merge(vec![row(Some(1), 0x100, 3), row(Some(2), 0x100, 4)]);
        assert_eq!(rows.len(), 2);
    }
}
