//! Deterministic synthetic traffic for benchmarks, accuracy and memory tests: Zipf-distributed
//! flows over a client/server address plan, a frame-size mix per flow class, a share of IPv6,
//! an optional fan-in attack (spoofed sources, one victim) and an optional scanner (one source,
//! many destinations), an optional carpet bombing (a flood spread over every address of a
//! destination prefix, from spoofed reflectors) and an optional botnet (sources spread over a
//! few /24s), with evenly advancing timestamps. [`write_capture`] writes a pcap and,
//! on request, an exact [`Truth`] file counted while generating.
//!
//! The same configuration always gives the same bytes (on one platform: the Zipf sampler uses
//! `f64` logarithms and exponentials). Frames are built here from the header layouts
//! themselves: this module must not know how hhmon decodes, counts or sketches; it shares only
//! the plain key and report entry types so that its truth reads like a report.
//!
//! The rooms: `generator` (the traffic model), `frame` (header bytes), `random` (the seeded
//! draws and the Zipf sampler), `pcap` (the capture format) and `truth` (the exact counts).
//! This file holds the configuration and the one entry that writes both files.

mod frame;
mod generator;
mod pcap;
mod random;
mod truth;

pub use generator::{Generator, SynthPacket, Traffic};
pub use pcap::write_pcap;
pub use truth::{Truth, TruthCounter};

use crate::prefix::Prefix;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

/// Smallest snap length: holds the largest header stack generated (Ethernet 14 + IPv6 40 +
/// TCP 20), so every captured record still carries its ports.
pub const MIN_SNAPLEN: u32 = 74;
/// Destination of the fan-in attack (TEST-NET-3), port 80.
pub const ATTACK_VICTIM: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
/// Source of the scan (TEST-NET-2); its targets are taken in order from 100.64.0.0/10.
pub const SCANNER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
/// Destination of the botnet (TEST-NET-1), port 443.
pub const BOTNET_TARGET: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 80);
/// Most source prefixes of the botnet: the /24s of 198.18.0.0/15.
pub const MAX_BOTNET_PREFIXES: u32 = 512;

/// The `index`-th source prefix of the botnet (from 0): the `index`-th /24 of 198.18.0.0/15.
pub fn botnet_prefix(index: u32) -> Prefix {
    let network = 0xc612_0000 | (index % MAX_BOTNET_PREFIXES) << 8;
    Prefix::of(&IpAddr::V4(Ipv4Addr::from(network)), 24)
}

/// What to generate. [`Default`] is the benchmark trace of `docs/BENCHMARKS.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SynthConfig {
    /// Frames to write.
    pub packets: u64,
    /// Distinct Zipf-ranked flows the normal traffic is drawn from.
    pub flows: u64,
    /// Zipf exponent of flow popularity (0 = uniform; 1 = the classic law).
    pub zipf: f64,
    /// Seed of every random choice (flow identities included).
    pub seed: u64,
    /// Share of flows that are IPv6 (decided per flow).
    pub ipv6_share: f64,
    /// Share of packets in the fan-in attack: TCP SYNs to [`ATTACK_VICTIM`], each from a
    /// different spoofed IPv4 source (a bijection of the attack packet's number, so up to 2^32
    /// attack packets are all distinct flows and distinct sources).
    pub attack_share: f64,
    /// Share of packets from the scanner: TCP SYNs from [`SCANNER`], each to the next address.
    pub scan_share: f64,
    /// The destination prefix of the carpet bombing, if any.
    #[serde(default)]
    pub carpet_bomb: Option<Prefix>,
    /// Share of packets in the carpet bombing: UDP replies from port 123 of spoofed
    /// reflectors, each to the next address of [`carpet_bomb`](Self::carpet_bomb) in turn, so
    /// that every address gets a little.
    #[serde(default)]
    pub carpet_share: f64,
    /// Source prefixes of the botnet: the first of the /24s of 198.18.0.0/15
    /// ([`botnet_prefix`]), at most [`MAX_BOTNET_PREFIXES`].
    #[serde(default)]
    pub botnet_prefixes: u32,
    /// Share of packets from the botnet: TCP segments to [`BOTNET_TARGET`] port 443, each from
    /// a host drawn at random from a prefix drawn at random.
    #[serde(default)]
    pub botnet_share: f64,
    /// Trace time advances by `1 / rate` seconds per packet.
    pub rate: u64,
    /// Timestamp of the first packet, Unix seconds.
    pub start_unix: u64,
    /// Bytes captured of each frame (the wire length stays the full frame).
    pub snaplen: u32,
    /// Entries in each top list of the truth.
    pub top: usize,
}

impl Default for SynthConfig {
    fn default() -> Self {
        Self {
            packets: 5_000_000,
            flows: 100_000,
            zipf: 1.0,
            seed: 1,
            ipv6_share: 0.1,
            attack_share: 0.0,
            scan_share: 0.0,
            carpet_bomb: None,
            carpet_share: 0.0,
            botnet_prefixes: 0,
            botnet_share: 0.0,
            rate: 100_000,
            start_unix: 1_700_000_000,
            snaplen: 128,
            top: 100,
        }
    }
}

impl SynthConfig {
    /// Checks that the configuration describes a trace.
    ///
    /// # Errors
    /// [`Error::Config`] naming the first field out of range.
    pub fn validate(&self) -> Result<(), Error> {
        let share = |value: f64| (0.0..=1.0).contains(&value);
        let attacks = self.attack_share + self.scan_share + self.carpet_share + self.botnet_share;
        let problem = if self.flows == 0 && attacks < 1.0 {
            Some("flows must be at least 1 unless the attacks make up all packets")
        } else if !(self.zipf.is_finite() && self.zipf >= 0.0) {
            Some("the Zipf exponent must be a finite number >= 0")
        } else if !share(self.ipv6_share) {
            Some("the IPv6 share must lie in [0, 1]")
        } else if !share(self.attack_share) || !share(self.scan_share) {
            Some("the attack and scan shares must lie in [0, 1]")
        } else if !share(self.carpet_share) || !share(self.botnet_share) {
            Some("the carpet bombing and botnet shares must lie in [0, 1]")
        } else if attacks > 1.0 {
            Some("the attack, scan, carpet bombing and botnet shares must add up to at most 1")
        } else if self.carpet_share > 0.0 && self.carpet_bomb.is_none() {
            Some("a carpet bombing share needs the prefix it bombs")
        } else if self.botnet_share > 0.0 && self.botnet_prefixes == 0 {
            Some("a botnet share needs at least one botnet prefix")
        } else if self.botnet_prefixes > MAX_BOTNET_PREFIXES {
            Some("the botnet has at most 512 prefixes")
        } else if self.rate == 0 {
            Some("the rate must be at least 1 packet per second")
        } else if !(MIN_SNAPLEN..=65_535).contains(&self.snaplen) {
            Some("the snap length must lie in 74..=65535")
        } else {
            None
        };
        match problem {
            Some(reason) => Err(Error::Config(reason)),
            None => Ok(()),
        }
    }
}

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is out of range.
    #[error("invalid trace configuration: {0}")]
    Config(&'static str),
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// What [`write_capture`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Frames in the capture.
    pub packets: u64,
    /// Size of the capture file.
    pub file_bytes: u64,
}

/// Generates `config`'s trace into the pcap file `out` and, when `truth` is given, its exact
/// counts as JSON into that file.
///
/// # Errors
/// [`Error::Config`] for a configuration out of range, [`Error::Write`] naming the file that
/// could not be written.
pub fn write_capture(
    config: &SynthConfig,
    out: &Path,
    truth: Option<&Path>,
) -> Result<Written, Error> {
    let write_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Write { path, source }
    };
    let mut generator = Generator::new(config.clone())?;
    let mut counter = truth.map(|_| TruthCounter::default());
    let file = File::create(out).map_err(write_error(out))?;
    let mut writer = BufWriter::with_capacity(1 << 20, file);
    let packets = write_pcap(&mut generator, &mut writer, counter.as_mut())
        .and_then(|packets| writer.flush().map(|()| packets))
        .map_err(write_error(out))?;
    let file_bytes = writer.get_ref().metadata().map_err(write_error(out))?.len();
    if let (Some(path), Some(counter)) = (truth, counter) {
        let truth = counter.finish(config);
        let text = serde_json::to_string_pretty(&truth)
            .map_err(|error| write_error(path)(error.into()))?;
        std::fs::write(path, text + "\n").map_err(write_error(path))?;
    }
    Ok(Written {
        packets,
        file_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn config(packets: u64) -> SynthConfig {
        SynthConfig {
            packets,
            flows: 1_000,
            ..SynthConfig::default()
        }
    }

    #[test]
    fn out_of_range_configurations_are_refused() {
        let base = config(1);
        for (bad, field) in [
            (
                SynthConfig {
                    flows: 0,
                    ..base.clone()
                },
                "flows",
            ),
            (
                SynthConfig {
                    zipf: f64::NAN,
                    ..base.clone()
                },
                "Zipf",
            ),
            (
                SynthConfig {
                    zipf: -0.5,
                    ..base.clone()
                },
                "Zipf",
            ),
            (
                SynthConfig {
                    ipv6_share: 1.5,
                    ..base.clone()
                },
                "IPv6",
            ),
            (
                SynthConfig {
                    attack_share: -0.1,
                    ..base.clone()
                },
                "attack",
            ),
            (
                SynthConfig {
                    attack_share: 0.6,
                    scan_share: 0.6,
                    ..base.clone()
                },
                "add up",
            ),
            (
                SynthConfig {
                    rate: 0,
                    ..base.clone()
                },
                "rate",
            ),
            (
                SynthConfig {
                    carpet_share: 0.1,
                    ..base.clone()
                },
                "prefix it bombs",
            ),
            (
                SynthConfig {
                    botnet_share: 0.1,
                    ..base.clone()
                },
                "botnet prefix",
            ),
            (
                SynthConfig {
                    botnet_prefixes: 513,
                    ..base.clone()
                },
                "512",
            ),
            (
                SynthConfig {
                    carpet_bomb: Some("203.0.113.0/24".parse().unwrap()),
                    carpet_share: 0.6,
                    scan_share: 0.6,
                    ..base.clone()
                },
                "add up",
            ),
            (
                SynthConfig {
                    snaplen: 60,
                    ..base.clone()
                },
                "snap",
            ),
        ] {
            let error = Generator::new(bad).err().expect(field).to_string();
            assert!(error.contains(field), "{field}: {error}");
        }
        let all_attack = SynthConfig {
            flows: 0,
            attack_share: 1.0,
            ..base
        };
        assert!(Generator::new(all_attack).is_ok());
    }
}
