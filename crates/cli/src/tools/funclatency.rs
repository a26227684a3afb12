//! funclatency: time every call of the matched kernel or user functions
//! and print log2 histograms (BCC's funclatency, correct under nesting and
//! recursion, plus JSON).

use std::collections::BTreeMap;
use std::mem::MaybeUninit;

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches, Parser, ValueHint};
use rtools_bpf::latency::{LatencyConfig, LatencyCounter, Lost};
use rtools_bpf::AttachOptions;
use rtools_core::hist::{bucket_range, Histogram};
use rtools_core::render::log2_hist;
use rtools_core::spec::ProbeSpec;
use serde_json::json;

use crate::error::usage;
use crate::numbers;
use crate::output;
use crate::output::say;
use crate::schedule::Schedule;
use crate::signals::StopSignal;
use crate::tools::common::{self, BackendArg};

const EXAMPLES: &str = "\
Examples:
    funclatency c:malloc                   time libc's malloc, histogram in nsecs
    funclatency -m -i 5 c:nanosleep        libc's nanosleep, msecs, every 5 s
    funclatency -p 1234 ./app:handle_*     functions of one process
    funclatency --json -d 10 c:malloc      one JSON object at the end (+)
    funclatency vfs_read                   a kernel function (kprobes or fentry)
    funclatency -u -F 'vfs_r*'             one histogram per function, usecs";

/// Time functions and print latency histograms.
///
/// funclatency puts an entry and a return probe on every kernel or user
/// function PATTERN matches (the forms funccount takes; not tracepoints or
/// USDT probes) and prints a log2 histogram of their durations, laid out
/// as BCC prints it, then the average, total and count.
///
/// Each thread keeps a stack of the calls it is in, so nested calls of the
/// matched functions and recursive calls are each timed on their own (-l
/// is accepted for BCC compatibility; nesting is always tracked, 32 calls
/// deep). Calls that cannot be timed (a return whose entry came before
/// attach, an entry whose return never came) are counted and reported on
/// stderr.
#[derive(Debug, Parser)]
#[command(
    name = "funclatency",
    version,
    allow_negative_numbers = true,
    infer_long_args = true
)]
pub struct FunclatencyArgs {
    /// Trace this PID only
    #[arg(short = 'p', long = "pid", value_name = "PID", value_parser = numbers::unsigned::<u32>, value_hint = ValueHint::Other)]
    pub pid: Option<u32>,
    /// Trace only tasks in this cgroup v2 directory and below: a path in
    /// the hierarchy (/system.slice/x.service) or under its mount (+)
    #[arg(long = "cgroup", value_name = "PATH", value_hint = ValueHint::DirPath)]
    pub cgroup: Option<String>,
    /// Summary interval, seconds
    #[arg(short = 'i', long = "interval", value_name = "SECONDS", value_parser = numbers::unsigned::<u64>, value_hint = ValueHint::Other)]
    pub interval: Option<u64>,
    /// Total duration of trace, seconds
    #[arg(short = 'd', long = "duration", value_name = "SECONDS", value_parser = numbers::unsigned::<u64>, value_hint = ValueHint::Other)]
    pub duration: Option<u64>,
    /// Include timestamp on output
    #[arg(short = 'T', long = "timestamp")]
    pub timestamp: bool,
    /// Microsecond histogram
    #[arg(short = 'u', long = "microseconds", conflicts_with = "milliseconds")]
    pub microseconds: bool,
    /// Millisecond histogram
    #[arg(short = 'm', long = "milliseconds")]
    pub milliseconds: bool,
    /// Show a separate histogram per function
    #[arg(short = 'F', long = "function")]
    pub function: bool,
    /// User functions: no section per process (BCC prints `Function =
    /// name [PID]` for each process unless -p is given) (+)
    #[arg(long = "merge")]
    pub merge: bool,
    /// Use regular expressions. Default is "*" wildcards only.
    #[arg(short = 'r', long = "regexp")]
    pub regexp: bool,
    /// Nesting levels to track (BCC); rtools always tracks 32
    #[arg(short = 'l', long = "level", value_name = "LEVEL", value_parser = numbers::unsigned::<u32>, value_hint = ValueHint::Other)]
    pub level: Option<u32>,
    /// Print the attach plan and libbpf's messages
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,
    /// One JSON object per interval on stdout (+)
    #[arg(long = "json")]
    pub json: bool,
    /// Refuse a pattern that matches more than N (default 1000 functions) (+)
    #[arg(long = "max-probes", value_name = "N", value_parser = numbers::unsigned::<usize>, value_hint = ValueHint::Other)]
    pub max_probes: Option<usize>,
    /// How to attach kernel functions (+)
    #[arg(long = "backend", value_enum, default_value_t = BackendArg::Auto)]
    pub backend: BackendArg,
    /// Search expression for functions: func, lib:func, kprobe:func,
    /// uprobe:path:func, ...
    #[arg(value_name = "PATTERN")]
    pub pattern: String,
}

pub fn command() -> clap::Command {
    FunclatencyArgs::command().after_help(common::after_help(EXAMPLES))
}

fn unit(args: &FunclatencyArgs) -> (&'static str, u64) {
    if args.milliseconds {
        ("msecs", 1_000_000)
    } else if args.microseconds {
        ("usecs", 1_000)
    } else {
        ("nsecs", 1)
    }
}

pub fn run(matches: &clap::ArgMatches) -> anyhow::Result<()> {
    let args = FunclatencyArgs::from_arg_matches(matches)?;
    rtools_bpf::system::set_libbpf_logging(args.verbose);
    common::check_positive(args.interval, "-i/--interval")?;
    common::check_positive(args.duration, "-d/--duration")?;
    common::check_pid(args.pid)?;
    let cgroup = common::check_cgroup(args.cgroup.as_deref())?;
    if args.level.is_some_and(|l| !(1..=32).contains(&l)) {
        return usage("-l/--level must be 1 to 32 (rtools tracks 32 nested calls)");
    }
    check_spec(&args.pattern)?;

    let (spec, targets) = common::resolve(
        &args.pattern,
        &common::Matching {
            tool: "funclatency",
            pid: args.pid,
            use_regex: args.regexp,
            returns: true,
            max_probes: args.max_probes,
            verbose: args.verbose,
        },
    )?;
    let names: Vec<String> = targets.iter().map(|t| t.name.clone()).collect();
    let stop = StopSignal::install_for(args.pid).context("installing signal handlers")?;
    let (unit_name, unit_ns) = unit(&args);
    // BCC keys user functions' histograms by process too, unless -p
    // narrows them to one (and -F asks for sections anyway).
    let user = matches!(spec, ProbeSpec::User { .. });
    let per_pid = user && !args.merge && (args.pid.is_none() || args.function);
    let config = LatencyConfig {
        pid: args.pid,
        cgroup,
        per_pid,
        unit_ns,
        attach: AttachOptions {
            pid: args.pid,
            backend: args.backend.into(),
        },
    };
    let mut storage = MaybeUninit::uninit();
    let mut counter = LatencyCounter::start(&mut storage, &targets, &config)
        .with_context(|| format!("attaching to '{}'", args.pattern))?;
    let attached = counter.attached();
    common::report_attach(
        "funclatency",
        &attached.plan,
        &attached.warnings,
        args.verbose,
        false,
    );
    if args.verbose {
        counter
            .return_plan()
            .iter()
            .for_each(|l| say!("funclatency: plan: {l}"));
    }
    say!(
        "Tracing {} functions for \"{}\"... Hit Ctrl-C to end.",
        attached.attached_slots,
        args.pattern
    );

    let mut schedule = Schedule::new(args.interval, args.duration);
    let mut previous: Sections = Sections::new();
    loop {
        let stopped = stop.wait_until(Some(schedule.wake()));
        if !stopped && !schedule.due() {
            // Between summaries: make room for new processes.
            counter.retire_exited()?;
            schedule.swept();
            continue;
        }
        let current = read_sections(&counter, per_pid)?;
        let interval: Sections = current
            .iter()
            .map(|(section, now)| {
                let before = previous.get(section).cloned().unwrap_or_default();
                (*section, now.since(&before))
            })
            .collect();
        let sectioned = per_pid || args.function;
        print_interval(
            &args,
            unit_name,
            &names,
            &interval,
            sectioned,
            &counter.lost()?,
        );
        previous = current;
        if stopped || schedule.over() {
            break;
        }
        schedule.advance();
    }
    report_lost(&counter.lost()?);
    say!("Detaching...");
    let took = counter.detach();
    if args.verbose {
        say!("funclatency: detached in {took:?}");
    }
    Ok(())
}

/// funclatency times functions: tracepoints, USDT probes and return probes
/// are usage errors.
fn check_spec(pattern: &str) -> anyhow::Result<()> {
    let spec = rtools_core::spec::parse(pattern)?;
    match spec {
        ProbeSpec::Kernel { ret: false, .. } | ProbeSpec::User { ret: false, .. } => Ok(()),
        ProbeSpec::Kernel { .. } | ProbeSpec::User { .. } => {
            usage(format!("'{pattern}' is a return probe: give the function itself, funclatency probes both ends"))
        }
        _ => usage(format!(
            "'{pattern}' is not a function: funclatency times kernel or user functions (use funccount or stackcount for events)"
        )),
    }
}

/// A histogram's section: its function (slot) and, with per-process
/// histograms, the process.
type Section = (u32, Option<u32>);
type Sections = BTreeMap<Section, Histogram>;

fn read_sections(counter: &LatencyCounter<'_>, per_pid: bool) -> anyhow::Result<Sections> {
    Ok(if per_pid {
        counter
            .pid_histograms()?
            .into_iter()
            .map(|((slot, pid), h)| ((slot, Some(pid)), h))
            .collect()
    } else {
        counter
            .histograms()?
            .into_iter()
            .enumerate()
            .map(|(slot, h)| ((slot as u32, None), h))
            .collect()
    })
}

/// The sections that have calls, ordered by function name, then pid.
fn shown<'a>(
    names: &'a [String],
    hists: &'a Sections,
) -> Vec<(&'a str, Option<u32>, &'a Histogram)> {
    let mut shown: Vec<_> = hists
        .iter()
        .filter(|(_, h)| h.count() > 0)
        .map(|(&(slot, pid), h)| (names[slot as usize].as_str(), pid, h))
        .collect();
    shown.sort_by_key(|&(name, pid, _)| (name, pid));
    shown
}

fn print_interval(
    args: &FunclatencyArgs,
    unit: &str,
    names: &[String],
    hists: &Sections,
    sectioned: bool,
    lost: &Lost,
) {
    let (time, timestamp) = output::now();
    let mut all = Histogram::default();
    hists.values().for_each(|h| all.add(h));
    if args.json {
        let functions: Vec<_> = shown(names, hists)
            .into_iter()
            .map(|(name, pid, h)| {
                let buckets: Vec<_> = (1..h.buckets.len())
                    .filter(|&i| h.buckets[i] > 0)
                    .map(|i| {
                        let (low, high) = bucket_range(i);
                        json!({"low": low, "high": high, "count": h.buckets[i]})
                    })
                    .collect();
                let mut f = json!({"name": name, "count": h.count(), "total_ns": h.total_ns, "buckets": buckets});
                if let Some(pid) = pid {
                    f["pid"] = json!(pid);
                }
                f
            })
            .collect();
        let line = json!({
            "time": time,
            "timestamp": timestamp,
            "pattern": args.pattern,
            "unit": unit,
            "count": all.count(),
            "total_ns": all.total_ns,
            "functions": functions,
            "missed_returns": lost.missed_returns,
            // Calls not timed, by cause (the text output's warning).
            "lost": {
                "no_entry": lost.no_entry,
                "missed_returns": lost.missed_returns,
                "too_deep": lost.too_deep,
                "table_full": lost.table_full,
            },
        });
        output::stdout(&format!("{line}\n"));
        return;
    }
    let mut out = String::from("\n");
    if args.timestamp {
        out.push_str(&format!("{time:<8}\n"));
    }
    if sectioned {
        for (name, pid, h) in shown(names, hists) {
            match pid {
                Some(pid) => out.push_str(&format!("\nFunction = {name} [{pid}]\n")),
                None => out.push_str(&format!("\nFunction = {name}\n")),
            }
            out.push_str(&log2_hist::render(h, unit));
        }
    } else {
        out.push_str(&log2_hist::render(&all, unit));
    }
    if let Some(summary) = log2_hist::summary(&all, unit) {
        out.push_str(&format!("\n{summary}\n\n"));
    }
    output::stdout(&out);
}

fn report_lost(lost: &Lost) {
    let total = lost.no_entry + lost.missed_returns + lost.too_deep + lost.table_full;
    if total > 0 {
        say!(
            "funclatency: {total} calls not timed: {} returns whose entry came before tracing, \
             {} missed returns, {} nested deeper than 32, {} with a table full",
            lost.no_entry,
            lost.missed_returns,
            lost.too_deep,
            lost.table_full
        );
    }
}
