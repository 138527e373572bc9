//! Renders an [`IntervalReport`] as the human-readable table hhmon prints to stdout after each
//! interval: a one-line summary, then the top flows, sources and destinations in aligned columns.
//!
//! A pure function from report to text; printing it, and deciding when, is the caller's job. It
//! must not know about sketches or how the numbers were estimated beyond the report's
//! `counting` field.

use super::protocol_name;
use crate::report::{AddressEntry, FlowEntry, IntervalReport, Totals};
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

/// The summary line and the four top lists of `report`, each cut to its first `top` rows.
pub fn render(report: &IntervalReport, top: usize) -> String {
    let mut out = header(report);
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
    address_section(&mut out, "Top sources", &report.top_sources, top, totals);
    address_section(
        &mut out,
        "Top destinations",
        &report.top_destinations,
        top,
        totals,
    );
    out
}

fn header(report: &IntervalReport) -> String {
    let totals = &report.totals;
    let mut unparsed = totals.unparsed_packets.to_string();
    let reasons: Vec<String> = totals
        .unparsed_by_reason
        .iter()
        .filter(|(_, &count)| count > 0)
        .map(|(reason, count)| format!("{reason} {count}"))
        .collect();
    if !reasons.is_empty() {
        let _ = write!(unparsed, " ({})", reasons.join(", "));
    }
    format!(
        "Interval {} – {} ({} s) | packets {} | bytes {} ({}) | distinct sources {} | unparsed {} | counting {}\n",
        report.interval.start,
        report.interval.end,
        report.interval.seconds,
        totals.packets,
        totals.bytes,
        human_bytes(totals.bytes),
        report.distinct_sources,
        unparsed,
        report.counting,
    )
}

fn flow_section(out: &mut String, title: &str, flows: &[FlowEntry], top: usize, totals: &Totals) {
    let rows: Vec<Vec<String>> = flows
        .iter()
        .take(top)
        .enumerate()
        .map(|(index, flow)| {
            let protocol =
                protocol_name(flow.protocol).map_or_else(|| flow.protocol.to_string(), Into::into);
            vec![
                (index + 1).to_string(),
                format!(
                    "{} -> {}",
                    endpoint(flow.src, flow.src_port, flow),
                    endpoint(flow.dst, flow.dst_port, flow)
                ),
                protocol,
                flow.packets.to_string(),
                share(flow.packets, totals.packets),
                human_bytes(flow.bytes),
                share(flow.bytes, totals.bytes),
            ]
        })
        .collect();
    section(out, title, &FLOW_COLUMNS, &rows);
}

fn address_section(
    out: &mut String,
    title: &str,
    addresses: &[AddressEntry],
    top: usize,
    totals: &Totals,
) {
    let rows: Vec<Vec<String>> = addresses
        .iter()
        .take(top)
        .enumerate()
        .map(|(index, entry)| {
            vec![
                (index + 1).to_string(),
                entry.address.to_string(),
                entry.packets.to_string(),
                share(entry.packets, totals.packets),
                human_bytes(entry.bytes),
                share(entry.bytes, totals.bytes),
            ]
        })
        .collect();
    section(out, title, &ADDRESS_COLUMNS, &rows);
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
fn endpoint(address: IpAddr, port: u16, flow: &FlowEntry) -> String {
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
fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["kB", "MB", "GB", "TB", "PB", "EB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = UNITS[0];
    for next in &UNITS[1..] {
        if value < 999.95 {
            break;
        }
        value /= 1000.0;
        unit = next;
    }
    format!("{value:.1} {unit}")
}
