//! The command line: flags defined once with clap (their doc comments are the help text),
//! validated into the library's configuration types. Does no I/O.

use crate::merge::MergeConfig;
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
    /// Merge JSON snapshots (intervals of one sensor, or one interval of several sensors) into
    /// one view: distinct counts from the union of their sketches, top lists and totals summed.
    Merge(MergeArgs),
}

/// `hhmon merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Snapshot files written by `hhmon ... --snapshot-dir` (or by an earlier merge).
    #[arg(required = true, value_name = "SNAPSHOT")]
    pub snapshots: Vec<PathBuf>,
    /// Also write the merged view as a JSON snapshot (same schema) to this file.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Entries in each merged top list.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub top: usize,
}

impl MergeArgs {
    /// The merge these flags describe.
    pub fn config(&self) -> MergeConfig {
        MergeConfig {
            snapshots: self.snapshots.clone(),
            out: self.out.clone(),
            top: self.top,
        }
    }
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
    #[arg(long, default_value = "10s", value_parser = parse_whole_seconds, value_name = "DURATION")]
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
    /// Also report distinct sources over a rolling window of this length (e.g. `1h`), a whole
    /// multiple of the interval: the exact union of the last window/interval interval sketches.
    #[arg(long, value_parser = parse_whole_seconds, value_name = "DURATION")]
    pub window: Option<Duration>,
}

fn parse_whole_seconds(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if duration.as_secs() == 0 || duration.subsec_nanos() != 0 {
        return Err("must be a whole number of seconds, at least 1s".into());
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
            window_secs: self.window.map(|window| window.as_secs()),
            distinct: true,
        }
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
        let Command::Replay(args) = cli.command else {
            panic!("not a replay: {:?}", cli.command);
        };
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
        assert_eq!(config.monitor.window_secs, None);
        assert!(config.monitor.distinct);
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
            "--window",
            "2h",
            "--speed",
            "2.5",
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
        assert_eq!(config.monitor.window_secs, Some(7_200));
        assert!(config.monitor.distinct);
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
            (&["--window", "90ms", "a"][..], "--window"),
            (&["--window", "0s", "a"][..], "--window"),
            (&[][..], "FILE"),
        ] {
            let error = replay(args).unwrap_err().to_string();
            assert!(error.contains(flag), "{args:?}: {error}");
        }
    }

    #[test]
    fn merge_takes_snapshots_an_output_and_a_top() {
        let parse = |args: &[&str]| {
            let cli = Cli::try_parse_from(["hhmon", "merge"].iter().chain(args))?;
            let Command::Merge(args) = cli.command else {
                panic!("not a merge: {:?}", cli.command);
            };
            Ok::<_, clap::Error>(args.config())
        };
        let config = parse(&["a.json", "b.json"]).unwrap();
        assert_eq!(
            config,
            MergeConfig {
                snapshots: vec![PathBuf::from("a.json"), PathBuf::from("b.json")],
                out: None,
                top: 20,
            }
        );
        let config = parse(&["--out", "m.json", "--top", "5", "a.json"]).unwrap();
        assert_eq!(config.out, Some(PathBuf::from("m.json")));
        assert_eq!(config.top, 5);
        let error = parse(&[]).unwrap_err().to_string();
        assert!(error.contains("SNAPSHOT"), "{error}");
    }
}
