//! bpftrace's perf-event probes on this machine: software events counted
//! per process, stackcount as a CPU profiler on profile:hz:99, hardware
//! events refused where there is no PMU, and ordinary tracepoints through
//! raw tracepoint links.

use std::path::Path;

use super::support::{kernel_has, require_root, Tracer, Workload};

/// Fresh pages the workload writes: one page fault each.
const PAGES: u64 = 1009;
/// What else the workload may fault on while it works (its stack, the
/// line it prints when done).
const FAULT_SLACK: u64 = 64;

#[test]
fn root_page_faults_of_a_process_are_counted() {
    let _bpf = require_root!();
    let mut w = Workload::start(&["pages", &PAGES.to_string()]);
    let t = Tracer::start(&["funccount", "-p", &w.pid_str(), "s:page-faults:1"]);
    w.run();
    let done = t.stop();
    let count = done.table()["software:page-faults:1"];
    assert!(
        (PAGES..PAGES + FAULT_SLACK).contains(&count),
        "{count} faults for {PAGES} pages: {done:#?}"
    );
    w.exit();

    // -P names the process among every other on the machine.
    let mut w = Workload::start(&["--name", "rt_faulter", "pages", &PAGES.to_string()]);
    let t = Tracer::start(&["funccount", "-P", "software:faults:1"]);
    w.run();
    let done = t.stop();
    let key = format!("software:page-faults:1 rt_faulter {}", w.pid);
    let count = done.table().get(&key).copied();
    assert!(
        count.is_some_and(|c| (PAGES..PAGES + FAULT_SLACK).contains(&c)),
        "{key}: {count:?}\n{done:#?}"
    );
    w.exit();
}

/// The CPU time process `pid` has used, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// Samples of a process spinning 2 s in rtools_spin at 99 Hz: what
/// stackcount printed, and the CPU seconds the process had.
fn profile_spin(extra: &[&str]) -> (super::support::Finished, f64) {
    let mut w = Workload::start(&["spin", "2000"]);
    let pid = w.pid_str();
    let mut args = vec!["stackcount", "-p", &pid];
    args.extend_from_slice(extra);
    args.push("profile:hz:99");
    let t = Tracer::start(&args);
    w.run();
    let done = t.stop();
    assert_eq!(done.code, Some(0), "{done:#?}");
    let cpu = cpu_seconds(w.pid);
    w.exit();
    (done, cpu)
}

#[test]
fn root_profile_samples_the_spinning_function() {
    let _bpf = require_root!();
    let (done, cpu) = profile_spin(&["-f"]);
    let lines: Vec<(&str, u64)> = done
        .stdout
        .lines()
        .map(|l| {
            let (stack, n) = l.rsplit_once(' ').expect("folded: STACK COUNT");
            (stack, n.parse().expect("a count"))
        })
        .collect();
    let total: u64 = lines.iter().map(|(_, n)| n).sum();
    // 99 a second of the CPU time it had (2 s on an idle machine: 198),
    // give or take 10% and a clock tick either way.
    let expected = 99.0 * cpu;
    assert!(
        (expected * 0.9 - 2.0..=expected * 1.1 + 2.0).contains(&(total as f64)),
        "{total} samples for {cpu:.2} s of CPU:\n{}",
        done.stdout
    );
    assert!(cpu > 0.5, "the spin had {cpu:.2} s of CPU");
    // The most sampled stack is in the spin: in rtools_spin itself or in
    // a helper it calls (an unoptimized build's Range::next may take as
    // many samples as the loop's own body: which leads is chance).
    let (top, n) = lines.iter().max_by_key(|(_, n)| *n).unwrap();
    let in_spin = top.ends_with(";rtools_spin") || top.contains(";rtools_spin;");
    assert!(in_spin, "top stack {top} ({n})");
    assert!(top.starts_with("rtools-testprog;"), "{top}");
    // The rest are the helpers it calls (an unoptimized build), some seen
    // from their first instruction, where frame pointers miss the caller.
    let share = |frame: &str| -> u64 {
        lines
            .iter()
            .filter(|(s, _)| s.contains(frame))
            .map(|(_, n)| n)
            .sum()
    };
    let (spin, work) = (share(";rtools_spin"), share(";rtools_testprog::work;"));
    assert!(spin * 3 >= total * 2, "rtools_spin in {spin} of {total}");
    assert!(work * 20 >= total * 19, "work in {work} of {total}");
    // Valid folded input for inferno (rtools' flame graphs use it too).
    let folded: Vec<String> = done.stdout.lines().map(String::from).collect();
    let svg = rtools_core::render::flamegraph::svg(&folded, "profile").unwrap();
    let svg = String::from_utf8(svg).unwrap();
    assert!(svg.contains("rtools_spin"), "no rtools_spin in the SVG");
}

#[test]
fn root_profile_flame_graph_of_one_process() {
    let _bpf = require_root!();
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("cpu.svg");
    let (done, _) = profile_spin(&["--flamegraph", svg.to_str().unwrap()]);
    // The flame graph is the report (issue 25): no text beside it.
    assert_eq!(done.stdout, "");
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.contains("<svg") && text.contains("rtools_spin"));
}

#[test]
fn root_hardware_events_without_a_pmu_are_one_line_errors() {
    let _bpf = require_root!();
    let has_pmu = ["cpu", "cpu_core", "cpu_atom"]
        .iter()
        .any(|d| Path::new("/sys/bus/event_source/devices").join(d).exists());
    let done = super::support::run(&["funccount", "-d", "1", "h:instructions"]);
    if has_pmu {
        // Where there are counters, they count.
        assert_eq!(done.code, Some(0), "{done:#?}");
        assert!(
            done.table()["hardware:instructions:1000000"] > 0,
            "{done:#?}"
        );
        return;
    }
    assert_eq!(done.code, Some(1), "{done:#?}");
    assert_eq!(done.stderr.lines().count(), 1, "{done:#?}");
    assert!(
        done.stderr
            .contains("'hardware:instructions:1000000' needs the CPU's performance counters")
            && done.stderr.contains("profile:hz:99"),
        "{done:#?}"
    );
}

#[test]
fn root_tracepoints_attach_as_raw_tracepoints_and_detach_fast() {
    let _bpf = require_root!();
    let t = Tracer::start(&["funccount", "-v", "t:sched:*"]);
    let done = t.stop();
    assert_eq!(done.code, Some(0), "{done:#?}");
    let plans: Vec<&str> = done
        .stderr
        .lines()
        .filter(|l| l.contains(": plan: slot "))
        .collect();
    assert!(plans.len() > 10, "{}", done.stderr);
    // Without cookies for raw tracepoints (before 6.10), a program each.
    let how = if kernel_has("raw tracepoint cookies") {
        "(tracepoint): raw tracepoint link"
    } else {
        "(tracepoint): raw tracepoint link (a program per link)"
    };
    assert!(plans.iter().all(|l| l.ends_with(how)), "{plans:#?}");
    // How fast they detach is cargo xtask bench's to say (start-up and
    // detach): a second with perf tracepoint links, milliseconds now.
    // Syscall events have no raw tracepoint: they keep their perf link.
    let t = Tracer::start(&["funccount", "-v", "t:syscalls:sys_enter_getcpu"]);
    let done = t.stop();
    assert!(
        done.stderr
            .contains("plan: slot 0 syscalls:sys_enter_getcpu (tracepoint): tracepoint link"),
        "{}",
        done.stderr
    );
}
