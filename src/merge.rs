//! `hhmon merge`: several JSON snapshots into one view with the same schema, so that sensors
//! (or the intervals of one sensor) can be combined after the fact.
//!
//! What each part of the merged view means:
//! - **Distinct sources and destinations**: the union of the snapshots' HyperLogLog sketches,
//!   which is exact as a union: a source seen by two sensors, or in two intervals, counts once.
//!   The merged snapshot carries the union's sketches, so merged views merge again.
//! - **Top lists**: per key, the packets and bytes each snapshot reports for it (in either of
//!   its lists by packets and by bytes), summed, ranked again and cut to `--top`. A snapshot
//!   that did not list a key adds nothing for it, so a key that was below the top of some
//!   inputs has a merged count that is a lower bound. A figure some input marks as a lower
//!   bound (`lower_bound`) is one in the sum too.
//! - **Prefix lists**: per prefix, summed the same way and ranked again within each length;
//!   the distinct addresses of a prefix are unioned like fan-in (below).
//! - **Fan-in and fan-out** of a listed address: the union of its fan sketches when every
//!   snapshot listing it carries one (written with `--fan-sketches`), which the merged snapshot
//!   carries on; else the largest any snapshot reports, a lower bound of the union's.
//! - **Totals**: summed; `cumulative` is the merged totals (the merged view is its own history).
//! - **Interval**: from the earliest start to the latest end. Merging consecutive intervals of
//!   one sensor gives the distinct counts over the whole span, as `--window` would; merging the
//!   same interval of several sensors gives the network-wide view of that interval.
//! - **Sensor**: the inputs' when they all name the same one, else none.
//! - **Counting**: `exact` only when every snapshot is exact. A rolling window is not carried
//!   over (its sketch is not in snapshots).
//! - **Hierarchical heavy hitters**: recomputed from the merged lists, at the share given
//!   (`--hhh-share`) or else the largest share of the inputs: the strictest rule any of them
//!   was counted by, so that the merged view names no aggregate smaller than its inputs would
//!   have.
//!
//! Sketches of different precisions are refused rather than folded down to the lowest one
//! without a word. Knows nothing of how snapshots were computed or written.

use crate::monitor::hhh::of_lists as hierarchical;
use crate::prefix::Prefix;
use crate::report::{
    is_hierarchical_share, largest, AddressEntry, CaptureCounts, CaptureStats, Counting, FlowEntry,
    IntervalReport, IntervalSpan, PrefixEntry, Sketches, Totals, DEFAULT_HIERARCHICAL_SHARE,
};
use crate::sketch::hll::{self, DistinctCounter, DistinctUnion};
use std::collections::BTreeMap;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// What to merge and where the result goes.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeConfig {
    /// Snapshot files, in any order.
    pub snapshots: Vec<PathBuf>,
    /// Write the merged snapshot here too.
    pub out: Option<PathBuf>,
    /// Entries in each merged top list.
    pub top: usize,
    /// The hierarchical heavy hitter share to recompute with (above 0, at most 1); `None`:
    /// the largest of the snapshots'.
    pub hierarchical_share: Option<f64>,
}

/// Why snapshots could not be merged. Each names the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No snapshot was given.
    #[error("no snapshot to merge")]
    NoInput,
    /// A snapshot could not be read.
    #[error("cannot read snapshot {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A file is not a snapshot (not JSON, missing a field, or naming a reason this build does
    /// not know).
    #[error("{path} is not an hhmon snapshot: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What serde found wrong.
        source: serde_json::Error,
    },
    /// A report has no sketches (counted with distinct counting off), so its distinct counts
    /// cannot be merged. Only reports handed to [`merge`] can lack them: a snapshot file
    /// without them does not [`read`].
    #[error(
        "{path} carries no sketches (counted with distinct counting off), so its distinct counts \
         cannot be merged"
    )]
    NoSketches {
        /// The file.
        path: PathBuf,
    },
    /// A sketch of a snapshot is damaged.
    #[error("{path}: the {which} sketch is unreadable: {source}")]
    Sketch {
        /// The file.
        path: PathBuf,
        /// `sources` or `destinations`.
        which: &'static str,
        /// What is wrong with it.
        source: hll::Error,
    },
    /// Two snapshots were counted at different precisions.
    #[error(
        "{path} has sketches of lg_k {found} but {first} has lg_k {expected}; merging them would \
         lower the precision to the smaller: replay with the same --hll-lg-k"
    )]
    Precision {
        /// The file that differs.
        path: PathBuf,
        /// Its precision.
        found: u8,
        /// The first snapshot.
        first: PathBuf,
        /// The first snapshot's precision.
        expected: u8,
    },
    /// The merged snapshot could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

/// Reads the snapshots, merges them, writes the result to `config.out` if given, and returns
/// it.
///
/// # Errors
///
/// Any [`Error`], naming the file at fault.
pub fn run(config: &MergeConfig) -> Result<IntervalReport, Error> {
    let inputs = config
        .snapshots
        .iter()
        .map(|path| read(path).map(|report| (path.clone(), report)))
        .collect::<Result<Vec<_>, _>>()?;
    let merged = merge(&inputs, config.top, config.hierarchical_share)?;
    if let Some(path) = &config.out {
        write(path, &merged)?;
    }
    Ok(merged)
}

/// Reads one snapshot.
///
/// # Errors
///
/// [`Error::Read`], [`Error::Parse`].
pub fn read(path: &Path) -> Result<IntervalReport, Error> {
    let text = std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_slice(&text).map_err(|source| Error::Parse {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `report` as a compact JSON snapshot (one object and a newline, as the snapshot sink
/// writes them).
fn write(path: &Path, report: &IntervalReport) -> Result<(), Error> {
    let write_error = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut json = serde_json::to_vec(report).map_err(|error| write_error(error.into()))?;
    json.push(b'\n');
    std::fs::write(path, json).map_err(write_error)
}

/// Merges snapshots (each with the path it came from, for errors) as the module describes;
/// top lists keep `top` entries, and the hierarchical heavy hitters are those at
/// `hierarchical_share` (`None`, or a share not above 0 and at most 1: the largest share of
/// the inputs).
///
/// # Errors
///
/// [`Error::NoInput`], [`Error::NoSketches`], [`Error::Sketch`], [`Error::Precision`].
pub fn merge(
    inputs: &[(PathBuf, IntervalReport)],
    top: usize,
    hierarchical_share: Option<f64>,
) -> Result<IntervalReport, Error> {
    let ((first_path, _), _) = inputs.split_first().ok_or(Error::NoInput)?;
    let mut sources: Option<DistinctUnion> = None;
    let mut destinations: Option<DistinctUnion> = None;
    let mut lg_k = None;
    let mut totals = Totals::default();
    let (mut start, mut end) = (u64::MAX, 0);
    for (path, report) in inputs {
        let sketches = report
            .sketches
            .as_ref()
            .ok_or_else(|| Error::NoSketches { path: path.clone() })?;
        let read = |which: &'static str, text: &str| {
            DistinctCounter::from_base64(text).map_err(|source| Error::Sketch {
                path: path.clone(),
                which,
                source,
            })
        };
        for (which, text, union) in [
            ("sources", &sketches.sources, &mut sources),
            ("destinations", &sketches.destinations, &mut destinations),
        ] {
            let counter = read(which, text)?;
            let expected = *lg_k.get_or_insert(counter.lg_k());
            if counter.lg_k() != expected {
                return Err(Error::Precision {
                    path: path.clone(),
                    found: counter.lg_k(),
                    first: first_path.clone(),
                    expected,
                });
            }
            union
                .get_or_insert_with(|| DistinctUnion::new(expected))
                .add(&counter);
        }
        totals.add(&report.totals);
        start = start.min(report.interval.start_unix);
        end = end.max(
            report
                .interval
                .start_unix
                .saturating_add(report.interval.seconds),
        );
    }
    let estimate = |union: &Option<DistinctUnion>| {
        union
            .as_ref()
            .map_or(0, |union| union.estimate().round() as u64)
    };
    let encoded = |union: &Option<DistinctUnion>| {
        union
            .as_ref()
            .map(|union| union.to_counter().to_base64())
            .unwrap_or_default()
    };
    let reports = || inputs.iter().map(|(_, report)| report);
    let flows = sum_flows(reports());
    let source_entries = sum_addresses(reports(), |r| [&r.top_sources, &r.top_sources_by_bytes]);
    let destination_entries = sum_addresses(reports(), |r| {
        [&r.top_destinations, &r.top_destinations_by_bytes]
    });
    let source_prefixes = sum_prefixes(reports(), |r| {
        [&r.top_source_prefixes, &r.top_source_prefixes_by_bytes]
    });
    let destination_prefixes = sum_prefixes(reports(), |r| {
        [
            &r.top_destination_prefixes,
            &r.top_destination_prefixes_by_bytes,
        ]
    });
    let counting = if reports().all(|report| report.counting == Counting::Exact) {
        Counting::Exact
    } else {
        Counting::Chk
    };
    // One sensor's intervals keep its name; several sensors' make a view of none of them.
    let first_sensor = reports().next().map(|report| report.sensor.clone());
    let sensor = first_sensor
        .filter(|first| reports().all(|report| report.sensor == *first))
        .unwrap_or_default();
    // Snapshots that load hold valid shares; reports handed in by a library caller may not.
    let largest_share = reports()
        .map(|report| report.hierarchical_share)
        .filter(|&share| is_hierarchical_share(share))
        .reduce(f64::max);
    let hierarchical_share = hierarchical_share
        .filter(|&share| is_hierarchical_share(share))
        .or(largest_share)
        .unwrap_or(DEFAULT_HIERARCHICAL_SHARE);
    let mut merged = IntervalReport {
        interval: IntervalSpan::new(start, end.saturating_sub(start).max(1)),
        sensor,
        cumulative: totals.clone(),
        totals,
        distinct_sources: estimate(&sources),
        distinct_destinations: estimate(&destinations),
        window: None,
        counting,
        top_flows: ranked(&flows, top, |f| f.packets),
        top_flows_by_bytes: ranked(&flows, top, |f| f.bytes),
        top_sources: ranked(&source_entries, top, |a| a.packets),
        top_sources_by_bytes: ranked(&source_entries, top, |a| a.bytes),
        top_destinations: ranked(&destination_entries, top, |a| a.packets),
        top_destinations_by_bytes: ranked(&destination_entries, top, |a| a.bytes),
        top_source_prefixes: ranked_prefixes(&source_prefixes, top, |p| p.packets),
        top_source_prefixes_by_bytes: ranked_prefixes(&source_prefixes, top, |p| p.bytes),
        top_destination_prefixes: ranked_prefixes(&destination_prefixes, top, |p| p.packets),
        top_destination_prefixes_by_bytes: ranked_prefixes(&destination_prefixes, top, |p| p.bytes),
        hierarchical_share,
        hierarchical_source_prefixes: Vec::new(),
        hierarchical_destination_prefixes: Vec::new(),
        changes: None,
        sketches: Some(Sketches {
            sources: encoded(&sources),
            destinations: encoded(&destinations),
        }),
        capture: sum_capture(reports()),
        // Per-exporter counts are one collector's, since its start: a merge keeps none.
        telemetry: None,
    };
    // Recomputed from the merged lists, as the monitor computes them from an interval's.
    merged.hierarchical_source_prefixes = hierarchical(
        &merged.top_sources,
        &merged.top_source_prefixes,
        merged.totals.packets,
        merged.hierarchical_share,
    );
    merged.hierarchical_destination_prefixes = hierarchical(
        &merged.top_destinations,
        &merged.top_destination_prefixes,
        merged.totals.packets,
        merged.hierarchical_share,
    );
    Ok(merged)
}

/// The interval capture statistics of the live inputs, summed; `None` when every input is a
/// replay. Like the totals, the merged view's cumulative counts are its interval counts.
fn sum_capture<'a>(reports: impl Iterator<Item = &'a IntervalReport>) -> Option<CaptureStats> {
    let sum = reports.filter_map(|report| report.capture.as_ref()).fold(
        None,
        |sum: Option<CaptureCounts>, capture| {
            let mut sum = sum.unwrap_or_default();
            sum.add(&capture.interval);
            Some(sum)
        },
    )?;
    Some(CaptureStats {
        interval: sum,
        cumulative: sum,
        readers: Vec::new(),
    })
}

/// The five-tuple of a flow entry, its identity across snapshots.
type FlowId = (IpAddr, IpAddr, u16, u16, u8);

/// Every flow listed by any snapshot, with its counts summed over the snapshots listing it
/// (once per snapshot, whichever of its two lists holds it).
fn sum_flows<'a>(reports: impl Iterator<Item = &'a IntervalReport>) -> BTreeMap<FlowId, FlowEntry> {
    let mut merged: BTreeMap<FlowId, FlowEntry> = BTreeMap::new();
    for report in reports {
        let listed: BTreeMap<FlowId, &FlowEntry> = report
            .top_flows
            .iter()
            .chain(&report.top_flows_by_bytes)
            .map(|f| ((f.src, f.dst, f.src_port, f.dst_port, f.protocol), f))
            .collect();
        for (id, flow) in listed {
            merged
                .entry(id)
                .and_modify(|sum| {
                    sum.packets = sum.packets.saturating_add(flow.packets);
                    sum.bytes = sum.bytes.saturating_add(flow.bytes);
                    sum.lower_bound = sum.lower_bound.or(flow.lower_bound);
                })
                .or_insert_with(|| flow.clone());
        }
    }
    merged
}

/// Every address of the lists `lists` picks, summed as [`sum_flows`] does; its distinct peers
/// are the largest any snapshot reports.
fn sum_addresses<'a>(
    reports: impl Iterator<Item = &'a IntervalReport>,
    lists: impl Fn(&IntervalReport) -> [&Vec<AddressEntry>; 2],
) -> BTreeMap<IpAddr, AddressEntry> {
    let mut merged: BTreeMap<IpAddr, AddressEntry> = BTreeMap::new();
    for report in reports {
        let listed: BTreeMap<IpAddr, &AddressEntry> = lists(report)
            .into_iter()
            .flatten()
            .map(|entry| (entry.address, entry))
            .collect();
        for (address, entry) in listed {
            merged
                .entry(address)
                .and_modify(|sum| {
                    sum.packets = sum.packets.saturating_add(entry.packets);
                    sum.bytes = sum.bytes.saturating_add(entry.bytes);
                    sum.lower_bound = sum.lower_bound.or(entry.lower_bound);
                    sum.distinct_sources = sum.distinct_sources.max(entry.distinct_sources);
                    sum.distinct_destinations =
                        sum.distinct_destinations.max(entry.distinct_destinations);
                    union_fan(
                        (&mut sum.distinct_sources, &mut sum.distinct_sources_sketch),
                        entry.distinct_sources_sketch.as_deref(),
                    );
                    union_fan(
                        (
                            &mut sum.distinct_destinations,
                            &mut sum.distinct_destinations_sketch,
                        ),
                        entry.distinct_destinations_sketch.as_deref(),
                    );
                })
                .or_insert_with(|| entry.clone());
        }
    }
    merged
}

/// Every prefix of the lists `lists` picks, summed as [`sum_addresses`] does; its distinct
/// addresses are the union of its sketches when every snapshot listing it has one, else the
/// largest any snapshot reports.
fn sum_prefixes<'a>(
    reports: impl Iterator<Item = &'a IntervalReport>,
    lists: impl Fn(&IntervalReport) -> [&Vec<PrefixEntry>; 2],
) -> BTreeMap<Prefix, PrefixEntry> {
    let mut merged: BTreeMap<Prefix, PrefixEntry> = BTreeMap::new();
    for report in reports {
        let listed: BTreeMap<Prefix, &PrefixEntry> = lists(report)
            .into_iter()
            .flatten()
            .map(|entry| (entry.prefix, entry))
            .collect();
        for (prefix, entry) in listed {
            merged
                .entry(prefix)
                .and_modify(|sum| {
                    sum.packets = sum.packets.saturating_add(entry.packets);
                    sum.bytes = sum.bytes.saturating_add(entry.bytes);
                    sum.lower_bound = sum.lower_bound.or(entry.lower_bound);
                    sum.distinct_addresses = sum.distinct_addresses.max(entry.distinct_addresses);
                    union_fan(
                        (
                            &mut sum.distinct_addresses,
                            &mut sum.distinct_addresses_sketch,
                        ),
                        entry.distinct_addresses_sketch.as_deref(),
                    );
                })
                .or_insert_with(|| entry.clone());
        }
    }
    merged
}

/// Per prefix length (IPv4 first, shortest first), the `top` prefixes with the largest
/// `rank`, as the monitor lists them.
fn ranked_prefixes(
    entries: &BTreeMap<Prefix, PrefixEntry>,
    top: usize,
    rank: fn(&PrefixEntry) -> u64,
) -> Vec<PrefixEntry> {
    let mut lengths: BTreeMap<(bool, u8), BTreeMap<Prefix, PrefixEntry>> = BTreeMap::new();
    for (prefix, entry) in entries {
        lengths
            .entry((prefix.address().is_ipv6(), prefix.length()))
            .or_default()
            .insert(*prefix, entry.clone());
    }
    lengths
        .values()
        .flat_map(|group| ranked(group, top, rank))
        .collect()
}

/// Unions `more`, a part's fan sketch, into the sum's `(fan, sketch)`: the sum's figure is
/// then the union's estimate. When either part has no sketch (written without
/// `--fan-sketches`, or an address not tracked there), the sum keeps none and the larger
/// figure; a sketch that does not decode is treated the same way.
fn union_fan((fan, sketch): (&mut Option<u64>, &mut Option<String>), more: Option<&str>) {
    let union = sketch.as_deref().zip(more).and_then(|(kept, more)| {
        let kept = DistinctCounter::from_base64(kept).ok()?;
        let more = DistinctCounter::from_base64(more).ok()?;
        let mut union = DistinctUnion::new(kept.lg_k().max(more.lg_k()));
        union.add(&kept);
        union.add(&more);
        Some(union)
    });
    match union {
        Some(union) => {
            *fan = Some(union.estimate().round() as u64);
            *sketch = Some(union.to_counter().to_base64());
        }
        None => *sketch = None,
    }
}

/// The `top` entries with the largest `rank`, ranked by [`largest`] as the monitor ranks them.
fn ranked<K: Ord, T: Clone>(entries: &BTreeMap<K, T>, top: usize, rank: fn(&T) -> u64) -> Vec<T> {
    largest(entries, top, |&(key, entry)| (rank(entry), key))
        .into_iter()
        .map(|(_, entry)| entry.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::UnparsedReason;
    use crate::report::ReasonCounts;
    use crate::sketch::hll::coupon_of_bytes;

    fn counter_of(values: std::ops::Range<u32>, lg_k: u8) -> DistinctCounter {
        let mut counter = DistinctCounter::new(lg_k);
        for value in values {
            counter.insert_coupon(coupon_of_bytes(&value.to_be_bytes()));
        }
        counter
    }

    fn address(text: &str, packets: u64, bytes: u64, fan_in: Option<u64>) -> AddressEntry {
        AddressEntry {
            distinct_sources: fan_in,
            ..AddressEntry::new(text.parse().unwrap(), packets, bytes)
        }
    }

    fn flow(src: &str, packets: u64, bytes: u64) -> FlowEntry {
        FlowEntry {
            src: src.parse().unwrap(),
            dst: "192.0.2.99".parse().unwrap(),
            src_port: 1000,
            dst_port: 80,
            protocol: 6,
            packets,
            bytes,
            lower_bound: crate::report::LowerBound::NONE,
        }
    }

    fn totals(packets: u64, not_ip: u64) -> Totals {
        Totals {
            packets,
            bytes: packets * 100,
            unparsed_packets: not_ip,
            unparsed_by_reason: reasons(UnparsedReason::NotIp, not_ip),
            transport_truncated: 1,
            decap_fallback_by_reason: reasons(UnparsedReason::Truncated, 2),
        }
    }

    /// A snapshot of the interval at `start` whose sources are `sources` and destinations
    /// `destinations` (as integers), with the given top lists.
    fn snapshot(
        start: u64,
        sources: std::ops::Range<u32>,
        destinations: std::ops::Range<u32>,
        lists: (Vec<FlowEntry>, Vec<AddressEntry>, Vec<AddressEntry>),
    ) -> IntervalReport {
        let (flows, by_packets, by_bytes) = lists;
        IntervalReport {
            cumulative: totals(5000, 9),
            distinct_sources: sources.len() as u64,
            distinct_destinations: destinations.len() as u64,
            top_flows: flows.clone(),
            top_flows_by_bytes: flows,
            top_destinations: by_packets,
            top_destinations_by_bytes: by_bytes,
            sketches: Some(Sketches {
                sources: counter_of(sources, 12).to_base64(),
                destinations: counter_of(destinations, 12).to_base64(),
            }),
            ..crate::report::tests::listless(start, totals(1000, 3))
        }
    }

    /// `count` of `reason`, none of the others.
    fn reasons(reason: UnparsedReason, count: u64) -> ReasonCounts {
        let mut counts = ReasonCounts::default();
        counts[reason] = count;
        counts
    }

    fn inputs(reports: Vec<IntervalReport>) -> Vec<(PathBuf, IntervalReport)> {
        reports
            .into_iter()
            .enumerate()
            .map(|(i, r)| (PathBuf::from(format!("s{i}.json")), r))
            .collect()
    }

    #[test]
    fn prefixes_are_summed_ranked_per_length_and_their_address_sketches_unioned() {
        let prefix = |text: &str, packets: u64, addresses: std::ops::Range<u32>| PrefixEntry {
            distinct_addresses: Some(addresses.len() as u64),
            distinct_addresses_sketch: Some(counter_of(addresses, 12).to_base64()),
            ..PrefixEntry::new(text.parse().unwrap(), packets, packets * 100)
        };
        let mut a = snapshot(100, 0..10, 0..10, (vec![], vec![], vec![]));
        a.top_destination_prefixes = vec![
            prefix("203.0.0.0/8", 900, 0..300),
            prefix("203.0.113.0/24", 800, 0..200),
            prefix("10.1.0.0/24", 700, 1_000..1_010),
        ];
        a.top_destination_prefixes_by_bytes = vec![prefix("203.0.113.0/24", 800, 0..200)];
        let mut b = snapshot(100, 0..10, 0..10, (vec![], vec![], vec![]));
        b.top_destination_prefixes = vec![
            prefix("203.0.113.0/24", 500, 100..256),
            prefix("2001:db8::/32", 50, 0..5),
        ];
        b.top_destination_prefixes_by_bytes = vec![
            prefix("2001:db8::/32", 50, 0..5),
            PrefixEntry {
                distinct_addresses_sketch: None,
                ..prefix("10.1.0.0/24", 100, 1_000..1_010)
            },
        ];
        let merged = merge(&inputs(vec![a, b]), 2, None).unwrap();
        let listed: Vec<(String, u64, Option<u64>, bool)> = merged
            .top_destination_prefixes
            .iter()
            .map(|p| {
                let sketched = p.distinct_addresses_sketch.is_some();
                (
                    p.prefix.to_string(),
                    p.packets,
                    p.distinct_addresses,
                    sketched,
                )
            })
            .collect();
        // Each length ranked on its own, IPv4 first; a prefix counted once per input whichever
        // of its lists hold it: 203.0.113.0/24 800 + 500, its addresses the union (0..256);
        // 10.1.0.0/24 has a part without a sketch, so its figure is the largest part's.
        assert_eq!(
            listed,
            [
                ("203.0.0.0/8".into(), 900, Some(300), true),
                ("203.0.113.0/24".into(), 1_300, Some(256), true),
                ("10.1.0.0/24".into(), 800, Some(10), false),
                ("2001:db8::/32".into(), 50, Some(5), true),
            ]
        );
        assert_eq!(merged.top_destination_prefixes[1].length, 24);
        assert_eq!(merged.top_destination_prefixes_by_bytes[1].bytes, 130_000);
        assert!(merged.top_source_prefixes.is_empty());
    }

    #[test]
    fn distinct_counts_are_the_union_and_lists_are_summed() {
        let a = snapshot(
            100,
            0..3_000,
            0..10,
            (
                vec![flow("10.0.0.1", 50, 5_000), flow("10.0.0.2", 40, 9_000)],
                vec![address("192.0.2.1", 500, 1_000, Some(300))],
                vec![address("192.0.2.2", 10, 90_000, Some(7))],
            ),
        );
        let b = snapshot(
            110,
            2_000..6_000,
            5..20,
            (
                vec![flow("10.0.0.2", 5, 500)],
                vec![
                    address("192.0.2.2", 600, 60_000, Some(9)),
                    address("192.0.2.1", 100, 200, Some(250)),
                ],
                vec![],
            ),
        );
        let merged = merge(&inputs(vec![a, b]), 10, None).unwrap();
        // 6 000 distinct sources, 20 destinations: the overlap counts once.
        let error = (merged.distinct_sources as f64 - 6_000.0).abs() / 6_000.0;
        assert!(error < 0.05, "{}", merged.distinct_sources);
        assert_eq!(merged.distinct_destinations, 20);
        let back = DistinctCounter::from_base64(&merged.sketches.unwrap().sources).unwrap();
        assert_eq!(
            back.composite_estimate().round() as u64,
            merged.distinct_sources
        );

        assert_eq!(merged.interval.start_unix, 100);
        assert_eq!(merged.interval.seconds, 20);
        let summed = Totals {
            transport_truncated: 2,
            decap_fallback_by_reason: reasons(UnparsedReason::Truncated, 4),
            ..totals(2000, 6)
        };
        assert_eq!(merged.totals, summed);
        assert_eq!(merged.cumulative, merged.totals);
        assert_eq!(merged.counting, Counting::Chk);
        assert_eq!(merged.window, None);

        // 192.0.2.2: 10 + 600 packets (in a's by-bytes list only), fan-in the larger of 7, 9.
        let destinations: Vec<(String, u64, u64, Option<u64>)> = merged
            .top_destinations
            .iter()
            .map(|a| {
                (
                    a.address.to_string(),
                    a.packets,
                    a.bytes,
                    a.distinct_sources,
                )
            })
            .collect();
        assert_eq!(
            destinations,
            [
                ("192.0.2.2".into(), 610, 150_000, Some(9)),
                ("192.0.2.1".into(), 600, 1_200, Some(300)),
            ]
        );
        assert_eq!(merged.top_destinations_by_bytes[0].bytes, 150_000);
        // A flow listed in both lists of one snapshot counts once per snapshot.
        let flows: Vec<(u64, u64)> = merged
            .top_flows
            .iter()
            .map(|f| (f.packets, f.bytes))
            .collect();
        assert_eq!(flows, [(50, 5_000), (45, 9_500)]);
        assert_eq!(merged.top_flows_by_bytes[0].bytes, 9_500);
    }

    #[test]
    fn hierarchical_lists_are_recomputed_at_the_largest_share_unless_one_is_given() {
        // In each input a botnet in four source /24s of 4% each, their /16 16%.
        let botnet = |share: f64| {
            let mut report = snapshot(0, 0..10, 0..10, Default::default());
            report.top_source_prefixes = (0..4)
                .map(|i| format!("198.18.{i}.0/24"))
                .chain(["198.18.0.0/16".to_owned()])
                .map(|text| {
                    let packets = if text.ends_with("/16") { 160 } else { 40 };
                    PrefixEntry::new(text.parse().unwrap(), packets, packets * 100)
                })
                .collect();
            report.hierarchical_share = share;
            report
        };
        let named = |merged: &IntervalReport| -> Vec<String> {
            merged
                .hierarchical_source_prefixes
                .iter()
                .map(|entry| entry.prefix.to_string())
                .collect()
        };
        let the_24s = [
            "198.18.0.0/24",
            "198.18.1.0/24",
            "198.18.2.0/24",
            "198.18.3.0/24",
        ];
        let at_3 = merge(&inputs(vec![botnet(0.03), botnet(0.03)]), 10, None).unwrap();
        assert_eq!(at_3.hierarchical_share, 0.03);
        assert_eq!(named(&at_3), the_24s);
        assert_eq!(at_3.hierarchical_source_prefixes[0].conditioned_packets, 80);

        let mixed = inputs(vec![botnet(0.03), botnet(0.05)]);
        let strictest = merge(&mixed, 10, None).unwrap();
        assert_eq!(strictest.hierarchical_share, 0.05);
        assert_eq!(named(&strictest), ["198.18.0.0/16"]);

        let given = merge(&mixed, 10, Some(0.03)).unwrap();
        assert_eq!(given.hierarchical_share, 0.03);
        assert_eq!(named(&given), the_24s);
    }

    #[test]
    fn top_cuts_the_lists_and_ties_follow_the_key() {
        let lists = (
            vec![],
            vec![
                address("192.0.2.9", 5, 5, None),
                address("192.0.2.3", 5, 5, None),
                address("192.0.2.5", 5, 5, None),
            ],
            vec![],
        );
        let merged = merge(&inputs(vec![snapshot(0, 0..1, 0..1, lists)]), 2, None).unwrap();
        let listed: Vec<String> = merged
            .top_destinations
            .iter()
            .map(|a| a.address.to_string())
            .collect();
        assert_eq!(listed, ["192.0.2.3", "192.0.2.5"]);
    }

    #[test]
    fn exact_only_when_every_input_is() {
        let mut a = snapshot(0, 0..1, 0..1, Default::default());
        a.counting = Counting::Exact;
        let b = snapshot(0, 0..1, 0..1, Default::default());
        assert_eq!(
            merge(&inputs(vec![a.clone()]), 5, None).unwrap().counting,
            Counting::Exact
        );
        assert_eq!(
            merge(&inputs(vec![a, b]), 5, None).unwrap().counting,
            Counting::Chk
        );
    }

    #[test]
    fn bad_inputs_are_refused_naming_the_file() {
        assert!(matches!(merge(&[], 5, None), Err(Error::NoInput)));
        let good = snapshot(0, 0..10, 0..10, Default::default());

        let mut bare = good.clone();
        bare.sketches = None;
        let error = merge(&inputs(vec![good.clone(), bare]), 5, None).unwrap_err();
        assert!(matches!(&error, Error::NoSketches { path } if path == Path::new("s1.json")));

        let mut damaged = good.clone();
        damaged.sketches.as_mut().unwrap().destinations = "AAAA".into();
        let error = merge(&inputs(vec![good.clone(), damaged]), 5, None).unwrap_err();
        assert!(
            matches!(&error, Error::Sketch { path, which: "destinations", .. } if path == Path::new("s1.json")),
            "{error}"
        );

        let mut finer = good.clone();
        finer.sketches = Some(Sketches {
            sources: counter_of(0..10, 14).to_base64(),
            destinations: counter_of(0..10, 14).to_base64(),
        });
        let error = merge(&inputs(vec![good, finer]), 5, None).unwrap_err();
        let text = error.to_string();
        assert!(
            matches!(
                &error,
                Error::Precision {
                    found: 14,
                    expected: 12,
                    ..
                }
            ),
            "{text}"
        );
        assert!(
            text.contains("s1.json") && text.contains("s0.json"),
            "{text}"
        );
    }

    #[test]
    fn files_that_are_not_snapshots_are_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.json");
        let error = read(&missing).unwrap_err();
        assert!(matches!(error, Error::Read { .. }));
        assert!(error.to_string().contains("missing.json"), "{error}");
        let garbage = dir.path().join("garbage.json");
        std::fs::write(&garbage, b"{\"interval\": 3").unwrap();
        let error = read(&garbage).unwrap_err();
        assert!(matches!(error, Error::Parse { .. }));
        assert!(error.to_string().contains("garbage.json"), "{error}");
    }

    /// Writes `snapshot` as JSON after `change`, and reads it back.
    fn read_changed(
        snapshot: &IntervalReport,
        change: impl FnOnce(&mut serde_json::Value),
    ) -> Result<IntervalReport, Error> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("changed.json");
        let mut json = serde_json::to_value(snapshot).unwrap();
        change(&mut json);
        std::fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
        read(&path)
    }

    #[test]
    fn snapshots_lacking_what_the_schema_requires_are_refused_naming_the_file() {
        let good = snapshot(0, 0..10, 0..10, Default::default());
        assert_eq!(read_changed(&good, |_| ()).unwrap(), good);
        type Change = fn(&mut serde_json::Value);
        let refusals: [(&str, Change); 3] = [
            ("missing field `sketches`", |json| {
                json.as_object_mut().unwrap().remove("sketches");
            }),
            ("missing field `decap_fallback_by_reason`", |json| {
                json["totals"]
                    .as_object_mut()
                    .unwrap()
                    .remove("decap_fallback_by_reason");
            }),
            ("unknown reason `gre_truncated`", |json| {
                json["cumulative"]["unparsed_by_reason"]["gre_truncated"] = 1.into();
            }),
        ];
        for (expected, change) in refusals {
            let error = read_changed(&good, change).unwrap_err();
            let text = error.to_string();
            assert!(matches!(error, Error::Parse { .. }), "{text}");
            assert!(
                text.contains("changed.json") && text.contains(expected),
                "{text}"
            );
        }
    }

    #[test]
    fn run_writes_a_snapshot_that_merges_again() {
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<PathBuf> = (0..2u32)
            .map(|i| {
                let path = dir.path().join(format!("in{i}.json"));
                let report = snapshot(
                    10 * u64::from(i),
                    i * 100..i * 100 + 150,
                    0..1,
                    Default::default(),
                );
                std::fs::write(&path, serde_json::to_vec(&report).unwrap()).unwrap();
                path
            })
            .collect();
        let out = dir.path().join("merged.json");
        let merged = run(&MergeConfig {
            snapshots: paths.clone(),
            out: Some(out.clone()),
            top: 5,
            hierarchical_share: None,
        })
        .unwrap();
        assert_eq!(merged.distinct_sources, 250);
        assert_eq!(read(&out).unwrap(), merged);
        let again = run(&MergeConfig {
            snapshots: vec![out, paths[0].clone()],
            out: None,
            top: 5,
            hierarchical_share: None,
        })
        .unwrap();
        assert_eq!(again.distinct_sources, 250);
    }
}
