//! Probes that take one link each: tracepoints, raw tracepoints and USDT
//! probes (through libbpf's USDT support). [`Attached::one_link`] records
//! the outcome.

use std::path::Path;

use libbpf_rs::{
    Link, ProgramMut, RawTracepointOpts, TracepointCategory, TracepointOpts, UsdtOpts,
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
