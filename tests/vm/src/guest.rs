//! Boots a Debian kernel under qemu (software emulation: KVM does not work
//! on these machines) with an initramfs of busybox and what the caller
//! puts in it ([`Image`]), runs the caller's script and returns what the
//! guest printed on its console.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::cpio::Cpio;

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

const INIT: &str = r#"#!/bin/sh
/bin/busybox --install -s /bin
set -f  # rtools patterns are not file globs
# Programs the caller adds (util-linux, binutils) go before busybox.
export PATH=/usr/sbin:/usr/bin:/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mount -t tracefs tracefs /sys/kernel/tracing
mount -t debugfs debugfs /sys/kernel/debug
mount -t bpf bpf /sys/fs/bpf
mount -t cgroup2 cgroup2 /sys/fs/cgroup
insmod /modules/loop.ko
ip link set lo up  # the exporter's scrapes
echo "@@BOOTED $(uname -r)"

. /run.sh
echo "@@DONE"
poweroff -f
"#;

/// The guest's initramfs: busybox, the init script, the kernel's loop
/// module, the script init runs, and what the caller adds.
pub struct Image {
    cpio: Cpio,
}

/// Whether [`Image::program`] keeps a program's debug information.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum DebugInfo {
    /// Kept: uprobes, stacks and DWARF unwinding need it.
    Keep,
    /// Stripped: smaller, faster to unpack.
    Strip,
}

impl Image {
    /// An image whose init runs `script` (sh, with busybox's tools) after
    /// mounting the kernel's filesystems and loading the loop module, then
    /// powers off.
    pub fn new(kernel: &Kernel, script: &str) -> Image {
        let mut cpio = Cpio::default();
        for dir in ["bin", "proc", "sys", "dev", "tmp", "var/tmp"] {
            cpio.dir(dir);
        }
        cpio.file("etc/hostname", 0o644, b"guest\n");
        cpio.file(
            "bin/busybox",
            0o755,
            &fs::read("/bin/busybox").expect("busybox-static"),
        );
        cpio.symlink("bin/sh", "busybox");
        cpio.file("init", 0o755, INIT.as_bytes());
        cpio.file("run.sh", 0o644, script.as_bytes());
        cpio.file(
            "modules/loop.ko",
            0o644,
            &module(kernel, "kernel/drivers/block/loop.ko"),
        );
        Image { cpio }
    }

    pub fn file(&mut self, path: &str, mode: u32, data: &[u8]) {
        self.cpio.file(path, mode, data);
    }

    pub fn dir(&mut self, path: &str) {
        self.cpio.dir(path);
    }

    pub fn symlink(&mut self, path: &str, target: &str) {
        self.cpio.symlink(path, target);
    }

    /// The program at `host` as `path`, and the shared libraries it loads
    /// (where ldd finds them on this host).
    pub fn program(&mut self, path: &str, host: &Path, debug: DebugInfo) {
        let data = match debug {
            DebugInfo::Keep => fs::read(host).unwrap_or_else(|e| panic!("{}: {e}", host.display())),
            DebugInfo::Strip => stripped(host),
        };
        self.cpio.file(path, 0o755, &data);
        for lib in shared_libraries(host) {
            let path = lib.to_string_lossy().into_owned();
            if !self.cpio.has(&path) {
                self.cpio.file(&path, 0o755, &fs::read(&lib).unwrap());
            }
        }
    }

    /// The files under `host`, recursively, under `path`.
    pub fn tree(&mut self, path: &str, host: &Path) {
        for entry in fs::read_dir(host).unwrap_or_else(|e| panic!("{}: {e}", host.display())) {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            let inside = format!("{path}/{name}");
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                self.tree(&inside, &entry.path());
            } else if kind.is_file() {
                use std::os::unix::fs::PermissionsExt;
                let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
                self.cpio
                    .file(&inside, mode, &fs::read(entry.path()).unwrap());
            }
        }
    }
}

/// Boots `kernel` with `image` and returns its console once it powers
/// off; panics if it has not within `timeout`, or if its script did not
/// run to the end.
pub fn boot(kernel: &Kernel, image: Image, timeout: Duration) -> String {
    let dir = tempfile::tempdir().unwrap();
    let initramfs = dir.path().join("initramfs.cpio");
    fs::write(&initramfs, image.cpio.finish()).unwrap();
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
    // Copied as it comes into RELEASE.log where RTOOLS_VM_CONSOLE names a
    // directory: a long run can be followed.
    let mut log = std::env::var_os("RTOOLS_VM_CONSOLE").and_then(|dir| {
        fs::File::create(Path::new(&dir).join(format!("{}.log", kernel.release))).ok()
    });
    let reader = {
        let mut out = qemu.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let mut chunk = [0; 4096];
            while let Ok(n @ 1..) = out.read(&mut chunk) {
                bytes.extend_from_slice(&chunk[..n]);
                if let Some(log) = log.as_mut() {
                    let _ = log.write_all(&chunk[..n]);
                }
            }
            String::from_utf8_lossy(&bytes).replace("\r\n", "\n")
        })
    };
    let deadline = Instant::now() + timeout;
    while qemu.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = qemu.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let console = reader.join().unwrap();
    assert!(
        console.contains("@@DONE"),
        "guest {} did not finish:\n{console}",
        kernel.release
    );
    console
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

/// The shared libraries `bin` loads, as ldd resolves them on this host.
fn shared_libraries(bin: &Path) -> Vec<PathBuf> {
    let out = Command::new("ldd").arg(bin).output().expect("run ldd");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().find(|w| w.starts_with('/')))
        .map(PathBuf::from)
        .collect()
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
