//! Heavy hitters of one view (flows, sources or destinations), by packets and by bytes: two
//! Cuckoo Heavy Keeper sketches fed one hash, or exact counts in a hash map (`--exact`), and
//! their top lists. Knows nothing of intervals, threads or reports.

use super::config::MonitorConfig;
use super::hash::{flow_view_hash, ViewKey, EXACT_HASH_SEEDS};
use crate::decode::FlowKey;
use crate::report::largest;
use crate::sketch::chk::CuckooHeavyKeeper;
use std::collections::HashMap;

/// Heavy hitters of one view (flows, sources or destinations), by packets and by bytes.
pub(super) enum HeavyHitters<K> {
    /// Each sketch keeps the other figure as its entries' companion.
    Sketched {
        packets: CuckooHeavyKeeper<K, u64>,
        bytes: CuckooHeavyKeeper<K, u64>,
    },
    Exact {
        counts: HashMap<K, (u64, u64), ahash::RandomState>,
        /// The key hash of [`HeavyHitters::hash`]: seeded, unlike the map's, so that
        /// tracked-key placement (and with it every report) is the same on every run.
        hasher: ahash::RandomState,
    },
}

impl<K: ViewKey> HeavyHitters<K> {
    pub(super) fn new(config: &MonitorConfig) -> Self {
        if config.exact {
            let [a, b, c, d] = EXACT_HASH_SEEDS;
            HeavyHitters::Exact {
                counts: HashMap::default(),
                hasher: ahash::RandomState::with_seeds(a, b, c, d),
            }
        } else {
            // Both fed the key's view hash, so one hash serves both sketches.
            HeavyHitters::Sketched {
                packets: CuckooHeavyKeeper::with_memory(config.sketch_bytes),
                bytes: CuckooHeavyKeeper::with_memory(config.sketch_bytes),
            }
        }
    }

    /// Counts `packets` packets of `bytes` bytes in all for `key`, of [`hash`](Self::hash)
    /// `hash`; returns the key's packet count with them (estimated when sketched: the packets
    /// sketch's count after the insert), what a fan table needs to consider admitting the key.
    #[inline(always)]
    pub(super) fn add(&mut self, key: &K, hash: u64, packets: u64, bytes: u64) -> u64 {
        match self {
            HeavyHitters::Sketched {
                packets: packet_sketch,
                bytes: byte_sketch,
            } => {
                // Each keeps the other figure beside its count, so that whichever ranks a key
                // also knows the key's other count.
                let count = packet_sketch.add_hashed_with(key, hash, packets, bytes);
                byte_sketch.add_hashed_with(key, hash, bytes, packets);
                count
            }
            HeavyHitters::Exact { counts, .. } => {
                let entry = counts.entry(key.clone()).or_default();
                entry.0 += packets;
                entry.1 += bytes;
                entry.0
            }
        }
    }

    /// The packet count of `key` (of [`hash`](Self::hash) `hash`) so far: estimated when
    /// sketched, 0 for a key not held.
    pub(super) fn packets(&self, key: &K, hash: u64) -> u64 {
        match self {
            HeavyHitters::Sketched { packets, .. } => packets.count_hashed(key, hash),
            HeavyHitters::Exact { counts, .. } => counts.get(key).map_or(0, |c| c.0),
        }
    }

    /// Reads what [`add`](Self::add) of a key of hash `hash` reads first and returns a word of
    /// it (see [`CuckooHeavyKeeper::prefetch`]).
    #[inline]
    pub(super) fn prefetch(&self, hash: u64) -> u16 {
        match self {
            HeavyHitters::Sketched { packets, bytes } => {
                packets.prefetch(hash) ^ bytes.prefetch(hash)
            }
            HeavyHitters::Exact { .. } => 0,
        }
    }

    /// The hash of `key` that [`add`](Self::add) and the fan tables take.
    pub(super) fn hash(&self, key: &K) -> u64 {
        match self {
            HeavyHitters::Sketched { .. } => key.view_hash(),
            HeavyHitters::Exact { hasher, .. } => hasher.hash_one(key),
        }
    }

    /// The top `n` keys with (packets, bytes), ranked by packets or by bytes; ties broken by
    /// key so that reports are stable. Sketched, the figure not ranked is the ranking sketch's
    /// companion count: a lower bound, counted since the key entered its heavy part.
    pub(super) fn top(&self, n: usize, by_bytes: bool) -> Vec<(K, u64, u64)> {
        self.top_where(n, by_bytes, |_| true)
    }

    /// [`top`](Self::top) of the keys that `keep` keeps (one length of a prefix view).
    pub(super) fn top_where(
        &self,
        n: usize,
        by_bytes: bool,
        keep: impl Fn(&K) -> bool,
    ) -> Vec<(K, u64, u64)> {
        match self {
            HeavyHitters::Sketched { packets, bytes } => {
                let ranked = if by_bytes { bytes } else { packets };
                let kept = ranked
                    .entries_with_companion()
                    .filter(|(key, _, _)| keep(key));
                largest(kept, n, |&(key, count, _)| (count, key))
                    .into_iter()
                    .map(|(key, count, companion)| {
                        if by_bytes {
                            (key.clone(), companion, count)
                        } else {
                            (key.clone(), count, companion)
                        }
                    })
                    .collect()
            }
            HeavyHitters::Exact { counts, .. } => {
                let kept = counts
                    .iter()
                    .filter(|(key, _)| keep(key))
                    .map(|(key, &(packets, bytes))| (key, packets, bytes));
                largest(kept, n, |&(key, packets, bytes)| {
                    (if by_bytes { bytes } else { packets }, key)
                })
                .into_iter()
                .map(|(key, packets, bytes)| (key.clone(), packets, bytes))
                .collect()
            }
        }
    }

    pub(super) fn clear(&mut self) {
        match self {
            HeavyHitters::Sketched { packets, bytes } => {
                packets.clear();
                bytes.clear();
            }
            HeavyHitters::Exact { counts, .. } => counts.clear(),
        }
    }
}

impl HeavyHitters<FlowKey> {
    /// [`hash`](Self::hash) of `key`, given the hashes of its addresses by address views of
    /// the same mode (which sketched views fold into it instead of hashing them again).
    #[inline]
    pub(super) fn flow_hash(&self, key: &FlowKey, src_hash: u64, dst_hash: u64) -> u64 {
        match self {
            HeavyHitters::Sketched { .. } => flow_view_hash(key, src_hash, dst_hash),
            HeavyHitters::Exact { hasher, .. } => hasher.hash_one(key),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::testing::{small_config as config, tcp};
    use std::net::IpAddr;

    fn between(src: u32, dst: u32) -> FlowKey {
        tcp(src, dst, 1234)
    }

    #[test]
    fn a_flow_hash_from_its_address_hashes_is_the_flow_hash() {
        for exact in [false, true] {
            let config = config(exact);
            let flows = HeavyHitters::<FlowKey>::new(&config);
            let addresses = HeavyHitters::<IpAddr>::new(&config);
            for key in [
                between(1, 2),
                FlowKey {
                    dst: "2001:db8::1".parse().unwrap(),
                    ..between(3, 4)
                },
            ] {
                let (src, dst) = (addresses.hash(&key.src), addresses.hash(&key.dst));
                assert_eq!(flows.flow_hash(&key, src, dst), flows.hash(&key), "{exact}");
            }
        }
    }
}
