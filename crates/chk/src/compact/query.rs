//! Reading the compact sketch: an item's estimated count (the largest counter with its
//! fingerprint in its two buckets), whether its key is reported, and the reported items (all,
//! the top `n`, or those above `phi * N`). Never changes the sketch.

use super::bucket::Slots;
use super::CompactHeavyKeeper;
use std::hash::Hash;

impl<K: Hash + Eq + Clone> CompactHeavyKeeper<K> {
    /// The estimated count of `key`: the largest heavy or lobby counter holding its fingerprint
    /// in its two buckets, else 0. An item that shares its fingerprint and a bucket with
    /// another shares its counter too (the paper's trade for 16-byte buckets).
    pub fn count(&self, key: &K) -> u64 {
        self.count_hashed(self.hash_key(key))
    }

    /// [`count`](Self::count) of the key that [`add_hashed`](Self::add_hashed) was given with
    /// `hash`.
    pub fn count_hashed(&self, hash: u64) -> u64 {
        let slots = self.slots(hash);
        match self.find_heavy(&slots) {
            Some((bucket, slot)) => {
                let heavy = u64::from(self.buckets[bucket].count[slot]);
                // The fingerprint may be heavy in both buckets (two items): the larger.
                let other = slots.buckets[usize::from(bucket == slots.buckets[0])];
                let b = &self.buckets[other];
                b.heavy_slot(slots.fp)
                    .map_or(heavy, |s| heavy.max(u64::from(b.count[s])))
            }
            None => self.lobby_count(&slots),
        }
    }

    /// The count of a lobby of `slots` holding their fingerprint (the larger if both do), or 0.
    pub(super) fn lobby_count(&self, slots: &Slots) -> u64 {
        slots
            .buckets
            .iter()
            .map(|&i| &self.buckets[i])
            .filter(|b| b.lobby_count > 0 && b.lobby_fp == slots.fp)
            .map(|b| u64::from(b.lobby_count))
            .max()
            .unwrap_or(0)
    }

    /// Whether `key` is in the key table, and so listed by [`list`](Self::list) while its
    /// estimate is not 0. A scan of the table: O([`key_capacity`](Self::key_capacity)).
    pub fn contains(&self, key: &K) -> bool {
        self.keys.contains(key)
    }

    /// Every reported item with its estimate, largest first (ties in table order); items whose
    /// estimate fell to 0 (their counter was dropped) are left out.
    pub fn list(&self) -> Vec<(K, u64)> {
        let mut items: Vec<(K, u64)> = self
            .keys
            .iter()
            .map(|key| (key.clone(), self.count(key)))
            .filter(|&(_, count)| count > 0)
            .collect();
        items.sort_by_key(|&(_, count)| std::cmp::Reverse(count));
        items
    }

    /// The `n` largest reported items, largest first.
    pub fn top(&self, n: usize) -> Vec<(K, u64)> {
        let mut items = self.list();
        items.truncate(n);
        items
    }

    /// The reported items whose estimate is at least `phi * N` (the heavy hitters at the
    /// sketch's [`phi`](Self::phi)), largest first.
    pub fn heavy_hitters(&self) -> Vec<(K, u64)> {
        let threshold = self.phi * self.total as f64;
        let mut items = self.list();
        items.retain(|&(_, count)| count as f64 >= threshold);
        items
    }

    /// How many keys the table holds (some may have an estimate of 0 until replaced).
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}
