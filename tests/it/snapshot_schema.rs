//! The snapshot contract: what the snapshot sink writes validates against
//! `docs/snapshot.schema.json`, the schema rejects reports that break the contract, and a
//! snapshot loads exactly when the schema accepts it.

use hhmon::decode::UnparsedReason;
use hhmon::merge;
use hhmon::report::{
    AddressEntry, CaptureCounts, CaptureStats, ChangeEntry, ChangeView, Changes, Counting,
    ExporterCounts, ExporterStats, FlowEntry, HierarchicalEntry, InterfaceStats, IntervalReport,
    IntervalSpan, LowerBound, PrefixEntry, ReaderCapture, ReasonCounts, Sketches, TelemetryStats,
    Totals, WindowCounts,
};
use hhmon::sinks::snapshot::{Durability, Retention, SnapshotWriter};
use hhmon::sketch::hll::DistinctCounter;
use serde_json::{json, Value};

fn schema() -> Value {
    let path = crate::util::repo::path("docs/snapshot.schema.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The schema, formats checked; the replay and JSON API tests validate real reports with it too.
pub fn validator() -> jsonschema::Validator {
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema())
        .unwrap()
}

fn totals(packets: u64) -> Totals {
    let mut decap_fallback_by_reason = ReasonCounts::default();
    decap_fallback_by_reason[UnparsedReason::Truncated] = packets / 10;
    Totals {
        packets,
        bytes: packets * 100,
        unparsed_packets: 0,
        unparsed_by_reason: ReasonCounts::default(),
        transport_truncated: 1,
        decap_fallback_by_reason,
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
        lower_bound: LowerBound {
            packets: false,
            bytes: true,
        },
    }
}

fn address(text: &str) -> AddressEntry {
    AddressEntry {
        lower_bound: LowerBound {
            packets: true,
            bytes: false,
        },
        ..AddressEntry::new(text.parse().unwrap(), 3, 180)
    }
}

fn source(text: &str, fan_out: Option<u64>) -> AddressEntry {
    AddressEntry {
        distinct_destinations: fan_out,
        distinct_destinations_sketch: fan_out.map(|n| sketch_of(0..n.min(50_000) as u32)),
        ..address(text)
    }
}

fn destination(text: &str, fan_in: Option<u64>) -> AddressEntry {
    AddressEntry {
        distinct_sources: fan_in,
        distinct_sources_sketch: fan_in.map(|n| sketch_of(0..n as u32)),
        ..address(text)
    }
}

fn prefix(text: &str, distinct: Option<u64>) -> PrefixEntry {
    PrefixEntry {
        lower_bound: LowerBound {
            packets: false,
            bytes: true,
        },
        distinct_addresses: distinct,
        distinct_addresses_sketch: distinct.map(|n| sketch_of(0..n.min(50_000) as u32)),
        ..PrefixEntry::new(text.parse().unwrap(), 3, 180)
    }
}

fn sketch_of(values: std::ops::Range<u32>) -> String {
    let mut counter = DistinctCounter::default();
    for value in values {
        counter.insert(value);
    }
    counter.to_base64()
}

/// A report with IPv4 and IPv6 entries, and extreme but legal values.
fn report() -> IntervalReport {
    IntervalReport {
        interval: IntervalSpan::new(1_700_000_000, 10),
        sensor: "edge-1".into(),
        totals: totals(40),
        cumulative: totals(400),
        distinct_sources: 7,
        distinct_destinations: 0,
        window: Some(WindowCounts {
            seconds: 3_600,
            intervals: 1,
            distinct_sources: 7,
        }),
        counting: Counting::Chk,
        top_flows: vec![
            flow("192.0.2.1", "198.51.100.7", 6),
            flow("2001:db8::1", "fe80::1", 58),
        ],
        top_flows_by_bytes: vec![flow("::ffff:192.0.2.1", "::1", 255)],
        top_sources: vec![
            source("192.0.2.1", Some(40_000)),
            source("2001:db8::1", None),
        ],
        top_sources_by_bytes: vec![source("10.0.0.1", Some(0))],
        top_destinations: vec![destination("2001:db8::2", Some(1))],
        top_destinations_by_bytes: vec![],
        top_source_prefixes: vec![
            prefix("10.0.0.0/8", Some(70_000)),
            prefix("2001:db8::/32", None),
        ],
        top_source_prefixes_by_bytes: vec![prefix("192.0.2.0/24", Some(0))],
        top_destination_prefixes: vec![
            prefix("203.0.113.0/24", Some(256)),
            prefix("2001:db8:1:2::/64", Some(3)),
            prefix("192.0.2.1/32", Some(1)),
        ],
        top_destination_prefixes_by_bytes: vec![],
        hierarchical_share: 0.03,
        hierarchical_source_prefixes: vec![HierarchicalEntry {
            prefix: "192.0.2.0/24".parse().unwrap(),
            packets: 40,
            conditioned_packets: 30,
        }],
        hierarchical_destination_prefixes: vec![],
        changes: Some(Changes {
            warming_up: false,
            rises: vec![ChangeEntry {
                view: ChangeView::DestinationPrefixes,
                key: "203.0.113.0/24".to_owned(),
                packets: 90,
                bytes: 9_000,
                baseline_packets: 3,
                baseline_bytes: 300,
                score: 0.87,
                new: false,
            }],
            new_talkers: vec![],
        }),
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
            readers: vec![ReaderCapture {
                reader: 1,
                interval: CaptureCounts {
                    received: 45,
                    dropped_kernel: 5,
                    dropped_interface: 0,
                },
                cumulative: CaptureCounts {
                    received: 900,
                    dropped_kernel: 5,
                    dropped_interface: 1,
                },
            }],
        }),
        // A live capture has no telemetry, nor a collector capture statistics: the schema
        // checks each part, not which come together.
        telemetry: Some(TelemetryStats {
            exporters: vec![ExporterStats {
                exporter: "2001:db8::9".parse().unwrap(),
                counts: ExporterCounts {
                    datagrams: 40,
                    records: 1_000,
                    lost_datagrams: 2,
                    lost_records: 60,
                    template_misses: 1,
                    malformed: [("truncated".to_owned(), 3)].into(),
                },
            }],
            other: ExporterCounts::default(),
            exporters_seen: 1,
            interfaces: vec![InterfaceStats {
                agent: "192.0.2.1".parse().unwrap(),
                if_index: 1_073_741_823,
                in_octets: 29_961_000,
                in_packets: 499_350,
                out_octets: 0,
                out_packets: 0,
            }],
            interfaces_untracked_records: 2,
            socket_drops: Some(17),
        }),
        sketches: Some(Sketches {
            sources: sketch_of(0..7),
            destinations: sketch_of(0..0),
        }),
    }
}

/// The report as the snapshot sink writes it to disk.
fn written(report: &IntervalReport) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let mut writer =
        SnapshotWriter::new(dir.path(), Retention::default(), Durability::EachSnapshot).unwrap();
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
    exact.counting = Counting::Exact;
    exact.top_flows.clear();
    // A replay has no capture statistics.
    exact.capture = None;
    exact.window = None;
    exact.sketches = Some(Sketches {
        sources: sketch_of(0..100_000),
        destinations: sketch_of(0..300),
    });
    assert_eq!(errors(&written(&exact)), Vec::<String>::new());
}

#[test]
fn every_unparsed_reason_is_required() {
    let schema = schema();
    let reasons: Vec<&str> = UnparsedReason::ALL
        .iter()
        .map(|reason| reason.as_str())
        .collect();
    for field in ["unparsed_by_reason", "decap_fallback_by_reason"] {
        let by_reason = &schema["$defs"]["totals"]["properties"][field];
        assert_eq!(by_reason["required"], json!(reasons), "{field}");
        assert_eq!(
            by_reason["propertyNames"]["enum"],
            json!(reasons),
            "{field}"
        );
    }
}

/// Whether `instance` loads as a report.
fn loads(instance: &Value) -> bool {
    serde_json::from_value::<IntervalReport>(instance.clone()).is_ok()
}

#[test]
fn written_snapshots_load_back() {
    let report = report();
    let loaded: IntervalReport = serde_json::from_value(written(&report)).unwrap();
    assert_eq!(loaded, report);
}

/// The schema and the code agree field by field: every field the schema requires is one
/// without which a snapshot does not load, and the optional ones may go.
#[test]
fn without_a_field_a_snapshot_loads_exactly_when_the_schema_accepts_it() {
    let schema = schema();
    let snapshot = written(&report());
    assert!(loads(&snapshot));
    let required = |at: &Value| -> Vec<String> {
        at["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|name| name.as_str().unwrap().to_owned())
            .collect()
    };
    let top_level = required(&schema);
    assert!(top_level.contains(&"sketches".to_owned()));
    for field in snapshot.as_object().unwrap().keys() {
        let mut without = snapshot.clone();
        without.as_object_mut().unwrap().remove(field);
        let schema_accepts = validator().is_valid(&without);
        assert_eq!(schema_accepts, !top_level.contains(field), "{field}");
        assert_eq!(loads(&without), schema_accepts, "without {field}");
    }
    let in_totals = required(&schema["$defs"]["totals"]);
    for field in snapshot["totals"].as_object().unwrap().keys() {
        let mut without = snapshot.clone();
        without["totals"].as_object_mut().unwrap().remove(field);
        assert!(in_totals.contains(field), "{field}");
        assert!(!validator().is_valid(&without), "totals without {field}");
        assert!(!loads(&without), "totals without {field}");
    }
}

#[test]
fn reason_maps_must_name_every_reason_and_no_other() {
    let snapshot = written(&report());
    for field in ["unparsed_by_reason", "decap_fallback_by_reason"] {
        let mut unknown = snapshot.clone();
        unknown["cumulative"][field]["gre_truncated"] = json!(0);
        assert!(
            !validator().is_valid(&unknown),
            "{field}: an unknown reason"
        );
        assert!(!loads(&unknown), "{field}: an unknown reason");

        let mut missing = snapshot.clone();
        missing["totals"][field]
            .as_object_mut()
            .unwrap()
            .remove("unsupported_encapsulation");
        assert!(!validator().is_valid(&missing), "{field}: a missing reason");
        assert!(!loads(&missing), "{field}: a missing reason");
    }
}

/// hhmon always counts distinct, so its snapshots carry sketches; a file without them is not a
/// snapshot to the schema, to loading, or to `hhmon merge`.
#[test]
fn a_snapshot_without_sketches_is_refused_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let mut without = written(&report());
    without.as_object_mut().unwrap().remove("sketches");
    assert!(!validator().is_valid(&without));
    assert!(!loads(&without));
    let path = dir.path().join("bare.json");
    std::fs::write(&path, serde_json::to_vec(&without).unwrap()).unwrap();
    let error = merge::read(&path).unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, merge::Error::Parse { .. }), "{text}");
    assert!(
        text.contains("bare.json") && text.contains("missing field `sketches`"),
        "{text}"
    );

    // With distinct counting off (library use only) a report has none: merge names it.
    let mut bare = report();
    bare.sketches = None;
    let inputs = [(path, report()), (dir.path().join("off.json"), bare)];
    let error = merge::merge(&inputs, 5, None).unwrap_err();
    assert!(
        matches!(&error, merge::Error::NoSketches { path } if path.ends_with("off.json")),
        "{error}"
    );
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
    rejects("no decap fallback counts", |v| {
        v["cumulative"]
            .as_object_mut()
            .unwrap()
            .remove("decap_fallback_by_reason");
    });
    rejects("a fractional decap fallback count", |v| {
        v["totals"]["decap_fallback_by_reason"]["not_ip"] = json!(0.5)
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
    rejects("no distinct_destinations", |v| {
        v.as_object_mut().unwrap().remove("distinct_destinations");
    });
    rejects("a sketch that is not base64", |v| {
        v["sketches"]["sources"] = json!("not base64!")
    });
    rejects("a missing destinations sketch", |v| {
        v["sketches"]
            .as_object_mut()
            .unwrap()
            .remove("destinations");
    });
    rejects("a fan-in on a source", |v| {
        v["top_sources"][0]["distinct_sources"] = json!(3)
    });
    rejects("a fan-out on a destination", |v| {
        v["top_destinations"][0]["distinct_destinations"] = json!(3)
    });
    rejects("a fractional fan-in", |v| {
        v["top_destinations"][0]["distinct_sources"] = json!(2.5)
    });
    rejects("a prefix without its length", |v| {
        v["top_destination_prefixes"][0]["prefix"] = json!("203.0.113.0")
    });
    rejects("a prefix that is a host name", |v| {
        v["top_source_prefixes"][0]["prefix"] = json!("example.com/8")
    });
    rejects("an IPv4 prefix longer than 32", |v| {
        v["top_destination_prefixes"][0]["prefix"] = json!("203.0.113.0/33")
    });
    rejects("a prefix entry without packets", |v| {
        v["top_destination_prefixes"][0]
            .as_object_mut()
            .unwrap()
            .remove("packets");
    });
    rejects("a fractional distinct address count", |v| {
        v["top_destination_prefixes"][0]["distinct_addresses"] = json!(2.5)
    });
    rejects("a window of 0 seconds", |v| {
        v["window"]["seconds"] = json!(0)
    });
    rejects("a hierarchical share of 0", |v| {
        v["hierarchical_share"] = json!(0)
    });
    rejects("a hierarchical share above 1", |v| {
        v["hierarchical_share"] = json!(1.5)
    });
    rejects("a hierarchical share as a string", |v| {
        v["hierarchical_share"] = json!("5%")
    });
    rejects("a window without its count", |v| {
        v["window"]
            .as_object_mut()
            .unwrap()
            .remove("distinct_sources");
    });
}

/// The schema and the loader agree on the hierarchical share: a fraction above 0 and at most
/// 1, and 0.05 when absent (older snapshots).
#[test]
fn the_hierarchical_share_loads_exactly_when_the_schema_accepts_it() {
    let snapshot = written(&report());
    assert_eq!(snapshot["hierarchical_share"], json!(0.03));
    for share in [
        json!(1),
        json!(0.001),
        json!(0),
        json!(-0.05),
        json!(1.01),
        json!(null),
    ] {
        let mut changed = snapshot.clone();
        changed["hierarchical_share"] = share.clone();
        assert_eq!(
            loads(&changed),
            validator().is_valid(&changed),
            "hierarchical_share {share}"
        );
    }
    let mut older = snapshot;
    older.as_object_mut().unwrap().remove("hierarchical_share");
    let loaded: IntervalReport = serde_json::from_value(older).unwrap();
    assert_eq!(
        loaded.hierarchical_share,
        hhmon::report::DEFAULT_HIERARCHICAL_SHARE
    );
}

/// `lower_bound` names figures, each at most once; the schema and the loader agree on what
/// they refuse, and an entry without it loads as one without bounds.
#[test]
fn lower_bounds_name_known_figures_once() {
    let snapshot = written(&report());
    assert_eq!(snapshot["top_flows"][0]["lower_bound"], json!(["bytes"]));
    assert_eq!(
        snapshot["top_sources"][0]["lower_bound"],
        json!(["packets"])
    );
    let mut bad_sensor = snapshot.clone();
    bad_sensor["sensor"] = json!("a/b");
    assert!(
        !validator().is_valid(&bad_sensor),
        "a sensor name that is a path"
    );
    for (bad, what) in [
        (json!(["frames"]), "an unknown figure"),
        (json!("bytes"), "a string, not a list"),
    ] {
        let mut changed = snapshot.clone();
        changed["top_flows"][0]["lower_bound"] = bad;
        assert!(!validator().is_valid(&changed), "{what}");
        assert!(!loads(&changed), "{what}");
    }
    let mut both = snapshot.clone();
    both["top_flows"][0]["lower_bound"] = json!(["packets", "bytes"]);
    assert!(validator().is_valid(&both));
    let loaded: IntervalReport = serde_json::from_value(both).unwrap();
    assert!(loaded.top_flows[0].lower_bound.packets && loaded.top_flows[0].lower_bound.bytes);

    let mut without = snapshot;
    without["top_flows"][0]
        .as_object_mut()
        .unwrap()
        .remove("lower_bound");
    assert!(validator().is_valid(&without));
    let loaded: IntervalReport = serde_json::from_value(without).unwrap();
    assert!(loaded.top_flows[0].lower_bound.is_none());
}
