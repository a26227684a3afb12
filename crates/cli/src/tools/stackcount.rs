//! stackcount: count the distinct call stacks that lead to an event (BCC's
//! stackcount, plus per-process symbolization, flame graphs and JSON).

use std::cell::RefCell;
use std::collections::HashMap;
use std::mem::MaybeUninit;
use std::rc::Rc;

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches, Parser, ValueHint};
use rtools_bpf::stack::{RawStack, StackConfig, StackCounter, DEFAULT_STACK_STORAGE, MAX_DEPTH};
use rtools_bpf::symbolize::Symbols;
use rtools_bpf::AttachOptions;
use rtools_core::render::{flamegraph, stack_folded, stack_json, stack_text};
use rtools_core::stacks::{self, Frame, StackRow};

use crate::error::usage;
use crate::numbers;
use crate::output;
use crate::output::say;
use crate::schedule::Schedule;
use crate::signals::{StopSignal, Wake};
use crate::tools::common::{self, BackendArg};

const EXAMPLES: &str = "\
Examples:
    stackcount t:syscalls:sys_enter_getppid   kernel and user stacks of a syscall
    stackcount -p 1234 c:malloc            malloc() call paths of one process
    stackcount -P -U c:malloc              user stacks, per process
    stackcount -f t:sched:sched_switch     folded output for a flame graph
    stackcount --flamegraph out.svg c:malloc   write the flame graph directly (+)
    stackcount -d -s t:syscalls:sys_enter_getppid   delimiter, offsets
    stackcount -D 10 -i 2 c:malloc         every 2 s for 10 s
    stackcount ktime_get                   a kernel function (kprobes or fentry)";

/// Count the call stacks that lead to events.
///
/// stackcount attaches to every function, tracepoint or USDT probe that
/// PATTERN matches (the forms funccount takes) and counts the distinct
/// kernel and user stacks seen there. Stacks print leaf first, the least
/// frequent first, as BCC's stackcount prints them; -f prints folded
/// stacks (comm;outer;...;leaf COUNT) for flamegraph.pl and inferno, and
/// --flamegraph writes the SVG itself.
///
/// User stacks are symbolized per process, even without -P, from the
/// process's mappings read while it runs, so processes that exit before
/// the summary still show names. At a uprobe on a function's first
/// instruction the caller that frame-pointer unwinding misses is put back.
/// Stacks that cannot be recorded (stack map full, hash collision) are
/// counted and reported on stderr, never shown as empty stacks.
#[derive(Debug, Parser)]
#[command(
    name = "stackcount",
    version,
    allow_negative_numbers = true,
    infer_long_args = true
)]
pub struct StackcountArgs {
    /// Trace this PID only
    #[arg(short = 'p', long = "pid", value_name = "PID", value_parser = numbers::unsigned::<u32>, value_hint = ValueHint::Other)]
    pub pid: Option<u32>,
    /// Trace only tasks in this cgroup v2 directory and below: a path in
    /// the hierarchy (/system.slice/x.service) or under its mount (+)
    #[arg(long = "cgroup", value_name = "PATH", value_hint = ValueHint::DirPath)]
    pub cgroup: Option<String>,
    /// Trace this CPU only
    #[arg(short = 'c', long = "cpu", value_name = "CPU", value_parser = numbers::unsigned::<u32>, value_hint = ValueHint::Other)]
    pub cpu: Option<u32>,
    /// Summary interval, seconds
    #[arg(short = 'i', long = "interval", value_name = "SECONDS", value_parser = numbers::unsigned::<u64>, value_hint = ValueHint::Other)]
    pub interval: Option<u64>,
    /// Total duration of trace, seconds
    #[arg(short = 'D', long = "duration", value_name = "SECONDS", value_parser = numbers::unsigned::<u64>, value_hint = ValueHint::Other)]
    pub duration: Option<u64>,
    /// Include timestamp on output
    #[arg(short = 'T', long = "timestamp")]
    pub timestamp: bool,
    /// Use regular expressions. Default is "*" wildcards only.
    #[arg(short = 'r', long = "regexp")]
    pub regexp: bool,
    /// Show address offsets
    #[arg(short = 's', long = "offset")]
    pub offset: bool,
    /// Display stacks separately for each process
    #[arg(short = 'P', long = "perpid")]
    pub perpid: bool,
    /// Kernel stack only
    #[arg(
        short = 'K',
        long = "kernel-stacks-only",
        conflicts_with = "user_stacks_only"
    )]
    pub kernel_stacks_only: bool,
    /// User stack only
    #[arg(short = 'U', long = "user-stacks-only")]
    pub user_stacks_only: bool,
    /// Show raw addresses (and, on stderr, the attach plan)
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,
    /// Insert delimiter between kernel/user stacks
    #[arg(short = 'd', long = "delimited")]
    pub delimited: bool,
    /// Output folded format
    #[arg(short = 'f', long = "folded", conflicts_with = "json")]
    pub folded: bool,
    /// Print the resolved attach plan before tracing
    #[arg(long = "debug")]
    pub debug: bool,
    /// Write an SVG flame graph of all stacks to FILE at the end (+)
    #[arg(long = "flamegraph", value_name = "FILE")]
    pub flamegraph: Option<std::path::PathBuf>,
    /// Number of stacks the stack map holds (+)
    #[arg(long = "stack-storage-size", value_name = "N", default_value_t = DEFAULT_STACK_STORAGE, value_parser = numbers::unsigned::<u32>, value_hint = ValueHint::Other)]
    pub stack_storage_size: u32,
    /// Frames kept per stack, 1 to 127 (+)
    #[arg(long = "max-depth", value_name = "N", default_value_t = MAX_DEPTH, value_parser = numbers::unsigned::<u32>, value_hint = ValueHint::Other)]
    pub max_depth: u32,
    /// One JSON object per interval on stdout (+)
    #[arg(long = "json")]
    pub json: bool,
    /// Refuse a pattern that matches more than N (default 10000 probes) (+)
    #[arg(long = "max-probes", value_name = "N", value_parser = numbers::unsigned::<usize>, value_hint = ValueHint::Other)]
    pub max_probes: Option<usize>,
    /// How to attach kernel functions (+)
    #[arg(long = "backend", value_enum, default_value_t = BackendArg::Auto)]
    pub backend: BackendArg,
    /// Search expression for events (the forms funccount takes)
    #[arg(value_name = "PATTERN")]
    pub pattern: String,
}

pub fn command() -> clap::Command {
    StackcountArgs::command().after_help(common::after_help(EXAMPLES))
}

pub fn run(matches: &clap::ArgMatches) -> anyhow::Result<()> {
    let args = StackcountArgs::from_arg_matches(matches)?;
    rtools_bpf::system::set_libbpf_logging(args.verbose);
    common::check_positive(args.interval, "-i/--interval")?;
    common::check_positive(args.duration, "-D/--duration")?;
    common::check_pid(args.pid)?;
    let cgroup = common::check_cgroup(args.cgroup.as_deref())?;
    common::check_cpu(args.cpu)?;
    if !(1..=MAX_DEPTH).contains(&args.max_depth) {
        return usage(format!("--max-depth must be 1 to {MAX_DEPTH}"));
    }
    if args.stack_storage_size == 0 {
        return usage("--stack-storage-size must be at least 1");
    }

    if let Some(path) = &args.flamegraph {
        check_writable(path)?;
    }

    let (_spec, targets) = common::resolve(
        &args.pattern,
        &common::Matching {
            tool: "stackcount",
            pid: args.pid,
            use_regex: args.regexp,
            returns: false,
            max_probes: args.max_probes,
            verbose: args.verbose,
        },
    )?;
    let stop = StopSignal::install_for(args.pid).context("installing signal handlers")?;
    let config = StackConfig {
        pid: args.pid,
        cgroup,
        cpu: args.cpu,
        kernel: !args.user_stacks_only,
        user: !args.kernel_stacks_only,
        storage_size: args.stack_storage_size,
        max_depth: args.max_depth,
        attach: AttachOptions {
            pid: args.pid,
            backend: args.backend.into(),
        },
    };
    let mut storage = MaybeUninit::uninit();
    let counter = StackCounter::start(&mut storage, &targets, &config)
        .with_context(|| format!("attaching to '{}'", args.pattern))?;
    let attached = counter.attached();
    common::report_attach(
        "stackcount",
        &attached.plan,
        &attached.warnings,
        args.verbose,
        args.debug,
    );
    say!(
        "Tracing {} functions for \"{}\"... Hit Ctrl-C to end.",
        attached.attached_slots,
        args.pattern
    );

    let seen = Rc::new(RefCell::new(Vec::new()));
    let ring = counter.new_pids(Rc::clone(&seen))?;
    let mut symbols = Symbols::default();
    if let Some(pid) = args.pid {
        // Its mappings now, while it surely lives: it may exit before its
        // first event is announced (issue 10).
        symbols.remember(pid);
    }
    let mut schedule = Schedule::new(args.interval, args.duration);
    let mut previous: HashMap<RawStack, u64> = HashMap::new();
    let mut lost_before = 0;
    loop {
        let wake = stop.wait(Some(schedule.wake()), Some(ring.epoll_fd()));
        if wake == Wake::Ready {
            // New processes: read their mappings while they are alive.
            let _ = ring.consume();
            seen.borrow_mut()
                .drain(..)
                .for_each(|pid| symbols.remember(pid));
            if args.verbose {
                symbols
                    .take_notes()
                    .iter()
                    .for_each(|n| say!("stackcount: {n}"));
            }
            continue;
        }
        if wake != Wake::Stop && !schedule.due() {
            // Between summaries: make room for new processes.
            counter.retire_exited()?;
            schedule.swept();
            continue;
        }
        let totals = counter.totals()?;
        let increases = totals
            .iter()
            .filter_map(|(k, &v)| {
                let before = previous.get(k).copied().unwrap_or(0);
                (v > before).then(|| (k.clone(), v - before))
            })
            .collect();
        let by_comm = args.folded || args.json;
        let rows = symbolized_rows(increases, &mut symbols, args.perpid, by_comm);
        let lost = counter.lost()?.total();
        print_interval(&args, &rows, lost - lost_before);
        lost_before = lost;
        let finished = wake == Wake::Stop || schedule.over();
        if finished {
            if let Some(path) = &args.flamegraph {
                let all = symbolized_rows(
                    totals.into_iter().collect(),
                    &mut symbols,
                    args.perpid,
                    true,
                );
                write_flamegraph(path, &all, &args)?;
            }
            break;
        }
        previous = totals;
        schedule.advance();
    }
    if args.verbose {
        // Symbolizing may have met more.
        symbols
            .take_notes()
            .iter()
            .for_each(|n| say!("stackcount: {n}"));
    }
    report_lost(&counter)?;
    say!("Detaching...");
    drop(ring);
    let took = counter.detach();
    if args.verbose {
        say!("stackcount: detached in {took:?}");
    }
    Ok(())
}

/// Symbolizes raw stacks per process and merges those that read alike.
/// `by_comm`: the output shows each stack's command (folded, JSON, flame
/// graphs), so stacks of different commands stay apart.
fn symbolized_rows(
    raw: Vec<(RawStack, u64)>,
    symbols: &mut Symbols,
    perpid: bool,
    by_comm: bool,
) -> Vec<StackRow> {
    let rows = raw
        .into_iter()
        .map(|(stack, count)| {
            let mut user = stack.user.clone();
            let inserted = stacks::insert_entry_caller(&mut user, stack.entry_return);
            let mut kernel = symbols.kernel(&stack.kernel);
            stacks::trim_bpf_frames(&mut kernel);
            let marker = |name: &str| vec![Frame::unknown(0).named(name)];
            StackRow {
                comm: stack.comm.clone(),
                pid: perpid.then_some(stack.tgid),
                kernel: stack.kernel_lost.map_or(kernel, marker),
                user: match stack.user_lost {
                    Some(lost) => marker(lost),
                    None => user_frames(symbols, &stack, &user, inserted),
                },
                count,
            }
        })
        .collect();
    stacks::merge(rows, by_comm)
}

/// A stack's user frames: through the process's mappings where they were
/// captured; a frame they leave unknown (a process that exited before its
/// mappings could be read, or while they were) is named from the build id
/// and file offset the kernel took.
fn user_frames(
    symbols: &mut Symbols,
    stack: &RawStack,
    user: &[u64],
    inserted: bool,
) -> Vec<Frame> {
    let mut frames = symbols.user(stack.tgid, user);
    if stack.user_files.is_empty() || !frames.iter().any(|f| f.name == "[unknown]") {
        return frames;
    }
    let mut from_files = symbols.user_from_files(&stack.user_files, &stack.user);
    if inserted {
        // The caller put back at a function's entry has no build-id frame.
        from_files.insert(1, Frame::unknown(stack.entry_return));
    }
    for (frame, file) in frames.iter_mut().zip(from_files) {
        if frame.name == "[unknown]" {
            *frame = file;
        }
    }
    frames
}

fn print_interval(args: &StackcountArgs, rows: &[StackRow], lost: u64) {
    let (time, timestamp) = output::now();
    if args.json {
        output::stdout(&(stack_json::render(rows, &args.pattern, &time, timestamp, lost) + "\n"));
    } else if args.folded {
        output::stdout(&stack_folded::render(rows, args.delimited));
    } else {
        let opts = stack_text::TextOptions {
            delimiter: args.delimited,
            both_stacks: !args.user_stacks_only && !args.kernel_stacks_only,
            offsets: args.offset,
            addresses: args.verbose,
        };
        output::stdout(&stack_text::render(
            rows,
            args.timestamp.then_some(time.as_str()),
            opts,
        ));
    }
}

/// Fails before tracing, not after, when the flame graph can't be written.
fn check_writable(path: &std::path::Path) -> anyhow::Result<()> {
    let existed = path.exists();
    match std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
    {
        Ok(_) => {
            if !existed {
                let _ = std::fs::remove_file(path);
            }
            Ok(())
        }
        Err(e) => usage(format!(
            "cannot write the flame graph to {}: {e}: give a writable --flamegraph path",
            path.display()
        )),
    }
}

fn write_flamegraph(
    path: &std::path::Path,
    rows: &[StackRow],
    args: &StackcountArgs,
) -> anyhow::Result<()> {
    let lines: Vec<String> = rows
        .iter()
        .map(|r| stack_folded::line(r, args.delimited))
        .collect();
    let title = format!("stackcount {}", args.pattern);
    let svg = flamegraph::svg(&lines, &title).map_err(anyhow::Error::msg)?;
    std::fs::write(path, svg)
        .with_context(|| format!("writing the flame graph to {}", path.display()))?;
    say!(
        "stackcount: wrote {} ({} stacks)",
        path.display(),
        rows.len()
    );
    Ok(())
}

/// One line on stderr if any stack could not be recorded.
fn report_lost(counter: &StackCounter<'_>) -> anyhow::Result<()> {
    let lost = counter.lost()?;
    if lost.total() > 0 {
        say!(
            "stackcount: warning: {} stacks lost: {} hash collisions and {} with the stack map full \
             (counted under [lost stack: ...]; raise --stack-storage-size), {} unreadable, \
             {} with the count table full",
            lost.total(),
            lost.collisions,
            lost.map_full,
            lost.unreadable,
            lost.table_full
        );
    }
    Ok(())
}
