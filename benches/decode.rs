//! Decoding cost per packet on every shipped capture: `hhmon::decode::decode` (the outermost IP
//! flow) and `decode_with` with `--decap` (the innermost), against a baseline loop in the same
//! run that only touches each frame.
//!
//! A plain timing loop (no harness): `cargo bench --bench decode` prints ns per packet for
//! each capture, the fastest of a few runs so that a busy machine disturbs it less. Knows nothing of the pipeline around `decode`; the frames are read into
//! memory with hhmon's capture reader (gzip included) before any clock starts.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use hhmon::capture::{FileSource, PacketSource};
use hhmon::decode::{decode, decode_with, DecodeOptions, LinkType};

/// Each loop runs over a capture's frames repeatedly for at least this long, this many
/// times; the fastest run counts, since other processes only ever slow a run down.
const RUN: Duration = Duration::from_millis(30);
const RUNS: usize = 7;

fn load(path: &Path) -> Option<(LinkType, Vec<Vec<u8>>)> {
    // Files libpcap refuses have nothing to time.
    let mut source = FileSource::open(path).ok()?;
    let link = source.link_type();
    let mut frames = Vec::new();
    while let Ok(Some(packet)) = source.next_packet() {
        frames.push(packet.data.to_vec());
    }
    Some((link, frames))
}

/// Nanoseconds per frame of `per_frame` over `frames`: the fastest of [`RUNS`] runs.
fn time(frames: &[Vec<u8>], mut per_frame: impl FnMut(&[u8]) -> u64) -> f64 {
    let mut fastest = f64::INFINITY;
    let mut sum = 0u64;
    for _ in 0..RUNS {
        let mut rounds = 0u64;
        let start = Instant::now();
        while start.elapsed() < RUN {
            for frame in frames {
                sum = sum.wrapping_add(per_frame(black_box(frame)));
            }
            rounds += 1;
        }
        let ns = start.elapsed().as_nanos() as f64 / (rounds * frames.len() as u64) as f64;
        fastest = fastest.min(ns);
    }
    black_box(sum);
    fastest
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap())
        // Subdirectories (flow-telemetry/) hold captures of other kinds.
        .filter(|entry| entry.file_type().unwrap().is_file())
        .map(|entry| entry.file_name().into_string().unwrap())
        .filter(|name| name != "README.md")
        .collect();
    names.sort();
    println!(
        "{:<32} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "capture", "packets", "baseline", "decode", "decap", "decode-b", "decap-b"
    );
    println!(
        "{:<32} {:>7} {:>49}",
        "", "", "(ns/packet; -b: minus the baseline)"
    );
    let decap = DecodeOptions { decap: true };
    let mut totals = [0.0f64; 3];
    let mut packets = 0usize;
    for name in &names {
        let Some((link, frames)) = load(&dir.join(name)) else {
            println!("{name:<32} (not readable)");
            continue;
        };
        if frames.is_empty() {
            continue;
        }
        // The baseline reads each frame's length and first byte, as any consumer would.
        let baseline = time(&frames, |f| {
            f.len() as u64 + u64::from(f.first().copied().unwrap_or(0))
        });
        let outer = time(&frames, |f| u64::from(decode(link, f).is_ok()));
        let inner = time(&frames, |f| u64::from(decode_with(decap, link, f).is_ok()));
        for (total, ns) in totals.iter_mut().zip([baseline, outer, inner]) {
            *total += ns * frames.len() as f64;
        }
        packets += frames.len();
        println!(
            "{name:<32} {:>7} {baseline:>9.1} {outer:>9.1} {inner:>9.1} {:>9.1} {:>9.1}",
            frames.len(),
            outer - baseline,
            inner - baseline
        );
    }
    let [baseline, outer, inner] = totals.map(|t| t / packets as f64);
    println!(
        "{:<32} {packets:>7} {baseline:>9.1} {outer:>9.1} {inner:>9.1} {:>9.1} {:>9.1}",
        "all (weighted by packets)",
        outer - baseline,
        inner - baseline
    );
}
