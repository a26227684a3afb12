//! Ctrl-C and SIGTERM: the first asks for the final summary and a clean
//! detach, a second exits at once with 130 (SPEC §5).

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
        while !self.requested() {
            let timeout = match deadline {
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    // Round up so the wait does not end a hair early.
                    left.as_millis().min(i32::MAX as u128) as i32 + 1
                }
                None => -1,
            };
            let mut fds = libc::pollfd {
                fd: self.wake.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: `fds` is one valid pollfd for the duration of the call.
            unsafe { libc::poll(&mut fds, 1, timeout) };
        }
        true
    }
}

/// Seconds as a Duration, for interval arithmetic.
pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}
