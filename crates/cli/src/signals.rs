//! Ctrl-C and SIGTERM: the first asks for the final summary and a clean
//! detach, a second exits at once with 130 (SPEC §5).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use rtools_bpf::attach::Stop;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::{flag, low_level};

use crate::exit;
use crate::output::{self, say};

/// Wakes the main loop on a stop signal, or when the process traced with
/// `-p` exits, with no polling in between.
pub struct StopSignal {
    requested: Arc<AtomicBool>,
    wake: UnixStream,
    /// A pidfd of the `-p` process: readable once it has exited.
    target: Option<(u32, OwnedFd)>,
    /// The `-p` process has exited. Kept apart from `requested`, which arms
    /// the exit with 130: a Ctrl-C after this is still the first one.
    target_exited: AtomicBool,
    /// Whether a summary follows the target's exit.
    summary: bool,
}

impl StopSignal {
    /// Like [`StopSignal::install`], and also stops when process `pid`
    /// exits (`-p`): there is nothing left to trace; `summary`: the tool
    /// prints one then, which the notice announces. A stop signal also
    /// interrupts attaching, between probes.
    pub fn install_for(pid: Option<u32>, summary: bool) -> io::Result<StopSignal> {
        let mut stop = StopSignal::install()?;
        stop.target = pid.and_then(|pid| Some((pid, pidfd_open(pid)?)));
        stop.summary = summary;
        Ok(stop)
    }

    /// What interrupts attaching, between probes.
    pub fn attach_stop(&self) -> Stop {
        Stop::on(Arc::clone(&self.requested))
    }

    pub fn install() -> io::Result<StopSignal> {
        let requested = Arc::new(AtomicBool::new(false));
        let (wake, write) = UnixStream::pair()?;
        write.set_nonblocking(true)?;
        for signal in [SIGINT, SIGTERM] {
            // The exit must be registered first, so that the first signal
            // only arms it.
            flag::register_conditional_shutdown(signal, exit::INTERRUPTED, Arc::clone(&requested))?;
            flag::register(signal, Arc::clone(&requested))?;
            low_level::pipe::register(signal, write.try_clone()?)?;
        }
        Ok(StopSignal {
            requested,
            wake,
            target: None,
            target_exited: AtomicBool::new(false),
            summary: true,
        })
    }

    pub fn requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    /// Sleeps until `deadline`, a stop signal, or one of `also` is
    /// readable (the first such: [`Wake::Ready`] of its index).
    pub fn wait(&self, deadline: Option<Instant>, also: [Option<RawFd>; 2]) -> Wake {
        loop {
            if self.requested() || self.target_exited.load(Ordering::SeqCst) {
                return Wake::Stop;
            }
            let timeout = match deadline {
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Wake::Deadline;
                    }
                    // Round up so the wait does not end a hair early.
                    left.as_millis().min(i32::MAX as u128) as i32 + 1
                }
                None => -1,
            };
            let poll_fd = |fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            let target = self.target.as_ref().map_or(-1, |(_, fd)| fd.as_raw_fd());
            let mut fds = [
                poll_fd(self.wake.as_raw_fd()),
                poll_fd(target),
                poll_fd(also[0].unwrap_or(-1)),
                poll_fd(also[1].unwrap_or(-1)),
            ];
            // SAFETY: `fds` holds valid pollfds (fd -1 is ignored by poll).
            unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as _, timeout) };
            let readable = |i: usize| fds[i].revents & libc::POLLIN != 0;
            if let Some(i) = (0..also.len()).find(|&i| readable(2 + i)) {
                if !self.requested() {
                    return Wake::Ready(i);
                }
            }
            if readable(1) && !self.requested() {
                if let Some((pid, _)) = &self.target {
                    let then = if self.summary { "; final summary:" } else { "" };
                    say!("{}: process {pid} exited{then}", output::tool());
                }
                self.target_exited.store(true, Ordering::SeqCst);
                return Wake::Stop;
            }
        }
    }
}

/// A pidfd for `pid`, or None where the kernel has none (before 5.3) or
/// the process is gone.
fn pidfd_open(pid: u32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::c_long, 0) };
    // SAFETY: a non-negative return is a new fd owned by nothing else.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Why a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    Stop,
    Deadline,
    /// The fd of this index in `also` is readable.
    Ready(usize),
}
