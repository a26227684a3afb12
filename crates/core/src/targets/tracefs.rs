//! Tracepoints from tracefs (`available_events`: `category:event` a line).

use std::path::{Path, PathBuf};

/// Where tracefs may be mounted, newest convention first.
pub const TRACEFS_DIRS: &[&str] = &["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// The first mounted tracefs, if any.
pub fn find_tracefs() -> Option<PathBuf> {
    find_tracefs_under(Path::new("/"))
}

/// The first tracefs under the system root `root`.
fn find_tracefs_under(root: &Path) -> Option<PathBuf> {
    TRACEFS_DIRS
        .iter()
        .map(|dir| super::libpath::under(root, dir))
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
    fn tracefs_is_found_where_it_has_events() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/root");
        assert_eq!(
            find_tracefs_under(&root),
            Some(root.join("sys/kernel/tracing"))
        );
        assert_eq!(find_tracefs_under(&root.join("etc")), None);
        assert_eq!(find_tracefs(), find_tracefs_under(Path::new("/")));
    }

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
