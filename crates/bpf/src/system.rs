//! Facts about this machine that decide what can be traced, and the setup
//! every tool does before loading: privileges, tracefs, libbpf's logging.

use std::fs;
use std::path::{Path, PathBuf};

use rtools_core::targets::tracefs;

use crate::error::BpfError;

const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// Fails unless this process may load tracing programs: root, or
/// CAP_BPF with CAP_PERFMON, or CAP_SYS_ADMIN.
pub fn check_privileges() -> Result<(), BpfError> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return Ok(());
    }
    let caps = fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        })
        .unwrap_or(0);
    let has = |cap: u32| caps & (1 << cap) != 0;
    if has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON)) {
        Ok(())
    } else {
        Err(BpfError::NotPrivileged)
    }
}

/// The tracefs mount point, mounting tracefs where the system has not.
pub fn ensure_tracefs() -> Option<PathBuf> {
    if let Some(dir) = tracefs::find_tracefs() {
        return Some(dir);
    }
    let target = Path::new(tracefs::TRACEFS_DIRS[0]);
    // SAFETY: all pointers are valid NUL-terminated strings for the call.
    let rc = unsafe {
        libc::mount(
            c"tracefs".as_ptr(),
            c"/sys/kernel/tracing".as_ptr(),
            c"tracefs".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    (rc == 0 && target.join("available_events").exists()).then(|| target.to_path_buf())
}

/// Whether the kernel can create kprobes (CONFIG_KPROBES with the perf
/// PMU that libbpf uses for them).
pub fn has_kprobes() -> bool {
    Path::new("/sys/bus/event_source/devices/kprobe").exists()
}

/// Whether the kernel describes itself in BTF (fentry needs it).
pub fn has_btf() -> bool {
    Path::new("/sys/kernel/btf/vmlinux").exists()
}

/// Raises the open-file limit to its hard maximum: every kprobe or fentry
/// link is a file descriptor or two, and a thousand functions would
/// exceed the usual soft limit of 1024.
pub fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid rlimit for both calls.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// libbpf prints warnings on its own; rtools shows them only with -v.
/// (libbpf's print function is the C library's own global.)
pub fn set_libbpf_logging(verbose: bool) {
    if verbose {
        libbpf_rs::set_print(Some((libbpf_rs::PrintLevel::Info, print_libbpf)));
    } else {
        libbpf_rs::set_print(None);
    }
}

fn print_libbpf(_level: libbpf_rs::PrintLevel, msg: String) {
    // libbpf starts its messages with "libbpf: " itself.
    use std::io::Write as _;
    let _ = write!(std::io::stderr(), "{msg}");
}
