//! Kernel functions: kprobe-multi (one link for all), fentry/fexit (a
//! trampoline each) or kprobe (one link each); `auto` tries them in that
//! order and falls back when one does not work on this kernel.

use libbpf_rs::{KprobeMultiOpts, KprobeOpts, ProgramMut};
use rtools_core::spec::KernelFlavor;
use rtools_core::targets::{Attach, Target};

use super::multi::{attach_split, SplitError};
use super::{events, AttachOptions, Attached, Backend, Programs, Reason, Step, Stop};
use crate::error::BpfError;
use crate::links::Attachment;
use crate::system;
use crate::tracing_progs::{self, KernelBtf};

/// A backend whose first this-many functions all fail is taken as not
/// working on this kernel (rather than trying 50,000 functions).
const GIVE_UP_AFTER: usize = 16;

/// The backends to try for one group of kernel functions, best first.
fn kernel_backends(flavor: KernelFlavor, forced: Backend) -> Vec<Backend> {
    match (forced, flavor) {
        (Backend::Auto | Backend::Kprobe, KernelFlavor::Offset) => vec![Backend::Kprobe],
        (_, KernelFlavor::Offset) => Vec::new(),
        (Backend::Auto, KernelFlavor::Fentry) => vec![Backend::Fentry],
        (Backend::Auto, KernelFlavor::Kprobe) => vec![Backend::KprobeMulti, Backend::Kprobe],
        (Backend::Auto, KernelFlavor::Auto) => {
            vec![Backend::KprobeMulti, Backend::Fentry, Backend::Kprobe]
        }
        (forced, _) => vec![forced],
    }
}

/// Outcome of one backend on a group of functions.
enum BackendResult {
    /// Some or all attached; the rest were skipped individually.
    Attached,
    /// The backend does not work on this kernel at all.
    Unsupported(Reason),
    /// A stop signal came while attaching.
    Interrupted,
}

#[allow(clippy::too_many_arguments)]
pub(super) fn attach_kernel(
    progs: &Programs<'_, '_>,
    targets: &[Target],
    slots: &[usize],
    ret: bool,
    flavor: KernelFlavor,
    opts: &AttachOptions,
    out: &mut Attached,
) -> Result<(), BpfError> {
    let (forced, stop) = (opts.backend, &opts.stop);
    let mut failures = Vec::new();
    let backends = kernel_backends(flavor, forced);
    if backends.is_empty() {
        failures.push(format!(
            "{forced}: attaches at a function's entry only; an offset into a function needs a \
             kprobe (--backend kprobe)"
        ));
    }
    for backend in backends {
        let prog = match backend {
            Backend::KprobeMulti => progs.kprobe_multi,
            Backend::Fentry => progs.tracing_template,
            Backend::Kprobe | Backend::Auto => progs.kprobe,
        };
        let result = match (backend, prog) {
            (_, None) => BackendResult::Unsupported("this tool has no program for it".into()),
            (Backend::KprobeMulti, Some(p)) => kprobe_multi(p, targets, slots, ret, stop, out),
            (Backend::Fentry, Some(p)) => fentry(p, targets, slots, ret, opts, out),
            (_, Some(p)) => kprobe(p, targets, slots, ret, stop, out),
        };
        match result {
            BackendResult::Attached => {
                if !failures.is_empty() {
                    out.plan.push(Step::KernelFallback { failures });
                }
                return Ok(());
            }
            BackendResult::Unsupported(reason) => failures.push(format!("{backend}: {reason}")),
            BackendResult::Interrupted => return Err(BpfError::Interrupted),
        }
    }
    Err(BpfError::NoKernelBackend { failures })
}

fn kernel_func(target: &Target) -> &str {
    match &target.attach {
        Attach::Kernel { func, .. } => func,
        _ => unreachable!("kernel groups hold kernel targets"),
    }
}

fn kernel_offset(target: &Target) -> u64 {
    match &target.attach {
        Attach::Kernel { offset, .. } => *offset,
        _ => 0,
    }
}

fn kprobe_multi(
    prog: &ProgramMut<'_>,
    targets: &[Target],
    slots: &[usize],
    ret: bool,
    stop: &Stop,
    out: &mut Attached,
) -> BackendResult {
    let split = attach_split(slots, stop, |batch| {
        let opts = KprobeMultiOpts {
            symbols: batch
                .iter()
                .map(|&s| kernel_func(&targets[s]).to_string())
                .collect(),
            cookies: batch.iter().map(|&s| s as u64).collect(),
            retprobe: ret,
            ..Default::default()
        };
        Ok(Attachment::Libbpf(
            prog.attach_kprobe_multi_with_opts(opts)?,
        ))
    });
    match split {
        Ok(split) => {
            out.split(
                targets,
                split,
                if ret {
                    "kretprobe-multi"
                } else {
                    "kprobe-multi"
                },
            );
            BackendResult::Attached
        }
        Err(SplitError::Unsupported(reason)) => BackendResult::Unsupported(reason),
        Err(SplitError::Interrupted) => BackendResult::Interrupted,
    }
}

fn fentry(
    template: &ProgramMut<'_>,
    targets: &[Target],
    slots: &[usize],
    ret: bool,
    opts: &AttachOptions,
    out: &mut Attached,
) -> BackendResult {
    if !system::has_btf() {
        return BackendResult::Unsupported(
            "this kernel has no BTF (/sys/kernel/btf/vmlinux)".into(),
        );
    }
    let btf = match KernelBtf::load() {
        Ok(btf) => btf,
        Err(e) => return BackendResult::Unsupported(Reason::os("reading the kernel's BTF", &e)),
    };
    let how = if ret { "fexit" } else { "fentry" };
    let log = opts.verifier_log.as_ref();
    per_function(targets, slots, (how, &opts.stop), out, |slot, func| {
        let link = tracing_progs::attach(&btf, template, func, ret, slot as u64, log)?;
        Ok(vec![Attachment::Fd(link)])
    })
}

fn kprobe(
    prog: &ProgramMut<'_>,
    targets: &[Target],
    slots: &[usize],
    ret: bool,
    stop: &Stop,
    out: &mut Attached,
) -> BackendResult {
    if !system::has_kprobes() {
        return BackendResult::Unsupported(
            "this kernel has no kprobes (CONFIG_KPROBES is off)".into(),
        );
    }
    let how = if ret { "kretprobe" } else { "kprobe" };
    per_function(targets, slots, (how, stop), out, |slot, func| {
        let offset = kernel_offset(&targets[slot]);
        let link = if offset == 0 {
            let opts = KprobeOpts {
                cookie: slot as u64,
                ..Default::default()
            };
            prog.attach_kprobe_with_opts(ret, func, opts)
        } else {
            events::kprobe_at(prog, func, offset, slot as u64)
        };
        Ok(vec![Attachment::Libbpf(
            link.map_err(|e| Reason::from(&e))?,
        )])
    })
}

/// Attaches function by function (`how`, until `stop`). If none attaches
/// the backend counts as unsupported (so `auto` moves on); otherwise
/// failures are skips.
fn per_function(
    targets: &[Target],
    slots: &[usize],
    (how, stop): (&str, &Stop),
    out: &mut Attached,
    mut attach: impl FnMut(usize, &str) -> Result<Vec<Attachment>, Reason>,
) -> BackendResult {
    let mut failed = Vec::new();
    let mut attached = Vec::new();
    for &slot in slots {
        if stop.check().is_err() {
            return BackendResult::Interrupted;
        }
        match attach(slot, kernel_func(&targets[slot])) {
            Ok(links) => attached.push((slot, links)),
            Err(e) => failed.push((slot, e)),
        }
        if attached.is_empty() && failed.len() >= GIVE_UP_AFTER {
            break;
        }
    }
    if attached.is_empty() {
        let (_, first) = failed
            .into_iter()
            .next()
            .unwrap_or((0, Reason::from("no functions")));
        return BackendResult::Unsupported(first);
    }
    for (slot, links) in attached {
        links.into_iter().for_each(|l| out.link(l));
        out.planned(slot, &targets[slot], how);
    }
    for (slot, reason) in failed {
        out.skipped(&targets[slot], reason);
    }
    BackendResult::Attached
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_tries_the_fastest_backend_first() {
        use Backend::*;
        assert_eq!(
            kernel_backends(KernelFlavor::Auto, Auto),
            [KprobeMulti, Fentry, Kprobe]
        );
        assert_eq!(
            kernel_backends(KernelFlavor::Kprobe, Auto),
            [KprobeMulti, Kprobe]
        );
        assert_eq!(kernel_backends(KernelFlavor::Fentry, Auto), [Fentry]);
        assert_eq!(kernel_backends(KernelFlavor::Auto, Kprobe), [Kprobe]);
        // Inside a function only a kprobe attaches.
        assert_eq!(kernel_backends(KernelFlavor::Offset, Auto), [Kprobe]);
        assert_eq!(kernel_backends(KernelFlavor::Offset, Kprobe), [Kprobe]);
        assert!(kernel_backends(KernelFlavor::Offset, Fentry).is_empty());
        assert!(kernel_backends(KernelFlavor::Offset, KprobeMulti).is_empty());
    }
}
