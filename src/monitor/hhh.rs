//! Hierarchical heavy hitters: of the heavy prefixes at every length (and the heavy single
//! addresses below them), those that are heavy on their own once the traffic of their heavy
//! descendants is taken away, so that a report says "the /24 is the attack", not also every
//! /16 and /8 above it.
//!
//! The *conditioned count* of a prefix is its count less the counts of its heavy descendants
//! that are not themselves inside another heavy descendant of it (Cormode et al.'s definition).
//! Going from the longest length to the shortest, a prefix is a hierarchical heavy hitter when
//! its conditioned count reaches the threshold.
//!
//! The counts come from the per-length top lists (every packet counted at every length, not
//! sampled as the randomized HHH algorithm does: docs/BENCHMARKS.md, "Hierarchical heavy
//! hitters", measures both): a prefix's conditioned count is off by at most the sum of the
//! errors of its own count and of the counts subtracted from it. With exact counting it is
//! exact, provided every heavy prefix of every length is in its list: a list long enough to
//! hold every key over the threshold (at most `1 / threshold` of them per length) makes sure of
//! that. Knows nothing of sketches, packets or threads.

use crate::prefix::Prefix;
use crate::report::{AddressEntry, HierarchicalEntry, PrefixEntry};

/// Whether `inner` lies inside `outer` (or is it).
fn within(outer: &Prefix, inner: &Prefix) -> bool {
    inner.length() >= outer.length() && outer.contains(&inner.address())
}

/// A heavy network and its count (packets or bytes, whichever is being ranked).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counted {
    /// The network (a single address has the full length).
    pub network: Prefix,
    /// Its count in the interval.
    pub count: u64,
}

/// A hierarchical heavy hitter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hierarchical {
    /// The network.
    pub network: Prefix,
    /// Its count.
    pub count: u64,
    /// Its count less those of its heavy descendants.
    pub conditioned: u64,
}

/// The hierarchical heavy hitters among `candidates` (the listed networks of every length,
/// each with its count), those whose conditioned count reaches `threshold`: longest networks
/// first, then by conditioned count, largest first.
pub fn hierarchical(candidates: &[Counted], threshold: u64) -> Vec<Hierarchical> {
    let mut order: Vec<&Counted> = candidates.iter().collect();
    order.sort_by(|a, b| {
        b.network
            .length()
            .cmp(&a.network.length())
            .then(b.count.cmp(&a.count))
            .then(a.network.cmp(&b.network))
    });
    let mut heavy: Vec<Hierarchical> = Vec::new();
    for candidate in order {
        let inside: Vec<&Hierarchical> = heavy
            .iter()
            .filter(|h| h.network != candidate.network && within(&candidate.network, &h.network))
            .collect();
        // Only the outermost heavy descendants: the others are already in their counts.
        let discounted: u64 = inside
            .iter()
            .filter(|h| {
                !inside
                    .iter()
                    .any(|o| o.network != h.network && within(&o.network, &h.network))
            })
            .map(|h| h.count)
            .sum();
        let conditioned = candidate.count.saturating_sub(discounted);
        if conditioned >= threshold.max(1) {
            heavy.push(Hierarchical {
                network: candidate.network,
                count: candidate.count,
                conditioned,
            });
        }
    }
    heavy.sort_by(|a, b| {
        b.network
            .length()
            .cmp(&a.network.length())
            .then(b.conditioned.cmp(&a.conditioned))
            .then(a.network.cmp(&b.network))
    });
    heavy
}

/// The hierarchical heavy hitters of one direction of a report, by packets: among its
/// `prefixes` of every length and its `addresses` (full-length prefixes), those carrying at
/// least `share` (a fraction, see
/// [`DEFAULT_HIERARCHICAL_SHARE`](crate::report::DEFAULT_HIERARCHICAL_SHARE)) of the
/// interval's `total` packets on their own.
pub fn of_lists(
    addresses: &[AddressEntry],
    prefixes: &[PrefixEntry],
    total: u64,
    share: f64,
) -> Vec<HierarchicalEntry> {
    let candidates: Vec<Counted> = prefixes
        .iter()
        .map(|entry| Counted {
            network: entry.prefix,
            count: entry.packets,
        })
        .chain(addresses.iter().map(|entry| Counted {
            network: Prefix::of(&entry.address, u8::MAX),
            count: entry.packets,
        }))
        .collect();
    let threshold = (total as f64 * share).ceil() as u64;
    hierarchical(&candidates, threshold)
        .into_iter()
        .map(|heavy| HierarchicalEntry {
            prefix: heavy.network,
            packets: heavy.count,
            conditioned_packets: heavy.conditioned,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::net::{IpAddr, Ipv4Addr};

    fn network(text: &str) -> Prefix {
        text.parse().unwrap()
    }

    /// Every prefix of `lengths` of the addresses counted in `counts`, with its exact count.
    fn exact_prefixes(counts: &HashMap<Ipv4Addr, u64>, lengths: &[u8]) -> Vec<Counted> {
        let mut by_network: HashMap<Prefix, u64> = HashMap::new();
        for (&address, &count) in counts {
            for &length in lengths {
                *by_network
                    .entry(Prefix::of(&IpAddr::V4(address), length))
                    .or_default() += count;
            }
        }
        by_network
            .into_iter()
            .map(|(network, count)| Counted { network, count })
            .collect()
    }

    #[test]
    fn containment_follows_the_bits() {
        let inside = |outer: &str, inner: &str| within(&network(outer), &network(inner));
        assert!(inside("10.0.0.0/8", "10.1.2.0/24"));
        assert!(inside("10.1.2.0/24", "10.1.2.0/24"));
        assert!(!inside("10.1.2.0/24", "10.0.0.0/8"));
        assert!(!inside("10.1.2.0/24", "10.1.3.0/24"));
        assert!(inside("0.0.0.0/0", "192.0.2.1/32"));
        assert!(inside("2001:db8::/32", "2001:db8:1::/48"));
        assert!(!inside("2001:db8::/32", "10.0.0.0/8"));
        assert!(!inside("2001:db8::/48", "2001:db9::/64"));
    }

    #[test]
    fn a_carpet_bombed_24_is_heavy_and_the_16_and_8_above_it_are_not() {
        let mut counts = HashMap::new();
        // Background: 1 000 addresses across 10.0.0.0/8, 10 packets each (10 000).
        for i in 0..1_000u32 {
            counts.insert(Ipv4Addr::from(0x0a00_0000 + i * 4_099), 10);
        }
        // The attack: every address of 10.20.30.0/24, 40 packets each (10 240).
        for i in 0..256u32 {
            counts.insert(Ipv4Addr::new(10, 20, 30, i as u8), 40);
        }
        // One heavy single address elsewhere in 10.20.0.0/16.
        counts.insert(Ipv4Addr::new(10, 20, 99, 1), 3_000);
        let total: u64 = counts.values().sum();
        let candidates = exact_prefixes(&counts, &[8, 16, 24, 32]);
        let heavy = hierarchical(&candidates, total / 10);
        let names: Vec<(String, u8)> = heavy
            .iter()
            .map(|h| (h.network.address().to_string(), h.network.length()))
            .collect();
        // The /8 keeps the background (10 000 of 23 240, over a tenth) once the /24 and the
        // single address are taken off; the /16 keeps only its share of the background.
        assert_eq!(
            names,
            [
                ("10.20.99.1".to_owned(), 32),
                ("10.20.30.0".to_owned(), 24),
                ("10.0.0.0".to_owned(), 8),
            ]
        );
        assert_eq!(heavy[1].conditioned, 10_240);
        assert_eq!(heavy[2].conditioned, total - 10_240 - 3_000);
    }

    #[test]
    fn the_share_sets_the_threshold_of_the_lists() {
        // Four /24s of 4% each under one /16 of 16%, the rest spread thin.
        let prefixes: Vec<PrefixEntry> = (0..4)
            .map(|i| PrefixEntry::new(network(&format!("198.18.{i}.0/24")), 40, 4_000))
            .chain([PrefixEntry::new(network("198.18.0.0/16"), 160, 16_000)])
            .collect();
        let named = |share: f64| -> Vec<String> {
            of_lists(&[], &prefixes, 1_000, share)
                .iter()
                .map(|entry| entry.prefix.to_string())
                .collect()
        };
        assert_eq!(named(0.05), ["198.18.0.0/16"]);
        assert_eq!(
            named(0.03),
            [
                "198.18.0.0/24",
                "198.18.1.0/24",
                "198.18.2.0/24",
                "198.18.3.0/24"
            ]
        );
        // The threshold is rounded up: 40 packets are not 4.01% of 1 000.
        assert_eq!(named(0.0401), ["198.18.0.0/16"]);
        assert_eq!(named(0.04).len(), 4);
    }

    #[test]
    fn nested_heavy_descendants_are_discounted_once() {
        let list = [
            Counted {
                network: network("10.0.0.0/8"),
                count: 1_000,
            },
            Counted {
                network: network("10.1.0.0/16"),
                count: 700,
            },
            Counted {
                network: network("10.1.1.0/24"),
                count: 500,
            },
            Counted {
                network: network("10.2.0.0/16"),
                count: 100,
            },
        ];
        let heavy = hierarchical(&list, 150);
        // The /24 (500), then the /16 with 200 of its own, then the /8 with 1 000 - 700 = 300
        // (the /24 is inside the /16, so it is not taken off the /8 a second time).
        let conditioned: Vec<(u8, u64)> = heavy
            .iter()
            .map(|h| (h.network.length(), h.conditioned))
            .collect();
        assert_eq!(conditioned, [(24, 500), (16, 200), (8, 300)]);
    }
}
