//! What the test modules share: running hhmon, the manifest of the shipped captures, tshark as
//! the reference (cached), and readers for hhmon's outputs (snapshots, metrics) and the
//! shipped dashboards. Each helper here has more than one user; one used by a single module
//! lives in that module. `repo`, `process`, `http`, `tshark` and `dashboards` are shared with
//! the system tests (`tests/system/util.rs`), so every item in them must have a user in both
//! binaries.

pub mod attacks;
pub mod captures;
pub mod collector;
pub mod dashboards;
pub mod export;
pub mod flows;
pub mod hhmon;
pub mod http;
pub mod process;
pub mod prometheus;
pub mod recount;
pub mod repo;
pub mod snapshots;
pub mod tshark;
pub mod tunnels;
