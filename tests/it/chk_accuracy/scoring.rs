//! Shared helpers for the heavy-hitter accuracy tests and the `chk_compare` bench: seeded,
//! reproducible Zipf streams with their exact counts, a frame-size model for weighted streams,
//! and the paper's scoring (precision, recall, F1, ARE, AAE at a threshold `phi * N`).
//!
//! Scoring sees a sketch only through [`HeavyHitters`], so it must not know how any sketch
//! works inside; the implementations for third-party sketches live with their only user.
//!
//! A module of the `chk_accuracy` tests, and included with `#[path]` by the `chk_compare` bench;
//! what only the tests need (weighted streams) lives with them.

use std::collections::HashMap;
use std::hash::Hash;

use hhmon::sketch::chk::CuckooHeavyKeeper;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, Zipf};

/// Exact per-key totals; ahash keeps ten-million-item streams quick to count at opt-level 1.
pub type ExactCounts<K> = HashMap<K, u64, ahash::RandomState>;

/// The paper's heavy-hitter fraction: an item is heavy when it carries at least `PHI * N`.
pub const PHI: f64 = 5e-4;

/// A bijective 64-bit mix (the SplitMix64 finaliser: xor-shifts and odd multiplications are
/// each invertible), so Zipf ranks map to distinct keys that look random, and nothing can
/// accidentally depend on heavy keys being small integers.
pub fn scramble(rank: u64) -> u64 {
    let mut x = rank ^ 0x9e37_79b9_7f4a_7c15;
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// `len` keys drawn from a Zipf(`alpha`) law over `universe` ranks, each rank scrambled into a
/// key. The same arguments always give the same keys.
pub fn zipf_keys(alpha: f64, universe: u64, len: usize, seed: u64) -> Vec<u64> {
    let zipf = Zipf::new(universe as f64, alpha).expect("valid Zipf parameters");
    let mut rng = StdRng::seed_from_u64(seed);
    (0..len)
        .map(|_| scramble(zipf.sample(&mut rng) as u64))
        .collect()
}

/// A stream of keys with optional per-item weights, plus its exact per-key totals.
pub struct Stream<K> {
    /// The items in arrival order.
    pub keys: Vec<K>,
    /// Weight of each item, parallel to `keys`; empty when every item weighs 1.
    pub weights: Vec<u64>,
    /// Exact total weight of every distinct key.
    pub exact: ExactCounts<K>,
    /// Sum of all weights (`N` in the paper).
    pub total: u64,
}

impl<K: Hash + Eq + Clone> Stream<K> {
    /// A stream in which every item weighs 1.
    pub fn unit(keys: Vec<K>) -> Self {
        let mut exact = ExactCounts::default();
        for key in &keys {
            *exact.entry(key.clone()).or_insert(0) += 1;
        }
        let total = keys.len() as u64;
        Self {
            keys,
            weights: Vec::new(),
            exact,
            total,
        }
    }

    /// Feeds every item, with its weight, into `sketch`.
    pub fn feed<S: HeavyHitters<K>>(&self, sketch: &mut S) {
        if self.weights.is_empty() {
            for key in &self.keys {
                sketch.insert(key, 1);
            }
        } else {
            for (key, &w) in self.keys.iter().zip(&self.weights) {
                sketch.insert(key, w);
            }
        }
    }

    /// The heavy-hitter threshold `phi * N`.
    pub fn threshold(&self, phi: f64) -> f64 {
        phi * self.total as f64
    }

    /// How many keys are true heavy hitters at `phi`.
    pub fn heavy_hitter_count(&self, phi: f64) -> usize {
        let t = self.threshold(phi);
        self.exact.values().filter(|&&c| c as f64 >= t).count()
    }
}

/// What scoring needs from a heavy-hitter algorithm.
pub trait HeavyHitters<K> {
    /// Adds `weight` to `key`.
    fn insert(&mut self, key: &K, weight: u64);
    /// The algorithm's point estimate for `key`.
    fn estimate(&self, key: &K) -> u64;
    /// Every key the algorithm can name, with its estimate.
    fn reported(&self) -> Vec<(K, u64)>;
    /// Bytes the algorithm holds, by its own accounting.
    fn memory_bytes(&self) -> usize;
}

impl<K: Hash + Eq + Clone> HeavyHitters<K> for CuckooHeavyKeeper<K> {
    fn insert(&mut self, key: &K, weight: u64) {
        self.add(key, weight);
    }
    fn estimate(&self, key: &K) -> u64 {
        self.count(key)
    }
    fn reported(&self) -> Vec<(K, u64)> {
        self.list()
    }
    fn memory_bytes(&self) -> usize {
        CuckooHeavyKeeper::memory_bytes(self)
    }
}

/// Exact counting, the reference every sketch is measured against.
pub struct Exact<K> {
    counts: ExactCounts<K>,
}

impl<K> Default for Exact<K> {
    fn default() -> Self {
        Self {
            counts: ExactCounts::default(),
        }
    }
}

impl<K: Hash + Eq + Clone> HeavyHitters<K> for Exact<K> {
    fn insert(&mut self, key: &K, weight: u64) {
        *self.counts.entry(key.clone()).or_insert(0) += weight;
    }
    fn estimate(&self, key: &K) -> u64 {
        self.counts.get(key).copied().unwrap_or(0)
    }
    fn reported(&self) -> Vec<(K, u64)> {
        self.counts.iter().map(|(k, &c)| (k.clone(), c)).collect()
    }
    /// Slots times (key + count + one control byte), the SwissTable layout.
    fn memory_bytes(&self) -> usize {
        let slots = if self.counts.capacity() == 0 {
            0
        } else {
            (self.counts.capacity() * 8 / 7).next_power_of_two()
        };
        slots * (std::mem::size_of::<(K, u64)>() + 1)
    }
}

/// The paper's accuracy metrics for one run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Score {
    /// Keys whose exact count is at least `phi * N`.
    pub true_hitters: usize,
    /// Keys the algorithm reports with an estimate of at least `phi * N`.
    pub reported: usize,
    /// Reported keys that are true heavy hitters.
    pub correct: usize,
    /// `correct / reported` (1 when nothing is reported).
    pub precision: f64,
    /// `correct / true_hitters` (1 when there are no true heavy hitters).
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Mean of `|estimate - exact| / exact` over the true heavy hitters.
    pub are: f64,
    /// Mean of `|estimate - exact|` over the true heavy hitters.
    pub aae: f64,
}

/// Scores `sketch` against the exact counts of `stream` at heavy-hitter fraction `phi`.
pub fn score<K: Hash + Eq + Clone, S: HeavyHitters<K>>(
    stream: &Stream<K>,
    phi: f64,
    sketch: &S,
) -> Score {
    let threshold = stream.threshold(phi);
    let mut true_hitters = 0;
    let (mut rel_err, mut abs_err) = (0.0, 0.0);
    for (key, &exact) in &stream.exact {
        if exact as f64 >= threshold {
            true_hitters += 1;
            let err = sketch.estimate(key).abs_diff(exact) as f64;
            abs_err += err;
            rel_err += err / exact as f64;
        }
    }
    let mut reported = 0;
    let mut correct = 0;
    for (key, est) in sketch.reported() {
        if est as f64 >= threshold {
            reported += 1;
            if stream
                .exact
                .get(&key)
                .is_some_and(|&c| c as f64 >= threshold)
            {
                correct += 1;
            }
        }
    }
    let ratio = |num: usize, den: usize| {
        if den == 0 {
            1.0
        } else {
            num as f64 / den as f64
        }
    };
    let precision = ratio(correct, reported);
    let recall = ratio(correct, true_hitters);
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    let per_hitter = |sum: f64| {
        if true_hitters == 0 {
            0.0
        } else {
            sum / true_hitters as f64
        }
    };
    Score {
        true_hitters,
        reported,
        correct,
        precision,
        recall,
        f1,
        are: per_hitter(rel_err),
        aae: per_hitter(abs_err),
    }
}
