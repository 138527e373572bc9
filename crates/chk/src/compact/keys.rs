//! The key table: which items the compact sketch can name. A key is offered when its item sits
//! in a heavy entry whose keyed bit is clear; the table takes it while it has room, and once
//! full swaps it for the key with the smallest estimate if the newcomer's count beats that by
//! an eighth. Estimates are read from the buckets, so the table stores keys only; a scan for
//! the smallest costs one hash and two bucket reads per key, so a scan keeps the few smallest
//! (the victims) for the next newcomers, and a cached lower bound of the smallest estimate
//! (`floor`, the count that beats it) keeps items that cannot win from even looking.
//! Knows nothing of how counts are kept in the buckets beyond the keyed bits.

use super::{CompactHeavyKeeper, VICTIMS};
use std::hash::Hash;

impl<K: Hash + Eq + Clone> CompactHeavyKeeper<K> {
    /// Whether the key table might take the key of an item counted `count`: `count` beats the
    /// floor, which is 0 while the table has room. Inlined into the hot path, so that most hits
    /// on unkeyed entries (items too small for the table) cost a comparison, not a call.
    #[inline(always)]
    pub(super) fn may_take(&self, count: u32) -> bool {
        u64::from(count) > self.floor
    }

    /// Offers `key`, whose item now holds heavy entry `slot` of `bucket` with `count`, to the
    /// key table, and marks the entry keyed if the key is (or now is) in the table.
    #[inline(never)]
    pub(super) fn offer(&mut self, key: &K, bucket: usize, slot: usize, count: u32) {
        if self.keys.len() < self.keys.capacity() {
            if !self.keys.contains(key) {
                self.keys.push(key.clone());
            }
            self.buckets[bucket].set_keyed(slot, true);
            return;
        }
        if !self.may_take(count) {
            return;
        }
        // The smallest keys at the last scan, in order, while they are still beaten; a scan
        // (one hash and two bucket reads per key) when they are used up, or when the next one
        // is not beaten: estimates move, so a list from an earlier scan may name a key that
        // has since grown while a smaller one sits elsewhere in the table. Only a list from a
        // scan made for this offer says that nothing is beaten.
        let mut scanned = false;
        loop {
            if usize::from(self.next_victim) < usize::from(self.victims_len) {
                let (index, _) = self.victims[usize::from(self.next_victim)];
                let index = index as usize;
                let hash = self.hasher.hash_one(&self.keys[index]);
                let estimate = self.count_hashed(hash);
                if u64::from(count) > beaten_by(estimate) {
                    // The key may be in the table already (its entry was dropped and it came
                    // back): looked for only now, when it would take a place, as the look is
                    // a pass over the table.
                    if self.keys.contains(key) {
                        self.buckets[bucket].set_keyed(slot, true);
                        return;
                    }
                    self.next_victim += 1;
                    self.unkey(hash);
                    self.keys[index] = key.clone();
                    self.buckets[bucket].set_keyed(slot, true);
                    self.floor = self.victims[..usize::from(self.victims_len)]
                        .get(usize::from(self.next_victim))
                        .map_or(0, |&(_, estimate)| beaten_by(u64::from(estimate)));
                    return;
                }
                if scanned {
                    // The smallest now is not beaten: nor is any other; wait for a larger count.
                    self.floor = beaten_by(estimate);
                    return;
                }
            } else if scanned {
                return; // an empty table: unreachable once full
            }
            self.scan();
            scanned = true;
        }
    }

    /// Finds the [`VICTIMS`] smallest estimates of the key table, smallest first.
    fn scan(&mut self) {
        let mut victims = [(0u32, u32::MAX); VICTIMS];
        let mut len = 0;
        for (index, held) in self.keys.iter().enumerate() {
            let estimate = u32::try_from(self.count(held)).unwrap_or(u32::MAX);
            if len == VICTIMS && estimate >= victims[VICTIMS - 1].1 {
                continue;
            }
            // Insertion into the sorted prefix.
            let mut at = len.min(VICTIMS - 1);
            while at > 0 && victims[at - 1].1 > estimate {
                victims[at] = victims[at - 1];
                at -= 1;
            }
            victims[at] = (index as u32, estimate);
            len = (len + 1).min(VICTIMS);
        }
        self.victims = victims;
        self.victims_len = len as u8;
        self.next_victim = 0;
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
