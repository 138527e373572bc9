//! The price of distinct counting per packet: the interval aggregator with distinct counting
//! (interval sources and destinations, fan-in and fan-out of the tracked heavy addresses) against
//! the same aggregator with it off, on the same decoded packets, in the same run.
//!
//! A plain timing program (no harness): `cargo bench --bench distinct` builds two streams of
//! decoded packets in memory (decoding and reading are not timed), then times
//! `IntervalAggregator::observe` over each, best of several alternating runs, and prints ns per
//! packet with and without distinct counting and their ratio. Also prints the memory bound of
//! the per-address counters. Asserts nothing about speed.
//!
//! Times are the thread's own CPU time (`/proc/thread-self/schedstat`), not the wall clock: on
//! a shared two-core machine other processes' load moved wall-clock runs of the same code by
//! half, CPU time by a few per cent. Wall-clock figures are printed beside them.
//!
//! - `mixed`: Zipf(1.0) over 100 000 flows among 20 000 sources and 5 000 destinations, one
//!   in ten IPv6: most packets belong to tracked heavy addresses.
//! - `flood`: nine packets in ten from a new spoofed source to one victim (every one a miss in
//!   the tracked sources, which asks the heavy-hitter sketch for the source's count), the rest
//!   as `mixed`.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use hhmon::decode::{Decoded, FlowKey, UnparsedReason};
use hhmon::monitor::{fan_lg_k, tracked_keys, IntervalAggregator, MonitorConfig};
use hhmon::sketch::keyed::max_memory_bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Zipf};

const PACKETS: usize = 2_000_000;
const FLOWS: u64 = 100_000;
const SOURCES: u64 = 20_000;
const DESTINATIONS: u64 = 5_000;
/// Runs of each variant; the fastest counts.
const RUNS: usize = 5;
/// 60 s of packet time: six 10-second intervals close during a run.
const SPAN_NANOS: u64 = 60_000_000_000;
const START_NANOS: u64 = 1_700_000_000_000_000_000;
const SEED: u64 = 0x6469_7374; // "dist"

type Packet = (u64, u32, Result<Decoded, UnparsedReason>);

fn address(n: u64, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::new(
            0x2001,
            0xdb8,
            0,
            0,
            0,
            0,
            (n >> 16) as u16,
            n as u16,
        ))
    } else {
        IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | n as u32))
    }
}

fn flow_of(flow: u64) -> FlowKey {
    let v6 = flow % 10 == 0;
    let mixed = flow.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    FlowKey {
        src: address(mixed % SOURCES, v6),
        dst: address(0x10_0000 + (mixed >> 32) % DESTINATIONS, v6),
        src_port: 1024 + (mixed >> 16) as u16 % 60_000,
        dst_port: [443, 80, 53, 8080, 22][(flow % 5) as usize],
        protocol: if flow % 5 == 1 { 17 } else { 6 },
    }
}

/// `PACKETS` decoded packets; `flood` is the share of them from spoofed sources to one victim.
fn stream(flood: f64) -> Vec<Packet> {
    let mut rng = StdRng::seed_from_u64(SEED);
    let zipf = Zipf::new(FLOWS as f64, 1.0).unwrap();
    let victim = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));
    (0..PACKETS)
        .map(|i| {
            let key = if rng.random_bool(flood) {
                FlowKey {
                    src: IpAddr::V4(Ipv4Addr::from(rng.random::<u32>())),
                    dst: victim,
                    src_port: rng.random(),
                    dst_port: 80,
                    protocol: 6,
                }
            } else {
                flow_of(zipf.sample(&mut rng) as u64)
            };
            let at = START_NANOS + i as u64 * (SPAN_NANOS / PACKETS as u64);
            let length = rng.random_range(64..1514);
            let decoded = Decoded {
                key,
                transport_truncated: false,
                decap_fallback: None,
            };
            (at, length, Ok(decoded))
        })
        .collect()
}

/// Nanoseconds this thread has run on a CPU (Linux).
fn cpu_nanos() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat")
        .expect("this bench reads /proc/thread-self/schedstat (Linux)");
    stat.split_whitespace()
        .next()
        .and_then(|ns| ns.parse().ok())
        .expect("schedstat starts with the CPU time in ns")
}

/// One pass over `packets`: (CPU time, wall-clock time).
fn run(packets: &[Packet], distinct: bool) -> (Duration, Duration) {
    let (reports, closed) = std::sync::mpsc::channel();
    let mut aggregator = IntervalAggregator::new(
        MonitorConfig {
            distinct,
            ..MonitorConfig::default()
        },
        reports,
    );
    let cpu = cpu_nanos();
    let started = Instant::now();
    for &(at, length, decoded) in packets {
        aggregator.observe(at, length, black_box(decoded), || None);
    }
    aggregator.finish(|| None);
    let wall = started.elapsed();
    let cpu = Duration::from_nanos(cpu_nanos() - cpu);
    drop(aggregator);
    assert_eq!(closed.iter().count(), 6);
    (cpu, wall)
}

fn main() {
    let config = MonitorConfig::default();
    let tracked = tracked_keys(config.top);
    let lg_k = fan_lg_k(config.hll_lg_k);
    println!(
        "per-address counters: {tracked} sources and {tracked} destinations tracked, lg_k {lg_k}, \
         at most {:.2} MB in all ({} B per tracked address once its counter holds registers)",
        2.0 * max_memory_bytes::<IpAddr>(tracked, lg_k) as f64 / 1e6,
        max_memory_bytes::<IpAddr>(tracked, lg_k) / tracked
    );
    println!(
        "\n{PACKETS} decoded packets per stream, best of {RUNS} alternating runs, CPU time \
         (wall clock in brackets)"
    );
    println!(
        "| {:<6} | {:>20} | {:>20} | {:>16} | {:>7} |",
        "stream", "off, ns/packet", "on, ns/packet", "distinct, ns/pkt", "on/off"
    );
    println!(
        "|{:-<8}|{:->22}|{:->22}|{:->18}|{:->9}|",
        "", "", "", "", ""
    );
    for (name, flood) in [("mixed", 0.0), ("flood", 0.9)] {
        let packets = stream(flood);
        let best = (Duration::MAX, Duration::MAX);
        let (mut off, mut on) = (best, best);
        // Alternating keeps a drift in machine load from favouring one side.
        for _ in 0..RUNS {
            let (cpu, wall) = run(&packets, false);
            off = (off.0.min(cpu), off.1.min(wall));
            let (cpu, wall) = run(&packets, true);
            on = (on.0.min(cpu), on.1.min(wall));
        }
        let per_packet = |d: Duration| d.as_nanos() as f64 / PACKETS as f64;
        let cell = |(cpu, wall): (Duration, Duration)| {
            format!("{:.1} ({:.1})", per_packet(cpu), per_packet(wall))
        };
        println!(
            "| {name:<6} | {:>20} | {:>20} | {:>16.1} | {:>7.2} |",
            cell(off),
            cell(on),
            per_packet(on.0) - per_packet(off.0),
            per_packet(on.0) / per_packet(off.0)
        );
    }
}
