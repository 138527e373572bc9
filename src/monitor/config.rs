//! What the monitor counts and how: the configuration, its one validation, and the bounds
//! derived from it (tracked fan-in/fan-out keys, their precision). Knows nothing of packets.

use super::prefix::PrefixLengths;
use crate::report::{is_hierarchical_share, DEFAULT_HIERARCHICAL_SHARE};
use crate::sketch::hll::DEFAULT_LG_K;

/// Default memory of each heavy-hitter sketch (six per monitor for three views, by packets and
/// by bytes, 1.5 MiB in all, and four more for the source and destination prefix views of
/// every length, 2.5 MiB with them). 256 KiB holds about 5,000 five-tuples or 8,000 addresses in heavy
/// entries, 2.5 and 4 times the 1/phi = 2,000 items that can reach the heavy-hitter threshold;
/// on flat and flood traces its top 20 were exact and its top 100 nearly so, and larger
/// sketches spill out of the caches and slow a flood down (docs/BENCHMARKS.md, "Sketch size").
pub const DEFAULT_SKETCH_BYTES: usize = 256 << 10;

/// What the aggregator counts and how.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorConfig {
    /// Interval length in seconds (at least 1).
    pub interval_secs: u64,
    /// Entries in every top list of a report.
    pub top: usize,
    /// Count heavy hitters exactly with hash maps instead of sketches (memory grows with the
    /// number of distinct keys: a reference for small captures).
    pub exact: bool,
    /// Memory of each heavy-hitter sketch in bytes.
    pub sketch_bytes: usize,
    /// HyperLogLog precision (`2^lg_k` registers).
    pub hll_lg_k: u8,
    /// Report distinct sources over a rolling window of this many seconds (a multiple of
    /// `interval_secs`) besides the interval's own.
    pub window_secs: Option<u64>,
    /// Count distinct sources and destinations, fan-in and fan-out. Always on in the hhmon
    /// binary; off, the distinct counts are 0 and reports carry no sketches, which the
    /// benchmarks use to price distinct counting.
    pub distinct: bool,
    /// Threads that count the views, each owning the keys that hash to it (1: the packet
    /// thread counts everything itself; at most [`MAX_WORKERS`](super::MAX_WORKERS)). Honoured by
    /// [`IntervalAggregator::start`](super::IntervalAggregator::start);
    /// [`IntervalAggregator::new`](super::IntervalAggregator::new) always counts on its caller's
    /// thread.
    pub workers: usize,
    /// Attach to each listed address the sketch of its fan-in or fan-out (when tracked), so
    /// that an address's distinct peers can be unioned across intervals and sensors.
    pub fan_sketches: bool,
    /// The prefix lengths of the source and destination prefix views
    /// ([`PrefixLengths::NONE`]: no prefix views).
    pub prefix_lengths: PrefixLengths,
    /// The share of an interval's packets (above 0, at most 1) a prefix or address must carry
    /// on its own, beyond its heavy descendants, to be a hierarchical heavy hitter of the
    /// report. A lower share names smaller aggregates (each /24 of a botnet) instead of the
    /// network above them; every prefix over it must be listed for the lists to be exact, so
    /// `top` should be at least `1 / share`.
    pub hierarchical_share: f64,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            interval_secs: 10,
            top: 20,
            exact: false,
            sketch_bytes: DEFAULT_SKETCH_BYTES,
            hll_lg_k: DEFAULT_LG_K,
            window_secs: None,
            distinct: true,
            workers: 1,
            fan_sketches: false,
            prefix_lengths: PrefixLengths::DEFAULT,
            hierarchical_share: DEFAULT_HIERARCHICAL_SHARE,
        }
    }
}

/// Most memory the sketches of one rolling window may hold (`window / interval` sketches of
/// `2^window_lg_k` bytes each).
pub const MAX_WINDOW_BYTES: u64 = 256 << 20;

/// A configuration the aggregator cannot honour.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The rolling window does not cover a whole number of intervals.
    #[error(
        "the window ({window_secs} s) must be a whole multiple of the interval ({interval_secs} s)"
    )]
    WindowNotMultiple {
        /// Window length in seconds.
        window_secs: u64,
        /// Interval length in seconds.
        interval_secs: u64,
    },
    /// The rolling window would keep too many interval sketches.
    #[error(
        "the window spans {intervals} intervals, whose sketches would take up to {bytes} bytes \
         (limit {MAX_WINDOW_BYTES}); use a longer interval, a shorter window or a lower --hll-lg-k"
    )]
    WindowTooLarge {
        /// Intervals in the window.
        intervals: u64,
        /// Bytes their sketches may take.
        bytes: u64,
    },
    /// The hierarchical heavy hitter share is not a fraction above 0 and at most 1.
    #[error("the hierarchical heavy hitter share must be above 0 and at most 1")]
    HierarchicalShare,
}

impl MonitorConfig {
    /// The configuration as the aggregator uses it: an interval of 0 seconds is 1.
    pub(super) fn normalized(mut self) -> Self {
        self.interval_secs = self.interval_secs.max(1);
        self
    }

    /// Checks what the types cannot: that the hierarchical share is a fraction, that the
    /// window is a whole number of intervals, and that its sketches fit in
    /// [`MAX_WINDOW_BYTES`].
    ///
    /// # Errors
    ///
    /// [`ConfigError::HierarchicalShare`], [`ConfigError::WindowNotMultiple`],
    /// [`ConfigError::WindowTooLarge`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !is_hierarchical_share(self.hierarchical_share) {
            return Err(ConfigError::HierarchicalShare);
        }
        let Some(window_secs) = self.window_secs else {
            return Ok(());
        };
        let interval_secs = self.interval_secs.max(1);
        if window_secs == 0 || window_secs % interval_secs != 0 {
            return Err(ConfigError::WindowNotMultiple {
                window_secs,
                interval_secs,
            });
        }
        let intervals = window_secs / interval_secs;
        let bytes = intervals.saturating_mul(1 << window_lg_k(self.hll_lg_k));
        if bytes > MAX_WINDOW_BYTES {
            return Err(ConfigError::WindowTooLarge { intervals, bytes });
        }
        Ok(())
    }
}

/// Addresses of each kind (sources, destinations) whose fan-out or fan-in is counted at once:
/// eight per top-list entry, at least 256, so that the top lists by packets and by bytes fit
/// with room for the churn of keys competing for a bucket.
pub fn tracked_keys(top: usize) -> usize {
    top.saturating_mul(8).max(256)
}

/// Precision of the interval sketches a rolling window keeps: the interval's, at most 14. A
/// window's count is a union's (composite estimator, 1.04/sqrt(K): 0.81% at 14), and a day of
/// 10 s intervals then keeps 8 640 sketches of 16 KiB (135 MiB) instead of 32 KiB each.
pub fn window_lg_k(hll_lg_k: u8) -> u8 {
    hll_lg_k.min(14)
}

/// Precision of each fan-in and fan-out counter: two more than the interval's (half its
/// standard error), at most 14. The fan-in of one address is the figure an alert compares with
/// a threshold: at 14 (16 KiB of registers once an address has more than about 1 500 peers) its
/// standard error is 0.65%, so a 3% miss is a 4.6-sigma event, where at 12 it is a 2.3-sigma one
/// (on the shipped SYN flood the interval's count at 12 is 3.5% low, the victim's fan-in at 14
/// 1.3% low). The cap bounds the per-key memory whatever `--hll-lg-k` is.
pub fn fan_lg_k(hll_lg_k: u8) -> u8 {
    hll_lg_k.saturating_add(2).min(14)
}

/// Precision of each tracked prefix's distinct-address counter: two less than a fan counter's,
/// 12 at the defaults (1.3% standard error; exact up to about 400 addresses, while the counter
/// keeps coupons). A prefix's counter takes a coupon of each new address of every length, and
/// its registers and their bounds are what the prefix views add to a core's cache traffic (see
/// `monitor::prefix`); 13 took 19% more cache misses over the views without prefixes.
pub fn prefix_lg_k(hll_lg_k: u8) -> u8 {
    fan_lg_k(hll_lg_k).saturating_sub(2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::testing::small_config as config;

    #[test]
    fn a_window_must_be_a_whole_number_of_intervals_of_bounded_size() {
        let with = |window_secs, hll_lg_k| MonitorConfig {
            window_secs,
            hll_lg_k,
            ..config(false)
        };
        assert_eq!(with(None, 12).validate(), Ok(()));
        assert_eq!(with(Some(10), 12).validate(), Ok(()));
        assert_eq!(with(Some(3_600), 12).validate(), Ok(()));
        assert_eq!(
            with(Some(25), 12).validate(),
            Err(ConfigError::WindowNotMultiple {
                window_secs: 25,
                interval_secs: 10
            })
        );
        assert!(matches!(
            with(Some(5), 12).validate(),
            Err(ConfigError::WindowNotMultiple { .. })
        ));
        // A day of 10 s intervals: 8 640 sketches, 35 MB at lg_k 12, 135 MiB from 14 on (the
        // window folds finer sketches down to 14); a day of 1 s intervals is refused.
        for lg_k in [12, 15, 18] {
            assert_eq!(with(Some(86_400), lg_k).validate(), Ok(()), "{lg_k}");
        }
        let by_second = MonitorConfig {
            interval_secs: 1,
            ..with(Some(86_400), 15)
        };
        let error = by_second.validate().unwrap_err();
        assert_eq!(
            error,
            ConfigError::WindowTooLarge {
                intervals: 86_400,
                bytes: 86_400 << 14
            }
        );
        assert!(error.to_string().contains("86400 intervals"), "{error}");
    }

    #[test]
    fn the_hierarchical_share_must_be_a_fraction_above_0() {
        let with = |hierarchical_share| MonitorConfig {
            hierarchical_share,
            ..config(false)
        };
        for share in [0.05, 0.001, 1.0] {
            assert_eq!(with(share).validate(), Ok(()), "{share}");
        }
        for share in [0.0, -0.05, 1.5, f64::NAN, f64::INFINITY] {
            assert_eq!(
                with(share).validate(),
                Err(ConfigError::HierarchicalShare),
                "{share}"
            );
        }
    }

    #[test]
    fn tracked_key_bounds_follow_top() {
        assert_eq!(tracked_keys(20), 256);
        assert_eq!(tracked_keys(100), 800);
        assert_eq!(fan_lg_k(12), 14);
        assert_eq!(fan_lg_k(16), 14);
        assert_eq!(fan_lg_k(8), 10);
        assert_eq!(window_lg_k(12), 12);
        assert_eq!(window_lg_k(15), 14);
    }
}
