//! stackcount: count the distinct call stacks that lead to an event (BCC's
//! stackcount, plus per-process symbolization, flame graphs and JSON).

use std::mem::MaybeUninit;
use std::os::fd::RawFd;
use std::time::Duration;

use clap::{CommandFactory, Parser, ValueEnum, ValueHint};
use rtools_bpf::attach::Attached;
use rtools_bpf::stack::{
    copy_record_size, RawStack, StackConfig, StackCounter, DEFAULT_COPY_BUFFER, DEFAULT_STACK_COPY,
    DEFAULT_STACK_STORAGE, MAX_DEPTH, MAX_STACK_COPY,
};
use rtools_bpf::stack_samples::UserUnwind;
use rtools_bpf::symbolize::Symbols;
use rtools_bpf::task_filters::TaskFilters;
use rtools_bpf::OpenObject;
use rtools_core::deltas::Deltas;
use rtools_core::stacks::{self, Frame, StackRow};

use crate::error::usage;
use crate::flags::{self, CommonArgs, IntervalArgs};
use crate::numbers;
use crate::output::say;
use crate::pipeline::{Flags, Flow, Session, Setup, Tool};
use crate::tools::common;
use crate::tools::stack_output::{check_writable, print_interval, report_lost, write_flamegraph};

const EXAMPLES: &str = "\
Examples:
    stackcount t:syscalls:sys_enter_getppid   kernel and user stacks of a syscall
    stackcount -p 1234 c:malloc            malloc() call paths of one process
    stackcount -P -U c:malloc              user stacks, per process
    stackcount -f t:sched:sched_switch     folded output for a flame graph
    stackcount --flamegraph out.svg c:malloc   write the flame graph directly (+)
    stackcount -d -s t:syscalls:sys_enter_getppid   delimiter, offsets
    stackcount -D 10 -i 2 c:malloc         every 2 s for 10 s
    stackcount -f profile:hz:99 > cpu.folded   a CPU profile of the machine
    stackcount --user-stacks dwarf -p 1234 c:malloc   whole stacks without frame pointers (+)
    stackcount --flamegraph cpu.svg -p 1234 profile:hz:99   of one process (+)
    stackcount ktime_get                   a kernel function (kprobes or fentry)";

/// Count the call stacks that lead to events.
///
/// stackcount attaches to every function, tracepoint or USDT probe that
/// PATTERN matches (the forms funccount takes, perf events and profile
/// timers too: a CPU profiler) and counts the distinct
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
///
/// The kernel walks user stacks by their frame pointers, which Debian's
/// programs and libraries do not keep: such stacks stop after a frame or
/// two. --user-stacks dwarf copies the user registers and the top of the
/// stack (--stack-copy-size bytes) at each event and unwinds them in
/// user space with the CFI (.eh_frame) of the mapped files, as perf's
/// --call-graph dwarf does, so stacks are whole; a stack that unwinding
/// cannot finish ends in a [truncated: ...] frame. auto does that only
/// for the processes in which some mapped file lacks frame pointers.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "stackcount",
    version,
    allow_negative_numbers = true,
    infer_long_args = true
)]
pub struct StackcountArgs {
    #[command(flatten)]
    pub intervals: IntervalArgs,
    /// Trace this CPU only
    #[arg(short = 'c', long = "cpu", value_name = "CPU", value_parser = numbers::unsigned::<u32>, value_hint = ValueHint::Other)]
    pub cpu: Option<u32>,
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
    /// How user stacks are walked: fp (frame pointers, in the kernel),
    /// dwarf (a copy of the stack, unwound from CFI), auto (dwarf where a
    /// mapped file lacks frame pointers) (+)
    #[arg(long = "user-stacks", value_name = "HOW", value_enum, default_value_t = UnwindArg::Fp)]
    pub user_stacks: UnwindArg,
    /// Bytes of user stack copied per event with --user-stacks dwarf or
    /// auto, 8 to 32768, in whole pages from the stack pointer's (+)
    #[arg(long = "stack-copy-size", value_name = "BYTES", default_value_t = DEFAULT_STACK_COPY, value_parser = numbers::unsigned::<u32>, value_hint = ValueHint::Other)]
    pub stack_copy_size: u32,
    /// Bytes of the ring buffer that copied stacks go through, a power of
    /// two holding at least two copies; copies it has no room for are
    /// counted lost (+)
    #[arg(long = "copy-buffer-size", value_name = "BYTES", default_value_t = DEFAULT_COPY_BUFFER, value_parser = numbers::unsigned::<u32>, value_hint = ValueHint::Other)]
    pub copy_buffer_size: u32,
    #[command(flatten)]
    pub common: CommonArgs,
    /// Search expression for events (the forms funccount takes)
    #[arg(value_name = "PATTERN")]
    pub pattern: String,
}

/// --user-stacks' values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UnwindArg {
    Fp,
    Dwarf,
    Auto,
}

impl From<UnwindArg> for UserUnwind {
    fn from(arg: UnwindArg) -> UserUnwind {
        match arg {
            UnwindArg::Fp => UserUnwind::FramePointers,
            UnwindArg::Dwarf => UserUnwind::Dwarf,
            UnwindArg::Auto => UserUnwind::Auto,
        }
    }
}

/// BCC's letter for --duration (-d is the delimiter here).
const DURATION: char = 'D';

pub fn command() -> clap::Command {
    let cmd = StackcountArgs::command().after_help(common::after_help(EXAMPLES));
    let cmd = flags::reword(
        cmd,
        "verbose",
        "Show raw addresses (and, on stderr, the attach plan)",
    );
    flags::duration_letter(cmd, DURATION)
}

impl Tool for StackcountArgs {
    type Session<'obj> = Stackcount<'obj>;
    const NAME: &'static str = "stackcount";

    fn flags(&self) -> Flags<'_> {
        Flags::summaries(&self.common, &self.intervals, DURATION, &self.pattern)
    }

    fn check(&self) -> anyhow::Result<()> {
        common::check_cpu(self.cpu)?;
        if !(1..=MAX_DEPTH).contains(&self.max_depth) {
            return usage(format!("--max-depth must be 1 to {MAX_DEPTH}"));
        }
        if self.stack_storage_size == 0 {
            return usage("--stack-storage-size must be at least 1");
        }
        if !(8..=MAX_STACK_COPY).contains(&self.stack_copy_size) {
            return usage(format!("--stack-copy-size must be 8 to {MAX_STACK_COPY}"));
        }
        let buffer = self.copy_buffer_size;
        if buffer < 4096 || !buffer.is_power_of_two() || buffer > 1 << 30 {
            return usage("--copy-buffer-size must be a power of two from 4096 to 1073741824");
        }
        let two_copies = 2 * copy_record_size(self.stack_copy_size);
        if buffer < two_copies {
            return usage(format!(
                "--copy-buffer-size must hold two copies of the stack: at least {} with --stack-copy-size {}",
                two_copies.next_power_of_two(),
                self.stack_copy_size
            ));
        }
        if self.kernel_stacks_only && self.user_stacks != UnwindArg::Fp {
            return usage("--user-stacks walks user stacks, which -K leaves out: drop one of them");
        }
        match &self.flamegraph {
            Some(path) => check_writable(path),
            None => Ok(()),
        }
    }

    fn show_plan(&self) -> bool {
        self.debug
    }

    fn start<'obj>(
        &self,
        storage: &'obj mut MaybeUninit<OpenObject>,
        setup: &Setup,
    ) -> anyhow::Result<Stackcount<'obj>> {
        let config = StackConfig {
            filters: TaskFilters {
                pid: self.common.pid,
                cpu: self.cpu,
                cgroup: setup.cgroup.clone(),
            },
            kernel: !self.user_stacks_only,
            user: !self.kernel_stacks_only,
            storage_size: self.stack_storage_size,
            max_depth: self.max_depth,
            unwind: self.user_stacks.into(),
            stack_copy: self.stack_copy_size,
            copy_buffer: self.copy_buffer_size,
            attach: setup.attach.clone(),
        };
        let mut symbols = Symbols::default();
        if let Some(pid) = self.common.pid {
            // Its mappings now, while it surely lives: it may exit before
            // its first event is announced (issue 10).
            symbols.remember(pid);
        }
        let counter = StackCounter::start(storage, setup.targets(), &config, &mut symbols)?;
        Ok(Stackcount {
            counter,
            symbols,
            args: self.clone(),
            deltas: Deltas::default(),
            lost_before: 0,
        })
    }
}

/// stackcount's running program, the processes it announced, and what
/// its summaries need.
pub struct Stackcount<'obj> {
    counter: StackCounter<'obj>,
    symbols: Symbols,
    args: StackcountArgs,
    deltas: Deltas<RawStack, u64>,
    lost_before: u64,
}

impl Stackcount<'_> {
    /// -v: what symbolizing skipped (perf maps not read, and why), and
    /// how copied stacks' processes are unwound.
    fn show_notes(&mut self) {
        let notes = self.symbols.take_notes();
        let unwinding = self.counter.take_unwind_notes();
        if self.args.common.verbose {
            notes
                .iter()
                .chain(&unwinding)
                .for_each(|n| say!("stackcount: {n}"));
        }
    }
}

impl Session for Stackcount<'_> {
    fn attached(&self) -> &Attached {
        self.counter.attached()
    }

    fn events_fd(&self) -> Option<RawFd> {
        Some(self.counter.announcements_fd())
    }

    /// Copied stacks wake rtools only as their ring buffer fills: the
    /// rest is taken this often.
    fn poll_every(&self) -> Option<Duration> {
        self.counter
            .copies_stacks()
            .then_some(Duration::from_millis(100))
    }

    /// New processes: read their mappings while they are alive.
    fn take_events(&mut self) -> anyhow::Result<Flow> {
        for pid in self.counter.new_processes() {
            self.symbols.remember(pid);
        }
        self.counter.count_samples(&mut self.symbols, false)?;
        self.show_notes();
        Ok(Flow::Continue)
    }

    fn sweep(&mut self) -> anyhow::Result<()> {
        self.counter.count_samples(&mut self.symbols, true)?;
        self.counter.retire_exited()?;
        Ok(())
    }

    fn summary(&mut self, last: bool) -> anyhow::Result<()> {
        self.counter.count_samples(&mut self.symbols, true)?;
        let totals = self.counter.totals()?;
        let all = (last && self.args.flamegraph.is_some()).then(|| totals.clone());
        let increases = self.deltas.interval(totals);
        let args = &self.args;
        let by_comm = args.folded || args.common.json;
        let rows = symbolized_rows(increases, &mut self.symbols, args.perpid, by_comm);
        let lost = self.counter.lost()?.total();
        // The flame graph is the report: text only where asked for too
        // (-f, --json).
        if args.flamegraph.is_none() || args.folded || args.common.json {
            print_interval(args, &rows, lost - self.lost_before);
        }
        self.lost_before = lost;
        if let (Some(path), Some(all)) = (&args.flamegraph, all) {
            let all = symbolized_rows(
                all.into_iter().collect(),
                &mut self.symbols,
                args.perpid,
                true,
            );
            write_flamegraph(path, &all, args)?;
        }
        Ok(())
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        // Symbolizing may have met more.
        self.show_notes();
        if self.args.common.verbose && self.args.user_stacks != UnwindArg::Fp {
            let all: u64 = self.counter.totals()?.values().sum();
            let copied = self.counter.unwound_from_copies();
            say!(
                "stackcount: {copied} user stacks unwound from copies, {} walked by the kernel",
                all - copied
            );
        }
        report_lost(&self.counter)
    }

    fn stop(&mut self) -> Duration {
        // Kernel frames named while rtools' own BPF programs and
        // trampolines are in kallsyms: they leave it with the links, and
        // the last summary trims them by name.
        if let Ok(totals) = self.counter.totals() {
            let mut addrs: Vec<u64> = totals
                .keys()
                .flat_map(|s| s.kernel.iter().copied())
                .collect();
            addrs.sort_unstable();
            addrs.dedup();
            self.symbols.kernel(&addrs);
        }
        self.counter.stop()
    }

    fn detach(self) -> Duration {
        self.counter.detach()
    }
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
                    None => {
                        let mut frames = user_frames(symbols, &stack, &user, inserted);
                        frames.extend(stack.user_end.map(|end| Frame::unknown(0).named(end)));
                        frames
                    }
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
    let mut frames = symbols.user_in_image(stack.tgid, stack.execs, user);
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
