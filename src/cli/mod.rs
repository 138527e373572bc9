//! The command line: flags defined once with clap (their doc comments are the help text),
//! validated into the library's configuration types. Its only I/O is reading the `--config`
//! file, whose keys become flags parsed by the same definitions (see [`crate::config`]).
//! The flags are checked here, alone and against each other, before any file is opened or
//! thread started; the rules of a combination stay with the configuration type they concern,
//! and this module must not know how the configuration is carried out.
//!
//! The rooms: `args` (each subcommand's flags and their configuration), `parse` (single values),
//! `validate` (flags against each other, [`Conflict`]) and `origin` (the config file's part in
//! a command line). This file holds the command and its one entry, [`Cli::parse_with_config`].

mod args;
mod origin;
mod parse;
mod validate;

pub use args::{
    CaptureArgs, CollectArgs, CountArgs, GenerateArgs, LiveArgs, MergeArgs, MonitorArgs,
    PrefixLengthList, ReplayArgs, TopArgs,
};
pub use validate::Conflict;

use crate::config::{self, ConfigFile};
use clap::{Parser, Subcommand};
use origin::{config_path, Origin};
use std::ffi::OsString;

/// What the exit status says, for `--help` ([`crate::app::Status`]).
const EXIT_STATUS: &str = "Exit status: 0 when every input was read; 1 when nothing could be \
read or hhmon could not start; 2 when some inputs could not be read (each is reported, the \
others are counted), or for a bad command line or configuration file.";

/// `hhmon top`'s keys, for its `--help`.
const TOP_KEYS: &str = "Keys: p / b rank by packets / bytes; tab or 1 2 3 focus flows, sources, \
destinations; space pauses; \u{2190} / \u{2192} step through older and newer intervals; q, Esc or \
Ctrl-C quits.";

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
    /// Collect flow telemetry (sFlow v5, NetFlow v5/v9, IPFIX) from routers and switches on
    /// UDP until SIGINT or SIGTERM, or from capture files of their export datagrams.
    #[command(after_help = EXIT_STATUS)]
    Collect(CollectArgs),
    /// Merge JSON snapshots (intervals of one sensor, or one interval of several sensors) into
    /// one view: distinct counts from the union of their sketches, top lists and totals summed.
    Merge(MergeArgs),
    /// Write a deterministic synthetic capture (Zipf flows, frame-size mix, IPv6, optional
    /// fan-in attack and scanner) and, optionally, its exact counts as JSON.
    Generate(GenerateArgs),
    /// A live terminal view of the heavy hitters, refreshed every interval: of a running hhmon
    /// (`--connect`), of an interface (`-i`), or of capture files (held until `q`). Plain
    /// lines when standard output is not a terminal.
    #[command(after_help = TOP_KEYS)]
    Top(TopArgs),
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::capture::CaptureConfig;
    use crate::app::replay::ReplayConfig;
    use crate::synth::SynthConfig;
    use clap::CommandFactory;
    use std::path::PathBuf;

    pub(super) fn replay(args: &[&str]) -> Result<ReplayConfig, clap::Error> {
        let cli = Cli::try_parse_from(["hhmon", "replay"].iter().chain(args))?;
        let Command::Replay(args) = cli.command else {
            panic!("parsed as another command");
        };
        Ok(args.config())
    }

    pub(super) fn capture(args: &[&str]) -> Result<CaptureConfig, clap::Error> {
        let cli = Cli::try_parse_from(["hhmon", "capture"].iter().chain(args))?;
        let Command::Capture(args) = cli.command else {
            panic!("parsed as another command");
        };
        Ok(args.config())
    }

    pub(super) fn generate(args: &[&str]) -> Result<(SynthConfig, GenerateArgs), clap::Error> {
        let cli = Cli::try_parse_from(["hhmon", "generate"].iter().chain(args))?;
        let Command::Generate(args) = cli.command else {
            panic!("not a generate");
        };
        Ok((args.config(), args))
    }

    /// Parses `hhmon replay <args>` with a config file holding `toml`.
    pub(super) fn with_config(toml: &str, args: &[&str]) -> Result<ReplayConfig, Error> {
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

    #[test]
    fn the_hhh_share_key_takes_a_fraction_or_a_percentage_and_is_named_when_bad() {
        for toml in ["hhh_share = 0.03", "hhh_share = \"3%\""] {
            let config = with_config(toml, &["a.pcap"]).unwrap();
            assert_eq!(config.monitor.hierarchical_share, 0.03, "{toml}");
        }
        let typed = with_config("hhh_share = 0.03", &["--hhh-share", "0.1", "a.pcap"]);
        assert_eq!(typed.unwrap().monitor.hierarchical_share, 0.1);
        for toml in ["hhh_share = 0", "hhh_share = 1.5", "hhh_share = -0.05"] {
            let error = with_config(toml, &["a.pcap"]).unwrap_err();
            assert!(matches!(error, Error::Config(_)), "{toml}: {error:?}");
            let text = error.to_string();
            assert!(
                text.contains("`hhh_share`") && text.contains("above 0 and at most 1"),
                "{toml}: {text}"
            );
        }
    }

    /// A subcommand's configuration, whichever it is.
    #[derive(Debug, PartialEq)]
    enum Parsed {
        Replay(ReplayConfig),
        Capture(CaptureConfig),
        Collect(crate::app::collect::CollectConfig),
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
            Command::Collect(args) => Parsed::Collect(args.config()),
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
        ("export_dir", "\"/e\"", Some("/e")),
        ("export_roll", "\"10m\"", Some("10m")),
        ("sflow_listen", "\"6343\"", Some("6343")),
        (
            "netflow_listen",
            "\"127.0.0.1:2055,4739\"",
            Some("127.0.0.1:2055,4739"),
        ),
        ("listen", "9751", Some("9751")),
        ("stall_timeout", "\"5s\"", Some("5s")),
        ("prom_top", "4", Some("4")),
        ("api_history", "7", Some("7")),
        ("sensor", "\"edge-1\"", Some("edge-1")),
        ("quiet", "true", None),
        ("exact", "true", None),
        ("sketch_kib", "64", Some("64")),
        ("hll_lg_k", "14", Some("14")),
        ("workers", "3", Some("3")),
        ("window", "\"2h\"", Some("2h")),
        ("decap", "true", None),
        ("fan_sketches", "true", None),
        ("ipv4_prefixes", "\"16,24\"", Some("16,24")),
        ("ipv6_prefixes", "\"none\"", Some("none")),
        ("hhh_share", "0.03", Some("0.03")),
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
        let context = [
            ("snapshot_dir", "\"/ctx\""),
            ("export_dir", "\"/ctx-export\""),
            ("interface", "\"eth0\""),
        ];
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
            "collect netflow_listen",
            "replay hhh_share",
            "capture hhh_share",
        ] {
            assert!(checked.iter().any(|c| c == expected), "{checked:?}");
        }
        assert_eq!(checked.len(), 24 + 31 + 25, "{checked:?}");
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
