//! A small table that sums the packets and bytes of recent flows before the views see them, as
//! a NetFlow exporter's flow cache does.
//!
//! Every view of a packet follows from its five-tuple: its flow, its source, its destination and
//! their distinct counts. A packet of a flow that waits in the cache only adds to two counters;
//! the views get the flow's sums as one weighted update when another flow takes its slot, when
//! the flow has [`MAX_PACKETS`] waiting, or when the interval closes ([`FlowCache::drain`]). On
//! a skewed link most packets belong to a few thousand flows, so the six sketch updates, two
//! coupon hashes and two fan-table lookups of a packet are paid about once per sixteen packets
//! of a busy flow instead of once per packet (docs/BENCHMARKS.md, "Replay throughput").
//!
//! Nothing is lost or estimated here: every packet reaches the views, later and summed with the
//! packets of its flow that arrived meanwhile. The sketches take weighted updates anyway (bytes
//! are weights), and the distinct counts are idempotent. What changes is the order the sketches
//! see. Sums are capped at [`MAX_PACKETS`] = the CHK lobby threshold, so that one handed-on sum
//! can fill a lobby but never wins a promotion over a heavy entry on its own, as a flow's
//! interleaved packets could not: without the cap a flow of a few dozen packets skipped the
//! lobby's contest, and counts at the tail of the top 100 were off by up to 5.5% on the
//! benchmark trace and 12% with a spoofed flood mixed in (docs/BENCHMARKS.md, "The flow cache").
//!
//! Layout: 2-way sets of one cache line per slot; a new flow takes the way whose flow has seen
//! fewer packets since it arrived, so busy flows keep their slots. The slot of a packet is
//! prefetched and the packet counted when the next one arrives, so that the slot's cache miss
//! overlaps the next packet's reading and decoding.
//!
//! Traffic where most packets start a new flow (a spoofed flood) gains nothing and pays the
//! slot misses, so the cache measures its hit rate over trials of [`TRIAL_PACKETS`] packets and
//! steps aside (every packet straight to the views) when under [`PASSING_HITS_PER_1024`] in
//! 1024 hit, for a bypass that doubles after each failed trial, from [`MIN_BYPASS_PACKETS`] up to
//! [`MAX_BYPASS_PACKETS`].
//!
//! Memory: [`SLOTS`] slots of 64 bytes (1 MiB) per packet thread, allocated once.

use super::hash::ViewKey;
use crate::decode::FlowKey;

/// Slots of the cache: a power of two, so that a hash picks a set with a mask. 16,384 slots
/// held 78% of the benchmark trace's packets; 4,096 held 66% and 65,536 held 88%, but a larger
/// table misses the processor's caches more and slowed flat and flood traces.
pub const SLOTS: usize = 1 << 14;

/// Memory of one cache.
pub const MEMORY_BYTES: usize = SLOTS * std::mem::size_of::<Slot>();

/// Most packets a flow's sums hold before they are handed on: the CHK lobby threshold (see the
/// module's documentation).
pub const MAX_PACKETS: u32 = crate::sketch::chk::LOBBY_THRESHOLD as u32;
/// Packets of a trial: the hit rate is measured over this many.
pub const TRIAL_PACKETS: u32 = 1 << 16;
/// A trial passes when at least this many of each 1024 of its packets hit: 1/8, a rate the
/// flat benchmark trace (30%) clears and a spoofed flood (0%) does not.
pub const PASSING_HITS_PER_1024: u32 = 128;
/// Packets bypassed after the first failed trial.
pub const MIN_BYPASS_PACKETS: u32 = 1 << 16;
/// Longest bypass: a trial every 8 M packets costs a flood under 1%.
pub const MAX_BYPASS_PACKETS: u32 = 1 << 23;

/// One flow's packets and bytes that waited in the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowCount {
    /// The flow.
    pub key: FlowKey,
    /// Its packets (at least 1).
    pub packets: u64,
    /// Their bytes on the wire.
    pub bytes: u64,
}

/// A slot: a flow and its sums, empty when `heat` is 0. One cache line, so that a lookup reads
/// one line per way.
#[derive(Clone, Copy)]
#[repr(align(64))]
struct Slot {
    key: FlowKey,
    /// Packets waiting (summed since the sums were last handed on).
    packets: u32,
    /// Packets of the flow since it took the slot (saturating), which decides which of a set's
    /// two flows makes way for a new one. Handing sums on does not reset it, or a busy flow
    /// would lose its slot to the next newcomer after each.
    heat: u32,
    bytes: u64,
}

impl Slot {
    fn sums(&self) -> FlowCount {
        FlowCount {
            key: self.key,
            packets: u64::from(self.packets),
            bytes: self.bytes,
        }
    }
}

/// The flow cache of one packet thread.
pub struct FlowCache {
    slots: Box<[Slot]>,
    /// The last packet, counted when the next one arrives: (flow, set, wire length).
    pending: Option<(FlowKey, usize, u64)>,
    /// Packets left before the running trial or bypass ends.
    left: u32,
    /// Whether packets go straight to the views.
    bypassing: bool,
    /// Hits in the running trial.
    hits: u32,
    /// Length of the next bypass.
    bypass_packets: u32,
}

/// The first slot of the set of `key`. The flow's view hash: the sketches use its bits 0 to 16
/// and 32 to 64, the owner threads bits 16 to 32; any of them spread well.
#[inline(always)]
fn set_of(key: &FlowKey) -> usize {
    ((key.view_hash() >> 20) as usize & (SLOTS / 2 - 1)) * 2
}

/// Asks the processor to start loading `slot` into its caches.
#[inline(always)]
fn prefetch(slot: &Slot) {
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)]
    // SAFETY: a prefetch is a hint: it reads nothing architecturally and never faults, and the
    // pointer comes from a reference anyway.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(slot).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = slot;
}

impl FlowCache {
    /// An empty cache of [`SLOTS`] slots.
    pub fn new() -> Self {
        let empty = Slot {
            key: FlowKey {
                src: std::net::Ipv4Addr::UNSPECIFIED.into(),
                dst: std::net::Ipv4Addr::UNSPECIFIED.into(),
                src_port: 0,
                dst_port: 0,
                protocol: 0,
            },
            packets: 0,
            heat: 0,
            bytes: 0,
        };
        Self {
            slots: vec![empty; SLOTS].into_boxed_slice(),
            pending: None,
            left: TRIAL_PACKETS,
            bypassing: false,
            hits: 0,
            bypass_packets: MIN_BYPASS_PACKETS,
        }
    }

    /// Counts one packet of `wire_len` bytes of flow `key`, and hands `count` the sums that
    /// are due: a flow the packet displaced, a chunk of [`MAX_PACKETS`] of its own flow, the
    /// packet itself while the cache is bypassed, or every slot when a trial fails. A packet
    /// that waits is counted when the next one arrives, or at the [`drain`](Self::drain).
    #[inline(always)]
    pub fn add(&mut self, key: &FlowKey, wire_len: u64, mut count: impl FnMut(FlowCount)) {
        self.left -= 1;
        if self.left == 0 {
            self.next_phase(&mut count);
        }
        if self.bypassing {
            return count(FlowCount {
                key: *key,
                packets: 1,
                bytes: wire_len,
            });
        }
        let set = set_of(key);
        if let Some(slot) = self.slots.get(set) {
            prefetch(slot);
        }
        if let Some((key, set, wire_len)) = self.pending.replace((*key, set, wire_len)) {
            self.add_now(&key, set, wire_len, count);
        }
    }

    /// [`add`](Self::add) without the deferral, for a flow of set `set`.
    #[inline(always)]
    fn add_now(
        &mut self,
        key: &FlowKey,
        set: usize,
        wire_len: u64,
        mut count: impl FnMut(FlowCount),
    ) {
        let Some([first, second]) = self.slots.get_mut(set..set + 2) else {
            // Unreachable: the set lies within the slots.
            return count(FlowCount {
                key: *key,
                packets: 1,
                bytes: wire_len,
            });
        };
        for slot in [&mut *first, &mut *second] {
            if slot.heat != 0 && slot.key == *key {
                self.hits += 1;
                slot.heat = slot.heat.saturating_add(1);
                if slot.packets < MAX_PACKETS {
                    slot.packets += 1;
                    slot.bytes += wire_len;
                    return;
                }
                count(slot.sums());
                slot.packets = 1;
                slot.bytes = wire_len;
                return;
            }
        }
        let slot = if second.heat < first.heat {
            second
        } else {
            first
        };
        let displaced = std::mem::replace(
            slot,
            Slot {
                key: *key,
                packets: 1,
                heat: 1,
                bytes: wire_len,
            },
        );
        if displaced.heat != 0 {
            count(displaced.sums());
        }
    }

    /// Ends a trial or a bypass and starts the next trial or bypass. A failed trial hands on
    /// every slot, so that no flow waits through the bypass.
    #[cold]
    fn next_phase(&mut self, count: impl FnMut(FlowCount)) {
        if self.bypassing {
            self.bypassing = false;
            self.left = TRIAL_PACKETS;
        } else if self.hits >= TRIAL_PACKETS / 1024 * PASSING_HITS_PER_1024 {
            self.bypass_packets = MIN_BYPASS_PACKETS;
            self.left = TRIAL_PACKETS;
        } else {
            self.drain(count);
            self.bypassing = true;
            self.left = self.bypass_packets;
            self.bypass_packets = (self.bypass_packets * 2).min(MAX_BYPASS_PACKETS);
        }
        self.hits = 0;
    }

    /// Hands every waiting packet to `count` and empties the cache: an interval's close.
    pub fn drain(&mut self, mut count: impl FnMut(FlowCount)) {
        if let Some((key, set, wire_len)) = self.pending.take() {
            self.add_now(&key, set, wire_len, &mut count);
        }
        for slot in self.slots.iter_mut().filter(|slot| slot.heat != 0) {
            slot.heat = 0;
            count(slot.sums());
        }
    }
}

impl Default for FlowCache {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::net::Ipv4Addr;

    fn flow(port: u16) -> FlowKey {
        FlowKey {
            src: Ipv4Addr::new(10, 0, 0, 1).into(),
            dst: Ipv4Addr::new(10, 0, 0, 2).into(),
            src_port: port,
            dst_port: 80,
            protocol: 6,
        }
    }

    /// `n` flows of one set, and one of another.
    fn one_set(n: usize) -> (Vec<FlowKey>, FlowKey) {
        let from = |source: u32| FlowKey {
            src: Ipv4Addr::from(source).into(),
            ..flow(1)
        };
        let set = set_of(&from(0));
        let mut sources = 0..u32::MAX;
        let same = sources
            .by_ref()
            .map(from)
            .filter(|key| set_of(key) == set)
            .take(n)
            .collect();
        let other = sources.map(from).find(|key| set_of(key) != set);
        (same, other.unwrap())
    }

    /// Adds one packet and returns what the cache handed on.
    fn add(cache: &mut FlowCache, key: FlowKey, len: u64) -> Vec<FlowCount> {
        let mut out = Vec::new();
        cache.add(&key, len, |flow| out.push(flow));
        out
    }

    fn drain(cache: &mut FlowCache) -> Vec<FlowCount> {
        let mut out = Vec::new();
        cache.drain(|flow| out.push(flow));
        out.sort_by_key(|flow| flow.key);
        out
    }

    fn sums(key: FlowKey, packets: u64, bytes: u64) -> FlowCount {
        FlowCount {
            key,
            packets,
            bytes,
        }
    }

    #[test]
    fn a_slot_is_one_cache_line() {
        assert_eq!(std::mem::size_of::<Slot>(), 64);
        assert_eq!(MEMORY_BYTES, 1 << 20);
    }

    #[test]
    fn packets_of_a_flow_wait_summed_until_the_drain() {
        let mut cache = FlowCache::new();
        for len in [60, 1500, 40] {
            assert!(add(&mut cache, flow(1), len).is_empty());
        }
        assert_eq!(drain(&mut cache), [sums(flow(1), 3, 1600)]);
        assert!(drain(&mut cache).is_empty(), "a drain empties the cache");
    }

    #[test]
    fn a_third_flow_of_a_set_displaces_the_one_that_saw_fewer_packets() {
        let mut cache = FlowCache::new();
        let (flows, elsewhere) = one_set(3);
        for _ in 0..3 {
            add(&mut cache, flows[0], 100);
        }
        add(&mut cache, flows[1], 10);
        // The packet of the third flow is counted when the next packet arrives.
        assert!(add(&mut cache, flows[2], 60).is_empty());
        assert_eq!(add(&mut cache, elsewhere, 1), [sums(flows[1], 1, 10)]);
        let mut expected = [
            sums(flows[0], 3, 300),
            sums(flows[2], 1, 60),
            sums(elsewhere, 1, 1),
        ];
        expected.sort_by_key(|flow| flow.key);
        assert_eq!(drain(&mut cache), expected);
    }

    #[test]
    fn a_busy_flow_hands_on_chunks_and_keeps_its_slot() {
        let mut cache = FlowCache::new();
        let (flows, _) = one_set(30);
        let (busy, newcomers) = flows.split_first().unwrap();
        let mut handed = Vec::new();
        let mut newcomers = newcomers.iter();
        for packet in 0..5 * u64::from(MAX_PACKETS) {
            handed.extend(add(&mut cache, *busy, 100));
            // A newcomer to the set now and then: it takes the other way, not the busy one's.
            if packet % 3 == 0 {
                handed.extend(add(&mut cache, *newcomers.next().unwrap(), 1));
            }
        }
        let chunk = u64::from(MAX_PACKETS);
        let chunks: Vec<_> = handed.iter().filter(|flow| flow.key == *busy).collect();
        assert_eq!(chunks.len(), 4, "{handed:?}");
        assert!(chunks
            .iter()
            .all(|flow| flow.packets == chunk && flow.bytes == 100 * chunk));
        assert!(drain(&mut cache).contains(&sums(*busy, chunk, 100 * chunk)));
    }

    /// A stream from a small LCG: `share_new` in 16 packets start a new flow, the others come
    /// from 64 recurring flows.
    fn stream(packets: usize, share_new: u64, seed: u64) -> Vec<(FlowKey, u64)> {
        let mut state = seed;
        let mut next = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            state >> 33
        };
        (0..packets)
            .map(|i| {
                let r = next();
                let key = if r % 16 < share_new {
                    FlowKey {
                        src: Ipv4Addr::from(i as u32).into(),
                        ..flow(9)
                    }
                } else {
                    flow((r >> 8) as u16 % 64)
                };
                (key, 40 + next() % 1460)
            })
            .collect()
    }

    /// Every packet reaches `count` exactly once, through any mix of hits, displacements,
    /// chunks, failed trials, bypasses and passing trials.
    fn assert_nothing_lost(stream: &[(FlowKey, u64)]) -> FlowCache {
        let mut cache = FlowCache::new();
        let mut exact: HashMap<FlowKey, (u64, u64)> = HashMap::new();
        let mut counted: HashMap<FlowKey, (u64, u64)> = HashMap::new();
        let mut tally = |flow: FlowCount| {
            let entry = counted.entry(flow.key).or_default();
            entry.0 += flow.packets;
            entry.1 += flow.bytes;
        };
        for &(key, len) in stream {
            let entry = exact.entry(key).or_default();
            entry.0 += 1;
            entry.1 += len;
            cache.add(&key, len, &mut tally);
        }
        cache.drain(&mut tally);
        assert_eq!(counted, exact);
        cache
    }

    #[test]
    fn every_packet_reaches_the_views_once_whatever_the_mix() {
        for (share_new, seed) in [(0, 1), (3, 2), (8, 3), (15, 4), (16, 5)] {
            assert_nothing_lost(&stream(3 * TRIAL_PACKETS as usize, share_new, seed));
        }
    }

    #[test]
    fn a_flood_of_new_flows_bypasses_the_cache_and_recurring_flows_bring_it_back() {
        // A trial of new flows only fails: the cache drains and steps aside.
        let flood = stream(TRIAL_PACKETS as usize, 16, 7);
        let mut cache = assert_nothing_lost(&flood);
        assert!(cache.bypassing);
        assert_eq!(cache.left, MIN_BYPASS_PACKETS);
        // During the bypass every packet is handed on at once (the packet that ended the trial
        // was the first bypassed), and nothing waits.
        let recurring = stream((MIN_BYPASS_PACKETS + TRIAL_PACKETS) as usize, 0, 8);
        let (bypassed, trial) = recurring.split_at(MIN_BYPASS_PACKETS as usize - 1);
        for &(key, len) in bypassed {
            assert_eq!(add(&mut cache, key, len), [sums(key, 1, len)]);
        }
        // A trial of 64 recurring flows passes: their packets wait again.
        let mut handed = 0;
        for &(key, len) in trial {
            handed += add(&mut cache, key, len).len();
        }
        assert!(!cache.bypassing);
        assert!(
            handed < trial.len() / 8,
            "{handed} of {} handed on",
            trial.len()
        );
    }
}
