//! Running rtools and the test workload, and reading rtools' tables.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

/// What a test binary run away from its build (in a qemu guest:
/// vm_root_suite.rs) is handed instead of what the build would give it:
/// rtools, the workload, and the source tree's files the tests read.
pub const HANDED_RTOOLS: &str = "RTOOLS_TEST_RTOOLS";
pub const HANDED_TESTPROG: &str = "RTOOLS_TEST_TESTPROG";
pub const HANDED_SOURCE: &str = "RTOOLS_TEST_SOURCE";

fn handed(var: &str) -> Option<PathBuf> {
    std::env::var_os(var).map(PathBuf::from)
}

pub fn rtools_bin() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        handed(HANDED_RTOOLS).unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_rtools")))
    })
}

/// A file of the source tree, by its path from the top.
pub fn source_file(relative: &str) -> PathBuf {
    handed(HANDED_SOURCE)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .join(relative)
}

/// A copy of rtools that any user may run: the build's own lies wherever
/// the clone is, which another user may not reach (under /root, issue
/// 25). Made once per test run, in a world-readable directory named after
/// the test process; those of test runs that have ended are removed.
pub fn rtools_bin_for_anyone() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        use std::os::unix::fs::PermissionsExt;
        const PREFIX: &str = "rtools-anyone-";
        let tmp = std::env::temp_dir();
        for entry in std::fs::read_dir(&tmp).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let ended = name
                .strip_prefix(PREFIX)
                .and_then(|pid| pid.parse::<u32>().ok())
                .is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists());
            if ended {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let dir = tmp.join(format!("{PREFIX}{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let bin = dir.join("rtools");
        std::fs::copy(rtools_bin(), &bin).unwrap();
        bin
    })
}

/// The test workload, built once per test run (it is a workspace member,
/// not a binary of this package).
pub fn testprog_bin() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        if let Some(path) = handed(HANDED_TESTPROG) {
            return path;
        }
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--package", "rtools-testprog"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building rtools-testprog failed");
        // target/debug/deps/tests-HASH -> target/debug/rtools-testprog
        let exe = std::env::current_exe().unwrap();
        exe.parent()
            .unwrap()
            .parent()
            .unwrap()
            .join("rtools-testprog")
    })
}

/// How many times slower than this machine the tests run: 1 here, more
/// in the qemu guests, whose software emulation runs code some ten times
/// slower (vm_root_suite.rs sets it). Bounds on how long something may
/// take, which say "promptly, not stuck", are multiplied by it.
pub const TIME_SCALE: &str = "RTOOLS_TEST_TIME_SCALE";

/// `limit`, scaled by [`TIME_SCALE`].
pub fn promptly(limit: Duration) -> Duration {
    let scale = std::env::var(TIME_SCALE)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    limit * scale
}

/// Whether `rtools --version` says this kernel has `feature`
/// ("uprobe-multi", "raw tracepoint cookies"): rtools probes the kernel,
/// and the tests expect what it found (the guests' kernels lack some).
pub fn kernel_has(feature: &str) -> bool {
    let done = run(&["--version"]);
    let verdict = done.stdout.lines().find_map(|line| {
        let rest = line.trim_start().strip_prefix(feature)?;
        rest.starts_with(' ')
            .then(|| rest.split_whitespace().next())?
    });
    match verdict {
        Some("yes") => true,
        Some("no") => false,
        _ => panic!(
            "rtools --version says nothing of {feature}:\n{}",
            done.stdout
        ),
    }
}

pub fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// For tests that load BPF programs: `let _bpf = require_root!();`.
/// Skips (loudly) when not run as root, or fails where skips are refused
/// ([`skip`]); otherwise evaluates to the machine lock ([`bpf_lock`]), held
/// until the test ends.
macro_rules! require_root {
    () => {
        if $crate::suite::support::is_root() {
            $crate::suite::support::bpf_lock()
        } else {
            $crate::suite::support::skip(module_path!(), "loading BPF programs needs root");
            return;
        }
    };
}
pub(crate) use require_root;

/// Set by CI: a test that would skip fails instead, so a suite run as the
/// wrong user cannot pass without running.
pub const NO_SKIP: &str = "RTOOLS_TEST_NO_SKIP";

/// Says why a test skips, or panics when [`NO_SKIP`] is set.
pub fn skip(test: &str, why: &str) {
    if std::env::var_os(NO_SKIP).is_some() {
        panic!("{test} would skip ({why}) and {NO_SKIP} is set");
    }
    eprintln!("SKIPPED {test}: {why}");
}

/// Root tests trace system-wide and time workloads, so they run one at a
/// time, and while no qemu guest (two busy host threads each) competes
/// for the CPUs; guests may run together. The lock is a file lock, so it
/// holds across test runs too: a second `cargo test` on the machine waits
/// instead of failing (flock locks conflict between open files, threads
/// of one process included).
pub struct MachineLock(#[allow(dead_code)] std::fs::File);

fn machine_lock(exclusive: bool) -> MachineLock {
    // /run/lock is the machine's lock directory (sticky, world-writable).
    let dir = Path::new("/run/lock");
    let dir = if dir.is_dir() {
        dir.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let path = dir.join("rtools-tests.lock");
    // Opened for reading (flock needs no more), so another user's file
    // will do; created when missing.
    let file = std::fs::File::open(&path)
        .or_else(|_| {
            std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
        })
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let locked = if exclusive {
        file.lock()
    } else {
        file.lock_shared()
    };
    locked.unwrap_or_else(|e| panic!("lock {}: {e}", path.display()));
    MachineLock(file)
}

/// Held by each root test: no other root test or guest, in this test run
/// or another, runs meanwhile.
pub fn bpf_lock() -> MachineLock {
    machine_lock(true)
}

/// Held by the VM tests: shared with each other, never with a root test.
pub fn vm_lock() -> MachineLock {
    machine_lock(false)
}

/// A finished rtools run.
#[derive(Debug)]
pub struct Finished {
    pub stdout: String,
    pub stderr: String,
    pub code: Option<i32>,
}

impl Finished {
    /// The count tables printed, each as `row key -> count`, where the key
    /// is every column but the count, joined by single spaces.
    pub fn tables(&self) -> Vec<BTreeMap<String, u64>> {
        parse_tables(&self.stdout)
    }

    /// The only table printed.
    pub fn table(&self) -> BTreeMap<String, u64> {
        let tables = self.tables();
        assert_eq!(tables.len(), 1, "expected one table:\n{self:#?}");
        tables.into_iter().next().unwrap()
    }
}

pub fn parse_tables(stdout: &str) -> Vec<BTreeMap<String, u64>> {
    let mut tables = Vec::new();
    for line in stdout.lines() {
        if line.starts_with("FUNC ") {
            tables.push(BTreeMap::new());
            continue;
        }
        let (Some(table), Some((key, count))) =
            (tables.last_mut(), line.trim_end().rsplit_once(' '))
        else {
            continue;
        };
        if let Ok(count) = count.parse::<u64>() {
            let key = key.split_whitespace().collect::<Vec<_>>().join(" ");
            table.insert(key, count);
        }
    }
    tables
}

/// Runs rtools to completion.
pub fn run(args: &[&str]) -> Finished {
    let out = Command::new(rtools_bin())
        .args(args)
        .output()
        .expect("run rtools");
    Finished {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code(),
    }
}

/// rtools running in the background, attached and counting.
pub struct Tracer {
    child: Child,
    stderr: Receiver<String>,
    stderr_seen: Vec<String>,
    stdout: thread::JoinHandle<String>,
}

const ATTACH_TIMEOUT: Duration = Duration::from_secs(60);

impl Tracer {
    /// Starts `rtools ARGS` and returns once it printed its banner.
    pub fn start(args: &[&str]) -> Tracer {
        Tracer::start_with_env(args, &[])
    }

    /// [`Tracer::start`] with environment variables set.
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Tracer {
        let mut child = Command::new(rtools_bin())
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn rtools");
        let mut out = child.stdout.take().unwrap();
        // Bytes: trace writes what %s and %c read, UTF-8 or not.
        let stdout = thread::spawn(move || {
            let mut bytes = Vec::new();
            out.read_to_end(&mut bytes).unwrap();
            String::from_utf8_lossy(&bytes).into_owned()
        });
        let (tx, rx) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut tracer = Tracer {
            child,
            stderr: rx,
            stderr_seen: Vec::new(),
            stdout,
        };
        let deadline = Instant::now() + ATTACH_TIMEOUT;
        loop {
            match tracer
                .stderr
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) => {
                    let ready = line.starts_with("Tracing ");
                    tracer.stderr_seen.push(line);
                    if ready {
                        return tracer;
                    }
                }
                Err(_) => {
                    let done = tracer.finish();
                    panic!("rtools {args:?} did not start tracing:\n{done:#?}");
                }
            }
        }
    }

    /// Sends `signal`, then collects the output.
    pub fn signal(self, signal: i32) -> Finished {
        // SAFETY: kill on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, signal) };
        self.finish()
    }

    /// Ctrl-C: the final summary, then exit.
    pub fn stop(self) -> Finished {
        self.signal(libc::SIGINT)
    }

    /// Waits for rtools to exit by itself (-d).
    pub fn finish(mut self) -> Finished {
        let status = self.child.wait().expect("wait for rtools");
        let stdout = self.stdout.join().unwrap();
        let mut stderr = self.stderr_seen.join("\n");
        for line in self.stderr.iter() {
            stderr.push('\n');
            stderr.push_str(&line);
        }
        Finished {
            stdout,
            stderr,
            code: status.code(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Runs `work` while rtools is stopped (SIGSTOP): a process that comes
    /// and goes meanwhile is never seen alive by it.
    pub fn paused_during(&self, work: impl FnOnce()) {
        // SAFETY: kill on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGSTOP) };
        work();
        // SAFETY: as above.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGCONT) };
    }

    /// What it wrote on stderr up to its banner.
    pub fn banner(&self) -> &[String] {
        &self.stderr_seen
    }

    /// The address its exporter serves (`--listen`), from its banner.
    pub fn metrics_addr(&self) -> std::net::SocketAddr {
        self.banner()
            .iter()
            .find_map(|l| l.split_once("serving metrics at http://"))
            .and_then(|(_, rest)| rest.strip_suffix("/metrics"))
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("no exporter address in {:?}", self.banner()))
    }
}

/// The test workload: started, waiting for `go`.
pub struct Workload {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    pub pid: u32,
}

impl Workload {
    /// `rtools-testprog ARGS`; returns once it is ready.
    pub fn start(args: &[&str]) -> Workload {
        let mut command = Command::new(testprog_bin());
        command.args(args);
        Workload::start_command(command)
    }

    /// Another program that speaks the same protocol (`ready PID`, a line
    /// on stdin, the work, `done`).
    pub fn start_command(mut command: Command) -> Workload {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn rtools-testprog");
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let pid = line
            .strip_prefix("ready ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("testprog said {line:?}"));
        Workload {
            child,
            stdin,
            stdout,
            pid,
        }
    }

    /// Does the work and returns when it is done; the process stays alive.
    pub fn run(&mut self) {
        self.go();
        self.wait_done();
    }

    /// Starts the work and returns at once.
    pub fn go(&mut self) {
        let stdin = self.stdin.as_mut().expect("workload still open");
        stdin.write_all(b"go\n").unwrap();
        stdin.flush().unwrap();
    }

    /// Waits until the work is done.
    pub fn wait_done(&mut self) {
        let said = self.wait_done_output();
        assert!(said.is_empty(), "testprog said {said:?} before done");
    }

    /// Waits until the work is done; returns what it printed before `done`.
    pub fn wait_done_output(&mut self) -> String {
        let mut said = String::new();
        loop {
            let mut line = String::new();
            let n = self.stdout.read_line(&mut line).unwrap();
            assert!(n > 0, "the workload ended before done; it said {said:?}");
            if line.trim() == "done" {
                return said;
            }
            said.push_str(&line);
        }
    }

    /// Lets the process exit and reaps it.
    pub fn exit(mut self) {
        drop(self.stdin.take());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "testprog exited with {status}");
    }

    pub fn pid_str(&self) -> String {
        self.pid.to_string()
    }
}

/// Starts the workload, traces it with `rtools ARGS` (`{pid}` in an
/// argument is replaced by its pid), runs it, stops rtools with Ctrl-C.
pub fn trace_workload(workload_args: &[&str], rtools_args: &[&str]) -> Finished {
    let mut command = Command::new(testprog_bin());
    command.args(workload_args);
    trace_command(command, rtools_args, false)
}

/// The same with another workload that speaks the protocol; with
/// `exit_first` the workload exits before rtools is stopped.
pub fn trace_command(command: Command, rtools_args: &[&str], exit_first: bool) -> Finished {
    let mut workload = Workload::start_command(command);
    let pid = workload.pid_str();
    let args: Vec<String> = rtools_args
        .iter()
        .map(|a| a.replace("{pid}", &pid))
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let tracer = Tracer::start(&args);
    workload.run();
    let done = if exit_first {
        workload.exit();
        tracer.stop()
    } else {
        let done = tracer.stop();
        workload.exit();
        done
    };
    assert_eq!(done.code, Some(0), "rtools failed:\n{done:#?}");
    done
}

pub fn testprog_path() -> String {
    testprog_bin().to_string_lossy().into_owned()
}

/// The kernel's log, from `skip` lines on (`dmesg` needs root).
pub fn kernel_log(skip: usize) -> Vec<String> {
    let out = Command::new("dmesg").output().expect("run dmesg");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(skip)
        .map(str::to_string)
        .collect()
}

/// The BPF programs and links a process holds (ids from its fds' fdinfo),
/// its children's included: rtools' link keeper shares its file table
/// and outlives it. Leak tests follow these ids, never every BPF object on
/// the machine, so other BPF users cannot fail them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BpfIds {
    pub progs: std::collections::BTreeSet<u32>,
    pub links: std::collections::BTreeSet<u32>,
}

/// The pids of `pid`'s children (its main thread's), oldest first.
pub fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

impl BpfIds {
    pub fn held_by(pid: u32) -> BpfIds {
        let mut pids = vec![pid];
        pids.extend(children(pid));
        let mut ids = BpfIds::default();
        for pid in pids {
            let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
                continue;
            };
            for fd in fds.flatten() {
                let info = std::fs::read_to_string(fd.path()).unwrap_or_default();
                let id = |key: &str| {
                    info.lines()
                        .find_map(|l| l.strip_prefix(key)?.trim().parse::<u32>().ok())
                };
                // A link's fdinfo names its program too; a program fd
                // has no link_id.
                match (id("link_id:"), id("prog_id:")) {
                    (Some(link), _) => {
                        ids.links.insert(link);
                    }
                    (None, Some(prog)) => {
                        ids.progs.insert(prog);
                    }
                    (None, None) => {}
                }
            }
        }
        ids
    }

    /// Every program and link on the machine now (bpftool).
    pub fn on_machine() -> BpfIds {
        let list = |kind: &str| {
            let out = Command::new("bpftool")
                .args([kind, "show"])
                .output()
                .expect("run bpftool (scripts/test-deps.sh installs it)");
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|l| l.split(':').next()?.parse().ok())
                .collect()
        };
        BpfIds {
            progs: list("prog"),
            links: list("link"),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.progs.is_empty() && self.links.is_empty()
    }

    pub fn extend(&mut self, other: BpfIds) {
        self.progs.extend(other.progs);
        self.links.extend(other.links);
    }

    /// Those of these ids still on the machine after up to 10 s (the
    /// kernel releases objects with their last fd, the keeper closes its
    /// links when it sees rtools gone).
    pub fn left_behind(&self) -> BpfIds {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let now = BpfIds::on_machine();
            let left = BpfIds {
                progs: now.progs.intersection(&self.progs).copied().collect(),
                links: now.links.intersection(&self.links).copied().collect(),
            };
            if left.is_empty() || Instant::now() > deadline {
                return left;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}
