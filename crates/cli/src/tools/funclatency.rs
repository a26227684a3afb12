//! funclatency: time every call of the matched kernel or user functions
//! and print log2 histograms (BCC's funclatency, correct under nesting and
//! recursion, plus JSON).

use std::collections::HashMap;
use std::mem::MaybeUninit;
use std::time::Duration;

use clap::{CommandFactory, Parser, ValueHint};
use rtools_bpf::attach::Attached;
use rtools_bpf::latency::{LatencyConfig, LatencyCounter, Lost, MAX_NEST};
use rtools_bpf::task_filters::TaskFilters;
use rtools_bpf::{OpenObject, Step};
use rtools_core::deltas::Deltas;
use rtools_core::hist::{bucket_range, Histogram};
use rtools_core::render::prometheus::Exposition;
use rtools_core::render::{log2_hist, metrics};
use rtools_core::spec::ProbeSpec;
use serde_json::json;

use crate::error::usage;
use crate::flags::{self, CommonArgs, ExportArgs, IntervalArgs};
use crate::numbers;
use crate::output;
use crate::output::say;
use crate::pipeline::{Flags, Session, Setup, Tool};
use crate::tools::common;

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
/// is accepted for BCC compatibility; nesting is always tracked, as deep
/// as -l's help says). Calls that cannot be timed (a return whose entry came before
/// attach, an entry whose return never came) are counted and reported on
/// stderr.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "funclatency",
    version,
    allow_negative_numbers = true,
    infer_long_args = true
)]
pub struct FunclatencyArgs {
    #[command(flatten)]
    pub intervals: IntervalArgs,
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
    /// Nesting levels to track (BCC); rtools always tracks the most it can
    #[arg(short = 'l', long = "level", value_name = "LEVEL", value_parser = numbers::unsigned::<u32>, value_hint = ValueHint::Other)]
    pub level: Option<u32>,
    #[command(flatten)]
    pub export: ExportArgs,
    #[command(flatten)]
    pub common: CommonArgs,
    /// Search expression for functions: func, lib:func, kprobe:func,
    /// uprobe:path:func, ...
    #[arg(value_name = "PATTERN")]
    pub pattern: String,
}

/// BCC's letter for --duration.
const DURATION: char = 'd';

pub fn command() -> clap::Command {
    let cmd = FunclatencyArgs::command().after_help(common::after_help(EXAMPLES));
    let cmd = flags::reword(
        cmd,
        "max_probes",
        "Refuse a pattern that matches more than N (default 1000 functions) (+)",
    );
    let cmd = cmd.mut_arg("level", |a| {
        a.help(format!(
            "Nesting levels to track (BCC); rtools always tracks {MAX_NEST}"
        ))
    });
    flags::duration_letter(cmd, DURATION)
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

impl Tool for FunclatencyArgs {
    type Session<'obj> = Funclatency<'obj>;
    const NAME: &'static str = "funclatency";

    fn flags(&self) -> Flags<'_> {
        Flags::summaries(&self.common, &self.intervals, DURATION, &self.pattern)
            .serving(&self.export)
    }

    fn check(&self) -> anyhow::Result<()> {
        if self
            .level
            .is_some_and(|l| !(1..=MAX_NEST as u32).contains(&l))
        {
            return usage(format!(
                "-l/--level must be 1 to {MAX_NEST} (rtools tracks {MAX_NEST} nested calls)"
            ));
        }
        check_spec(&self.pattern)
    }

    fn returns(&self) -> bool {
        true
    }

    fn start<'obj>(
        &self,
        storage: &'obj mut MaybeUninit<OpenObject>,
        setup: &Setup,
    ) -> anyhow::Result<Funclatency<'obj>> {
        // BCC keys user functions' histograms by process too, unless -p
        // narrows them to one (and -F asks for sections anyway).
        let user = matches!(setup.probes[0].spec, ProbeSpec::User { .. });
        // An exporter's histograms are by function only: processes come
        // and go, series of them would grow without end.
        let per_pid = user
            && !self.merge
            && self.export.listen.is_none()
            && (self.common.pid.is_none() || self.function);
        let config = LatencyConfig {
            filters: TaskFilters {
                pid: self.common.pid,
                cpu: None,
                cgroup: setup.cgroup.clone(),
            },
            per_pid,
            unit_ns: unit(self).1,
            attach: setup.attach.clone(),
        };
        Ok(Funclatency {
            counter: LatencyCounter::start(storage, setup.targets(), &config)?,
            args: self.clone(),
            names: setup.names(),
            per_pid,
            deltas: Deltas::default(),
        })
    }
}

/// funclatency's running program and what its summaries need.
pub struct Funclatency<'obj> {
    counter: LatencyCounter<'obj>,
    args: FunclatencyArgs,
    names: Vec<String>,
    /// Histograms per function and process (BCC's sections).
    per_pid: bool,
    deltas: Deltas<Section, Histogram>,
}

impl Session for Funclatency<'_> {
    fn attached(&self) -> &Attached {
        self.counter.attached()
    }

    fn more_plan(&self) -> &[Step] {
        self.counter.return_plan()
    }

    fn sweep(&mut self) -> anyhow::Result<()> {
        self.counter.retire_exited()?;
        Ok(())
    }

    fn metrics(&mut self, out: &mut Exposition) -> anyhow::Result<()> {
        let hists = self.counter.histograms()?;
        // The probe label names what was probed, as funccount's does: the
        // function (-F, or one match); the pattern only for several
        // functions summed into one histogram.
        let series: Vec<(String, Histogram)> = if self.args.function || self.names.len() == 1 {
            self.names.iter().cloned().zip(hists).collect()
        } else {
            let mut all = Histogram::default();
            hists.iter().for_each(|h| all.add(h));
            vec![(self.args.pattern.clone(), all)]
        };
        metrics::latency(out, &series, unit(&self.args).1);
        let lost = self.counter.lost()?;
        metrics::lost(
            out,
            &[
                ("no_entry", lost.no_entry),
                ("missed_returns", lost.missed_returns),
                ("too_deep", lost.too_deep),
                ("table_full", lost.table_full),
            ],
        );
        Ok(())
    }

    fn summary(&mut self, _last: bool) -> anyhow::Result<()> {
        let current = read_sections(&self.counter, self.per_pid)?;
        let interval: Sections = self.deltas.interval(current).into_iter().collect();
        let sectioned = self.per_pid || self.args.function;
        print_interval(
            &self.args,
            unit(&self.args).0,
            &self.names,
            &interval,
            sectioned,
            &self.counter.lost()?,
        );
        Ok(())
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        report_lost(&self.counter.lost()?);
        Ok(())
    }

    fn stop(&mut self) -> Duration {
        self.counter.stop()
    }

    fn detach(self) -> Duration {
        self.counter.detach()
    }
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
type Sections = HashMap<Section, Histogram>;

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
    if args.common.json {
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
    if args.intervals.timestamp {
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
             {} missed returns, {} nested deeper than {MAX_NEST}, {} with a table full",
            lost.no_entry,
            lost.missed_returns,
            lost.too_deep,
            lost.table_full
        );
    }
}
