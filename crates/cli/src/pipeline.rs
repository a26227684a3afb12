//! The steps every tool takes, once (SPEC §5): check the shared flags,
//! resolve the patterns, install the stop signals, load and attach the
//! tool's BPF program, say what got attached, then wake for summaries,
//! sweeps and events until a stop, and detach. A tool supplies only what
//! is its own: its flags and checks ([`Tool`]), its program and how it
//! reads and renders what the program collected ([`Session`]).

use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::{error, exit};
use rtools_bpf::attach::Attached;
use rtools_bpf::attach::VerifierLog;
use rtools_bpf::{AttachOptions, OpenObject, Step};
use rtools_core::render::metrics;
use rtools_core::render::prometheus::{Exposition, Flavor};
use rtools_core::spec::ProbeSpec;
use rtools_core::targets::Target;

use crate::exporter::{self, Exporter};
use crate::flags::{CommonArgs, ExportArgs, IntervalArgs};
use crate::output::{self, say};
use crate::schedule::Schedule;
use crate::signals::{StopSignal, Wake};
use crate::tools::common::{self, Matching};

/// A tool: its flags, its checks, and how it starts its program.
pub trait Tool {
    /// What its running program is; borrows the storage of its BPF object.
    type Session<'obj>: Session;

    /// The name messages begin with.
    const NAME: &'static str;

    /// The flags the pipeline acts on.
    fn flags(&self) -> Flags<'_>;

    /// The tool's own checks of what was typed, made before anything
    /// looks at the machine.
    fn check(&self) -> anyhow::Result<()> {
        Ok(())
    }

    /// Whether the tool also puts return probes on the matches (so
    /// functions that return twice are left out).
    fn returns(&self) -> bool {
        false
    }

    /// Whether the tool prints a summary when it stops (trace prints its
    /// events as they come, and a summary only with -A).
    fn summarizes(&self) -> bool {
        true
    }

    /// Whether the attach plan prints without -v (`-D`/`--debug`).
    fn show_plan(&self) -> bool {
        false
    }

    /// Loads the tool's program into `storage` and attaches it to every
    /// target.
    fn start<'obj>(
        &self,
        storage: &'obj mut MaybeUninit<OpenObject>,
        setup: &Setup,
    ) -> anyhow::Result<Self::Session<'obj>>;
}

/// The flags of a tool that the pipeline acts on.
pub struct Flags<'a> {
    pub common: &'a CommonArgs,
    /// `-i`: seconds between summaries.
    pub interval: Option<u64>,
    /// Seconds to trace, and the duration flag's letter (`-d`, `-D`).
    pub duration: (Option<u64>, char),
    /// `-r`: the patterns are regular expressions.
    pub regexp: bool,
    /// The probe specifications to resolve, as typed.
    pub patterns: Vec<String>,
    /// `--listen`: where to serve the metrics of [`Session::metrics`].
    pub listen: Option<SocketAddr>,
}

impl<'a> Flags<'a> {
    /// A tool of one pattern that prints summaries (`-d` or `-D` for the
    /// duration).
    pub fn summaries(
        common: &'a CommonArgs,
        intervals: &'a IntervalArgs,
        duration: char,
        pattern: &'a str,
    ) -> Flags<'a> {
        Flags {
            common,
            interval: intervals.interval,
            duration: (intervals.duration, duration),
            regexp: intervals.regexp,
            patterns: vec![pattern.to_string()],
            listen: None,
        }
    }

    /// With the tool's `--listen`.
    pub fn serving(self, export: &ExportArgs) -> Flags<'a> {
        Flags {
            listen: export.listen,
            ..self
        }
    }
}

/// What the pipeline checked and found, for [`Tool::start`].
pub struct Setup {
    /// One per pattern, in order.
    pub probes: Vec<Resolved>,
    /// `--cgroup`'s directory.
    pub cgroup: Option<PathBuf>,
    pub attach: AttachOptions,
}

/// A pattern and what it matched.
pub struct Resolved {
    pub spec: ProbeSpec,
    pub targets: Vec<Target>,
}

impl Setup {
    /// The targets of a tool that takes one pattern.
    pub fn targets(&self) -> &[Target] {
        &self.probes[0].targets
    }

    /// The names the tool prints, by slot.
    pub fn names(&self) -> Vec<String> {
        self.targets().iter().map(|t| t.name.clone()).collect()
    }
}

/// Whether tracing goes on after events were taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Enough (trace -M): the final summary, then detach.
    Stop,
}

/// A tool's loaded and attached program, and how its results reach the
/// user.
pub trait Session {
    /// What got attached, how, and what was skipped.
    fn attached(&self) -> &Attached;

    /// More of the plan, printed with -v (funclatency's return probes).
    fn more_plan(&self) -> &[Step] {
        &[]
    }

    /// An fd that becomes readable when the program has events to take
    /// (a ring buffer), if it sends any.
    fn events_fd(&self) -> Option<RawFd> {
        None
    }

    /// Takes the events [`Session::events_fd`] announced.
    fn take_events(&mut self) -> anyhow::Result<Flow> {
        Ok(Flow::Continue)
    }

    /// How often to take events unannounced (trace's programs wake the
    /// reader only once records pile up).
    fn poll_every(&self) -> Option<Duration> {
        None
    }

    /// The tool's metrics, totals since attach (`--listen`; only the tools
    /// that take it are asked).
    fn metrics(&mut self, _out: &mut Exposition) -> anyhow::Result<()> {
        Ok(())
    }

    /// Between summaries: retire the counters of exited processes, so the
    /// maps never fill up with the dead.
    fn sweep(&mut self) -> anyhow::Result<()>;

    /// Reads, renders and prints one summary (every -i, and at the end).
    fn summary(&mut self, last: bool) -> anyhow::Result<()>;

    /// After the last summary: what was lost, files to write.
    fn finish(&mut self) -> anyhow::Result<()> {
        Ok(())
    }

    /// Detaches every probe and keeps the maps (before the last summary,
    /// so reading and symbolizing it fire no probe of rtools' own, and
    /// take no time while attached); returns how long it took.
    fn stop(&mut self) -> Duration;

    /// Detaches what is left and unloads; returns how long it took.
    fn detach(self) -> Duration;
}

/// Runs the tool whose flags `matches` holds: the dispatcher's entry.
pub fn run_from<T: Tool + clap::FromArgMatches>(matches: &clap::ArgMatches) -> anyhow::Result<()> {
    run(&T::from_arg_matches(matches)?)
}

/// `-v`: the verifier's log of a program refused per target, on stderr
/// (libbpf's own messages carry the same prefix).
fn verifier_log() -> VerifierLog {
    VerifierLog::new(|target, line| say!("libbpf: verifier ({target}): {line}"))
}

/// Runs `tool` from its parsed flags to its detach.
pub fn run<T: Tool>(tool: &T) -> anyhow::Result<()> {
    let flags = tool.flags();
    let common = flags.common;
    rtools_bpf::system::set_libbpf_logging(common.verbose);
    common::check_positive(flags.interval, "-i/--interval")?;
    let (duration, letter) = flags.duration;
    common::check_positive(duration, &format!("-{letter}/--duration"))?;
    common::check_pid(common.pid)?;
    let cgroup = common::check_cgroup(common.cgroup.as_deref())?;
    tool.check()?;

    let matching = Matching {
        tool: T::NAME,
        pid: common.pid,
        use_regex: flags.regexp,
        returns: tool.returns(),
        max_probes: common.max_probes,
        verbose: common.verbose,
    };
    let patterns = &flags.patterns;
    let probes = patterns
        .iter()
        .map(|pattern| {
            let (spec, targets) = common::resolve(pattern, &matching)?;
            Ok(Resolved { spec, targets })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;

    // Before loading anything: a busy port is a quick error.
    let exporter = flags.listen.map(exporter::bind).transpose()?;
    let stop = StopSignal::install_for(common.pid, tool.summarizes())
        .context("installing signal handlers")?;
    let setup = Setup {
        probes,
        cgroup,
        attach: AttachOptions {
            pid: common.pid,
            backend: common.backend.into(),
            stop: stop.attach_stop(),
            verifier_log: common.verbose.then(verifier_log),
        },
    };
    let started = Instant::now();
    let mut storage = MaybeUninit::uninit();
    let mut session = tool.start(&mut storage, &setup).map_err(|e| {
        // A mistake in what was typed speaks for itself.
        if error::exit_code(&e) == exit::USAGE {
            e
        } else {
            e.context(format!("attaching to '{}'", patterns.join("' '")))
        }
    })?;
    let attached = session.attached();
    common::report_attach(
        T::NAME,
        &attached.plan,
        &attached.warnings,
        common.verbose,
        tool.show_plan(),
    );
    if common.verbose {
        for step in session.more_plan() {
            say!("{}: plan: {step}", T::NAME);
        }
        say!(
            "{}: attached {} probes in {:?}",
            T::NAME,
            attached.attached_slots,
            started.elapsed()
        );
    }
    if let Some(exporter) = &exporter {
        say!(
            "{}: serving metrics at http://{}/metrics",
            T::NAME,
            exporter.addr()
        );
    }
    say!(
        "Tracing {} functions for \"{}\"... Hit Ctrl-C to end.",
        attached.attached_slots,
        patterns.join(" ")
    );

    let stopped = trace_until_stopped(&flags, &mut session, &stop, exporter.as_ref())?;
    session.finish()?;
    say!("Detaching...");
    let took = stopped + session.detach();
    if common.verbose {
        say!("{}: detached in {took:?}", T::NAME);
    }
    Ok(())
}

/// Waits for what comes first (a summary due, a sweep due, events, a
/// stop) and hands it to the session, until a stop or the end of the
/// duration; then detaches and prints the last summary. BCC: with a
/// duration and no interval, one summary at the end. Returns how long
/// detaching took.
fn trace_until_stopped(
    flags: &Flags<'_>,
    session: &mut impl Session,
    stop: &StopSignal,
    exporter: Option<&Exporter>,
) -> anyhow::Result<Duration> {
    let mut schedule = Schedule::new(flags.interval, flags.duration.0);
    let poll = session.poll_every();
    loop {
        let deadline = match poll {
            Some(every) => schedule.wake().min(Instant::now() + every),
            None => schedule.wake(),
        };
        let fds = [session.events_fd(), exporter.map(Exporter::wake_fd)];
        let wake = stop.wait(Some(deadline), fds);
        if let (Wake::Ready(1), Some(exporter)) = (wake, exporter) {
            exporter.serve(|flavor| scrape(session, flavor));
            continue;
        }
        let mut flow = Flow::Continue;
        if wake == Wake::Ready(0) || (wake == Wake::Deadline && poll.is_some()) {
            flow = session.take_events()?;
        }
        let stopped = wake == Wake::Stop || flow == Flow::Stop;
        if !stopped && !schedule.due() {
            if schedule.sweep_due() {
                session.sweep()?;
                schedule.swept();
            }
            continue;
        }
        let last = stopped || schedule.over();
        if last {
            let took = session.stop();
            session.summary(true)?;
            return Ok(took);
        }
        session.summary(false)?;
        schedule.advance();
    }
}

/// The metrics of one scrape: the session's, then what every exporter
/// serves. None (the scraper gets 503) where the maps cannot be read.
fn scrape(session: &mut impl Session, flavor: Flavor) -> Option<String> {
    let mut out = Exposition::new(flavor);
    if let Err(e) = session.metrics(&mut out) {
        say!("{}: warning: a scrape failed: {e:#}", output::tool());
        return None;
    }
    metrics::process(
        &mut out,
        session.attached().attached_slots,
        env!("CARGO_PKG_VERSION"),
    );
    Some(out.finish())
}
