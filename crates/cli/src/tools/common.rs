//! Checks and steps every tool shares.

use std::path::{Path, PathBuf};

use anyhow::Context;
use rtools_bpf::{system, Skipped, Step};
use rtools_core::spec::{self, ProbeSpec};
use rtools_core::targets::returns::{self, Returns};
use rtools_core::targets::{Attach, Resolver, Target};

use crate::error::usage;
use crate::output::say;

/// What every tool's --help and man page says after its examples.
pub const NOTES: &str = "\
Notes:
    (+) marks options that are rtools additions; the others are BCC's, with
    the same letters.

    Kept apart from BCC on purpose: the Tracing... banner, warnings and
    Detaching... go to stderr, so that stdout pipes cleanly; * and ? are
    globs (BCC reads . as any character, by accident); where a tool takes
    -i, -i 0 is refused.

    Where BCC and bpftrace probe forms clash, BCC wins: u:LIB:PROBE is a
    USDT probe.

    Tracepoints, uprobes and USDT probes work on every kernel; kernel
    functions need kprobes (CONFIG_KPROBES) or fentry (BTF, and ftrace not
    locked down).";

/// A tool's text after the options: its examples, then [`NOTES`].
pub fn after_help(examples: &str) -> String {
    format!("{examples}\n\n{NOTES}")
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

/// The directory `--cgroup` names, or a usage error saying where it looked.
pub fn check_cgroup(arg: Option<&str>) -> anyhow::Result<Option<PathBuf>> {
    match arg {
        None => Ok(None),
        Some(arg) => rtools_core::cgroup::resolve(arg).map(Some).or_else(usage),
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

/// The longest interval or duration: ten years.
pub const MAX_SECONDS: u64 = 10 * 365 * 24 * 3600;

/// Fails with a usage error for a zero or absurdly long interval or
/// duration.
pub fn check_positive(value: Option<u64>, flag: &str) -> anyhow::Result<()> {
    match value {
        Some(0) => usage(format!("{flag} must be at least 1 second")),
        Some(s) if s > MAX_SECONDS => usage(format!(
            "{flag} of {s} seconds is more than ten years ({MAX_SECONDS}): give fewer seconds"
        )),
        _ => Ok(()),
    }
}

/// Without `--max-probes`, a tool attaches at most this many entry probes
/// (bpftrace has the same guard, max_probes)...
pub const MAX_PROBES: usize = 10_000;
/// ...and at most this many return probes: each costs a trap and a
/// trampoline on every call, and a wide one slows the whole machine.
pub const MAX_RETURN_PROBES: usize = 1_000;

/// How a tool matches its pattern.
#[derive(Debug, Clone, Copy, Default)]
pub struct Matching<'a> {
    pub tool: &'a str,
    pub pid: Option<u32>,
    pub use_regex: bool,
    /// The tool puts return probes on the matches as well.
    pub returns: bool,
    /// `--max-probes`, where given.
    pub max_probes: Option<usize>,
    pub verbose: bool,
}

/// Parses the spec, checks privileges and finds the targets: the part of
/// every tool between its arguments and its BPF program. For tools that
/// place return probes, functions that return twice or never return are
/// left out with a warning (return probes there crash the traced process).
pub fn resolve(pattern: &str, how: &Matching<'_>) -> anyhow::Result<(ProbeSpec, Vec<Target>)> {
    let spec = spec::parse(pattern)?;
    if how.max_probes == Some(0) {
        return usage("--max-probes must be at least 1");
    }
    // r:LIB:FUNC places return probes too.
    let returns = how.returns || spec.is_return();
    let mut resolver = Resolver {
        pid: how.pid,
        use_regex: how.use_regex,
        tracefs: None,
        return_probes: returns,
        system_root: None,
    };
    // Mistakes in what was typed come before what the machine says.
    resolver.check_patterns(&spec)?;
    system::check_privileges()?;
    system::raise_fd_limit();
    // Before any thread starts (blazesym's, the detach threads').
    rtools_bpf::keeper::start();
    resolver.tracefs = system::ensure_tracefs();
    let mut targets = resolver
        .resolve(&spec)
        .with_context(|| format!("resolving '{pattern}'"))?;
    let mut refused = Vec::new();
    if returns {
        (targets, refused) = returns::split_returnable(targets);
    }
    let limit = how.max_probes.unwrap_or(if returns {
        MAX_RETURN_PROBES
    } else {
        MAX_PROBES
    });
    if targets.len() > limit {
        let what = if returns {
            "functions (an entry and a return probe each)"
        } else {
            "probes"
        };
        return usage(format!(
            "'{pattern}' matches {} {what}, more than the limit of {limit}: narrow the pattern, \
             or raise the limit with --max-probes {}",
            targets.len(),
            targets.len()
        ));
    }
    report_refused(how, pattern, &refused, targets.is_empty())?;
    report_ifuncs(how.tool, &targets);
    Ok((spec, targets))
}

/// Says which user functions are IFUNCs (glibc's strlen, memcpy, ...):
/// their probe sits on the resolver, which runs once per process, so they
/// count next to nothing; BCC and bpftrace count 0 without a word.
fn report_ifuncs(tool: &str, targets: &[Target]) {
    let mut by_binary: std::collections::BTreeMap<&Path, Vec<&str>> = Default::default();
    for t in targets {
        if let Attach::Uprobe { binary, func, .. } = &t.attach {
            by_binary.entry(binary).or_default().push(func);
        }
    }
    for (binary, funcs) in by_binary {
        let ifuncs = rtools_core::targets::elf_funcs::ifuncs(binary);
        let mut named: Vec<&str> = funcs.into_iter().filter(|f| ifuncs.contains(*f)).collect();
        if named.is_empty() {
            continue;
        }
        named.sort_unstable();
        let shown = named.iter().take(3).copied().collect::<Vec<_>>().join(", ");
        let more = match named.len() {
            n if n > 3 => format!(" and {} more", n - 3),
            _ => String::new(),
        };
        let are = if named.len() == 1 {
            "is an IFUNC"
        } else {
            "are IFUNCs"
        };
        say!(
            "{tool}: warning: {shown}{more} in {} {are}: the probe sits on the resolver, which \
             the loader runs once per process, not on the implementation it picks; probe the \
             implementations instead (named __{}_avx2 and the like)",
            binary.display(),
            named[0].trim_start_matches('_')
        );
    }
}

/// Says which functions got no return probe, and fails if that was all.
fn report_refused(
    how: &Matching<'_>,
    pattern: &str,
    refused: &[(String, Returns)],
    nothing_left: bool,
) -> anyhow::Result<()> {
    if refused.is_empty() {
        return Ok(());
    }
    if nothing_left {
        let (name, why) = &refused[0];
        return usage(format!(
            "'{pattern}' matches only functions that cannot carry a return probe ({name} {why}); \
             a return probe there would crash the traced process"
        ));
    }
    let tool = how.tool;
    say!(
        "{tool}: warning: skipped {} function(s) that return twice or never return \
         (a return probe there crashes the traced process){}",
        refused.len(),
        if how.verbose { ":" } else { "; -v names them" }
    );
    if how.verbose {
        for (name, why) in refused {
            say!("{tool}: skipped {name}: {why}");
        }
    }
    Ok(())
}

/// Prints the plan (`-D`, `-v`) and the one-line summary of skipped
/// targets, on stderr.
pub fn report_attach(
    tool: &str,
    plan: &[Step],
    warnings: &[Skipped],
    verbose: bool,
    show_plan: bool,
) {
    if show_plan || verbose {
        for line in plan {
            say!("{tool}: plan: {line}");
        }
    }
    if verbose {
        for w in warnings {
            say!("{tool}: warning: {w}");
        }
    } else if let Some(first) = warnings.first() {
        say!(
            "{tool}: warning: {} target(s) could not be attached and were skipped ({first}); -v lists them",
            warnings.len()
        );
    }
}
