//! One set of views of an interval: the heavy hitters of flows, sources and destinations (each
//! by packets and by bytes), the heavy source and destination prefixes (`prefix`) and, when
//! distinct counting is on, the distinct sources and destinations and the fan-in and fan-out
//! of the heaviest addresses. The one-thread aggregator
//! counts every key into one set; with workers, each owner thread counts the keys it owns into
//! its own. Either way a set yields its top lists ([`ViewSet::top_lists`]) for the one report
//! assembly. Knows nothing of threads, intervals or packets.
//!
//! Distinct counts: every address is hashed once into an HLL coupon, which feeds the interval's
//! distinct sources or destinations and the fan-in or fan-out counter of its peer; the
//! heavy-hitter hash of an address, computed once for its two sketches, also places it in the
//! table of tracked keys ([`KeyedDistinct`]). Only the heaviest addresses have fan-in and
//! fan-out counters: at most `max(256, 8 * top)` of each kind, `lg_k` at most 14
//! ([`tracked_keys`], [`fan_lg_k`]), so at most 8.5 MB with the defaults, reached only when
//! every tracked address has over 1 500 distinct peers. `--exact` changes the heavy-hitter
//! counting only; distinct counts are HyperLogLog in both modes, so every snapshot carries
//! mergeable sketches.

use super::config::{fan_lg_k, tracked_keys, MonitorConfig};
use super::heavy::HeavyHitters;
use super::prefix::{PrefixViews, RankedPrefix};
use crate::decode::FlowKey;
use crate::prefix::Prefix;
use crate::report::Sketches;
use crate::sketch::hll::{coupon_of_bytes, Coupon, DistinctCounter};
use crate::sketch::keyed::KeyedDistinct;
use std::net::IpAddr;

/// The distinct counts of a set: addresses overall, and the peers of the heavy ones.
pub(super) struct DistinctSet {
    pub(super) sources: DistinctCounter,
    pub(super) destinations: DistinctCounter,
    /// Per tracked destination, its distinct sources.
    fan_in: KeyedDistinct<IpAddr>,
    /// Per tracked source, its distinct destinations.
    fan_out: KeyedDistinct<IpAddr>,
    /// Whether listed addresses carry their fan counter's sketch.
    fan_sketches: bool,
}

impl DistinctSet {
    /// Counts `packets` packets of source `address` (of heavy-hitter hash `hash`, with `count`
    /// packets so far, these included: a fan table considering an address for admission needs
    /// it): `own` is the source's coupon, `peer` the destination's, for its fan-out.
    #[inline(always)]
    fn source(
        &mut self,
        address: &IpAddr,
        hash: u64,
        packets: u64,
        count: u64,
        (own, peer): (Coupon, Coupon),
    ) {
        self.sources.insert_coupon(own);
        self.fan_out.insert(address, hash, peer, packets, || count);
    }

    /// [`source`](Self::source) for a destination and its fan-in.
    #[inline(always)]
    fn destination(
        &mut self,
        address: &IpAddr,
        hash: u64,
        packets: u64,
        count: u64,
        (own, peer): (Coupon, Coupon),
    ) {
        self.destinations.insert_coupon(own);
        self.fan_in.insert(address, hash, peer, packets, || count);
    }
}

/// The views of one interval (of all keys, or of those one owner thread owns).
pub(super) struct ViewSet {
    pub(super) flows: HeavyHitters<FlowKey>,
    pub(super) sources: HeavyHitters<IpAddr>,
    pub(super) destinations: HeavyHitters<IpAddr>,
    /// `None` when distinct counting is off.
    pub(super) distinct: Option<DistinctSet>,
    /// The heavy prefixes; `None` when no prefix length is configured.
    pub(super) prefixes: Option<PrefixViews>,
}

/// A top-list entry of an address view with its fan-in or fan-out.
pub(super) struct RankedAddress {
    pub(super) address: IpAddr,
    pub(super) packets: u64,
    pub(super) bytes: u64,
    /// The fan-in or fan-out; `None` when the address is not tracked.
    pub(super) fan: Option<u64>,
    /// Its sketch, in base64, when the set attaches them (`--fan-sketches`).
    pub(super) fan_sketch: Option<String>,
}

/// The top lists of one set, each entry with both counts: index 0 ranked by packets, 1 by
/// bytes.
pub(super) struct TopLists {
    pub(super) flows: [Vec<(FlowKey, u64, u64)>; 2],
    /// With their fan-out.
    pub(super) sources: [Vec<RankedAddress>; 2],
    /// With their fan-in.
    pub(super) destinations: [Vec<RankedAddress>; 2],
    /// Every length's top source prefixes, with their distinct addresses.
    pub(super) source_prefixes: [Vec<RankedPrefix>; 2],
    /// Every length's top destination prefixes, with their distinct addresses.
    pub(super) destination_prefixes: [Vec<RankedPrefix>; 2],
}

/// The interval's distinct counts as a report gives them.
pub(super) struct IntervalDistinct {
    pub(super) sources: u64,
    pub(super) destinations: u64,
    pub(super) sketches: Sketches,
    /// The distinct sources' counter, for a rolling window.
    pub(super) window_sources: Option<DistinctCounter>,
}

impl ViewSet {
    /// A set with heavy-hitter sketches of `sketch_bytes` each, and distinct counters if
    /// `config.distinct` and `distinct`.
    pub(super) fn new(config: &MonitorConfig, sketch_bytes: usize, distinct: bool) -> Self {
        let sized = MonitorConfig {
            sketch_bytes,
            ..config.clone()
        };
        let tracked = tracked_keys(config.top);
        let fan_lg_k = fan_lg_k(config.hll_lg_k);
        let prefixes = PrefixViews::new(&sized, config.distinct && distinct);
        Self {
            prefixes,
            flows: HeavyHitters::new(&sized),
            sources: HeavyHitters::new(&sized),
            destinations: HeavyHitters::new(&sized),
            distinct: (config.distinct && distinct).then(|| DistinctSet {
                sources: DistinctCounter::new(config.hll_lg_k),
                destinations: DistinctCounter::new(config.hll_lg_k),
                fan_in: KeyedDistinct::new(tracked, fan_lg_k),
                fan_out: KeyedDistinct::new(tracked, fan_lg_k),
                fan_sketches: config.fan_sketches,
            }),
        }
    }

    /// This set with the prefix views' caches: for the one-thread path, which
    /// [`settle`](Self::settle)s them before reading its top lists.
    pub(super) fn with_prefix_cache(mut self) -> Self {
        self.prefixes = self.prefixes.map(PrefixViews::with_cache);
        self
    }

    /// The hashes of `key`'s flow, source and destination that the views place them by.
    #[inline]
    pub(super) fn hashes(&self, key: &FlowKey) -> (u64, u64, u64) {
        let src_hash = self.sources.hash(&key.src);
        let dst_hash = self.destinations.hash(&key.dst);
        (
            self.flows.flow_hash(key, src_hash, dst_hash),
            src_hash,
            dst_hash,
        )
    }

    /// Counts `packets` packets of `bytes` bytes of flow `key` into every view, given its
    /// [`hashes`](Self::hashes).
    #[inline]
    pub(super) fn count(
        &mut self,
        key: &FlowKey,
        packets: u64,
        bytes: u64,
        (flow_hash, src_hash, dst_hash): (u64, u64, u64),
    ) {
        // The six sketches' buckets are loaded together, so that their cache misses overlap,
        // and while they load the coupons are computed.
        std::hint::black_box(
            self.flows.prefetch(flow_hash)
                ^ self.sources.prefetch(src_hash)
                ^ self.destinations.prefetch(dst_hash),
        );
        let coupons = self
            .distinct
            .as_ref()
            .map(|_| (address_coupon(&key.src), address_coupon(&key.dst)));
        self.flows.add(key, flow_hash, packets, bytes);
        let src_count = self.sources.add(&key.src, src_hash, packets, bytes);
        let dst_count = self.destinations.add(&key.dst, dst_hash, packets, bytes);
        if let (Some(distinct), Some((src, dst))) = (&mut self.distinct, coupons) {
            distinct.source(&key.src, src_hash, packets, src_count, (src, dst));
            distinct.destination(&key.dst, dst_hash, packets, dst_count, (dst, src));
        }
        if let Some(prefixes) = &mut self.prefixes {
            prefixes.count(key, packets, bytes, coupons);
        }
    }

    /// The flow view's part of [`count`](Self::count).
    #[inline]
    pub(super) fn count_flow(&mut self, key: &FlowKey, hash: u64, packets: u64, bytes: u64) {
        self.flows.add(key, hash, packets, bytes);
    }

    /// The source view's part of [`count`](Self::count): `own` is the source's coupon (for the
    /// distinct sources), `peer` the destination's (for the source's fan-out).
    #[inline]
    pub(super) fn count_source(
        &mut self,
        address: &IpAddr,
        hash: u64,
        packets: u64,
        bytes: u64,
        (own, peer): (Coupon, Coupon),
    ) {
        let count = self.sources.add(address, hash, packets, bytes);
        if let Some(distinct) = &mut self.distinct {
            distinct.source(address, hash, packets, count, (own, peer));
        }
    }

    /// The destination view's part of [`count`](Self::count): `own` is the destination's
    /// coupon, `peer` the source's (for the destination's fan-in).
    #[inline]
    pub(super) fn count_destination(
        &mut self,
        address: &IpAddr,
        hash: u64,
        packets: u64,
        bytes: u64,
        (own, peer): (Coupon, Coupon),
    ) {
        let count = self.destinations.add(address, hash, packets, bytes);
        if let Some(distinct) = &mut self.distinct {
            distinct.destination(address, hash, packets, count, (own, peer));
        }
    }

    /// The prefix views' part of [`count`](Self::count) for one source (`source`) or
    /// destination prefix: `address` is an address's coupon (for the prefix's distinct
    /// addresses), when distinct counting is on.
    #[inline]
    pub(super) fn count_prefix(
        &mut self,
        source: bool,
        prefix: &Prefix,
        hash: u64,
        packets: u64,
        bytes: u64,
        address: Option<Coupon>,
    ) {
        if let Some(prefixes) = &mut self.prefixes {
            let side = usize::from(!source);
            prefixes.count_prefix(side, prefix, hash, packets, bytes, address);
        }
    }

    /// One more address of a source (`source`) or destination prefix, for its distinct
    /// addresses: a producer's further coupons of a prefix whose sums it sent before them.
    #[inline]
    pub(super) fn count_prefix_address(
        &mut self,
        source: bool,
        prefix: &Prefix,
        hash: u64,
        address: Coupon,
    ) {
        if let Some(prefixes) = &mut self.prefixes {
            prefixes.count_address(usize::from(!source), prefix, hash, address);
        }
    }

    /// The top `top` of every view, both counts, fan-in or fan-out attached (and its sketch
    /// with `--fan-sketches`).
    pub(super) fn top_lists(&self, top: usize) -> TopLists {
        let sketches = self.distinct.as_ref().is_some_and(|d| d.fan_sketches);
        let with_fan = |view: &HeavyHitters<IpAddr>, fans: Option<&KeyedDistinct<IpAddr>>| {
            [false, true].map(|by_bytes| {
                view.top(top, by_bytes)
                    .into_iter()
                    .map(|(address, packets, bytes)| {
                        let counter =
                            fans.and_then(|fans| fans.counter(&address, view.hash(&address)));
                        RankedAddress {
                            address,
                            packets,
                            bytes,
                            fan: counter.map(|counter| rounded(counter.estimate())),
                            fan_sketch: counter
                                .filter(|_| sketches)
                                .map(|counter| counter.to_base64()),
                        }
                    })
                    .collect()
            })
        };
        let [source_prefixes, destination_prefixes] = match &self.prefixes {
            Some(prefixes) => prefixes.top_lists(top),
            None => Default::default(),
        };
        TopLists {
            source_prefixes,
            destination_prefixes,
            flows: [false, true].map(|by_bytes| self.flows.top(top, by_bytes)),
            sources: with_fan(&self.sources, self.distinct.as_ref().map(|d| &d.fan_out)),
            destinations: with_fan(
                &self.destinations,
                self.distinct.as_ref().map(|d| &d.fan_in),
            ),
        }
    }

    /// The distinct counts of this set as the interval's own (the one-thread path), and its
    /// distinct sources' counter (shrunk to what it holds) when a window wants it; `None` when
    /// distinct counting is off.
    pub(super) fn interval_distinct(&mut self, window: bool) -> Option<IntervalDistinct> {
        let distinct = self.distinct.as_mut()?;
        let (sources, destinations) = (
            rounded(distinct.sources.estimate()),
            rounded(distinct.destinations.estimate()),
        );
        let sketches = Sketches {
            sources: distinct.sources.to_base64(),
            destinations: distinct.destinations.to_base64(),
        };
        // The window keeps the counter; a fresh one counts the next interval.
        let window_sources = window.then(|| {
            let lg_k = distinct.sources.lg_k();
            let mut kept = std::mem::replace(&mut distinct.sources, DistinctCounter::new(lg_k));
            kept.shrink();
            kept
        });
        Some(IntervalDistinct {
            sources,
            destinations,
            sketches,
            window_sources,
        })
    }

    /// Completes the counts [`count`](Self::count) may still hold back (the prefix views'
    /// cache): before [`top_lists`](Self::top_lists) on the one-thread path.
    pub(super) fn settle(&mut self) {
        if let Some(prefixes) = &mut self.prefixes {
            prefixes.settle();
        }
    }

    /// Empties every view, keeping its memory.
    pub(super) fn clear(&mut self) {
        self.flows.clear();
        self.sources.clear();
        self.destinations.clear();
        if let Some(distinct) = &mut self.distinct {
            distinct.sources.reset();
            distinct.destinations.reset();
            distinct.fan_in.clear();
            distinct.fan_out.clear();
        }
        if let Some(prefixes) = &mut self.prefixes {
            prefixes.clear();
        }
    }
}

/// An address's HLL coupon: its raw network-order bytes, as DataSketches hashes a byte array.
#[inline]
pub(super) fn address_coupon(address: &IpAddr) -> Coupon {
    match address {
        IpAddr::V4(v4) => coupon_of_bytes(&v4.octets()),
        IpAddr::V6(v6) => coupon_of_bytes(&v6.octets()),
    }
}

/// A distinct-count estimate as a whole count.
pub(super) fn rounded(estimate: f64) -> u64 {
    // A float-to-int `as` saturates and maps NaN to 0; estimates are finite and non-negative.
    estimate.round() as u64
}
