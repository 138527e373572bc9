//! Where entries live: the bucket layout (two heavy entries and one lobby per bucket, counters
//! before keys), the tables' allocation, and how a hash picks an item's fingerprint and its
//! bucket in each table (the alternate bucket an involution for any table size, as cuckoo
//! relocation needs). Knows nothing of counting, decay or promotion.

use super::{Companion, CuckooHeavyKeeper};
use std::hash::Hash;

pub(super) const HEAVY_PER_BUCKET: usize = 2;

/// The bucket index (within a table of `b` buckets) of the other table where an entry at
/// `index` with fingerprint `fp` may live: `(g(fp) - index) mod b` (see [`reflect`]), with `g`
/// a mix of the fingerprint. Both layouts place their entries with it.
#[inline(always)]
pub(crate) fn alternate_bucket(index: usize, fp: u16, b: usize) -> usize {
    let mut x = u32::from(fp).wrapping_mul(0x5bd1_e995);
    x ^= x >> 15;
    x = x.wrapping_mul(0x2c1b_3c6d);
    reflect(((u64::from(x) * b as u64) >> 32) as usize, index, b)
}

/// `(g - index) mod b` for `g` and `index` below `b` (at most `u32::MAX`): an involution in
/// `index` for every `b`, a power of two or not, as cuckoo relocation needs.
#[inline(always)]
pub(crate) fn reflect(g: usize, index: usize, b: usize) -> usize {
    // `g - index`, plus `b` if that borrowed, without a branch: which way it goes is a coin
    // flip per insert, and compilers turn the plain `if` into a mispredicted jump. Both are
    // below 2^32, so the difference's top bit is the borrow.
    let diff = g.wrapping_sub(index) as u64;
    (diff.wrapping_add(b as u64 & ((diff as i64 >> 63) as u64))) as usize
}

/// One bucket: counters and fingerprints first (what every lookup reads), keys after them.
#[derive(Clone, Debug)]
pub(super) struct Bucket<K, C> {
    pub(super) heavy_count: [u64; HEAVY_PER_BUCKET],
    /// The companion weight of each heavy entry, counted since the entry was admitted (see
    /// [`CuckooHeavyKeeper::add_hashed_with`]); beside the counts, as every hit writes both.
    pub(super) heavy_companion: [C; HEAVY_PER_BUCKET],
    pub(super) heavy_fp: [u16; HEAVY_PER_BUCKET],
    pub(super) lobby_fp: u16,
    pub(super) lobby_count: u8,
    /// Meaningful only where `heavy_count` is non-zero.
    pub(super) heavy_key: [K; HEAVY_PER_BUCKET],
}

impl<K: Eq, C> Bucket<K, C> {
    /// The heavy slot tracking `key` (whose fingerprint is `fp`).
    #[inline]
    pub(super) fn heavy_slot(&self, fp: u16, key: &K) -> Option<usize> {
        (0..HEAVY_PER_BUCKET).find(|&slot| {
            self.heavy_fp[slot] == fp && self.heavy_count[slot] > 0 && self.heavy_key[slot] == *key
        })
    }
}

/// A heavy entry in flight during cuckoo relocation.
pub(super) struct HeavyEntry<K, C> {
    pub(super) fp: u16,
    pub(super) count: u64,
    pub(super) companion: C,
    pub(super) key: K,
}

/// Where an item may live: a fingerprint and one bucket in each table (as flat indices).
#[derive(Clone, Copy)]
pub(super) struct Slots {
    pub(super) fp: u16,
    pub(super) buckets: [usize; 2],
}

impl<K: Hash + Eq + Clone, C: Companion> CuckooHeavyKeeper<K, C> {
    pub(super) fn allocate(&mut self, filler: &K) {
        let empty = Bucket {
            heavy_count: [0; HEAVY_PER_BUCKET],
            heavy_companion: [C::default(); HEAVY_PER_BUCKET],
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
    pub(super) fn slots(&self, hash: u64) -> Slots {
        let fp = hash as u16;
        let first = self.first_bucket(hash);
        Slots {
            fp,
            buckets: [first, self.buckets_per_table + self.alternate(first, fp)],
        }
    }

    #[inline]
    pub(super) fn first_bucket(&self, hash: u64) -> usize {
        (((hash >> 32) * self.buckets_per_table as u64) >> 32) as usize
    }

    /// The bucket index (within a table) of the other table where an entry at `index` with
    /// fingerprint `fp` may live (see [`alternate_bucket`]).
    #[inline]
    pub(super) fn alternate(&self, index: usize, fp: u16) -> usize {
        alternate_bucket(index, fp, self.buckets_per_table)
    }

    #[inline]
    pub(super) fn find_heavy(&self, slots: &Slots, key: &K) -> Option<(usize, usize)> {
        slots.buckets.into_iter().find_map(|bucket| {
            let slot = self.buckets[bucket].heavy_slot(slots.fp, key)?;
            Some((bucket, slot))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts, companions, fingerprints and lobby (23 bytes and padding), then the keys: a
    /// sketch without companions spends nothing on them.
    #[test]
    fn companions_cost_memory_only_when_kept() {
        assert_eq!(std::mem::size_of::<Bucket<u64, ()>>(), 24 + 16);
        assert_eq!(std::mem::size_of::<Bucket<u64, u64>>(), 24 + 16 + 16);
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
}
