//! The view as plain lines, for when standard output is not a terminal: one block per
//! interval, a header line (interval, rates, distinct counts, drops), then the top flows,
//! sources, destinations, source prefixes and destination prefixes by packets (the prefixes in
//! the report's order, grouped by length), each entry on one line. No escape codes, nothing
//! redrawn. A pure function from report to text: it must not know where the report came from.

use super::model::{self, figures, List, Ranking, Rates};
use crate::report::IntervalReport;
use std::fmt::Write as _;

/// The block of `report`, from `source`, ending with a blank line.
pub fn block(source: &str, report: &IntervalReport) -> String {
    let rates = Rates::of(
        report.totals.packets,
        report.totals.bytes,
        report.interval.seconds,
    );
    let drops = model::drops(report).map_or_else(|| "-".to_owned(), |d| d.to_string());
    let mut out = format!(
        "{source} | {} - {} ({} s) | {} {} | packets {} bytes {} | distinct sources {} destinations {} | drops {drops} | counting {}\n",
        report.interval.start,
        report.interval.end,
        report.interval.seconds,
        model::pps_text(rates),
        model::bps_text(rates),
        report.totals.packets,
        report.totals.bytes,
        report.distinct_sources,
        report.distinct_destinations,
        report.counting,
    );
    for list in List::ALL {
        let _ = writeln!(out, "top {} by packets:", list.as_str());
        let rows = model::rows(report, list, Ranking::Packets);
        if rows.is_empty() {
            out.push_str("  (none)\n");
        }
        for row in rows {
            let (packets, bytes) = figures(&row);
            let _ = write!(out, "  {:>2}  {}", row.rank, row.key);
            if let Some(protocol) = &row.protocol {
                let _ = write!(out, " {protocol}");
            }
            let _ = write!(
                out,
                "  packets {packets} ({})  {}  bytes {bytes}  {}",
                model::percent(row.share),
                model::pps_text(row.rates),
                model::bps_text(row.rates),
            );
            if let Some(heading) = list.peers_heading() {
                let peers = row.peers.map_or_else(|| "-".to_owned(), |n| n.to_string());
                let _ = write!(out, "  {heading} {peers}");
            }
            out.push('\n');
        }
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::super::model::tests::report;
    use super::*;

    #[test]
    fn a_block_is_a_header_then_each_list_by_packets_without_escape_codes() {
        let text = block("demo.pcap", &report(1_700_000_000));
        assert!(!text.contains('\u{1b}'), "{text}");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "demo.pcap | 2023-11-14T22:13:20Z - 2023-11-14T22:13:30Z (10 s) | 100.0 pkt/s \
             480.0 kb/s | packets 1000 bytes 600000 | distinct sources 701 destinations 2 | \
             drops - | counting chk"
        );
        assert_eq!(lines[1], "top flows by packets:");
        assert_eq!(
            lines[2],
            "   1  192.0.2.1:40000 -> 10.0.0.9:80 tcp  packets 800 (80.0%)  80.0 pkt/s  \
             bytes ≥48.0 kB  38.4 kb/s"
        );
        assert_eq!(lines[3], "top sources by packets:");
        assert!(lines[4].ends_with("fan-out -"), "{text}");
        assert_eq!(lines[5], "top destinations by packets:");
        assert!(
            lines[6].starts_with("   1  10.0.0.9  packets 800 (80.0%)"),
            "{text}"
        );
        assert!(lines[6].ends_with("fan-in 700"), "{text}");
        assert!(lines[7].ends_with("fan-in 2"), "{text}");
        // Then the prefixes, in the report's order, each length ranked on its own.
        assert_eq!(lines[8], "top source prefixes by packets:");
        assert!(
            lines[9].starts_with("   1  192.0.2.0/24  packets 800 (80.0%)"),
            "{text}"
        );
        assert_eq!(lines[10], "top destination prefixes by packets:");
        assert!(
            lines[11].starts_with("   1  203.0.0.0/8  packets 700 (70.0%)"),
            "{text}"
        );
        assert!(lines[11].ends_with("addresses 256"), "{text}");
        assert!(lines[12].starts_with("   2  10.0.0.0/8  "), "{text}");
        assert!(
            lines[14].starts_with("   1  203.0.113.0/24  packets ≥700 (70.0%)"),
            "{text}"
        );
        assert!(lines[15].ends_with("addresses -"), "{text}");
        assert_eq!(lines.len(), 19, "{text}");
        assert!(text.ends_with("\n\n"), "{text}");
    }
}
