//! The sketch's seeded randomness: SplitMix64 to expand one seed into the hasher's keys and the
//! coin-flip state, and xorshift64* for the coin flips themselves. Knows nothing of the sketch.

/// xorshift64*: a few cycles per coin flip, statistically fine for them, seeded for replays.
#[derive(Clone, Copy, Debug)]
pub(super) struct XorShift(pub(super) u64);

impl XorShift {
    #[inline]
    pub(super) fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A uniform draw in `[0, n)` (Lemire's multiply-shift: the high word of a 64-bit draw
    /// times `n`; biased by at most `n / 2^64`).
    #[inline]
    pub(super) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// SplitMix64, to expand one seed into the hasher's keys and the coin-flip state.
pub(super) struct SplitMix64(pub(super) u64);

impl SplitMix64 {
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}
