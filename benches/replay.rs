//! Replay throughput of the whole `hhmon replay` program against a bare libpcap read loop.
//!
//! A plain timing program (no harness): `cargo bench --bench replay` writes a deterministic
//! synthetic capture (Zipf-distributed flows, mixed frame sizes, 60 s of timestamps) into a
//! temporary directory, then times, best of three with the file in the page cache, the bare
//! libpcap loop and the release `hhmon` binary in its default and `--exact` modes, and prints
//! packets per second and the ratio to the bare loop. It asserts nothing about speed. Knows
//! nothing of hhmon's internals: the binary is run as a user would.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Zipf};

const PACKETS: u64 = 5_000_000;
const FLOWS: u64 = 100_000;
/// Zipf exponent of flow popularity: the largest flow carries about 8% of the packets.
const ZIPF_EXPONENT: f64 = 1.0;
/// Distinct source addresses the flows are drawn from.
const SOURCES: u64 = 20_000;
/// Bytes kept of each frame, as a monitoring capture (`tcpdump -s 128`) would; the wire length
/// in each record stays the full frame size.
const SNAPLEN: usize = 128;
const START_UNIX: u64 = 1_700_000_000;
const SPAN_MICROS: u64 = 60_000_000;
const RUNS: usize = 3;
const SEED: u64 = 0x7265_706c_6179; // "replay"

/// SplitMix64: spreads a flow number over addresses and ports.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The Ethernet, IP and transport headers of one flow, and where its IP length field is.
struct Template {
    headers: Vec<u8>,
    /// Offset of the IP length field and how many header bytes it excludes.
    length_field: (usize, usize),
}

/// Flow `n`: one in ten is IPv6, one in five UDP, the rest TCP.
fn template(n: u64) -> Template {
    let h = mix(n);
    let source = mix(h % SOURCES);
    let udp = n % 5 == 1;
    let ipv6 = n % 10 == 0;
    let mut headers = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
    let protocol = if udp { 17 } else { 6 };
    let length_field = if ipv6 {
        headers.extend([0x86, 0xdd]);
        headers.extend([0x60, 0, 0, 0, 0, 0, protocol, 64]);
        headers.extend([0x20, 0x01, 0x0d, 0xb8]);
        headers.extend(&source.to_be_bytes()[..8]);
        headers.extend([0, 0, 0, 1]);
        headers.extend([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0]);
        headers.extend(&(h as u32).to_be_bytes());
        (18, 14 + 40)
    } else {
        headers.extend([0x08, 0x00]);
        headers.extend([0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, protocol, 0, 0]);
        headers.extend([10, (source >> 16) as u8, (source >> 8) as u8, source as u8]);
        headers.extend([
            172,
            16 + (h >> 40) as u8 % 16,
            (h >> 48) as u8,
            (h >> 56) as u8,
        ]);
        (16, 14)
    };
    let source_port = 1024 + (h >> 8) as u16 % 60000;
    let destination_port = [443u16, 80, 53, 8080, 22][(h % 5) as usize];
    headers.extend(source_port.to_be_bytes());
    headers.extend(destination_port.to_be_bytes());
    if udp {
        headers.extend([0; 4]);
    } else {
        headers.extend([0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
    }
    Template {
        headers,
        length_field,
    }
}

/// A frame size: mostly minimal (ACKs) and full-size frames, the rest spread between.
fn frame_size(rng: &mut StdRng, minimum: usize) -> usize {
    let size = match rng.random_range(0..10) {
        0..=3 => 64,
        4..=7 => 1514,
        _ => rng.random_range(64..1514),
    };
    size.max(minimum)
}

/// Writes the synthetic capture: a little-endian microsecond pcap.
fn write_capture(path: &Path) {
    let mut rng = StdRng::seed_from_u64(SEED);
    let zipf = Zipf::new(FLOWS as f64, ZIPF_EXPONENT).unwrap();
    let templates: Vec<Template> = (0..FLOWS).map(template).collect();
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path).unwrap());
    out.write_all(&0xa1b2_c3d4u32.to_le_bytes()).unwrap();
    out.write_all(&2u16.to_le_bytes()).unwrap();
    out.write_all(&4u16.to_le_bytes()).unwrap();
    out.write_all(&[0; 8]).unwrap();
    out.write_all(&(SNAPLEN as u32).to_le_bytes()).unwrap();
    out.write_all(&1u32.to_le_bytes()).unwrap();
    let mut frame = [0u8; SNAPLEN];
    for i in 0..PACKETS {
        let flow = &templates[zipf.sample(&mut rng) as usize - 1];
        let size = frame_size(&mut rng, flow.headers.len());
        let micros = i * SPAN_MICROS / PACKETS;
        let captured = size.min(SNAPLEN);
        frame[..flow.headers.len()].copy_from_slice(&flow.headers);
        frame[flow.headers.len()..].fill(0);
        let (at, excluded) = flow.length_field;
        frame[at..at + 2].copy_from_slice(&((size - excluded) as u16).to_be_bytes());
        let seconds = (START_UNIX + micros / 1_000_000) as u32;
        for field in [
            seconds,
            (micros % 1_000_000) as u32,
            captured as u32,
            size as u32,
        ] {
            out.write_all(&field.to_le_bytes()).unwrap();
        }
        out.write_all(&frame[..captured]).unwrap();
    }
    out.flush().unwrap();
}

/// The fastest of `RUNS` runs of `run`, which returns the packets it handled.
fn best_of(mut run: impl FnMut() -> u64) -> Duration {
    (0..RUNS)
        .map(|_| {
            let started = Instant::now();
            assert_eq!(run(), PACKETS);
            started.elapsed()
        })
        .min()
        .unwrap()
}

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
    let output = Command::new(env!("CARGO_BIN_EXE_hhmon"))
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
    // REPLAY_BENCH_CAPTURE=<file> keeps the capture there, e.g. to profile hhmon on it.
    let path = std::env::var_os("REPLAY_BENCH_CAPTURE")
        .map_or_else(|| dir.path().join("synthetic.pcap"), Into::into);
    let started = Instant::now();
    write_capture(&path);
    let size = std::fs::metadata(&path).unwrap().len();
    println!(
        "synthetic capture: {PACKETS} packets, {FLOWS} Zipf({ZIPF_EXPONENT}) flows, snaplen \
         {SNAPLEN}, {:.0} MB, written in {:.1} s",
        size as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    // Reads the file once so that every timed run finds it in the page cache.
    bare_libpcap(&path);

    let bare = best_of(|| bare_libpcap(&path));
    let rows = [
        ("bare libpcap loop", bare),
        ("hhmon replay --quiet", best_of(|| hhmon(&path, &[]))),
        (
            "hhmon replay --quiet --exact",
            best_of(|| hhmon(&path, &["--exact"])),
        ),
    ];
    println!("\nbest of {RUNS} runs, wall clock");
    println!(
        "| {:<30} | {:>9} | {:>11} | {:>13} |",
        "run", "seconds", "packets/s", "vs bare loop"
    );
    println!("|{:-<32}|{:->11}|{:->13}|{:->15}|", "", "", "", "");
    for (name, time) in rows {
        let seconds = time.as_secs_f64();
        println!(
            "| {name:<30} | {seconds:>9.3} | {:>11.0} | {:>13.2} |",
            PACKETS as f64 / seconds,
            bare.as_secs_f64() / seconds
        );
    }
}
