//! Kernel features that decide how rtools attaches, found by asking the
//! kernel (a tiny program loaded, a link attempted), never from its
//! version: distributions backport features, and a version says nothing
//! about how a kernel was configured. Each answer is found once per run.

use std::sync::OnceLock;

use libbpf_rs::libbpf_sys as sys;

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

    /// This machine's kernel (6.18 in development, 6.12 or newer in CI)
    /// has both; the guests' 6.1 has neither (vm_kernel_functions checks
    /// the fallbacks there).
    #[test]
    fn this_kernel_has_raw_tracepoint_cookies_and_uprobe_multi() {
        if crate::system::check_privileges().is_err() {
            crate::skip_test("probing loads BPF programs: run as root");
            return;
        }
        assert!(raw_tracepoint_cookies());
        assert!(uprobe_multi());
        // An attach type the kernel refuses at load for a kprobe program:
        // the probe says no instead of guessing.
        assert!(!link_refused_with(
            sys::BPF_CGROUP_INET_INGRESS,
            libc::EBADF
        ));
    }
}
