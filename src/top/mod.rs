//! `hhmon top`: a live terminal view of the heavy hitters, in the manner of `iftop`.
//!
//! The rooms:
//! - `model`: what is on screen (the kept reports, the one shown, ranking, focus, pause) and
//!   what is derived from a report (rates, shares, the five lists: flows, sources,
//!   destinations, source and destination prefixes); knows no terminal and no source.
//! - `render`: the ratatui widgets that draw a model; draws only.
//! - `plain`: the same figures as plain lines, one block per interval, for a pipe.
//! - `source`: where reports come from, as one stream of events: a running hhmon polled over
//!   HTTP, or the engine's tap in this process; knows no screen.
//! - `tui`: the terminal itself (raw mode, keys, redraws, giving it back on every way out).
//! - `log`: the process's warnings, kept for the status line while the view owns the terminal.
//!
//! None of them runs the engine: the driver (`app::top`) starts it and hands its tap to
//! [`source::forward`].

pub mod log;
pub mod model;
pub mod plain;
pub mod render;
pub mod source;
pub mod tui;
