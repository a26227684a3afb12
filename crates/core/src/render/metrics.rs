//! The metrics the exporter serves, from what the tools read: their names,
//! help and labels in Prometheus' conventions (base units, `_total`
//! counters), written by [`prometheus`](super::prometheus).

use std::collections::HashMap;

use super::prometheus::{Exposition, HistogramSample, Labels};
use crate::count::{CountKey, GroupBy};
use crate::hist::Histogram;

/// funccount's totals since attach as `rtools_calls_total`: a `probe`
/// label, and the group's labels under -P/--by (`pid` and `comm`, `tid`
/// and `comm`, `comm`, `cpu`, `cgroup`). Without a group every probe has
/// a series, counted or not; with one, the groups seen. Sorted by labels.
pub fn calls(
    out: &mut Exposition,
    totals: &HashMap<CountKey, u64>,
    names: &[String],
    group_by: GroupBy,
) {
    let mut samples: Vec<(Labels<'_>, u64)> = totals
        .iter()
        .map(|(key, &n)| {
            let probe = names
                .get(key.slot as usize)
                .cloned()
                .unwrap_or_else(|| format!("[slot {}]", key.slot));
            let mut labels = vec![("probe", probe)];
            labels.extend(group_labels(key, group_by));
            (labels, n)
        })
        .collect();
    samples.sort();
    out.counter(
        "rtools_calls",
        "Calls of each probe counted since rtools attached.",
        &samples,
    );
}

fn group_labels(key: &CountKey, group_by: GroupBy) -> Vec<(&'static str, String)> {
    match group_by {
        GroupBy::None => vec![],
        GroupBy::Pid => vec![("pid", key.id.to_string()), ("comm", key.comm.clone())],
        GroupBy::Tid => vec![("tid", key.id.to_string()), ("comm", key.comm.clone())],
        GroupBy::Comm => vec![("comm", key.comm.clone())],
        GroupBy::Cpu => vec![("cpu", key.id.to_string())],
        GroupBy::Cgroup => vec![("cgroup", key.comm.clone())],
    }
}

/// The log2 bucket a histogram of `unit_ns` units shows at least, so that
/// its bounds stay the same scrape after scrape: the first at or above a
/// minute.
fn standard_top(unit_ns: u64) -> usize {
    let minute_in_units = 60_000_000_000 / unit_ns.max(1);
    (64 - minute_in_units.leading_zeros()) as usize
}

/// funclatency's histograms since attach as
/// `rtools_function_latency_seconds`, one series per `probe` label: each
/// function's name (-F), or the pattern for all of them together.
pub fn latency(out: &mut Exposition, hists: &[(String, Histogram)], unit_ns: u64) {
    let mut samples: Vec<(Labels<'_>, HistogramSample)> = hists
        .iter()
        .map(|(probe, h)| {
            let highest = (0..h.buckets.len()).rev().find(|&i| h.buckets[i] > 0);
            let upto = highest.unwrap_or(0).max(standard_top(unit_ns));
            (
                vec![("probe", probe.clone())],
                HistogramSample::from_log2(h, unit_ns, upto),
            )
        })
        .collect();
    samples.sort_by(|a, b| a.0.cmp(&b.0));
    out.histogram(
        "rtools_function_latency_seconds",
        "Durations of the calls of each function timed since rtools attached.",
        &samples,
    );
}

/// Events not counted since attach, by `reason`.
pub fn lost(out: &mut Exposition, reasons: &[(&str, u64)]) {
    let samples: Vec<(Labels<'_>, u64)> = reasons
        .iter()
        .map(|&(reason, n)| (vec![("reason", reason.to_string())], n))
        .collect();
    out.counter(
        "rtools_lost_events",
        "Events not counted or timed since rtools attached, by reason.",
        &samples,
    );
}

/// What every exporter serves: the probes attached, and the build.
pub fn process(out: &mut Exposition, probes_attached: usize, version: &str) {
    out.gauge(
        "rtools_probes_attached",
        "Probes rtools has attached.",
        &[(vec![], probes_attached as f64)],
    );
    out.gauge(
        "rtools_build_info",
        "The rtools build serving these metrics (always 1).",
        &[(vec![("version", version.to_string())], 1.0)],
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::count::tests::key;
    use crate::render::prometheus::Flavor;

    fn names() -> Vec<String> {
        vec!["vfs_read".into(), "vfs_write".into()]
    }

    #[test]
    fn calls_carry_the_group_labels_sorted() {
        let totals = HashMap::from([(key(1, 0, ""), 3), (key(0, 0, ""), 0)]);
        let mut e = Exposition::new(Flavor::Text);
        calls(&mut e, &totals, &names(), GroupBy::None);
        let text = e.finish();
        let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            samples,
            [
                r#"rtools_calls_total{probe="vfs_read"} 0"#,
                r#"rtools_calls_total{probe="vfs_write"} 3"#
            ]
        );
        assert!(text.starts_with("# HELP rtools_calls_total "), "{text}");

        let by = |group_by, key: CountKey| {
            let mut e = Exposition::new(Flavor::Text);
            calls(&mut e, &HashMap::from([(key, 7)]), &names(), group_by);
            e.finish().lines().last().unwrap().to_string()
        };
        assert_eq!(
            by(GroupBy::Pid, key(0, 42, "sh")),
            r#"rtools_calls_total{probe="vfs_read",pid="42",comm="sh"} 7"#
        );
        assert_eq!(
            by(GroupBy::Tid, key(1, 43, "a\"b")),
            r#"rtools_calls_total{probe="vfs_write",tid="43",comm="a\"b"} 7"#
        );
        assert_eq!(
            by(GroupBy::Comm, key(0, 0, "sh")),
            r#"rtools_calls_total{probe="vfs_read",comm="sh"} 7"#
        );
        assert_eq!(
            by(GroupBy::Cpu, key(0, 1, "")),
            r#"rtools_calls_total{probe="vfs_read",cpu="1"} 7"#
        );
        assert_eq!(
            by(GroupBy::Cgroup, key(0, 0, "/system.slice")),
            r#"rtools_calls_total{probe="vfs_read",cgroup="/system.slice"} 7"#
        );
        assert_eq!(
            by(GroupBy::None, key(5, 0, "")),
            r#"rtools_calls_total{probe="[slot 5]"} 7"#
        );
    }

    #[test]
    fn latency_buckets_reach_a_minute_or_the_longest_call() {
        assert_eq!(standard_top(1), 36); // 2^36 ns = 68.7 s
        assert_eq!(standard_top(1_000), 26);
        assert_eq!(standard_top(1_000_000), 16);
        let mut h = Histogram::default();
        h.buckets[11] = 2; // 1024-2047 ns
        h.total_ns = 3000;
        let mut e = Exposition::new(Flavor::Text);
        latency(&mut e, &[("f".into(), h.clone())], 1);
        let text = e.finish();
        let buckets = text.lines().filter(|l| l.contains("_bucket{")).count();
        assert_eq!(buckets, 36 + 1, "{text}");
        assert!(
            text.contains(r#"_bucket{probe="f",le="0.000001024"} 0"#),
            "{text}"
        );
        assert!(
            text.contains(r#"_bucket{probe="f",le="0.000002048"} 2"#),
            "{text}"
        );
        assert!(text.contains(r#"_bucket{probe="f",le="+Inf"} 2"#), "{text}");
        assert!(text.contains("rtools_function_latency_seconds_sum{probe=\"f\"} 0.000003\n"));
        // A call past the minute gets its bucket too.
        h.buckets[40] = 1;
        let mut e = Exposition::new(Flavor::Text);
        latency(&mut e, &[("f".into(), h)], 1);
        let text = e.finish();
        assert_eq!(text.lines().filter(|l| l.contains("_bucket{")).count(), 41);
    }

    #[test]
    fn lost_and_process_metrics() {
        let mut e = Exposition::new(Flavor::Text);
        lost(&mut e, &[("table_full", 2)]);
        process(&mut e, 3, "0.1.0");
        let text = e.finish();
        for line in [
            r#"rtools_lost_events_total{reason="table_full"} 2"#,
            "rtools_probes_attached 3",
            r#"rtools_build_info{version="0.1.0"} 1"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in {text}");
        }
    }

    /// What a funccount -P and a funclatency -F exporter serve, in both
    /// flavors; `promtool check metrics` reads the text one in the suite.
    #[test]
    fn golden_expositions() {
        for (flavor, file) in [
            (Flavor::Text, "prometheus_text.txt"),
            (Flavor::OpenMetrics, "prometheus_openmetrics.txt"),
        ] {
            let mut e = Exposition::new(flavor);
            let totals = HashMap::from([
                (key(0, 42, "sh"), 5),
                (key(1, 42, "sh"), 7),
                (key(0, 7, "odd \"name\"\\"), 2),
            ]);
            calls(&mut e, &totals, &names(), GroupBy::Pid);
            let mut h = Histogram::default();
            h.buckets[0] = 1;
            h.buckets[5] = 211; // 16-31 us
            h.buckets[11] = 37; // 1024-2047 us
            h.total_ns = 211 * 20_000 + 37 * 2_000_000;
            latency(&mut e, &[("lat_all".into(), h)], 1_000);
            lost(&mut e, &[("no_entry", 0), ("table_full", 3)]);
            process(&mut e, 2, "0.1.0");
            crate::render::golden::check(file, &e.finish());
        }
    }
}
