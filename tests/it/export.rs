//! The export tree of the real binary against its own snapshots: one replay writes both, and
//! every row of the published Parquet files must be what the snapshot of its interval says,
//! field for field, sketches byte for byte (the prefix lists' rows too, ranked within their
//! length); periods become few files, nothing stays staged.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::util::export::{published_files, published_rows, rows};
use crate::util::hhmon::hhmon;
use crate::util::repo::capture;
use crate::util::snapshots::interval_files;

/// The rows a snapshot's interval must have in the export, built from the snapshot's JSON
/// as docs/export.md describes them (without `interval_start`, checked apart).
fn expected_rows(snapshot: &Value) -> Vec<Value> {
    let start = &snapshot["interval"]["start_unix"];
    let common = |kind: &str| {
        json!({
            "sensor": snapshot["sensor"],
            "start_unix": start,
            "seconds": snapshot["interval"]["seconds"],
            "kind": kind,
        })
    };
    let mut rows = Vec::new();
    let mut interval = common("interval");
    let fields = [
        ("packets", snapshot["totals"]["packets"].clone()),
        ("bytes", snapshot["totals"]["bytes"].clone()),
        ("distinct_sources", snapshot["distinct_sources"].clone()),
        (
            "distinct_destinations",
            snapshot["distinct_destinations"].clone(),
        ),
        ("sources_sketch", snapshot["sketches"]["sources"].clone()),
        (
            "destinations_sketch",
            snapshot["sketches"]["destinations"].clone(),
        ),
        (
            "unparsed_packets",
            snapshot["totals"]["unparsed_packets"].clone(),
        ),
        ("counting", snapshot["counting"].clone()),
    ];
    for (name, value) in fields {
        interval[name] = value;
    }
    rows.push(interval);
    let lists = [
        ("top_flows", "flow", "packets"),
        ("top_flows_by_bytes", "flow", "bytes"),
        ("top_sources", "source", "packets"),
        ("top_sources_by_bytes", "source", "bytes"),
        ("top_destinations", "destination", "packets"),
        ("top_destinations_by_bytes", "destination", "bytes"),
    ];
    for (list, kind, by) in lists {
        for (rank, entry) in snapshot[list].as_array().unwrap().iter().enumerate() {
            let mut row = common(kind);
            row["ranked_by"] = json!(by);
            row["rank"] = json!(rank + 1);
            row["packets_lower_bound"] = lower_bound(entry, "packets");
            row["bytes_lower_bound"] = lower_bound(entry, "bytes");
            let copied: &[(&str, &str)] = if kind == "flow" {
                &[
                    ("src", "src"),
                    ("dst", "dst"),
                    ("src_port", "src_port"),
                    ("dst_port", "dst_port"),
                    ("protocol", "protocol"),
                    ("packets", "packets"),
                    ("bytes", "bytes"),
                ]
            } else {
                &[
                    ("address", "address"),
                    ("packets", "packets"),
                    ("bytes", "bytes"),
                    ("distinct_sources", "distinct_sources"),
                    ("distinct_destinations", "distinct_destinations"),
                    ("sources_sketch", "distinct_sources_sketch"),
                    ("destinations_sketch", "distinct_destinations_sketch"),
                ]
            };
            for &(column, field) in copied {
                if let Some(value) = entry.get(field).filter(|v| !v.is_null()) {
                    row[column] = value.clone();
                }
            }
            rows.push(row);
        }
    }
    let prefix_lists = [
        ("top_source_prefixes", "source_prefix", "packets"),
        ("top_source_prefixes_by_bytes", "source_prefix", "bytes"),
        ("top_destination_prefixes", "destination_prefix", "packets"),
        (
            "top_destination_prefixes_by_bytes",
            "destination_prefix",
            "bytes",
        ),
    ];
    for (list, kind, by) in prefix_lists {
        // One ranked list per length and address family, one after the other.
        let mut ranks: BTreeMap<(bool, u64), u64> = BTreeMap::new();
        for entry in snapshot[list].as_array().unwrap() {
            let prefix = entry["prefix"].as_str().unwrap();
            let length = entry["length"].as_u64().unwrap();
            let rank = ranks.entry((prefix.contains(':'), length)).or_default();
            *rank += 1;
            let mut row = common(kind);
            row["ranked_by"] = json!(by);
            row["rank"] = json!(*rank);
            row["prefix"] = json!(prefix);
            row["prefix_length"] = json!(length);
            row["packets_lower_bound"] = lower_bound(entry, "packets");
            row["bytes_lower_bound"] = lower_bound(entry, "bytes");
            let copied = [
                ("packets", "packets"),
                ("bytes", "bytes"),
                ("distinct_addresses", "distinct_addresses"),
                ("addresses_sketch", "distinct_addresses_sketch"),
            ];
            for (column, field) in copied {
                if let Some(value) = entry.get(field).filter(|v| !v.is_null()) {
                    row[column] = value.clone();
                }
            }
            rows.push(row);
        }
    }
    rows
}

/// Whether a list entry's `figure` is a lower bound, as its `lower_bound` lists them.
fn lower_bound(entry: &Value, figure: &str) -> Value {
    let listed = entry.get("lower_bound").and_then(Value::as_array);
    json!(listed.is_some_and(|l| l.contains(&json!(figure))))
}

/// An exported row without its nulls and `interval_start`, as text, for comparing multisets.
fn canonical(row: &Value) -> String {
    let object: BTreeMap<&String, &Value> = row
        .as_object()
        .unwrap()
        .iter()
        .filter(|(name, value)| !value.is_null() && name.as_str() != "interval_start")
        .collect();
    serde_json::to_string(&object).unwrap()
}

#[test]
fn every_exported_row_is_what_the_snapshot_of_its_interval_says() {
    let out = tempfile::tempdir().unwrap();
    let (snapshots, export) = (out.path().join("snapshots"), out.path().join("export"));
    // 24 one-second intervals in 10 s periods; the flood's victim carries a fan-in sketch.
    hhmon([
        "replay",
        "--quiet",
        "--interval",
        "1s",
        "--top",
        "5",
        "--fan-sketches",
        "--sensor",
        "edge-1",
        "--export-roll",
        "10s",
    ])
    .arg("--snapshot-dir")
    .arg(&snapshots)
    .arg("--export-dir")
    .arg(&export)
    .arg(capture("ddos-synflood-spoofed.pcap"))
    .output()
    .succeeded();

    let mut expected = Vec::new();
    let mut periods = std::collections::BTreeSet::new();
    for path in interval_files(&snapshots) {
        let snapshot: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        periods.insert(snapshot["interval"]["start_unix"].as_u64().unwrap() / 10);
        expected.extend(expected_rows(&snapshot).iter().map(canonical));
    }
    let exported = published_rows(&export);
    let mut got: Vec<String> = exported.iter().map(canonical).collect();
    expected.sort();
    got.sort();
    assert!(expected.len() > 24, "{}", expected.len());
    assert_eq!(got, expected);
    // The prefix views are on by default: every list has rows, with sketches (--fan-sketches).
    for kind in ["source_prefix", "destination_prefix"] {
        for by in ["packets", "bytes"] {
            let listed = exported
                .iter()
                .filter(|row| row["kind"] == kind && row["ranked_by"] == by)
                .filter(|row| row["addresses_sketch"].is_string())
                .count();
            assert!(listed >= 24, "{kind} by {by}: {listed} rows with a sketch");
        }
    }

    // One file per 10 s period, under its date and sensor; the timestamp column is the start.
    let files = published_files(&export);
    assert_eq!(files.len(), periods.len());
    for file in &files {
        let relative = file
            .strip_prefix(&export)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(
            relative.starts_with("date=2021-04-28/sensor=edge-1/hhmon-0016196058"),
            "{relative}"
        );
        for row in rows(file) {
            assert!(
                row["interval_start"]
                    .as_str()
                    .unwrap()
                    .starts_with("2021-04-28"),
                "{row}"
            );
        }
    }
    let staging = export.join(".hhmon-staging/sensor=edge-1");
    assert_eq!(
        std::fs::read_dir(staging).unwrap().count(),
        0,
        "nothing stays staged"
    );
}
