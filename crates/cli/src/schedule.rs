//! When a tool prints: every -i seconds, and at the end of the duration
//! (BCC: with a duration and no interval, one summary at the end). In
//! between, every second, it retires the counters of exited processes.

use std::time::{Duration, Instant};

pub struct Schedule {
    interval: Option<Duration>,
    end: Option<Instant>,
    next: Option<Instant>,
    sweep: Duration,
    next_sweep: Instant,
}

impl Schedule {
    pub fn new(interval_secs: Option<u64>, duration_secs: Option<u64>) -> Schedule {
        let now = Instant::now();
        let interval = interval_secs.or(duration_secs).map(Duration::from_secs);
        let sweep = sweep_interval();
        Schedule {
            interval,
            end: duration_secs.map(|d| now + Duration::from_secs(d)),
            next: interval.map(|i| now + i),
            sweep,
            next_sweep: now + sweep,
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

    /// When to wake next: to print, or to sweep if that comes first.
    pub fn wake(&self) -> Instant {
        self.deadline()
            .map_or(self.next_sweep, |d| d.min(self.next_sweep))
    }

    /// Whether it is time to retire the counters of exited processes
    /// (then call [`Schedule::swept`]).
    pub fn sweep_due(&self) -> bool {
        Instant::now() >= self.next_sweep
    }

    /// After a sweep: the next one is a sweep interval away.
    pub fn swept(&mut self) {
        self.next_sweep = Instant::now() + self.sweep;
    }

    /// Whether the duration is over, and no interval's print is still
    /// owed before its end: a print that took longer than an interval
    /// (symbolizing a first batch of stacks on a slow machine) leaves one
    /// owed, and `-i 1 -D 3` prints three intervals, as BCC's does.
    pub fn over(&self) -> bool {
        self.end
            .is_some_and(|e| Instant::now() >= e && self.next.is_none_or(|n| n >= e))
    }

    /// Moves to the next interval.
    pub fn advance(&mut self) {
        self.next = self.next.zip(self.interval).map(|(n, i)| n + i);
    }
}

/// How often tools retire the counters of exited processes: every second,
/// or `RTOOLS_TEST_SWEEP_MS` in the tests.
fn sweep_interval() -> Duration {
    sweep_interval_from(std::env::var("RTOOLS_TEST_SWEEP_MS").ok().as_deref())
}

fn sweep_interval_from(setting: Option<&str>) -> Duration {
    setting
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

    #[test]
    fn the_earlier_of_interval_and_end_comes_first() {
        let start = Instant::now();
        // The end (2 s) before the interval (5 s).
        let s = Schedule::new(Some(5), Some(2));
        let d = s.deadline().unwrap() - start;
        assert!(
            d >= Duration::from_secs(2) && d < Duration::from_secs(3),
            "{d:?}"
        );
        // An interval alone repeats.
        let mut s = Schedule::new(Some(1), None);
        let first = s.deadline().unwrap();
        assert!(first - start >= Duration::from_secs(1));
        assert!(!s.due() && !s.over());
        s.advance();
        assert_eq!(s.deadline().unwrap() - first, Duration::from_secs(1));
    }

    #[test]
    fn sweeps_wake_the_loop_between_prints() {
        let mut s = Schedule::new(Some(10), None);
        // The sweep (1 s) comes before the print (10 s).
        assert!(s.wake() < s.deadline().unwrap());
        assert!(s.wake() - Instant::now() <= Duration::from_secs(1));
        let before = s.wake();
        assert!(!s.sweep_due());
        std::thread::sleep(Duration::from_millis(5));
        s.swept();
        assert!(s.wake() > before);
        assert!(!s.sweep_due());
        let mut quick = Schedule::new(None, None);
        quick.sweep = Duration::ZERO;
        quick.swept();
        assert!(quick.sweep_due());
        // Nothing to print: sweeps alone wake it.
        let s = Schedule::new(None, None);
        assert!(s.wake() > Instant::now());
        assert!(!s.due() && !s.over());
    }

    #[test]
    fn a_past_end_is_due_and_over() {
        let s = Schedule::new(None, Some(0));
        assert!(s.due() && s.over());
    }

    #[test]
    fn intervals_owed_at_the_end_are_printed_before_it() {
        // -i 1 -D 3, woken past the end with the second print owed: not
        // over until the third interval is the one due.
        let now = Instant::now();
        let mut s = Schedule::new(Some(1), Some(3));
        s.end = Some(now);
        s.next = Some(now - Duration::from_secs(1));
        assert!(s.due() && !s.over());
        s.advance();
        assert!(s.due() && s.over());
    }

    #[test]
    fn the_sweep_interval_can_be_set_for_tests() {
        assert_eq!(sweep_interval_from(None), Duration::from_secs(1));
        assert_eq!(sweep_interval_from(Some("20")), Duration::from_millis(20));
        assert_eq!(sweep_interval_from(Some("soon")), Duration::from_secs(1));
    }
}
