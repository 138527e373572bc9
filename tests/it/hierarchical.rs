//! Hierarchical heavy hitters on a generated carpet bombing and botnet (issue #18), held to an
//! exact HHH computed here: libpcap reads the capture, etherparse dissects it, every address is
//! counted and masked to each length here, and the conditioned counts are taken here, longest
//! prefixes first. The bombed /24 must be named, and its /16 and /8 only when they are heavy on
//! their own.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use hhmon::report::{HierarchicalEntry, IntervalReport, HIERARCHICAL_SHARE};

use crate::util::hhmon::{hhmon, replay_into};
use crate::util::recount::ip_packets;

const CARPET: &str = "203.0.113.0/24";

/// Packets per source and per destination address.
fn exact_addresses(pcap: &Path) -> [BTreeMap<IpAddr, u64>; 2] {
    let [mut sources, mut destinations] = [BTreeMap::new(), BTreeMap::new()];
    for (src, dst, _) in ip_packets(pcap) {
        *sources.entry(src).or_insert(0) += 1;
        *destinations.entry(dst).or_insert(0) += 1;
    }
    [sources, destinations]
}

/// A network as (IPv6?, masked bits as u128, length).
type Net = (bool, u128, u32);

fn masked(address: IpAddr, length: u32) -> Net {
    match address {
        IpAddr::V4(v4) => {
            let bits = u128::from(u32::from(v4));
            (false, bits & !(u128::from(u32::MAX) >> length), length)
        }
        IpAddr::V6(v6) => (
            true,
            u128::from(v6) & !(u128::MAX.checked_shr(length).unwrap_or(0)),
            length,
        ),
    }
}

fn inside(outer: Net, inner: Net) -> bool {
    let width = if outer.0 { 128 } else { 32 };
    outer.0 == inner.0
        && inner.2 >= outer.2
        && (outer.2 == 0 || (inner.1 >> (width - outer.2)) == (outer.1 >> (width - outer.2)))
}

fn text(net: Net) -> String {
    let address: IpAddr = if net.0 {
        std::net::Ipv6Addr::from(net.1).into()
    } else {
        std::net::Ipv4Addr::from(net.1 as u32).into()
    };
    format!("{address}/{}", net.2)
}

/// The exact hierarchical heavy hitters over hhmon's default lengths and single addresses:
/// each network with its conditioned packets.
fn exact_hhh(counts: &BTreeMap<IpAddr, u64>, threshold: u64) -> BTreeMap<String, u64> {
    let mut by_net: BTreeMap<Net, u64> = BTreeMap::new();
    for (&address, &count) in counts {
        let lengths: &[u32] = if address.is_ipv4() {
            &[8, 16, 24, 32]
        } else {
            &[32, 48, 64, 128]
        };
        for &length in lengths {
            *by_net.entry(masked(address, length)).or_insert(0) += count;
        }
    }
    let mut nets: Vec<(Net, u64)> = by_net.into_iter().collect();
    nets.sort_by_key(|(net, _)| std::cmp::Reverse(net.2));
    let mut heavy: Vec<(Net, u64)> = Vec::new();
    let mut result = BTreeMap::new();
    for (net, count) in nets {
        let below: Vec<&(Net, u64)> = heavy.iter().filter(|(h, _)| inside(net, *h)).collect();
        let outermost: u64 = below
            .iter()
            .filter(|(h, _)| !below.iter().any(|(o, _)| o != h && inside(*o, *h)))
            .map(|(_, c)| c)
            .sum();
        let conditioned = count - outermost;
        if conditioned >= threshold {
            heavy.push((net, count));
            result.insert(text(net), conditioned);
        }
    }
    result
}

fn listed(entries: &[HierarchicalEntry]) -> BTreeMap<String, u64> {
    entries
        .iter()
        .map(|e| (e.prefix.to_string(), e.conditioned_packets))
        .collect()
}

fn replay(pcap: &Path, extra: &[&str]) -> IntervalReport {
    let dir = tempfile::tempdir().unwrap();
    replay_into(dir.path())
        .args(["--interval", "1000000000s", "--top", "20"])
        .args(extra)
        .arg(pcap)
        .output()
        .succeeded();
    serde_json::from_slice(&std::fs::read(dir.path().join("latest.json")).unwrap()).unwrap()
}

#[test]
fn the_bombed_24_is_named_and_not_the_16_or_8_above_it() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("attacks.pcap");
    hhmon(["generate", "--packets", "300000", "--flows", "100000"])
        .args(["--carpet-bomb", CARPET, "--carpet-share", "0.2"])
        .args(["--botnet", "4", "--botnet-share", "0.16", "--out"])
        .arg(&pcap)
        .output()
        .succeeded();
    let [sources, destinations] = exact_addresses(&pcap);
    let total: u64 = sources.values().sum();
    let threshold = (total as f64 * HIERARCHICAL_SHARE).ceil() as u64;
    let exact_destinations = exact_hhh(&destinations, threshold);
    let exact_sources = exact_hhh(&sources, threshold);
    assert!(
        exact_destinations.contains_key(CARPET),
        "{exact_destinations:?}"
    );
    println!("HHH destinations {exact_destinations:?} sources {exact_sources:?}");
    for above in ["203.0.0.0/16", "203.0.0.0/8"] {
        assert!(
            !exact_destinations.contains_key(above),
            "{exact_destinations:?}"
        );
    }
    // Each botnet /24 carries 4% of the packets, under the 5% share: together they make their
    // /16 heavy on its own.
    assert!(
        exact_sources.contains_key("198.18.0.0/16"),
        "{exact_sources:?}"
    );

    let exact = replay(&pcap, &["--exact"]);
    assert_eq!(
        listed(&exact.hierarchical_destination_prefixes),
        exact_destinations
    );
    assert_eq!(listed(&exact.hierarchical_source_prefixes), exact_sources);
    for (how, extra) in [
        ("sketched", &[][..]),
        ("two workers", &["--workers", "2"][..]),
    ] {
        let report = replay(&pcap, extra);
        for (got, want) in [
            (
                &report.hierarchical_destination_prefixes,
                &exact_destinations,
            ),
            (&report.hierarchical_source_prefixes, &exact_sources),
        ] {
            let got = listed(got);
            assert_eq!(
                got.keys().collect::<Vec<_>>(),
                want.keys().collect::<Vec<_>>(),
                "{how}"
            );
            for (prefix, conditioned) in got {
                let real = want[&prefix] as f64;
                assert!(
                    (conditioned as f64 - real).abs() <= 0.01 * real,
                    "{how}: {prefix} {conditioned} against {real}"
                );
            }
        }
    }
}
