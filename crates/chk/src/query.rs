//! Reading the sketch: an item's estimated count, whether it is tracked, and the tracked heavy
//! items (all of them, ranked, or the top `n`). Knows nothing of how items got there; it never
//! changes the sketch.

use super::layout::{Slots, HEAVY_PER_BUCKET};
use super::{Companion, CuckooHeavyKeeper};
use std::hash::Hash;

impl<K: Hash + Eq + Clone, C: Companion> CuckooHeavyKeeper<K, C> {
    /// The estimated count of `key`: its heavy counter when it is tracked, else the lobby
    /// counter of a matching fingerprint (at most
    /// [`LOBBY_THRESHOLD`](super::LOBBY_THRESHOLD)), else 0.
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
    pub(super) fn lobby_count(&self, slots: &Slots) -> u64 {
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
        self.entries_with_companion()
            .map(|(key, count, _)| (key, count))
    }

    /// [`entries`](Self::entries) with each item's companion total: what
    /// [`add_hashed_with`](Self::add_hashed_with) summed since the item was admitted.
    pub fn entries_with_companion(&self) -> impl Iterator<Item = (&K, u64, C)> + '_ {
        self.buckets.iter().flat_map(|b| {
            (0..HEAVY_PER_BUCKET)
                .filter(|&s| b.heavy_count[s] > 0)
                .map(|s| (&b.heavy_key[s], b.heavy_count[s], b.heavy_companion[s]))
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
}
