//! What the system tests share: the helpers of `tests/it/util` that both binaries use (each
//! file included here is used whole by both), and the turn every system test takes.

use std::sync::{Mutex, MutexGuard};

#[path = "../it/util/collector.rs"]
pub mod collector;
#[path = "../it/util/dashboards.rs"]
pub mod dashboards;
#[path = "../it/util/export.rs"]
pub mod export;
#[path = "../it/util/flows.rs"]
pub mod flows;
#[path = "../it/util/http.rs"]
pub mod http;
#[path = "../it/util/process.rs"]
pub mod process;
#[path = "../it/util/repo.rs"]
pub mod repo;
#[path = "../it/util/tshark.rs"]
pub mod tshark;

/// The binary under test.
pub const HHMON: &str = env!("CARGO_BIN_EXE_hhmon");

/// Waits for the system tests before: some measure time and drops, and would measure each
/// other (or a Prometheus scraping a paced replay) instead of hhmon.
pub fn serial() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
