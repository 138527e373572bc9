//! Sudden changes: the keys of the address (and prefix) views whose counts rose most in the
//! closing interval against their own recent past, and the addresses new among the top.
//!
//! Each view keeps, for the keys its top lists showed recently, an exponentially weighted mean
//! of their packets and bytes per interval (weight [`ALPHA`] on the newest interval; an interval
//! in which a tracked key is not listed counts as 0 for it, since the lists say only that it
//! was below their last entry). A listed key's rise is its count less that mean, or less 0 for a
//! key not tracked; its *score* is the larger of its rise in packets as a share of the
//! interval's packets and its rise in bytes as a share of the interval's bytes, so a score of
//! 0.3 says "this key alone added 30% of the interval's traffic on top of its usual". Scores
//! are comparable across links of any speed, which is what an alert threshold needs. For the
//! first [`WARM_UP_INTERVALS`] intervals there is no baseline to compare with: baselines are
//! built and nothing is reported.
//!
//! Only what the reports list is seen, so this costs nothing per packet: a few hundred map
//! updates per interval. Each view tracks at most [`tracked_per_view`] keys; the ones with the
//! smallest means go first. Knows nothing of packets, threads or sinks.

use crate::report::{ChangeEntry, ChangeView, Changes, IntervalReport, Totals};
use std::collections::HashMap;

/// Weight of the newest interval in a key's mean: its memory is a few intervals (the weight of
/// an interval `k` intervals back is `ALPHA * (1 - ALPHA)^k`, under 5% after 8).
pub const ALPHA: f64 = 0.3;

/// Intervals counted into the baselines before any change is reported.
pub const WARM_UP_INTERVALS: u64 = 3;

/// Keys each view tracks at most, for `top` entries listed per list.
pub fn tracked_per_view(top: usize) -> usize {
    top.saturating_mul(8).max(256)
}

/// One key's mean packets and bytes per interval.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Mean {
    packets: f64,
    bytes: f64,
}

impl Mean {
    fn update(&mut self, packets: u64, bytes: u64) {
        self.packets += ALPHA * (packets as f64 - self.packets);
        self.bytes += ALPHA * (bytes as f64 - self.bytes);
    }
}

/// The listed keys of one view in one interval, with their packets and bytes.
pub struct Listed<'a> {
    /// Which view.
    pub view: ChangeView,
    /// Each key (its text: an address or a prefix in CIDR notation) and its counts.
    pub entries: &'a [(String, u64, u64)],
}

/// The baselines of every view, interval after interval.
#[derive(Debug)]
pub struct ChangeDetector {
    top: usize,
    intervals: u64,
    means: HashMap<ChangeView, HashMap<String, Mean>>,
}

impl ChangeDetector {
    /// A detector that reports at most `top` rises and `top` new talkers per interval.
    pub fn new(top: usize) -> Self {
        Self {
            top,
            intervals: 0,
            means: HashMap::new(),
        }
    }

    /// [`observe`](Self::observe) with the keys `report` lists: addresses from both lists
    /// of each direction, prefixes of every length from both lists of each direction.
    pub fn observe_report(&mut self, report: &IntervalReport) -> Changes {
        fn keyed<'a, T: 'a>(
            lists: [&'a [T]; 2],
            key: impl Fn(&T) -> (String, u64, u64),
        ) -> Vec<(String, u64, u64)> {
            let mut entries: Vec<(String, u64, u64)> =
                lists.into_iter().flatten().map(key).collect();
            entries.sort();
            entries.dedup_by(|a, b| a.0 == b.0);
            entries
        }
        let address = |a: &crate::report::AddressEntry| (a.address.to_string(), a.packets, a.bytes);
        let prefix = |p: &crate::report::PrefixEntry| (p.prefix.to_string(), p.packets, p.bytes);
        let views = [
            (
                ChangeView::Sources,
                keyed([&report.top_sources, &report.top_sources_by_bytes], address),
            ),
            (
                ChangeView::Destinations,
                keyed(
                    [&report.top_destinations, &report.top_destinations_by_bytes],
                    address,
                ),
            ),
            (
                ChangeView::SourcePrefixes,
                keyed(
                    [
                        &report.top_source_prefixes,
                        &report.top_source_prefixes_by_bytes,
                    ],
                    prefix,
                ),
            ),
            (
                ChangeView::DestinationPrefixes,
                keyed(
                    [
                        &report.top_destination_prefixes,
                        &report.top_destination_prefixes_by_bytes,
                    ],
                    prefix,
                ),
            ),
        ];
        let listed: Vec<Listed<'_>> = views
            .iter()
            .map(|(view, entries)| Listed {
                view: *view,
                entries,
            })
            .collect();
        self.observe(&report.totals, &listed)
    }

    /// Compares the closing interval's listed keys (`views`, with the interval's `totals`)
    /// with the baselines, then moves the baselines on by this interval.
    pub fn observe(&mut self, totals: &Totals, views: &[Listed<'_>]) -> Changes {
        let warm = self.intervals >= WARM_UP_INTERVALS;
        let mut rises = Vec::new();
        let mut new_talkers = Vec::new();
        for listed in views {
            let means = self.means.entry(listed.view).or_default();
            if warm {
                for (key, packets, bytes) in listed.entries {
                    let mean = means.get(key);
                    let baseline = mean.copied().unwrap_or_default();
                    let entry = ChangeEntry {
                        view: listed.view,
                        key: key.clone(),
                        packets: *packets,
                        bytes: *bytes,
                        baseline_packets: baseline.packets.round() as u64,
                        baseline_bytes: baseline.bytes.round() as u64,
                        score: score(*packets, *bytes, baseline, totals),
                        new: mean.is_none(),
                    };
                    if entry.new && listed.view.is_address() {
                        new_talkers.push(entry.clone());
                    }
                    if entry.score > 0.0 {
                        rises.push(entry);
                    }
                }
            }
            update(means, listed.entries, tracked_per_view(self.top));
        }
        self.intervals += 1;
        for list in [&mut rises, &mut new_talkers] {
            list.sort_by(|a, b| {
                b.score
                    .total_cmp(&a.score)
                    .then(a.view.cmp(&b.view))
                    .then(a.key.cmp(&b.key))
            });
            list.truncate(self.top);
        }
        Changes {
            warming_up: !warm,
            rises,
            new_talkers,
        }
    }
}

/// The larger of the rise in packets and in bytes, each as a share of the interval's.
fn score(packets: u64, bytes: u64, baseline: Mean, totals: &Totals) -> f64 {
    let share = |now: u64, mean: f64, total: u64| {
        if total == 0 {
            0.0
        } else {
            (now as f64 - mean) / total as f64
        }
    };
    share(packets, baseline.packets, totals.packets).max(share(bytes, baseline.bytes, totals.bytes))
}

/// Moves every tracked mean of a view on by one interval (0 for keys not listed), starts the
/// new keys at their first counts, and keeps the `cap` largest.
fn update(means: &mut HashMap<String, Mean>, entries: &[(String, u64, u64)], cap: usize) {
    let listed: HashMap<&str, (u64, u64)> = entries
        .iter()
        .map(|(key, packets, bytes)| (key.as_str(), (*packets, *bytes)))
        .collect();
    for (key, mean) in means.iter_mut() {
        let (packets, bytes) = listed.get(key.as_str()).copied().unwrap_or_default();
        mean.update(packets, bytes);
    }
    for (key, packets, bytes) in entries {
        means.entry(key.clone()).or_insert(Mean {
            packets: *packets as f64,
            bytes: *bytes as f64,
        });
    }
    // Means that have decayed below a packet an interval say nothing any more.
    means.retain(|_, mean| mean.packets >= 0.5);
    if means.len() > cap {
        let mut sizes: Vec<f64> = means.values().map(|mean| mean.packets).collect();
        sizes.sort_by(|a, b| b.total_cmp(a));
        let floor = sizes[cap - 1];
        let mut kept = 0;
        means.retain(|_, mean| {
            let keep = mean.packets > floor || (mean.packets == floor && kept < cap);
            kept += usize::from(keep);
            keep
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(packets: u64) -> Totals {
        Totals {
            packets,
            bytes: packets * 100,
            ..Totals::default()
        }
    }

    fn entries(list: &[(&str, u64)]) -> Vec<(String, u64, u64)> {
        list.iter()
            .map(|&(key, packets)| (key.to_owned(), packets, packets * 100))
            .collect()
    }

    fn step(detector: &mut ChangeDetector, total: u64, list: &[(&str, u64)]) -> Changes {
        let entries = entries(list);
        detector.observe(
            &totals(total),
            &[Listed {
                view: ChangeView::Destinations,
                entries: &entries,
            }],
        )
    }

    #[test]
    fn a_step_is_flagged_in_its_interval_and_steady_traffic_never() {
        let mut detector = ChangeDetector::new(10);
        let steady = [("192.0.2.1", 500), ("192.0.2.2", 300)];
        for interval in 0..10 {
            let changes = step(&mut detector, 1_000, &steady);
            assert_eq!(
                changes.warming_up,
                interval < WARM_UP_INTERVALS,
                "{interval}"
            );
            assert!(changes.rises.is_empty(), "{interval}: {changes:?}");
            assert!(changes.new_talkers.is_empty(), "{interval}: {changes:?}");
        }
        // 192.0.2.2 goes from 300 to 1 300 packets in an interval of 1 800.
        let changes = step(
            &mut detector,
            1_800,
            &[("192.0.2.2", 1_300), ("192.0.2.1", 500)],
        );
        let top = &changes.rises[0];
        assert_eq!(
            (top.key.as_str(), top.packets, top.baseline_packets, top.new),
            ("192.0.2.2", 1_300, 300, false)
        );
        assert!(
            (top.score - 1_000.0 / 1_800.0).abs() < 1e-9,
            "{}",
            top.score
        );
        assert_eq!(changes.rises.len(), 1);
        // It stays above its baseline while the mean catches up, by less each interval.
        let mut last = top.score;
        for _ in 0..5 {
            let changes = step(
                &mut detector,
                1_800,
                &[("192.0.2.2", 1_300), ("192.0.2.1", 500)],
            );
            assert!(changes.rises[0].score < last);
            last = changes.rises[0].score;
        }
        assert!(last < 0.1, "{last}");
    }

    #[test]
    fn new_keys_compare_with_zero_and_new_addresses_are_talkers() {
        let mut detector = ChangeDetector::new(10);
        for _ in 0..WARM_UP_INTERVALS {
            step(&mut detector, 1_000, &[("192.0.2.1", 900)]);
        }
        let changes = step(
            &mut detector,
            1_000,
            &[("192.0.2.1", 700), ("198.51.100.7", 250)],
        );
        assert_eq!(changes.rises.len(), 1);
        let rise = &changes.rises[0];
        assert_eq!(
            (rise.key.as_str(), rise.baseline_packets, rise.new),
            ("198.51.100.7", 0, true)
        );
        assert!((rise.score - 0.25).abs() < 1e-9);
        assert_eq!(changes.new_talkers, changes.rises);
        // Once seen, it is no longer new.
        let changes = step(
            &mut detector,
            1_000,
            &[("192.0.2.1", 700), ("198.51.100.7", 250)],
        );
        assert!(changes.new_talkers.is_empty());
    }

    #[test]
    fn prefixes_rise_but_are_not_talkers() {
        let mut detector = ChangeDetector::new(10);
        let empty = entries(&[]);
        let prefix = entries(&[("203.0.113.0/24", 600)]);
        for (interval, list) in [&empty, &empty, &empty, &prefix].into_iter().enumerate() {
            let changes = detector.observe(
                &totals(1_000),
                &[Listed {
                    view: ChangeView::DestinationPrefixes,
                    entries: list,
                }],
            );
            if interval == 3 {
                assert_eq!(changes.rises[0].key, "203.0.113.0/24");
                assert!(changes.new_talkers.is_empty());
            }
        }
    }

    #[test]
    fn bytes_rise_alone_is_enough() {
        let mut detector = ChangeDetector::new(10);
        for _ in 0..5 {
            step(&mut detector, 1_000, &[("192.0.2.1", 100)]);
        }
        // Same packets, ten times the bytes: half the interval's bytes are new.
        let entries = vec![("192.0.2.1".to_owned(), 100, 100_000)];
        let changes = detector.observe(
            &Totals {
                packets: 1_000,
                bytes: 200_000,
                ..Totals::default()
            },
            &[Listed {
                view: ChangeView::Destinations,
                entries: &entries,
            }],
        );
        assert!((changes.rises[0].score - 0.45).abs() < 1e-9, "{changes:?}");
    }

    #[test]
    fn tracked_keys_are_capped_and_forgotten_when_gone() {
        let mut detector = ChangeDetector::new(1);
        let cap = tracked_per_view(1);
        let many: Vec<(String, u64, u64)> = (0..cap as u64 + 50)
            .map(|i| (format!("10.0.{}.{}", i / 256, i % 256), 10 + i, 1_000))
            .collect();
        for _ in 0..2 {
            detector.observe(
                &totals(1_000_000),
                &[Listed {
                    view: ChangeView::Sources,
                    entries: &many,
                }],
            );
        }
        let means = &detector.means[&ChangeView::Sources];
        assert_eq!(means.len(), cap);
        // The smallest went first.
        assert!(!means.contains_key("10.0.0.0"));
        for _ in 0..40 {
            detector.observe(
                &totals(0),
                &[Listed {
                    view: ChangeView::Sources,
                    entries: &[],
                }],
            );
        }
        assert!(detector.means[&ChangeView::Sources].is_empty());
    }

    #[test]
    fn an_empty_interval_scores_nothing() {
        let mut detector = ChangeDetector::new(10);
        for _ in 0..WARM_UP_INTERVALS {
            step(&mut detector, 0, &[]);
        }
        let changes = step(&mut detector, 0, &[("192.0.2.1", 0)]);
        assert!(changes.rises.is_empty() && !changes.warming_up);
    }
}
