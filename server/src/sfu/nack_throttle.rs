//! Bounds what a player's NACKs make the SFU resend: each lost packet at
//! most [`MAX_RESENDS`] times, at least [`RESEND_GAP`] apart.
//!
//! The profile's NACK generator asks again for a missing packet every
//! 40 ms, up to 10 times. On a link whose small queue is full, every
//! resend is as likely to be dropped as the packet was, so answering each
//! ask multiplies the load on the very link that is losing: measured
//! through the relay, one loss burst on a 300 kbit/s link with an
//! 8-packet queue turned into ~500 packets/s sent to a player that
//! receives ~80. This interceptor sits wire-ward of the NACK responder on
//! a player leg and strips the asks over budget (sans-IO core:
//! [`NackBudget`]).

use rtc::interceptor::{Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::transport_feedbacks::transport_layer_nack::{
    nack_pairs_from_sequence_numbers, TransportLayerNack,
};
use rtc::sansio::Protocol;
use rtc::shared::error::Error;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// How often one lost packet may be resent.
pub(crate) const MAX_RESENDS: u8 = 2;
/// The least time between two resends of one packet.
pub(crate) const RESEND_GAP: Duration = Duration::from_millis(100);
/// How long a packet's resends are remembered.
const REMEMBER: Duration = Duration::from_secs(2);
/// Above this many remembered packets, the old ones are forgotten.
const PRUNE_AT: usize = 4096;

/// Which asks for a resend to honour (per SSRC and sequence number).
#[derive(Debug, Default)]
pub(crate) struct NackBudget {
    /// Resends so far and the last one's time.
    resent: HashMap<(u32, u16), (u8, Instant)>,
}

impl NackBudget {
    /// Whether to resend packet `seq` of `ssrc` asked for at `now`.
    pub(crate) fn allow(&mut self, ssrc: u32, seq: u16, now: Instant) -> bool {
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
                let due = now.saturating_duration_since(*at) >= RESEND_GAP;
                if *count < MAX_RESENDS && (due || stale) {
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

/// The interceptor around a [`NackBudget`].
#[derive(Default)]
pub(crate) struct NackThrottle {
    budget: NackBudget,
    read: VecDeque<TaggedPacket>,
    write: VecDeque<TaggedPacket>,
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for NackThrottle {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            let has_nack = packets
                .iter()
                .any(|p| p.as_any().is::<TransportLayerNack>());
            if has_nack {
                let now = msg.now;
                let kept: Vec<Box<dyn rtc::rtcp::Packet>> = packets
                    .iter()
                    .filter_map(|p| match p.as_any().downcast_ref::<TransportLayerNack>() {
                        Some(nack) => self
                            .budget
                            .filter(nack, now)
                            .map(|n| Box::new(n) as Box<dyn rtc::rtcp::Packet>),
                        None => Some(p.clone()),
                    })
                    .collect();
                if kept.is_empty() {
                    return Ok(());
                }
                msg.message.packet = Packet::Rtcp(kept);
            }
        }
        self.read.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.read.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Error> {
        self.write.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.write.pop_front()
    }
}

impl Interceptor for NackThrottle {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
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
