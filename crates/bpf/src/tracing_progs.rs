//! fentry/fexit programs, loaded by hand. A BPF trampoline program names
//! its one target function when it is loaded, so attaching to N functions
//! needs N programs. Each is loaded from the relocated instructions of a
//! program libbpf already loaded (so it shares that object's maps), retyped
//! as BPF_PROG_TYPE_TRACING for its target.

use std::collections::HashMap;
use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;

use libbpf_rs::libbpf_sys as sys;
use libbpf_rs::ProgramMut;

use crate::attach::Reason;
use crate::system;

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
) -> Result<OwnedFd, Reason> {
    let attach_type = if ret {
        sys::BPF_TRACE_FEXIT
    } else {
        sys::BPF_TRACE_FENTRY
    };
    let btf_id = btf
        .func_id(func)
        .ok_or(Reason::from("not described in the kernel's BTF"))?;
    let insns = template.insns();
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
                sys::BPF_PROG_TYPE_TRACING,
                c"rtools_tracing".as_ptr(),
                c"Dual BSD/GPL".as_ptr(),
                insns.as_ptr(),
                insns.len() as _,
                &mut opts,
            )
        };
        owned(fd)
    };
    let prog = load(None).map_err(|e| {
        if system::verbose() {
            // Load again with the verifier's log, for -v.
            let mut log = vec![0u8; 1 << 20];
            let _ = load(Some(&mut log));
            show_verifier_log(func, &log);
        }
        let mut reason = Reason::os("loading", &e);
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

/// Prints the verifier's log of a refused program on stderr (`-v`).
fn show_verifier_log(func: &str, log: &[u8]) {
    use std::io::Write as _;
    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
    let text = String::from_utf8_lossy(&log[..end]);
    let mut err = std::io::stderr().lock();
    for line in text.lines() {
        let _ = writeln!(err, "libbpf: verifier ({func}): {line}");
    }
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
