//! Cuckoo Heavy Keeper (V. Q. Ngo, M. Papatriantafilou, PVLDB 18, 2025): the heavy hitters of a
//! stream in a fixed memory budget, with their keys, for packets or bytes (weighted inserts).
//!
//! Two tables of `B` buckets; each bucket has one *lobby* entry (16-bit fingerprint and a
//! small counter that never exceeds [`LOBBY_THRESHOLD`]) and two *heavy* entries (fingerprint,
//! 64-bit counter and the full key). New items wait in a lobby; colliding lobby items decay each
//! other (probability `b^-C`, `b` = [`DECAY_BASE`]); an item whose lobby count reaches the
//! threshold is promoted into the heavy part, possibly displacing the smaller heavy entry of its
//! bucket, which moves to its alternate bucket by cuckoo hashing or is dropped when it is too
//! small to matter.
//!
//! Where this departs from the design card (`CHK.md`), and why:
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
//!
//! Nothing here knows about packets or I/O.

use ahash::RandomState;
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

const HEAVY_PER_BUCKET: usize = 2;
const LOBBY_MAX: usize = LOBBY_THRESHOLD as usize;

/// `POWERS[c] = b^c` for lobby counts `c` in `0..=L`.
const POWERS: [f64; LOBBY_MAX + 1] = {
    let mut table = [1.0; LOBBY_MAX + 1];
    let mut c = 1;
    while c <= LOBBY_MAX {
        table[c] = table[c - 1] * DECAY_BASE;
        c += 1;
    }
    table
};

/// `SPENT_TO_EMPTY[c] = ceil(sum_{j=1..c} b^j)`: the unit collisions expected to empty a counter
/// of `c`, rounded up: what a weighted insert spends on decaying it away.
const SPENT_TO_EMPTY: [u64; LOBBY_MAX + 1] = {
    let mut table = [0; LOBBY_MAX + 1];
    let mut expected = 0.0;
    let mut c = 1;
    while c <= LOBBY_MAX {
        expected += POWERS[c];
        let whole = expected as u64;
        table[c] = if (whole as f64) < expected {
            whole + 1
        } else {
            whole
        };
        c += 1;
    }
    table
};

/// `UNIT_DECAY_THRESHOLD[c] = 2^64 * b^-c`: a uniform `u64` below it decays a counter of `c`.
const UNIT_DECAY_THRESHOLD: [u64; LOBBY_MAX + 1] = {
    let mut table = [u64::MAX; LOBBY_MAX + 1];
    let mut c = 1;
    while c <= LOBBY_MAX {
        table[c] = (18_446_744_073_709_551_616.0 / POWERS[c]) as u64;
        c += 1;
    }
    table
};

/// One bucket: counters and fingerprints first (what every lookup reads), keys after them.
#[derive(Clone, Debug)]
struct Bucket<K> {
    heavy_count: [u64; HEAVY_PER_BUCKET],
    heavy_fp: [u16; HEAVY_PER_BUCKET],
    lobby_fp: u16,
    lobby_count: u8,
    /// Meaningful only where `heavy_count` is non-zero.
    heavy_key: [K; HEAVY_PER_BUCKET],
}

impl<K: Eq> Bucket<K> {
    /// The heavy slot tracking `key` (whose fingerprint is `fp`).
    #[inline]
    fn heavy_slot(&self, fp: u16, key: &K) -> Option<usize> {
        (0..HEAVY_PER_BUCKET).find(|&slot| {
            self.heavy_fp[slot] == fp && self.heavy_count[slot] > 0 && self.heavy_key[slot] == *key
        })
    }
}

/// A heavy entry in flight during cuckoo relocation.
struct HeavyEntry<K> {
    fp: u16,
    count: u64,
    key: K,
}

/// Where an item may live: a fingerprint and one bucket in each table (as flat indices).
#[derive(Clone, Copy)]
struct Slots {
    fp: u16,
    buckets: [usize; 2],
}

/// The Cuckoo Heavy Keeper sketch over keys `K`.
///
/// Memory is fixed at construction ([`memory_bytes`](Self::memory_bytes)); the tables are
/// allocated at the first insert (the first key fills the unused key slots, which is why `K`
/// needs no `Default`) and never again, `clear` included.
#[derive(Clone, Debug)]
pub struct CuckooHeavyKeeper<K> {
    /// `2 * buckets_per_table` buckets: table 0 first, then table 1. Empty until the first insert.
    buckets: Vec<Bucket<K>>,
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

impl<K: Hash + Eq + Clone> CuckooHeavyKeeper<K> {
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
        let per_table = bytes.saturating_sub(size_of::<Self>()) / (2 * size_of::<Bucket<K>>());
        Self::with_seed(per_table, seed)
    }

    /// Sets the heavy-hitter threshold `phi` (a share of the stream in `(0, 1]`) that decides
    /// which displaced entries are worth relocating. Values outside the range are clamped.
    pub fn with_phi(mut self, phi: f64) -> Self {
        let phi = if phi.is_finite() {
            phi.clamp(1e-12, 1.0)
        } else {
            DEFAULT_PHI
        };
        self.phi = phi;
        self.survival_share = KICK_SURVIVAL_RATIO * phi;
        self
    }

    /// The heavy-hitter threshold `phi`.
    pub fn phi(&self) -> f64 {
        self.phi
    }

    /// The hash of `key` as this sketch computes it. Sketches built with the same seed agree,
    /// so a caller feeding one key to several of them hashes it once and uses
    /// [`add_hashed`](Self::add_hashed).
    #[inline]
    pub fn hash_key(&self, key: &K) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Adds `weight` occurrences of `key` (1 for a packet, the length for bytes).
    #[inline]
    pub fn add(&mut self, key: &K, weight: u64) {
        let hash = self.hash_key(key);
        self.add_hashed(key, hash, weight);
    }

    /// [`add`](Self::add) with a hash from [`hash_key`](Self::hash_key) of a sketch with the
    /// same seed, or from a hash function of the caller's that gives each key one hash and
    /// spreads its low 16 bits (the fingerprint) and its high 32 bits (the bucket); such a
    /// sketch is then read with [`count_hashed`](Self::count_hashed) and the same hashes.
    /// A key given different hashes is not unsafe but the sketch loses track of it.
    ///
    /// Returns the key's count after the insert, which a caller deciding something by the
    /// key's weight would otherwise look up again: its heavy counter, else the lobby counter
    /// it raised, else 0 (the insert only decayed another item's lobby counter). That is what
    /// [`count_hashed`](Self::count_hashed) would answer, but for a lobby counter when the
    /// fingerprint also sits in the other bucket's lobby (there it answers the larger).
    #[inline(always)]
    pub fn add_hashed(&mut self, key: &K, hash: u64, weight: u64) -> u64 {
        // Most inserts of a skewed stream hit a heavy entry in one of the item's two buckets:
        // those checks stay inline; everything else is out of line.
        let (fp, first) = (hash as u16, self.first_bucket(hash));
        if let Some(count) = self.add_if_heavy(first, fp, key, weight) {
            return count;
        }
        let slots = Slots {
            fp,
            buckets: [first, self.buckets_per_table + self.alternate(first, fp)],
        };
        if let Some(count) = self.add_if_heavy(slots.buckets[1], fp, key, weight) {
            return count;
        }
        self.add_elsewhere(key, &slots, weight)
    }

    /// Adds `weight` to `key`'s heavy counter in `bucket` and returns it, if it is there.
    #[inline(always)]
    fn add_if_heavy(&mut self, bucket: usize, fp: u16, key: &K, weight: u64) -> Option<u64> {
        let b = self.buckets.get_mut(bucket)?;
        let slot = b.heavy_slot(fp, key)?;
        b.heavy_count[slot] = b.heavy_count[slot].saturating_add(weight);
        self.total = self.total.saturating_add(weight);
        Some(b.heavy_count[slot])
    }

    /// Reads the table-0 bucket of `hash`, which [`add_hashed`](Self::add_hashed) reads first,
    /// and returns a word of it, of no meaning: a caller updating several sketches per item
    /// passes the words of all their buckets through one [`std::hint::black_box`] before the
    /// updates, so that it waits for memory once, not once per sketch.
    #[inline]
    pub fn prefetch(&self, hash: u64) -> u16 {
        self.buckets
            .get(self.first_bucket(hash))
            .map_or(0, |bucket| bucket.heavy_fp[0])
    }

    /// [`add_hashed`](Self::add_hashed) for an item that is not heavy in either bucket.
    #[inline(never)]
    fn add_elsewhere(&mut self, key: &K, slots: &Slots, weight: u64) -> u64 {
        if weight == 0 {
            return self.lobby_count(slots);
        }
        if self.buckets.is_empty() {
            self.allocate(key);
        }
        self.total = self.total.saturating_add(weight);
        let fp = slots.fp;
        // Both buckets borrowed once, so that nothing below indexes the tables again.
        let b = self.buckets_per_table;
        let (table0, table1) = self.buckets.split_at_mut(b);
        let (Some(first), Some(second)) = (
            table0.get_mut(slots.buckets[0]),
            table1.get_mut(slots.buckets[1] - b),
        ) else {
            return 0; // unreachable: `slots` indexes lie within their tables
        };

        // An empty heavy slot (table 0 first) is taken at once.
        for bucket in [&mut *first, &mut *second] {
            if let Some(slot) = bucket.heavy_count.iter().position(|&count| count == 0) {
                bucket.heavy_count[slot] = weight;
                bucket.heavy_fp[slot] = fp;
                bucket.heavy_key[slot] = key.clone();
                return weight;
            }
        }
        // The lobby to raise, and to what: one already holding the fingerprint (the item, or a
        // colliding one), else an empty one, else the one the fingerprint picks once its item
        // has decayed away.
        let (table, count) = if first.lobby_count > 0 && first.lobby_fp == fp {
            (0, u64::from(first.lobby_count).saturating_add(weight))
        } else if second.lobby_count > 0 && second.lobby_fp == fp {
            (1, u64::from(second.lobby_count).saturating_add(weight))
        } else if first.lobby_count == 0 {
            first.lobby_fp = fp;
            (0, weight)
        } else if second.lobby_count == 0 {
            second.lobby_fp = fp;
            (1, weight)
        } else {
            let table = usize::from(fp & 1);
            let lobby = if table == 0 {
                &mut *first
            } else {
                &mut *second
            };
            let held = lobby.lobby_count;
            let left = decay(&mut self.rng, held, weight);
            if left > 0 {
                lobby.lobby_count = left;
                return 0;
            }
            // The old item decayed away: the new one takes the lobby with the weight left
            // over (at least 1, or a unit insert would vanish without a trace).
            lobby.lobby_fp = fp;
            let spent = SPENT_TO_EMPTY[usize::from(held)];
            (table, weight.saturating_sub(spent).max(1))
        };
        let lobby = if table == 0 { first } else { second };
        if count < LOBBY_THRESHOLD {
            lobby.lobby_count = count as u8;
            return count;
        }
        // At the threshold the item tries for a heavy slot; a failed try leaves it there.
        lobby.lobby_count = LOBBY_THRESHOLD as u8;
        self.try_promote(slots, table, key, count)
    }

    /// The estimated count of `key`: its heavy counter when it is tracked, else the lobby
    /// counter of a matching fingerprint (at most [`LOBBY_THRESHOLD`]), else 0.
    pub fn count(&self, key: &K) -> u64 {
        self.count_hashed(key, self.hash_key(key))
    }

    /// [`count`](Self::count) with the hash [`add_hashed`](Self::add_hashed) was given.
    pub fn count_hashed(&self, key: &K, hash: u64) -> u64 {
        if self.buckets.is_empty() {
            return 0;
        }
        let slots = self.slots(hash);
        if let Some((bucket, slot)) = self.find_heavy(&slots, key) {
            return self.buckets[bucket].heavy_count[slot];
        }
        self.lobby_count(&slots)
    }

    /// The count of a lobby of `slots` holding their fingerprint (the larger if both do), or 0.
    fn lobby_count(&self, slots: &Slots) -> u64 {
        slots
            .buckets
            .iter()
            .filter_map(|&i| self.buckets.get(i))
            .filter(|b| b.lobby_count > 0 && b.lobby_fp == slots.fp)
            .map(|b| u64::from(b.lobby_count))
            .max()
            .unwrap_or(0)
    }

    /// Whether `key` is tracked in the heavy part (and so reported by [`list`](Self::list)).
    pub fn contains(&self, key: &K) -> bool {
        !self.buckets.is_empty()
            && self
                .find_heavy(&self.slots(self.hash_key(key)), key)
                .is_some()
    }

    /// Every tracked heavy item with its count, largest first.
    pub fn list(&self) -> Vec<(K, u64)> {
        let mut items: Vec<(K, u64)> = self
            .entries()
            .map(|(key, count)| (key.clone(), count))
            .collect();
        items.sort_by_key(|&(_, count)| std::cmp::Reverse(count));
        items
    }

    /// Every tracked heavy item with its count, in no particular order: what a caller that
    /// ranks the items its own way needs, without the sort and the clones of [`list`](Self::list).
    pub fn entries(&self) -> impl Iterator<Item = (&K, u64)> + '_ {
        self.buckets.iter().flat_map(|b| {
            (0..HEAVY_PER_BUCKET)
                .filter(|&s| b.heavy_count[s] > 0)
                .map(|s| (&b.heavy_key[s], b.heavy_count[s]))
        })
    }

    /// The `n` largest tracked items, largest first.
    pub fn top(&self, n: usize) -> Vec<(K, u64)> {
        let mut items = self.list();
        items.truncate(n);
        items
    }

    /// How many items the heavy part tracks.
    pub fn len(&self) -> usize {
        self.buckets
            .iter()
            .map(|b| b.heavy_count.iter().filter(|&&c| c > 0).count())
            .sum()
    }

    /// Whether no item is tracked in the heavy part.
    pub fn is_empty(&self) -> bool {
        self.buckets
            .iter()
            .all(|b| b.heavy_count.iter().all(|&c| c == 0))
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
        size_of::<Self>() + 2 * self.buckets_per_table * size_of::<Bucket<K>>()
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
            b.heavy_fp = [0; HEAVY_PER_BUCKET];
            b.lobby_fp = 0;
            b.lobby_count = 0;
        }
        self.total = 0;
        self.rng = self.rng_start;
    }

    fn allocate(&mut self, filler: &K) {
        let empty = Bucket {
            heavy_count: [0; HEAVY_PER_BUCKET],
            heavy_fp: [0; HEAVY_PER_BUCKET],
            lobby_fp: 0,
            lobby_count: 0,
            heavy_key: [filler.clone(), filler.clone()],
        };
        self.buckets = vec![empty; 2 * self.buckets_per_table];
    }

    /// Fingerprint from the low 16 bits, table-0 bucket from the high 32 (multiply-shift range
    /// reduction), table-1 bucket from the fingerprint alone so it can be recomputed on kick-out.
    #[inline]
    fn slots(&self, hash: u64) -> Slots {
        let fp = hash as u16;
        let first = self.first_bucket(hash);
        Slots {
            fp,
            buckets: [first, self.buckets_per_table + self.alternate(first, fp)],
        }
    }

    #[inline]
    fn first_bucket(&self, hash: u64) -> usize {
        (((hash >> 32) * self.buckets_per_table as u64) >> 32) as usize
    }

    /// The bucket index (within a table) of the other table where an entry at `index` with
    /// fingerprint `fp` may live. `alternate(alternate(i, fp), fp) == i` for every `B`.
    #[inline]
    fn alternate(&self, index: usize, fp: u16) -> usize {
        let mut x = u32::from(fp).wrapping_mul(0x5bd1_e995);
        x ^= x >> 15;
        x = x.wrapping_mul(0x2c1b_3c6d);
        let b = self.buckets_per_table;
        let g = ((u64::from(x) * b as u64) >> 32) as usize;
        if g >= index {
            g - index
        } else {
            g + b - index
        }
    }

    #[inline]
    fn find_heavy(&self, slots: &Slots, key: &K) -> Option<(usize, usize)> {
        slots.buckets.into_iter().find_map(|bucket| {
            let slot = self.buckets[bucket].heavy_slot(slots.fp, key)?;
            Some((bucket, slot))
        })
    }

    /// Moves the lobby item of `bucket` (counted `count >= L`) into the bucket's smaller heavy
    /// slot: at once if that is empty or smaller, else with probability
    /// `(count - L) / (target - L)`, about one win per `target - L` hits. The lobby is the
    /// item's bucket of `table`. Returns the item's count afterwards: `L` in the lobby, else
    /// its heavy count (0 if the relocations its promotion caused pushed it out again).
    #[inline(always)]
    fn try_promote(&mut self, slots: &Slots, table: usize, key: &K, count: u64) -> u64 {
        let bucket = slots.buckets[table];
        let b = &self.buckets[bucket];
        let slot = usize::from(b.heavy_count[1] < b.heavy_count[0]);
        let target = b.heavy_count[slot];
        if target > count {
            // A win with probability (count - L) / (target - L), without a division or floats.
            if self.rng.below(target - LOBBY_THRESHOLD) >= count - LOBBY_THRESHOLD {
                return LOBBY_THRESHOLD;
            }
        }
        let b = &mut self.buckets[bucket];
        let fp = b.lobby_fp;
        b.lobby_count = 0;
        let displaced = HeavyEntry {
            fp: std::mem::replace(&mut b.heavy_fp[slot], fp),
            count: std::mem::replace(&mut b.heavy_count[slot], target.max(count)),
            key: std::mem::replace(&mut b.heavy_key[slot], key.clone()),
        };
        if displaced.count == 0 {
            return target.max(count);
        }
        self.kick_out(bucket, displaced);
        self.find_heavy(slots, key)
            .map_or(0, |(bucket, slot)| self.buckets[bucket].heavy_count[slot])
    }

    /// Relocates a displaced heavy entry to its alternate bucket, displacing that bucket's
    /// smaller entry in turn, for at most [`MAX_KICKS`] hops; entries below the survival share
    /// of `N` are dropped instead.
    fn kick_out(&mut self, mut from: usize, mut entry: HeavyEntry<K>) {
        let b = self.buckets_per_table;
        for _ in 0..MAX_KICKS {
            if (entry.count as f64) < self.survival_share * self.total as f64 {
                return;
            }
            let (table, index) = (from / b, from % b);
            let to = (1 - table) * b + self.alternate(index, entry.fp);
            let bucket = &mut self.buckets[to];
            let slot = usize::from(bucket.heavy_count[1] < bucket.heavy_count[0]);
            if bucket.heavy_count[slot] == 0 {
                bucket.heavy_count[slot] = entry.count;
                bucket.heavy_fp[slot] = entry.fp;
                bucket.heavy_key[slot] = entry.key;
                return;
            }
            std::mem::swap(&mut bucket.heavy_count[slot], &mut entry.count);
            std::mem::swap(&mut bucket.heavy_fp[slot], &mut entry.fp);
            std::mem::swap(&mut bucket.heavy_key[slot], &mut entry.key);
            from = to;
        }
    }
}

/// The lobby counter `held` (in `1..=L`) after a colliding insert of `weight`, distributed
/// exactly as after `weight` unit collisions (each decrementing `c` with probability `b^-c`),
/// drawn with one random number from [`DecayTable`].
#[inline(always)]
fn decay(coins: &mut XorShift, held: u8, weight: u64) -> u8 {
    let held = usize::from(held).min(LOBBY_MAX);
    if weight == 1 {
        return (held - usize::from(coins.next_u64() < UNIT_DECAY_THRESHOLD[held])) as u8;
    }
    match DecayTable::get().cumulative(held, weight) {
        Some(cdf) => {
            let draw = (coins.next_u64() >> 32) as u32;
            cdf.iter()
                .take(held)
                .take_while(|&&edge| draw >= edge)
                .count() as u8
        }
        None => 0,
    }
}

/// xorshift64*: a few cycles per coin flip, statistically fine for them, seeded for replays.
#[derive(Clone, Copy, Debug)]
struct XorShift(u64);

impl XorShift {
    #[inline]
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A uniform draw in `[0, n)` (Lemire's multiply-shift: the high word of a 64-bit draw
    /// times `n`; biased by at most `n / 2^64`).
    #[inline]
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// The exact distribution of a lobby counter after `w` unit collisions, for every starting
/// count and every weight that may leave anything, computed once per process.
///
/// The design card's table method jumps to where the *expected* number of decays equals the
/// weight. Unit decays have a spread, so near the expected emptying point that method decays
/// too much (a counter of 16 hit by a weight of 34 is left at 1.6 on average by unit decays, at
/// 0 by the expectation); drawing from the distribution itself costs the same one random number.
struct DecayTable {
    /// For each starting count `h`, the index of its first row (weight 2) in `rows`.
    first_row: [usize; LOBBY_MAX + 1],
    /// For each `h`, the first weight that empties the counter with probability > 1 - 1e-9.
    empty_from: [u64; LOBBY_MAX + 1],
    /// Row for (`h`, `w`): `cdf[c]` = P(count after `w` collisions <= c), scaled to `2^32`.
    rows: Vec<[u32; LOBBY_MAX + 1]>,
}

impl DecayTable {
    const NEGLIGIBLE: f64 = 1e-9;

    fn get() -> &'static DecayTable {
        static TABLE: std::sync::LazyLock<DecayTable> = std::sync::LazyLock::new(DecayTable::build);
        &TABLE
    }

    fn build() -> DecayTable {
        let mut table = DecayTable {
            first_row: [0; LOBBY_MAX + 1],
            empty_from: [2; LOBBY_MAX + 1],
            rows: Vec::new(),
        };
        for held in 1..=LOBBY_MAX {
            table.first_row[held] = table.rows.len();
            let mut mass = [0.0f64; LOBBY_MAX + 1];
            mass[held] = 1.0;
            let mut weight = 0;
            loop {
                // One more unit collision: each count c > 0 moves down with probability b^-c.
                for c in 1..=held {
                    let moved = mass[c] / POWERS[c];
                    mass[c] -= moved;
                    mass[c - 1] += moved;
                }
                weight += 1;
                if weight == 1 {
                    continue;
                }
                if 1.0 - mass[0] < Self::NEGLIGIBLE {
                    break;
                }
                let mut row = [u32::MAX; LOBBY_MAX + 1];
                let mut below = 0.0;
                for (c, edge) in row.iter_mut().enumerate().take(held) {
                    below += mass[c];
                    *edge = (below * 4_294_967_296.0).min(u32::MAX as f64) as u32;
                }
                table.rows.push(row);
            }
            table.empty_from[held] = weight;
        }
        table
    }

    /// The cumulative distribution after `weight >= 2` collisions on a counter of `held`, or
    /// `None` when the counter is empty but for a negligible chance.
    fn cumulative(&self, held: usize, weight: u64) -> Option<&[u32; LOBBY_MAX + 1]> {
        if weight >= self.empty_from[held] {
            return None;
        }
        self.rows.get(self.first_row[held] + (weight - 2) as usize)
    }
}

/// SplitMix64, to expand one seed into the hasher's keys and the coin-flip state.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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

    #[test]
    fn alternate_bucket_is_an_involution_for_any_table_size() {
        for buckets in [1, 2, 3, 7, 100, 128, 1000, 65_537] {
            let sketch = CuckooHeavyKeeper::<u64>::new(buckets);
            for fp in (0..=u16::MAX).step_by(97) {
                for index in [0, buckets / 3, buckets - 1] {
                    let alt = sketch.alternate(index, fp);
                    assert!(alt < buckets);
                    assert_eq!(sketch.alternate(alt, fp), index, "B={buckets} fp={fp}");
                }
            }
        }
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

    /// The count left by one weighted collision against the count left by `weight` unit
    /// collisions, from every starting count: the same distribution (total variation distance
    /// within sampling noise), so the shortcut stands for the unit process it replaces.
    #[test]
    fn weighted_decay_matches_repeated_unit_decays_in_distribution() {
        const TRIALS: usize = 20_000;
        let mut sketch = CuckooHeavyKeeper::<u64>::with_seed(1, 7);
        for held in 1..=LOBBY_THRESHOLD as u8 {
            for weight in [2u64, 3, 5, 8, 13, 21, 34, 55, 89] {
                let mut unit = [0usize; LOBBY_MAX + 1];
                let mut weighted = [0usize; LOBBY_MAX + 1];
                for _ in 0..TRIALS {
                    let mut count = held;
                    for _ in 0..weight {
                        if count == 0 {
                            break;
                        }
                        count = decay(&mut sketch.rng, count, 1);
                    }
                    unit[usize::from(count)] += 1;
                    weighted[usize::from(decay(&mut sketch.rng, held, weight))] += 1;
                }
                let distance: f64 = unit
                    .iter()
                    .zip(&weighted)
                    .map(|(&u, &w)| (u as f64 - w as f64).abs())
                    .sum::<f64>()
                    / (2 * TRIALS) as f64;
                assert!(
                    distance < 0.03,
                    "held {held}, weight {weight}: total variation {distance:.3}\n unit {unit:?}\n weighted {weighted:?}"
                );
            }
        }
    }

    #[test]
    fn large_weights_empty_the_lobby_and_the_table_stays_small() {
        let table = DecayTable::get();
        assert!(table.rows.len() < 2_000, "{} rows", table.rows.len());
        let mut sketch = CuckooHeavyKeeper::<u64>::with_seed(1, 9);
        for held in 1..=LOBBY_THRESHOLD as u8 {
            assert_eq!(decay(&mut sketch.rng, held, 1500), 0);
            assert!(table.empty_from[usize::from(held)] < 200);
        }
    }

    #[test]
    fn unit_decay_probability_is_b_to_the_minus_count() {
        let mut sketch = CuckooHeavyKeeper::<u64>::with_seed(1, 3);
        for held in [1u8, 8, 16] {
            let trials = 200_000;
            let decayed = (0..trials)
                .filter(|_| decay(&mut sketch.rng, held, 1) < held)
                .count();
            let expected = DECAY_BASE.powi(-i32::from(held));
            let observed = decayed as f64 / f64::from(trials);
            assert!(
                (observed - expected).abs() < 0.01,
                "held {held}: {observed} vs {expected}"
            );
        }
    }

    proptest! {
        /// What an insert returns is what a lookup answers right after it, but for a lobby item
        /// whose fingerprint also sits in its other bucket's lobby.
        #[test]
        fn an_insert_returns_the_count_a_lookup_gives(
            ops in proptest::collection::vec((0u64..48, prop_oneof![1u64..3, 1u64..60]), 1..600),
            buckets in 1usize..5,
        ) {
            let mut sketch = CuckooHeavyKeeper::<u64>::new(buckets);
            for (key, weight) in &ops {
                let hash = sketch.hash_key(key);
                let returned = sketch.add_hashed(key, hash, *weight);
                let looked_up = sketch.count_hashed(key, hash);
                if returned != looked_up {
                    let slots = sketch.slots(hash);
                    let in_lobby = |i: usize| {
                        let b = &sketch.buckets[slots.buckets[i]];
                        b.lobby_count > 0 && b.lobby_fp == slots.fp
                    };
                    prop_assert!(in_lobby(0) && in_lobby(1), "{returned} vs {looked_up}");
                    prop_assert!(returned < looked_up);
                }
            }
        }

        #[test]
        fn never_panics_and_totals_add_up(
            ops in proptest::collection::vec((0u64..64, prop_oneof![Just(0u64), 1u64..4, 1u64..100_000, Just(u64::MAX)]), 1..400),
            buckets in 1usize..6,
        ) {
            let mut sketch = CuckooHeavyKeeper::<u64>::new(buckets);
            let mut total: u64 = 0;
            for (key, weight) in &ops {
                sketch.add(key, *weight);
                total = total.saturating_add(*weight);
                prop_assert!(sketch.count(key) <= sketch.total());
            }
            prop_assert_eq!(sketch.total(), total);
            prop_assert!(sketch.len() <= 4 * buckets);
            let list = sketch.list();
            prop_assert!(list.windows(2).all(|w| w[0].1 >= w[1].1));
            for (key, count) in &list {
                prop_assert_eq!(sketch.count(key), *count);
            }
        }
    }
}
