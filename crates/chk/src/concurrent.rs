//! Many producers and readers over one set of heavy hitters, after the paper's mCHK-I: every
//! key has one *owner* shard (`hash(key) mod T`), a private [`CompactHeavyKeeper`] behind a
//! mutex. A producer sums its inserts per owner in small local buffers (16 distinct keys each)
//! and hands a full buffer to its owner in one lock, as weighted inserts; readers lock one shard
//! at a time (a point query locks only the key's owner, a top list merges the shards' lists,
//! which are disjoint since a key lives in one shard only). The sketch needs no merge.
//!
//! Where this departs from the paper: there are no owner threads (a library should not start
//! threads), so the producer that fills a buffer applies it itself under the owner's lock;
//! and inserts still sitting in a producer's buffers are not seen by readers until the
//! producer flushes them ([`Producer::flush`], or drop). mCHK-Q (a shared map of heavy hitters
//! for lock-free queries) is not implemented.
//!
//! Knows nothing of packets or I/O; it starts no thread.

use crate::{CompactHeavyKeeper, DEFAULT_SEED};
use ahash::RandomState;
use std::hash::Hash;
use std::mem::size_of;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Distinct keys a producer buffers per owner before handing them over.
pub const BUFFER_KEYS: usize = 16;

/// A [`CompactHeavyKeeper`] split over `T` owner shards that many threads feed and read at
/// once (share it by reference or in an `Arc`).
///
/// ```
/// use cuckoo_heavy_keeper::ConcurrentHeavyKeeper;
///
/// let sketch = ConcurrentHeavyKeeper::<u64>::with_memory(64 * 1024, 4);
/// std::thread::scope(|s| {
///     for _ in 0..4 {
///         let sketch = &sketch;
///         s.spawn(move || {
///             let mut producer = sketch.producer();
///             for i in 0..10_000u64 {
///                 producer.add(&(i % 10), 1);
///             }
///         }); // the producer flushes its buffers when dropped
///     }
/// });
/// assert_eq!(sketch.total(), 40_000);
/// assert_eq!(sketch.count(&3), 4_000);
/// assert_eq!(sketch.top(10).len(), 10);
/// ```
#[derive(Debug)]
pub struct ConcurrentHeavyKeeper<K> {
    shards: Box<[Mutex<CompactHeavyKeeper<K>>]>,
    /// Picks a key's owner; seeded apart from the shards' own hashing.
    router: RandomState,
}

impl<K: Hash + Eq + Clone> ConcurrentHeavyKeeper<K> {
    /// A sketch of `shards` owners (at least 1) sharing `bytes` of memory (each shard a
    /// [`CompactHeavyKeeper::with_memory`] of an equal share).
    pub fn with_memory(bytes: usize, shards: usize) -> Self {
        Self::with_memory_and_seed(bytes, shards, DEFAULT_SEED)
    }

    /// Like [`with_memory`](Self::with_memory), seeded.
    pub fn with_memory_and_seed(bytes: usize, shards: usize, seed: u64) -> Self {
        let shards = shards.max(1);
        let share = bytes.saturating_sub(size_of::<Self>()) / shards;
        let each = share.saturating_sub(size_of::<Mutex<CompactHeavyKeeper<K>>>())
            + size_of::<CompactHeavyKeeper<K>>();
        Self {
            shards: (0..shards as u64)
                .map(|i| {
                    Mutex::new(CompactHeavyKeeper::with_memory_and_seed(
                        each,
                        seed.wrapping_add(i),
                    ))
                })
                .collect(),
            router: RandomState::with_seeds(seed, !seed, seed.rotate_left(17), 0x6368_6b5f),
        }
    }

    /// How many owner shards the sketch has.
    pub fn shards(&self) -> usize {
        self.shards.len()
    }

    fn owner(&self, key: &K) -> usize {
        // The high bits of the hash: the shards' buckets use other bits of their own hash.
        ((u128::from(self.router.hash_one(key)) * self.shards.len() as u128) >> 64) as usize
    }

    fn lock(&self, shard: usize) -> MutexGuard<'_, CompactHeavyKeeper<K>> {
        // A panic in another thread mid-insert leaves a sketch that is still consistent
        // enough to read and count (every insert keeps the tables well formed).
        self.shards[shard]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// A handle for one producer thread, with its own buffers.
    pub fn producer(&self) -> Producer<'_, K> {
        Producer {
            sketch: self,
            buffers: (0..self.shards.len())
                .map(|_| Vec::with_capacity(BUFFER_KEYS))
                .collect(),
        }
    }

    /// Adds `weight` to `key` at once, under its owner's lock (no buffering): for a thread
    /// that inserts rarely.
    pub fn add(&self, key: &K, weight: u64) {
        self.lock(self.owner(key)).add(key, weight);
    }

    /// The estimated count of `key` by its owner (what producers have flushed).
    pub fn count(&self, key: &K) -> u64 {
        self.lock(self.owner(key)).count(key)
    }

    /// Whether `key` is reported by its owner.
    pub fn contains(&self, key: &K) -> bool {
        self.lock(self.owner(key)).contains(key)
    }

    /// The sum of all weights flushed so far.
    pub fn total(&self) -> u64 {
        (0..self.shards.len()).map(|s| self.lock(s).total()).sum()
    }

    /// Every reported item with its estimate, largest first: the shards' lists merged (each
    /// shard locked in turn, so the list is not one instant's picture).
    pub fn list(&self) -> Vec<(K, u64)> {
        let mut items: Vec<(K, u64)> = (0..self.shards.len())
            .flat_map(|s| self.lock(s).list())
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

    /// The reported items whose estimate is at least `phi` of the total, largest first.
    pub fn heavy_hitters(&self) -> Vec<(K, u64)> {
        let phi = self.lock(0).phi();
        let threshold = phi * self.total() as f64;
        let mut items = self.list();
        items.retain(|&(_, count)| count as f64 >= threshold);
        items
    }

    /// Bytes the shards and this struct hold (producers' buffers are the producers').
    pub fn memory_bytes(&self) -> usize {
        size_of::<Self>()
            + (0..self.shards.len())
                .map(|s| {
                    size_of::<Mutex<CompactHeavyKeeper<K>>>() - size_of::<CompactHeavyKeeper<K>>()
                        + self.lock(s).memory_bytes()
                })
                .sum::<usize>()
    }

    /// Forgets everything flushed so far.
    pub fn clear(&self) {
        for s in 0..self.shards.len() {
            self.lock(s).clear();
        }
    }
}

/// One producer's view of a [`ConcurrentHeavyKeeper`]: inserts are summed per owner and handed
/// over 16 distinct keys at a time. Dropping it flushes what is left.
#[derive(Debug)]
pub struct Producer<'a, K: Hash + Eq + Clone> {
    sketch: &'a ConcurrentHeavyKeeper<K>,
    /// Per owner: distinct keys and their summed weights.
    buffers: Vec<Vec<(K, u64)>>,
}

impl<K: Hash + Eq + Clone> Producer<'_, K> {
    /// Adds `weight` to `key`: to its owner's buffer, which is handed over when it holds
    /// [`BUFFER_KEYS`] distinct keys and another arrives.
    pub fn add(&mut self, key: &K, weight: u64) {
        let owner = self.sketch.owner(key);
        let buffer = &mut self.buffers[owner];
        if let Some(entry) = buffer.iter_mut().find(|(k, _)| k == key) {
            entry.1 = entry.1.saturating_add(weight);
            return;
        }
        if buffer.len() == BUFFER_KEYS {
            self.flush_owner(owner);
        }
        self.buffers[owner].push((key.clone(), weight));
    }

    /// Hands every buffered insert to its owner, so that readers see them.
    pub fn flush(&mut self) {
        for owner in 0..self.buffers.len() {
            self.flush_owner(owner);
        }
    }

    fn flush_owner(&mut self, owner: usize) {
        let buffer = &mut self.buffers[owner];
        if buffer.is_empty() {
            return;
        }
        let mut sketch = self.sketch.lock(owner);
        for (key, weight) in buffer.drain(..) {
            sketch.add(&key, weight);
        }
    }
}

impl<K: Hash + Eq + Clone> Drop for Producer<'_, K> {
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn stream(seed: u64, len: usize) -> Vec<u64> {
        // A skewed stream from xorshift: the cube of a uniform draw favours small keys.
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let u = (x >> 11) as f64 / (1u64 << 53) as f64;
                (u * u * u * 5000.0) as u64
            })
            .collect()
    }

    #[test]
    fn producers_on_many_threads_agree_with_exact_counts() {
        let sketch = ConcurrentHeavyKeeper::<u64>::with_memory(64 * 1024, 4);
        let streams: Vec<Vec<u64>> = (1..=4).map(|t| stream(t, 200_000)).collect();
        std::thread::scope(|s| {
            for part in &streams {
                let sketch = &sketch;
                s.spawn(move || {
                    let mut producer = sketch.producer();
                    for key in part {
                        producer.add(key, 1);
                    }
                });
            }
            // A reader running alongside the producers.
            s.spawn(|| {
                for _ in 0..50 {
                    let top = sketch.top(5);
                    assert!(top.windows(2).all(|w| w[0].1 >= w[1].1));
                }
            });
        });
        let mut exact: HashMap<u64, u64> = HashMap::new();
        for key in streams.iter().flatten() {
            *exact.entry(*key).or_default() += 1;
        }
        assert_eq!(sketch.total(), 800_000);
        let mut truth: Vec<(u64, u64)> = exact.into_iter().collect();
        truth.sort_by_key(|&(k, c)| (std::cmp::Reverse(c), k));
        let top: Vec<u64> = sketch.top(20).into_iter().map(|(k, _)| k).collect();
        for (key, count) in &truth[..10] {
            assert!(top.contains(key), "key {key} ({count}) not in the top 20");
            let estimate = sketch.count(key);
            assert!(
                estimate.abs_diff(*count) * 100 <= *count,
                "key {key}: {estimate} vs {count}"
            );
        }
        assert!(sketch.memory_bytes() <= 64 * 1024);
    }

    #[test]
    fn buffered_inserts_show_after_a_flush_and_keys_stay_with_one_owner() {
        let sketch = ConcurrentHeavyKeeper::<&str>::with_memory(16 * 1024, 3);
        let mut producer = sketch.producer();
        producer.add(&"a", 5);
        producer.add(&"a", 2);
        assert_eq!(sketch.count(&"a"), 0, "still buffered");
        producer.flush();
        assert_eq!(sketch.count(&"a"), 7);
        sketch.add(&"a", 1);
        assert_eq!(sketch.count(&"a"), 8);
        assert_eq!(sketch.list(), vec![("a", 8)]);
        sketch.clear();
        assert_eq!(sketch.total(), 0);
        assert!(!sketch.contains(&"a"));
    }
}
