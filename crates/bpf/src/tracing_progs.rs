//! fentry/fexit programs, loaded by hand. A BPF trampoline program names
//! its one target function when it is loaded, so attaching to N functions
//! needs N programs. Each is loaded from the relocated instructions of a
//! program libbpf already loaded (so it shares that object's maps), retyped
//! as BPF_PROG_TYPE_TRACING for its target.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;

use libbpf_rs::libbpf_sys as sys;
use libbpf_rs::ProgramMut;

/// The kernel's BTF, loaded once to look up many functions.
pub struct KernelBtf(NonNull<sys::btf>);

impl KernelBtf {
    pub fn load() -> Result<KernelBtf, String> {
        // SAFETY: no arguments; returns an owned btf or NULL with errno.
        let btf = unsafe { sys::btf__load_vmlinux_btf() };
        NonNull::new(btf).map(KernelBtf).ok_or_else(|| {
            format!(
                "cannot load the kernel's BTF: {}",
                io::Error::last_os_error()
            )
        })
    }

    /// The BTF id of function `name`, if the kernel describes it.
    fn func_id(&self, name: &str) -> Option<u32> {
        let name = CString::new(name).ok()?;
        // SAFETY: self.0 is a live btf; name is NUL-terminated.
        let id = unsafe {
            sys::btf__find_by_name_kind(self.0.as_ptr(), name.as_ptr(), sys::BTF_KIND_FUNC)
        };
        u32::try_from(id).ok()
    }
}

impl Drop for KernelBtf {
    fn drop(&mut self) {
        // SAFETY: self.0 came from btf__load_vmlinux_btf and is freed once.
        unsafe { sys::btf__free(self.0.as_ptr()) }
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
) -> Result<OwnedFd, String> {
    let attach_type = if ret {
        sys::BPF_TRACE_FEXIT
    } else {
        sys::BPF_TRACE_FENTRY
    };
    let btf_id = btf
        .func_id(func)
        .ok_or("not described in the kernel's BTF")?;
    let insns = template.insns();
    let opts = sys::bpf_prog_load_opts {
        sz: size_of::<sys::bpf_prog_load_opts>() as _,
        expected_attach_type: attach_type,
        attach_btf_id: btf_id,
        ..Default::default()
    };
    // SAFETY: the name, license and instruction pointers are valid for the
    // call; `opts` is a fully initialized options struct of the right size.
    let fd = unsafe {
        sys::bpf_prog_load(
            sys::BPF_PROG_TYPE_TRACING,
            c"rtools_tracing".as_ptr(),
            c"Dual BSD/GPL".as_ptr(),
            insns.as_ptr(),
            insns.len() as _,
            &opts as *const _ as *mut _,
        )
    };
    let prog = owned(fd).map_err(|e| format!("loading: {e}"))?;
    let mut link_opts = sys::bpf_link_create_opts {
        sz: size_of::<sys::bpf_link_create_opts>() as _,
        ..Default::default()
    };
    link_opts.__bindgen_anon_1.tracing.cookie = cookie;
    // SAFETY: prog is a valid program fd; link_opts is initialized.
    let fd = unsafe { sys::bpf_link_create(prog.as_raw_fd(), 0, attach_type, &link_opts) };
    owned(fd).map_err(|e| format!("attaching: {e}"))
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
