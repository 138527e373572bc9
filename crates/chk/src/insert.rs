//! Insertion: a weighted insert's way through an item's two buckets (its heavy counter, an empty
//! heavy slot, a lobby, a decay of a colliding lobby item), promotion from the lobby at the
//! threshold, and the cuckoo kick-out of the heavy entry it displaces. The hot path of the
//! sketch: the common case (a heavy hit) stays inline, the rest out of line. Knows nothing of
//! how the sketch is read or reported.

use super::decay::{decay, SPENT_TO_EMPTY};
use super::layout::{HeavyEntry, Slots};
use super::{Companion, CuckooHeavyKeeper, LOBBY_THRESHOLD, MAX_KICKS};
use std::hash::Hash;

impl<K: Hash + Eq + Clone, C: Companion> CuckooHeavyKeeper<K, C> {
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
        self.add_hashed_with(key, hash, weight, C::default())
    }

    /// [`add_hashed`](Self::add_hashed) of an item that carries a second weight, its
    /// *companion* (the bytes of packets counted by packets, or the packets of bytes counted
    /// by bytes). A heavy entry sums the companions of the inserts it counts from the one that
    /// admitted it on: every item the sketch lists has both figures, the companion a lower
    /// bound of the item's true companion total (what it had in the lobby, or in an entry that
    /// was displaced, is not counted). [`entries_with_companion`](Self::entries_with_companion)
    /// reads them. Ranking and admission depend on `weight` alone.
    #[inline(always)]
    pub fn add_hashed_with(&mut self, key: &K, hash: u64, weight: u64, companion: C) -> u64 {
        // Most inserts of a skewed stream hit a heavy entry in one of the item's two buckets:
        // those checks stay inline; everything else is out of line.
        let (fp, first) = (hash as u16, self.first_bucket(hash));
        if let Some(count) = self.add_if_heavy(first, fp, key, weight, companion) {
            return count;
        }
        let slots = Slots {
            fp,
            buckets: [first, self.buckets_per_table + self.alternate(first, fp)],
        };
        if let Some(count) = self.add_if_heavy(slots.buckets[1], fp, key, weight, companion) {
            return count;
        }
        self.add_elsewhere(key, &slots, weight, companion)
    }

    /// Adds `weight` to `key`'s heavy counter in `bucket` (and `companion` to its companion)
    /// and returns the counter, if it is there.
    #[inline(always)]
    fn add_if_heavy(
        &mut self,
        bucket: usize,
        fp: u16,
        key: &K,
        weight: u64,
        companion: C,
    ) -> Option<u64> {
        let b = self.buckets.get_mut(bucket)?;
        let slot = b.heavy_slot(fp, key)?;
        b.heavy_count[slot] = b.heavy_count[slot].saturating_add(weight);
        b.heavy_companion[slot] = b.heavy_companion[slot].plus(companion);
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
    fn add_elsewhere(&mut self, key: &K, slots: &Slots, weight: u64, companion: C) -> u64 {
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
                bucket.heavy_companion[slot] = companion;
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
        self.try_promote(slots, table, key, count, companion)
    }

    /// Moves the lobby item of `bucket` (counted `count >= L`) into the bucket's smaller heavy
    /// slot: at once if that is empty or smaller, else with probability
    /// `(count - L) / (target - L)`, about one win per `target - L` hits. The lobby is the
    /// item's bucket of `table`. Returns the item's count afterwards: `L` in the lobby, else
    /// its heavy count (0 if the relocations its promotion caused pushed it out again). The
    /// entry's companion starts at the promoting insert's.
    #[inline(always)]
    fn try_promote(
        &mut self,
        slots: &Slots,
        table: usize,
        key: &K,
        count: u64,
        companion: C,
    ) -> u64 {
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
            companion: std::mem::replace(&mut b.heavy_companion[slot], companion),
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
    fn kick_out(&mut self, mut from: usize, mut entry: HeavyEntry<K, C>) {
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
                bucket.heavy_companion[slot] = entry.companion;
                bucket.heavy_fp[slot] = entry.fp;
                bucket.heavy_key[slot] = entry.key;
                return;
            }
            std::mem::swap(&mut bucket.heavy_count[slot], &mut entry.count);
            std::mem::swap(&mut bucket.heavy_companion[slot], &mut entry.companion);
            std::mem::swap(&mut bucket.heavy_fp[slot], &mut entry.fp);
            std::mem::swap(&mut bucket.heavy_key[slot], &mut entry.key);
            from = to;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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

        /// A listed item's companion is a lower bound of its true companion total, never 0
        /// for an item whose every insert carried one, and exact for an item admitted at its
        /// first insert into a sketch with room for every item (its entry never moves out).
        #[test]
        fn companions_are_lower_bounds_exact_while_tracked_from_the_start(
            ops in proptest::collection::vec((0u64..40, 1u64..30, 1u64..2_000), 1..800),
            buckets in 1usize..8,
        ) {
            let mut sketch = CuckooHeavyKeeper::<u64, u64>::new(buckets);
            let mut roomy = CuckooHeavyKeeper::<u64, u64>::new(1024);
            let mut truth: std::collections::HashMap<u64, u64> = Default::default();
            for (key, weight, companion) in &ops {
                for s in [&mut sketch, &mut roomy] {
                    let hash = s.hash_key(key);
                    s.add_hashed_with(key, hash, *weight, *companion);
                }
                *truth.entry(*key).or_default() += companion;
            }
            for (key, _, companion) in sketch.entries_with_companion() {
                prop_assert!(companion >= 1, "key {key}");
                prop_assert!(companion <= truth[key], "key {key}: {companion} > {}", truth[key]);
            }
            // 2048 buckets of two heavy slots for at most 40 keys: each takes an empty slot at
            // its first insert (table 0 or 1), so nothing is ever displaced.
            prop_assert_eq!(roomy.len(), truth.len());
            for (key, _, companion) in roomy.entries_with_companion() {
                prop_assert_eq!(companion, truth[key], "key {}", key);
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
