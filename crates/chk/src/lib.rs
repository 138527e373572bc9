//! Cuckoo Heavy Keeper (V. Q. Ngo, M. Papatriantafilou, PVLDB 18, 2025): the heavy hitters and
//! top-K of a stream in a fixed memory budget, with their keys, for events or bytes (weighted
//! inserts), generic over the key.
//!
//! Three types:
//! - [`CompactHeavyKeeper`]: the paper's 16-byte buckets (fingerprints, 32-bit counters) and a
//!   small key table beside them, all counted in its memory figure. The one to pick for top-K
//!   in a few KB: at the paper's point (Zipf 1.2, 10^7 items, phi = 5e-4) it names all heavy
//!   hitters but at most three of 140 at 4 KB and all of them from 8 KB, for every sketch seed
//!   tried (see the crate README for figures against the `heavykeeper` crate).
//! - [`CuckooHeavyKeeper`]: the wide layout, a full key and a 64-bit counter in every heavy
//!   entry (and optionally a second weight, a [`Companion`]): no fingerprint sharing and no
//!   counter limit, at about 2.5 times the memory per bucket for u64 keys. hhmon's monitor uses
//!   it.
//! - [`ConcurrentHeavyKeeper`]: compact sketches sharded by key owner for many producer and
//!   reader threads (after the paper's mCHK-I).
//!
//! ```
//! use cuckoo_heavy_keeper::CompactHeavyKeeper;
//!
//! let mut top = CompactHeavyKeeper::<String>::with_memory(8 * 1024);
//! for line in ["GET /", "GET /a", "GET /", "POST /b", "GET /"] {
//!     top.add(&line.to_owned(), 1);
//! }
//! assert_eq!(top.top(1), vec![("GET /".to_owned(), 3)]);
//! assert_eq!(top.count(&"GET /a".to_owned()), 1);
//! ```
//!
//! The wide layout, [`CuckooHeavyKeeper`], in detail:
//!
//! Two tables of `B` buckets; each bucket has one *lobby* entry (16-bit fingerprint and a
//! small counter that never exceeds [`LOBBY_THRESHOLD`]) and two *heavy* entries (fingerprint,
//! 64-bit counter and the full key). New items wait in a lobby; colliding lobby items decay each
//! other (probability `b^-C`, `b` = [`DECAY_BASE`]); an item whose lobby count reaches the
//! threshold is promoted into the heavy part, possibly displacing the smaller heavy entry of its
//! bucket, which moves to its alternate bucket by cuckoo hashing or is dropped when it is too
//! small to matter.
//!
//! Where this departs from the paper's design, and why:
//! - The heavy entries store the full key, so reports carry real keys and two items never share
//!   a heavy counter through a fingerprint collision. Lobbies keep fingerprints only.
//! - `B` need not be a power of two: the alternate bucket is `(g(fp) - i) mod B`, an involution
//!   for any `B`, so a memory budget is used in full instead of being rounded down by up to half.
//! - The expected number of unit decays that empty a counter of `C` is `sum_{c=1..C} b^c` (at
//!   count `c` a decay succeeds with probability `b^-c`, so it takes `b^c` tries on average);
//!   the reference implementations sum `b^0..b^(C-1)`, one factor `b` short. The unit tests
//!   compare the weighted decay with repeated unit decays.
//! - On promotion the item keeps `max(its lobby count, the displaced count)`: the displaced count
//!   when it won the coin flip (the paper's inherited count), its own when a large weighted
//!   insert already exceeds the target.
//! - A heavy entry may keep a second weight beside its count, a [`Companion`] (the bytes of a
//!   key counted by packets): counted from the insert that admits the entry, moved with it on
//!   kick-out, never inherited; so a sketch ranking by one weight still reports the other, as a
//!   lower bound. Without one (`()`, the default) it costs no memory.
//!
//! Nothing here knows about packets or I/O.
//!
//! The rooms: `compact` (the compact layout, with its own rooms), `concurrent` (the sharded
//! wrapper), and for the wide layout `layout` (buckets and where an item may live), `insert`
//! (the hot path: counting, promotion, kick-out), `query` (counts and top lists); shared by
//! both, `decay` (the lobby's decay distribution) and `rng` (seeded randomness). This file holds
//! the parameters, the wide sketch's state, its construction and its reset.

mod compact;
mod concurrent;
mod decay;
mod insert;
mod layout;
mod query;
mod rng;

pub use compact::CompactHeavyKeeper;
pub use concurrent::{ConcurrentHeavyKeeper, Producer, BUFFER_KEYS};

use ahash::RandomState;
use layout::{Bucket, HEAVY_PER_BUCKET};
use rng::{SplitMix64, XorShift};
use std::hash::Hash;
use std::mem::size_of;

/// Lobby promotion threshold `L` (the paper's sensitivity study: 16 beats 8 and 32).
pub const LOBBY_THRESHOLD: u64 = 16;
/// Decay base `b`: a lobby counter `C` decays with probability `b^-C` on a collision.
pub const DECAY_BASE: f64 = 1.08;
/// Most cuckoo relocations one promotion may cause before the last displaced entry is dropped.
pub const MAX_KICKS: usize = 16;
/// A displaced heavy entry is relocated only while its count is at least this share of
/// `phi * N`; smaller ones are dropped (selective collision resolution).
pub const KICK_SURVIVAL_RATIO: f64 = 0.8;
/// Default heavy-hitter threshold `phi` (share of the stream), the paper's setting.
pub const DEFAULT_PHI: f64 = 5e-4;
/// Seed of the sketches built without one: replays of the same input give the same result.
pub const DEFAULT_SEED: u64 = 0x6868_6d6f_6e5f_6368; // "hhmon_ch"

/// A second weight each heavy entry sums beside its count (see
/// [`CuckooHeavyKeeper::add_hashed_with`]): `()` keeps none and takes no memory, `u64` sums.
pub trait Companion: Copy + Default {
    /// `self` with `more` added.
    fn plus(self, more: Self) -> Self;
}

impl Companion for () {
    #[inline(always)]
    fn plus(self, _: Self) -> Self {}
}

impl Companion for u64 {
    #[inline(always)]
    fn plus(self, more: Self) -> Self {
        // Packets or bytes of one key in one interval stay far below 2^64 (16 EB): a plain
        // add, one instruction on every hit of the hot path, where a saturating one takes three.
        self.wrapping_add(more)
    }
}

/// The Cuckoo Heavy Keeper sketch over keys `K`, its heavy entries each with a [`Companion`]
/// `C` (none by default).
///
/// Memory is fixed at construction ([`memory_bytes`](Self::memory_bytes)); the tables are
/// allocated at the first insert (the first key fills the unused key slots, which is why `K`
/// needs no `Default`) and never again, `clear` included.
#[derive(Clone, Debug)]
pub struct CuckooHeavyKeeper<K, C = ()> {
    /// `2 * buckets_per_table` buckets: table 0 first, then table 1. Empty until the first insert.
    buckets: Vec<Bucket<K, C>>,
    buckets_per_table: usize,
    total: u64,
    /// `KICK_SURVIVAL_RATIO * phi`, the share of `total` a displaced entry needs to be relocated.
    survival_share: f64,
    phi: f64,
    hasher: RandomState,
    /// The coin-flip state at construction, restored by `clear`.
    rng_start: XorShift,
    rng: XorShift,
}

impl<K: Hash + Eq + Clone, C: Companion> CuckooHeavyKeeper<K, C> {
    /// A sketch with `buckets_per_table` buckets in each of its two tables (at least 1), seeded
    /// with [`DEFAULT_SEED`].
    pub fn new(buckets_per_table: usize) -> Self {
        Self::with_seed(buckets_per_table, DEFAULT_SEED)
    }

    /// The largest sketch whose [`memory_bytes`](Self::memory_bytes) fits in `bytes` (at
    /// least one bucket per table, even if that exceeds a tiny budget).
    pub fn with_memory(bytes: usize) -> Self {
        Self::with_memory_and_seed(bytes, DEFAULT_SEED)
    }

    /// Like [`new`](Self::new), with the hash functions and coin flips drawn from `seed`.
    pub fn with_seed(buckets_per_table: usize, seed: u64) -> Self {
        let mut seeds = SplitMix64(seed);
        let hasher =
            RandomState::with_seeds(seeds.next(), seeds.next(), seeds.next(), seeds.next());
        let rng_start = XorShift(seeds.next() | 1); // xorshift must not start at 0
        Self {
            buckets: Vec::new(),
            buckets_per_table: buckets_per_table.clamp(1, u32::MAX as usize),
            total: 0,
            survival_share: KICK_SURVIVAL_RATIO * DEFAULT_PHI,
            phi: DEFAULT_PHI,
            hasher,
            rng_start,
            rng: rng_start,
        }
    }

    /// Like [`with_memory`](Self::with_memory), seeded.
    pub fn with_memory_and_seed(bytes: usize, seed: u64) -> Self {
        let per_table = bytes.saturating_sub(size_of::<Self>()) / (2 * size_of::<Bucket<K, C>>());
        Self::with_seed(per_table, seed)
    }

    /// Sets the heavy-hitter threshold `phi` (a share of the stream in `(0, 1]`) that decides
    /// which displaced entries are worth relocating. Values outside the range are clamped.
    pub fn with_phi(mut self, phi: f64) -> Self {
        let phi = clamped_phi(phi);
        self.phi = phi;
        self.survival_share = KICK_SURVIVAL_RATIO * phi;
        self
    }

    /// The heavy-hitter threshold `phi`.
    pub fn phi(&self) -> f64 {
        self.phi
    }

    /// The sum of all weights added since construction or the last [`clear`](Self::clear) (`N`).
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Bytes this sketch holds once its tables exist (they are allocated at the first insert):
    /// the struct and `2 * B` buckets with their keys. Keys that own heap memory (a `String`)
    /// hold more than `size_of::<K>()`; fixed-size keys (addresses, five-tuples) do not. Not
    /// included: the weighted-decay table (about 50 KB), built once per process at the first
    /// weighted collision and shared by every sketch.
    pub fn memory_bytes(&self) -> usize {
        size_of::<Self>() + 2 * self.buckets_per_table * size_of::<Bucket<K, C>>()
    }

    /// Buckets in each of the two tables (`B`).
    pub fn buckets_per_table(&self) -> usize {
        self.buckets_per_table
    }

    /// Forgets every item and the total, keeping the tables' memory; the coin flips restart
    /// from the seed, so a cleared sketch behaves exactly like a new one.
    pub fn clear(&mut self) {
        for b in &mut self.buckets {
            b.heavy_count = [0; HEAVY_PER_BUCKET];
            b.heavy_companion = [C::default(); HEAVY_PER_BUCKET];
            b.heavy_fp = [0; HEAVY_PER_BUCKET];
            b.lobby_fp = 0;
            b.lobby_count = 0;
        }
        self.total = 0;
        self.rng = self.rng_start;
    }
}

/// `phi` as the sketches keep it: within `(0, 1]`, and [`DEFAULT_PHI`] when it is not a
/// number.
pub(crate) fn clamped_phi(phi: f64) -> f64 {
    if phi.is_finite() {
        phi.clamp(1e-12, 1.0)
    } else {
        DEFAULT_PHI
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lone_item_is_counted_exactly() {
        let mut sketch = CuckooHeavyKeeper::<u64>::new(8);
        for _ in 0..10_000 {
            sketch.add(&7, 1);
        }
        sketch.add(&7, 1500);
        assert_eq!(sketch.count(&7), 11_500);
        assert_eq!(sketch.total(), 11_500);
        assert_eq!(sketch.list(), vec![(7, 11_500)]);
        assert!(sketch.contains(&7));
        assert!(!sketch.contains(&8));
        assert_eq!(sketch.count(&8), 0);
    }

    /// Fills both buckets of a one-bucket-per-table sketch with four heavy items, then checks
    /// that a newcomer that keeps arriving wins a heavy slot through the lobby, inheriting a
    /// count close to the one it displaced, and that the displaced item is relocated or dropped.
    #[test]
    fn a_persistent_newcomer_is_promoted_from_the_lobby() {
        let mut sketch = CuckooHeavyKeeper::<u64>::new(1);
        for key in 1..=4 {
            sketch.add(&key, 40);
        }
        assert_eq!(sketch.len(), 4);
        let mut hits = 0;
        while !sketch.contains(&99) && hits < 10_000 {
            sketch.add(&99, 1);
            hits += 1;
        }
        assert!(sketch.contains(&99), "never promoted");
        // Expected hits: the lobby fills in ~16, then about one win per (40 - 16) tries.
        assert!((16..400).contains(&hits), "promoted after {hits} hits");
        assert_eq!(sketch.count(&99), 40);
        assert_eq!(
            sketch.len(),
            4,
            "the displaced entry has nowhere to go and is dropped"
        );
    }

    #[test]
    fn a_heavy_flow_survives_a_flood_of_small_ones() {
        let mut sketch = CuckooHeavyKeeper::<u64>::with_memory(4096);
        let mut exact = 0;
        for i in 0..200_000u64 {
            sketch.add(&(1_000_000 + i), 1);
            if i % 20 == 0 {
                sketch.add(&42, 1);
                exact += 1;
            }
        }
        let estimate = sketch.count(&42);
        assert!(sketch.contains(&42));
        assert!(
            estimate.abs_diff(exact) * 100 <= exact,
            "{estimate} vs {exact}"
        );
        assert_eq!(sketch.top(1)[0].0, 42);
    }

    #[test]
    fn memory_stays_within_budget_whatever_the_stream() {
        for budget in [2048, 4096, 65_536, 1 << 20] {
            let mut sketch = CuckooHeavyKeeper::<u64>::with_memory(budget);
            let before = sketch.memory_bytes();
            assert!(before <= budget, "{before} > {budget}");
            assert!(
                before * 10 >= budget * 9,
                "a budget of {budget} uses only {before}"
            );
            for i in 0..100_000u64 {
                sketch.add(&i.wrapping_mul(0x9e37_79b9_7f4a_7c15), 1 + i % 1500);
            }
            assert_eq!(sketch.memory_bytes(), before);
            assert_eq!(sketch.buckets.capacity(), 2 * sketch.buckets_per_table());
            assert!(sketch.len() <= 4 * sketch.buckets_per_table());
        }
    }

    #[test]
    fn clear_resets_to_a_fresh_sketch_and_keeps_the_tables() {
        let stream: Vec<u64> = (0..50_000u64).map(|i| (i * i) % 977).collect();
        let mut sketch = CuckooHeavyKeeper::<u64>::with_memory(4096);
        for key in &stream {
            sketch.add(key, 1);
        }
        let first = sketch.list();
        let tables = sketch.buckets.as_ptr();
        sketch.clear();
        assert_eq!(sketch.total(), 0);
        assert!(sketch.is_empty());
        assert_eq!(sketch.len(), 0);
        assert_eq!(sketch.count(&stream[1]), 0);
        for key in &stream {
            sketch.add(key, 1);
        }
        assert_eq!(sketch.buckets.as_ptr(), tables, "clear must not reallocate");
        assert_eq!(
            sketch.list(),
            first,
            "a cleared sketch must replay like a new one"
        );
    }

    #[test]
    fn seeds_make_runs_reproducible_and_distinct() {
        let run = |seed| {
            let mut sketch = CuckooHeavyKeeper::<u64>::with_memory_and_seed(2048, seed);
            for i in 0..100_000u64 {
                sketch.add(&(i % 1013 * (i % 7)), 1);
            }
            sketch.list()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
    }
}
