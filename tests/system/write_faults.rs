//! Snapshots and exports when things go wrong, with the real binary: a snapshot directory or
//! export tree that fills up or is read-only is reported (log line, summary,
//! `hhmon_snapshot_write_errors_total`, `hhmon_export_write_errors_total`) while the replay
//! counts every packet; a process killed at any moment leaves only complete JSON files, and
//! only whole Parquet files where readers look, and what it staged is published by the next run.
//!
//! The full and read-only directories are small tmpfs mounts, because file permissions do not
//! stop root (CI runs as root). Mounting needs root: without it the test fails, it does not skip.

use std::ffi::OsStr;
use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use hhmon::report::IntervalReport;
use rand::{Rng, SeedableRng};

use crate::util::export::{published_files, published_rows, rows};
use crate::util::http;
use crate::util::process::Running;
use crate::util::repo::capture;
use crate::util::tshark::frame_times;
use crate::util::HHMON;

/// A capture of 26 minutes of mixed traffic: about 1,600 one-second intervals.
const MANY_INTERVALS: &str = "wireshark-samples-mixed.pcapng";

/// Frames in a capture as tshark counts them.
fn tshark_packets(path: &Path) -> u64 {
    frame_times(path).len() as u64
}

/// A tmpfs mounted on a fresh directory, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(options: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "hhmon-test"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "mounting a tmpfs needs root (CI runs as root): {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Every file in `dir`: `*.json` must parse as a whole report; anything else must be a
/// writer's temporary file (which never ends in `.json`). Returns the interval files' count.
fn check_only_complete_json(dir: &Path) -> usize {
    let mut intervals = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if name.ends_with(".json") {
            let text = std::fs::read_to_string(&path).unwrap();
            serde_json::from_str::<IntervalReport>(&text)
                .unwrap_or_else(|e| panic!("{name} is not a whole report ({e}): {text:?}"));
            assert!(text.ends_with("}\n"), "{name}");
            if name != "latest.json" {
                intervals += 1;
            }
        } else {
            assert!(
                name.starts_with('.') && name.ends_with(".tmp"),
                "unexpected file {name}"
            );
        }
    }
    intervals
}

/// Packets, intervals and snapshot write errors from the closing line
/// `hhmon: N packets, ...; M intervals[; E snapshot write error(s)][; X export write error(s)]`.
fn summary(stderr: &str) -> (u64, u64, u64) {
    let (packets, intervals, errors, _) = summary_with_export(stderr);
    (packets, intervals, errors)
}

/// [`summary`] and the export write errors.
fn summary_with_export(stderr: &str) -> (u64, u64, u64, u64) {
    let line = stderr
        .lines()
        .find_map(|line| line.strip_prefix("hhmon: "))
        .unwrap_or_else(|| panic!("no summary in {stderr}"));
    // The first number of the `;`-separated part that mentions `what`.
    let count = |what: &str| -> u64 {
        line.split(';')
            .find(|part| part.contains(what))
            .and_then(|part| part.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (
        count(" packets, "),
        count(" intervals"),
        count(" snapshot write error"),
        count(" export write error"),
    )
}

/// Replays `MANY_INTERVALS` into `dir` serving metrics, as snapshots (`--snapshot-dir`) or
/// exports (`--export-dir`); returns the final value of the write errors metric
/// (`hhmon_snapshot_write_errors_total` or `hhmon_export_write_errors_total`), then after
/// SIGTERM the exit status and stderr.
fn replay_serving_metrics(dir: &Path, into: &[&str], metric: &str) -> (u64, ExitStatus, String) {
    let port = http::free_port();
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let path = capture(MANY_INTERVALS);
    let child = Command::new(HHMON)
        .args(["replay", "--quiet", "--interval", "1s"])
        .args(into)
        .arg(dir)
        .args(["--listen", &port.to_string()])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Drained as it comes: a thousand error lines overflow a pipe and would block hhmon.
    let mut child = Running::new(child);
    let mut stderr = child.child().stderr.take().unwrap();
    let drain = std::thread::spawn(move || {
        let mut text = String::new();
        stderr.read_to_string(&mut text).unwrap();
        text
    });
    let packets_total = format!("hhmon_packets_total {}", tshark_packets(&path));
    let started = Instant::now();
    let errors = loop {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "never finished"
        );
        if let Some((200, text)) = http::get(address, "/metrics") {
            if text.lines().any(|line| line == packets_total) {
                // The final interval is published: its text holds the final error count.
                let value = text
                    .lines()
                    .find_map(|line| line.strip_prefix(metric)?.strip_prefix(' '))
                    .unwrap_or_else(|| panic!("no error counter in {text}"));
                break value.parse().unwrap();
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let status = child.stop(Duration::from_secs(30));
    (errors, status, drain.join().unwrap())
}

#[test]
fn a_full_or_read_only_directory_is_reported_and_the_replay_goes_on() {
    let _turn = crate::util::serial();
    let packets = tshark_packets(&capture(MANY_INTERVALS));
    // 64 KiB holds a few dozen of these snapshots; read-only holds none.
    for (options, room) in [("size=64k,mode=0755", true), ("size=64k,ro", false)] {
        let tmpfs = Tmpfs::mount(options);
        let (metric, status, stderr) = replay_serving_metrics(
            tmpfs.path(),
            &["--snapshot-dir"],
            "hhmon_snapshot_write_errors_total",
        );
        assert!(status.success(), "{options}: {stderr}");
        let (read, intervals, errors) = summary(&stderr);
        assert_eq!(read, packets, "{options}: every packet counted: {stderr}");
        assert!(intervals > 1_000, "{options}: {stderr}");
        assert!(errors > 0, "{options}: {stderr}");
        assert_eq!(metric, errors, "{options}: metric and summary agree");

        let reason = if room {
            "No space left on device"
        } else {
            "Read-only file system"
        };
        let logged = stderr
            .lines()
            .filter(|line| line.contains("Cannot write snapshot; capture goes on."))
            .collect::<Vec<_>>();
        assert_eq!(logged.len() as u64, errors, "{options}: one log line each");
        assert!(logged[0].contains(reason), "{options}: {}", logged[0]);
        assert!(
            logged[0].contains(tmpfs.path().to_str().unwrap()),
            "{options}: the path is named: {}",
            logged[0]
        );

        let written = check_only_complete_json(tmpfs.path());
        if room {
            // Until the disk filled, snapshots went out; after, each interval failed once
            // (its own file, or latest.json right after it).
            assert!(written > 0, "{options}");
            assert!(written as u64 + errors >= intervals, "{options}");
            assert!(written as u64 + errors <= intervals + 1, "{options}");
        } else {
            assert_eq!(written, 0);
            assert_eq!(errors, intervals, "{options}");
        }
    }
}

/// Starts a quiet replay of `MANY_INTERVALS` in 1 s intervals with `args` (where it writes),
/// paced at `speed` if given.
fn spawn_replay(args: &[&OsStr], speed: Option<&str>) -> Child {
    let mut command = Command::new(HHMON);
    command
        .args(["replay", "--quiet", "--interval", "1s"])
        .args(args);
    if let Some(speed) = speed {
        command.args(["--speed", speed]);
    }
    command
        .arg(capture(MANY_INTERVALS))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Kills eight replays started by `start` (paced at 300 times real speed: 26 minutes of
/// packets in about 5 s, so that every kill lands mid-run however fast the machine) anywhere
/// in their first 2.5 s, calling `after_kill` after each; fails the test unless most were
/// killed while running. The kill times come from a seed the test prints.
fn kill_at_random_moments(start: impl Fn(Option<&str>) -> Child, mut after_kill: impl FnMut()) {
    let seed: u64 = rand::rng().random();
    eprintln!("seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut killed_while_running = 0;
    for _ in 0..8 {
        let mut child = start(Some("300"));
        std::thread::sleep(Duration::from_millis(rng.random_range(30..2_500)));
        child.kill().unwrap();
        if child.wait().unwrap().code().is_none() {
            killed_while_running += 1;
        }
        after_kill();
    }
    eprintln!("{killed_while_running} of 8 killed mid-run");
    assert!(
        killed_while_running >= 6,
        "the replay ended before most kills"
    );
}

#[test]
fn a_kill_at_any_moment_leaves_only_complete_json_files() {
    let _turn = crate::util::serial();
    let dir = tempfile::tempdir().unwrap();
    let start = |speed: Option<&str>| {
        let keep = [
            OsStr::new("--keep"),
            OsStr::new("200"),
            OsStr::new("--snapshot-dir"),
        ];
        spawn_replay(&[&keep[..], &[dir.path().as_os_str()]].concat(), speed)
    };
    let mut saw_temporary = false;
    kill_at_random_moments(start, || {
        check_only_complete_json(dir.path());
        saw_temporary |= std::fs::read_dir(dir.path()).unwrap().any(|entry| {
            entry
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".tmp")
        });
    });
    eprintln!("a temporary file left: {saw_temporary}");

    // A run to the end clears what the killed ones left and keeps its rotation promise.
    let status = start(None).wait().unwrap();
    assert!(status.success());
    assert_eq!(check_only_complete_json(dir.path()), 200);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .filter(|name| name.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// The intervals of an export tree's rows, each with its figures (a prefix row's rank is
/// within its length, so its prefix is part of what tells it apart), sorted: what a reader of the
/// tree sees, to compare trees and find duplicates.
fn exported(root: &Path) -> Vec<String> {
    let mut rows: Vec<String> = published_rows(root)
        .iter()
        .map(|row| {
            let field = |name: &str| row[name].to_string();
            [
                "start_unix",
                "kind",
                "ranked_by",
                "rank",
                "prefix",
                "packets",
                "bytes",
            ]
            .map(field)
            .join(" ")
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn a_full_or_read_only_export_tree_is_reported_and_the_replay_goes_on() {
    let _turn = crate::util::serial();
    let packets = tshark_packets(&capture(MANY_INTERVALS));
    // 64 KiB stages a few intervals; read-only stages none.
    for (options, room) in [("size=64k,mode=0755", true), ("size=64k,ro", false)] {
        let tmpfs = Tmpfs::mount(options);
        let (metric, status, stderr) = replay_serving_metrics(
            tmpfs.path(),
            &["--export-roll", "1m", "--export-dir"],
            "hhmon_export_write_errors_total",
        );
        assert!(status.success(), "{options}: {stderr}");
        let (read, intervals, _, errors) = summary_with_export(&stderr);
        assert_eq!(read, packets, "{options}: every packet counted: {stderr}");
        assert!(intervals > 1_000, "{options}: {stderr}");
        assert!(errors > 0, "{options}: {stderr}");
        // The metric is read before the end of the run, whose final publish may fail once more.
        assert!(
            metric == errors || metric + 1 == errors,
            "{options}: metric {metric}, summary {errors}"
        );
        let reason = if room {
            "No space left on device"
        } else {
            "Read-only file system"
        };
        let logged: Vec<&str> = stderr
            .lines()
            .filter(|line| {
                line.contains("Cannot export the interval") || line.contains("Cannot publish")
            })
            .collect();
        assert_eq!(logged.len() as u64, errors, "{options}: one log line each");
        assert!(logged[0].contains(reason), "{options}: {}", logged[0]);
        assert!(
            logged[0].contains(tmpfs.path().to_str().unwrap()),
            "{options}: {}",
            logged[0]
        );
        // Whatever made it out is whole (`published_files` and `rows` fail on anything else).
        for file in published_files(tmpfs.path()) {
            assert!(!rows(&file).is_empty());
        }
        if !room {
            assert!(published_files(tmpfs.path()).is_empty());
            assert_eq!(errors, intervals, "{options}");
        }
    }
}

#[test]
fn a_killed_export_loses_no_interval_and_shows_readers_only_whole_files() {
    let _turn = crate::util::serial();
    let start = |dir: &Path, speed: Option<&str>| {
        let export = ["--sensor", "killed", "--export-roll", "1m", "--export-dir"].map(OsStr::new);
        spawn_replay(&[&export[..], &[dir.as_os_str()]].concat(), speed)
    };
    let reference = tempfile::tempdir().unwrap();
    assert!(start(reference.path(), None).wait().unwrap().success());
    let expected = exported(reference.path());
    assert!(expected.len() > 1_000);

    let dir = tempfile::tempdir().unwrap();
    kill_at_random_moments(
        |speed| start(dir.path(), speed),
        || {
            // Readers see whole files only, and never an interval twice.
            let seen = exported(dir.path());
            let mut unique = seen.clone();
            unique.dedup();
            assert_eq!(seen.len(), unique.len(), "an interval published twice");
        },
    );
    let staged = dir.path().join(".hhmon-staging/sensor=killed");
    assert!(
        staged.read_dir().unwrap().next().is_some(),
        "the kills left nothing staged"
    );

    // A run to the end publishes what the killed ones staged: the tree is the reference's.
    assert!(start(dir.path(), None).wait().unwrap().success());
    assert_eq!(exported(dir.path()), expected);
    assert!(
        staged.read_dir().unwrap().next().is_none(),
        "staged intervals left behind"
    );
}
