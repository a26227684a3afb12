//! The programs one target of a trace probe needs: a program per way it
//! may attach (a kernel function by kprobe, kprobe-multi or fentry, a user
//! function by uprobe or uprobe.multi, ...), each compiled for the context
//! that way gives it (registers, trampoline slots, a tracepoint's record).

use std::path::Path;

use rtools_core::arch;
use rtools_core::targets::{Attach, Target};
use rtools_core::trace::check::{Int, ParamType, Scope, Site, TExpr};
use rtools_core::trace::codegen::{self, Collect, Context, Filters, Plan, UsdtArg};
use rtools_core::trace::event::Layout;
use rtools_core::trace::fields;
use rtools_core::trace::insn::Insn;
use rtools_core::trace::parsed::Parsed;

use super::kernel_params::KernelParams;

/// A way to attach, and so a program type and context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Kprobe,
    KprobeMulti,
    /// Loaded as a kprobe, cloned as fentry/fexit per function.
    FentryTemplate,
    Uprobe,
    UprobeMulti,
    Tracepoint,
    RawTracepoint,
    /// A syscall tracepoint's program, reached by a tail call from its
    /// probe's raw_syscalls dispatcher (never attached itself).
    RawSyscall,
}

impl Kind {
    /// The ELF section that tells libbpf the program's type.
    pub fn section(self) -> &'static str {
        match self {
            Kind::Kprobe => "kprobe",
            Kind::KprobeMulti => "kprobe.multi",
            Kind::FentryTemplate | Kind::Uprobe => "uprobe",
            Kind::UprobeMulti => "uprobe.multi",
            Kind::Tracepoint => "tp",
            Kind::RawTracepoint | Kind::RawSyscall => "raw_tp",
        }
    }

    /// A short name for the program's symbol.
    pub fn tag(self) -> &'static str {
        match self {
            Kind::Kprobe => "kp",
            Kind::KprobeMulti => "kpm",
            Kind::FentryTemplate => "fe",
            Kind::Uprobe => "up",
            Kind::UprobeMulti => "upm",
            Kind::Tracepoint => "tp",
            Kind::RawTracepoint => "rtp",
            Kind::RawSyscall => "sys",
        }
    }
}

/// What compiling needs besides the probe and its target.
pub struct Env<'a> {
    pub kernel: Option<&'a KernelParams>,
    pub tracefs: Option<&'a Path>,
    /// The filters of every program; `-p` is added for kernel-side
    /// targets (uprobes filter by process when they attach).
    pub filters: Filters,
    pub pid: Option<u32>,
    pub events_map: i32,
    pub lost_map: i32,
    /// Bytes waiting past which a record wakes the reader.
    pub wake_at: u32,
    /// The header fields the tool shows.
    pub collect: Collect,
}

/// One target to compile for: a resolved target, and for a USDT site its
/// arguments.
pub struct Place {
    pub target: Target,
    pub usdt: Option<Vec<UsdtArg>>,
    /// A syscall tracepoint reached through raw_syscalls: Some(exit).
    pub syscall: Option<bool>,
}

/// The programs `site` needs, each with its kind; an error says which
/// part of the probe this target can't provide.
#[allow(clippy::too_many_arguments)]
pub fn variants(
    parsed: &Parsed,
    ret: bool,
    site: &Place,
    layout: &Layout,
    probe: u32,
    single_slot: bool,
    env: &Env<'_>,
) -> Result<Vec<(Kind, Vec<Insn>)>, String> {
    let mut params = parsed.params.clone();
    let mut tracepoint_fields = Vec::new();
    let usdt_types: Vec<Int> = site.usdt.iter().flatten().map(|a| a.ty).collect();
    let mut kernel_side = true;
    let (scope_site, kinds): (Site<'_>, Vec<(Kind, Context<'_>)>) = match &site.target.attach {
        Attach::Kernel { func, .. } => {
            if params.is_empty() {
                params = env.kernel.and_then(|k| k.params(func)).unwrap_or_default();
            }
            // A signature's kernel typedefs (`ktime_t rqtp`), from BTF.
            for p in &mut params {
                let named = match &p.ty {
                    ParamType::Named(name) => env.kernel.and_then(|k| k.type_named(name)),
                    _ => None,
                };
                if let Some(ty) = named {
                    p.ty = ty;
                }
            }
            let mut kinds = vec![
                (Kind::Kprobe, Context::Regs),
                (Kind::KprobeMulti, Context::Regs),
            ];
            if let Some(nargs) = env.kernel.and_then(|k| k.arg_count(func)) {
                kinds.push((Kind::FentryTemplate, Context::Trampoline { nargs }));
            }
            let syscall = func.starts_with(arch::SYSCALL_PREFIX);
            (Site::KernelFunction { syscall }, kinds)
        }
        Attach::Uprobe { .. } => {
            kernel_side = false;
            match &site.usdt {
                Some(args) => (
                    Site::Usdt(&usdt_types),
                    vec![(Kind::Uprobe, Context::Usdt(args))],
                ),
                None => (
                    Site::UserFunction,
                    vec![
                        (Kind::Uprobe, Context::Regs),
                        (Kind::UprobeMulti, Context::Regs),
                    ],
                ),
            }
        }
        Attach::Tracepoint { category, event } => {
            let kinds = match site.syscall {
                Some(exit) => vec![(Kind::RawSyscall, Context::RawSyscall { exit })],
                None => vec![(Kind::Tracepoint, Context::Record)],
            };
            let dir = env
                .tracefs
                .ok_or("tracefs is not mounted: its format files name the fields")?;
            let format = dir.join("events").join(category).join(event).join("format");
            let text = std::fs::read_to_string(&format)
                .map_err(|e| format!("reading {}: {e}", format.display()))?;
            tracepoint_fields = fields::parse(&text);
            (Site::Tracepoint(&[]), kinds)
        }
        Attach::RawTracepoint { .. } => (
            Site::RawTracepoint,
            vec![(Kind::RawTracepoint, Context::RawArgs)],
        ),
        Attach::Usdt { .. } => return Err("a USDT probe not expanded to its sites".into()),
        Attach::Perf(_) => {
            return Err(
                "trace does not sample perf events: count them with funccount, or sample \
                 stacks with stackcount"
                    .into(),
            )
        }
    };
    let scope_site = match scope_site {
        Site::Tracepoint(_) => Site::Tracepoint(&tracepoint_fields),
        other => other,
    };
    let scope = Scope {
        site: scope_site,
        ret,
        params: &params,
        byte_lists: parsed.byte_lists,
    };
    let (predicate, values) = parsed.typed(&scope)?;
    // ctx->REG: fentry saves no registers, so kprobes serve.
    let registers = predicate.as_ref().is_some_and(TExpr::reads_registers)
        || values.iter().any(|v| v.reads_registers());
    let mut kinds = kinds;
    if registers {
        kinds.retain(|(kind, _)| *kind != Kind::FentryTemplate);
    }
    // A tracepoint probe that reads none of the record may attach raw: a
    // perf tracepoint link takes ~40 ms to close, one at a time in the
    // kernel (`t:*:*` took 95 s to detach), a raw one microseconds.
    let record = predicate.as_ref().is_some_and(TExpr::reads_record)
        || values.iter().any(|v| v.reads_record());
    if matches!(kinds.as_slice(), [(Kind::Tracepoint, Context::Record)]) && !record {
        kinds.push((Kind::RawTracepoint, Context::RawArgs));
    }
    let mut filters = env.filters;
    if kernel_side {
        filters.tgid = env.pid;
    }
    let plan = Plan {
        probe,
        single_slot,
        predicate: predicate.as_ref(),
        values: &values,
        layout,
        filters,
        events_map: env.events_map,
        lost_map: env.lost_map,
        collect: env.collect,
        wake_at: env.wake_at,
    };
    kinds
        .into_iter()
        .map(|(kind, ctx)| Ok((kind, codegen::program(&plan, ctx)?)))
        .collect()
}
