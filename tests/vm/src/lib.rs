//! Runs rtools in qemu guests with real Debian kernels (software
//! emulation: KVM does not work on these machines). Used by the
//! kernel-function tests, the root suite's guest runs and by
//! `cargo xtask bench --vm`.

mod cases;
mod cpio;
pub mod guest;

pub use cases::{run, Binaries, Case, CaseResult};
pub use guest::{boot, kernel, DebugInfo, Image, Kernel};
