//! Counters keyed by process stay exact over many short-lived processes
//! (issue 9): the keys of exited processes are folded into rtools' totals
//! and deleted, so a table far smaller than the number of processes never
//! fills up. The table is made small with RTOOLS_TEST_MAX_KEYS.

use super::support::{require_root, testprog_path, Finished, Tracer, Workload};

const PROCESSES: usize = 101;
const CALLS: &str = "7";
const ENV: &[(&str, &str)] = &[
    ("RTOOLS_TEST_MAX_KEYS", "24"),
    ("RTOOLS_TEST_SWEEP_MS", "20"),
];

/// Runs PROCESSES short processes one after another under `rtools ARGS`;
/// returns rtools' output and their pids.
fn many_processes(args: &[&str]) -> (Finished, Vec<String>) {
    let tracer = Tracer::start_with_env(args, ENV);
    let mut pids = Vec::new();
    for _ in 0..PROCESSES {
        let mut workload = Workload::start(&["funcs", CALLS, "0", "0"]);
        pids.push(workload.pid_str());
        workload.run();
        workload.exit();
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let done = tracer.stop();
    assert_eq!(done.code, Some(0), "{done:#?}");
    (done, pids)
}

#[test]
fn root_funccount_per_process_outlives_its_table() {
    let _bpf = require_root!();
    let spec = format!("{}:rtools_test_one", testprog_path());
    let (done, pids) = many_processes(&["funccount", "-P", &spec]);
    let table = done.table();
    for pid in &pids {
        let row = table
            .iter()
            .find(|(key, _)| key.split_whitespace().any(|w| w == pid))
            .unwrap_or_else(|| panic!("no row for {pid}: {done:#?}"));
        assert_eq!(*row.1, 7, "{pid}: {done:#?}");
    }
    assert_eq!(
        table.values().sum::<u64>(),
        7 * PROCESSES as u64,
        "{done:#?}"
    );
    assert!(!done.stderr.contains("not counted"), "{done:#?}");
}

#[test]
fn root_stackcount_per_process_outlives_its_table() {
    let _bpf = require_root!();
    let spec = format!("{}:rtools_test_one", testprog_path());
    let (done, _) = many_processes(&["stackcount", "-P", "-U", &spec]);
    // Every event is printed: stacks the stack map could not take (101
    // processes' stacks in 16384 buckets collide now and then) are counted
    // under a marker, and the count table never fills up.
    let printed: u64 = done
        .stdout
        .lines()
        .filter_map(|l| l.trim().parse::<u64>().ok())
        .sum();
    assert_eq!(printed, 7 * PROCESSES as u64, "{done:#?}");
    assert!(
        !done.stderr.contains("lost") || done.stderr.contains(" 0 with the count table full"),
        "{done:#?}"
    );
}

/// Three live processes and a table of two: the third one's calls cannot
/// be counted; the loss is exact and reported, in text and in JSON.
fn full_table(extra: &[&str]) -> Finished {
    let mut args = vec!["funccount", "--by", "pid"];
    args.extend_from_slice(extra);
    args.push("t:syscalls:sys_enter_getcpu");
    let tracer = Tracer::start_with_env(&args, &[("RTOOLS_TEST_MAX_KEYS", "2")]);
    let mut workloads: Vec<Workload> = ["101", "103", "107"]
        .iter()
        .map(|n| Workload::start(&["getcpu", n]))
        .collect();
    for w in &mut workloads {
        w.run();
    }
    let done = tracer.stop();
    workloads.into_iter().for_each(Workload::exit);
    assert_eq!(done.code, Some(0), "{done:#?}");
    done
}

#[test]
fn root_funccount_full_table_is_counted_and_reported() {
    let _bpf = require_root!();
    let done = full_table(&[]);
    let counts: Vec<u64> = done.table().into_values().collect();
    assert_eq!(counts.iter().sum::<u64>(), 101 + 103, "{done:#?}");
    assert!(
        done.stderr
            .contains("funccount: warning: 107 events not counted: the per-process table is full"),
        "{done:#?}"
    );
    let done = full_table(&["--json"]);
    let v: serde_json::Value = serde_json::from_str(done.stdout.trim()).unwrap();
    assert_eq!(v["lost"], 107, "{v}");
}
