//! `hhmon generate`: a synthetic capture ([`crate::synth`]) and its exact counts. Knows nothing
//! of how the traffic is modelled.

use super::{fail, Status};
use crate::synth::{self, SynthConfig};
use std::path::Path;
use std::time::Instant;

/// Writes the capture `config` describes to `out`, and its truth file to `truth` if given.
pub fn main(config: &SynthConfig, out: &Path, truth: Option<&Path>) -> Status {
    let started = Instant::now();
    match synth::write_capture(config, out, truth) {
        Ok(written) => {
            eprintln!(
                "hhmon: {} packets, {} bytes written to {} in {:.3} s",
                written.packets,
                written.file_bytes,
                out.display(),
                started.elapsed().as_secs_f64()
            );
            Status::Done
        }
        Err(error) => fail(&anyhow::Error::from(error)),
    }
}
