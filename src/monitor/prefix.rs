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
//! the defaults, for every length), about 4.2 MB each once every tracked prefix has over 1 500
//! addresses.
//!
//! Cost: a flow chunk adds to a small cache per direction keyed by its address's longest
//! prefix, and the sums reach the sketches of every length in batches, with each address of a
//! /24 once an interval ([`PrefixViews::count`]): a fraction of a CHK insert per chunk rather
//! than six, plus the distinct-address work of each new address (docs/BENCHMARKS.md, "Prefix
//! views"). With workers, each prefix has its own owner (by its hash, as an address has), so
//! every prefix is counted whole on one owner and the per-owner top lists combine like the
//! address views'; the producer keeps the caches and sends what they hand on
//! ([`PrefixViews::stage`]), one update per length and batch and one per further address.

use super::config::{fan_lg_k, tracked_keys, MonitorConfig};
use super::heavy::HeavyHitters;
use super::views::rounded;
use crate::decode::FlowKey;
use crate::prefix::Prefix;
use crate::sketch::hll::Coupon;
use crate::sketch::keyed::KeyedDistinct;
use std::net::IpAddr;

/// Most lengths per address family.
pub const MAX_PREFIX_LENGTHS: usize = 8;

/// The prefix lengths the views count, per address family: sorted, without repeats, at most
/// [`MAX_PREFIX_LENGTHS`] each, none 0. A plain `Copy` value, so that the hot path reads them
/// without a pointer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixLengths {
    ipv4: [u8; MAX_PREFIX_LENGTHS],
    ipv4_count: u8,
    ipv6: [u8; MAX_PREFIX_LENGTHS],
    ipv6_count: u8,
}

/// Lengths that [`PrefixLengths::new`] refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrefixLengthsError {
    /// A length of 0 or beyond the family's bits.
    #[error("an {family} prefix length must lie in 1..={max}, not {length}")]
    OutOfRange {
        /// `IPv4` or `IPv6`.
        family: &'static str,
        /// The length given.
        length: u32,
        /// 32 or 128.
        max: u8,
    },
    /// More than [`MAX_PREFIX_LENGTHS`] lengths for one family.
    #[error("at most {MAX_PREFIX_LENGTHS} {family} prefix lengths, not {count}")]
    TooMany {
        /// `IPv4` or `IPv6`.
        family: &'static str,
        /// Distinct lengths given.
        count: usize,
    },
}

impl Default for PrefixLengths {
    /// /8, /16 and /24 for IPv4; /32, /48 and /64 for IPv6: an allocation, a site, a subnet.
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl PrefixLengths {
    /// No prefix views.
    pub const NONE: Self = Self {
        ipv4: [0; MAX_PREFIX_LENGTHS],
        ipv4_count: 0,
        ipv6: [0; MAX_PREFIX_LENGTHS],
        ipv6_count: 0,
    };

    /// The defaults: /8, /16, /24 and /32, /48, /64.
    pub const DEFAULT: Self = Self {
        ipv4: [8, 16, 24, 0, 0, 0, 0, 0],
        ipv4_count: 3,
        ipv6: [32, 48, 64, 0, 0, 0, 0, 0],
        ipv6_count: 3,
    };

    /// The lengths `ipv4` and `ipv6` (in any order, repeats ignored).
    ///
    /// # Errors
    ///
    /// [`PrefixLengthsError`] for a length of 0 or past the family's bits, or too many.
    pub fn new(ipv4: &[u32], ipv6: &[u32]) -> Result<Self, PrefixLengthsError> {
        let (ipv4, ipv4_count) = Self::family("IPv4", 32, ipv4)?;
        let (ipv6, ipv6_count) = Self::family("IPv6", 128, ipv6)?;
        Ok(Self {
            ipv4,
            ipv4_count,
            ipv6,
            ipv6_count,
        })
    }

    fn family(
        family: &'static str,
        max: u8,
        lengths: &[u32],
    ) -> Result<([u8; MAX_PREFIX_LENGTHS], u8), PrefixLengthsError> {
        let mut sorted = Vec::with_capacity(lengths.len());
        for &length in lengths {
            match u8::try_from(length) {
                Ok(valid @ 1..) if valid <= max => sorted.push(valid),
                _ => {
                    return Err(PrefixLengthsError::OutOfRange {
                        family,
                        length,
                        max,
                    })
                }
            }
        }
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() > MAX_PREFIX_LENGTHS {
            return Err(PrefixLengthsError::TooMany {
                family,
                count: sorted.len(),
            });
        }
        let mut fixed = [0; MAX_PREFIX_LENGTHS];
        fixed[..sorted.len()].copy_from_slice(&sorted);
        Ok((fixed, sorted.len() as u8))
    }

    /// The IPv4 lengths, shortest first.
    pub fn ipv4(&self) -> &[u8] {
        &self.ipv4[..usize::from(self.ipv4_count)]
    }

    /// The IPv6 lengths, shortest first.
    pub fn ipv6(&self) -> &[u8] {
        &self.ipv6[..usize::from(self.ipv6_count)]
    }

    /// The lengths of `address`'s family.
    #[inline]
    pub fn of(&self, address: &IpAddr) -> &[u8] {
        match address {
            IpAddr::V4(_) => self.ipv4(),
            IpAddr::V6(_) => self.ipv6(),
        }
    }

    /// Whether no prefix is counted.
    pub fn is_empty(&self) -> bool {
        self.ipv4_count == 0 && self.ipv6_count == 0
    }

    /// The most lengths of one family.
    pub fn most_per_family(&self) -> usize {
        usize::from(self.ipv4_count.max(self.ipv6_count))
    }
}

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

/// Slots of each direction's prefix cache (a power of two; sets of two ways).
const CACHE_SLOTS: usize = 1024;
/// Distinct address coupons a cache slot holds before its sums go to the views.
const SLOT_COUPONS: usize = 8;

/// A cache slot: the sums of one prefix at its family's longest length since they last went
/// to the views, and the coupons of its addresses not handed on yet.
#[derive(Clone, Copy)]
struct Slot {
    /// `None` when empty.
    prefix: Option<Prefix>,
    packets: u64,
    bytes: u64,
    coupons: [Option<Coupon>; SLOT_COUPONS],
    held: usize,
    /// When the prefix leaves at most 8 host bits (an IPv4 /24): the hosts whose coupon has
    /// been taken since the prefix took the slot, one bit each, so that an address is handed on
    /// once an interval rather than once per chunk. Larger prefixes rely on `coupons` alone.
    seen: [u64; 4],
}

const EMPTY_SLOT: Slot = Slot {
    prefix: None,
    packets: 0,
    bytes: 0,
    coupons: [None; SLOT_COUPONS],
    held: 0,
    seen: [0; 4],
};

/// What a cache slot hands on: the sums of one prefix at its family's longest length since
/// they last went on, and the coupons of its addresses not handed on before.
pub(super) struct Handed {
    /// 0 sources, 1 destinations.
    pub(super) side: usize,
    longest: Prefix,
    pub(super) packets: u64,
    pub(super) bytes: u64,
    coupons: [Option<Coupon>; SLOT_COUPONS],
    held: usize,
}

impl Handed {
    /// Its prefix at every length of `lengths` of its family.
    pub(super) fn prefixes<'a>(
        &'a self,
        lengths: &'a PrefixLengths,
    ) -> impl Iterator<Item = Prefix> + 'a {
        let address = self.longest.address();
        lengths
            .of(&address)
            .iter()
            .map(move |&length| Prefix::of(&address, length))
    }

    /// The coupons of its addresses.
    pub(super) fn coupons(&self) -> impl Iterator<Item = Coupon> + '_ {
        self.coupons[..self.held].iter().flatten().copied()
    }
}

/// The prefix views of one set.
pub(super) struct PrefixViews {
    lengths: PrefixLengths,
    /// Per direction (sources, destinations), the cache of prefix sums of a packet thread (see
    /// [`count`](Self::count) and [`stage`](Self::stage)); empty on owner threads, which get
    /// their updates per prefix.
    caches: [Vec<Slot>; 2],
    sources: HeavyHitters<Prefix>,
    destinations: HeavyHitters<Prefix>,
    /// Distinct sources per tracked source prefix, destinations per destination prefix;
    /// `None` when distinct counting is off.
    distinct: Option<[KeyedDistinct<Prefix>; 2]>,
    sketches: bool,
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
        let lg_k = fan_lg_k(sized.hll_lg_k);
        Some(Self {
            lengths,
            caches: [Vec::new(), Vec::new()],
            sources: HeavyHitters::new(sized),
            destinations: HeavyHitters::new(sized),
            distinct: distinct.then(|| {
                [
                    KeyedDistinct::new(tracked, lg_k),
                    KeyedDistinct::new(tracked, lg_k),
                ]
            }),
            sketches: sized.fan_sketches,
        })
    }

    /// These views with the caches of [`count`](Self::count), for the one-thread path (whose
    /// set [`settle`](Self::settle)s them before its top lists are read); without them, each
    /// call counts every prefix at once.
    pub(super) fn with_cache(mut self) -> Self {
        self.caches = [vec![EMPTY_SLOT; CACHE_SLOTS], vec![EMPTY_SLOT; CACHE_SLOTS]];
        self
    }

    /// The lengths counted.
    #[inline]
    pub(super) fn lengths(&self) -> &PrefixLengths {
        &self.lengths
    }

    /// The hash of `prefix` that the views place it by (the same in both directions).
    #[inline]
    pub(super) fn hash(&self, prefix: &Prefix) -> u64 {
        self.sources.hash(prefix)
    }

    /// Counts `packets` packets of `bytes` bytes of flow `key` into the prefixes of its
    /// addresses at every length; `coupons` are the source's and the destination's, when
    /// distinct counting is on (the one-thread path; owner threads get one update per prefix,
    /// [`count_source`](Self::count_source)).
    ///
    /// A flow chunk's work here is a mask, a multiply and two additions per address: the sums
    /// wait in a two-way set-associative cache per direction keyed by the address's prefix at its
    /// family's longest length (a few hundred /24s carry most traffic, so nearly every chunk
    /// hits), with the distinct coupons seen (a repeated address costs nothing more). They go
    /// to the sketches of every length when another prefix takes the slot, when the slot holds
    /// [`SLOT_COUPONS`] distinct addresses, and at [`settle`](Self::settle). Every packet still
    /// reaches every prefix (exact mode stays exact), and the shorter prefixes are derived
    /// from the longest instead of each being hashed and counted per chunk.
    #[inline]
    pub(super) fn count(
        &mut self,
        key: &FlowKey,
        packets: u64,
        bytes: u64,
        coupons: Option<(Coupon, Coupon)>,
    ) {
        if self.caches[0].is_empty() {
            self.count_now(key, packets, bytes, coupons);
            return;
        }
        for handed in self
            .stage(key, packets, bytes, coupons)
            .into_iter()
            .flatten()
        {
            self.apply(&handed);
        }
    }

    /// [`count`](Self::count) without a cache: every prefix of every length at once.
    fn count_now(
        &mut self,
        key: &FlowKey,
        packets: u64,
        bytes: u64,
        coupons: Option<(Coupon, Coupon)>,
    ) {
        let lengths = self.lengths;
        for &length in lengths.of(&key.src) {
            let prefix = Prefix::of(&key.src, length);
            let hash = self.hash(&prefix);
            self.count_source(&prefix, hash, packets, bytes, coupons.map(|c| c.0));
        }
        for &length in lengths.of(&key.dst) {
            let prefix = Prefix::of(&key.dst, length);
            let hash = self.hash(&prefix);
            self.count_destination(&prefix, hash, packets, bytes, coupons.map(|c| c.1));
        }
    }

    /// Adds flow `key`'s packets to the caches (which these views must have: see
    /// [`with_cache`](Self::with_cache)), and returns what they hand on: the sums of a slot
    /// another prefix took or whose coupons were full, for the views of every length (the
    /// one-thread path applies them, a producer sends them to their prefixes' owners).
    #[inline]
    pub(super) fn stage(
        &mut self,
        key: &FlowKey,
        packets: u64,
        bytes: u64,
        coupons: Option<(Coupon, Coupon)>,
    ) -> [Option<Handed>; 2] {
        [
            self.cache(0, &key.src, packets, bytes, coupons.map(|c| c.0)),
            self.cache(1, &key.dst, packets, bytes, coupons.map(|c| c.1)),
        ]
    }

    /// Adds to the cache of direction `side` (0 sources, 1 destinations); returns what a slot
    /// hands on to make room (at most one slot a call: a slot freed for this prefix has no
    /// coupons to overflow).
    #[inline]
    fn cache(
        &mut self,
        side: usize,
        address: &IpAddr,
        packets: u64,
        bytes: u64,
        coupon: Option<Coupon>,
    ) -> Option<Handed> {
        let &longest = self.lengths.of(address).last()?;
        let prefix = Prefix::of(address, longest);
        // Two ways per set: two busy prefixes whose slots collide would otherwise take the
        // slot from each other on every chunk, each time sending their sums on.
        let set = slot_of(&prefix) & !1;
        let cache = &self.caches[side];
        let mut handed = None;
        let index = if cache[set].prefix == Some(prefix) {
            set
        } else if cache[set + 1].prefix == Some(prefix) {
            set + 1
        } else {
            // The lighter way makes room, as in the flow cache.
            let victim = if cache[set + 1].packets < cache[set].packets {
                set + 1
            } else {
                set
            };
            handed = self.take(side, victim, true);
            victim
        };
        // Up to 8 host bits, the host's bit in `seen`; else the coupons waiting.
        let host = (prefix.host_bits() <= 8).then(|| host_byte(address));
        let slot = &self.caches[side][index];
        let new = coupon.filter(|&c| match host {
            Some(host) => slot.seen[host / 64] & 1 << (host % 64) == 0,
            None => !slot.coupons[..slot.held].contains(&Some(c)),
        });
        // Full coupons go on first, so that every coupon waits with packets of its own.
        if new.is_some() && slot.held == SLOT_COUPONS {
            handed = self.take(side, index, false);
        }
        let slot = &mut self.caches[side][index];
        slot.prefix = Some(prefix);
        slot.packets += packets;
        slot.bytes += bytes;
        if let Some(coupon) = new {
            slot.coupons[slot.held] = Some(coupon);
            slot.held += 1;
            if let Some(host) = host {
                slot.seen[host / 64] |= 1 << (host % 64);
            }
        }
        handed
    }

    /// Takes the sums and coupons of slot `index` of direction `side`'s cache (`None` if it has
    /// none); `empty`: frees the slot, else it keeps its prefix and the hosts seen.
    #[inline]
    fn take(&mut self, side: usize, index: usize, empty: bool) -> Option<Handed> {
        let kept = &mut self.caches[side][index];
        let slot = *kept;
        *kept = if empty {
            EMPTY_SLOT
        } else {
            Slot {
                prefix: slot.prefix,
                seen: slot.seen,
                ..EMPTY_SLOT
            }
        };
        let longest = slot.prefix.filter(|_| slot.packets > 0)?;
        Some(Handed {
            side,
            longest,
            packets: slot.packets,
            bytes: slot.bytes,
            coupons: slot.coupons,
            held: slot.held,
        })
    }

    /// Everything the caches hold, emptied: at the end of an interval.
    pub(super) fn take_all(&mut self) -> Vec<Handed> {
        let mut all = Vec::new();
        for side in 0..2 {
            for index in 0..self.caches[side].len() {
                all.extend(self.take(side, index, true));
            }
        }
        all
    }

    /// Counts what a cache handed on into the views of every length. Out of line: once per
    /// many chunks.
    #[inline(never)]
    fn apply(&mut self, handed: &Handed) {
        let lengths = self.lengths;
        for prefix in handed.prefixes(&lengths) {
            let hash = self.hash(&prefix);
            let view = if handed.side == 0 {
                &mut self.sources
            } else {
                &mut self.destinations
            };
            let count = view.add(&prefix, hash, handed.packets, handed.bytes);
            if let Some(distinct) = &mut self.distinct {
                let table = &mut distinct[handed.side];
                let mut packets = handed.packets;
                for coupon in handed.coupons() {
                    table.insert(&prefix, hash, coupon, packets, || count);
                    packets = 0;
                }
            }
        }
    }

    /// Hands every cached sum on to the views: before the top lists are read.
    pub(super) fn settle(&mut self) {
        for handed in self.take_all() {
            self.apply(&handed);
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
        let view = if side == 0 {
            &self.sources
        } else {
            &self.destinations
        };
        if let Some(distinct) = &mut self.distinct {
            distinct[side].insert(prefix, hash, address, 0, || view.packets(prefix, hash));
        }
    }

    /// Counts a source prefix (of [`hash`](Self::hash) `hash`); `address` is the coupon of the
    /// source address, for the prefix's distinct addresses.
    #[inline]
    pub(super) fn count_source(
        &mut self,
        prefix: &Prefix,
        hash: u64,
        packets: u64,
        bytes: u64,
        address: Option<Coupon>,
    ) {
        let count = self.sources.add(prefix, hash, packets, bytes);
        if let (Some([sources, _]), Some(address)) = (&mut self.distinct, address) {
            sources.insert(prefix, hash, address, packets, || count);
        }
    }

    /// [`count_source`](Self::count_source) for a destination prefix.
    #[inline]
    pub(super) fn count_destination(
        &mut self,
        prefix: &Prefix,
        hash: u64,
        packets: u64,
        bytes: u64,
        address: Option<Coupon>,
    ) {
        let count = self.destinations.add(prefix, hash, packets, bytes);
        if let (Some([_, destinations]), Some(address)) = (&mut self.distinct, address) {
            destinations.insert(prefix, hash, address, packets, || count);
        }
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
                            sketch: counter.filter(|_| self.sketches).map(|c| c.to_base64()),
                        }
                    })
                    .collect()
            })
        };
        let (sources, destinations) = match &self.distinct {
            Some([sources, destinations]) => (Some(sources), Some(destinations)),
            None => (None, None),
        };
        [
            list(&self.sources, sources),
            list(&self.destinations, destinations),
        ]
    }

    /// Empties every view, keeping its memory.
    pub(super) fn clear(&mut self) {
        for cache in &mut self.caches {
            cache.fill(EMPTY_SLOT);
        }
        self.sources.clear();
        self.destinations.clear();
        if let Some(distinct) = &mut self.distinct {
            for table in distinct {
                table.clear();
            }
        }
    }
}

/// The low byte of `address`: its host within a prefix of at most 8 host bits.
#[inline]
fn host_byte(address: &IpAddr) -> usize {
    match address {
        IpAddr::V4(v4) => usize::from(v4.octets()[3]),
        IpAddr::V6(v6) => usize::from(v6.octets()[15]),
    }
}

/// The cache slot of `prefix`: one multiply of its bits (its hash need not be one the
/// sketches could use, only spread the busy prefixes over the slots).
#[inline]
fn slot_of(prefix: &Prefix) -> usize {
    let bits = match prefix.address() {
        IpAddr::V4(v4) => u64::from(v4.to_bits()),
        IpAddr::V6(v6) => {
            let bits = v6.to_bits();
            (bits >> 64) as u64 ^ (bits as u64).rotate_left(29)
        }
    };
    let mixed = (bits ^ u64::from(prefix.length())).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (mixed >> (64 - CACHE_SLOTS.trailing_zeros())) as usize
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

    #[test]
    fn lengths_are_sorted_deduplicated_and_checked() {
        let lengths = PrefixLengths::new(&[24, 8, 16, 8], &[64, 48]).unwrap();
        assert_eq!(lengths.ipv4(), [8, 16, 24]);
        assert_eq!(lengths.ipv6(), [48, 64]);
        assert_eq!(lengths.most_per_family(), 3);
        assert_eq!(
            PrefixLengths::new(&[8, 16, 24], &[32, 48, 64]),
            Ok(PrefixLengths::DEFAULT)
        );
        assert!(PrefixLengths::new(&[], &[]).unwrap().is_empty());
        assert_eq!(PrefixLengths::new(&[], &[]), Ok(PrefixLengths::NONE));
        for (ipv4, ipv6) in [
            (&[0][..], &[][..]),
            (&[33], &[]),
            (&[], &[129]),
            (&[], &[0]),
        ] {
            let error = PrefixLengths::new(ipv4, ipv6).unwrap_err();
            assert!(
                matches!(error, PrefixLengthsError::OutOfRange { .. }),
                "{error}"
            );
        }
        let many: Vec<u32> = (1..=9).collect();
        assert_eq!(
            PrefixLengths::new(&many, &[]),
            Err(PrefixLengthsError::TooMany {
                family: "IPv4",
                count: 9
            })
        );
        let v4: IpAddr = "10.0.0.1".parse().unwrap();
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(PrefixLengths::DEFAULT.of(&v4), [8, 16, 24]);
        assert_eq!(PrefixLengths::DEFAULT.of(&v6), [32, 48, 64]);
    }
}
