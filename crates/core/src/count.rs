//! Counts keyed by probe slot and group, and the per-interval view of them.
//!
//! The BPF maps only ever grow: each interval reports the increase since
//! the previous read. Nothing is zeroed in the kernel, so an event that
//! lands between a read and a reset cannot be lost, and the exporter can
//! serve the same totals as never-resetting counters.

/// What each row is counted by besides the probe (`-P`, `--by`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupBy {
    #[default]
    None,
    Comm,
    Pid,
    Tid,
    Cpu,
    /// The cgroup v2 of the task, printed as its path (`--by cgroup`).
    Cgroup,
}

impl GroupBy {
    /// The column heading for the group id, if the group has one.
    pub fn id_heading(self) -> Option<&'static str> {
        match self {
            GroupBy::Pid => Some("PID"),
            GroupBy::Tid => Some("TID"),
            GroupBy::Cpu => Some("CPU"),
            GroupBy::None | GroupBy::Comm | GroupBy::Cgroup => None,
        }
    }

    /// Whether rows carry a name: the process's, or the cgroup's path.
    pub fn has_comm(self) -> bool {
        matches!(
            self,
            GroupBy::Comm | GroupBy::Pid | GroupBy::Tid | GroupBy::Cgroup
        )
    }

    /// The heading (and JSON field) of the name column.
    pub fn name_heading(self) -> &'static str {
        if self == GroupBy::Cgroup {
            "CGROUP"
        } else {
            "COMM"
        }
    }
}

/// One counter: a probe slot, and the group it was counted for (`id` is
/// the pid, tid or cpu; `comm` the process name, or with `--by cgroup`
/// the cgroup's path; `cgroup` its id; all empty without -P/--by).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct CountKey {
    pub slot: u32,
    pub id: u32,
    pub comm: String,
    pub cgroup: u64,
}

/// One printed row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountRow {
    pub func: String,
    pub comm: Option<String>,
    pub id: Option<u32>,
    pub count: u64,
}

/// Turns cumulative totals into per-interval counts.
pub type Tally = crate::deltas::Deltas<CountKey, u64>;

/// Names the counters, in BCC's order: ascending by count, so the busiest
/// lands last, next to the prompt. `top` keeps only the N largest.
pub fn rows(
    counts: Vec<(CountKey, u64)>,
    names: &[String],
    group_by: GroupBy,
    top: Option<usize>,
) -> Vec<CountRow> {
    let mut rows: Vec<CountRow> = counts
        .into_iter()
        .filter(|(_, count)| *count > 0)
        .map(|(key, count)| CountRow {
            func: names
                .get(key.slot as usize)
                .cloned()
                .unwrap_or_else(|| format!("[slot {}]", key.slot)),
            comm: group_by.has_comm().then_some(key.comm),
            id: group_by.id_heading().map(|_| key.id),
            count,
        })
        .collect();
    rows.sort_by(|a, b| (a.count, &a.func, &a.comm, a.id).cmp(&(b.count, &b.func, &b.comm, b.id)));
    if let Some(top) = top {
        let skip = rows.len().saturating_sub(top);
        rows.drain(..skip);
    }
    rows
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::HashMap;

    use super::*;

    /// A key of no cgroup (render/metrics.rs's tests use it too).
    pub(crate) fn key(slot: u32, id: u32, comm: &str) -> CountKey {
        CountKey {
            slot,
            id,
            comm: comm.to_string(),
            cgroup: 0,
        }
    }

    #[test]
    fn intervals_report_increases_only() {
        let mut tally = Tally::default();
        let first = tally.interval(HashMap::from([(key(0, 0, ""), 5), (key(1, 0, ""), 0)]));
        assert_eq!(first, [(key(0, 0, ""), 5)]);
        let second = tally.interval(HashMap::from([(key(0, 0, ""), 5), (key(1, 0, ""), 3)]));
        assert_eq!(second, [(key(1, 0, ""), 3)]);
        let third = tally.interval(HashMap::from([(key(0, 0, ""), 12), (key(1, 0, ""), 3)]));
        assert_eq!(third, [(key(0, 0, ""), 7)]);
    }

    #[test]
    fn rows_ascend_by_count_and_top_keeps_the_largest() {
        let names = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        let counts = vec![
            (key(0, 0, ""), 30),
            (key(1, 0, ""), 10),
            (key(2, 0, ""), 20),
        ];
        let all = rows(counts.clone(), &names, GroupBy::None, None);
        let order: Vec<_> = all.iter().map(|r| r.func.as_str()).collect();
        assert_eq!(order, ["b", "c", "a"]);
        assert_eq!(all[0].comm, None);
        let top = rows(counts, &names, GroupBy::None, Some(2));
        let order: Vec<_> = top.iter().map(|r| r.func.as_str()).collect();
        assert_eq!(order, ["c", "a"]);
    }

    #[test]
    fn grouped_rows_carry_comm_and_id() {
        let names = vec!["f".to_string()];
        let r = rows(vec![(key(0, 42, "bash"), 3)], &names, GroupBy::Pid, None);
        assert_eq!(r[0].comm.as_deref(), Some("bash"));
        assert_eq!(r[0].id, Some(42));
        let r = rows(vec![(key(0, 1, ""), 3)], &names, GroupBy::Cpu, None);
        assert_eq!((r[0].comm.as_deref(), r[0].id), (None, Some(1)));
        let r = rows(vec![(key(0, 0, "sh"), 3)], &names, GroupBy::Comm, None);
        assert_eq!((r[0].comm.as_deref(), r[0].id), (Some("sh"), None));
    }

    #[test]
    fn rows_without_calls_are_left_out() {
        let names = vec!["f".to_string(), "g".to_string()];
        let rows = rows(
            vec![(key(0, 0, ""), 0), (key(1, 0, ""), 1)],
            &names,
            GroupBy::None,
            None,
        );
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].func.as_str(), rows[0].count), ("g", 1));
    }
}
