//! Replay throughput of the whole `hhmon replay` program against a bare libpcap read loop.
//!
//! A plain timing program (no harness): `cargo bench --bench replay` writes the default trace
//! of `hhmon::synth` (what `hhmon generate` writes without options: 5 million frames of
//! Zipf-distributed flows, 50 s of timestamps) into a temporary directory, then times the bare
//! libpcap loop and the release `hhmon` binary in its default mode, without prefix views,
//! in `--exact` mode, with one and with two `--workers` (owner threads), with the file
//! in the page cache, in interleaved rounds so that load from elsewhere hits every row alike,
//! and prints the best round of each as packets per second and as a ratio to the bare loop. It
//! asserts nothing about speed. Of the library it uses only the generator: the monitor is run
//! as a user would run it.
//!
//! `REPLAY_BENCH_INPUT=<capture>` times that file instead of the default trace, e.g. a flood
//! from `hhmon generate --attack 0.5 --scan 0.5 --snaplen 74 --out flood.pcap`.
//!
//! `REPLAY_BENCH_BASELINE=<hhmon binary>` adds that binary's default and `--workers 2` runs to
//! the same interleaved rounds, to compare a change with the build before it:
//! `git worktree add ../base <commit> && cargo build --release --manifest-path ../base/Cargo.toml`,
//! then `REPLAY_BENCH_BASELINE=../base/target/release/hhmon cargo bench --bench replay`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use hhmon::synth::{write_capture, SynthConfig};

/// The flags that turn the prefix views off, to price them.
const NO_PREFIXES: &[&str] = &["--ipv4-prefixes", "none", "--ipv6-prefixes", "none"];

/// Rounds; `REPLAY_BENCH_ROUNDS` overrides.
const ROUNDS: usize = 5;

fn bare_libpcap(path: &Path) -> u64 {
    let mut capture = pcap::Capture::from_file(path).unwrap();
    let mut packets = 0;
    let mut bytes = 0u64;
    while let Ok(packet) = capture.next_packet() {
        packets += 1;
        bytes += u64::from(packet.header.len);
    }
    std::hint::black_box(bytes);
    packets
}

/// Runs the hhmon binary and returns the packet count from its closing summary line.
fn hhmon(path: &Path, extra: &[&str]) -> u64 {
    run_binary(Path::new(env!("CARGO_BIN_EXE_hhmon")), path, extra)
}

/// Runs the hhmon `binary` on `path` and returns the packet count of its summary line.
fn run_binary(binary: &Path, path: &Path, extra: &[&str]) -> u64 {
    let output = Command::new(binary)
        .args(["replay", "--quiet"])
        .args(extra)
        .arg(path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    stderr
        .lines()
        .find_map(|line| line.strip_prefix("hhmon: "))
        .and_then(|summary| summary.split(' ').next())
        .and_then(|packets| packets.parse().ok())
        .unwrap_or_else(|| panic!("no summary line in {stderr}"))
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let path = if let Some(input) = std::env::var_os("REPLAY_BENCH_INPUT") {
        println!("capture {}", Path::new(&input).display());
        input.into()
    } else {
        // REPLAY_BENCH_CAPTURE=<file> keeps the capture there, e.g. to profile hhmon on it.
        let path = std::env::var_os("REPLAY_BENCH_CAPTURE")
            .map_or_else(|| dir.path().join("synthetic.pcap"), Into::into);
        let config = SynthConfig::default();
        let started = Instant::now();
        let written = write_capture(&config, &path, None).unwrap();
        println!(
            "synthetic capture ({config:?}): {} packets, {:.0} MB, written in {:.1} s",
            written.packets,
            written.file_bytes as f64 / 1e6,
            started.elapsed().as_secs_f64()
        );
        path
    };
    // Reads the file once so that every timed run finds it in the page cache.
    let packets = bare_libpcap(&path);

    let baseline = std::env::var_os("REPLAY_BENCH_BASELINE").map(std::path::PathBuf::from);
    type Run<'a> = Box<dyn Fn() -> u64 + 'a>;
    let mut rows: Vec<(&str, Run)> = vec![
        ("bare libpcap loop", Box::new(|| bare_libpcap(&path))),
        ("hhmon replay --quiet", Box::new(|| hhmon(&path, &[]))),
        (
            "hhmon replay --quiet, no prefixes",
            Box::new(|| hhmon(&path, NO_PREFIXES)),
        ),
        (
            "hhmon replay --quiet --exact",
            Box::new(|| hhmon(&path, &["--exact"])),
        ),
        (
            "hhmon replay --quiet --workers 1",
            Box::new(|| hhmon(&path, &["--workers", "1"])),
        ),
        (
            "hhmon replay --quiet --workers 2",
            Box::new(|| hhmon(&path, &["--workers", "2"])),
        ),
    ];
    if let Some(baseline) = &baseline {
        rows.push((
            "baseline replay --quiet",
            Box::new(|| run_binary(baseline, &path, &[])),
        ));
        rows.push((
            "baseline --workers 2",
            Box::new(|| run_binary(baseline, &path, &["--workers", "2"])),
        ));
    }
    let rounds = std::env::var("REPLAY_BENCH_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(ROUNDS);
    let mut best = vec![Duration::MAX; rows.len()];
    for _ in 0..rounds {
        for ((_, run), best) in rows.iter().zip(&mut best) {
            let started = Instant::now();
            assert_eq!(run(), packets);
            *best = (*best).min(started.elapsed());
        }
    }
    println!("\nbest of {rounds} interleaved rounds, wall clock");
    let width = rows.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    println!(
        "| {:<width$} | {:>9} | {:>11} | {:>13} |",
        "run", "seconds", "packets/s", "vs bare loop"
    );
    let rule = "-".repeat(width + 2);
    println!("|{rule}|{:->11}|{:->13}|{:->15}|", "", "", "");
    for ((name, _), time) in rows.iter().zip(&best) {
        let seconds = time.as_secs_f64();
        println!(
            "| {name:<width$} | {seconds:>9.3} | {:>11.0} | {:>13.2} |",
            packets as f64 / seconds,
            best[0].as_secs_f64() / seconds
        );
    }
}
