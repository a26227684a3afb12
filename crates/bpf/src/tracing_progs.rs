//! Programs cloned by hand from one libbpf loaded, so they share its maps:
//! fentry/fexit programs (a BPF trampoline program names its one target
//! function when it is loaded, so attaching to N functions needs N
//! programs: the relocated instructions retyped as BPF_PROG_TYPE_TRACING),
//! and raw tracepoint programs with their slot built in, where the kernel
//! gives raw tracepoints no cookie.

use std::collections::HashMap;
use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;

use libbpf_rs::libbpf_sys as sys;
use libbpf_rs::ProgramMut;

use crate::attach::{Reason, VerifierLog};

/// The kernel's functions as BTF describes them: name -> type id, read
/// once (libbpf's lookup by name scans every type, and a wildcard over
/// 50,000 functions would take tens of seconds).
pub struct KernelBtf {
    funcs: HashMap<String, u32>,
}

impl KernelBtf {
    pub fn load() -> io::Result<KernelBtf> {
        // SAFETY: no arguments; returns an owned btf or NULL with errno.
        let btf = unsafe { sys::btf__load_vmlinux_btf() };
        let btf = NonNull::new(btf).ok_or_else(io::Error::last_os_error)?;
        let mut funcs = HashMap::new();
        // SAFETY: btf is live until the btf__free below; ids below
        // btf__type_cnt are valid, and names are NUL-terminated strings
        // owned by btf, copied before it is freed.
        unsafe {
            for id in 1..sys::btf__type_cnt(btf.as_ptr()) {
                let t = sys::btf__type_by_id(btf.as_ptr(), id);
                if t.is_null() || ((*t).info >> 24) & 0x1f != sys::BTF_KIND_FUNC {
                    continue;
                }
                let name = sys::btf__name_by_offset(btf.as_ptr(), (*t).name_off);
                if !name.is_null() {
                    let name = CStr::from_ptr(name).to_string_lossy().into_owned();
                    funcs.entry(name).or_insert(id);
                }
            }
            sys::btf__free(btf.as_ptr());
        }
        Ok(KernelBtf { funcs })
    }

    /// The BTF id of function `name`, if the kernel describes it.
    fn func_id(&self, name: &str) -> Option<u32> {
        self.funcs.get(name).copied()
    }
}

/// Loads `template`'s code as an fentry (or, with `ret`, fexit) program on
/// `func` and links it with `cookie`. Returns the link; it holds the
/// program, whose own fd is closed here (one fd per function, not two).
pub fn attach(
    btf: &KernelBtf,
    template: &ProgramMut<'_>,
    func: &str,
    ret: bool,
    cookie: u64,
    log: Option<&VerifierLog>,
) -> Result<OwnedFd, Reason> {
    let attach_type = if ret {
        sys::BPF_TRACE_FEXIT
    } else {
        sys::BPF_TRACE_FENTRY
    };
    let btf_id = btf
        .func_id(func)
        .ok_or(Reason::from("not described in the kernel's BTF"))?;
    let prog = load_clone(
        template.insns(),
        sys::BPF_PROG_TYPE_TRACING,
        attach_type,
        btf_id,
        func,
        log,
    )
    .map_err(|(e, mut reason)| {
        if e.raw_os_error() == Some(libc::EPERM) {
            // What EPERM means for a trampoline, where root loads others.
            reason.text += ": BPF trampolines are forbidden here, even to root";
        }
        reason
    })?;
    let mut link_opts = sys::bpf_link_create_opts {
        sz: size_of::<sys::bpf_link_create_opts>() as _,
        ..Default::default()
    };
    link_opts.__bindgen_anon_1.tracing.cookie = cookie;
    // SAFETY: prog is a valid program fd; link_opts is initialized.
    let fd = unsafe { sys::bpf_link_create(prog.as_raw_fd(), 0, attach_type, &link_opts) };
    owned(fd).map_err(|e| Reason::os("attaching", &e))
}

/// Loads `template`'s code as a raw tracepoint program on `event`, its
/// cookie read replaced by `slot`, and attaches it: where raw tracepoint
/// programs may not read a cookie (kernels before 6.10), one program per
/// raw tracepoint says which it is. The template reads nothing from its
/// context but the cookie (and what helpers take the context for), so its
/// code is valid for a raw tracepoint too.
pub fn attach_raw_tracepoint(
    template: &ProgramMut<'_>,
    event: &str,
    slot: u32,
    log: Option<&VerifierLog>,
) -> Result<OwnedFd, Reason> {
    let insns = with_cookie(template.insns(), slot);
    let prog = load_clone(&insns, sys::BPF_PROG_TYPE_RAW_TRACEPOINT, 0, 0, event, log)
        .map_err(|(_, reason)| reason)?;
    let name = std::ffi::CString::new(event).map_err(|_| Reason::from("a NUL in its name"))?;
    // SAFETY: prog is a valid program fd and name a NUL-terminated string.
    let fd = unsafe { sys::bpf_raw_tracepoint_open(name.as_ptr(), prog.as_raw_fd()) };
    owned(fd).map_err(|e| Reason::os("attaching", &e))
}

/// `insns` with every `call bpf_get_attach_cookie` made `r0 = slot`: the
/// value the call would have returned, in the register it returns it in
/// (the call's clobbering of r1-r5 is not needed: compiled code never
/// reads them after a call without writing them first).
fn with_cookie(insns: &[sys::bpf_insn], slot: u32) -> Vec<sys::bpf_insn> {
    const CALL: u8 = 0x85; // BPF_JMP | BPF_CALL
    const MOV64_IMM: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
    let cookie = sys::BPF_FUNC_get_attach_cookie as i32;
    insns
        .iter()
        .map(|insn| {
            let mut insn = *insn;
            if insn.code == CALL && insn.src_reg() == 0 && insn.imm == cookie {
                insn.code = MOV64_IMM;
                insn.set_dst_reg(0);
                insn.off = 0;
                insn.imm = slot as i32;
            }
            insn
        })
        .collect()
}

/// Loads `insns` as a program of `prog_type`; on failure, where `log`
/// takes it, loads them again for the verifier's log (of the program for
/// `what`), and returns the error with its reason.
fn load_clone(
    insns: &[sys::bpf_insn],
    prog_type: sys::bpf_prog_type,
    attach_type: sys::bpf_attach_type,
    btf_id: u32,
    what: &str,
    verifier_log: Option<&VerifierLog>,
) -> Result<OwnedFd, (io::Error, Reason)> {
    let load = |log: Option<&mut [u8]>| {
        let mut opts = sys::bpf_prog_load_opts {
            sz: size_of::<sys::bpf_prog_load_opts>() as _,
            expected_attach_type: attach_type,
            attach_btf_id: btf_id,
            ..Default::default()
        };
        if let Some(log) = log {
            opts.log_level = 1;
            opts.log_size = log.len() as u32;
            opts.log_buf = log.as_mut_ptr().cast();
        }
        // SAFETY: the name, license and instruction pointers are valid for
        // the call; `opts` is a fully initialized options struct of the
        // right size, mutable because libbpf writes into it (the log's
        // true size), and its log buffer outlives the call.
        let fd = unsafe {
            sys::bpf_prog_load(
                prog_type,
                c"rtools_clone".as_ptr(),
                c"Dual BSD/GPL".as_ptr(),
                insns.as_ptr(),
                insns.len() as _,
                &mut opts,
            )
        };
        owned(fd)
    };
    load(None).map_err(|e| {
        if let Some(verifier_log) = verifier_log {
            let mut log = vec![0u8; 1 << 20];
            let _ = load(Some(&mut log));
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            verifier_log.show(what, &String::from_utf8_lossy(&log[..end]));
        }
        let reason = Reason::os("loading", &e);
        (e, reason)
    })
}

/// libbpf returns a new fd, or -errno.
fn owned(fd: i32) -> Result<OwnedFd, io::Error> {
    if fd < 0 {
        Err(io::Error::from_raw_os_error(-fd))
    } else {
        // SAFETY: a non-negative return is a new fd that nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// `exit` alone: r0 is never set, which every verifier refuses.
    fn refused_program() -> Vec<sys::bpf_insn> {
        let mut exit = sys::bpf_insn {
            code: 0x95, // BPF_JMP | BPF_EXIT
            ..Default::default()
        };
        exit.set_dst_reg(0);
        vec![exit]
    }

    #[test]
    fn a_refused_clone_hands_its_verifier_log_to_the_caller_that_asks() {
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            // CI refuses skips (RTOOLS_TEST_NO_SKIP, tests/suite/support.rs).
            assert!(
                std::env::var_os("RTOOLS_TEST_NO_SKIP").is_none(),
                "loading BPF programs needs root"
            );
            eprintln!("SKIPPED: loading BPF programs needs root");
            return;
        }
        let lines = Arc::new(Mutex::new(Vec::new()));
        let log = {
            let lines = lines.clone();
            VerifierLog::new(move |target, line| {
                lines.lock().unwrap().push(format!("{target}: {line}"));
            })
        };
        let raw = sys::BPF_PROG_TYPE_RAW_TRACEPOINT;
        let (e, reason) = load_clone(&refused_program(), raw, 0, 0, "x", Some(&log)).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EACCES), "{reason:?}");
        let lines = lines.lock().unwrap();
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("x: ") && l.contains("R0 !read_ok")),
            "{lines:#?}"
        );
        // Unasked, the same refusal comes without a log.
        let (e, _) = load_clone(&refused_program(), raw, 0, 0, "x", None).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EACCES));
    }
}
