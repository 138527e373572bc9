//! The flags against each other: one check of a parsed command line, before any file is opened
//! or thread started, by the rules of the configuration type each combination concerns, and
//! [`Conflict`], which names the flags. Knows nothing of where a flag came from (the config
//! file or the typed line) or of how the configuration is carried out.

use super::args::{CountArgs, MonitorArgs};
use super::{Cli, Command};
use crate::monitor::ConfigError;

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
            Command::Collect(args) => args.monitor.validate(),
            Command::Generate(args) => args.config().validate().map_err(|error| {
                let reason = match error {
                    crate::synth::Error::Config(reason) => reason.to_owned(),
                    other => other.to_string(),
                };
                // Each of these is range-checked by its parser: what is left is how they add up.
                let shares = [
                    "--flows",
                    "--attack",
                    "--scan",
                    "--carpet-share",
                    "--botnet-share",
                ];
                Conflict::new(&shares, reason)
            }),
            Command::Merge(_) => Ok(()),
            Command::Top(args) => {
                let live = args.live.given();
                if args.interface.is_none() && !live.is_empty() {
                    return Err(Conflict::new(&live, "only with --interface"));
                }
                args.count.validate()
            }
        }
    }
}

impl MonitorArgs {
    fn validate(&self) -> Result<(), Conflict> {
        self.count.validate()
    }
}

impl CountArgs {
    /// The flags against each other, by
    /// [`MonitorConfig::validate`](crate::monitor::MonitorConfig::validate).
    fn validate(&self) -> Result<(), Conflict> {
        self.monitor_config().validate().map_err(|error| {
            let flags: &[&str] = match error {
                ConfigError::WindowNotMultiple { .. } => &["--window", "--interval"],
                ConfigError::WindowTooLarge { .. } => &["--window", "--interval", "--hll-lg-k"],
                ConfigError::HierarchicalShare => &["--hhh-share"],
            };
            Conflict::new(flags, error)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::with_config;
    use super::super::Error;
    use super::*;

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
        let error = parse(&["capture", "-i", "lo", "--interval=1s", "--window=1d"]);
        let message = error.unwrap_err().to_string();
        assert!(
            message.starts_with("--window, --interval and --hll-lg-k: the window spans 86400"),
            "{message}"
        );
        assert!(parse(&["replay", "--interval=1s", "--window=1h", "a"]).is_ok());

        let error = parse(&["generate", "--out", "t", "--attack", "0.7", "--scan", "0.5"]);
        let message = error.unwrap_err().to_string();
        assert_eq!(
            message,
            "--flows, --attack, --scan, --carpet-share and --botnet-share: the attack, scan, \
             carpet bombing and botnet shares must add up to at most 1"
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
}
