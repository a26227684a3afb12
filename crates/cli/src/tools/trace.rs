//! trace: a line per event, with arguments, filtered in the kernel (BCC's
//! trace, with no compiler at run time: rtools-core compiles predicates
//! and formats to BPF, rtools-bpf loads them).

use std::cell::RefCell;
use std::collections::HashMap;
use std::mem::MaybeUninit;
use std::os::fd::RawFd;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use clap::{CommandFactory, Parser, ValueHint};
use rtools_bpf::attach::Attached;
use rtools_bpf::symbol_files::SymbolFiles;
use rtools_bpf::symbolize::Symbols;
use rtools_bpf::trace::{Probe, TraceConfig, TraceStartError, Tracer};
use rtools_bpf::OpenObject;
use rtools_core::render::trace_text::{self, Columns, TimeColumn};
use rtools_core::stacks::{self, Frame};
use rtools_core::trace::codegen::{Collect, POLL_MS};
use rtools_core::trace::event::{Collected, Record};
use rtools_core::trace::format::{ConvKind, Value};
use rtools_core::trace::parsed::Parsed;
use serde_json::json;

use crate::error::usage;
use crate::flags::{self, CommonArgs};
use crate::numbers;
use crate::output::{self, say};
use crate::pipeline::{Flags, Flow, Session, Setup, Tool};
use crate::tools::common;

const EXAMPLES: &str = "\
Examples:
    trace do_sys_openat2                   every call of a kernel function
    trace 'do_sys_openat2 \"%s\", filename'  its filename argument, named by BTF (+)
    trace 'r::do_sys_openat2 \"%d\", retval' what it returned
    trace 'c:malloc \"size = %d\", arg1'      libc's malloc, and how much
    trace 'c:open (arg2 == 42) \"%s %d\", arg1, arg2'   only calls with flags 42
    trace 'r:c:malloc (retval) \"allocated = %x\", retval'
    trace 't:syscalls:sys_enter_openat \"%s\", args->filename'
    trace 't:sched:sched_process_exec \"%s\", args->filename'   a __data_loc string
    trace 'u:/usr/bin/python3:function__entry \"%s\", arg2'    a USDT probe's arguments
    trace -p 1234 -M 10 'c:write (arg1 == 1) \"%d bytes\", arg3'
    trace -U 'c:malloc (arg1 > 4096)'      with the user stack
    trace --json 'c:free'                  one JSON object per event (+)";

/// Print a line for each event, with arguments.
///
/// trace attaches to every PROBE and prints a line for each event that
/// passes its predicate: PID, TID, COMM, FUNC and the message its format
/// makes of the arguments, as BCC's trace prints them. Predicates and
/// argument reads run in the kernel: rtools compiles them to BPF
/// instructions when it starts (no C compiler, no LLVM, no kernel
/// headers), so an event whose predicate is false never leaves the
/// kernel. Events go through a BPF ring buffer (-b); events that find it
/// full are counted and reported, never silently dropped.
///
/// PROBE is [p:|r:][LIB]:FUNC[+OFFSET][(SIGNATURE)] [(PREDICATE)]
/// ["FORMAT"[, ARG...]], or t:CATEGORY:EVENT or u:LIB[:PROVIDER]:PROBE
/// with the same predicate and format, or a bpftrace probe (kprobe:,
/// uprobe:, tracepoint:, usdt:, ...). A bare FUNC is a kernel function,
/// LIB:FUNC a user one. Values: arg1..arg6, retval (r: probes), $pid
/// (the thread id, as BCC), $tgid, $uid, $gid, $cpu, $comm (+); a
/// tracepoint's fields as args->NAME (__data_loc strings too, from its
/// tracefs format file); a USDT probe's arguments as arg1..; a kernel
/// function's parameters by name, from BTF (+); casts (int), (u8)..(u64),
/// (s8)..(s64), (bool), (char *), (int *) and other integer pointers; C's
/// operators, `?:` included. Strings compare with STRCMP("lit", e) or
/// str(e) == "lit"; with -B, STRCMP("{0x6c, 0, 0, 0}", e) compares bytes.
/// A signature's types are C's integers and pointers, and at kernel
/// functions the types the kernel's BTF names (ktime_t, enum pid_type).
/// FUNC+OFFSET probes inside a kernel function (a kprobe) or a user one.
/// Formats take %d %i %u %x %X %o %c %s %p with h, hh, l, ll, widths,
/// precisions and flags, rendered as glibc's printf renders them (bytes:
/// %s and %c write what they read), and %K and %U for kernel and user
/// symbols.
///
/// Expressions compute what C computes (trace's tests compare them with
/// gcc's): argN and retval are unsigned long, as in BCC; narrower types
/// are promoted to int and operands brought to a common type by C's usual
/// arithmetic conversions; int and unsigned int arithmetic wraps at 32
/// bits; literals take C's types (0xffffffff is an unsigned int, 1 << 31
/// an int; U, L, UL, LL suffixes); signed division truncates toward zero;
/// *(T *)p reads a T. Where C leaves a result undefined, trace says what
/// it does: signed overflow wraps, as with gcc -fwrapv; x / 0 is 0 and
/// x % 0 is x (BPF's rules); a constant shift count at or past the width
/// of the left side's type is refused, and a computed one is taken modulo
/// 64. A bare *p of an argument that is no typed pointer reads 8 bytes.
///
/// Differences from BCC's trace, on purpose: STRCMP("ab", s) is exact
/// equality (BCC's compares only the literal's length, a prefix match);
/// e == "lit" compares strings where BCC would compare pointers; a pointer
/// that cannot be read reads as the empty string, so it equals "". A -B
/// byte list matches as many bytes as it holds (BCC's compares one fewer).
/// A tracepoint probe that reads no args-> field attaches as a raw
/// tracepoint, which detaches at once.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "trace",
    version,
    allow_negative_numbers = true,
    infer_long_args = true
)]
pub struct TraceArgs {
    /// Pages of ring buffer for the events
    #[arg(short = 'b', long = "buffer-pages", value_name = "PAGES", default_value_t = 64, value_parser = numbers::unsigned::<u32>, value_hint = ValueHint::Other)]
    pub pages: u32,
    /// Trace this thread only
    #[arg(short = 'L', long = "tid", value_name = "TID", conflicts_with = "pid", value_parser = numbers::unsigned::<u32>, value_hint = ValueHint::Other)]
    pub tid: Option<u32>,
    /// Trace this user only
    #[arg(long = "uid", value_name = "UID", value_parser = numbers::unsigned::<u32>, value_hint = ValueHint::Other)]
    pub uid: Option<u32>,
    /// Bytes read of each string
    #[arg(short = 'Z', long = "string-size", value_name = "SIZE", default_value_t = 80, value_parser = numbers::unsigned::<usize>, value_hint = ValueHint::Other)]
    pub string_size: usize,
    /// Trace trace's own events too
    #[arg(short = 'S', long = "include-self")]
    pub include_self: bool,
    /// STRCMP's literal may be a C list of bytes, STRCMP("{0x6c, 0, 0, 0}",
    /// arg4): memory compared byte by byte, NULs included
    #[arg(short = 'B', long = "bin_cmp")]
    pub bin_cmp: bool,
    /// Name user frames from these ELF files (separated by commas) where a
    /// mapped file has the same build id: an unstripped copy, a debug file
    #[arg(short = 's', long = "sym_file_list", value_name = "FILES", value_hint = ValueHint::FilePath)]
    pub sym_file_list: Option<String>,
    /// Exit after printing this many events
    #[arg(short = 'M', long = "max-events", value_name = "N", value_parser = numbers::unsigned::<u64>, value_hint = ValueHint::Other)]
    pub max_events: Option<u64>,
    /// Print a time column: seconds since tracing started
    #[arg(short = 't', long = "timestamp")]
    pub timestamp: bool,
    /// With -t: seconds since the epoch instead
    #[arg(short = 'u', long = "unix-timestamp", requires = "timestamp")]
    pub unix_timestamp: bool,
    /// Print a time column: the clock, HH:MM:SS
    #[arg(short = 'T', long = "time")]
    pub time: bool,
    /// Print the CPU
    #[arg(short = 'C', long = "print_cpu")]
    pub print_cpu: bool,
    /// Print events only of processes whose name contains NAME
    #[arg(short = 'n', long = "name", value_name = "NAME")]
    pub name: Option<String>,
    /// Print events only whose message contains MSG
    #[arg(short = 'f', long = "msg-filter", value_name = "MSG")]
    pub msg_filter: Option<String>,
    /// Print the kernel stack of each event
    #[arg(short = 'K', long = "kernel-stack")]
    pub kernel_stack: bool,
    /// Print the user stack of each event
    #[arg(short = 'U', long = "user-stack")]
    pub user_stack: bool,
    /// Print addresses in stacks
    #[arg(short = 'a', long = "address")]
    pub address: bool,
    /// Accepted for BCC's command lines: rtools needs no headers (types
    /// come from BTF and tracefs)
    #[arg(short = 'I', long = "include", value_name = "HEADER")]
    pub include: Vec<String>,
    /// Count identical events and print them with their counts at the end
    /// (needs -M)
    #[arg(short = 'A', long = "aggregate", requires = "max_events")]
    pub aggregate: bool,
    /// Trace for this many seconds (+)
    #[arg(short = 'd', long = "duration", value_name = "SECONDS", value_parser = numbers::unsigned::<u64>, value_hint = ValueHint::Other)]
    pub duration: Option<u64>,
    #[command(flatten)]
    pub common: CommonArgs,
    /// Probe specifiers: SPEC [(PREDICATE)] ["FORMAT", ARG...] (trace --help describes them)
    #[arg(value_name = "PROBE", required = true, num_args = 1..)]
    pub probes: Vec<String>,
}

/// The most -Z allows: records stay small.
const MAX_STRING: usize = 4096;
/// The most -b allows (pages): 1 GiB at 4 KiB pages.
const MAX_PAGES: u32 = 1 << 18;

pub fn command() -> clap::Command {
    let cmd = TraceArgs::command().after_help(common::after_help(EXAMPLES));
    let cmd = cmd.mut_arg("cgroup", |a| a.short('c').visible_alias("cgroup-path"));
    let cmd = flags::reword(
        cmd,
        "verbose",
        "Print the compiled BPF programs, the attach plan and libbpf's messages",
    );
    flags::reword(cmd, "json", "One JSON object per event on stdout (+)")
}

impl Tool for TraceArgs {
    type Session<'obj> = Trace;
    const NAME: &'static str = "trace";

    fn summarizes(&self) -> bool {
        self.aggregate
    }

    fn flags(&self) -> Flags<'_> {
        Flags {
            common: &self.common,
            interval: None,
            duration: (self.duration, 'd'),
            regexp: false,
            patterns: self.parsed().into_iter().map(|p| p.text.spec).collect(),
            listen: None,
        }
    }

    fn check(&self) -> anyhow::Result<()> {
        if !(1..=MAX_STRING).contains(&self.string_size) {
            return usage(format!("-Z/--string-size must be 1 to {MAX_STRING}"));
        }
        if !self.pages.is_power_of_two() || self.pages > MAX_PAGES {
            return usage(format!(
                "-b/--buffer-pages must be a power of two, 1 to {MAX_PAGES} (the ring buffer's size)"
            ));
        }
        if self.max_events == Some(0) {
            return usage("-M/--max-events must be at least 1");
        }
        for raw in &self.probes {
            Parsed::new(raw)?;
        }
        if let Err(e) = self.symbol_files() {
            return usage(e);
        }
        if !self.include.is_empty() {
            say!("trace: note: -I is not needed: rtools reads types from BTF and tracefs, not headers");
        }
        Ok(())
    }

    /// trace's object is made from generated code: the storage for a
    /// skeleton's goes unused.
    fn start(
        &self,
        _storage: &mut MaybeUninit<OpenObject>,
        setup: &Setup,
    ) -> anyhow::Result<Trace> {
        let parsed = self.parsed();
        let probes: Vec<Probe<'_>> = parsed
            .iter()
            .zip(&setup.probes)
            .map(|(parsed, r)| Probe {
                parsed,
                spec: &r.spec,
                targets: &r.targets,
            })
            .collect();
        let config = TraceConfig {
            pid: self.common.pid,
            tid: self.tid,
            uid: self.uid,
            include_self: self.include_self,
            cgroup: setup.cgroup.clone(),
            string_size: self.string_size,
            kernel_stack: self.kernel_stack,
            user_stack: self.user_stack,
            pages: self.pages,
            attach: setup.attach.clone(),
            tracefs: rtools_core::targets::tracefs::find_tracefs(),
            collect: Collect {
                uid: self.common.json,
                cpu: self.print_cpu || self.common.json,
                time: self.timestamp || self.common.json,
            },
        };
        let printer = Rc::new(RefCell::new(Printer::new(self, &parsed)));
        let shared = Rc::clone(&printer);
        let tracer = Tracer::start(&probes, &config, move |bytes| {
            shared.borrow_mut().record(bytes);
            0
        })
        .map_err(|e| match e {
            TraceStartError::Probe(p) => anyhow::Error::from(p),
            TraceStartError::Bpf(b) => anyhow::Error::from(b),
        })?;
        printer.borrow_mut().groups = tracer
            .groups
            .iter()
            .map(|g| (g.probe, g.names.iter().map(|n| display_name(n)).collect()))
            .collect();
        printer.borrow_mut().layouts = tracer.layouts.clone();
        if self.common.verbose {
            for (name, insns) in &tracer.listing {
                say!("trace: program {name}, {} instructions:", insns.len());
                for (i, insn) in insns.iter().enumerate() {
                    say!("trace:   {i:4}: {insn}");
                }
            }
        }
        if !self.common.json {
            let cols = printer.borrow().cols;
            let any_format = parsed.iter().any(Parsed::has_format);
            output::stdout(&trace_text::header(&cols, any_format));
        }
        Ok(Trace {
            tracer,
            printer,
            lost_reported: 0,
        })
    }
}

impl TraceArgs {
    /// The probes, read (they parsed in check()).
    fn parsed(&self) -> Vec<Parsed> {
        self.probes
            .iter()
            .filter_map(|raw| Parsed::new(raw).ok())
            .map(|p| Parsed {
                byte_lists: self.bin_cmp,
                ..p
            })
            .collect()
    }

    /// `-s`'s files, their build ids read.
    fn symbol_files(&self) -> Result<SymbolFiles, String> {
        let list = self.sym_file_list.as_deref().unwrap_or("");
        let paths = list.split(',').filter(|p| !p.is_empty()).map(Path::new);
        SymbolFiles::new(paths).map_err(|e| format!("-s/--sym_file_list: {e}"))
    }
}

/// The name FUNC shows: the event of a tracepoint, as BCC.
fn display_name(target: &str) -> String {
    target.rsplit(':').next().unwrap_or(target).to_string()
}

/// trace's running programs, and the printer the ring buffer feeds.
pub struct Trace {
    tracer: Tracer,
    printer: Rc<RefCell<Printer>>,
    lost_reported: u64,
}

impl Session for Trace {
    fn attached(&self) -> &Attached {
        self.tracer.attached()
    }

    fn events_fd(&self) -> Option<RawFd> {
        Some(self.tracer.events_fd())
    }

    fn poll_every(&self) -> Option<Duration> {
        Some(Duration::from_millis(POLL_MS))
    }

    fn take_events(&mut self) -> anyhow::Result<Flow> {
        self.tracer.take()?;
        let mut p = self.printer.borrow_mut();
        p.flush();
        Ok(if p.done { Flow::Stop } else { Flow::Continue })
    }

    /// Every second: events lost since the last look.
    fn sweep(&mut self) -> anyhow::Result<()> {
        let lost = self.tracer.lost()?;
        if lost > self.lost_reported {
            say!("Lost {} events", lost - self.lost_reported);
            self.lost_reported = lost;
        }
        Ok(())
    }

    fn summary(&mut self, _last: bool) -> anyhow::Result<()> {
        // What is still in the ring buffer, unless -M was met.
        if !self.printer.borrow().done {
            self.tracer.take()?;
        }
        let mut p = self.printer.borrow_mut();
        p.flush();
        p.print_aggregate();
        Ok(())
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        let lost = self.tracer.lost()?;
        if lost > 0 {
            say!(
                "trace: {lost} events lost: the ring buffer was full (raise -b, now {} pages)",
                self.printer.borrow().pages
            );
        }
        Ok(())
    }

    fn stop(&mut self) -> Duration {
        self.tracer.stop()
    }

    fn detach(self) -> Duration {
        self.tracer.detach()
    }
}

/// Turns records into lines (or JSON), in a buffer written out once per
/// batch of records.
struct Printer {
    /// Per group: its probe and its targets' names by slot.
    groups: Vec<(usize, Vec<String>)>,
    layouts: Vec<rtools_core::trace::event::Layout>,
    formats: Vec<rtools_core::trace::format::Format>,
    raws: Vec<String>,
    cols: Columns,
    json: bool,
    addresses: bool,
    kernel_stack: bool,
    user_stack: bool,
    name: Option<String>,
    msg_filter: Option<String>,
    max: Option<u64>,
    printed: u64,
    done: bool,
    /// -A: identical events, counted.
    aggregate: Option<HashMap<Vec<u8>, u64>>,
    symbols: Symbols,
    /// CLOCK_MONOTONIC and the epoch when tracing started.
    start_ns: u64,
    start_unix: f64,
    pages: u32,
    /// The message being rendered, kept between records.
    msg: Vec<u8>,
    /// Lines not written out yet.
    out: Vec<u8>,
}

impl Printer {
    fn new(args: &TraceArgs, parsed: &[Parsed]) -> Printer {
        let time = if args.timestamp && args.unix_timestamp {
            Some(TimeColumn::Unix)
        } else if args.timestamp {
            Some(TimeColumn::SinceStart)
        } else if args.time {
            Some(TimeColumn::Clock)
        } else {
            None
        };
        Printer {
            groups: Vec::new(),
            layouts: Vec::new(),
            formats: parsed.iter().map(|p| p.format.clone()).collect(),
            raws: parsed.iter().map(|p| p.raw.clone()).collect(),
            cols: Columns {
                time,
                cpu: args.print_cpu,
            },
            json: args.common.json,
            addresses: args.address,
            kernel_stack: args.kernel_stack,
            user_stack: args.user_stack,
            name: args.name.clone(),
            msg_filter: args.msg_filter.clone(),
            max: args.max_events,
            printed: 0,
            done: false,
            aggregate: args.aggregate.then(HashMap::new),
            symbols: symbols_of(
                args.common.pid.filter(|_| args.user_stack),
                args.symbol_files().unwrap_or_default(),
            ),
            start_ns: monotonic_ns(),
            start_unix: output::now().1,
            pages: args.pages,
            msg: Vec::new(),
            out: Vec::new(),
        }
    }

    fn record(&mut self, bytes: &[u8]) {
        if self.done {
            return;
        }
        let r = Record { bytes };
        // Split borrows: names and formats are read while symbols and
        // the output buffers change.
        let Printer {
            groups,
            layouts,
            formats,
            symbols,
            msg,
            out,
            ..
        } = self;
        let Some((probe, names)) = groups.get(r.probe() as usize) else {
            return;
        };
        let slot = r.slot() as usize;
        let func = names.get(slot).map_or("[unknown slot]", String::as_str);
        let comm = String::from_utf8_lossy(r.comm());
        if self
            .name
            .as_ref()
            .is_some_and(|n| !comm.contains(n.as_str()))
        {
            return;
        }
        let layout = &layouts[*probe];
        let format = &formats[*probe];
        let values: Vec<Value<'_>> = format
            .convs()
            .zip(r.values_iter(layout))
            .map(|(conv, v)| match (conv.kind, v) {
                (_, Collected::Str(s)) => Value::Text(s.into()),
                (ConvKind::KernelSym, Collected::Num(a)) => Value::text(kernel_symbol(symbols, a)),
                (ConvKind::UserSym, Collected::Num(a)) => {
                    Value::text(user_symbol(symbols, r.tgid(), a))
                }
                (_, Collected::Num(n)) => Value::Num(n),
            })
            .collect();
        msg.clear();
        format.render_into(&values, msg);
        if self
            .msg_filter
            .as_ref()
            .is_some_and(|m| !contains(msg, m.as_bytes()))
        {
            return;
        }
        let stacks = Stacks {
            kernel: self
                .kernel_stack
                .then(|| r.kernel_stack(layout).map(|a| kernel_frames(symbols, &a))),
            user: self.user_stack.then(|| {
                r.user_stack(layout)
                    .map(|a| user_frames(symbols, r.tgid(), &a))
            }),
        };
        let since = r.time_ns().saturating_sub(self.start_ns) as f64 / 1e9;
        let event = Event {
            r,
            since,
            comm: &comm,
            func,
            probe: &self.raws[*probe],
            message: msg,
            values: &values,
            stacks: &stacks,
        };
        // -A counts whole lines; otherwise they go straight to the buffer.
        let mut line = Vec::new();
        let into = if self.aggregate.is_some() {
            &mut line
        } else {
            out
        };
        if self.json {
            json_line(&event, self.start_unix, into);
        } else {
            text_line(&event, &self.cols, self.start_unix, self.addresses, into);
        }
        if let Some(counts) = &mut self.aggregate {
            *counts.entry(line).or_insert(0) += 1;
        }
        self.printed += 1;
        if self.max.is_some_and(|m| self.printed >= m) {
            self.done = true;
        }
    }

    /// Writes what the records made.
    fn flush(&mut self) {
        if !self.out.is_empty() {
            output::stdout_bytes(&self.out);
            self.out.clear();
        }
    }

    /// -A: each distinct event with its count, the most frequent first.
    fn print_aggregate(&mut self) {
        let Some(counts) = self.aggregate.take() else {
            return;
        };
        let mut counts: Vec<(Vec<u8>, u64)> = counts.into_iter().collect();
        counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let mut out = Vec::new();
        for (mut line, n) in counts {
            // BCC's layout: the line (and its stacks), then the count; no
            // blank line between.
            while line.last() == Some(&b'\n') {
                line.pop();
            }
            out.extend_from_slice(&line);
            out.extend_from_slice(format!("\n-->COUNT {n}\n\n").as_bytes());
        }
        output::stdout_bytes(&out);
    }
}

/// An event, decoded: what its line or JSON object shows.
struct Event<'a> {
    r: Record<'a>,
    /// Seconds since tracing started.
    since: f64,
    comm: &'a str,
    func: &'a str,
    /// The probe as typed.
    probe: &'a str,
    message: &'a [u8],
    values: &'a [Value<'a>],
    stacks: &'a Stacks,
}

/// An event's stacks, as frames (address, name), where asked for; an
/// error code where the kernel could not take one.
struct Stacks {
    kernel: Option<Result<Vec<(u64, String)>, i32>>,
    user: Option<Result<Vec<(u64, String)>, i32>>,
}

/// BCC's line, and the stacks below it.
fn text_line(e: &Event<'_>, cols: &Columns, start_unix: f64, addresses: bool, out: &mut Vec<u8>) {
    let time = cols.time.map_or(String::new(), |col| {
        trace_text::time_text(col, &output::now().0, e.since, start_unix + e.since)
    });
    let line = trace_text::Line {
        time: &time,
        cpu: e.r.cpu(),
        tgid: e.r.tgid(),
        tid: e.r.tid(),
        comm: e.comm,
        func: e.func,
        message: e.message,
    };
    trace_text::line(cols, &line, out);
    let stacks = [&e.stacks.kernel, &e.stacks.user];
    for frames in stacks.iter().copied().flatten() {
        trace_text::stack(frames.as_deref().map_err(|&c| c), addresses, out);
    }
    if stacks.iter().any(|s| s.is_some()) {
        out.push(b'\n');
    }
}

/// One JSON object, on its line (JSON is text: bytes that are no UTF-8
/// become U+FFFD).
fn json_line(e: &Event<'_>, start_unix: f64, out: &mut Vec<u8>) {
    let stack = |s: &Option<Result<Vec<(u64, String)>, i32>>| match s {
        None => serde_json::Value::Null,
        Some(Ok(frames)) => frames
            .iter()
            .map(|(addr, name)| json!({"addr": addr, "name": name}))
            .collect(),
        Some(Err(code)) => json!({"error": code}),
    };
    let values: Vec<serde_json::Value> = e
        .values
        .iter()
        .map(|v| match v {
            Value::Num(n) => json!(n),
            Value::Text(t) => json!(String::from_utf8_lossy(t)),
        })
        .collect();
    let v = json!({
        "time": output::now().0,
        "timestamp": start_unix + e.since,
        "seconds": e.since,
        "cpu": e.r.cpu(),
        "pid": e.r.tgid(),
        "tid": e.r.tid(),
        "uid": e.r.uid(),
        "comm": e.comm,
        "func": e.func,
        "probe": e.probe,
        "message": String::from_utf8_lossy(e.message),
        "values": values,
        "kernel_stack": stack(&e.stacks.kernel),
        "user_stack": stack(&e.stacks.user),
    });
    out.extend_from_slice(v.to_string().as_bytes());
    out.push(b'\n');
}

/// Kernel frames, BCC's `name+0xoff [kernel]`, from the probed function
/// or the tracepoint's caller down (the frames of rtools' program and what
/// runs it, at a raw tracepoint or a trampoline, left out).
fn kernel_frames(symbols: &mut Symbols, addrs: &[u64]) -> Vec<(u64, String)> {
    let mut frames = symbols.kernel(addrs);
    stacks::trim_bpf_frames(&mut frames);
    frames
        .into_iter()
        .map(|f| (f.addr, format!("{} [kernel]", with_offset(&f))))
        .collect()
}

/// BCC's `name+0xoff` (the name alone where the offset is unknown).
fn with_offset(f: &Frame) -> String {
    match f.offset {
        Some(off) => format!("{}+0x{off:x}", f.name),
        None => f.name.clone(),
    }
}

/// The symbolizer; with `-p` and user stacks, the process's mappings
/// read now, while it surely lives: it may exit before its first record
/// is read, and its frames would print as [unknown].
fn symbols_of(pid: Option<u32>, files: SymbolFiles) -> Symbols {
    let mut symbols = Symbols::default();
    symbols.use_symbol_files(files);
    if let Some(pid) = pid {
        symbols.remember(pid);
    }
    symbols
}

/// User frames of process `pid`, BCC's `name+0xoff [file]`.
fn user_frames(symbols: &mut Symbols, pid: u32, addrs: &[u64]) -> Vec<(u64, String)> {
    addrs
        .iter()
        .map(|&a| (a, user_symbol(symbols, pid, a)))
        .collect()
}

/// `%K`: the kernel function at `addr`, BCC's `name+0xoff`.
fn kernel_symbol(symbols: &mut Symbols, addr: u64) -> String {
    with_offset(&symbols.kernel(&[addr])[0])
}

/// `%U`: the user function at `addr` in process `pid`, with its file:
/// BCC's `name+0xoff [file]`.
fn user_symbol(symbols: &mut Symbols, pid: u32, addr: u64) -> String {
    let name = with_offset(&symbols.user(pid, &[addr])[0]);
    match symbols.user_module(pid, addr) {
        Some(module) => format!("{name} [{module}]"),
        None => name,
    }
}

/// Whether `needle` occurs in `haystack` (-f on a message's bytes).
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// CLOCK_MONOTONIC now, as bpf_ktime_get_ns() counts.
fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the call.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
