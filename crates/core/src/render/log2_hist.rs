//! Histograms printed exactly as BCC's print_log2_hist prints them: a
//! header with the unit, `low -> high : count |stars|` rows up to the last
//! non-empty bucket, 40-character bars (20 when values pass 2^32).

use std::fmt::Write;

use crate::hist::{bucket_range, Histogram};

const STARS_MAX: usize = 40;

/// BCC's _stars: `width * val / max` stars, `+` at the end when cut.
fn stars(val: u64, max: u64, width: usize) -> String {
    let mut text = String::new();
    let mut i = 0usize;
    while !((i as f64) > (width as f64 * val as f64 / max as f64) - 1.0 || i > width - 1) {
        text.push('*');
        i += 1;
    }
    if val > max {
        text.pop();
        text.push('+');
    }
    text
}

/// One histogram; `unit` is `nsecs`, `usecs` or `msecs`.
pub fn render(hist: &Histogram, unit: &str) -> String {
    let vals = &hist.buckets;
    let idx_max = vals.iter().rposition(|&v| v > 0).map_or(-1, |i| i as i64);
    let val_max = vals.iter().copied().max().unwrap_or(0);
    let mut out = String::new();
    if idx_max <= 0 {
        return out;
    }
    let wide = idx_max > 32;
    if wide {
        let _ = writeln!(out, "               {unit:<29} : count     distribution");
    } else {
        let _ = writeln!(out, "     {unit:<19} : count     distribution");
    }
    let width = if wide { STARS_MAX / 2 } else { STARS_MAX };
    for (i, &val) in vals.iter().enumerate().take(idx_max as usize + 1).skip(1) {
        let (low, high) = bucket_range(i);
        let bar = stars(val, val_max, width);
        if wide {
            let _ = writeln!(out, "{low:>20} -> {high:<20} : {val:<8} |{bar:<width$}|");
        } else {
            let _ = writeln!(out, "{low:>10} -> {high:<10} : {val:<8} |{bar:<width$}|");
        }
    }
    out
}

/// BCC funclatency's summary line: total in `unit`, integer average.
pub fn summary(hist: &Histogram, unit: &str) -> Option<String> {
    let count = hist.count();
    if count == 0 {
        return None;
    }
    let divisor = match unit {
        "msecs" => 1_000_000,
        "usecs" => 1_000,
        _ => 1,
    };
    let total = hist.total_ns / divisor;
    Some(format!(
        "avg = {} {unit}, total: {total} {unit}, count: {count}",
        total / count
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::golden;

    fn sample() -> Histogram {
        let mut h = Histogram::default();
        h.buckets[15] = 211; // 16384 -> 32767 ns
        h.buckets[21] = 37; // 1048576 -> 2097151 ns
        h.buckets[12] = 1;
        h.total_ns = 211 * 20_500 + 37 * 2_010_000 + 3_000;
        h
    }

    #[test]
    fn layout_matches_the_golden_file() {
        let h = sample();
        let text = render(&h, "nsecs") + "\n" + &summary(&h, "nsecs").unwrap() + "\n";
        golden::check("log2_hist_nsecs.txt", &text);
    }

    #[test]
    fn wide_histograms_use_bcc_wide_columns() {
        let mut h = Histogram::default();
        h.buckets[40] = 3;
        h.buckets[3] = 6;
        golden::check("log2_hist_wide.txt", &render(&h, "nsecs"));
    }

    #[test]
    fn stars_scale_to_forty() {
        assert_eq!(stars(10, 10, 40).len(), 40);
        assert_eq!(stars(5, 10, 40).len(), 20);
        // BCC's loop: stars while i <= width*val/max - 1.
        assert_eq!(stars(3, 10, 40).len(), 12);
        assert_eq!(stars(1, 40, 40).len(), 1);
        assert_eq!(stars(1, 41, 40).len(), 0);
        // Past the maximum: cut at the width, a `+` last.
        assert_eq!(stars(20, 10, 40), "*".repeat(39) + "+");
        assert_eq!(stars(0, 10, 40), "");
        assert_eq!(stars(1, 1000, 40), "");
        assert!(render(&Histogram::default(), "nsecs").is_empty());
        assert_eq!(
            summary(&sample(), "usecs").unwrap(),
            "avg = 316 usecs, total: 78698 usecs, count: 249"
        );
    }

    #[test]
    fn wide_columns_start_past_bucket_32() {
        let mut h = Histogram::default();
        h.buckets[32] = 1;
        assert!(render(&h, "nsecs").starts_with("     nsecs               : count"));
        h.buckets[33] = 1;
        assert!(render(&h, "nsecs").starts_with("               nsecs"));
    }

    #[test]
    fn summaries_divide_by_the_unit() {
        let h = sample();
        assert_eq!(
            summary(&h, "msecs").unwrap(),
            "avg = 0 msecs, total: 78 msecs, count: 249"
        );
        assert_eq!(
            summary(&h, "nsecs").unwrap(),
            "avg = 316058 nsecs, total: 78698500 nsecs, count: 249"
        );
        assert_eq!(summary(&Histogram::default(), "nsecs"), None);
    }
}
