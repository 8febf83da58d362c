//! Bounds what a player's NACKs make the SFU resend: each lost packet at
//! most [`MAX_RESENDS`] times, at least [`RESEND_GAP`] apart, while the
//! leg's packets queue; [`RANDOM_LOSS_RESENDS`] times, [`RANDOM_LOSS_GAP`]
//! apart (every ask), while they do not. Only asks for a packet the leg
//! has written count: one the SFU has not received yet (lost on the
//! publisher's leg, its repair still under way) cannot be resent, and
//! counting those asks left nothing of the budget for when it came and
//! was lost again on the player's leg.
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
//! loss each way an ask and its resend get through 64 % of the time, so
//! two leave 13 % of the lost packets unrepaired, four 1.7 % and six
//! 0.2 %. There, every resend goes out twice (as the profile's
//! responder does, [`rtc_profile::nack_copies`]): a round then repairs
//! 92 % of the time instead of 77 %. Traced at a player at 20 % loss each
//! way, every freeze was one packet that needed 6-8 rounds while only the
//! first resend was doubled. [`NackBudget`] strips the asks over budget, as an [`RtcpStep`]
//! wire-ward of the NACK responder on a player leg (it sees what the leg
//! writes, resends included).
//!
//! A path whose delay steps up reads as a standing queue until the
//! estimate takes the new delay for the path's: once it has held flat
//! without loss for [`rtc_profile::link_rate::REBASE_SPAN`] (1.5 s), or
//! with loss once the shorter delay is forgotten
//! ([`rtc_profile::link_rate::BASE_HOLD`], 10 s): the tight budget until
//! then. The network bench once switched its 50 ms on together with 20 %
//! loss, and every frame lost for good came in those first seconds.

use super::layer_switch::Estimate;
use super::rtcp_delivery::RtcpStep;
use super::temporal::STANDING_QUEUE;
use rtc::rtcp::transport_feedbacks::transport_layer_nack::{
    nack_pairs_from_sequence_numbers, NackPair, TransportLayerNack,
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
pub(crate) const RANDOM_LOSS_RESENDS: u8 = 6;
/// The least time between two resends of one packet on such a link: the
/// generator's asks are 40 ms apart, so every one that arrives is
/// answered (an ask lost costs no resend).
pub(crate) const RANDOM_LOSS_GAP: Duration = Duration::from_millis(30);
/// How long a packet's resends are remembered.
const REMEMBER: Duration = Duration::from_secs(2);
/// Above this many remembered packets, the old ones are forgotten.
const PRUNE_AT: usize = 4096;
/// How many of the latest sequence numbers a [`WrittenLog`] covers (a
/// divisor of 65536, so a number keeps its bit across the wrap).
const WRITTEN_SPAN: u16 = 1024;

/// Which asks for a resend to honour (per SSRC and sequence number).
#[derive(Debug, Default)]
pub(crate) struct NackBudget {
    /// Resends so far and the last one's time.
    resent: HashMap<(u32, u16), (u8, Instant)>,
    /// The leg's estimate (none: every link counts as queueing).
    estimate: Option<watch::Receiver<Option<Estimate>>>,
    /// What the leg wrote lately, per SSRC.
    written: HashMap<u32, WrittenLog>,
}

impl NackBudget {
    /// A budget following the leg's estimate.
    pub(crate) fn new(estimate: watch::Receiver<Option<Estimate>>) -> Self {
        NackBudget {
            resent: HashMap::new(),
            estimate: Some(estimate),
            written: HashMap::new(),
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

    /// Whether to resend packet `seq` of `ssrc` asked for at `now`: not
    /// if the leg has written packets of `ssrc` but not this one (the ask
    /// does not count then).
    pub(crate) fn allow(&mut self, ssrc: u32, seq: u16, now: Instant) -> bool {
        if self.written.get(&ssrc).is_some_and(|log| !log.has(seq)) {
            return false;
        }
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
        // On a link losing at random, every resend goes twice.
        let twice: Vec<NackPair> = if self.limits().0 == RANDOM_LOSS_RESENDS {
            allowed
                .iter()
                .map(|&packet_id| NackPair {
                    packet_id,
                    lost_packets: 0,
                })
                .collect()
        } else {
            Vec::new()
        };
        (!allowed.is_empty()).then(|| {
            let mut nacks = nack_pairs_from_sequence_numbers(&allowed);
            nacks.extend(twice);
            TransportLayerNack {
                nacks,
                ..nack.clone()
            }
        })
    }
}

impl RtcpStep for NackBudget {
    const DELIVER: bool = false;

    fn written(&mut self, ssrc: u32, sequence: u16) {
        self.written.entry(ssrc).or_default().mark(sequence);
    }

    fn keep(&mut self, packet: &dyn Packet, now: Instant) -> Option<Box<dyn Packet>> {
        match packet.as_any().downcast_ref::<TransportLayerNack>() {
            Some(nack) => self
                .filter(nack, now)
                .map(|n| Box::new(n) as Box<dyn Packet>),
            None => Some(packet.cloned()),
        }
    }
}

/// The sequence numbers among the latest [`WRITTEN_SPAN`] of one SSRC
/// that were written.
#[derive(Debug, Default)]
pub(crate) struct WrittenLog {
    /// The newest number written.
    highest: Option<u16>,
    /// One bit per number, at `number % WRITTEN_SPAN`.
    bits: [u64; WRITTEN_SPAN as usize / 64],
}

impl WrittenLog {
    /// `seq` was written (numbers skipped on the way to a newer one were
    /// not, yet).
    pub(crate) fn mark(&mut self, seq: u16) {
        if let Some(highest) = self.highest {
            let ahead = seq.wrapping_sub(highest);
            if ahead >= 0x8000 {
                // Older: recorded if still within the span.
                if highest.wrapping_sub(seq) >= WRITTEN_SPAN {
                    return;
                }
            } else {
                if ahead >= WRITTEN_SPAN {
                    self.bits = Default::default();
                } else {
                    for skipped in 1..ahead {
                        self.set(highest.wrapping_add(skipped), false);
                    }
                }
                self.highest = Some(seq);
            }
        } else {
            self.highest = Some(seq);
        }
        self.set(seq, true);
    }

    /// Whether `seq` was written (as far as the span reaches back).
    pub(crate) fn has(&self, seq: u16) -> bool {
        let Some(highest) = self.highest else {
            return false;
        };
        let (word, bit) = Self::slot(seq);
        highest.wrapping_sub(seq) < WRITTEN_SPAN && self.bits[word] & (1 << bit) != 0
    }

    fn set(&mut self, seq: u16, on: bool) {
        let (word, bit) = Self::slot(seq);
        if on {
            self.bits[word] |= 1 << bit;
        } else {
            self.bits[word] &= !(1 << bit);
        }
    }

    fn slot(seq: u16) -> (usize, u32) {
        let at = seq % WRITTEN_SPAN;
        (usize::from(at / 64), u32::from(at % 64))
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

    /// A leg's estimate at 20 % loss with `queue_delay_ms` of queue.
    fn estimate(queue_delay_ms: u32) -> Estimate {
        Estimate {
            target_bps: 500_000,
            acked_bps: 400_000,
            lost_permille: 200,
            queue_delay_ms,
            random_loss: false,
        }
    }

    #[test]
    fn a_link_losing_at_random_gets_more_resends() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let (tx, rx) = watch::channel(Some(estimate(5)));
        let mut b = NackBudget::new(rx);
        let allowed =
            |b: &mut NackBudget, seq| (0..8).filter(|i| b.allow(1, seq, at(i * 40))).count();
        assert_eq!(allowed(&mut b, 10), usize::from(RANDOM_LOSS_RESENDS));
        // A standing queue: the tight budget.
        tx.send_replace(Some(estimate(200)));
        assert_eq!(allowed(&mut b, 11), 2);
    }

    #[test]
    fn on_a_link_losing_at_random_every_resend_goes_twice() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let (tx, rx) = watch::channel(Some(estimate(5)));
        let mut b = NackBudget::new(rx);
        // The profile's responder passes an ask on with the number
        // twice; the budget decides the copies.
        let nack = |seqs: &[u16]| TransportLayerNack {
            sender_ssrc: 9,
            media_ssrc: 1,
            nacks: nack_pairs_from_sequence_numbers(seqs)
                .into_iter()
                .chain(seqs.iter().map(|&packet_id| NackPair {
                    packet_id,
                    lost_packets: 0,
                }))
                .collect(),
        };
        let resent = |n: Option<TransportLayerNack>| -> Vec<u16> {
            n.map_or_else(Vec::new, |n| {
                n.nacks.iter().flat_map(|p| p.packet_list()).collect()
            })
        };
        assert_eq!(resent(b.filter(&nack(&[5, 6]), t0)), vec![5, 6, 5, 6]);
        // The next ask: twice again.
        assert_eq!(resent(b.filter(&nack(&[5]), at(40))), vec![5, 5]);
        // With a queue standing, once.
        tx.send_replace(Some(estimate(200)));
        assert_eq!(resent(b.filter(&nack(&[7]), at(40))), vec![7]);
    }

    #[test]
    fn twenty_percent_random_loss_keeps_the_random_loss_budget() {
        use super::super::estimate::LegEstimator;
        use rtc::interceptor::BandwidthEstimator;
        use rtc_profile::link_rate::synthetic_reports;
        // A player leg losing every fifth packet at random, no queue:
        // 2 s of feedback every 100 ms on 25 packets sent 4 ms apart.
        let t0 = Instant::now();
        let (tx, rx) = watch::channel(None);
        let mut leg = LegEstimator::new(1_000_000.0, tx);
        for round in 0..20u64 {
            let sent = t0 + Duration::from_millis(100 * round);
            let reports: Vec<_> = synthetic_reports(sent, 25, 4, 4, |i| i % 5 == 2)
                .into_iter()
                .map(|mut r| {
                    r.id += 25 * round;
                    r.twcc_sequence_number = r.id as u16;
                    r.rtp_sequence_number = r.id as u16;
                    r.arrival = r.arrival.map(|a| a + Duration::from_millis(100 * round));
                    r
                })
                .collect();
            leg.on_reports(sent + Duration::from_millis(105), &reports);
        }
        let estimate = rx.borrow().expect("an estimate");
        assert!(
            (150..=250).contains(&estimate.lost_permille),
            "{estimate:?}"
        );
        // Each lost packet may be asked for and resent six times.
        let mut budget = NackBudget::new(rx);
        let now = t0 + Duration::from_secs(2);
        let resent = (0..10)
            .filter(|i| budget.allow(1, 7, now + Duration::from_millis(i * 40)))
            .count();
        assert_eq!(resent, usize::from(RANDOM_LOSS_RESENDS), "{estimate:?}");
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

    #[test]
    fn asks_for_a_packet_not_written_yet_cost_nothing() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut b = NackBudget::default();
        // 10 went out, 11 has not come from the publisher yet, 12 went out.
        b.written(1, 10);
        b.written(1, 12);
        for ms in [0, 100, 200, 300] {
            assert!(!b.allow(1, 11, at(ms)), "nothing to resend");
        }
        // Its repair arrives and is forwarded (and lost again): the whole
        // budget is left.
        b.written(1, 11);
        assert!(b.allow(1, 11, at(400)));
        assert!(b.allow(1, 11, at(500)));
        assert!(!b.allow(1, 11, at(600)));
        // Another SSRC whose writes were never seen keeps the plain budget.
        assert!(b.allow(2, 11, at(600)));
    }

    #[test]
    fn the_written_log_follows_the_numbers_across_the_wrap() {
        let mut log = WrittenLog::default();
        assert!(!log.has(0));
        let span: Vec<u16> = (65_000u16..=65_535).chain(0..100).collect();
        for &seq in span.iter().filter(|s| *s % 7 != 0) {
            log.mark(seq);
        }
        assert!(span.iter().all(|&s| log.has(s) == (s % 7 != 0)));
        // A late one (repaired upstream) is recorded.
        log.mark(98);
        assert!(log.has(98));
        // Beyond the span, nothing is known or recorded.
        let old = 99u16.wrapping_sub(WRITTEN_SPAN);
        log.mark(old);
        assert!(!log.has(old));
        // A jump forward forgets what it skipped, a long one everything.
        log.mark(200);
        assert!(!log.has(150) && log.has(99));
        log.mark(200 + WRITTEN_SPAN + 10);
        assert!(!log.has(200 + WRITTEN_SPAN) && !log.has(200 + WRITTEN_SPAN + 9));
        assert!(log.has(200 + WRITTEN_SPAN + 10));
    }
}
