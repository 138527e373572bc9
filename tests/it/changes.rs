//! Sudden changes (issue #18): traffic that steps up for one destination halfway through a
//! trace is flagged in the interval of the step and in no steady interval before it; on the
//! shipped captures of ordinary traffic, nothing rises as far as the `HhmonSuddenHeavyHitter`
//! alert's thresholds (a score over 0.3 and over 1 000 packets/s of rise).

use std::path::Path;

use hhmon::report::{ChangeView, IntervalReport};

use crate::util::hhmon::{hhmon, replay_into};

/// Interval snapshots of `dir`, oldest first.
fn intervals(dir: &Path) -> Vec<IntervalReport> {
    let mut reports: Vec<IntervalReport> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.file_name().unwrap() != "latest.json")
        .map(|path| serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap())
        .collect();
    reports.sort_by_key(|report| report.interval.start_unix);
    reports
}

/// What the alert would fire on: a source or destination whose score and rise per second pass
/// its thresholds.
fn alerting(report: &IntervalReport) -> Vec<String> {
    let seconds = report.interval.seconds.max(1) as f64;
    report
        .changes
        .iter()
        .flat_map(|changes| &changes.rises)
        .filter(|rise| rise.view.is_address())
        .filter(|rise| {
            rise.score > 0.3
                && (rise.packets.saturating_sub(rise.baseline_packets)) as f64 / seconds > 1_000.0
        })
        .map(|rise| format!("{} {:?} {:.2}", rise.key, rise.view, rise.score))
        .collect()
}

#[test]
fn a_step_for_one_destination_is_flagged_in_its_interval_only() {
    let dir = tempfile::tempdir().unwrap();
    // Five seconds of Zipf traffic, then the same traffic again with 40% of the packets of a
    // flood to 203.0.113.10 on top.
    let [before, after] = [
        dir.path().join("before.pcap"),
        dir.path().join("after.pcap"),
    ];
    for (path, start, attack) in [(&before, "1700000000", "0"), (&after, "1700000005", "0.4")] {
        hhmon([
            "generate",
            "--packets",
            "500000",
            "--flows",
            "100000",
            "--rate",
            "100000",
        ])
        .args(["--seed", "7", "--start", start, "--attack", attack, "--out"])
        .arg(path)
        .output()
        .succeeded();
    }
    let out = tempfile::tempdir().unwrap();
    replay_into(out.path())
        .args(["--interval", "1s"])
        .arg(&before)
        .arg(&after)
        .output()
        .succeeded();
    let reports = intervals(out.path());
    assert_eq!(reports.len(), 10);
    for (index, report) in reports.iter().enumerate() {
        let changes = report.changes.as_ref().unwrap();
        let top = changes.rises.first();
        println!(
            "interval {index}: warming up {}, top rise {:?}",
            changes.warming_up,
            top.map(|r| (&r.key, r.view, r.score))
        );
        assert_eq!(changes.warming_up, index < 3, "interval {index}");
        match index {
            0..=4 => {
                let highest = top.map_or(0.0, |r| r.score);
                assert!(highest < 0.02, "steady interval {index}: {top:?}");
                assert!(alerting(report).is_empty());
            }
            5 => {
                let top = top.unwrap();
                assert_eq!(
                    (top.key.as_str(), top.view, top.new),
                    ("203.0.113.10", ChangeView::Destinations, true)
                );
                // 40 000 of the interval's 100 000 packets are the flood's, all new.
                assert!((top.score - 0.4).abs() < 0.01, "{top:?}");
                assert!(changes.new_talkers.iter().any(|t| t.key == "203.0.113.10"));
                assert_eq!(
                    alerting(report),
                    [format!("203.0.113.10 Destinations {:.2}", top.score)]
                );
            }
            _ => {}
        }
    }
}

#[test]
fn ordinary_shipped_captures_raise_no_change_alert() {
    // Every shipped capture of ordinary traffic (the DDoS captures are attacks), in 1 s
    // intervals.
    let captures = crate::util::captures::all()
        .iter()
        .map(|capture| capture.name)
        .filter(|name| !name.starts_with("ddos"));
    let mut replayed = 0;
    for name in captures {
        let out = tempfile::tempdir().unwrap();
        replay_into(out.path())
            .args(["--interval", "1s"])
            .arg(crate::util::repo::capture(name))
            .output();
        if !out.path().join("latest.json").exists() {
            continue;
        }
        replayed += 1;
        for report in intervals(out.path()) {
            assert!(
                alerting(&report).is_empty(),
                "{name}: {:?}",
                alerting(&report)
            );
        }
    }
    assert!(replayed > 10, "{replayed} captures replayed");
}
