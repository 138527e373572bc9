//! Throughput of `hhmon::decode::decode` on frames preloaded from the larger real captures.
//!
//! A plain timing loop (no harness): `cargo bench --bench decode` prints ns per packet for each
//! capture. Knows nothing of the pipeline around `decode`; reading and copying the frames
//! happens before the clock starts.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use hhmon::decode::{decode, LinkType};

const CAPTURES: &[&str] = &[
    "ddos-synflood-spoofed.pcap",
    "ddos-reflection-synack.pcap",
    "wireshark-samples-mixed.pcapng",
    "many-protocols.pcap",
    "gnutella-p2p.pcap",
    "pppoe-teredo-home-router.pcap",
];

/// Each capture is decoded repeatedly for at least this long, so small files still time well.
const MIN_RUN: Duration = Duration::from_millis(500);

fn load(path: &Path) -> (LinkType, Vec<Vec<u8>>) {
    let mut capture = pcap::Capture::from_file(path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    let link = LinkType(capture.get_datalink().0);
    let mut frames = Vec::new();
    while let Ok(packet) = capture.next_packet() {
        frames.push(packet.data.to_vec());
    }
    (link, frames)
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
    println!(
        "{:<32} {:>8} {:>10} {:>12}",
        "capture", "packets", "ns/packet", "Mpackets/s"
    );
    for name in CAPTURES {
        let (link, frames) = load(&dir.join(name));
        let mut decoded = 0u64;
        let mut rounds = 0u64;
        let start = Instant::now();
        while start.elapsed() < MIN_RUN {
            for frame in &frames {
                decoded += u64::from(decode(link, black_box(frame)).is_ok());
            }
            rounds += 1;
        }
        let elapsed = start.elapsed();
        let packets = rounds * frames.len() as u64;
        let ns_per_packet = elapsed.as_nanos() as f64 / packets as f64;
        black_box(decoded);
        println!(
            "{name:<32} {:>8} {ns_per_packet:>10.1} {:>12.1}",
            frames.len(),
            1e3 / ns_per_packet
        );
    }
}
