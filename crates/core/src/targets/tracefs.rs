//! Tracepoints from tracefs (`available_events`: `category:event` a line).

use std::path::PathBuf;

/// Where tracefs may be mounted, newest convention first.
pub const TRACEFS_DIRS: &[&str] = &["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// The first mounted tracefs, if any.
pub fn find_tracefs() -> Option<PathBuf> {
    TRACEFS_DIRS
        .iter()
        .map(PathBuf::from)
        .find(|dir| dir.join("available_events").exists())
}

/// Parses `available_events` into `(category, event)` pairs.
pub fn parse_available_events(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| line.trim().split_once(':'))
        .map(|(c, e)| (c.to_string(), e.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_category_event_pairs() {
        let events = parse_available_events("sched:sched_switch\nsyscalls:sys_enter_read\n\n");
        assert_eq!(
            events,
            [
                ("sched".to_string(), "sched_switch".to_string()),
                ("syscalls".to_string(), "sys_enter_read".to_string())
            ]
        );
    }
}
