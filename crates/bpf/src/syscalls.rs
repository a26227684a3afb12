//! Syscall numbers of this architecture by ftrace event name
//! (`sys_enter_NAME`).
//!
//! Most come from the libc headers at build time (`__NR_*`, build.rs's
//! `Arch`). Two gaps are filled by hand in rtools-core's arch/:
//! syscalls whose kernel entry point, and so their event, has another name
//! than `__NR_*` (`uname` is `sys_enter_newuname`), and syscalls newer than
//! the build machine's headers (Debian 12's are 6.1). The
//! `every_syscall_event_of_this_kernel_has_a_number` test checks these
//! against the running kernel.

use rtools_core::arch::{SYSCALLS_AFTER_HEADERS, SYSCALL_EVENT_ALIASES};

include!(concat!(env!("OUT_DIR"), "/syscalls.rs"));

/// The number of the syscall whose events are `sys_enter_NAME` and
/// `sys_exit_NAME`, if known.
pub fn number(event_name: &str) -> Option<u32> {
    let name = SYSCALL_EVENT_ALIASES
        .iter()
        .find(|(event, _)| *event == event_name)
        .map_or(event_name, |&(_, nr_name)| nr_name);
    SYSCALLS
        .iter()
        .chain(SYSCALLS_AFTER_HEADERS)
        .find(|(n, _)| *n == name)
        .map(|&(_, nr)| nr)
}

#[cfg(test)]
mod tests {
    use super::number;

    #[test]
    fn known_numbers() {
        assert_eq!(number("read"), Some(0));
        assert_eq!(number("getppid"), Some(110));
        assert_eq!(number("getcpu"), Some(309));
        assert_eq!(number("newuname"), Some(63));
        assert_eq!(number("newfstat"), Some(5));
        assert_eq!(number("cachestat"), Some(451));
        assert_eq!(number("nope"), None);
    }

    #[test]
    fn every_syscall_event_of_this_kernel_has_a_number() {
        let Some(tracefs) = crate::system::ensure_tracefs() else {
            // SAFETY: geteuid cannot fail.
            assert_ne!(
                unsafe { libc::geteuid() },
                0,
                "root could not mount tracefs"
            );
            // CI refuses skips (RTOOLS_TEST_NO_SKIP, tests/suite/support.rs).
            assert!(
                std::env::var_os("RTOOLS_TEST_NO_SKIP").is_none(),
                "reading tracefs needs root"
            );
            eprintln!("SKIPPED: reading tracefs needs root");
            return;
        };
        let dir = std::fs::read_dir(tracefs.join("events/syscalls")).expect("syscall events");
        let missing: Vec<String> = dir
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_prefix("sys_enter_")
                    .map(String::from)
            })
            .filter(|name| number(name).is_none())
            .collect();
        assert!(missing.is_empty(), "no number for {missing:?}");
    }
}
