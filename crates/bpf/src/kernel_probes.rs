//! Kernel features that decide how rtools attaches, found by asking the
//! kernel (a tiny program loaded, a link attempted), never from its
//! version: distributions backport features, and a version says nothing
//! about how a kernel was configured. Each answer is found once per run.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::OnceLock;

use libbpf_rs::libbpf_sys as sys;

use crate::system;

/// Whether raw tracepoint programs may call `bpf_get_attach_cookie`, so one
/// program serves many raw tracepoint links (Linux 6.10 brought it). The
/// verifier answers: libbpf loads `call bpf_get_attach_cookie; exit` as a
/// raw tracepoint program and reads its refusal, if any.
pub fn raw_tracepoint_cookies() -> bool {
    static ANSWER: OnceLock<bool> = OnceLock::new();
    *ANSWER.get_or_init(|| {
        // SAFETY: libbpf's probe takes a program type, a helper id and no
        // options; it loads and closes its own program.
        let answer = unsafe {
            sys::libbpf_probe_bpf_helper(
                sys::BPF_PROG_TYPE_RAW_TRACEPOINT,
                sys::BPF_FUNC_get_attach_cookie,
                std::ptr::null(),
            )
        };
        answer == 1
    })
}

/// Whether the kernel makes uprobe.multi links (Linux 6.6 brought them).
/// Asked as libbpf asks: a uprobe.multi link on "/" (a directory, not an
/// executable) fails with EBADF where the kernel knows the link type, and
/// with EINVAL or the like where it does not.
pub fn uprobe_multi() -> bool {
    static ANSWER: OnceLock<bool> = OnceLock::new();
    *ANSWER.get_or_init(|| link_refused_with(sys::BPF_TRACE_UPROBE_MULTI, libc::EBADF))
}

/// Whether a program at a syscall tracepoint (syscalls:sys_enter_*) gets
/// the kernel's stack: older kernels (Debian 12's 6.1; its 6.12 has the
/// fix) hand it the registers the task entered the kernel with, so
/// `bpf_get_stack` finds no kernel frame (BCC's and bpftrace's `-K` print
/// nothing there either). Asked by attaching a program that stores what
/// `bpf_get_stack` returns at sys_enter_getppid, and calling getppid.
pub fn syscall_tracepoint_kernel_stacks() -> bool {
    static ANSWER: OnceLock<bool> = OnceLock::new();
    *ANSWER.get_or_init(|| kernel_stack_bytes_at_getppid().is_some_and(|bytes| bytes > 0))
}

/// What `bpf_get_stack` returned for the kernel stack at this thread's
/// next getppid, through its syscall tracepoint; None where the probe
/// could not be made.
fn kernel_stack_bytes_at_getppid() -> Option<i64> {
    let tracefs = system::ensure_tracefs()?;
    let id: u64 = std::fs::read_to_string(tracefs.join("events/syscalls/sys_enter_getppid/id"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    // SAFETY: an array map of one u64, no options.
    let map = owned(unsafe {
        sys::bpf_map_create(
            sys::BPF_MAP_TYPE_ARRAY,
            std::ptr::null(),
            4,
            8,
            1,
            std::ptr::null(),
        )
    })?;
    // SAFETY: gettid cannot fail.
    let tid = unsafe { libc::gettid() };
    let insns = stack_bytes_program(map.as_raw_fd(), tid);
    // SAFETY: the name, license and instructions are valid for the call;
    // no options.
    let prog = owned(unsafe {
        sys::bpf_prog_load(
            sys::BPF_PROG_TYPE_TRACEPOINT,
            std::ptr::null(),
            c"GPL".as_ptr(),
            insns.as_ptr(),
            insns.len() as _,
            std::ptr::null_mut(),
        )
    })?;
    // SAFETY: perf_event_attr is plain data; all zeroes is its default.
    let mut attr: sys::perf_event_attr = unsafe { std::mem::zeroed() };
    attr.type_ = sys::PERF_TYPE_TRACEPOINT;
    attr.size = size_of::<sys::perf_event_attr>() as u32;
    attr.config = id;
    attr.__bindgen_anon_1.sample_period = 1;
    // SAFETY: attr is valid and of the size it says; this thread, any CPU.
    let event = owned(unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            &attr as *const sys::perf_event_attr,
            0 as libc::pid_t,
            -1 as libc::c_int,
            -1 as libc::c_int,
            sys::PERF_FLAG_FD_CLOEXEC as libc::c_ulong,
        ) as i32
    })?;
    // SAFETY: ioctls on our perf event fd, with our program's fd; then a
    // getppid for the program to see.
    unsafe {
        if libc::ioctl(
            event.as_raw_fd(),
            PERF_EVENT_IOC_SET_BPF as _,
            prog.as_raw_fd(),
        ) != 0
            || libc::ioctl(event.as_raw_fd(), PERF_EVENT_IOC_ENABLE as _, 0) != 0
        {
            return None;
        }
        libc::syscall(libc::SYS_getppid);
    }
    let key = 0u32;
    let mut value = 0i64;
    // SAFETY: the key and value are of the map's sizes.
    let found = unsafe {
        sys::bpf_map_lookup_elem(
            map.as_raw_fd(),
            (&key as *const u32).cast(),
            (&mut value as *mut i64).cast(),
        )
    };
    (found == 0).then_some(value)
}

/// linux/perf_event.h's `_IO('$', 0)` and `_IOW('$', 8, __u32)`.
const PERF_EVENT_IOC_ENABLE: u64 = 0x2400;
const PERF_EVENT_IOC_SET_BPF: u64 = 0x4004_2408;

/// In thread `tid`: `map[0] = bpf_get_stack(ctx, buf, 16, 0)`.
fn stack_bytes_program(map: i32, tid: i32) -> Vec<sys::bpf_insn> {
    // (code, dst, src, off, imm)
    let code: [(u8, u8, u8, i16, i32); 22] = [
        (0xbf, 6, 1, 0, 0), // r6 = r1 (ctx)
        (0x85, 0, 0, 0, sys::BPF_FUNC_get_current_pid_tgid as i32),
        (0xbc, 0, 0, 0, 0),    // w0 = w0: the tid
        (0x55, 0, 0, 17, tid), // if r0 != tid goto exit
        (0xbf, 1, 6, 0, 0),    // r1 = ctx
        (0xbf, 2, 10, 0, 0),   // r2 = fp
        (0x07, 2, 0, 0, -16),  // r2 -= 16: buf
        (0xb7, 3, 0, 0, 16),   // r3 = 16
        (0xb7, 4, 0, 0, 0),    // r4 = 0: kernel
        (0x85, 0, 0, 0, sys::BPF_FUNC_get_stack as i32),
        (0x7b, 10, 0, -24, 0), // *(u64 *)(fp - 24) = r0
        (0x62, 10, 0, -28, 0), // *(u32 *)(fp - 28) = 0
        (0x18, 1, sys::BPF_PSEUDO_MAP_FD as u8, 0, map), // r1 = map
        (0x00, 0, 0, 0, 0),
        (0xbf, 2, 10, 0, 0), // r2 = fp - 28: key
        (0x07, 2, 0, 0, -28),
        (0xbf, 3, 10, 0, 0), // r3 = fp - 24: value
        (0x07, 3, 0, 0, -24),
        (0xb7, 4, 0, 0, 0), // r4 = BPF_ANY
        (0x85, 0, 0, 0, sys::BPF_FUNC_map_update_elem as i32),
        (0xb7, 0, 0, 0, 0), // exit: r0 = 0
        (0x95, 0, 0, 0, 0),
    ];
    code.iter()
        .map(|&(code, dst, src, off, imm)| {
            let mut insn = sys::bpf_insn {
                code,
                off,
                imm,
                ..Default::default()
            };
            insn.set_dst_reg(dst);
            insn.set_src_reg(src);
            insn
        })
        .collect()
}

/// A new fd from a call returning one, or a negative value on failure.
fn owned(fd: i32) -> Option<OwnedFd> {
    // SAFETY: a non-negative return is a new fd that nothing else owns.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Loads `r0 = 0; exit` as a kprobe-type program expecting `attach_type`
/// and creates a uprobe.multi link on "/" at offset 0: true when the
/// kernel refuses it with `errno`, the answer of a kernel that
/// understood the request.
fn link_refused_with(attach_type: sys::bpf_attach_type, errno: i32) -> bool {
    // r0 = 0 (BPF_ALU64 | BPF_MOV | BPF_K), exit (BPF_JMP | BPF_EXIT).
    let mut insns = [sys::bpf_insn::default(); 2];
    insns[0].code = 0xb7;
    insns[1].code = 0x95;
    let mut load_opts = sys::bpf_prog_load_opts {
        sz: size_of::<sys::bpf_prog_load_opts>() as _,
        expected_attach_type: attach_type,
        ..Default::default()
    };
    // SAFETY: the name, license and instructions are valid for the call;
    // the options are initialized and of their true size.
    let prog = unsafe {
        sys::bpf_prog_load(
            sys::BPF_PROG_TYPE_KPROBE,
            std::ptr::null(),
            c"GPL".as_ptr(),
            insns.as_ptr(),
            insns.len() as _,
            &mut load_opts,
        )
    };
    if prog < 0 {
        return false;
    }
    let offset: std::os::raw::c_ulong = 0;
    let mut link_opts = sys::bpf_link_create_opts {
        sz: size_of::<sys::bpf_link_create_opts>() as _,
        ..Default::default()
    };
    link_opts.__bindgen_anon_1.uprobe_multi.path = c"/".as_ptr();
    link_opts.__bindgen_anon_1.uprobe_multi.offsets = &offset;
    link_opts.__bindgen_anon_1.uprobe_multi.cnt = 1;
    // SAFETY: prog is the fd loaded above; the options and what they point
    // to (the path, the offset) outlive the call.
    let link = unsafe { sys::bpf_link_create(prog, -1, attach_type, &link_opts) };
    let err = std::io::Error::last_os_error().raw_os_error();
    // SAFETY: both fds are ours and closed once.
    unsafe {
        if link >= 0 {
            libc::close(link);
        }
        libc::close(prog);
    }
    link < 0 && err == Some(errno)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This machine's kernel (6.18 in development and in CI) has them
    /// all; the guests' 6.1 has none (vm_kernel_functions and the root
    /// suite's guest runs check the fallbacks there).
    #[test]
    fn this_kernel_has_raw_tracepoint_cookies_and_uprobe_multi() {
        if crate::system::check_privileges().is_err() {
            crate::skip_test("probing loads BPF programs: run as root");
            return;
        }
        assert!(raw_tracepoint_cookies());
        assert!(uprobe_multi());
        assert!(syscall_tracepoint_kernel_stacks());
        // An attach type the kernel refuses at load for a kprobe program:
        // the probe says no instead of guessing.
        assert!(!link_refused_with(
            sys::BPF_CGROUP_INET_INGRESS,
            libc::EBADF
        ));
    }
}
