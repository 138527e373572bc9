//! The compact sketch's bucket, the paper's 16 bytes: two heavy entries (16-bit fingerprint,
//! 32-bit counter, a *keyed* bit each) and one lobby (16-bit fingerprint, 8-bit counter); and
//! where an item may live (its fingerprint and one bucket in each table, the alternate bucket an
//! involution for any table size). Knows nothing of counting rules or keys.

use super::CompactHeavyKeeper;

/// One bucket: an empty heavy entry has counter 0 and fingerprint 0, and no item has
/// fingerprint 0 (see [`fingerprint`]), so a fingerprint match alone finds an item's entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Bucket {
    pub(super) count: [u32; 2],
    pub(super) fp: [u16; 2],
    pub(super) lobby_fp: u16,
    pub(super) lobby_count: u8,
    /// Bit `s` set: the key of heavy entry `s` is in the key table.
    pub(super) keyed: u8,
}

impl Bucket {
    pub(super) const EMPTY: Bucket = Bucket {
        count: [0; 2],
        fp: [0; 2],
        lobby_fp: 0,
        lobby_count: 0,
        keyed: 0,
    };

    /// The heavy slot holding fingerprint `fp`.
    #[inline(always)]
    pub(super) fn heavy_slot(&self, fp: u16) -> Option<usize> {
        if self.fp[0] == fp && self.count[0] > 0 {
            Some(0)
        } else if self.fp[1] == fp && self.count[1] > 0 {
            Some(1)
        } else {
            None
        }
    }

    /// Which heavy slots hold fingerprint `fp` (never 0): bit `s` for slot `s`, computed
    /// without branches (the hot path's match). An empty slot's fingerprint is 0, so the
    /// counters need not be read.
    #[inline(always)]
    pub(super) fn heavy_mask(&self, fp: u16) -> u8 {
        debug_assert_ne!(fp, 0);
        u8::from(self.fp[0] == fp) | (u8::from(self.fp[1] == fp) << 1)
    }

    /// The smaller heavy slot (an empty one counts 0).
    #[inline(always)]
    pub(super) fn smaller(&self) -> usize {
        usize::from(self.count[1] < self.count[0])
    }

    #[inline(always)]
    pub(super) fn is_keyed(&self, slot: usize) -> bool {
        self.keyed & (1 << slot) != 0
    }

    #[inline(always)]
    pub(super) fn set_keyed(&mut self, slot: usize, keyed: bool) {
        self.keyed = (self.keyed & !(1 << slot)) | (u8::from(keyed) << slot);
    }
}

/// The fingerprint of an item of hash `hash`: its low 16 bits, with 0 (the fingerprint of an
/// empty heavy slot) taken as 1.
#[inline(always)]
pub(super) fn fingerprint(hash: u64) -> u16 {
    (hash as u16).max(1)
}

/// Where an item may live: a fingerprint and one bucket in each table (as flat indices).
#[derive(Clone, Copy)]
pub(super) struct Slots {
    pub(super) fp: u16,
    pub(super) buckets: [usize; 2],
}

impl<K> CompactHeavyKeeper<K> {
    /// Fingerprint from the low 16 bits ([`fingerprint`]), table-0 bucket from the high 32 (multiply-shift range
    /// reduction), table-1 bucket from the fingerprint alone so it can be recomputed on kick-out.
    #[inline(always)]
    pub(super) fn slots(&self, hash: u64) -> Slots {
        let fp = fingerprint(hash);
        let first = self.first_bucket(hash);
        Slots {
            fp,
            buckets: [first, self.buckets_per_table + self.alternate(first, fp)],
        }
    }

    #[inline(always)]
    pub(super) fn first_bucket(&self, hash: u64) -> usize {
        (((hash >> 32) * self.buckets_per_table as u64) >> 32) as usize
    }

    /// The bucket index (within a table) of the other table where an entry at `index` with
    /// fingerprint `fp` may live: `(g(fp) - index) mod B` with `g` the fingerprint's
    /// multiplicative (Fibonacci) hash scaled to `B`, one multiplication where the wide
    /// layout's mix takes two and a shift (every insert computes it).
    /// `alternate(alternate(i, fp), fp) == i` for every `B`.
    #[inline(always)]
    pub(super) fn alternate(&self, index: usize, fp: u16) -> usize {
        let mixed = u32::from(fp).wrapping_mul(0x9e37_79b1);
        let b = self.buckets_per_table;
        crate::layout::reflect(((u64::from(mixed) * b as u64) >> 32) as usize, index, b)
    }

    /// The bucket and slot of the heavy entry of `slots`, table 0 first.
    #[inline]
    pub(super) fn find_heavy(&self, slots: &Slots) -> Option<(usize, usize)> {
        slots
            .buckets
            .into_iter()
            .find_map(|b| Some((b, self.buckets[b].heavy_slot(slots.fp)?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_takes_the_papers_sixteen_bytes() {
        assert_eq!(std::mem::size_of::<Bucket>(), 16);
    }

    #[test]
    fn keyed_bits_are_per_slot() {
        let mut b = Bucket::EMPTY;
        b.set_keyed(1, true);
        assert!(b.is_keyed(1) && !b.is_keyed(0));
        b.set_keyed(0, true);
        b.set_keyed(1, false);
        assert!(b.is_keyed(0) && !b.is_keyed(1));
    }

    #[test]
    fn alternate_bucket_is_an_involution_for_any_table_size() {
        for buckets in [1, 2, 3, 7, 100, 128, 1000, 65_537] {
            let sketch = CompactHeavyKeeper::<u64>::new(buckets, 1);
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
