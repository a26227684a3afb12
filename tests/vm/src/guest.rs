//! Boots a Debian kernel under qemu (software emulation: KVM does not work
//! on these machines) with an initramfs that carries rtools, the test
//! workload and busybox, runs a batch of cases and returns each one's exit
//! code and output.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::cpio::Cpio;

/// The binaries the guest runs.
pub struct Binaries<'a> {
    pub rtools: &'a Path,
    /// rtools-testprog, the workload.
    pub testprog: &'a Path,
}

/// A Debian kernel package unpacked into the cache of guest kernels.
pub struct Kernel {
    pub release: String,
    pub vmlinuz: PathBuf,
    /// Its `lib/modules/RELEASE` directory.
    pub modules: PathBuf,
}

/// Where scripts/test-deps.sh unpacks the guest kernels (never installed:
/// the host's boot setup is not the tests' business).
pub fn kernel_cache() -> PathBuf {
    std::env::var_os("RTOOLS_VM_KERNELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/rtools/vm-kernels"))
}

/// The newest cached kernel of a series ("6.1", "6.12"), found by glob so
/// that kernel updates need no change here.
pub fn kernel(series: &str) -> Kernel {
    let cache = kernel_cache();
    let mut found: Vec<(String, PathBuf)> = fs::read_dir(&cache)
        .into_iter()
        .flatten()
        .filter_map(|pkg| {
            let root = pkg.ok()?.path();
            let boot = fs::read_dir(root.join("boot")).ok()?;
            Some(boot.filter_map(move |e| {
                let name = e.ok()?.file_name().into_string().ok()?;
                Some((name.strip_prefix("vmlinuz-")?.to_string(), root.clone()))
            }))
        })
        .flatten()
        .filter(|(release, _)| {
            release
                .strip_prefix(series)
                .is_some_and(|rest| rest.starts_with(['.', '-']))
        })
        .collect();
    found.sort_by_key(|(r, _)| version_key(r));
    let (release, root) = found.pop().unwrap_or_else(|| {
        panic!(
            "no Linux {series} kernel in {}: scripts/test-deps.sh unpacks the VM kernels there",
            cache.display()
        )
    });
    let modules = ["lib/modules", "usr/lib/modules"]
        .iter()
        .map(|dir| root.join(dir).join(&release))
        .find(|dir| dir.is_dir())
        .unwrap_or_else(|| root.join("lib/modules").join(&release));
    Kernel {
        vmlinuz: root.join("boot").join(format!("vmlinuz-{release}")),
        modules,
        release,
    }
}

fn version_key(release: &str) -> Vec<u64> {
    release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect()
}

/// One thing to run in the guest.
pub struct Case {
    pub name: &'static str,
    /// rtools-testprog arguments (it waits for SIGUSR1), or None.
    pub workload: Option<&'static str>,
    /// rtools arguments; `{pid}` is the workload's pid. Without a workload
    /// rtools must end by itself (-d).
    pub rtools: String,
    /// HOST:PORT/PATH fetched (HTTP GET) once the workload has done its work
    /// and lingers (give it `--linger`: `-p` tools end with their
    /// process): the exporter's scrape.
    pub scrape: Option<&'static str>,
}

#[derive(Debug, Clone)]
pub struct CaseResult {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// The workload's exit code ("none" without one) and output.
    pub workload: String,
    /// What the case's scrape answered, or why it failed.
    pub scrape: String,
}

const INIT: &str = r#"#!/bin/sh
/bin/busybox --install -s /bin
set -f  # rtools patterns are not file globs
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mount -t tracefs tracefs /sys/kernel/tracing
mount -t debugfs debugfs /sys/kernel/debug
mount -t bpf bpf /sys/fs/bpf
insmod /modules/loop.ko
ip link set lo up  # the exporter's scrapes
echo "@@BOOTED $(uname -r)"

# run_case NAME WORKLOAD SCRAPE_URL RTOOLS_ARGS: runs the workload
# (waiting for SIGUSR1) and rtools; once rtools is tracing, lets the
# workload run, fetches the URL if any once its work is done, then stops
# rtools with Ctrl-C.
run_case() {
  name=$1; work=$2; url=$3; shift 3
  # Old output must not be mistaken for the new run's ("ready",
  # "Tracing"): the shell can read a file before the new process has
  # truncated it.
  rm -f /tmp/work.out /tmp/out /tmp/err /tmp/scrape
  wrc=none
  if [ -n "$work" ]; then
    /testprog --wait-signal $work > /tmp/work.out 2>&1 &
    W=$!
    while ! grep -q ready /tmp/work.out 2>/dev/null && kill -0 $W 2>/dev/null; do sleep 0.05; done
    # {pid} in any word; words keep their spaces.
    for a in "$@"; do shift; set -- "$@" "$(printf '%s' "$a" | sed "s/{pid}/$W/g")"; done
  fi
  /rtools "$@" > /tmp/out 2> /tmp/err &
  R=$!
  if [ -n "$work" ]; then
    while ! grep -q '^Tracing' /tmp/err 2>/dev/null && kill -0 $R 2>/dev/null; do sleep 0.05; done
    kill -USR1 $W
    if [ -n "$url" ]; then
      while ! grep -qx done /proc/$W/comm 2>/dev/null && kill -0 $W 2>/dev/null; do sleep 0.05; done
      /testprog http-get "$url" > /tmp/scrape 2>&1
    fi
    wait $W
    wrc=$?
    kill -INT $R 2>/dev/null
  fi
  wait $R
  rc=$?
  echo "@@BEGIN $name rc=$rc"
  cat /tmp/out
  echo "@@STDERR"
  cat /tmp/err
  echo "@@WORKLOAD rc=$wrc"
  cat /tmp/work.out 2>/dev/null
  echo "@@SCRAPE"
  cat /tmp/scrape 2>/dev/null
  echo "@@END"
}
. /cases.sh
echo "@@DONE"
poweroff -f
"#;

/// Boots `kernel`, runs `cases` in order, returns their results by name.
pub fn run(kernel: &Kernel, cases: &[Case], bins: &Binaries<'_>) -> BTreeMap<String, CaseResult> {
    let dir = tempfile::tempdir().unwrap();
    let initramfs = dir.path().join("initramfs.cpio");
    fs::write(&initramfs, image(kernel, cases, bins)).unwrap();
    // One host thread for both vCPUs: with a thread each, QEMU 7.2's TCG can
    // run a stale int3 on one vCPU after the kernel's text_poke_bp() on the
    // other has finished patching a static key, and the guest oopses at boot
    // (seen in CI on 6.12). Two guests on two host cores also run faster so.
    let mut qemu = Command::new("qemu-system-x86_64")
        .args(["-accel", "tcg,thread=single", "-M", "q35", "-cpu", "max"])
        .args(["-smp", "2", "-m", "2048"])
        .args(["-nographic", "-no-reboot", "-kernel"])
        .arg(&kernel.vmlinuz)
        .arg("-initrd")
        .arg(&initramfs)
        .args([
            "-append",
            "console=ttyS0 quiet loglevel=1 panic=-1 rdinit=/init",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run qemu-system-x86_64 (scripts/test-deps.sh installs it)");
    let mut console = String::new();
    let reader = {
        let mut out = qemu.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = out.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).replace("\r\n", "\n")
        })
    };
    let deadline = Instant::now() + Duration::from_secs(1200);
    while qemu.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = qemu.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    console.push_str(&reader.join().unwrap());
    assert!(
        console.contains("@@DONE"),
        "guest {} did not finish:\n{console}",
        kernel.release
    );
    parse_console(&console)
}

fn parse_console(console: &str) -> BTreeMap<String, CaseResult> {
    let mut results = BTreeMap::new();
    let mut lines = console.lines();
    while let Some(line) = lines.next() {
        let Some(head) = line.strip_prefix("@@BEGIN ") else {
            continue;
        };
        let (name, code) = head.rsplit_once(" rc=").expect("BEGIN line");
        let mut result = CaseResult {
            code: code.trim().parse().expect("rc"),
            stdout: String::new(),
            stderr: String::new(),
            workload: String::new(),
            scrape: String::new(),
        };
        let mut section = 0;
        for line in lines.by_ref() {
            if line == "@@END" {
                break;
            }
            if line == "@@STDERR" || line.starts_with("@@WORKLOAD ") || line == "@@SCRAPE" {
                section += 1;
            }
            let out = match section {
                0 => &mut result.stdout,
                1 => &mut result.stderr,
                2 => &mut result.workload,
                _ => &mut result.scrape,
            };
            if !line.starts_with("@@") || section == 2 {
                out.push_str(line.trim_start_matches("@@WORKLOAD "));
                out.push('\n');
            }
        }
        results.insert(name.to_string(), result);
    }
    results
}

fn image(kernel: &Kernel, cases: &[Case], bins: &Binaries<'_>) -> Vec<u8> {
    let mut cpio = Cpio::default();
    for dir in [
        "bin",
        "lib",
        "lib64",
        "lib/x86_64-linux-gnu",
        "proc",
        "sys",
        "dev",
        "tmp",
        "modules",
    ] {
        cpio.dir(dir);
    }
    cpio.file(
        "bin/busybox",
        0o755,
        &fs::read("/bin/busybox").expect("busybox-static"),
    );
    cpio.symlink("bin/sh", "busybox");
    cpio.file("init", 0o755, INIT.as_bytes());
    cpio.file("cases.sh", 0o644, script(cases).as_bytes());
    cpio.file("rtools", 0o755, &stripped(bins.rtools));
    // The workload keeps its symbols: uprobes and stacks need them.
    cpio.file("testprog", 0o755, &fs::read(bins.testprog).unwrap());
    for lib in shared_libraries(&[bins.rtools, bins.testprog]) {
        let path = lib.to_string_lossy().trim_start_matches('/').to_string();
        cpio.file(&path, 0o755, &fs::read(&lib).unwrap());
    }
    cpio.file(
        "modules/loop.ko",
        0o644,
        &module(kernel, "kernel/drivers/block/loop.ko"),
    );
    cpio.finish()
}

/// `run_case` lines. Every rtools word is single-quoted (regexes hold
/// shell syntax): see [`words`].
fn script(cases: &[Case]) -> String {
    cases
        .iter()
        .map(|c| {
            let words: Vec<String> = words(&c.rtools)
                .into_iter()
                .map(|w| format!("'{}'", w.replace('\'', "'\\''")))
                .collect();
            format!(
                "run_case '{}' '{}' '{}' {}\n",
                c.name,
                c.workload.unwrap_or(""),
                c.scrape.unwrap_or(""),
                words.join(" ")
            )
        })
        .collect()
}

/// A case's rtools arguments: split at blanks, except inside single
/// quotes (trace's probes hold blanks: `'vfs_read (count == 1)'`).
fn words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in text.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                any = false;
            }
            c => word.push(c),
        }
    }
    if any || !word.is_empty() {
        words.push(word);
    }
    words
}

/// A copy of `bin` without debug information (the debug build of rtools
/// is ~60 MB; the guest would spend its time unpacking it).
fn stripped(bin: &Path) -> Vec<u8> {
    let out = tempfile::NamedTempFile::new().unwrap();
    let status = Command::new("strip")
        .arg("--strip-debug")
        .arg(bin)
        .arg("-o")
        .arg(out.path())
        .status()
        .expect("run strip");
    assert!(status.success());
    fs::read(out.path()).unwrap()
}

/// The shared libraries `bins` load, as ldd resolves them on this host.
fn shared_libraries(bins: &[&Path]) -> Vec<PathBuf> {
    let mut libs = Vec::new();
    for bin in bins {
        let out = Command::new("ldd").arg(bin).output().expect("run ldd");
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let path = line.split_whitespace().find(|w| w.starts_with('/'));
            if let Some(path) = path.map(PathBuf::from) {
                if !libs.contains(&path) {
                    libs.push(path);
                }
            }
        }
    }
    libs
}

/// A module of `kernel`, decompressed if it is shipped as .ko.xz.
fn module(kernel: &Kernel, relative: &str) -> Vec<u8> {
    let base = kernel.modules.join(relative);
    if base.exists() {
        return fs::read(&base).unwrap();
    }
    let xz = base.with_extension("ko.xz");
    let out = Command::new("xz")
        .arg("-dc")
        .arg(&xz)
        .output()
        .expect("run xz");
    assert!(out.status.success(), "xz -dc {}", xz.display());
    out.stdout
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_keep_their_quoted_blanks() {
        assert_eq!(
            words("trace -p {pid} 'vfs_read (count == 1) \"%d\", count'"),
            [
                "trace",
                "-p",
                "{pid}",
                "vfs_read (count == 1) \"%d\", count"
            ]
        );
        assert_eq!(
            words("funccount  -r ^(vfs_(read|write))$ ''"),
            ["funccount", "-r", "^(vfs_(read|write))$", ""]
        );
        let line = script(&[Case {
            name: "x",
            workload: None,
            rtools: "trace 'it''s'".into(),
            scrape: None,
        }]);
        assert_eq!(line, "run_case 'x' '' '' 'trace' 'its'\n");
    }
}
