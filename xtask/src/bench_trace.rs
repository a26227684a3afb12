//! `cargo xtask bench`'s trace part: what a predicate that rejects every
//! event costs (beside the floor, bpftrace's filter and BCC's trace, in
//! bench.rs's table), and how many events per second each prints to a
//! file, and loses.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::bench::{bcc, bpftrace, median, s, start_workload, Scenario, Tool};

/// The tracepoint and uprobe scenarios of a predicate that is never true
/// (the workloads' arguments never reach 99999999).
pub fn rejecting(rtools: &Path, testprog: &Path, bcc_wrapper: &Option<PathBuf>) -> Vec<Scenario> {
    let rt = |args: &[&str]| {
        let mut v = vec![rtools.display().to_string()];
        v.extend(s(args));
        Some(v)
    };
    let prog = testprog.display().to_string();
    let uprobe = format!("{prog}:rtools_test_one");
    let tool = |name, argv| Tool {
        name,
        argv,
        count: None,
    };
    let getcpu = "tracepoint:syscalls:sys_enter_getcpu";
    let tp_rtools = "t:syscalls:sys_enter_getcpu (args->cpup == 99999999) \"%d\", args->cpup";
    let up_rtools = format!("{uprobe} (arg1 == 99999999) \"%d\", arg1");
    vec![
        Scenario {
            name: "trace tracepoint, predicate rejects all",
            mode: s(&["getcpu", "2000000"]),
            events: 2_000_000,
            two_cpus: false,
            tools: vec![
                tool("none", None),
                tool("floor", Some(bpftrace(&format!("{getcpu} {{ }}")))),
                tool(
                    "bpftrace",
                    Some(bpftrace(&format!(
                        "{getcpu} /args->cpup == 99999999/ {{ printf(\"%d\\n\", args->cpup); }}"
                    ))),
                ),
                tool("bcc", bcc(bcc_wrapper, "trace", &[tp_rtools])),
                tool("rtools", rt(&["trace", tp_rtools])),
            ],
        },
        Scenario {
            name: "trace uprobe, predicate rejects all",
            mode: s(&["funcs", "300000", "0", "0"]),
            events: 300_000,
            two_cpus: false,
            tools: vec![
                tool("none", None),
                tool("floor", Some(bpftrace(&format!("uprobe:{uprobe} {{ }}")))),
                tool(
                    "bpftrace",
                    Some(bpftrace(&format!(
                        "uprobe:{uprobe} /arg0 == 99999999/ {{ printf(\"%d\\n\", arg0); }}"
                    ))),
                ),
                tool("bcc", bcc(bcc_wrapper, "trace", &[&up_rtools])),
                tool("rtools", rt(&["trace", &up_rtools])),
            ],
        },
    ]
}

/// Events of the printing test: trace_target's calls.
const PRINTED: u64 = 1_000_000;

/// Each tracer prints every call of trace_target (its two arguments) to a
/// file, with the same buffer: events printed per second (from the first
/// call to the last line written) and events lost.
pub fn throughput(
    rtools: &Path,
    testprog: &Path,
    bcc_wrapper: &Option<PathBuf>,
    rounds: usize,
) -> Result<()> {
    let prog = testprog.display().to_string();
    let probe = format!("{prog}:trace_target \"i=%d s=%s\", arg1, arg2");
    let pages = "64";
    let mut tracers = vec![
        ("rtools", {
            let mut v = vec![rtools.display().to_string(), "trace".into(), "-b".into()];
            v.extend(s(&[pages, &probe]));
            v
        }),
        (
            "bpftrace",
            bpftrace(&format!(
                "uprobe:{prog}:trace_target {{ printf(\"i=%d s=%s\\n\", arg0, str(arg1)); }}"
            )),
        ),
    ];
    if let Some(argv) = bcc(bcc_wrapper, "trace", &["-b", pages, &probe]) {
        tracers.push(("bcc", argv));
    }
    println!(
        "trace: {PRINTED} events printed to a file (uprobe, two arguments, -b {pages}), median of {rounds}"
    );
    println!(
        "  {:<10} {:>14} {:>10} {:>12}",
        "tracer", "printed/s", "lost", "workload ms"
    );
    for (name, argv) in tracers {
        let mut rates = Vec::new();
        let mut lost = Vec::new();
        let mut workload_ms = Vec::new();
        for _ in 0..rounds {
            let m = print_once(testprog, &argv)
                .with_context(|| format!("trace throughput / {name}"))?;
            rates.push(m.printed as f64 / m.seconds);
            lost.push((PRINTED - m.printed.min(PRINTED)) as f64);
            workload_ms.push(m.workload_ms);
        }
        println!(
            "  {:<10} {:>14.0} {:>10.0} {:>12.1}",
            name,
            median(&mut rates),
            median(&mut lost),
            median(&mut workload_ms)
        );
    }
    Ok(())
}

struct Printed {
    printed: u64,
    seconds: f64,
    workload_ms: f64,
}

fn print_once(testprog: &Path, argv: &[String]) -> Result<Printed> {
    let dir = tempfile::TempDir::new()?;
    let out_path = dir.path().join("out");
    let out = File::create(&out_path)?;
    let (mut workload, pid) =
        start_workload(testprog, &s(&["trace", &PRINTED.to_string()]), Some(0))?;
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdout(out)
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", argv[0]))?;
    let mut stderr = child.stderr.take().unwrap();
    let seen = thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    wait_ready(&out_path, argv)?;
    let start = Instant::now();
    // SAFETY: signals our own child.
    unsafe { libc::kill(pid as i32, libc::SIGUSR1) };
    let mut w_out = String::new();
    workload
        .stdout
        .as_mut()
        .unwrap()
        .read_to_string(&mut w_out)?;
    workload.wait()?;
    let workload_ns: f64 = w_out
        .lines()
        .find_map(|l| l.strip_prefix("elapsed_ns "))
        .context("no elapsed_ns")?
        .trim()
        .parse()?;
    // Done when the output stops growing for a while: the last line then
    // was written that long ago.
    let mut last = (0u64, Instant::now());
    loop {
        thread::sleep(Duration::from_millis(5));
        let size = std::fs::metadata(&out_path)?.len();
        if size != last.0 {
            last = (size, Instant::now());
        } else if last.1.elapsed() > Duration::from_millis(500) {
            break;
        }
    }
    let seconds = (last.1 - start).as_secs_f64();
    // SAFETY: signals our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    child.wait()?;
    let _ = seen.join();
    let printed = BufReader::new(File::open(&out_path)?)
        .lines()
        .map_while(Result::ok)
        .filter(|l| l.contains("i=") && l.contains(" s=s"))
        .count() as u64;
    Ok(Printed {
        printed,
        seconds,
        workload_ms: workload_ns / 1e6,
    })
}

/// Until the tracer has attached: rtools says "Tracing" on stderr (but it
/// goes to a pipe we don't watch here, so its header will do), BCC's
/// trace prints its header, bpftrace "Attaching" (a second early).
fn wait_ready(out: &Path, argv: &[String]) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(out).unwrap_or_default();
        if text.contains("PID ") {
            return Ok(());
        }
        if text.contains("Attaching") {
            thread::sleep(Duration::from_secs(1));
            return Ok(());
        }
        if Instant::now() > deadline {
            anyhow::bail!("{argv:?} did not attach");
        }
        thread::sleep(Duration::from_millis(20));
    }
}
