//! Return probes never harm the traced (issue 9): functions that return
//! twice or never return get none, frames abandoned by longjmp don't stop
//! later calls from being timed, thread state goes with the thread.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::c_programs::c_program;
use super::support::{kernel_log, require_root, run, Finished, Tracer, Workload};

/// The `jumps` workload, with libc from `libc_dir` when given.
fn jumps(args: &[&str], libc_dir: Option<&Path>) -> Workload {
    let mut command = Command::new(c_program("jumps"));
    command.args(args);
    if let Some(dir) = libc_dir {
        command.env("LD_LIBRARY_PATH", dir);
    }
    Workload::start_command(command)
}

/// Runs the workload to the end; returns what it printed.
fn run_jumps(args: &[&str], libc_dir: Option<&Path>) -> String {
    let mut workload = jumps(args, libc_dir);
    workload.go();
    let said = workload.wait_done_output();
    workload.exit();
    said
}

/// A private copy of libc, so return probes touch no other process.
fn private_libc() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::TempDir::new().unwrap();
    let copy = dir.path().join("libc.so.6");
    std::fs::copy("/lib/x86_64-linux-gnu/libc.so.6", &copy).unwrap();
    (dir, copy)
}

/// Kernel log lines of uprobes failing the traced.
fn uprobe_failures(since: usize) -> Vec<String> {
    kernel_log(since)
        .into_iter()
        .filter(|l| l.contains("uprobe") || l.contains("segfault"))
        .collect()
}

/// Counts per `Function = NAME` section: the sum of its histogram rows.
fn counts_by_function(stdout: &str) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = Vec::new();
    for line in stdout.lines() {
        if let Some(name) = line.strip_prefix("Function = ") {
            out.push((name.to_string(), 0));
        } else if let Some((range, rest)) = line.split_once(" : ") {
            if range.contains(" -> ") {
                let count: u64 = rest.split_whitespace().next().unwrap().parse().unwrap();
                out.last_mut().expect("a section first").1 += count;
            }
        }
    }
    out
}

fn summary_count(done: &Finished) -> u64 {
    done.stdout
        .lines()
        .find_map(|l| {
            l.split_once("count: ")
                .map(|(_, n)| n.trim().parse().unwrap())
        })
        .unwrap_or_else(|| panic!("no summary:\n{done:#?}"))
}

#[test]
fn root_longjmp_out_of_traced_frames_keeps_timing_and_output() {
    let _bpf = require_root!();
    const ROUNDS: &str = "1009";
    let expected = run_jumps(&["jumps", ROUNDS], None);
    let log = kernel_log(0).len();
    let exe = c_program("jumps");
    let spec = format!("{}:jumps_*", exe.display());
    let tracer = Tracer::start(&["funclatency", "-F", "--merge", "-v", &spec]);
    let said = run_jumps(&["jumps", ROUNDS], None);
    let done = tracer.stop();
    assert_eq!(done.code, Some(0), "{done:#?}");
    assert_eq!(said, expected, "the traced program's output changed");
    // jumps_die is noreturn in DWARF: no return probe, and said so.
    assert!(
        done.stderr
            .contains("skipped 1 function(s) that return twice or never return"),
        "{done:#?}"
    );
    assert!(
        done.stderr.contains("skipped jumps_die: never returns"),
        "{done:#?}"
    );
    // Every call of jumps_normal is timed although two traced frames are
    // abandoned by longjmp before each; the abandoned ones are reported.
    assert_eq!(
        counts_by_function(&done.stdout),
        [("jumps_normal".to_string(), 1009)],
        "{done:#?}"
    );
    assert_eq!(summary_count(&done), 1009);
    // Two abandoned frames a round; the last round's jumps_outer is at the
    // stack pointer of the calls after it, so it still looks live (like a
    // tail call) until the thread exits.
    assert!(done.stderr.contains(" 2017 missed returns"), "{done:#?}");
    assert_eq!(uprobe_failures(log), Vec::<String>::new());
}

/// Issue 25: with the loop in main (entered before tracing) and the
/// frames longjmp leaves at the same stack pointer as the next calls,
/// those frames looked like tail calls and piled up: 949 of 1009 calls of
/// the plain function timed, "63 nested deeper than 32". A frame at the
/// stack pointer a call has returned to since is dead.
#[test]
fn root_siblings_abandoned_by_longjmp_do_not_pile_up() {
    let _bpf = require_root!();
    let exe = c_program("jumps");
    let mut w = jumps(&["siblings", "1009"], None);
    let spec = format!("{}:*", exe.display());
    let pid = w.pid_str();
    let tracer = Tracer::start(&["funclatency", "-F", "-p", &pid, &spec]);
    w.go();
    w.wait_done_output();
    w.exit();
    let done = tracer.finish();
    assert_eq!(done.code, Some(0), "{done:#?}");
    let normal = counts_by_function(&done.stdout)
        .into_iter()
        .find(|(name, _)| name.starts_with("jumps_normal"))
        .unwrap_or_else(|| panic!("{done:#?}"));
    assert_eq!(normal.1, 1009, "{done:#?}");
    assert!(
        done.stderr
            .contains(" 0 returns whose entry came before tracing, ")
            && done.stderr.contains(" 0 nested deeper than 32"),
        "{done:#?}"
    );
}

#[test]
fn root_libc_functions_that_return_twice_get_no_return_probe() {
    let _bpf = require_root!();
    let (dir, libc) = private_libc();
    let expected = run_jumps(&["jumps", "211"], Some(dir.path()));
    let log = kernel_log(0).len();
    // setjmp, sigsetjmp, getcontext, vfork and their kin, by regex.
    let spec = format!("{}:.*(jmp|context|vfork)", libc.display());
    let tracer = Tracer::start(&["funclatency", "-r", "-v", &spec]);
    let said = run_jumps(&["jumps", "211"], Some(dir.path()));
    let done = tracer.stop();
    assert_eq!(done.code, Some(0), "{done:#?}");
    assert_eq!(said, expected, "the traced program's output changed");
    for name in ["_setjmp", "__sigsetjmp", "getcontext", "vfork", "longjmp"] {
        assert!(
            done.stderr.contains(&format!("skipped {name}: ")),
            "{name} was not skipped:\n{done:#?}"
        );
    }
    assert_eq!(uprobe_failures(log), Vec::<String>::new());
}

#[test]
fn root_only_unsafe_functions_is_a_usage_error() {
    let _bpf = require_root!();
    let (_dir, libc) = private_libc();
    let done = run(&["funclatency", &format!("{}:*setjmp*", libc.display())]);
    assert_eq!(done.code, Some(2), "{done:#?}");
    assert!(
        done.stderr
            .contains("matches only functions that cannot carry a return probe"),
        "{done:#?}"
    );
    assert_eq!(done.stderr.lines().count(), 1, "{done:#?}");
}

#[test]
fn root_wide_patterns_need_max_probes() {
    let _bpf = require_root!();
    let (_dir, libc) = private_libc();
    let spec = format!("{}:*", libc.display());
    let done = run(&["funclatency", &spec]);
    assert_eq!(done.code, Some(2), "{done:#?}");
    assert!(
        done.stderr.contains("more than the limit of 1000") && done.stderr.contains("--max-probes"),
        "{done:#?}"
    );
    let done = run(&["funccount", "--max-probes", "10", &spec]);
    assert_eq!(done.code, Some(2), "{done:#?}");
    assert!(
        done.stderr.contains("more than the limit of 10:"),
        "{done:#?}"
    );
}

/// A shell loop on a private libc with a return probe on every function
/// of it that may carry one: same output, no process harmed.
#[test]
fn root_shell_loop_under_every_libc_function() {
    let _bpf = require_root!();
    let (dir, libc) = private_libc();
    let script = "for i in $(seq 1 97); do echo $i; done | sort -n | tail -n 1; \
                  ( x=$(echo 13); echo \"sub $x\" ) ; true";
    let shell = || {
        let out = Command::new("bash")
            .args(["-c", script])
            .env("LD_LIBRARY_PATH", dir.path())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let expected = shell();
    assert_eq!(expected, (Some(0), "97\nsub 13\n".to_string()));
    let log = kernel_log(0).len();
    let spec = format!("{}:*", libc.display());
    let tracer = Tracer::start(&["funclatency", "--max-probes", "5000", &spec]);
    let got = shell();
    let done = tracer.stop();
    assert_eq!(done.code, Some(0), "{done:#?}");
    assert_eq!(got, expected, "the shell's output changed");
    assert!(summary_count(&done) > 1000, "{done:#?}");
    assert_eq!(uprobe_failures(log), Vec::<String>::new());
}

/// Each thread's call stack is freed when the thread exits: more threads
/// than the table holds, then calls from the main thread, all timed.
#[test]
fn root_thread_state_is_freed_with_the_thread() {
    let _bpf = require_root!();
    let exe = c_program("jumps");
    let spec = format!("{}:jumps_normal", exe.display());
    let tracer = Tracer::start(&["funclatency", &spec]);
    run_jumps(&["threads", "1009", "20000"], None);
    let done = tracer.stop();
    assert_eq!(done.code, Some(0), "{done:#?}");
    assert_eq!(summary_count(&done), 21009, "{done:#?}");
    assert!(!done.stderr.contains("not timed"), "{done:#?}");
}
