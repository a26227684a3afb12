//! `cargo xtask bench --vm`: the cost per event of each kernel-function
//! backend, in qemu guests running Debian's 6.1 and 6.12 kernels. The
//! guests run under software emulation, so absolute times are inflated:
//! compare the backends with each other, within one kernel.

use std::path::Path;

use anyhow::Result;
use rtools_vm::{Binaries, Case};

/// Reads of /dev/zero per run.
const READS: u64 = 20_000;
const WORKLOAD: &str = "--time read-write 20000 0";

fn elapsed_ns(workload: &str) -> Option<f64> {
    workload
        .lines()
        .find_map(|l| l.strip_prefix("elapsed_ns "))
        .and_then(|n| n.trim().parse().ok())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

pub fn run(rounds: usize, rtools: &Path, testprog: &Path) -> Result<()> {
    let bins = Binaries { rtools, testprog };
    for (series, backends) in [
        ("6.1", vec!["kprobe", "fentry"]),
        ("6.12", vec!["kprobe", "fentry", "kprobe-multi"]),
    ] {
        let kernel = rtools_vm::kernel(series);
        // "none" runs the workload untraced: `rtools --version` exits at
        // once, so the guest script starts the workload without a tracer.
        let configs: Vec<(&str, String)> = std::iter::once(("none", "--version".to_string()))
            .chain(
                backends
                    .iter()
                    .map(|&b| (b, format!("funccount --backend {b} -p {{pid}} vfs_read"))),
            )
            .collect();
        let mut cases = Vec::new();
        for round in 0..rounds {
            for (name, args) in &configs {
                cases.push(Case {
                    name: Box::leak(format!("{name}#{round}").into_boxed_str()),
                    workload: Some(WORKLOAD),
                    rtools: args.clone(),
                    scrape: None,
                });
            }
        }
        let results = rtools_vm::run(&kernel, &cases, &bins);
        let per_read = |name: &str| -> Vec<f64> {
            results
                .iter()
                .filter(|(case, _)| case.split('#').next() == Some(name))
                .filter_map(|(_, r)| elapsed_ns(&r.workload))
                .map(|ns| ns / READS as f64)
                .collect()
        };
        let base = median(per_read("none"));
        println!("kernel functions in a qemu guest (TCG), linux {}: vfs_read, {READS} reads, median of {rounds}", kernel.release);
        println!(
            "  {:<14} {:>12} {:>14}",
            "backend", "ns/read", "overhead ns"
        );
        println!("  {:<14} {:>12.0} {:>14}", "none", base, "-");
        for backend in &backends {
            let v = per_read(backend);
            if v.is_empty() {
                println!("  {backend:<14} {:>12} {:>14}", "failed", "-");
                continue;
            }
            let m = median(v);
            println!("  {backend:<14} {m:>12.0} {:>14.0}", m - base);
        }
        println!();
    }
    Ok(())
}
