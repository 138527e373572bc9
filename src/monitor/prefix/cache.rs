//! The prefix cache of a packet thread: per direction, the packets, bytes and new addresses of
//! each busy prefix (at its family's longest length) since they last went to the prefix
//! sketches. A flow chunk's prefix work is then a mask, a multiply, a compare and two additions
//! per address, rather than a sketch update per length; what the cache hands on is counted at
//! every length by its caller. Knows nothing of sketches, threads or intervals.

use super::PrefixLengths;
use crate::prefix::Prefix;
use crate::sketch::hll::{coupon_of_bytes, Coupon};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Sets of two slots per direction (a power of two).
const SETS: usize = 512;
/// Distinct address coupons a slot holds before its sums go on.
pub(super) const SLOT_COUPONS: usize = 64;
/// Memory of the caches of both directions.
pub const MEMORY_BYTES: usize = 2 * SETS * 2 * size_of::<Slot>();
/// Added to a slot's tag for an IPv6 prefix.
const IPV6_TAG: u16 = 0x100;

/// One prefix's sums since they last went on. Hot fields first: a hit reads the key and adds
/// to the sums, and for a prefix of at most 8 host bits tests its host's bit in `seen`.
#[derive(Clone, Copy)]
struct Slot {
    /// The prefix's bits (an IPv4 network in the low 32 bits); with `tag`, the slot's key.
    bits: u128,
    packets: u64,
    bytes: u64,
    /// 0 when empty; else the prefix's length, plus [`IPV6_TAG`] for IPv6.
    tag: u16,
    held: u8,
    /// For a prefix of at most 8 host bits (an IPv4 /24): the hosts whose coupon has been
    /// taken since the prefix took the slot, so that an address goes on once an interval
    /// rather than once per chunk. Larger prefixes rely on `coupons` alone.
    seen: [u64; 4],
    /// The first `held` are the coupons waiting; the rest are placeholders, never read.
    coupons: [Coupon; SLOT_COUPONS],
}

impl Slot {
    /// Empties the slot: no prefix, sums, coupons or hosts seen.
    fn free(&mut self) {
        (self.bits, self.tag) = (0, 0);
        (self.packets, self.bytes, self.held) = (0, 0, 0);
        self.seen = [0; 4];
    }
}

/// What the cache keys an address of one family by: its longest counted length.
#[derive(Clone, Copy)]
struct Longest {
    mask: u128,
    tag: u16,
    /// At most 8 host bits: `seen` tracks its hosts.
    small: bool,
}

impl Longest {
    fn of(lengths: &[u8], bits: u8, tag: u16) -> Option<Self> {
        let &length = lengths.last()?;
        let host_bits = bits - length;
        Some(Self {
            mask: host_mask(bits) & !host_mask(host_bits),
            tag: tag | u16::from(length),
            small: host_bits <= 8,
        })
    }
}

/// The low `host_bits` bits set.
fn host_mask(host_bits: u8) -> u128 {
    u128::MAX
        .checked_shr(128 - u32::from(host_bits))
        .unwrap_or(0)
}

/// What a slot hands on: the sums of one prefix at its family's longest length since they last
/// went on, and the coupons of its addresses not handed on before.
pub(in crate::monitor) struct Handed {
    /// 0 sources, 1 destinations.
    pub(in crate::monitor) side: usize,
    longest: Prefix,
    pub(in crate::monitor) packets: u64,
    pub(in crate::monitor) bytes: u64,
    coupons: [Coupon; SLOT_COUPONS],
    held: u8,
}

impl Handed {
    /// Its prefix at every length of `lengths` of its family.
    pub(in crate::monitor) fn prefixes<'a>(
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
    pub(in crate::monitor) fn coupons(&self) -> impl Iterator<Item = Coupon> + '_ {
        self.coupons[..usize::from(self.held)].iter().copied()
    }
}

/// The caches of both directions.
pub(super) struct PrefixCache {
    sets: [Box<[[Slot; 2]; SETS]>; 2],
    ipv4: Option<Longest>,
    ipv6: Option<Longest>,
}

impl PrefixCache {
    /// Empty caches keyed by the longest of `lengths` per family.
    pub(super) fn new(lengths: &PrefixLengths) -> Self {
        Self {
            sets: [empty_sets(), empty_sets()],
            ipv4: Longest::of(lengths.ipv4(), 32, 0),
            ipv6: Longest::of(lengths.ipv6(), 128, IPV6_TAG),
        }
    }

    /// Adds `packets` packets of `bytes` bytes of `address` (with its coupon when distinct
    /// counting is on) to the cache of direction `side` (0 sources, 1 destinations);
    /// `hand_on` gets what a slot gives up to make room or because its coupons are full (at
    /// most one a call: a slot freed for this prefix has no coupons to overflow).
    #[inline]
    pub(super) fn add(
        &mut self,
        side: usize,
        address: &IpAddr,
        packets: u64,
        bytes: u64,
        coupon: Option<Coupon>,
        mut hand_on: impl FnMut(Handed),
    ) {
        let (bits, longest) = match address {
            IpAddr::V4(v4) => (u128::from(v4.to_bits()), self.ipv4),
            IpAddr::V6(v6) => (v6.to_bits(), self.ipv6),
        };
        let Some(longest) = longest else {
            return;
        };
        let bits = bits & longest.mask;
        let set = &mut self.sets[side][set_of(bits, longest.tag)];
        let way = if set[0].bits == bits && set[0].tag == longest.tag {
            0
        } else if set[1].bits == bits && set[1].tag == longest.tag {
            1
        } else {
            make_room(set, bits, longest.tag, side, &mut hand_on)
        };
        let slot = &mut set[way];
        if let Some(coupon) = coupon {
            let new = if longest.small {
                let host = address_low_byte(address);
                let word = &mut slot.seen[host / 64];
                let bit = 1 << (host % 64);
                let new = *word & bit == 0;
                *word |= bit;
                new
            } else {
                !slot.coupons[..usize::from(slot.held)].contains(&coupon)
            };
            if new {
                // Full coupons go on first, so that every coupon waits with packets of its own.
                if usize::from(slot.held) == SLOT_COUPONS {
                    if let Some(handed) = take(slot, side, false) {
                        hand_on(handed);
                    }
                }
                if let Some(waiting) = slot.coupons.get_mut(usize::from(slot.held)) {
                    *waiting = coupon;
                    slot.held += 1;
                }
            }
        }
        slot.packets += packets;
        slot.bytes += bytes;
    }

    /// Empties the caches, handing nothing on.
    pub(super) fn clear(&mut self) {
        for slot in self
            .sets
            .iter_mut()
            .flat_map(|sets| sets.iter_mut().flatten())
        {
            slot.free();
        }
    }

    /// Hands on everything the caches hold and empties them: at the end of an interval.
    pub(super) fn take_all(&mut self, mut hand_on: impl FnMut(Handed)) {
        for (side, sets) in self.sets.iter_mut().enumerate() {
            for slot in sets.iter_mut().flatten() {
                if let Some(handed) = take(slot, side, true) {
                    hand_on(handed);
                }
            }
        }
    }
}

/// Empty sets, built on the heap: `Box::new` of the array would build its 300 KB or so on the stack
/// first, which a thread with a small stack may not have.
fn empty_sets() -> Box<[[Slot; 2]; SETS]> {
    let empty = Slot {
        bits: 0,
        packets: 0,
        bytes: 0,
        tag: 0,
        held: 0,
        seen: [0; 4],
        coupons: [coupon_of_bytes(&[]); SLOT_COUPONS],
    };
    let sets = vec![[empty; 2]; SETS].into_boxed_slice();
    sets.try_into()
        .unwrap_or_else(|_| unreachable!("a vector of SETS sets"))
}

/// The way that prefix (`bits`, `tag`) takes in `set`, whose slots hold others: the lighter
/// one, whose sums go to `hand_on` first, as in the flow cache. Out of line: busy prefixes
/// keep their slots.
#[inline(never)]
fn make_room(
    set: &mut [Slot; 2],
    bits: u128,
    tag: u16,
    side: usize,
    hand_on: &mut impl FnMut(Handed),
) -> usize {
    let way = usize::from(set[1].packets < set[0].packets);
    if let Some(handed) = take(&mut set[way], side, true) {
        hand_on(handed);
    }
    set[way].bits = bits;
    set[way].tag = tag;
    way
}

/// Takes the sums and coupons of `slot` of direction `side` (`None` if it has none);
/// `empty`: frees the slot, else it keeps its prefix and the hosts seen.
#[inline]
fn take(slot: &mut Slot, side: usize, empty: bool) -> Option<Handed> {
    let (bits, tag, packets, bytes) = (slot.bits, slot.tag, slot.packets, slot.bytes);
    let held = slot.held;
    if empty {
        slot.free();
    } else {
        (slot.packets, slot.bytes, slot.held) = (0, 0, 0);
    }
    if tag == 0 || packets == 0 {
        return None;
    }
    let length = (tag & !IPV6_TAG) as u8;
    let address = if tag & IPV6_TAG == 0 {
        IpAddr::V4(Ipv4Addr::from(bits as u32))
    } else {
        IpAddr::V6(Ipv6Addr::from(bits))
    };
    Some(Handed {
        side,
        longest: Prefix::of(&address, length),
        packets,
        bytes,
        coupons: slot.coupons,
        held,
    })
}

/// The set of prefix (`bits`, `tag`): one multiply of its bits (the hash need not be one the
/// sketches could use, only spread the busy prefixes over the sets).
#[inline]
fn set_of(bits: u128, tag: u16) -> usize {
    let folded = (bits >> 64) as u64 ^ (bits as u64).rotate_left(29) ^ u64::from(tag);
    let mixed = folded.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (mixed >> (64 - SETS.trailing_zeros())) as usize
}

/// The low byte of `address`: its host within a prefix of at most 8 host bits.
#[inline]
fn address_low_byte(address: &IpAddr) -> usize {
    match address {
        IpAddr::V4(v4) => usize::from(v4.octets()[3]),
        IpAddr::V6(v6) => usize::from(v6.octets()[15]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sketch::hll::coupon_of_bytes;
    use std::collections::{HashMap, HashSet};

    /// Per (side, longest prefix): packets, bytes and the coupons handed on, each counted.
    type Received = HashMap<(usize, Prefix), (u64, u64, HashMap<Coupon, u32>)>;

    fn receive(received: &mut Received, handed: Handed) {
        let entry = received.entry((handed.side, handed.longest)).or_default();
        entry.0 += handed.packets;
        entry.1 += handed.bytes;
        assert!(handed.packets > 0, "every hand-on carries packets");
        for coupon in handed.coupons() {
            *entry.2.entry(coupon).or_default() += 1;
        }
    }

    fn coupon(address: &IpAddr) -> Coupon {
        match address {
            IpAddr::V4(v4) => coupon_of_bytes(&v4.octets()),
            IpAddr::V6(v6) => coupon_of_bytes(&v6.octets()),
        }
    }

    /// Every packet, byte and address reaches its prefix, whatever took slots from whom or
    /// overflowed their coupons; an address of a /24 goes on once.
    #[test]
    fn the_cache_hands_on_every_packet_and_address_of_each_prefix() {
        let lengths = PrefixLengths::DEFAULT;
        let mut cache = PrefixCache::new(&lengths);
        let mut received = Received::new();
        let mut expected: HashMap<(usize, Prefix), (u64, u64, HashSet<IpAddr>)> = HashMap::new();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for packet in 0..200_000u64 {
            let r = next();
            // Four busy /24s, 5 000 quiet ones (more than the sets hold), and IPv6 hosts of a
            // few /64s, many more than a slot's coupons.
            let address = match r % 10 {
                0..=5 => IpAddr::V4(Ipv4Addr::new(203, 0, (r >> 8) as u8 % 4, (r >> 16) as u8)),
                6 | 7 => {
                    let quiet = (r >> 8) % 5_000;
                    IpAddr::V4(Ipv4Addr::new(
                        10,
                        (quiet >> 8) as u8,
                        quiet as u8,
                        (r >> 32) as u8,
                    ))
                }
                _ => IpAddr::V6(Ipv6Addr::new(
                    0x2001,
                    0xdb8,
                    0,
                    (r >> 8) as u16 % 3,
                    0,
                    0,
                    0,
                    (r >> 24) as u16 % 600,
                )),
            };
            let side = (packet % 2) as usize;
            let (packets, bytes) = (1 + r % 3, 60 + r % 1400);
            let longest = *lengths.of(&address).last().unwrap();
            let sums = expected
                .entry((side, Prefix::of(&address, longest)))
                .or_default();
            sums.0 += packets;
            sums.1 += bytes;
            sums.2.insert(address);
            cache.add(
                side,
                &address,
                packets,
                bytes,
                Some(coupon(&address)),
                |h| receive(&mut received, h),
            );
        }
        cache.take_all(|h| receive(&mut received, h));
        assert_eq!(received.len(), expected.len());
        for (key, (packets, bytes, addresses)) in expected {
            let (got_packets, got_bytes, coupons) = &received[&key];
            assert_eq!((*got_packets, *got_bytes), (packets, bytes), "{key:?}");
            let wanted: HashSet<Coupon> = addresses.iter().map(coupon).collect();
            let got: HashSet<Coupon> = coupons.keys().copied().collect();
            assert_eq!(got, wanted, "{key:?}");
            if key.1.host_bits() <= 8 && key.1.address().to_string().starts_with("203.") {
                // The busy /24s never lose their slots: each address went on once.
                assert!(coupons.values().all(|&n| n == 1), "{key:?}");
            }
        }
        // Emptied.
        cache.take_all(|h| panic!("left behind: {:?}", h.longest));
    }

    #[test]
    fn a_family_without_lengths_is_not_cached() {
        let lengths = PrefixLengths::new(&[24], &[]).unwrap();
        let mut cache = PrefixCache::new(&lengths);
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        cache.add(0, &v6, 1, 100, None, |_| panic!("nothing to hand on"));
        let mut handed = 0;
        cache.take_all(|_| handed += 1);
        assert_eq!(handed, 0);
    }
}
