//! Log2 latency histograms: bucket `i` holds values `v` with
//! floor(log2(v)) + 1 == i, and 0 goes with 1 in bucket 1 (`0 -> 1`), as
//! BCC's bpf_log2l buckets them. Bucket 0 stays empty.

/// Buckets 0..=64.
pub const BUCKETS: usize = 65;

/// A histogram and the exact sum of its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Histogram {
    pub buckets: [u64; BUCKETS],
    /// Sum of the timed durations, in nanoseconds.
    pub total_ns: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: [0; BUCKETS],
            total_ns: 0,
        }
    }
}

impl Histogram {
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    pub fn add(&mut self, other: &Histogram) {
        for (a, b) in self.buckets.iter_mut().zip(other.buckets.iter()) {
            *a += b;
        }
        self.total_ns += other.total_ns;
    }

    /// `self - earlier`, bucket by bucket: the part of a cumulative
    /// histogram that arrived since `earlier` was read.
    pub fn since(&self, earlier: &Histogram) -> Histogram {
        let mut out = Histogram {
            total_ns: self.total_ns.saturating_sub(earlier.total_ns),
            ..Histogram::default()
        };
        for ((out, now), before) in out
            .buckets
            .iter_mut()
            .zip(&self.buckets)
            .zip(&earlier.buckets)
        {
            *out = now.saturating_sub(*before);
        }
        out
    }
}

/// The bucket of `value` (what the BPF program computes).
pub fn bucket(value: u64) -> usize {
    (64 - value.leading_zeros() as usize).max(1)
}

/// The range of values bucket `i` holds, as BCC labels it (`0 -> 1` for
/// bucket 1, then `2 -> 3`, `4 -> 7`, ...).
pub fn bucket_range(i: usize) -> (u64, u64) {
    let low = (1u128 << i) >> 1;
    let high = (1u128 << i) - 1;
    let low = if low == high { low - 1 } else { low };
    (low as u64, high as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_follow_bcc() {
        // Calls shorter than the unit (-u, -m) count in the first row.
        assert_eq!(bucket(0), 1);
        assert_eq!(bucket(1), 1);
        assert_eq!(bucket(2), 2);
        assert_eq!(bucket(3), 2);
        assert_eq!(bucket(4), 3);
        assert_eq!(bucket(20_000), 15);
        assert_eq!(bucket(u64::MAX), 64);
        assert_eq!(bucket_range(1), (0, 1));
        assert_eq!(bucket_range(2), (2, 3));
        assert_eq!(bucket_range(15), (16384, 32767));
        assert_eq!(bucket_range(64), (1 << 63, u64::MAX));
    }

    #[test]
    fn since_subtracts_bucketwise() {
        let mut a = Histogram::default();
        a.buckets[3] = 5;
        a.total_ns = 50;
        let mut b = a.clone();
        b.buckets[3] = 7;
        b.buckets[4] = 1;
        b.total_ns = 80;
        let d = b.since(&a);
        assert_eq!(
            (d.buckets[3], d.buckets[4], d.total_ns, d.count()),
            (2, 1, 30, 3)
        );
    }

    #[test]
    fn histograms_add_bucket_by_bucket() {
        let mut a = Histogram::default();
        a.buckets[3] = 2;
        a.buckets[5] = 1;
        a.total_ns = 100;
        let mut b = Histogram::default();
        b.buckets[3] = 3;
        b.buckets[7] = 4;
        b.total_ns = 50;
        a.add(&b);
        assert_eq!((a.buckets[3], a.buckets[5], a.buckets[7]), (5, 1, 4));
        assert_eq!(a.count(), 10);
        assert_eq!(a.total_ns, 150);
        assert_eq!(a.since(&b).buckets[3], 2);
    }
}
