//! The terminal view of a [`Model`], drawn with ratatui widgets: two header lines (the
//! interval, rates, distinct counts, drops), the three top lists stacked when the terminal is
//! tall enough (else the focused one alone), and two footer lines: the source's state and the
//! latest warning, then the keys.
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
    "p packets  b bytes  tab/1/2/3 list  space pause  \u{2190}/\u{2192} older/newer  q quit";

/// Draws `model` over the whole frame.
pub fn draw(frame: &mut Frame, model: &Model) {
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(0),
        Constraint::Length(2),
    ])
    .areas(frame.area());
    frame.render_widget(Paragraph::new(header_lines(model)), header);
    let lists: Vec<List> = if body.height >= 3 * MIN_LIST_HEIGHT {
        List::ALL.to_vec()
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
    let mut headings = vec![
        right("#".into()),
        Cell::from(if list == List::Flows {
            "flow"
        } else {
            "address"
        }),
    ];
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
        widths.push(Constraint::Length(8));
    }
    headings.push(Cell::from("share"));
    widths.push(Constraint::Length(BAR_WIDTH as u16 + 7));
    let rows = model.rows(list);
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
