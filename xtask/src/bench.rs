//! `cargo xtask bench`: rtools against the floor (an empty BPF program on
//! the same probe), bpftrace and, where it runs, BCC, on the same
//! workloads in one run. Tools are interleaved over rounds; the table
//! shows medians (and minima) and ratios within this run only.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// One tracer configuration on one workload.
pub(crate) struct Tool {
    pub(crate) name: &'static str,
    /// None: the workload alone.
    pub(crate) argv: Option<Vec<String>>,
    /// How to find the event count in the tracer's output, if it prints one.
    pub(crate) count: Option<fn(&str) -> Option<u64>>,
}

pub(crate) struct Scenario {
    pub(crate) name: &'static str,
    /// testprog mode and count; with `two_cpus`, one process per CPU.
    pub(crate) mode: Vec<String>,
    pub(crate) events: u64,
    pub(crate) two_cpus: bool,
    pub(crate) tools: Vec<Tool>,
}

struct Measurement {
    elapsed_ns: u64,
    count: Option<u64>,
    peak_rss_kb: u64,
}

pub(crate) fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

pub(crate) fn bpftrace(program: &str) -> Vec<String> {
    s(&["bpftrace", "-e", program])
}

/// BCC 0.26's get_tracepoints() returns str where its tools expect bytes
/// (they crash on tracepoint patterns); this wrapper converts the names and
/// then runs the tool.
const BCC_WRAPPER: &str = r#"import runpy, sys
from bcc import BPF
_get = BPF.get_tracepoints
BPF.get_tracepoints = staticmethod(
    lambda pattern: [t if isinstance(t, bytes) else t.encode() for t in _get(pattern)])
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"#;

/// How to run BCC's tools here, or why they cannot run.
fn bcc_available() -> Result<PathBuf, String> {
    if std::env::var_os("BCC_KERNEL_SOURCE").is_none() {
        return Err("BCC_KERNEL_SOURCE is not set (scripts/bench.sh sets it up)".into());
    }
    if !Path::new("/usr/sbin/funccount-bpfcc").exists() {
        return Err("bpfcc-tools is not installed".into());
    }
    let wrapper = std::env::temp_dir().join("rtools-bench-bcc.py");
    std::fs::write(&wrapper, BCC_WRAPPER).map_err(|e| e.to_string())?;
    Ok(wrapper)
}

/// `/usr/bin/python3 -u WRAPPER /usr/sbin/TOOL-bpfcc ARGS`: Debian's python3,
/// which has the bcc module (a pyenv python3 on PATH does not).
pub(crate) fn bcc(wrapper: &Option<PathBuf>, tool: &str, args: &[&str]) -> Option<Vec<String>> {
    let wrapper = wrapper.as_ref()?;
    let mut v = vec![
        "/usr/bin/python3".to_string(),
        "-u".into(),
        wrapper.display().to_string(),
    ];
    v.push(format!("/usr/sbin/{tool}-bpfcc"));
    v.extend(s(args));
    Some(v)
}

/// Sum of every `: N` at the end of a line (bpftrace maps), or of the
/// `name N` rows of an rtools table.
pub(crate) fn sum_trailing_numbers(out: &str) -> Option<u64> {
    let total = out
        .lines()
        .filter_map(|l| l.trim_end().rsplit([' ', '\t']).next()?.parse::<u64>().ok())
        .sum::<u64>();
    (total > 0).then_some(total)
}

/// `count: N` of funclatency's summary, or the sum of bpftrace hist rows
/// (`[a, b)   N |@@@|`).
fn latency_count(out: &str) -> Option<u64> {
    if let Some(line) = out.lines().find(|l| l.starts_with("avg = ")) {
        return line.rsplit(' ').next()?.parse().ok();
    }
    let total = out
        .lines()
        .filter(|l| l.starts_with('[') && l.contains('|'))
        .filter_map(|l| {
            l.split(')')
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum::<u64>();
    (total > 0).then_some(total)
}

fn scenarios(rtools: &Path, testprog: &Path, bcc_wrapper: &Option<PathBuf>) -> Vec<Scenario> {
    let rt = |args: &[&str]| {
        let mut v = vec![rtools.display().to_string()];
        v.extend(s(args));
        Some(v)
    };
    let prog = testprog.display().to_string();
    let uprobe = format!("{prog}:rtools_test_one");
    let bt_uprobe = format!("uprobe:{prog}:rtools_test_one");
    let none = || Tool {
        name: "none",
        argv: None,
        count: None,
    };
    let tool = |name, argv, count| Tool { name, argv, count };
    let getcpu = "tracepoint:syscalls:sys_enter_getcpu";
    let count_tools = || -> Vec<Tool> {
        vec![
            none(),
            tool("floor", Some(bpftrace(&format!("{getcpu} {{ }}"))), None),
            tool(
                "bpftrace",
                Some(bpftrace(&format!("{getcpu} {{ @ = count(); }}"))),
                Some(sum_trailing_numbers),
            ),
            tool(
                "bcc",
                bcc(bcc_wrapper, "funccount", &["t:syscalls:sys_enter_getcpu"]),
                Some(sum_trailing_numbers),
            ),
            tool(
                "rtools",
                rt(&["funccount", "t:syscalls:sys_enter_getcpu"]),
                Some(sum_trailing_numbers),
            ),
            // The same, serving Prometheus and scraped every 100 ms.
            tool(
                "rt+scrape",
                rt(&[
                    "funccount",
                    "--listen",
                    &crate::bench_exporter::free_addr().to_string(),
                    "t:syscalls:sys_enter_getcpu",
                ]),
                Some(sum_trailing_numbers),
            ),
        ]
    };
    vec![
        Scenario {
            name: "funccount tracepoint, 1 CPU",
            mode: s(&["getcpu", "2000000"]),
            events: 2_000_000,
            two_cpus: false,
            tools: count_tools(),
        },
        Scenario {
            name: "funccount tracepoint, 2 CPUs",
            mode: s(&["getcpu", "1000000"]),
            events: 2_000_000,
            two_cpus: true,
            tools: count_tools(),
        },
        // An ordinary tracepoint, which rtools attaches as a raw
        // tracepoint; the floor and the peers take the perf path.
        Scenario {
            name: "funccount task_rename (raw tracepoint)",
            mode: s(&["comms", "300000"]),
            events: 300_000,
            two_cpus: false,
            tools: vec![
                none(),
                tool("floor", Some(bpftrace("tracepoint:task:task_rename { }")), None),
                tool(
                    "bpftrace",
                    Some(bpftrace("tracepoint:task:task_rename { @ = count(); }")),
                    Some(sum_trailing_numbers),
                ),
                tool("bcc", bcc(bcc_wrapper, "funccount", &["t:task:task_rename"]), Some(sum_trailing_numbers)),
                tool("rtools", rt(&["funccount", "t:task:task_rename"]), Some(sum_trailing_numbers)),
            ],
        },
        Scenario {
            name: "funccount uprobe",
            mode: s(&["funcs", "300000", "0", "0"]),
            events: 300_000,
            two_cpus: false,
            tools: vec![
                none(),
                tool("floor", Some(bpftrace(&format!("{bt_uprobe} {{ }}"))), None),
                tool("bpftrace", Some(bpftrace(&format!("{bt_uprobe} {{ @ = count(); }}"))), Some(sum_trailing_numbers)),
                tool("bcc", bcc(bcc_wrapper, "funccount", &[&uprobe]), Some(sum_trailing_numbers)),
                tool("rtools", rt(&["funccount", &uprobe]), Some(sum_trailing_numbers)),
            ],
        },
        Scenario {
            name: "funccount malloc",
            mode: s(&["malloc", "300000"]),
            events: 300_000,
            two_cpus: false,
            tools: vec![
                none(),
                tool("floor", Some(bpftrace("uprobe:libc:malloc { }")), None),
                tool("bpftrace", Some(bpftrace("uprobe:libc:malloc { @ = count(); }")), None),
                tool("bcc", bcc(bcc_wrapper, "funccount", &["c:malloc"]), None),
                tool("rtools", rt(&["funccount", "c:malloc"]), None),
            ],
        },
        Scenario {
            name: "stackcount tracepoint",
            mode: s(&["getcpu", "300000"]),
            events: 300_000,
            two_cpus: false,
            tools: vec![
                none(),
                tool("floor", Some(bpftrace(&format!("{getcpu} {{ }}"))), None),
                tool(
                    "bpftrace",
                    Some(bpftrace(&format!("{getcpu} {{ @[kstack, ustack] = count(); }}"))),
                    None,
                ),
                tool("bcc", bcc(bcc_wrapper, "stackcount", &["t:syscalls:sys_enter_getcpu"]), None),
                tool("rtools", rt(&["stackcount", "t:syscalls:sys_enter_getcpu"]), None),
            ],
        },
        Scenario {
            name: "funclatency uprobe+uretprobe",
            mode: s(&["funcs", "200000", "0", "0"]),
            events: 200_000,
            two_cpus: false,
            tools: vec![
                none(),
                tool("floor", Some(bpftrace(&format!("{bt_uprobe} {{ }} u{} {{ }}", bt_uprobe.replacen("uprobe", "retprobe", 1)))), None),
                tool(
                    "bpftrace",
                    Some(bpftrace(&format!(
                        "{bt_uprobe} {{ @s[tid] = nsecs; }} u{} /@s[tid]/ {{ @ = hist(nsecs - @s[tid]); delete(@s[tid]); }}",
                        bt_uprobe.replacen("uprobe", "retprobe", 1)
                    ))),
                    Some(latency_count),
                ),
                tool("bcc", bcc(bcc_wrapper, "funclatency", &[&uprobe]), Some(latency_count)),
                tool("rtools", rt(&["funclatency", &uprobe]), Some(latency_count)),
            ],
        },
    ]
}

/// Starts a tracer and returns once it is attached, with a thread that
/// collects what it prints from then on.
pub(crate) fn start_tracer(argv: &[String]) -> Result<(Child, thread::JoinHandle<String>)> {
    let mut command = Command::new(&argv[0]);
    // SAFETY: signal() is async-signal-safe; it runs between fork and exec.
    unsafe {
        command.pre_exec(|| {
            // Started from a background shell, SIGINT may be ignored and the
            // ignoring inherited: Python tools would never see Ctrl-C.
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            Ok(())
        });
    }
    let mut child = command
        .args(&argv[1..])
        .env("BPFTRACE_MAX_MAP_KEYS", "100000")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", argv[0]))?;
    let (tx, rx) = mpsc::channel();
    for stream in [
        Box::new(child.stderr.take().unwrap()) as Box<dyn Read + Send>,
        Box::new(child.stdout.take().unwrap()),
    ] {
        let tx = tx.clone();
        thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = String::new();
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .with_context(|| format!("{argv:?} did not attach: {seen}"))?;
        seen.push_str(&line);
        seen.push('\n');
        // rtools' banner, or the header BCC's trace and profile print once
        // attached.
        if line.starts_with("Tracing ")
            || line.starts_with("PID ")
            || line.starts_with("Sampling at ")
        {
            break;
        }
        if line.starts_with("Attaching ") {
            // bpftrace says so before it has attached (PEERS.md).
            thread::sleep(Duration::from_secs(1));
            break;
        }
    }
    // Everything printed from now on is the result.
    let collector = thread::spawn(move || {
        let mut out = String::new();
        for line in rx.iter() {
            out.push_str(&line);
            out.push('\n');
        }
        out
    });
    Ok((child, collector))
}

pub(crate) fn peak_rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("VmHWM:")
                    .map(|v| v.trim().trim_end_matches(" kB").parse().ok())
            })?
        })
        .unwrap_or(0)
}

pub(crate) fn start_workload(
    testprog: &Path,
    mode: &[String],
    cpu: Option<usize>,
) -> Result<(Child, u32)> {
    let mut cmd = Command::new(testprog);
    cmd.args(["--wait-signal", "--time"]);
    if let Some(cpu) = cpu {
        cmd.args(["--cpu", &cpu.to_string()]);
    }
    let mut child = cmd.args(mode).stdout(Stdio::piped()).spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line)?;
    let pid = line
        .trim()
        .strip_prefix("ready ")
        .context("workload not ready")?
        .parse()?;
    Ok((child, pid))
}

fn measure(testprog: &Path, scenario: &Scenario, tool: &Tool) -> Result<Measurement> {
    let cpus: Vec<Option<usize>> = if scenario.two_cpus {
        vec![Some(0), Some(1)]
    } else {
        vec![Some(0)]
    };
    let mut workloads = cpus
        .iter()
        .map(|&cpu| start_workload(testprog, &scenario.mode, cpu))
        .collect::<Result<Vec<_>>>()?;
    let tracer = tool
        .argv
        .as_ref()
        .map(|argv| start_tracer(argv))
        .transpose()?;
    let scraper = tool
        .argv
        .as_deref()
        .and_then(crate::bench_exporter::listen_addr)
        .map(crate::bench_exporter::Scraper::start);
    for (_, pid) in &workloads {
        // SAFETY: signals our own child.
        unsafe { libc::kill(*pid as i32, libc::SIGUSR1) };
    }
    let mut elapsed_ns = 0;
    for (child, _) in &mut workloads {
        let mut out = String::new();
        child.stdout.as_mut().unwrap().read_to_string(&mut out)?;
        child.wait()?;
        let ns: u64 = out
            .lines()
            .find_map(|l| l.strip_prefix("elapsed_ns "))
            .context("no elapsed_ns")?
            .trim()
            .parse()?;
        elapsed_ns = elapsed_ns.max(ns);
    }
    drop(scraper);
    let (mut count, mut rss_kb) = (None, 0);
    if let Some((mut child, collector)) = tracer {
        rss_kb = peak_rss_kb(child.id());
        // SAFETY: signals our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        child.wait()?;
        let out = collector.join().unwrap();
        count = tool.count.and_then(|parse| parse(&out));
    }
    Ok(Measurement {
        elapsed_ns,
        count,
        peak_rss_kb: rss_kb,
    })
}

pub(crate) fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

pub fn run(rounds: usize, only: Option<&str>, vm: bool) -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "rtools",
            "-p",
            "rtools-testprog",
        ])
        .current_dir(&root)
        .status()?;
    if !status.success() {
        bail!("release build failed");
    }
    if Command::new("bpftrace").arg("--version").output().is_err() {
        bail!("bpftrace is not installed: apt-get install bpftrace");
    }
    let release = root.join("target/release");
    let (rtools, testprog): (PathBuf, PathBuf) =
        (release.join("rtools"), release.join("rtools-testprog"));
    let bcc_wrapper = bcc_available();
    let wrapper = bcc_wrapper.as_ref().ok().cloned();
    let mut scenarios = scenarios(&rtools, &testprog, &wrapper);
    scenarios.extend(crate::bench_trace::rejecting(&rtools, &testprog, &wrapper));
    // A peer that cannot run here is left out (the header says why).
    for scenario in &mut scenarios {
        scenario
            .tools
            .retain(|t| t.name == "none" || t.argv.is_some());
    }
    if let Some(only) = only {
        scenarios.retain(|s| s.name.contains(only));
    }
    println!("rtools benchmark, {} rounds, {}", rounds, machine());
    match &bcc_wrapper {
        Ok(_) => println!(
            "BCC: bpfcc-tools, BCC_KERNEL_SOURCE={}\n",
            std::env::var("BCC_KERNEL_SOURCE").unwrap_or_default()
        ),
        Err(why) => println!("BCC: not run: {why}\n"),
    }
    for scenario in &scenarios {
        let mut per_tool: Vec<Vec<f64>> = vec![Vec::new(); scenario.tools.len()];
        let mut rss: Vec<u64> = vec![0; scenario.tools.len()];
        let mut counts: Vec<Vec<Option<u64>>> = vec![Vec::new(); scenario.tools.len()];
        for round in 0..rounds {
            // Rotate the order each round, so drift hits every tool alike.
            for k in 0..scenario.tools.len() {
                let i = (k + round) % scenario.tools.len();
                let m = measure(&testprog, scenario, &scenario.tools[i])
                    .with_context(|| format!("{} / {}", scenario.name, scenario.tools[i].name))?;
                per_tool[i].push(m.elapsed_ns as f64 / scenario.events as f64);
                rss[i] = rss[i].max(m.peak_rss_kb);
                counts[i].push(m.count);
            }
        }
        let medians: Vec<f64> = per_tool.iter_mut().map(|v| median(v)).collect();
        let mins: Vec<f64> = per_tool
            .iter()
            .map(|v| v.iter().cloned().fold(f64::MAX, f64::min))
            .collect();
        let base = medians[0];
        let overhead = |i: usize| medians[i] - base;
        let floor = scenario.tools.iter().position(|t| t.name == "floor");
        let peer = scenario.tools.iter().position(|t| t.name == "bpftrace");
        let bcc_peer = scenario.tools.iter().position(|t| t.name == "bcc");
        println!("{} ({} events)", scenario.name, scenario.events);
        println!(
            "  {:<10} {:>10} {:>10} {:>12} {:>9} {:>11} {:>7} {:>9}  count",
            "tool", "ns/event", "min", "overhead ns", "x floor", "x bpftrace", "x bcc", "RSS MB"
        );
        for (i, t) in scenario.tools.iter().enumerate() {
            let ratio = |j: Option<usize>| match j {
                Some(j) if i != 0 && overhead(j) > 0.0 => {
                    format!("{:.2}", overhead(i) / overhead(j))
                }
                _ => "-".to_string(),
            };
            let count = match (&t.count, counts[i].iter().flatten().min()) {
                (Some(_), Some(&c)) if c == scenario.events => "exact".to_string(),
                (Some(_), Some(&c)) => format!("{c} (expected {})", scenario.events),
                (Some(_), None) => "none read".to_string(),
                (None, _) => "-".to_string(),
            };
            println!(
                "  {:<10} {:>10.1} {:>10.1} {:>12.1} {:>9} {:>11} {:>7} {:>9.1}  {count}",
                t.name,
                medians[i],
                mins[i],
                if i == 0 { 0.0 } else { overhead(i) },
                ratio(floor),
                ratio(peer),
                ratio(bcc_peer),
                rss[i] as f64 / 1024.0
            );
        }
        println!();
    }
    if only.is_none_or(|o| "trace printing".contains(o)) {
        crate::bench_trace::throughput(&rtools, &testprog, &wrapper, rounds)?;
        println!();
    }
    if only.is_none_or(|o| "exporter scrape".contains(o)) {
        crate::bench_exporter::scrape_time(&rtools, &testprog, rounds)?;
        println!();
    }
    if only.is_none_or(|o| "profile".contains(o)) {
        crate::bench_profile::run(&rtools, &testprog, rounds, &wrapper)?;
        println!();
    }
    if only.is_none_or(|o| "user stacks".contains(o)) {
        crate::bench_unwind::run(&rtools, &testprog, rounds)?;
        println!();
    }
    if only.is_none_or(|o| "start-up".contains(o)) {
        startup_and_detach(&rtools, rounds, &wrapper)?;
    }
    if vm {
        println!();
        crate::bench_vm::run(rounds, &rtools, &testprog)?;
    }
    Ok(())
}

/// Exec to attached, and Ctrl-C to exit, for one probe and for the 360
/// syscall tracepoints.
fn startup_and_detach(rtools: &Path, rounds: usize, bcc_wrapper: &Option<PathBuf>) -> Result<()> {
    let rt = |probe: &str| {
        vec![
            rtools.display().to_string(),
            "funccount".into(),
            probe.into(),
        ]
    };
    let trace_probe = "t:syscalls:sys_enter_getcpu (args->cpup == 1) \"%d\", args->cpup";
    let mut cases = vec![
        ("rtools, 1 tracepoint", rt("t:syscalls:sys_enter_getcpu")),
        (
            "rtools trace, 1 tracepoint",
            vec![
                rtools.display().to_string(),
                "trace".into(),
                trace_probe.into(),
            ],
        ),
        (
            "bpftrace printf, 1 tracepoint",
            bpftrace("tracepoint:syscalls:sys_enter_getcpu /args->cpup == 1/ { printf(\"%d\\n\", args->cpup); }"),
        ),
        ("rtools, 360 tracepoints", rt("t:syscalls:sys_enter_*")),
        ("rtools, t:sched:* (raw)", rt("t:sched:*")),
        (
            "bpftrace, tracepoint:sched:*",
            bpftrace("tracepoint:sched:* { @[probe] = count(); }"),
        ),
        (
            "bpftrace, 1 tracepoint",
            bpftrace("tracepoint:syscalls:sys_enter_getcpu { @ = count(); }"),
        ),
        (
            "bpftrace, 360 tracepoints",
            bpftrace("tracepoint:syscalls:sys_enter_* { @[probe] = count(); }"),
        ),
    ];
    for (name, tool, probe) in [
        (
            "bcc, 1 tracepoint",
            "funccount",
            "t:syscalls:sys_enter_getcpu",
        ),
        (
            "bcc, 360 tracepoints",
            "funccount",
            "t:syscalls:sys_enter_*",
        ),
        ("bcc trace, 1 tracepoint", "trace", trace_probe),
    ] {
        if let Some(argv) = bcc(bcc_wrapper, tool, &[probe]) {
            cases.push((name, argv));
        }
    }
    println!("start-up (exec to attached) and detach (Ctrl-C to exit), median of {rounds}");
    println!(
        "  {:<28} {:>12} {:>12} {:>9}",
        "tracer", "ready ms", "detach ms", "RSS MB"
    );
    for (name, argv) in cases {
        let (mut ready, mut detach, mut rss) = (Vec::new(), Vec::new(), 0);
        for _ in 0..rounds {
            let start = Instant::now();
            let (mut child, collector) = start_tracer(&argv)?;
            // bpftrace's ready time includes the 1 s PEERS.md asks to wait;
            // its own "Attaching" line comes that much earlier.
            let mut took = start.elapsed().as_secs_f64() * 1000.0;
            if argv[0] == "bpftrace" {
                took -= 1000.0;
            }
            ready.push(took);
            rss = rss.max(peak_rss_kb(child.id()));
            let stop = Instant::now();
            // SAFETY: signals our own child.
            unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
            child.wait()?;
            detach.push(stop.elapsed().as_secs_f64() * 1000.0);
            let _ = collector.join();
        }
        println!(
            "  {:<28} {:>12.1} {:>12.1} {:>9.1}",
            name,
            median(&mut ready),
            median(&mut detach),
            rss as f64 / 1024.0
        );
    }
    Ok(())
}

fn machine() -> String {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    format!("kernel {}, {cpus} CPUs", kernel.trim())
}
