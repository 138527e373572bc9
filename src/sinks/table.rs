//! Renders an [`IntervalReport`] as the human-readable table hhmon prints to stdout after each
//! interval: a one-line summary (and a line of capture statistics for live captures, or of
//! exporters' counts for collectors), then the top flows, sources and destinations in aligned
//! columns (sources with their fan-out, destinations with their fan-in: distinct peers, `-`
//! when the address was not tracked), the first rows of every length of the heavy source and
//! destination prefixes with their distinct addresses, the prefixes heavy on their own
//! (hierarchical) and the sudden rises.
//!
//! A pure function from report to text (its formats of endpoints and byte counts are shared
//! with `hhmon top`); printing it, and deciding when, is the caller's job. It
//! must not know about sketches or how the numbers were estimated beyond the report's
//! `counting` field.

use super::protocol_name;
use crate::report::{
    AddressEntry, CaptureStats, Changes, FlowEntry, IntervalReport, LowerBound, PrefixEntry,
    ReasonCounts, TelemetryStats, Totals,
};
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

/// The summary line and the four top lists of `report`, each cut to its first `top` rows.
pub fn render(report: &IntervalReport, top: usize) -> String {
    let mut out = header(report);
    if let Some(capture) = &report.capture {
        capture_line(&mut out, capture);
    }
    if let Some(telemetry) = &report.telemetry {
        telemetry_line(&mut out, telemetry);
    }
    let totals = &report.totals;
    flow_section(
        &mut out,
        "Top flows by packets",
        &report.top_flows,
        top,
        totals,
    );
    flow_section(
        &mut out,
        "Top flows by bytes",
        &report.top_flows_by_bytes,
        top,
        totals,
    );
    address_section(
        &mut out,
        "Top sources",
        &report.top_sources,
        top,
        totals,
        ("fan-out", |entry| entry.distinct_destinations),
    );
    address_section(
        &mut out,
        "Top destinations",
        &report.top_destinations,
        top,
        totals,
        ("fan-in", |entry| entry.distinct_sources),
    );
    let prefixes = top.min(PREFIX_ROWS);
    prefix_section(
        &mut out,
        "Top source prefixes",
        &report.top_source_prefixes,
        prefixes,
        totals,
    );
    prefix_section(
        &mut out,
        "Top destination prefixes",
        &report.top_destination_prefixes,
        prefixes,
        totals,
    );
    hierarchical_section(&mut out, report, totals);
    if let Some(changes) = &report.changes {
        changes_section(&mut out, changes, prefixes);
    }
    let shown = |list: &[AddressEntry]| list.iter().take(top).any(|a| !a.lower_bound.is_none());
    let bounded = [&report.top_flows, &report.top_flows_by_bytes]
        .iter()
        .any(|list| list.iter().take(top).any(|f| !f.lower_bound.is_none()))
        || shown(&report.top_sources)
        || shown(&report.top_destinations)
        || [
            &report.top_source_prefixes,
            &report.top_destination_prefixes,
        ]
        .iter()
        .any(|list| list.iter().any(|p| !p.lower_bound.is_none()));
    if bounded {
        out.push_str(LOWER_BOUND_NOTE);
    }
    out
}

/// The legend of the `≥` mark, under the lists when one shows it.
const LOWER_BOUND_NOTE: &str =
    "\n≥ at least: counted since the key was tracked by the sketch that ranks the list\n";

/// The packets, their share, the bytes and their share of an entry, each marked `≥` when a
/// lower bound.
fn figures(packets: u64, bytes: u64, bound: LowerBound, totals: &Totals) -> [String; 4] {
    [
        at_least(packets.to_string(), bound.packets),
        at_least(share(packets, totals.packets), bound.packets),
        at_least(human_bytes(bytes), bound.bytes),
        at_least(share(bytes, totals.bytes), bound.bytes),
    ]
}

/// `text` marked `≥` when the figure is a lower bound.
fn at_least(text: String, bounded: bool) -> String {
    if bounded {
        format!("≥{text}")
    } else {
        text
    }
}

/// `total`, followed by its non-zero reasons in parentheses.
fn with_reasons(total: u64, by_reason: &ReasonCounts) -> String {
    let mut text = total.to_string();
    let reasons: Vec<String> = by_reason
        .iter()
        .filter(|&(_, count)| count > 0)
        .map(|(reason, count)| format!("{} {count}", reason.as_str()))
        .collect();
    if !reasons.is_empty() {
        let _ = write!(text, " ({})", reasons.join(", "));
    }
    text
}

fn header(report: &IntervalReport) -> String {
    let totals = &report.totals;
    let unparsed = with_reasons(totals.unparsed_packets, &totals.unparsed_by_reason);
    // Both are news only when they happen: a cut transport header says the snapshot length is
    // too short for the ports, a fallback that a tunnel was counted by its outer flow.
    let mut degraded = String::new();
    if totals.transport_truncated > 0 {
        let _ = write!(degraded, " | ports cut off {}", totals.transport_truncated);
    }
    let fallbacks = totals.decap_fallback_by_reason.total();
    if fallbacks > 0 {
        let reasons = with_reasons(fallbacks, &totals.decap_fallback_by_reason);
        let _ = write!(degraded, " | decap fallback {reasons}");
    }
    let window = report.window.as_ref().map_or_else(String::new, |window| {
        format!(
            " | window {} distinct sources {}",
            humantime::format_duration(std::time::Duration::from_secs(window.seconds)),
            window.distinct_sources
        )
    });
    format!(
        "Interval {} – {} ({} s) | packets {} | bytes {} ({}) | distinct sources {} destinations {}{} | unparsed {}{} | counting {}\n",
        report.interval.start,
        report.interval.end,
        report.interval.seconds,
        totals.packets,
        totals.bytes,
        human_bytes(totals.bytes),
        report.distinct_sources,
        report.distinct_destinations,
        window,
        unparsed,
        degraded,
        report.counting,
    )
}

/// libpcap's counters of a live capture; drops are shouted, since they make every count above
/// an undercount.
fn capture_line(out: &mut String, capture: &CaptureStats) {
    let interval = &capture.interval;
    let cumulative = &capture.cumulative;
    let dropped = interval.dropped_kernel + interval.dropped_interface;
    let drops = if dropped > 0 {
        format!(
            "DROPPED {dropped} (kernel {}, interface {}): the counts miss these frames",
            interval.dropped_kernel, interval.dropped_interface
        )
    } else {
        "dropped 0".to_owned()
    };
    let _ = writeln!(
        out,
        "Capture | received {} | {drops} | since start: received {}, dropped {}",
        interval.received,
        cumulative.received,
        cumulative.dropped_kernel + cumulative.dropped_interface,
    );
}

/// What `hhmon collect`'s exporters sent since it started, all exporters summed; datagrams its
/// sockets dropped are shouted, as capture drops are.
fn telemetry_line(out: &mut String, telemetry: &TelemetryStats) {
    let mut all = telemetry.other.clone();
    for exporter in &telemetry.exporters {
        all.add(&exporter.counts);
    }
    let malformed: u64 = all.malformed.values().sum();
    let drops = match telemetry.socket_drops {
        Some(0) => " | sockets dropped 0".to_owned(),
        Some(dropped) => {
            format!(" | SOCKETS DROPPED {dropped}: the counts miss these datagrams")
        }
        None => String::new(),
    };
    let _ = writeln!(
        out,
        "Telemetry since start | {} exporters | {} datagrams, {} records | lost {} datagrams, {} records | {} template misses | {malformed} malformed{drops}",
        telemetry.exporters_seen,
        all.datagrams,
        all.records,
        all.lost_datagrams,
        all.lost_records,
        all.template_misses,
    );
}

fn flow_section(out: &mut String, title: &str, flows: &[FlowEntry], top: usize, totals: &Totals) {
    let rows: Vec<Vec<String>> = flows
        .iter()
        .take(top)
        .enumerate()
        .map(|(index, flow)| {
            let protocol =
                protocol_name(flow.protocol).map_or_else(|| flow.protocol.to_string(), Into::into);
            [
                (index + 1).to_string(),
                format!(
                    "{} -> {}",
                    endpoint(flow.src, flow.src_port, flow),
                    endpoint(flow.dst, flow.dst_port, flow)
                ),
                protocol,
            ]
            .into_iter()
            .chain(figures(flow.packets, flow.bytes, flow.lower_bound, totals))
            .collect()
        })
        .collect();
    section(out, title, &FLOW_COLUMNS, &rows);
}

/// A column heading and the distinct count (fan-in or fan-out) it shows.
type PeersColumn = (&'static str, fn(&AddressEntry) -> Option<u64>);

fn address_section(
    out: &mut String,
    title: &str,
    addresses: &[AddressEntry],
    top: usize,
    totals: &Totals,
    (peers_heading, peers): PeersColumn,
) {
    let rows: Vec<Vec<String>> = addresses
        .iter()
        .take(top)
        .enumerate()
        .map(|(index, entry)| {
            let peers = peers(entry).map_or_else(|| "-".into(), |count| count.to_string());
            [(index + 1).to_string(), entry.address.to_string()]
                .into_iter()
                .chain(figures(
                    entry.packets,
                    entry.bytes,
                    entry.lower_bound,
                    totals,
                ))
                .chain([peers])
                .collect()
        })
        .collect();
    let mut columns = ADDRESS_COLUMNS.to_vec();
    columns.push((peers_heading, Align::Right));
    section(out, title, &columns, &rows);
}

/// Rows of each prefix length in the table (at most `top`): the table is read at a glance,
/// and the snapshots and the metrics have the whole lists.
const PREFIX_ROWS: usize = 3;

/// The first `rows` entries of every length of a prefix list, ranked within their length,
/// with their distinct addresses (`-` when the prefix was not tracked); nothing at all when
/// prefix views are off (the list is empty).
fn prefix_section(
    out: &mut String,
    title: &str,
    prefixes: &[PrefixEntry],
    rows: usize,
    totals: &Totals,
) {
    if prefixes.is_empty() {
        return;
    }
    let mut table = Vec::new();
    let mut rank = 0;
    let mut previous = None;
    for entry in prefixes {
        let length = (entry.prefix.address().is_ipv6(), entry.length);
        rank = if previous == Some(length) {
            rank + 1
        } else {
            1
        };
        previous = Some(length);
        if rank > rows {
            continue;
        }
        let distinct = entry
            .distinct_addresses
            .map_or_else(|| "-".into(), |count| count.to_string());
        let row = [rank.to_string(), entry.prefix.to_string()]
            .into_iter()
            .chain(figures(
                entry.packets,
                entry.bytes,
                entry.lower_bound,
                totals,
            ))
            .chain([distinct])
            .collect();
        table.push(row);
    }
    let mut columns = ADDRESS_COLUMNS.to_vec();
    columns[1].0 = "prefix";
    columns.push(("addresses", Align::Right));
    section(out, title, &columns, &table);
}

/// The hierarchical heavy prefixes of both directions, with what each carries on its own.
fn hierarchical_section(out: &mut String, report: &IntervalReport, totals: &Totals) {
    let rows: Vec<Vec<String>> = [
        ("source", &report.hierarchical_source_prefixes),
        ("destination", &report.hierarchical_destination_prefixes),
    ]
    .into_iter()
    .flat_map(|(direction, list)| {
        list.iter().map(move |entry| {
            vec![
                direction.to_owned(),
                entry.prefix.to_string(),
                entry.packets.to_string(),
                entry.conditioned_packets.to_string(),
                share(entry.conditioned_packets, totals.packets),
            ]
        })
    })
    .collect();
    if rows.is_empty() {
        return;
    }
    let columns = [
        ("of", Align::Left),
        ("prefix", Align::Left),
        ("packets", Align::Right),
        ("on its own", Align::Right),
        ("share", Align::Right),
    ];
    // The share the lists were drawn at (`--hhh-share`), to a thousandth of a percent.
    let percent = (report.hierarchical_share * 100_000.0).round() / 1000.0;
    let title = format!("Heavy on their own (hierarchical, at least {percent}% each)");
    section(out, &title, &columns, &rows);
}

/// The first `rows` rises of the interval against the keys' recent past.
fn changes_section(out: &mut String, changes: &Changes, rows: usize) {
    if changes.rises.is_empty() {
        return;
    }
    let table: Vec<Vec<String>> = changes
        .rises
        .iter()
        .take(rows)
        .map(|rise| {
            vec![
                rise.view.name().replace('_', " "),
                if rise.new {
                    format!("{} (new)", rise.key)
                } else {
                    rise.key.clone()
                },
                rise.packets.to_string(),
                rise.baseline_packets.to_string(),
                format!("{:.1}%", rise.score * 100.0),
            ]
        })
        .collect();
    let columns = [
        ("view", Align::Left),
        ("key", Align::Left),
        ("packets", Align::Right),
        ("usual", Align::Right),
        ("score", Align::Right),
    ];
    section(out, "Sudden rises", &columns, &table);
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    Right,
}

const FLOW_COLUMNS: [(&str, Align); 7] = [
    ("#", Align::Right),
    ("flow", Align::Left),
    ("proto", Align::Left),
    ("packets", Align::Right),
    ("share", Align::Right),
    ("bytes", Align::Right),
    ("share", Align::Right),
];

const ADDRESS_COLUMNS: [(&str, Align); 6] = [
    ("#", Align::Right),
    ("address", Align::Left),
    ("packets", Align::Right),
    ("share", Align::Right),
    ("bytes", Align::Right),
    ("share", Align::Right),
];

/// A blank line, the title, then the rows padded so every column lines up under its heading.
fn section(out: &mut String, title: &str, columns: &[(&str, Align)], rows: &[Vec<String>]) {
    let _ = writeln!(out, "\n{title}");
    if rows.is_empty() {
        out.push_str("  (none)\n");
        return;
    }
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(column, (heading, _))| {
            rows.iter()
                .filter_map(|row| row.get(column))
                .map(|cell| cell.chars().count())
                .fold(heading.chars().count(), usize::max)
        })
        .collect();
    let headings: Vec<String> = columns
        .iter()
        .map(|(heading, _)| (*heading).into())
        .collect();
    for row in std::iter::once(&headings).chain(rows) {
        let mut line = String::new();
        for ((cell, (_, align)), width) in row.iter().zip(columns).zip(&widths) {
            let _ = match align {
                Align::Left => write!(line, "  {cell:<width$}"),
                Align::Right => write!(line, "  {cell:>width$}"),
            };
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

/// `address:port`, bracketing IPv6; just the address for port-less protocols (ICMP, GRE, ESP),
/// whose zero ports would only be noise.
pub(crate) fn endpoint(address: IpAddr, port: u16, flow: &FlowEntry) -> String {
    // TCP, UDP, DCCP, SCTP and UDP-Lite carry ports; a truncated header leaves them 0 but
    // still means "port unknown", which ":0" shows honestly.
    let has_ports = matches!(flow.protocol, 6 | 17 | 33 | 132 | 136);
    if has_ports || flow.src_port != 0 || flow.dst_port != 0 {
        SocketAddr::new(address, port).to_string()
    } else {
        address.to_string()
    }
}

/// `part` as a percentage of `whole` with one decimal, or `-` for an empty interval.
fn share(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "-".into();
    }
    format!("{:.1}%", part as f64 * 100.0 / whole as f64)
}

/// Decimal (SI) units, as network tools count bytes: `999 B`, `1.2 kB`, `3.4 MB`.
pub(crate) fn human_bytes(bytes: u64) -> String {
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    format!("{}B", si(bytes as f64))
}

/// `value` with one decimal and, from 1000 on, a decimal SI prefix: `630.7`, `302.7 k`,
/// `1.2 M`, up to `E` (a `u64` of bytes ends at 18.4 EB).
pub(crate) fn si(value: f64) -> String {
    const PREFIXES: [&str; 6] = ["k", "M", "G", "T", "P", "E"];
    if !value.is_finite() || value < 999.95 {
        return format!("{value:.1}");
    }
    let mut value = value / 1000.0;
    let mut prefix = PREFIXES[0];
    for next in &PREFIXES[1..] {
        if value < 999.95 {
            break;
        }
        value /= 1000.0;
        prefix = next;
    }
    format!("{value:.1} {prefix}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::UnparsedReason;

    fn flow(
        src: &str,
        dst: &str,
        ports: (u16, u16),
        protocol: u8,
        counts: (u64, u64),
    ) -> FlowEntry {
        FlowEntry {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            src_port: ports.0,
            dst_port: ports.1,
            protocol,
            packets: counts.0,
            bytes: counts.1,
            lower_bound: crate::report::LowerBound::NONE,
        }
    }

    fn address(text: &str, packets: u64, bytes: u64) -> AddressEntry {
        AddressEntry::new(text.parse().unwrap(), packets, bytes)
    }

    fn reasons(counts: &[(UnparsedReason, u64)]) -> ReasonCounts {
        let mut by_reason = ReasonCounts::default();
        for &(reason, count) in counts {
            by_reason[reason] = count;
        }
        by_reason
    }

    fn fixture() -> IntervalReport {
        let flows = vec![
            flow("10.0.0.1", "10.0.0.2", (51000, 443), 6, (250, 617_284)),
            flow(
                "2001:db8::1",
                "2001:db8::2",
                (443, 51000),
                6,
                (125, 740_740),
            ),
            flow("10.0.0.5", "10.0.0.6", (0, 0), 1, (50, 4_200)),
            flow("10.0.0.7", "10.0.0.8", (0, 0), 200, (10, 999)),
        ];
        let totals = Totals {
            packets: 1000,
            bytes: 1_234_567,
            unparsed_packets: 5,
            unparsed_by_reason: reasons(&[
                (UnparsedReason::NotIp, 3),
                (UnparsedReason::Malformed, 2),
            ]),
            transport_truncated: 0,
            decap_fallback_by_reason: ReasonCounts::default(),
        };
        IntervalReport {
            cumulative: Totals::default(),
            distinct_sources: 42,
            distinct_destinations: 17,
            top_flows_by_bytes: vec![flows[1].clone(), flows[0].clone()],
            top_flows: flows,
            top_sources: vec![
                AddressEntry {
                    distinct_destinations: Some(4_096),
                    ..address("10.0.0.1", 250, 617_284)
                },
                address("2001:db8::1", 125, 0),
            ],
            sketches: None,
            ..crate::report::tests::listless(1_700_000_000, totals)
        }
    }

    /// The lines under `title`, up to the blank line that ends the section.
    fn section<'a>(text: &'a str, title: &str) -> Vec<&'a str> {
        text.lines()
            .skip_while(|line| *line != title)
            .skip(1)
            .take_while(|line| !line.is_empty())
            .collect()
    }

    #[test]
    fn lower_bounds_are_marked_and_explained_once() {
        let plain = render(&fixture(), 10);
        assert!(!plain.contains('≥'), "{plain}");
        let mut report = fixture();
        report.top_flows[1].lower_bound.bytes = true;
        report.top_sources[0].lower_bound.packets = true;
        let text = render(&report, 10);
        let flows = section(&text, "Top flows by packets");
        assert!(
            flows[2].contains("125") && !flows[2].contains("≥125"),
            "{}",
            flows[2]
        );
        assert!(
            flows[2].contains("≥740.7 kB") && flows[2].contains("≥60.0%"),
            "{}",
            flows[2]
        );
        assert!(!flows[1].contains('≥'), "{}", flows[1]);
        let sources = section(&text, "Top sources");
        assert!(
            sources[1].contains("≥250") && sources[1].contains("≥25.0%"),
            "{}",
            sources[1]
        );
        assert_eq!(text.matches(LOWER_BOUND_NOTE).count(), 1, "{text}");
        // Columns still line up with the mark in them.
        let end = flows[0].find("packets").unwrap() + "packets".len();
        assert!(flows.iter().all(|row| row.chars().count() >= end));
        // A bound on a row cut by `top` is not shown, nor explained.
        report.top_sources[0].lower_bound.packets = false;
        assert!(render(&report, 2).contains('≥'));
        assert!(!render(&report, 1).contains('≥'));
    }

    #[test]
    fn header_line_summarises_the_interval() {
        let text = render(&fixture(), 10);
        let header = text.lines().next().unwrap();
        for expected in [
            "2023-11-14T22:13:20Z – 2023-11-14T22:13:30Z",
            "packets 1000",
            "bytes 1234567 (1.2 MB)",
            "distinct sources 42 destinations 17 |",
            // Non-zero reasons only, in the report's (alphabetical) order.
            "unparsed 5 (malformed 2, not_ip 3)",
            "counting chk",
        ] {
            assert!(
                header.contains(expected),
                "{expected:?} missing from {header:?}"
            );
        }
        assert!(!header.contains("truncated"), "{header}");
        assert!(!header.contains("window"));
        assert!(!header.contains("ports cut off"), "{header}");
        assert!(!header.contains("decap fallback"), "{header}");

        let mut degraded = fixture();
        degraded.totals.transport_truncated = 7;
        degraded.totals.decap_fallback_by_reason = reasons(&[
            (UnparsedReason::UnsupportedLinkType, 1),
            (UnparsedReason::Truncated, 3),
        ]);
        let text = render(&degraded, 10);
        let header = text.lines().next().unwrap();
        assert!(
            header.contains(
                "| unparsed 5 (malformed 2, not_ip 3) | ports cut off 7 \
                 | decap fallback 4 (truncated 3, unsupported_link_type 1) | counting chk"
            ),
            "{header}"
        );

        let mut windowed = fixture();
        windowed.window = Some(crate::report::WindowCounts {
            seconds: 3_600,
            intervals: 360,
            distinct_sources: 9_876,
        });
        let text = render(&windowed, 10);
        let header = text.lines().next().unwrap();
        assert!(
            header.contains("| window 1h distinct sources 9876 |"),
            "{header}"
        );

        let mut clean = fixture();
        clean.totals.unparsed_packets = 0;
        clean.totals.unparsed_by_reason = ReasonCounts::default();
        let header = render(&clean, 10);
        assert!(header.lines().next().unwrap().contains("| unparsed 0 |"));
    }

    #[test]
    fn live_captures_show_their_drops_and_replays_no_capture_line() {
        let text = render(&fixture(), 10);
        assert!(!text.contains("Capture |"), "{text}");
        let mut live = fixture();
        live.capture = Some(CaptureStats::default());
        let text = render(&live, 10);
        let line = text.lines().nth(1).unwrap();
        assert_eq!(
            line,
            "Capture | received 0 | dropped 0 | since start: received 0, dropped 0"
        );
        let capture = live.capture.as_mut().unwrap();
        capture.interval.received = 1_012;
        capture.interval.dropped_kernel = 12;
        capture.interval.dropped_interface = 3;
        capture.cumulative.received = 5_100;
        capture.cumulative.dropped_kernel = 90;
        capture.cumulative.dropped_interface = 7;
        let text = render(&live, 10);
        let line = text.lines().nth(1).unwrap();
        assert!(
            line.contains("| DROPPED 15 (kernel 12, interface 3): the counts miss these frames |"),
            "{line}"
        );
        assert!(
            line.contains("since start: received 5100, dropped 97"),
            "{line}"
        );
        // The sections still follow.
        assert_eq!(section(&text, "Top flows by packets").len(), 5);
    }

    #[test]
    fn collectors_show_their_exporters_counts_and_socket_drops() {
        use crate::report::{ExporterCounts, ExporterStats};
        assert!(!render(&fixture(), 10).contains("Telemetry"));
        let counts = |datagrams, malformed: u64| ExporterCounts {
            datagrams,
            records: datagrams * 10,
            lost_datagrams: 1,
            lost_records: 5,
            template_misses: 2,
            malformed: [("truncated".to_owned(), malformed)].into(),
        };
        let mut collected = fixture();
        collected.telemetry = Some(TelemetryStats {
            exporters: vec![ExporterStats {
                exporter: "192.0.2.1".parse().unwrap(),
                counts: counts(100, 3),
            }],
            other: counts(7, 1),
            exporters_seen: 4,
            socket_drops: Some(0),
            ..TelemetryStats::default()
        });
        let text = render(&collected, 10);
        assert_eq!(
            text.lines().nth(1).unwrap(),
            "Telemetry since start | 4 exporters | 107 datagrams, 1070 records | lost 2 datagrams, 10 records | 4 template misses | 4 malformed | sockets dropped 0"
        );
        collected.telemetry.as_mut().unwrap().socket_drops = Some(25);
        let text = render(&collected, 10);
        assert!(
            text.lines()
                .nth(1)
                .unwrap()
                .ends_with("| SOCKETS DROPPED 25: the counts miss these datagrams"),
            "{text}"
        );
        // Read from files: no sockets.
        collected.telemetry.as_mut().unwrap().socket_drops = None;
        let text = render(&collected, 10);
        assert!(
            text.lines().nth(1).unwrap().ends_with("| 4 malformed"),
            "{text}"
        );
    }

    #[test]
    fn hierarchical_prefixes_and_rises_have_their_sections() {
        use crate::report::{ChangeEntry, ChangeView, HierarchicalEntry};
        let text = render(&fixture(), 10);
        assert!(!text.contains("Heavy on their own") && !text.contains("Sudden rises"));
        let mut report = fixture();
        report.hierarchical_destination_prefixes = vec![HierarchicalEntry {
            prefix: "203.0.113.0/24".parse().unwrap(),
            packets: 600,
            conditioned_packets: 500,
        }];
        report.changes = Some(Changes {
            warming_up: false,
            rises: vec![ChangeEntry {
                view: ChangeView::DestinationPrefixes,
                key: "203.0.113.0/24".to_owned(),
                packets: 600,
                bytes: 60_000,
                baseline_packets: 20,
                baseline_bytes: 2_000,
                score: 0.58,
                new: true,
            }],
            new_talkers: Vec::new(),
        });
        let text = render(&report, 10);
        let heavy = section(&text, "Heavy on their own (hierarchical, at least 5% each)");
        assert_eq!(heavy.len(), 2, "{text}");
        report.hierarchical_share = 0.025;
        let at = render(&report, 10);
        assert!(
            at.contains("\nHeavy on their own (hierarchical, at least 2.5% each)\n"),
            "{at}"
        );
        assert!(
            heavy[1]
                .trim_start()
                .starts_with("destination  203.0.113.0/24"),
            "{text}"
        );
        assert!(
            heavy[1].contains(" 600 ") && heavy[1].contains(" 500 "),
            "{text}"
        );
        let rises = section(&text, "Sudden rises");
        assert!(
            rises[1].contains("destination prefixes  203.0.113.0/24 (new)")
                && rises[1].ends_with("58.0%"),
            "{text}"
        );
    }

    #[test]
    fn rows_keep_the_report_order_and_rank() {
        let text = render(&fixture(), 10);
        let by_packets = section(&text, "Top flows by packets");
        assert_eq!(by_packets.len(), 5, "{by_packets:?}");
        assert!(by_packets[1]
            .trim_start()
            .starts_with("1  10.0.0.1:51000 -> 10.0.0.2:443"));
        assert!(by_packets[2]
            .trim_start()
            .starts_with("2  [2001:db8::1]:443 -> "));
        assert!(by_packets[3]
            .trim_start()
            .starts_with("3  10.0.0.5 -> 10.0.0.6"));
        // The by-bytes section follows its own list, whose order differs.
        let by_bytes = section(&text, "Top flows by bytes");
        assert_eq!(by_bytes.len(), 3, "{by_bytes:?}");
        assert!(by_bytes[1].contains("[2001:db8::1]:443 -> [2001:db8::2]:51000"));
        assert!(by_bytes[2].contains("10.0.0.1:51000 -> 10.0.0.2:443"));
    }

    #[test]
    fn protocols_show_by_name_and_portless_ones_without_ports() {
        let text = render(&fixture(), 10);
        let rows = section(&text, "Top flows by packets");
        let words = |row: &str| {
            row.split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        assert_eq!(words(rows[1])[4], "tcp");
        assert_eq!(words(rows[3])[1..5], ["10.0.0.5", "->", "10.0.0.6", "icmp"]);
        assert_eq!(words(rows[4])[1..5], ["10.0.0.7", "->", "10.0.0.8", "200"]);
    }

    #[test]
    fn shares_are_of_the_interval_totals() {
        let text = render(&fixture(), 10);
        let rows = section(&text, "Top flows by packets");
        // 250 of 1000 packets; 617 284 of 1 234 567 bytes.
        let first: Vec<&str> = rows[1].split_whitespace().collect();
        assert_eq!(first[5..], ["250", "25.0%", "617.3", "kB", "50.0%"]);
        // 125 of 1000 packets; 740 740 of 1 234 567 bytes.
        let second: Vec<&str> = rows[2].split_whitespace().collect();
        assert_eq!(second[5..], ["125", "12.5%", "740.7", "kB", "60.0%"]);

        let mut empty = fixture();
        empty.totals.packets = 0;
        empty.totals.bytes = 0;
        let text = render(&empty, 10);
        let rows = section(&text, "Top sources");
        let words: Vec<&str> = rows[1].split_whitespace().collect();
        assert_eq!(words[3], "-", "{rows:?}");
        assert_eq!(words[6], "-", "{rows:?}");
    }

    #[test]
    fn sources_show_fan_out_and_destinations_fan_in() {
        let mut report = fixture();
        report.top_destinations = vec![
            AddressEntry {
                distinct_sources: Some(37_512),
                ..address("10.10.10.10", 900, 54_000)
            },
            address("10.0.0.9", 1, 60),
        ];
        let text = render(&report, 10);
        let sources = section(&text, "Top sources");
        assert!(sources[0].trim_end().ends_with("fan-out"), "{sources:?}");
        assert!(sources[1].trim_end().ends_with(" 4096"), "{sources:?}");
        // Not tracked: a dash, not a made-up number.
        assert!(sources[2].trim_end().ends_with(" -"), "{sources:?}");
        let destinations = section(&text, "Top destinations");
        assert!(
            destinations[0].trim_end().ends_with("fan-in"),
            "{destinations:?}"
        );
        assert!(
            destinations[1].trim_end().ends_with(" 37512"),
            "{destinations:?}"
        );
        assert!(
            destinations[2].trim_end().ends_with(" -"),
            "{destinations:?}"
        );
    }

    #[test]
    fn prefixes_show_the_first_rows_of_every_length_with_their_addresses() {
        let mut report = fixture();
        let prefix = |text: &str, packets, distinct| PrefixEntry {
            distinct_addresses: distinct,
            ..PrefixEntry::new(text.parse().unwrap(), packets, packets * 500)
        };
        report.top_destination_prefixes = vec![
            prefix("203.0.0.0/8", 400, Some(300)),
            prefix("10.0.0.0/8", 300, Some(20)),
            prefix("203.0.113.0/24", 260, Some(256)),
            prefix("10.0.0.0/24", 200, None),
            prefix("10.0.1.0/24", 100, Some(3)),
            prefix("10.0.2.0/24", 50, Some(2)),
            prefix("2001:db8::/32", 10, Some(1)),
        ];
        let text = render(&report, 10);
        let rows = section(&text, "Top destination prefixes");
        let words =
            |row: &str| -> Vec<String> { row.split_whitespace().map(str::to_owned).collect() };
        assert_eq!(words(rows[0])[..2], ["#", "prefix"]);
        assert!(rows[0].trim_end().ends_with("addresses"), "{rows:?}");
        // Three rows of each length at most, each length ranked from 1.
        let ranked: Vec<(String, String, String)> = rows[1..]
            .iter()
            .map(|row| {
                let w = words(row);
                (w[0].clone(), w[1].clone(), w.last().unwrap().clone())
            })
            .collect();
        let expected = [
            ("1", "203.0.0.0/8", "300"),
            ("2", "10.0.0.0/8", "20"),
            ("1", "203.0.113.0/24", "256"),
            ("2", "10.0.0.0/24", "-"),
            ("3", "10.0.1.0/24", "3"),
            ("1", "2001:db8::/32", "1"),
        ]
        .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()));
        assert_eq!(ranked, expected);
        // 400 of 1000 packets.
        assert_eq!(words(rows[1])[2..4], ["400", "40.0%"]);
        // A top of 1 shows one row per length; no prefix lists, no section.
        let one = render(&report, 1);
        // The heading and one row of each of the three lengths.
        assert_eq!(section(&one, "Top destination prefixes").len(), 4);
        assert!(!text.contains("Top source prefixes"), "{text}");
    }

    #[test]
    fn columns_line_up() {
        let text = render(&fixture(), 10);
        for title in ["Top flows by packets", "Top flows by bytes", "Top sources"] {
            let lines = section(&text, title);
            // The last column is right-aligned, so aligned rows all end at the same width.
            let widths: Vec<usize> = lines.iter().map(|line| line.chars().count()).collect();
            assert!(
                widths.iter().all(|&w| w == widths[0]),
                "{title}: {lines:#?}"
            );
            // And the packets column ends at the same place in every row.
            let end = lines[0].find("packets").unwrap() + "packets".len();
            for line in &lines[1..] {
                let digits_end = line[..end].trim_end().len();
                assert_eq!(digits_end, end, "{line:?}");
            }
        }
    }

    #[test]
    fn top_limits_rows_and_empty_lists_say_so() {
        let text = render(&fixture(), 1);
        assert_eq!(section(&text, "Top flows by packets").len(), 2);
        assert_eq!(section(&text, "Top flows by bytes").len(), 2);
        assert_eq!(section(&text, "Top sources").len(), 2);
        assert!(!text.contains("10.0.0.5"));
        assert_eq!(section(&text, "Top destinations"), ["  (none)"]);
        let text = render(&fixture(), 0);
        assert_eq!(section(&text, "Top flows by packets"), ["  (none)"]);
    }

    #[test]
    fn bytes_use_decimal_units() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1000), "1.0 kB");
        assert_eq!(human_bytes(1_234_567), "1.2 MB");
        // Rounds up into the next unit rather than printing "1000.0 kB".
        assert_eq!(human_bytes(999_950), "1.0 MB");
        assert_eq!(human_bytes(999_949), "999.9 kB");
        assert_eq!(human_bytes(u64::MAX), "18.4 EB");
    }
}
