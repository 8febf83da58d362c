//! The video playout delay of one played stream, sans-IO (callers give the
//! time).
//!
//! A frame repaired by retransmission completes an RTT or two late, and the
//! frames behind it wait with it; shown as soon as they are decoded they
//! come as a gap then a burst. Shown at `capture + target` instead, where
//! the target follows the recent completion delays (capture to decoded),
//! they keep their cadence. The target is what nearly every recent frame
//! needed, less the lateness that shows as a short stall rather than a
//! freeze (a freeze is a gap over the mean interval + 150 ms), but never
//! below the median: latency is spent only on what stalls. The delays are on the
//! sender's clock (its RTCP sender reports), so they carry an unknown clock
//! offset: the bounds are relative to the least delay seen lately, the
//! stream's own floor, never absolute.

use std::collections::VecDeque;
use std::time::Duration;

/// The target follows the completion delays of this recent span.
const WINDOW_US: u64 = 3_000_000;
/// The floor (least delay) is taken over this longer span.
const FLOOR_WINDOW_US: u64 = 10_000_000;
/// The share of recent frames the target waits for (less [`SLACK_US`]).
const PERCENTILE: f64 = 0.98;
/// How late against the target a frame may be and still not freeze.
const SLACK_US: u64 = 100_000;
/// The target is never more than this above the floor: a frame that needs
/// longer is shown late rather than delaying every frame.
pub(crate) const MAX_PLAYOUT_DELAY: Duration = Duration::from_millis(500);
/// A frame completed this much beyond the longest target is too late to
/// show (it is still decoded: later frames refer to it).
const LATE: Duration = Duration::from_millis(500);

/// Recent completion delays and the playout target they give.
#[derive(Debug, Default)]
pub(crate) struct PlayoutDelay {
    /// (when it was decoded, its capture-to-decoded delay), µs, oldest first.
    recent: VecDeque<(u64, u64)>,
}

impl PlayoutDelay {
    /// A frame captured `delay_us` before `now_us` (sender clock) is decoded.
    pub(crate) fn observe(&mut self, now_us: u64, delay_us: u64) {
        while self
            .recent
            .front()
            .is_some_and(|(at, _)| now_us.saturating_sub(*at) > FLOOR_WINDOW_US)
        {
            self.recent.pop_front();
        }
        self.recent.push_back((now_us, delay_us));
    }

    /// How long after its capture to show a frame, µs (0 before any frame).
    pub(crate) fn target_us(&self) -> u64 {
        let Some(&(newest, _)) = self.recent.back() else {
            return 0;
        };
        let mut delays: Vec<u64> = self
            .recent
            .iter()
            .filter(|(at, _)| newest.saturating_sub(*at) <= WINDOW_US)
            .map(|(_, d)| *d)
            .collect();
        delays.sort_unstable();
        let at = |share: f64| {
            let rank = (delays.len() as f64 * share).ceil() as usize;
            delays[rank.clamp(1, delays.len()) - 1]
        };
        let ceiling = self.floor_us() + MAX_PLAYOUT_DELAY.as_micros() as u64;
        at(PERCENTILE)
            .saturating_sub(SLACK_US)
            .max(at(0.5))
            .min(ceiling)
    }

    /// Whether a frame decoded `delay_us` after its capture is too late to
    /// show.
    pub(crate) fn is_late(&self, delay_us: u64) -> bool {
        let limit = (MAX_PLAYOUT_DELAY + LATE).as_micros() as u64;
        delay_us > self.floor_us() + limit
    }

    fn floor_us(&self) -> u64 {
        self.recent.iter().map(|(_, d)| *d).min().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME_US: u64 = 33_333;

    /// Feeds frames 33 ms apart from `start_us`, each with the given delay.
    fn feed(p: &mut PlayoutDelay, start_us: u64, delays: impl IntoIterator<Item = u64>) -> u64 {
        let mut now = start_us;
        for d in delays {
            p.observe(now, d);
            now += FRAME_US;
        }
        now
    }

    #[test]
    fn the_target_covers_the_repaired_frames() {
        let mut p = PlayoutDelay::default();
        assert_eq!(p.target_us(), 0);
        // Most frames take 60 ms, one in ten is repaired after 250 ms: it
        // is shown at most 100 ms late, a stall shorter than a freeze.
        let delays = (0..90).map(|i| if i % 10 == 0 { 250_000 } else { 60_000 });
        feed(&mut p, 0, delays);
        assert_eq!(p.target_us(), 150_000);
        // When most frames are repaired, the median is waited for.
        let mut lossy = PlayoutDelay::default();
        feed(
            &mut lossy,
            0,
            (0..90).map(|i| if i % 3 == 0 { 60_000 } else { 200_000 }),
        );
        assert_eq!(lossy.target_us(), 200_000);
        // On a clean link the target is the plain delay.
        let mut clean = PlayoutDelay::default();
        feed(&mut clean, 0, std::iter::repeat_n(60_000, 90));
        assert_eq!(clean.target_us(), 60_000);
    }

    #[test]
    fn the_target_comes_down_once_repairs_stop() {
        let mut p = PlayoutDelay::default();
        let now = feed(
            &mut p,
            0,
            (0..90).map(|i| if i % 5 == 0 { 300_000 } else { 60_000 }),
        );
        assert_eq!(p.target_us(), 200_000);
        // Three seconds of clean frames later, the repairs are forgotten.
        feed(&mut p, now, std::iter::repeat_n(60_000, 95));
        assert_eq!(p.target_us(), 60_000);
    }

    #[test]
    fn the_target_is_bounded_above_the_floor_whatever_the_clock_offset() {
        let offset = 5_000_000; // the sender's clock is 5 s behind
        let mut p = PlayoutDelay::default();
        let delays = (0..90).map(|i| offset + if i % 2 == 0 { 2_000_000 } else { 60_000 });
        feed(&mut p, 0, delays);
        let ceiling = offset + 60_000 + MAX_PLAYOUT_DELAY.as_micros() as u64;
        assert_eq!(p.target_us(), ceiling);
        // Late is relative to the floor too.
        assert!(!p.is_late(offset + 600_000));
        assert!(p.is_late(offset + 2_000_000));
    }
}
