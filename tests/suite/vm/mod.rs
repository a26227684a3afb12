//! Kernel-function tests in qemu guests running real Debian kernels.

mod cpio;
pub mod guest;
