//! Attaching thousands of uprobes answers Ctrl-C within a second, and a
//! SIGKILL in the middle leaves no uprobe behind (issue 9). The target is
//! a private copy of libc mapped by a few sleeping processes, so that the
//! kernel really writes breakpoints into running processes, and into no
//! one else's.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::support::{kernel_log, require_root, rtools_bin};

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

fn links() -> usize {
    let out = Command::new("bpftool")
        .args(["link", "show"])
        .output()
        .expect("run bpftool (scripts/test-deps.sh installs it)");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with(|c: char| c.is_ascii_digit()))
        .count()
}

fn start(spec: &str) -> Child {
    Command::new(rtools_bin())
        .args(["funclatency", "--max-probes", "5000", spec])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_for_links(before: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while links() > before && Instant::now() < deadline {
        sleep(Duration::from_millis(50));
    }
}

#[test]
fn root_ctrl_c_during_a_large_attach_exits_within_a_second() {
    let _bpf = require_root!();
    let mapped = Mapped::new();
    let before = links();
    let mut child = start(&mapped.spec());
    // Past resolving (a few hundred ms), inside the ~2 s of attaching.
    sleep(Duration::from_millis(700));
    let sent = Instant::now();
    // SAFETY: kill on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    let took = sent.elapsed();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted while attaching"), "{stderr}");
    assert!(took < Duration::from_secs(1), "took {took:?} to stop");
    wait_for_links(before);
    assert_eq!(links(), before, "links left behind");
}

#[test]
fn root_sigkill_during_a_large_attach_leaks_no_uprobe() {
    let _bpf = require_root!();
    let mapped = Mapped::new();
    let before = links();
    let log = kernel_log(0).len();
    for delay_ms in [300, 600, 900, 1200, 1500] {
        let mut child = start(&mapped.spec());
        sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap();
        child.wait().unwrap();
        wait_for_links(before);
        assert_eq!(links(), before, "links left after SIGKILL at {delay_ms} ms");
    }
    let leaks: Vec<String> = kernel_log(log)
        .into_iter()
        .filter(|l| l.contains("uprobe"))
        .collect();
    assert_eq!(leaks, Vec::<String>::new(), "the kernel's log");
}
