//! funccount: count calls of kernel and user functions, tracepoints and
//! USDT probes (BCC's funccount, plus per-process rows, JSON and --top).

use std::collections::HashMap;
use std::mem::MaybeUninit;
use std::time::Duration;

use clap::{CommandFactory, Parser, ValueEnum, ValueHint};
use rtools_bpf::attach::Attached;
use rtools_bpf::count::{CountConfig, Counter};
use rtools_bpf::task_filters::TaskFilters;
use rtools_bpf::OpenObject;
use rtools_core::cgroup::CgroupNames;
use rtools_core::count::{self, CountKey, GroupBy, Tally};
use rtools_core::render::prometheus::Exposition;
use rtools_core::render::{count_json, count_table, metrics};

use crate::flags::{self, CommonArgs, ExportArgs, IntervalArgs};
use crate::numbers;
use crate::output;
use crate::output::say;
use crate::pipeline::{Flags, Session, Setup, Tool};
use crate::tools::common;

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
    funccount -P s:page-faults:1           page faults, per process (bpftrace's software:)
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
/// usdt:PATH[:provider]:probe, and its perf events on every CPU:
/// software:NAME[:COUNT] or s: (page-faults, cs, cpu-clock, ...),
/// hardware:NAME[:COUNT] or h: (cycles, instructions, ...; needs a PMU),
/// profile:hz:N, profile:s|ms|us:N or p:hz:N. Where the two conventions
/// clash, BCC wins: 'u:' is a USDT probe, not bpftrace's uprobe
/// shorthand ('p:hz:99' is a profile: no function is a number). Names match as
/// '*'/'?' globs, or with -r as regular expressions anchored at the start.
///
/// Kernel functions attach through kprobe-multi, fentry or kprobe, the
/// fastest the kernel supports (--backend forces one). Whole-syscall
/// wildcards such as 't:syscalls:sys_enter_*' are served by one
/// raw_syscalls program, so they attach and detach in milliseconds.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "funccount",
    version,
    allow_negative_numbers = true,
    infer_long_args = true
)]
pub struct FunccountArgs {
    #[command(flatten)]
    pub intervals: IntervalArgs,
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
    #[command(flatten)]
    pub export: ExportArgs,
    #[command(flatten)]
    pub common: CommonArgs,
    /// Search expression for events: func, lib:func, t:cat:event, u:lib:probe,
    /// or a bpftrace probe (kprobe:func, uprobe:path:func, usdt:path:probe, ...)
    #[arg(value_name = "PATTERN")]
    pub pattern: String,
}

/// BCC's letter for --duration.
const DURATION: char = 'd';

pub fn command() -> clap::Command {
    let cmd = FunccountArgs::command().after_help(common::after_help(EXAMPLES));
    flags::duration_letter(cmd, DURATION)
}

impl Tool for FunccountArgs {
    type Session<'obj> = Funccount<'obj>;
    const NAME: &'static str = "funccount";

    fn flags(&self) -> Flags<'_> {
        Flags::summaries(&self.common, &self.intervals, DURATION, &self.pattern)
            .serving(&self.export)
    }

    fn check(&self) -> anyhow::Result<()> {
        common::check_cpu(self.cpu)
    }

    fn show_plan(&self) -> bool {
        self.debug
    }

    fn start<'obj>(
        &self,
        storage: &'obj mut MaybeUninit<OpenObject>,
        setup: &Setup,
    ) -> anyhow::Result<Funccount<'obj>> {
        let group_by = group_by(self);
        let config = CountConfig {
            filters: TaskFilters {
                pid: self.common.pid,
                cpu: self.cpu,
                cgroup: setup.cgroup.clone(),
            },
            group_by,
            // An exporter runs for weeks: the exited are forgotten.
            keep_exited: self.export.listen.is_none(),
            attach: setup.attach.clone(),
        };
        Ok(Funccount {
            counter: Counter::start(storage, setup.targets(), &config)?,
            args: self.clone(),
            names: setup.names(),
            group_by,
            tally: Tally::default(),
            cgroups: CgroupNames::default(),
            lost_before: 0,
        })
    }
}

/// funccount's running program and what its summaries need.
pub struct Funccount<'obj> {
    counter: Counter<'obj>,
    args: FunccountArgs,
    names: Vec<String>,
    group_by: GroupBy,
    tally: Tally,
    cgroups: CgroupNames,
    lost_before: u64,
}

impl Session for Funccount<'_> {
    fn attached(&self) -> &Attached {
        self.counter.attached()
    }

    fn sweep(&mut self) -> anyhow::Result<()> {
        self.counter.retire_exited()?;
        Ok(())
    }

    fn metrics(&mut self, out: &mut Exposition) -> anyhow::Result<()> {
        let totals = self.totals()?;
        metrics::calls(out, &totals, &self.names, self.group_by);
        metrics::lost(out, &[("table_full", self.counter.lost()?)]);
        Ok(())
    }

    fn summary(&mut self, _last: bool) -> anyhow::Result<()> {
        let totals = self.totals()?;
        let rows = count::rows(
            self.tally.interval(totals),
            &self.names,
            self.group_by,
            self.args.top,
        );
        let lost_total = self.counter.lost()?;
        let lost = lost_total - self.lost_before;
        self.lost_before = lost_total;
        let (time, timestamp) = output::now();
        if self.args.common.json {
            let info = count_json::IntervalInfo {
                pattern: &self.args.pattern,
                time: &time,
                timestamp,
                lost,
            };
            output::stdout(&(count_json::render(&rows, self.group_by, &info) + "\n"));
        } else {
            let time = self.args.intervals.timestamp.then_some(time.as_str());
            output::stdout(&count_table::render(&rows, self.group_by, time));
            if lost > 0 {
                say!(
                    "funccount: warning: {lost} events not counted: the per-process table is full"
                );
            }
        }
        Ok(())
    }

    fn stop(&mut self) -> Duration {
        self.counter.stop()
    }

    fn detach(self) -> Duration {
        self.counter.detach()
    }
}

impl Funccount<'_> {
    /// Every counter's total since attach; with `--by cgroup` named by the
    /// cgroup's path.
    fn totals(&mut self) -> anyhow::Result<HashMap<CountKey, u64>> {
        let mut totals = self.counter.totals()?;
        if self.group_by == GroupBy::Cgroup {
            totals = totals
                .into_iter()
                .map(|(mut key, n)| {
                    key.comm = self.cgroups.name(key.cgroup);
                    (key, n)
                })
                .collect();
        }
        Ok(totals)
    }
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
