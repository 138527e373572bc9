//! The snapshot contract: what the snapshot sink writes validates against
//! `docs/snapshot.schema.json`, and the schema rejects reports that break the contract.

use hhmon::decode::UnparsedReason;
use hhmon::export::snapshot::{Retention, SnapshotWriter};
use hhmon::report::{
    AddressEntry, CaptureCounts, CaptureStats, FlowEntry, IntervalReport, IntervalSpan, Totals,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;

fn schema() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/snapshot.schema.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn validator() -> jsonschema::Validator {
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema())
        .unwrap()
}

fn totals(packets: u64) -> Totals {
    let unparsed_by_reason: BTreeMap<String, u64> = UnparsedReason::ALL
        .iter()
        .map(|reason| (reason.as_str().to_owned(), 0))
        .collect();
    Totals {
        packets,
        bytes: packets * 100,
        unparsed_packets: 0,
        unparsed_by_reason,
        transport_truncated: 1,
    }
}

fn flow(src: &str, dst: &str, protocol: u8) -> FlowEntry {
    FlowEntry {
        src: src.parse().unwrap(),
        dst: dst.parse().unwrap(),
        src_port: 65535,
        dst_port: 0,
        protocol,
        packets: u64::MAX,
        bytes: 0,
    }
}

fn address(text: &str) -> AddressEntry {
    AddressEntry {
        address: text.parse().unwrap(),
        packets: 3,
        bytes: 180,
    }
}

/// A report with IPv4 and IPv6 entries, and extreme but legal values.
fn report() -> IntervalReport {
    IntervalReport {
        interval: IntervalSpan::new(1_700_000_000, 10),
        totals: totals(40),
        cumulative: totals(400),
        distinct_sources: 7,
        counting: "chk".to_owned(),
        top_flows: vec![
            flow("192.0.2.1", "198.51.100.7", 6),
            flow("2001:db8::1", "fe80::1", 58),
        ],
        top_flows_by_bytes: vec![flow("::ffff:192.0.2.1", "::1", 255)],
        top_sources: vec![address("192.0.2.1"), address("2001:db8::1")],
        top_sources_by_bytes: vec![address("10.0.0.1")],
        top_destinations: vec![address("2001:db8::2")],
        top_destinations_by_bytes: vec![],
        capture: Some(CaptureStats {
            interval: CaptureCounts {
                received: 45,
                dropped_kernel: 5,
                dropped_interface: 0,
            },
            cumulative: CaptureCounts {
                received: u64::MAX,
                dropped_kernel: 5,
                dropped_interface: 1,
            },
        }),
    }
}

/// The report as the snapshot sink writes it to disk.
fn written(report: &IntervalReport) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = SnapshotWriter::new(dir.path(), Retention::default()).unwrap();
    let path = writer.write(report).unwrap();
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn errors(instance: &Value) -> Vec<String> {
    validator()
        .iter_errors(instance)
        .map(|error| format!("{error} at {}", error.instance_path))
        .collect()
}

#[test]
fn the_schema_is_valid_draft_2020_12() {
    assert!(jsonschema::draft202012::meta::is_valid(&schema()));
}

#[test]
fn written_snapshots_validate() {
    assert_eq!(errors(&written(&report())), Vec::<String>::new());
    let mut exact = report();
    exact.counting = "exact".to_owned();
    exact.top_flows.clear();
    // A replay has no capture statistics.
    exact.capture = None;
    assert_eq!(errors(&written(&exact)), Vec::<String>::new());
}

#[test]
fn every_unparsed_reason_is_required() {
    let schema = schema();
    let required = &schema["$defs"]["totals"]["properties"]["unparsed_by_reason"]["required"];
    let reasons: Vec<&str> = UnparsedReason::ALL
        .iter()
        .map(|reason| reason.as_str())
        .collect();
    assert_eq!(required, &json!(reasons));
}

/// Applies `change` to a valid written snapshot and expects the schema to reject it.
fn rejects(what: &str, change: impl FnOnce(&mut Value)) {
    let mut instance = written(&report());
    change(&mut instance);
    assert!(!validator().is_valid(&instance), "accepted {what}");
}

#[test]
fn reports_breaking_the_contract_are_rejected() {
    rejects("no totals.packets", |v| {
        v["totals"].as_object_mut().unwrap().remove("packets");
    });
    rejects("no top_flows", |v| {
        v.as_object_mut().unwrap().remove("top_flows");
    });
    rejects("a missing unparsed reason", |v| {
        let reasons = v["totals"]["unparsed_by_reason"].as_object_mut().unwrap();
        reasons.remove("malformed");
    });
    rejects("packets as a string", |v| {
        v["totals"]["packets"] = json!("40")
    });
    rejects("a fractional count", |v| v["distinct_sources"] = json!(1.5));
    rejects("a negative count", |v| v["cumulative"]["bytes"] = json!(-1));
    rejects("a port above 65535", |v| {
        v["top_flows"][0]["src_port"] = json!(65536)
    });
    rejects("protocol 256", |v| {
        v["top_flows"][0]["protocol"] = json!(256)
    });
    rejects("a host name as address", |v| {
        v["top_sources"][0]["address"] = json!("example.com")
    });
    rejects("an IPv4 address out of range", |v| {
        v["top_flows"][0]["dst"] = json!("192.0.2.256")
    });
    rejects("a start that is not RFC 3339", |v| {
        v["interval"]["start"] = json!("14/11/2023 22:13")
    });
    rejects("an unknown counting", |v| v["counting"] = json!("guess"));
    rejects("an empty interval", |v| v["interval"]["seconds"] = json!(0));
    rejects("capture counts without drops by the kernel", |v| {
        v["capture"]["interval"]
            .as_object_mut()
            .unwrap()
            .remove("dropped_kernel");
    });
    rejects("a negative drop count", |v| {
        v["capture"]["cumulative"]["dropped_interface"] = json!(-1)
    });
    rejects("capture statistics as a number", |v| {
        v["capture"] = json!(3)
    });
}
