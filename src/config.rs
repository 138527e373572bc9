//! The `--config` file: TOML whose keys are the long flags of the subcommand in snake_case
//! (`snapshot_dir = "/var/lib/hhmon"` is `--snapshot-dir=/var/lib/hhmon`).
//!
//! The keys are read off the clap definitions of every subcommand that takes `--config`, so a
//! flag is defined once and is a key as soon as it exists. The file only becomes flag tokens:
//! `cli` parses them with the same definitions as the typed flags, ahead of them, so that typed
//! flags win and both sources obey one set of rules. This module checks only that each key is
//! a flag and that its TOML type suits the flag's kind (switch, value, repeated value); it must
//! not know any flag by name, nor defaults or ranges.

use clap::{Arg, ArgAction, Command};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The id of the flag that names the config file: a file cannot name another.
pub const FLAG: &str = "config";

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
    /// The file is not TOML.
    #[error("config file {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong and where (line, column).
        source: toml::de::Error,
    },
    /// A key that is no flag, or a value whose TOML type does not suit its flag.
    #[error("config file {path}, key `{key}`: {problem}")]
    Key {
        /// The file.
        path: PathBuf,
        /// The key as written.
        key: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A value is of the right type but not acceptable to the flag it sets (the message is the
    /// flag's own complaint, naming it).
    #[error("config file {path}, key `{key}`: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The key that set the flag.
        key: String,
        /// The command-line parser's message.
        message: String,
    },
}

/// A config file, checked against the flags of the subcommands that read one.
///
/// A switch set to `true` is given; `false` is the same as leaving the key out (the switches
/// have no negative form, so a `true` in the file cannot be undone on the command line). A key
/// that is a flag of another subcommand taking `--config` only is ignored, so that one file can
/// serve them all (`interface` in a file read by `hhmon replay`); a key no such subcommand has
/// is an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFile {
    path: PathBuf,
    /// The flag tokens the file stands for, by subcommand.
    args: BTreeMap<String, Vec<OsString>>,
    /// The key that set each long flag.
    keys: BTreeMap<String, String>,
}

impl ConfigFile {
    /// Reads `path` and checks it against hhmon's own command line ([`crate::cli::Cli`]).
    ///
    /// # Errors
    ///
    /// [`Error::Read`] when the file cannot be read, [`Error::Parse`] when it is not TOML,
    /// [`Error::Key`] for a key that is no flag or a value of the wrong type.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(
            path,
            &text,
            &<crate::cli::Cli as clap::CommandFactory>::command(),
        )
    }

    /// Checks `text`, the contents of `path`, against the subcommands of `command` that have a
    /// [`FLAG`] argument.
    ///
    /// # Errors
    ///
    /// As [`ConfigFile::load`], but for reading.
    pub fn parse(path: &Path, text: &str, command: &Command) -> Result<Self, Error> {
        let table: toml::Table = toml::from_str(text).map_err(|source| Error::Parse {
            path: path.to_path_buf(),
            source,
        })?;
        let key_error = |key: &str, problem: String| Error::Key {
            path: path.to_path_buf(),
            key: key.to_owned(),
            problem,
        };
        let mut command = command.clone();
        // Builds what the derive leaves open, such as how many values each argument takes.
        command.build();
        let readers: Vec<&Command> = command
            .get_subcommands()
            .filter(|sub| sub.get_arguments().any(|arg| arg.get_id() == FLAG))
            .collect();
        let mut file = Self {
            path: path.to_path_buf(),
            args: readers
                .iter()
                .map(|sub| (sub.get_name().to_owned(), Vec::new()))
                .collect(),
            keys: BTreeMap::new(),
        };
        for (key, value) in &table {
            let mut found = false;
            for sub in &readers {
                let Some(arg) = sub.get_arguments().find(|arg| is_key(arg, key)) else {
                    continue;
                };
                found = true;
                let long = arg.get_long().unwrap_or_default();
                let tokens = tokens(arg, long, value).map_err(|problem| key_error(key, problem))?;
                file.keys.insert(long.to_owned(), key.clone());
                if let Some(args) = file.args.get_mut(sub.get_name()) {
                    args.extend(tokens);
                }
            }
            if !found {
                return Err(key_error(key, unknown(key, &readers)));
            }
        }
        Ok(file)
    }

    /// The file it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The command-line tokens the file stands for in the subcommand `subcommand` (none for a
    /// subcommand that does not read config files).
    pub fn args(&self, subcommand: &str) -> Vec<OsString> {
        self.args.get(subcommand).cloned().unwrap_or_default()
    }

    /// The key that sets the long flag `long` (without its dashes), if the file has it.
    pub fn key_of(&self, long: &str) -> Option<&str> {
        self.keys.get(long).map(String::as_str)
    }
}

/// Whether `key` names `arg`: its long name in snake_case. Positional arguments, help and
/// version, and the config flag itself are no keys.
fn is_key(arg: &Arg, key: &str) -> bool {
    let Some(long) = arg.get_long() else {
        return false;
    };
    settable(arg) && arg.get_id() != FLAG && long.replace('-', "_") == key
}

fn settable(arg: &Arg) -> bool {
    !matches!(
        arg.get_action(),
        ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong | ArgAction::Version
    )
}

/// Why `key` is not a flag of any subcommand in `readers`, with the spelling it may have meant.
fn unknown(key: &str, readers: &[&Command]) -> String {
    let names: Vec<&str> = readers.iter().map(|sub| sub.get_name()).collect();
    let snake = key.replace('-', "_");
    if key == FLAG {
        return "a config file cannot name another".to_owned();
    }
    if snake != key
        && readers
            .iter()
            .any(|sub| sub.get_arguments().any(|arg| is_key(arg, &snake)))
    {
        return format!("write it `{snake}`: keys are the long flags in snake_case");
    }
    format!(
        "not a flag of hhmon {} (keys are the long flags in snake_case)",
        names.join(" or ")
    )
}

/// The tokens that give `value` to `arg` (`--long=value`, so that a value starting with `-`
/// stays a value).
fn tokens(arg: &Arg, long: &str, value: &toml::Value) -> Result<Vec<OsString>, String> {
    let flag = format!("--{long}");
    let several = arg
        .get_num_args()
        .is_some_and(|range| range.max_values() > 1);
    match (arg.get_action(), value) {
        (ArgAction::SetTrue, toml::Value::Boolean(on)) => {
            Ok(if *on { vec![flag.into()] } else { Vec::new() })
        }
        (ArgAction::SetTrue, other) => Err(format!(
            "{flag} is a switch: expected true or false, found {}",
            other.type_str()
        )),
        (ArgAction::Set, value) if !several => {
            Ok(vec![format!("{flag}={}", scalar(&flag, value)?).into()])
        }
        (ArgAction::Append, toml::Value::Array(values)) if !several => values
            .iter()
            .map(|value| Ok(format!("{flag}={}", scalar(&flag, value)?).into()))
            .collect(),
        (ArgAction::Append, value) if !several => {
            Ok(vec![format!("{flag}={}", scalar(&flag, value)?).into()])
        }
        _ => Err(format!("{flag} cannot be set from a config file")),
    }
}

/// One value as the command line would spell it.
fn scalar(flag: &str, value: &toml::Value) -> Result<String, String> {
    match value {
        toml::Value::String(text) => Ok(text.clone()),
        toml::Value::Integer(number) => Ok(number.to_string()),
        toml::Value::Float(number) => Ok(number.to_string()),
        other => Err(format!(
            "{flag} takes a value: expected a string or a number, found {}",
            other.type_str()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A command line with every kind of argument a config file may meet.
    fn command() -> Command {
        let reader = |name: &'static str| {
            Command::new(name)
                .arg(Arg::new("files").required(true))
                .arg(Arg::new(FLAG).long("config"))
                .arg(Arg::new("snapshot_dir").long("snapshot-dir"))
                .arg(
                    Arg::new("quiet")
                        .long("quiet")
                        .short('q')
                        .action(ArgAction::SetTrue),
                )
                .arg(Arg::new("tag").long("tag").action(ArgAction::Append))
                .arg(Arg::new("pair").long("pair").num_args(2))
        };
        Command::new("hhmon")
            .subcommand(reader("replay").arg(Arg::new("speed").long("speed")))
            .subcommand(reader("capture").arg(Arg::new("interface").long("interface")))
            .subcommand(Command::new("merge").arg(Arg::new("out").long("out")))
    }

    fn parse(text: &str) -> Result<ConfigFile, Error> {
        ConfigFile::parse(Path::new("/etc/hhmon.toml"), text, &command())
    }

    fn strings(args: Vec<OsString>) -> Vec<String> {
        args.into_iter()
            .map(|arg| arg.into_string().unwrap())
            .collect()
    }

    /// The tokens of several keys, sorted: their order follows the table's and does not matter
    /// to clap, as each key is a different flag.
    fn sorted(args: Vec<OsString>) -> Vec<String> {
        let mut strings = strings(args);
        strings.sort();
        strings
    }

    #[test]
    fn keys_become_flags_of_the_subcommands_that_have_them() {
        let file = parse(
            r#"
            snapshot_dir = "/var/lib/hhmon"
            quiet = true
            speed = 2.5
            interface = "eth0"
            "#,
        )
        .unwrap();
        let shared = ["--quiet", "--snapshot-dir=/var/lib/hhmon"];
        let replay: Vec<&str> = shared.iter().copied().chain(["--speed=2.5"]).collect();
        assert_eq!(sorted(file.args("replay")), replay);
        let capture: Vec<&str> = ["--interface=eth0"]
            .iter()
            .chain(&shared)
            .copied()
            .collect();
        assert_eq!(sorted(file.args("capture")), capture);
        assert!(file.args("merge").is_empty());
        assert_eq!(file.key_of("snapshot-dir"), Some("snapshot_dir"));
        assert_eq!(file.key_of("speed"), Some("speed"));
        assert_eq!(file.key_of("tag"), None);
        assert_eq!(file.path(), Path::new("/etc/hhmon.toml"));
    }

    #[test]
    fn values_keep_their_spelling_and_stay_values() {
        let file = parse("speed = -1\nsnapshot_dir = \"-x\"\nquiet = false").unwrap();
        assert_eq!(
            sorted(file.args("replay")),
            ["--snapshot-dir=-x", "--speed=-1"]
        );
        let file = parse("speed = inf").unwrap();
        assert_eq!(strings(file.args("replay")), ["--speed=inf"]);
    }

    #[test]
    fn a_repeated_flag_takes_an_array_or_one_value() {
        let file = parse(r#"tag = ["a", 2]"#).unwrap();
        assert_eq!(strings(file.args("capture")), ["--tag=a", "--tag=2"]);
        let file = parse(r#"tag = "a""#).unwrap();
        assert_eq!(strings(file.args("capture")), ["--tag=a"]);
    }

    #[test]
    fn an_empty_file_sets_nothing() {
        let file = parse("").unwrap();
        assert!(file.args("replay").is_empty());
        assert!(file.args("capture").is_empty());
    }

    #[test]
    fn bad_keys_and_wrong_types_are_errors_naming_the_file_and_the_key() {
        for (text, named) in [
            (
                "intervall = \"10s\"",
                "not a flag of hhmon replay or capture",
            ),
            ("snapshot-dir = \"/tmp\"", "write it `snapshot_dir`"),
            ("[snapshot]\ndir = \"/tmp\"", "not a flag"),
            ("config = \"other.toml\"", "cannot name another"),
            ("files = \"a.pcap\"", "not a flag"),
            ("help = true", "not a flag"),
            ("out = \"m.json\"", "not a flag"),
            ("quiet = 1", "--quiet is a switch"),
            ("speed = true", "--speed takes a value"),
            ("speed = [1, 2]", "--speed takes a value"),
            ("tag = [[\"a\"]]", "--tag takes a value"),
            ("pair = \"a\"", "--pair cannot be set from a config file"),
        ] {
            let error = parse(text).unwrap_err();
            assert!(matches!(error, Error::Key { .. }), "{text}: {error:?}");
            let message = error.to_string();
            assert!(message.contains("/etc/hhmon.toml"), "{text}: {message}");
            let key = text
                .split([' ', ']'])
                .next()
                .unwrap()
                .trim_start_matches('[');
            assert!(message.contains(&format!("`{key}`")), "{text}: {message}");
            assert!(message.contains(named), "{text}: {message}");
        }
        let error = parse("quiet = ").unwrap_err();
        assert!(matches!(error, Error::Parse { .. }), "{error:?}");
        assert!(error.to_string().contains("/etc/hhmon.toml"), "{error}");
    }

    #[test]
    fn load_reads_the_file_and_names_it_when_it_cannot() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.toml");
        let error = ConfigFile::load(&missing).unwrap_err();
        assert!(matches!(error, Error::Read { .. }), "{error:?}");
        assert!(error.to_string().contains("missing.toml"), "{error}");

        let good = dir.path().join("good.toml");
        std::fs::write(&good, "top = 5\n").unwrap();
        let file = ConfigFile::load(&good).unwrap();
        assert_eq!(strings(file.args("replay")), ["--top=5"]);
    }
}
