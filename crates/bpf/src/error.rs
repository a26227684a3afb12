//! Errors of loading, attaching and reading BPF programs. Each says what
//! failed and, where there is one, what to do about it.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum BpfError {
    #[error("rtools needs root, or the CAP_BPF and CAP_PERFMON capabilities: run it with sudo")]
    NotPrivileged,
    #[error("loading the BPF programs failed: {0} (run with -v for the verifier's log)")]
    Load(String),
    #[error("cannot attach to any {what}: {reasons}")]
    NothingAttached { what: &'static str, reasons: String },
    #[error(
        "cannot attach to any kernel function: {reasons}. Kernel functions need kprobes \
         (CONFIG_KPROBES=y) or fentry (BTF, and BPF trampolines allowed: EPERM as root means \
         lockdown, seccomp or a security module forbids them). Here, trace tracepoints \
         instead (t:CATEGORY:EVENT, listed in /sys/kernel/tracing/available_events) or user \
         functions (LIB:FUNC)"
    )]
    NoKernelBackend { reasons: String },
    #[error("interrupted while attaching; nothing was traced")]
    Interrupted,
    #[error("reading the BPF map {map}: {detail}")]
    Map { map: &'static str, detail: String },
}
