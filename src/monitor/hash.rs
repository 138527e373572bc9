//! The hashes the views place keys by: fixed-key folded-multiply hashes of addresses and
//! five-tuples (the same on every run, so replays give the same reports), and the seeds of
//! exact mode's. Knows nothing of sketches or intervals.

use crate::decode::FlowKey;
use crate::prefix::Prefix;
use std::hash::Hash;
use std::net::IpAddr;

/// Seeds of the exact-mode key hash.
pub(super) const EXACT_HASH_SEEDS: [u64; 4] = [0x6868, 0x6d6f, 0x6e5f, 0x6578];

/// A key of a view, with the hash its sketches place it by.
///
/// The sketches take the fingerprint from the low 16 bits and the buckets from the high 32
/// bits, and the worker threads the owner from bits 16 to 32, so every bit must depend on
/// every bit of the key. `#[derive(Hash)]` through a general hasher gets there in about nine
/// rounds for a five-tuple (the address enums write their discriminants, the ports and the
/// protocol one write each); these hashes read each key as one or two whole words instead, and
/// the five-tuple's folds in the hashes of its two addresses, which the address views compute
/// for the same packet anyway ([`HeavyHitters::flow_hash`](super::heavy::HeavyHitters::flow_hash)).
pub(super) trait ViewKey: Hash + Eq + Clone + Ord {
    /// The key's hash: the same on every run, and across the views' sketches.
    fn view_hash(&self) -> u64;
}

/// Keys of the view hashes (digits of pi, as any fixed odd constants would do): fixed, so that
/// a replay gives the same reports every time.
const VIEW_HASH_KEYS: [u64; 5] = [
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7345,
    0xa409_3822_299f_31d1,
    0x082e_fa98_ec4e_6c89,
    0x4528_21e6_38d0_1377,
];

/// The 128-bit product of `a` and `b` folded to 64 bits: every output bit depends on every
/// input bit of both (the mixing step of ahash's fallback hasher and of folded-multiply
/// hashes in general).
#[inline(always)]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ ((product >> 64) as u64)
}

impl ViewKey for IpAddr {
    /// An IPv4 address is one word and an IPv6 address two, each folded with its own keys, so
    /// an IPv4 address and the IPv6 address with the same low bytes hash apart.
    #[inline]
    fn view_hash(&self) -> u64 {
        let [k0, k1, k2, k3, _] = VIEW_HASH_KEYS;
        let mixed = match self {
            IpAddr::V4(v4) => folded_multiply(u64::from(v4.to_bits()) ^ k0, k1),
            IpAddr::V6(v6) => {
                let bits = v6.to_bits();
                folded_multiply((bits as u64) ^ k2, ((bits >> 64) as u64) ^ k3)
            }
        };
        folded_multiply(mixed, k1)
    }
}

impl ViewKey for Prefix {
    /// The network address's hash (as [`IpAddr`]'s) with the length folded in, so that a
    /// network and its first longer subnet (`10.0.0.0/8`, `10.0.0.0/16`) hash apart.
    #[inline]
    fn view_hash(&self) -> u64 {
        let [.., k4] = VIEW_HASH_KEYS;
        folded_multiply(self.address().view_hash() ^ u64::from(self.length()), k4)
    }
}

impl ViewKey for FlowKey {
    #[inline]
    fn view_hash(&self) -> u64 {
        flow_view_hash(self, self.src.view_hash(), self.dst.view_hash())
    }
}

/// The view hash of `key`, given those of its addresses: theirs with the ports and the protocol
/// folded into them.
#[inline]
pub(super) fn flow_view_hash(key: &FlowKey, src_hash: u64, dst_hash: u64) -> u64 {
    let [k0, .., k4] = VIEW_HASH_KEYS;
    let ports =
        u64::from(key.src_port) << 24 | u64::from(key.dst_port) << 8 | u64::from(key.protocol);
    folded_multiply(folded_multiply(src_hash ^ ports, dst_hash ^ k4), k0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::testing::tcp;
    use std::net::Ipv4Addr;

    fn between(src: u32, dst: u32) -> FlowKey {
        tcp(src, dst, 1234)
    }

    #[test]
    fn view_hashes_agree_with_equality_and_tell_v4_from_v6() {
        let v4 = IpAddr::V4(Ipv4Addr::new(1, 2, 3, 4));
        assert_eq!(
            v4.view_hash(),
            "1.2.3.4".parse::<IpAddr>().unwrap().view_hash()
        );
        for v6 in ["::1.2.3.4", "::ffff:1.2.3.4", "102:304::"] {
            let v6: IpAddr = v6.parse().unwrap();
            assert_ne!(v4.view_hash(), v6.view_hash(), "{v6}");
        }
        let key = between(1, 2);
        assert_eq!(key.view_hash(), between(1, 2).view_hash());
        let others = [
            between(2, 1),
            FlowKey {
                protocol: 17,
                ..key
            },
            FlowKey {
                src_port: key.dst_port,
                dst_port: key.src_port,
                ..key
            },
            FlowKey {
                src: "::10.0.0.1".parse().unwrap(),
                ..key
            },
        ];
        for other in others {
            assert_ne!(key.view_hash(), other.view_hash(), "{other:?}");
        }
    }

    /// Keys that differ in a few low bits (consecutive addresses, the ports of one host pair)
    /// must spread like random values over every bit range a consumer uses: the fingerprint
    /// (low 16 bits), the sketch and fan-table buckets (high 32) and the worker (bits 16..32).
    #[test]
    fn view_hashes_spread_similar_keys_like_random_values() {
        const N: u32 = 1 << 16;
        const BINS: u64 = 1024;
        let host = |i: u32| IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
        let sets: [(&str, Vec<u64>); 3] = [
            ("IPv4", (0..N).map(|i| host(i).view_hash()).collect()),
            (
                "IPv6",
                (0..N)
                    .map(|i| IpAddr::V6((0x2001_0db8_u128 << 96 | u128::from(i)).into()))
                    .map(|a| a.view_hash())
                    .collect(),
            ),
            (
                "ports",
                (0..N)
                    .map(|i| FlowKey {
                        src_port: i as u16,
                        ..between(1, 2)
                    })
                    .map(|k| k.view_hash())
                    .collect(),
            ),
        ];
        for (name, hashes) in sets {
            // N random 16-bit fingerprints take N (1 - 1/e) = 41 427 values, sd about 110.
            let fingerprints: std::collections::HashSet<u16> =
                hashes.iter().map(|&h| h as u16).collect();
            assert!(
                fingerprints.len().abs_diff(41_427) < 1_000,
                "{name}: {} fingerprints",
                fingerprints.len()
            );
            // Chi-square over 1024 bins: 1023 degrees of freedom, mean 1023, sd 45.
            for (range, bin) in [
                (
                    "high 32 bits",
                    (|h: u64| ((h >> 32) * BINS) >> 32) as fn(u64) -> u64,
                ),
                ("bits 16..32", |h: u64| (((h >> 16) & 0xffff) * BINS) >> 16),
            ] {
                let mut counts = vec![0u64; BINS as usize];
                for &h in &hashes {
                    counts[bin(h) as usize] += 1;
                }
                let expected = f64::from(N) / BINS as f64;
                let chi2: f64 = counts
                    .iter()
                    .map(|&c| (c as f64 - expected).powi(2) / expected)
                    .sum();
                assert!(chi2 < 1_300.0, "{name}, {range}: chi-square {chi2:.0}");
            }
        }
    }
}
