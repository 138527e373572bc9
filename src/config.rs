//! The `--config` file: TOML whose keys are the long command-line flags in snake_case
//! (`snapshot_dir = "/var/lib/hhmon"` is `--snapshot-dir /var/lib/hhmon`).
//!
//! The file does not validate values itself: [`ConfigFile::args`] turns it back into the flags
//! it mirrors, and `cli` parses those with the same clap definitions as the command line, ahead
//! of the flags actually typed, so that typed flags win and both sources obey one set of rules.
//! This module only reads and type-checks the file; it must not know defaults or ranges.

use serde::Deserialize;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Why a config file cannot be used. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not TOML, has a key hhmon does not know, or a value of the wrong type.
    #[error("config file {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong and where (line, column, key).
        source: toml::de::Error,
    },
    /// A value is of the right type but not acceptable to the flag it sets (the message is the
    /// flag's own complaint, naming it).
    #[error("config file {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The command-line parser's message.
        message: String,
    },
}

/// The keys of a config file. Every one is optional; a missing key leaves the flag's default.
///
/// A `true` boolean sets its flag; `false` is the same as leaving the key out (the flags have
/// no negative form, so a `true` in the file cannot be undone on the command line).
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    // Options every mode shares (`cli::MonitorArgs`).
    /// `--interval`, a duration such as `"10s"`.
    pub interval: Option<String>,
    /// `--top`.
    pub top: Option<u64>,
    /// `--snapshot-dir`.
    pub snapshot_dir: Option<PathBuf>,
    /// `--keep`.
    pub keep: Option<u64>,
    /// `--keep-age`, a duration such as `"7d"`.
    pub keep_age: Option<String>,
    /// `--listen`: an address such as `"127.0.0.1:9750"`, or a bare port (loopback).
    pub listen: Option<Listen>,
    /// `--prom-top`.
    pub prom_top: Option<u64>,
    /// `--stall-timeout`, a duration such as `"30s"`.
    pub stall_timeout: Option<String>,
    /// `--quiet`.
    pub quiet: Option<bool>,
    /// `--exact`.
    pub exact: Option<bool>,
    /// `--sketch-kib`.
    pub sketch_kib: Option<u64>,
    /// `--hll-lg-k`.
    pub hll_lg_k: Option<u64>,
    /// `--workers`.
    pub workers: Option<u64>,
    /// `--window`, a duration such as `"1h"`.
    pub window: Option<String>,
    /// `--decap`.
    pub decap: Option<bool>,

    // Options of `hhmon capture` only; `hhmon replay` ignores them, so one file can serve both.
    /// `--interface`: the interface to capture on.
    pub interface: Option<String>,
    /// `--filter`: a BPF filter expression.
    pub filter: Option<String>,
    /// `--snaplen`: bytes captured of each frame.
    pub snaplen: Option<u64>,
    /// `--no-promiscuous`: leave the interface out of promiscuous mode.
    pub no_promiscuous: Option<bool>,
    /// `--buffer-mib`: the kernel capture buffer.
    pub buffer_mib: Option<u64>,
    /// `--immediate`: hand every frame over at once.
    pub immediate: Option<bool>,
    /// `--readers`: capture sockets sharing the interface, one thread each.
    pub readers: Option<u64>,
    /// `--user`: the user to run as once the capture is open.
    pub user: Option<String>,
}

/// `listen` as written: TOML has no single type for "port or address".
#[derive(Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Listen {
    /// A bare port.
    Port(u16),
    /// An address (or a port written as a string).
    Address(String),
}

impl ConfigFile {
    /// Reads and type-checks `path`.
    ///
    /// # Errors
    ///
    /// [`Error::Read`] when the file cannot be read, [`Error::Parse`] when it is not TOML, has
    /// an unknown key (named in the message) or a value of the wrong type.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| Error::Parse {
            path: path.to_path_buf(),
            source,
        })
    }

    /// The command-line flags this file stands for, for the subcommand `subcommand` (capture
    /// keys are only passed to `capture`).
    pub fn args(&self, subcommand: &str) -> Vec<OsString> {
        let mut args = Args::default();
        args.value("--interval", self.interval.as_ref());
        args.value("--top", self.top);
        args.path("--snapshot-dir", self.snapshot_dir.as_deref());
        args.value("--keep", self.keep);
        args.value("--keep-age", self.keep_age.as_ref());
        args.value(
            "--listen",
            self.listen.as_ref().map(|listen| match listen {
                Listen::Port(port) => port.to_string(),
                Listen::Address(address) => address.clone(),
            }),
        );
        args.value("--prom-top", self.prom_top);
        args.value("--stall-timeout", self.stall_timeout.as_ref());
        args.switch("--quiet", self.quiet);
        args.switch("--exact", self.exact);
        args.value("--sketch-kib", self.sketch_kib);
        args.value("--hll-lg-k", self.hll_lg_k);
        args.value("--workers", self.workers);
        args.value("--window", self.window.as_ref());
        args.switch("--decap", self.decap);
        if subcommand == "capture" {
            args.value("--interface", self.interface.as_ref());
            args.value("--filter", self.filter.as_ref());
            args.value("--snaplen", self.snaplen);
            args.switch("--no-promiscuous", self.no_promiscuous);
            args.value("--buffer-mib", self.buffer_mib);
            args.switch("--immediate", self.immediate);
            args.value("--readers", self.readers);
            args.value("--user", self.user.as_ref());
        }
        args.0
    }
}

/// Flags being assembled; `--flag=value` keeps a value that starts with `-` a value.
#[derive(Default)]
struct Args(Vec<OsString>);

impl Args {
    fn value(&mut self, flag: &str, value: Option<impl std::fmt::Display>) {
        if let Some(value) = value {
            self.0.push(format!("{flag}={value}").into());
        }
    }

    fn path(&mut self, flag: &str, path: Option<&Path>) {
        if let Some(path) = path {
            let mut arg = OsString::from(format!("{flag}="));
            arg.push(path);
            self.0.push(arg);
        }
    }

    fn switch(&mut self, flag: &str, on: Option<bool>) {
        if on == Some(true) {
            self.0.push(flag.into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ConfigFile, toml::de::Error> {
        toml::from_str(text)
    }

    fn strings(args: Vec<OsString>) -> Vec<String> {
        args.into_iter()
            .map(|arg| arg.into_string().unwrap())
            .collect()
    }

    #[test]
    fn every_key_becomes_its_flag() {
        let file = parse(
            r#"
            interval = "1m"
            top = 5
            snapshot_dir = "/var/lib/hhmon"
            keep = 3
            keep_age = "7d"
            listen = 9750
            prom_top = 4
            stall_timeout = "5s"
            quiet = true
            exact = false
            sketch_kib = 64
            hll_lg_k = 14
            window = "1h"
            decap = true
            interface = "eth0"
            filter = "not port 22"
            snaplen = 128
            no_promiscuous = true
            buffer_mib = 64
            immediate = true
            readers = 2
            user = "hhmon"
            "#,
        )
        .unwrap();
        let shared = [
            "--interval=1m",
            "--top=5",
            "--snapshot-dir=/var/lib/hhmon",
            "--keep=3",
            "--keep-age=7d",
            "--listen=9750",
            "--prom-top=4",
            "--stall-timeout=5s",
            "--quiet",
            "--sketch-kib=64",
            "--hll-lg-k=14",
            "--window=1h",
            "--decap",
        ];
        assert_eq!(strings(file.args("replay")), shared);
        let capture = [
            "--interface=eth0",
            "--filter=not port 22",
            "--snaplen=128",
            "--no-promiscuous",
            "--buffer-mib=64",
            "--immediate",
            "--readers=2",
            "--user=hhmon",
        ];
        let expected: Vec<&str> = shared.iter().chain(&capture).copied().collect();
        assert_eq!(strings(file.args("capture")), expected);
    }

    #[test]
    fn listen_takes_an_address_or_a_port() {
        let address = parse(r#"listen = "0.0.0.0:9750""#).unwrap();
        assert_eq!(strings(address.args("replay")), ["--listen=0.0.0.0:9750"]);
        assert_eq!(
            parse("listen = 9750").unwrap().listen,
            Some(Listen::Port(9750))
        );
        assert!(parse("listen = 70000").is_err());
    }

    #[test]
    fn an_empty_file_sets_nothing() {
        assert_eq!(parse("").unwrap(), ConfigFile::default());
        assert!(ConfigFile::default().args("capture").is_empty());
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_errors_naming_the_key() {
        for (text, named) in [
            ("intervall = \"10s\"", "intervall"),
            ("[snapshot]\ndir = \"/tmp\"", "snapshot"),
            ("top = \"five\"", "top"),
            ("quiet = 1", "quiet"),
            ("top = -1", "top"),
        ] {
            let error = parse(text).unwrap_err().to_string();
            assert!(error.contains(named), "{text}: {error}");
        }
    }

    #[test]
    fn load_names_the_file_in_every_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.toml");
        let error = ConfigFile::load(&missing).unwrap_err();
        assert!(matches!(error, Error::Read { .. }), "{error:?}");
        assert!(error.to_string().contains("missing.toml"), "{error}");

        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "top = 5\nbogus = true\n").unwrap();
        let error = ConfigFile::load(&bad).unwrap_err();
        assert!(matches!(error, Error::Parse { .. }), "{error:?}");
        let message = error.to_string();
        assert!(message.contains("bad.toml"), "{message}");
        assert!(message.contains("bogus"), "{message}");

        let good = dir.path().join("good.toml");
        std::fs::write(&good, "top = 5\n").unwrap();
        assert_eq!(ConfigFile::load(&good).unwrap().top, Some(5));
    }
}
