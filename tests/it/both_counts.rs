//! Both figures of every listed key, on every shipped capture: whichever sketch ranks a list,
//! each entry has a packets and a bytes figure that were really counted, never 0 for a key
//! that was seen; the figure the list is not ranked by is marked as a lower bound exactly
//! when it is one, and it is at most the key's exact count (from an `--exact` replay of the
//! same capture, which lists every key).

use hhmon::report::{AddressEntry, FlowEntry, IntervalReport, LowerBound};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use crate::util::captures::{self, Reading};
use crate::util::hhmon::replay_into;
use crate::util::repo;
use crate::util::snapshots::{interval_files, read};

/// Enough to list every key of every shipped capture's intervals in the exact replay.
const ALL_KEYS: &str = "100000";

/// The interval reports of a replay of `capture` with `options`, by interval start.
fn replay(capture: &str, options: &[&str], dir: &Path) -> BTreeMap<u64, IntervalReport> {
    let ran = replay_into(dir)
        .args(options)
        .arg(repo::capture(capture))
        .env("HHMON_LOG", "error")
        .output();
    assert!(
        !ran.stderr.contains("panicked"),
        "{capture}: {}",
        ran.stderr
    );
    interval_files(dir)
        .iter()
        .map(|file| {
            let report = read(file);
            (report.interval.start_unix, report)
        })
        .collect()
}

/// A listed key's figures as one shape for flows and addresses.
struct Listed<K> {
    key: K,
    packets: u64,
    bytes: u64,
    lower_bound: LowerBound,
}

fn flows(list: &[FlowEntry]) -> Vec<Listed<String>> {
    list.iter()
        .map(|f| Listed {
            key: format!(
                "{} {}:{} -> {}:{}",
                f.protocol, f.src, f.src_port, f.dst, f.dst_port
            ),
            packets: f.packets,
            bytes: f.bytes,
            lower_bound: f.lower_bound,
        })
        .collect()
}

fn addresses(list: &[AddressEntry]) -> Vec<Listed<IpAddr>> {
    list.iter()
        .map(|a| Listed {
            key: a.address,
            packets: a.packets,
            bytes: a.bytes,
            lower_bound: a.lower_bound,
        })
        .collect()
}

/// Checks one view's two sketched lists against the exact replay's list of every key.
fn check<K: Ord + std::fmt::Debug>(
    what: &str,
    [by_packets, by_bytes]: [Vec<Listed<K>>; 2],
    exact: Vec<Listed<K>>,
) -> usize {
    let exact: BTreeMap<K, (u64, u64)> = exact
        .into_iter()
        .map(|e| {
            assert!(
                e.lower_bound.is_none(),
                "{what}: exact counts are no bounds"
            );
            (e.key, (e.packets, e.bytes))
        })
        .collect();
    let in_packets: BTreeMap<&K, (u64, u64)> = by_packets
        .iter()
        .map(|e| (&e.key, (e.packets, e.bytes)))
        .collect();
    let in_bytes: BTreeMap<&K, (u64, u64)> = by_bytes
        .iter()
        .map(|e| (&e.key, (e.packets, e.bytes)))
        .collect();
    let mut bounded = 0;
    for (ranked_by_bytes, list) in [(false, &by_packets), (true, &by_bytes)] {
        for entry in list {
            let key = &entry.key;
            assert!(
                entry.packets >= 1 && entry.bytes >= 1,
                "{what}: {key:?} listed with {} packets, {} bytes",
                entry.packets,
                entry.bytes
            );
            let other = if ranked_by_bytes {
                in_packets.get(key)
            } else {
                in_bytes.get(key)
            };
            let bound = entry.lower_bound;
            match other {
                // In both lists: each list's ranking figure in both entries, no bound.
                Some(&figures) => {
                    assert!(bound.is_none(), "{what}: {key:?} is in both lists");
                    assert_eq!((entry.packets, entry.bytes), figures, "{what}: {key:?}");
                }
                None => {
                    let expected = LowerBound {
                        packets: ranked_by_bytes,
                        bytes: !ranked_by_bytes,
                    };
                    assert_eq!(bound, expected, "{what}: {key:?}");
                    let &(packets, bytes) = exact
                        .get(key)
                        .unwrap_or_else(|| panic!("{what}: {key:?} was never counted"));
                    let (figure, truth) = if ranked_by_bytes {
                        (entry.packets, packets)
                    } else {
                        (entry.bytes, bytes)
                    };
                    assert!(
                        figure <= truth,
                        "{what}: {key:?} lower bound {figure} above the exact {truth}"
                    );
                    bounded += 1;
                }
            }
        }
    }
    bounded
}

fn check_capture(capture: &str, options: &[&str]) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let sketched = replay(capture, options, &dir.path().join("sketch"));
    let exact = replay(
        capture,
        &["--exact", "--top", ALL_KEYS],
        &dir.path().join("exact"),
    );
    assert_eq!(
        sketched.keys().collect::<Vec<_>>(),
        exact.keys().collect::<Vec<_>>(),
        "{capture}: the same intervals"
    );
    let mut bounded = 0;
    for (start, report) in &sketched {
        let truth = &exact[start];
        let what = |view: &str| format!("{capture} {options:?} at {start}: {view}");
        bounded += check(
            &what("flows"),
            [flows(&report.top_flows), flows(&report.top_flows_by_bytes)],
            flows(&truth.top_flows),
        );
        for (view, lists, all) in [
            (
                "sources",
                [&report.top_sources, &report.top_sources_by_bytes],
                &truth.top_sources,
            ),
            (
                "destinations",
                [&report.top_destinations, &report.top_destinations_by_bytes],
                &truth.top_destinations,
            ),
        ] {
            bounded += check(
                &what(view),
                [addresses(lists[0]), addresses(lists[1])],
                addresses(all),
            );
        }
    }
    bounded
}

#[test]
fn every_listed_key_has_both_figures_on_every_capture() {
    let mut bounded = 0;
    for capture in captures::all() {
        if matches!(capture.reading, Reading::Refused { .. }) {
            continue;
        }
        bounded += check_capture(capture.name, &[]);
    }
    // The flood's lists differ by packets and by bytes, so some figures are bounds.
    assert!(bounded > 0);
}

#[test]
fn owner_threads_give_both_figures_too() {
    for capture in ["ddos-synflood-spoofed.pcap", "gnutella-p2p.pcap"] {
        check_capture(capture, &["--workers", "2"]);
    }
}
