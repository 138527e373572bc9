//! Golden output: what `hhmon replay`, `hhmon merge` and the `/metrics` endpoint write for the
//! shipped captures, compared field for field with files written by an earlier build
//! (`tests/golden/`). The outputs are deterministic (intervals by packet time, fixed hash
//! seeds), so any difference is a change of behaviour: one that was meant must be written
//! anew with `HHMON_BLESS=1 cargo test --test it golden` and explained in its commit.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::util::captures;
use crate::util::hhmon::{hhmon, replay_into, Ran};
use crate::util::http;
use crate::util::repo;
use crate::util::snapshots::interval_files;

/// The replay modes compared, by name: the options that change what is counted or how.
const MODES: &[(&str, &[&str])] = &[
    ("sketch", &[]),
    ("exact", &["--exact"]),
    ("decap", &["--decap"]),
    ("exact-decap", &["--exact", "--decap"]),
    ("workers2", &["--workers", "2"]),
    ("window", &["--window", "60s"]),
];

/// Snapshots of these captures' sketch-mode replays are merged for the `merge` golden files:
/// consecutive intervals of one capture, and two unrelated captures.
const MERGED: &[&[&str]] = &[
    &["gnutella-p2p.pcap"],
    &["ddos-synflood-spoofed.pcap", "many-protocols.pcap"],
];

fn golden_dir() -> PathBuf {
    repo::path("tests/golden")
}

fn blessing() -> bool {
    std::env::var_os("HHMON_BLESS").is_some()
}

/// Errors only: the golden files hold what hhmon writes, not what it logs.
fn run(args: &[&str]) -> Ran {
    hhmon(args).env("HHMON_LOG", "error").output()
}

/// The interval snapshots in `dir`, oldest first, one JSON document a line.
fn snapshot_lines(dir: &Path) -> String {
    interval_files(dir)
        .iter()
        .map(|file| {
            let value: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
            format!("{value}\n")
        })
        .collect()
}

/// The first place where two JSON values differ, as a path.
fn first_difference(path: &str, expected: &Value, actual: &Value) -> Option<String> {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for key in e.keys().chain(a.keys()) {
                let (ev, av) = (e.get(key), a.get(key));
                match (ev, av) {
                    (Some(ev), Some(av)) => {
                        if let Some(found) = first_difference(&format!("{path}.{key}"), ev, av) {
                            return Some(found);
                        }
                    }
                    _ => return Some(format!("{path}.{key}: {ev:?} != {av:?}")),
                }
            }
            None
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                return Some(format!("{path}: {} != {} entries", e.len(), a.len()));
            }
            e.iter()
                .zip(a)
                .enumerate()
                .find_map(|(i, (ev, av))| first_difference(&format!("{path}[{i}]"), ev, av))
        }
        _ if expected == actual => None,
        _ => Some(format!("{path}: expected {expected}, got {actual}")),
    }
}

/// Compares `actual` (JSON documents, one a line) with the gzipped golden file `name`, or
/// writes it when blessing. Returns what differs.
fn compare_json_lines(name: &str, actual: &str) -> Option<String> {
    use flate2::{read::GzDecoder, write::GzEncoder, Compression};
    use std::io::{Read, Write};
    let path = golden_dir().join(name);
    if blessing() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
        encoder.write_all(actual.as_bytes()).unwrap();
        std::fs::write(&path, encoder.finish().unwrap()).unwrap();
        return None;
    }
    let read = std::fs::File::open(&path).and_then(|file| {
        let mut text = String::new();
        GzDecoder::new(file).read_to_string(&mut text)?;
        Ok(text)
    });
    let Ok(expected) = read else {
        return Some(format!(
            "{name}: no golden file, but the run wrote {} snapshot(s)",
            actual.lines().count()
        ));
    };
    let (expected, actual): (Vec<&str>, Vec<&str>) =
        (expected.lines().collect(), actual.lines().collect());
    if expected.len() != actual.len() {
        return Some(format!(
            "{name}: {} snapshot(s) expected, {} written",
            expected.len(),
            actual.len()
        ));
    }
    expected
        .iter()
        .zip(&actual)
        .enumerate()
        .find_map(|(i, (e, a))| {
            let (e, a): (Value, Value) = (
                serde_json::from_str(e).unwrap(),
                serde_json::from_str(a).unwrap(),
            );
            first_difference("", &e, &a).map(|found| format!("{name}, snapshot {i}: {found}"))
        })
}

/// Compares text with the golden file `name`, or writes it when blessing.
fn compare_text(name: &str, actual: &str) -> Option<String> {
    let path = golden_dir().join(name);
    if blessing() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return None;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    let differs = expected
        .lines()
        .zip(actual.lines())
        .enumerate()
        .find(|(_, (e, a))| e != a)
        .map(|(i, (e, a))| format!("{name}, line {}: expected {e:?}, got {a:?}", i + 1));
    differs.or_else(|| {
        (expected.lines().count() != actual.lines().count()).then(|| {
            format!(
                "{name}: {} lines expected, {} written",
                expected.lines().count(),
                actual.lines().count()
            )
        })
    })
}

/// The sensor name of every golden run: the default, the host name, differs between machines.
const SENSOR: &str = "golden";

/// Replays `capture` in `mode` into a fresh directory, returning the directory.
fn replay(capture: &str, options: &[&str], dir: &Path) {
    replay_into(dir)
        .args(["--sensor", SENSOR])
        .args(options)
        .arg(repo::capture(capture))
        .env("HHMON_LOG", "error")
        .output();
}

#[test]
fn replays_write_the_golden_snapshots() {
    let scratch = tempfile::tempdir().unwrap();
    let mut differences = Vec::new();
    let mut compared = 0;
    for capture in captures::all().iter().map(|c| c.name) {
        for (mode, options) in MODES {
            let dir = scratch.path().join(format!("{capture}.{mode}"));
            replay(capture, options, &dir);
            let lines = if dir.exists() {
                snapshot_lines(&dir)
            } else {
                String::new()
            };
            let name = format!("replay/{capture}.{mode}.jsonl.gz");
            if lines.is_empty() {
                // A capture without packets writes no snapshot, then or now.
                if golden_dir().join(&name).exists() && !blessing() {
                    differences.push(format!("{name}: no snapshot written"));
                }
                continue;
            }
            compared += 1;
            differences.extend(compare_json_lines(&name, &lines));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    // Every capture with packets, in every mode: a shrinking set would pass unnoticed.
    assert!(
        compared >= 30 * MODES.len(),
        "only {compared} replays compared"
    );
}

#[test]
fn merges_write_the_golden_snapshot_and_table() {
    let scratch = tempfile::tempdir().unwrap();
    let mut differences = Vec::new();
    for (index, captures) in MERGED.iter().enumerate() {
        let mut inputs = Vec::new();
        for capture in *captures {
            let dir = scratch.path().join(capture);
            replay(capture, &[], &dir);
            inputs.extend(interval_files(&dir));
        }
        let out = scratch.path().join(format!("merged-{index}.json"));
        let mut args = vec!["merge", "--top", "10", "--out", out.to_str().unwrap()];
        args.extend(inputs.iter().map(|p| p.to_str().unwrap()));
        let output = run(&args);
        assert!(output.status.success(), "{output:?}");
        let merged: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
        differences.extend(compare_json_lines(
            &format!("merge/{index}.jsonl.gz"),
            &format!("{merged}\n"),
        ));
        differences.extend(compare_text(
            &format!("merge/{index}.table.txt"),
            &output.stdout,
        ));
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

#[test]
fn a_replays_metrics_are_the_golden_text() {
    use std::time::{Duration, Instant};

    let port = http::free_port();
    let hhmon = hhmon(["replay", "--quiet", "--sensor", SENSOR])
        .args(["--interval", "1000000000s", "--listen"])
        .arg(port.to_string())
        .arg(repo::capture("many-protocols.pcap"))
        .env("HHMON_LOG", "error")
        .spawn(Stdio::inherit(), Stdio::inherit());
    let get = |path: &str| http::get(([127, 0, 0, 1], port).into(), path).map(|(_, body)| body);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !get("/healthz").is_some_and(|body| body.contains("finished")) {
        assert!(Instant::now() < deadline, "the replay did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    let metrics = get("/metrics").unwrap();
    drop(hhmon);
    // The version changes with every release; everything else is the replay's.
    let metrics: String = metrics
        .lines()
        .filter(|line| !line.starts_with("hhmon_build_info"))
        .map(|line| format!("{line}\n"))
        .collect();
    if let Some(difference) = compare_text("metrics/many-protocols.txt", &metrics) {
        panic!("{difference}");
    }
}
