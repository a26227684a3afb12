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
    #[error("interrupted while attaching; nothing was traced")]
    Interrupted,
    #[error("reading the BPF map {map}: {detail}")]
    Map { map: &'static str, detail: String },
}
