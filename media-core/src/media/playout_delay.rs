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
//!
//! A frame's completion delay ends when it would have been decoded had the
//! decoder been free ([`PlayoutDelay::schedule`]): when it was queued for
//! decoding plus its decoding time. The decode thread holds each frame until
//! its playout time, so the frames queued behind it wait that hold out;
//! counted in their delays, the hold fed itself: a transient target of
//! 740 ms (500 kbit/s, the first seconds) came down only ~20 ms a second,
//! a frame interval less the decoding time every half window.

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
    /// When to show a frame (Unix µs, at least `now_us`), or `None` when it
    /// is too late to show: it was captured at `captured_us` (sender clock),
    /// queued for decoding at `queued_us`, decoded in `decode_us` and is
    /// ready at `now_us`. The delay observed is `queued_us + decode_us -
    /// captured_us`, not the wait behind earlier frames' holds (module doc).
    pub(crate) fn schedule(
        &mut self,
        captured_us: u64,
        queued_us: u64,
        decode_us: u64,
        now_us: u64,
    ) -> Option<u64> {
        let unqueued = queued_us.saturating_add(decode_us).min(now_us);
        self.observe(unqueued, unqueued.saturating_sub(captured_us));
        if self.is_late(now_us.saturating_sub(captured_us)) {
            return None;
        }
        Some((captured_us + self.target_us()).max(now_us))
    }

    /// A frame captured `delay_us` before `now_us` (sender clock) is decoded.
    fn observe(&mut self, now_us: u64, delay_us: u64) {
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
    fn target_us(&self) -> u64 {
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
    fn is_late(&self, delay_us: u64) -> bool {
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

    /// The decode thread in virtual time: frames captured every 33 ms
    /// arrive `delay(k)` later (in order), take 5 ms to decode, and each is
    /// held until its playout time before the next one is taken. The delay
    /// (capture to shown) of every frame shown.
    fn decode_thread(count: u64, delay: impl Fn(u64) -> u64) -> Vec<u64> {
        const DECODE_US: u64 = 5_000;
        let mut p = PlayoutDelay::default();
        let (mut arrived, mut free, mut shown) = (0, 0, Vec::new());
        for k in 0..count {
            let captured = k * FRAME_US;
            arrived = (captured + delay(k)).max(arrived);
            let decoded = arrived.max(free) + DECODE_US;
            free = decoded;
            if let Some(at) = p.schedule(captured, arrived, DECODE_US, decoded) {
                free = at;
                shown.push(at - captured);
            }
        }
        shown
    }

    #[test]
    fn a_hold_does_not_feed_itself_through_the_frames_queued_behind_it() {
        // A 740 ms queue for the first second, then the path's 60 ms. When
        // the frames queued behind a held one counted their wait, the
        // target came down a frame interval less the decoding time every
        // 1.5 s (~19 ms/s: 660 ms at 6 s, 603 ms at 9 s); now the window
        // forgets the queue after 3 s and the thread catches up by 5 s.
        let shown = decode_thread(300, |k| if k < 30 { 740_000 } else { 60_000 });
        let later = &shown[180..];
        assert!(later.iter().all(|d| *d <= 70_000), "{:?}", &later[..10]);
        // Steady frames are shown at their plain delay, on cadence.
        let steady = decode_thread(100, |_| 60_000);
        assert!(steady.iter().all(|d| *d == 65_000), "{steady:?}");
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
