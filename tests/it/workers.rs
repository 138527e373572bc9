//! `hhmon replay --workers 2` against `--workers 1` on the same input: the owner threads must
//! give the reports of one thread. Totals are counted by the packet thread in both; exact
//! counting must give identical top lists (the global top is among the owners' tops, ranked the
//! same way); sketches, whose memory is split between the owners, must agree on the top keys
//! within sketch error; and the union of the owners' HyperLogLogs must hold exactly the
//! registers of the one-thread HyperLogLog (each address feeds exactly one owner's counter).

use hhmon::report::{AddressEntry, FlowEntry, IntervalReport};
use hhmon::sketch::hll::{DistinctCounter, DEFAULT_LG_K};
use std::path::{Path, PathBuf};

use crate::util::hhmon::{hhmon, replay_into};
use crate::util::repo::capture;
use crate::util::snapshots::{interval_files, read};

/// Replays `input` with `args` into a fresh directory; returns the interval reports, oldest
/// first.
fn replay(input: &Path, args: &[&str]) -> Vec<IntervalReport> {
    let dir = tempfile::tempdir().unwrap();
    let output = replay_into(dir.path()).args(args).arg(input).output();
    let stderr = output.stderr;
    assert!(output.status.success(), "{args:?}: {stderr}");
    assert!(!stderr.contains("ERROR"), "{stderr}");
    interval_files(dir.path()).iter().map(|p| read(p)).collect()
}

/// One run with one worker and one with two.
fn both(input: &Path, args: &[&str]) -> (Vec<IntervalReport>, Vec<IntervalReport>) {
    let one = replay(input, &[args, &["--workers", "1"]].concat());
    let two = replay(input, &[args, &["--workers", "2"]].concat());
    assert_eq!(one.len(), two.len(), "intervals");
    assert!(!one.is_empty());
    (one, two)
}

fn sketch(text: &str) -> DistinctCounter {
    DistinctCounter::from_base64(text).unwrap()
}

/// What must hold in both counting modes: the interval, the totals, the distinct sketches.
fn assert_same_totals_and_registers(one: &IntervalReport, two: &IntervalReport) {
    assert_eq!(one.interval, two.interval);
    assert_eq!(one.totals, two.totals);
    assert_eq!(one.cumulative, two.cumulative);
    let (a, b) = (
        one.sketches.as_ref().unwrap(),
        two.sketches.as_ref().unwrap(),
    );
    // The serializations differ in the estimator state (one stream keeps a HIP accumulator, a
    // union does not), so the registers are compared through the estimate that reads them
    // alone.
    for (a, b) in [(&a.sources, &b.sources), (&a.destinations, &b.destinations)] {
        assert_eq!(
            sketch(a).composite_estimate(),
            sketch(b).composite_estimate(),
            "{}",
            one.interval.start
        );
    }
    // The report's figure is the HIP estimate with one worker, the union's composite one with
    // two: both estimates of the same registers, within three relative standard errors
    // (1.04 / sqrt(2^lg_k)) of each other. (On the spoofed flood's busiest interval the first
    // is 403, the exact count, and the second 413: 2.5% apart.)
    let bound = 3.0 * 1.04 / f64::from(1u32 << DEFAULT_LG_K).sqrt();
    for (a, b) in [
        (one.distinct_sources, two.distinct_sources),
        (one.distinct_destinations, two.distinct_destinations),
    ] {
        assert!(
            a.abs_diff(b) as f64 <= bound * a as f64 + 1.0,
            "{a} vs {b} at {}",
            one.interval.start
        );
    }
}

fn flow_keys(list: &[FlowEntry]) -> Vec<String> {
    list.iter()
        .map(|f| {
            format!(
                "{} {} {} {} {}",
                f.src, f.dst, f.src_port, f.dst_port, f.protocol
            )
        })
        .collect()
}

fn addresses(list: &[AddressEntry]) -> Vec<std::net::IpAddr> {
    list.iter().map(|a| a.address).collect()
}

/// A generated Zipf trace with a fan-in attack and a scanner, in `dir`.
fn generated(dir: &Path) -> PathBuf {
    let trace = dir.join("trace.pcap");
    let output = hhmon(["generate", "--packets", "200000", "--flows", "20000"])
        .args(["--attack", "0.05", "--scan", "0.02", "--rate", "20000"])
        .arg("--out")
        .arg(&trace)
        .output();
    assert!(output.status.success(), "{output:?}");
    trace
}

#[test]
fn exact_counting_gives_identical_top_lists_with_two_workers() {
    let dir = tempfile::tempdir().unwrap();
    for input in [
        capture("ddos-synflood-spoofed.pcap"),
        capture("many-protocols.pcap"),
        generated(dir.path()),
    ] {
        let (one, two) = both(&input, &["--exact", "--interval", "5s"]);
        for (one, two) in one.iter().zip(&two) {
            assert_same_totals_and_registers(one, two);
            assert_eq!(one.top_flows, two.top_flows, "{input:?}");
            assert_eq!(one.top_flows_by_bytes, two.top_flows_by_bytes);
            // Fan-in and fan-out may differ: each owner has a full table of tracked keys for
            // its half of the addresses, so it tracks some a single table had no room for.
            for (a, b) in address_lists(one, two) {
                let counts = |list: &[AddressEntry]| {
                    list.iter()
                        .map(|e| (e.address, e.packets, e.bytes))
                        .collect::<Vec<_>>()
                };
                assert_eq!(counts(a), counts(b), "{input:?} {}", one.interval.start);
            }
        }
    }
}

/// The four address top lists of `one`, each beside the same list of `two`.
fn address_lists<'a>(
    one: &'a IntervalReport,
    two: &'a IntervalReport,
) -> [(&'a [AddressEntry], &'a [AddressEntry]); 4] {
    [
        (&one.top_sources, &two.top_sources),
        (&one.top_sources_by_bytes, &two.top_sources_by_bytes),
        (&one.top_destinations, &two.top_destinations),
        (
            &one.top_destinations_by_bytes,
            &two.top_destinations_by_bytes,
        ),
    ]
}

/// Counts within 1% of each other.
fn close(a: u64, b: u64) -> bool {
    a.abs_diff(b) as f64 <= 0.01 * a as f64
}

#[test]
fn sketched_counting_gives_the_same_top_ten_within_one_percent_with_two_workers() {
    let dir = tempfile::tempdir().unwrap();
    let trace = generated(dir.path());
    let (one, two) = both(&trace, &["--interval", "1000000000s", "--top", "10"]);
    let (one, two) = (&one[0], &two[0]);
    assert_same_totals_and_registers(one, two);
    for (a, b) in [
        (&one.top_flows, &two.top_flows),
        (&one.top_flows_by_bytes, &two.top_flows_by_bytes),
    ] {
        assert_eq!(flow_keys(a), flow_keys(b));
        for (a, b) in a.iter().zip(b) {
            assert!(
                close(a.packets, b.packets) && close(a.bytes, b.bytes),
                "{a:?} {b:?}"
            );
        }
    }
    for (a, b) in address_lists(one, two) {
        assert_eq!(addresses(a), addresses(b));
        for (a, b) in a.iter().zip(b) {
            assert!(
                close(a.packets, b.packets) && close(a.bytes, b.bytes),
                "{a:?} {b:?}"
            );
        }
    }

    // The shipped flood: its flows and sources are ties of one or two packets (the sketches
    // keep different ones of them), but its victim leads the destinations in both, with its
    // fan-in of tens of thousands of spoofed sources within 1%.
    let flood = capture("ddos-synflood-spoofed.pcap");
    let (one, two) = both(&flood, &["--interval", "1000000000s", "--top", "10"]);
    let (one, two) = (&one[0], &two[0]);
    assert_same_totals_and_registers(one, two);
    let (victim_one, victim_two) = (&one.top_destinations[0], &two.top_destinations[0]);
    assert_eq!(victim_one.address, victim_two.address);
    assert!(
        close(victim_one.packets, victim_two.packets),
        "{victim_two:?}"
    );
    let (a, b) = (
        victim_one.distinct_sources.unwrap(),
        victim_two.distinct_sources.unwrap(),
    );
    assert!(a > 10_000, "{victim_one:?}");
    assert!(close(a, b), "{a} vs {b}");
}

#[test]
fn workers_out_of_range_are_refused() {
    let flood = capture("ddos-synflood-spoofed.pcap");
    for bad in ["0", "65"] {
        let output = hhmon(["replay", "--quiet", "--workers", bad])
            .arg(&flood)
            .output();
        assert!(!output.status.success(), "--workers {bad}");
        assert!(output.stderr.contains("--workers"));
    }
}
