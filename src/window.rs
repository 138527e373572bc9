//! Rolling-window distinct counts: the distinct values of the last `window` seconds, as the
//! exact HyperLogLog union of the sketches of the intervals the window covers.
//!
//! HLL sketches cannot forget values, but their union is exact (register-wise maximum), so a
//! ring of the last `window / interval` interval sketches gives the window's count at every
//! close with no error beyond the sketch's own. Memory: at most `window / interval` sketches of
//! `2^lg_k` bytes each at the window's precision (interval sketches of a finer one are folded
//! down to it: 16 KiB at the default, 5.6 MiB for one hour of 10-second intervals); closing an
//! interval merges them all, a few microseconds per sketch.
//!
//! Knows intervals only by their start; nothing of packets or outputs.

use crate::sketch::hll::{DistinctCounter, DistinctUnion};
use std::collections::VecDeque;

/// The distinct count of a window, as of the interval just pushed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowCount {
    /// Intervals with traffic inside the window (fewer than `window / interval` when the
    /// monitor started less than a window ago or some intervals had no packets).
    pub intervals: usize,
    /// The estimated number of distinct values over those intervals (the union's composite
    /// estimate: see [`DistinctUnion::estimate`]).
    pub estimate: f64,
}

/// The sketches of the intervals of one rolling window.
#[derive(Debug, Clone)]
pub struct SlidingDistinct {
    window_secs: u64,
    interval_secs: u64,
    lg_k: u8,
    /// Interval start (Unix seconds) and sketch, oldest first.
    ring: VecDeque<(u64, DistinctCounter)>,
}

impl SlidingDistinct {
    /// A window of `window_secs` over intervals of `interval_secs` (a window shorter than an
    /// interval covers one interval), merged at precision `lg_k`.
    pub fn new(window_secs: u64, interval_secs: u64, lg_k: u8) -> Self {
        let interval_secs = interval_secs.max(1);
        let window_secs = window_secs.max(interval_secs);
        Self {
            window_secs,
            interval_secs,
            lg_k,
            ring: VecDeque::with_capacity((window_secs / interval_secs) as usize),
        }
    }

    /// The window length in seconds.
    pub fn window_secs(&self) -> u64 {
        self.window_secs
    }

    /// Adds the sketch of the interval starting at `start_unix` (folded down to the window's
    /// precision if finer), drops the intervals that end before the window ending with it
    /// begins, and returns the union of what is left. Intervals are pushed in increasing order
    /// of start, as the monitor closes them.
    pub fn push(&mut self, start_unix: u64, counter: DistinctCounter) -> WindowCount {
        let counter = if counter.lg_k() > self.lg_k {
            let mut folded = DistinctUnion::new(self.lg_k);
            folded.add(&counter);
            folded.to_counter()
        } else {
            counter
        };
        let end = start_unix.saturating_add(self.interval_secs);
        let window_start = end.saturating_sub(self.window_secs);
        while self
            .ring
            .front()
            .is_some_and(|(start, _)| *start < window_start)
        {
            self.ring.pop_front();
        }
        self.ring.push_back((start_unix, counter));
        let mut union = DistinctUnion::new(self.lg_k);
        for (_, counter) in &self.ring {
            union.add(counter);
        }
        WindowCount {
            intervals: self.ring.len(),
            estimate: union.estimate(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sketch::hll::{coupon_of_bytes, DEFAULT_LG_K};

    fn counter_of(values: impl IntoIterator<Item = u64>) -> DistinctCounter {
        counter_at(DEFAULT_LG_K, values)
    }

    fn counter_at(lg_k: u8, values: impl IntoIterator<Item = u64>) -> DistinctCounter {
        let mut counter = DistinctCounter::new(lg_k);
        for value in values {
            counter.insert_coupon(coupon_of_bytes(&value.to_be_bytes()));
        }
        counter
    }

    /// The composite estimate (registers only) of one counter fed every value of `parts`.
    fn single_counter_of(parts: &[std::ops::Range<u64>]) -> f64 {
        counter_of(parts.iter().flat_map(|part| part.clone())).composite_estimate()
    }

    #[test]
    fn the_window_is_the_exact_union_of_its_intervals() {
        // Six 10 s intervals, 30 s window: each interval has 3 000 sources, half of them shared
        // with the previous interval.
        let mut window = SlidingDistinct::new(30, 10, DEFAULT_LG_K);
        let part = |i: u64| i * 1_500..i * 1_500 + 3_000;
        for i in 0..6u64 {
            let got = window.push(1_000 + 10 * i, counter_of(part(i)));
            let first = i.saturating_sub(2);
            let covered: Vec<_> = (first..=i).map(part).collect();
            assert_eq!(got.intervals, covered.len(), "interval {i}");
            // Exactly what one counter of all the window's sources says, not merely close.
            assert_eq!(got.estimate, single_counter_of(&covered), "interval {i}");
            let truth = (i - first) * 1_500 + 3_000;
            let error = (got.estimate - truth as f64).abs() / truth as f64;
            assert!(error < 0.05, "interval {i}: {} for {truth}", got.estimate);
        }
    }

    /// Finer interval sketches are folded down to the window's precision, which loses nothing a
    /// sketch of that precision would have: the window reads as one counter at 14 of it all.
    #[test]
    fn finer_sketches_are_folded_to_the_windows_precision() {
        let mut window = SlidingDistinct::new(30, 10, 14);
        let part = |i: u64| i * 20_000..i * 20_000 + 40_000;
        for i in 0..4u64 {
            let got = window.push(10 * i, counter_at(16, part(i)));
            let covered = (i.saturating_sub(2)..=i).flat_map(part);
            assert_eq!(
                got.estimate,
                counter_at(14, covered).composite_estimate(),
                "interval {i}"
            );
        }
        assert!(window.ring.iter().all(|(_, counter)| counter.lg_k() == 14));
    }

    #[test]
    fn intervals_older_than_the_window_are_dropped_even_across_gaps() {
        let mut window = SlidingDistinct::new(60, 10, DEFAULT_LG_K);
        assert_eq!(window.push(0, counter_of(0..100)).intervals, 1);
        assert_eq!(window.push(10, counter_of(100..200)).intervals, 2);
        // [0, 60) still holds both.
        let got = window.push(50, counter_of(200..300));
        assert_eq!(got.intervals, 3);
        assert_eq!(got.estimate.round(), 300.0);
        // The window ending at 70 starts at 10: the interval at 0 leaves.
        let got = window.push(60, counter_of(300..400));
        assert_eq!(got.intervals, 3);
        assert_eq!(got.estimate.round(), 300.0);
        // After a long gap only the new interval is left.
        let got = window.push(1_000, counter_of(0..50));
        assert_eq!(got.intervals, 1);
        assert_eq!(got.estimate.round(), 50.0);
    }

    #[test]
    fn a_window_of_one_interval_is_that_interval() {
        let mut window = SlidingDistinct::new(10, 10, DEFAULT_LG_K);
        let counter = counter_of(0..20_000);
        let alone = counter.composite_estimate();
        assert_eq!(window.push(0, counter).estimate, alone);
        assert_eq!(window.push(10, counter_of(0..5)).estimate.round(), 5.0);
        assert_eq!(window.window_secs(), 10);
    }
}
