//! Attaching thousands of uprobes answers Ctrl-C within a second, and a
//! SIGKILL in the middle leaves no uprobe behind (issue 9). The target is
//! a private copy of libc mapped by a few sleeping processes, so that the
//! kernel really writes breakpoints into running processes, and into no
//! one else's. Only the links the tracer itself made (read from its
//! fdinfo) are checked, so other BPF users on the machine do not matter.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::support::{children, kernel_log, promptly, require_root, rtools_bin, BpfIds};

struct Mapped {
    _dir: tempfile::TempDir,
    libc: PathBuf,
    sleepers: Vec<Child>,
}

impl Mapped {
    fn new() -> Mapped {
        let dir = tempfile::TempDir::new().unwrap();
        let libc = dir.path().join("libc.so.6");
        std::fs::copy("/lib/x86_64-linux-gnu/libc.so.6", &libc).unwrap();
        let sleepers = (0..8)
            .map(|_| {
                Command::new("sleep")
                    .arg("60")
                    .env("LD_LIBRARY_PATH", dir.path())
                    .spawn()
                    .unwrap()
            })
            .collect();
        Mapped {
            _dir: dir,
            libc,
            sleepers,
        }
    }

    fn spec(&self) -> String {
        format!("{}:*", self.libc.display())
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        for child in &mut self.sleepers {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts the tracer and, until `stop` returns, keeps the ids of every
/// link it has held: only its own links are checked afterwards, so other
/// BPF users on the machine do not matter.
struct Watched {
    child: Child,
    keeper: Option<u32>,
    seen: BpfIds,
}

impl Watched {
    fn start(spec: &str) -> Watched {
        let child = Command::new(rtools_bin())
            .args(["funclatency", "--max-probes", "5000", spec])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Watched {
            child,
            keeper: None,
            seen: BpfIds::default(),
        }
    }

    /// Follows the tracer's links for `how_long`.
    fn watch(&mut self, how_long: Duration) {
        self.watch_until(how_long, |_| false);
    }

    /// Follows the tracer's links for `how_long` at most, until `done`
    /// says what it has seen is enough.
    fn watch_until(&mut self, how_long: Duration, done: impl Fn(&BpfIds) -> bool) {
        let pid = self.child.id();
        let until = Instant::now() + how_long;
        while Instant::now() < until && !done(&self.seen) {
            self.seen.extend(BpfIds::held_by(pid));
            if self.keeper.is_none() {
                self.keeper = children(pid).first().copied();
            }
            sleep(Duration::from_millis(5));
        }
    }

    /// Sends `signal`; after it the keeper's view of the shared file
    /// table still names every link made, until it closes them.
    fn signal(&mut self, signal: i32) {
        // SAFETY: kill on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, signal) };
        if let Some(keeper) = self.keeper {
            self.seen.extend(BpfIds::held_by(keeper));
        }
    }
}

#[test]
fn root_ctrl_c_during_a_large_attach_exits_within_a_second() {
    let _bpf = require_root!();
    let mapped = Mapped::new();
    let mut tracer = Watched::start(&mapped.spec());
    // Past resolving (a few hundred ms; seconds under the guests'
    // emulation), inside the ~2 s of attaching: once links are made.
    tracer.watch_until(Duration::from_secs(60), |seen| seen.links.len() >= 2);
    assert!(!tracer.seen.links.is_empty(), "no link made in 60 s");
    let sent = Instant::now();
    tracer.signal(libc::SIGINT);
    let status = tracer.child.wait().unwrap();
    let took = sent.elapsed();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut tracer.child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted while attaching"), "{stderr}");
    assert!(
        took < promptly(Duration::from_secs(1)),
        "took {took:?} to stop"
    );
    assert_eq!(tracer.seen.left_behind(), BpfIds::default(), "left behind");
}

#[test]
fn root_sigkill_during_a_large_attach_leaks_no_uprobe() {
    let _bpf = require_root!();
    let mapped = Mapped::new();
    let log = kernel_log(0).len();
    for delay_ms in [300, 600, 900, 1200, 1500] {
        let mut tracer = Watched::start(&mapped.spec());
        tracer.watch(Duration::from_millis(delay_ms));
        tracer.signal(libc::SIGKILL);
        tracer.child.wait().unwrap();
        assert_eq!(
            tracer.seen.left_behind(),
            BpfIds::default(),
            "left after SIGKILL at {delay_ms} ms"
        );
    }
    let leaks: Vec<String> = kernel_log(log)
        .into_iter()
        .filter(|l| l.contains("uprobe"))
        .collect();
    assert_eq!(leaks, Vec::<String>::new(), "the kernel's log");
}
