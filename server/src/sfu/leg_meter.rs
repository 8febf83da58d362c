//! A player leg's media figures as they cross the wire, for `/metrics`
//! ([`StreamMeter`]): the NACKs its player sends (all of them, before the
//! leg's [`NackBudget`](super::nack_throttle::NackBudget) strips any), the
//! packets resent to it (a sequence number written a second time: the SFU
//! resends under the original SSRC and number, without RTX), and the
//! leg's round-trip time.
//!
//! The SFU sends no sender reports of its own, but it relays each
//! publisher's on every player leg, and the player's receiver reports
//! answer them (RFC 3550 6.4.1: the middle 32 bits of the report's NTP
//! time, and how long the player held it). Remembering when each relayed
//! report left gives the round trip: its arrival, less when the report
//! left, less the player's hold. A publisher leg's round trip is not
//! measured: the SFU sends it no sender reports, and no extended reports
//! are negotiated.

use super::nack_throttle::WrittenLog;
use super::rtcp_delivery::RtcpStep;
use crate::metrics::media::StreamMeter;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::reception_report::ReceptionReport;
use rtc::rtcp::sender_report::SenderReport;
use rtc::rtcp::transport_feedbacks::transport_layer_nack::TransportLayerNack;
use rtc::rtcp::Packet;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// How many relayed sender reports are remembered (over every SSRC of the
/// leg): a player answers the latest it got, one per second or so.
const REMEMBERED: usize = 16;

/// Counts a player leg's NACKs and resends and measures its round trip.
pub(crate) struct LegMeter {
    meter: StreamMeter,
    written: HashMap<u32, WrittenLog>,
    /// Relayed sender reports: SSRC, middle 32 bits of the NTP time, sent.
    reports: VecDeque<(u32, u32, Instant)>,
}

impl LegMeter {
    /// A leg counting into `meter`.
    pub(crate) fn new(meter: StreamMeter) -> Self {
        LegMeter {
            meter,
            written: HashMap::new(),
            reports: VecDeque::new(),
        }
    }

    /// The round trip a report block measures, arriving at `now`: `None`
    /// for a block answering no report this leg remembers.
    fn round_trip(&self, block: &ReceptionReport, now: Instant) -> Option<Duration> {
        if block.last_sender_report == 0 {
            return None;
        }
        let (_, _, sent) = self
            .reports
            .iter()
            .rev()
            .find(|(ssrc, ntp, _)| *ssrc == block.ssrc && *ntp == block.last_sender_report)?;
        let held = Duration::from_secs_f64(f64::from(block.delay) / 65536.0);
        now.checked_duration_since(*sent)?.checked_sub(held)
    }
}

impl RtcpStep for LegMeter {
    const DELIVER: bool = false;

    fn keep(&mut self, packet: &dyn Packet, now: Instant) -> Option<Box<dyn Packet>> {
        let any = packet.as_any();
        if any.is::<TransportLayerNack>() {
            self.meter.nack();
        } else if let Some(rr) = any.downcast_ref::<ReceiverReport>() {
            for block in &rr.reports {
                if let Some(rtt) = self.round_trip(block, now) {
                    self.meter.rtt(rtt);
                }
            }
        }
        Some(packet.cloned())
    }

    fn written(&mut self, ssrc: u32, sequence: u16) {
        let log = self.written.entry(ssrc).or_default();
        if log.has(sequence) {
            self.meter.retransmitted();
        }
        log.mark(sequence);
    }

    fn sent_rtcp(&mut self, packet: &dyn Packet, now: Instant) {
        if let Some(sr) = packet.as_any().downcast_ref::<SenderReport>() {
            if self.reports.len() == REMEMBERED {
                self.reports.pop_front();
            }
            // The middle 32 bits, as the receiver echoes them.
            let ntp = (sr.ntp_time >> 16) as u32;
            self.reports.push_back((sr.ssrc, ntp, now));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::media::MediaMeter;
    use crate::metrics::HistogramFamily;
    use crate::sfu::StreamKey;
    use std::sync::atomic::Ordering;
    use std::sync::Arc;

    #[test]
    fn counts_nacks_and_resends_and_measures_the_round_trip_of_relayed_reports() {
        let media = MediaMeter::new(1);
        let stream = StreamKey {
            app_id: 1,
            stream_id: "s".into(),
        };
        let mut leg = LegMeter::new(media.stream(&stream));
        let t0 = Instant::now();
        for seq in [1, 2, 3] {
            leg.written(7, seq);
        }
        let nack = TransportLayerNack {
            media_ssrc: 7,
            ..TransportLayerNack::default()
        };
        assert!(leg.keep(&nack, t0).is_some(), "the NACK goes on");
        leg.written(7, 2);
        let sr = SenderReport {
            ssrc: 7,
            ntp_time: 0x0000_1234_5678_0000,
            ..SenderReport::default()
        };
        leg.sent_rtcp(&sr, t0);
        let answer = |last_sender_report, delay| ReceiverReport {
            reports: vec![ReceptionReport {
                ssrc: 7,
                last_sender_report,
                delay,
                ..ReceptionReport::default()
            }],
            ..ReceiverReport::default()
        };
        // Held 0.5 s (32768/65536), back 0.58 s after it left: 80 ms.
        leg.keep(
            &answer(0x1234_5678, 32_768),
            t0 + Duration::from_millis(580),
        );
        // A report the leg did not relay, and one never received: nothing.
        leg.keep(&answer(0x1111_1111, 0), t0 + Duration::from_millis(600));
        leg.keep(&answer(0, 0), t0 + Duration::from_millis(600));
        let node = media.node();
        assert_eq!(node.nacks.load(Ordering::Relaxed), 1);
        assert_eq!(node.retransmissions.load(Ordering::Relaxed), 1);
        assert_eq!(node.packets.load(Ordering::Relaxed), 0, "counted elsewhere");
        let rtt = HistogramFamily {
            scopes: Arc::from([(Vec::new(), Arc::clone(node))]),
            field: |t| &t.rtt,
        };
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register("rtt", "", rtt);
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &registry).expect("text");
        assert!(text.contains("rtt_count 1\n"), "{text}");
        assert!(text.contains("rtt_bucket{le=\"0.05\"} 0\n"), "{text}");
        assert!(text.contains("rtt_bucket{le=\"0.1\"} 1\n"), "{text}");
    }
}
