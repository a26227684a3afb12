//! Checks and steps every tool shares.

use std::path::PathBuf;

use anyhow::Context;
use clap::ValueEnum;
use rtools_bpf::{system, Backend};
use rtools_core::spec::{self, ProbeSpec};
use rtools_core::targets::{Resolver, Target};

use crate::error::usage;

/// `--backend`: how kernel functions are attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum BackendArg {
    /// The fastest this kernel supports: kprobe-multi, else fentry, else kprobe
    #[default]
    Auto,
    /// One kprobe.multi link for all functions (needs CONFIG_FPROBE)
    KprobeMulti,
    /// BPF trampolines (fentry/fexit; needs BTF)
    Fentry,
    /// One kprobe per function
    Kprobe,
}

impl From<BackendArg> for Backend {
    fn from(b: BackendArg) -> Backend {
        match b {
            BackendArg::Auto => Backend::Auto,
            BackendArg::KprobeMulti => Backend::KprobeMulti,
            BackendArg::Fentry => Backend::Fentry,
            BackendArg::Kprobe => Backend::Kprobe,
        }
    }
}

/// Fails with a usage error unless process `pid` exists.
pub fn check_pid(pid: Option<u32>) -> anyhow::Result<()> {
    match pid {
        Some(0) => usage("-p 0 is not a process: give the pid of a running process"),
        Some(pid) if !PathBuf::from(format!("/proc/{pid}")).exists() => usage(format!(
            "no process with pid {pid} (-p): give the pid of a running process"
        )),
        _ => Ok(()),
    }
}

/// Fails with a usage error unless `cpu` names an online CPU.
pub fn check_cpu(cpu: Option<u32>) -> anyhow::Result<()> {
    let count = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
    match cpu {
        Some(cpu) if cpu >= count => usage(format!(
            "no CPU {cpu} (-c): this machine has CPUs 0 to {}",
            count - 1
        )),
        _ => Ok(()),
    }
}

/// Fails with a usage error for a zero interval or duration.
pub fn check_positive(value: Option<u64>, flag: &str) -> anyhow::Result<()> {
    if value == Some(0) {
        return usage(format!("{flag} must be at least 1 second"));
    }
    Ok(())
}

/// Parses the spec, checks privileges and finds the targets: the part of
/// every tool between its arguments and its BPF program.
pub fn resolve(
    pattern: &str,
    pid: Option<u32>,
    use_regex: bool,
) -> anyhow::Result<(ProbeSpec, Vec<Target>)> {
    let spec = spec::parse(pattern)?;
    system::check_privileges()?;
    system::raise_fd_limit();
    let resolver = Resolver {
        pid,
        use_regex,
        tracefs: system::ensure_tracefs(),
    };
    let targets = resolver
        .resolve(&spec)
        .with_context(|| format!("resolving '{pattern}'"))?;
    Ok((spec, targets))
}

/// Prints the plan (`-D`, `-v`) and the one-line summary of skipped
/// targets, on stderr.
pub fn report_attach(
    tool: &str,
    plan: &[String],
    warnings: &[String],
    verbose: bool,
    show_plan: bool,
) {
    if show_plan || verbose {
        for line in plan {
            eprintln!("{tool}: plan: {line}");
        }
    }
    if verbose {
        for w in warnings {
            eprintln!("{tool}: warning: {w}");
        }
    } else if let Some(first) = warnings.first() {
        eprintln!(
            "{tool}: warning: {} target(s) could not be attached and were skipped ({first}); -v lists them",
            warnings.len()
        );
    }
}
