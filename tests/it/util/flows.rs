//! The flows of exact snapshots, summed over intervals: how the tests of `hhmon collect`
//! compare a run with exact counts or with another run.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::tshark::dissect;

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

/// Per five-tuple, packets and bytes of the IP packets of the capture at `path`, from tshark's
/// own dissection; ports are 0 for protocols without them. A packet's bytes are tshark's field
/// `length` less `header` bytes: how exporters define them differs (softflowd counts the frame
/// after its Ethernet header, `frame.len` less 14, padding included; pmacct the IP total
/// length, `ip.len`).
pub fn exact_flows(path: &Path, length: &str, header: u64) -> BTreeMap<Flow, (u64, u64)> {
    let fields = [
        "-Y",
        "ip",
        "-T",
        "fields",
        "-e",
        "ip.src",
        "-e",
        "ip.dst",
        "-e",
        "tcp.srcport",
        "-e",
        "tcp.dstport",
        "-e",
        "ip.proto",
        "-e",
        length,
    ];
    let dissection = dissect(path, &fields);
    assert!(dissection.success, "tshark failed on {}", path.display());
    let mut flows = BTreeMap::new();
    for line in dissection.stdout.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let number = |i: usize| f[i].parse::<u64>().unwrap_or(0);
        let key = (
            f[0].to_owned(),
            f[1].to_owned(),
            number(2),
            number(3),
            number(4),
        );
        let entry = flows.entry(key).or_insert((0, 0));
        entry.0 += 1;
        entry.1 += number(5) - header;
    }
    flows
}
