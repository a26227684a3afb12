//! A workload with known call counts, for rtools' BPF tests.
//!
//! `rtools-testprog [--name COMM] [--cpu N] [--wait-signal] MODE COUNT...`
//!
//! It prints `ready PID`, waits for a line on stdin, does the work, prints
//! `done`, then waits for stdin to close before it exits, so a test decides
//! whether the process is still alive when rtools reads or symbolizes.
//! With `--wait-signal` (the VM tests, driven by a shell) it waits for
//! SIGUSR1 instead, makes no other system call before the work, and exits
//! right after it (or with `--linger MS`, renames itself `done` and exits
//! MS later, so that a tracer reads the process's mappings, or a test
//! scrapes the exporter, while it lives). With `--time` it prints `elapsed_ns N`, the duration of
//! the work alone (the benchmarks).
//!
//! Modes:
//! - `getppid N`: the getppid syscall, N times;
//! - `getcpu N`: the raw getcpu syscall (nothing else on the machine makes
//!   it), N times;
//! - `getcpu-bursts A MS B`: the raw getcpu syscall A times, a sleep of MS
//!   milliseconds, then B more times (intervals of the tools);
//! - `libc-getpid N`: libc's getpid(), N times;
//! - `malloc N`: libc malloc(64) and free, N times;
//! - `funcs A B C`: rtools_test_one A times, _two B times, _three C times;
//! - `spin MS`: rtools_spin, arithmetic for MS milliseconds (profiles);
//! - `pages N`: a byte written to each of N fresh pages (N page faults);
//! - `comms N`: N times, renames itself `c<i>` and calls rtools_test_one
//!   (N groups for `funccount --by comm`: the exporter's benchmark);
//! - `usdt N`: the USDT probe rtools:tick, N times (its argument i = 0..N-1);
//! - `trace N`: trace_target(i, "s<i>") for i = 0..N-1 (it returns 3 * i);
//! - `trace-getcpu N`: the same, each call followed by a raw getcpu
//!   syscall whose first argument is i (an address the kernel refuses,
//!   harmlessly; 0 asks nothing);
//! - `stacks A D`: gamma through alpha and beta A times, through delta D
//!   times;
//! - `latency A B`: lat_2ms (~2 ms) A times, lat_20us (~20 us) B times;
//! - `hold MS`: lat_hold once, spinning MS milliseconds (for attaching
//!   while a call is in flight);
//! - `recurse N [DEPTH]`: lat_recurse(DEPTH, default 5) N times; each level
//!   spins ~12 us before calling the next (~60, 48, 36, 24, 12 us at 5:
//!   each at least 4 us from the edge of its log2 bucket);
//! - `jit N`: gamma N times through machine code in an anonymous page,
//!   named `rtools_jit_trampoline` in /tmp/perf-PID.map (as JITs do);
//! - `open N`: opens and closes /dev/null N times (do_sys_openat2 N times);
//! - `http-get HOST:PORT/PATH`: prints the HTTP response (no work, no
//!   signal);
//! - `read-write N M`: N one-byte reads of /dev/zero, then M one-byte
//!   writes to /dev/null (vfs_read N, vfs_write M times);
//! - `loop-ctl N`: N LOOP_CTL_GET_FREE ioctls on /dev/loop-control (the
//!   loop module's loop_control_ioctl, N times);
//! - `syscall-numbers`: syscalls newer than Debian 12's headers, with
//!   invalid arguments (harmless): cachestat 3, mseal 5, uname 7,
//!   file_getattr 11 times.

use std::fs::File;
use std::hint::black_box;
use std::io::{self, BufRead, Read, Write};
use std::os::fd::AsRawFd;

#[no_mangle]
#[inline(never)]
pub extern "C" fn rtools_test_one(x: u64) -> u64 {
    black_box(x.wrapping_add(1))
}

#[no_mangle]
#[inline(never)]
pub extern "C" fn rtools_test_two(x: u64) -> u64 {
    black_box(x.wrapping_add(2))
}

#[no_mangle]
#[inline(never)]
pub extern "C" fn rtools_test_three(x: u64) -> u64 {
    black_box(x.wrapping_add(3))
}

/// The leaf that stackcount tests probe; reached as main -> alpha -> beta
/// -> gamma and as main -> delta -> gamma.
#[no_mangle]
#[inline(never)]
pub extern "C" fn gamma(x: u64) -> u64 {
    black_box(x.wrapping_mul(3))
}

#[no_mangle]
#[inline(never)]
pub extern "C" fn beta(x: u64) -> u64 {
    black_box(gamma(black_box(x)).wrapping_add(1))
}

#[no_mangle]
#[inline(never)]
pub extern "C" fn alpha(x: u64) -> u64 {
    black_box(beta(black_box(x)).wrapping_add(1))
}

#[no_mangle]
#[inline(never)]
pub extern "C" fn delta(x: u64) -> u64 {
    black_box(gamma(black_box(x)).wrapping_add(2))
}

/// trace's target: known arguments, a known return value.
#[no_mangle]
#[inline(never)]
pub extern "C" fn trace_target(i: i32, s: *const libc::c_char) -> i32 {
    black_box(s);
    black_box(i) * 3
}

/// Spins for `d` on the vDSO clock: exact durations, no system calls.
fn spin(d: std::time::Duration) {
    let start = std::time::Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

#[no_mangle]
#[inline(never)]
pub extern "C" fn lat_2ms() {
    spin(std::time::Duration::from_micros(2000));
}

#[no_mangle]
#[inline(never)]
pub extern "C" fn lat_20us() {
    spin(std::time::Duration::from_micros(20));
}

#[no_mangle]
#[inline(never)]
pub extern "C" fn lat_hold(ms: u64) {
    spin(std::time::Duration::from_millis(ms));
}

/// Spins on arithmetic for `ms` milliseconds, looking at the clock only
/// every 100,000 steps, so a profiler's samples land in this function.
#[no_mangle]
#[inline(never)]
pub extern "C" fn rtools_spin(ms: u64) -> u64 {
    let end = std::time::Instant::now() + std::time::Duration::from_millis(ms);
    let mut x = 0u64;
    while std::time::Instant::now() < end {
        for i in 0..100_000u64 {
            x = black_box(x.wrapping_mul(31).wrapping_add(i));
        }
    }
    x
}

/// Writes a byte to each of `n` fresh pages: `n` page faults (no huge
/// pages, which would take 512 at once).
fn touch_pages(n: usize) -> Result<(), String> {
    let page = 4096;
    let len = n * page;
    // SAFETY: a new private anonymous mapping, unmapped below.
    let mem = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if mem == libc::MAP_FAILED {
        return Err(format!("mmap: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: `mem` is the mapping of `len` bytes made above.
    unsafe {
        libc::madvise(mem, len, libc::MADV_NOHUGEPAGE);
        for i in 0..n {
            std::ptr::write_volatile((mem as *mut u8).add(i * page), 1);
        }
        libc::munmap(mem, len);
    }
    Ok(())
}

#[no_mangle]
#[inline(never)]
pub extern "C" fn lat_recurse(depth: u32) {
    spin(std::time::Duration::from_micros(12));
    if depth > 1 {
        lat_recurse(black_box(depth - 1));
    }
}

/// Starts with a lock-prefixed instruction, which x86 uprobes refuse
/// (ENOTSUPP): the one bad match in `rtools_test_*` that must not stop the
/// others from being counted.
#[unsafe(naked)]
#[no_mangle]
pub unsafe extern "C" fn rtools_test_unprobeable(counter: *mut u64) {
    core::arch::naked_asm!("lock inc qword ptr [rdi]", "ret")
}

fn raw_syscall(nr: libc::c_long, a: libc::c_long, b: libc::c_long) {
    // SAFETY: every caller passes arguments the kernel rejects or that
    // only read into nothing (null pointers with zero sizes).
    unsafe { libc::syscall(nr, a, b, 0, 0, 0) };
}

/// Machine code that calls gamma with a frame of its own, like JIT code:
/// push rbp; mov rbp, rsp; movabs rax, gamma; call rax; pop rbp; ret.
struct Jit {
    code: *mut u8,
    map_path: String,
}

impl Jit {
    const SIZE: usize = 4096;

    fn new() -> Result<Jit, String> {
        // SAFETY: an anonymous private mapping, checked for failure.
        let code = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                Self::SIZE,
                libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if code == libc::MAP_FAILED {
            return Err(format!("mmap: {}", io::Error::last_os_error()));
        }
        let mut bytes = vec![0x55, 0x48, 0x89, 0xe5, 0x48, 0xb8];
        let target = gamma as extern "C" fn(u64) -> u64;
        bytes.extend_from_slice(&(target as usize as u64).to_le_bytes());
        bytes.extend_from_slice(&[0xff, 0xd0, 0x5d, 0xc3]);
        // SAFETY: the mapping is writable and larger than the code.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), code.cast(), bytes.len()) };
        let map_path = format!("/tmp/perf-{}.map", std::process::id());
        let entry = format!(
            "{:x} {:x} rtools_jit_trampoline\n",
            code as usize,
            bytes.len()
        );
        std::fs::write(&map_path, entry).map_err(|e| format!("{map_path}: {e}"))?;
        Ok(Jit {
            code: code.cast(),
            map_path,
        })
    }

    fn call(&self, x: u64) -> u64 {
        // SAFETY: `code` holds a complete function of this signature.
        let f: extern "C" fn(u64) -> u64 = unsafe { std::mem::transmute(self.code) };
        f(x)
    }
}

impl Drop for Jit {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.map_path);
    }
}

/// Files a mode needs, opened before the work starts.
struct Files {
    jit: Option<Jit>,
    zero: Option<File>,
    null: Option<File>,
    loop_control: Option<File>,
}

impl Files {
    fn open(mode: &str) -> Result<Files, String> {
        let open = |path: &str, write: bool| {
            std::fs::OpenOptions::new()
                .read(!write)
                .write(write)
                .open(path)
                .map_err(|e| format!("{path}: {e}"))
        };
        Ok(Files {
            jit: (mode == "jit").then(Jit::new).transpose()?,
            zero: (mode == "read-write")
                .then(|| open("/dev/zero", false))
                .transpose()?,
            null: (mode == "read-write")
                .then(|| open("/dev/null", true))
                .transpose()?,
            loop_control: (mode == "loop-ctl")
                .then(|| open("/dev/loop-control", false))
                .transpose()?,
        })
    }
}

const LOOP_CTL_GET_FREE: libc::c_ulong = 0x4C82;

fn work(mode: &str, counts: &[u64], files: &mut Files) -> Result<(), String> {
    let n = |i: usize| -> Result<u64, String> {
        counts
            .get(i)
            .copied()
            .ok_or(format!("{mode} needs {} count(s)", i + 1))
    };
    match mode {
        "getppid" => (0..n(0)?).for_each(|_| raw_syscall(libc::SYS_getppid, 0, 0)),
        "getcpu" => (0..n(0)?).for_each(|_| raw_syscall(libc::SYS_getcpu, 0, 0)),
        "getcpu-bursts" => {
            (0..n(0)?).for_each(|_| raw_syscall(libc::SYS_getcpu, 0, 0));
            std::thread::sleep(std::time::Duration::from_millis(n(1)?));
            (0..n(2)?).for_each(|_| raw_syscall(libc::SYS_getcpu, 0, 0));
        }
        "libc-getpid" => (0..n(0)?).for_each(|_| {
            // SAFETY: getpid has no preconditions.
            black_box(unsafe { libc::getpid() });
        }),
        "spin" => {
            black_box(rtools_spin(n(0)?));
        }
        "pages" => touch_pages(n(0)? as usize)?,
        "comms" => {
            for i in 0..n(0)? {
                let name = std::ffi::CString::new(format!("c{i}")).expect("no NUL");
                // SAFETY: PR_SET_NAME reads a NUL-terminated string.
                unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr()) };
                black_box(rtools_test_one(i));
            }
        }
        "funcs" => {
            (0..n(0)?).for_each(|i| {
                black_box(rtools_test_one(i));
            });
            (0..n(1)?).for_each(|i| {
                black_box(rtools_test_two(i));
            });
            (0..n(2)?).for_each(|i| {
                black_box(rtools_test_three(i));
            });
            // Once, so the linker keeps it; it is never counted.
            let mut counter = 0u64;
            // SAFETY: the pointer is to a live local.
            unsafe { rtools_test_unprobeable(&mut counter) };
        }
        "usdt" => (0..n(0)?).for_each(|i| probe::probe!(rtools, tick, i)),
        "open" => {
            for _ in 0..n(0)? {
                File::open("/dev/null").map_err(|e| format!("/dev/null: {e}"))?;
            }
        }
        "trace" | "trace-getcpu" => {
            // The strings first: making them is not traced.
            let strings: Vec<std::ffi::CString> = (0..n(0)?)
                .map(|i| std::ffi::CString::new(format!("s{i}")).expect("no NUL"))
                .collect();
            for (i, s) in strings.iter().enumerate() {
                black_box(trace_target(i as i32, s.as_ptr()));
                if mode == "trace-getcpu" {
                    raw_syscall(libc::SYS_getcpu, i as libc::c_long, 0);
                }
            }
        }
        "latency" => {
            (0..n(0)?).for_each(|_| lat_2ms());
            (0..n(1)?).for_each(|_| lat_20us());
        }
        "recurse" => {
            let depth = counts.get(1).copied().unwrap_or(5) as u32;
            (0..n(0)?).for_each(|_| lat_recurse(black_box(depth)));
        }
        "hold" => lat_hold(n(0)?),
        "jit" => {
            let jit = files.jit.as_ref().expect("made");
            (0..n(0)?).for_each(|i| {
                black_box(jit.call(i));
            });
        }
        "stacks" => {
            (0..n(0)?).for_each(|i| {
                black_box(alpha(i));
            });
            (0..n(1)?).for_each(|i| {
                black_box(delta(i));
            });
        }
        "malloc" => (0..n(0)?).for_each(|_| {
            // SAFETY: a block from malloc is freed once.
            unsafe { libc::free(black_box(libc::malloc(64))) }
        }),
        "read-write" => {
            let mut byte = [0u8; 1];
            let zero = files.zero.as_mut().expect("opened");
            for _ in 0..n(0)? {
                zero.read_exact(&mut byte).map_err(|e| e.to_string())?;
            }
            let null = files.null.as_mut().expect("opened");
            for _ in 0..n(1)? {
                null.write_all(&byte).map_err(|e| e.to_string())?;
            }
        }
        "loop-ctl" => {
            let fd = files.loop_control.as_ref().expect("opened").as_raw_fd();
            for _ in 0..n(0)? {
                // SAFETY: LOOP_CTL_GET_FREE takes no argument.
                if unsafe { libc::ioctl(fd, LOOP_CTL_GET_FREE) } < 0 {
                    return Err(format!("LOOP_CTL_GET_FREE: {}", io::Error::last_os_error()));
                }
            }
        }
        "syscall-numbers" => {
            (0..3).for_each(|_| raw_syscall(451, -1, 0)); // cachestat(-1, ...)
            (0..5).for_each(|_| raw_syscall(462, 1, 0)); // mseal(1, 0): EINVAL
            (0..7).for_each(|_| raw_syscall(libc::SYS_uname, 0, 0)); // EFAULT
            (0..11).for_each(|_| raw_syscall(468, -1, 0)); // file_getattr(-1, ...)
        }
        _ => return Err(format!("unknown mode '{mode}'")),
    }
    Ok(())
}

fn set_name(name: &str) {
    let name = std::ffi::CString::new(name).expect("name without NUL");
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of up to 16 bytes.
    unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr(), 0, 0, 0) };
}

fn pin_to_cpu(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is empty; CPU_SET and sched_setaffinity
    // get valid pointers to it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set);
    }
}

/// Blocks SIGUSR1 (so it stays pending), says ready, and waits for it.
fn wait_for_sigusr1() {
    // SAFETY: the set is initialized by sigemptyset before use, and every
    // call gets valid pointers.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGUSR1);
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        println!("ready {}", std::process::id());
        io::stdout().flush().unwrap();
        let mut signal = 0;
        libc::sigwait(&set, &mut signal);
    }
}

/// `http-get HOST:PORT/PATH`: the response to an HTTP/1.0 GET, on stdout
/// (the VM tests' scrape of the exporter: busybox's wget crashed in a
/// guest).
fn http_get(url: &str) {
    use std::net::TcpStream;
    let (addr, path) = url.split_once('/').unwrap_or((url, ""));
    let fetch = || -> io::Result<Vec<u8>> {
        let mut stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
        write!(stream, "GET /{path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response)?;
        Ok(response)
    };
    match fetch() {
        Ok(response) => io::stdout().write_all(&response).unwrap(),
        Err(e) => {
            eprintln!("rtools-testprog: GET {url}: {e}");
            std::process::exit(1);
        }
    }
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut wait_signal = false;
    let mut time = false;
    let mut linger = std::time::Duration::ZERO;
    while args.first().is_some_and(|a| a.starts_with("--")) {
        let flag = args.remove(0);
        if flag == "--wait-signal" || flag == "--time" {
            wait_signal |= flag == "--wait-signal";
            time |= flag == "--time";
            continue;
        }
        let value = if args.is_empty() {
            String::new()
        } else {
            args.remove(0)
        };
        match flag.as_str() {
            "--name" => set_name(&value),
            "--cpu" => pin_to_cpu(value.parse().expect("--cpu N")),
            "--linger" => {
                linger = std::time::Duration::from_millis(value.parse().expect("--linger MS"))
            }
            _ => panic!("unknown flag {flag}"),
        }
    }
    let mode = args.first().cloned().unwrap_or_default();
    if mode == "http-get" {
        return http_get(args.get(1).map_or("", String::as_str));
    }
    let counts: Vec<u64> = args[1.min(args.len())..]
        .iter()
        .map(|c| c.parse().expect("counts are numbers"))
        .collect();

    let fail = |e: String| -> ! {
        eprintln!("rtools-testprog: {e}");
        std::process::exit(2);
    };
    let mut files = Files::open(&mode).unwrap_or_else(|e| fail(e));
    if wait_signal {
        wait_for_sigusr1();
        let start = std::time::Instant::now();
        work(&mode, &counts, &mut files).unwrap_or_else(|e| fail(e));
        if time {
            println!("elapsed_ns {}", start.elapsed().as_nanos());
        }
        if !linger.is_zero() {
            // Said by its name, not on stdout: a write would be counted.
            set_name("done");
            std::thread::sleep(linger);
        }
        return;
    }
    let stdin = io::stdin();
    let mut lines = stdin.lock().lines();
    println!("ready {}", std::process::id());
    io::stdout().flush().unwrap();
    lines.next();
    work(&mode, &counts, &mut files).unwrap_or_else(|e| fail(e));
    println!("done");
    io::stdout().flush().unwrap();
    // Stay alive until the test closes stdin.
    for _ in lines {}
}
