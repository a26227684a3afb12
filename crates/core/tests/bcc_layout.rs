//! rtools prints what BCC prints: BCC's real output (bpfcc-tools,
//! captured once by `tests/golden/bcc/capture.sh`, each file beside the
//! command that made it) is parsed back into the numbers and names it
//! shows, those go through rtools' own rows, sorting and renderers, and
//! the text must come out byte for byte the same. Only BCC's banner and
//! "Detaching..." lines, which rtools prints on stderr, are left out.

use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;

use rtools_core::count::{self, CountKey, GroupBy};
use rtools_core::hist::Histogram;
use rtools_core::render::{count_table, log2_hist, stack_text};
use rtools_core::stacks::{self, Frame, StackRow};

/// BCC's stdout for `name`, without its first line (the "Tracing ..."
/// banner) and its last ("Detaching...").
fn bcc_body(name: &str) -> String {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/bcc");
    assert!(
        dir.join(format!("{name}.cmd")).is_file(),
        "{name}: the command that made the file is kept beside it"
    );
    let text = fs::read_to_string(dir.join(format!("{name}.out"))).unwrap();
    let (banner, rest) = text.split_once('\n').unwrap();
    assert!(banner.starts_with("Tracing "), "{banner}");
    rest.strip_suffix("Detaching...\n")
        .unwrap_or_else(|| panic!("{name}: no Detaching line"))
        .to_string()
}

#[test]
fn funccount_table_matches_bcc() {
    let body = bcc_body("funccount");
    // FUNC COUNT rows -> counters keyed by slot, as the BPF side gives.
    let mut names = Vec::new();
    let mut counts = Vec::new();
    for line in body.lines().skip_while(|l| !l.starts_with("FUNC")).skip(1) {
        let (name, count) = line.rsplit_once(' ').unwrap();
        let key = CountKey {
            slot: names.len() as u32,
            ..CountKey::default()
        };
        counts.push((key, count.trim().parse().unwrap()));
        names.push(name.trim().to_string());
    }
    assert_eq!(counts.len(), 3, "{body}");
    // Reversed, so that the order comes from rtools' sorting.
    counts.reverse();
    let rows = count::rows(counts, &names, GroupBy::None, None);
    assert_eq!(count_table::render(&rows, GroupBy::None, None), body);
}

#[test]
fn stackcount_stacks_match_bcc() {
    let body = bcc_body("stackcount");
    // Blocks of "  frame" lines and a "    count" line.
    let mut rows = Vec::new();
    for block in body.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let block = block.trim_matches('\n');
        let (frames, count) = block.rsplit_once('\n').unwrap();
        let user = frames
            .lines()
            .enumerate()
            .map(|(i, f)| Frame {
                addr: 0x1000 + i as u64,
                name: f.trim().to_string(),
                offset: None,
            })
            .collect();
        rows.push(StackRow {
            comm: "rtools-testprog".into(),
            pid: None,
            kernel: vec![],
            user,
            count: count.trim().parse().unwrap(),
        });
    }
    assert_eq!(rows.len(), 2, "{body}");
    rows.reverse();
    let rows = stacks::merge(rows, false);
    let text = stack_text::render(&rows, None, stack_text::TextOptions::default());
    assert_eq!(text, body);
}

#[test]
fn funclatency_histogram_and_summary_match_bcc() {
    let body = bcc_body("funclatency");
    // "low -> high : count |stars|" rows fill buckets 1, 2, ...; the
    // summary gives the exact total.
    let mut hist = Histogram::default();
    let mut bucket = 1;
    let mut fields: HashMap<&str, u64> = HashMap::new();
    for line in body.lines() {
        if let Some((range, rest)) = line.split_once(" : ") {
            if range.contains(" -> ") {
                hist.buckets[bucket] = rest.split_whitespace().next().unwrap().parse().unwrap();
                bucket += 1;
            }
        } else if let Some(summary) = line.strip_prefix("avg = ") {
            for part in summary.split(", ") {
                let words: Vec<&str> = part.split([' ', ':']).filter(|w| !w.is_empty()).collect();
                let value = words.iter().find_map(|w| w.parse().ok()).unwrap();
                fields.insert(
                    if part.contains("total") {
                        "total"
                    } else if part.contains("count") {
                        "count"
                    } else {
                        "avg"
                    },
                    value,
                );
            }
        }
    }
    hist.total_ns = fields["total"];
    assert_eq!(hist.count(), fields["count"], "{body}");
    let text = format!(
        "\n{}\n{}\n\n",
        log2_hist::render(&hist, "nsecs"),
        log2_hist::summary(&hist, "nsecs").unwrap()
    );
    assert_eq!(text, body);
}
