//! A driver for instruction counts of the compact sketch's inserts: one pass of a Zipf stream
//! of u64 keys into a 4 KB sketch, the pass in its own function so that callgrind can count
//! only it: `valgrind --tool=callgrind --toggle-collect='*insert_all*' target/release/examples/insert_profile [alpha] [items] [bytes]`.

use cuckoo_heavy_keeper::CompactHeavyKeeper;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, Zipf};

#[inline(never)]
fn insert_all(sketch: &mut CompactHeavyKeeper<u64>, keys: &[u64]) -> u64 {
    let mut sum = 0;
    for k in keys {
        sum += sketch.add(std::hint::black_box(k), 1);
    }
    sum
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let alpha: f64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(1.2);
    let items: usize = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let bytes: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(4096);
    let zipf = Zipf::new(1e6, alpha).expect("valid Zipf parameters");
    let mut rng = StdRng::seed_from_u64(2025);
    let keys: Vec<u64> = (0..items)
        .map(|_| (zipf.sample(&mut rng) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .collect();
    let mut sketch = CompactHeavyKeeper::<u64>::with_memory_and_seed(bytes, 1);
    let sum = insert_all(&mut sketch, &keys);
    println!(
        "{items} inserts, sum of estimates {sum}, top {:?}",
        &sketch.top(3)
    );
}
