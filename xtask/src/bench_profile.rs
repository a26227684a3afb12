//! stackcount as a CPU profiler (`profile:hz:99` on every CPU) beside
//! bpftrace's profile one-liner and BCC's profile tool: samples per CPU
//! per second against the 99 asked for, and the CPU the tracer process
//! itself spends. A spinning workload keeps every CPU busy: an idle CPU's
//! clock stops, and with it its samples.

use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::bench::{bcc, bpftrace, median, start_tracer, start_workload, sum_trailing_numbers};

const HZ: f64 = 99.0;
const SECONDS: u64 = 5;

/// The user and system CPU time of a process so far, in milliseconds.
pub(crate) fn cpu_ms(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // After the command's closing parenthesis: state is field 3, utime
    // and stime fields 14 and 15.
    let rest = stat.rsplit_once(')').context("stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Ok(ticks * 1000.0 / hz)
}

pub(crate) fn run(
    rtools: &Path,
    testprog: &Path,
    rounds: usize,
    bcc_wrapper: &Option<PathBuf>,
) -> Result<()> {
    let rt = vec![
        rtools.display().to_string(),
        "stackcount".into(),
        "-f".into(),
        "profile:hz:99".into(),
    ];
    let mut tracers = vec![
        ("rtools stackcount", rt),
        (
            "bpftrace",
            bpftrace("profile:hz:99 { @[kstack, ustack] = count(); }"),
        ),
    ];
    // Not -f: BCC's profile then prints no header to know it attached.
    if let Some(argv) = bcc(bcc_wrapper, "profile", &["-F", "99"]) {
        tracers.push(("bcc profile", argv));
    }
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    let busy = (SECONDS + 3) * 1000;
    println!(
        "profile:hz:99 on every CPU for {SECONDS} s, median of {rounds} (samples per CPU per second, \
         and the tracer's own CPU time)"
    );
    println!(
        "  {:<18} {:>14} {:>10} {:>16}",
        "tracer", "samples/CPU/s", "off by %", "tracer CPU ms/s"
    );
    for (name, argv) in tracers {
        let (mut rates, mut costs) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let mut spinners = (0..cpus)
                .map(|cpu| start_workload(testprog, &["spin".into(), busy.to_string()], Some(cpu)))
                .collect::<Result<Vec<_>>>()?;
            for (_, pid) in &spinners {
                // SAFETY: signals our own child.
                unsafe { libc::kill(*pid as i32, libc::SIGUSR1) };
            }
            let (mut child, collector) = start_tracer(&argv)?;
            let started = Instant::now();
            let cpu_before = cpu_ms(child.id())?;
            thread::sleep(Duration::from_secs(SECONDS));
            let cpu = cpu_ms(child.id())? - cpu_before;
            let elapsed = started.elapsed().as_secs_f64();
            // SAFETY: signals our own child.
            unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
            child.wait()?;
            let out = collector.join().unwrap();
            for (spinner, _) in &mut spinners {
                spinner.wait()?;
            }
            let samples = sum_trailing_numbers(&out).unwrap_or(0) as f64;
            rates.push(samples / cpus as f64 / elapsed);
            costs.push(cpu / elapsed);
        }
        let rate = median(&mut rates);
        println!(
            "  {name:<18} {rate:>14.1} {:>10.1} {:>16.1}",
            100.0 * (rate - HZ) / HZ,
            median(&mut costs)
        );
    }
    Ok(())
}
