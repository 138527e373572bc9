//! The command line: flags defined once with clap (their doc comments are the help text),
//! validated into the library's configuration types. Its only I/O is reading the `--config`
//! file, whose keys become flags parsed by the same definitions (see [`crate::config`]).
//! The flags are checked here, alone and against each other, before any file is opened or
//! thread started; the rules of a combination stay with the configuration type they concern,
//! and this module must not know how the configuration is carried out.

use crate::app::capture::CaptureConfig;
use crate::app::replay::ReplayConfig;
use crate::capture::{LiveConfig, DEFAULT_BUFFER_BYTES, DEFAULT_SNAPLEN, MAX_READERS};
use crate::config::{self, ConfigFile};
use crate::decode::DecodeOptions;
use crate::engine::SinkConfig;
use crate::merge::MergeConfig;
use crate::monitor::{ConfigError, MonitorConfig, DEFAULT_SKETCH_BYTES, MAX_WORKERS};
use crate::sketch::hll::DEFAULT_LG_K;
use crate::synth::SynthConfig;
use clap::error::{ContextKind, ContextValue};
use clap::{Args, CommandFactory, Parser, Subcommand};
use std::ffi::OsString;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// What the exit status says, for `--help` ([`crate::app::Status`]).
const EXIT_STATUS: &str = "Exit status: 0 when every input was read; 1 when nothing could be \
read or hhmon could not start; 2 when some inputs could not be read (each is reported, the \
others are counted), or for a bad command line or configuration file.";

/// hhmon: heavy hitters and distinct sources of network traffic, per interval.
// `args_override_self`: the config file's flags go first and a flag typed again replaces them.
#[derive(Debug, Parser)]
#[command(
    name = "hhmon",
    version,
    about,
    args_override_self = true,
    after_help = EXIT_STATUS
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Replay pcap/pcapng capture files (`-` for standard input) through the monitor.
    #[command(after_help = EXIT_STATUS)]
    Replay(ReplayArgs),
    /// Capture live on a network interface until SIGINT or SIGTERM.
    Capture(CaptureArgs),
    /// Merge JSON snapshots (intervals of one sensor, or one interval of several sensors) into
    /// one view: distinct counts from the union of their sketches, top lists and totals summed.
    Merge(MergeArgs),
    /// Write a deterministic synthetic capture (Zipf flows, frame-size mix, IPv6, optional
    /// fan-in attack and scanner) and, optionally, its exact counts as JSON.
    Generate(GenerateArgs),
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
    #[arg(long, value_name = "X", value_parser = parse_speed)]
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
    /// Remove snapshots of intervals that started more than this before the newest one
    /// (packet time, e.g. `7d`).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "snapshot_dir")]
    pub keep_age: Option<Duration>,
    /// Serve Prometheus metrics at /metrics and a health check at /healthz on this address
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
    /// Threads that count the views, each owning the flows and addresses that hash to it
    /// (1: the packet thread counts everything). The sketch memory is shared among them.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=MAX_WORKERS as i64), value_name = "N")]
    pub workers: u16,
    /// Also report distinct sources over a rolling window of this length (e.g. `1h`), a whole
    /// multiple of the interval: the exact union of the last window/interval interval sketches.
    #[arg(long, value_parser = parse_whole_seconds, value_name = "DURATION")]
    pub window: Option<Duration>,
    /// Read options from this TOML file: its keys are this command's long flags in snake_case
    /// (`snapshot_dir = "/var/lib/hhmon"`, `quiet = true`); flags on the command line win over
    /// the file, and keys that only another command has are ignored.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Count tunnelled packets under their innermost IP flow (IP-in-IP, 6in4, GRE, ERSPAN,
    /// VXLAN, GENEVE, GTP-U, L2TPv2, Teredo) instead of the outer header the wire carries.
    #[arg(long)]
    pub decap: bool,
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

fn parse_speed(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(speed) if speed.is_finite() && speed > 0.0 => Ok(speed),
        _ => Err("expected a finite number above 0".into()),
    }
}

fn parse_exponent(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(exponent) if exponent.is_finite() && exponent >= 0.0 => Ok(exponent),
        _ => Err("expected a finite number >= 0".into()),
    }
}

/// Why the command line cannot be used. Each is a usage error (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line itself; clap's error prints usage and knows its exit code.
    #[error(transparent)]
    Command(#[from] clap::Error),
    /// The `--config` file.
    #[error(transparent)]
    Config(#[from] config::Error),
    /// Flags that are each valid but not together.
    #[error(transparent)]
    Conflict(#[from] Conflict),
}

/// Flags that are each valid but cannot be used together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {reason}", join(flags))]
pub struct Conflict {
    /// The flags involved (`--window`), each followed by the config file key that set it, if
    /// the file alone did.
    pub flags: Vec<String>,
    /// What is wrong, in the words of the rule that refused it.
    pub reason: String,
}

/// `a`, `a and b`, `a, b and c`.
fn join(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

impl Conflict {
    fn new(flags: &[&str], reason: impl std::fmt::Display) -> Self {
        Self {
            flags: flags.iter().map(|flag| (*flag).to_owned()).collect(),
            reason: reason.to_string(),
        }
    }
}

impl Cli {
    /// Parses `args` (the program name first) and [validates](Cli::validate) them. When they
    /// name a `--config` file, its flags are placed ahead of the typed ones (right after the
    /// subcommand), so that typed flags win and the file may supply what the command line
    /// requires.
    ///
    /// # Errors
    ///
    /// [`Error::Command`] for a bad command line (including `--help` and `--version`, which
    /// clap reports as errors to print), [`Error::Config`] for a config file that cannot be
    /// read, is not valid, or holds a value its flag rejects, [`Error::Conflict`] for flags
    /// that cannot be used together.
    pub fn parse_with_config<I, T>(args: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString>,
    {
        let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        // hhmon has no options before the subcommand, so it is always the first argument.
        let split = args.len().min(2);
        let subcommand = args
            .get(1)
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let typed = &args[split..];
        let file = match config_path(typed) {
            Some(path) if split == 2 => Some(ConfigFile::load(&path)?),
            _ => None,
        };
        let from_file = file
            .as_ref()
            .map(|file| file.args(&subcommand))
            .unwrap_or_default();
        let origin = Origin {
            file: file.as_ref(),
            from_file: &from_file,
            typed,
            subcommand: &subcommand,
        };
        let merged = args[..split].iter().chain(&from_file).chain(typed).cloned();
        let cli = Self::try_parse_from(merged).map_err(|error| origin.blame(error))?;
        cli.validate()
            .map_err(|conflict| origin.annotate(conflict))?;
        Ok(cli)
    }

    /// Checks the flags against each other, by the rules of the configuration they describe
    /// (one flag alone is checked by its parser).
    ///
    /// # Errors
    ///
    /// The first [`Conflict`] found.
    pub fn validate(&self) -> Result<(), Conflict> {
        match &self.command {
            Command::Replay(args) => args.monitor.validate(),
            Command::Capture(args) => args.monitor.validate(),
            Command::Generate(args) => args.config().validate().map_err(|error| {
                let reason = match error {
                    crate::synth::Error::Config(reason) => reason.to_owned(),
                    other => other.to_string(),
                };
                // Each of these is range-checked by its parser: what is left is how they add up.
                Conflict::new(&["--flows", "--attack", "--scan"], reason)
            }),
            Command::Merge(_) => Ok(()),
        }
    }
}

/// Where each flag of a parsed command line came from: the config file or the typed arguments.
struct Origin<'a> {
    file: Option<&'a ConfigFile>,
    from_file: &'a [OsString],
    typed: &'a [OsString],
    subcommand: &'a str,
}

impl Origin<'_> {
    /// The file and key that set the flag `--long`, when the file did and no typed flag
    /// replaced it.
    fn file_only(&self, long: &str) -> Option<(&std::path::Path, &str)> {
        let file = self.file?;
        let flag = format!("--{long}");
        let with_value = format!("{flag}=");
        let spells = |arg: &OsString| {
            let arg = arg.to_string_lossy();
            arg == flag || arg.starts_with(&with_value)
        };
        let short = Cli::command()
            .find_subcommand(self.subcommand)
            .and_then(|sub| sub.get_arguments().find(|arg| arg.get_long() == Some(long)))
            .and_then(|arg| arg.get_short())
            .map(|short| format!("-{short}"));
        let typed = self.typed.iter().take_while(|arg| *arg != "--").any(|arg| {
            spells(arg)
                || short.as_ref().is_some_and(|short| {
                    let arg = arg.to_string_lossy();
                    !arg.starts_with("--") && arg.starts_with(short.as_str())
                })
        });
        if typed || !self.from_file.iter().any(spells) {
            return None;
        }
        Some((file.path(), file.key_of(long)?))
    }

    /// clap's `error`, blamed on the file when the flag it names was set by the file alone.
    fn blame(&self, error: clap::Error) -> Error {
        let culprit = error
            .get(ContextKind::InvalidArg)
            .and_then(|arg| match arg {
                ContextValue::String(arg) => arg.split_whitespace().next(),
                _ => None,
            })
            .and_then(|flag| flag.strip_prefix("--"))
            .and_then(|long| self.file_only(long));
        match culprit {
            Some((path, key)) => config::Error::Invalid {
                path: path.to_path_buf(),
                key: key.to_owned(),
                message: clap_message(&error),
            }
            .into(),
            None => error.into(),
        }
    }

    /// `conflict` with the config file key of each flag the file alone set.
    fn annotate(&self, conflict: Conflict) -> Error {
        let flags = conflict
            .flags
            .into_iter()
            .map(|flag| {
                match flag
                    .strip_prefix("--")
                    .and_then(|long| self.file_only(long))
                {
                    Some((path, key)) => {
                        format!("{flag} (key `{key}` of config file {})", path.display())
                    }
                    None => flag,
                }
            })
            .collect();
        Conflict {
            flags,
            reason: conflict.reason,
        }
        .into()
    }
}

/// The value of the first `--config FILE` or `--config=FILE` before a `--`.
fn config_path(args: &[OsString]) -> Option<PathBuf> {
    let mut args = args.iter().take_while(|arg| *arg != "--");
    while let Some(arg) = args.next() {
        if arg == "--config" {
            return args.next().map(PathBuf::from);
        }
        if let Some(path) = arg.to_str().and_then(|arg| arg.strip_prefix("--config=")) {
            return Some(PathBuf::from(path));
        }
    }
    None
}

/// clap's complaint on one line, without its `error:` prefix and usage hints.
fn clap_message(error: &clap::Error) -> String {
    let rendered = error.render().to_string();
    let complaint = rendered
        .split("\n\n")
        .next()
        .unwrap_or_default()
        .trim_start_matches("error: ");
    complaint.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| e.to_string())
}

fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    let duration = parse_duration(text)?;
    if duration.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(duration)
}

/// An address, or a bare port on 127.0.0.1: metrics stay on loopback unless asked otherwise.
fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    }
    text.parse()
        .map_err(|_| "expected ADDRESS:PORT (e.g. 127.0.0.1:9750) or a port".to_owned())
}

fn parse_whole_seconds(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if duration.as_secs() == 0 || duration.subsec_nanos() != 0 {
        return Err("must be a whole number of seconds, at least 1s".into());
    }
    Ok(duration)
}

impl MonitorArgs {
    /// The flags against each other, by [`MonitorConfig::validate`].
    fn validate(&self) -> Result<(), Conflict> {
        self.monitor_config().validate().map_err(|error| {
            let flags: &[&str] = match error {
                ConfigError::WindowNotMultiple { .. } => &["--window", "--interval"],
                ConfigError::WindowTooLarge { .. } => &["--window", "--interval", "--hll-lg-k"],
            };
            Conflict::new(flags, error)
        })
    }

    fn monitor_config(&self) -> MonitorConfig {
        MonitorConfig {
            interval_secs: self.interval.as_secs(),
            top: self.top,
            exact: self.exact,
            sketch_bytes: self.sketch_kib.saturating_mul(1024),
            hll_lg_k: self.hll_lg_k,
            window_secs: self.window.map(|window| window.as_secs()),
            distinct: true,
            workers: usize::from(self.workers),
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
            keep_age: self.keep_age,
            listen: self.listen,
            quiet: self.quiet,
            prom_top: self.prom_top,
            stall_timeout: Some(self.stall_timeout),
            durability: Default::default(),
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
        assert_eq!(config.monitor.window_secs, None);
        assert!(config.monitor.distinct);
        assert_eq!(config.decode, DecodeOptions { decap: false });
        assert_eq!(
            config.sinks,
            SinkConfig {
                prom_top: 10,
                stall_timeout: Some(Duration::from_secs(30)),
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
        assert_eq!(config.decode, DecodeOptions { decap: true });
        assert_eq!(config.sinks.snapshot_dir, Some(PathBuf::from("/tmp/s")));
        assert_eq!(config.sinks.keep, Some(3));
        assert_eq!(config.sinks.keep_age, Some(Duration::from_secs(7200)));
        assert_eq!(config.sinks.stall_timeout, Some(Duration::from_secs(5)));
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
            (&["--listen", "70000", "a"][..], "--listen"),
            (&["--keep-age", "1d", "a"][..], "--snapshot-dir"),
            (&["--stall-timeout", "0s", "a"][..], "--stall-timeout"),
            (&["--hll-lg-k", "30", "a"][..], "--hll-lg-k"),
            (&["--window", "90ms", "a"][..], "--window"),
            (&["--window", "0s", "a"][..], "--window"),
            (&["--speed", "0", "a"][..], "--speed"),
            (&["--speed=-1", "a"][..], "--speed"),
            (&["--speed", "inf", "a"][..], "--speed"),
            (&["--speed", "NaN", "a"][..], "--speed"),
            (&[][..], "FILE"),
        ] {
            let error = replay(args).unwrap_err().to_string();
            assert!(error.contains(flag), "{args:?}: {error}");
        }
    }

    #[test]
    fn a_bare_port_listens_on_loopback() {
        let config = replay(&["--listen", "9750", "a"]).unwrap();
        assert_eq!(config.sinks.listen, Some("127.0.0.1:9750".parse().unwrap()));
        let config = replay(&["--listen", "[::]:9750", "a"]).unwrap();
        assert_eq!(config.sinks.listen, Some("[::]:9750".parse().unwrap()));
    }

    /// Parses `hhmon replay <args>` with a config file holding `toml`.
    fn with_config(toml: &str, args: &[&str]) -> Result<ReplayConfig, Error> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hhmon.toml");
        std::fs::write(&path, toml).unwrap();
        let path = path.to_str().unwrap();
        let argv = ["hhmon", "replay", "--config", path]
            .into_iter()
            .chain(args.iter().copied());
        let cli = Cli::parse_with_config(argv)?;
        let Command::Replay(args) = cli.command else {
            panic!("parsed as replay");
        };
        Ok(args.config())
    }

    #[test]
    fn the_config_file_sets_options_and_typed_flags_win() {
        let toml = r#"
            interval = "1m"
            top = 7
            listen = 9751
            snapshot_dir = "/var/lib/hhmon"
            keep = 5
            quiet = true
            hll_lg_k = 14
            interface = "eth0"
        "#;
        let config = with_config(toml, &["a.pcap"]).unwrap();
        assert_eq!(config.files, [PathBuf::from("a.pcap")]);
        assert_eq!(config.monitor.interval_secs, 60);
        assert_eq!(config.monitor.top, 7);
        assert_eq!(config.monitor.hll_lg_k, 14);
        assert_eq!(config.sinks.listen, Some("127.0.0.1:9751".parse().unwrap()));
        assert_eq!(config.sinks.snapshot_dir, Some("/var/lib/hhmon".into()));
        assert_eq!(config.sinks.keep, Some(5));
        assert!(config.sinks.quiet);
        // Unset keys keep their defaults.
        assert_eq!(config.sinks.prom_top, 10);

        // `--keep` requires `--snapshot-dir`, which only the file gives.
        let typed = ["--top", "3", "a.pcap", "--interval=5s", "--keep", "9"];
        let config = with_config(toml, &typed).unwrap();
        assert_eq!(config.monitor.top, 3);
        assert_eq!(config.monitor.interval_secs, 5);
        assert_eq!(config.sinks.keep, Some(9));
        assert_eq!(config.monitor.hll_lg_k, 14);
    }

    #[test]
    fn config_file_errors_name_the_file_and_the_key_or_flag() {
        for (toml, key, named) in [
            ("interval = \"10s\"\nsnaplenn = 5", "snaplenn", "not a flag"),
            ("snapshot-dir = \"/tmp\"", "snapshot-dir", "snapshot_dir"),
            ("quiet = 1", "quiet", "--quiet"),
            ("interval = \"500ms\"", "interval", "--interval"),
            ("hll_lg_k = 30", "hll_lg_k", "--hll-lg-k"),
            ("listen = \"nowhere\"", "listen", "--listen"),
            ("top = \"many\"", "top", "--top"),
            ("top = -1", "top", "--top"),
            ("speed = 0", "speed", "--speed"),
            ("speed = nan", "speed", "--speed"),
        ] {
            let error = with_config(toml, &["a.pcap"]).unwrap_err();
            assert!(matches!(error, Error::Config(_)), "{toml}: {error:?}");
            let message = error.to_string();
            assert!(message.contains("hhmon.toml"), "{toml}: {message}");
            assert!(message.contains(&format!("`{key}`")), "{toml}: {message}");
            assert!(message.contains(named), "{toml}: {message}");
        }
        // A requirement neither source meets is a plain usage error.
        let error = with_config("keep = 3", &["a.pcap"]).unwrap_err();
        assert!(error.to_string().contains("--snapshot-dir"), "{error}");
        // Errors in typed flags stay the command line's, even for a flag the file also sets.
        let error = with_config("top = 3", &["--top", "x", "a.pcap"]).unwrap_err();
        assert!(matches!(error, Error::Command(_)), "{error:?}");
        let error = with_config("top = 3", &["--prom-top", "x", "a.pcap"]).unwrap_err();
        assert!(matches!(error, Error::Command(_)), "{error:?}");
        let missing =
            Cli::parse_with_config(["hhmon", "replay", "--config", "/nonexistent.toml", "a"]);
        let message = missing.unwrap_err().to_string();
        assert!(
            message.contains("cannot read config file /nonexistent.toml"),
            "{message}"
        );
    }

    #[test]
    fn a_key_of_the_other_command_only_is_ignored_and_false_leaves_a_switch_off() {
        // `interface` is capture's, `speed` replay's: one file serves both.
        let toml = "interface = \"eth0\"\nspeed = 2.0\nquiet = false\nexact = true";
        let replay = with_config(toml, &["a.pcap"]).unwrap();
        assert_eq!(replay.speed, Some(2.0));
        assert!(!replay.sinks.quiet);
        assert!(replay.monitor.exact);
        let capture = parse_with_file("capture", toml, &[]).unwrap();
        let Parsed::Capture(capture) = capture else {
            panic!("parsed as capture");
        };
        assert_eq!(capture.capture.interface, "eth0");
        assert!(!capture.sinks.quiet);
        assert!(capture.monitor.exact);
    }

    /// A subcommand's configuration, whichever it is.
    #[derive(Debug, PartialEq)]
    enum Parsed {
        Replay(ReplayConfig),
        Capture(CaptureConfig),
    }

    /// Parses `hhmon <subcommand> --config FILE <typed>` with FILE holding `toml`.
    fn parse_with_file(subcommand: &str, toml: &str, typed: &[&str]) -> Result<Parsed, Error> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hhmon.toml");
        std::fs::write(&path, toml).unwrap();
        let argv = ["hhmon", subcommand, "--config", path.to_str().unwrap()]
            .into_iter()
            .chain(typed.iter().copied());
        Ok(match Cli::parse_with_config(argv)?.command {
            Command::Replay(args) => Parsed::Replay(args.config()),
            Command::Capture(args) => Parsed::Capture(args.config()),
            other => panic!("{other:?} reads no config file"),
        })
    }

    /// For each key, a value in TOML and the same value typed; none is the default.
    const SAMPLES: &[(&str, &str, Option<&str>)] = &[
        ("speed", "2.5", Some("2.5")),
        ("interval", "\"1m\"", Some("1m")),
        ("top", "5", Some("5")),
        ("snapshot_dir", "\"/s\"", Some("/s")),
        ("keep", "3", Some("3")),
        ("keep_age", "\"2h\"", Some("2h")),
        ("listen", "9751", Some("9751")),
        ("stall_timeout", "\"5s\"", Some("5s")),
        ("prom_top", "4", Some("4")),
        ("quiet", "true", None),
        ("exact", "true", None),
        ("sketch_kib", "64", Some("64")),
        ("hll_lg_k", "14", Some("14")),
        ("workers", "3", Some("3")),
        ("window", "\"2h\"", Some("2h")),
        ("decap", "true", None),
        ("interface", "\"veth9\"", Some("veth9")),
        ("snaplen", "512", Some("512")),
        ("no_promiscuous", "true", None),
        ("buffer_mib", "4", Some("4")),
        ("immediate", "true", None),
        ("readers", "3", Some("3")),
        ("user", "\"nobody\"", Some("nobody")),
        ("filter", "\"udp port 53\"", Some("udp port 53")),
    ];

    #[test]
    fn every_flag_of_every_command_that_reads_a_config_file_has_a_key() {
        // What `--keep` needs and `capture` requires, from the file so that a typed flag wins.
        let context = [("snapshot_dir", "\"/ctx\""), ("interface", "\"eth0\"")];
        let mut checked = Vec::new();
        for sub in Cli::command().get_subcommands() {
            if !sub.get_arguments().any(|arg| arg.get_id() == config::FLAG) {
                continue;
            }
            let name = sub.get_name();
            let positional: &[&str] = if name == "replay" { &["a.pcap"] } else { &[] };
            for arg in sub.get_arguments() {
                // Files and the BPF words are typed; the help is no option.
                let Some(long) = arg.get_long() else { continue };
                if arg.get_id() == config::FLAG || long == "help" {
                    continue;
                }
                let key = long.replace('-', "_");
                let &(_, value, typed) = SAMPLES
                    .iter()
                    .find(|sample| sample.0 == key)
                    .unwrap_or_else(|| panic!("no sample value for --{long}"));
                let file = |key_value: Option<(&str, &str)>| {
                    let lines = context
                        .iter()
                        .filter(|line| Some(line.0) != key_value.map(|kv| kv.0))
                        .chain(key_value.as_ref())
                        .map(|(key, value)| format!("{key} = {value}\n"));
                    lines.collect::<String>()
                };
                let flag = format!("--{long}");
                let mut typed_flag: Vec<&str> = vec![&flag];
                typed_flag.extend(typed);
                typed_flag.extend(positional);
                let by_file = parse_with_file(name, &file(Some((&key, value))), positional);
                let by_file = by_file.unwrap_or_else(|e| panic!("{name} {key}: {e}"));
                let by_flag = parse_with_file(name, &file(None), &typed_flag).unwrap();
                let neither = parse_with_file(name, &file(None), positional).unwrap();
                assert_eq!(by_file, by_flag, "{name} {key}");
                assert_ne!(by_file, neither, "{name} {key} changes nothing");
                checked.push(format!("{name} {key}"));
            }
        }
        for expected in [
            "replay speed",
            "replay window",
            "capture interface",
            "capture filter",
        ] {
            assert!(checked.iter().any(|c| c == expected), "{checked:?}");
        }
        assert_eq!(checked.len(), 16 + 23, "{checked:?}");
    }

    #[test]
    fn flags_that_cannot_go_together_are_refused_naming_them() {
        let parse = |args: &[&str]| Cli::parse_with_config(["hhmon"].iter().chain(args));
        let error = parse(&["replay", "--interval", "10s", "--window", "25s", "a"]).unwrap_err();
        let Error::Conflict(conflict) = &error else {
            panic!("{error:?}");
        };
        assert_eq!(conflict.flags, ["--window", "--interval"]);
        assert_eq!(
            error.to_string(),
            "--window and --interval: the window (25 s) must be a whole multiple of the \
             interval (10 s)"
        );
        let error = parse(&[
            "capture",
            "-i",
            "lo",
            "--interval=1s",
            "--window=1h",
            "--hll-lg-k=21",
        ]);
        let message = error.unwrap_err().to_string();
        assert!(
            message.starts_with("--window, --interval and --hll-lg-k: the window spans 3600"),
            "{message}"
        );
        assert!(parse(&["replay", "--interval=1s", "--window=1h", "a"]).is_ok());

        let error = parse(&["generate", "--out", "t", "--attack", "0.7", "--scan", "0.5"]);
        let message = error.unwrap_err().to_string();
        assert_eq!(
            message,
            "--flows, --attack and --scan: the attack and scan shares must add up to at most 1"
        );
        let error = parse(&["generate", "--out", "t", "--flows", "0", "--attack", "0.5"]);
        assert!(matches!(error, Err(Error::Conflict(_))), "{error:?}");
        assert!(parse(&[
            "generate",
            "--out",
            "t",
            "--flows=0",
            "--attack=0.5",
            "--scan=0.5"
        ])
        .is_ok());
    }

    #[test]
    fn a_conflict_names_the_config_key_that_set_a_flag() {
        let error = with_config("window = \"25s\"", &["a.pcap"]).unwrap_err();
        let Error::Conflict(conflict) = error else {
            panic!("{error:?}");
        };
        assert!(
            conflict.flags[0].starts_with("--window (key `window` of config file /"),
            "{conflict:?}"
        );
        assert!(conflict.flags[0].ends_with("hhmon.toml)"), "{conflict:?}");
        assert_eq!(conflict.flags[1], "--interval");
        // Typed, the flag is the command line's even if the file sets it too.
        let error = with_config("window = \"1m\"", &["--window", "25s", "a.pcap"]).unwrap_err();
        let Error::Conflict(conflict) = error else {
            panic!("{error:?}");
        };
        assert_eq!(conflict.flags, ["--window", "--interval"]);
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

    #[test]
    fn help_tells_the_exit_status() {
        for args in [&["hhmon", "--help"][..], &["hhmon", "replay", "--help"]] {
            let help = Cli::try_parse_from(args).unwrap_err().to_string();
            for status in [
                "0 when every input was read",
                "1 when nothing",
                "2 when some",
            ] {
                assert!(help.contains(status), "{args:?}: {help}");
            }
        }
    }
}
