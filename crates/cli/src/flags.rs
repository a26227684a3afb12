//! The flags every tool shares, declared once and flattened into each
//! tool's own clap struct (help, man pages and completions all come from
//! here). A tool changes a shared flag's help or letter with
//! `Command::mut_arg` where BCC words it differently.

use std::net::SocketAddr;

use clap::{Args, ValueEnum, ValueHint};
use rtools_bpf::Backend;

use crate::{exporter, numbers};

/// What every tool takes: which processes, how much to say, JSON, and
/// how to attach.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Trace this PID only
    #[arg(short = 'p', long = "pid", value_name = "PID", value_parser = numbers::unsigned::<u32>, value_hint = ValueHint::Other)]
    pub pid: Option<u32>,
    /// Trace only tasks in this cgroup v2 directory and below: a path in
    /// the hierarchy (/system.slice/x.service) or under its mount (+)
    #[arg(long = "cgroup", value_name = "PATH", value_hint = ValueHint::DirPath)]
    pub cgroup: Option<String>,
    /// Print the attach plan, skipped targets and libbpf's messages (+)
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,
    /// One JSON object per interval on stdout (+)
    #[arg(long = "json")]
    pub json: bool,
    /// Refuse a pattern that matches more than N (default 10000 probes) (+)
    #[arg(long = "max-probes", value_name = "N", value_parser = numbers::unsigned::<usize>, value_hint = ValueHint::Other)]
    pub max_probes: Option<usize>,
    /// How to attach kernel functions (+)
    #[arg(long = "backend", value_enum, default_value_t = BackendArg::Auto)]
    pub backend: BackendArg,
}

/// The tools that print summaries: when, for how long, and how they
/// match. The duration's letter is the tool's (`-d`, `-D` in stackcount,
/// as BCC): see [`duration_letter`].
#[derive(Debug, Clone, Args)]
pub struct IntervalArgs {
    /// Summary interval, seconds
    #[arg(short = 'i', long = "interval", value_name = "SECONDS", value_parser = numbers::unsigned::<u64>, value_hint = ValueHint::Other)]
    pub interval: Option<u64>,
    /// Total duration of trace, seconds
    #[arg(long = "duration", value_name = "SECONDS", value_parser = numbers::unsigned::<u64>, value_hint = ValueHint::Other)]
    pub duration: Option<u64>,
    /// Include timestamp on output
    #[arg(short = 'T', long = "timestamp")]
    pub timestamp: bool,
    /// Use regular expressions. Default is "*" wildcards only.
    #[arg(short = 'r', long = "regexp")]
    pub regexp: bool,
}

/// The tools whose counts Prometheus can scrape (crate::exporter).
#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// Serve Prometheus metrics at http://ADDR/metrics while tracing (+)
    ///
    /// ADDR is IP:PORT (127.0.0.1:9435, [::1]:9435, 0.0.0.0:9435 for every
    /// interface) or :PORT for loopback. Without -i nothing prints until
    /// the end (SIGINT, SIGTERM or -d). Counters never reset. Where series
    /// are kept per process or thread (funccount's -P, --by pid or tid),
    /// those of processes that exit are dropped within a second, their
    /// map entries freed, so at most 65536 groups are held at once however
    /// long it runs.
    #[arg(long = "listen", value_name = "ADDR", value_parser = exporter::address::parse, value_hint = ValueHint::Other)]
    pub listen: Option<SocketAddr>,
}

/// Gives `--duration` the tool's short letter.
pub fn duration_letter(cmd: clap::Command, letter: char) -> clap::Command {
    cmd.mut_arg("duration", |a| a.short(letter))
}

/// Replaces a shared flag's help with the tool's wording.
pub fn reword(cmd: clap::Command, id: &'static str, help: &'static str) -> clap::Command {
    cmd.mut_arg(id, |a| a.help(help))
}

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
