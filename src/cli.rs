//! The command line: flags defined once with clap (their doc comments are the help text),
//! validated into the library's configuration types. Does no I/O.

use crate::monitor::{MonitorConfig, DEFAULT_SKETCH_BYTES};
use crate::replay::{ReplayConfig, SinkConfig};
use crate::sketch::hll::DEFAULT_LG_K;
use crate::synth::SynthConfig;
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
    /// Write a deterministic synthetic capture (Zipf flows, frame-size mix, IPv6, optional
    /// fan-in attack and scanner) and, optionally, its exact counts as JSON.
    Generate(GenerateArgs),
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
}

/// `hhmon generate`. Defaults describe the benchmark trace of `docs/BENCHMARKS.md`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Frames to write.
    #[arg(long, default_value_t = SynthConfig::default().packets, value_name = "N")]
    pub packets: u64,
    /// Distinct flows the normal traffic is drawn from (Zipf-ranked).
    #[arg(long, default_value_t = SynthConfig::default().flows, value_name = "F")]
    pub flows: u64,
    /// Zipf exponent of flow popularity (0 = uniform, 1 = classic, larger = more skewed).
    #[arg(long, default_value_t = SynthConfig::default().zipf, value_parser = parse_exponent, value_name = "S")]
    pub zipf: f64,
    /// Seed of every random choice; the same seed gives the same bytes.
    #[arg(long, default_value_t = SynthConfig::default().seed, value_name = "X")]
    pub seed: u64,
    /// Share of flows that are IPv6.
    #[arg(long, default_value_t = SynthConfig::default().ipv6_share, value_parser = parse_share, value_name = "P")]
    pub ipv6_share: f64,
    /// Share of packets in a fan-in attack: TCP SYNs to 203.0.113.10:80, each from a
    /// different spoofed source.
    #[arg(long, default_value_t = 0.0, value_parser = parse_share, value_name = "P")]
    pub attack: f64,
    /// Share of packets from a scanner: TCP SYNs from 198.51.100.7, each to the next address
    /// of 100.64.0.0/10.
    #[arg(long, default_value_t = 0.0, value_parser = parse_share, value_name = "P")]
    pub scan: f64,
    /// Packets per second of trace time (timestamps advance evenly).
    #[arg(long, default_value_t = SynthConfig::default().rate, value_parser = clap::value_parser!(u64).range(1..), value_name = "PPS")]
    pub rate: u64,
    /// Timestamp of the first packet, Unix seconds.
    #[arg(long, default_value_t = SynthConfig::default().start_unix, value_name = "SECONDS")]
    pub start: u64,
    /// Bytes captured of each frame (wire lengths stay whole), at least 74.
    #[arg(long, default_value_t = SynthConfig::default().snaplen, value_parser = clap::value_parser!(u32).range(i64::from(crate::synth::MIN_SNAPLEN)..=65_535), value_name = "BYTES")]
    pub snaplen: u32,
    /// Entries in each top list of the truth file.
    #[arg(long, default_value_t = SynthConfig::default().top, value_name = "N")]
    pub top: usize,
    /// The capture to write (pcap, nanosecond timestamps, Ethernet).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Also write the exact counts (totals, distinct counts, top lists) as JSON here.
    #[arg(long, value_name = "FILE")]
    pub truth: Option<PathBuf>,
}

impl GenerateArgs {
    /// The trace these flags describe.
    pub fn config(&self) -> SynthConfig {
        SynthConfig {
            packets: self.packets,
            flows: self.flows,
            zipf: self.zipf,
            seed: self.seed,
            ipv6_share: self.ipv6_share,
            attack_share: self.attack,
            scan_share: self.scan,
            rate: self.rate,
            start_unix: self.start,
            snaplen: self.snaplen,
            top: self.top,
        }
    }
}

fn parse_share(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(share) if (0.0..=1.0).contains(&share) => Ok(share),
        _ => Err("expected a share between 0 and 1".into()),
    }
}

fn parse_exponent(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(exponent) if exponent.is_finite() && exponent >= 0.0 => Ok(exponent),
        _ => Err("expected a finite number >= 0".into()),
    }
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
            panic!("not a replay");
        };
        Ok(args.config())
    }

    fn generate(args: &[&str]) -> Result<(SynthConfig, GenerateArgs), clap::Error> {
        let cli = Cli::try_parse_from(["hhmon", "generate"].iter().chain(args))?;
        let Command::Generate(args) = cli.command else {
            panic!("not a generate");
        };
        Ok((args.config(), args))
    }

    #[test]
    fn generate_defaults_are_the_library_defaults() {
        let (config, args) = generate(&["--out", "t.pcap"]).unwrap();
        assert_eq!(config, SynthConfig::default());
        assert_eq!(args.out, PathBuf::from("t.pcap"));
        assert_eq!(args.truth, None);
    }

    #[test]
    fn every_generate_flag_reaches_the_configuration() {
        let (config, args) = generate(&[
            "--packets",
            "10",
            "--flows",
            "20",
            "--zipf",
            "1.3",
            "--seed",
            "4",
            "--ipv6-share",
            "0.5",
            "--attack",
            "0.25",
            "--scan",
            "0.125",
            "--rate",
            "1000",
            "--start",
            "86400",
            "--snaplen",
            "96",
            "--top",
            "7",
            "--out",
            "t.pcap",
            "--truth",
            "t.json",
        ])
        .unwrap();
        assert_eq!(
            config,
            SynthConfig {
                packets: 10,
                flows: 20,
                zipf: 1.3,
                seed: 4,
                ipv6_share: 0.5,
                attack_share: 0.25,
                scan_share: 0.125,
                rate: 1000,
                start_unix: 86_400,
                snaplen: 96,
                top: 7,
            }
        );
        assert_eq!(args.truth, Some(PathBuf::from("t.json")));
    }

    #[test]
    fn bad_generate_values_are_rejected_with_the_flag_named() {
        for (args, flag) in [
            (&["--zipf=-1"][..], "--zipf"),
            (&["--zipf", "inf"][..], "--zipf"),
            (&["--ipv6-share", "1.5"][..], "--ipv6-share"),
            (&["--attack=-0.1"][..], "--attack"),
            (&["--scan", "x"][..], "--scan"),
            (&["--rate", "0"][..], "--rate"),
            (&["--snaplen", "60"][..], "--snaplen"),
        ] {
            let with_out: Vec<&str> = args.iter().copied().chain(["--out", "t.pcap"]).collect();
            let error = generate(&with_out).unwrap_err().to_string();
            assert!(error.contains(flag), "{args:?}: {error}");
        }
        let error = generate(&[]).unwrap_err().to_string();
        assert!(error.contains("--out"), "{error}");
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
