//! stackcount on this machine's kernel: the workload calls gamma through
//! main -> alpha -> beta 3001 times and through main -> delta 1009 times.

use std::collections::BTreeMap;

use serde_json::Value;

use super::c_programs::c_program;
use super::support::{
    kernel_has, promptly, require_root, testprog_path, Finished, Tracer, Workload,
};

const VIA_BETA: u64 = 3001;
const VIA_DELTA: u64 = 1009;

/// One printed stack: frames as printed (leaf first), the `comm [pid]`
/// line if any, the count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Printed {
    pub frames: Vec<String>,
    pub process: Option<String>,
    pub count: u64,
}

/// The counts of stackcount --json's stacks, in its order.
pub(super) fn json_counts(v: &Value) -> Vec<u64> {
    v["stacks"]
        .as_array()
        .unwrap_or_else(|| panic!("no stacks: {v}"))
        .iter()
        .map(|s| s["count"].as_u64().unwrap())
        .collect()
}

/// Parses BCC's multi-line stack output.
pub(super) fn stacks(stdout: &str) -> Vec<Printed> {
    let mut out = Vec::new();
    let mut block: Vec<&str> = Vec::new();
    for line in stdout.lines().chain([""]) {
        if !line.trim().is_empty() {
            block.push(line);
            continue;
        }
        if let Some((last, rest)) = block.split_last() {
            let count = last.trim().parse().expect("count line");
            let mut frames = Vec::new();
            let mut process = None;
            for l in rest {
                if l.starts_with("    ") {
                    if l.trim() != "--" {
                        process = Some(l.trim().to_string());
                    } else {
                        frames.push("--".to_string());
                    }
                } else {
                    frames.push(l.trim().to_string());
                }
            }
            out.push(Printed {
                frames,
                process,
                count,
            });
        }
        block.clear();
    }
    out
}

fn gamma_spec() -> String {
    format!("{}:gamma", testprog_path())
}

/// The two stacks of the workload, by their first frames.
fn assert_two_gamma_stacks(printed: &[Printed]) {
    assert_eq!(printed.len(), 2, "{printed:#?}");
    let by_caller: BTreeMap<&str, &Printed> =
        printed.iter().map(|p| (p.frames[1].as_str(), p)).collect();
    let beta = by_caller
        .get("beta")
        .unwrap_or_else(|| panic!("no beta path: {printed:#?}"));
    assert_eq!(&beta.frames[..3], ["gamma", "beta", "alpha"], "{beta:#?}");
    assert_eq!(beta.count, VIA_BETA);
    let delta = by_caller
        .get("delta")
        .unwrap_or_else(|| panic!("no delta path: {printed:#?}"));
    assert_eq!(&delta.frames[..2], ["gamma", "delta"], "{delta:#?}");
    assert_ne!(delta.frames[2], "delta", "caller duplicated: {delta:#?}");
    assert_eq!(delta.count, VIA_DELTA);
    for p in printed {
        assert!(
            p.frames.iter().any(|f| f == "rtools_testprog::main"),
            "{p:#?}"
        );
        assert!(!p.frames.iter().any(|f| f == "[unknown]"), "{p:#?}");
    }
    // Ascending by count, as BCC prints.
    assert!(printed[0].count < printed[1].count);
}

/// Runs the workload under `stackcount ARGS`; with `exit_first` the
/// workload exits before rtools prints its summary.
fn trace_gamma(args: &[&str], exit_first: bool) -> (Finished, u32) {
    let mut w = Workload::start(&["stacks", "3001", "1009"]);
    let pid = w.pid;
    let spec = gamma_spec();
    let mut all: Vec<&str> = vec!["stackcount"];
    all.extend_from_slice(args);
    all.push(&spec);
    let tracer = Tracer::start(&all);
    w.run();
    let done = if exit_first {
        w.exit();
        tracer.stop()
    } else {
        let done = tracer.stop();
        w.exit();
        done
    };
    assert_eq!(done.code, Some(0), "{done:#?}");
    (done, pid)
}

#[test]
fn root_uprobe_stacks_are_exact_and_named() {
    let _bpf = require_root!();
    let (done, _) = trace_gamma(&[], false);
    assert_two_gamma_stacks(&stacks(&done.stdout));
    assert!(
        done.stderr.trim_end().ends_with("Detaching..."),
        "{}",
        done.stderr
    );
}

#[test]
fn root_stacks_of_an_exited_process_are_still_named() {
    let _bpf = require_root!();
    let (done, _) = trace_gamma(&[], true);
    assert_two_gamma_stacks(&stacks(&done.stdout));
}

#[test]
fn root_per_process_stacks_show_comm_and_pid() {
    let _bpf = require_root!();
    let (done, pid) = trace_gamma(&["-P"], false);
    let printed = stacks(&done.stdout);
    assert_two_gamma_stacks(&printed);
    for p in &printed {
        assert_eq!(
            p.process.as_deref(),
            Some(format!("rtools-testprog [{pid}]").as_str()),
            "{p:#?}"
        );
    }
}

#[test]
fn root_folded_stacks() {
    let _bpf = require_root!();
    let (done, _) = trace_gamma(&["-f"], true);
    let lines: Vec<&str> = done.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", done.stdout);
    let count = |suffix: &str| -> u64 {
        let line = lines
            .iter()
            .find(|l| l.rsplit_once(' ').unwrap().0.ends_with(suffix))
            .unwrap_or_else(|| panic!("no stack ending {suffix}: {lines:?}"));
        line.rsplit_once(' ').unwrap().1.parse().unwrap()
    };
    // comm first, outermost frame next, leaf last.
    for line in &lines {
        assert!(line.starts_with("rtools-testprog;"), "{line}");
        assert!(
            line.contains(";rtools_testprog::main;rtools_testprog::work;"),
            "{line}"
        );
    }
    assert_eq!(count(";alpha;beta;gamma"), VIA_BETA);
    assert_eq!(count(";delta;gamma"), VIA_DELTA);
}

/// Issue 25: on a busy machine a short process exited before rtools read
/// its mappings, and its own frames printed as [unknown]. rtools is
/// stopped while the workload runs and exits, so it never sees it alive:
/// the frames are named from the traced binary's build id.
#[test]
fn root_frames_of_a_process_gone_before_rtools_saw_it_are_named() {
    let _bpf = require_root!();
    let mut w = Workload::start(&["stacks", "3001", "1009"]);
    let spec = gamma_spec();
    let tracer = Tracer::start(&["stackcount", "-f", &spec]);
    tracer.paused_during(|| {
        w.run();
        w.exit();
    });
    let done = tracer.stop();
    assert_eq!(done.code, Some(0), "{done:#?}");
    let lines: Vec<&str> = done.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", done.stdout);
    for line in &lines {
        assert!(
            line.contains(";rtools_testprog::main;rtools_testprog::work;"),
            "{line}"
        );
        assert!(!line.contains("[unknown]"), "{line}");
    }
    let total: u64 = lines
        .iter()
        .map(|l| l.rsplit_once(' ').unwrap().1.parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, VIA_BETA + VIA_DELTA);
}

#[test]
fn root_flamegraph_svg_names_gamma() {
    let _bpf = require_root!();
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("out.svg");
    let (done, _) = trace_gamma(&["--flamegraph", svg.to_str().unwrap()], false);
    // The flame graph is the report: no text beside it (issue 25).
    assert_eq!(done.stdout, "", "{done:#?}");
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(
        text.starts_with("<?xml") && text.contains("<svg"),
        "not an SVG"
    );
    assert!(
        text.contains(">gamma<") || text.contains("gamma ("),
        "gamma missing"
    );
    assert!(text.contains("beta") && text.contains("delta"));
    assert!(text.trim_end().ends_with("</svg>"));
}

/// Issue 25: `--flamegraph out.svg` of a run that counted nothing failed;
/// it writes an SVG that says so, and exits 0.
#[test]
fn root_flamegraph_of_no_stacks_says_so() {
    let _bpf = require_root!();
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("none.svg");
    let done = super::support::run(&[
        "stackcount",
        "-D",
        "1",
        "--flamegraph",
        svg.to_str().unwrap(),
        &gamma_spec(),
    ]);
    assert_eq!(done.code, Some(0), "{done:#?}");
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(
        text.starts_with("<?xml") && text.contains("No stacks"),
        "{text}"
    );
    assert!(done.stderr.contains("(0 stacks)"), "{done:#?}");
}

#[test]
fn root_json_stacks() {
    let _bpf = require_root!();
    let (done, _) = trace_gamma(&["--json"], false);
    let v: Value = serde_json::from_str(done.stdout.trim()).unwrap();
    let stacks = v["stacks"].as_array().unwrap();
    assert_eq!(stacks.len(), 2, "{v}");
    let via =
        |caller: &str| stacks.iter().find(|s| s["user"][1] == caller).unwrap()["count"].as_u64();
    assert_eq!(via("beta"), Some(VIA_BETA));
    assert_eq!(via("delta"), Some(VIA_DELTA));
    assert_eq!(v["lost"], 0);
}

/// Regression (issue 10): events whose stack the map could not take
/// vanished from the output; they are counted under a marker stack, so
/// the totals stay exact, and still reported.
#[test]
fn root_lost_stacks_are_counted_under_a_marker() {
    let _bpf = require_root!();
    // Room for one stack: the other path's stacks cannot be stored.
    let (done, _) = trace_gamma(&["-U", "--stack-storage-size", "1"], false);
    let printed = stacks(&done.stdout);
    assert_eq!(printed.len(), 2, "{printed:#?}");
    let total: u64 = printed.iter().map(|p| p.count).sum();
    assert_eq!(total, VIA_BETA + VIA_DELTA, "{printed:#?}");
    let marker = printed
        .iter()
        .find(|p| p.frames.iter().any(|f| f.starts_with("[lost stack: ")))
        .unwrap_or_else(|| panic!("no marker: {printed:#?}"));
    let lost = marker.count;
    assert!(lost == VIA_BETA || lost == VIA_DELTA, "{printed:#?}");
    let warning = done
        .stderr
        .lines()
        .find(|l| l.contains("stacks lost"))
        .unwrap_or_else(|| panic!("{}", done.stderr));
    assert!(
        warning.starts_with(&format!("stackcount: warning: {lost} stacks lost")),
        "{warning}"
    );
    // JSON: the same count lost, and the same total.
    let (done, _) = trace_gamma(&["-U", "--stack-storage-size", "1", "--json"], false);
    let v: Value = serde_json::from_str(done.stdout.trim()).unwrap();
    let lost = v["lost"].as_u64().unwrap_or_else(|| panic!("{v}"));
    assert!(lost == VIA_BETA || lost == VIA_DELTA, "{v}");
    let counted: u64 = json_counts(&v).iter().sum();
    assert_eq!(counted, VIA_BETA + VIA_DELTA, "{v}");
}

/// Regression (issue 10): -d printed no delimiter where the kernel stack
/// was empty; BCC prints it whenever both stacks are collected.
#[test]
fn root_delimiter_even_with_an_empty_kernel_stack() {
    let _bpf = require_root!();
    let (done, _) = trace_gamma(&["-d"], false);
    let printed = stacks(&done.stdout);
    assert_eq!(printed.len(), 2, "{printed:#?}");
    for p in &printed {
        assert_eq!(p.frames[0], "--", "{p:#?}");
        assert_eq!(p.frames[1], "gamma", "{p:#?}");
    }
}

/// Regression (issue 10): without -P, one stack of two programs printed
/// twice with split counts. Text merges them; folded lines and JSON, which
/// show the command, keep one per command.
#[test]
fn root_one_stack_of_two_programs_prints_once_with_the_sum() {
    let _bpf = require_root!();
    // Kernel stacks where syscall tracepoints have them; the same user
    // stack of both otherwise.
    let half = if kernel_has("syscall tracepoint kernel stacks") {
        "-K"
    } else {
        "-U"
    };
    let run = |format: Option<&str>| {
        let mut args = vec!["stackcount", half];
        args.extend(format);
        args.push("t:syscalls:sys_enter_getcpu");
        let tracer = Tracer::start(&args);
        for (name, n) in [("rt-getcpu-a", "1009"), ("rt-getcpu-b", "503")] {
            let mut w = Workload::start(&["--name", name, "getcpu", n]);
            w.run();
            w.exit();
        }
        let done = tracer.stop();
        assert_eq!(done.code, Some(0), "{done:#?}");
        done
    };
    let done = run(None);
    let printed = stacks(&done.stdout);
    assert_eq!(printed.len(), 1, "{printed:#?}");
    assert_eq!(printed[0].count, 1512, "{printed:#?}");
    let done = run(Some("-f"));
    let mut lines: Vec<&str> = done.stdout.lines().collect();
    lines.sort();
    assert_eq!(lines.len(), 2, "{done:#?}");
    assert!(lines[0].starts_with("rt-getcpu-a;") && lines[0].ends_with(" 1009"));
    assert!(lines[1].starts_with("rt-getcpu-b;") && lines[1].ends_with(" 503"));
    let done = run(Some("--json"));
    let v: Value = serde_json::from_str(done.stdout.trim()).unwrap();
    assert_eq!(json_counts(&v), [503, 1009], "{v}");
}

#[test]
fn root_tracepoint_stacks_have_kernel_and_user_frames() {
    let _bpf = require_root!();
    let mut w = Workload::start(&["getppid", "1013"]);
    let pid = w.pid_str();
    let tracer = Tracer::start(&[
        "stackcount",
        "-d",
        "-p",
        &pid,
        "t:syscalls:sys_enter_getppid",
    ]);
    w.run();
    let done = tracer.stop();
    w.exit();
    let printed = stacks(&done.stdout);
    let total: u64 = printed.iter().map(|p| p.count).sum();
    assert_eq!(total, 1013, "{printed:#?}");
    let main = printed.iter().max_by_key(|p| p.count).unwrap();
    let split = main
        .frames
        .iter()
        .position(|f| f == "--")
        .unwrap_or_else(|| panic!("no delimiter: {main:#?}"));
    let (kernel, user) = (&main.frames[..split], &main.frames[split + 1..]);
    // Where the kernel hands programs at syscall tracepoints its stack
    // (not 6.1's: no tool there shows one).
    if kernel_has("syscall tracepoint kernel stacks") {
        assert!(
            kernel.iter().any(|f| f.contains("syscall")),
            "kernel frames: {kernel:?}"
        );
        assert!(kernel.iter().all(|f| f != "[unknown]"), "{kernel:?}");
    } else {
        assert!(kernel.is_empty(), "{kernel:?}");
    }
    assert!(
        user.iter().any(|f| f == "rtools_testprog::work"),
        "user frames: {user:?}"
    );
}

#[test]
fn root_jit_frames_come_from_the_perf_map() {
    let _bpf = require_root!();
    // The workload calls gamma from machine code in an anonymous page that
    // /tmp/perf-PID.map names rtools_jit_trampoline.
    let mut w = Workload::start(&["jit", "1013"]);
    let spec = gamma_spec();
    let tracer = Tracer::start(&["stackcount", &spec]);
    w.run();
    let done = tracer.stop();
    w.exit();
    let printed = stacks(&done.stdout);
    assert_eq!(printed.len(), 1, "{printed:#?}");
    assert_eq!(printed[0].count, 1013);
    assert_eq!(
        &printed[0].frames[..3],
        [
            "gamma",
            "rtools_jit_trampoline",
            "rtools_testprog::Jit::call"
        ],
        "{printed:#?}"
    );
}

#[test]
fn root_user_only_offsets_addresses_and_depth() {
    let _bpf = require_root!();
    let (done, _) = trace_gamma(&["-U", "-s", "-v", "--max-depth", "3"], false);
    let printed = stacks(&done.stdout);
    assert_eq!(printed.len(), 2, "{printed:#?}");
    for p in &printed {
        // Three frames unwound, plus the caller put back at the entry.
        assert!(p.frames.len() <= 4, "{p:#?}");
        let (addr, name) = p.frames[0].split_once(' ').unwrap();
        assert!(u64::from_str_radix(addr, 16).is_ok(), "{p:#?}");
        assert_eq!(name.trim(), "gamma+0x0", "{p:#?}");
        assert!(
            p.frames[1]
                .trim_start_matches(|c: char| c.is_ascii_hexdigit())
                .trim()
                .contains("+0x"),
            "{p:#?}"
        );
    }
    let total: u64 = printed.iter().map(|p| p.count).sum();
    assert_eq!(total, VIA_BETA + VIA_DELTA);
}

#[test]
fn root_usdt_stacks() {
    let _bpf = require_root!();
    let spec = format!("u:{}:tick", testprog_path());
    let mut w = Workload::start(&["usdt", "1013"]);
    let tracer = Tracer::start(&["stackcount", &spec]);
    w.run();
    let done = tracer.stop();
    w.exit();
    let printed = stacks(&done.stdout);
    assert_eq!(
        printed.iter().map(|p| p.count).sum::<u64>(),
        1013,
        "{printed:#?}"
    );
    assert!(
        printed
            .iter()
            .all(|p| p.frames.iter().any(|f| f == "rtools_testprog::work")),
        "{printed:#?}"
    );
}

/// Regression (issue 10): user frames of processes that exit before
/// rtools reads their memory map came out `[unknown]` (2 of 20 here).
/// The kernel keeps each new user stack as build ids and file offsets too,
/// so they are named from the files they ran.
#[test]
fn root_short_lived_processes_are_all_named() {
    let _bpf = require_root!();
    let tracer = Tracer::start(&["stackcount", "-f", "t:syscalls:sys_enter_getcpu"]);
    for _ in 0..20 {
        let mut child = std::process::Command::new(super::support::testprog_bin())
            .args(["getcpu", "100"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // "go", then stdin closes: the work, and the exit right after.
        use std::io::Write as _;
        child.stdin.take().unwrap().write_all(b"go\n").unwrap();
        assert!(child.wait().unwrap().success());
    }
    let done = tracer.stop();
    assert_eq!(done.code, Some(0), "{done:#?}");
    let total: u64 = done
        .stdout
        .lines()
        .map(|l| l.rsplit_once(' ').unwrap().1.parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, 2000, "{}", done.stdout);
    assert!(!done.stdout.contains("[unknown]"), "{}", done.stdout);
    assert!(done.stdout.contains(";main;"), "{}", done.stdout);
}

/// Issue 11: any user can put a FIFO or a symlink at /tmp/perf-PID.map of
/// their own process. stackcount neither blocks on the FIFO nor follows the
/// symlink (to a root-only file here), and -v says why.
#[test]
fn root_perf_maps_that_are_fifos_or_symlinks_are_skipped() {
    let _bpf = require_root!();
    let secret = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(secret.path(), "7f0000000000 1000 SECRET_ROOT_ONLY_SYMBOL\n").unwrap();
    for kind in ["fifo", "symlink"] {
        let mut w = Workload::start(&["stacks", "3001", "1009"]);
        let map = format!("/tmp/perf-{}.map", w.pid);
        let _ = std::fs::remove_file(&map);
        if kind == "fifo" {
            let c = std::ffi::CString::new(map.clone()).unwrap();
            // SAFETY: a valid NUL-terminated path.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o666) }, 0);
        } else {
            std::os::unix::fs::symlink(secret.path(), &map).unwrap();
        }
        let spec = gamma_spec();
        let tracer = Tracer::start(&["stackcount", "-v", "-p", &w.pid_str(), &spec]);
        w.run();
        let stopped = std::time::Instant::now();
        let done = tracer.stop();
        let took = stopped.elapsed();
        w.exit();
        let _ = std::fs::remove_file(&map);
        assert_eq!(done.code, Some(0), "{kind}: {done:#?}");
        // Not stuck opening a fifo no one writes.
        let limit = promptly(std::time::Duration::from_secs(1));
        assert!(took < limit, "{kind}: {took:?}");
        assert!(!done.stdout.contains("SECRET"), "{kind}: {done:#?}");
        let why = if kind == "fifo" {
            "is not a regular file"
        } else {
            "is a symlink"
        };
        assert!(
            done.stderr.contains("skipped its perf map: /tmp/perf-") && done.stderr.contains(why),
            "{kind}: {done:#?}"
        );
        let total: u64 = stacks(&done.stdout).iter().map(|p| p.count).sum();
        assert_eq!(total, VIA_BETA + VIA_DELTA, "{kind}: {done:#?}");
    }
}

/// Issue 11: a process in its own mount and pid namespaces runs its own
/// binary, bind-mounted over a path where the host has another file
/// (`true`), and writes its perf map to its private /tmp under its
/// namespace pid. Its frames are named from its own files, JIT included.
#[test]
fn root_processes_in_other_mount_namespaces_use_their_own_files() {
    let _bpf = require_root!();
    let host = tempfile::Builder::new()
        .prefix("rtools-ns-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let app = host.path().join("app");
    std::fs::copy("/bin/true", &app).unwrap();
    // A copy beside it: the build's own may lie under /tmp (a clone
    // there), which the namespace's tmpfs hides (issue 25).
    let testprog = host.path().join("testprog");
    std::fs::copy(super::support::testprog_path(), &testprog).unwrap();
    let testprog = testprog.display();
    let mut command = std::process::Command::new("unshare");
    command
        .args(["--mount", "--pid", "--fork", "sh", "-c"])
        .arg(format!(
            "mount -t tmpfs none /tmp && mount --bind {testprog} {app} && exec {app} jit 1013",
            app = app.display()
        ));
    let mut w = Workload::start_command(command);
    assert_eq!(w.pid, 1, "the workload is pid 1 of its namespace");
    let spec = format!("{testprog}:gamma");
    let tracer = Tracer::start(&["stackcount", "-v", &spec]);
    w.run();
    let done = tracer.stop();
    w.exit();
    assert_eq!(done.code, Some(0), "{done:#?}");
    let printed = stacks(&done.stdout);
    assert_eq!(printed.len(), 1, "{printed:#?}");
    assert_eq!(printed[0].count, 1013);
    // -v puts the address before each name.
    let names: Vec<&str> = printed[0]
        .frames
        .iter()
        .map(|f| f.split_whitespace().last().unwrap())
        .collect();
    assert_eq!(
        &names[..3],
        [
            "gamma",
            "rtools_jit_trampoline",
            "rtools_testprog::Jit::call"
        ],
        "{printed:#?}"
    );
    assert!(names.contains(&"main"), "{printed:#?}");
    assert!(!done.stderr.contains("skipped"), "{done:#?}");
}

/// Issue 11: `-p PID LIB:FUNC` finds the library in the process's maps;
/// for a process in another mount namespace the path is taken through
/// /proc/PID/root, where the process sees it.
#[test]
fn root_library_paths_of_other_mount_namespaces_go_through_their_root() {
    let _bpf = require_root!();
    use rtools_core::targets::libpath::in_mount_namespace_of;
    let own = in_mount_namespace_of(std::process::id(), std::path::Path::new("/usr/lib/x"));
    assert_eq!(own, std::path::Path::new("/usr/lib/x"));
    let mut child = std::process::Command::new("unshare")
        .args(["--mount", "sleep", "30"])
        .spawn()
        .unwrap();
    // unshare execs sleep in the new namespace: same pid; wait for it.
    let pid = child.id();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let own_ns = std::fs::read_link("/proc/self/ns/mnt").unwrap();
    while std::fs::read_link(format!("/proc/{pid}/ns/mnt")).ok() == Some(own_ns.clone()) {
        assert!(
            std::time::Instant::now() < deadline,
            "no new mount namespace"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let theirs = in_mount_namespace_of(pid, std::path::Path::new("/usr/lib/x"));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        theirs,
        std::path::PathBuf::from(format!("/proc/{pid}/root/usr/lib/x"))
    );
}

/// The stacks of each interval of `-T -i`, split at the timestamp lines.
fn intervals(stdout: &str) -> Vec<Vec<Printed>> {
    let is_stamp = |l: &str| l.len() == 8 && l.as_bytes()[2] == b':' && l.as_bytes()[5] == b':';
    let mut parts: Vec<String> = Vec::new();
    for line in stdout.lines() {
        if is_stamp(line) {
            parts.push(String::new());
        } else if let Some(part) = parts.last_mut() {
            if line != "Detaching..." {
                part.push_str(line);
                part.push('\n');
            }
        }
    }
    parts.iter().map(|p| stacks(p)).collect()
}

/// `-i 1 -D 3`: three intervals, each with only its own stacks (counts
/// reset between them), summing to the workload's calls; the two bursts,
/// 1.2 s apart, land in different intervals.
#[test]
fn root_intervals_reset_and_sum_to_the_total() {
    let _bpf = require_root!();
    let mut w = Workload::start(&["getcpu-bursts", "101", "1200", "103"]);
    let pid = w.pid_str();
    let tracer = Tracer::start(&[
        "stackcount",
        "-T",
        "-i",
        "1",
        "-D",
        "3",
        "-p",
        &pid,
        "t:syscalls:sys_enter_getcpu",
    ]);
    w.run();
    let done = tracer.finish();
    w.exit();
    assert_eq!(done.code, Some(0), "{done:#?}");
    let parts = intervals(&done.stdout);
    assert_eq!(parts.len(), 3, "{}", done.stdout);
    let sums: Vec<u64> = parts
        .iter()
        .map(|stacks| stacks.iter().map(|p| p.count).sum())
        .collect();
    assert_eq!(
        sums.iter().sum::<u64>(),
        101 + 103,
        "{sums:?}\n{}",
        done.stdout
    );
    let busy: Vec<u64> = sums.iter().copied().filter(|&s| s > 0).collect();
    assert_eq!(busy, [101, 103], "{sums:?}\n{}", done.stdout);
}

/// `-c CPU`: only events on that CPU. Two workloads pinned to CPUs 0 and
/// 1 make the same calls; -P shows only the one on the CPU traced, exact.
#[test]
fn root_cpu_filter_keeps_that_cpus_events_only() {
    let _bpf = require_root!();
    let mut on0 = Workload::start(&["--cpu", "0", "getcpu", "211"]);
    let mut on1 = Workload::start(&["--cpu", "1", "getcpu", "223"]);
    let tracer = Tracer::start(&["stackcount", "-P", "-c", "1", "t:syscalls:sys_enter_getcpu"]);
    on0.run();
    on1.run();
    let done = tracer.stop();
    let (pid0, pid1) = (on0.pid_str(), on1.pid_str());
    on0.exit();
    on1.exit();
    let by_pid = |pid: &str| -> u64 {
        stacks(&done.stdout)
            .iter()
            .filter(|p| {
                p.process
                    .as_ref()
                    .is_some_and(|c| c.ends_with(&format!("[{pid}]")))
            })
            .map(|p| p.count)
            .sum()
    };
    assert_eq!(by_pid(&pid1), 223, "{}", done.stdout);
    assert_eq!(by_pid(&pid0), 0, "{}", done.stdout);
}

/// -U and -K on a tracepoint, where both stacks exist: each keeps its own
/// half and drops the other, with exact counts. (Where the kernel gives
/// programs at syscall tracepoints no kernel stack, -K there has nothing
/// to print: each event is counted as an unreadable stack.)
#[test]
fn root_user_only_and_kernel_only_stacks_of_a_syscall() {
    let _bpf = require_root!();
    let kernel_stacks = kernel_has("syscall tracepoint kernel stacks");
    for (flag, want, unwanted) in [
        ("-U", "rtools_testprog::work", "do_syscall_64"),
        ("-K", "do_syscall_64", "rtools_testprog::work"),
    ] {
        let mut w = Workload::start(&["getcpu", "211"]);
        let pid = w.pid_str();
        let tracer = Tracer::start(&[
            "stackcount",
            flag,
            "-p",
            &pid,
            "t:syscalls:sys_enter_getcpu",
        ]);
        w.run();
        let done = tracer.stop();
        w.exit();
        let printed = stacks(&done.stdout);
        if flag == "-K" && !kernel_stacks {
            assert_eq!(printed, [], "{done:#?}");
            assert!(done.stderr.contains(" 211 unreadable,"), "{done:#?}");
            continue;
        }
        let total: u64 = printed.iter().map(|p| p.count).sum();
        assert_eq!(total, 211, "{flag}: {printed:#?}");
        for p in &printed {
            assert!(p.frames.iter().any(|f| f == want), "{flag}: {p:#?}");
            assert!(!p.frames.iter().any(|f| f == unwanted), "{flag}: {p:#?}");
            assert!(!p.frames.iter().any(|f| f == "--"), "{flag}: {p:#?}");
        }
    }
}

/// The entry-caller fix, on a function whose first instruction is not
/// `push %rbp` (tests/testprog/c/leaf.c): no kernel adds the caller
/// there, so without rtools' fix both paths print as one stack, missing
/// leaf_caller_a and leaf_caller_b (seen: one stack counted 20).
#[test]
fn root_callers_of_a_frameless_leaf_are_put_back() {
    let _bpf = require_root!();
    let exe = c_program("leaf");
    let mut w = Workload::start_command({
        let mut c = std::process::Command::new(&exe);
        c.args(["13", "7"]);
        c
    });
    let spec = format!("{}:leaf_no_frame", exe.display());
    let tracer = Tracer::start(&["stackcount", "-U", "-p", &w.pid_str(), &spec]);
    w.run();
    let done = tracer.stop();
    w.exit();
    let mut got: Vec<(Vec<String>, u64)> = stacks(&done.stdout)
        .into_iter()
        .map(|p| (p.frames, p.count))
        .collect();
    got.sort_by_key(|(_, count)| *count);
    let path = |caller: &str| -> Vec<String> {
        ["leaf_no_frame", caller, "main", "__libc_start_call_main"]
            .map(String::from)
            .to_vec()
    };
    assert_eq!(
        got,
        [(path("leaf_caller_b"), 7), (path("leaf_caller_a"), 13)],
        "{done:#?}"
    );
}
