//! When a tool prints: every -i seconds, and at the end of the duration
//! (BCC: with a duration and no interval, one summary at the end).

use std::time::{Duration, Instant};

pub struct Schedule {
    interval: Option<Duration>,
    end: Option<Instant>,
    next: Option<Instant>,
}

impl Schedule {
    pub fn new(interval_secs: Option<u64>, duration_secs: Option<u64>) -> Schedule {
        let now = Instant::now();
        let interval = interval_secs.or(duration_secs).map(Duration::from_secs);
        Schedule {
            interval,
            end: duration_secs.map(|d| now + Duration::from_secs(d)),
            next: interval.map(|i| now + i),
        }
    }

    /// The next time to print, if any.
    pub fn deadline(&self) -> Option<Instant> {
        match (self.next, self.end) {
            (Some(n), Some(e)) => Some(n.min(e)),
            (n, e) => n.or(e),
        }
    }

    /// Whether it is time to print.
    pub fn due(&self) -> bool {
        self.deadline().is_some_and(|d| Instant::now() >= d)
    }

    /// The next time to print, or `sweep` if that comes first.
    pub fn deadline_or(&self, sweep: Instant) -> Instant {
        self.deadline().map_or(sweep, |d| d.min(sweep))
    }

    /// Whether the duration is over.
    pub fn over(&self) -> bool {
        self.end.is_some_and(|e| Instant::now() >= e)
    }

    /// Moves to the next interval.
    pub fn advance(&mut self) {
        self.next = self.next.zip(self.interval).map(|(n, i)| n + i);
    }
}

/// How often tools retire the counters of exited processes: every second,
/// or `RTOOLS_TEST_SWEEP_MS` in the tests.
pub fn sweep_interval() -> Duration {
    std::env::var("RTOOLS_TEST_SWEEP_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_secs(1), Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_alone_prints_once_at_the_end() {
        let s = Schedule::new(None, Some(3));
        let d = s.deadline().unwrap();
        assert!(d > Instant::now() + Duration::from_millis(2900));
        assert!(!s.over());
        assert!(Schedule::new(None, None).deadline().is_none());
    }

    #[test]
    fn intervals_advance_until_the_end() {
        let mut s = Schedule::new(Some(1), Some(3));
        let first = s.deadline().unwrap();
        s.advance();
        assert_eq!(s.deadline().unwrap() - first, Duration::from_secs(1));
    }
}
