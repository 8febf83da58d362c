//! RED on a congested player leg (sans-IO): the redundant audio blocks a
//! leg whose packets queue gets are cut to what a fifth of its
//! acknowledged rate holds (the publisher's own rule for its congested
//! uplink, `media-core`'s `red_level`).
//!
//! The publisher sizes RED by the worst player's loss. A player behind a
//! small link loses packets because the link is full, and that loss makes
//! the publisher send up to three redundant copies of every Opus frame:
//! measured through the relay at 300 kbit/s (8-packet drop-tail queue),
//! the leg then carried its 165 kbit/s 180p layer plus ~150 kbit/s of
//! audio, more than the link, and lost 5-50 % of its packets for as long
//! as the call lasted (every loss a retransmission or a keyframe request,
//! which fill it further). Redundancy does not repair congestion loss, it
//! feeds it; on a link losing at random (no standing queue, the test the
//! NACK budget uses) every copy is kept.
//!
//! A leg counts as congested while its estimate shows a standing queue
//! ([`STANDING_QUEUE`]) and for [`HOLD`] after (its queue drains as soon as
//! it sends less, and the redundancy would refill it).

use super::layer_switch::Estimate;
use super::temporal::STANDING_QUEUE;
use bytes::Bytes;
use rtc_profile::red;
use std::time::{Duration, Instant};

/// How long a leg counts as congested after its queue last stood.
pub(crate) const HOLD: Duration = Duration::from_secs(10);
/// What an audio packet costs on the wire beside its payload, bytes
/// (IPv4 20, UDP 8, RTP 12, SRTP tag 10).
const PACKET_OVERHEAD: usize = 50;
/// Audio packets a second (20 ms frames).
const PACKETS_PER_S: f64 = 50.0;

/// One leg's RED trimming.
#[derive(Debug, Default)]
pub(crate) struct RedTrim {
    /// Until when the leg counts as congested.
    congested_until: Option<Instant>,
}

impl RedTrim {
    /// The largest RED payload (bytes) the leg's audio may send now, `None`
    /// for no limit (no estimate, or a leg without a standing queue).
    pub(crate) fn budget(&mut self, estimate: Option<Estimate>, now: Instant) -> Option<usize> {
        let estimate = estimate?;
        if u128::from(estimate.queue_delay_ms) >= STANDING_QUEUE.as_millis() {
            self.congested_until = Some(now + HOLD);
        }
        if self.congested_until.is_none_or(|t| now >= t) {
            return None;
        }
        let per_packet =
            estimate.acked_bps as f64 * red::CONGESTED_AUDIO_SHARE / 8.0 / PACKETS_PER_S;
        Some((per_packet as usize).saturating_sub(PACKET_OVERHEAD))
    }
}

/// `payload` (RED) with its oldest redundant blocks left out until it fits
/// `budget` bytes (the primary block always stays); `None` when it fits
/// already or does not parse (it is sent as it is).
pub(crate) fn trim(payload: &Bytes, budget: usize) -> Option<Bytes> {
    if payload.len() <= budget {
        return None;
    }
    let parsed = red::parse(payload).ok()?;
    if parsed.redundant.is_empty() {
        return None;
    }
    let mut size = 1 + parsed.primary.data.len();
    // The newest redundant blocks (last in the list) are kept first: a
    // short loss burst is repaired by them.
    let kept = parsed
        .redundant
        .iter()
        .rev()
        .take_while(|b| {
            size += 4 + b.data.len();
            size <= budget
        })
        .count();
    let from = parsed.redundant.len() - kept;
    let built = red::build(
        parsed.primary.payload_type,
        parsed.primary.data,
        &parsed.redundant[from..],
    )
    .ok()?;
    Some(Bytes::from(built))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc_profile::red::RedBlock;

    fn estimate(acked_kbps: u64, queue_delay_ms: u32) -> Estimate {
        Estimate {
            target_bps: 100_000,
            acked_bps: acked_kbps * 1000,
            lost_permille: 200,
            queue_delay_ms,
            random_loss: false,
        }
    }

    #[test]
    fn a_leg_whose_packets_queue_gets_a_fifth_of_its_rate_for_audio() {
        let t0 = Instant::now();
        let mut t = RedTrim::default();
        assert_eq!(t.budget(None, t0), None);
        // Losing at random, no queue: no limit.
        assert_eq!(t.budget(Some(estimate(300, 5)), t0), None);
        // A queue stands: 300 kbit/s / 5 = 150 bytes a packet, 100 of payload.
        assert_eq!(t.budget(Some(estimate(300, 60)), t0), Some(100));
        // Still so while the queue drains, until the hold is over.
        let later = t0 + HOLD - Duration::from_millis(1);
        assert_eq!(t.budget(Some(estimate(300, 0)), later), Some(100));
        assert_eq!(t.budget(Some(estimate(300, 0)), t0 + HOLD), None);
    }

    #[test]
    fn the_oldest_copies_go_first_and_the_primary_stays() {
        let block = |offset, data| RedBlock {
            payload_type: 111,
            timestamp_offset: offset,
            data,
        };
        let copies = [
            block(2880, &[3u8; 80][..]),
            block(1920, &[2u8; 80][..]),
            block(960, &[1u8; 80][..]),
        ];
        let full = Bytes::from(red::build(111, &[0u8; 80], &copies).expect("builds"));
        assert_eq!(full.len(), 1 + 80 + 3 * 84);
        assert_eq!(trim(&full, 1000), None, "fits");
        // Room for the primary and one copy: the newest.
        let one = trim(&full, 1 + 80 + 84 + 10).expect("trimmed");
        let parsed = red::parse(&one).expect("parses");
        assert_eq!(parsed.redundant, vec![copies[2]]);
        assert_eq!(parsed.primary.data, &[0u8; 80][..]);
        // No room for a copy: the primary alone, still RED.
        let none = trim(&full, 100).expect("trimmed");
        let parsed = red::parse(&none).expect("parses");
        assert!(parsed.redundant.is_empty());
        assert_eq!(parsed.primary.data, &[0u8; 80][..]);
        // Not RED: sent as it is.
        assert_eq!(trim(&Bytes::from_static(&[0xff; 200]), 10), None);
    }
}
