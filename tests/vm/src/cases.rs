//! Cases: rtools command lines run in a guest, each beside a workload
//! (rtools-testprog) it traces, with each one's exit code and output.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::guest::{boot, DebugInfo, Image, Kernel};

/// The binaries the guest runs.
pub struct Binaries<'a> {
    pub rtools: &'a Path,
    /// rtools-testprog, the workload.
    pub testprog: &'a Path,
}

/// One thing to run in the guest.
pub struct Case {
    pub name: &'static str,
    /// rtools-testprog arguments (it waits for SIGUSR1), or None.
    pub workload: Option<&'static str>,
    /// rtools arguments; `{pid}` is the workload's pid. Without a workload
    /// rtools must end by itself (-d).
    pub rtools: String,
    /// HOST:PORT/PATH fetched (HTTP GET) once the workload has done its work
    /// and lingers (give it `--linger`: `-p` tools end with their
    /// process): the exporter's scrape.
    pub scrape: Option<&'static str>,
}

#[derive(Debug, Clone)]
pub struct CaseResult {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// The workload's exit code ("none" without one) and output.
    pub workload: String,
    /// What the case's scrape answered, or why it failed.
    pub scrape: String,
}

/// The guest's shell function that runs one case.
const RUN_CASE: &str = r#"
# run_case NAME WORKLOAD SCRAPE_URL RTOOLS_ARGS: runs the workload
# (waiting for SIGUSR1) and rtools; once rtools is tracing, lets the
# workload run, fetches the URL if any once its work is done, then stops
# rtools with Ctrl-C.
run_case() {
  name=$1; work=$2; url=$3; shift 3
  # Old output must not be mistaken for the new run's ("ready",
  # "Tracing"): the shell can read a file before the new process has
  # truncated it.
  rm -f /tmp/work.out /tmp/out /tmp/err /tmp/scrape
  wrc=none
  if [ -n "$work" ]; then
    /testprog --wait-signal $work > /tmp/work.out 2>&1 &
    W=$!
    while ! grep -q ready /tmp/work.out 2>/dev/null && kill -0 $W 2>/dev/null; do sleep 0.05; done
    # {pid} in any word; words keep their spaces.
    for a in "$@"; do shift; set -- "$@" "$(printf '%s' "$a" | sed "s/{pid}/$W/g")"; done
  fi
  /rtools "$@" > /tmp/out 2> /tmp/err &
  R=$!
  if [ -n "$work" ]; then
    while ! grep -q '^Tracing' /tmp/err 2>/dev/null && kill -0 $R 2>/dev/null; do sleep 0.05; done
    kill -USR1 $W
    if [ -n "$url" ]; then
      while ! grep -qx done /proc/$W/comm 2>/dev/null && kill -0 $W 2>/dev/null; do sleep 0.05; done
      /testprog http-get "$url" > /tmp/scrape 2>&1
    fi
    wait $W
    wrc=$?
    kill -INT $R 2>/dev/null
  fi
  wait $R
  rc=$?
  echo "@@BEGIN $name rc=$rc"
  cat /tmp/out
  echo "@@STDERR"
  cat /tmp/err
  echo "@@WORKLOAD rc=$wrc"
  cat /tmp/work.out 2>/dev/null
  echo "@@SCRAPE"
  cat /tmp/scrape 2>/dev/null
  echo "@@END"
}
"#;

/// Boots `kernel`, runs `cases` in order, returns their results by name.
pub fn run(kernel: &Kernel, cases: &[Case], bins: &Binaries<'_>) -> BTreeMap<String, CaseResult> {
    let mut image = Image::new(kernel, &format!("{RUN_CASE}{}", script(cases)));
    image.program("rtools", bins.rtools, DebugInfo::Strip);
    // The workload keeps its symbols: uprobes and stacks need them.
    image.program("testprog", bins.testprog, DebugInfo::Keep);
    parse_console(&boot(kernel, image, Duration::from_secs(1200)))
}

fn parse_console(console: &str) -> BTreeMap<String, CaseResult> {
    let mut results = BTreeMap::new();
    let mut lines = console.lines();
    while let Some(line) = lines.next() {
        let Some(head) = line.strip_prefix("@@BEGIN ") else {
            continue;
        };
        let (name, code) = head.rsplit_once(" rc=").expect("BEGIN line");
        let mut result = CaseResult {
            code: code.trim().parse().expect("rc"),
            stdout: String::new(),
            stderr: String::new(),
            workload: String::new(),
            scrape: String::new(),
        };
        let mut section = 0;
        for line in lines.by_ref() {
            if line == "@@END" {
                break;
            }
            if line == "@@STDERR" || line.starts_with("@@WORKLOAD ") || line == "@@SCRAPE" {
                section += 1;
            }
            let out = match section {
                0 => &mut result.stdout,
                1 => &mut result.stderr,
                2 => &mut result.workload,
                _ => &mut result.scrape,
            };
            if !line.starts_with("@@") || section == 2 {
                out.push_str(line.trim_start_matches("@@WORKLOAD "));
                out.push('\n');
            }
        }
        results.insert(name.to_string(), result);
    }
    results
}

/// `run_case` lines. Every rtools word is single-quoted (regexes hold
/// shell syntax): see [`words`].
fn script(cases: &[Case]) -> String {
    cases
        .iter()
        .map(|c| {
            let words: Vec<String> = words(&c.rtools)
                .into_iter()
                .map(|w| format!("'{}'", w.replace('\'', "'\\''")))
                .collect();
            format!(
                "run_case '{}' '{}' '{}' {}\n",
                c.name,
                c.workload.unwrap_or(""),
                c.scrape.unwrap_or(""),
                words.join(" ")
            )
        })
        .collect()
}

/// A case's rtools arguments: split at blanks, except inside single
/// quotes (trace's probes hold blanks: `'vfs_read (count == 1)'`).
fn words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in text.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                any = false;
            }
            c => word.push(c),
        }
    }
    if any || !word.is_empty() {
        words.push(word);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_keep_their_quoted_blanks() {
        assert_eq!(
            words("trace -p {pid} 'vfs_read (count == 1) \"%d\", count'"),
            [
                "trace",
                "-p",
                "{pid}",
                "vfs_read (count == 1) \"%d\", count"
            ]
        );
        assert_eq!(
            words("funccount  -r ^(vfs_(read|write))$ ''"),
            ["funccount", "-r", "^(vfs_(read|write))$", ""]
        );
        let line = script(&[Case {
            name: "x",
            workload: None,
            rtools: "trace 'it''s'".into(),
            scrape: None,
        }]);
        assert_eq!(line, "run_case 'x' '' '' 'trace' 'its'\n");
    }
}
