//! bpftrace's `software`, `hardware` and `profile` probes: perf events
//! whose overflow runs the program, on every CPU. The names, aliases and
//! default counts are bpftrace's.

use std::fmt;

/// Which event source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PerfKind {
    /// Kernel-counted events (PERF_TYPE_SOFTWARE): every machine has them.
    Software,
    /// The CPU's performance counters (PERF_TYPE_HARDWARE): need a PMU.
    Hardware,
}

impl PerfKind {
    /// perf_event_attr's `type`.
    pub fn perf_type(self) -> u32 {
        match self {
            PerfKind::Hardware => 0,
            PerfKind::Software => 1,
        }
    }
}

/// How often the event runs the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sampling {
    /// Every N events (perf_event_attr's sample_period); for cpu-clock,
    /// every N nanoseconds.
    Every(u64),
    /// N times a second per CPU (sample_freq).
    Frequency(u64),
}

/// A perf event to sample: its source, its config, and how often; `text`
/// is the bpftrace form with its count spelled out, the probe's name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PerfEvent {
    pub kind: PerfKind,
    pub config: u64,
    pub sampling: Sampling,
    pub text: String,
}

/// name, alias, perf config, bpftrace's default count.
type Known = (&'static str, &'static str, u64, u64);

const SOFTWARE: &[Known] = &[
    ("alignment-faults", "", 7, 1),
    ("bpf-output", "", 10, 1),
    ("context-switches", "cs", 3, 1000),
    ("cpu-clock", "cpu", 0, 1_000_000),
    ("cpu-migrations", "", 4, 1),
    ("dummy", "", 9, 1),
    ("emulation-faults", "", 8, 1),
    ("major-faults", "", 6, 1),
    ("minor-faults", "", 5, 100),
    ("page-faults", "faults", 2, 100),
    ("task-clock", "", 1, 1),
];

const HARDWARE: &[Known] = &[
    ("backend-stalls", "", 8, 1_000_000),
    ("branch-instructions", "branches", 4, 100_000),
    ("branch-misses", "", 5, 100_000),
    ("bus-cycles", "", 6, 100_000),
    ("cache-misses", "", 3, 1_000_000),
    ("cache-references", "", 2, 1_000_000),
    ("cpu-cycles", "cycles", 0, 1_000_000),
    ("frontend-stalls", "", 7, 1_000_000),
    ("instructions", "", 1, 1_000_000),
    ("ref-cycles", "", 9, 1_000_000),
];

/// The units of `profile:UNIT:N` (and `interval:`), bpftrace's.
pub const UNITS: [&str; 4] = ["hz", "s", "ms", "us"];

/// `software:NAME[:COUNT]` or `hardware:NAME[:COUNT]`, without the kind.
pub fn event(kind: PerfKind, name: &str, count: Option<&str>) -> Result<PerfEvent, String> {
    let (table, word) = match kind {
        PerfKind::Software => (SOFTWARE, "software"),
        PerfKind::Hardware => (HARDWARE, "hardware"),
    };
    let Some(&(canonical, _, config, default)) = table
        .iter()
        .find(|(n, alias, _, _)| *n == name || (!alias.is_empty() && *alias == name))
    else {
        let names: Vec<&str> = table.iter().map(|k| k.0).collect();
        return Err(format!(
            "unknown {word} event '{name}': use one of {}",
            names.join(", ")
        ));
    };
    let every = match count {
        Some(text) => positive(text, "count")?,
        None => default,
    };
    Ok(PerfEvent {
        kind,
        config,
        sampling: Sampling::Every(every),
        text: format!("{word}:{canonical}:{every}"),
    })
}

/// `profile:UNIT:N`: cpu-clock on every CPU, N times a second (`hz`) or
/// every N seconds, milliseconds or microseconds.
pub fn profile(unit: &str, n: &str) -> Result<PerfEvent, String> {
    let n = positive(n, "rate")?;
    let sampling = match unit {
        "hz" => Sampling::Frequency(n),
        "s" => Sampling::Every(n.saturating_mul(1_000_000_000)),
        "ms" => Sampling::Every(n.saturating_mul(1_000_000)),
        "us" => Sampling::Every(n.saturating_mul(1_000)),
        other => {
            return Err(format!(
            "unknown unit '{other}': use profile:hz:N, profile:s:N, profile:ms:N or profile:us:N"
        ))
        }
    };
    Ok(PerfEvent {
        kind: PerfKind::Software,
        config: 0,
        sampling,
        text: format!("profile:{unit}:{n}"),
    })
}

/// A count or rate: a whole number above zero, as digits or bpftrace's
/// `1e6`.
fn positive(text: &str, what: &str) -> Result<u64, String> {
    let value = match text.split_once('e') {
        Some((mantissa, exp)) => mantissa
            .parse::<u64>()
            .ok()
            .zip(exp.parse::<u32>().ok())
            .and_then(|(m, e)| 10u64.checked_pow(e).and_then(|p| m.checked_mul(p))),
        None => text.parse().ok(),
    };
    match value {
        Some(0) => Err(format!("the {what} must be above 0")),
        Some(n) => Ok(n),
        None => Err(format!(
            "the {what} '{text}' is not a whole number (e.g. 100 or 1e6)"
        )),
    }
}

impl fmt::Display for PerfEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_aliases_and_bpftraces_default_counts() {
        let e = event(PerfKind::Software, "faults", None).unwrap();
        assert_eq!((e.config, e.sampling), (2, Sampling::Every(100)));
        assert_eq!(e.text, "software:page-faults:100");
        let e = event(PerfKind::Software, "cs", Some("7")).unwrap();
        assert_eq!(
            (e.config, e.text.as_str()),
            (3, "software:context-switches:7")
        );
        let e = event(PerfKind::Software, "cpu", None).unwrap();
        assert_eq!(e.sampling, Sampling::Every(1_000_000));
        assert_eq!(
            event(PerfKind::Software, "task-clock", None)
                .unwrap()
                .sampling,
            Sampling::Every(1)
        );
        let e = event(PerfKind::Hardware, "cycles", Some("1e6")).unwrap();
        assert_eq!((e.kind.perf_type(), e.config), (0, 0));
        assert_eq!(e.text, "hardware:cpu-cycles:1000000");
        let e = event(PerfKind::Hardware, "branches", None).unwrap();
        assert_eq!((e.config, e.sampling), (4, Sampling::Every(100_000)));
        assert_eq!(PerfKind::Software.perf_type(), 1);
        for (name, config) in [
            ("instructions", 1),
            ("cache-references", 2),
            ("cache-misses", 3),
            ("branch-misses", 5),
            ("bus-cycles", 6),
            ("ref-cycles", 9),
        ] {
            assert_eq!(
                event(PerfKind::Hardware, name, None).unwrap().config,
                config,
                "{name}"
            );
        }
        for (name, config) in [
            ("alignment-faults", 7),
            ("bpf-output", 10),
            ("cpu-migrations", 4),
            ("dummy", 9),
            ("emulation-faults", 8),
            ("major-faults", 6),
            ("minor-faults", 5),
        ] {
            assert_eq!(
                event(PerfKind::Software, name, None).unwrap().config,
                config,
                "{name}"
            );
        }
    }

    #[test]
    fn bad_names_counts_and_units_say_what_is_right() {
        let err = event(PerfKind::Software, "pagefaults", None).unwrap_err();
        assert!(
            err.starts_with("unknown software event 'pagefaults': use one of alignment-faults, "),
            "{err}"
        );
        // An alias of the other kind is not taken.
        assert!(event(PerfKind::Hardware, "cs", None)
            .unwrap_err()
            .starts_with("unknown hardware event 'cs'"));
        assert!(event(PerfKind::Software, "", None).is_err());
        assert_eq!(
            event(PerfKind::Software, "cs", Some("0")).unwrap_err(),
            "the count must be above 0"
        );
        assert_eq!(
            event(PerfKind::Software, "cs", Some("-1")).unwrap_err(),
            "the count '-1' is not a whole number (e.g. 100 or 1e6)"
        );
        assert!(event(PerfKind::Software, "cs", Some("1e99")).is_err());
        assert!(event(PerfKind::Software, "cs", Some("2.5")).is_err());
        assert_eq!(profile("hz", "0").unwrap_err(), "the rate must be above 0");
        assert!(profile("minutes", "1")
            .unwrap_err()
            .starts_with("unknown unit 'minutes'"));
    }

    #[test]
    fn profile_rates() {
        let p = profile("hz", "99").unwrap();
        assert_eq!(
            (p.kind, p.config, p.sampling),
            (PerfKind::Software, 0, Sampling::Frequency(99))
        );
        assert_eq!(p.to_string(), "profile:hz:99");
        assert_eq!(
            profile("s", "2").unwrap().sampling,
            Sampling::Every(2_000_000_000)
        );
        assert_eq!(
            profile("ms", "10").unwrap().sampling,
            Sampling::Every(10_000_000)
        );
        assert_eq!(
            profile("us", "500").unwrap().sampling,
            Sampling::Every(500_000)
        );
    }
}
