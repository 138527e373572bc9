//! The paper's default point for the compact sketch: a Zipf stream of u64 keys, phi = 5e-4,
//! precision, recall, ARE (over the true heavy hitters, with `count`) and throughput at a few
//! memory budgets. Run: `cargo run --release -p cuckoo-heavy-keeper --example paper_point --
//! [alpha] [items] [budget bytes or B:keys...]`. `CHK_SEED` seeds the sketches (default 1);
//! `CHK_ERRORS=1` also prints the heavy hitters with the largest relative errors.

use cuckoo_heavy_keeper::CompactHeavyKeeper;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, Zipf};
use std::collections::HashMap;
use std::time::Instant;

const PHI: f64 = 5e-4;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let alpha: f64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(1.2);
    let items: usize = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    // A budget in bytes, or `B:keys` for an explicit geometry.
    let budgets: Vec<String> = if args.len() > 2 {
        args[2..].to_vec()
    } else {
        ["2048", "4096", "8192", "16384"].map(String::from).to_vec()
    };
    let make = |spec: &str| match spec.split_once(':') {
        Some((b, k)) => CompactHeavyKeeper::<u64>::with_seed(
            b.parse().expect("B:keys"),
            k.parse().expect("B:keys"),
            std::env::var("CHK_SEED")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(1),
        ),
        None => CompactHeavyKeeper::<u64>::with_memory_and_seed(
            spec.parse().expect("bytes"),
            std::env::var("CHK_SEED")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(1),
        ),
    };
    let zipf = Zipf::new(1e6, alpha).expect("valid Zipf parameters");
    let mut rng = StdRng::seed_from_u64(2025);
    let keys: Vec<u64> = (0..items)
        .map(|_| (zipf.sample(&mut rng) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .collect();
    let mut exact: HashMap<u64, u64> = HashMap::new();
    for k in &keys {
        *exact.entry(*k).or_default() += 1;
    }
    let threshold = PHI * items as f64;
    let truth: Vec<(u64, u64)> = exact
        .iter()
        .filter(|(_, &c)| c as f64 >= threshold)
        .map(|(&k, &c)| (k, c))
        .collect();
    println!("Zipf {alpha}, {items} items, {} heavy hitters", truth.len());
    for budget in &budgets {
        let mut best = f64::MAX;
        let mut sketch = make(budget);
        for _ in 0..3 {
            sketch = make(budget);
            let start = Instant::now();
            for k in &keys {
                sketch.add(std::hint::black_box(k), 1);
            }
            best = best.min(start.elapsed().as_secs_f64());
        }
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
        if std::env::var_os("CHK_ERRORS").is_some() {
            let mut errs: Vec<(u64, u64)> =
                truth.iter().map(|&(k, c)| (c, sketch.count(&k))).collect();
            errs.sort_by_key(|&(c, e)| std::cmp::Reverse(c.abs_diff(e) * 1_000_000 / c));
            println!("worst (true, estimate): {:?}", &errs[..12]);
        }
        println!(
            "{budget} B (held {} B, B={} keys={}): precision {:.3} recall {:.3} ARE {:.2e} (log10 {:.2}) {:.1} M/s",
            sketch.memory_bytes(),
            sketch.buckets_per_table(),
            sketch.key_capacity(),
            correct as f64 / reported.len().max(1) as f64,
            correct as f64 / truth.len() as f64,
            are,
            are.log10(),
            items as f64 / best / 1e6
        );
    }
}
