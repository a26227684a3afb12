//! The exporter's files that need no BPF: promtool accepts the golden
//! exposition and the example Prometheus configuration; a bad --listen is
//! a usage error.

use std::process::Command;

use super::prometheus::{self, PROMTOOL};
use super::support::{run, skip};

fn repo(path: &str) -> String {
    format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))
}

/// promtool's verdict on a file: its exit status and what it said.
fn promtool(args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let mut cmd = Command::new(PROMTOOL);
    cmd.args(args);
    if let Some(file) = stdin {
        cmd.stdin(std::fs::File::open(file).unwrap());
    }
    let out = cmd.output().expect("run promtool");
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), said)
}

#[test]
fn promtool_accepts_the_golden_exposition_and_the_example_config() {
    if !prometheus::installed() {
        skip(
            module_path!(),
            "promtool is not installed (scripts/test-deps.sh)",
        );
        return;
    }
    let golden = repo("crates/core/tests/golden/prometheus_text.txt");
    let (ok, said) = promtool(&["check", "metrics"], Some(&golden));
    assert!(ok && said.trim().is_empty(), "promtool: {said}");
    // A counter without its _total suffix is what promtool flags: the
    // check can fail.
    let bad = std::env::temp_dir().join(format!("rtools-bad-metrics-{}", std::process::id()));
    std::fs::write(&bad, "# HELP calls c\n# TYPE calls counter\ncalls 1\n").unwrap();
    let (_, said) = promtool(&["check", "metrics"], Some(bad.to_str().unwrap()));
    std::fs::remove_file(&bad).unwrap();
    assert!(said.contains("_total"), "promtool: {said}");

    let (ok, said) = promtool(&["check", "config", &repo("contrib/prometheus.yml")], None);
    assert!(ok, "promtool: {said}");
}

#[test]
fn a_bad_listen_address_is_a_usage_error() {
    for bad in ["9435", "host:9435", ":99999"] {
        let done = run(&["funccount", "--listen", bad, "t:sched:sched_switch"]);
        assert_eq!(done.code, Some(2), "{done:#?}");
        let lines: Vec<&str> = done.stderr.lines().collect();
        assert!(
            lines[0].contains(&format!("'{bad}' is not an address to listen on")),
            "{done:#?}"
        );
    }
    // stackcount has no exporter.
    let done = run(&["stackcount", "--listen", ":9435", "t:sched:sched_switch"]);
    assert_eq!(done.code, Some(2), "{done:#?}");
}
