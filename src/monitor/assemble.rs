//! The one report assembly: an interval's report from its producers' parts (totals, capture
//! statistics), the top lists of its view sets (one set on the one-thread path, one per owner
//! thread with workers) and its distinct counts; across intervals, the cumulative counts and
//! the rolling window. Knows nothing of threads, packets or where reports go.
//!
//! Keys are disjoint across view sets, so the global top `n` is among the sets' top `n`s: the
//! one ranking rule ([`largest`], shared with `merge`: count descending, then key ascending)
//! over their concatenation. On one set that is its own top list.

use super::changes::ChangeDetector;
use super::config::{window_lg_k, MonitorConfig};
use super::hhh;
use super::prefix::RankedPrefix;
use super::views::{rounded, IntervalDistinct, RankedAddress, TopLists};
use crate::report::{
    largest, AddressEntry, CaptureCounts, CaptureStats, Counting, Figure, FlowEntry,
    IntervalReport, IntervalSpan, LowerBound, PrefixEntry, ReaderCapture, TelemetryStats, Totals,
    WindowCounts,
};
use crate::window::SlidingDistinct;
use std::collections::BTreeMap;

/// What one packet thread counted of an interval itself.
pub(super) struct IntervalPart {
    pub(super) totals: Totals,
    /// Its capture's statistics for the interval, if it reads a live interface (cumulative
    /// counts are the assembly's).
    pub(super) capture: Option<CaptureStats>,
    /// What a flow-telemetry collector received, if it is one.
    pub(super) telemetry: Option<TelemetryStats>,
}

/// Assembles the reports of one run, interval after interval.
pub(super) struct Assembler {
    top: usize,
    interval_secs: u64,
    exact: bool,
    hierarchical_share: f64,
    cumulative: Totals,
    capture_cumulative: Option<CaptureCounts>,
    /// Per reader of a shared interface, its capture statistics since the capture opened.
    reader_cumulative: BTreeMap<u32, CaptureCounts>,
    window: Option<SlidingDistinct>,
    changes: ChangeDetector,
}

impl Assembler {
    /// The assembly of a run with `config`.
    pub(super) fn new(config: &MonitorConfig) -> Self {
        Self {
            top: config.top,
            interval_secs: config.interval_secs,
            exact: config.exact,
            hierarchical_share: config.hierarchical_share,
            cumulative: Totals::default(),
            capture_cumulative: None,
            reader_cumulative: BTreeMap::new(),
            changes: ChangeDetector::new(config.top),
            window: config
                .window_secs
                .filter(|_| config.distinct)
                .map(|window| {
                    let lg_k = window_lg_k(config.hll_lg_k);
                    SlidingDistinct::new(window, config.interval_secs, lg_k)
                }),
        }
    }

    /// Whether the distinct sources' counter of every interval is wanted, for the window.
    pub(super) fn keeps_window(&self) -> bool {
        self.window.is_some()
    }

    /// The report of the interval starting at `start` from its producers' `parts` (`None`
    /// without any: no producer reports it), the top lists of its view sets and its distinct
    /// counts.
    pub(super) fn report(
        &mut self,
        start: u64,
        parts: impl IntoIterator<Item = IntervalPart>,
        lists: &[TopLists],
        distinct: Option<IntervalDistinct>,
    ) -> Option<IntervalReport> {
        let mut parts = parts.into_iter();
        let IntervalPart {
            mut totals,
            mut capture,
            mut telemetry,
        } = parts.next()?;
        for part in parts {
            totals.add(&part.totals);
            // One collector per run: the first part that has its counts has them all.
            telemetry = telemetry.or(part.telemetry);
            match (&mut capture, part.capture) {
                (Some(sum), Some(more)) => {
                    sum.interval.add(&more.interval);
                    sum.readers.extend(more.readers);
                }
                (sum @ None, more) => *sum = more,
                (Some(_), None) => {}
            }
        }
        self.cumulative.add(&totals);
        if let Some(capture) = &mut capture {
            let cumulative = self.capture_cumulative.get_or_insert_default();
            cumulative.add(&capture.interval);
            capture.cumulative = *cumulative;
            self.per_reader(capture);
        }
        let mut report = IntervalReport {
            interval: IntervalSpan::new(start, self.interval_secs),
            sensor: String::new(),
            totals,
            cumulative: self.cumulative.clone(),
            distinct_sources: 0,
            distinct_destinations: 0,
            window: None,
            counting: self.counting(),
            top_flows: self.flows(lists, 0),
            top_flows_by_bytes: self.flows(lists, 1),
            top_sources: self.addresses(lists, |l| &l.sources, 0, true),
            top_sources_by_bytes: self.addresses(lists, |l| &l.sources, 1, true),
            top_destinations: self.addresses(lists, |l| &l.destinations, 0, false),
            top_destinations_by_bytes: self.addresses(lists, |l| &l.destinations, 1, false),
            top_source_prefixes: self.prefixes(lists, |l| &l.source_prefixes, 0),
            top_source_prefixes_by_bytes: self.prefixes(lists, |l| &l.source_prefixes, 1),
            top_destination_prefixes: self.prefixes(lists, |l| &l.destination_prefixes, 0),
            top_destination_prefixes_by_bytes: self.prefixes(lists, |l| &l.destination_prefixes, 1),
            hierarchical_share: self.hierarchical_share,
            hierarchical_source_prefixes: Vec::new(),
            hierarchical_destination_prefixes: Vec::new(),
            changes: None,
            capture,
            telemetry,
            sketches: None,
        };
        reconcile(
            [&mut report.top_flows, &mut report.top_flows_by_bytes],
            |f| (f.src, f.dst, f.src_port, f.dst_port, f.protocol),
            |f| (&mut f.packets, &mut f.bytes, &mut f.lower_bound),
        );
        for [by_packets, by_bytes] in [
            [&mut report.top_sources, &mut report.top_sources_by_bytes],
            [
                &mut report.top_destinations,
                &mut report.top_destinations_by_bytes,
            ],
        ] {
            reconcile(
                [by_packets, by_bytes],
                |a| a.address,
                |a| (&mut a.packets, &mut a.bytes, &mut a.lower_bound),
            );
        }
        for [by_packets, by_bytes] in [
            [
                &mut report.top_source_prefixes,
                &mut report.top_source_prefixes_by_bytes,
            ],
            [
                &mut report.top_destination_prefixes,
                &mut report.top_destination_prefixes_by_bytes,
            ],
        ] {
            reconcile(
                [by_packets, by_bytes],
                |p| p.prefix,
                |p| (&mut p.packets, &mut p.bytes, &mut p.lower_bound),
            );
        }
        report.hierarchical_source_prefixes = hhh::of_lists(
            &report.top_sources,
            &report.top_source_prefixes,
            report.totals.packets,
            report.hierarchical_share,
        );
        report.hierarchical_destination_prefixes = hhh::of_lists(
            &report.top_destinations,
            &report.top_destination_prefixes,
            report.totals.packets,
            report.hierarchical_share,
        );
        report.changes = Some(self.changes.observe_report(&report));
        if let Some(distinct) = distinct {
            report.distinct_sources = distinct.sources;
            report.distinct_destinations = distinct.destinations;
            report.sketches = Some(distinct.sketches);
            if let (Some(window), Some(sources)) = (&mut self.window, distinct.window_sources) {
                let count = window.push(start, sources);
                report.window = Some(WindowCounts {
                    seconds: window.window_secs(),
                    intervals: count.intervals as u64,
                    distinct_sources: rounded(count.estimate),
                });
            }
        }
        Some(report)
    }

    fn counting(&self) -> Counting {
        if self.exact {
            Counting::Exact
        } else {
            Counting::Chk
        }
    }

    /// Which figure of an entry of a list ranked by packets (`by` 0) or bytes (1) is a lower
    /// bound.
    fn lower_bound(&self, by: usize) -> LowerBound {
        let ranked = if by == 1 {
            Figure::Bytes
        } else {
            Figure::Packets
        };
        LowerBound::of_list(self.counting(), ranked)
    }

    /// The top flows over every set, ranked by packets (`by` 0) or bytes (1).
    fn flows(&self, lists: &[TopLists], by: usize) -> Vec<FlowEntry> {
        let lower_bound = self.lower_bound(by);
        let all = lists.iter().flat_map(|l| l.flows[by].iter());
        largest(all, self.top, |&(key, packets, bytes)| {
            (if by == 1 { *bytes } else { *packets }, key)
        })
        .into_iter()
        .map(|&(key, packets, bytes)| FlowEntry {
            lower_bound,
            ..FlowEntry::new(key, packets, bytes)
        })
        .collect()
    }

    /// The top addresses of one view over every set; `fan_out`: the fan figure is distinct
    /// destinations (the sources' view), else distinct sources.
    fn addresses(
        &self,
        lists: &[TopLists],
        view: fn(&TopLists) -> &[Vec<RankedAddress>; 2],
        by: usize,
        fan_out: bool,
    ) -> Vec<AddressEntry> {
        let lower_bound = self.lower_bound(by);
        let all = lists.iter().flat_map(|l| view(l)[by].iter());
        largest(all, self.top, |ranked| {
            let figure = if by == 1 {
                ranked.bytes
            } else {
                ranked.packets
            };
            (figure, &ranked.address)
        })
        .into_iter()
        .map(|ranked| {
            let (fan, sketch) = (ranked.fan, ranked.fan_sketch.clone());
            AddressEntry {
                address: ranked.address,
                packets: ranked.packets,
                bytes: ranked.bytes,
                lower_bound,
                distinct_sources: if fan_out { None } else { fan },
                distinct_destinations: if fan_out { fan } else { None },
                distinct_sources_sketch: if fan_out { None } else { sketch.clone() },
                distinct_destinations_sketch: if fan_out { sketch } else { None },
            }
        })
        .collect()
    }

    /// The top prefixes of one view over every set, ranked by packets (`by` 0) or bytes (1):
    /// per length (IPv4 lengths first, shortest first), its top entries. Each prefix has one
    /// owner, so a length's global top is among the sets' tops, as for addresses.
    fn prefixes(
        &self,
        lists: &[TopLists],
        view: fn(&TopLists) -> &[Vec<RankedPrefix>; 2],
        by: usize,
    ) -> Vec<PrefixEntry> {
        let lower_bound = self.lower_bound(by);
        let mut lengths: BTreeMap<(bool, u8), Vec<&RankedPrefix>> = BTreeMap::new();
        for ranked in lists.iter().flat_map(|l| view(l)[by].iter()) {
            let family = ranked.prefix.address().is_ipv6();
            lengths
                .entry((family, ranked.prefix.length()))
                .or_default()
                .push(ranked);
        }
        lengths
            .into_values()
            .flat_map(|group| {
                largest(group, self.top, |ranked| {
                    let figure = if by == 1 {
                        ranked.bytes
                    } else {
                        ranked.packets
                    };
                    (figure, &ranked.prefix)
                })
            })
            .map(|ranked| PrefixEntry {
                lower_bound,
                distinct_addresses: ranked.distinct,
                distinct_addresses_sketch: ranked.sketch.clone(),
                ..PrefixEntry::new(ranked.prefix, ranked.packets, ranked.bytes)
            })
            .collect()
    }

    /// Lists every reader that has reported since the capture opened in `capture`, by number:
    /// its interval counts from this interval's parts (none if it sent none), its cumulative
    /// counts summed here like the capture's.
    fn per_reader(&mut self, capture: &mut CaptureStats) {
        let mut interval = BTreeMap::new();
        for reader in capture.readers.drain(..) {
            interval
                .entry(reader.reader)
                .or_insert_with(CaptureCounts::default)
                .add(&reader.interval);
        }
        for (&reader, counts) in &interval {
            self.reader_cumulative
                .entry(reader)
                .or_default()
                .add(counts);
        }
        capture.readers = self
            .reader_cumulative
            .iter()
            .map(|(&reader, &cumulative)| ReaderCapture {
                reader,
                interval: interval.get(&reader).copied().unwrap_or_default(),
                cumulative,
            })
            .collect();
    }
}
/// An entry's figures: packets, bytes, and which of them is a lower bound.
type Figures<'a> = (&'a mut u64, &'a mut u64, &'a mut LowerBound);

/// Gives a key listed both by packets and by bytes each list's ranking figure in both
/// entries: sketched, its other figure in each list is only a lower bound, while the other
/// list has an estimate of it; both entries then read the same.
fn reconcile<E, K: Ord>(
    [by_packets, by_bytes]: [&mut Vec<E>; 2],
    key: impl Fn(&E) -> K,
    figures: impl Fn(&mut E) -> Figures<'_>,
) {
    let ranked = |list: &mut Vec<E>, packets: bool| -> BTreeMap<K, u64> {
        list.iter_mut()
            .map(|entry| {
                let id = key(entry);
                let (p, b, _) = figures(entry);
                (id, if packets { *p } else { *b })
            })
            .collect()
    };
    let packets = ranked(by_packets, true);
    let bytes = ranked(by_bytes, false);
    for entry in by_packets.iter_mut() {
        if let Some(&estimate) = bytes.get(&key(entry)) {
            let (_, figure, bound) = figures(entry);
            *figure = estimate;
            bound.bytes = false;
        }
    }
    for entry in by_bytes.iter_mut() {
        if let Some(&estimate) = packets.get(&key(entry)) {
            let (figure, _, bound) = figures(entry);
            *figure = estimate;
            bound.packets = false;
        }
    }
}
