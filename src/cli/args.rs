//! The flags of each subcommand as clap structs (their doc comments are the help text) and
//! their conversion into the library's configuration types. Knows nothing of the config file
//! or of which flags conflict; one flag alone is checked by its value parser.

use super::parse::{
    host_name, parse_connect, parse_duration, parse_exponent, parse_export_roll, parse_hhh_share,
    parse_listen, parse_positive_duration, parse_prefix, parse_prefix_lengths, parse_sensor,
    parse_share, parse_speed, parse_udp_listen, parse_whole_seconds,
};
use crate::app::capture::CaptureConfig;
use crate::app::collect::{CollectConfig, NETFLOW_PORTS, SFLOW_PORT};
use crate::app::replay::ReplayConfig;
use crate::app::top::{TopConfig, TopSource};
use crate::capture::{LiveConfig, DEFAULT_BUFFER_BYTES, DEFAULT_SNAPLEN, MAX_READERS};
use crate::decode::DecodeOptions;
use crate::engine::http::{DEFAULT_API_HISTORY, MAX_API_HISTORY};
use crate::engine::SinkConfig;
use crate::merge::MergeConfig;
use crate::monitor::{MonitorConfig, PrefixLengths, DEFAULT_SKETCH_BYTES, MAX_WORKERS};
use crate::prefix::Prefix;
use crate::report::DEFAULT_HIERARCHICAL_SHARE;
use crate::sketch::hll::DEFAULT_LG_K;
use crate::synth::SynthConfig;
use clap::builder::RangedU64ValueParser;
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

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
    /// Recompute the hierarchical heavy hitters at this share of the merged packets (as
    /// `replay --hhh-share`). Default: the largest share the snapshots were written with (the
    /// strictest of them; 0.05 for snapshots older than the setting).
    #[arg(long, value_parser = parse_hhh_share, value_name = "SHARE")]
    pub hhh_share: Option<f64>,
}

impl MergeArgs {
    /// The merge these flags describe.
    pub fn config(&self) -> MergeConfig {
        MergeConfig {
            snapshots: self.snapshots.clone(),
            out: self.out.clone(),
            top: self.top,
            hierarchical_share: self.hhh_share,
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
    #[arg(long, value_name = "X", value_parser = parse_speed)]
    pub speed: Option<f64>,
    /// Options shared by every mode.
    #[command(flatten)]
    pub monitor: MonitorArgs,
}

/// `hhmon collect`.
#[derive(Debug, Args)]
pub struct CollectArgs {
    /// Capture files of export datagrams (UDP payloads of any port), read in order instead of
    /// listening; `-` reads standard input.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Receive sFlow v5 here: ADDRESS:PORT, or a port on every address (default 6343).
    /// Repeatable, or comma-separated.
    #[arg(long, value_name = "ADDR|PORT", value_parser = parse_udp_listen, value_delimiter = ',', conflicts_with = "files")]
    pub sflow_listen: Vec<SocketAddr>,
    /// Receive NetFlow v5/v9 and IPFIX here (default ports 2055 and 4739). Repeatable, or
    /// comma-separated.
    #[arg(long, value_name = "ADDR|PORT", value_parser = parse_udp_listen, value_delimiter = ',', conflicts_with = "files")]
    pub netflow_listen: Vec<SocketAddr>,
    /// Options shared by every mode.
    #[command(flatten)]
    pub monitor: MonitorArgs,
}

impl CollectArgs {
    /// The collector these flags describe; without files or addresses, the default ports on
    /// every address.
    pub fn config(&self) -> CollectConfig {
        let any = |port: u16| SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, port));
        let (mut sflow_listen, mut netflow_listen) =
            (self.sflow_listen.clone(), self.netflow_listen.clone());
        if self.files.is_empty() && sflow_listen.is_empty() && netflow_listen.is_empty() {
            sflow_listen.push(any(SFLOW_PORT));
            netflow_listen.extend(NETFLOW_PORTS.map(any));
        }
        CollectConfig {
            files: self.files.clone(),
            sflow_listen,
            netflow_listen,
            decode: self.monitor.decode_options(),
            monitor: self.monitor.monitor_config(),
            sinks: self.monitor.sink_config(),
        }
    }
}

/// `hhmon capture`.
#[derive(Debug, Args)]
pub struct CaptureArgs {
    /// The interface to capture on (`any` for all of them, without promiscuous mode).
    #[arg(long, short = 'i', value_name = "IFACE")]
    pub interface: String,
    /// How the interface is opened.
    #[command(flatten)]
    pub live: LiveArgs,
    /// Read with N threads, each from a capture socket of its own (and its own kernel buffer of
    /// --buffer-mib), the kernel sharing the frames among them by flow (PACKET_FANOUT); they
    /// count on shared --workers threads (at least one). Falls back to one reader, with a
    /// warning, where the kernel cannot share the interface.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=MAX_READERS as i64), value_name = "N")]
    pub readers: u16,
    /// Once the capture is open and the listener bound, drop root and run as this user (hhmon
    /// must start as root). A snapshot directory that does not exist yet is created for it.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// The filter as trailing words, as tcpdump takes it: `hhmon capture -i eth0 tcp port 443`
    /// (put `--` before an expression with words starting with `-`).
    #[arg(value_name = "BPF EXPRESSION", conflicts_with = "filter")]
    pub expression: Vec<String>,
    /// Options shared by every mode.
    #[command(flatten)]
    pub monitor: MonitorArgs,
}

/// How a live interface is opened: shared by `capture` and `top -i`.
#[derive(Debug, Args)]
pub struct LiveArgs {
    /// Bytes kept of each frame: enough for the headers of tunnelled traffic; raise it when
    /// `transport_truncated` counts grow. Default 256.
    // No clap default (here and for the buffer), so that `top` can tell the flag was given
    // without an interface. A test holds the number to the constant.
    #[arg(long, value_parser = clap::value_parser!(u32).range(64..=262_144), value_name = "BYTES")]
    pub snaplen: Option<u32>,
    /// Do not put the interface in promiscuous mode (see only frames addressed to this host).
    #[arg(long)]
    pub no_promiscuous: bool,
    /// Kernel capture buffer in MiB: what absorbs bursts while hhmon is busy. Default 32.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=2047), value_name = "MIB")]
    pub buffer_mib: Option<u64>,
    /// Hand every frame over at once instead of in blocks of up to 100 ms: lower latency, more
    /// wake-ups and less headroom at high rates.
    #[arg(long)]
    pub immediate: bool,
    /// A BPF filter (tcpdump syntax); frames it rejects are neither counted nor seen.
    #[arg(long, value_name = "EXPRESSION")]
    pub filter: Option<String>,
}

/// `hhmon top`: exactly one of `--connect`, `--interface` and files.
#[derive(Debug, Args)]
pub struct TopArgs {
    /// Watch a running hhmon through its `--listen` address: HOST:PORT, or a port of
    /// 127.0.0.1 (what to count is the server's choice: the counting flags are refused).
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_connect, conflicts_with_all = [
        "interface", "files", "interval", "top", "exact", "sketch_kib", "hll_lg_k", "workers",
        "window", "decap", "fan_sketches", "ipv4_prefixes", "ipv6_prefixes", "hhh_share",
    ])]
    pub connect: Option<String>,
    /// Capture on this interface, in this process (`any` for all of them).
    #[arg(long, short = 'i', value_name = "IFACE", conflicts_with = "files")]
    pub interface: Option<String>,
    /// Capture files, read in order as fast as possible; the last interval stays on screen
    /// until `q`.
    #[arg(value_name = "FILE", required_unless_present_any = ["connect", "interface"])]
    pub files: Vec<PathBuf>,
    /// How the interface is opened (with `--interface`).
    #[command(flatten)]
    pub live: LiveArgs,
    /// What to count (with `--interface` or files).
    #[command(flatten)]
    pub count: CountArgs,
}

/// Options every mode that runs the engine shares: what to count and where reports go.
#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// What to count.
    #[command(flatten)]
    pub count: CountArgs,
    /// Write one JSON snapshot per closed interval into this directory (plus `latest.json`).
    #[arg(long, value_name = "DIR")]
    pub snapshot_dir: Option<PathBuf>,
    /// Keep only the newest N snapshots.
    #[arg(long, value_name = "N", requires = "snapshot_dir")]
    pub keep: Option<usize>,
    /// Remove snapshots of intervals that started more than this before the newest one
    /// (packet time, e.g. `7d`).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "snapshot_dir")]
    pub keep_age: Option<Duration>,
    /// Also write every closed interval into this export tree for Spark and its peers:
    /// Parquet files partitioned as `date=YYYY-MM-DD/sensor=NAME/`, one per sensor and roll
    /// period (docs/export.md).
    #[arg(long, value_name = "DIR")]
    pub export_dir: Option<PathBuf>,
    /// One export file per sensor and this period: a whole number of seconds that divides a
    /// day (`1h`, `10m`, `1d`). Intervals of the period still open are published when it
    /// ends, or when hhmon stops.
    #[arg(long, default_value = "1h", value_parser = parse_export_roll, value_name = "DURATION", requires = "export_dir")]
    pub export_roll: Duration,
    /// Serve Prometheus metrics at /metrics, a health check at /healthz, the last reports as
    /// JSON at /api/v1/report and /api/v1/reports, and a status page at / on this address
    /// (e.g. 127.0.0.1:9750), or on this port of 127.0.0.1 (e.g. 9750). A replay keeps serving
    /// its final values until interrupted.
    #[arg(long, value_name = "ADDR|PORT", value_parser = parse_listen)]
    pub listen: Option<SocketAddr>,
    /// /healthz answers 503 when the packet loop has made no progress for this long.
    #[arg(long, default_value = "30s", value_parser = parse_positive_duration, value_name = "DURATION")]
    pub stall_timeout: Duration,
    /// Top entries that carry address labels in the metrics.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub prom_top: usize,
    /// Closed intervals whose reports the JSON API and the status page keep (1 to 10000; a
    /// report's JSON takes up to about 20 KB at the default --top and --hll-lg-k).
    #[arg(long, default_value_t = DEFAULT_API_HISTORY, value_parser = RangedU64ValueParser::<usize>::new().range(1..=MAX_API_HISTORY as u64), value_name = "N")]
    pub api_history: usize,
    /// The name of this sensor in every report, snapshot and metric, so that the reports of
    /// many sensors can be gathered and told apart. Default: the host name.
    #[arg(long, value_name = "NAME", value_parser = parse_sensor)]
    pub sensor: Option<String>,
    /// Do not print the per-interval table (the closing summary still goes to stderr).
    #[arg(long, short)]
    pub quiet: bool,
    /// Read options from this TOML file: its keys are this command's long flags in snake_case
    /// (`snapshot_dir = "/var/lib/hhmon"`, `quiet = true`); flags on the command line win over
    /// the file, and keys that only another command has are ignored.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// What to count and how to decode: every mode that runs the engine, `top` on files or an
/// interface included.
#[derive(Debug, Args)]
pub struct CountArgs {
    /// Interval length (whole seconds, e.g. `10s`, `1m`); intervals are aligned to multiples
    /// of it since the Unix epoch and decided by packet timestamps (and, in a live capture, by
    /// the clock when no packet comes).
    #[arg(long, default_value = "10s", value_parser = parse_whole_seconds, value_name = "DURATION")]
    pub interval: Duration,
    /// Entries in each top list (table and snapshots).
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub top: usize,
    /// Count heavy hitters exactly with hash maps instead of sketches (memory grows with the
    /// number of distinct flows: for small captures and as a reference).
    #[arg(long)]
    pub exact: bool,
    /// Memory of each heavy-hitter sketch in KiB (six sketches: flows, sources and
    /// destinations, by packets and by bytes; four more with prefix views: source and
    /// destination prefixes of every length).
    #[arg(long, default_value_t = DEFAULT_SKETCH_BYTES / 1024, value_name = "KIB")]
    pub sketch_kib: usize,
    /// HyperLogLog precision for distinct counts: 2^N registers (4 to 21).
    #[arg(long, default_value_t = DEFAULT_LG_K, value_parser = clap::value_parser!(u8).range(4..=21), value_name = "N")]
    pub hll_lg_k: u8,
    /// Threads that count the views, each owning the flows and addresses that hash to it
    /// (1: the packet thread counts everything). The sketch memory is shared among them.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=MAX_WORKERS as i64), value_name = "N")]
    pub workers: u16,
    /// Also report distinct sources over a rolling window of this length (e.g. `1h`), a whole
    /// multiple of the interval: the exact union of the last window/interval interval sketches.
    #[arg(long, value_parser = parse_whole_seconds, value_name = "DURATION")]
    pub window: Option<Duration>,
    /// Count tunnelled packets under their innermost IP flow (IP-in-IP, 6in4, GRE, ERSPAN,
    /// VXLAN, GENEVE, GTP-U, L2TPv2, Teredo) instead of the outer header the wire carries.
    #[arg(long)]
    pub decap: bool,
    /// Also put in every snapshot the fan-in sketch of each listed destination and the
    /// fan-out sketch of each listed source (DataSketches HLL), so that an address's distinct
    /// peers can be unioned across intervals and sensors (`hhmon merge`, Spark).
    #[arg(long)]
    pub fan_sketches: bool,
    /// Lengths of the IPv4 source and destination prefix views (heavy networks: carpet
    /// bombing, botnet subnets), separated by commas; `none` for no IPv4 prefix views.
    #[arg(long, default_value = "8,16,24", value_parser = parse_prefix_lengths::<32>, value_name = "LENGTHS")]
    pub ipv4_prefixes: PrefixLengthList,
    /// Lengths of the IPv6 prefix views, as `--ipv4-prefixes`; `none` for none.
    #[arg(long, default_value = "32,48,64", value_parser = parse_prefix_lengths::<128>, value_name = "LENGTHS")]
    pub ipv6_prefixes: PrefixLengthList,
    /// A prefix (or address) is heavy on its own, a hierarchical heavy hitter, when its
    /// packets less those of its heavy descendants reach this share of the interval's: above
    /// 0 and at most 1 (`0.03` or `3%`). Lower names smaller aggregates, each /24 of a botnet
    /// rather than the /16 above them; keep --top at least 1/SHARE so that every prefix over
    /// it is listed.
    #[arg(long, default_value_t = DEFAULT_HIERARCHICAL_SHARE, value_parser = parse_hhh_share, value_name = "SHARE")]
    pub hhh_share: f64,
}

/// Prefix lengths of one address family, as `--ipv4-prefixes` or `--ipv6-prefixes` gave them
/// (in range, sorted, without repeats; empty for `none`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixLengthList(pub Vec<u32>);

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
    /// Carpet-bomb this destination prefix (CIDR, e.g. 203.0.113.0/24): UDP replies from port
    /// 123 of spoofed reflectors, to each of its addresses in turn, so that every address
    /// gets a little and none is heavy.
    #[arg(long, value_parser = parse_prefix, value_name = "PREFIX")]
    pub carpet_bomb: Option<Prefix>,
    /// Share of packets in the carpet bombing (with `--carpet-bomb`).
    #[arg(long, default_value_t = 0.1, value_parser = parse_share, value_name = "P", requires = "carpet_bomb")]
    pub carpet_share: f64,
    /// Add a botnet in this many source /24s (198.18.0.0/24, 198.18.1.0/24, ..., at most
    /// 512): TCP segments to 192.0.2.80:443, each from a random host of a random one of them.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=512), value_name = "N")]
    pub botnet: u32,
    /// Share of packets from the botnet (with `--botnet`).
    #[arg(long, default_value_t = 0.1, value_parser = parse_share, value_name = "P")]
    pub botnet_share: f64,
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
            carpet_bomb: self.carpet_bomb,
            carpet_share: if self.carpet_bomb.is_some() {
                self.carpet_share
            } else {
                0.0
            },
            botnet_prefixes: self.botnet,
            botnet_share: if self.botnet > 0 {
                self.botnet_share
            } else {
                0.0
            },
            rate: self.rate,
            start_unix: self.start,
            snaplen: self.snaplen,
            top: self.top,
        }
    }
}

impl MonitorArgs {
    pub(super) fn monitor_config(&self) -> MonitorConfig {
        self.count.monitor_config()
    }

    /// How frames are decoded.
    pub fn decode_options(&self) -> DecodeOptions {
        self.count.decode_options()
    }

    fn sink_config(&self) -> SinkConfig {
        SinkConfig {
            snapshot_dir: self.snapshot_dir.clone(),
            keep: self.keep,
            keep_age: self.keep_age,
            export_dir: self.export_dir.clone(),
            export_roll: Some(self.export_roll),
            listen: self.listen,
            quiet: self.quiet,
            prom_top: self.prom_top,
            stall_timeout: Some(self.stall_timeout),
            api_history: Some(self.api_history),
            durability: Default::default(),
            tap: None,
            sensor: self.sensor.clone().unwrap_or_else(host_name),
        }
    }
}

impl CountArgs {
    pub(super) fn monitor_config(&self) -> MonitorConfig {
        MonitorConfig {
            interval_secs: self.interval.as_secs(),
            top: self.top,
            exact: self.exact,
            sketch_bytes: self.sketch_kib.saturating_mul(1024),
            hll_lg_k: self.hll_lg_k,
            window_secs: self.window.map(|window| window.as_secs()),
            distinct: true,
            workers: usize::from(self.workers),
            fan_sketches: self.fan_sketches,
            // Both lists were checked by their value parsers.
            prefix_lengths: PrefixLengths::new(&self.ipv4_prefixes.0, &self.ipv6_prefixes.0)
                .unwrap_or_default(),
            hierarchical_share: self.hhh_share,
        }
    }

    /// How frames are decoded.
    pub fn decode_options(&self) -> DecodeOptions {
        DecodeOptions { decap: self.decap }
    }
}

impl LiveArgs {
    /// The flags given, by name (what `top` refuses without an interface).
    pub(super) fn given(&self) -> Vec<&'static str> {
        let flags = [
            ("--snaplen", self.snaplen.is_some()),
            ("--no-promiscuous", self.no_promiscuous),
            ("--buffer-mib", self.buffer_mib.is_some()),
            ("--immediate", self.immediate),
            ("--filter", self.filter.is_some()),
        ];
        flags
            .into_iter()
            .filter_map(|(flag, given)| given.then_some(flag))
            .collect()
    }

    /// The capture of `interface` these flags describe, filtered by `filter` (the trailing
    /// words of `capture`, which cannot come with `--filter`) or else by `--filter`.
    fn live_config(&self, interface: &str, filter: Option<String>) -> LiveConfig {
        LiveConfig {
            interface: interface.to_owned(),
            snaplen: self.snaplen.unwrap_or(DEFAULT_SNAPLEN),
            promiscuous: !self.no_promiscuous,
            buffer_bytes: self.buffer_mib.map_or(DEFAULT_BUFFER_BYTES, |mib| {
                usize::try_from(mib << 20).unwrap_or(usize::MAX)
            }),
            immediate: self.immediate,
            filter: filter.or_else(|| self.filter.clone()),
        }
    }
}

impl TopArgs {
    /// What `hhmon top` watches. The engine's own outputs stay off (no table, snapshots or
    /// listener): the view is the output.
    pub fn config(&self) -> TopConfig {
        let sinks = SinkConfig {
            quiet: true,
            ..SinkConfig::default()
        };
        let decode = self.count.decode_options();
        let monitor = self.count.monitor_config();
        let source = if let Some(address) = &self.connect {
            TopSource::Connect(address.clone())
        } else if let Some(interface) = &self.interface {
            TopSource::Live(CaptureConfig {
                capture: self.live.live_config(interface, None),
                readers: 1,
                user: None,
                decode,
                monitor,
                sinks,
            })
        } else {
            TopSource::Files(ReplayConfig {
                files: self.files.clone(),
                speed: None,
                decode,
                monitor,
                sinks,
            })
        };
        TopConfig { source }
    }
}

impl CaptureArgs {
    /// The capture these flags describe.
    pub fn config(&self) -> CaptureConfig {
        let expression = (!self.expression.is_empty()).then(|| self.expression.join(" "));
        CaptureConfig {
            capture: self.live.live_config(&self.interface, expression),
            readers: usize::from(self.readers),
            user: self.user.clone(),
            decode: self.monitor.decode_options(),
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
            decode: self.monitor.decode_options(),
            monitor: self.monitor.monitor_config(),
            sinks: self.monitor.sink_config(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{capture, generate, replay};
    use super::super::{Cli, Command};
    use super::*;
    use clap::Parser;

    #[test]
    fn capture_defaults_suit_a_tap_port() {
        let config = capture(&["-i", "eth0"]).unwrap();
        assert_eq!(config.capture, LiveConfig::new("eth0"));
        assert_eq!(config.readers, 1);
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
            "--readers",
            "3",
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
        assert_eq!(config.readers, 3);
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
            (&["-i", "eth0", "--readers", "0"][..], "--readers"),
            (&["-i", "eth0", "--readers", "65"][..], "--readers"),
            (&["-i", "eth0", "--interval", "0s"][..], "--interval"),
        ] {
            let error = capture(args).unwrap_err().to_string();
            assert!(error.contains(flag), "{args:?}: {error}");
        }
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
            "--carpet-bomb",
            "2001:db8:7::/48",
            "--carpet-share",
            "0.0625",
            "--botnet",
            "3",
            "--botnet-share",
            "0.03125",
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
                carpet_bomb: Some("2001:db8:7::/48".parse().unwrap()),
                carpet_share: 0.0625,
                botnet_prefixes: 3,
                botnet_share: 0.03125,
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
            (&["--carpet-bomb", "203.0.113.1/24"][..], "--carpet-bomb"),
            (&["--carpet-share", "0.5"][..], "--carpet-bomb"),
            (&["--botnet", "513"][..], "--botnet"),
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
        assert_eq!(config.monitor.window_secs, None);
        assert!(config.monitor.distinct);
        assert_eq!(
            config.monitor.hierarchical_share,
            DEFAULT_HIERARCHICAL_SHARE
        );
        assert_eq!(config.decode, DecodeOptions { decap: false });
        assert_eq!(
            config.sinks,
            SinkConfig {
                prom_top: 10,
                stall_timeout: Some(Duration::from_secs(30)),
                api_history: Some(60),
                export_roll: Some(Duration::from_secs(3600)),
                sensor: super::super::parse::host_name(),
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
            "--keep-age",
            "2h",
            "--stall-timeout",
            "5s",
            "--listen",
            "127.0.0.1:9750",
            "--prom-top",
            "4",
            "--api-history",
            "7",
            "--quiet",
            "--exact",
            "--sketch-kib",
            "64",
            "--hll-lg-k",
            "14",
            "--workers",
            "3",
            "--window",
            "2h",
            "--speed",
            "2.5",
            "--decap",
            "--hhh-share",
            "0.03",
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
        assert_eq!(config.monitor.workers, 3);
        assert!(config.monitor.distinct);
        assert_eq!(config.monitor.hierarchical_share, 0.03);
        assert_eq!(config.decode, DecodeOptions { decap: true });
        assert_eq!(config.sinks.snapshot_dir, Some(PathBuf::from("/tmp/s")));
        assert_eq!(config.sinks.keep, Some(3));
        assert_eq!(config.sinks.keep_age, Some(Duration::from_secs(7200)));
        assert_eq!(config.sinks.stall_timeout, Some(Duration::from_secs(5)));
        assert_eq!(config.sinks.listen, Some("127.0.0.1:9750".parse().unwrap()));
        assert_eq!(config.sinks.prom_top, 4);
        assert_eq!(config.sinks.api_history, Some(7));
        assert!(config.sinks.quiet);
    }

    #[test]
    fn bad_values_are_rejected_with_the_flag_named() {
        for (args, flag) in [
            (&["--interval", "500ms", "a"][..], "--interval"),
            (&["--interval", "0s", "a"][..], "--interval"),
            (&["--keep", "3", "a"][..], "--snapshot-dir"),
            (&["--listen", "nowhere", "a"][..], "--listen"),
            (&["--listen", "70000", "a"][..], "--listen"),
            (&["--keep-age", "1d", "a"][..], "--snapshot-dir"),
            (&["--stall-timeout", "0s", "a"][..], "--stall-timeout"),
            (&["--api-history", "0", "a"][..], "--api-history"),
            (&["--api-history", "10001", "a"][..], "--api-history"),
            (&["--api-history", "x", "a"][..], "--api-history"),
            (&["--hll-lg-k", "30", "a"][..], "--hll-lg-k"),
            (&["--window", "90ms", "a"][..], "--window"),
            (&["--window", "0s", "a"][..], "--window"),
            (&["--speed", "0", "a"][..], "--speed"),
            (&["--speed=-1", "a"][..], "--speed"),
            (&["--speed", "inf", "a"][..], "--speed"),
            (&["--speed", "NaN", "a"][..], "--speed"),
            (&["--hhh-share", "0", "a"][..], "--hhh-share"),
            (&["--hhh-share=-0.05", "a"][..], "--hhh-share"),
            (&["--hhh-share", "1.5", "a"][..], "--hhh-share"),
            (&["--hhh-share", "NaN", "a"][..], "--hhh-share"),
            (&["--hhh-share", "5", "a"][..], "--hhh-share"),
            (&[][..], "FILE"),
        ] {
            let error = replay(args).unwrap_err().to_string();
            assert!(error.contains(flag), "{args:?}: {error}");
        }
    }

    #[test]
    fn merge_takes_snapshots_an_output_a_top_and_a_share() {
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
                hierarchical_share: None,
            }
        );
        let config = parse(&["--out", "m.json", "--top", "5", "a.json"]).unwrap();
        assert_eq!(config.out, Some(PathBuf::from("m.json")));
        assert_eq!(config.top, 5);
        let config = parse(&["--hhh-share", "3%", "a.json"]).unwrap();
        assert_eq!(config.hierarchical_share, Some(0.03));
        let error = parse(&[]).unwrap_err().to_string();
        assert!(error.contains("SNAPSHOT"), "{error}");
        for bad in ["0", "1.01", "NaN"] {
            let error = parse(&["--hhh-share", bad, "a.json"])
                .unwrap_err()
                .to_string();
            assert!(error.contains("--hhh-share"), "{bad}: {error}");
        }
    }

    fn top(args: &[&str]) -> Result<TopConfig, clap::Error> {
        let cli = Cli::try_parse_from(["hhmon", "top"].iter().chain(args))?;
        let Command::Top(args) = cli.command else {
            panic!("not top: {:?}", cli.command);
        };
        Ok(args.config())
    }

    #[test]
    fn top_watches_exactly_one_of_a_server_an_interface_and_files() {
        let config = top(&["--connect", "9750"]).unwrap();
        assert_eq!(config.source, TopSource::Connect("127.0.0.1:9750".into()));
        let TopSource::Live(live) = top(&["-i", "eth1", "--filter", "tcp", "--top", "5"])
            .unwrap()
            .source
        else {
            panic!("not live");
        };
        assert_eq!(live.capture.interface, "eth1");
        assert_eq!(live.capture.filter.as_deref(), Some("tcp"));
        assert_eq!(live.monitor.top, 5);
        assert_eq!((live.readers, live.user), (1, None));
        let TopSource::Files(files) = top(&["--interval", "1m", "a.pcap", "b.pcap"])
            .unwrap()
            .source
        else {
            panic!("not files");
        };
        assert_eq!(files.files.len(), 2);
        assert_eq!(files.monitor.interval_secs, 60);
        assert_eq!(files.speed, None);
        // The view is the output: no table, no snapshots, no listener.
        assert_eq!(
            files.sinks,
            SinkConfig {
                quiet: true,
                ..SinkConfig::default()
            }
        );
        for args in [
            &[][..],
            &["--connect", "9750", "-i", "eth0"],
            &["-i", "eth0", "a.pcap"],
            &["--connect", "9750", "a.pcap"],
            &["--connect", "nowhere"],
            &["--connect", "9750", "--interval", "1m"],
            &["--connect", "9750", "--decap"],
            &["--connect", "9750", "--hhh-share", "0.03"],
        ] {
            assert!(top(args).is_err(), "{args:?}");
        }
        let checked = |args: &[&str]| Cli::parse_with_config(["hhmon", "top"].iter().chain(args));
        let error = checked(&["--snaplen", "128", "--immediate", "a.pcap"]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "--snaplen and --immediate: only with --interface"
        );
        assert!(checked(&["--connect", "1", "--filter", "tcp"]).is_err());
        assert!(checked(&["-i", "eth0", "--snaplen", "128", "--filter", "tcp"]).is_ok());
    }

    #[test]
    fn the_capture_help_tells_the_live_defaults() {
        use clap::CommandFactory;
        let help = Cli::command()
            .find_subcommand_mut("capture")
            .unwrap()
            .render_help()
            .to_string();
        let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
        for default in [
            format!("grow. Default {DEFAULT_SNAPLEN} "),
            format!("busy. Default {} ", DEFAULT_BUFFER_BYTES >> 20),
        ] {
            assert!(help.contains(&default), "{default}: {help}");
        }
    }
}
