//! `cargo xtask mutants`: cargo-mutants over the code unit tests reach
//! (what `.cargo/mutants.toml` selects), and the caught score it must keep.
//!
//! A mutant that no test can tell apart from the real code (an
//! equivalent mutant) is listed in `xtask/mutants-equivalent.txt` with
//! the reason; those are left out of the score. The list names mutants
//! without their line and column, so that it survives edits elsewhere in
//! the file.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// The least share of mutants the tests must catch.
const MIN_SCORE: f64 = 0.95;
/// Random cases per property test: each mutant still meets random input,
/// and the run stays within CI's time.
const PROPTEST_CASES: &str = "32";
const EQUIVALENT: &str = "xtask/mutants-equivalent.txt";

/// A test run past this many seconds is a timeout: the unit tests take a
/// fraction of a second, and a mutant that loops should not hold a job
/// for cargo-mutants' own guess (20 s here).
const TEST_TIMEOUT: &str = "8";

pub fn run(root: &Path, jobs: usize, only: Option<&str>, shard: Option<&str>) -> Result<()> {
    let out = root.join("target/mutants");
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .current_dir(root)
        .args(["mutants", "--workspace", "--no-shuffle"])
        .args(["--jobs", &jobs.to_string()])
        .args(["--timeout", TEST_TIMEOUT])
        // The unit and integration tests, not doctests (none, but rustdoc
        // would still run for every mutant).
        .arg("--cargo-test-arg=--all-targets")
        .arg("--output")
        .arg(&out)
        .env("PROPTEST_CASES", PROPTEST_CASES)
        // A test that would skip (no cgroup v2 here, say) fails instead.
        .env("RTOOLS_TEST_NO_SKIP", "1");
    if let Some(file) = only {
        cargo.args(["--file", file]);
    }
    if let Some(shard) = shard {
        cargo.args(["--shard", shard]);
    }
    let status = cargo
        .status()
        .context("run cargo mutants (scripts/test-deps.sh installs cargo-mutants)")?;
    // cargo-mutants exits 2 when mutants were missed: the score decides.
    if !matches!(status.code(), Some(0 | 2 | 3)) {
        bail!("cargo mutants failed ({status})");
    }
    let outcomes: Value = serde_json::from_slice(
        &fs::read(out.join("mutants.out/outcomes.json")).context("read outcomes.json")?,
    )?;
    let equivalent = equivalent_list(&root.join(EQUIVALENT))?;
    let score = Score::of(&outcomes, &equivalent)?;
    score.print();
    if score.caught + score.timeout + score.missed.len() == 0 {
        bail!("no mutant was tested: check examine_globs in .cargo/mutants.toml");
    }
    if only.is_none() && shard.is_none() {
        for name in equivalent.keys() {
            if !score.equivalent.contains(name) {
                println!("note: {EQUIVALENT} lists a mutant that was not missed: {name}");
            }
        }
    }
    if score.value() < MIN_SCORE {
        bail!(
            "caught {:.1}% of mutants, under {:.0}%: add tests for the missed ones above, \
             or list truly equivalent ones in {EQUIVALENT} with the reason",
            100.0 * score.value(),
            100.0 * MIN_SCORE
        );
    }
    Ok(())
}

/// `file: description` (a mutant's name without line and column) ->
/// why no test can catch it.
fn equivalent_list(path: &Path) -> Result<BTreeMap<String, String>> {
    let text = fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let mut list = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, why)) = line.split_once(" -- ") else {
            bail!(
                "{}:{}: expected 'FILE: MUTANT -- why it is equivalent'",
                path.display(),
                n + 1
            );
        };
        list.insert(name.trim().to_string(), why.trim().to_string());
    }
    Ok(list)
}

/// `crates/x.rs:12:5: replace a with b` -> `crates/x.rs: replace a with b`.
fn without_position(name: &str) -> String {
    let mut parts = name.splitn(4, ':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(file), Some(_line), Some(_col), Some(rest)) => format!("{file}:{rest}"),
        _ => name.to_string(),
    }
}

#[derive(Default)]
struct Score {
    caught: usize,
    timeout: usize,
    unviable: usize,
    missed: Vec<String>,
    equivalent: Vec<String>,
}

impl Score {
    fn of(outcomes: &Value, equivalent: &BTreeMap<String, String>) -> Result<Score> {
        let mut score = Score::default();
        let list = outcomes["outcomes"]
            .as_array()
            .context("outcomes.json: no outcomes")?;
        for outcome in list {
            let Some(name) = outcome["scenario"]["Mutant"]["name"].as_str() else {
                continue; // the baseline
            };
            match outcome["summary"].as_str().unwrap_or_default() {
                "CaughtMutant" => score.caught += 1,
                "Timeout" => score.timeout += 1,
                "Unviable" => score.unviable += 1,
                "MissedMutant" => {
                    let short = without_position(name);
                    if equivalent.contains_key(&short) {
                        score.equivalent.push(short);
                    } else {
                        score.missed.push(name.to_string());
                    }
                }
                other => bail!("{name}: unexpected outcome {other}"),
            }
        }
        Ok(score)
    }

    /// Caught (a timeout is caught: the mutant hangs the tests) out of
    /// all viable mutants but the equivalent ones.
    fn value(&self) -> f64 {
        let caught = self.caught + self.timeout;
        let judged = caught + self.missed.len();
        if judged == 0 {
            return 1.0;
        }
        caught as f64 / judged as f64
    }

    fn print(&self) {
        for name in &self.missed {
            println!("MISSED {name}");
        }
        println!(
            "mutants: {} caught, {} timed out, {} missed, {} equivalent, {} unviable: score {:.1}%",
            self.caught,
            self.timeout,
            self.missed.len(),
            self.equivalent.len(),
            self.unviable,
            100.0 * self.value()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_their_position_only() {
        assert_eq!(
            without_position("crates/core/src/hist.rs:32:16: replace += with -= in Histogram::add"),
            "crates/core/src/hist.rs: replace += with -= in Histogram::add"
        );
        assert_eq!(without_position("odd"), "odd");
    }

    #[test]
    fn the_score_leaves_out_equivalent_and_unviable_mutants() {
        let outcome = |name: &str, summary: &str| serde_json::json!({"scenario": {"Mutant": {"name": name}}, "summary": summary});
        let outcomes = serde_json::json!({"outcomes": [
            {"scenario": "Baseline", "summary": "Success"},
            outcome("a.rs:1:1: m1", "CaughtMutant"),
            outcome("a.rs:2:1: m2", "CaughtMutant"),
            outcome("a.rs:3:1: m3", "Timeout"),
            outcome("a.rs:4:1: m4", "MissedMutant"),
            outcome("a.rs:5:1: m5", "MissedMutant"),
            outcome("a.rs:6:1: m6", "Unviable"),
        ]});
        let equivalent = BTreeMap::from([("a.rs: m5".to_string(), "why".to_string())]);
        let score = Score::of(&outcomes, &equivalent).unwrap();
        assert_eq!(score.missed, ["a.rs:4:1: m4"]);
        assert_eq!(score.equivalent, ["a.rs: m5"]);
        assert_eq!(score.value(), 0.75);
    }
}
