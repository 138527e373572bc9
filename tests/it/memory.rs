//! Resident memory of `hhmon replay` is bounded as documented (docs/BENCHMARKS.md, "Memory"),
//! however many flows go by: the real binary replays 10 million distinct flows (`hhmon
//! generate`: a spoofed fan-in attack and a scan, each packet a flow of its own) and its peak
//! resident set (`VmHWM` in /proc, read while it still serves its final metrics) must stay under
//! the bound, for the default sketches (with one and with two workers) and for large ones. The
//! large run also checks that the bound is not vacuous: the sketches it budgets really are
//! resident.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use hhmon::sketch::hll::DEFAULT_LG_K;

use crate::util::hhmon::hhmon;
use crate::util::http;
const PACKETS: u64 = 10_000_000;

/// The documented bound with `workers` owner threads (1: the one-thread path). One thread: ten
/// heavy-hitter sketches (three views and the source and destination prefixes, by packets and
/// by bytes), two interval HyperLogLogs (sources, destinations) of `2^lg_k` one-byte registers
/// and as many bytes of register lower bounds, the fan-in and fan-out tables of the tracked
/// addresses and the distinct-address tables of the tracked prefixes at their fullest, the
/// packet thread's flow cache (1 MiB) and prefix caches (344 KB each), and a fixed
/// allowance for code, libraries, thread stacks, libpcap's buffer, the metrics text and
/// allocator slack. With more workers, two sets of views (one filling, one being ranked), the
/// sketches split among the workers, their HyperLogLogs and fan tables per worker, and 1 MiB of
/// update batches per worker.
fn documented_bound(sketch_bytes: u64, hll_lg_k: u8, workers: u64) -> u64 {
    const FIXED: u64 = 12 << 20;
    let tracked = hhmon::sketch::keyed::max_memory_bytes::<std::net::IpAddr>(
        hhmon::monitor::tracked_keys(20),
        hhmon::monitor::fan_lg_k(hll_lg_k),
    ) as u64;
    // As many tracked prefixes per table as a fan table tracks addresses, each counter with
    // its registers and as many bytes of their bounds (as many bytes as the registers of a
    // counter of twice as many).
    let prefixes = hhmon::sketch::keyed::max_memory_bytes::<hhmon::prefix::Prefix>(
        hhmon::monitor::tracked_keys(20),
        hhmon::monitor::prefix_lg_k(hll_lg_k) + 1,
    ) as u64;
    let (sets, batches) = if workers > 1 {
        (2, workers << 20)
    } else {
        (1, 0)
    };
    let set = 10 * sketch_bytes + workers * (2 * 2 * (1 << hll_lg_k) + 2 * tracked + 2 * prefixes);
    // One flow cache and one pair of prefix caches: replay has one packet thread.
    let caches = hhmon::monitor::FLOW_CACHE_BYTES + hhmon::monitor::PREFIX_CACHE_BYTES;
    sets * set + batches + caches as u64 + FIXED
}

/// `VmHWM` of process `pid`, in bytes.
fn peak_resident(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().strip_suffix("kB"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmHWM in {status}"));
    kib * 1024
}

/// Replays `capture` with `args` until every packet is counted, and returns hhmon's peak
/// resident memory.
fn replay_peak(capture: &Path, args: &[&str]) -> u64 {
    let port = http::free_port();
    let mut child = hhmon(["replay", "--quiet", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .args(args)
        .arg(capture)
        .spawn(Stdio::null(), Stdio::null());
    let done = format!("hhmon_packets_total {PACKETS}");
    let started = Instant::now();
    let metrics = || http::get(([127, 0, 0, 1], port).into(), "/metrics");
    while !metrics().is_some_and(|(_, text)| text.lines().any(|line| line == done)) {
        if started.elapsed() > Duration::from_secs(300)
            || child.child().try_wait().unwrap().is_some()
        {
            panic!("{args:?}: hhmon never reported {done}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let peak = peak_resident(child.id());
    child.terminate();
    assert!(
        child.child().wait().unwrap().success(),
        "{args:?}: exit after SIGTERM"
    );
    peak
}

#[test]
fn ten_million_distinct_flows_stay_within_the_documented_bound() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("flood.pcap");
    // Minimal frames, cut at the smallest snap length: 76 bytes a record, 760 MB in all.
    let output = hhmon(["generate", "--packets", &PACKETS.to_string()])
        .args([
            "--attack",
            "0.5",
            "--scan",
            "0.5",
            "--snaplen",
            "74",
            "--out",
        ])
        .arg(&capture)
        .output();
    assert!(output.status.success(), "{}", output.stderr);

    let default = replay_peak(&capture, &[]);
    let bound = documented_bound(hhmon::monitor::DEFAULT_SKETCH_BYTES as u64, DEFAULT_LG_K, 1);
    println!("default sketches: peak {default} B, bound {bound} B");
    assert!(default <= bound, "peak {default} B > bound {bound} B");

    let workers = replay_peak(&capture, &["--workers", "2"]);
    let bound = documented_bound(hhmon::monitor::DEFAULT_SKETCH_BYTES as u64, DEFAULT_LG_K, 2);
    println!("default sketches, 2 workers: peak {workers} B, bound {bound} B");
    assert!(workers <= bound, "peak {workers} B > bound {bound} B");

    let large_kib = 4096;
    let large = replay_peak(&capture, &["--sketch-kib", &large_kib.to_string()]);
    let sketches = 10 * large_kib * 1024;
    let bound = documented_bound(sketches / 10, DEFAULT_LG_K, 1);
    println!("4 MiB sketches: peak {large} B, bound {bound} B");
    assert!(large <= bound, "peak {large} B > bound {bound} B");
    assert!(
        large >= sketches,
        "peak {large} B holds less than the {sketches} B of sketches"
    );
}
