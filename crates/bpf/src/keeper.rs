//! The link keeper: a small process that shares rtools' file table and
//! makes its uprobe.multi links, so that a SIGKILL of rtools leaks no
//! uprobe.
//!
//! Registering or unregistering a uprobe writes a breakpoint into every
//! process that maps the file, and the kernel gives up on those writes in a
//! task that has a SIGKILL pending: a link attached, or closed, by a
//! killed rtools leaves its uprobes behind ("failed to unregister, leaking
//! uprobe"). The keeper is cloned with CLONE_FILES, so every fd of rtools
//! is one of its own too: when rtools dies the kernel closes nothing, and
//! the keeper, seeing rtools gone, exits normally and closes them all
//! where closing works. It also makes the uprobe.multi links itself, so an
//! attach in flight finishes in a process nobody killed.
//!
//! The keeper is cloned before rtools starts any thread and allocates
//! nothing after the clone; it ignores the terminal's signals and has a
//! session of its own, so only rtools' exit ends it.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::{Mutex, OnceLock};

use libbpf_rs::libbpf_sys as sys;

/// Functions per request: the batch size of the callers, and the bound of
/// the keeper's fixed buffer.
pub const MAX_BATCH: usize = 128;
const MAX_PATH: usize = 4096;
const HEADER: usize = 20;
const REQUEST_MAX: usize = HEADER + MAX_BATCH * 16 + MAX_PATH + 1;

/// rtools' end of the keeper's socket, and the keeper's pid.
struct Keeper {
    socket: OwnedFd,
    pid: u32,
}

static KEEPER: OnceLock<Option<Mutex<Keeper>>> = OnceLock::new();

/// Starts the keeper, once. Call it before any thread starts. Without a
/// keeper (clone refused) links are made and held by rtools itself.
pub fn start() {
    KEEPER.get_or_init(|| spawn().ok().map(Mutex::new));
}

/// Whether a keeper is running.
pub fn running() -> bool {
    KEEPER.get().is_some_and(Option::is_some)
}

/// The keeper's process id, where one runs (user probes leave it out).
pub fn pid() -> Option<u32> {
    let keeper = KEEPER.get()?.as_ref()?;
    Some(keeper.lock().unwrap_or_else(|p| p.into_inner()).pid)
}

fn spawn() -> io::Result<Keeper> {
    let mut pair = [0; 2];
    // SAFETY: `pair` has room for the two fds socketpair writes.
    check(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            pair.as_mut_ptr(),
        )
    })?;
    // SAFETY: socketpair returned two new fds that nothing else owns.
    let (ours, theirs) = unsafe { (OwnedFd::from_raw_fd(pair[0]), OwnedFd::from_raw_fd(pair[1])) };
    // SAFETY: pidfd_open of our own pid; returns a new fd or -1.
    let parent = unsafe { libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0) };
    if parent < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a non-negative return is a new fd owned by nothing else.
    let parent = unsafe { OwnedFd::from_raw_fd(parent as RawFd) };
    // SAFETY: a fork-like clone (no new stack) that shares the file table;
    // the child runs only `serve`, which makes system calls and does not
    // allocate, and never returns.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (libc::CLONE_FILES | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    match pid {
        0 => serve(theirs.as_raw_fd(), parent.as_raw_fd()),
        p if p < 0 => Err(io::Error::last_os_error()),
        _ => {
            // The fds live on in the keeper through the shared table only
            // while they stay open; forget them here rather than close them
            // (closing an fd closes it for both).
            std::mem::forget(theirs);
            std::mem::forget(parent);
            Ok(Keeper {
                socket: ours,
                pid: pid as u32,
            })
        }
    }
}

/// The keeper's loop: make links on request until rtools is gone.
fn serve(socket: RawFd, parent: RawFd) -> ! {
    // SAFETY: plain system calls on values owned by this process.
    unsafe {
        for signal in [
            libc::SIGINT,
            libc::SIGTERM,
            libc::SIGHUP,
            libc::SIGQUIT,
            libc::SIGPIPE,
        ] {
            libc::signal(signal, libc::SIG_IGN);
        }
        libc::setsid();
    }
    let mut request = [0u8; REQUEST_MAX];
    loop {
        let mut fds = [
            libc::pollfd {
                fd: socket,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: parent,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: `fds` holds two valid pollfds.
        if unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) } < 0 {
            continue;
        }
        if fds[1].revents != 0 {
            // rtools is gone: exiting closes every fd, here, where the
            // kernel can take the breakpoints out again.
            // SAFETY: ends this process.
            unsafe { libc::_exit(0) };
        }
        // SAFETY: `request` is writable for its whole length.
        let n = unsafe { libc::recv(socket, request.as_mut_ptr().cast(), request.len(), 0) };
        if n <= 0 {
            continue;
        }
        let answer: i32 = link_from_request(&request[..n as usize]);
        // SAFETY: sends 4 bytes from a live value.
        unsafe { libc::send(socket, (&answer as *const i32).cast(), 4, 0) };
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Makes the link a request describes: the new fd, or -errno. The request
/// is `prog_fd flags pid cnt path_len | offsets | cookies | path NUL`,
/// written by [`uprobe_multi`] of this same binary.
fn link_from_request(req: &[u8]) -> i32 {
    if req.len() < HEADER {
        return -libc::EINVAL;
    }
    let (prog_fd, flags, pid, cnt, path_len) = (
        u32_at(req, 0),
        u32_at(req, 4),
        u32_at(req, 8),
        u32_at(req, 12) as usize,
        u32_at(req, 16) as usize,
    );
    let offsets_at = HEADER;
    let cookies_at = offsets_at + cnt * 8;
    let path_at = cookies_at + cnt * 8;
    if cnt > MAX_BATCH || path_at + path_len + 1 != req.len() || req[req.len() - 1] != 0 {
        return -libc::EINVAL;
    }
    let mut opts = sys::bpf_link_create_opts {
        sz: size_of::<sys::bpf_link_create_opts>() as _,
        ..Default::default()
    };
    // The request buffer is only byte-aligned: the arrays are read by the
    // kernel with copy_from_user, which takes any alignment.
    opts.__bindgen_anon_1.uprobe_multi = sys::bpf_link_create_opts__bindgen_ty_1__bindgen_ty_3 {
        flags,
        cnt: cnt as u32,
        path: req[path_at..].as_ptr().cast(),
        offsets: req[offsets_at..].as_ptr().cast(),
        ref_ctr_offsets: std::ptr::null(),
        cookies: req[cookies_at..].as_ptr().cast(),
        pid,
        ..Default::default()
    };
    // SAFETY: every pointer in `opts` points into `req`, which outlives the
    // call, with `cnt` entries each and a NUL-terminated path.
    unsafe { sys::bpf_link_create(prog_fd as i32, 0, sys::BPF_TRACE_UPROBE_MULTI, &opts) }
}

/// Attaches `prog` to the functions at `offsets` of `binary` through the
/// keeper, as one uprobe.multi link (with `ret`, return probes); `pid` 0
/// is every process. Returns the link's fd. None without a keeper.
pub fn uprobe_multi(
    prog: BorrowedFd<'_>,
    binary: &Path,
    offsets: &[u64],
    cookies: &[u64],
    ret: bool,
    pid: u32,
) -> Option<io::Result<OwnedFd>> {
    let keeper = KEEPER.get()?.as_ref()?;
    let path = binary.as_os_str().as_encoded_bytes();
    if offsets.len() > MAX_BATCH || offsets.len() != cookies.len() || path.len() > MAX_PATH {
        return Some(Err(io::Error::from_raw_os_error(libc::E2BIG)));
    }
    let flags = if ret {
        sys::BPF_F_UPROBE_MULTI_RETURN
    } else {
        0
    };
    let mut req = Vec::with_capacity(REQUEST_MAX);
    for word in [
        prog.as_raw_fd() as u32,
        flags,
        pid,
        offsets.len() as u32,
        path.len() as u32,
    ] {
        req.extend_from_slice(&word.to_ne_bytes());
    }
    offsets
        .iter()
        .for_each(|o| req.extend_from_slice(&o.to_ne_bytes()));
    cookies
        .iter()
        .for_each(|c| req.extend_from_slice(&c.to_ne_bytes()));
    req.extend_from_slice(path);
    req.push(0);
    let keeper = keeper.lock().unwrap_or_else(|p| p.into_inner());
    let socket = keeper.socket.as_raw_fd();
    // SAFETY: sends and receives from live buffers of the given lengths.
    let answer = unsafe {
        if libc::send(socket, req.as_ptr().cast(), req.len(), 0) < 0 {
            return Some(Err(io::Error::last_os_error()));
        }
        let mut answer = 0i32;
        if libc::recv(socket, (&mut answer as *mut i32).cast(), 4, 0) != 4 {
            return Some(Err(io::Error::last_os_error()));
        }
        answer
    };
    Some(if answer < 0 {
        Err(io::Error::from_raw_os_error(-answer))
    } else {
        // SAFETY: the keeper made this fd in the file table we share, and
        // handed it to us alone.
        Ok(unsafe { OwnedFd::from_raw_fd(answer) })
    })
}

fn check(rc: i32) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}
