//! What is particular to the machine architecture, on the Rust side, in
//! one place: x86-64 only today. A port adds its values here, in
//! crates/bpf/src/bpf/arch.bpf.h (the BPF side) and in
//! crates/bpf/build.rs's `Arch` (headers, syscall numbers).

#[cfg(not(target_arch = "x86_64"))]
compile_error!(
    "rtools supports x86-64 only: add this architecture's values to crates/core/src/arch.rs"
);

/// The architecture as messages name it.
pub const NAME: &str = "x86-64";

/// Debian's multiarch triplet: the library directories' names.
pub const MULTIARCH: &str = "x86_64-linux-gnu";

/// ELF `e_machine` of the binaries rtools traces (EM_X86_64).
pub const ELF_MACHINE: u16 = 62;

/// The ld.so.cache flags of this architecture's libraries
/// (FLAG_ELF_LIBC6 | FLAG_X8664_LIB64), under [`LD_CACHE_ARCH_MASK`].
pub const LD_CACHE_ARCH: i32 = 0x0300;
pub const LD_CACHE_ARCH_MASK: i32 = 0xff00;
