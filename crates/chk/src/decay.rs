//! Lobby decay: the chance `b^-c` that a colliding insert decrements a lobby counter of `c`, and
//! the exact distribution after a weighted collision (one random draw from a table built once
//! per process instead of `weight` coin flips). Knows nothing of buckets, keys or promotion.

use super::rng::XorShift;
use super::{DECAY_BASE, LOBBY_THRESHOLD};

const LOBBY_MAX: usize = LOBBY_THRESHOLD as usize;

/// `POWERS[c] = b^c` for lobby counts `c` in `0..=L`.
const POWERS: [f64; LOBBY_MAX + 1] = {
    let mut table = [1.0; LOBBY_MAX + 1];
    let mut c = 1;
    while c <= LOBBY_MAX {
        table[c] = table[c - 1] * DECAY_BASE;
        c += 1;
    }
    table
};

/// `SPENT_TO_EMPTY[c] = ceil(sum_{j=1..c} b^j)`: the unit collisions expected to empty a counter
/// of `c`, rounded up: what a weighted insert spends on decaying it away.
pub(super) const SPENT_TO_EMPTY: [u64; LOBBY_MAX + 1] = {
    let mut table = [0; LOBBY_MAX + 1];
    let mut expected = 0.0;
    let mut c = 1;
    while c <= LOBBY_MAX {
        expected += POWERS[c];
        let whole = expected as u64;
        table[c] = if (whole as f64) < expected {
            whole + 1
        } else {
            whole
        };
        c += 1;
    }
    table
};

/// `UNIT_DECAY_THRESHOLD[c] = 2^64 * b^-c`: a uniform `u64` below it decays a counter of `c`.
const UNIT_DECAY_THRESHOLD: [u64; LOBBY_MAX + 1] = {
    let mut table = [u64::MAX; LOBBY_MAX + 1];
    let mut c = 1;
    while c <= LOBBY_MAX {
        table[c] = (18_446_744_073_709_551_616.0 / POWERS[c]) as u64;
        c += 1;
    }
    table
};

/// The lobby counter `held` (in `1..=L`) after a colliding insert of `weight`, distributed
/// exactly as after `weight` unit collisions (each decrementing `c` with probability `b^-c`),
/// drawn with one random number from [`DecayTable`].
#[inline(always)]
pub(super) fn decay(coins: &mut XorShift, held: u8, weight: u64) -> u8 {
    decay_with(coins.next_u64(), held, weight)
}

/// [`decay`] with the random number `draw` (uniform over `u64`) given: a caller that needs
/// another coin for the same collision takes it from the low bits, which this reads only as
/// the last of 64 (weight 1) or not at all (weighted: the high 32 bits).
#[inline(always)]
pub(super) fn decay_with(draw: u64, held: u8, weight: u64) -> u8 {
    let held = usize::from(held).min(LOBBY_MAX);
    if weight == 1 {
        return (held - usize::from(draw < UNIT_DECAY_THRESHOLD[held])) as u8;
    }
    match DecayTable::get().cumulative(held, weight) {
        Some(cdf) => {
            let draw = (draw >> 32) as u32;
            cdf.iter()
                .take(held)
                .take_while(|&&edge| draw >= edge)
                .count() as u8
        }
        None => 0,
    }
}

/// The exact distribution of a lobby counter after `w` unit collisions, for every starting
/// count and every weight that may leave anything, computed once per process.
///
/// The design card's table method jumps to where the *expected* number of decays equals the
/// weight. Unit decays have a spread, so near the expected emptying point that method decays
/// too much (a counter of 16 hit by a weight of 34 is left at 1.6 on average by unit decays, at
/// 0 by the expectation); drawing from the distribution itself costs the same one random number.
struct DecayTable {
    /// For each starting count `h`, the index of its first row (weight 2) in `rows`.
    first_row: [usize; LOBBY_MAX + 1],
    /// For each `h`, the first weight that empties the counter with probability > 1 - 1e-9.
    empty_from: [u64; LOBBY_MAX + 1],
    /// Row for (`h`, `w`): `cdf[c]` = P(count after `w` collisions <= c), scaled to `2^32`.
    rows: Vec<[u32; LOBBY_MAX + 1]>,
}

impl DecayTable {
    const NEGLIGIBLE: f64 = 1e-9;

    fn get() -> &'static DecayTable {
        static TABLE: std::sync::LazyLock<DecayTable> = std::sync::LazyLock::new(DecayTable::build);
        &TABLE
    }

    fn build() -> DecayTable {
        let mut table = DecayTable {
            first_row: [0; LOBBY_MAX + 1],
            empty_from: [2; LOBBY_MAX + 1],
            rows: Vec::new(),
        };
        for held in 1..=LOBBY_MAX {
            table.first_row[held] = table.rows.len();
            let mut mass = [0.0f64; LOBBY_MAX + 1];
            mass[held] = 1.0;
            let mut weight = 0;
            loop {
                // One more unit collision: each count c > 0 moves down with probability b^-c.
                for c in 1..=held {
                    let moved = mass[c] / POWERS[c];
                    mass[c] -= moved;
                    mass[c - 1] += moved;
                }
                weight += 1;
                if weight == 1 {
                    continue;
                }
                if 1.0 - mass[0] < Self::NEGLIGIBLE {
                    break;
                }
                let mut row = [u32::MAX; LOBBY_MAX + 1];
                let mut below = 0.0;
                for (c, edge) in row.iter_mut().enumerate().take(held) {
                    below += mass[c];
                    *edge = (below * 4_294_967_296.0).min(u32::MAX as f64) as u32;
                }
                table.rows.push(row);
            }
            table.empty_from[held] = weight;
        }
        table
    }

    /// The cumulative distribution after `weight >= 2` collisions on a counter of `held`, or
    /// `None` when the counter is empty but for a negligible chance.
    fn cumulative(&self, held: usize, weight: u64) -> Option<&[u32; LOBBY_MAX + 1]> {
        if weight >= self.empty_from[held] {
            return None;
        }
        self.rows.get(self.first_row[held] + (weight - 2) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::super::CuckooHeavyKeeper;
    use super::*;

    /// The count left by one weighted collision against the count left by `weight` unit
    /// collisions, from every starting count: the same distribution (total variation distance
    /// within sampling noise), so the shortcut stands for the unit process it replaces.
    #[test]
    fn weighted_decay_matches_repeated_unit_decays_in_distribution() {
        const TRIALS: usize = 20_000;
        let mut sketch = CuckooHeavyKeeper::<u64>::with_seed(1, 7);
        for held in 1..=LOBBY_THRESHOLD as u8 {
            for weight in [2u64, 3, 5, 8, 13, 21, 34, 55, 89] {
                let mut unit = [0usize; LOBBY_MAX + 1];
                let mut weighted = [0usize; LOBBY_MAX + 1];
                for _ in 0..TRIALS {
                    let mut count = held;
                    for _ in 0..weight {
                        if count == 0 {
                            break;
                        }
                        count = decay(&mut sketch.rng, count, 1);
                    }
                    unit[usize::from(count)] += 1;
                    weighted[usize::from(decay(&mut sketch.rng, held, weight))] += 1;
                }
                let distance: f64 = unit
                    .iter()
                    .zip(&weighted)
                    .map(|(&u, &w)| (u as f64 - w as f64).abs())
                    .sum::<f64>()
                    / (2 * TRIALS) as f64;
                assert!(
                    distance < 0.03,
                    "held {held}, weight {weight}: total variation {distance:.3}\n unit {unit:?}\n weighted {weighted:?}"
                );
            }
        }
    }

    #[test]
    fn large_weights_empty_the_lobby_and_the_table_stays_small() {
        let table = DecayTable::get();
        assert!(table.rows.len() < 2_000, "{} rows", table.rows.len());
        let mut sketch = CuckooHeavyKeeper::<u64>::with_seed(1, 9);
        for held in 1..=LOBBY_THRESHOLD as u8 {
            assert_eq!(decay(&mut sketch.rng, held, 1500), 0);
            assert!(table.empty_from[usize::from(held)] < 200);
        }
    }

    #[test]
    fn unit_decay_probability_is_b_to_the_minus_count() {
        let mut sketch = CuckooHeavyKeeper::<u64>::with_seed(1, 3);
        for held in [1u8, 8, 16] {
            let trials = 200_000;
            let decayed = (0..trials)
                .filter(|_| decay(&mut sketch.rng, held, 1) < held)
                .count();
            let expected = DECAY_BASE.powi(-i32::from(held));
            let observed = decayed as f64 / f64::from(trials);
            assert!(
                (observed - expected).abs() < 0.01,
                "held {held}: {observed} vs {expected}"
            );
        }
    }
}
