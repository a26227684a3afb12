//! The command line without BPF: dispatch, help, version, usage errors.

use std::os::unix::fs::symlink;
use std::process::Command;

use super::support::{rtools_bin, run};

#[test]
fn list_names_every_tool() {
    let done = run(&["--list"]);
    assert_eq!(done.code, Some(0));
    for tool in ["funccount", "stackcount", "trace", "funclatency"] {
        assert!(
            done.stdout.lines().any(|l| l.starts_with(tool)),
            "{done:#?}"
        );
    }
}

#[test]
fn version_of_rtools_and_of_a_tool() {
    // rtools' own goes on with the kernel and its features (root_check.rs).
    let done = run(&["--version"]);
    assert_eq!(
        done.stdout.lines().next().unwrap_or_default(),
        format!("rtools {}", env!("CARGO_PKG_VERSION"))
    );
    let done = run(&["funccount", "--version"]);
    assert_eq!(
        done.stdout.trim(),
        format!("funccount {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn symlink_named_after_a_tool_runs_it_and_other_names_run_rtools() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("funccount");
    symlink(rtools_bin(), &link).unwrap();
    let out = Command::new(&link).arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("funccount {}", env!("CARGO_PKG_VERSION"))
    );
    let renamed = dir.path().join("rtools-1.2");
    symlink(rtools_bin(), &renamed).unwrap();
    let out = Command::new(&renamed).arg("--list").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("funccount"));
}

#[test]
fn help_shows_bcc_options() {
    let done = run(&["funccount", "--help"]);
    assert_eq!(done.code, Some(0));
    for flag in [
        "-p, --pid",
        "-i, --interval",
        "-d, --duration",
        "-T, --timestamp",
        "-r, --regexp",
        "-D, --debug",
        "-c, --cpu",
        "-P, --per-process",
        "--json",
        "--top",
    ] {
        assert!(
            done.stdout.contains(flag),
            "{flag} missing:\n{}",
            done.stdout
        );
    }
}

#[test]
fn stackcount_help_shows_bcc_options() {
    let done = run(&["stackcount", "--help"]);
    assert_eq!(done.code, Some(0));
    for flag in [
        "-p, --pid",
        "-c, --cpu",
        "-i, --interval",
        "-D, --duration",
        "-T, --timestamp",
        "-r, --regexp",
        "-s, --offset",
        "-P, --perpid",
        "-K, --kernel-stacks-only",
        "-U, --user-stacks-only",
        "-v, --verbose",
        "-d, --delimited",
        "-f, --folded",
        "--flamegraph",
        "--stack-storage-size",
        "--max-depth",
        "--user-stacks",
        "--stack-copy-size",
        "--json",
    ] {
        assert!(
            done.stdout.contains(flag),
            "{flag} missing:\n{}",
            done.stdout
        );
    }
    assert_usage_error(&["stackcount", "-K", "-U", "x"], "cannot be used with");
    assert_usage_error(
        &["stackcount", "--max-depth", "0", "x"],
        "--max-depth must be 1 to 127",
    );
    assert_usage_error(
        &["stackcount", "--stack-copy-size", "4", "x"],
        "--stack-copy-size must be 8 to 32768",
    );
    assert_usage_error(
        &["stackcount", "--stack-copy-size", "65536", "x"],
        "--stack-copy-size must be 8 to 32768",
    );
    assert_usage_error(
        &["stackcount", "-K", "--user-stacks", "dwarf", "x"],
        "--user-stacks walks user stacks, which -K leaves out",
    );
    assert_usage_error(
        &["stackcount", "--copy-buffer-size", "5000", "x"],
        "--copy-buffer-size must be a power of two from 4096",
    );
    assert_usage_error(
        &[
            "stackcount",
            "--stack-copy-size",
            "32768",
            "--copy-buffer-size",
            "65536",
            "x",
        ],
        "--copy-buffer-size must hold two copies of the stack: at least 131072",
    );
    assert_usage_error(
        &["stackcount", "--user-stacks", "lbr", "x"],
        "invalid value 'lbr'",
    );
}

fn assert_usage_error(args: &[&str], needle: &str) {
    let done = run(args);
    assert_eq!(done.code, Some(2), "{args:?}: {done:#?}");
    let lines: Vec<&str> = done.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{args:?}: one line expected: {done:#?}");
    assert!(
        lines[0].contains(needle),
        "{args:?}: {needle:?} not in {:?}",
        lines[0]
    );
    assert!(
        lines[0].contains("--help"),
        "{args:?}: no pointer to --help: {}",
        lines[0]
    );
    assert!(!done.stderr.contains("panicked"));
}

#[test]
fn usage_errors_are_one_line_with_exit_2() {
    assert_usage_error(&["funccount"], "required arguments were not provided");
    assert_usage_error(
        &["funccount", "--bogus", "x"],
        "unexpected argument '--bogus'",
    );
    assert_usage_error(&["funccount", "-p", "abc", "x"], "invalid value 'abc'");
    assert_usage_error(&["funccount", "x:a:b"], "unknown type 'x'");
    assert_usage_error(&["funccount", "c:"], "empty function");
    assert_usage_error(&["funccount", "-r", "vfs_(", "x"], "unexpected argument");
    assert_usage_error(
        &["funccount", "-r", "vfs_("],
        "unclosed group at position 4",
    );
    assert_usage_error(
        &["funccount", "-i", "0", "x"],
        "-i/--interval must be at least 1 second",
    );
    assert_usage_error(
        &["funccount", "-p", "999999999", "x"],
        "no process with pid 999999999",
    );
    assert_usage_error(&["funccount", "-c", "4096", "x"], "no CPU 4096");
    assert_usage_error(
        &["funccount", "-P", "--by", "cpu", "x"],
        "cannot be used with",
    );
    assert_usage_error(&["funccount", "--by", "nope", "x"], "invalid value 'nope'");
    assert_usage_error(&["nosuchtool"], "unrecognized subcommand 'nosuchtool'");
}

#[test]
fn no_tool_is_a_usage_error() {
    let done = run(&[]);
    assert_eq!(done.code, Some(2));
    assert!(done.stderr.contains("rtools --list"), "{done:#?}");
}

/// trace takes BCC's options, and its probes' syntax is checked before
/// anything needs root (these run as any user).
#[test]
fn trace_help_shows_bcc_options_and_syntax_errors_come_first() {
    let help = run(&["trace", "--help"]);
    assert_eq!(help.code, Some(0));
    for flag in [
        "-b, --buffer-pages",
        "-p, --pid",
        "-L, --tid",
        "--uid",
        "-v, --verbose",
        "-Z, --string-size",
        "-S, --include-self",
        "-M, --max-events",
        "-t, --timestamp",
        "-u, --unix-timestamp",
        "-T, --time",
        "-C, --print_cpu",
        "-c, --cgroup",
        "-n, --name",
        "-f, --msg-filter",
        "-K, --kernel-stack",
        "-U, --user-stack",
        "-a, --address",
        "-I, --include",
        "-A, --aggregate",
        "--json",
        "PREDICATE",
    ] {
        assert!(
            help.stdout.contains(flag),
            "{flag} missing:\n{}",
            help.stdout
        );
    }
    let done = run(&["trace", "c:malloc (arg1 >"]);
    assert_eq!(done.code, Some(2), "{done:#?}");
    assert_eq!(
        done.stderr.trim_end(),
        "trace: error: in probe 'c:malloc (arg1 >': unmatched '(' at '(arg1 >': close it with ')' (see 'trace --help')"
    );
}

/// Regression (issue 10): the man pages cited rtools-funccount(8) and
/// rtools-help(8), which do not exist, and reflowed the examples.
#[test]
fn man_pages_cite_only_pages_that_exist_and_keep_example_lines() {
    let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/man"));
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let page = std::fs::read_to_string(&path).unwrap();
        for cited in page.split("\\fB").skip(1) {
            if let Some((name, rest)) = cited.split_once("\\fR") {
                if rest.starts_with("(8)") {
                    assert!(
                        dir.join(format!("{name}.8")).exists(),
                        "{} cites {name}(8)",
                        path.display()
                    );
                }
            }
        }
        assert!(!page.contains("rtools\\-help"), "{}", path.display());
        if page.contains(".SH EXAMPLES") {
            let examples = page.split(".SH EXAMPLES\n").nth(1).unwrap();
            assert!(examples.starts_with(".nf\n"), "{}", path.display());
        }
        assert!(page.contains("(+) marks options") || path.ends_with("rtools.8"));
    }
}

/// BCC's argparse takes unambiguous prefixes of long options.
#[test]
fn long_option_prefixes_are_accepted() {
    let done = run(&["funccount", "--dur", "0", "c:malloc"]);
    assert_eq!(done.code, Some(2), "{done:#?}");
    assert!(
        done.stderr
            .contains("-d/--duration must be at least 1 second"),
        "{done:#?}"
    );
    // Ambiguous: --max-depth and --max-probes.
    let done = run(&["stackcount", "--max", "3", "c:malloc"]);
    assert_eq!(done.code, Some(2), "{done:#?}");
}

/// Regression (issue 10): -p completed file names; it completes pids.
#[test]
fn bash_completes_pids_after_p() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/completions/funccount.bash");
    let out = Command::new("bash")
        .args([
            "-c",
            &format!(
                ". {script}; COMP_WORDS=(funccount -p ''); COMP_CWORD=2; \
                 _funccount funccount '' -p; printf '%s\\n' \"${{COMPREPLY[@]}}\""
            ),
        ])
        .output()
        .unwrap();
    let words = String::from_utf8_lossy(&out.stdout);
    assert!(
        words.lines().any(|w| w == std::process::id().to_string()),
        "{words}"
    );
    assert!(words.lines().all(|w| w.parse::<u32>().is_ok()), "{words}");
}

#[test]
fn not_root_is_explained() {
    if !super::support::is_root() {
        let done = run(&["funccount", "t:sched:sched_switch"]);
        assert_eq!(done.code, Some(1));
        assert!(
            done.stderr.contains(
                "needs root, or the CAP_BPF and CAP_PERFMON capabilities (and CAP_SYS_ADMIN"
            ),
            "{done:#?}"
        );
        return;
    }
    // As root, drop to nobody for the run, from a copy nobody may run.
    use std::os::unix::process::CommandExt;
    let bin = super::support::rtools_bin_for_anyone();
    let out = Command::new(bin)
        .args(["funccount", "t:sched:sched_switch"])
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim(),
        "funccount: error: rtools needs root, or the CAP_BPF and CAP_PERFMON capabilities (and \
         CAP_SYS_ADMIN to read other processes' files): run it with sudo"
    );
}

/// Issue 25: trace(8) said "-i 0 is refused" (trace has no -i),
/// funclatency's --listen spoke of its -P and --by (it has neither), and
/// `trace -h` pointed "above" at text only --help shows.
#[test]
fn help_texts_speak_only_of_the_tools_own_options() {
    let short = run(&["trace", "-h"]);
    assert!(!short.stdout.contains("see above"), "{}", short.stdout);
    assert!(short.stdout.contains("(trace --help describes them)"));
    let words = |text: String| text.split_whitespace().collect::<Vec<_>>().join(" ");
    let trace = words(run(&["trace", "--help"]).stdout);
    assert!(!trace.contains("; -i 0 is refused"), "{trace}");
    assert!(
        trace.contains("where a tool takes -i, -i 0 is refused"),
        "{trace}"
    );
    let latency = words(run(&["funclatency", "--help"]).stdout);
    assert!(
        latency.contains("(funccount's -P, --by pid or tid)"),
        "{latency}"
    );
    assert!(!latency.contains("(-P, --by pid"), "{latency}");
}
