//! Probes that take one link each: tracepoints, raw tracepoints and USDT
//! probes (through libbpf's USDT support).

use std::path::Path;

use libbpf_rs::{ProgramMut, RawTracepointOpts, TracepointCategory, TracepointOpts, UsdtOpts};
use rtools_core::targets::Target;

use super::{why, Attached, NOT_FOR_THIS_TOOL};
use crate::links::Attachment;

pub(super) fn tracepoint(
    prog: Option<&ProgramMut<'_>>,
    slot: usize,
    target: &Target,
    category: &str,
    event: &str,
    out: &mut Attached,
) {
    let Some(prog) = prog else {
        out.skipped(target, NOT_FOR_THIS_TOOL);
        return;
    };
    let opts = TracepointOpts {
        cookie: slot as u64,
        ..Default::default()
    };
    let category = TracepointCategory::Custom(category.to_string());
    match prog.attach_tracepoint_with_opts(category, event, opts) {
        Ok(link) => {
            out.link(Attachment::Libbpf(link));
            out.planned(slot, target, "tracepoint link");
        }
        Err(e) => out.skipped(target, why(&e)),
    }
}

pub(super) fn raw_tracepoint(
    prog: Option<&ProgramMut<'_>>,
    slot: usize,
    target: &Target,
    event: &str,
    out: &mut Attached,
) {
    let Some(prog) = prog else {
        out.skipped(target, NOT_FOR_THIS_TOOL);
        return;
    };
    let opts = RawTracepointOpts {
        cookie: slot as u64,
        ..Default::default()
    };
    match prog.attach_raw_tracepoint_with_opts(event, opts) {
        Ok(link) => {
            out.link(Attachment::Libbpf(link));
            out.planned(slot, target, "raw tracepoint link");
        }
        Err(e) => out.skipped(target, why(&e)),
    }
}

/// A USDT probe: the file that holds it, its provider and name.
pub(super) struct Usdt<'a> {
    pub binary: &'a Path,
    pub provider: &'a str,
    pub name: &'a str,
}

/// `pid`: the probe fires only in this process (`-p`).
pub(super) fn usdt(
    prog: Option<&ProgramMut<'_>>,
    slot: usize,
    target: &Target,
    probe: &Usdt<'_>,
    pid: Option<u32>,
    out: &mut Attached,
) {
    let Some(prog) = prog else {
        out.skipped(target, NOT_FOR_THIS_TOOL);
        return;
    };
    let opts = UsdtOpts {
        cookie: slot as u64,
        ..Default::default()
    };
    let pid = pid.map_or(-1, |p| p as i32);
    let Usdt {
        binary,
        provider,
        name,
    } = probe;
    match prog.attach_usdt_with_opts(pid, binary, provider, name, opts) {
        Ok(link) => {
            out.link(Attachment::Libbpf(link));
            out.planned(slot, target, format_args!("usdt {provider}:{name}"));
        }
        Err(e) => out.skipped(target, why(&e)),
    }
}
