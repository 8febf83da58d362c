//! Random loss or congestion: which kind of loss a sender's transport-wide
//! feedback shows (sans-IO: every call carries its `now`).
//!
//! The classic rule, as in libwebrtc's LossBasedBweV2: a link short of
//! capacity queues before it drops (a drop-tail queue fills, and only then
//! overflows), so loss while the packets queue is congestion and must cut
//! the rate. Loss while nothing queues (the packets arrive as late as the
//! path's own delay) is random loss: the link has room, it damages packets
//! on the way, and NACKs repair them. Cutting the rate for it gives up
//! capacity for nothing: at 20 % random loss each way GCC's loss half
//! held a player leg at its 100 kbit/s floor, and the leg at 180p.
//!
//! A feedback's losses count as random only when neither it nor any
//! feedback of the last [`QUEUE_MEMORY`] showed a [`STANDING_QUEUE`] or
//! arrivals slower than their departures (the acknowledged rate below the
//! send rate: a queue that stood from the start, so that the path's delay
//! was never seen without it), and feedback has been coming for that
//! long.
//! A link that queues is congested for a while after its queue drained:
//! the packets an overflowing queue dropped are reported with the drained
//! ones.
//!
//! ```
//! use rtc_profile::loss_kind::{LossKind, QUEUE_MEMORY, STANDING_QUEUE};
//! use std::time::{Duration, Instant};
//!
//! let t0 = Instant::now();
//! let mut kind = LossKind::default();
//! assert!(!kind.on_feedback(t0, Duration::ZERO, true), "the path is not known yet");
//! assert!(kind.on_feedback(t0 + QUEUE_MEMORY, Duration::ZERO, true));
//! let later = t0 + QUEUE_MEMORY * 2;
//! assert!(!kind.on_feedback(later, STANDING_QUEUE, true), "a queue: congestion");
//! ```

use std::time::{Duration, Instant};

/// Packets that arrive this much later than the path's delay, or more,
/// queue behind each other: the link is full.
pub const STANDING_QUEUE: Duration = Duration::from_millis(30);
/// How long a standing queue (or the first feedback) makes the losses
/// count as congestion.
pub const QUEUE_MEMORY: Duration = Duration::from_secs(1);

/// Tells random loss from congestion loss, feedback by feedback.
#[derive(Debug, Clone, Default)]
pub struct LossKind {
    /// The first feedback.
    first: Option<Instant>,
    /// The last feedback that showed a standing queue.
    queued: Option<Instant>,
}

impl LossKind {
    /// One feedback at `now`, whose packets arrived `queue_delay` later
    /// than the path's delay (`keeping_pace`: the receiver got them as
    /// fast as they were sent): whether its losses are random.
    pub fn on_feedback(&mut self, now: Instant, queue_delay: Duration, keeping_pace: bool) -> bool {
        let first = *self.first.get_or_insert(now);
        if queue_delay >= STANDING_QUEUE || !keeping_pace {
            self.queued = Some(now);
        }
        let since = self.queued.map_or(first, |q| q.max(first));
        now.saturating_duration_since(since) >= QUEUE_MEMORY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_is_random_only_a_second_after_the_last_standing_queue() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut kind = LossKind::default();
        // The first second: the path's delay is still being learnt.
        assert!(!kind.on_feedback(ms(0), Duration::ZERO, true));
        assert!(!kind.on_feedback(ms(900), Duration::from_millis(29), true));
        assert!(kind.on_feedback(ms(1000), Duration::from_millis(29), true));
        // A queue: congestion at once, and for a second after it drained.
        assert!(!kind.on_feedback(ms(1100), STANDING_QUEUE, true));
        assert!(!kind.on_feedback(ms(1200), Duration::ZERO, true));
        assert!(!kind.on_feedback(ms(2099), Duration::ZERO, true));
        assert!(kind.on_feedback(ms(2100), Duration::ZERO, true));
        // Arrivals slower than the sends: congestion too.
        assert!(!kind.on_feedback(ms(2200), Duration::ZERO, false));
        assert!(!kind.on_feedback(ms(3199), Duration::ZERO, true));
        assert!(kind.on_feedback(ms(3200), Duration::ZERO, true));
    }
}
