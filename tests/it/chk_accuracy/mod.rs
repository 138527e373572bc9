//! Accuracy of hhmon's Cuckoo Heavy Keeper against exact counts, scored the way the paper
//! scores it (phi = 5e-4): seeded Zipf streams of 10^6 and 10^7 items over 10^6 ranks at the
//! paper's 4 KB budget and at a 64 KB default, a stream whose heavy hitters change halfway, a
//! weighted (bytes) stream, and the memory budget. Each bound sits next to the figure measured
//! when it was set; the bounds are tight enough that a sketch that never promotes out of its
//! lobbies, or whose decay never decays, fails them. The scoring (`scoring`) is shared with the
//! `chk_compare` bench.
//!
//! These tests see the sketch only through its public API and must not know its layout.

pub mod scoring;

use hhmon::sketch::chk::CuckooHeavyKeeper;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use scoring::{score, scramble, zipf_keys, Exact, ExactCounts, HeavyHitters, Score, Stream, PHI};

const UNIVERSE: u64 = 1_000_000;
const PAPER_BUDGET: usize = 4 * 1024;
const DEFAULT_BUDGET: usize = 64 * 1024;
const SKETCH_SEED: u64 = 7;

/// What a run must achieve: the least precision and recall, the largest ARE.
struct Bounds {
    precision: f64,
    recall: f64,
    are: f64,
}

/// Feeds `stream` into a fresh sketch of `budget` bytes and scores it.
fn run(stream: &Stream<u64>, budget: usize) -> Score {
    let mut chk = CuckooHeavyKeeper::with_memory_and_seed(budget, SKETCH_SEED);
    stream.feed(&mut chk);
    assert_eq!(chk.total(), stream.total, "N counts every weight");
    assert!(chk.memory_bytes() <= budget);
    let listed = chk.list();
    assert!(
        listed.windows(2).all(|w| w[0].1 >= w[1].1),
        "list() is largest first"
    );
    score(stream, PHI, &chk)
}

fn check(label: &str, stream: &Stream<u64>, budget: usize, bounds: Bounds) {
    let s = run(stream, budget);
    println!("{label} @ {} KB: {s:?}", budget / 1024);
    assert!(
        s.true_hitters >= 20,
        "{label}: too few heavy hitters to score"
    );
    assert!(
        s.precision >= bounds.precision,
        "{label} @ {budget} B: precision {} < {}",
        s.precision,
        bounds.precision
    );
    assert!(
        s.recall >= bounds.recall,
        "{label} @ {budget} B: recall {} < {}",
        s.recall,
        bounds.recall
    );
    assert!(
        s.are <= bounds.are,
        "{label} @ {budget} B: ARE {} > {}",
        s.are,
        bounds.are
    );
}

/// One frame size (wire bytes) per item. Each key belongs to one of three traffic classes,
/// decided by its bits so that a flow keeps its character: small control frames, bulk
/// transfers (full-size frames with the odd ACK) and a mixed class. Byte heavy hitters then
/// rank differently from packet heavy hitters, which is what a weighted test needs.
pub fn frame_sizes(keys: &[u64], seed: u64) -> Vec<u64> {
    let mut rng = StdRng::seed_from_u64(seed);
    keys.iter()
        .map(|&key| match scramble(key) % 10 {
            0..=4 => rng.random_range(64..=100),
            5..=7 => {
                if rng.random_bool(0.85) {
                    1514
                } else {
                    66
                }
            }
            _ => rng.random_range(64..=1514),
        })
        .collect()
}

/// A stream whose items carry `weights` (same length as `keys`).
fn weighted(keys: Vec<u64>, weights: Vec<u64>) -> Stream<u64> {
    assert_eq!(keys.len(), weights.len(), "one weight per key");
    let mut exact = ExactCounts::default();
    for (key, &w) in keys.iter().zip(&weights) {
        *exact.entry(*key).or_insert(0) += w;
    }
    let total = weights.iter().sum();
    Stream {
        keys,
        weights,
        exact,
        total,
    }
}

fn zipf(alpha: f64, len: usize, seed: u64) -> Stream<u64> {
    Stream::unit(zipf_keys(alpha, UNIVERSE, len, seed))
}

// Every bound below was set from 20 runs (5 stream seeds x 4 sketch seeds; 12 runs for 10^7
// items) of the implementation of 2a348cc, test profile. "seen" quotes the worst of those runs,
// "here" the run this test makes. At 4 KB the sketch has 49 buckets per table (196 heavy slots
// for 60 to 144 heavy hitters), which is why its recall there is low for the flatter streams.

#[test]
fn zipf_0_8_million() {
    let stream = zipf(0.8, 1_000_000, 1);
    // seen: P 1.000, R 0.194, ARE 0.81; here: P 1.000, R 0.300, ARE 0.71
    let at_4k = Bounds {
        precision: 0.95,
        recall: 0.18,
        are: 0.85,
    };
    check("Zipf 0.8", &stream, PAPER_BUDGET, at_4k);
    // seen: P 1.000, R 0.983, ARE 4.3e-3; here: P 1.000, R 1.000, ARE 1.0e-3
    let at_64k = Bounds {
        precision: 0.97,
        recall: 0.96,
        are: 1e-2,
    };
    check("Zipf 0.8", &stream, DEFAULT_BUDGET, at_64k);
}

#[test]
fn zipf_1_0_million() {
    let stream = zipf(1.0, 1_000_000, 2);
    // seen: P 1.000, R 0.307, ARE 0.70; here: P 1.000, R 0.350, ARE 0.66
    let at_4k = Bounds {
        precision: 0.95,
        recall: 0.28,
        are: 0.75,
    };
    check("Zipf 1.0", &stream, PAPER_BUDGET, at_4k);
    // seen: P 1.000, R 0.993, ARE 6.7e-4; here: P 1.000, R 1.000, ARE 7.7e-5
    let at_64k = Bounds {
        precision: 0.97,
        recall: 0.98,
        are: 2e-3,
    };
    check("Zipf 1.0", &stream, DEFAULT_BUDGET, at_64k);
}

#[test]
fn zipf_1_2_million() {
    let stream = zipf(1.2, 1_000_000, 3);
    // seen: P 1.000, R 0.514, ARE 0.50; here: P 1.000, R 0.562, ARE 0.45
    let at_4k = Bounds {
        precision: 0.95,
        recall: 0.48,
        are: 0.55,
    };
    check("Zipf 1.2", &stream, PAPER_BUDGET, at_4k);
    // seen: P 0.993, R 1.000, ARE 1.4e-5; here: P 1.000, R 1.000, ARE 0
    let at_64k = Bounds {
        precision: 0.97,
        recall: 0.99,
        are: 1e-4,
    };
    check("Zipf 1.2", &stream, DEFAULT_BUDGET, at_64k);
}

#[test]
fn zipf_1_4_million() {
    let stream = zipf(1.4, 1_000_000, 4);
    // seen: P 0.989, R 0.833, ARE 0.22; here: P 1.000, R 0.873, ARE 0.11
    let at_4k = Bounds {
        precision: 0.95,
        recall: 0.80,
        are: 0.25,
    };
    check("Zipf 1.4", &stream, PAPER_BUDGET, at_4k);
    // seen: P 1.000, R 1.000, ARE 0; here: the same
    let at_64k = Bounds {
        precision: 0.99,
        recall: 0.99,
        are: 1e-4,
    };
    check("Zipf 1.4", &stream, DEFAULT_BUDGET, at_64k);
}

#[test]
fn zipf_1_6_million() {
    let stream = zipf(1.6, 1_000_000, 5);
    // seen: P 0.971, R 0.957, ARE 4.1e-2; here: P 1.000, R 0.957, ARE 2.9e-2
    let at_4k = Bounds {
        precision: 0.95,
        recall: 0.93,
        are: 0.06,
    };
    check("Zipf 1.6", &stream, PAPER_BUDGET, at_4k);
    // seen: P 1.000, R 1.000, ARE 0; here: the same
    let at_64k = Bounds {
        precision: 0.99,
        recall: 0.99,
        are: 1e-4,
    };
    check("Zipf 1.6", &stream, DEFAULT_BUDGET, at_64k);
}

#[test]
fn zipf_1_2_ten_million() {
    let stream = zipf(1.2, 10_000_000, 6);
    // seen: P 1.000, R 0.571, ARE 0.43; here: P 1.000, R 0.657, ARE 0.35
    let at_4k = Bounds {
        precision: 0.95,
        recall: 0.55,
        are: 0.45,
    };
    check("Zipf 1.2 x 10^7", &stream, PAPER_BUDGET, at_4k);
    // seen: P 0.993, R 1.000, ARE 1.4e-6; here: P 1.000, R 1.000, ARE 0
    let at_64k = Bounds {
        precision: 0.98,
        recall: 0.99,
        are: 1e-4,
    };
    check("Zipf 1.2 x 10^7", &stream, DEFAULT_BUDGET, at_64k);
}

/// The heavy hitters change halfway: the second half draws from the same law over a disjoint
/// key set. By then the lobbies hold tail items and the heavy slots the first half's hitters,
/// so the newcomers get in only through lobby decay and probabilistic promotion. With either
/// of those disabled, recall drops to about one half (measured 0.49 to 0.51 at 64 KB, 0.27 to
/// 0.42 at 4 KB, over the same 8 runs as below).
#[test]
fn heavy_hitters_that_arrive_late_displace_early_ones() {
    let mut keys = zipf_keys(1.2, UNIVERSE, 500_000, 10);
    let late = zipf_keys(1.2, UNIVERSE, 500_000, 11);
    keys.extend(late.into_iter().map(|k| k ^ 0x5555_0000_5555));
    let stream = Stream::unit(keys);
    // Over 4 stream seeds x 2 sketch seeds.
    // seen: P 1.000, R 0.631, ARE 0.37; here: P 1.000, R 0.720, ARE 0.29
    let at_4k = Bounds {
        precision: 0.95,
        recall: 0.58,
        are: 0.42,
    };
    check("Zipf 1.2, two halves", &stream, PAPER_BUDGET, at_4k);
    // seen: P 0.985, R 0.987, ARE 6.0e-3; here: P 1.000, R 0.994, ARE 2.2e-3
    let at_64k = Bounds {
        precision: 0.95,
        recall: 0.95,
        are: 2e-2,
    };
    check("Zipf 1.2, two halves", &stream, DEFAULT_BUDGET, at_64k);
}

/// Byte heavy hitters: the same kind of stream with each item weighing its frame size. The
/// frame-size model makes bytes rank flows differently from packets, which the test checks
/// first so that it cannot pass by counting packets.
#[test]
fn weighted_stream_ranks_byte_heavy_hitters() {
    let keys = zipf_keys(1.2, UNIVERSE, 1_000_000, 8);
    let weights = frame_sizes(&keys, 9);
    let packets = Stream::unit(keys.clone());
    let bytes = weighted(keys, weights);

    let heavy = |s: &Stream<u64>| -> std::collections::HashSet<u64> {
        let t = s.threshold(PHI);
        s.exact
            .iter()
            .filter(|(_, &c)| c as f64 >= t)
            .map(|(&k, _)| k)
            .collect()
    };
    let (by_packets, by_bytes) = (heavy(&packets), heavy(&bytes));
    let differ = by_packets.symmetric_difference(&by_bytes).count();
    assert!(
        differ * 5 >= by_bytes.len(),
        "byte and packet heavy hitters should differ in at least a fifth: {differ} of {}",
        by_bytes.len()
    );

    // seen: P 0.750, R 0.641, ARE 0.36; here: P 0.786, R 0.678, ARE 0.35. Inherited counts
    // overestimate a few byte flows past phi * N, hence the lower precision than for packets.
    let at_4k = Bounds {
        precision: 0.70,
        recall: 0.60,
        are: 0.40,
    };
    check("Zipf 1.2 bytes", &bytes, PAPER_BUDGET, at_4k);
    // seen: P 0.987, R 0.993, ARE 1.8e-4; here: P 1.000, R 1.000, ARE 4.4e-5
    let at_64k = Bounds {
        precision: 0.97,
        recall: 0.98,
        are: 1e-3,
    };
    check("Zipf 1.2 bytes", &bytes, DEFAULT_BUDGET, at_64k);
}

#[test]
fn memory_stays_within_budget_and_uses_most_of_it() {
    for kb in [1, 2, 4, 8, 16, 32, 64, 256, 1024] {
        let budget = kb * 1024;
        let chk = CuckooHeavyKeeper::<u64>::with_memory(budget);
        let used = chk.memory_bytes();
        assert!(used <= budget, "{kb} KB budget: {used} bytes used");
        // "The most buckets that fit": one more bucket per table would not.
        let bigger = CuckooHeavyKeeper::<u64>::new(chk.buckets_per_table() + 1).memory_bytes();
        assert!(
            bigger > budget,
            "{kb} KB budget: {} buckets per table leave room",
            chk.buckets_per_table()
        );
    }
}

#[test]
fn memory_does_not_grow_on_distinct_keys() {
    let budget = 16 * 1024;
    let mut chk = CuckooHeavyKeeper::<u64>::with_memory_and_seed(budget, SKETCH_SEED);
    let start = chk.memory_bytes();
    for chunk in 0..10u64 {
        for i in 0..100_000 {
            chk.add(&scramble(chunk * 100_000 + i), 1);
        }
        assert_eq!(
            chk.memory_bytes(),
            start,
            "after {} distinct keys",
            (chunk + 1) * 100_000
        );
        // The keys it holds are bounded too: at most two heavy entries per bucket in each of
        // the two tables (the documented layout), however many distinct keys went by.
        assert!(chk.len() <= 4 * chk.buckets_per_table());
        assert_eq!(chk.list().len(), chk.len());
    }
    assert!(start <= budget);
    assert_eq!(chk.total(), 1_000_000);
}

/// A sketch whose answers are fixed, to check the scoring arithmetic by hand.
struct Canned(Vec<(u64, u64)>);

impl HeavyHitters<u64> for Canned {
    fn insert(&mut self, _: &u64, _: u64) {}
    fn estimate(&self, key: &u64) -> u64 {
        self.0.iter().find(|(k, _)| k == key).map_or(0, |&(_, c)| c)
    }
    fn reported(&self) -> Vec<(u64, u64)> {
        self.0.iter().copied().filter(|&(k, _)| k != 2).collect()
    }
    fn memory_bytes(&self) -> usize {
        0
    }
}

#[test]
fn scoring_matches_a_hand_worked_example() {
    // Keys 1..=4 occur 50, 30, 15 and 5 times: N = 100, and at phi = 0.2 the heavy hitters are
    // 1 and 2. The canned sketch estimates 1 at 60 and 2 at 24 (but does not report 2), and
    // reports 3 at 25 and 4 at 10. Reported above 20: {1, 3}, one of them right.
    let keys: Vec<u64> = [(1, 50), (2, 30), (3, 15), (4, 5)]
        .iter()
        .flat_map(|&(k, n)| std::iter::repeat_n(k, n))
        .collect();
    let stream = Stream::unit(keys);
    let s = score(
        &stream,
        0.2,
        &Canned(vec![(1, 60), (2, 24), (3, 25), (4, 10)]),
    );
    assert_eq!((s.true_hitters, s.reported, s.correct), (2, 2, 1));
    assert_eq!((s.precision, s.recall, s.f1), (0.5, 0.5, 0.5));
    // ARE = (10/50 + 6/30) / 2 = 0.2; AAE = (10 + 6) / 2 = 8.
    assert!((s.are - 0.2).abs() < 1e-12);
    assert!((s.aae - 8.0).abs() < 1e-12);
}

/// The reference the bench measures sketches against scores perfectly, and finds the heavy
/// hitters the stream says it has.
#[test]
fn exact_counting_scores_perfectly() {
    let stream = zipf(1.0, 200_000, 12);
    let mut exact = Exact::default();
    stream.feed(&mut exact);
    let s = score(&stream, PHI, &exact);
    assert_eq!(s.true_hitters, stream.heavy_hitter_count(PHI));
    assert!(s.true_hitters >= 20, "{s:?}");
    assert_eq!((s.reported, s.correct), (s.true_hitters, s.true_hitters));
    assert_eq!((s.precision, s.recall, s.f1), (1.0, 1.0, 1.0));
    assert_eq!((s.are, s.aae), (0.0, 0.0));
    assert!(exact.memory_bytes() > 0);
}
