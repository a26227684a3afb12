//! funccount: count calls of kernel and user functions, tracepoints and
//! USDT probes (BCC's funccount, plus per-process rows, JSON and --top).

use std::mem::MaybeUninit;
use std::time::Instant;

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches, Parser, ValueEnum, ValueHint};
use rtools_bpf::count::{CountConfig, Counter};
use rtools_bpf::AttachOptions;
use rtools_core::cgroup::CgroupNames;
use rtools_core::count::{self, GroupBy, Tally};
use rtools_core::render::{count_json, count_table};

use crate::numbers;
use crate::output;
use crate::output::say;
use crate::schedule::Schedule;
use crate::signals::StopSignal;
use crate::tools::common::{self, BackendArg};

const EXAMPLES: &str = "\
Examples:
    funccount 't:syscalls:sys_enter_*'     syscall tracepoints, by syscall
    funccount -P 't:syscalls:sys_enter_*'  the same per process name and pid (+)
    funccount -T -i 5 't:sched:*'          scheduler tracepoints, every 5 s, timed
    funccount -d 10 c:malloc               malloc() in libc, for 10 seconds
    funccount -p 1234 'c:str*'             libc str* functions in process 1234
    funccount --top 5 'c:*'                the five busiest libc functions (+)
    funccount u:/usr/bin/python3:gc__start a USDT probe
    funccount ./app:handle_*               functions in a binary of your own
    funccount --json -i 1 c:malloc         one JSON object per second (+)
    funccount 'vfs_*'                      kernel functions (kprobes or fentry)
    funccount -r '^vfs_(read|write)$'      the same kind of match as a regex";

/// `--by`: the key rows are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ByArg {
    /// Process name
    Comm,
    /// Process id (with its name)
    Pid,
    /// Thread id (with its name)
    Tid,
    /// CPU number
    Cpu,
    /// cgroup v2, printed as its path (+)
    Cgroup,
}

/// Count function calls, tracepoints and USDT probes.
///
/// funccount attaches to every function, tracepoint or USDT probe that
/// PATTERN matches and counts how often each fires, exactly (per-CPU
/// counters, no sampling). It prints one table when tracing ends (Ctrl-C,
/// SIGTERM or -d), or one per -i interval, ascending by count, as BCC's
/// funccount does. Banners and warnings go to stderr, tables and JSON to
/// stdout.
///
/// PATTERN takes BCC's forms: 'func' or 'p::func' (kernel function),
/// 'lib:func' or 'p:lib:func' (user function; 'c' is libc, a path or a
/// program in $PATH also works), 't:category:event' (tracepoint),
/// 'u:lib:probe' or 'u:lib:provider:probe' (USDT probe). It also takes
/// bpftrace's: kprobe:, kretprobe:, fentry:/kfunc:, fexit:/kretfunc:,
/// tracepoint:, rawtracepoint:, uprobe:PATH:func, uretprobe:PATH:func,
/// usdt:PATH[:provider]:probe. Where the two conventions clash, BCC wins:
/// 'u:' is a USDT probe, not bpftrace's uprobe shorthand. Names match as
/// '*'/'?' globs, or with -r as regular expressions anchored at the start.
///
/// Kernel functions attach through kprobe-multi, fentry or kprobe, the
/// fastest the kernel supports (--backend forces one). Whole-syscall
/// wildcards such as 't:syscalls:sys_enter_*' are served by one
/// raw_syscalls program, so they attach and detach in milliseconds.
#[derive(Debug, Parser)]
#[command(
    name = "funccount",
    version,
    allow_negative_numbers = true,
    infer_long_args = true
)]
pub struct FunccountArgs {
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
    /// Use regular expressions. Default is "*" wildcards only.
    #[arg(short = 'r', long = "regexp")]
    pub regexp: bool,
    /// Print the resolved attach plan before tracing (BCC: the BPF program)
    #[arg(short = 'D', long = "debug")]
    pub debug: bool,
    /// Trace this CPU only
    #[arg(short = 'c', long = "cpu", value_name = "CPU", value_parser = numbers::unsigned::<u32>, value_hint = ValueHint::Other)]
    pub cpu: Option<u32>,
    /// One row per process name and pid (+)
    #[arg(short = 'P', long = "per-process", conflicts_with = "by")]
    pub per_process: bool,
    /// Group rows by this key as well as by function (+)
    #[arg(long = "by", value_enum, value_name = "KEY")]
    pub by: Option<ByArg>,
    /// Show only the N most frequent rows (+)
    #[arg(long = "top", value_name = "N", value_parser = numbers::unsigned::<usize>, value_hint = ValueHint::Other)]
    pub top: Option<usize>,
    /// One JSON object per interval on stdout (+)
    #[arg(long = "json")]
    pub json: bool,
    /// Print the attach plan, skipped targets and libbpf's messages (+)
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,
    /// Refuse a pattern that matches more than N (default 10000 probes) (+)
    #[arg(long = "max-probes", value_name = "N", value_parser = numbers::unsigned::<usize>, value_hint = ValueHint::Other)]
    pub max_probes: Option<usize>,
    /// How to attach kernel functions (+)
    #[arg(long = "backend", value_enum, default_value_t = BackendArg::Auto)]
    pub backend: BackendArg,
    /// Search expression for events: func, lib:func, t:cat:event, u:lib:probe,
    /// or a bpftrace probe (kprobe:func, uprobe:path:func, usdt:path:probe, ...)
    #[arg(value_name = "PATTERN")]
    pub pattern: String,
}

pub fn command() -> clap::Command {
    FunccountArgs::command().after_help(common::after_help(EXAMPLES))
}

pub fn run(matches: &clap::ArgMatches) -> anyhow::Result<()> {
    let args = FunccountArgs::from_arg_matches(matches)?;
    rtools_bpf::system::set_libbpf_logging(args.verbose);
    common::check_positive(args.interval, "-i/--interval")?;
    common::check_positive(args.duration, "-d/--duration")?;
    common::check_pid(args.pid)?;
    let cgroup = common::check_cgroup(args.cgroup.as_deref())?;
    common::check_cpu(args.cpu)?;
    let group_by = group_by(&args);

    let (_spec, targets) = common::resolve(
        &args.pattern,
        &common::Matching {
            tool: "funccount",
            pid: args.pid,
            use_regex: args.regexp,
            returns: false,
            max_probes: args.max_probes,
            verbose: args.verbose,
        },
    )?;
    let names: Vec<String> = targets.iter().map(|t| t.name.clone()).collect();

    let stop = StopSignal::install_for(args.pid).context("installing signal handlers")?;
    let config = CountConfig {
        pid: args.pid,
        cgroup,
        cpu: args.cpu,
        group_by,
        attach: AttachOptions {
            pid: args.pid,
            backend: args.backend.into(),
        },
    };
    let started = Instant::now();
    let mut storage = MaybeUninit::uninit();
    let mut counter = Counter::start(&mut storage, &targets, &config)
        .with_context(|| format!("attaching to '{}'", args.pattern))?;
    let attached = counter.attached();
    common::report_attach(
        "funccount",
        &attached.plan,
        &attached.warnings,
        args.verbose,
        args.debug,
    );
    if args.verbose {
        say!(
            "funccount: attached {} probes in {:?}",
            attached.attached_slots,
            started.elapsed()
        );
    }
    say!(
        "Tracing {} functions for \"{}\"... Hit Ctrl-C to end.",
        attached.attached_slots,
        args.pattern
    );

    // BCC: with -d and no -i, one summary at the end of the duration.
    let mut tally = Tally::default();
    let mut cgroups = CgroupNames::default();
    let mut lost_before = 0;
    let mut schedule = Schedule::new(args.interval, args.duration);
    loop {
        let stopped = stop.wait_until(Some(schedule.wake()));
        if !stopped && !schedule.due() {
            // Between summaries: make room for new processes.
            counter.retire_exited()?;
            schedule.swept();
            continue;
        }
        let finished = stopped || schedule.over();
        print_interval(
            &args,
            &counter,
            &mut tally,
            &mut lost_before,
            &names,
            group_by,
            &mut cgroups,
        )?;
        if finished {
            break;
        }
        schedule.advance();
    }
    say!("Detaching...");
    let took = counter.detach();
    if args.verbose {
        say!("funccount: detached in {took:?}");
    }
    Ok(())
}

fn group_by(args: &FunccountArgs) -> GroupBy {
    match (args.per_process, args.by) {
        (true, _) | (false, Some(ByArg::Pid)) => GroupBy::Pid,
        (false, Some(ByArg::Comm)) => GroupBy::Comm,
        (false, Some(ByArg::Tid)) => GroupBy::Tid,
        (false, Some(ByArg::Cpu)) => GroupBy::Cpu,
        (false, Some(ByArg::Cgroup)) => GroupBy::Cgroup,
        (false, None) => GroupBy::None,
    }
}

#[allow(clippy::too_many_arguments)]
fn print_interval(
    args: &FunccountArgs,
    counter: &Counter<'_>,
    tally: &mut Tally,
    lost_before: &mut u64,
    names: &[String],
    group_by: GroupBy,
    cgroups: &mut CgroupNames,
) -> anyhow::Result<()> {
    let mut totals = counter.totals()?;
    if group_by == GroupBy::Cgroup {
        // Rows are named by the cgroup's path.
        totals = totals
            .into_iter()
            .map(|(mut key, n)| {
                key.comm = cgroups.name(key.cgroup);
                (key, n)
            })
            .collect();
    }
    let rows = count::rows(tally.interval(totals), names, group_by, args.top);
    let lost_total = counter.lost()?;
    let lost = lost_total - *lost_before;
    *lost_before = lost_total;
    let (time, timestamp) = output::now();
    if args.json {
        let info = count_json::IntervalInfo {
            pattern: &args.pattern,
            time: &time,
            timestamp,
            lost,
        };
        output::stdout(&(count_json::render(&rows, group_by, &info) + "\n"));
    } else {
        let time = args.timestamp.then_some(time.as_str());
        output::stdout(&count_table::render(&rows, group_by, time));
        if lost > 0 {
            say!("funccount: warning: {lost} events not counted: the per-process table is full");
        }
    }
    Ok(())
}
