//! Keys of exited processes: counters keyed by process must not fill up
//! over a run of days on a busy host, so the keys of processes that are
//! gone are read, folded into totals kept in rtools, and deleted.

use std::path::Path;

/// Whether process or thread `id` still exists (`/proc/ID` resolves for
/// thread ids too, though only processes are listed).
pub fn alive(id: u32) -> bool {
    id == 0 || Path::new(&format!("/proc/{id}")).exists()
}

/// The size of the maps keyed by process: 65,536 entries, or for the
/// tests `RTOOLS_TEST_MAX_KEYS` (a small table shows that pruning keeps
/// counts exact).
pub fn max_keys() -> u32 {
    max_keys_from(std::env::var("RTOOLS_TEST_MAX_KEYS").ok().as_deref())
}

fn max_keys_from(setting: Option<&str>) -> u32 {
    setting
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(65536)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_huge_pid_is_not() {
        assert!(alive(std::process::id()));
        assert!(!alive(u32::MAX - 1));
    }

    #[test]
    fn the_table_size_can_only_shrink_to_one() {
        assert_eq!(max_keys_from(None), 65536);
        assert_eq!(max_keys_from(Some("24")), 24);
        assert_eq!(max_keys_from(Some("1")), 1);
        assert_eq!(max_keys_from(Some("0")), 65536);
        assert_eq!(max_keys_from(Some("lots")), 65536);
        // Id 0 is the idle task: always there.
        assert!(alive(0));
        let setting = std::env::var("RTOOLS_TEST_MAX_KEYS").ok();
        assert_eq!(max_keys(), max_keys_from(setting.as_deref()));
    }
}
