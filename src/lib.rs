//! hhmon: a network heavy-hitter monitor.
//!
//! Packets flow one way: [`capture`] reads frames from files or interfaces, [`decode`]
//! turns each frame into a [`decode::FlowKey`], [`monitor`] feeds the keys into per-interval
//! sketches ([`sketch::chk`] for heavy hitters, [`sketch::hll`] for distinct counts) and, when
//! an interval closes, hands an immutable [`report::IntervalReport`] to the [`sinks`]. The
//! [`engine`] runs that line for every mode (the packet loop, the sink and service threads);
//! [`app`] has one thin driver per subcommand. No module reaches back up the chain. [`merge`]
//! combines snapshots, and [`synth`] generates synthetic captures with their exact counts for
//! benchmarks and tests. [`top`] is the live terminal view of the reports (`hhmon top`).
//!
//! Unsafe code is denied here and allowed, commented, in two places only: the PACKET_FANOUT
//! socket option, which no safe crate offers ([`capture`]'s live source), and the flow cache's
//! prefetch instruction ([`monitor`]).
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod app;
pub mod capture;
pub mod cli;
pub mod config;
pub mod decode;
pub mod engine;
pub mod merge;
pub mod monitor;
pub mod prefix;
pub mod privilege;
pub mod report;
pub mod sinks;
pub mod sketch;
pub mod synth;
pub mod telemetry;
pub mod top;
pub mod window;
