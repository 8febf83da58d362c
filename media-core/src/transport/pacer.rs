//! Pacing the video packets (a leaky bucket, sans-IO): a keyframe is many
//! packets at once, and written at once they burst into the first small
//! drop-tail queue on the path (a home router's, a cellular link's) and
//! lose their tail, so the picture never decodes. The pacer lets them out
//! at [`PACING_FACTOR`] x the encoder's target rate, with a burst of
//! [`BURST`] worth of bytes allowed at once (a normal frame leaves in one
//! go; only keyframes and large frames are spread). libwebrtc's pacer uses
//! the same 2.5x. When the encoders make more than that (a stale target),
//! the queue is drained within [`MAX_QUEUE_DELAY`] instead: the pacer
//! speeds up rather than add delay (or dump the queue at once).

use std::time::{Duration, Instant};

/// The pacing rate over the target bitrate.
pub(crate) const PACING_FACTOR: f64 = 2.5;
/// How much sending time may go out at once.
pub(crate) const BURST: Duration = Duration::from_millis(40);
/// The lowest pacing rate, bits per second (a stalled estimate must not
/// stall the video).
const MIN_RATE_BPS: f64 = 200_000.0;
/// The burst is never smaller than this many bytes (a few packets).
const MIN_BURST_BYTES: f64 = 4.0 * 1200.0;
/// The longest a packet should wait: the pacer sends at least at the rate
/// that empties its queue within this.
pub(crate) const MAX_QUEUE_DELAY: Duration = Duration::from_secs(1);

/// A leaky bucket: how long the next packet must wait.
#[derive(Debug, Clone)]
pub(crate) struct Pacer {
    /// Bytes per second.
    rate: f64,
    /// Bytes that may go now (at most the burst).
    budget: f64,
    last: Instant,
    /// Bytes waiting to be sent.
    queued: f64,
    /// Bytes per second that empty the queue within [`MAX_QUEUE_DELAY`]
    /// (held until it is empty; 0 when the pacing rate does).
    drain: f64,
}

impl Pacer {
    /// A pacer for a target of `target_bps`, with a full burst.
    pub(crate) fn new(now: Instant, target_bps: u64) -> Self {
        let mut pacer = Pacer {
            rate: 0.0,
            budget: 0.0,
            last: now,
            queued: 0.0,
            drain: 0.0,
        };
        pacer.set_target(target_bps);
        pacer.budget = pacer.burst();
        pacer
    }

    /// Paces at [`PACING_FACTOR`] x `target_bps` from now on.
    pub(crate) fn set_target(&mut self, target_bps: u64) {
        self.rate = (target_bps as f64 * PACING_FACTOR).max(MIN_RATE_BPS) / 8.0;
    }

    fn burst(&self) -> f64 {
        (self.rate * BURST.as_secs_f64()).max(MIN_BURST_BYTES)
    }

    /// Bytes per second now: the pacing rate, or faster to empty the queue
    /// within [`MAX_QUEUE_DELAY`].
    fn rate_now(&self) -> f64 {
        self.rate.max(self.drain)
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.budget = (self.budget + elapsed * self.rate_now()).min(self.burst());
    }

    /// A packet of `bytes` joined the queue.
    pub(crate) fn queued(&mut self, bytes: usize) {
        self.queued += bytes as f64;
        self.drain = self.drain.max(self.queued / MAX_QUEUE_DELAY.as_secs_f64());
    }

    /// How long the next packet waits from `now` (zero: send it now).
    pub(crate) fn delay(&mut self, now: Instant) -> Duration {
        self.refill(now);
        if self.budget >= 0.0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(-self.budget / self.rate_now())
    }

    /// Records a queued packet of `bytes` sent at `now`.
    pub(crate) fn sent(&mut self, now: Instant, bytes: usize) {
        self.refill(now);
        self.budget -= bytes as f64;
        self.queued = (self.queued - bytes as f64).max(0.0);
        if self.queued == 0.0 {
            self.drain = 0.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_goes_at_once_then_packets_leave_at_two_and_a_half_times_the_target() {
        let start = Instant::now();
        // 1 Mbit/s target: 2.5 Mbit/s paced = 312,500 B/s, a 12,500 B burst.
        let mut p = Pacer::new(start, 1_000_000);
        let mut now = start;
        let mut sent = 0usize;
        // A 100 kB keyframe in 1200-byte packets.
        for _ in 0..84 {
            now += p.delay(now);
            p.sent(now, 1200);
            sent += 1200;
        }
        let took = now.duration_since(start).as_secs_f64();
        let expected = (sent as f64 - 12_500.0) / 312_500.0;
        assert!(
            (took - expected).abs() < 0.01,
            "{took} s, expected {expected}"
        );
        // A packet goes while any budget is left: eleven of the 12.5 kB
        // burst leave at once, the twelfth waits.
        let mut q = Pacer::new(start, 1_000_000);
        for _ in 0..11 {
            assert_eq!(q.delay(start), Duration::ZERO);
            q.sent(start, 1200);
        }
        assert!(q.delay(start) > Duration::ZERO);
    }

    #[test]
    fn a_queue_beyond_the_pacing_rate_drains_within_the_limit() {
        let start = Instant::now();
        // 200 kbit/s floor (25 kB/s) but 100 kB queued: drained in ~1 s,
        // not 4 s, and never all at once.
        let mut p = Pacer::new(start, 0);
        for _ in 0..84 {
            p.queued(1200);
        }
        let mut now = start;
        let mut at_once = 0;
        for _ in 0..84 {
            let wait = p.delay(now);
            if wait.is_zero() {
                at_once += 1;
            }
            now += wait;
            p.sent(now, 1200);
        }
        let took = now.duration_since(start);
        assert!(
            took <= MAX_QUEUE_DELAY + Duration::from_millis(20),
            "{took:?}"
        );
        assert!(took >= Duration::from_millis(900), "{took:?}");
        assert!(at_once < 84 / 2, "{at_once} of 84 at once");
    }

    #[test]
    fn idle_time_refills_only_up_to_the_burst_and_the_rate_has_a_floor() {
        let start = Instant::now();
        let mut p = Pacer::new(start, 0);
        // Floor: 200 kbit/s = 25,000 B/s; burst = max(1000, 4800) = 4800 B.
        for _ in 0..4 {
            p.sent(start, 1200);
        }
        assert_eq!(p.delay(start), Duration::ZERO);
        p.sent(start, 1200);
        let wait = p.delay(start);
        assert!(
            (wait.as_secs_f64() - 1200.0 / 25_000.0).abs() < 1e-3,
            "{wait:?}"
        );
        let later = start + Duration::from_secs(10);
        for _ in 0..4 {
            p.sent(later, 1200);
        }
        p.sent(later, 1200);
        assert!(p.delay(later) > Duration::ZERO, "refilled past the burst");
    }
}
