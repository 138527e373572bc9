//! Prefix views against attacks built to stay under the address views (issue #18): a carpet
//! bombing that gives every address of a /24 a little and a botnet spread over a few /24s,
//! written by `hhmon generate`, replayed by the real binary, and held to exact per-prefix counts
//! made here from the capture itself (libpcap reads it, etherparse dissects it, the prefixes
//! are masked here), not from hhmon's own code. The bombed prefix must top its length's
//! destination prefixes with counts within 1% and distinct addresses within 3%, the botnet's
//! prefixes must be listed as sources with the same precision, and no single address of either
//! may reach the address top lists: in sketch mode, with two workers, and counted exactly.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use hhmon::report::{IntervalReport, PrefixEntry};

use crate::util::attacks::{attack_trace, BOTNET_PREFIXES, CARPET};
use crate::util::hhmon::{hhmon, replay_into};
use crate::util::recount::ip_packets;

const TOP: usize = 20;

/// The exact counts of one prefix: packets, bytes and its addresses seen.
#[derive(Default)]
struct Exact {
    packets: u64,
    bytes: u64,
    addresses: BTreeSet<IpAddr>,
}

/// Exact counts per (CIDR text of the prefix) for sources and destinations, at `length` for
/// IPv4 addresses (IPv6 traffic is left out: the attacks here are IPv4).
#[derive(Default)]
struct Recount {
    sources: BTreeMap<String, Exact>,
    destinations: BTreeMap<String, Exact>,
}

/// `address` masked to `length` bits, in CIDR notation; `None` for IPv6.
fn cidr(address: IpAddr, length: u32) -> Option<String> {
    let IpAddr::V4(v4) = address else {
        return None;
    };
    let mask = if length == 0 {
        0
    } else {
        u32::MAX << (32 - length)
    };
    let network = std::net::Ipv4Addr::from(u32::from(v4) & mask);
    Some(format!("{network}/{length}"))
}

fn recount(pcap: &Path) -> Recount {
    let mut recount = Recount::default();
    for (src, dst, wire_len) in ip_packets(pcap) {
        for length in [8, 16, 24] {
            for (map, address) in [
                (&mut recount.sources, src),
                (&mut recount.destinations, dst),
            ] {
                if let Some(prefix) = cidr(address, length) {
                    let exact = map.entry(prefix).or_default();
                    exact.packets += 1;
                    exact.bytes += wire_len;
                    exact.addresses.insert(address);
                }
            }
        }
    }
    recount
}

/// A trace of 300 000 packets over 3 s: Zipf traffic over 100 000 flows (whose heaviest
/// destination /24s get up to some 30 000 packets), 20% of it a carpet bombing of [`CARPET`]
/// (about 234 packets per address, fewer than the 20th destination gets) and 16% a botnet in
/// [`BOTNET_PREFIXES`] /24s (12 000 packets per /24, some 47 per bot).
fn trace(dir: &Path) -> PathBuf {
    attack_trace(dir, 300_000, 100_000, true)
}

/// The one report of a replay of `pcap` with `extra` flags (one interval covers the trace).
fn replay(pcap: &Path, dir: &Path, extra: &[&str]) -> IntervalReport {
    replay_into(dir)
        .args(["--interval", "1000000000s", "--top", &TOP.to_string()])
        .args(extra)
        .arg(pcap)
        .output()
        .succeeded();
    serde_json::from_slice(&std::fs::read(dir.join("latest.json")).unwrap()).unwrap()
}

fn at_length(list: &[PrefixEntry], length: u8) -> Vec<&PrefixEntry> {
    list.iter()
        .filter(|e| e.length == length && e.prefix.address().is_ipv4())
        .collect()
}

/// `entry`'s figures against the exact ones: packets and bytes within 1%, distinct addresses
/// within 3%.
fn assert_close(what: &str, entry: &PrefixEntry, exact: &Exact) {
    let within = |reported: u64, real: u64, tolerance: f64| {
        (reported as f64 - real as f64).abs() <= tolerance * real as f64
    };
    assert!(
        within(entry.packets, exact.packets, 0.01),
        "{what}: {} packets, {} exact",
        entry.packets,
        exact.packets
    );
    assert!(
        within(entry.bytes, exact.bytes, 0.01),
        "{what}: {} bytes, {} exact",
        entry.bytes,
        exact.bytes
    );
    let distinct = entry
        .distinct_addresses
        .unwrap_or_else(|| panic!("{what}: no distinct addresses"));
    let real = exact.addresses.len() as u64;
    assert!(
        within(distinct, real, 0.03),
        "{what}: {distinct} distinct addresses, {real} exact"
    );
}

fn check(report: &IntervalReport, recount: &Recount, how: &str) {
    // Every address of the bombed /24 was hit, and a /24 has no more.
    let carpet = &recount.destinations[CARPET];
    assert_eq!(carpet.addresses.len(), 256);
    for (list, by) in [
        (&report.top_destination_prefixes, "packets"),
        (&report.top_destination_prefixes_by_bytes, "bytes"),
    ] {
        let what = format!("{how}, destination /24s by {by}");
        let slash24 = at_length(list, 24);
        assert_eq!(slash24.len(), TOP, "{what}");
        assert_eq!(slash24[0].prefix.to_string(), CARPET, "{what}: {slash24:?}");
        assert_close(&what, slash24[0], carpet);
        println!(
            "{what}: {CARPET} packets {} (exact {}), bytes {} (exact {}), addresses {:?} (exact {})",
            slash24[0].packets,
            carpet.packets,
            slash24[0].bytes,
            carpet.bytes,
            slash24[0].distinct_addresses,
            carpet.addresses.len()
        );
        // Each length is ranked on its own, and lists the same number of entries.
        for length in [8, 16] {
            let entries = at_length(list, length);
            assert!(!entries.is_empty(), "{what}: no /{length}");
            let top = entries[0];
            let exact = &recount.destinations[&top.prefix.to_string()];
            let heaviest = recount
                .destinations
                .iter()
                .filter(|(prefix, _)| prefix.ends_with(&format!("/{length}")))
                .map(|(_, e)| if by == "bytes" { e.bytes } else { e.packets })
                .max()
                .unwrap();
            let figure = if by == "bytes" {
                exact.bytes
            } else {
                exact.packets
            };
            assert_eq!(figure, heaviest, "{what}: /{length} {top:?}");
        }
    }
    for (list, by) in [
        (&report.top_source_prefixes, "packets"),
        (&report.top_source_prefixes_by_bytes, "bytes"),
    ] {
        let slash24 = at_length(list, 24);
        for bot in 0..BOTNET_PREFIXES {
            let prefix = format!("198.18.{bot}.0/24");
            let what = format!("{how}, botnet source {prefix} by {by}");
            let entry = slash24
                .iter()
                .find(|e| e.prefix.to_string() == prefix)
                .unwrap_or_else(|| panic!("{what}: not listed in {slash24:?}"));
            let exact = &recount.sources[&prefix];
            assert!(exact.addresses.len() > 250, "{what}");
            assert_close(&what, entry, exact);
            let rank = 1 + slash24
                .iter()
                .position(|e| e.prefix == entry.prefix)
                .unwrap();
            println!(
                "{what}: #{rank}, packets {} (exact {}), addresses {:?} (exact {})",
                entry.packets,
                exact.packets,
                entry.distinct_addresses,
                exact.addresses.len()
            );
        }
    }
    // No single address of the attacks is heavy.
    let carpet_prefix: hhmon::prefix::Prefix = CARPET.parse().unwrap();
    for entry in report
        .top_destinations
        .iter()
        .chain(&report.top_destinations_by_bytes)
    {
        assert!(
            !carpet_prefix.contains(&entry.address),
            "{how}: {entry:?} is a top destination"
        );
    }
    assert_eq!(report.top_sources.len(), TOP);
    for entry in report
        .top_sources
        .iter()
        .chain(&report.top_sources_by_bytes)
    {
        assert!(
            cidr(entry.address, 15).as_deref() != Some("198.18.0.0/15"),
            "{how}: {entry:?} is a top source"
        );
    }
}

#[test]
fn a_carpet_bombing_and_a_botnet_top_the_prefix_views_and_no_address_view() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = trace(dir.path());
    let recount = recount(&pcap);
    for (how, extra) in [
        ("sketched", &[][..]),
        ("two workers", &["--workers", "2"][..]),
        ("exact", &["--exact"][..]),
    ] {
        let out = tempfile::tempdir().unwrap();
        let report = replay(&pcap, out.path(), extra);
        check(&report, &recount, how);
        if how == "exact" {
            // Counted exactly, every listed prefix has its exact counts.
            for entry in report
                .top_destination_prefixes
                .iter()
                .filter(|e| e.prefix.address().is_ipv4())
            {
                let exact = &recount.destinations[&entry.prefix.to_string()];
                assert_eq!((entry.packets, entry.bytes), (exact.packets, exact.bytes));
                assert!(entry.lower_bound.is_none());
            }
        }
    }
}

#[test]
fn prefix_views_follow_the_configured_lengths_and_can_be_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("small.pcap");
    hhmon(["generate", "--packets", "20000", "--flows", "500"])
        .args(["--ipv6-share", "0.5", "--carpet-bomb", "2001:db8:77::/120"])
        .args(["--carpet-share", "0.5"])
        .arg("--out")
        .arg(&pcap)
        .output()
        .succeeded();
    let lengths = |report: &IntervalReport| -> BTreeSet<String> {
        (report.top_source_prefixes.iter())
            .chain(&report.top_destination_prefixes_by_bytes)
            .map(|e| {
                let family = if e.prefix.address().is_ipv4() { 4 } else { 6 };
                assert_eq!(
                    u32::from(e.length),
                    e.prefix
                        .to_string()
                        .split('/')
                        .nth(1)
                        .unwrap()
                        .parse::<u32>()
                        .unwrap()
                );
                format!("v{family}/{}", e.length)
            })
            .collect()
    };
    let out = tempfile::tempdir().unwrap();
    let defaults = replay(&pcap, out.path(), &[]);
    let expected: BTreeSet<String> = ["v4/8", "v4/16", "v4/24", "v6/32", "v6/48", "v6/64"]
        .map(String::from)
        .into();
    assert_eq!(lengths(&defaults), expected);
    // The bombed IPv6 /120 lies in one /64: it tops the /64 destinations.
    let slash64: Vec<&PrefixEntry> = (defaults.top_destination_prefixes.iter())
        .filter(|e| e.length == 64)
        .collect();
    assert_eq!(slash64[0].prefix.to_string(), "2001:db8:77::/64");

    let out = tempfile::tempdir().unwrap();
    let chosen = replay(
        &pcap,
        out.path(),
        &["--ipv4-prefixes", "20", "--ipv6-prefixes", "none"],
    );
    assert_eq!(lengths(&chosen), BTreeSet::from(["v4/20".to_owned()]));
    assert_eq!(chosen.top_flows, defaults.top_flows);

    let out = tempfile::tempdir().unwrap();
    let off = replay(
        &pcap,
        out.path(),
        &["--ipv4-prefixes", "none", "--ipv6-prefixes", "0"],
    );
    assert!(lengths(&off).is_empty());
    assert!(off.top_destination_prefixes.is_empty());
    assert_eq!(off.top_destinations, defaults.top_destinations);
}
