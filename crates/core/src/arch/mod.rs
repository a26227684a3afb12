//! What is particular to the machine architecture, on the Rust side: a
//! file per architecture (registers, calling convention, address space,
//! syscall table, function prologues, framehop's unwinder), the one rtools
//! is built for re-exported here. A port adds its file here, its block in
//! crates/bpf/src/bpf/arch.bpf.h (the BPF side), its `Arch` in
//! crates/bpf/build.rs (headers, syscall numbers), and its library path in
//! .cargo/config.toml.

#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
pub use x86_64::*;

#[cfg(not(target_arch = "x86_64"))]
compile_error!(
    "rtools supports x86-64 only: add this architecture's file to crates/core/src/arch/"
);
