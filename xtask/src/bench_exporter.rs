//! The exporter's benchmarks: how long a scrape of 10,000 series takes
//! (target: under 50 ms), and a scraper that reads /metrics every 100 ms
//! while the counting benchmarks run, to show the per-event cost does not
//! move.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::bench::{median, start_tracer, start_workload};

/// The groups the scrape benchmark makes: one series each.
const SERIES: u64 = 10_000;

/// A loopback address whose port was free a moment ago.
pub(crate) fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
}

/// The address after `--listen` in a tracer's command line.
pub(crate) fn listen_addr(argv: &[String]) -> Option<SocketAddr> {
    let at = argv.iter().position(|a| a == "--listen")?;
    argv.get(at + 1)?.parse().ok()
}

/// One scrape: the body of GET /metrics.
fn scrape(addr: SocketAddr) -> Result<String> {
    let mut conn = TcpStream::connect(addr)?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(conn, "GET /metrics HTTP/1.0\r\n\r\n")?;
    let mut reply = String::new();
    conn.read_to_string(&mut reply)?;
    match reply.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.1 200 ") => Ok(body.to_string()),
        _ => bail!("scrape of {addr} failed: {reply}"),
    }
}

/// Scrapes `addr` every 100 ms until dropped.
pub(crate) struct Scraper {
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<usize>>,
}

impl Scraper {
    pub(crate) fn start(addr: SocketAddr) -> Scraper {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            let mut scrapes = 0;
            while !flag.load(Ordering::SeqCst) {
                if scrape(addr).is_ok() {
                    scrapes += 1;
                }
                thread::sleep(Duration::from_millis(100));
            }
            scrapes
        });
        Scraper {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Scraper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// funccount --by comm over a workload that calls a function under
/// 10,000 names, then times scrapes of the result.
pub(crate) fn scrape_time(rtools: &Path, testprog: &Path, rounds: usize) -> Result<()> {
    let addr = free_addr();
    let argv: Vec<String> = [
        &rtools.display().to_string(),
        "funccount",
        "--by",
        "comm",
        "--listen",
        &addr.to_string(),
        &format!("{}:rtools_test_one", testprog.display()),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (mut tracer, collector) = start_tracer(&argv)?;
    let (mut workload, pid) =
        start_workload(testprog, &["comms".into(), SERIES.to_string()], None)?;
    // SAFETY: signals our own child.
    unsafe { libc::kill(pid as i32, libc::SIGUSR1) };
    workload.wait()?;
    let series = scrape(addr)?
        .lines()
        .filter(|l| l.starts_with("rtools_calls_total{"))
        .count();
    let mut took = Vec::new();
    for _ in 0..rounds.max(5) {
        let start = Instant::now();
        scrape(addr).context("scraping")?;
        took.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    // SAFETY: signals our own child.
    unsafe { libc::kill(tracer.id() as i32, libc::SIGINT) };
    tracer.wait()?;
    let _ = collector.join();
    let min = took.iter().cloned().fold(f64::MAX, f64::min);
    println!("exporter: one scrape of funccount --by comm (target < 50 ms)");
    println!("  {:<10} {:>10} {:>10}", "series", "median ms", "min ms");
    println!("  {series:<10} {:>10.1} {min:>10.1}", median(&mut took));
    if series as u64 != SERIES {
        bail!("expected {SERIES} series, the scrape had {series}");
    }
    Ok(())
}
