//! Replay pacing: hands out a source's packets no faster than their timestamps say, scaled by a
//! speed factor. Knows nothing of where the packets come from.

use super::{Error, Packet, PacketSource, Progress};
use crate::decode::LinkType;
use std::thread;
use std::time::{Duration, Instant};

/// The longest single wait. A larger gap between two packets (a capture paused for an hour, a
/// timestamp jumping forward) costs at most this, and the schedule restarts from that packet.
pub const MAX_SLEEP: Duration = Duration::from_secs(1);

/// Replays `S` at `speed` times the original rate: 1.0 is real time, 2.0 twice as fast.
///
/// The schedule is anchored at a packet's timestamp and the moment it was handed out. A later
/// packet is held back until its offset from the anchor, divided by `speed`, has elapsed; a
/// packet that is already late goes out at once (the reader was slower than the capture, so the
/// replay catches up). A timestamp earlier than the anchor (a jump backwards) re-anchors the
/// schedule at that packet without waiting, and a wait longer than [`MAX_SLEEP`] is cut to it
/// and re-anchors after it, so no timestamp can stall the replay.
pub struct Paced<S> {
    inner: S,
    schedule: Schedule,
}

impl<S: PacketSource> Paced<S> {
    /// Paces `inner` at `speed` times real time.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSpeed`] when `speed` is not a positive finite number.
    pub fn new(inner: S, speed: f64) -> Result<Self, Error> {
        if !(speed.is_finite() && speed > 0.0) {
            return Err(Error::InvalidSpeed { speed });
        }
        Ok(Self {
            inner,
            schedule: Schedule {
                speed,
                anchor: None,
            },
        })
    }

    /// The wrapped source.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// Kept apart from the source so it can be updated while a packet borrows the source.
struct Schedule {
    speed: f64,
    /// (timestamp in nanoseconds, when it was handed out).
    anchor: Option<(u64, Instant)>,
}

impl Schedule {
    /// How long to hold back a packet stamped `timestamp` at `now`, updating the anchor.
    fn wait_for(&mut self, timestamp: u64, now: Instant) -> Duration {
        let Some((anchor_timestamp, anchor_time)) = self.anchor else {
            self.anchor = Some((timestamp, now));
            return Duration::ZERO;
        };
        let Some(offset_nanos) = timestamp.checked_sub(anchor_timestamp) else {
            self.anchor = Some((timestamp, now));
            return Duration::ZERO;
        };
        // Offsets beyond what a Duration holds (absurd timestamps, tiny speeds) count as huge.
        let due = Duration::try_from_secs_f64(offset_nanos as f64 / 1e9 / self.speed)
            .unwrap_or(Duration::MAX);
        let wait = due.saturating_sub(now.saturating_duration_since(anchor_time));
        if wait > MAX_SLEEP {
            self.anchor = Some((timestamp, now.checked_add(MAX_SLEEP).unwrap_or(now)));
            return MAX_SLEEP;
        }
        wait
    }
}

impl<S: PacketSource> PacketSource for Paced<S> {
    fn link_type(&self) -> LinkType {
        self.inner.link_type()
    }

    fn next_packet(&mut self) -> Result<Option<Packet<'_>>, Error> {
        let Some(packet) = self.inner.next_packet()? else {
            return Ok(None);
        };
        let wait = self
            .schedule
            .wait_for(packet.timestamp_nanos, Instant::now());
        if !wait.is_zero() {
            thread::sleep(wait);
        }
        Ok(Some(packet))
    }

    fn progress(&self) -> Progress {
        self.inner.progress()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::FakeSource;

    const MS: u64 = 1_000_000;

    fn schedule(speed: f64) -> Schedule {
        Schedule {
            speed,
            anchor: None,
        }
    }

    #[test]
    fn holds_a_packet_until_its_offset_divided_by_speed() {
        let start = Instant::now();
        let mut real_time = schedule(1.0);
        assert_eq!(real_time.wait_for(1_000 * MS, start), Duration::ZERO);
        assert_eq!(
            real_time.wait_for(1_100 * MS, start),
            Duration::from_millis(100)
        );
        // 30 ms after the anchor, a packet stamped 250 ms after it waits the remaining 220 ms.
        let later = start + Duration::from_millis(30);
        assert_eq!(
            real_time.wait_for(1_250 * MS, later),
            Duration::from_millis(220)
        );

        let mut four_times = schedule(4.0);
        four_times.wait_for(0, start);
        assert_eq!(
            four_times.wait_for(400 * MS, start),
            Duration::from_millis(100)
        );
    }

    #[test]
    fn a_late_packet_goes_out_at_once() {
        let start = Instant::now();
        let mut pacing = schedule(1.0);
        pacing.wait_for(0, start);
        let late = start + Duration::from_millis(500);
        assert_eq!(pacing.wait_for(100 * MS, late), Duration::ZERO);
    }

    #[test]
    fn a_backward_jump_reanchors_without_waiting() {
        let start = Instant::now();
        let mut pacing = schedule(1.0);
        pacing.wait_for(10_000 * MS, start);
        assert_eq!(pacing.wait_for(5_000 * MS, start), Duration::ZERO);
        // Paced from the new anchor, not from the old one.
        assert_eq!(
            pacing.wait_for(5_010 * MS, start),
            Duration::from_millis(10)
        );
    }

    #[test]
    fn a_huge_gap_costs_at_most_max_sleep_then_pacing_resumes() {
        let start = Instant::now();
        let mut pacing = schedule(1.0);
        pacing.wait_for(0, start);
        let hour = 3_600_000 * MS;
        assert_eq!(pacing.wait_for(hour, start), MAX_SLEEP);
        let after_sleep = start + MAX_SLEEP;
        assert_eq!(
            pacing.wait_for(hour + 20 * MS, after_sleep),
            Duration::from_millis(20)
        );
        // Even a gap no Duration can hold.
        let mut tiny_speed = schedule(f64::MIN_POSITIVE);
        tiny_speed.wait_for(0, start);
        assert_eq!(tiny_speed.wait_for(u64::MAX, start), MAX_SLEEP);
    }

    #[test]
    fn rejects_speeds_that_are_not_positive_and_finite() {
        for speed in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let source = FakeSource::new(LinkType(1), Vec::new());
            assert!(matches!(
                Paced::new(source, speed),
                Err(Error::InvalidSpeed { .. })
            ));
        }
    }

    fn frames(timestamps_ms: &[u64]) -> FakeSource {
        let frames = timestamps_ms
            .iter()
            .map(|ms| (ms * MS, 60, vec![0u8; 60]))
            .collect();
        FakeSource::new(LinkType(1), frames)
    }

    fn replay_time(source: FakeSource, speed: f64) -> (Duration, usize) {
        let mut paced = Paced::new(source, speed).unwrap();
        let start = Instant::now();
        let mut count = 0;
        while paced.next_packet().unwrap().is_some() {
            count += 1;
        }
        (start.elapsed(), count)
    }

    // Timing tests: generous bounds, they check that pacing happens, not how precisely.
    #[test]
    fn replays_in_about_real_time_and_faster_with_speed() {
        let (elapsed, count) = replay_time(frames(&[0, 100, 200, 300, 400]), 1.0);
        assert_eq!(count, 5);
        assert!(elapsed >= Duration::from_millis(380), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");

        let (elapsed, _) = replay_time(frames(&[0, 100, 200, 300, 400]), 4.0);
        assert!(elapsed >= Duration::from_millis(90), "{elapsed:?}");
        assert!(elapsed < Duration::from_millis(380), "{elapsed:?}");
    }

    #[test]
    fn jumps_in_time_do_not_hang_the_replay() {
        // Forward an hour, back a day, forward again: one capped wait in all.
        let day = 86_400_000;
        let (elapsed, count) = replay_time(frames(&[day, day + 3_600_000, 0, 10]), 1.0);
        assert_eq!(count, 4);
        assert!(elapsed >= MAX_SLEEP, "{elapsed:?}");
        assert!(elapsed < MAX_SLEEP * 3, "{elapsed:?}");
    }
}
