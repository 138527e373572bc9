//! The flows of exact snapshots, summed over intervals: how the tests of `hhmon collect`
//! compare a run with exact counts or with another run.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

/// A five-tuple as snapshots write it: addresses as text, ports and protocol as numbers.
pub type Flow = (String, String, u64, u64, u64);

/// Packets and bytes of every flow listed in the interval snapshots in `dir`, summed over the
/// intervals, and the summed totals. With `--exact` and a `--top` above the flow count the
/// lists are complete, so these are the run's counts of every flow.
pub fn summed(dir: &Path) -> ((u64, u64), BTreeMap<Flow, (u64, u64)>) {
    let mut totals = (0, 0);
    let mut flows = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap() == "latest.json" {
            continue;
        }
        let snapshot: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        totals.0 += snapshot["totals"]["packets"].as_u64().unwrap();
        totals.1 += snapshot["totals"]["bytes"].as_u64().unwrap();
        for flow in snapshot["top_flows"].as_array().unwrap() {
            let text = |name: &str| flow[name].as_str().unwrap().to_owned();
            let number = |name: &str| flow[name].as_u64().unwrap();
            let key = (
                text("src"),
                text("dst"),
                number("src_port"),
                number("dst_port"),
                number("protocol"),
            );
            let entry = flows.entry(key).or_insert((0, 0));
            entry.0 += number("packets");
            entry.1 += number("bytes");
        }
    }
    (totals, flows)
}
