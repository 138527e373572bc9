//! The terminal view of a [`Model`], drawn with ratatui widgets: two header lines (the
//! interval, rates, distinct counts, drops), the lists, and two footer lines: the source's
//! state and the latest warning, then the keys.
//!
//! While an address list (flows, sources, destinations) has the focus, the three are stacked
//! when the terminal is tall enough (else the focused one alone). A prefix list (source or
//! destination prefixes) is shown alone, over the whole body, when focused: its rows are
//! grouped by length (/8, /16, /24, then the IPv6 lengths), and stacked among four others it
//! would show the /8s only, never the /24 a carpet bombing hits. When its rows do not all fit,
//! each length keeps its top rows ([`model::fit`]), so that every length stays in sight.
//! Draws only: it must not know where reports come from, nor read keys.

use super::model::{self, figures, List, Model, Row};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row as TableRow, Table};
use ratatui::Frame;

/// Below this height a list is not worth showing beside the others: borders, heading and
/// five entries.
const MIN_LIST_HEIGHT: u16 = 8;

/// Cells of a share bar.
const BAR_WIDTH: usize = 14;

/// The keys, as the footer lists them.
pub const KEYS: &str =
    "p packets  b bytes  tab/1-5 list (4/5 prefixes)  space pause  \u{2190}/\u{2192} older/newer  q quit";

/// Draws `model` over the whole frame.
pub fn draw(frame: &mut Frame, model: &Model) {
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(0),
        Constraint::Length(2),
    ])
    .areas(frame.area());
    frame.render_widget(Paragraph::new(header_lines(model)), header);
    let addresses = [List::Flows, List::Sources, List::Destinations];
    let lists: Vec<List> = if !model.focus.is_prefixes() && body.height >= 3 * MIN_LIST_HEIGHT {
        addresses.to_vec()
    } else {
        vec![model.focus]
    };
    let areas = Layout::vertical(lists.iter().map(|_| Constraint::Fill(1))).split(body);
    for (&list, &area) in lists.iter().zip(areas.iter()) {
        draw_list(frame, model, list, area);
    }
    frame.render_widget(Paragraph::new(footer_lines(model)), footer);
}

fn header_lines(model: &Model) -> Vec<Line<'static>> {
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let Some(report) = model.shown() else {
        return vec![
            Line::from(vec![
                Span::styled("hhmon top", bold),
                Span::raw(format!(" \u{b7} {}", model.source)),
            ]),
            Line::from("waiting for the first interval to close\u{2026}"),
        ];
    };
    let (at, kept) = model.position();
    let mut title = vec![
        Span::styled("hhmon top", bold),
        Span::raw(format!(
            " \u{b7} {} \u{b7} {} ({} s) \u{b7} {at}/{kept} \u{b7} {} \u{b7} ranked by ",
            model.source, report.interval.start, report.interval.seconds, report.counting,
        )),
        Span::styled(model.ranking.as_str(), bold),
    ];
    if model.paused() {
        title.push(Span::raw(" "));
        title.push(Span::styled(
            " PAUSED ",
            Style::new().add_modifier(Modifier::REVERSED),
        ));
    }
    let rates = model.rates();
    let drops = model::drops(report).map_or_else(|| "-".to_owned(), |d| d.to_string());
    let drops_style = if model::drops(report).unwrap_or(0) > 0 {
        Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
    } else {
        Style::new()
    };
    let totals = Line::from(vec![
        Span::styled(model::pps_text(rates), bold),
        Span::raw("  "),
        Span::styled(model::bps_text(rates), bold),
        Span::raw(format!(
            " \u{2502} packets {} bytes {} \u{2502} distinct sources {} destinations {} \u{2502} drops ",
            report.totals.packets,
            crate::sinks::table::human_bytes(report.totals.bytes),
            report.distinct_sources,
            report.distinct_destinations,
        )),
        Span::styled(drops, drops_style),
    ]);
    vec![Line::from(title), totals]
}

/// The source's state (a trouble, or how it ended) and the latest warning, then the keys.
fn footer_lines(model: &Model) -> Vec<Line<'static>> {
    let mut state = Vec::new();
    if let Some(trouble) = &model.trouble {
        state.push(Span::styled(
            trouble.clone(),
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        ));
    } else if let Some(ended) = &model.ended {
        state.push(Span::styled(ended.clone(), Style::new().fg(Color::Yellow)));
    }
    if let Some(warning) = &model.warning {
        if !state.is_empty() {
            state.push(Span::raw(" \u{2502} "));
        }
        state.push(Span::styled(warning.clone(), Style::new().fg(Color::Red)));
    }
    vec![
        Line::from(state),
        Line::styled(KEYS, Style::new().add_modifier(Modifier::DIM)),
    ]
}

fn draw_list(frame: &mut Frame, model: &Model, list: List, area: Rect) {
    let focused = list == model.focus;
    let number = List::ALL.iter().position(|&l| l == list).unwrap_or(0) + 1;
    let title = format!(
        " {}[{number}] Top {} by {} ",
        if focused { "\u{25b6} " } else { "" },
        list.as_str(),
        model.ranking.as_str()
    );
    let border = if focused {
        Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD)
    } else {
        Style::new().fg(Color::DarkGray)
    };
    let block = Block::bordered().title(title).border_style(border);
    let right = |text: String| Cell::from(Line::from(text).right_aligned());
    let mut headings = vec![right("#".into()), Cell::from(list.key_heading())];
    let mut widths = vec![Constraint::Length(3), Constraint::Fill(1)];
    if list == List::Flows {
        headings.push(Cell::from("proto"));
        widths.push(Constraint::Length(6));
    }
    for heading in ["packets", "pkt/s", "bytes", "bit/s"] {
        headings.push(right(heading.into()));
    }
    widths.extend([
        Constraint::Length(9),
        Constraint::Length(9),
        Constraint::Length(9),
        Constraint::Length(9),
    ]);
    if let Some(peers) = list.peers_heading() {
        headings.push(right(peers.into()));
        // Wide enough for the numbers and the heading (`addresses`), a fan-in/out as before.
        widths.push(Constraint::Length(peers.len().max(8) as u16));
    }
    headings.push(Cell::from("share"));
    widths.push(Constraint::Length(BAR_WIDTH as u16 + 7));
    // Borders and the heading take three lines.
    let rows = model::fit(
        &model.rows(list),
        usize::from(area.height.saturating_sub(3)),
    );
    let body: Vec<TableRow> = if rows.is_empty() {
        vec![TableRow::new([Cell::from(""), Cell::from("(none)")])]
    } else {
        rows.iter()
            .map(|row| table_row(row, list, &right))
            .collect()
    };
    let table = Table::new(body, widths)
        .header(TableRow::new(headings).style(Style::new().add_modifier(Modifier::BOLD)))
        .block(block);
    frame.render_widget(table, area);
}

fn table_row<'a>(row: &Row, list: List, right: &dyn Fn(String) -> Cell<'a>) -> TableRow<'a> {
    let (packets, bytes) = figures(row);
    let mut cells = vec![right(row.rank.to_string()), Cell::from(row.key.clone())];
    if list == List::Flows {
        cells.push(Cell::from(row.protocol.clone().unwrap_or_default()));
    }
    cells.extend([
        right(packets),
        right(model::si(row.rates.pps)),
        right(bytes),
        right(model::si(row.rates.bps)),
    ]);
    if list.peers_heading().is_some() {
        cells.push(right(
            row.peers.map_or_else(|| "-".to_owned(), |n| n.to_string()),
        ));
    }
    cells.push(Cell::from(Line::from(vec![
        Span::styled(bar(row.share, BAR_WIDTH), Style::new().fg(Color::Cyan)),
        Span::raw(format!(" {:>6}", model::percent(row.share))),
    ])));
    TableRow::new(cells)
}

/// `share` (0 to 1) of `width` cells as a bar of block characters, to an eighth of a cell.
pub fn bar(share: f64, width: usize) -> String {
    const PARTIAL: [char; 8] = [
        ' ', '\u{258f}', '\u{258e}', '\u{258d}', '\u{258c}', '\u{258b}', '\u{258a}', '\u{2589}',
    ];
    let share = if share.is_finite() {
        share.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let eighths = (share * width as f64 * 8.0).round() as usize;
    let mut text = "\u{2588}".repeat(eighths / 8);
    if eighths % 8 > 0 {
        text.push(PARTIAL[eighths % 8]);
    }
    let used = eighths.div_ceil(8);
    text.extend(std::iter::repeat_n(' ', width.saturating_sub(used)));
    text
}

#[cfg(test)]
mod tests {
    use super::super::model::tests::report;
    use super::super::model::Command;
    use super::super::source::Event;
    use super::*;
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    fn screen(model: &Model, width: u16, height: u16) -> String {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal.draw(|frame| draw(frame, model)).unwrap();
        let buffer = terminal.backend().buffer();
        let mut text = String::new();
        for y in 0..height {
            for x in 0..width {
                text.push_str(buffer[(x, y)].symbol());
            }
            text.push('\n');
        }
        text
    }

    #[test]
    fn a_tall_terminal_stacks_the_three_lists_and_a_short_one_shows_the_focused() {
        let mut model = Model::new("demo.pcap");
        assert!(screen(&model, 120, 30).contains("waiting for the first interval"));
        model.apply(Event::Report(Box::new(report(1_700_000_000))));
        let tall = screen(&model, 160, 50);
        for title in [
            "[1] Top flows",
            "[2] Top sources",
            "\u{25b6} [3] Top destinations",
        ] {
            assert!(tall.contains(title), "{title}\n{tall}");
        }
        assert!(tall.contains("100.0 pkt/s  480.0 kb/s"), "{tall}");
        assert!(
            tall.contains("fan-in") && tall.contains("fan-out"),
            "{tall}"
        );
        assert!(tall.contains(KEYS), "{tall}");
        let short = screen(&model, 160, 20);
        assert!(!short.contains("Top flows"), "{short}");
        assert!(short.contains("Top destinations by packets"), "{short}");
        model.command(Command::ByBytes);
        model.command(Command::TogglePause);
        let bytes = screen(&model, 160, 20);
        assert!(bytes.contains("Top destinations by bytes"), "{bytes}");
        assert!(bytes.contains("PAUSED"), "{bytes}");
    }

    /// The line of `screen` that holds `text`.
    fn line_with<'a>(screen: &'a str, text: &str) -> &'a str {
        screen
            .lines()
            .find(|line| line.contains(text))
            .unwrap_or_else(|| panic!("no {text}:\n{screen}"))
    }

    #[test]
    fn a_focused_prefix_list_is_shown_alone_with_its_lengths_bounds_and_addresses() {
        let mut model = Model::new("demo.pcap");
        model.apply(Event::Report(Box::new(report(1_700_000_000))));
        // Tab from destinations: source prefixes, then destination prefixes.
        model.command(Command::NextList);
        let sources = screen(&model, 160, 50);
        assert!(
            sources.contains("\u{25b6} [4] Top source prefixes by packets"),
            "{sources}"
        );
        assert!(
            line_with(&sources, " 192.0.2.0/24 ").contains("80.0%"),
            "{sources}"
        );
        model.command(Command::NextList);
        let tall = screen(&model, 160, 50);
        assert!(
            tall.contains("\u{25b6} [5] Top destination prefixes by packets"),
            "{tall}"
        );
        // Alone: the address lists make room for it.
        for gone in ["Top flows", "Top sources", "Top destinations by", "fan-in"] {
            assert!(!tall.contains(gone), "{gone}\n{tall}");
        }
        let heading = line_with(&tall, " prefix ");
        assert!(
            heading.contains("packets") && heading.contains("addresses"),
            "{tall}"
        );
        // In the report's order, with the length in the prefix; a lower bound marked ≥, the
        // distinct addresses right-aligned under their heading, `-` when untracked.
        let order: Vec<usize> = [
            "203.0.0.0/8",
            "203.0.0.0/16",
            "203.0.113.0/24",
            "10.0.0.0/24",
            "2001:db8::/32",
        ]
        .iter()
        .map(|key| {
            tall.find(&format!(" {key} "))
                .unwrap_or_else(|| panic!("{key}\n{tall}"))
        })
        .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}\n{tall}");
        let carpet = line_with(&tall, " 203.0.113.0/24 ");
        let cells: Vec<&str> = carpet.split_whitespace().collect();
        assert_eq!(
            cells[1..4],
            ["1", "203.0.113.0/24", "\u{2265}700"],
            "{carpet}"
        );
        assert!(carpet.contains("70.0%"), "{carpet}");
        // In characters: the borders take several bytes each.
        let column = heading[..heading.find("addresses").unwrap()]
            .chars()
            .count()
            + 9;
        let upto = |line: &str| line.chars().take(column).collect::<String>();
        assert!(upto(carpet).ends_with(" 256"), "{carpet}\n{heading}");
        assert!(
            upto(line_with(&tall, " 10.0.0.0/24 ")).ends_with(" -"),
            "{tall}"
        );
        assert!(
            !line_with(&tall, " 10.0.0.0/24 ").contains('\u{2265}'),
            "{tall}"
        );
        // Back to the addresses on the next tab: the three stacked again.
        model.command(Command::NextList);
        let flows = screen(&model, 160, 50);
        assert!(flows.contains("\u{25b6} [1] Top flows") && flows.contains("[3] Top destinations"));
        assert!(!flows.contains("Top source prefixes"), "{flows}");
        assert!(!flows.contains("203.0.113.0/24"), "{flows}");
    }

    #[test]
    fn a_prefix_list_too_long_for_the_screen_keeps_the_top_of_every_length() {
        let mut report = report(1_700_000_000);
        let entries = |length: u8| {
            (0..20u64).map(move |i| {
                let text = match length {
                    8 => format!("{}.0.0.0/8", 100 + i),
                    16 => format!("100.{i}.0.0/16"),
                    _ if i == 0 => "203.0.113.0/24".to_owned(),
                    _ => format!("100.0.{i}.0/24"),
                };
                super::super::model::tests::prefix(&text, 100 - i, 1_000, Some(i + 1), false)
            })
        };
        report.top_destination_prefixes =
            entries(8).chain(entries(16)).chain(entries(24)).collect();
        let mut model = Model::new("demo.pcap");
        model.apply(Event::Report(Box::new(report)));
        model.command(Command::Focus(List::DestinationPrefixes));
        // 30 lines: 26 for the list, 23 rows: 8 /8s, 8 /16s, 7 /24s.
        let short = screen(&model, 160, 30);
        assert!(short.contains(" 203.0.113.0/24 "), "{short}");
        assert!(
            short.contains(" 107.0.0.0/8 ") && !short.contains(" 108.0.0.0/8 "),
            "{short}"
        );
        assert!(
            short.contains(" 100.7.0.0/16 ") && !short.contains(" 100.8.0.0/16 "),
            "{short}"
        );
        assert!(
            short.contains(" 100.0.6.0/24 ") && !short.contains(" 100.0.7.0/24 "),
            "{short}"
        );
    }

    #[test]
    fn bars_fill_to_an_eighth_of_a_cell() {
        assert_eq!(bar(1.0, 4), "\u{2588}".repeat(4));
        assert_eq!(bar(0.0, 4), "    ");
        assert_eq!(bar(0.625, 4), "\u{2588}\u{2588}\u{258c} ");
        assert_eq!(bar(0.5625, 4), "\u{2588}\u{2588}\u{258e} ");
        assert_eq!(bar(f64::NAN, 2), "  ");
        assert_eq!(bar(7.0, 2).chars().count(), 2);
    }
}
