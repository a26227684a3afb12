//! stackcount's user-stack walks per event on one tracepoint: frame
//! pointers (the kernel's walk, counted in the kernel), DWARF (registers
//! and the top of the stack copied out, unwound and counted in user space)
//! at two copy sizes, beside `perf record --call-graph dwarf`. What the
//! traced program pays per event, and what the tracer spends itself.

use std::path::Path;

use anyhow::{Context, Result};

use crate::bench::{median, peak_rss_kb, s, start_tracer, start_workload, sum_trailing_numbers};
use crate::bench_profile::cpu_ms;

const EVENTS: u64 = 100_000;
const TRACEPOINT: &str = "syscalls:sys_enter_getcpu";

/// Waits for `pid` and returns its whole CPU time in milliseconds.
fn reap_cpu_ms(pid: u32) -> f64 {
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for our child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, writing into the locals.
    unsafe { libc::wait4(pid as i32, &mut status, 0, &mut usage) };
    let ms = |t: libc::timeval| t.tv_sec as f64 * 1000.0 + t.tv_usec as f64 / 1000.0;
    ms(usage.ru_utime) + ms(usage.ru_stime)
}

struct Walk {
    name: &'static str,
    argv: Option<Vec<String>>,
    /// The share of the events it kept, from what it printed.
    kept: fn(&str) -> Option<f64>,
}

/// rtools: the events counted (the rest it reports lost).
fn counted(out: &str) -> Option<f64> {
    sum_trailing_numbers(out).map(|n| n as f64 / EVENTS as f64)
}

/// perf: "Processed N samples and lost X%!" when it lost some.
fn perf_kept(out: &str) -> Option<f64> {
    let lost = out.lines().find_map(|l| {
        l.split_once(" and lost ")?
            .1
            .split('%')
            .next()?
            .parse::<f64>()
            .ok()
    });
    Some(1.0 - lost.unwrap_or(0.0) / 100.0)
}

fn nothing(_: &str) -> Option<f64> {
    None
}

pub(crate) fn run(rtools: &Path, testprog: &Path, rounds: usize) -> Result<()> {
    let rt = |extra: &[&str]| {
        let mut v = vec![rtools.display().to_string(), "stackcount".into()];
        v.extend(s(&["-U", "-f"]));
        v.extend(s(extra));
        v.push(format!("t:{TRACEPOINT}"));
        Some(v)
    };
    // perf prints nothing once attached: a line a second after its start
    // stands in (perf attaches in well under that), printed by the shell
    // that started it (not a child of perf's: perf ends when a child
    // does), which passes Ctrl-C on as SIGTERM (a background job ignores
    // SIGINT). Its samples go to a file (perf writes nothing to /dev/null)
    // through an 8 MiB buffer (rtools' is 16 MiB).
    let perf_data = std::env::temp_dir().join("rtools-bench-perf.data");
    let perf = format!(
        "trap 'kill -TERM $p' INT; perf record -o {} -m 2048 -a -e {TRACEPOINT} \
         --call-graph dwarf,16384 & p=$!; sleep 1; echo 'Tracing perf'; wait $p; wait $p",
        perf_data.display()
    );
    let mut walks = vec![
        Walk {
            name: "none",
            argv: None,
            kept: nothing,
        },
        Walk {
            name: "rtools fp",
            argv: rt(&[]),
            kept: counted,
        },
        Walk {
            name: "rtools dwarf 16K",
            argv: rt(&["--user-stacks", "dwarf"]),
            kept: counted,
        },
        Walk {
            name: "rtools dwarf 8K",
            argv: rt(&["--user-stacks", "dwarf", "--stack-copy-size", "8192"]),
            kept: counted,
        },
    ];
    if std::process::Command::new("perf")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        walks.push(Walk {
            name: "perf dwarf 16K",
            argv: Some(s(&["sh", "-c", &perf])),
            kept: perf_kept,
        });
    }
    let mut ns: Vec<Vec<f64>> = vec![Vec::new(); walks.len()];
    let mut tracer_us: Vec<Vec<f64>> = vec![Vec::new(); walks.len()];
    let mut rss = vec![0u64; walks.len()];
    let mut kept: Vec<Vec<f64>> = vec![Vec::new(); walks.len()];
    for round in 0..rounds {
        for k in 0..walks.len() {
            let i = (k + round) % walks.len();
            let (mut workload, pid) =
                start_workload(testprog, &s(&["getcpu", &EVENTS.to_string()]), Some(0))?;
            let tracer = walks[i]
                .argv
                .as_ref()
                .map(|a| start_tracer(a))
                .transpose()?;
            let cpu_at_start = match &tracer {
                Some((child, _)) => cpu_ms(child.id())?,
                None => 0.0,
            };
            // SAFETY: signals our own child.
            unsafe { libc::kill(pid as i32, libc::SIGUSR1) };
            let mut out = String::new();
            std::io::Read::read_to_string(workload.stdout.as_mut().unwrap(), &mut out)?;
            workload.wait()?;
            let elapsed: f64 = out
                .lines()
                .find_map(|l| l.strip_prefix("elapsed_ns "))
                .context("no elapsed_ns")?
                .trim()
                .parse()?;
            ns[i].push(elapsed / EVENTS as f64);
            if let Some((child, collector)) = tracer {
                rss[i] = rss[i].max(peak_rss_kb(child.id()));
                // SAFETY: signals our own child.
                unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
                let cpu = reap_cpu_ms(child.id()) - cpu_at_start;
                tracer_us[i].push(cpu * 1000.0 / EVENTS as f64);
                let printed = collector.join().unwrap();
                kept[i].extend((walks[i].kept)(&printed));
            }
        }
    }
    let _ = std::fs::remove_file(&perf_data);
    println!(
        "stackcount user stacks on t:{TRACEPOINT} ({EVENTS} events, median of {rounds}; the workload \
         keeps frame pointers, so every walk sees the same stack)"
    );
    println!(
        "  {:<17} {:>10} {:>12} {:>7} {:>14} {:>8}  events kept",
        "walk", "ns/event", "overhead ns", "x fp", "tracer us/ev", "RSS MB"
    );
    let medians: Vec<f64> = ns.iter_mut().map(|v| median(v)).collect();
    let overhead = |i: usize| medians[i] - medians[0];
    for (i, walk) in walks.iter().enumerate() {
        let tracer = if tracer_us[i].is_empty() {
            "-".to_string()
        } else {
            format!("{:.2}", median(&mut tracer_us[i]))
        };
        let x_fp = if i > 1 && overhead(1) > 0.0 {
            format!("{:.2}", overhead(i) / overhead(1))
        } else {
            "-".to_string()
        };
        // The worst round: a tracer that drops events saves their cost.
        let count = match kept[i].iter().cloned().reduce(f64::min) {
            Some(share) if share >= 1.0 => "all".to_string(),
            Some(share) => format!("{:.1}%", share * 100.0),
            None => "-".to_string(),
        };
        println!(
            "  {:<17} {:>10.1} {:>12.1} {:>7} {:>14} {:>8.1}  {count}",
            walk.name,
            medians[i],
            overhead(i),
            x_fp,
            tracer,
            rss[i] as f64 / 1024.0
        );
    }
    Ok(())
}
