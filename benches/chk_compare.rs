//! Side-by-side comparison of the Cuckoo Heavy Keeper crate's two layouts (the compact one of
//! the paper, and the wide one hhmon's monitor uses) with the `heavykeeper` crate's `TopK` and
//! `CuckooTopK` and with exact counting, on the same streams at equal memory budgets, printed
//! as Markdown tables (the paper's metrics: throughput, ARE, precision, recall, F1 at
//! phi = 5e-4), followed by the issue #19 goals at the paper's point, checked in the same run.
//! The throughput goal is timed again in interleaved rounds (one pass of each sketch per
//! round, best round of each): the table's rows are timed one after the other, so on a machine
//! shared with other work a burst of load during one row skews the ratio of two rows.
//!
//! It must not know how any of the sketches works inside: it sizes them through their own
//! memory accounting and scores them through `support::HeavyHitters`.
//!
//! Run: `cargo bench --bench chk_compare`. `HHMON_BENCH_ITEMS` (default 10^7) sets the Zipf
//! stream length, `HHMON_BENCH_PCAP_REPEAT` (default 20) how many times the capture stream is
//! replayed, `HHMON_BENCH_ALPHAS` (default `0.8,1.0,1.2,1.4,1.6`, empty for none) which Zipf
//! streams run and `HHMON_BENCH_CAPTURES=0` skips the capture streams (a run of Zipf 1.2 alone
//! takes about a minute).

// The bench reads fewer of the scores than the tests that share the module.
#[allow(dead_code)]
#[path = "../tests/it/chk_accuracy/scoring.rs"]
mod support;

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use heavykeeper::{CuckooTopK, TopK};
use hhmon::decode::{decode, FlowKey, LinkType};
use hhmon::sketch::chk::{CompactHeavyKeeper, CuckooHeavyKeeper};
use std::net::IpAddr;
use support::{score, zipf_keys, Exact, HeavyHitters, Score, Stream, PHI};

const BUDGETS_KB: [usize; 6] = [2, 4, 8, 16, 32, 64];
const ALPHAS: [f64; 5] = [0.8, 1.0, 1.2, 1.4, 1.6];
const UNIVERSE: u64 = 1_000_000;
const SEED: u64 = 2025;
/// HeavyKeeper's decay base as the crate's documentation and the HeavyKeeper paper use it.
const HK_DECAY: f64 = 0.9;
/// Rows (TopK) and heavy slots per bucket (CuckooTopK): the HeavyKeeper paper's setting.
const HK_DEPTH: usize = 2;
const TIMED_PASSES: usize = 3;
/// Rounds of the goals' interleaved timing: each round times one pass of every sketch the
/// throughput goal compares, so that load from other processes hits them alike.
const GOAL_ROUNDS: usize = 7;
/// The CHK paper's sizing: 32 buckets per table per KB, i.e. 16-byte buckets that hold
/// fingerprints and counters but no keys.
const PAPER_BUCKETS_PER_KB: usize = 32;
/// The label of the compact layout's rows (the one the goals are about).
const COMPACT: &str = "CHK compact";
const CAPTURES: [&str; 5] = [
    "many-protocols.pcap",
    "gnutella-p2p.pcap",
    "wireshark-samples-mixed.pcapng",
    "ddos-synflood-spoofed.pcap",
    "ddos-reflection-synack.pcap",
];

impl<K: Ord + Clone + std::hash::Hash> HeavyHitters<K> for TopK<K> {
    fn insert(&mut self, key: &K, weight: u64) {
        self.add(key, weight);
    }
    fn estimate(&self, key: &K) -> u64 {
        self.count(key)
    }
    fn reported(&self) -> Vec<(K, u64)> {
        self.list().into_iter().map(|n| (n.item, n.count)).collect()
    }
    fn memory_bytes(&self) -> usize {
        self.mem_bytes(|_| 0)
    }
}

impl<K: Ord + Clone + std::hash::Hash> HeavyHitters<K> for CuckooTopK<K> {
    fn insert(&mut self, key: &K, weight: u64) {
        self.add(key, weight);
    }
    fn estimate(&self, key: &K) -> u64 {
        self.count(key)
    }
    fn reported(&self) -> Vec<(K, u64)> {
        self.list().into_iter().map(|n| (n.item, n.count)).collect()
    }
    fn memory_bytes(&self) -> usize {
        self.mem_bytes(|_| 0)
    }
}

impl<K: std::hash::Hash + Eq + Clone> HeavyHitters<K> for CompactHeavyKeeper<K> {
    fn insert(&mut self, key: &K, weight: u64) {
        self.add(key, weight);
    }
    fn estimate(&self, key: &K) -> u64 {
        self.count(key)
    }
    fn reported(&self) -> Vec<(K, u64)> {
        self.list()
    }
    fn memory_bytes(&self) -> usize {
        CompactHeavyKeeper::memory_bytes(self)
    }
}

/// One printed line of results.
struct Row {
    stream: String,
    algorithm: String,
    budget_kb: Option<usize>,
    memory: usize,
    mops: f64,
    score: Score,
}

/// How a heavykeeper sketch was fitted into a budget.
enum Fit {
    /// Its whole footprint (`mem_bytes`) fits.
    Whole(usize),
    /// Only its counters fit; its smallest whole footprint is `minimum` bytes.
    CountersOnly { width: usize, minimum: usize },
    /// Not even one column of counters fits.
    None { minimum: usize },
}

/// Fits a sketch whose footprint is `fixed + per_width * width` into `budget` bytes, reading
/// both terms from the sketch's own `mem_bytes` at widths 1 and 2 (it is linear in width).
fn fit(budget: usize, mem_at: impl Fn(usize) -> usize) -> Fit {
    let (one, two) = (mem_at(1), mem_at(2));
    let per_width = two - one;
    let fixed = one - per_width;
    let widest = |room: usize| room / per_width;
    if fixed + per_width <= budget {
        // Linear in width, so the division is exact; the assert guards that assumption.
        let width = widest(budget - fixed);
        assert!(mem_at(width) <= budget && mem_at(width + 1) > budget);
        Fit::Whole(width)
    } else if per_width <= budget {
        Fit::CountersOnly {
            width: widest(budget),
            minimum: one,
        }
    } else {
        Fit::None { minimum: one }
    }
}

/// Builds a fresh sketch per pass, times `TIMED_PASSES` full passes over the stream and keeps
/// the best; returns the last sketch (every pass is deterministic) and M inserts/s.
fn timed<K, S: HeavyHitters<K>>(stream: &Stream<K>, make: impl Fn() -> S) -> (S, f64) {
    assert!(stream.weights.is_empty(), "the bench times unit inserts");
    let mut best = f64::INFINITY;
    let mut sketch = make();
    for _ in 0..TIMED_PASSES {
        sketch = make();
        let start = Instant::now();
        for key in &stream.keys {
            sketch.insert(black_box(key), 1);
        }
        best = best.min(start.elapsed().as_secs_f64());
        black_box(&sketch);
    }
    (sketch, stream.keys.len() as f64 / best / 1e6)
}

/// Seconds for one pass of unit inserts over `stream` into a fresh sketch from `make`.
fn one_pass<K, S: HeavyHitters<K>>(stream: &Stream<K>, make: impl Fn() -> S) -> f64 {
    let mut sketch = make();
    let start = Instant::now();
    for key in &stream.keys {
        sketch.insert(black_box(key), 1);
    }
    let seconds = start.elapsed().as_secs_f64();
    black_box(&sketch);
    seconds
}

/// M inserts/s of CHK compact, heavykeeper's `TopK` (as fitted in the table) and the wide
/// layout at `kb`, timed in [`GOAL_ROUNDS`] interleaved rounds, best round of each.
fn interleaved_goal_speeds(stream: &Stream<u64>, kb: usize) -> (f64, f64, f64) {
    let k = stream.heavy_hitter_count(PHI).max(1);
    let topk = |w| TopK::<u64>::with_seed(k, w, HK_DEPTH, HK_DECAY, SEED);
    let width = match fit(kb * 1024, |w| topk(w).memory_bytes()) {
        Fit::Whole(width) | Fit::CountersOnly { width, .. } => width,
        Fit::None { .. } => 1,
    };
    let mut best = [f64::INFINITY; 3];
    for _ in 0..GOAL_ROUNDS {
        best[0] = best[0].min(one_pass(stream, || {
            CompactHeavyKeeper::<u64>::with_memory_and_seed(kb * 1024, SEED)
        }));
        best[1] = best[1].min(one_pass(stream, || topk(width)));
        best[2] = best[2].min(one_pass(stream, || {
            CuckooHeavyKeeper::<u64>::with_memory_and_seed(kb * 1024, SEED)
        }));
    }
    let mops = |seconds: f64| stream.keys.len() as f64 / seconds / 1e6;
    (mops(best[0]), mops(best[1]), mops(best[2]))
}

fn measure<K, S: HeavyHitters<K>>(
    rows: &mut Vec<Row>,
    stream_name: &str,
    algorithm: String,
    budget_kb: Option<usize>,
    stream: &Stream<K>,
    make: impl Fn() -> S,
) where
    K: std::hash::Hash + Eq + Clone,
{
    let (sketch, mops) = timed(stream, make);
    let row = Row {
        stream: stream_name.to_owned(),
        algorithm,
        budget_kb,
        memory: sketch.memory_bytes(),
        mops,
        score: score(stream, PHI, &sketch),
    };
    print_row(&row);
    rows.push(row);
}

fn print_row(r: &Row) {
    let budget = r
        .budget_kb
        .map_or_else(|| "unbounded".to_owned(), |kb| format!("{kb} KB"));
    println!(
        "| {} | {} | {:.1} KB | {:.1} | {:.2e} | {:.3} | {:.3} | {:.3} |",
        r.algorithm,
        budget,
        r.memory as f64 / 1024.0,
        r.mops,
        r.score.are,
        r.score.precision,
        r.score.recall,
        r.score.f1
    );
}

/// One heavykeeper variant at one budget: whole footprint when it fits; otherwise says so and,
/// when its counters alone fit, runs it with only the counters held to the budget.
fn heavykeeper_row<K, S: HeavyHitters<K>>(
    rows: &mut Vec<Row>,
    stream_name: &str,
    name: &str,
    budget_kb: usize,
    stream: &Stream<K>,
    build: impl Fn(usize) -> S,
) where
    K: std::hash::Hash + Eq + Clone,
{
    let budget = budget_kb * 1024;
    match fit(budget, |w| build(w).memory_bytes()) {
        Fit::Whole(width) => measure(
            rows,
            stream_name,
            format!("{name} w={width}"),
            Some(budget_kb),
            stream,
            || build(width),
        ),
        Fit::CountersOnly { width, minimum } => {
            println!(
                "| {name} | {budget_kb} KB | n/a: minimum footprint {:.1} KB | | | | | |",
                minimum as f64 / 1024.0
            );
            measure(
                rows,
                stream_name,
                format!("{name} w={width} †"),
                Some(budget_kb),
                stream,
                || build(width),
            );
        }
        Fit::None { minimum } => println!(
            "| {name} | {budget_kb} KB | n/a: minimum footprint {:.1} KB | | | | | |",
            minimum as f64 / 1024.0
        ),
    }
}

fn compare<K>(rows: &mut Vec<Row>, name: &str, stream: &Stream<K>)
where
    K: std::hash::Hash + Ord + Clone,
{
    let k = stream.heavy_hitter_count(PHI).max(1);
    println!(
        "\n### {name}\n\nN = {}, distinct keys = {}, phi*N = {:.0}, true heavy hitters = {} \
         (heavykeeper runs with k = {k}).\n",
        stream.total,
        stream.exact.len(),
        stream.threshold(PHI),
        stream.heavy_hitter_count(PHI),
    );
    println!("| algorithm | budget | memory used | M inserts/s | ARE | precision | recall | F1 |");
    println!("|---|---|---|---|---|---|---|---|");
    measure(rows, name, "exact (HashMap)".into(), None, stream, || {
        Exact::<K>::default()
    });
    for kb in BUDGETS_KB {
        measure(rows, name, COMPACT.into(), Some(kb), stream, || {
            CompactHeavyKeeper::<K>::with_memory_and_seed(kb * 1024, SEED)
        });
        measure(rows, name, "hhmon CHK".into(), Some(kb), stream, || {
            CuckooHeavyKeeper::<K>::with_memory_and_seed(kb * 1024, SEED)
        });
        let paper_buckets = PAPER_BUCKETS_PER_KB * kb;
        measure(
            rows,
            name,
            format!("hhmon CHK B={paper_buckets} ‡"),
            Some(kb),
            stream,
            || CuckooHeavyKeeper::<K>::with_seed(paper_buckets, SEED),
        );
        heavykeeper_row(rows, name, "TopK d=2", kb, stream, |w| {
            TopK::<K>::with_seed(k, w, HK_DEPTH, HK_DECAY, SEED)
        });
        heavykeeper_row(rows, name, "CuckooTopK d=2", kb, stream, |w| {
            CuckooTopK::<K>::with_seed(k, w, HK_DEPTH, HK_DECAY, SEED)
        });
    }
}

/// The five-tuples of every frame of `file` that hhmon's decoder turns into a flow key, in
/// capture order.
fn capture_keys(file: &Path) -> Vec<FlowKey> {
    let mut capture = pcap::Capture::from_file(file)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", file.display()));
    let link = LinkType(capture.get_datalink().0);
    let mut keys = Vec::new();
    let mut skipped = 0;
    loop {
        match capture.next_packet() {
            Ok(packet) => match decode(link, packet.data) {
                Ok(decoded) => keys.push(decoded.key),
                Err(_) => skipped += 1,
            },
            Err(pcap::Error::NoMorePackets) => break,
            Err(e) => panic!("reading {}: {e}", file.display()),
        }
    }
    println!(
        "- {}: {} flow keys ({skipped} frames without one)",
        file.file_name().unwrap_or_default().to_string_lossy(),
        keys.len()
    );
    keys
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} must be a number"))
        })
        .unwrap_or(default)
}

fn print_machine() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let rustc = std::process::Command::new(std::env::var("RUSTC").unwrap_or("rustc".into()))
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|_| "unknown".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("## Machine\n\n- CPU: {cpu}\n- nproc: {cores}\n- {rustc}\n");
}

/// The row of `stream` at `kb` whose algorithm label satisfies `label`.
fn find<'a>(
    rows: &'a [Row],
    stream: &str,
    kb: usize,
    label: impl Fn(&str) -> bool,
) -> Option<&'a Row> {
    rows.iter()
        .find(|r| r.stream == stream && r.budget_kb == Some(kb) && label(&r.algorithm))
}

fn print_goals(rows: &[Row], stream: &str, speeds: (f64, f64, f64)) {
    println!("\n### Goals ({stream})\n");
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    let (Some(compact), Some(compact8), Some(wide), Some(topk)) = (
        find(rows, stream, 4, |a| a == COMPACT),
        find(rows, stream, 8, |a| a == COMPACT),
        find(rows, stream, 4, |a| a == "hhmon CHK"),
        find(rows, stream, 4, |a| a.starts_with("TopK d=2")),
    ) else {
        println!("- missing rows: cannot compute the goal ratios");
        return;
    };
    let speedup = compact.mops / topk.mops;
    println!(
        "- TopK row used: `{}` (its whole footprint does not fit 4 KB when marked `†`)",
        topk.algorithm
    );
    println!(
        "- CHK compact at 4 KB ({:.2} KB held, the whole footprint): precision {:.3}, recall \
         {:.3} (goal >= 0.97: {}); ARE {:.2e} = 10^{:.2} (goal <= 10^-2.5: {})",
        compact.memory as f64 / 1024.0,
        compact.score.precision,
        compact.score.recall,
        verdict(compact.score.precision >= 0.97 && compact.score.recall >= 0.97),
        compact.score.are,
        compact.score.are.log10(),
        verdict(compact.score.are <= 10f64.powf(-2.5))
    );
    let (compact_mops, topk_mops, wide_mops) = speeds;
    let interleaved = compact_mops / topk_mops;
    println!(
        "- CHK compact throughput / TopK throughput at 4 KB, {GOAL_ROUNDS} interleaved rounds \
         (best of each): {compact_mops:.1} / {topk_mops:.1} = {interleaved:.2}x (goal >= 2x: {}); \
         the wide layout {wide_mops:.1} = {:.2}x",
        verdict(interleaved >= 2.0),
        wide_mops / topk_mops
    );
    println!(
        "- the same ratio from the table's rows (timed one after the other, best of \
         {TIMED_PASSES}): {:.1} / {:.1} = {speedup:.2}x",
        compact.mops, topk.mops
    );
    println!(
        "- CHK compact at 8 KB ({:.2} KB held): ARE {:.2e} = 10^{:.2} (goal <= 10^-3.5: {}), \
         precision {:.3}, recall {:.3}",
        compact8.memory as f64 / 1024.0,
        compact8.score.are,
        compact8.score.are.log10(),
        verdict(compact8.score.are <= 10f64.powf(-3.5)),
        compact8.score.precision,
        compact8.score.recall
    );
    println!(
        "- for reference, the monitor's wide layout at 4 KB: precision {:.3}, recall {:.3}, \
         ARE {:.2e}, {:.2}x TopK throughput",
        wide.score.precision,
        wide.score.recall,
        wide.score.are,
        wide.mops / topk.mops
    );
}

/// The capture stream under `name`: `once` replayed `repeat` times.
fn capture_stream<K: Clone>(once: &[K], repeat: usize) -> Vec<K> {
    std::iter::repeat_n(once, repeat)
        .flatten()
        .cloned()
        .collect()
}

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments rather than treat them as filters.
    let items = env_usize("HHMON_BENCH_ITEMS", 10_000_000);
    let repeat = env_usize("HHMON_BENCH_PCAP_REPEAT", 20);
    let alphas: Vec<f64> = std::env::var("HHMON_BENCH_ALPHAS").map_or(ALPHAS.to_vec(), |v| {
        v.split(',')
            .filter(|a| !a.trim().is_empty())
            .map(|a| {
                a.trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("HHMON_BENCH_ALPHAS: {a} is not a number"))
            })
            .collect()
    });
    let captures = env_usize("HHMON_BENCH_CAPTURES", 1) != 0;
    print_machine();
    println!(
        "phi = {PHI}; budgets {BUDGETS_KB:?} KB; best of {TIMED_PASSES} timed passes; \
         heavykeeper decay {HK_DECAY}, depth {HK_DEPTH}, k = the number of true heavy hitters \
         (an advantage: a real deployment does not know it). `CHK compact`: the crate's \
         `CompactHeavyKeeper` (the paper's 16-byte buckets and a key table, both counted). \
         `hhmon CHK`: the wide layout the monitor uses (keys and 64-bit counters in every heavy \
         entry). `†`: the whole footprint \
         does not fit, so only the counters are held to the budget (decay table and k-heap \
         not counted). `‡`: the wide layout with the paper's geometry (32 buckets per table per \
         KB, which counts fingerprints and counters but not the keys the wide layout stores); \
         its memory used is what the wide layout really holds."
    );
    let mut rows = Vec::new();
    for alpha in alphas {
        let name = format!("Zipf {alpha}, {items} items, {UNIVERSE} ranks");
        let stream = Stream::unit(zipf_keys(alpha, UNIVERSE, items, SEED));
        compare(&mut rows, &name, &stream);
        if alpha == 1.2 {
            print_goals(&rows, &name, interleaved_goal_speeds(&stream, 4));
        }
    }
    if !captures {
        return;
    }

    println!("\n### Captures\n");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
    let once: Vec<FlowKey> = CAPTURES
        .iter()
        .flat_map(|f| capture_keys(&dir.join(f)))
        .collect();
    let packets = once.len();
    let name = format!(
        "five-tuples of {} captures ({packets} packets) x {repeat}",
        CAPTURES.len()
    );
    compare(
        &mut rows,
        &name,
        &Stream::unit(capture_stream(&once, repeat)),
    );
    // The paper's real-world streams count source addresses; so does hhmon's source view.
    let sources: Vec<IpAddr> = once.iter().map(|key| key.src).collect();
    let name = format!(
        "source addresses of {} captures ({packets} packets) x {repeat}",
        CAPTURES.len()
    );
    compare(
        &mut rows,
        &name,
        &Stream::unit(capture_stream(&sources, repeat)),
    );
}
