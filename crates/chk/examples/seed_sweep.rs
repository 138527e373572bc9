//! Accuracy of the compact sketch over many sketch seeds at the paper's point (Zipf 1.2, 10^7
//! u64 items over 10^6 ranks, phi = 5e-4): per seed, precision, recall and ARE at 4 and 8 KB,
//! whether the bounds hold (P, R >= 0.97 and ARE <= 10^-2.5 at 4 KB; ARE <= 10^-3.5 at
//! 8 KB), the heavy hitters a failing seed misses, and the pass rate. Run:
//! `cargo run --release -p cuckoo-heavy-keeper --example seed_sweep -- [first] [last] [keys]`
//! with `keys` `test` (ranks times the golden ratio, the crate test's stream) or `bench` (ranks
//! through the SplitMix64 finaliser, the `chk_compare` bench's stream); `CHK_STREAM_SEED`
//! (default 2025) draws the stream and `CHK_ALPHA` (default 1.2) sets its skew (the bounds are
//! the paper point's; elsewhere read the ARE summary).

use cuckoo_heavy_keeper::CompactHeavyKeeper;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, Zipf};
use std::collections::HashMap;

const PHI: f64 = 5e-4;

fn scramble(rank: u64) -> u64 {
    let mut x = rank ^ 0x9e37_79b9_7f4a_7c15;
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let first: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(1);
    let last: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(32);
    let bench_keys = args.get(2).is_some_and(|a| a == "bench");
    let stream_seed: u64 = std::env::var("CHK_STREAM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2025);
    let alpha: f64 = std::env::var("CHK_ALPHA")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.2);
    let zipf = Zipf::new(1e6, alpha).expect("valid Zipf parameters");
    let mut rng = StdRng::seed_from_u64(stream_seed);
    let keys: Vec<u64> = (0..10_000_000)
        .map(|_| {
            let rank = zipf.sample(&mut rng) as u64;
            if bench_keys {
                scramble(rank)
            } else {
                rank.wrapping_mul(0x9e37_79b9_7f4a_7c15)
            }
        })
        .collect();
    let mut exact: HashMap<u64, u64> = HashMap::new();
    for k in &keys {
        *exact.entry(*k).or_default() += 1;
    }
    let threshold = PHI * keys.len() as f64;
    let mut truth: Vec<(u64, u64)> = exact
        .iter()
        .filter(|(_, &c)| c as f64 >= threshold)
        .map(|(&k, &c)| (k, c))
        .collect();
    truth.sort_by_key(|&(_, c)| std::cmp::Reverse(c));
    println!(
        "Zipf {alpha}, keys {}, stream seed {stream_seed}, {} heavy hitters",
        if bench_keys { "bench" } else { "test" },
        truth.len()
    );
    let (mut pass, mut pass4, mut pass8) = (0, 0, 0);
    let mut ares = [Vec::new(), Vec::new()];
    for seed in first..=last {
        let mut line = format!("seed {seed:>3}:");
        let mut ok = [true; 2];
        for (i, (budget, bound)) in [(4096, 10f64.powf(-2.5)), (8192, 10f64.powf(-3.5))]
            .into_iter()
            .enumerate()
        {
            let mut sketch = CompactHeavyKeeper::<u64>::with_memory_and_seed(budget, seed);
            for k in &keys {
                sketch.add(k, 1);
            }
            let reported = sketch.heavy_hitters();
            let correct = reported
                .iter()
                .filter(|(k, _)| exact[k] as f64 >= threshold)
                .count();
            let precision = correct as f64 / reported.len().max(1) as f64;
            let recall = correct as f64 / truth.len() as f64;
            let are = truth
                .iter()
                .map(|&(k, c)| sketch.count(&k).abs_diff(c) as f64 / c as f64)
                .sum::<f64>()
                / truth.len() as f64;
            ares[i].push(are);
            ok[i] = are <= bound && (i == 1 || (precision >= 0.97 && recall >= 0.97));
            line += &format!(
                " {}K P {precision:.3} R {recall:.3} ARE {are:.1e}{}",
                budget / 1024,
                if ok[i] { "" } else { " FAIL" }
            );
            if !ok[i] {
                let worst: Vec<String> = truth
                    .iter()
                    .enumerate()
                    .filter(|&(_, &(k, c))| {
                        sketch.count(&k).abs_diff(c) * 50 > c
                            || !reported.iter().any(|&(r, _)| r == k)
                    })
                    .map(|(rank, &(k, c))| {
                        format!(
                            "#{} {c}->{}{}",
                            rank + 1,
                            sketch.count(&k),
                            if sketch.contains(&k) { "" } else { " unnamed" }
                        )
                    })
                    .collect();
                line += &format!(" [{}]", worst.join(", "));
            }
        }
        pass4 += usize::from(ok[0]);
        pass8 += usize::from(ok[1]);
        pass += usize::from(ok[0] && ok[1]);
        println!("{line}");
    }
    let n = last + 1 - first;
    println!("pass: both {pass}/{n}, 4 KB {pass4}/{n}, 8 KB {pass8}/{n}");
    for (budget, mut are) in [4, 8].into_iter().zip(ares) {
        are.sort_by(f64::total_cmp);
        println!(
            "ARE at {budget} KB: median {:.1e}, mean {:.1e}, max {:.1e}",
            are[are.len() / 2],
            are.iter().sum::<f64>() / are.len() as f64,
            are[are.len() - 1]
        );
    }
}
