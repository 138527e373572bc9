//! The sketches in hhmon's snapshots are DataSketches HLL sketches that another implementation
//! reads: Apache DataSketches for Python (the C++ library) reads every snapshot's sketches and
//! gets the estimates hhmon reads from them, in each of the sketch's modes (coupon list,
//! coupon set, registers), and its union of two snapshots' sketches gives the count
//! `hhmon merge` reports. The sketches are the compact HLL_4 form, which it must take as such.
//!
//! The Python package must be installed: `scripts/install-deps.sh --test` makes a virtual
//! environment with it at `/opt/hhmon-test-venv` (or `$HHMON_TEST_VENV`). A missing package
//! fails the test.

use std::path::{Path, PathBuf};
use std::process::Command;

use hhmon::sketch::hll::{DistinctCounter, DEFAULT_LG_K};
use serde_json::Value;

use crate::util::hhmon::{hhmon, replay_into};
use crate::util::repo;
use crate::util::snapshots::read;
const DEFAULT_VENV: &str = "/opt/hhmon-test-venv";
const INSTALL: &str = "run `scripts/install-deps.sh --test` (it creates a virtual environment \
     with `pip install datasketches` at /opt/hhmon-test-venv), or set HHMON_TEST_VENV to a \
     virtual environment that has the `datasketches` package";

/// The Python of the test virtual environment, checked to import DataSketches.
fn python() -> PathBuf {
    let venv =
        std::env::var_os("HHMON_TEST_VENV").map_or_else(|| DEFAULT_VENV.into(), PathBuf::from);
    let python = venv.join("bin/python3");
    let output = Command::new(&python)
        .args(["-c", "import datasketches"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}; {INSTALL}", python.display()));
    assert!(
        output.status.success(),
        "{} cannot import datasketches ({}); {INSTALL}",
        python.display(),
        String::from_utf8_lossy(&output.stderr).trim()
    );
    python
}

/// What `tests/it/read_sketches.py` says of `snapshots`.
fn read_in_python(snapshots: &[&Path]) -> Value {
    let script = repo::path("tests/it/read_sketches.py");
    let output = Command::new(python())
        .arg(script)
        .args(snapshots)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "read_sketches.py: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Replays `capture` into one interval and returns the path of its snapshot.
fn snapshot_of(dir: &Path, capture: &str) -> PathBuf {
    let out = dir.join(capture);
    let status = replay_into(&out)
        .args(["--interval", "1000000000s"])
        .arg(repo::capture(capture))
        .output()
        .status;
    assert!(status.success(), "{capture}");
    out.join("latest.json")
}

/// Estimates from two implementations of the same algorithm on the same registers: equal up
/// to floating-point summation order.
fn same_estimate(python: &Value, rust: f64) -> bool {
    let python = python.as_f64().unwrap();
    (python - rust).abs() <= 1e-9 * rust.max(1.0)
}

#[test]
fn python_datasketches_reads_the_same_estimates() {
    let dir = tempfile::tempdir().unwrap();
    // Registers (37 623 sources), a coupon set (133), a coupon list (a handful).
    let paths: Vec<PathBuf> = [
        "ddos-synflood-spoofed.pcap",
        "gnutella-p2p.pcap",
        "dns.pcap",
    ]
    .iter()
    .map(|capture| snapshot_of(dir.path(), capture))
    .collect();
    let python = read_in_python(&paths.iter().map(PathBuf::as_path).collect::<Vec<_>>());
    for (path, read_back) in paths.iter().zip(python["snapshots"].as_array().unwrap()) {
        let report = read(path);
        let sketches = report.sketches.as_ref().unwrap();
        for (kind, text, reported) in [
            ("sources", &sketches.sources, report.distinct_sources),
            (
                "destinations",
                &sketches.destinations,
                report.distinct_destinations,
            ),
        ] {
            let ours = DistinctCounter::from_base64(text).unwrap();
            let theirs = &read_back[kind];
            eprintln!(
                "{} {kind}: python {} hhmon {} reported {reported}",
                path.display(),
                theirs["estimate"],
                ours.estimate()
            );
            assert_eq!(theirs["lg_k"], DEFAULT_LG_K, "{kind}");
            assert_eq!(theirs["type"], "HLL_4", "{kind}");
            assert!(
                same_estimate(&theirs["estimate"], ours.estimate()),
                "{kind}: {theirs}"
            );
            assert_eq!(
                theirs["estimate"].as_f64().unwrap().round() as u64,
                reported,
                "{kind} of {}",
                path.display()
            );
        }
    }
}

#[test]
fn python_datasketches_union_gives_the_merged_count() {
    let dir = tempfile::tempdir().unwrap();
    let parts = [
        snapshot_of(dir.path(), "ddos-synflood-spoofed.pcap"),
        snapshot_of(dir.path(), "ddos-reflection-synack.pcap"),
    ];
    let merged_path = dir.path().join("merged.json");
    let status = hhmon(["merge", "--out"])
        .arg(&merged_path)
        .args(&parts)
        .output()
        .status;
    assert!(status.success());
    let merged = read(&merged_path);
    let python = read_in_python(&[&parts[0], &parts[1]]);
    // Both sides hold registers for the sources, so the union does too.
    assert_eq!(python["union"]["sources"]["lg_k"], DEFAULT_LG_K);
    for (kind, reported) in [
        ("sources", merged.distinct_sources),
        ("destinations", merged.distinct_destinations),
    ] {
        let union = &python["union"][kind];
        eprintln!(
            "{kind}: python union {} hhmon merge {reported}",
            union["estimate"]
        );
        assert_eq!(
            union["estimate"].as_f64().unwrap().round() as u64,
            reported,
            "{kind}"
        );
    }
    // And the merged snapshot's own sketch reads back in Python as the union.
    let again = read_in_python(&[&merged_path]);
    assert_eq!(again["snapshots"][0]["sources"]["type"], "HLL_4");
    let merged_sketch = &again["snapshots"][0]["sources"]["estimate"];
    assert_eq!(
        merged_sketch.as_f64().unwrap().round() as u64,
        merged.distinct_sources
    );
}
