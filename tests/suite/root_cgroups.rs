//! `--cgroup` and `--by cgroup` (issue 11): two workloads in two cgroup v2
//! directories made here; the v2 hierarchy is found in /proc/mounts (these
//! machines mount it at /sys/fs/cgroup/unified beside v1 controllers).

use std::path::PathBuf;

use super::support::{require_root, testprog_path, Finished, Tracer, Workload};

/// Two cgroups, removed when dropped.
struct Cgroups {
    a: PathBuf,
    b: PathBuf,
}

impl Cgroups {
    fn new() -> Cgroups {
        let mount = rtools_core::cgroup::v2_mount().expect("a cgroup v2 hierarchy in /proc/mounts");
        let tag = std::process::id();
        let a = mount.join(format!("rtools-test-{tag}-a"));
        let b = mount.join(format!("rtools-test-{tag}-b"));
        for dir in [&a, &b] {
            std::fs::create_dir_all(dir).unwrap();
        }
        Cgroups { a, b }
    }

    /// The cgroup's path as rtools prints it: relative to the mount.
    fn name(dir: &std::path::Path) -> String {
        format!("/{}", dir.file_name().unwrap().to_string_lossy())
    }
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        for dir in [&self.a, &self.b] {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Runs `rtools ARGS` while one workload in cgroup a and one in b run
/// (`work_a`, `work_b` are the workloads' arguments).
fn two_cgroups(cg: &Cgroups, args: &[&str], work_a: &[&str], work_b: &[&str]) -> Finished {
    let mut wa = Workload::start(work_a);
    let mut wb = Workload::start(work_b);
    std::fs::write(cg.a.join("cgroup.procs"), wa.pid_str()).unwrap();
    std::fs::write(cg.b.join("cgroup.procs"), wb.pid_str()).unwrap();
    let tracer = Tracer::start(args);
    wa.run();
    wb.run();
    let done = tracer.stop();
    wa.exit();
    wb.exit();
    assert_eq!(done.code, Some(0), "{done:#?}");
    done
}

const GETCPU: &str = "t:syscalls:sys_enter_getcpu";

#[test]
fn root_cgroup_filter_counts_one_cgroup_exactly() {
    let _bpf = require_root!();
    let cg = Cgroups::new();
    let a = cg.a.display().to_string();
    let done = two_cgroups(
        &cg,
        &["funccount", "--cgroup", &a, GETCPU],
        &["getcpu", "1009"],
        &["getcpu", "503"],
    );
    assert_eq!(
        done.table(),
        [("syscalls:sys_enter_getcpu".to_string(), 1009)].into(),
        "{done:#?}"
    );
    // A path relative to the hierarchy, for stackcount.
    let relative = Cgroups::name(&cg.b);
    let done = two_cgroups(
        &cg,
        &["stackcount", "-U", "--cgroup", &relative, GETCPU],
        &["getcpu", "1009"],
        &["getcpu", "503"],
    );
    let total: u64 = done
        .stdout
        .lines()
        .filter_map(|l| l.trim().parse::<u64>().ok())
        .sum();
    assert_eq!(total, 503, "{done:#?}");
    // funclatency times only cgroup a's calls.
    let spec = format!("{}:rtools_test_one", testprog_path());
    let done = two_cgroups(
        &cg,
        &["funclatency", "--merge", "--cgroup", &a, &spec],
        &["funcs", "211", "0", "0"],
        &["funcs", "101", "0", "0"],
    );
    assert!(done.stdout.contains("count: 211"), "{done:#?}");
    assert!(!done.stderr.contains("not timed"), "{done:#?}");
    // trace prints only cgroup b's events (BCC's -c).
    let done = two_cgroups(
        &cg,
        &["trace", "-c", &relative, &format!("{GETCPU} \"x\"")],
        &["getcpu", "211"],
        &["getcpu", "101"],
    );
    let lines = done.stdout.lines().filter(|l| l.ends_with(" x")).count();
    assert_eq!(lines, 101, "{done:#?}");
}

#[test]
fn root_by_cgroup_gives_a_row_per_cgroup() {
    let _bpf = require_root!();
    let cg = Cgroups::new();
    let done = two_cgroups(
        &cg,
        &["funccount", "--by", "cgroup", GETCPU],
        &["getcpu", "1009"],
        &["getcpu", "503"],
    );
    let table = done.table();
    let row = |dir: &std::path::Path| {
        let name = Cgroups::name(dir);
        table
            .iter()
            .find(|(k, _)| k.split_whitespace().any(|w| w == name))
            .map(|(_, &n)| n)
            .unwrap_or_else(|| panic!("no row for {name}: {done:#?}"))
    };
    assert_eq!((row(&cg.a), row(&cg.b)), (1009, 503), "{done:#?}");
    assert!(done.stdout.contains("CGROUP"), "{done:#?}");
}

#[test]
fn root_unknown_cgroup_is_a_usage_error() {
    let _bpf = require_root!();
    let done = super::support::run(&["funccount", "--cgroup", "/no-such-cgroup-xyz", GETCPU]);
    assert_eq!(done.code, Some(2), "{done:#?}");
    assert!(
        done.stderr
            .contains("no cgroup v2 directory '/no-such-cgroup-xyz'"),
        "{done:#?}"
    );
}
