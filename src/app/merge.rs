//! `hhmon merge`: snapshots into one view ([`crate::merge`]), printed as the table. Knows
//! nothing of how snapshots are merged or rendered.

use super::{fail, Status};
use crate::merge::MergeConfig;
use crate::sinks::table;
use std::io::Write;

/// Merges `config.snapshots`, writes the merged snapshot if asked and prints its top `top` as
/// the table.
pub fn main(config: &MergeConfig, top: usize) -> Status {
    match crate::merge::run(config) {
        Ok(merged) => {
            let text = table::render(&merged, top);
            // A closed pipe (`hhmon merge ... | head`) just ends the output.
            let _ = writeln!(std::io::stdout().lock(), "{text}");
            Status::Done
        }
        Err(error) => fail(&anyhow::Error::from(error)),
    }
}
