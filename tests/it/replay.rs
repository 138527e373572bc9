//! `hhmon replay` as a whole program: the real binary on the real captures, its snapshots and
//! its metrics endpoint checked against counts tshark computes independently, and its
//! behaviour on damaged input, standard input, signals and a closed standard output.
//!
//! tshark keys frames by their outermost IP five-tuple with reassembly off (see
//! `util::tshark`); everything hhmon reports is recomputed from those keys, never copied from
//! hhmon's own output. What each shipped capture must give (read whole, damaged part-way,
//! refused) comes from the manifest (`util::captures`). tshark and promtool must be
//! installed: a missing tool fails the test.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hhmon::decode::FlowKey;
use hhmon::report::IntervalReport;

use crate::util::captures::{self, Reading};
use crate::util::hhmon::hhmon;
use crate::util::http;
use crate::util::prometheus::{samples, Sample};
use crate::util::repo::capture;
use crate::util::snapshots::read;
use crate::util::tshark::{add, frame_times, tshark, Counts};

/// An interval length that puts each whole capture into one interval: every capture's
/// timestamps lie within [0, 1e9) s (1970) or [1e9, 2e9) s (2001 to 2033).
const ONE_INTERVAL: &str = "1000000000s";

/// Entries compared in each top list.
const TOP: usize = 10;

/// The captures compared with tshark: mixed real traffic, a skewed P2P capture and a DDoS with
/// tens of thousands of spoofed sources.
const COMPARED: &[&str] = &[
    "many-protocols.pcap",
    "wireshark-samples-mixed.pcapng",
    "gnutella-p2p.pcap",
    "ddos-synflood-spoofed.pcap",
];

/// Runs `hhmon replay --quiet --snapshot-dir <dir> <args>` and checks it succeeded cleanly.
fn replay_into(dir: &Path, args: &[&str], input: &Path) {
    let output = crate::util::hhmon::replay_into(dir)
        .args(args)
        .arg(input)
        .output();
    let stderr = output.stderr;
    assert!(output.status.success(), "{args:?} {input:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// The interval files in a snapshot directory as (start_unix, path), oldest first; anything
/// else in the directory but `latest.json` fails the test.
fn interval_files(dir: &Path) -> Vec<(u64, PathBuf)> {
    let mut files = Vec::new();
    let mut latest = false;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if name == "latest.json" {
            latest = true;
            continue;
        }
        let start = name
            .strip_prefix("hhmon-")
            .and_then(|rest| rest.strip_suffix(".json"))
            .and_then(|digits| digits.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("unexpected file {name} in the snapshot directory"));
        files.push((start, path));
    }
    assert!(latest, "no latest.json in {}", dir.display());
    files.sort();
    files
}

/// What tshark says one capture holds.
struct Reference {
    packets: u64,
    bytes: u64,
    without_ip: u64,
    flows: Counts<FlowKey>,
    sources: Counts<IpAddr>,
    destinations: Counts<IpAddr>,
}

fn reference(path: &Path) -> Reference {
    let mut reference = Reference {
        packets: 0,
        bytes: 0,
        without_ip: 0,
        flows: Counts::new(),
        sources: Counts::new(),
        destinations: Counts::new(),
    };
    for packet in tshark(path) {
        reference.packets += 1;
        reference.bytes += u64::from(packet.wire_len);
        match packet.key() {
            Some(key) => {
                add(&mut reference.flows, key, packet.wire_len);
                add(&mut reference.sources, key.src, packet.wire_len);
                add(&mut reference.destinations, key.dst, packet.wire_len);
            }
            None => reference.without_ip += 1,
        }
    }
    reference
}

fn relative_error(reported: u64, truth: u64) -> f64 {
    (reported as f64 - truth as f64).abs() / (truth as f64).max(1.0)
}

/// How closely a top list must match the truth.
#[derive(Clone, Copy)]
struct Accuracy {
    /// Relative error allowed on every count (0 for exact counting).
    tolerance: f64,
    /// Share of the stream below which a key is no heavy hitter (CHK's `phi`; 0 for exact
    /// counting). The sketch promises nothing for such keys: with no heavy hitter at all (the
    /// flows of a spoofed SYN flood, one or two packets each) it may list any of them, with
    /// counts inherited from the entries they displaced.
    phi: f64,
}

/// What checking one top list found.
#[derive(Default)]
struct Checked {
    /// Largest relative error of a count checked.
    worst: f64,
    /// Entries listed that are below the heavy-hitter threshold (not checked beyond existing).
    below_phi: usize,
}

/// Checks one reported top list, `(key, packets, bytes)` in reported order, against the true
/// counts.
///
/// Keys tied with the true 10th at the cut-off may stand in for each other, so the list must
/// hold every key strictly above the cut-off, only keys at or above it, in non-increasing true
/// order (keys whose true counts are within the tolerance of each other may swap). Heavy-hitter
/// guarantees only cover keys of at least `phi` of the stream; entries below it must be real
/// keys and are otherwise only counted.
fn check_top<K: Ord + Debug>(
    what: &str,
    reported: &[(K, u64, u64)],
    truth: &Counts<K>,
    by_bytes: bool,
    accuracy: Accuracy,
    problems: &mut Vec<String>,
) -> Checked {
    let rank = |&(packets, bytes): &(u64, u64)| if by_bytes { bytes } else { packets };
    let mut values: Vec<u64> = truth.values().map(rank).collect();
    values.sort_unstable_by(|a, b| b.cmp(a));
    let floor = (accuracy.phi * values.iter().sum::<u64>() as f64).ceil() as u64;
    let expected_len = TOP.min(values.len());
    let mut checked = Checked::default();
    if reported.len() != expected_len {
        problems.push(format!(
            "{what}: {} entries, expected {expected_len}",
            reported.len()
        ));
        return checked;
    }
    let Some(&cutoff) = expected_len
        .checked_sub(1)
        .and_then(|last| values.get(last))
    else {
        return checked;
    };
    let mut previous_true: Option<u64> = None;
    for (key, packets, bytes) in reported {
        let Some(&(true_packets, true_bytes)) = truth.get(key) else {
            problems.push(format!("{what}: {key:?} is not in tshark's table"));
            continue;
        };
        let true_rank = rank(&(true_packets, true_bytes));
        if true_rank < floor {
            checked.below_phi += 1;
            continue;
        }
        if true_rank < cutoff {
            problems.push(format!(
                "{what}: {key:?} has {true_rank}, below the true top {TOP} (cut-off {cutoff})"
            ));
        }
        for (name, got, want) in [
            ("packets", *packets, true_packets),
            ("bytes", *bytes, true_bytes),
        ] {
            let error = relative_error(got, want);
            checked.worst = checked.worst.max(error);
            if error > accuracy.tolerance {
                problems.push(format!("{what}: {key:?} {name} {got}, tshark {want}"));
            }
        }
        if let Some(previous) = previous_true {
            if true_rank > previous && relative_error(previous, true_rank) > accuracy.tolerance {
                problems.push(format!(
                    "{what}: {key:?} (true {true_rank}) ranked below a key with {previous}"
                ));
            }
        }
        previous_true = Some(true_rank);
    }
    let estimates: Vec<u64> = reported.iter().map(|(_, p, b)| rank(&(*p, *b))).collect();
    if estimates.windows(2).any(|pair| pair[0] < pair[1]) {
        problems.push(format!(
            "{what}: not sorted by its own counts: {estimates:?}"
        ));
    }
    let listed: BTreeSet<&K> = reported.iter().map(|(key, _, _)| key).collect();
    if listed.len() != reported.len() {
        problems.push(format!("{what}: a key is listed twice"));
    }
    for (key, counts) in truth {
        if rank(counts) > cutoff && rank(counts) >= floor && !listed.contains(key) {
            problems.push(format!("{what}: {key:?} with {} is missing", rank(counts)));
        }
    }
    checked
}

fn flows(entries: &[hhmon::report::FlowEntry]) -> Vec<(FlowKey, u64, u64)> {
    entries
        .iter()
        .map(|f| {
            let key = FlowKey {
                src: f.src,
                dst: f.dst,
                src_port: f.src_port,
                dst_port: f.dst_port,
                protocol: f.protocol,
            };
            (key, f.packets, f.bytes)
        })
        .collect()
}

fn addresses(entries: &[hhmon::report::AddressEntry]) -> Vec<(IpAddr, u64, u64)> {
    entries
        .iter()
        .map(|a| (a.address, a.packets, a.bytes))
        .collect()
}

/// Compares one snapshot with tshark's counts; returns what the top lists gave and the
/// problems found.
fn compare(
    report: &IntervalReport,
    truth: &Reference,
    accuracy: Accuracy,
) -> (Checked, Vec<String>) {
    let mut problems = Vec::new();
    let totals = &report.totals;
    for (what, got, want) in [
        ("packets", totals.packets, truth.packets),
        ("bytes", totals.bytes, truth.bytes),
        (
            "unparsed packets",
            totals.unparsed_packets,
            truth.without_ip,
        ),
    ] {
        if got != want {
            problems.push(format!("totals.{what} {got}, tshark {want}"));
        }
    }
    // Three standard errors of the documented HLL error at the default precision (1.039 /
    // sqrt(K) after a union; 0.833 / sqrt(K) for one stream; K = 2^lg_k).
    let distinct = truth.sources.len() as u64;
    let three_sigma = 3.0 * 1.039 / f64::from(1u32 << hhmon::sketch::hll::DEFAULT_LG_K).sqrt();
    if relative_error(report.distinct_sources, distinct) > three_sigma {
        problems.push(format!(
            "distinct_sources {}, tshark {distinct}",
            report.distinct_sources
        ));
    }
    let mut total = Checked::default();
    let mut tally = |checked: Checked| {
        total.worst = total.worst.max(checked.worst);
        total.below_phi += checked.below_phi;
    };
    for (what, list, by_bytes) in [
        ("top_flows", &report.top_flows, false),
        ("top_flows_by_bytes", &report.top_flows_by_bytes, true),
    ] {
        let list = flows(list);
        tally(check_top(
            what,
            &list,
            &truth.flows,
            by_bytes,
            accuracy,
            &mut problems,
        ));
    }
    for (what, list, table, by_bytes) in [
        ("top_sources", &report.top_sources, &truth.sources, false),
        (
            "top_sources_by_bytes",
            &report.top_sources_by_bytes,
            &truth.sources,
            true,
        ),
        (
            "top_destinations",
            &report.top_destinations,
            &truth.destinations,
            false,
        ),
        (
            "top_destinations_by_bytes",
            &report.top_destinations_by_bytes,
            &truth.destinations,
            true,
        ),
    ] {
        let list = addresses(list);
        tally(check_top(
            what,
            &list,
            table,
            by_bytes,
            accuracy,
            &mut problems,
        ));
    }
    (total, problems)
}

#[test]
fn replay_agrees_with_tshark_in_sketch_and_exact_mode() {
    let sketch = Accuracy {
        tolerance: 0.01,
        phi: hhmon::sketch::chk::DEFAULT_PHI,
    };
    let exact = Accuracy {
        tolerance: 0.0,
        phi: 0.0,
    };
    let mut failures = Vec::new();
    eprintln!(
        "{:<32} {:>6} {:>7} {:>6} {:>8} {:>8} {:>10} {:>9}",
        "capture", "mode", "packets", "flows", "sources", "estimate", "worst err", "below phi"
    );
    for name in COMPARED {
        let path = capture(name);
        let truth = reference(&path);
        for (mode, flag, accuracy) in [("chk", None, sketch), ("exact", Some("--exact"), exact)] {
            let dir = tempfile::tempdir().unwrap();
            let top = TOP.to_string();
            let mut args = vec!["--interval", ONE_INTERVAL, "--top", &top];
            args.extend(flag);
            replay_into(dir.path(), &args, &path);
            let files = interval_files(dir.path());
            assert_eq!(files.len(), 1, "{name}: one interval spans the capture");
            let report = read(&dir.path().join("latest.json"));
            assert_eq!(report, read(&files[0].1), "{name}: latest.json");
            assert_eq!(report.counting.as_str(), mode, "{name}");
            let (checked, problems) = compare(&report, &truth, accuracy);
            eprintln!(
                "{name:<32} {mode:>6} {:>7} {:>6} {:>8} {:>8} {:>9.4}% {:>9}",
                truth.packets,
                truth.flows.len(),
                truth.sources.len(),
                report.distinct_sources,
                checked.worst * 100.0,
                checked.below_phi
            );
            failures.extend(problems.into_iter().map(|p| format!("{name} {mode}: {p}")));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// The `hhmon: ...` lines of stderr (the closing summary or the one-line error).
fn hhmon_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|line| line.starts_with("hhmon: "))
        .collect()
}

#[test]
fn every_capture_replays_without_a_panic() {
    for &captures::Capture { name, reading } in captures::all() {
        let path = capture(name);
        let output = hhmon(["replay".as_ref(), "--quiet".as_ref(), path.as_os_str()]).output();
        let stderr = &output.stderr;
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        assert!(
            !stderr.contains('\x1b'),
            "{name}: terminal escapes in redirected stderr: {stderr:?}"
        );
        let lines = hhmon_lines(stderr);
        assert_eq!(lines.len(), 1, "{name}: {stderr}");
        let last = stderr.lines().last().unwrap();
        assert_eq!(last, lines[0], "{name}: the hhmon line comes last");
        // (tshark shows the custom blocks of a refused file as frames, so its count cannot
        // tell.)
        assert_eq!(
            output.status.code(),
            Some(reading.exit_status()),
            "{name}: {stderr}"
        );
        if let Reading::Refused { reason, .. } = reading {
            assert!(last.contains("no packets could be read"), "{name}: {last}");
            assert!(stderr.contains(path.to_str().unwrap()), "{name}: {stderr}");
            assert!(stderr.contains(reason), "{name}: {stderr}");
            continue;
        }
        let packets = tshark(&path).len();
        assert!(
            last.starts_with(&format!("hhmon: {packets} packets, ")),
            "{name}: tshark reads {packets} packets: {last}"
        );
        match reading {
            Reading::Damaged { reason } => {
                let error = stderr
                    .lines()
                    .find(|line| line.contains("ERROR"))
                    .unwrap_or_else(|| panic!("{name}: no error reported: {stderr}"));
                assert!(error.contains(path.to_str().unwrap()), "{name}: {error}");
                assert!(error.contains(reason), "{name}: {error}");
                assert!(last.contains("1 file(s) failed"), "{name}: {last}");
            }
            _ => assert!(!stderr.contains("ERROR"), "{name}: {stderr}"),
        }
    }
}

#[test]
fn a_missing_file_is_reported_and_the_good_one_still_counts() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-capture.pcap");
    let good = capture("dns.pcap");
    let output = hhmon([
        "replay".as_ref(),
        "--quiet".as_ref(),
        missing.as_os_str(),
        good.as_os_str(),
    ])
    .output();
    let stderr = output.stderr;
    // Some inputs failed, the others were read: 2, so a script can tell.
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let error = stderr.lines().find(|l| l.contains("ERROR")).unwrap();
    assert!(error.contains(missing.to_str().unwrap()), "{error}");
    assert!(error.contains("No such file"), "{error}");
    let packets = tshark(&good).len();
    assert!(
        stderr.contains(&format!("hhmon: {packets} packets, ")),
        "{stderr}"
    );
}

#[test]
fn standard_input_gives_the_same_snapshot_as_the_file() {
    let path = capture("many-protocols.pcap");
    let args = ["--exact", "--interval", ONE_INTERVAL];
    let from_file = tempfile::tempdir().unwrap();
    replay_into(from_file.path(), &args, &path);

    let from_stdin = tempfile::tempdir().unwrap();
    let mut cat = Command::new("cat")
        .arg(&path)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let output = crate::util::hhmon::replay_into(from_stdin.path())
        .args(args)
        .arg("-")
        .stdin(cat.stdout.take().unwrap())
        .output();
    assert!(cat.wait().unwrap().success());
    assert!(output.status.success(), "{}", output.stderr);

    let expected = read(&from_file.path().join("latest.json"));
    let got = read(&from_stdin.path().join("latest.json"));
    assert_eq!(got.totals.packets, tshark(&path).len() as u64);
    assert_eq!(got, expected);
}

use crate::snapshot_schema::validator;

#[test]
fn interval_snapshots_validate_partition_the_capture_and_rotate() {
    const SECONDS: u64 = 10;
    let path = capture("many-protocols.pcap");
    // The expected intervals: the capture's timestamps are in order, so every packet belongs
    // to the aligned 10-second interval its timestamp falls in.
    let times = frame_times(&path);
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "timestamps in order"
    );
    let mut expected: BTreeMap<u64, u64> = BTreeMap::new();
    for time in &times {
        let second = *time as u64;
        *expected.entry(second - second % SECONDS).or_default() += 1;
    }
    assert!(expected.len() > 3, "the capture spans several intervals");

    let all = tempfile::tempdir().unwrap();
    replay_into(all.path(), &["--interval", "10s"], &path);
    let files = interval_files(all.path());
    let validator = validator();
    let mut got: BTreeMap<u64, u64> = BTreeMap::new();
    for (start, file) in &files {
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&json)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", file.display());
        let report = read(file);
        assert_eq!(report.interval.start_unix, *start, "{}", file.display());
        assert_eq!(report.interval.seconds, SECONDS);
        got.insert(report.interval.start_unix, report.totals.packets);
    }
    // Per-interval counts equal tshark's, so starts are aligned, strictly increasing (map keys
    // from distinct file names) and the totals sum to the file's packet count.
    assert_eq!(got, expected);
    assert_eq!(got.values().sum::<u64>(), times.len() as u64);
    let newest = std::fs::read(&files.last().unwrap().1).unwrap();
    assert_eq!(
        std::fs::read(all.path().join("latest.json")).unwrap(),
        newest
    );

    let kept = tempfile::tempdir().unwrap();
    replay_into(kept.path(), &["--interval", "10s", "--keep", "3"], &path);
    let kept_starts: Vec<u64> = interval_files(kept.path()).iter().map(|f| f.0).collect();
    let newest_starts: Vec<u64> = expected.keys().rev().take(3).rev().copied().collect();
    assert_eq!(kept_starts, newest_starts);
    assert_eq!(
        std::fs::read(kept.path().join("latest.json")).unwrap(),
        newest
    );
}
#[test]
fn metrics_are_served_after_the_replay_until_sigterm() {
    let path = capture("many-protocols.pcap");
    let truth = reference(&path);
    let (top_flow, &(top_packets, _)) = truth
        .flows
        .iter()
        .max_by_key(|(_, counts)| counts.0)
        .unwrap();
    assert!(
        truth.flows.values().filter(|c| c.0 == top_packets).count() == 1,
        "the top flow is unique"
    );
    let port = http::free_port();
    let mut child = hhmon(["replay", "--quiet", "--interval", ONE_INTERVAL, "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg(&path)
        .spawn(Stdio::null(), Stdio::null());

    let packets_total = format!("hhmon_packets_total {}", truth.packets);
    let started = Instant::now();
    let text = loop {
        if let Some((200, body)) = http::get(loopback(port), "/metrics") {
            if body.lines().any(|line| line == packets_total) {
                break body;
            }
        }
        assert!(
            started.elapsed() <= Duration::from_secs(20),
            "/metrics never showed {packets_total}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    // The replay is over; the values must stay.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.child().try_wait().unwrap().is_none(),
        "hhmon exited early"
    );
    let (status, again) = http::get(loopback(port), "/metrics").unwrap();
    assert_eq!(status, 200);
    assert!(again.lines().any(|line| line == packets_total));

    assert_eq!(top_flow.protocol, 6);
    let labels = [
        ("src", top_flow.src.to_string()),
        ("dst", top_flow.dst.to_string()),
        ("src_port", top_flow.src_port.to_string()),
        ("dst_port", top_flow.dst_port.to_string()),
        ("protocol", "tcp".to_owned()),
    ];
    let value = value(&samples(&text), "hhmon_top_flow_packets", &labels)
        .unwrap_or_else(|| panic!("no top flow {labels:?} in\n{text}"));
    assert!(relative_error(value as u64, top_packets) <= 0.01, "{value}");

    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("promtool must be installed to run this test: {e}"));
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let checked = promtool.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );

    assert_eq!(
        http::get(loopback(port), "/healthz").map(|r| r.0),
        Some(200)
    );

    child.terminate();
    let status = child
        .wait_within(Duration::from_secs(5))
        .expect("hhmon did not exit within 5 s");
    assert!(status.success(), "{status}");
}

#[test]
fn sigterm_during_a_paced_replay_writes_the_open_interval_and_exits() {
    let path = capture("ddos-synflood-spoofed.pcap");
    let times = frame_times(&path);
    let first = times[0];
    let dir = tempfile::tempdir().unwrap();
    let spawned = Instant::now();
    let mut child = crate::util::hhmon::replay_into(dir.path())
        .args(["--speed", "1"])
        .arg(&path)
        .spawn(Stdio::null(), Stdio::piped());
    // One second in: before the capture's first gap longer than a second (at 1.5 s), which the
    // pacer shortens to a second, so no packet is yet released ahead of its time.
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        child.child().try_wait().unwrap().is_none(),
        "a 23 s capture at speed 1"
    );
    child.terminate();
    let signalled = Instant::now();
    let status = child
        .wait_within(Duration::from_secs(2))
        .expect("hhmon did not exit within 2 s");
    let elapsed = spawned.elapsed().as_secs_f64();
    eprintln!("exited {:?} after the signal", signalled.elapsed());
    let mut stderr = String::new();
    child
        .child()
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{status}: {stderr}");
    assert!(
        hhmon_lines(&stderr)[0].ends_with("; interrupted"),
        "{stderr}"
    );

    // The open interval, the first 10 s one, was written with the packets replayed so far: at
    // least one, and no more than the capture holds up to the wall time the replay ran.
    let files = interval_files(dir.path());
    let start = first as u64 - first as u64 % 10;
    assert_eq!(files.iter().map(|f| f.0).collect::<Vec<_>>(), [start]);
    let report = read(&dir.path().join("latest.json"));
    let due = times.iter().filter(|t| **t - first <= elapsed).count() as u64;
    assert!(
        (1..=due).contains(&report.totals.packets),
        "{} packets written, {due} due after {elapsed:.2} s",
        report.totals.packets
    );
}

#[test]
fn a_closed_standard_output_ends_the_table_but_not_the_replay() {
    let path = capture("many-protocols.pcap");
    // One-second intervals make far more table text than a pipe buffer holds, so hhmon is
    // still writing when the reader goes away.
    let mut child = hhmon(["replay", "--interval", "1s"])
        .arg(&path)
        .spawn(Stdio::piped(), Stdio::piped());
    let mut stdout = BufReader::new(child.child().stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert!(line.starts_with("Interval "), "{line}");
    drop(stdout);
    let mut stderr = String::new();
    let mut pipe = child.child().stderr.take().unwrap();
    pipe.read_to_string(&mut stderr).unwrap();
    let status = child.child().wait().unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(!stderr.to_lowercase().contains("broken pipe"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let packets = tshark(&path).len();
    assert!(
        hhmon_lines(&stderr)[0].starts_with(&format!("hhmon: {packets} packets, ")),
        "{stderr}"
    );
}

/// `port` on 127.0.0.1, where hhmon listens in these tests.
fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// The value of the sample of metric `name` whose labels are exactly `labels`, in any order.
fn value(samples: &[Sample], name: &str, labels: &[(&str, String)]) -> Option<f64> {
    let wanted: BTreeMap<String, String> = labels
        .iter()
        .map(|(key, value)| ((*key).to_owned(), value.clone()))
        .collect();
    samples
        .iter()
        .find(|(metric, found, _)| metric == name && *found == wanted)
        .map(|sample| sample.2)
}

/// Every snapshot names its sensor, as given or else the host name, and `hhmon merge` keeps
/// the name of one sensor's intervals but names none for several sensors'.
#[test]
fn snapshots_name_their_sensor_and_merges_keep_only_a_common_one() {
    let dir = tempfile::tempdir().unwrap();
    let input = capture("gnutella-p2p.pcap");
    let named = dir.path().join("named");
    replay_into(&named, &["--sensor", "edge-fra-1"], &input);
    let unnamed = dir.path().join("unnamed");
    replay_into(&unnamed, &[], &input);
    let host = Command::new("hostname").output().unwrap();
    let host = String::from_utf8_lossy(&host.stdout).trim().to_owned();
    let sensors = |dir: &Path| -> BTreeSet<String> {
        interval_files(dir)
            .iter()
            .map(|(_, file)| read(file).sensor)
            .collect()
    };
    assert_eq!(sensors(&named), BTreeSet::from(["edge-fra-1".to_owned()]));
    assert_eq!(sensors(&unnamed), BTreeSet::from([host]));

    let merged = |inputs: &[&Path]| -> IntervalReport {
        let out = dir.path().join("merged.json");
        let mut command = hhmon(["merge", "--out"]);
        command = command.arg(&out);
        for input in inputs {
            command = command.args(interval_files(input).into_iter().map(|(_, file)| file));
        }
        command.output().succeeded();
        read(&out)
    };
    assert_eq!(merged(&[&named]).sensor, "edge-fra-1");
    assert_eq!(merged(&[&named, &unnamed]).sensor, "");

    let refused = hhmon(["replay", "--sensor", "../etc"]).arg(&input).output();
    assert_eq!(refused.status.code(), Some(2), "{}", refused.stderr);
    assert!(refused.stderr.contains("--sensor"), "{}", refused.stderr);
}
