//! x86-64 syscall numbers by ftrace event name (`sys_enter_NAME`).
//!
//! Most come from the libc headers at build time (`__NR_*`). Two gaps are
//! filled by hand: syscalls whose kernel entry point, and so their event,
//! has another name than `__NR_*` (`uname` is `sys_enter_newuname`), and
//! syscalls newer than the build machine's headers (Debian 12's are 6.1).
//! The `syscall_numbers_match_the_kernel` test checks these against the
//! running kernel.

include!(concat!(env!("OUT_DIR"), "/syscalls.rs"));

/// Event name -> `__NR_` name, where they differ.
const EVENT_ALIASES: &[(&str, &str)] = &[
    ("newstat", "stat"),
    ("newfstat", "fstat"),
    ("newlstat", "lstat"),
    ("sendfile64", "sendfile"),
    ("newuname", "uname"),
    ("umount", "umount2"),
];

/// Syscalls added after Linux 6.1, from the kernel's syscall_64.tbl.
const NEWER_SYSCALLS: &[(&str, u32)] = &[
    ("uretprobe", 335),
    ("uprobe", 336),
    ("cachestat", 451),
    ("fchmodat2", 452),
    ("map_shadow_stack", 453),
    ("futex_wake", 454),
    ("futex_wait", 455),
    ("futex_requeue", 456),
    ("statmount", 457),
    ("listmount", 458),
    ("lsm_get_self_attr", 459),
    ("lsm_set_self_attr", 460),
    ("lsm_list_modules", 461),
    ("mseal", 462),
    ("setxattrat", 463),
    ("getxattrat", 464),
    ("listxattrat", 465),
    ("removexattrat", 466),
    ("open_tree_attr", 467),
    ("file_getattr", 468),
    ("file_setattr", 469),
    ("listns", 470),
];

/// The number of the syscall whose events are `sys_enter_NAME` and
/// `sys_exit_NAME`, if known.
pub fn number(event_name: &str) -> Option<u32> {
    let name = EVENT_ALIASES
        .iter()
        .find(|(event, _)| *event == event_name)
        .map_or(event_name, |&(_, nr_name)| nr_name);
    SYSCALLS
        .iter()
        .chain(NEWER_SYSCALLS)
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
