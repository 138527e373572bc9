//! The one way the tests run the built hhmon binary: a small builder over `Command` that
//! captures what a finished run printed, or hands back a running child that dies with the
//! test. Knows nothing of what hhmon prints.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};

use super::process::Running;

/// The binary under test.
pub const BINARY: &str = env!("CARGO_BIN_EXE_hhmon");

/// A run of hhmon being set up.
pub struct Hhmon {
    command: Command,
}

/// `hhmon <args>`: standard input empty, the log level as hhmon defaults it (whatever
/// `HHMON_LOG` the test run has is not passed on, so stderr is the same for everyone).
pub fn hhmon<I, S>(args: I) -> Hhmon
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = Command::new(BINARY);
    command
        .args(args)
        .env_remove("HHMON_LOG")
        .stdin(Stdio::null());
    Hhmon { command }
}

/// `hhmon replay --quiet --snapshot-dir <dir> <args>`.
pub fn replay_into(dir: &Path) -> Hhmon {
    hhmon(["replay", "--quiet", "--snapshot-dir"]).arg(dir)
}

/// What a finished run printed.
#[derive(Debug)]
pub struct Ran {
    /// How it exited.
    pub status: ExitStatus,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error, lossily decoded.
    pub stderr: String,
}

impl Ran {
    /// Fails the test unless hhmon exited 0 without a panic; returns `self` for more checks.
    pub fn succeeded(self) -> Self {
        assert!(
            self.status.success(),
            "hhmon failed ({}): {}",
            self.status,
            self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        self
    }
}

impl Hhmon {
    /// One more argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.command.arg(arg);
        self
    }

    /// More arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command.args(args);
        self
    }

    /// An environment variable for hhmon (`HHMON_LOG`, for one).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.command.env(key, value);
        self
    }

    /// Standard input from `stdin` instead of nothing.
    pub fn stdin(mut self, stdin: impl Into<Stdio>) -> Self {
        self.command.stdin(stdin);
        self
    }

    /// Runs hhmon to the end and captures what it printed.
    pub fn output(mut self) -> Ran {
        let output = self
            .command
            .output()
            .unwrap_or_else(|e| panic!("cannot run {BINARY}: {e}"));
        Ran {
            status: output.status,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Starts hhmon and leaves it running, killed when the returned guard drops. Standard
    /// output and error go to `stdout` and `stderr` (`Stdio::null()` to drop them,
    /// `Stdio::piped()` to read them through [`Running::child`]).
    pub fn spawn(mut self, stdout: Stdio, stderr: Stdio) -> Running {
        let child = self
            .command
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {BINARY}: {e}"));
        Running::new(child)
    }
}
