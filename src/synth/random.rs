//! The random sources of the generator: a seeded SplitMix64 stream, its bit mixer, a
//! bijection of `u32` for distinct spoofed sources, and a Zipf sampler over flow ranks. Knows
//! nothing of packets, flows or files: callers turn the draws into traffic.

/// Zipf sampling over ranks `1..=n` with exponent `s` by rejection-inversion (W. Hörmann,
/// G. Derflinger, "Rejection-inversion to generate variates from monotone discrete
/// distributions", 1996): O(1) time and memory per draw whatever `n`, which a table of `n`
/// cumulative weights would not be for ten million flows.
pub(super) struct Zipf {
    n: f64,
    s: f64,
    /// `H(1.5) - 1` and `H(n + 0.5)`: the ends of the inverted integral's range.
    h_x1: f64,
    h_n: f64,
    /// Draws closer than this to their rounded rank are accepted without the exact test.
    squeeze: f64,
}

impl Zipf {
    pub(super) fn new(n: u64, s: f64) -> Self {
        let mut zipf = Self {
            n: n as f64,
            s,
            h_x1: 0.0,
            h_n: 0.0,
            squeeze: 0.0,
        };
        zipf.h_x1 = zipf.integral(1.5) - 1.0;
        zipf.h_n = zipf.integral(n as f64 + 0.5);
        zipf.squeeze = 2.0 - zipf.integral_inverse(zipf.integral(2.5) - zipf.density(2.0));
        zipf
    }

    pub(super) fn sample(&self, rng: &mut SplitMix64) -> u64 {
        loop {
            let u = self.h_n + rng.uniform() * (self.h_x1 - self.h_n);
            let x = self.integral_inverse(u);
            let k = (x + 0.5).floor().clamp(1.0, self.n);
            if k - x <= self.squeeze || u >= self.integral(k + 0.5) - self.density(k) {
                return k as u64;
            }
        }
    }

    /// `h(x) = x^-s`.
    fn density(&self, x: f64) -> f64 {
        (-self.s * x.ln()).exp()
    }

    /// `H(x) = (x^(1-s) - 1) / (1 - s)`, `ln x` at `s = 1`: an antiderivative of `h`.
    fn integral(&self, x: f64) -> f64 {
        let log_x = x.ln();
        expm1_over_x((1.0 - self.s) * log_x) * log_x
    }

    fn integral_inverse(&self, y: f64) -> f64 {
        let t = (y * (1.0 - self.s)).max(-1.0);
        (ln1p_over_x(t) * y).exp()
    }
}

/// `(e^x - 1) / x`, continuous at 0.
fn expm1_over_x(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.exp_m1() / x
    } else {
        1.0 + x * 0.5 * (1.0 + x / 3.0 * (1.0 + x * 0.25))
    }
}

/// `ln(1 + x) / x`, continuous at 0.
fn ln1p_over_x(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.ln_1p() / x
    } else {
        1.0 - x * (0.5 - x * (1.0 / 3.0 - x * 0.25))
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): fast, seeded, good enough for traffic mixes.
pub(super) struct SplitMix64(pub(super) u64);

impl SplitMix64 {
    pub(super) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// A uniform draw in `[0, 1)`.
    pub(super) fn uniform(&mut self) -> f64 {
        unit(self.next_u64())
    }
}

/// The SplitMix64 finaliser: a bijection of `u64` that spreads every input bit.
pub(super) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The top 53 bits of `bits` as a number in `[0, 1)`.
pub(super) fn unit(bits: u64) -> f64 {
    (bits >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A bijection of `u32` (odd multiplications and xor-shifts are each invertible), so distinct
/// attack packet numbers give distinct spoofed sources.
pub(super) fn permute32(mut x: u32) -> u32 {
    x = x.wrapping_mul(0x9e37_79b1);
    x ^= x >> 15;
    x = x.wrapping_mul(0x85eb_ca77);
    x ^ (x >> 13)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Total variation distance between `draws` of the sampler and the Zipf law itself,
    /// computed from `k^-s / sum_j j^-s`.
    fn zipf_distance(n: u64, s: f64, draws: usize) -> f64 {
        let zipf = Zipf::new(n, s);
        let mut rng = SplitMix64(42);
        let mut seen = vec![0usize; n as usize + 1];
        for _ in 0..draws {
            let k = zipf.sample(&mut rng);
            assert!((1..=n).contains(&k), "rank {k} outside 1..={n}");
            seen[k as usize] += 1;
        }
        let norm: f64 = (1..=n).map(|k| (k as f64).powf(-s)).sum();
        (1..=n)
            .map(|k| (seen[k as usize] as f64 / draws as f64 - (k as f64).powf(-s) / norm).abs())
            .sum::<f64>()
            / 2.0
    }

    #[test]
    fn zipf_draws_follow_the_law_for_every_exponent() {
        // Sampling noise for 20 ranks and 400k draws is about 0.003.
        for s in [0.0, 0.5, 1.0, 1.2, 2.0] {
            let distance = zipf_distance(20, s, 400_000);
            assert!(distance < 0.01, "s = {s}: total variation {distance}");
        }
        assert!(zipf_distance(1, 1.0, 1_000) == 0.0);
    }

    #[test]
    fn zipf_head_is_right_over_ten_million_ranks() {
        // P(rank 1) = 1 / H(10^7) = 1 / 16.695 for s = 1.
        let zipf = Zipf::new(10_000_000, 1.0);
        let mut rng = SplitMix64(7);
        let draws = 400_000;
        let ones = (0..draws).filter(|_| zipf.sample(&mut rng) == 1).count();
        let share = ones as f64 / draws as f64;
        assert!((share - 1.0 / 16.695).abs() < 0.002, "{share}");
    }
}
