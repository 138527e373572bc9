//! Hierarchical heavy hitters: hhmon's way against the randomized HHH algorithm (RHHH: R. Ben
//! Basat, G. Einziger, R. Friedman, M. C. Luizelli, E. Waisbard, *Constant Time Updates in
//! Hierarchical Heavy Hitters*, SIGCOMM 2017), both against exact HHH, on the same streams of
//! IPv4 addresses (generated destinations with a carpet-bombed /24, and the sources or
//! destinations of shipped captures), hierarchy /8, /16, /24, /32: H = 4 levels.
//!
//! - **exact**: a hash map per level; HHH by [`hierarchical`] over every key.
//! - **per-length CHK** (hhmon's layout): one Cuckoo Heavy Keeper holds the prefixes of every
//!   level, each packet adds to all four; HHH by [`hierarchical`] over each level's top list.
//!   In hhmon the four additions are paid per flow chunk through a /24 cache, not per packet
//!   (docs/BENCHMARKS.md, "Prefix views"); here every packet pays them, the worst case.
//! - **RHHH**: one CHK per level (a quarter of the memory each); each packet adds to one level
//!   drawn at random (V = H), and a level's estimates are scaled by V; HHH by [`hierarchical`]
//!   over each level's top list, so that only the counting differs.
//!
//! Printed per stream and size: M packets/s (best of three passes), the HHH found against the
//! exact ones (precision, recall) and the largest error of a conditioned count as a share of
//! the stream. Asserts nothing.
//!
//! `cargo bench --bench hhh`; `HHH_BENCH_PACKETS=1000000` sets the largest generated stream.

use hhmon::decode::{decode, LinkType};
use hhmon::monitor::hhh::{hierarchical, Counted, Hierarchical};
use hhmon::prefix::Prefix;
use hhmon::sketch::chk::CuckooHeavyKeeper;
use hhmon::synth::{Generator, SynthConfig};
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Instant;

/// The hierarchy: prefix lengths, shortest first.
const LEVELS: [u8; 4] = [8, 16, 24, 32];
/// Heavy on its own: 5% of the stream, as hhmon's reports.
const SHARE: f64 = 0.05;
/// Entries each level lists (hhmon's `--top` is 10; twenty is every key that can carry 5%).
const LISTED: usize = 20;
/// Sketch memory of each method (hhmon's default per sketch is 256 KiB).
const BUDGETS: [usize; 2] = [16 * 1024, 256 * 1024];

/// What one method found.
struct Found {
    hhh: Vec<Hierarchical>,
    seconds: f64,
}

fn prefixes(address: Ipv4Addr) -> [Prefix; 4] {
    let address = IpAddr::V4(address);
    LEVELS.map(|length| Prefix::of(&address, length))
}

fn threshold(packets: usize) -> u64 {
    (packets as f64 * SHARE).ceil() as u64
}

fn exact(stream: &[Ipv4Addr]) -> Found {
    let start = Instant::now();
    let mut counts: HashMap<Prefix, u64> = HashMap::new();
    for &address in stream {
        for prefix in prefixes(address) {
            *counts.entry(prefix).or_default() += 1;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let all: Vec<Counted> = counts
        .into_iter()
        .map(|(network, count)| Counted { network, count })
        .collect();
    Found {
        hhh: hierarchical(&all, threshold(stream.len())),
        seconds,
    }
}

/// Each level's top [`LISTED`] of `list` (every level's keys), scaled by `scale`.
fn candidates(list: Vec<(Prefix, u64)>, scale: u64) -> Vec<Counted> {
    let mut out = Vec::new();
    for length in LEVELS {
        let mut level: Vec<_> = list.iter().filter(|(p, _)| p.length() == length).collect();
        level.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        out.extend(
            level
                .into_iter()
                .take(LISTED)
                .map(|&(network, count)| Counted {
                    network,
                    count: count * scale,
                }),
        );
    }
    out
}

fn per_length_chk(stream: &[Ipv4Addr], budget: usize) -> Found {
    best_of_three(|| {
        let mut sketch = CuckooHeavyKeeper::<Prefix>::with_memory_and_seed(budget, 7);
        let start = Instant::now();
        for &address in stream {
            for prefix in prefixes(std::hint::black_box(address)) {
                sketch.add(&prefix, 1);
            }
        }
        let seconds = start.elapsed().as_secs_f64();
        let hhh = hierarchical(&candidates(sketch.list(), 1), threshold(stream.len()));
        Found { hhh, seconds }
    })
}

fn rhhh(stream: &[Ipv4Addr], budget: usize) -> Found {
    best_of_three(|| {
        let mut levels: Vec<CuckooHeavyKeeper<Prefix>> = (0..LEVELS.len() as u64)
            .map(|seed| CuckooHeavyKeeper::with_memory_and_seed(budget / LEVELS.len(), 7 + seed))
            .collect();
        let mut random = 0x9e37_79b9_7f4a_7c15u64;
        let start = Instant::now();
        for &address in stream {
            // xorshift64: a level per packet, uniformly (V = H).
            random ^= random << 13;
            random ^= random >> 7;
            random ^= random << 17;
            let level = (random >> 62) as usize;
            let address = IpAddr::V4(std::hint::black_box(address));
            levels[level].add(&Prefix::of(&address, LEVELS[level]), 1);
        }
        let seconds = start.elapsed().as_secs_f64();
        let list = levels.iter().flat_map(|level| level.list()).collect();
        let hhh = hierarchical(
            &candidates(list, LEVELS.len() as u64),
            threshold(stream.len()),
        );
        Found { hhh, seconds }
    })
}

fn best_of_three(run: impl Fn() -> Found) -> Found {
    let mut best = run();
    for _ in 0..2 {
        let again = run();
        if again.seconds < best.seconds {
            best = again;
        }
    }
    best
}

/// Precision, recall and the largest conditioned-count error (share of `packets`) of `found`
/// against `truth`; a missed or spurious HHH counts its whole conditioned count as error.
fn score(found: &Found, truth: &Found, packets: usize) -> (f64, f64, f64) {
    let truth_set: HashMap<Prefix, u64> = truth
        .hhh
        .iter()
        .map(|h| (h.network, h.conditioned))
        .collect();
    let found_set: HashMap<Prefix, u64> = found
        .hhh
        .iter()
        .map(|h| (h.network, h.conditioned))
        .collect();
    let both: HashSet<&Prefix> = truth_set.keys().chain(found_set.keys()).collect();
    let hits = found_set
        .keys()
        .filter(|p| truth_set.contains_key(p))
        .count();
    let worst = both
        .into_iter()
        .map(|p| {
            let t = truth_set.get(p).copied().unwrap_or(0);
            let f = found_set.get(p).copied().unwrap_or(0);
            t.abs_diff(f)
        })
        .max()
        .unwrap_or(0);
    let ratio = |a: usize, b: usize| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    (
        ratio(hits, found_set.len()),
        ratio(hits, truth_set.len()),
        worst as f64 / packets as f64,
    )
}

fn compare(name: &str, stream: &[Ipv4Addr]) {
    let truth = exact(stream);
    let named: Vec<String> = truth
        .hhh
        .iter()
        .map(|h| {
            format!(
                "{} ({:.1}%)",
                h.network,
                100.0 * h.conditioned as f64 / stream.len() as f64
            )
        })
        .collect();
    println!("\n#### {name}: {} packets\n", stream.len());
    println!("Exact HHH (conditioned share): {}\n", named.join(", "));
    // RHHH's sampling error (Ben Basat et al., section 4): a level's count, scaled by V, is
    // within Z * sqrt(N V) of the truth with probability 1 - delta; a conditioned count adds
    // two such errors. Z = 1.96 for delta = 5%.
    let v = LEVELS.len() as f64;
    let n = stream.len() as f64;
    println!(
        "RHHH's sampling error bound (95%, 2 Z sqrt(N V)): {:.2}% of the stream\n",
        100.0 * 2.0 * 1.96 * (n * v).sqrt() / n
    );
    println!("| method | memory | M packets/s | precision | recall | worst conditioned error |");
    println!("|---|---|---|---|---|---|");
    let mpps = |found: &Found| stream.len() as f64 / found.seconds / 1e6;
    println!(
        "| exact (hash maps) | unbounded | {:.1} | 1.000 | 1.000 | 0 |",
        mpps(&truth)
    );
    for budget in BUDGETS {
        for (method, found) in [
            ("per-length CHK", per_length_chk(stream, budget)),
            ("RHHH (CHK per level, V = H)", rhhh(stream, budget)),
        ] {
            let (precision, recall, worst) = score(&found, &truth, stream.len());
            println!(
                "| {method} | {} KB | {:.1} | {precision:.3} | {recall:.3} | {:.2}% |",
                budget / 1024,
                mpps(&found),
                100.0 * worst
            );
        }
    }
}

/// The source (`sources`) or destination IPv4 addresses of a capture's packets.
fn capture(path: &Path, sources: bool) -> Vec<Ipv4Addr> {
    let mut capture = pcap::Capture::from_file(path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    let link = LinkType(capture.get_datalink().0);
    let mut out = Vec::new();
    while let Ok(packet) = capture.next_packet() {
        if let Ok(decoded) = decode(link, packet.data) {
            let key = decoded.key;
            if let IpAddr::V4(address) = if sources { key.src } else { key.dst } {
                out.push(address);
            }
        }
    }
    out
}

/// The destinations of `packets` generated packets with a carpet-bombed /24 (20% of the
/// packets) and the default Zipf traffic.
fn generated(packets: u64) -> Vec<Ipv4Addr> {
    let config = SynthConfig {
        packets,
        carpet_bomb: Some("203.0.113.0/24".parse().expect("a prefix")),
        carpet_share: 0.2,
        ..SynthConfig::default()
    };
    let mut generator = Generator::new(config).expect("a valid configuration");
    let mut out = Vec::new();
    while let Some(packet) = generator.next_packet() {
        if let IpAddr::V4(dst) = packet.key.dst {
            out.push(dst);
        }
    }
    out
}

fn main() {
    let largest: u64 = std::env::var("HHH_BENCH_PACKETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    println!(
        "HHH at {}% of the stream, hierarchy /8 /16 /24 /32, top {LISTED} listed per level",
        SHARE * 100.0
    );
    let mut size = 100_000;
    while size <= largest {
        compare(
            "generated, 20% carpet bombing 203.0.113.0/24",
            &generated(size),
        );
        size *= 10;
    }
    let captures = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
    for (name, sources) in [
        ("ddos-reflection-synack.pcap", true),
        ("gnutella-p2p.pcap", false),
        ("many-protocols.pcap", true),
    ] {
        let side = if sources { "sources" } else { "destinations" };
        compare(
            &format!("{name}, {side}"),
            &capture(&captures.join(name), sources),
        );
    }
}
