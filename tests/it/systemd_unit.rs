//! The shipped systemd unit and its example config: `systemd-analyze verify` accepts the unit,
//! `systemd-analyze security --offline=yes` rates its exposure at 3.0 or lower (the README
//! records the figure, and this test keeps it true), and the example config is accepted by
//! hhmon's own command-line parser. systemd-analyze must be installed (package `systemd`).

use hhmon::cli::{Cli, Command as Subcommand};
use hhmon::config::ConfigFile;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::util::hhmon::BINARY as HHMON;
use crate::util::repo;
/// Where the unit expects the binary.
const INSTALLED: &str = "/usr/local/bin/hhmon";

/// The unit with the built binary in place of the installed one (verify checks it exists),
/// in a fresh directory under its real name.
fn unit_copy() -> (tempfile::TempDir, PathBuf) {
    let unit = std::fs::read_to_string(repo::path("systemd/hhmon.service")).unwrap();
    let exec = format!("ExecStart={INSTALLED} capture --config /etc/hhmon/hhmon.toml");
    assert!(unit.lines().any(|line| line == exec), "{exec}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hhmon.service");
    std::fs::write(&path, unit.replace(INSTALLED, HHMON)).unwrap();
    (dir, path)
}

fn systemd_analyze(args: &[&str], unit: &Path) -> Output {
    Command::new("systemd-analyze")
        .args(args)
        .arg(unit)
        .output()
        .unwrap_or_else(|e| panic!("systemd-analyze must be installed (package systemd): {e}"))
}

#[test]
fn systemd_analyze_verify_accepts_the_unit() {
    let (_dir, unit) = unit_copy();
    let output = systemd_analyze(&["verify"], &unit);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(!stderr.contains("hhmon.service"), "warnings: {stderr}");
}

#[test]
fn exposure_score_is_at_most_three_and_recorded_in_the_readme() {
    let (_dir, unit) = unit_copy();
    let output = systemd_analyze(&["security", "--offline=yes", "--no-pager"], &unit);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let score: f64 = stdout
        .lines()
        .find_map(|line| {
            line.split("Overall exposure level for hhmon.service: ")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{stdout}"));
    eprintln!("exposure level {score}");
    assert!(score <= 3.0, "exposure {score}:\n{stdout}");
    let readme = std::fs::read_to_string(repo::path("README.md")).unwrap();
    let recorded = format!("exposure level {score:.1}");
    assert!(
        readme.contains(&recorded),
        "README does not say {recorded:?}"
    );
}

#[test]
fn the_example_config_is_accepted_by_the_command_line_parser() {
    let path = repo::path("systemd/hhmon.toml");
    let file = ConfigFile::load(&path).unwrap();
    let capture_args: Vec<String> = file
        .args("capture")
        .into_iter()
        .map(|arg| arg.into_string().unwrap())
        .collect();
    assert!(
        capture_args.contains(&"--interface=eth0".to_owned()),
        "{capture_args:?}"
    );

    // Exactly what the unit runs.
    let argv = ["hhmon", "capture", "--config", path.to_str().unwrap()];
    let cli = Cli::parse_with_config(argv).unwrap();
    let Subcommand::Capture(capture) = cli.command else {
        panic!("parsed as capture");
    };
    let config = capture.config();
    assert_eq!(config.capture.interface, "eth0");
    // The unit's StateDirectory and the documented endpoint.
    assert_eq!(
        config.sinks.snapshot_dir,
        Some(PathBuf::from("/var/lib/hhmon"))
    );
    assert_eq!(config.sinks.listen, Some("127.0.0.1:9750".parse().unwrap()));
    assert!(config.sinks.quiet);
    let unit = std::fs::read_to_string(repo::path("systemd/hhmon.service")).unwrap();
    assert!(unit.lines().any(|line| line == "StateDirectory=hhmon"));
}
