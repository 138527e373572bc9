//! Distinct counts per heavy key in bounded memory: how many distinct peers each of the busiest
//! keys has (the fan-in of a destination, the fan-out of a source).
//!
//! A [`DistinctCounter`] for every key would grow with the number of keys, so only a fixed
//! number of keys is *tracked*, in a table of [`WAYS`]-way buckets chosen by the caller's hash
//! of the key. Each tracked key has its own counter and a packet count.
//!
//! Admission policy: a packet of an untracked key takes a free way of the key's bucket if there
//! is one; otherwise the key replaces the way with the fewest packets, provided the caller's
//! count of the key (its heavy-hitter estimate, this packet included) is at least
//! [`REPLACE_RATIO`] times that. A tracked key's packet count is its count at admission plus
//! the packets seen since. So in a quiet interval every key is tracked from its first packet;
//! in a busy one the ways end up with the heaviest keys of their bucket, the ratio keeping
//! keys of similar weight from evicting each other on every packet (each replacement of a way
//! at least doubles its count, so a way changes hands at most about 64 times an interval).
//!
//! Consequence: the peers a key had before it was admitted are not counted. A key admitted by
//! replacement misses at most the peers of the packets it sent before (at most its count at
//! admission, about `REPLACE_RATIO` times the smallest count of its bucket); an evicted key
//! loses its counter and starts again if readmitted. Fan-in and fan-out are therefore lower
//! bounds, up to the HLL error; `tests/it/distinct.rs` measures the undercount on a flood and a
//! scan hidden in background traffic.
//!
//! Memory: per way, 9 bytes of tag and count and the entry (key and counter, about 180 bytes
//! for an IP address), plus the counter's own heap: 4 bytes per peer while it keeps coupons, at
//! most `2^lg_k` bytes of registers once it has more than about `2^lg_k / 10` peers
//! ([`max_memory_bytes`]; 16.5 KB per tracked address at `lg_k = 14`).
//!
//! Hot path: a lookup compares the 8-bit tags of a bucket's ways at once, as the lanes of one
//! 64-bit word, and reads the entry of a matching tag only; a miss in a full bucket calls the
//! caller's count once and compares it with a lower bound of the bucket's lightest count, and
//! only a candidate that passes reads the line of counts. Admission allocates the new key's
//! small coupon list (bounded per interval as above); nothing else allocates per packet.
//!
//! Nothing here knows about packets; keys are any `Eq + Clone` type hashed by the caller.

use super::hll::{Coupon, DistinctCounter};

/// Ways of each bucket: one 64-bit word of 8-bit tags.
pub const WAYS: usize = 8;
/// The lowest bit of every tag lane.
const LANE_LOW_BITS: u64 = u64::MAX / 0xff;
/// All but the highest bit of every tag lane.
const LANE_LOW_7_BITS: u64 = LANE_LOW_BITS * 0x7f;
/// The highest bit of every tag lane.
const LANE_HIGH_BITS: u64 = LANE_LOW_BITS << 7;
/// A key replaces the lightest way of its full bucket when its count is at least this many
/// times that way's count.
pub const REPLACE_RATIO: u64 = 2;

/// A tracked key.
#[derive(Debug, Clone)]
struct Entry<K> {
    key: K,
    counter: DistinctCounter,
}

/// Distinct-value counters for at most `capacity` keys at a time.
#[derive(Debug, Clone)]
pub struct KeyedDistinct<K> {
    lg_k: u8,
    /// Whether counters keep register bounds ([`DistinctCounter::new`]), which make an insert
    /// that changes no register cheap at twice the register memory; else they are
    /// [`DistinctCounter::compact`].
    bounded: bool,
    buckets: usize,
    /// Per bucket, way `w` in bits `8 w .. 8 w + 8`: the key's [`tag`], or 0 when the way is
    /// free.
    tags: Vec<u64>,
    /// Per way: packets of the tracked key (count at admission plus hits since).
    counts: Vec<u64>,
    /// Per bucket: at most the smallest count of its ways (refreshed when a candidate passes it).
    floors: Vec<u64>,
    entries: Vec<Option<Entry<K>>>,
}

impl<K: Eq + Clone> KeyedDistinct<K> {
    /// A table tracking up to `capacity` keys (rounded up to whole buckets of [`WAYS`], at
    /// least one), each with a counter of `2^lg_k` registers.
    pub fn new(capacity: usize, lg_k: u8) -> Self {
        let buckets = capacity.div_ceil(WAYS).max(1);
        let ways = buckets * WAYS;
        Self {
            lg_k,
            bounded: false,
            buckets,
            tags: vec![0; buckets],
            counts: vec![0; ways],
            floors: vec![0; buckets],
            entries: vec![None; ways],
        }
    }

    /// This table with counters that keep register bounds: twice the memory of a counter
    /// with registers (`2^(lg_k + 1)` bytes), for keys that take many more values than there
    /// are registers, where most inserts change no register and then cost a load and a compare.
    pub fn bounded(mut self) -> Self {
        self.bounded = true;
        self
    }

    /// Keys the table can track at once.
    pub fn capacity(&self) -> usize {
        self.buckets * WAYS
    }

    /// Keys tracked now.
    pub fn len(&self) -> usize {
        self.tags
            .iter()
            .map(|&tags| taken_lanes(tags).count_ones() as usize)
            .sum()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.tags.iter().all(|&tags| tags == 0)
    }

    /// Counts `value` as a peer of `key` (hashed by the caller to `hash`; the same key must
    /// always come with the same hash) in `packets` packets. When `key` is not tracked, `count`
    /// is asked for the key's count (these packets included) to decide its admission, as the
    /// module explains.
    #[inline(always)]
    pub fn insert(
        &mut self,
        key: &K,
        hash: u64,
        value: Coupon,
        packets: u64,
        count: impl FnOnce() -> u64,
    ) {
        if let Some(counter) = self.track(key, hash, packets, count) {
            counter.insert_coupon(value);
        }
    }

    /// [`insert`](Self::insert) of each of `values` in turn, `packets` going with the first:
    /// the key is looked up once for them all (after its first value the key is tracked, or
    /// its count did not win it a way, and the same count would not win one for the others).
    #[inline]
    pub fn insert_all(
        &mut self,
        key: &K,
        hash: u64,
        values: impl IntoIterator<Item = Coupon>,
        packets: u64,
        count: impl FnOnce() -> u64,
    ) {
        let mut values = values.into_iter().peekable();
        if values.peek().is_none() {
            return;
        }
        if let Some(counter) = self.track(key, hash, packets, count) {
            for value in values {
                counter.insert_coupon(value);
            }
        }
    }

    /// The counter of `key` with `packets` more packets: found, or admitted empty if `count`
    /// wins it a way; `None` when it does not.
    #[inline(always)]
    fn track(
        &mut self,
        key: &K,
        hash: u64,
        packets: u64,
        count: impl FnOnce() -> u64,
    ) -> Option<&mut DistinctCounter> {
        let bucket = self.bucket(hash);
        let first = bucket * WAYS;
        if let Some(way) = self.find(bucket, key, hash) {
            self.counts[way] = self.counts[way].saturating_add(packets);
            return self.entries[way].as_mut().map(|entry| &mut entry.counter);
        }
        // Ways fill from the first and are only freed all at once: the first free one ends
        // the taken ones (`WAYS` when none is free).
        let free = !taken_lanes(self.tags[bucket]) & LANE_HIGH_BITS;
        let taken = free.trailing_zeros() as usize / 8;
        let last = first + WAYS - 1;
        let (way, count) = if taken < WAYS {
            (first + taken, count())
        } else {
            let count = count();
            // The floor is a lower bound of the bucket's lightest count (counts only grow
            // between scans), so most hopeless candidates are turned away without a scan.
            if count < self.floors[bucket].saturating_mul(REPLACE_RATIO) {
                return None;
            }
            let (offset, lightest) = lightest(&self.counts[first..=last]);
            self.floors[bucket] = lightest;
            if count < lightest.saturating_mul(REPLACE_RATIO) {
                return None;
            }
            (first + offset, count)
        };
        let counter = if self.bounded {
            DistinctCounter::new(self.lg_k)
        } else {
            DistinctCounter::compact(self.lg_k)
        };
        let lane = 8 * (way - first);
        self.tags[bucket] = self.tags[bucket] & !(0xff << lane) | u64::from(tag(hash)) << lane;
        self.counts[way] = count.max(1);
        let entry = self.entries[way].insert(Entry {
            key: key.clone(),
            counter,
        });
        Some(&mut entry.counter)
    }

    /// The estimated number of distinct peers of `key`, or `None` when it is not tracked.
    pub fn estimate(&self, key: &K, hash: u64) -> Option<f64> {
        self.counter(key, hash).map(DistinctCounter::estimate)
    }

    /// The counter of `key`'s distinct peers, or `None` when it is not tracked.
    pub fn counter(&self, key: &K, hash: u64) -> Option<&DistinctCounter> {
        let way = self.find(self.bucket(hash), key, hash)?;
        self.entries[way].as_ref().map(|entry| &entry.counter)
    }

    /// Forgets every key and releases their counters.
    pub fn clear(&mut self) {
        self.tags.fill(0);
        self.counts.fill(0);
        self.floors.fill(0);
        self.entries.fill(None);
    }

    /// Bytes held now: the table and every tracked key's counter.
    pub fn memory_bytes(&self) -> usize {
        let table = size_of::<Self>()
            + self.buckets * 2 * size_of::<u64>()
            + self.capacity() * (size_of::<u64>() + size_of::<Option<Entry<K>>>());
        let counters: usize = self
            .entries
            .iter()
            .flatten()
            .map(|entry| entry.counter.memory_bytes() - size_of::<DistinctCounter>())
            .sum();
        table + counters
    }

    /// The bucket of `hash`. The high half of the hash picks the bucket and the low bits the
    /// tag, so that keys sharing a bucket rarely share a tag.
    #[inline]
    fn bucket(&self, hash: u64) -> usize {
        let high = hash >> 32;
        // Lemire's multiply-shift maps `high` onto `0..buckets` without a division.
        ((high * self.buckets as u64) >> 32) as usize
    }

    /// The way of `bucket` tracking `key` (of hash `hash`).
    #[inline]
    fn find(&self, bucket: usize, key: &K, hash: u64) -> Option<usize> {
        let tags = *self.tags.get(bucket)?;
        // The lanes equal to the key's tag are the lanes of zeros in the difference.
        let mut matches = !taken_lanes(tags ^ (LANE_LOW_BITS * u64::from(tag(hash))));
        matches &= LANE_HIGH_BITS;
        while matches != 0 {
            let way = bucket * WAYS + matches.trailing_zeros() as usize / 8;
            if self
                .entries
                .get(way)
                .and_then(Option::as_ref)
                .is_some_and(|entry| entry.key == *key)
            {
                return Some(way);
            }
            matches &= matches - 1;
        }
        None
    }
}

/// The tag of a key of hash `hash`: its low byte, 1 for 0, which marks a free way. A key's tag
/// matches another key's in one way of 255.
#[inline]
fn tag(hash: u64) -> u8 {
    (hash as u8).max(1)
}

/// The highest bit of every lane of `tags` that is not 0 (exact: no carry crosses a lane).
#[inline]
fn taken_lanes(tags: u64) -> u64 {
    (((tags & LANE_LOW_7_BITS) + LANE_LOW_7_BITS) | tags) & LANE_HIGH_BITS
}

/// The most bytes a [`KeyedDistinct`] of `capacity` keys of type `K` can hold: the table, and
/// every counter grown to its `2^lg_k` one-byte registers (a counter's coupon list or set
/// never exceeds half of that).
pub fn max_memory_bytes<K>(capacity: usize, lg_k: u8) -> usize {
    let ways = capacity.div_ceil(WAYS).max(1) * WAYS;
    let per_way = size_of::<u64>() + size_of::<Option<Entry<K>>>() + (1 << lg_k);
    size_of::<KeyedDistinct<K>>() + ways / WAYS * 2 * size_of::<u64>() + ways * per_way
}

/// The way with the smallest count and that count (the first of equals). A plain loop: the
/// iterator form keeps its running minimum on the stack, and in a profile of distinct
/// counting alone it took a third of the time.
#[inline]
fn lightest(counts: &[u64]) -> (usize, u64) {
    let mut best = (0, u64::MAX);
    for (way, &count) in counts.iter().enumerate() {
        if count < best.1 {
            best = (way, count);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sketch::hll::coupon_of_bytes;

    fn coupon(value: u64) -> Coupon {
        coupon_of_bytes(&value.to_be_bytes())
    }

    /// The estimate rounded: below a few hundred peers the counter keeps coupons and is exact.
    fn peers<K: Eq + Clone>(table: &KeyedDistinct<K>, key: K, hash: u64) -> Option<u64> {
        table.estimate(&key, hash).map(|e| e.round() as u64)
    }

    /// A hash that puts key `k` in bucket `k % buckets` of a table of `buckets` buckets.
    fn hash_in_bucket(k: u64, buckets: u64) -> u64 {
        let bucket = k % buckets;
        // Inverse of `bucket()`: the high half just above bucket * 2^32 / buckets.
        let high = (bucket << 32).div_ceil(buckets) + (k / buckets) % 1000;
        high << 32 | k
    }

    #[test]
    fn inserting_all_at_once_is_inserting_each_in_turn() {
        let mut one_by_one = KeyedDistinct::<u64>::new(8, 12);
        let mut at_once = KeyedDistinct::<u64>::new(8, 12);
        // Keys 0..40 in one bucket of 8 ways, with counts that win and lose ways.
        for round in 0..50u64 {
            for key in 0..40u64 {
                let hash = hash_in_bucket(key, 1);
                let count = 1 + key * round % 7;
                let values: Vec<Coupon> =
                    (0..5).map(|v| coupon(key * 1000 + round * 5 + v)).collect();
                let mut packets = 3;
                for &value in &values {
                    one_by_one.insert(&key, hash, value, packets, || count);
                    packets = 0;
                }
                at_once.insert_all(&key, hash, values, 3, || count);
            }
        }
        for key in 0..40u64 {
            let hash = hash_in_bucket(key, 1);
            assert_eq!(
                peers(&one_by_one, key, hash),
                peers(&at_once, key, hash),
                "{key}"
            );
        }
        assert_eq!(one_by_one.len(), at_once.len());
    }

    #[test]
    fn tracked_keys_count_their_distinct_peers() {
        let mut table = KeyedDistinct::<u32>::new(16, 12);
        for peer in 0..5_000u64 {
            for _ in 0..2 {
                table.insert(&7, 0xdead_beef_0000_0007, coupon(peer), 1, || 1);
            }
            table.insert(&9, 0x1234_0000_0000_0009, coupon(peer % 10), 1, || 1);
        }
        let seven = table.estimate(&7, 0xdead_beef_0000_0007).unwrap();
        assert!((seven - 5_000.0).abs() < 5_000.0 * 0.05, "{seven}");
        assert_eq!(peers(&table, 9, 0x1234_0000_0000_0009), Some(10));
        assert_eq!(table.estimate(&8, 0x1234_0000_0000_0009), None);
        assert_eq!(table.len(), 2);
        table.clear();
        assert!(table.is_empty());
        assert_eq!(table.estimate(&7, 0xdead_beef_0000_0007), None);
    }

    #[test]
    fn keys_sharing_a_hash_are_told_apart() {
        let mut table = KeyedDistinct::<u32>::new(8, 12);
        table.insert(&1, 42, coupon(1), 1, || 1);
        table.insert(&2, 42, coupon(2), 1, || 1);
        table.insert(&2, 42, coupon(3), 1, || 1);
        assert_eq!(peers(&table, 1, 42), Some(1));
        assert_eq!(peers(&table, 2, 42), Some(2));
    }

    #[test]
    fn a_full_bucket_admits_only_a_key_twice_as_heavy_as_its_lightest() {
        let buckets = 4;
        let mut table = KeyedDistinct::<u64>::new(WAYS * buckets as usize, 12);
        // Fill bucket 0 with keys 0, 4, 8, ...: key 0 sends 3 packets, the others 10 each.
        let residents: Vec<u64> = (0..WAYS as u64).map(|i| i * buckets).collect();
        for &key in &residents {
            let packets = if key == 0 { 3 } else { 10 };
            for p in 0..packets {
                table.insert(&key, hash_in_bucket(key, buckets), coupon(p), 1, || 1);
            }
        }
        let newcomer = WAYS as u64 * buckets;
        let hash = hash_in_bucket(newcomer, buckets);
        // Count 5 < 2 * 3: refused, and nothing is evicted.
        table.insert(&newcomer, hash, coupon(100), 1, || 5);
        assert_eq!(table.estimate(&newcomer, hash), None);
        assert_eq!(table.len(), WAYS);
        // Count 6 = 2 * 3: replaces key 0, the lightest, and counts from here on.
        table.insert(&newcomer, hash, coupon(101), 1, || 6);
        table.insert(&newcomer, hash, coupon(102), 1, || unreachable!("tracked"));
        assert_eq!(peers(&table, newcomer, hash), Some(2));
        assert_eq!(table.estimate(&0, hash_in_bucket(0, buckets)), None);
        for &key in &residents[1..] {
            assert_eq!(peers(&table, key, hash_in_bucket(key, buckets)), Some(10));
        }
        // Another bucket is unaffected and still has room.
        table.insert(&1, hash_in_bucket(1, buckets), coupon(0), 1, || 1);
        assert_eq!(peers(&table, 1, hash_in_bucket(1, buckets)), Some(1));
    }

    #[test]
    fn a_tracked_key_counts_the_packets_of_each_insert() {
        let buckets = 4;
        let mut table = KeyedDistinct::<u64>::new(WAYS * buckets as usize, 12);
        // Bucket 0 fills with key 0 admitted at 3 packets, the others at 10.
        for i in 0..WAYS as u64 {
            let key = i * buckets;
            let packets = if key == 0 { 3 } else { 10 };
            table.insert(
                &key,
                hash_in_bucket(key, buckets),
                coupon(key),
                packets,
                || packets,
            );
        }
        // Ten more packets of key 0 in one insert make it 13, no longer the lightest.
        let hash = hash_in_bucket(0, buckets);
        table.insert(&0, hash, coupon(1), 10, || unreachable!("tracked"));
        let newcomer = WAYS as u64 * buckets;
        let newcomer_hash = hash_in_bucket(newcomer, buckets);
        table.insert(&newcomer, newcomer_hash, coupon(2), 20, || 20);
        assert_eq!(peers(&table, newcomer, newcomer_hash), Some(1));
        assert_eq!(
            peers(&table, 0, hash),
            Some(2),
            "a key of 10 made way, not key 0"
        );
    }

    #[test]
    fn the_count_is_asked_only_for_untracked_keys() {
        let mut table = KeyedDistinct::<u32>::new(8, 12);
        let mut asked = 0;
        for peer in 0..100 {
            table.insert(&5, 99, coupon(peer), 1, || {
                asked += 1;
                1
            });
        }
        assert_eq!(asked, 1);
    }

    use proptest::prelude::{any, Just};

    proptest::proptest! {
        /// The lane arithmetic finds exactly the lanes a lane-by-lane comparison finds, whatever
        /// the lanes hold (high bits set, zeros, the halves of the word).
        #[test]
        fn lanes_are_compared_exactly(
            lanes in proptest::array::uniform8(proptest::prop_oneof![
                Just(0u8), Just(1), Just(0x81), Just(0xff), any::<u8>()
            ]),
            probe in proptest::prop_oneof![Just(1u8), Just(0x81), Just(0xff), 1u8..],
        ) {
            let word = lanes
                .iter()
                .enumerate()
                .fold(0u64, |word, (i, &lane)| word | u64::from(lane) << (8 * i));
            let taken: Vec<bool> = (0..WAYS).map(|i| taken_lanes(word) >> (8 * i + 7) & 1 == 1).collect();
            let equal = !taken_lanes(word ^ (LANE_LOW_BITS * u64::from(probe))) & LANE_HIGH_BITS;
            let equal: Vec<bool> = (0..WAYS).map(|i| equal >> (8 * i + 7) & 1 == 1).collect();
            for (i, &lane) in lanes.iter().enumerate() {
                proptest::prop_assert_eq!(taken[i], lane != 0);
                proptest::prop_assert_eq!(equal[i], lane == probe);
            }
        }
    }

    #[test]
    fn memory_is_bounded_by_the_documented_maximum() {
        let capacity = 64;
        let lg_k = 10;
        let mut table = KeyedDistinct::<u64>::new(capacity, lg_k);
        let empty = table.memory_bytes();
        let bound = max_memory_bytes::<u64>(capacity, lg_k);
        // Far more keys than ways, each with far more peers than registers: every way ends up
        // with a full counter.
        for key in 0..1_000u64 {
            let hash = key.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            for peer in 0..5_000 {
                table.insert(&key, hash, coupon(key << 32 | peer), 1, || 5_000);
            }
        }
        let full = table.memory_bytes();
        assert!(empty < full && full <= bound, "{empty} < {full} <= {bound}");
        assert_eq!(table.len(), capacity);
        assert!(full > capacity << lg_k, "{full}");
        assert!(bound < (capacity << lg_k) + capacity * 256, "{bound}");
    }
}
