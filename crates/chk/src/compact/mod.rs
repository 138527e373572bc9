//! The compact Cuckoo Heavy Keeper: the paper's 16-byte buckets (fingerprints and 32-bit
//! counters, no keys) and, beside them, a small table of the keys worth reporting, both counted
//! in [`CompactHeavyKeeper::memory_bytes`]. This is the layout for top-K and heavy hitters in a
//! few KB; the wide layout ([`CuckooHeavyKeeper`](crate::CuckooHeavyKeeper)) keeps a key in
//! every heavy entry instead.
//!
//! How keys are kept: every heavy entry has a *keyed* bit saying that its item's key sits in
//! the key table. A hit on a keyed entry (the common case in a skewed stream) costs nothing
//! more; a hit on an unkeyed entry offers the key to the table, which takes it while it has
//! room, and once full swaps it for the key with the smallest estimate when the newcomer's
//! count is clearly larger (by an eighth, so that two items near the boundary do not swap
//! places on every hit). Estimates of the keyed items are read from the buckets, so the table
//! holds keys only. Two items with the same fingerprint and buckets share a counter, as in the
//! paper; the table reports the one that was offered first.
//!
//! Where the counting departs from the paper, and why (each measured at the paper's point, Zipf
//! 1.2 with 10^7 items: together they take the ARE at the paper's geometry from 1e-2 to 1.5e-4
//! and at 4 KB with the keys counted from 1.6e-1 to about 1e-3):
//! - A lobby item at the threshold competes for the smallest heavy entry of *both* its buckets,
//!   or for the smaller entry of the alternate bucket of one of those four entries, which then
//!   moves there (one cuckoo hop); the paper looks only at the lobby's own bucket, so a heavy
//!   hitter whose bucket is full of larger items waits for ever.
//! - On a collision the weaker of the two lobbies decays (the fingerprint breaks ties), not the
//!   one the fingerprint picks: an item waiting at the threshold is not worn down by small ones
//!   while the other lobby holds less. The stronger one loses one with a probability set from
//!   the stream (at most 1/16: as fast as an item at phi still outpaces three times over), so
//!   that an item arriving now and then cannot keep it while the weaker churns under the whole
//!   tail (with 1/128, a heavy hitter near phi went uncounted at 4 KB for a quarter of the
//!   seeds).
//! - A relocated entry that would displace a larger one is dropped itself, so a kick-out chain
//!   never ends by dropping a heavy hitter for a smaller item.
//!
//! Counters are 32 bits and saturate at `u32::MAX` (a key's count, not the total, which is 64
//! bits); a stream weighing more than 4 * 10^9 for a single key should use the wide layout.
//!
//! Nothing here knows about packets or I/O. The rooms: `bucket` (the 16-byte bucket and where
//! an item may live), `insert` (counting, promotion, kick-out), `keys` (the key table and its
//! admission) and `query` (estimates and lists). This file holds the sketch's state, its sizing
//! and its reset.

mod bucket;
mod insert;
mod keys;
mod query;

use crate::rng::{SplitMix64, XorShift};
use crate::{DEFAULT_PHI, DEFAULT_SEED, KICK_SURVIVAL_RATIO};
use ahash::RandomState;
use bucket::Bucket;
use std::hash::Hash;
use std::mem::size_of;

/// Share of a memory budget [`CompactHeavyKeeper::with_memory`] gives to the key table when
/// keys are 8 bytes (u64): about 0.46 keys per heavy slot. Larger keys get fewer slots for the
/// same bytes; see [`CompactHeavyKeeper::with_memory`].
const KEYS_PER_HEAVY_SLOT: f64 = 0.46;

/// Keys a scan of the full key table marks for the next newcomers (see `keys`).
const VICTIMS: usize = 8;

/// The Cuckoo Heavy Keeper with the paper's bucket layout, over keys `K`.
///
/// All memory is allocated at construction and never again; [`memory_bytes`](Self::memory_bytes)
/// is what the struct, the buckets and the key table hold (keys that own heap memory, such as a
/// `String`, hold more: see [`memory_bytes_with`](Self::memory_bytes_with)).
///
/// ```
/// use cuckoo_heavy_keeper::CompactHeavyKeeper;
///
/// let mut sketch = CompactHeavyKeeper::<&str>::with_memory(4096);
/// for word in "a b a c a b a d a b".split(' ') {
///     sketch.add(&word, 1);
/// }
/// sketch.add(&"e", 10); // a weighted insert
/// assert_eq!(sketch.count(&"a"), 5);
/// assert_eq!(sketch.top(2), vec![("e", 10), ("a", 5)]);
/// assert!(sketch.memory_bytes() <= 4096);
/// ```
#[derive(Clone, Debug)]
pub struct CompactHeavyKeeper<K> {
    /// `2 * buckets_per_table` buckets: table 0 first, then table 1.
    buckets: Vec<Bucket>,
    buckets_per_table: usize,
    /// The reported keys, at most `keys.capacity()` (fixed at construction), in no order.
    keys: Vec<K>,
    /// The count a newcomer must exceed before the key table is searched for a key it beats:
    /// 0 while the table has room, then the smallest estimate at the last scan (a lower bound
    /// of the smallest now, but for items dropped since) plus an eighth.
    floor: u64,
    /// The key table's smallest estimates at the last scan, as (index, estimate), smallest
    /// first: the next keys to give up their places.
    victims: [(u32, u32); VICTIMS],
    victims_len: u8,
    /// The first of `victims` not yet given up.
    next_victim: u8,
    total: u64,
    /// The weight of the inserts that found both of their lobbies held by other items (see
    /// `insert`), since construction or the last clear.
    collided: u64,
    /// The stronger lobby's chance to lose one per unit of colliding weight, scaled to 2^32
    /// (see `insert`), recomputed from `collided` every 1024 units of it.
    erosion: u32,
    phi: f64,
    /// `KICK_SURVIVAL_RATIO * phi`, the share of `total` a displaced entry needs to be relocated.
    survival_share: f64,
    hasher: RandomState,
    rng_start: XorShift,
    rng: XorShift,
}

impl<K: Hash + Eq + Clone> CompactHeavyKeeper<K> {
    /// A sketch with `buckets_per_table` buckets in each of its two tables and room for
    /// `keys` reported keys (each at least 1), seeded with [`DEFAULT_SEED`].
    pub fn new(buckets_per_table: usize, keys: usize) -> Self {
        Self::with_seed(buckets_per_table, keys, DEFAULT_SEED)
    }

    /// Like [`new`](Self::new), with the hash function and coin flips drawn from `seed`.
    pub fn with_seed(buckets_per_table: usize, keys: usize, seed: u64) -> Self {
        let mut seeds = SplitMix64(seed);
        let hasher =
            RandomState::with_seeds(seeds.next(), seeds.next(), seeds.next(), seeds.next());
        let rng_start = XorShift(seeds.next() | 1); // xorshift must not start at 0
        let buckets_per_table = buckets_per_table.clamp(1, u32::MAX as usize);
        Self {
            buckets: vec![Bucket::EMPTY; 2 * buckets_per_table],
            buckets_per_table,
            keys: Vec::with_capacity(keys.max(1)),
            floor: 0,
            victims: [(0, 0); VICTIMS],
            victims_len: 0,
            next_victim: 0,
            total: 0,
            collided: 0,
            erosion: insert::MAX_EROSION,
            phi: DEFAULT_PHI,
            survival_share: KICK_SURVIVAL_RATIO * DEFAULT_PHI,
            hasher,
            rng_start,
            rng: rng_start,
        }
    }

    /// The largest sketch whose [`memory_bytes`](Self::memory_bytes) fits in `bytes` (at least
    /// one bucket per table and one key, even if that exceeds a tiny budget). The budget is
    /// split between buckets (16 bytes, two heavy slots each) and keys so that there are about
    /// 0.46 keys per heavy slot for 8-byte keys: enough to name every heavy hitter the buckets
    /// can count. Larger keys get fewer key slots (as the fourth root of their size), never
    /// fewer than a fifth of the heavy slots.
    pub fn with_memory(bytes: usize) -> Self {
        Self::with_memory_and_seed(bytes, DEFAULT_SEED)
    }

    /// Like [`with_memory`](Self::with_memory), seeded.
    pub fn with_memory_and_seed(bytes: usize, seed: u64) -> Self {
        let key = size_of::<K>().max(1);
        // Keys per heavy slot: 0.46 at 8 bytes, shrinking slowly as keys grow (their bytes
        // would otherwise crowd out the buckets; too few and heavy hitters go unnamed).
        let per_slot = (KEYS_PER_HEAVY_SLOT * (8.0 / key as f64).powf(0.25)).clamp(0.2, 1.0);
        // Bytes per bucket with its share of keys: 16 + 2 heavy slots * per_slot keys.
        let per_bucket = size_of::<Bucket>() as f64 + 2.0 * per_slot * key as f64;
        let room = bytes.saturating_sub(size_of::<Self>());
        let mut buckets = ((room as f64 / per_bucket) as usize).max(2);
        let keys_for = |buckets: usize| ((buckets as f64 * 2.0 * per_slot) as usize).max(1);
        // Rounding may leave the pair a few bytes over; give up buckets until it fits.
        while buckets > 2 && buckets * size_of::<Bucket>() + keys_for(buckets) * key > room {
            buckets -= 2;
        }
        Self::with_seed(buckets / 2, keys_for(buckets), seed)
    }

    /// Sets the heavy-hitter threshold `phi` (a share of the stream in `(0, 1]`): a displaced
    /// heavy entry is relocated only while its count is at least 0.8 `phi` of the total.
    /// Values outside the range are clamped.
    pub fn with_phi(mut self, phi: f64) -> Self {
        let phi = crate::clamped_phi(phi);
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

    /// Buckets in each of the two tables (`B`); each bucket has two heavy slots and a lobby.
    pub fn buckets_per_table(&self) -> usize {
        self.buckets_per_table
    }

    /// How many keys the sketch can report at once.
    pub fn key_capacity(&self) -> usize {
        self.keys.capacity()
    }

    /// Bytes this sketch holds: the struct, `2 * B` 16-byte buckets and the key table's
    /// `key_capacity * size_of::<K>()`, all allocated at construction. Keys that own heap
    /// memory (a `String`) hold more; [`memory_bytes_with`](Self::memory_bytes_with) counts it.
    /// Not included: the weighted-decay table (about 50 KB), built once per process at the
    /// first weighted collision and shared by every sketch.
    pub fn memory_bytes(&self) -> usize {
        size_of::<Self>()
            + self.buckets.capacity() * size_of::<Bucket>()
            + self.keys.capacity() * size_of::<K>()
    }

    /// [`memory_bytes`](Self::memory_bytes) plus `heap(key)` for every key held: for example
    /// `|s: &String| s.capacity()`.
    pub fn memory_bytes_with(&self, heap: impl Fn(&K) -> usize) -> usize {
        self.memory_bytes() + self.keys.iter().map(heap).sum::<usize>()
    }

    /// Forgets every item, key and the total, keeping the memory; the coin flips restart from
    /// the seed, so a cleared sketch behaves exactly like a new one.
    pub fn clear(&mut self) {
        self.buckets.fill(Bucket::EMPTY);
        self.keys.clear();
        self.floor = 0;
        self.victims_len = 0;
        self.next_victim = 0;
        self.total = 0;
        self.collided = 0;
        self.erosion = insert::MAX_EROSION;
        self.rng = self.rng_start;
    }
}

#[cfg(test)]
mod tests;
