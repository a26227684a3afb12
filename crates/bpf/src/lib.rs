//! rtools-bpf: loads rtools' BPF programs, attaches them with the best
//! strategy this kernel supports, and reads what they collected.

pub mod attach;
pub mod cgroup_filter;
pub mod count;
pub mod error;
pub mod exited;
pub mod features;
pub mod keeper;
pub mod kernel_probes;
pub mod latency;
pub mod links;
mod map_types;
mod percpu;
pub mod proc_maps;
pub mod stack;
pub mod stack_samples;
pub mod symbol_files;
pub mod symbolize;
pub mod syscalls;
pub mod system;
pub mod task_filters;
pub mod trace;
mod tracing_progs;

// libbpf-cargo's generated skeletons: their unsafe blocks are libbpf-rs'
// own, not commented by the generator.
#[allow(clippy::undocumented_unsafe_blocks)]
mod skel {
    pub mod count {
        include!(concat!(env!("OUT_DIR"), "/count.skel.rs"));
    }
    pub mod stack {
        include!(concat!(env!("OUT_DIR"), "/stack.skel.rs"));
    }
    pub mod latency {
        include!(concat!(env!("OUT_DIR"), "/latency.skel.rs"));
    }
}

pub use attach::{AttachOptions, Backend, Skipped, Step};

/// For unit tests that need root or a kernel feature: says why the test
/// skips, or fails where skips are refused (RTOOLS_TEST_NO_SKIP, as in CI).
#[cfg(test)]
pub(crate) fn skip_test(why: &str) {
    assert!(
        std::env::var_os("RTOOLS_TEST_NO_SKIP").is_none(),
        "would skip ({why}) and RTOOLS_TEST_NO_SKIP is set"
    );
    eprintln!("SKIPPED: {why}");
}
pub use error::BpfError;
/// libbpf's error type, the source of several [`BpfError`]s.
pub use libbpf_rs::Error as LibbpfError;
/// The storage a tool's BPF object lives in while it runs.
pub use libbpf_rs::OpenObject;
