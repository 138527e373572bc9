//! The compact sketch's behaviour: exact counts while there is room, accuracy on skewed
//! streams at a few KB, memory within budget, saturating counters, weighted inserts, the key
//! table's admission and eviction, reset, and keys of several types.

use super::*;
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, Zipf};
use std::collections::HashMap;

/// `len` keys from a Zipf(`alpha`) law over `universe` ranks, each rank scattered over u64.
fn zipf_stream(alpha: f64, universe: u64, len: usize, seed: u64) -> Vec<u64> {
    let zipf = Zipf::new(universe as f64, alpha).expect("valid Zipf parameters");
    let mut rng = StdRng::seed_from_u64(seed);
    (0..len)
        .map(|_| (zipf.sample(&mut rng) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .collect()
}

/// (precision, recall, ARE over the true heavy hitters) of `sketch` after `stream`, at `phi`.
fn score(sketch: &CompactHeavyKeeper<u64>, stream: &[u64], phi: f64) -> (f64, f64, f64) {
    let mut exact: HashMap<u64, u64> = HashMap::new();
    for key in stream {
        *exact.entry(*key).or_default() += 1;
    }
    let threshold = phi * stream.len() as f64;
    let truth: Vec<(u64, u64)> = exact
        .iter()
        .filter(|&(_, &c)| c as f64 >= threshold)
        .map(|(&k, &c)| (k, c))
        .collect();
    let reported = sketch.heavy_hitters();
    let correct = reported
        .iter()
        .filter(|(k, _)| exact[k] as f64 >= threshold)
        .count();
    let are = truth
        .iter()
        .map(|&(k, c)| sketch.count(&k).abs_diff(c) as f64 / c as f64)
        .sum::<f64>()
        / truth.len() as f64;
    (
        correct as f64 / reported.len().max(1) as f64,
        correct as f64 / truth.len() as f64,
        are,
    )
}

#[test]
fn a_lone_item_is_counted_exactly_with_weights() {
    let mut sketch = CompactHeavyKeeper::<u64>::with_memory(1024);
    for _ in 0..10_000 {
        sketch.add(&7, 1);
    }
    assert_eq!(sketch.add(&7, 1500), 11_500);
    assert_eq!(sketch.count(&7), 11_500);
    assert_eq!(sketch.total(), 11_500);
    assert_eq!(sketch.list(), vec![(7, 11_500)]);
    assert!(sketch.contains(&7));
    assert!(!sketch.contains(&8));
    assert_eq!(sketch.count(&8), 0);
}

/// The paper's default point (Zipf 1.2, 10^7 items over 10^6 ranks, phi = 5e-4), the footprint
/// held to the budget, over 24 sketch seeds: precision and recall at least 0.97 and the ARE at
/// most 10^-2.5 at 4 KB and 10^-3.5 at 8 KB for every seed, the goals (measured: 8.5e-4
/// to 1.8e-3 at 4 KB, 5.1e-5 to 2.3e-4 at 8 KB). A heavy hitter left uncounted costs 1/140 of
/// ARE on its own, so one per seed fails the 4 KB bound: with the stronger lobby's erosion
/// capped at 1/128 instead of 1/16 (the rule before), seed 1 fails it, as do a quarter of
/// seeds in general.
#[test]
fn zipf_heavy_hitters_at_the_papers_point_are_found_and_counted_closely() {
    let stream = zipf_stream(1.2, 1_000_000, 10_000_000, 2025);
    for seed in 1..=24 {
        for (budget, are_bound) in [(4096, 10f64.powf(-2.5)), (8192, 10f64.powf(-3.5))] {
            let mut sketch = CompactHeavyKeeper::<u64>::with_memory_and_seed(budget, seed);
            for key in &stream {
                sketch.add(key, 1);
            }
            assert!(sketch.memory_bytes() <= budget);
            let (precision, recall, are) = score(&sketch, &stream, 5e-4);
            assert!(
                precision >= 0.97,
                "{budget} B, seed {seed}: precision {precision}"
            );
            assert!(recall >= 0.97, "{budget} B, seed {seed}: recall {recall}");
            assert!(are <= are_bound, "{budget} B, seed {seed}: ARE {are:.2e}");
        }
    }
}

/// A flatter stream is harder; 8 KB still names nearly all heavy hitters.
#[test]
fn a_flat_zipf_stream_at_8_kb_keeps_most_heavy_hitters() {
    let stream = zipf_stream(0.9, 200_000, 2_000_000, 13);
    let mut sketch = CompactHeavyKeeper::<u64>::with_memory(8192);
    for key in &stream {
        sketch.add(key, 1);
    }
    let (precision, recall, are) = score(&sketch, &stream, 5e-4);
    assert!(precision >= 0.95 && recall >= 0.9, "{precision} {recall}");
    assert!(are <= 0.05, "ARE {are:.2e}");
}

#[test]
fn memory_stays_within_budget_for_every_key_size() {
    fn check<K: Hash + Eq + Clone>(budget: usize, make: impl Fn(u64) -> K) {
        let mut sketch = CompactHeavyKeeper::<K>::with_memory(budget);
        let before = sketch.memory_bytes();
        assert!(before <= budget, "{before} > {budget}");
        assert!(
            before * 10 >= budget * 9,
            "a budget of {budget} uses {before}"
        );
        for i in 0..50_000u64 {
            sketch.add(
                &make(i.wrapping_mul(0x9e37_79b9_7f4a_7c15) % 3000),
                1 + i % 7,
            );
        }
        assert_eq!(sketch.memory_bytes(), before, "memory grew");
        assert!(sketch.len() <= sketch.key_capacity());
        assert_eq!(sketch.keys.capacity(), sketch.key_capacity());
    }
    for budget in [2048, 4096, 8192, 65_536, 1 << 20] {
        check(budget, |i| i);
        check(budget, |i| i as u32);
        check(budget, |i| [i as u8; 40]);
        check(budget, |i| (i, i as u16, [0u8; 13]));
    }
}

#[test]
fn heap_keys_are_counted_by_memory_bytes_with() {
    let mut sketch = CompactHeavyKeeper::<String>::with_memory(4096);
    for i in 0..1000 {
        sketch.add(&format!("key-{}", i % 10), 1);
    }
    let heap: usize = sketch.keys.iter().map(String::capacity).sum();
    assert!(heap > 0);
    assert_eq!(
        sketch.memory_bytes_with(String::capacity),
        sketch.memory_bytes() + heap
    );
}

#[test]
fn counters_saturate_instead_of_wrapping() {
    let mut sketch = CompactHeavyKeeper::<u64>::new(4, 4);
    sketch.add(&1, u64::from(u32::MAX) - 5);
    assert_eq!(sketch.add(&1, 10), u64::from(u32::MAX));
    assert_eq!(sketch.add(&1, u64::MAX), u64::from(u32::MAX));
    assert_eq!(sketch.count(&1), u64::from(u32::MAX));
    assert_eq!(sketch.total(), u64::MAX, "the total saturates too");
    sketch.add(&2, 3);
    assert_eq!(sketch.count(&2), 3, "other keys still count");
    assert_eq!(sketch.top(1), vec![(1, u64::from(u32::MAX))]);
}

#[test]
fn a_heavy_weighted_newcomer_takes_a_full_sketch() {
    // One bucket per table, two keys: four small items fill every heavy slot and the table.
    let mut sketch = CompactHeavyKeeper::<u64>::new(1, 2);
    for key in 1..=4 {
        sketch.add(&key, 20);
    }
    sketch.add(&99, 5000);
    assert!(sketch.count(&99) >= 5000, "{}", sketch.count(&99));
    assert!(sketch.contains(&99), "the heaviest item must be named");
    assert_eq!(sketch.top(1)[0].0, 99);
    assert_eq!(sketch.len(), 2);
}

#[test]
fn the_key_table_keeps_the_largest_items_once_full() {
    let mut sketch = CompactHeavyKeeper::<u64>::new(64, 8);
    // 32 items, item i weighing (i + 1) * 100: only the 8 largest can be named.
    for _ in 0..100 {
        for i in 0..32u64 {
            sketch.add(&(i * 7919), i + 1);
        }
    }
    let named: Vec<u64> = sketch.list().into_iter().map(|(k, _)| k / 7919).collect();
    assert_eq!(named.len(), 8);
    // A newcomer must beat the smallest named item by an eighth, so the eighth place may go
    // to an item a little short of the eighth largest; the four largest are always named.
    for i in &named {
        assert!(*i >= 20, "item {i} named among {named:?}");
    }
    for i in 28..32 {
        assert!(named.contains(&i), "item {i} not named: {named:?}");
    }
    for (key, count) in sketch.list() {
        assert_eq!(
            count,
            (key / 7919 + 1) * 100,
            "exact while every item has a slot"
        );
    }
}

/// The smallest keys of a scan grow: a key that was the smallest when the table was scanned
/// may be among the largest by the next offer, and a newcomer that does not beat it must not
/// conclude that it beats nothing (the table once kept a stale list and a floor at the count
/// of a top item for the rest of the stream, leaving heavy hitters unnamed).
#[test]
fn a_newcomer_beats_the_smallest_key_even_after_the_last_scans_smallest_grew() {
    let mut sketch = CompactHeavyKeeper::<u64>::new(64, 4);
    for key in 1..=4 {
        sketch.add(&key, 10);
    }
    sketch.add(&5, 5); // too small for the full table, but it has the table scanned
    assert!(!sketch.contains(&5));
    sketch.add(&1, 10_000); // the smallest at that scan is now the largest
    sketch.add(&6, 500); // beats keys 2, 3 and 4 by far
    assert!(sketch.contains(&6), "keys held: {:?}", sketch.list());
    assert!(sketch.contains(&1));
    assert_eq!(sketch.len(), 4);
}

#[test]
fn clear_resets_to_a_fresh_sketch_and_keeps_the_memory() {
    let stream = zipf_stream(1.1, 5000, 100_000, 3);
    let mut sketch = CompactHeavyKeeper::<u64>::with_memory(2048);
    for key in &stream {
        sketch.add(key, 1);
    }
    let first = sketch.list();
    let (buckets, keys) = (sketch.buckets.as_ptr(), sketch.keys.as_ptr());
    sketch.clear();
    assert_eq!(sketch.total(), 0);
    assert!(sketch.is_empty());
    assert_eq!(sketch.count(&stream[0]), 0);
    for key in &stream {
        sketch.add(key, 1);
    }
    assert_eq!(
        sketch.buckets.as_ptr(),
        buckets,
        "clear must not reallocate"
    );
    assert_eq!(sketch.keys.as_ptr(), keys, "clear must not reallocate");
    assert_eq!(
        sketch.list(),
        first,
        "a cleared sketch must replay like a new one"
    );
}

#[test]
fn seeds_make_runs_reproducible_and_distinct() {
    let stream = zipf_stream(0.9, 5000, 100_000, 4);
    let run = |seed| {
        let mut sketch = CompactHeavyKeeper::<u64>::with_memory_and_seed(1024, seed);
        for key in &stream {
            sketch.add(key, 1);
        }
        sketch.list()
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
}

#[test]
fn keys_of_any_hashable_type() {
    let mut words = CompactHeavyKeeper::<&str>::with_memory(2048);
    let mut owned = CompactHeavyKeeper::<String>::with_memory(2048);
    let mut tuples = CompactHeavyKeeper::<(u32, u16, [u8; 4])>::with_memory(2048);
    for (i, word) in "the cat sat on the mat the end".split(' ').enumerate() {
        words.add(&word, 1);
        owned.add(&word.to_owned(), 2);
        tuples.add(&(word.len() as u32, 80, [10, 0, 0, i as u8 % 2]), 1);
    }
    assert_eq!(words.top(1), vec![("the", 3)]);
    assert_eq!(owned.count(&"the".to_owned()), 6);
    assert_eq!(tuples.count(&(3, 80, [10, 0, 0, 0])), 4);
    assert_eq!(words.count(&"dog"), 0);
}

proptest! {
    #[test]
    fn never_panics_and_stays_consistent(
        ops in proptest::collection::vec(
            (0u64..64, prop_oneof![Just(0u64), 1u64..4, 1u64..100_000, Just(u64::MAX)]),
            1..400,
        ),
        buckets in 1usize..6,
        keys in 1usize..12,
    ) {
        let mut sketch = CompactHeavyKeeper::<u64>::new(buckets, keys);
        let mut total: u64 = 0;
        for (key, weight) in &ops {
            sketch.add(key, *weight);
            total = total.saturating_add(*weight);
            prop_assert!(sketch.count(key) <= sketch.total());
        }
        prop_assert_eq!(sketch.total(), total);
        prop_assert!(sketch.len() <= keys);
        let mut held = sketch.keys.clone();
        held.sort_unstable();
        held.dedup();
        prop_assert_eq!(held.len(), sketch.len(), "a key is held twice");
        let list = sketch.list();
        prop_assert!(list.windows(2).all(|w| w[0].1 >= w[1].1));
        for (key, count) in &list {
            prop_assert_eq!(sketch.count(key), *count);
            prop_assert!(sketch.contains(key));
        }
    }

    /// While the heavy part has a slot for every item and the key table a place for every
    /// key, the sketch is exact.
    #[test]
    fn exact_while_everything_fits(
        ops in proptest::collection::vec((0u64..20, 1u64..1000), 1..300),
    ) {
        let mut sketch = CompactHeavyKeeper::<u64>::new(256, 32);
        let mut truth: HashMap<u64, u64> = HashMap::new();
        for (key, weight) in &ops {
            sketch.add(key, *weight);
            *truth.entry(*key).or_default() += weight;
        }
        for (key, count) in &truth {
            prop_assert_eq!(sketch.count(key), *count);
        }
        prop_assert_eq!(sketch.list().len(), truth.len());
    }
}
