//! The view as plain lines, for when standard output is not a terminal: one block per
//! interval, a header line (interval, rates, distinct counts, drops), then the top flows,
//! sources and destinations by packets, each entry on one line. No escape codes, nothing
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
