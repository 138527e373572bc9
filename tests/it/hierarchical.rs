//! Hierarchical heavy hitters on a generated carpet bombing and botnet (issue #18), held to an
//! exact HHH computed here: libpcap reads the capture, etherparse dissects it, every address is
//! counted and masked to each length here, and the conditioned counts are taken here, longest
//! prefixes first. The bombed /24 must be named, and its /16 and /8 only when they are heavy on
//! their own; at a lower `--hhh-share` the botnet's /24s are named instead of their /16, in a
//! replay and in `hhmon merge` of its snapshots.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use hhmon::report::{HierarchicalEntry, IntervalReport, DEFAULT_HIERARCHICAL_SHARE};

use crate::util::attacks::{self, CARPET};
use crate::util::hhmon::{hhmon, replay_into};
use crate::util::recount::ip_packets;
use crate::util::snapshots::{interval_files, read};

/// The botnet's /24s, each with 4% of the packets, and the /16 they make up.
const BOTNET_24S: [&str; 4] = [
    "198.18.0.0/24",
    "198.18.1.0/24",
    "198.18.2.0/24",
    "198.18.3.0/24",
];
const BOTNET_16: &str = "198.18.0.0/16";

/// 300 000 packets (3 s of trace time) of background traffic, the carpet bombing (20%) and
/// the botnet (16%).
fn attack_trace(dir: &Path) -> PathBuf {
    attacks::attack_trace(dir, 300_000, 100_000, true)
}

/// The packets a network must carry on its own to be a hierarchical heavy hitter at `share` of
/// `total`, rounded up as hhmon rounds it.
fn threshold(total: u64, share: f64) -> u64 {
    (total as f64 * share).ceil() as u64
}

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

/// The exact hierarchical heavy hitters of `pcap` at `share`: (destinations, sources).
fn exact_hhh_at(pcap: &Path, share: f64) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
    let [sources, destinations] = exact_addresses(pcap);
    let threshold = threshold(sources.values().sum(), share);
    (
        exact_hhh(&destinations, threshold),
        exact_hhh(&sources, threshold),
    )
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

/// Replays `pcap` with `extra` flags as one interval and holds its hierarchical lists to the
/// exact ones: equal with `--exact`; sketched (on one thread and on two workers), the same
/// networks with conditioned counts within 1%. Each report must say it used `share`.
fn assert_replays_find(
    pcap: &Path,
    extra: &[&str],
    share: f64,
    exact_destinations: &BTreeMap<String, u64>,
    exact_sources: &BTreeMap<String, u64>,
) {
    let with = |more: &[&'static str]| -> Vec<&str> { extra.iter().chain(more).copied().collect() };
    let exact = replay(pcap, &with(&["--exact"]));
    assert_eq!(exact.hierarchical_share, share);
    assert_eq!(
        listed(&exact.hierarchical_destination_prefixes),
        *exact_destinations
    );
    assert_eq!(listed(&exact.hierarchical_source_prefixes), *exact_sources);
    for (how, more) in [
        ("sketched", &[][..]),
        ("two workers", &["--workers", "2"][..]),
    ] {
        let report = replay(pcap, &with(more));
        assert_eq!(report.hierarchical_share, share, "{how}");
        for (got, want) in [
            (
                &report.hierarchical_destination_prefixes,
                exact_destinations,
            ),
            (&report.hierarchical_source_prefixes, exact_sources),
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

#[test]
fn the_bombed_24_is_named_and_not_the_16_or_8_above_it() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = attack_trace(dir.path());
    let (exact_destinations, exact_sources) = exact_hhh_at(&pcap, DEFAULT_HIERARCHICAL_SHARE);
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
    assert!(exact_sources.contains_key(BOTNET_16), "{exact_sources:?}");
    for botnet_24 in BOTNET_24S {
        assert!(!exact_sources.contains_key(botnet_24), "{exact_sources:?}");
    }
    assert_replays_find(
        &pcap,
        &[],
        DEFAULT_HIERARCHICAL_SHARE,
        &exact_destinations,
        &exact_sources,
    );
}

#[test]
fn at_a_3_percent_share_each_botnet_24_is_named_and_not_their_16() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = attack_trace(dir.path());
    let (exact_destinations, exact_sources) = exact_hhh_at(&pcap, 0.03);
    println!("HHH at 3% destinations {exact_destinations:?} sources {exact_sources:?}");
    // Each /24 now reaches the share, and nothing is left to their /16 once they are taken off.
    for botnet_24 in BOTNET_24S {
        assert!(exact_sources.contains_key(botnet_24), "{exact_sources:?}");
    }
    assert!(!exact_sources.contains_key(BOTNET_16), "{exact_sources:?}");
    assert!(exact_destinations.contains_key(CARPET));
    assert_replays_find(
        &pcap,
        &["--hhh-share", "0.03"],
        0.03,
        &exact_destinations,
        &exact_sources,
    );
}

/// `hhmon merge` of one-second snapshots written with `--hhh-share 0.03` recomputes the lists
/// of the whole trace at 3%, and at the share `merge --hhh-share` gives instead.
#[test]
fn merge_recomputes_at_the_share_of_its_snapshots_unless_given_one() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = attack_trace(dir.path());
    let [sources, _] = exact_addresses(&pcap);
    let total: u64 = sources.values().sum();
    let snapshots = dir.path().join("snapshots");
    // Exact counting, and lists longer than the 33 networks a length can have over 3%, so that
    // the merged lists hold every heavy network with its whole count.
    replay_into(&snapshots)
        .args(["--interval", "1s", "--top", "40", "--exact"])
        .args(["--hhh-share", "0.03"])
        .arg(&pcap)
        .output()
        .succeeded();
    let files = interval_files(&snapshots);
    assert_eq!(files.len(), 3, "{files:?}");
    for file in &files {
        assert_eq!(read(file).hierarchical_share, 0.03, "{}", file.display());
    }
    for (given, share) in [(None, 0.03), (Some("0.05"), DEFAULT_HIERARCHICAL_SHARE)] {
        let out = dir.path().join("merged.json");
        let mut merge = hhmon(["merge", "--top", "40", "--out"]).arg(&out);
        if let Some(given) = given {
            merge = merge.args(["--hhh-share", given]);
        }
        merge.args(&files).output().succeeded();
        let merged = read(&out);
        assert_eq!(merged.totals.packets, total);
        assert_eq!(merged.hierarchical_share, share, "{given:?}");
        let (exact_destinations, exact_sources) = exact_hhh_at(&pcap, share);
        assert_eq!(
            listed(&merged.hierarchical_source_prefixes),
            exact_sources,
            "{given:?}"
        );
        assert_eq!(
            listed(&merged.hierarchical_destination_prefixes),
            exact_destinations,
            "{given:?}"
        );
        let botnet_named = BOTNET_24S
            .iter()
            .all(|net| exact_sources.contains_key(*net));
        assert_eq!(botnet_named, share < 0.04, "{exact_sources:?}");
        assert_eq!(exact_sources.contains_key(BOTNET_16), !botnet_named);
    }
}
