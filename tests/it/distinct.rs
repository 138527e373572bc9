//! Distinct counting as a whole program: the fan-in of a real flood's victim and the fan-out of
//! a synthetic scan against exact counts computed independently (tshark, or the generator's own
//! list of packets), the interval counts of generated traffic and of the README's demo capture
//! against the acceptance bound (95% of intervals within 1%), the rolling window against
//! `hhmon merge` of the same intervals, and merged snapshots against one replay of all the
//! input.
//!
//! tshark must be installed: a missing tool fails the test.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::{BufWriter, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use hhmon::report::{AddressEntry, IntervalReport};
use hhmon::sketch::hll::{DistinctCounter, DEFAULT_LG_K};
use hhmon::synth::{Generator, SynthConfig, MIN_SNAPLEN};

use crate::util::hhmon::{hhmon, replay_into, Ran};
use crate::util::repo::capture;
use crate::util::snapshots::{interval_files, read};
use crate::util::tshark::tshark;

/// An interval length that puts each capture (timestamps in [1e9, 2e9) s) into one interval.
const ONE_INTERVAL: &str = "1000000000s";

/// The acceptance bound on fan-in and fan-out.
const FAN_TOLERANCE: f64 = 0.03;

/// The acceptance bound on an interval's distinct sources and destinations, which 95% of
/// intervals must meet.
const INTERVAL_TOLERANCE: f64 = 0.01;

/// Three documented standard errors of an interval count at the default precision
/// (1.039 / sqrt(K) once sketches are merged; 0.833 / sqrt(K) for one stream).
fn three_sigma() -> f64 {
    3.0 * 1.039 / f64::from(1u32 << DEFAULT_LG_K).sqrt()
}

fn relative_error(got: u64, truth: u64) -> f64 {
    (got as f64 - truth as f64).abs() / (truth as f64).max(1.0)
}

fn run(args: &[&std::ffi::OsStr]) -> Ran {
    hhmon(args).output().succeeded()
}

/// Replays `inputs` into `dir` with `args`; returns the reports written, oldest first.
fn replay(dir: &Path, args: &[&str], inputs: &[PathBuf]) -> Vec<IntervalReport> {
    replay_into(dir)
        .args(args)
        .args(inputs)
        .output()
        .succeeded();
    interval_files(dir).iter().map(|p| read(p)).collect()
}

fn sketch(text: &str) -> DistinctCounter {
    DistinctCounter::from_base64(text).unwrap()
}

/// Exact distinct sources of every destination and destinations of every source, from tshark.
struct Peers {
    sources_of: BTreeMap<IpAddr, BTreeSet<IpAddr>>,
    destinations_of: BTreeMap<IpAddr, BTreeSet<IpAddr>>,
    packets_to: BTreeMap<IpAddr, u64>,
}

fn peers(packets: impl IntoIterator<Item = (IpAddr, IpAddr)>) -> Peers {
    let mut peers = Peers {
        sources_of: BTreeMap::new(),
        destinations_of: BTreeMap::new(),
        packets_to: BTreeMap::new(),
    };
    for (src, dst) in packets {
        peers.sources_of.entry(dst).or_default().insert(src);
        peers.destinations_of.entry(src).or_default().insert(dst);
        *peers.packets_to.entry(dst).or_default() += 1;
    }
    peers
}

fn tshark_peers(path: &Path) -> Peers {
    peers(
        tshark(path)
            .into_iter()
            .filter_map(|packet| packet.key().map(|key| (key.src, key.dst))),
    )
}

#[test]
fn a_flood_victim_is_the_top_destination_with_its_fan_in_within_3_percent() {
    let path = capture("ddos-synflood-spoofed.pcap");
    let truth = tshark_peers(&path);
    let (&victim, _) = truth.packets_to.iter().max_by_key(|(_, &n)| n).unwrap();
    let fan_in = truth.sources_of[&victim].len() as u64;
    let all_sources: BTreeSet<&IpAddr> = truth.destinations_of.keys().collect();
    for mode in [None, Some("--exact")] {
        let dir = tempfile::tempdir().unwrap();
        let mut args = vec!["--interval", ONE_INTERVAL];
        args.extend(mode);
        let reports = replay(dir.path(), &args, std::slice::from_ref(&path));
        assert_eq!(reports.len(), 1);
        let report = &reports[0];
        let top = &report.top_destinations[0];
        assert_eq!(top.address, victim, "{mode:?}");
        let reported = top.distinct_sources.expect("the victim is tracked");
        let error = relative_error(reported, fan_in);
        eprintln!(
            "{mode:?}: victim {victim} fan-in {reported}, exact {fan_in}, error {:.2}%; \
             distinct sources {} of {}",
            error * 100.0,
            report.distinct_sources,
            all_sources.len()
        );
        assert!(error <= FAN_TOLERANCE, "{mode:?}: {reported} vs {fan_in}");
        assert_eq!(
            report.top_destinations_by_bytes[0].distinct_sources,
            Some(reported)
        );
        assert_eq!(report.distinct_destinations, truth.sources_of.len() as u64);
        let overall = relative_error(report.distinct_sources, all_sources.len() as u64);
        assert!(overall <= three_sigma(), "{}", report.distinct_sources);
    }
}

/// Writes `frames` (timestamp in microseconds, Ethernet frame) as a little-endian microsecond
/// pcap file.
fn write_pcap(path: &Path, frames: &[(u64, Vec<u8>)]) {
    let mut out = Vec::new();
    out.extend(0xa1b2_c3d4u32.to_le_bytes());
    out.extend(2u16.to_le_bytes());
    out.extend(4u16.to_le_bytes());
    out.extend([0; 8]);
    out.extend(65_535u32.to_le_bytes());
    out.extend(1u32.to_le_bytes()); // Ethernet
    for (micros, frame) in frames {
        let length = frame.len() as u32;
        out.extend(((micros / 1_000_000) as u32).to_le_bytes());
        out.extend(((micros % 1_000_000) as u32).to_le_bytes());
        out.extend(length.to_le_bytes());
        out.extend(length.to_le_bytes());
        out.extend(frame);
    }
    std::fs::write(path, out).unwrap();
}

fn tcp_syn(src: Ipv4Addr, dst: Ipv4Addr, source_port: u16) -> Vec<u8> {
    let builder = etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(src.octets(), dst.octets(), 64)
        .tcp(source_port, 443, 1, 1024)
        .syn();
    let mut frame = Vec::with_capacity(builder.size(0));
    builder.write(&mut frame, &[]).unwrap();
    frame
}

/// SplitMix64: the scan's background traffic is random but the same on every run.
struct Mix(u64);

impl Mix {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % below
    }
}

#[test]
fn a_scan_hidden_in_busier_traffic_is_flagged_by_its_fan_out_within_3_percent() {
    const TARGETS: u32 = 5_000;
    let scanner = Ipv4Addr::new(203, 0, 113, 9);
    let bulk = Ipv4Addr::new(10, 2, 0, 1);
    let mut mix = Mix(0x7363_616e); // "scan"
    let mut packets: Vec<(Ipv4Addr, Ipv4Addr)> = Vec::new();
    // Background: 3 000 clients send 1 to 20 packets each to one of 50 servers, and one bulk
    // sender outweighs the scanner by packets; interleaved at random.
    for client in 0..3_000u32 {
        let src = Ipv4Addr::from(0x0a01_0000 + client);
        let server = Ipv4Addr::from(0xac10_0000 + mix.next(50) as u32);
        for _ in 0..=mix.next(20) {
            packets.push((src, server));
        }
    }
    packets.extend((0..8_000).map(|_| (bulk, Ipv4Addr::new(172, 16, 0, 1))));
    for i in (1..packets.len()).rev() {
        packets.swap(i, mix.next(i as u64 + 1) as usize);
    }
    // The scan starts once a third of the background has filled the tracked sources, so the
    // scanner must win its place by replacement; its probes are spread over the rest.
    let start = packets.len() / 3;
    let mut background = packets.split_off(start).into_iter();
    for target in 0..TARGETS {
        packets.push((scanner, Ipv4Addr::from(0x6440_0000 + target)));
        packets.extend(background.by_ref().take(8));
    }
    packets.extend(background);

    let frames: Vec<(u64, Vec<u8>)> = packets
        .iter()
        .enumerate()
        .map(|(i, &(src, dst))| {
            let micros = 1_700_000_000_000_000 + i as u64 * 500;
            (micros, tcp_syn(src, dst, 1024 + (i % 60_000) as u16))
        })
        .collect();
    let truth = peers(packets.iter().map(|&(s, d)| (IpAddr::V4(s), IpAddr::V4(d))));
    let fan_out = truth.destinations_of[&IpAddr::V4(scanner)].len() as u64;
    assert_eq!(fan_out, u64::from(TARGETS));

    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("scan.pcap");
    write_pcap(&pcap, &frames);
    for mode in [None, Some("--exact")] {
        let out = dir
            .path()
            .join(if mode.is_some() { "exact" } else { "chk" });
        let mut args = vec!["--interval", ONE_INTERVAL, "--top", "10"];
        args.extend(mode);
        let reports = replay(&out, &args, std::slice::from_ref(&pcap));
        let report = &reports[0];
        assert_eq!(report.top_sources[0].address, IpAddr::V4(bulk), "{mode:?}");
        let listed: Vec<&AddressEntry> = report
            .top_sources
            .iter()
            .chain(&report.top_sources_by_bytes)
            .collect();
        let widest = listed
            .iter()
            .max_by_key(|entry| entry.distinct_destinations)
            .unwrap();
        assert_eq!(widest.address, IpAddr::V4(scanner), "{mode:?}: {listed:#?}");
        let reported = widest.distinct_destinations.unwrap();
        let error = relative_error(reported, fan_out);
        eprintln!(
            "{mode:?}: scanner fan-out {reported}, exact {fan_out}, error {:.2}%",
            error * 100.0
        );
        assert!(error <= FAN_TOLERANCE, "{mode:?}: {reported} vs {fan_out}");
        // The rest have one server each (the sketch may be off by one at most there).
        for entry in listed.iter().filter(|e| e.address != IpAddr::V4(scanner)) {
            assert!(entry.distinct_destinations.unwrap_or(1) <= 2, "{entry:?}");
        }
    }
}

/// The 95th percentile of `errors` (nearest rank).
fn p95(errors: &[f64]) -> f64 {
    let mut sorted = errors.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (sorted.len() as f64 * 0.95).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// First second of the generated trace; its intervals are the seconds that follow.
const TRACE_START: u64 = 1_700_000_000;

/// Exact distinct sources and destinations of every 1 s interval of a generated trace.
type IntervalTruth = BTreeMap<u64, (u64, u64)>;

/// Writes a trace of `intervals` seconds into `path` (nanosecond pcap) and returns the exact
/// distinct sources and destinations of each second, counted from the generator's keys.
///
/// Second `i` holds the next `sources` SYNs of a fan-in attack (each from a new spoofed
/// source, to one victim), the next `destinations` SYNs of a scan (one scanner, each to a new
/// address) and 2 000 packets of Zipf client/server traffic, shuffled. The two counts run over
/// 5 000..200 000 on a log scale, in unrelated orders. The attack and scan generators run on
/// across the seconds, so every second counts addresses no other second has: the intervals'
/// sketch errors are independent draws.
fn write_interval_trace(path: &Path, intervals: u32) -> IntervalTruth {
    let spread = |i: u32| {
        let at = f64::from(i) / f64::from(intervals - 1);
        (5_000.0 * 40f64.powf(at)).round() as u64
    };
    let endless = SynthConfig {
        packets: u64::MAX,
        snaplen: MIN_SNAPLEN,
        ..SynthConfig::default()
    };
    let mut attack = Generator::new(SynthConfig {
        flows: 0,
        attack_share: 1.0,
        seed: 15,
        ..endless.clone()
    })
    .unwrap();
    let mut scan = Generator::new(SynthConfig {
        flows: 0,
        scan_share: 1.0,
        ..endless.clone()
    })
    .unwrap();
    let mut background = Generator::new(SynthConfig {
        flows: 5_000,
        ..endless
    })
    .unwrap();
    let mut mix = Mix(0x6869_6e74); // "hint"
    let mut out = BufWriter::new(std::fs::File::create(path).unwrap());
    let mut header = [0u8; 24];
    header[0..4].copy_from_slice(&0xa1b2_3c4du32.to_le_bytes()); // nanosecond timestamps
    header[4..6].copy_from_slice(&2u16.to_le_bytes());
    header[6..8].copy_from_slice(&4u16.to_le_bytes());
    header[16..20].copy_from_slice(&65_535u32.to_le_bytes());
    header[20..24].copy_from_slice(&1u32.to_le_bytes()); // Ethernet
    out.write_all(&header).unwrap();
    let mut truth = IntervalTruth::new();
    for i in 0..intervals {
        // 29 is prime to the usual counts of intervals: a permutation unlike the identity.
        let counts = [spread(i), spread(i * 29 % intervals), 2_000];
        let mut frames: Vec<(Vec<u8>, u32)> = Vec::new();
        let (mut sources, mut destinations) = (HashSet::new(), HashSet::new());
        for (generator, count) in [&mut attack, &mut scan, &mut background]
            .into_iter()
            .zip(counts)
        {
            for _ in 0..count {
                let packet = generator.next_packet().unwrap();
                sources.insert(packet.key.src);
                destinations.insert(packet.key.dst);
                frames.push((packet.data.to_vec(), packet.wire_len));
            }
        }
        for j in (1..frames.len()).rev() {
            frames.swap(j, mix.next(j as u64 + 1) as usize);
        }
        let second = TRACE_START + u64::from(i);
        let step = 1_000_000_000 / frames.len() as u64;
        for (j, (data, wire_len)) in frames.iter().enumerate() {
            let mut record = [0u8; 16];
            record[0..4].copy_from_slice(&(second as u32).to_le_bytes());
            record[4..8].copy_from_slice(&((j as u64 * step) as u32).to_le_bytes());
            record[8..12].copy_from_slice(&(data.len() as u32).to_le_bytes());
            record[12..16].copy_from_slice(&wire_len.to_le_bytes());
            out.write_all(&record).unwrap();
            out.write_all(data).unwrap();
        }
        truth.insert(second, (sources.len() as u64, destinations.len() as u64));
    }
    out.flush().unwrap();
    truth
}

/// Per interval of `reports`, the relative errors of its distinct sources and destinations
/// against `truth`, which must have exactly those intervals.
fn interval_errors(reports: &[IntervalReport], truth: &IntervalTruth) -> (Vec<f64>, Vec<f64>) {
    let starts: Vec<u64> = reports.iter().map(|r| r.interval.start_unix).collect();
    assert_eq!(starts, truth.keys().copied().collect::<Vec<_>>());
    reports
        .iter()
        .map(|report| {
            let (sources, destinations) = truth[&report.interval.start_unix];
            (
                relative_error(report.distinct_sources, sources),
                relative_error(report.distinct_destinations, destinations),
            )
        })
        .unzip()
}

/// Bytes of a DataSketches HLL_4 serialization at `2^lg_k` registers: a 40-byte preamble, half
/// a byte per register and at most `exceptions` registers that do not fit in 4 bits (4 bytes
/// each).
fn hll_4_bytes(lg_k: u8, exceptions: usize) -> usize {
    40 + (1 << lg_k) / 2 + 4 * exceptions
}

#[test]
fn interval_distinct_counts_are_within_1_percent_in_95_percent_of_generated_intervals() {
    const INTERVALS: u32 = 48;
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("intervals.pcap");
    let truth = write_interval_trace(&pcap, INTERVALS);
    let counts: Vec<u64> = truth.values().flat_map(|&(s, d)| [s, d]).collect();
    assert!(
        counts.iter().all(|&n| (5_000..=203_000).contains(&n)),
        "{counts:?}"
    );
    for workers in ["1", "2"] {
        let out = dir.path().join(format!("workers-{workers}"));
        let reports = replay(
            &out,
            &["--interval", "1s", "--workers", workers],
            std::slice::from_ref(&pcap),
        );
        assert_eq!(reports.len(), INTERVALS as usize);
        let (sources, destinations) = interval_errors(&reports, &truth);
        for (kind, errors) in [("sources", &sources), ("destinations", &destinations)] {
            let within = errors.iter().filter(|&&e| e <= INTERVAL_TOLERANCE).count();
            let worst = errors.iter().copied().fold(0.0, f64::max);
            eprintln!(
                "--workers {workers} {kind}: p95 error {:.3}%, worst {:.3}%, {within} of {} \
                 intervals within 1%",
                p95(errors) * 100.0,
                worst * 100.0,
                errors.len()
            );
            assert!(
                p95(errors) <= INTERVAL_TOLERANCE,
                "--workers {workers} {kind}: {errors:?}"
            );
        }
        // Every interval's snapshot carries its two sketches as HLL_4 at the default precision.
        let files = interval_files(&out);
        let biggest = files
            .iter()
            .map(|f| std::fs::metadata(f).unwrap().len())
            .max()
            .unwrap();
        eprintln!("--workers {workers}: largest interval snapshot {biggest} bytes");
        for report in &reports {
            let sketches = report.sketches.as_ref().unwrap();
            for text in [&sketches.sources, &sketches.destinations] {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .unwrap();
                assert_eq!(bytes[7] >> 2 & 3, 0, "HLL_4 is type 0");
                assert_eq!(sketch(text).lg_k(), DEFAULT_LG_K);
                assert!(
                    bytes.len() <= hll_4_bytes(DEFAULT_LG_K, 64),
                    "{}",
                    bytes.len()
                );
            }
        }
    }
}

#[test]
fn the_readme_demo_counts_distinct_sources_and_destinations_within_1_percent() {
    // The README's first command: `replay --interval 60s --top 5` of the shipped SYN flood,
    // which falls into one interval.
    let path = capture("ddos-synflood-spoofed.pcap");
    let truth = tshark_peers(&path);
    let exact = (
        truth.destinations_of.len() as u64,
        truth.sources_of.len() as u64,
    );
    for workers in ["1", "2"] {
        let dir = tempfile::tempdir().unwrap();
        let args = ["--interval", "60s", "--top", "5", "--workers", workers];
        let reports = replay(dir.path(), &args, std::slice::from_ref(&path));
        assert_eq!(reports.len(), 1);
        let report = &reports[0];
        let errors = (
            relative_error(report.distinct_sources, exact.0),
            relative_error(report.distinct_destinations, exact.1),
        );
        let size = std::fs::metadata(&interval_files(dir.path())[0])
            .unwrap()
            .len();
        eprintln!(
            "--workers {workers}: distinct sources {} of {} ({:.2}%), destinations {} of {}; \
             snapshot {size} bytes",
            report.distinct_sources,
            exact.0,
            errors.0 * 100.0,
            report.distinct_destinations,
            exact.1
        );
        assert!(
            errors.0 <= INTERVAL_TOLERANCE,
            "{}",
            report.distinct_sources
        );
        assert!(
            errors.1 <= INTERVAL_TOLERANCE,
            "{}",
            report.distinct_destinations
        );
    }
}

#[test]
fn merged_snapshots_of_two_captures_equal_one_replay_of_both() {
    let captures = [
        capture("ddos-synflood-spoofed.pcap"),
        capture("ddos-reflection-synack.pcap"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let args = ["--interval", ONE_INTERVAL];
    let mut parts = Vec::new();
    for (i, capture) in captures.iter().enumerate() {
        let part_dir = dir.path().join(format!("part{i}"));
        replay(&part_dir, &args, std::slice::from_ref(capture));
        parts.extend(interval_files(&part_dir));
    }
    assert_eq!(parts.len(), 2);
    let both = replay(&dir.path().join("both"), &args, &captures);
    assert_eq!(both.len(), 1, "both captures fall into one interval");
    let both = &both[0];

    let merged_path = dir.path().join("merged.json");
    let output = run(&[
        "merge".as_ref(),
        "--out".as_ref(),
        merged_path.as_os_str(),
        parts[0].as_os_str(),
        parts[1].as_os_str(),
    ]);
    let table = output.stdout;
    let merged = read(&merged_path);
    assert!(
        table.contains(&format!("distinct sources {} ", merged.distinct_sources)),
        "{table}"
    );

    // Counts: exactly those of one replay of both files.
    assert_eq!(merged.totals.packets, both.totals.packets);
    assert_eq!(merged.totals.bytes, both.totals.bytes);
    assert_eq!(
        merged.totals.unparsed_by_reason,
        both.totals.unparsed_by_reason
    );
    assert_eq!(
        merged.top_destinations[0].address,
        both.top_destinations[0].address
    );
    assert_eq!(
        merged.top_destinations[0].packets,
        both.top_destinations[0].packets
    );

    // Distinct counts: the merged sketch holds exactly the registers of the one-replay sketch
    // (an HLL union is the register-wise maximum, and so is counting both streams in one
    // sketch). The serialized bytes cannot show it (the one-replay sketch carries its HIP
    // state, the union does not) nor can `estimate` (HIP there, composite here); the
    // composite estimate depends on the registers alone, so it must be equal to the bit.
    let merged_sketches = merged.sketches.as_ref().unwrap();
    let both_sketches = both.sketches.as_ref().unwrap();
    for (what, merged_text, both_text) in [
        ("sources", &merged_sketches.sources, &both_sketches.sources),
        (
            "destinations",
            &merged_sketches.destinations,
            &both_sketches.destinations,
        ),
    ] {
        assert_eq!(
            sketch(merged_text).composite_estimate(),
            sketch(both_text).composite_estimate(),
            "{what}"
        );
    }
    // The distinct count, HIP against composite, agrees within the sketch error; and both
    // agree with the truth.
    let truth: BTreeSet<IpAddr> = captures
        .iter()
        .flat_map(|capture| tshark_peers(capture).destinations_of.into_keys())
        .collect();
    let gap = relative_error(merged.distinct_sources, both.distinct_sources);
    eprintln!(
        "merged {} one replay {} truth {} (gap {:.2}%)",
        merged.distinct_sources,
        both.distinct_sources,
        truth.len(),
        gap * 100.0
    );
    assert!(
        gap <= three_sigma(),
        "{} vs {}",
        merged.distinct_sources,
        both.distinct_sources
    );
    for count in [merged.distinct_sources, both.distinct_sources] {
        assert!(
            relative_error(count, truth.len() as u64) <= three_sigma(),
            "{count}"
        );
    }
}

#[test]
fn the_window_is_the_merge_of_its_intervals() {
    // 24 s of flood in 1 s intervals; a 30 s window covers them all, a 5 s window the last 5.
    // At lg_k 14, the finest a window keeps, so that the window and `merge` union the same
    // sketches.
    let capture = capture("ddos-synflood-spoofed.pcap");
    let dir = tempfile::tempdir().unwrap();
    let reports = replay(
        dir.path(),
        &["--interval", "1s", "--window", "30s", "--hll-lg-k", "14"],
        std::slice::from_ref(&capture),
    );
    let files = interval_files(dir.path());
    assert!(files.len() > 10, "{} intervals", files.len());
    let last = reports.last().unwrap();
    let window = last.window.as_ref().unwrap();
    assert_eq!(window.seconds, 30);
    assert_eq!(window.intervals, files.len() as u64);

    // `hhmon merge` of the same interval snapshots is the same union.
    let mut args: Vec<&std::ffi::OsStr> = vec!["merge".as_ref(), "--out".as_ref()];
    let merged_path = dir.path().join("merged.json");
    args.push(merged_path.as_os_str());
    args.extend(files.iter().map(|f| f.as_os_str()));
    run(&args);
    let merged = read(&merged_path);
    assert_eq!(window.distinct_sources, merged.distinct_sources);
    let truth = tshark_peers(&capture).destinations_of.len() as u64;
    assert!(
        relative_error(window.distinct_sources, truth) <= three_sigma(),
        "{} vs {truth}",
        window.distinct_sources
    );

    // A short window drops the older intervals: the last one of 5 s is the merge of the last
    // five 1 s intervals (those with packets among them).
    let short = tempfile::tempdir().unwrap();
    let reports = replay(
        short.path(),
        &["--interval", "1s", "--window", "5s"],
        std::slice::from_ref(&capture),
    );
    let last = reports.last().unwrap();
    let end = last.interval.start_unix + 1;
    let recent: Vec<&PathBuf> = files
        .iter()
        .filter(|f| read(f).interval.start_unix + 5 >= end)
        .collect();
    assert!(recent.len() < files.len());
    let window = last.window.as_ref().unwrap();
    assert_eq!(window.intervals, recent.len() as u64);
    let mut args: Vec<&std::ffi::OsStr> = vec!["merge".as_ref(), "--out".as_ref()];
    let recent_path = short.path().join("recent.json");
    args.push(recent_path.as_os_str());
    args.extend(recent.iter().map(|f| f.as_os_str()));
    run(&args);
    assert_eq!(window.distinct_sources, read(&recent_path).distinct_sources);
}

#[test]
fn a_window_that_is_not_whole_intervals_is_refused() {
    let capture = capture("dns.pcap");
    let output = hhmon(["replay", "--quiet", "--interval", "10s", "--window", "25s"])
        .arg(&capture)
        .output();
    let stderr = output.stderr;
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("window (25 s) must be a whole multiple of the interval (10 s)"),
        "{stderr}"
    );
}

#[test]
fn merge_names_the_file_it_cannot_use() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "not json").unwrap();
    let output = hhmon(["merge"]).arg(&garbage).output();
    let stderr = output.stderr;
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("hhmon: "), "{stderr}");
    assert!(stderr.contains(garbage.to_str().unwrap()), "{stderr}");
    assert!(stderr.contains("not an hhmon snapshot"), "{stderr}");
}

/// With `--fan-sketches`, each listed address carries its fan counter's sketch: it decodes to
/// the entry's figure, and `hhmon merge` unions an address's sketches across intervals, so the
/// flood victim's fan-in over many 1 s intervals is its fan-in over the whole capture (within
/// 2% of exact), where without the sketches merge can only keep the largest interval's.
#[test]
fn fan_sketches_union_a_victims_fan_in_across_intervals() {
    let path = capture("ddos-synflood-spoofed.pcap");
    let truth = tshark_peers(&path);
    let (&victim, _) = truth.packets_to.iter().max_by_key(|(_, &n)| n).unwrap();
    let fan_in = truth.sources_of[&victim].len() as u64;
    let merged_fan_in = |sketches: bool| -> (u64, Option<String>, u64) {
        let dir = tempfile::tempdir().unwrap();
        let mut args = vec!["--interval", "1s", "--sensor", "edge-1"];
        if sketches {
            args.push("--fan-sketches");
        }
        let reports = replay(dir.path(), &args, std::slice::from_ref(&path));
        assert!(reports.len() > 10, "{} intervals", reports.len());
        let mut bytes = 0;
        for report in &reports {
            let entry = &report.top_destinations[0];
            assert_eq!(entry.address, victim);
            assert_eq!(entry.distinct_sources_sketch.is_some(), sketches);
            if let Some(text) = &entry.distinct_sources_sketch {
                let estimate = sketch(text).estimate().round() as u64;
                assert_eq!(Some(estimate), entry.distinct_sources);
            }
            // Sources are all tracked or none is: a sketch only where there is a figure.
            for source in report
                .top_sources
                .iter()
                .chain(&report.top_sources_by_bytes)
            {
                let with = source.distinct_destinations_sketch.is_some();
                assert_eq!(with, sketches && source.distinct_destinations.is_some());
            }
            bytes += serde_json::to_vec(report).unwrap().len() as u64;
        }
        let out = dir.path().join("merged.json");
        let mut args: Vec<&std::ffi::OsStr> = vec!["merge".as_ref(), "--out".as_ref()];
        args.push(out.as_os_str());
        let files = interval_files(dir.path());
        args.extend(files.iter().map(|f| f.as_os_str()));
        run(&args);
        let merged = read(&out);
        let entry = &merged.top_destinations[0];
        assert_eq!(entry.address, victim);
        (
            entry.distinct_sources.unwrap(),
            entry.distinct_sources_sketch.clone(),
            bytes / reports.len() as u64,
        )
    };
    let (with, sketch_text, size_with) = merged_fan_in(true);
    let (without, none, size_without) = merged_fan_in(false);
    eprintln!(
        "victim fan-in over the capture: exact {fan_in}, merged with sketches {with}, without \
         {without}; snapshot {size_without} B a 1 s interval, {size_with} B with fan sketches"
    );
    assert!(relative_error(with, fan_in) <= 0.02, "{with} vs {fan_in}");
    assert!(without < with * 9 / 10, "{without} vs {with}");
    assert!(none.is_none());
    // The merged snapshot carries the union on, so merges merge again.
    let union = sketch(&sketch_text.unwrap());
    assert_eq!(union.composite_estimate().round() as u64, with);
}
