//! trace's compiler, all of it pure Rust and testable without root: the
//! probe arguments are split ([`probe_text`]), their expressions parsed
//! ([`expr`]) and checked against what the probe offers ([`check`]), the
//! format parsed ([`format`]), and BPF instructions emitted ([`codegen`],
//! [`insn`]) that fill the record [`event`] defines. rtools-bpf loads them;
//! no C compiler or LLVM runs.

pub mod check;
pub mod codegen;
pub mod event;
pub mod expr;
pub mod fields;
pub mod format;
pub mod insn;
#[cfg(test)]
mod interp;
pub mod listing;
pub mod parsed;
pub mod probe_text;
pub mod signature;
pub mod usdt_args;

#[cfg(test)]
mod programs_test;

/// What is wrong with one probe of trace's command line: its text, and
/// the part at fault with what would be right. Always the user's input
/// (exit 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("in probe '{probe}': {message}")]
pub struct ProbeError {
    pub probe: String,
    pub message: String,
}

impl ProbeError {
    pub fn new(probe: &str, message: impl Into<String>) -> ProbeError {
        ProbeError {
            probe: probe.to_string(),
            message: message.into(),
        }
    }
}
