//! What is on screen: the kept reports, which one is shown, the keyboard's choices (ranking,
//! focused list, pause) and the figures derived from a report (rates, shares). Plain data and
//! arithmetic: it must not know the terminal, keys as the terminal spells them, or where the
//! reports come from.
//!
//! Five lists: flows, sources and destinations (addresses), then source and destination
//! prefixes. A prefix list keeps the report's order, grouped by length (IPv4 first, shortest
//! first, each length ranked on its own, so its rank starts again at 1 with each length); the
//! CIDR shows the length. [`fit`] trims such a list to a number of lines by giving every length
//! its even part, so that a /24 hit by a carpet bombing is not pushed off by the /8s and /16s.

use super::source::Event;
use crate::report::{AddressEntry, FlowEntry, IntervalReport, LowerBound, PrefixEntry};
use crate::sinks::protocol_name;
use crate::sinks::table::endpoint;
use std::collections::VecDeque;

/// Intervals kept to step back through (two hours of 1-minute intervals).
pub const HISTORY: usize = 120;

/// What the top lists are ranked by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ranking {
    /// Packets: the report's `top_*` lists.
    Packets,
    /// Bytes: the report's `top_*_by_bytes` lists.
    Bytes,
}

impl Ranking {
    /// `packets` or `bytes`.
    pub fn as_str(self) -> &'static str {
        match self {
            Ranking::Packets => "packets",
            Ranking::Bytes => "bytes",
        }
    }
}

/// One of the five top lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum List {
    /// Five-tuples.
    Flows,
    /// Source addresses, with their fan-out.
    Sources,
    /// Destination addresses, with their fan-in.
    Destinations,
    /// Source prefixes, grouped by length, with their distinct addresses.
    SourcePrefixes,
    /// Destination prefixes, grouped by length, with their distinct addresses.
    DestinationPrefixes,
}

impl List {
    /// Every list, in screen order (the order `tab` cycles through and the keys number).
    pub const ALL: [List; 5] = [
        List::Flows,
        List::Sources,
        List::Destinations,
        List::SourcePrefixes,
        List::DestinationPrefixes,
    ];

    /// The list after this one, wrapping around.
    pub fn next(self) -> Self {
        let at = List::ALL.iter().position(|&list| list == self).unwrap_or(0);
        List::ALL[(at + 1) % List::ALL.len()]
    }

    /// `flows`, `sources`, `destinations`, `source prefixes` or `destination prefixes`.
    pub fn as_str(self) -> &'static str {
        match self {
            List::Flows => "flows",
            List::Sources => "sources",
            List::Destinations => "destinations",
            List::SourcePrefixes => "source prefixes",
            List::DestinationPrefixes => "destination prefixes",
        }
    }

    /// Whether the list is of prefixes, grouped by length.
    pub fn is_prefixes(self) -> bool {
        matches!(self, List::SourcePrefixes | List::DestinationPrefixes)
    }

    /// The heading of the key column: `flow`, `address` or `prefix`.
    pub fn key_heading(self) -> &'static str {
        match self {
            List::Flows => "flow",
            List::Sources | List::Destinations => "address",
            List::SourcePrefixes | List::DestinationPrefixes => "prefix",
        }
    }

    /// The heading of the distinct-peers column: fan-out of a source, fan-in of a destination,
    /// the distinct addresses seen in a prefix.
    pub fn peers_heading(self) -> Option<&'static str> {
        match self {
            List::Flows => None,
            List::Sources => Some("fan-out"),
            List::Destinations => Some("fan-in"),
            List::SourcePrefixes | List::DestinationPrefixes => Some("addresses"),
        }
    }
}

/// What the user asked for, whichever key said it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// Rank by packets.
    ByPackets,
    /// Rank by bytes.
    ByBytes,
    /// Focus the next list.
    NextList,
    /// Focus this list.
    Focus(List),
    /// Freeze the view on the interval shown, or follow the newest again.
    TogglePause,
    /// Show the interval before the one shown, pausing there.
    Older,
    /// Show the interval after the one shown (still paused: only [`Command::TogglePause`]
    /// follows the newest again).
    Newer,
    /// Leave.
    Quit,
}

/// Packets and bits per second.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Rates {
    /// Packets per second.
    pub pps: f64,
    /// Bits per second (8 × bytes per second).
    pub bps: f64,
}

impl Rates {
    /// `packets` and `bytes` spread over `seconds` (none over an empty span).
    pub fn of(packets: u64, bytes: u64, seconds: u64) -> Self {
        if seconds == 0 {
            return Self::default();
        }
        let seconds = seconds as f64;
        Self {
            pps: packets as f64 / seconds,
            bps: 8.0 * bytes as f64 / seconds,
        }
    }
}

/// One line of a top list, as shown.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// 1 for the largest (of its length, in a prefix list).
    pub rank: usize,
    /// The flow (`a:p -> b:q`), the address or the prefix (CIDR).
    pub key: String,
    /// The protocol's name or number (flows only).
    pub protocol: Option<String>,
    /// Packets in the interval.
    pub packets: u64,
    /// Wire bytes in the interval.
    pub bytes: u64,
    /// Both spread over the interval.
    pub rates: Rates,
    /// Share of the interval's total of the ranked measure, 0 to 1.
    pub share: f64,
    /// Fan-out of a source, fan-in of a destination, distinct addresses of a prefix; `None`
    /// when untracked, and for flows.
    pub peers: Option<u64>,
    /// Which of `packets` and `bytes` is a lower bound.
    pub lower_bound: LowerBound,
}

/// The packets and bytes of one entry as written on screen and in plain lines: the one place
/// that decides how an entry's figures read; a lower bound is marked `≥`, as in the table.
pub fn figures(row: &Row) -> (String, String) {
    let mark = |bounded: bool| if bounded { "≥" } else { "" };
    (
        format!("{}{}", mark(row.lower_bound.packets), row.packets),
        format!(
            "{}{}",
            mark(row.lower_bound.bytes),
            crate::sinks::table::human_bytes(row.bytes)
        ),
    )
}

/// The state of the view.
#[derive(Debug, Clone)]
pub struct Model {
    /// What is watched, for the title: an address, an interface, files.
    pub source: String,
    reports: VecDeque<IntervalReport>,
    /// The report shown while paused or stepping back; `None` follows the newest.
    pinned: Option<usize>,
    /// What the lists are ranked by.
    pub ranking: Ranking,
    /// The list the keys act on (and the one shown when only one fits).
    pub focus: List,
    /// A passing problem of the source (server unreachable, malformed answer).
    pub trouble: Option<String>,
    /// How the source ended, once it has.
    pub ended: Option<String>,
    /// The latest warning the process logged.
    pub warning: Option<String>,
    /// Whether the user asked to leave.
    pub quit: bool,
}

impl Model {
    /// An empty view of `source`, ranked by packets, focused on destinations (where a flood's
    /// victim shows).
    pub fn new(source: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            reports: VecDeque::new(),
            pinned: None,
            ranking: Ranking::Packets,
            focus: List::Destinations,
            trouble: None,
            ended: None,
            warning: None,
            quit: false,
        }
    }

    /// Takes in what the source said.
    pub fn apply(&mut self, event: Event) {
        match event {
            Event::Report(report) => {
                self.trouble = None;
                // A source that hands the same interval again (a server polled twice) replaces it.
                if self.reports.back().map(|r| r.interval.start_unix)
                    == Some(report.interval.start_unix)
                {
                    self.reports.pop_back();
                }
                self.reports.push_back(*report);
                if self.reports.len() > HISTORY {
                    self.reports.pop_front();
                    // The pinned report moved one place toward the front, or was dropped.
                    self.pinned = self.pinned.map(|at| at.saturating_sub(1));
                }
            }
            Event::Trouble(trouble) => self.trouble = trouble,
            Event::Ended(message) => self.ended = Some(message),
        }
    }

    /// Carries out what the user asked for.
    pub fn command(&mut self, command: Command) {
        let newest = self.reports.len().checked_sub(1);
        match command {
            Command::ByPackets => self.ranking = Ranking::Packets,
            Command::ByBytes => self.ranking = Ranking::Bytes,
            Command::NextList => self.focus = self.focus.next(),
            Command::Focus(list) => self.focus = list,
            Command::TogglePause => {
                self.pinned = match self.pinned {
                    Some(_) => None,
                    None => newest,
                }
            }
            Command::Older => {
                self.pinned = self.shown_index().map(|at| at.saturating_sub(1));
            }
            Command::Newer => {
                self.pinned = self
                    .pinned
                    .zip(newest)
                    .map(|(at, newest)| (at + 1).min(newest));
            }
            Command::Quit => self.quit = true,
        }
    }

    fn shown_index(&self) -> Option<usize> {
        self.pinned.or(self.reports.len().checked_sub(1))
    }

    /// The report on screen.
    pub fn shown(&self) -> Option<&IntervalReport> {
        self.shown_index().and_then(|at| self.reports.get(at))
    }

    /// Whether new intervals wait behind the one shown.
    pub fn paused(&self) -> bool {
        self.pinned.is_some()
    }

    /// The shown report's place among the kept ones (from 1) and how many are kept.
    pub fn position(&self) -> (usize, usize) {
        (
            self.shown_index().map_or(0, |at| at + 1),
            self.reports.len(),
        )
    }

    /// The shown interval's totals as rates.
    pub fn rates(&self) -> Rates {
        self.shown().map_or_else(Rates::default, |report| {
            Rates::of(
                report.totals.packets,
                report.totals.bytes,
                report.interval.seconds,
            )
        })
    }

    /// The rows of `list` in the shown report, ranked as chosen.
    pub fn rows(&self, list: List) -> Vec<Row> {
        self.shown()
            .map_or_else(Vec::new, |report| rows(report, list, self.ranking))
    }
}

/// The rows of `list` of `report` ranked by `ranking`, with rates over the interval and shares
/// of its total of the ranked measure.
pub fn rows(report: &IntervalReport, list: List, ranking: Ranking) -> Vec<Row> {
    let seconds = report.interval.seconds;
    let total = match ranking {
        Ranking::Packets => report.totals.packets,
        Ranking::Bytes => report.totals.bytes,
    };
    let share = |packets: u64, bytes: u64| {
        let part = match ranking {
            Ranking::Packets => packets,
            Ranking::Bytes => bytes,
        };
        if total == 0 {
            0.0
        } else {
            (part as f64 / total as f64).min(1.0)
        }
    };
    // What every kind of entry shows alike: its counts, rates, share and bound.
    let row = |rank: usize, key: String, packets: u64, bytes: u64, lower_bound: LowerBound| Row {
        rank,
        key,
        protocol: None,
        packets,
        bytes,
        rates: Rates::of(packets, bytes, seconds),
        share: share(packets, bytes),
        peers: None,
        lower_bound,
    };
    let flow_row = |(index, flow): (usize, &FlowEntry)| Row {
        protocol: Some(
            protocol_name(flow.protocol).map_or_else(|| flow.protocol.to_string(), Into::into),
        ),
        ..row(
            index + 1,
            format!(
                "{} -> {}",
                endpoint(flow.src, flow.src_port, flow),
                endpoint(flow.dst, flow.dst_port, flow)
            ),
            flow.packets,
            flow.bytes,
            flow.lower_bound,
        )
    };
    let address_row = |peers: fn(&AddressEntry) -> Option<u64>| {
        move |(index, entry): (usize, &AddressEntry)| Row {
            peers: peers(entry),
            ..row(
                index + 1,
                entry.address.to_string(),
                entry.packets,
                entry.bytes,
                entry.lower_bound,
            )
        }
    };
    // The report's order: grouped by length, each length ranked on its own.
    let prefix_rows = |entries: &[PrefixEntry]| {
        let mut group = None;
        let mut rank = 0;
        entries
            .iter()
            .map(|entry| {
                let this = (entry.prefix.address().is_ipv4(), entry.length);
                rank = if group == Some(this) { rank + 1 } else { 1 };
                group = Some(this);
                Row {
                    peers: entry.distinct_addresses,
                    ..row(
                        rank,
                        entry.prefix.to_string(),
                        entry.packets,
                        entry.bytes,
                        entry.lower_bound,
                    )
                }
            })
            .collect::<Vec<Row>>()
    };
    let by_bytes = ranking == Ranking::Bytes;
    match list {
        List::Flows => {
            let flows = if by_bytes {
                &report.top_flows_by_bytes
            } else {
                &report.top_flows
            };
            flows.iter().enumerate().map(flow_row).collect()
        }
        List::Sources => {
            let sources = if by_bytes {
                &report.top_sources_by_bytes
            } else {
                &report.top_sources
            };
            let row = address_row(|entry| entry.distinct_destinations);
            sources.iter().enumerate().map(row).collect()
        }
        List::Destinations => {
            let destinations = if by_bytes {
                &report.top_destinations_by_bytes
            } else {
                &report.top_destinations
            };
            let row = address_row(|entry| entry.distinct_sources);
            destinations.iter().enumerate().map(row).collect()
        }
        List::SourcePrefixes => prefix_rows(if by_bytes {
            &report.top_source_prefixes_by_bytes
        } else {
            &report.top_source_prefixes
        }),
        List::DestinationPrefixes => prefix_rows(if by_bytes {
            &report.top_destination_prefixes_by_bytes
        } else {
            &report.top_destination_prefixes
        }),
    }
}

/// At most `lines` of `rows`, in their order. Rows are grouped where their rank starts again
/// at 1 (the lengths of a prefix list; an address list is one group); when not all fit, every
/// group keeps its top rows, as many as the others where it has them, the lines one group
/// leaves unused going to the others, the first groups taking what does not divide evenly.
pub fn fit(rows: &[Row], lines: usize) -> Vec<Row> {
    if rows.len() <= lines {
        return rows.to_vec();
    }
    let mut groups: Vec<&[Row]> = Vec::new();
    let mut start = 0;
    for at in 1..=rows.len() {
        if at == rows.len() || rows[at].rank == 1 {
            groups.push(&rows[start..at]);
            start = at;
        }
    }
    // Hand the lines out one round at a time, a row per group that has one left.
    let mut kept = vec![0; groups.len()];
    let mut left = lines;
    while left > 0 {
        let mut gave = false;
        for (group, kept) in groups.iter().zip(kept.iter_mut()) {
            if left > 0 && *kept < group.len() {
                *kept += 1;
                left -= 1;
                gave = true;
            }
        }
        if !gave {
            break;
        }
    }
    groups
        .iter()
        .zip(kept)
        .flat_map(|(group, kept)| group[..kept].iter().cloned())
        .collect()
}

/// The drops of the interval shown: `None` for files and servers that do not capture.
pub fn drops(report: &IntervalReport) -> Option<u64> {
    report.capture.as_ref().map(|capture| {
        capture
            .interval
            .dropped_kernel
            .saturating_add(capture.interval.dropped_interface)
    })
}

/// A rate with SI prefixes and one decimal: `630.7`, `302.7 k`, `1.2 M`.
pub fn si(value: f64) -> String {
    crate::sinks::table::si(value)
}

/// Packets per second as shown: `630.7 pkt/s`.
pub fn pps_text(rates: Rates) -> String {
    format!("{} pkt/s", si(rates.pps))
}

/// Bits per second as shown: `302.7 kb/s`.
pub fn bps_text(rates: Rates) -> String {
    let text = si(rates.bps);
    // `630.7` has no prefix to stand the unit against.
    if text.contains(' ') {
        format!("{text}b/s")
    } else {
        format!("{text} b/s")
    }
}

/// A share as a percentage with one decimal.
pub fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::report::Totals;

    fn address(text: &str, packets: u64, bytes: u64, peers: Option<u64>) -> AddressEntry {
        AddressEntry {
            distinct_sources: peers,
            distinct_destinations: peers.map(|n| n + 1),
            ..AddressEntry::new(text.parse().unwrap(), packets, bytes)
        }
    }

    /// A prefix entry of `text` (CIDR) with `distinct` addresses, its packets a lower bound
    /// when `bounded`.
    pub(in crate::top) fn prefix(
        text: &str,
        packets: u64,
        bytes: u64,
        distinct: Option<u64>,
        bounded: bool,
    ) -> PrefixEntry {
        PrefixEntry {
            distinct_addresses: distinct,
            lower_bound: LowerBound {
                packets: bounded,
                bytes: false,
            },
            ..PrefixEntry::new(text.parse().unwrap(), packets, bytes)
        }
    }

    /// The destination prefixes of [`report`] by packets, in the report's order: grouped by
    /// length, IPv4 shortest first, then IPv6 (a /32 of each family: two groups).
    pub(in crate::top) fn destination_prefixes() -> Vec<PrefixEntry> {
        vec![
            prefix("203.0.0.0/8", 700, 42_000, Some(256), false),
            prefix("10.0.0.0/8", 300, 558_000, Some(2), false),
            prefix("203.0.0.0/16", 700, 42_000, Some(256), false),
            prefix("203.0.113.0/24", 700, 42_000, Some(256), true),
            prefix("10.0.0.0/24", 300, 558_000, None, false),
            prefix("203.0.113.7/32", 5, 300, Some(1), false),
            prefix("2001:db8::/32", 1, 100, Some(1), false),
        ]
    }

    /// An interval of 10 s starting at `start`: 1 000 packets, 600 kB; 10.0.0.9 leads the
    /// destinations by packets, 10.0.0.8 by bytes; destination prefixes as
    /// [`destination_prefixes`] (by bytes: 10.0.0.0/8 alone), source prefixes 192.0.2.0/24.
    pub(in crate::top) fn report(start: u64) -> IntervalReport {
        let totals = Totals {
            packets: 1_000,
            bytes: 600_000,
            ..Totals::default()
        };
        let flow = FlowEntry {
            src: "192.0.2.1".parse().unwrap(),
            dst: "10.0.0.9".parse().unwrap(),
            src_port: 40_000,
            dst_port: 80,
            protocol: 6,
            packets: 800,
            bytes: 48_000,
            lower_bound: LowerBound {
                packets: false,
                bytes: true,
            },
        };
        let many = address("10.0.0.9", 800, 48_000, Some(700));
        let big = address("10.0.0.8", 200, 552_000, Some(2));
        IntervalReport {
            distinct_sources: 701,
            distinct_destinations: 2,
            top_flows: vec![flow.clone()],
            top_flows_by_bytes: vec![flow],
            top_sources: vec![address("192.0.2.1", 800, 48_000, None)],
            top_sources_by_bytes: vec![address("192.0.2.1", 800, 48_000, None)],
            top_destinations: vec![many.clone(), big.clone()],
            top_destinations_by_bytes: vec![big, many],
            top_source_prefixes: vec![prefix("192.0.2.0/24", 800, 48_000, Some(1), false)],
            top_destination_prefixes: destination_prefixes(),
            top_destination_prefixes_by_bytes: vec![prefix(
                "10.0.0.0/8",
                300,
                558_000,
                Some(2),
                false,
            )],
            sketches: None,
            ..crate::report::tests::listless(start, totals)
        }
    }

    fn with(starts: impl IntoIterator<Item = u64>) -> Model {
        let mut model = Model::new("test");
        for start in starts {
            model.apply(Event::Report(Box::new(report(start))));
        }
        model
    }

    fn shown_start(model: &Model) -> Option<u64> {
        model.shown().map(|report| report.interval.start_unix)
    }

    #[test]
    fn rates_are_per_second_of_the_interval_and_bits_are_eight_per_byte() {
        assert_eq!(
            Rates::of(1_000, 600_000, 10),
            Rates {
                pps: 100.0,
                bps: 480_000.0
            }
        );
        assert_eq!(Rates::of(5, 5, 0), Rates::default());
        let model = with([100]);
        assert_eq!(model.rates(), Rates::of(1_000, 600_000, 10));
        let row = &model.rows(List::Destinations)[0];
        assert_eq!(
            row.rates,
            Rates {
                pps: 80.0,
                bps: 38_400.0
            }
        );
        assert_eq!(pps_text(model.rates()), "100.0 pkt/s");
        assert_eq!(bps_text(model.rates()), "480.0 kb/s");
        assert_eq!(bps_text(Rates { pps: 0.0, bps: 8.0 }), "8.0 b/s");
        assert_eq!(si(1_234_567.0), "1.2 M");
        assert_eq!(si(999.96), "1.0 k");
    }

    #[test]
    fn b_and_p_switch_between_the_lists_by_bytes_and_by_packets() {
        let mut model = with([100]);
        let first = |model: &Model| model.rows(List::Destinations)[0].clone();
        assert_eq!(first(&model).key, "10.0.0.9");
        assert_eq!(first(&model).share, 0.8);
        assert_eq!(first(&model).peers, Some(700));
        model.command(Command::ByBytes);
        assert_eq!(model.ranking, Ranking::Bytes);
        assert_eq!(first(&model).key, "10.0.0.8");
        assert_eq!(first(&model).share, 0.92);
        assert_eq!(first(&model).peers, Some(2));
        model.command(Command::ByPackets);
        assert_eq!(first(&model).key, "10.0.0.9");

        let flow = &model.rows(List::Flows)[0];
        assert_eq!(flow.key, "192.0.2.1:40000 -> 10.0.0.9:80");
        assert_eq!(flow.protocol.as_deref(), Some("tcp"));
        assert_eq!(flow.peers, None);
        // Sources carry their fan-out.
        assert_eq!(model.rows(List::Sources)[0].peers, None);
        // A lower bound is marked as in the table.
        assert_eq!(figures(flow), ("800".to_owned(), "≥48.0 kB".to_owned()));
    }

    #[test]
    fn tab_and_numbers_focus_the_lists() {
        let mut model = with([]);
        assert_eq!(model.focus, List::Destinations);
        // Tab goes through all five, the prefixes after the addresses, and wraps around.
        let mut seen = vec![model.focus];
        for _ in 0..5 {
            model.command(Command::NextList);
            seen.push(model.focus);
        }
        assert_eq!(
            seen,
            [
                List::Destinations,
                List::SourcePrefixes,
                List::DestinationPrefixes,
                List::Flows,
                List::Sources,
                List::Destinations,
            ]
        );
        assert_eq!(List::ALL.len(), 5);
        for list in List::ALL {
            assert_eq!(list.next().next().next().next().next(), list);
        }
        model.command(Command::Focus(List::DestinationPrefixes));
        assert_eq!(model.focus, List::DestinationPrefixes);
        assert!(model.focus.is_prefixes() && !List::Destinations.is_prefixes());
    }

    #[test]
    fn prefix_lists_keep_the_report_order_and_rank_each_length_on_its_own() {
        let mut model = with([100]);
        let rows = model.rows(List::DestinationPrefixes);
        let keys: Vec<&str> = rows.iter().map(|row| row.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "203.0.0.0/8",
                "10.0.0.0/8",
                "203.0.0.0/16",
                "203.0.113.0/24",
                "10.0.0.0/24",
                "203.0.113.7/32",
                "2001:db8::/32",
            ]
        );
        // The rank starts again with each length, and with the other family at the same one.
        let ranks: Vec<usize> = rows.iter().map(|row| row.rank).collect();
        assert_eq!(ranks, [1, 2, 1, 1, 2, 1, 1]);
        // The distinct addresses fill the peers column; `None` stays untracked.
        let peers: Vec<Option<u64>> = rows.iter().map(|row| row.peers).collect();
        assert_eq!(
            peers,
            [
                Some(256),
                Some(2),
                Some(256),
                Some(256),
                None,
                Some(1),
                Some(1)
            ]
        );
        let carpet = &rows[3];
        assert_eq!(carpet.share, 0.7);
        assert_eq!(carpet.rates, Rates::of(700, 42_000, 10));
        assert_eq!(carpet.protocol, None);
        // A lower bound is marked as in the address lists.
        assert_eq!(figures(carpet), ("≥700".to_owned(), "42.0 kB".to_owned()));
        assert_eq!(figures(&rows[4]), ("300".to_owned(), "558.0 kB".to_owned()));
        assert_eq!(List::DestinationPrefixes.peers_heading(), Some("addresses"));
        assert_eq!(List::SourcePrefixes.key_heading(), "prefix");
        assert_eq!(List::DestinationPrefixes.as_str(), "destination prefixes");

        let sources = model.rows(List::SourcePrefixes);
        assert_eq!(sources.len(), 1);
        assert_eq!(sources[0].key, "192.0.2.0/24");
        assert_eq!(sources[0].peers, Some(1));
        // By bytes, the report's by-bytes list, its share of the bytes.
        model.command(Command::ByBytes);
        let rows = model.rows(List::DestinationPrefixes);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].key, "10.0.0.0/8");
        assert_eq!(rows[0].share, 0.93);
        assert!(model.rows(List::SourcePrefixes).is_empty());
    }

    #[test]
    fn fitting_keeps_the_top_of_every_length_in_order() {
        let rows = rows(&report(0), List::DestinationPrefixes, Ranking::Packets);
        let keys = |lines: usize| -> Vec<String> {
            fit(&rows, lines).into_iter().map(|row| row.key).collect()
        };
        // Five groups: /8 (two), /16, /24 (two), IPv4 /32, IPv6 /32.
        assert_eq!(
            keys(5),
            [
                "203.0.0.0/8",
                "203.0.0.0/16",
                "203.0.113.0/24",
                "203.0.113.7/32",
                "2001:db8::/32"
            ]
        );
        // A sixth line goes to the first group with a row left.
        assert_eq!(keys(6)[..2], ["203.0.0.0/8", "10.0.0.0/8"]);
        assert_eq!(keys(6).len(), 6);
        assert_eq!(keys(3), ["203.0.0.0/8", "203.0.0.0/16", "203.0.113.0/24"]);
        assert_eq!(keys(7), keys(100));
        assert_eq!(keys(100).len(), 7);
        assert!(keys(0).is_empty());
        // An address list is one group: its top rows.
        let destinations = rows_of(List::Destinations);
        assert_eq!(fit(&destinations, 1), destinations[..1]);
    }

    fn rows_of(list: List) -> Vec<Row> {
        rows(&report(0), list, Ranking::Packets)
    }

    #[test]
    fn pause_holds_the_interval_shown_while_new_ones_are_kept() {
        let mut model = with([100, 110]);
        model.command(Command::TogglePause);
        assert!(model.paused());
        model.apply(Event::Report(Box::new(report(120))));
        assert_eq!(shown_start(&model), Some(110));
        assert_eq!(model.position(), (2, 3));
        model.command(Command::TogglePause);
        assert!(!model.paused());
        assert_eq!(shown_start(&model), Some(120));
    }

    #[test]
    fn arrows_step_through_the_kept_intervals_and_pause_there() {
        let mut model = with([100, 110, 120]);
        model.command(Command::Older);
        model.command(Command::Older);
        model.command(Command::Older);
        assert_eq!(shown_start(&model), Some(100));
        assert!(model.paused());
        model.command(Command::Newer);
        assert_eq!(shown_start(&model), Some(110));
        model.command(Command::Newer);
        model.command(Command::Newer);
        assert_eq!(shown_start(&model), Some(120));
        assert!(model.paused());
        // Not paused, → has nothing to do.
        let mut model = with([100, 110]);
        model.command(Command::Newer);
        assert!(!model.paused());
        let mut empty = with([]);
        empty.command(Command::Older);
        empty.command(Command::TogglePause);
        assert_eq!(empty.shown(), None);
        assert_eq!(empty.rows(List::Flows), []);
    }

    #[test]
    fn history_is_bounded_and_a_paused_view_keeps_its_interval() {
        let mut model = with((0..HISTORY as u64).map(|i| i * 10));
        model.command(Command::Older);
        let held = shown_start(&model);
        for i in 0..5 {
            model.apply(Event::Report(Box::new(report(10_000 + i * 10))));
        }
        assert_eq!(model.position().1, HISTORY);
        assert_eq!(shown_start(&model), held);
        // The same interval again (a server polled twice) replaces, not adds.
        model.apply(Event::Report(Box::new(report(10_040))));
        assert_eq!(model.position().1, HISTORY);
    }

    #[test]
    fn troubles_clear_with_the_next_report_and_the_end_is_kept() {
        let mut model = with([]);
        model.apply(Event::Trouble(Some("unreachable".into())));
        assert_eq!(model.trouble.as_deref(), Some("unreachable"));
        model.apply(Event::Report(Box::new(report(0))));
        assert_eq!(model.trouble, None);
        model.apply(Event::Ended("end of input".into()));
        assert_eq!(model.ended.as_deref(), Some("end of input"));
        model.command(Command::Quit);
        assert!(model.quit);
    }
}
