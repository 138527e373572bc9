//! What is on screen: the kept reports, which one is shown, the keyboard's choices (ranking,
//! focused list, pause) and the figures derived from a report (rates, shares). Plain data and
//! arithmetic: it must not know the terminal, keys as the terminal spells them, or where the
//! reports come from.

use super::source::Event;
use crate::report::{AddressEntry, FlowEntry, IntervalReport, LowerBound};
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

/// One of the three top lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum List {
    /// Five-tuples.
    Flows,
    /// Source addresses, with their fan-out.
    Sources,
    /// Destination addresses, with their fan-in.
    Destinations,
}

impl List {
    /// Every list, in screen order.
    pub const ALL: [List; 3] = [List::Flows, List::Sources, List::Destinations];

    /// The list after this one, wrapping around.
    pub fn next(self) -> Self {
        match self {
            List::Flows => List::Sources,
            List::Sources => List::Destinations,
            List::Destinations => List::Flows,
        }
    }

    /// `flows`, `sources` or `destinations`.
    pub fn as_str(self) -> &'static str {
        match self {
            List::Flows => "flows",
            List::Sources => "sources",
            List::Destinations => "destinations",
        }
    }

    /// The heading of the distinct-peers column: fan-out of a source, fan-in of a destination.
    pub fn peers_heading(self) -> Option<&'static str> {
        match self {
            List::Flows => None,
            List::Sources => Some("fan-out"),
            List::Destinations => Some("fan-in"),
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
    /// 1 for the largest.
    pub rank: usize,
    /// The flow (`a:p -> b:q`) or the address.
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
    /// Fan-out of a source, fan-in of a destination; `None` when untracked, and for flows.
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
    let flow_row = |(index, flow): (usize, &FlowEntry)| Row {
        rank: index + 1,
        key: format!(
            "{} -> {}",
            endpoint(flow.src, flow.src_port, flow),
            endpoint(flow.dst, flow.dst_port, flow)
        ),
        protocol: Some(
            protocol_name(flow.protocol).map_or_else(|| flow.protocol.to_string(), Into::into),
        ),
        packets: flow.packets,
        bytes: flow.bytes,
        rates: Rates::of(flow.packets, flow.bytes, seconds),
        share: share(flow.packets, flow.bytes),
        peers: None,
        lower_bound: flow.lower_bound,
    };
    let address_row = |peers: fn(&AddressEntry) -> Option<u64>| {
        move |(index, entry): (usize, &AddressEntry)| Row {
            rank: index + 1,
            key: entry.address.to_string(),
            protocol: None,
            packets: entry.packets,
            bytes: entry.bytes,
            rates: Rates::of(entry.packets, entry.bytes, seconds),
            share: share(entry.packets, entry.bytes),
            peers: peers(entry),
            lower_bound: entry.lower_bound,
        }
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
    }
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

    /// An interval of 10 s starting at `start`: 1 000 packets, 600 kB; 10.0.0.9 leads the
    /// destinations by packets, 10.0.0.8 by bytes.
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
        model.command(Command::NextList);
        assert_eq!(model.focus, List::Flows);
        model.command(Command::NextList);
        assert_eq!(model.focus, List::Sources);
        model.command(Command::Focus(List::Destinations));
        assert_eq!(model.focus, List::Destinations);
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
