//! The prefix views of one view set: the heavy source and destination prefixes at the
//! configured lengths, by packets and by bytes, with the distinct addresses of each heavy
//! prefix. What carpet bombing (a flood spread over every address of a /24) and botnet subnets
//! (thousands of quiet sources in a few /24s) leave in the traffic, where no single address is
//! heavy. Knows nothing of threads, intervals or packets.
//!
//! Layout: one pair of sketches (packets, bytes) per direction holds the prefixes of every
//! length, keyed by [`Prefix`] (which includes its length), rather than one pair per length.
//! A flow chunk updates as many keys either way (one per length), but the shared pair is a
//! third of the memory and of the cache footprint of three pairs, and a sketch sized for
//! thousands of addresses has room to spare for the few hundred /8s, the /16s and the busy /24s
//! of an interval. Top lists are drawn per length from it. Distinct addresses: a
//! [`KeyedDistinct`] per direction keyed by prefix, fed the address's HLL coupon (computed once
//! per address for the interval's distinct count), as fan-in is fed the peer's; it tracks as
//! many prefixes as a fan table tracks addresses (`tracked_keys(top)`: 256 per direction with
//! the defaults, for every length). Its counters have a quarter of the registers of a fan
//! table's (`lg_k` 12 with the defaults: 1.3% standard error, exact up to a few hundred
//! addresses) and keep register bounds, because a /8 or /16 takes thousands of addresses an
//! interval and a bound turns away most of them with a load and a compare; about 2.1 MB per
//! direction once every tracked prefix has over 400 addresses. Their memory is what the
//! prefix views cost the replay beyond their instructions: each coupon touches a random line
//! of it, which pushes the address sketches out of a core's L2 cache (lg_k 13 had 19% more
//! cache misses over the views without prefixes; docs/BENCHMARKS.md, "Prefix views").
//!
//! Cost: a flow chunk adds to a small cache per direction keyed by its address's longest
//! prefix, and the sums reach the sketches of every length in batches, with each address of a
//! /24 once an interval ([`PrefixViews::count`]): a fraction of a CHK insert per chunk rather
//! than six, plus the distinct-address work of each new address (docs/BENCHMARKS.md, "Prefix
//! views"). With workers, each prefix has its own owner (by its hash, as an address has), so
//! every prefix is counted whole on one owner and the per-owner top lists combine like the
//! address views'; the producer keeps the caches and sends what they hand on
//! ([`PrefixViews::stage`]), one update per length and batch and one per further address.

mod cache;
mod lengths;

pub(super) use cache::Handed;
pub use cache::MEMORY_BYTES as CACHE_BYTES;
pub use lengths::{PrefixLengths, PrefixLengthsError, MAX_PREFIX_LENGTHS};

use super::config::{prefix_lg_k, tracked_keys, MonitorConfig};
use super::heavy::HeavyHitters;
use super::views::rounded;
use crate::decode::FlowKey;
use crate::prefix::Prefix;
use crate::sketch::hll::Coupon;
use crate::sketch::keyed::KeyedDistinct;
use cache::PrefixCache;

/// A top-list entry of a prefix view with its distinct addresses.
pub(super) struct RankedPrefix {
    pub(super) prefix: Prefix,
    pub(super) packets: u64,
    pub(super) bytes: u64,
    /// `None` when the prefix is not tracked.
    pub(super) distinct: Option<u64>,
    /// Its sketch, in base64, when the set attaches them (`--fan-sketches`).
    pub(super) sketch: Option<String>,
}

/// The prefix views of one set.
pub(super) struct PrefixViews {
    lengths: PrefixLengths,
    /// The caches of [`count`](Self::count) and [`stage`](Self::stage), on packet threads;
    /// `None` on owner threads, which get their updates per prefix.
    cache: Option<PrefixCache>,
    sketches: PrefixSketches,
    /// Whether top-list entries carry their distinct counter (`--fan-sketches`).
    fan_sketches: bool,
}

/// The sketches of the prefix views: every length's prefixes, per direction.
pub(in crate::monitor) struct PrefixSketches {
    sources: HeavyHitters<Prefix>,
    destinations: HeavyHitters<Prefix>,
    /// Distinct sources per tracked source prefix, destinations per destination prefix;
    /// `None` when distinct counting is off.
    distinct: Option<[KeyedDistinct<Prefix>; 2]>,
}

impl PrefixViews {
    /// The prefix views of a set whose heavy-hitter sketches have `sized.sketch_bytes` each,
    /// with distinct addresses if `distinct`; `None` when no length is configured.
    pub(super) fn new(sized: &MonitorConfig, distinct: bool) -> Option<Self> {
        let lengths = sized.prefix_lengths;
        if lengths.is_empty() {
            return None;
        }
        // As many as the fan tables: the table's memory grows with `top` (a collector run with
        // a top of 100 000 must not clear a table of millions each interval).
        let tracked = tracked_keys(sized.top);
        let lg_k = prefix_lg_k(sized.hll_lg_k);
        Some(Self {
            lengths,
            cache: None,
            sketches: PrefixSketches {
                sources: HeavyHitters::new(sized),
                destinations: HeavyHitters::new(sized),
                distinct: distinct.then(|| {
                    [
                        KeyedDistinct::new(tracked, lg_k).bounded(),
                        KeyedDistinct::new(tracked, lg_k).bounded(),
                    ]
                }),
            },
            fan_sketches: sized.fan_sketches,
        })
    }

    /// These views with the caches of [`count`](Self::count), for a packet thread (whose set
    /// [`settle`](Self::settle)s them before its top lists are read, or whose producer
    /// [`stage`](Self::stage)s through them); without them, each call counts every prefix at
    /// once.
    pub(super) fn with_cache(mut self) -> Self {
        self.cache = Some(PrefixCache::new(&self.lengths));
        self
    }

    /// The hash of `prefix` that the views place it by (the same in both directions).
    #[inline]
    pub(super) fn hash(&self, prefix: &Prefix) -> u64 {
        self.sketches.hash(prefix)
    }

    /// Counts `packets` packets of `bytes` bytes of flow `key` into the prefixes of its
    /// addresses at every length; `coupons` are the source's and the destination's, when
    /// distinct counting is on (the one-thread path; owner threads get one update per prefix,
    /// [`count_source`](Self::count_source)).
    ///
    /// With the caches, a flow chunk's work here is a mask, a multiply, a compare and two
    /// additions per address: the sums wait in a two-way set-associative cache per direction
    /// keyed by the address's prefix at its family's longest length (a few hundred /24s carry
    /// most traffic, so nearly every chunk hits), with the distinct coupons seen (a repeated
    /// address costs nothing more). They go to the sketches of every length when another
    /// prefix takes the slot, when the slot holds [`cache::SLOT_COUPONS`] distinct addresses,
    /// and at [`settle`](Self::settle). Every packet still reaches every prefix (exact mode
    /// stays exact), and the shorter prefixes are derived from the longest instead of each
    /// being hashed and counted per chunk.
    #[inline]
    pub(super) fn count(
        &mut self,
        key: &FlowKey,
        packets: u64,
        bytes: u64,
        coupons: Option<(Coupon, Coupon)>,
    ) {
        let (lengths, sketches) = (&self.lengths, &mut self.sketches);
        let Some(cache) = &mut self.cache else {
            sketches.count_now(lengths, key, packets, bytes, coupons);
            return;
        };
        let (src, dst) = (coupons.map(|c| c.0), coupons.map(|c| c.1));
        cache.add(0, &key.src, packets, bytes, src, |h| {
            sketches.apply(lengths, &h)
        });
        cache.add(1, &key.dst, packets, bytes, dst, |h| {
            sketches.apply(lengths, &h)
        });
    }

    /// Adds flow `key`'s packets to the caches (which these views must have: see
    /// [`with_cache`](Self::with_cache)); `hand_on` gets what they hand on, for the sketches
    /// of every length, with the lengths and the sketches that hash prefixes: a producer sends
    /// it to the owners of its prefixes.
    #[inline]
    pub(super) fn stage(
        &mut self,
        key: &FlowKey,
        packets: u64,
        bytes: u64,
        coupons: Option<(Coupon, Coupon)>,
        mut hand_on: impl FnMut(&PrefixLengths, &PrefixSketches, Handed),
    ) {
        let (lengths, sketches) = (&self.lengths, &self.sketches);
        if let Some(cache) = &mut self.cache {
            let (src, dst) = (coupons.map(|c| c.0), coupons.map(|c| c.1));
            cache.add(0, &key.src, packets, bytes, src, |h| {
                hand_on(lengths, sketches, h)
            });
            cache.add(1, &key.dst, packets, bytes, dst, |h| {
                hand_on(lengths, sketches, h)
            });
        }
    }

    /// Empties the caches into `hand_on`, as [`stage`](Self::stage) hands on: at the end of an
    /// interval.
    pub(super) fn take_all(
        &mut self,
        mut hand_on: impl FnMut(&PrefixLengths, &PrefixSketches, Handed),
    ) {
        let (lengths, sketches) = (&self.lengths, &self.sketches);
        if let Some(cache) = &mut self.cache {
            cache.take_all(|h| hand_on(lengths, sketches, h));
        }
    }

    /// Hands every cached sum on to the sketches: before the top lists are read.
    pub(super) fn settle(&mut self) {
        let (lengths, sketches) = (&self.lengths, &mut self.sketches);
        if let Some(cache) = &mut self.cache {
            cache.take_all(|h| sketches.apply(lengths, &h));
        }
    }

    /// Counts `address` (a coupon) among the distinct addresses of `prefix` (of
    /// [`hash`](Self::hash) `hash`) of direction `side` (0 sources, 1 destinations), with no
    /// packets: a producer's further coupons of a prefix whose sums it sent just before.
    pub(super) fn count_address(
        &mut self,
        side: usize,
        prefix: &Prefix,
        hash: u64,
        address: Coupon,
    ) {
        let sketches = &mut self.sketches;
        let view = if side == 0 {
            &sketches.sources
        } else {
            &sketches.destinations
        };
        if let Some(distinct) = &mut sketches.distinct {
            distinct[side].insert(prefix, hash, address, 0, || view.packets(prefix, hash));
        }
    }

    /// Counts a prefix of direction `side` (0 sources, 1 destinations) of
    /// [`hash`](Self::hash) `hash`; `address` is the coupon of the address, for the prefix's
    /// distinct addresses.
    #[inline]
    pub(super) fn count_prefix(
        &mut self,
        side: usize,
        prefix: &Prefix,
        hash: u64,
        packets: u64,
        bytes: u64,
        address: Option<Coupon>,
    ) {
        self.sketches
            .count(side, prefix, hash, packets, bytes, address.into_iter());
    }

    /// Per direction (sources, destinations) and ranking (packets, bytes), the top `top`
    /// prefixes of every length, IPv4 lengths first, shortest first, each length ranked on
    /// its own.
    pub(super) fn top_lists(&self, top: usize) -> [[Vec<RankedPrefix>; 2]; 2] {
        let groups: Vec<(bool, u8)> = (self.lengths.ipv4().iter().map(|&l| (false, l)))
            .chain(self.lengths.ipv6().iter().map(|&l| (true, l)))
            .collect();
        let list = |view: &HeavyHitters<Prefix>, distinct: Option<&KeyedDistinct<Prefix>>| {
            [false, true].map(|by_bytes| {
                groups
                    .iter()
                    .flat_map(|&(ipv6, length)| {
                        view.top_where(top, by_bytes, |prefix| {
                            prefix.length() == length && prefix.address().is_ipv6() == ipv6
                        })
                    })
                    .map(|(prefix, packets, bytes)| {
                        let counter = distinct.and_then(|d| d.counter(&prefix, self.hash(&prefix)));
                        RankedPrefix {
                            prefix,
                            packets,
                            bytes,
                            distinct: counter.map(|c| rounded(c.estimate())),
                            sketch: counter.filter(|_| self.fan_sketches).map(|c| c.to_base64()),
                        }
                    })
                    .collect()
            })
        };
        let s = &self.sketches;
        let (sources, destinations) = match &s.distinct {
            Some([sources, destinations]) => (Some(sources), Some(destinations)),
            None => (None, None),
        };
        [
            list(&s.sources, sources),
            list(&s.destinations, destinations),
        ]
    }

    /// Empties every view, keeping its memory.
    pub(super) fn clear(&mut self) {
        if let Some(cache) = &mut self.cache {
            cache.clear();
        }
        let s = &mut self.sketches;
        s.sources.clear();
        s.destinations.clear();
        if let Some(distinct) = &mut s.distinct {
            for table in distinct {
                table.clear();
            }
        }
    }
}

impl PrefixSketches {
    /// The hash of `prefix` that the sketches place it by (the same in both directions).
    #[inline]
    pub(in crate::monitor) fn hash(&self, prefix: &Prefix) -> u64 {
        self.sources.hash(prefix)
    }

    /// Counts `packets` packets of `bytes` bytes of `prefix` (of [`hash`](Self::hash) `hash`)
    /// of direction `side` (0 sources, 1 destinations), with `addresses` (coupons) among its
    /// distinct addresses; the packets go with the first (for its admission to the table).
    #[inline]
    fn count(
        &mut self,
        side: usize,
        prefix: &Prefix,
        hash: u64,
        packets: u64,
        bytes: u64,
        addresses: impl Iterator<Item = Coupon>,
    ) {
        let view = if side == 0 {
            &mut self.sources
        } else {
            &mut self.destinations
        };
        let count = view.add(prefix, hash, packets, bytes);
        if let Some(distinct) = &mut self.distinct {
            distinct[side].insert_all(prefix, hash, addresses, packets, || count);
        }
    }

    /// Counts flow `key`'s packets into every prefix of every length at once: without a cache.
    fn count_now(
        &mut self,
        lengths: &PrefixLengths,
        key: &FlowKey,
        packets: u64,
        bytes: u64,
        coupons: Option<(Coupon, Coupon)>,
    ) {
        for (side, address, coupon) in [
            (0, &key.src, coupons.map(|c| c.0)),
            (1, &key.dst, coupons.map(|c| c.1)),
        ] {
            for &length in lengths.of(address) {
                let prefix = Prefix::of(address, length);
                let hash = self.hash(&prefix);
                self.count(side, &prefix, hash, packets, bytes, coupon.into_iter());
            }
        }
    }

    /// Counts what a cache handed on into the sketches of every length. Out of line: once per
    /// many chunks.
    #[inline(never)]
    fn apply(&mut self, lengths: &PrefixLengths, handed: &Handed) {
        // Every length's buckets are loaded before the first is updated, so that their cache
        // misses overlap: under a flood of random addresses nearly every one misses.
        let mut hashed: [Option<(Prefix, u64)>; MAX_PREFIX_LENGTHS] = [None; MAX_PREFIX_LENGTHS];
        let mut loaded = 0;
        let view = if handed.side == 0 {
            &self.sources
        } else {
            &self.destinations
        };
        for (prefix, slot) in handed.prefixes(lengths).zip(&mut hashed) {
            let hash = self.hash(&prefix);
            loaded ^= view.prefetch(hash);
            *slot = Some((prefix, hash));
        }
        std::hint::black_box(loaded);
        for (prefix, hash) in hashed.iter().flatten() {
            let (packets, bytes) = (handed.packets, handed.bytes);
            self.count(handed.side, prefix, *hash, packets, bytes, handed.coupons());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Decoded, UnparsedReason};
    use crate::monitor::testing::{small_config, tcp, Collecting};

    fn packet(src: u32, dst: u32) -> Result<Decoded, UnparsedReason> {
        Ok(Decoded {
            key: tcp(src, dst, 1234),
            transport_truncated: false,
            decap_fallback: None,
        })
    }

    const CARPET: u32 = 0xcb00_7100; // 203.0.113.0
    const SERVER: u32 = 0xc633_6407; // 198.51.100.7

    #[test]
    fn a_carpet_bombed_prefix_tops_its_length_though_no_address_of_it_is_heavy() {
        for exact in [false, true] {
            let mut monitor = Collecting::new(small_config(exact));
            // 300 packets from one client to one server; 4 packets to each address of the
            // bombed /24 from 1 024 sources of 1.2.0.0/16 (4 /24s of 256), interleaved.
            for round in 0..4u32 {
                for host in 0..256u32 {
                    let source = 0x0102_0000 | round << 8 | host;
                    monitor.observe(0, 100, packet(source, CARPET | host));
                    if host % 4 == 0 {
                        monitor.observe(0, 1000, packet(0x0a00_0001, SERVER));
                    }
                }
            }
            monitor.observe(0, 1000, packet(0x0a00_0001, SERVER));
            for _ in 0..43 {
                monitor.observe(0, 1000, packet(0x0a00_0001, SERVER));
            }
            let report = monitor.finish().unwrap();
            assert_eq!(
                report.top_destinations[0].address.to_string(),
                "198.51.100.7"
            );
            assert_eq!(report.top_destinations[0].packets, 300);
            assert!(report.top_destinations[1..].iter().all(|e| e.packets <= 4));
            let listed =
                |list: &[crate::report::PrefixEntry]| -> Vec<(String, u64, u64, Option<u64>)> {
                    list.iter()
                        .map(|e| {
                            (
                                e.prefix.to_string(),
                                e.packets,
                                e.bytes,
                                e.distinct_addresses,
                            )
                        })
                        .collect()
                };
            let destinations = listed(&report.top_destination_prefixes);
            assert_eq!(
                destinations,
                [
                    ("203.0.0.0/8".into(), 1024, 102_400, Some(256)),
                    ("198.0.0.0/8".into(), 300, 300_000, Some(1)),
                    ("203.0.0.0/16".into(), 1024, 102_400, Some(256)),
                    ("198.51.0.0/16".into(), 300, 300_000, Some(1)),
                    ("203.0.113.0/24".into(), 1024, 102_400, Some(256)),
                    ("198.51.100.0/24".into(), 300, 300_000, Some(1)),
                ],
                "{exact}"
            );
            // By bytes the server's prefixes lead; each length is ranked on its own.
            let by_bytes = listed(&report.top_destination_prefixes_by_bytes);
            assert_eq!(by_bytes[0].0, "198.0.0.0/8");
            assert_eq!(by_bytes[4], destinations[5]);
            // Sources: 1.2.0.0/16 holds 1 024 senders, four /24s of 256.
            let sources = listed(&report.top_source_prefixes);
            // 1 024 addresses: the counters' estimate, within 1%.
            for (index, name) in [(0, "1.0.0.0/8"), (2, "1.2.0.0/16")] {
                let (prefix, packets, bytes, distinct) = &sources[index];
                assert_eq!((prefix.as_str(), *packets, *bytes), (name, 1024, 102_400));
                assert!(
                    distinct.unwrap().abs_diff(1024) <= 10,
                    "{exact} {distinct:?}"
                );
            }
            let slash24: Vec<_> = sources.iter().filter(|e| e.0.ends_with("/24")).collect();
            assert_eq!(slash24.len(), 3, "top 3 of the five /24s");
            assert_eq!(*slash24[0], ("10.0.0.0/24".into(), 300, 300_000, Some(1)));
            assert_eq!(*slash24[1], ("1.2.0.0/24".into(), 256, 25_600, Some(256)));
        }
    }

    #[test]
    fn prefix_views_off_cost_nothing_and_list_nothing() {
        let mut monitor = Collecting::new(MonitorConfig {
            prefix_lengths: PrefixLengths::NONE,
            ..small_config(false)
        });
        monitor.observe(0, 100, packet(1, 2));
        let report = monitor.finish().unwrap();
        assert!(report.top_source_prefixes.is_empty());
        assert!(report.top_destination_prefixes_by_bytes.is_empty());
        assert_eq!(report.top_sources.len(), 1);
    }
}
