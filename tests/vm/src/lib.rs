//! Runs rtools in qemu guests with real Debian kernels (software
//! emulation: KVM does not work on these machines). Used by the
//! kernel-function tests and by `cargo xtask bench --vm`.

mod cpio;
pub mod guest;

pub use guest::{kernel, run, Binaries, Case, CaseResult, Kernel};
