//! The command line: flags defined once with clap (their doc comments are the help text),
//! validated into the library's configuration types. Does no I/O.

use crate::capture::{LiveConfig, DEFAULT_BUFFER_BYTES, DEFAULT_SNAPLEN};
use crate::live::CaptureConfig;
use crate::monitor::{MonitorConfig, DEFAULT_SKETCH_BYTES};
use crate::pipeline::SinkConfig;
use crate::replay::ReplayConfig;
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
    /// Capture live on a network interface until SIGINT or SIGTERM.
    Capture(CaptureArgs),
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

/// `hhmon capture`.
#[derive(Debug, Args)]
pub struct CaptureArgs {
    /// The interface to capture on (`any` for all of them, without promiscuous mode).
    #[arg(long, short = 'i', value_name = "IFACE")]
    pub interface: String,
    /// Bytes kept of each frame: enough for the headers of tunnelled traffic; raise it when
    /// `transport_truncated` counts grow.
    #[arg(long, default_value_t = DEFAULT_SNAPLEN, value_parser = clap::value_parser!(u32).range(64..=262_144), value_name = "BYTES")]
    pub snaplen: u32,
    /// Do not put the interface in promiscuous mode (see only frames addressed to this host).
    #[arg(long)]
    pub no_promiscuous: bool,
    /// Kernel capture buffer in MiB: what absorbs bursts while hhmon is busy.
    #[arg(long, default_value_t = (DEFAULT_BUFFER_BYTES >> 20) as u64, value_parser = clap::value_parser!(u64).range(1..=2047), value_name = "MIB")]
    pub buffer_mib: u64,
    /// Hand every frame over at once instead of in blocks of up to 100 ms: lower latency, more
    /// wake-ups and less headroom at high rates.
    #[arg(long)]
    pub immediate: bool,
    /// Once the capture is open and the listener bound, drop root and run as this user (hhmon
    /// must start as root). A snapshot directory that does not exist yet is created for it.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// A BPF filter (tcpdump syntax); frames it rejects are neither counted nor seen.
    #[arg(long, value_name = "EXPRESSION", conflicts_with = "expression")]
    pub filter: Option<String>,
    /// The filter as trailing words, as tcpdump takes it: `hhmon capture -i eth0 tcp port 443`
    /// (put `--` before an expression with words starting with `-`).
    #[arg(value_name = "BPF EXPRESSION")]
    pub expression: Vec<String>,
    /// Options shared by every mode.
    #[command(flatten)]
    pub monitor: MonitorArgs,
}

/// Options every mode shares.
#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// Interval length (whole seconds, e.g. `10s`, `1m`); intervals are aligned to multiples
    /// of it since the Unix epoch and decided by packet timestamps (and, in a live capture, by
    /// the clock when no packet comes).
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

impl CaptureArgs {
    /// The capture these flags describe.
    pub fn config(&self) -> CaptureConfig {
        let filter = if self.expression.is_empty() {
            self.filter.clone()
        } else {
            Some(self.expression.join(" "))
        };
        CaptureConfig {
            capture: LiveConfig {
                interface: self.interface.clone(),
                snaplen: self.snaplen,
                promiscuous: !self.no_promiscuous,
                buffer_bytes: usize::try_from(self.buffer_mib << 20).unwrap_or(usize::MAX),
                immediate: self.immediate,
                filter,
            },
            user: self.user.clone(),
            monitor: self.monitor.monitor_config(),
            sinks: self.monitor.sink_config(),
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
            panic!("parsed as another command");
        };
        Ok(args.config())
    }

    fn capture(args: &[&str]) -> Result<CaptureConfig, clap::Error> {
        let cli = Cli::try_parse_from(["hhmon", "capture"].iter().chain(args))?;
        let Command::Capture(args) = cli.command else {
            panic!("parsed as another command");
        };
        Ok(args.config())
    }

    #[test]
    fn capture_defaults_suit_a_tap_port() {
        let config = capture(&["-i", "eth0"]).unwrap();
        assert_eq!(config.capture, LiveConfig::new("eth0"));
        assert_eq!(config.user, None);
        assert_eq!(config.monitor, replay(&["a"]).unwrap().monitor);
        assert_eq!(config.sinks, replay(&["a"]).unwrap().sinks);
    }

    #[test]
    fn every_capture_flag_reaches_the_configuration() {
        let config = capture(&[
            "--interface",
            "veth1",
            "--snaplen",
            "512",
            "--no-promiscuous",
            "--buffer-mib",
            "4",
            "--immediate",
            "--user",
            "nobody",
            "--filter",
            "udp port 53",
            "--interval",
            "5s",
            "--listen",
            "127.0.0.1:9750",
            "--quiet",
        ])
        .unwrap();
        assert_eq!(
            config.capture,
            LiveConfig {
                interface: "veth1".into(),
                snaplen: 512,
                promiscuous: false,
                buffer_bytes: 4 << 20,
                immediate: true,
                filter: Some("udp port 53".into()),
            }
        );
        assert_eq!(config.user.as_deref(), Some("nobody"));
        assert_eq!(config.monitor.interval_secs, 5);
        assert_eq!(config.sinks.listen, Some("127.0.0.1:9750".parse().unwrap()));
        assert!(config.sinks.quiet);
    }

    #[test]
    fn the_filter_may_be_trailing_words_as_in_tcpdump() {
        let config = capture(&["-i", "eth0", "--quiet", "tcp", "port", "443"]).unwrap();
        assert_eq!(config.capture.filter.as_deref(), Some("tcp port 443"));
        assert!(config.sinks.quiet);
        // As with tcpdump, flags may follow the expression; after `--` everything is expression.
        let config = capture(&["-i", "eth0", "icmp", "--top", "3"]).unwrap();
        assert_eq!(config.capture.filter.as_deref(), Some("icmp"));
        assert_eq!(config.monitor.top, 3);
        let config = capture(&["-i", "eth0", "--", "len", "<", "-1"]).unwrap();
        assert_eq!(config.capture.filter.as_deref(), Some("len < -1"));
        let error = capture(&["-i", "eth0", "--filter", "tcp", "udp"]).unwrap_err();
        assert!(error.to_string().contains("--filter"), "{error}");
    }

    #[test]
    fn bad_capture_values_are_rejected_with_the_flag_named() {
        for (args, flag) in [
            (&[][..], "--interface"),
            (&["-i", "eth0", "--snaplen", "10"][..], "--snaplen"),
            (&["-i", "eth0", "--buffer-mib", "0"][..], "--buffer-mib"),
            (&["-i", "eth0", "--buffer-mib", "4096"][..], "--buffer-mib"),
            (&["-i", "eth0", "--interval", "0s"][..], "--interval"),
        ] {
            let error = capture(args).unwrap_err().to_string();
            assert!(error.contains(flag), "{args:?}: {error}");
        }
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
