//! Bounds what a player's NACKs make the SFU resend: each lost packet at
//! most [`MAX_RESENDS`] times, at least [`RESEND_GAP`] apart, while the
//! leg's packets queue; [`RANDOM_LOSS_RESENDS`] times, [`RANDOM_LOSS_GAP`]
//! apart, while they do not.
//!
//! The profile's NACK generator asks again for a missing packet every
//! 40 ms, up to 10 times. On a link whose small queue is full, every
//! resend is as likely to be dropped as the packet was, so answering each
//! ask multiplies the load on the very link that is losing: measured
//! through the relay, one loss burst on a 300 kbit/s link with an
//! 8-packet queue turned into ~500 packets/s sent to a player that
//! receives ~80. A link that loses at random, with no queue standing
//! (the leg's estimate says which, [`STANDING_QUEUE`]), is not made worse
//! by a resend, and each one failed costs the player a keyframe: at 20 %
//! loss each way one resend in three fails, so two leave 13 % of the
//! lost packets unrepaired and four 1.7 %. [`NackBudget`] strips the asks
//! over budget, as an [`RtcpStep`] wire-ward of the NACK responder on a
//! player leg.

use super::layer_switch::Estimate;
use super::rtcp_delivery::RtcpStep;
use super::temporal::STANDING_QUEUE;
use rtc::rtcp::transport_feedbacks::transport_layer_nack::{
    nack_pairs_from_sequence_numbers, TransportLayerNack,
};
use rtc::rtcp::Packet;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How often one lost packet may be resent while a queue stands.
pub(crate) const MAX_RESENDS: u8 = 2;
/// The least time between two resends of one packet while a queue stands.
pub(crate) const RESEND_GAP: Duration = Duration::from_millis(100);
/// How often one lost packet may be resent on a link losing at random.
pub(crate) const RANDOM_LOSS_RESENDS: u8 = 4;
/// The least time between two resends of one packet on such a link: four
/// fit in the player's 250 ms repair wait.
pub(crate) const RANDOM_LOSS_GAP: Duration = Duration::from_millis(60);
/// How long a packet's resends are remembered.
const REMEMBER: Duration = Duration::from_secs(2);
/// Above this many remembered packets, the old ones are forgotten.
const PRUNE_AT: usize = 4096;

/// Which asks for a resend to honour (per SSRC and sequence number).
#[derive(Debug, Default)]
pub(crate) struct NackBudget {
    /// Resends so far and the last one's time.
    resent: HashMap<(u32, u16), (u8, Instant)>,
    /// The leg's estimate (none: every link counts as queueing).
    estimate: Option<watch::Receiver<Option<Estimate>>>,
}

impl NackBudget {
    /// A budget following the leg's estimate.
    pub(crate) fn new(estimate: watch::Receiver<Option<Estimate>>) -> Self {
        NackBudget {
            resent: HashMap::new(),
            estimate: Some(estimate),
        }
    }

    /// The resends allowed per packet and their least spacing now.
    fn limits(&self) -> (u8, Duration) {
        let queued_ms = self
            .estimate
            .as_ref()
            .and_then(|e| e.borrow().map(|e| e.queue_delay_ms));
        match queued_ms {
            Some(ms) if u128::from(ms) < STANDING_QUEUE.as_millis() => {
                (RANDOM_LOSS_RESENDS, RANDOM_LOSS_GAP)
            }
            _ => (MAX_RESENDS, RESEND_GAP),
        }
    }

    /// Whether to resend packet `seq` of `ssrc` asked for at `now`.
    pub(crate) fn allow(&mut self, ssrc: u32, seq: u16, now: Instant) -> bool {
        let (max_resends, gap) = self.limits();
        if self.resent.len() > PRUNE_AT {
            self.resent
                .retain(|_, (_, at)| now.saturating_duration_since(*at) < REMEMBER);
        }
        match self.resent.get_mut(&(ssrc, seq)) {
            None => {
                self.resent.insert((ssrc, seq), (1, now));
                true
            }
            Some((count, at)) => {
                let stale = now.saturating_duration_since(*at) >= REMEMBER;
                if stale {
                    *count = 0;
                }
                let due = now.saturating_duration_since(*at) >= gap;
                if *count < max_resends && (due || stale) {
                    *count += 1;
                    *at = now;
                    true
                } else {
                    false
                }
            }
        }
    }

    /// The part of `nack` within budget at `now` (`None`: nothing).
    pub(crate) fn filter(
        &mut self,
        nack: &TransportLayerNack,
        now: Instant,
    ) -> Option<TransportLayerNack> {
        let allowed: Vec<u16> = nack
            .nacks
            .iter()
            .flat_map(|pair| pair.packet_list())
            .filter(|seq| self.allow(nack.media_ssrc, *seq, now))
            .collect();
        (!allowed.is_empty()).then(|| TransportLayerNack {
            nacks: nack_pairs_from_sequence_numbers(&allowed),
            ..nack.clone()
        })
    }
}

impl RtcpStep for NackBudget {
    const DELIVER: bool = false;

    fn keep(&mut self, packet: &dyn Packet, now: Instant) -> Option<Box<dyn Packet>> {
        match packet.as_any().downcast_ref::<TransportLayerNack>() {
            Some(nack) => self
                .filter(nack, now)
                .map(|n| Box::new(n) as Box<dyn Packet>),
            None => Some(packet.cloned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packet_is_resent_twice_at_most_and_not_twice_within_100_ms() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut b = NackBudget::default();
        assert!(b.allow(1, 10, t0));
        assert!(!b.allow(1, 10, at(40)));
        assert!(b.allow(1, 10, at(100)));
        assert!(!b.allow(1, 10, at(300)));
        // Another packet, another SSRC: their own budgets.
        assert!(b.allow(1, 11, at(300)));
        assert!(b.allow(2, 10, at(300)));
        // Long after, the number may be a new packet (wrapped): again.
        assert!(b.allow(1, 10, at(2200)));
    }

    #[test]
    fn a_link_losing_at_random_gets_more_resends() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let estimate = |queue_delay_ms| Estimate {
            target_bps: 500_000,
            acked_bps: 400_000,
            lost_permille: 200,
            queue_delay_ms,
        };
        let (tx, rx) = watch::channel(Some(estimate(5)));
        let mut b = NackBudget::new(rx);
        let allowed =
            |b: &mut NackBudget, seq| (0..8).filter(|i| b.allow(1, seq, at(i * 40))).count();
        assert_eq!(allowed(&mut b, 10), 4);
        // A standing queue: the tight budget.
        tx.send_replace(Some(estimate(200)));
        assert_eq!(allowed(&mut b, 11), 2);
    }

    #[test]
    fn a_nack_keeps_only_what_is_within_budget() {
        let t0 = Instant::now();
        let mut b = NackBudget::default();
        let nack = TransportLayerNack {
            sender_ssrc: 9,
            media_ssrc: 1,
            nacks: nack_pairs_from_sequence_numbers(&[5, 6, 7]),
        };
        assert!(b.allow(1, 6, t0));
        let kept = b.filter(&nack, t0).expect("5 and 7");
        assert_eq!(kept.nacks, nack_pairs_from_sequence_numbers(&[5, 7]));
        assert_eq!((kept.sender_ssrc, kept.media_ssrc), (9, 1));
        assert_eq!(b.filter(&nack, t0 + Duration::from_millis(50)), None);
        let again = b
            .filter(&nack, t0 + Duration::from_millis(100))
            .expect("all three");
        assert_eq!(again.nacks, nack_pairs_from_sequence_numbers(&[5, 6, 7]));
        // Each was resent twice now: nothing more.
        assert_eq!(b.filter(&nack, t0 + Duration::from_millis(500)), None);
    }
}
