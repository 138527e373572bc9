//! Distinct counting with HyperLogLog, on Apache DataSketches' HLL.
//!
//! DataSketches' HLL is accurate across the whole range (exact-ish list and set modes while
//! the cardinality is small, HIP estimation once it is large) and its serialized form is read by
//! the Java, C++ and Python DataSketches libraries, so sensors can be merged elsewhere.

use datasketches::hll::{HllSketch, HllType};
use std::hash::Hash;

/// Default precision: 2^12 registers, about 1.6% relative standard error.
pub const DEFAULT_LG_K: u8 = 12;

/// A distinct counter for one interval.
#[derive(Debug, Clone)]
pub struct DistinctCounter {
    lg_k: u8,
    sketch: HllSketch,
}

impl DistinctCounter {
    /// A counter with `2^lg_k` registers; `lg_k` is clamped to DataSketches' range 4..=21.
    pub fn new(lg_k: u8) -> Self {
        let lg_k = lg_k.clamp(4, 21);
        Self {
            lg_k,
            sketch: Self::empty_sketch(lg_k),
        }
    }

    fn empty_sketch(lg_k: u8) -> HllSketch {
        // Only an lg_k outside 4..=21 is rejected, and `new` clamps it.
        HllSketch::new(lg_k, HllType::Hll8).expect("lg_k clamped to the supported range")
    }

    /// Counts `value` once, however often it is seen.
    pub fn insert<T: Hash>(&mut self, value: T) {
        self.sketch.update(value);
    }

    /// The estimated number of distinct values inserted since the last reset.
    pub fn estimate(&self) -> f64 {
        self.sketch.estimate()
    }

    /// Forgets every value.
    pub fn reset(&mut self) {
        self.sketch = Self::empty_sketch(self.lg_k);
    }

    /// The DataSketches HLL serialization (readable by every DataSketches library).
    pub fn serialize(&self) -> Vec<u8> {
        self.sketch.serialize()
    }
}

impl Default for DistinctCounter {
    fn default() -> Self {
        Self::new(DEFAULT_LG_K)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimate_tracks_distinct_values_not_repeats() {
        let mut counter = DistinctCounter::default();
        for round in 0..3 {
            for i in 0..10_000u32 {
                counter.insert(i);
            }
            let estimate = counter.estimate();
            assert!(
                (estimate - 10_000.0).abs() < 10_000.0 * 0.05,
                "round {round}: {estimate}"
            );
        }
        counter.reset();
        assert_eq!(counter.estimate(), 0.0);
    }
}
