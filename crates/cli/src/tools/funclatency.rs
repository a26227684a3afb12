//! funclatency: time every call of the matched kernel or user functions
//! and print log2 histograms (BCC's funclatency, correct under nesting and
//! recursion, plus JSON).

use std::mem::MaybeUninit;

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches, Parser};
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
    funclatency vfs_read                   time vfs_read, histogram in nsecs
    funclatency -u -F 'vfs_r*'             one histogram per function, usecs
    funclatency -m -i 5 c:nanosleep        libc's nanosleep, msecs, every 5 s
    funclatency -p 1234 ./app:handle_*     functions of one process
    funclatency --json -d 10 c:malloc      one JSON object at the end (+)";

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
#[command(name = "funclatency", version, after_help = EXAMPLES, allow_negative_numbers = true)]
pub struct FunclatencyArgs {
    /// Trace this PID only
    #[arg(short = 'p', long = "pid", value_name = "PID", value_parser = numbers::unsigned::<u32>)]
    pub pid: Option<u32>,
    /// Summary interval, seconds
    #[arg(short = 'i', long = "interval", value_name = "SECONDS", value_parser = numbers::unsigned::<u64>)]
    pub interval: Option<u64>,
    /// Total duration of trace, seconds
    #[arg(short = 'd', long = "duration", value_name = "SECONDS", value_parser = numbers::unsigned::<u64>)]
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
    /// Use regular expressions. Default is "*" wildcards only.
    #[arg(short = 'r', long = "regexp")]
    pub regexp: bool,
    /// Nesting levels to track (BCC); rtools always tracks 32
    #[arg(short = 'l', long = "level", value_name = "LEVEL", value_parser = numbers::unsigned::<u32>)]
    pub level: Option<u32>,
    /// Print the attach plan and libbpf's messages
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,
    /// One JSON object per interval on stdout (+)
    #[arg(long = "json")]
    pub json: bool,
    /// Refuse a pattern that matches more than N (default 1000 functions) (+)
    #[arg(long = "max-probes", value_name = "N", value_parser = numbers::unsigned::<usize>)]
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
    FunclatencyArgs::command()
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
    if args.level.is_some_and(|l| !(1..=32).contains(&l)) {
        return usage("-l/--level must be 1 to 32 (rtools tracks 32 nested calls)");
    }
    check_spec(&args.pattern)?;

    let (_spec, targets) = common::resolve(
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
    let config = LatencyConfig {
        pid: args.pid,
        unit_ns,
        attach: AttachOptions {
            pid: args.pid,
            backend: args.backend.into(),
        },
    };
    let mut storage = MaybeUninit::uninit();
    let counter = LatencyCounter::start(&mut storage, &targets, &config)
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
    let mut previous: Vec<Histogram> = vec![Histogram::default(); names.len()];
    loop {
        let deadline = schedule.deadline();
        let stopped = stop.wait_until(deadline);
        let current = counter.histograms()?;
        let interval_hists: Vec<Histogram> = current
            .iter()
            .zip(&previous)
            .map(|(now, before)| now.since(before))
            .collect();
        print_interval(&args, unit_name, &names, &interval_hists, &counter.lost()?);
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

fn print_interval(
    args: &FunclatencyArgs,
    unit: &str,
    names: &[String],
    hists: &[Histogram],
    lost: &Lost,
) {
    let (time, timestamp) = output::now();
    let mut all = Histogram::default();
    hists.iter().for_each(|h| all.add(h));
    if args.json {
        let functions: Vec<_> = names
            .iter()
            .zip(hists)
            .filter(|(_, h)| h.count() > 0)
            .map(|(name, h)| {
                let buckets: Vec<_> = (1..h.buckets.len())
                    .filter(|&i| h.buckets[i] > 0)
                    .map(|i| {
                        let (low, high) = bucket_range(i);
                        json!({"low": low, "high": high, "count": h.buckets[i]})
                    })
                    .collect();
                json!({"name": name, "count": h.count(), "total_ns": h.total_ns, "buckets": buckets})
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
        });
        output::stdout(&format!("{line}\n"));
        return;
    }
    let mut out = String::from("\n");
    if args.timestamp {
        out.push_str(&format!("{time:<8}\n"));
    }
    if args.function {
        for (name, h) in names.iter().zip(hists).filter(|(_, h)| h.count() > 0) {
            out.push_str(&format!("\nFunction = {name}\n"));
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
             {} missed returns, {} nested deeper than 32, {} with the thread table full",
            lost.no_entry,
            lost.missed_returns,
            lost.too_deep,
            lost.table_full
        );
    }
}
