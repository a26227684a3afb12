//! Per-interval views of totals that only grow. The BPF maps are never
//! zeroed (an event landing between a read and a reset would be lost, and
//! the exporter serves the totals as counters), so each summary reports
//! the increase since the previous one, for counts, stacks and histograms
//! alike.

use std::collections::HashMap;
use std::hash::Hash;

use crate::hist::Histogram;

/// A total that only grows: a count, or a histogram.
pub trait Cumulative: Clone {
    /// What arrived since `earlier` was read.
    fn since(&self, earlier: &Self) -> Self;
    fn is_zero(&self) -> bool;
}

impl Cumulative for u64 {
    fn since(&self, earlier: &u64) -> u64 {
        self.saturating_sub(*earlier)
    }

    fn is_zero(&self) -> bool {
        *self == 0
    }
}

impl Cumulative for Histogram {
    fn since(&self, earlier: &Histogram) -> Histogram {
        Histogram::since(self, earlier)
    }

    fn is_zero(&self) -> bool {
        self.count() == 0 && self.total_ns == 0
    }
}

/// Turns totals read at each summary into the increases since the last.
#[derive(Debug)]
pub struct Deltas<K, V> {
    previous: HashMap<K, V>,
}

impl<K, V> Default for Deltas<K, V> {
    fn default() -> Self {
        Deltas {
            previous: HashMap::new(),
        }
    }
}

impl<K: Hash + Eq + Clone, V: Cumulative> Deltas<K, V> {
    /// The increase of every total since the last call, in no particular
    /// order; keys with none are left out.
    pub fn interval(&mut self, totals: HashMap<K, V>) -> Vec<(K, V)> {
        let increases = totals
            .iter()
            .filter_map(|(key, total)| {
                let increase = match self.previous.get(key) {
                    Some(before) => total.since(before),
                    None => total.clone(),
                };
                (!increase.is_zero()).then(|| (key.clone(), increase))
            })
            .collect();
        self.previous = totals;
        increases
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_report_their_increase_only() {
        let mut deltas = Deltas::default();
        let first = deltas.interval(HashMap::from([("a", 5u64), ("b", 0)]));
        assert_eq!(first, [("a", 5)]);
        let second = deltas.interval(HashMap::from([("a", 5), ("b", 3)]));
        assert_eq!(second, [("b", 3)]);
        let mut third = deltas.interval(HashMap::from([("a", 12), ("b", 4)]));
        third.sort();
        assert_eq!(third, [("a", 7), ("b", 1)]);
        // A key that went (a retired process folded elsewhere) and came
        // back starts again from nothing.
        let fourth = deltas.interval(HashMap::from([("b", 4)]));
        assert!(fourth.is_empty(), "{fourth:?}");
        assert_eq!(deltas.interval(HashMap::from([("a", 2)])), [("a", 2)]);
    }

    #[test]
    fn histograms_report_what_arrived_since() {
        let mut before = Histogram::default();
        before.buckets[3] = 2;
        before.total_ns = 20;
        let mut now = before.clone();
        let mut deltas = Deltas::default();
        assert_eq!(deltas.interval(HashMap::from([(1, before)])).len(), 1);
        assert!(deltas
            .interval(HashMap::from([(1, now.clone())]))
            .is_empty());
        now.buckets[4] = 1;
        now.total_ns = 35;
        let got = deltas.interval(HashMap::from([(1, now)]));
        assert_eq!(got.len(), 1);
        let (_, h) = &got[0];
        assert_eq!((h.buckets[3], h.buckets[4], h.total_ns), (0, 1, 15));
        assert!(!h.is_zero());
        assert!(Histogram::default().is_zero());
        let mut only_time = Histogram::default();
        only_time.total_ns = 1;
        assert!(!only_time.is_zero());
        assert!(0u64.is_zero() && !1u64.is_zero());
        assert_eq!(3u64.since(&5), 0);
    }
}
