//! The key table: which items the compact sketch can name. A key is offered when its item sits
//! in a heavy entry whose keyed bit is clear; the table takes it while it has room, and once
//! full swaps it for the key with the smallest estimate if the newcomer's count beats that by
//! an eighth. Estimates are read from the buckets, so the table stores keys only; a scan for
//! the smallest costs one hash and two bucket reads per key, and a cached lower bound of the
//! smallest estimate (`floor`) keeps items that cannot win from scanning at all.
//! Knows nothing of how counts are kept in the buckets beyond the keyed bits.

use super::CompactHeavyKeeper;
use std::hash::Hash;

impl<K: Hash + Eq + Clone> CompactHeavyKeeper<K> {
    /// Offers `key`, whose item now holds heavy entry `slot` of `bucket` with `count`, to the
    /// key table, and marks the entry keyed if the key is (or now is) in the table.
    #[inline(never)]
    pub(super) fn offer(&mut self, key: &K, bucket: usize, slot: usize, count: u32) {
        let count = u64::from(count);
        if self.keys.len() < self.keys.capacity() {
            if !self.keys.contains(key) {
                self.keys.push(key.clone());
            }
            self.buckets[bucket].set_keyed(slot, true);
            return;
        }
        if count <= beaten_by(self.floor) {
            return;
        }
        // The key may be in the table already (its entry was dropped and it came back); else
        // find the smallest estimate and the next one, which becomes the floor after a swap.
        let mut smallest = (u64::MAX, 0, 0);
        let mut next = u64::MAX;
        let mut dead = 0;
        for (i, held) in self.keys.iter().enumerate() {
            if held == key {
                self.buckets[bucket].set_keyed(slot, true);
                return;
            }
            let hash = self.hasher.hash_one(held);
            let estimate = self.count_hashed(hash);
            dead += usize::from(estimate == 0);
            if estimate < smallest.0 {
                next = smallest.0;
                smallest = (estimate, i, hash);
            } else if estimate < next {
                next = estimate;
            }
        }
        if dead > 0 {
            // Keys whose counters were all dropped are of no use: clear them at once, so that
            // the next newcomers take their places without a scan each.
            let mut keys = std::mem::take(&mut self.keys);
            keys.retain(|held| self.count(held) > 0);
            self.keys = keys;
            self.keys.push(key.clone());
            self.buckets[bucket].set_keyed(slot, true);
            return;
        }
        let (estimate, index, hash) = smallest;
        if count <= beaten_by(estimate) {
            self.floor = estimate;
            return;
        }
        self.unkey(hash);
        self.keys[index] = key.clone();
        self.buckets[bucket].set_keyed(slot, true);
        self.floor = next.min(count);
    }

    /// Clears the keyed bit of every heavy entry in the buckets of `hash` holding its
    /// fingerprint: the key leaves the table. A twin item sharing the fingerprint and a
    /// bucket loses its bit too and offers its key again at its next hit.
    fn unkey(&mut self, hash: u64) {
        let slots = self.slots(hash);
        for bucket in slots.buckets {
            let b = &mut self.buckets[bucket];
            for slot in 0..2 {
                if b.fp[slot] == slots.fp && b.count[slot] > 0 {
                    b.set_keyed(slot, false);
                }
            }
        }
    }
}

/// The count a newcomer must exceed to take the place of a key estimated at `estimate`.
#[inline(always)]
fn beaten_by(estimate: u64) -> u64 {
    estimate.saturating_add(estimate / 8)
}
