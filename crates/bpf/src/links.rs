//! The attachments a tool holds, and detaching them fast.
//!
//! Closing a tracepoint or kprobe link waits for an RCU grace period in
//! the kernel. One at a time, hundreds of them take seconds (BCC: 26 s for
//! 360 syscall tracepoints); closed from many threads at once, the waits
//! overlap.

use std::os::fd::OwnedFd;
use std::thread;
use std::time::{Duration, Instant};

use libbpf_rs::Link;

/// One attachment: a libbpf link, or a link fd made without libbpf.
pub enum Attachment {
    Libbpf(Link),
    Fd(OwnedFd),
}

/// Each close mostly sleeps in the kernel, so threads are cheap next to
/// the waits they overlap; past this many, links share threads.
const MAX_THREADS: usize = 256;

#[derive(Default)]
pub struct Links {
    items: Vec<Attachment>,
}

impl Links {
    pub fn push(&mut self, a: Attachment) {
        self.items.push(a);
    }

    pub fn extend(&mut self, other: Links) {
        self.items.extend(other.items);
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Closes every link, in parallel, and says how long it took; the
    /// links are gone after (a second call closes nothing).
    pub fn detach(&mut self) -> Duration {
        let start = Instant::now();
        let threads = self.items.len().clamp(1, MAX_THREADS);
        let per_thread = self.items.len().div_ceil(threads).max(1);
        let mut items = std::mem::take(&mut self.items);
        thread::scope(|scope| {
            while !items.is_empty() {
                let chunk: Vec<Attachment> = items.drain(..per_thread.min(items.len())).collect();
                scope.spawn(move || drop(chunk));
            }
        });
        start.elapsed()
    }
}
