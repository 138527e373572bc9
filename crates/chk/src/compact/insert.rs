//! Insertion into the compact sketch: a weighted insert's way through an item's two buckets
//! (its heavy counter, an empty heavy slot, a lobby, a decay of a colliding lobby item),
//! promotion from the lobby at the threshold and the cuckoo kick-out of the entry it displaces;
//! each insert that leaves the item in an unkeyed heavy entry offers its key to the key table.
//! The hot path: a hit on a keyed heavy entry stays inline, the rest is out of line. Knows
//! nothing of how the sketch is read.

use super::bucket::{fingerprint, Slots};
use super::CompactHeavyKeeper;
use crate::decay::{decay_with, SPENT_TO_EMPTY};
use crate::{LOBBY_THRESHOLD, MAX_KICKS};
use std::hash::Hash;

/// The most the stronger of two colliding lobbies loses per unit of colliding weight, scaled to
/// 2^32: one with probability 1/16 (see `add_elsewhere`).
pub(super) const MAX_EROSION: u32 = 1 << 28;

/// How much faster than the stronger lobby's erosion an item arriving at `phi` of the stream
/// arrives (see [`CompactHeavyKeeper::erosion_rate`]).
const EROSION_MARGIN: f64 = 3.0;

/// A heavy entry in flight during cuckoo relocation.
struct Displaced {
    fp: u16,
    count: u32,
    keyed: bool,
}

/// A weight as a 32-bit counter increment (saturating: counters stop at `u32::MAX`).
#[inline(always)]
fn narrow(weight: u64) -> u32 {
    u32::try_from(weight).unwrap_or(u32::MAX)
}

impl<K: Hash + Eq + Clone> CompactHeavyKeeper<K> {
    /// The hash of `key` as this sketch computes it. Sketches built with the same seed agree,
    /// so a caller feeding one key to several of them hashes it once and uses
    /// [`add_hashed`](Self::add_hashed).
    #[inline]
    pub fn hash_key(&self, key: &K) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Adds `weight` occurrences of `key` (1 for an event, a size for bytes) and returns the
    /// key's estimated count afterwards (what [`count`](Self::count) answers, but for an item
    /// sitting in both of its lobbies, where this is the one it raised).
    #[inline]
    pub fn add(&mut self, key: &K, weight: u64) -> u64 {
        let hash = self.hash_key(key);
        self.add_hashed(key, hash, weight)
    }

    /// [`add`](Self::add) with a hash from [`hash_key`](Self::hash_key) of a sketch with the
    /// same seed, or from a hash function of the caller's that gives each key one hash and
    /// spreads its low 16 bits (the fingerprint) and its high 32 bits (the bucket). A key given
    /// different hashes is not unsafe but the sketch loses track of it.
    #[inline(always)]
    pub fn add_hashed(&mut self, key: &K, hash: u64, weight: u64) -> u64 {
        let (fp, first) = (fingerprint(hash), self.first_bucket(hash));
        let second = self.buckets_per_table + self.alternate(first, fp);
        // Both buckets are read and matched without a branch on where the item sits: which
        // slot of which bucket an item holds is as good as random to a branch predictor, and
        // a hit then costs one predictable branch (hit or not) instead of up to four
        // mispredictable ones. The second bucket is in L1 at a few KB either way.
        let (Some(b0), Some(b1)) = (self.buckets.get(first), self.buckets.get(second)) else {
            return 0; // unreachable: both indices are below 2 * B
        };
        let (m0, m1) = (b0.heavy_mask(fp), b1.heavy_mask(fp));
        if m0 | m1 == 0 {
            return self.add_elsewhere(
                key,
                &Slots {
                    fp,
                    buckets: [first, second],
                },
                weight,
            );
        }
        // Table 0 first, and within a bucket slot 0 first, as `find_heavy` looks.
        let (bucket, mask) = if m0 != 0 { (first, m0) } else { (second, m1) };
        let slot = usize::from(mask & 1 == 0);
        let Some(b) = self.buckets.get_mut(bucket) else {
            return 0; // unreachable, as above
        };
        let count = b.count[slot].saturating_add(narrow(weight));
        b.count[slot] = count;
        // A keyed entry never offers: its floor is the largest count. One branch, taken on a
        // few hits in a thousand; an unkeyed entry (a tenth of the hits at 4 KB, at random)
        // is no reason to leave the straight path by itself.
        let floor = self.floor | u64::from(b.is_keyed(slot)).wrapping_neg();
        self.total = self.total.saturating_add(weight);
        if (weight > 0) & (u64::from(count) > floor) {
            self.offer(key, bucket, slot, count);
        }
        u64::from(count)
    }

    /// [`add_hashed`](Self::add_hashed) for an item that is not heavy in either bucket.
    #[inline(never)]
    fn add_elsewhere(&mut self, key: &K, slots: &Slots, weight: u64) -> u64 {
        if weight == 0 {
            return self.lobby_count(slots);
        }
        self.total = self.total.saturating_add(weight);
        let fp = slots.fp;
        // An empty heavy slot (table 0 first) is taken at once.
        for bucket in slots.buckets {
            let b = &mut self.buckets[bucket];
            if let Some(slot) = b.count.iter().position(|&count| count == 0) {
                b.count[slot] = narrow(weight);
                b.fp[slot] = fp;
                b.set_keyed(slot, false);
                self.offer(key, bucket, slot, narrow(weight));
                return u64::from(narrow(weight));
            }
        }
        // The lobby to raise, and to what: one already holding the fingerprint, else an empty
        // one, else the one the fingerprint picks once its item has decayed away.
        let [b0, b1] = slots.buckets;
        let (first, second) = (self.buckets[b0], self.buckets[b1]);
        let (table, count) = if first.lobby_count > 0 && first.lobby_fp == fp {
            (0, u64::from(first.lobby_count).saturating_add(weight))
        } else if second.lobby_count > 0 && second.lobby_fp == fp {
            (1, u64::from(second.lobby_count).saturating_add(weight))
        } else if first.lobby_count == 0 {
            (0, weight)
        } else if second.lobby_count == 0 {
            (1, weight)
        } else {
            // The weaker lobby decays (the fingerprint breaks ties): an item waiting at the
            // threshold for a heavy slot is not worn down by a stream of small ones while
            // the other lobby holds a smaller count.
            // Computed, not branched on: which lobby is weaker is a coin flip to the branch
            // predictor (it missed on half the collisions).
            let (held0, held1) = (first.lobby_count, second.lobby_count);
            let table =
                usize::from(held0 > held1) | (usize::from(held0 == held1) & usize::from(fp & 1));
            // The stronger lobby loses one with probability `erosion / 2^32` per unit of
            // weight (see `erosion_rate`). Without this, whichever lobby is ahead is never
            // decayed while the other churns: the stronger keeps an item that arrives now and
            // then (a tail item that reached the threshold early, or a mid-sized one waiting
            // for a heavy slot it rarely wins), every item of the pair decays the weaker, and
            // the weaker, decayed by the whole tail, empties faster than a heavy hitter near
            // phi can raise it: that heavy hitter is never counted (1/140 of the ARE at the
            // paper's point on its own).
            let before = self.collided;
            self.collided = before.saturating_add(weight);
            if before >> 10 != self.collided >> 10 {
                self.erosion = self.erosion_rate();
            }
            // One random number for both coins: the stronger lobby's from its low 32 bits,
            // the weaker's from the whole (unit weight: a comparison dominated by the high
            // bits) or its high 32 bits (weighted).
            let draw = self.rng.next_u64();
            let erode = u64::from(draw as u32) < u64::from(self.erosion).saturating_mul(weight);
            let stronger = &mut self.buckets[slots.buckets[1 - table]];
            stronger.lobby_count -= u8::from(erode);
            let lobby = &mut self.buckets[slots.buckets[table]];
            let held = lobby.lobby_count;
            let left = decay_with(draw, held, weight);
            // If the old item decayed away, the new one takes the lobby with the weight left
            // over (at least 1, or a unit insert would vanish without a trace). Selected, not
            // branched on: the old item stays on about a tenth of the collisions, at random.
            let taken = weight
                .saturating_sub(SPENT_TO_EMPTY[usize::from(held)])
                .max(1);
            let stays = left > 0;
            lobby.lobby_fp = if stays { lobby.lobby_fp } else { fp };
            lobby.lobby_count = if stays {
                left
            } else {
                taken.min(LOBBY_THRESHOLD) as u8
            };
            if stays | (taken < LOBBY_THRESHOLD) {
                return if stays { 0 } else { taken };
            }
            (table, taken)
        };
        let lobby = &mut self.buckets[slots.buckets[table]];
        lobby.lobby_fp = fp;
        if count < LOBBY_THRESHOLD {
            lobby.lobby_count = count as u8;
            return count;
        }
        // At the threshold the item tries for a heavy slot; a failed try leaves it there.
        lobby.lobby_count = LOBBY_THRESHOLD as u8;
        self.try_promote(key, slots, table, count)
    }

    /// The stronger lobby's erosion per unit of colliding weight, scaled to 2^32: as fast as
    /// it may be while an item arriving at `phi` of the stream still arrives
    /// [`EROSION_MARGIN`] times faster than its lobby erodes, at most [`MAX_EROSION`] (1/16).
    /// Each unit of colliding weight erodes one of the `B` lobbies a table has; as the weaker
    /// lobbies tend to gather in one table, a stronger one takes up to `collided / B` of it,
    /// against `phi * N` arrivals of the item. So an item that arrives at well below `phi`
    /// loses the stronger lobby to the weaker's churn, and one at `phi` keeps it however flat
    /// the stream and small the sketch (at a fixed 1/16, Zipf 0.8 at 2 KB lost half of its
    /// heavy hitters; at a fixed 1/128, Zipf 1.2 at 4 KB left one uncounted for a quarter of
    /// the sketch seeds).
    fn erosion_rate(&self) -> u32 {
        let share = self.phi * self.buckets_per_table as f64 * self.total as f64
            / (EROSION_MARGIN * self.collided as f64);
        (share * 4_294_967_296.0).min(f64::from(MAX_EROSION)) as u32
    }

    /// Moves the lobby item (counted `count >= L`, in its bucket of `table`) into the heavy
    /// part, in place of the smallest entry it can reach: the smaller heavy entry of either of
    /// its buckets, or the smaller entry of the alternate bucket of one of those four entries,
    /// which then moves there to make room (one cuckoo hop, so that an item whose own buckets
    /// are full of larger items still finds room where there is some). At once if that entry
    /// is empty or smaller, else with probability `(count - L) / (target - L)`; the item
    /// inherits the larger count. Returns its count afterwards: `L` in the lobby, else its
    /// heavy count (0 if the relocations its promotion caused pushed it out again).
    // Out of line, as `kick_out`: an insert that only works on a lobby (most misses) then
    // saves the registers of a small function, not of one with both inlined (13% faster
    // inserts at 4 KB on Zipf 1.2).
    #[inline(never)]
    fn try_promote(&mut self, key: &K, slots: &Slots, table: usize, count: u64) -> u64 {
        // (target count, bucket, slot, where the entry there moves to first)
        let mut best: (u32, usize, usize, Option<(usize, usize)>) = (u32::MAX, 0, 0, None);
        for bucket in slots.buckets {
            let slot = self.buckets[bucket].smaller();
            if self.buckets[bucket].count[slot] < best.0 {
                best = (self.buckets[bucket].count[slot], bucket, slot, None);
            }
        }
        for bucket in slots.buckets {
            for slot in 0..2 {
                let (fp, held) = (
                    self.buckets[bucket].fp[slot],
                    self.buckets[bucket].count[slot],
                );
                let to = self.other_bucket(bucket, fp);
                let to_slot = self.buckets[to].smaller();
                let there = self.buckets[to].count[to_slot];
                if there < held && there < best.0 {
                    best = (there, bucket, slot, Some((to, to_slot)));
                }
            }
        }
        let (target, bucket, slot, hop) = best;
        let target = u64::from(target);
        if target > count && self.rng.below(target - LOBBY_THRESHOLD) >= count - LOBBY_THRESHOLD {
            return LOBBY_THRESHOLD;
        }
        self.buckets[slots.buckets[table]].lobby_count = 0;
        let b = &self.buckets[bucket];
        let mut moving = Displaced {
            fp: b.fp[slot],
            count: b.count[slot],
            keyed: b.is_keyed(slot),
        };
        let mut from = bucket;
        if let Some((to, to_slot)) = hop {
            moving = self.put(to, to_slot, moving);
            from = to;
        }
        self.put(
            bucket,
            slot,
            Displaced {
                fp: slots.fp,
                count: narrow(target.max(count)),
                keyed: false,
            },
        );
        if moving.count > 0 {
            self.kick_out(from, moving);
        }
        match self.find_heavy(slots) {
            Some((bucket, slot)) => {
                let count = self.buckets[bucket].count[slot];
                if !self.buckets[bucket].is_keyed(slot) {
                    self.offer(key, bucket, slot, count);
                }
                u64::from(count)
            }
            None => 0,
        }
    }

    /// Writes `entry` into heavy `slot` of `bucket` and returns what was there.
    #[inline]
    fn put(&mut self, bucket: usize, slot: usize, entry: Displaced) -> Displaced {
        let b = &mut self.buckets[bucket];
        let old = Displaced {
            fp: std::mem::replace(&mut b.fp[slot], entry.fp),
            count: std::mem::replace(&mut b.count[slot], entry.count),
            keyed: b.is_keyed(slot),
        };
        b.set_keyed(slot, entry.keyed);
        old
    }

    /// The flat index of the bucket in the other table where an entry of `bucket` with
    /// fingerprint `fp` may also live.
    #[inline]
    fn other_bucket(&self, bucket: usize, fp: u16) -> usize {
        let b = self.buckets_per_table;
        // A comparison, not a division: this runs for every entry a promotion looks at.
        if bucket < b {
            b + self.alternate(bucket, fp)
        } else {
            self.alternate(bucket - b, fp)
        }
    }

    /// Relocates a displaced heavy entry to its alternate bucket, displacing that bucket's
    /// smaller entry in turn, for at most [`MAX_KICKS`] hops; entries below the survival share
    /// of `N` are dropped instead (their keys stay in the key table until a larger item needs
    /// the room).
    #[inline(never)]
    fn kick_out(&mut self, mut from: usize, mut entry: Displaced) {
        for _ in 0..MAX_KICKS {
            if f64::from(entry.count) < self.survival_share * self.total as f64 {
                return;
            }
            let to = self.other_bucket(from, entry.fp);
            let slot = self.buckets[to].smaller();
            if self.buckets[to].count[slot] >= entry.count {
                // Both slots there hold more: the entry in flight is the one to drop.
                return;
            }
            entry = self.put(to, slot, entry);
            if entry.count == 0 {
                return;
            }
            from = to;
        }
    }
}
