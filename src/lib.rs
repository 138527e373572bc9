//! hhmon: a network heavy-hitter monitor.
//!
//! Packets flow one way: [`capture`] reads frames from files or interfaces, [`decode`]
//! turns each frame into a [`decode::FlowKey`], [`monitor`] feeds the keys into per-interval
//! sketches ([`sketch::chk`] for heavy hitters, [`sketch::hll`] for distinct counts) and, when
//! an interval closes, hands an immutable [`report::IntervalReport`] to the sinks in
//! [`export`]. No module reaches back up the chain. [`synth`] generates synthetic captures
//! with their exact counts for benchmarks and tests.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod capture;
pub mod cli;
pub mod config;
pub mod decode;
pub mod export;
pub mod live;
pub mod merge;
pub mod monitor;
pub mod pipeline;
pub mod privilege;
pub mod replay;
pub mod report;
pub mod sketch;
pub mod synth;
pub mod window;
