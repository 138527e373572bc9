//! The command line: flags defined once with clap (their doc comments are the help text),
//! validated into the library's configuration types. Does no I/O.

use crate::decode::DecodeOptions;
use crate::monitor::{MonitorConfig, DEFAULT_SKETCH_BYTES};
use crate::replay::{ReplayConfig, SinkConfig};
use crate::sketch::hll::DEFAULT_LG_K;
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// hhmon: heavy hitters and distinct sources of network traffic, per interval.
#[derive(Debug, Parser)]
#[command(name = "hhmon", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Replay pcap/pcapng capture files (`-` for standard input) through the monitor.
    Replay(ReplayArgs),
}

/// `hhmon replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Capture files, read in order; `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Replay paced by packet timestamps at this multiple of the original speed (1 = real
    /// time); by default files are read as fast as possible.
    #[arg(long, value_name = "X")]
    pub speed: Option<f64>,
    /// Options shared by every mode.
    #[command(flatten)]
    pub monitor: MonitorArgs,
}

/// Options every mode shares.
#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// Interval length (whole seconds, e.g. `10s`, `1m`); intervals are aligned to multiples
    /// of it since the Unix epoch and decided by packet timestamps.
    #[arg(long, default_value = "10s", value_parser = parse_interval, value_name = "DURATION")]
    pub interval: Duration,
    /// Entries in each top list (table and snapshots).
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub top: usize,
    /// Write one JSON snapshot per closed interval into this directory (plus `latest.json`).
    #[arg(long, value_name = "DIR")]
    pub snapshot_dir: Option<PathBuf>,
    /// Keep only the newest N snapshots.
    #[arg(long, value_name = "N", requires = "snapshot_dir")]
    pub keep: Option<usize>,
    /// Serve Prometheus metrics at /metrics and a health check at /healthz on this address
    /// (e.g. 127.0.0.1:9750). A replay keeps serving its final values until interrupted.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Top entries that carry address labels in the metrics.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub prom_top: usize,
    /// Do not print the per-interval table (the closing summary still goes to stderr).
    #[arg(long, short)]
    pub quiet: bool,
    /// Count heavy hitters exactly with hash maps instead of sketches (memory grows with the
    /// number of distinct flows: for small captures and as a reference).
    #[arg(long)]
    pub exact: bool,
    /// Memory of each heavy-hitter sketch in KiB (six sketches: flows, sources and
    /// destinations, by packets and by bytes).
    #[arg(long, default_value_t = DEFAULT_SKETCH_BYTES / 1024, value_name = "KIB")]
    pub sketch_kib: usize,
    /// HyperLogLog precision for distinct counts: 2^N registers (4 to 21).
    #[arg(long, default_value_t = DEFAULT_LG_K, value_parser = clap::value_parser!(u8).range(4..=21), value_name = "N")]
    pub hll_lg_k: u8,
    /// Count tunnelled packets under their innermost IP flow (IP-in-IP, 6in4, GRE, ERSPAN,
    /// VXLAN, GENEVE, GTP-U, L2TPv2, Teredo) instead of the outer header the wire carries.
    #[arg(long)]
    pub decap: bool,
}

fn parse_interval(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if duration.as_secs() == 0 || duration.subsec_nanos() != 0 {
        return Err("the interval must be a whole number of seconds, at least 1s".into());
    }
    Ok(duration)
}

impl MonitorArgs {
    fn monitor_config(&self) -> MonitorConfig {
        MonitorConfig {
            interval_secs: self.interval.as_secs(),
            top: self.top,
            exact: self.exact,
            sketch_bytes: self.sketch_kib.saturating_mul(1024),
            hll_lg_k: self.hll_lg_k,
        }
    }

    /// How frames are decoded.
    pub fn decode_options(&self) -> DecodeOptions {
        DecodeOptions { decap: self.decap }
    }

    fn sink_config(&self) -> SinkConfig {
        SinkConfig {
            snapshot_dir: self.snapshot_dir.clone(),
            keep: self.keep,
            listen: self.listen,
            quiet: self.quiet,
            prom_top: self.prom_top,
        }
    }
}

impl ReplayArgs {
    /// The replay these flags describe.
    pub fn config(&self) -> ReplayConfig {
        ReplayConfig {
            files: self.files.clone(),
            speed: self.speed,
            decode: self.monitor.decode_options(),
            monitor: self.monitor.monitor_config(),
            sinks: self.monitor.sink_config(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replay(args: &[&str]) -> Result<ReplayConfig, clap::Error> {
        let cli = Cli::try_parse_from(["hhmon", "replay"].iter().chain(args))?;
        let Command::Replay(args) = cli.command;
        Ok(args.config())
    }

    #[test]
    fn defaults_match_the_documented_interface() {
        let config = replay(&["a.pcap"]).unwrap();
        assert_eq!(config.files, [PathBuf::from("a.pcap")]);
        assert_eq!(config.speed, None);
        assert_eq!(config.monitor.interval_secs, 10);
        assert_eq!(config.monitor.top, 20);
        assert!(!config.monitor.exact);
        assert_eq!(config.monitor.sketch_bytes, DEFAULT_SKETCH_BYTES);
        assert_eq!(config.decode, DecodeOptions { decap: false });
        assert_eq!(
            config.sinks,
            SinkConfig {
                prom_top: 10,
                ..SinkConfig::default()
            }
        );
    }

    #[test]
    fn every_shared_flag_reaches_the_configuration() {
        let config = replay(&[
            "--interval",
            "1m",
            "--top",
            "5",
            "--snapshot-dir",
            "/tmp/s",
            "--keep",
            "3",
            "--listen",
            "127.0.0.1:9750",
            "--prom-top",
            "4",
            "--quiet",
            "--exact",
            "--sketch-kib",
            "64",
            "--hll-lg-k",
            "14",
            "--speed",
            "2.5",
            "--decap",
            "-",
            "b.pcapng",
        ])
        .unwrap();
        assert_eq!(
            config.files,
            [PathBuf::from("-"), PathBuf::from("b.pcapng")]
        );
        assert_eq!(config.speed, Some(2.5));
        assert_eq!(config.monitor.interval_secs, 60);
        assert_eq!(config.monitor.top, 5);
        assert!(config.monitor.exact);
        assert_eq!(config.monitor.sketch_bytes, 64 * 1024);
        assert_eq!(config.monitor.hll_lg_k, 14);
        assert_eq!(config.decode, DecodeOptions { decap: true });
        assert_eq!(config.sinks.snapshot_dir, Some(PathBuf::from("/tmp/s")));
        assert_eq!(config.sinks.keep, Some(3));
        assert_eq!(config.sinks.listen, Some("127.0.0.1:9750".parse().unwrap()));
        assert_eq!(config.sinks.prom_top, 4);
        assert!(config.sinks.quiet);
    }

    #[test]
    fn bad_values_are_rejected_with_the_flag_named() {
        for (args, flag) in [
            (&["--interval", "500ms", "a"][..], "--interval"),
            (&["--interval", "0s", "a"][..], "--interval"),
            (&["--keep", "3", "a"][..], "--snapshot-dir"),
            (&["--listen", "nowhere", "a"][..], "--listen"),
            (&["--hll-lg-k", "30", "a"][..], "--hll-lg-k"),
            (&[][..], "FILE"),
        ] {
            let error = replay(args).unwrap_err().to_string();
            assert!(error.contains(flag), "{args:?}: {error}");
        }
    }
}
