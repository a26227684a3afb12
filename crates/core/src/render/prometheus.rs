//! The Prometheus exposition formats the exporter serves: the text format
//! 0.0.4 (what Prometheus asks for by default and promtool checks) and
//! OpenMetrics 1.0 text (when the scraper's Accept header names it). They
//! differ in a few places only: OpenMetrics names a counter's family
//! without its `_total` suffix and ends with `# EOF`.

use std::fmt::Write as _;

use crate::hist::{Histogram, BUCKETS};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `text/plain; version=0.0.4`.
    Text,
    /// `application/openmetrics-text; version=1.0.0`.
    OpenMetrics,
}

impl Flavor {
    /// What a scraper's Accept header asks for: OpenMetrics if it names
    /// it, the 0.0.4 text otherwise.
    pub fn from_accept(accept: Option<&str>) -> Flavor {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Flavor::OpenMetrics,
            _ => Flavor::Text,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Flavor::Text => "text/plain; version=0.0.4; charset=utf-8",
            Flavor::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// A sample's labels: (name, value) pairs.
pub type Labels<'a> = Vec<(&'static str, String)>;

/// A histogram's sample: cumulative counts at each upper bound (seconds),
/// the sum of the values (seconds), and their count.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSample {
    pub buckets: Vec<(f64, u64)>,
    pub sum: f64,
    pub count: u64,
}

impl HistogramSample {
    /// A log2 histogram of durations in units of `unit_ns` nanoseconds as
    /// a Prometheus one in seconds: bucket i (values below 2^i units)
    /// becomes `le = 2^i units`, counts made cumulative, up to bucket
    /// `upto` (at least the highest one with calls; then `+Inf`).
    pub fn from_log2(h: &Histogram, unit_ns: u64, upto: usize) -> HistogramSample {
        // Bucket 0 holds the calls shorter than a unit: below every bound.
        let mut cumulative = h.buckets[0];
        let buckets = (1..=upto.min(BUCKETS - 1))
            .map(|i| {
                cumulative += h.buckets[i];
                let le = (1u128 << i) as f64 * unit_ns as f64 / 1e9;
                (le, cumulative)
            })
            .collect();
        HistogramSample {
            buckets,
            sum: h.total_ns as f64 / 1e9,
            count: h.count(),
        }
    }
}

/// An exposition being written.
pub struct Exposition {
    flavor: Flavor,
    out: String,
}

impl Exposition {
    pub fn new(flavor: Flavor) -> Exposition {
        Exposition {
            flavor,
            out: String::new(),
        }
    }

    /// A counter family: `name` without `_total`, which each sample gets.
    pub fn counter(&mut self, name: &str, help: &str, samples: &[(Labels<'_>, u64)]) {
        let family = match self.flavor {
            Flavor::Text => format!("{name}_total"),
            Flavor::OpenMetrics => name.to_string(),
        };
        self.header(&family, help, "counter");
        for (labels, value) in samples {
            self.sample(&format!("{name}_total"), labels, None, &value.to_string());
        }
    }

    pub fn gauge(&mut self, name: &str, help: &str, samples: &[(Labels<'_>, f64)]) {
        self.header(name, help, "gauge");
        for (labels, value) in samples {
            self.sample(name, labels, None, &number(*value));
        }
    }

    pub fn histogram(&mut self, name: &str, help: &str, samples: &[(Labels<'_>, HistogramSample)]) {
        self.header(name, help, "histogram");
        let bucket = format!("{name}_bucket");
        for (labels, h) in samples {
            for &(le, count) in &h.buckets {
                self.sample(&bucket, labels, Some(&number(le)), &count.to_string());
            }
            self.sample(&bucket, labels, Some("+Inf"), &h.count.to_string());
            self.sample(&format!("{name}_sum"), labels, None, &number(h.sum));
            self.sample(&format!("{name}_count"), labels, None, &h.count.to_string());
        }
    }

    /// The whole exposition.
    pub fn finish(mut self) -> String {
        if self.flavor == Flavor::OpenMetrics {
            self.out.push_str("# EOF\n");
        }
        self.out
    }

    fn header(&mut self, family: &str, help: &str, kind: &str) {
        let _ = writeln!(self.out, "# HELP {family} {}", escape(help, false));
        let _ = writeln!(self.out, "# TYPE {family} {kind}");
    }

    fn sample(
        &mut self,
        name: &str,
        labels: &[(&'static str, String)],
        le: Option<&str>,
        value: &str,
    ) {
        self.out.push_str(name);
        let le = le.map(|v| ("le", v.to_string()));
        let all: Vec<&(&str, String)> = labels.iter().chain(le.as_ref()).collect();
        if !all.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in all.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape(v, true));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }
}

/// A float as both formats write it (Go's ParseFloat reads it back).
fn number(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

/// Backslashes, newlines and (in label values) double quotes escaped.
fn escape(s: &str, quotes: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quotes => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&'static str, &str)]) -> Labels<'static> {
        pairs.iter().map(|&(k, v)| (k, v.to_string())).collect()
    }

    #[test]
    fn counters_gauges_and_escapes_in_the_text_format() {
        let mut e = Exposition::new(Flavor::Text);
        e.counter(
            "rtools_calls",
            "Calls counted",
            &[
                (labels(&[("probe", "vfs_read")]), 42),
                (labels(&[("probe", "a\"b\\c\nd"), ("comm", "sh")]), 7),
            ],
        );
        e.gauge(
            "rtools_probes_attached",
            "Probes \"attached\"\nnow",
            &[(vec![], 2.0)],
        );
        assert_eq!(
            e.finish(),
            r#"# HELP rtools_calls_total Calls counted
# TYPE rtools_calls_total counter
rtools_calls_total{probe="vfs_read"} 42
rtools_calls_total{probe="a\"b\\c\nd",comm="sh"} 7
# HELP rtools_probes_attached Probes "attached"\nnow
# TYPE rtools_probes_attached gauge
rtools_probes_attached 2
"#
        );
    }

    #[test]
    fn openmetrics_names_families_without_total_and_ends_with_eof() {
        let mut e = Exposition::new(Flavor::OpenMetrics);
        e.counter("rtools_calls", "Calls", &[(vec![], 3)]);
        assert_eq!(
            e.finish(),
            "# HELP rtools_calls Calls\n# TYPE rtools_calls counter\nrtools_calls_total 3\n# EOF\n"
        );
        assert_eq!(Flavor::from_accept(None), Flavor::Text);
        assert_eq!(
            Flavor::from_accept(Some("text/plain;version=0.0.4")),
            Flavor::Text
        );
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Flavor::from_accept(Some(prometheus)), Flavor::OpenMetrics);
        assert!(Flavor::Text
            .content_type()
            .starts_with("text/plain; version=0.0.4"));
        assert!(Flavor::OpenMetrics
            .content_type()
            .starts_with("application/openmetrics-text"));
    }

    #[test]
    fn log2_histograms_become_cumulative_buckets_in_seconds() {
        let mut h = Histogram::default();
        // 3 calls of 1 us-ish, 2 of 2-3 us, in usecs (unit 1000 ns).
        h.buckets[1] = 3;
        h.buckets[2] = 2;
        h.total_ns = 9_000;
        let s = HistogramSample::from_log2(&h, 1_000, 3);
        assert_eq!(s.buckets, [(2e-6, 3), (4e-6, 5), (8e-6, 5)]);
        assert_eq!((s.sum, s.count), (9e-6, 5));
        let mut with_zero = h.clone();
        with_zero.buckets[0] = 1;
        let z = HistogramSample::from_log2(&with_zero, 1_000, 2);
        assert_eq!(z.buckets, [(2e-6, 4), (4e-6, 6)]);
        assert_eq!(z.count, 6);
        let mut e = Exposition::new(Flavor::Text);
        e.histogram(
            "rtools_function_latency_seconds",
            "Latency",
            &[(labels(&[("function", "f")]), s)],
        );
        let text = e.finish();
        assert!(
            text.contains("# TYPE rtools_function_latency_seconds histogram\n"),
            "{text}"
        );
        for line in [
            r#"rtools_function_latency_seconds_bucket{function="f",le="0.000002"} 3"#,
            r#"rtools_function_latency_seconds_bucket{function="f",le="+Inf"} 5"#,
            r#"rtools_function_latency_seconds_sum{function="f"} 0.000009"#,
            r#"rtools_function_latency_seconds_count{function="f"} 5"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in {text}");
        }
        // The last bucket there is 64: 2^64 ns.
        let all = HistogramSample::from_log2(&h, 1, 99);
        assert_eq!(all.buckets.len(), 64);
        assert_eq!(all.buckets[63].0, 2f64.powi(64) / 1e9);
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(f64::NEG_INFINITY), "-Inf");
        assert_eq!(number(0.5), "0.5");
    }
}
