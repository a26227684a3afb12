//! trace on this machine's kernel: predicates and formats compiled to BPF,
//! on uprobes, uretprobes, tracepoints and USDT probes, with exact lines
//! from workloads whose arguments are known.

use serde_json::Value;

use super::support::{
    kernel_has, require_root, run, testprog_path, trace_command, trace_workload, Tracer, Workload,
};

/// trace_target's calls (prime): i = 0..N-1.
const N: u64 = 211;

/// The messages of trace's lines (the column after FUNC), header left out.
fn messages(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .skip_while(|l| !l.starts_with("PID "))
        .skip(1)
        .filter(|l| !l.starts_with(' ') && !l.is_empty())
        .map(|l| l.split_whitespace().skip(4).collect::<Vec<_>>().join(" "))
        .collect()
}

fn target(func: &str) -> String {
    format!("{}:{func}", testprog_path())
}

#[test]
fn root_predicate_and_format_print_exact_lines() {
    let _bpf = require_root!();
    let probe = format!(
        "{} (arg1 % 7 == 0) \"i=%d s=%s\", arg1, arg2",
        target("trace_target")
    );
    let done = trace_workload(
        &["trace", &N.to_string()],
        &["trace", "-p", "{pid}", &probe],
    );
    let want: Vec<String> = (0..N)
        .filter(|i| i % 7 == 0)
        .map(|i| format!("i={i} s=s{i}"))
        .collect();
    assert_eq!(want.len(), 31);
    assert_eq!(messages(&done.stdout), want, "{done:#?}");
    let header = done.stdout.lines().next().unwrap();
    assert_eq!(header, "PID     TID     COMM            FUNC             -");
    let first = done.stdout.lines().nth(1).unwrap();
    let cols: Vec<&str> = first.split_whitespace().collect();
    assert_eq!(
        (cols[2], cols[3]),
        ("rtools-testprog", "trace_target"),
        "{first}"
    );
    assert_eq!(cols[0], cols[1], "one thread: PID is TID");
}

#[test]
fn root_return_probes_print_the_return_value() {
    let _bpf = require_root!();
    let probe = format!(
        "r:{} (retval % 7 == 0) \"ret=%d\", retval",
        target("trace_target")
    );
    let done = trace_workload(
        &["trace", &N.to_string()],
        &["trace", "-p", "{pid}", &probe],
    );
    // trace_target returns 3i: a multiple of 7 exactly when i is.
    let want: Vec<String> = (0..N)
        .filter(|i| i % 7 == 0)
        .map(|i| format!("ret={}", 3 * i))
        .collect();
    assert_eq!(messages(&done.stdout), want, "{done:#?}");
}

#[test]
fn root_max_events_prints_exactly_m_then_exits() {
    let _bpf = require_root!();
    let mut w = Workload::start(&["trace", &N.to_string()]);
    let pid = w.pid_str();
    let probe = format!("{} \"%d\", arg1", target("trace_target"));
    let tracer = Tracer::start(&["trace", "-p", &pid, "-M", "10", &probe]);
    w.run();
    let done = tracer.finish();
    w.exit();
    assert_eq!(done.code, Some(0), "{done:#?}");
    let want: Vec<String> = (0..10).map(|i| i.to_string()).collect();
    assert_eq!(messages(&done.stdout), want, "{done:#?}");
}

#[test]
fn root_tracepoint_fields_in_predicates_and_formats() {
    let _bpf = require_root!();
    // The workload makes a raw getcpu syscall with i as its first argument
    // after each call.
    let probe = "t:syscalls:sys_enter_getcpu (args->cpup % 7 == 0) \"cpup=%d nr=%d\", args->cpup, args->__syscall_nr";
    let done = trace_workload(
        &["trace-getcpu", &N.to_string()],
        &["trace", "-p", "{pid}", probe],
    );
    let want: Vec<String> = (0..N)
        .filter(|i| i % 7 == 0)
        .map(|i| format!("cpup={i} nr={}", libc::SYS_getcpu))
        .collect();
    assert_eq!(messages(&done.stdout), want, "{done:#?}");
    // FUNC is the event, as BCC shows it.
    assert!(done
        .stdout
        .lines()
        .nth(1)
        .unwrap()
        .contains(" sys_enter_getcpu "));
}

#[test]
fn root_data_loc_strings_of_a_tracepoint() {
    let _bpf = require_root!();
    // sched_process_exec's filename is a __data_loc string: the path each
    // exec was given. A name only this test uses, run 5 times.
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("rtools-trace-exec");
    std::os::unix::fs::symlink(testprog_path(), &path).unwrap();
    let path = path.display().to_string();
    let probe = format!(
        "t:sched:sched_process_exec (STRCMP(\"{path}\", args->filename)) \"%s\", args->filename"
    );
    let tracer = Tracer::start(&["trace", &probe]);
    for _ in 0..5 {
        // One getcpu call, then the end of its input ends it.
        let status = std::process::Command::new(&path)
            .args(["getcpu", "1"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .status();
        assert!(status.unwrap().success());
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let done = tracer.stop();
    assert_eq!(done.code, Some(0), "{done:#?}");
    assert_eq!(messages(&done.stdout), vec![path.clone(); 5], "{done:#?}");
}

#[test]
fn root_usdt_arguments() {
    let _bpf = require_root!();
    let probe = format!(
        "u:{}:tick (arg1 % 7 == 0) \"tick %d\", arg1",
        testprog_path()
    );
    let done = trace_workload(&["usdt", &N.to_string()], &["trace", "-p", "{pid}", &probe]);
    let want: Vec<String> = (0..N)
        .filter(|i| i % 7 == 0)
        .map(|i| format!("tick {i}"))
        .collect();
    assert_eq!(messages(&done.stdout), want, "{done:#?}");
    assert!(done.stdout.lines().nth(1).unwrap().contains(" tick "));
}

#[test]
fn root_stacks_name_the_callers() {
    let _bpf = require_root!();
    let mut w = Workload::start(&["trace", &N.to_string()]);
    let pid = w.pid_str();
    let user = format!("{} \"%d\", arg1", target("trace_target"));
    let tracer = Tracer::start(&["trace", "-p", &pid, "-U", "-M", "3", &user]);
    w.run();
    let done = tracer.finish();
    w.exit();
    // Each line, its stack below (the probed function, its caller, ...),
    // then a blank line.
    let lines: Vec<&str> = done.stdout.lines().collect();
    let first = lines.iter().position(|l| l.ends_with(" 0")).unwrap();
    assert!(
        lines[first + 1]
            .trim()
            .starts_with("trace_target+0x0 [rtools-testprog]"),
        "{}",
        done.stdout
    );
    assert!(
        lines[first + 2].contains("rtools_testprog::work"),
        "{}",
        done.stdout
    );
    assert_eq!(messages(&done.stdout), ["0", "1", "2"], "{}", done.stdout);
    // The kernel stack of a syscall's tracepoint goes through the syscall
    // entry.
    let mut w = Workload::start(&["trace-getcpu", &N.to_string()]);
    let pid = w.pid_str();
    let tracer = Tracer::start(&[
        "trace",
        "-p",
        &pid,
        "-K",
        "-M",
        "1",
        "t:syscalls:sys_enter_getcpu",
    ]);
    w.run();
    let done = tracer.finish();
    w.exit();
    if kernel_has("syscall tracepoint kernel stacks") {
        assert!(done.stdout.contains("do_syscall_64+0x"), "{}", done.stdout);
        assert!(done.stdout.contains(" [kernel]"), "{}", done.stdout);
    } else {
        assert!(!done.stdout.contains(" [kernel]"), "{}", done.stdout);
    }
    // At a tracepoint attached raw, the stack starts at the tracepoint's
    // caller, as BCC's does: not in rtools' program or bpf_trace_runN.
    let mut w = Workload::start(&["comms", "3"]);
    let pid = w.pid_str();
    let tracer = Tracer::start(&["trace", "-p", &pid, "-K", "-M", "1", "t:task:task_rename"]);
    w.run();
    let done = tracer.finish();
    w.exit();
    let lines: Vec<&str> = done.stdout.lines().collect();
    let first = lines
        .iter()
        .position(|l| l.trim_end().ends_with(" task_rename"));
    let first = first.unwrap_or_else(|| panic!("{}", done.stdout));
    assert!(
        lines[first + 1].trim().starts_with("__set_task_comm+0x"),
        "{}",
        done.stdout
    );
}

#[test]
fn root_flood_printed_plus_lost_equals_matched() {
    let _bpf = require_root!();
    // A ring buffer of one page takes one record of a 2 KB string: under
    // a flood most find it full. Every matched event is printed or counted
    // lost.
    let calls = 100_003u64;
    let probe = format!("{} \"%d %s\", arg1, arg2", target("trace_target"));
    let done = trace_workload(
        &["trace", &calls.to_string()],
        &["trace", "-b", "1", "-Z", "2048", "-p", "{pid}", &probe],
    );
    let printed = messages(&done.stdout).len() as u64;
    let lost: u64 = done
        .stderr
        .lines()
        .find_map(|l| {
            l.strip_prefix("trace: ")?
                .split(" events lost")
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no lost count: {}", done.stderr));
    assert!(lost > 0, "{}", done.stderr);
    assert_eq!(printed + lost, calls, "printed {printed}, lost {lost}");
}

#[test]
fn root_json_events() {
    let _bpf = require_root!();
    let probe = format!(
        "{} (arg1 < 3) \"%d %s\", arg1, arg2",
        target("trace_target")
    );
    let done = trace_workload(
        &["trace", &N.to_string()],
        &["trace", "--json", "-p", "{pid}", &probe],
    );
    let events: Vec<Value> = done
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert_eq!(events.len(), 3, "{}", done.stdout);
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["message"], format!("{i} s{i}"));
        assert_eq!(e["values"], serde_json::json!([i, format!("s{i}")]));
        assert_eq!(e["func"], "trace_target");
        assert_eq!(e["comm"], "rtools-testprog");
        assert_eq!(e["pid"], e["tid"]);
        assert!(e["timestamp"].as_f64().unwrap() > 1e9);
    }
}

#[test]
fn root_filters_on_name_message_and_aggregate() {
    let _bpf = require_root!();
    let probe = format!("{} \"i=%d s=%s\", arg1, arg2", target("trace_target"));
    let done = trace_workload(
        &["trace", "23"],
        &["trace", "-p", "{pid}", "-f", "s2", &probe],
    );
    assert_eq!(
        messages(&done.stdout),
        ["i=2 s=s2", "i=20 s=s20", "i=21 s=s21", "i=22 s=s22"]
    );
    let done = trace_workload(
        &["trace", "23"],
        &["trace", "-p", "{pid}", "-n", "nomatch", &probe],
    );
    assert!(messages(&done.stdout).is_empty(), "{}", done.stdout);
    let done = trace_workload(
        &["trace", "23"],
        &["trace", "-p", "{pid}", "-n", "testprog", "-M", "2", &probe],
    );
    assert_eq!(messages(&done.stdout).len(), 2, "{}", done.stdout);
    // -A: identical lines counted, the most frequent first.
    let parity = format!("{} \"%d\", arg1 % 2", target("trace_target"));
    let mut w = Workload::start(&["trace", "23"]);
    let pid = w.pid_str();
    let tracer = Tracer::start(&["trace", "-p", &pid, "-A", "-M", "15", &parity]);
    w.run();
    let done = tracer.finish();
    w.exit();
    let counts: Vec<&str> = done
        .stdout
        .lines()
        .filter(|l| l.starts_with("-->COUNT"))
        .collect();
    assert_eq!(counts, ["-->COUNT 8", "-->COUNT 7"], "{}", done.stdout);
}

/// Issue 25: `trace -p PID -U` printed [unknown] frames when the process
/// exited before its records were read (its mappings read too late), and
/// `-A` put a blank line between a line's stack and its `-->COUNT`.
/// trace is stopped while the workload runs and exits.
#[test]
fn root_stacks_of_a_process_gone_before_its_records_are_read_are_named() {
    let _bpf = require_root!();
    let mut w = Workload::start(&["trace", "5"]);
    let pid = w.pid_str();
    let probe = format!("{} \"x\"", target("trace_target"));
    let tracer = Tracer::start(&["trace", "-p", &pid, "-U", "-A", "-M", "3", &probe]);
    tracer.paused_during(|| {
        w.run();
        w.exit();
    });
    let done = tracer.finish();
    assert_eq!(done.code, Some(0), "{done:#?}");
    let lines: Vec<&str> = done.stdout.lines().collect();
    let count = lines.iter().position(|l| *l == "-->COUNT 3");
    let count = count.unwrap_or_else(|| panic!("no -->COUNT 3:\n{}", done.stdout));
    assert!(lines[count - 1].contains("[libc.so.6]"), "{}", done.stdout);
    assert!(
        lines[2]
            .trim()
            .starts_with("trace_target+0x0 [rtools-testprog]"),
        "{}",
        done.stdout
    );
    assert!(!done.stdout.contains("[unknown]"), "{}", done.stdout);
}

/// Issue 25: `ctx->REG` (BCC's saved registers) and the empty probe type
/// (`:LIB:FUNC`, BCC's p) from trace(8)'s own examples.
#[test]
fn root_bccs_ctx_registers_and_empty_probe_type() {
    let _bpf = require_root!();
    let probe = format!(
        ":{} (arg1 == 3) \"%d %d\", ctx->di, arg1",
        target("trace_target")
    );
    let done = trace_workload(&["trace", "7"], &["trace", "-p", "{pid}", &probe]);
    assert_eq!(messages(&done.stdout), ["3 3"], "{done:#?}");
}

/// Issue 25: `trace 't:syscalls:sys_enter_*'` took 14-17 s to exit (360
/// perf tracepoint links, closed one at a time by the kernel). Many
/// syscall tracepoints go through raw_syscalls now: a dispatcher per
/// direction tail-calls each syscall's program, two links to detach.
#[test]
fn root_wide_syscall_wildcards_detach_at_once_with_exact_fields() {
    let _bpf = require_root!();
    let n = 211;
    let enter =
        "t:syscalls:sys_enter_get* (args->__syscall_nr == 309) \"nr=%d\", args->__syscall_nr";
    let exit = "t:syscalls:sys_exit_get* (args->__syscall_nr == 309) \"ret=%d\", args->ret";
    let done = trace_workload(
        &["trace-getcpu", &n.to_string()],
        &["trace", "-v", "-p", "{pid}", enter, exit],
    );
    let lines = messages(&done.stdout);
    let entered = lines.iter().filter(|l| *l == "nr=309").count();
    // getcpu(i, 0): i = 0 is NULL (fine), the rest bad pointers.
    let ok = lines.iter().filter(|l| *l == "ret=0").count();
    let faults = lines.iter().filter(|l| *l == "ret=-14").count();
    assert_eq!((entered, ok, faults), (n, 1, n - 1), "{done:#?}");
    assert!(
        done.stderr
            .contains("(tracepoint): raw_syscalls, a tail call"),
        "{done:#?}"
    );
    let detached = done
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("trace: detached in "))
        .unwrap_or_else(|| panic!("{done:#?}"));
    // Under a second: Duration's Debug says ms, µs or ns then.
    let quick = ["ms", "µs", "ns"]
        .iter()
        .any(|unit| detached.ends_with(unit));
    assert!(quick, "detached in {detached}");
}

/// Issue 25: `trace 't:*:*'` took 95 s to exit, `t:sched:*` a second:
/// a perf tracepoint link takes ~40 ms to close, one at a time. A probe
/// that reads nothing of the tracepoint's record attaches raw (a link
/// that detaches at once); one that reads a field keeps its tracepoint
/// link. Both count every event.
#[test]
fn root_tracepoint_wildcards_without_fields_attach_raw_and_count_exactly() {
    let _bpf = require_root!();
    let n = 103;
    let fields = "t:task:task_rename \"to %s\", args->newcomm";
    let done = trace_workload(
        &["comms", &n.to_string()],
        &["trace", "-v", "-p", "{pid}", "t:task:*", fields],
    );
    let lines = messages(&done.stdout);
    let plain = lines.iter().filter(|l| l.is_empty()).count();
    let named: Vec<String> = (0..n).map(|i| format!("to c{i}")).collect();
    let renamed: Vec<&String> = lines.iter().filter(|l| l.starts_with("to ")).collect();
    assert_eq!(plain, n, "{done:#?}");
    assert_eq!(renamed, named.iter().collect::<Vec<_>>(), "{done:#?}");
    let plans: Vec<&str> = done
        .stderr
        .lines()
        .filter_map(|l| l.split_once(": plan: slot ").map(|(_, plan)| plan))
        .collect();
    assert!(
        plans.contains(&"0 task:task_rename (tracepoint): tracepoint link"),
        "{plans:#?}"
    );
    let raw = plans
        .iter()
        .filter(|p| p.ends_with("(tracepoint): raw tracepoint link"))
        .count();
    assert!(raw >= 2, "{plans:#?}");
    assert_eq!(raw + 1, plans.len(), "{plans:#?}");
}

/// Issue 25: `%c` of a byte above 0x7f writes that byte, as printf does
/// (it wrote U+00E9's two UTF-8 bytes): the output is bytes, and this one
/// alone is no UTF-8, so it reads back as U+FFFD.
#[test]
fn root_chars_above_0x7f_are_written_as_bytes() {
    let _bpf = require_root!();
    let probe = format!(
        "{} (arg1 == 2) \"[%c%c]\", 0xe9, 0x41",
        target("trace_target")
    );
    let done = trace_workload(&["trace", "5"], &["trace", "-p", "{pid}", &probe]);
    assert_eq!(messages(&done.stdout), ["[\u{fffd}A]"], "{done:#?}");
}

/// Issue 25: BCC's `-B`: STRCMP's literal as a list of bytes, compared
/// with as many bytes of memory (a prefix, NULs included).
#[test]
fn root_bin_cmp_compares_byte_lists() {
    let _bpf = require_root!();
    let n = 13;
    let probe = |list: &str| {
        format!(
            "{} (STRCMP(\"{list}\", arg2)) \"%s\", arg2",
            target("trace_target")
        )
    };
    let done = trace_workload(
        &["trace", &n.to_string()],
        &[
            "trace",
            "-B",
            "-p",
            "{pid}",
            &probe("{0x73, 0x33, 0}"),
            &probe("{'s', 0x31}"),
        ],
    );
    let mut lines = messages(&done.stdout);
    lines.sort();
    // s3 (with its NUL) by the first; s1, s10, s11, s12 by the second.
    assert_eq!(lines, ["s1", "s10", "s11", "s12", "s3"], "{done:#?}");
    // Without -B the same literal is a string, which no argument is.
    let done = trace_workload(
        &["trace", &n.to_string()],
        &["trace", "-p", "{pid}", &probe("{'s', 0x31}")],
    );
    assert_eq!(messages(&done.stdout), Vec::<String>::new(), "{done:#?}");
    let bad = run(&["trace", "-B", &probe("{0x100}")]);
    assert_eq!(bad.code, Some(2), "{bad:#?}");
    assert!(
        bad.stderr
            .contains("'0x100' in the byte list of STRCMP is not a byte"),
        "{bad:#?}"
    );
}

/// Issue 25: BCC's `-s FILES`: the user frames of a stripped binary are
/// named from an unstripped copy with the same build id.
#[test]
fn root_symbol_files_name_the_frames_of_a_stripped_binary() {
    let _bpf = require_root!();
    let dir = tempfile::TempDir::new().unwrap();
    let stripped = dir.path().join("rtools-testprog");
    let status = std::process::Command::new("strip")
        .arg("--strip-all")
        .arg("-o")
        .arg(&stripped)
        .arg(testprog_path())
        .status()
        .unwrap();
    assert!(status.success());
    let probe = "t:syscalls:sys_enter_getcpu \"g\"";
    let traced = |extra: &[&str]| {
        let mut workload = std::process::Command::new(&stripped);
        workload.args(["getcpu", "3"]);
        let args = [&["trace", "-U", "-p", "{pid}"], extra, &[probe]].concat();
        trace_command(workload, &args, false)
    };
    let named = "rtools_testprog::work";
    let plain = traced(&[]);
    assert_eq!(messages(&plain.stdout), ["g", "g", "g"], "{plain:#?}");
    assert!(!plain.stdout.contains(named), "{plain:#?}");
    let testprog = testprog_path();
    let list = format!("/nonexistent,{testprog}");
    let given = run(&["trace", "-s", &list, probe]);
    assert_eq!(given.code, Some(2), "{given:#?}");
    assert!(
        given
            .stderr
            .starts_with("trace: error: -s/--sym_file_list: symbol file /nonexistent: "),
        "{given:#?}"
    );
    let given = traced(&["-s", &testprog]);
    assert_eq!(messages(&given.stdout), ["g", "g", "g"], "{given:#?}");
    let frames = given
        .stdout
        .lines()
        .filter(|l| l.contains(named) && l.ends_with(" [rtools-testprog]"))
        .count();
    assert!(frames >= 3, "{given:#?}");
}

#[test]
fn root_verbose_shows_the_compiled_program() {
    let _bpf = require_root!();
    let done = run(&[
        "trace",
        "-v",
        "-d",
        "1",
        "t:syscalls:sys_enter_getcpu (args->cpup == 12345)",
    ]);
    assert_eq!(done.code, Some(0), "{done:#?}");
    assert!(
        done.stderr.contains("trace: program g0_tp"),
        "{}",
        done.stderr
    );
    assert!(
        done.stderr.contains("if r0 != 12345 goto"),
        "{}",
        done.stderr
    );
    assert!(done.stderr.contains("call 131"), "{}", done.stderr);
}

#[test]
fn root_probe_mistakes_found_against_the_target_are_usage_errors() {
    let _bpf = require_root!();
    let cases: &[(&str, &str)] = &[
        (
            "t:syscalls:sys_enter_getcpu (args->nope > 1)",
            "no field 'nope' in this tracepoint",
        ),
        (
            "t:syscalls:sys_enter_getcpu \"%d\", arg1",
            "tracepoints have fields",
        ),
        (
            "t:syscalls:sys_enter_getcpu ($comm + 1)",
            "is a string where a number is needed",
        ),
        (
            "t:syscalls:sys_enter_getcpu (retval)",
            "only at a return probe",
        ),
    ];
    for (probe, needle) in cases {
        let done = run(&["trace", probe]);
        assert_eq!(done.code, Some(2), "{probe}: {done:#?}");
        let lines: Vec<&str> = done.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{probe}: {}", done.stderr);
        assert!(
            lines[0].starts_with(&format!("trace: error: in probe '{probe}': ")),
            "{}",
            lines[0]
        );
        assert!(lines[0].contains(needle), "{probe}: {}", lines[0]);
    }
    let usdt = format!("u:{}:tick \"%d\", arg2", testprog_path());
    let done = run(&["trace", &usdt]);
    assert_eq!(done.code, Some(2), "{done:#?}");
    assert!(
        done.stderr.contains("this USDT probe has 1 argument(s)"),
        "{}",
        done.stderr
    );
}
