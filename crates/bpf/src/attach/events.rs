//! Probes that take one link each: tracepoints, raw tracepoints and USDT
//! probes (through libbpf's USDT support). [`Attached::one_link`] records
//! the outcome.

use std::ffi::CString;
use std::io::ErrorKind;
use std::path::Path;
use std::ptr::NonNull;

use libbpf_rs::libbpf_sys;
use libbpf_rs::{
    AsRawLibbpf, Link, ProgramMut, RawTracepointOpts, TracepointCategory, TracepointOpts, UsdtOpts,
};

pub(super) fn tracepoint(
    prog: &ProgramMut<'_>,
    slot: usize,
    category: &str,
    event: &str,
) -> libbpf_rs::Result<Link> {
    let opts = TracepointOpts {
        cookie: slot as u64,
        ..Default::default()
    };
    let category = TracepointCategory::Custom(category.to_string());
    prog.attach_tracepoint_with_opts(category, event, opts)
}

pub(super) fn raw_tracepoint(
    prog: &ProgramMut<'_>,
    slot: usize,
    event: &str,
) -> libbpf_rs::Result<Link> {
    let opts = RawTracepointOpts {
        cookie: slot as u64,
        ..Default::default()
    };
    prog.attach_raw_tracepoint_with_opts(event, opts)
}

/// A kprobe `offset` bytes into kernel function `func` (libbpf-rs's
/// options have no offset: libbpf's own call).
pub(super) fn kprobe_at(
    prog: &ProgramMut<'_>,
    func: &str,
    offset: u64,
    cookie: u64,
) -> libbpf_rs::Result<Link> {
    let name = CString::new(func)
        .map_err(|_| libbpf_rs::Error::from(std::io::Error::from(ErrorKind::InvalidInput)))?;
    let opts = libbpf_sys::bpf_kprobe_opts {
        sz: size_of::<libbpf_sys::bpf_kprobe_opts>() as _,
        bpf_cookie: cookie,
        offset: offset as _,
        ..Default::default()
    };
    // SAFETY: the program pointer is live for the call, the name a
    // NUL-terminated string and the options sized as libbpf expects;
    // libbpf returns a link it owns or NULL with errno set.
    let link = unsafe {
        libbpf_sys::bpf_program__attach_kprobe_opts(
            prog.as_libbpf_object().as_ptr(),
            name.as_ptr(),
            &opts,
        )
    };
    match NonNull::new(link) {
        // SAFETY: a link libbpf just made, owned by nothing else.
        Some(link) => Ok(unsafe { Link::from_ptr(link) }),
        None => Err(libbpf_rs::Error::from(std::io::Error::last_os_error())),
    }
}

/// A USDT probe; `pid`: it fires only in this process (`-p`).
pub(super) fn usdt(
    prog: &ProgramMut<'_>,
    slot: usize,
    binary: &Path,
    provider: &str,
    name: &str,
    pid: Option<u32>,
) -> libbpf_rs::Result<Link> {
    let opts = UsdtOpts {
        cookie: slot as u64,
        ..Default::default()
    };
    let pid = pid.map_or(-1, |p| p as i32);
    prog.attach_usdt_with_opts(pid, binary, provider, name, opts)
}
