//! funccount on this machine's kernel: real BPF programs, workloads with
//! known (prime) call counts, exact assertions.

use std::collections::BTreeMap;

use serde_json::Value;

use super::support::{
    kernel_has, require_root, testprog_path, trace_workload, BpfIds, Tracer, Workload,
};

const GETPPID: u64 = 7919;

#[test]
fn root_tracepoint_count_is_exact_for_a_pid() {
    let _bpf = require_root!();
    let count = GETPPID.to_string();
    let done = trace_workload(
        &["getppid", &count],
        &["funccount", "-p", "{pid}", "t:syscalls:sys_enter_getppid"],
    );
    assert_eq!(
        done.table(),
        BTreeMap::from([("syscalls:sys_enter_getppid".into(), GETPPID)])
    );
    assert!(done.stderr.starts_with(
        "Tracing 1 functions for \"t:syscalls:sys_enter_getppid\"... Hit Ctrl-C to end."
    ));
    assert!(
        done.stderr.trim_end().ends_with("Detaching..."),
        "{done:#?}"
    );
}

#[test]
fn root_tracepoint_count_without_pid_includes_everyone() {
    let _bpf = require_root!();
    // The raw getcpu syscall: nothing else on the machine makes it (glibc
    // answers sched_getcpu from the vDSO), so the count is exact.
    let done = trace_workload(
        &["getcpu", "7919"],
        &["funccount", "tracepoint:syscalls:sys_enter_getcpu"],
    );
    assert_eq!(
        done.table(),
        BTreeMap::from([("syscalls:sys_enter_getcpu".into(), 7919)])
    );
}

#[test]
fn root_syscall_wildcard_uses_the_table_and_counts_exactly() {
    let _bpf = require_root!();
    // 360 tracepoints: served by one raw_syscalls program and a table.
    let done = trace_workload(
        &["getppid", "7919"],
        &["funccount", "-D", "-p", "{pid}", "t:syscalls:sys_enter_*"],
    );
    assert_eq!(done.table()["syscalls:sys_enter_getppid"], GETPPID);
    assert!(
        done.stderr
            .contains("syscalls:sys_enter_getppid (tracepoint): raw_syscalls table"),
        "{}",
        done.stderr
    );
    // Exits too, through the sys_exit table.
    let done = trace_workload(
        &["getppid", "7919"],
        &["funccount", "-p", "{pid}", "t:syscalls:sys_exit_*"],
    );
    assert_eq!(done.table()["syscalls:sys_exit_getppid"], GETPPID);
}

#[test]
fn root_syscall_numbers_match_the_kernel() {
    let _bpf = require_root!();
    // Syscalls newer than the build headers, and one whose event has
    // another name (uname is sys_enter_newuname), each a distinct prime
    // number of times: a wrong number in the table moves a count.
    let done = trace_workload(
        &["syscall-numbers"],
        &["funccount", "-p", "{pid}", "t:syscalls:sys_enter_*"],
    );
    let table = done.table();
    // The newer ones where this kernel has them (6.1 has none of them).
    let tracefs = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]
        .map(|dir| std::path::Path::new(dir).join("events/syscalls"));
    let has = |event: &str| {
        let event = format!("sys_enter_{event}");
        tracefs.iter().any(|dir| dir.join(&event).exists())
    };
    assert!(has("newuname"), "no syscall events in {tracefs:?}");
    for (event, count) in [
        ("cachestat", 3),
        ("mseal", 5),
        ("newuname", 7),
        ("file_getattr", 11),
    ] {
        if !has(event) {
            assert!(!table.contains_key(&format!("syscalls:sys_enter_{event}")));
            continue;
        }
        assert_eq!(
            table.get(&format!("syscalls:sys_enter_{event}")),
            Some(&count),
            "{table:?}"
        );
    }
}

#[test]
fn root_uprobe_count_is_exact() {
    let _bpf = require_root!();
    let spec = format!("{}:rtools_test_one", testprog_path());
    let done = trace_workload(&["funcs", "4999", "0", "0"], &["funccount", &spec]);
    assert_eq!(
        done.table(),
        BTreeMap::from([("rtools_test_one".into(), 4999)])
    );
}

#[test]
fn root_uprobe_glob_gives_each_function_its_row() {
    let _bpf = require_root!();
    let spec = format!("{}:rtools_test_*", testprog_path());
    let done = trace_workload(
        &["funcs", "4999", "3001", "1009"],
        &["funccount", "-p", "{pid}", &spec],
    );
    let expected = BTreeMap::from([
        ("rtools_test_one".into(), 4999),
        ("rtools_test_two".into(), 3001),
        ("rtools_test_three".into(), 1009),
    ]);
    assert_eq!(done.table(), expected);
    // BCC's order: ascending by count.
    let order: Vec<&str> = done
        .stdout
        .lines()
        .filter(|l| l.starts_with("rtools_test"))
        .collect();
    assert!(order[0].starts_with("rtools_test_three") && order[2].starts_with("rtools_test_one"));
    // And the bpftrace long form, as a regex.
    let spec = format!("uprobe:{}:rtools_test_(one|two)$", testprog_path());
    let done = trace_workload(
        &["funcs", "4999", "3001", "1009"],
        &["funccount", "-r", &spec],
    );
    assert_eq!(done.table().len(), 2, "{done:#?}");
    assert_eq!(done.table()["rtools_test_two"], 3001);
}

#[test]
fn root_unattachable_match_is_skipped_and_the_rest_counted() {
    let _bpf = require_root!();
    // rtools_test_unprobeable refuses uprobes; one bad match used to sink
    // the whole uprobe.multi link and fall back to slow per-function links
    // (226 s to detach all of libc).
    let spec = format!("{}:rtools_test_*", testprog_path());
    let done = trace_workload(
        &["funcs", "4999", "3001", "1009"],
        &["funccount", "-D", &spec],
    );
    assert_eq!(done.table().len(), 3, "{done:#?}");
    assert_eq!(done.table()["rtools_test_one"], 4999);
    let warnings: Vec<&str> = done
        .stderr
        .lines()
        .filter(|l| l.contains("warning"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", done.stderr);
    assert!(warnings[0].contains("1 target(s) could not be attached and were skipped (skipped rtools_test_unprobeable (uprobe)"), "{}", warnings[0]);
    assert!(
        done.stderr.contains("Tracing 3 functions for"),
        "{}",
        done.stderr
    );
    // The others still share multi links rather than one uprobe each,
    // where the kernel has them.
    let how = if kernel_has("uprobe-multi") {
        "uprobe.multi"
    } else {
        "uprobe"
    };
    assert!(
        done.stderr
            .contains(&format!("rtools_test_one (uprobe): {how}\n")),
        "{}",
        done.stderr
    );
}

#[test]
fn root_libc_function_by_library_name() {
    let _bpf = require_root!();
    let done = trace_workload(
        &["libc-getpid", "2003"],
        &["funccount", "-p", "{pid}", "c:getpid"],
    );
    assert_eq!(done.table(), BTreeMap::from([("getpid".into(), 2003)]));
    let done = trace_workload(
        &["libc-getpid", "2003"],
        &["funccount", "-p", "{pid}", "p:c:getpid"],
    );
    assert_eq!(done.table()["getpid"], 2003);
}

#[test]
fn root_usdt_probe_count_is_exact() {
    let _bpf = require_root!();
    let spec = format!("u:{}:tick", testprog_path());
    let done = trace_workload(&["usdt", "1013"], &["funccount", &spec]);
    assert_eq!(done.table(), BTreeMap::from([("tick".into(), 1013)]));
    let spec = format!("usdt:{}:rtools:tick", testprog_path());
    let done = trace_workload(&["usdt", "1013"], &["funccount", "-p", "{pid}", &spec]);
    assert_eq!(done.table()["tick"], 1013);
}

#[test]
fn root_per_process_rows_for_two_children() {
    let _bpf = require_root!();
    let mut first = Workload::start(&["--name", "rt_first", "getppid", "1021"]);
    let mut second = Workload::start(&["--name", "rt_second", "getppid", "2027"]);
    let tracer = Tracer::start(&["funccount", "-P", "t:syscalls:sys_enter_getppid"]);
    first.run();
    second.run();
    let done = tracer.stop();
    let table = done.table();
    let row = |comm: &str, pid: u32| {
        table
            .get(&format!("syscalls:sys_enter_getppid {comm} {pid}"))
            .copied()
    };
    assert_eq!(row("rt_first", first.pid), Some(1021), "{done:#?}");
    assert_eq!(row("rt_second", second.pid), Some(2027), "{done:#?}");
    assert!(done
        .stdout
        .contains("FUNC                                 COMM                 PID    COUNT"));
    first.exit();
    second.exit();
}

#[test]
fn root_group_by_comm_tid_and_cpu() {
    let _bpf = require_root!();
    let done = trace_workload(
        &["--name", "rt_grouped", "getppid", "1031"],
        &["funccount", "--by", "comm", "t:syscalls:sys_enter_getppid"],
    );
    assert_eq!(done.table()["syscalls:sys_enter_getppid rt_grouped"], 1031);
    let mut w = Workload::start(&["--name", "rt_tid", "getppid", "1033"]);
    let pid = w.pid_str();
    let tracer = Tracer::start(&[
        "funccount",
        "--by",
        "tid",
        "-p",
        &pid,
        "t:syscalls:sys_enter_getppid",
    ]);
    w.run();
    let done = tracer.stop();
    // Single-threaded: the tid is the pid.
    assert_eq!(
        done.table()[&format!("syscalls:sys_enter_getppid rt_tid {pid}")],
        1033
    );
    w.exit();
    let done = trace_workload(
        &["--cpu", "1", "getppid", "1039"],
        &[
            "funccount",
            "--by",
            "cpu",
            "-p",
            "{pid}",
            "t:syscalls:sys_enter_getppid",
        ],
    );
    assert_eq!(
        done.table(),
        BTreeMap::from([("syscalls:sys_enter_getppid 1".into(), 1039)])
    );
}

#[test]
fn root_cpu_filter() {
    let _bpf = require_root!();
    let done = trace_workload(
        &["--cpu", "1", "getppid", "1049"],
        &[
            "funccount",
            "-c",
            "1",
            "-p",
            "{pid}",
            "t:syscalls:sys_enter_getppid",
        ],
    );
    assert_eq!(done.table()["syscalls:sys_enter_getppid"], 1049);
    let done = trace_workload(
        &["--cpu", "1", "getppid", "1049"],
        &[
            "funccount",
            "-c",
            "0",
            "-p",
            "{pid}",
            "t:syscalls:sys_enter_getppid",
        ],
    );
    assert!(done.table().is_empty(), "{done:#?}");
}

#[test]
fn root_intervals_reset_counts() {
    let _bpf = require_root!();
    let mut w = Workload::start(&["getppid", "1051"]);
    let pid = w.pid_str();
    let tracer = Tracer::start(&[
        "funccount",
        "-T",
        "-i",
        "1",
        "-d",
        "3",
        "-p",
        &pid,
        "t:syscalls:sys_enter_getppid",
    ]);
    w.run();
    let done = tracer.finish();
    w.exit();
    let tables = done.tables();
    assert_eq!(tables.len(), 3, "{done:#?}");
    // All calls happened in the first interval; had counts not been reset
    // the later tables would repeat them.
    let total: u64 = tables.iter().map(|t| t.values().sum::<u64>()).sum();
    assert_eq!(total, 1051, "{done:#?}");
    assert_eq!(tables[0].get("syscalls:sys_enter_getppid"), Some(&1051));
    // -T: a HH:MM:SS line before each heading.
    let stamps = done
        .stdout
        .lines()
        .filter(|l| l.len() == 8 && l.as_bytes()[2] == b':')
        .count();
    assert_eq!(stamps, 3, "{}", done.stdout);
}

#[test]
fn root_json_carries_the_same_numbers() {
    let _bpf = require_root!();
    let spec = format!("{}:rtools_test_*", testprog_path());
    let done = trace_workload(
        &["funcs", "4999", "3001", "1009"],
        &["funccount", "--json", "-P", &spec],
    );
    let lines: Vec<&str> = done.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{done:#?}");
    let v: Value = serde_json::from_str(lines[0]).unwrap();
    let rows = v["rows"].as_array().unwrap();
    let count = |f: &str| {
        rows.iter()
            .find(|r| r["func"] == f)
            .map(|r| r["count"].as_u64().unwrap())
    };
    assert_eq!(count("rtools_test_one"), Some(4999));
    assert_eq!(count("rtools_test_two"), Some(3001));
    assert_eq!(count("rtools_test_three"), Some(1009));
    assert!(
        rows.iter()
            .all(|r| r["comm"] == "rtools-testprog" && r["pid"].is_u64()),
        "{v}"
    );
    assert_eq!(v["lost"], 0);
    assert_eq!(v["pattern"], spec.as_str());
}

#[test]
fn root_top_keeps_the_busiest_rows() {
    let _bpf = require_root!();
    let spec = format!("{}:rtools_test_*", testprog_path());
    let done = trace_workload(
        &["funcs", "4999", "3001", "1009"],
        &["funccount", "--top", "2", &spec],
    );
    let expected = BTreeMap::from([
        ("rtools_test_one".into(), 4999),
        ("rtools_test_two".into(), 3001),
    ]);
    assert_eq!(done.table(), expected);
}

#[test]
fn root_two_processes_on_both_cpus_lose_no_counts() {
    let _bpf = require_root!();
    const N: u64 = 100_003;
    let n = N.to_string();
    // A tracepoint (plain per-CPU increments) and a uprobe (preemptible
    // program: locked per-CPU increments), each hit from both CPUs at once.
    for (mode, spec) in [
        ("getcpu", "t:syscalls:sys_enter_getcpu".to_string()),
        ("funcs", format!("{}:rtools_test_one", testprog_path())),
    ] {
        let args = |cpu: &'static str| -> Vec<String> {
            match mode {
                "funcs" => vec![
                    "--cpu".into(),
                    cpu.into(),
                    "funcs".into(),
                    n.clone(),
                    "0".into(),
                    "0".into(),
                ],
                _ => vec!["--cpu".into(), cpu.into(), mode.into(), n.clone()],
            }
        };
        let a0 = args("0");
        let a1 = args("1");
        let mut w0 = Workload::start(&a0.iter().map(String::as_str).collect::<Vec<_>>());
        let mut w1 = Workload::start(&a1.iter().map(String::as_str).collect::<Vec<_>>());
        let tracer = Tracer::start(&["funccount", "-P", &spec]);
        let t0 = std::thread::spawn(move || {
            w0.run();
            w0
        });
        w1.run();
        let w0 = t0.join().unwrap();
        let done = tracer.stop();
        let table = done.table();
        let ours: u64 = table
            .iter()
            .filter(|(k, _)| {
                k.ends_with(&format!(" {}", w0.pid)) || k.ends_with(&format!(" {}", w1.pid))
            })
            .map(|(_, v)| v)
            .sum();
        assert_eq!(ours, 2 * N, "{mode}: {table:?}");
        w0.exit();
        w1.exit();
    }
}

#[test]
fn root_sigterm_prints_the_summary() {
    let _bpf = require_root!();
    let mut w = Workload::start(&["getppid", "1061"]);
    let pid = w.pid_str();
    let tracer = Tracer::start(&["funccount", "-p", &pid, "t:syscalls:sys_enter_getppid"]);
    w.run();
    let done = tracer.signal(libc::SIGTERM);
    w.exit();
    assert_eq!(done.code, Some(0));
    assert_eq!(done.table()["syscalls:sys_enter_getppid"], 1061);
}

#[test]
fn root_second_signal_exits_at_once_with_130() {
    let _bpf = require_root!();
    let tracer = Tracer::start(&["funccount", "t:syscalls:sys_enter_getppid"]);
    let pid = tracer.pid() as i32;
    // Two different signals, so the kernel cannot merge them into one.
    // SAFETY: kill on our own child.
    unsafe {
        libc::kill(pid, libc::SIGINT);
        libc::kill(pid, libc::SIGTERM);
    }
    let done = tracer.finish();
    assert_eq!(done.code, Some(130), "{done:#?}");
}

#[test]
fn root_closed_stdout_ends_quietly() {
    let _bpf = require_root!();
    use std::process::{Command, Stdio};
    let mut child = Command::new(super::support::rtools_bin())
        .args([
            "funccount",
            "-i",
            "1",
            "-d",
            "3",
            "t:syscalls:sys_enter_getppid",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("error"),
        "{stderr}"
    );
}

/// The programs and links each tool made are gone after a SIGKILL: only
/// the ids this tracer held are followed, so another rtools or BPF user
/// on the machine does not matter.
#[test]
fn root_sigkill_leaves_no_program_or_link_behind() {
    let _bpf = require_root!();
    let uprobe = format!("{}:rtools_test_*", testprog_path());
    for args in [
        vec!["funccount", "t:syscalls:sys_enter_getppid"],
        vec!["funccount", "t:syscalls:sys_enter_*"],
        vec!["funccount", "-P", uprobe.as_str()],
        vec!["stackcount", "t:syscalls:sys_enter_getppid"],
        vec!["funclatency", uprobe.as_str()],
    ] {
        let tracer = Tracer::start(&args);
        let held = BpfIds::held_by(tracer.pid());
        assert!(!held.progs.is_empty(), "{args:?}: no program? {held:?}");
        assert!(!held.links.is_empty(), "{args:?}: no link? {held:?}");
        let done = tracer.signal(libc::SIGKILL);
        assert_eq!(done.code, None, "killed by a signal");
        assert_eq!(held.left_behind(), BpfIds::default(), "{args:?}");
    }
}

/// `-p PID`: when the process exits there is nothing left to trace; every
/// tool prints its final summary and exits 0 by itself (issue 9).
#[test]
fn root_every_tool_ends_when_the_traced_process_exits() {
    let _bpf = require_root!();
    let funcs = format!("{}:rtools_test_one", testprog_path());
    for tool in ["funccount", "stackcount", "funclatency"] {
        let mut workload = Workload::start(&["funcs", "211", "0", "0"]);
        let pid = workload.pid_str();
        let tracer = Tracer::start(&[tool, "-p", &pid, &funcs]);
        workload.run();
        workload.exit();
        let done = tracer.finish();
        assert_eq!(done.code, Some(0), "{tool}: {done:#?}");
        assert!(
            done.stderr
                .contains(&format!("{tool}: process {pid} exited; final summary:")),
            "{tool}: {done:#?}"
        );
        let counted = match tool {
            "funclatency" => done.stdout.contains("count: 211"),
            _ => done.stdout.contains(" 211"),
        };
        assert!(counted, "{tool}: {done:#?}");
    }
    // trace prints events as they come: no summary follows the notice
    // (issue 25: "final summary:" and nothing under it).
    let mut workload = Workload::start(&["funcs", "211", "0", "0"]);
    let pid = workload.pid_str();
    let tracer = Tracer::start(&["trace", "-p", &pid, &funcs]);
    workload.run();
    workload.exit();
    let done = tracer.finish();
    assert_eq!(done.code, Some(0), "{done:#?}");
    let notice = format!("trace: process {pid} exited");
    assert!(done.stderr.lines().any(|l| l == notice), "{done:#?}");
    assert!(!done.stderr.contains("final summary"), "{done:#?}");
    assert_eq!(done.stdout.lines().count(), 1 + 211, "{done:#?}");
}
