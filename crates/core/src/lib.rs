//! rtools-core: everything that needs neither libbpf nor root. Probe specs
//! and their matching against this machine's functions, tracepoints and
//! USDT probes; counting arithmetic; output formats.

pub mod arch;
pub mod cgroup;
pub mod count;
pub mod deltas;
pub mod hist;
pub mod pattern;
pub mod perf_events;
pub mod render;
pub mod spec;
pub mod stacks;
pub mod targets;
pub mod trace;
pub mod unwind;
