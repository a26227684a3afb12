//! Ctrl-C and SIGTERM: the first asks for the final summary and a clean
//! detach, a second exits at once with 130 (SPEC §5).

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::{flag, low_level};

use crate::exit;

/// Wakes the main loop on a stop signal, with no polling in between.
pub struct StopSignal {
    requested: Arc<AtomicBool>,
    wake: UnixStream,
}

impl StopSignal {
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
        Ok(StopSignal { requested, wake })
    }

    pub fn requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    /// Sleeps until `deadline` (forever with None) or a stop signal.
    /// Returns true if a stop was requested.
    pub fn wait_until(&self, deadline: Option<Instant>) -> bool {
        self.wait(deadline, None) == Wake::Stop
    }

    /// Sleeps until `deadline`, a stop signal, or `also` is readable.
    pub fn wait(&self, deadline: Option<Instant>, also: Option<RawFd>) -> Wake {
        loop {
            if self.requested() {
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
            let mut fds = [poll_fd(self.wake.as_raw_fd()), poll_fd(also.unwrap_or(-1))];
            // SAFETY: `fds` holds valid pollfds (fd -1 is ignored by poll).
            unsafe { libc::poll(fds.as_mut_ptr(), 2, timeout) };
            if fds[1].revents & libc::POLLIN != 0 && !self.requested() {
                return Wake::Ready;
            }
        }
    }
}

/// Why a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    Stop,
    Deadline,
    /// The extra fd is readable.
    Ready,
}
