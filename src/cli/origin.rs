//! Where each flag of a parsed command line came from: the `--config` file or the typed
//! arguments. Finds the file's name among the arguments and, when clap or the validation
//! refuses a flag the file alone set, names the file and its key instead of the flag. Knows
//! nothing of what the flags mean.

use super::{Cli, Conflict, Error};
use crate::config::{self, ConfigFile};
use clap::error::{ContextKind, ContextValue};
use clap::CommandFactory;
use std::ffi::OsString;
use std::path::PathBuf;

/// Where each flag of a parsed command line came from: the config file or the typed arguments.
pub(super) struct Origin<'a> {
    pub(super) file: Option<&'a ConfigFile>,
    pub(super) from_file: &'a [OsString],
    pub(super) typed: &'a [OsString],
    pub(super) subcommand: &'a str,
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
    pub(super) fn blame(&self, error: clap::Error) -> Error {
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
    pub(super) fn annotate(&self, conflict: Conflict) -> Error {
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
pub(super) fn config_path(args: &[OsString]) -> Option<PathBuf> {
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

#[cfg(test)]
mod tests {
    use super::super::tests::with_config;
    use super::*;

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
}
