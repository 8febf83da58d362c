//! An interceptor that watches RTCP for the transport: sender reports (for
//! RTP -> wall-clock mapping), receiver reports (RTT, loss, jitter), the
//! congestion controller's target bitrate and REMB, keyframe requests, and
//! the NACKs/PLIs this side sends. It changes nothing: inbound RTCP still
//! stops at the end of the chain.

use crate::codec::red_level::LossReports;
use rtc::interceptor::{Attribute, Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::payload_feedbacks::receiver_estimated_maximum_bitrate::ReceiverEstimatedMaximumBitrate;
use rtc::rtcp::raw_packet::RawPacket;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::reception_report::ReceptionReport;
use rtc::rtcp::sender_report::SenderReport;
use rtc::rtcp::transport_feedbacks::transport_layer_cc::TransportLayerCc;
use rtc::rtcp::transport_feedbacks::transport_layer_nack::TransportLayerNack;
use rtc::sansio::Protocol;
use rtc::shared::error::Error;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

/// What the tap reports as it happens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum TapEvent {
    /// The remote asked for a keyframe (PLI or FIR) of the stream sent
    /// with `media_ssrc`.
    KeyframeRequested {
        /// The SSRC the request is about.
        media_ssrc: u32,
    },
    /// A new bandwidth estimate, bits per second (GCC over TWCC, or REMB).
    TargetBitrate(u64),
}

/// One sender report: an RTP timestamp and the sender's wall clock then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SenderClock {
    /// NTP timestamp (64-bit fixed point).
    pub(crate) ntp: u64,
    /// RTP timestamp at `ntp`.
    pub(crate) rtp: u32,
}

impl SenderClock {
    /// The sender's wall clock (Unix microseconds) at `rtp_timestamp`.
    pub(crate) fn unix_us_at(&self, rtp_timestamp: u32, clock_rate: u32) -> Option<u64> {
        if clock_rate == 0 {
            return None;
        }
        let base = ntp_to_unix_us(self.ntp)?;
        let ticks = i64::from(rtp_timestamp.wrapping_sub(self.rtp) as i32);
        let offset = ticks * 1_000_000 / i64::from(clock_rate);
        base.checked_add_signed(offset)
    }
}

/// Everything the tap has seen so far.
#[derive(Debug, Default, Clone)]
pub(crate) struct TapState {
    pub(crate) sender_clocks: HashMap<u32, SenderClock>,
    pub(crate) rtt: Option<Duration>,
    pub(crate) fraction_lost: Option<f64>,
    /// Interarrival jitter the remote reported per sent SSRC, in RTP ticks.
    pub(crate) remote_jitter_ticks: HashMap<u32, u32>,
    pub(crate) target_bitrate: Option<u64>,
    pub(crate) keyframe_requests_received: u64,
    pub(crate) nacks_received: u64,
    pub(crate) keyframe_requests_sent: u64,
    /// What the remote said about loss, for the audio redundancy.
    pub(crate) loss: LossReports,
}

/// The state shared between the interceptor (inside the connection's driver)
/// and the transport.
#[derive(Debug)]
pub(crate) struct Tap {
    state: Mutex<TapState>,
    events: mpsc::UnboundedSender<TapEvent>,
}

impl Tap {
    /// A tap reporting on `events`.
    pub(crate) fn new(events: mpsc::UnboundedSender<TapEvent>) -> Arc<Self> {
        Arc::new(Tap {
            state: Mutex::new(TapState::default()),
            events,
        })
    }

    /// A copy of what was seen.
    pub(crate) fn snapshot(&self) -> TapState {
        self.lock().clone()
    }

    /// The latest sender report of `ssrc`.
    pub(crate) fn sender_clock(&self, ssrc: u32) -> Option<SenderClock> {
        self.lock().sender_clocks.get(&ssrc).copied()
    }

    fn lock(&self) -> MutexGuard<'_, TapState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn inbound(&self, packet: &dyn rtc::rtcp::Packet, attributes_target: Option<f64>) {
        let any = packet.as_any();
        let mut st = self.lock();
        if let Some(bps) = attributes_target {
            let bps = bps.max(0.0) as u64;
            st.target_bitrate = Some(bps);
            let _ = self.events.send(TapEvent::TargetBitrate(bps));
        }
        if let Some(sr) = any.downcast_ref::<SenderReport>() {
            st.sender_clocks.insert(
                sr.ssrc,
                SenderClock {
                    ntp: sr.ntp_time,
                    rtp: sr.rtp_time,
                },
            );
            reports(&mut st, &sr.reports);
        } else if let Some(rr) = any.downcast_ref::<ReceiverReport>() {
            reports(&mut st, &rr.reports);
        } else if let Some(pli) = any.downcast_ref::<PictureLossIndication>() {
            st.keyframe_requests_received += 1;
            let _ = self.events.send(TapEvent::KeyframeRequested {
                media_ssrc: pli.media_ssrc,
            });
        } else if let Some(fir) = any.downcast_ref::<FullIntraRequest>() {
            st.keyframe_requests_received += 1;
            for entry in &fir.fir {
                let _ = self.events.send(TapEvent::KeyframeRequested {
                    media_ssrc: entry.ssrc,
                });
            }
        } else if let Some(cc) = any.downcast_ref::<TransportLayerCc>() {
            // Every packet the feedback covers has a status; each received
            // one a receive delta.
            st.loss.feedback_reported += u64::from(cc.packet_status_count);
            st.loss.feedback_received += cc.recv_deltas.len() as u64;
        } else if let Some(report) = any
            .downcast_ref::<RawPacket>()
            .and_then(|raw| rtc_profile::loss_report::decode(&raw.0))
        {
            st.loss.downlink_reports += 1;
            st.loss.downlink_fraction_lost = Some(f64::from(report.fraction_lost) / 256.0);
        } else if any.is::<TransportLayerNack>() {
            st.nacks_received += 1;
        } else if let Some(remb) = any.downcast_ref::<ReceiverEstimatedMaximumBitrate>() {
            let bps = remb.bitrate.max(0.0) as u64;
            st.target_bitrate = Some(bps);
            let _ = self.events.send(TapEvent::TargetBitrate(bps));
        }
    }

    fn outbound(&self, packet: &dyn rtc::rtcp::Packet) {
        let any = packet.as_any();
        // NACKs from the generator never pass here (it is wire-ward of the
        // tap); keyframe requests come from the application and do.
        if any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>() {
            self.lock().keyframe_requests_sent += 1;
        }
    }
}

/// Reception reports about what this side sends: loss, jitter and RTT.
fn reports(st: &mut TapState, reports: &[ReceptionReport]) {
    for r in reports {
        st.remote_jitter_ticks.insert(r.ssrc, r.jitter);
    }
    if let Some(worst) = reports.iter().map(|r| r.fraction_lost).max() {
        st.loss.uplink_reports += 1;
        st.loss.uplink_fraction_lost = Some(f64::from(worst) / 256.0);
    }
    let Some(r) = reports.first() else { return };
    st.fraction_lost = Some(f64::from(r.fraction_lost) / 256.0);
    if r.last_sender_report != 0 {
        if let Some(now) = unix_now().map(unix_to_ntp) {
            let middle = ((now >> 16) & 0xffff_ffff) as u32;
            let rtt = middle
                .wrapping_sub(r.last_sender_report)
                .wrapping_sub(r.delay);
            // Units of 1/65536 s; a wrapped (negative) value is a clock glitch.
            if rtt < 0x8000_0000 {
                st.rtt = Some(Duration::from_micros(u64::from(rtt) * 1_000_000 / 65_536));
            }
        }
    }
}

fn unix_now() -> Option<Duration> {
    SystemTime::now().duration_since(UNIX_EPOCH).ok()
}

/// Unix time to 64-bit NTP.
pub(crate) fn unix_to_ntp(unix: Duration) -> u64 {
    let secs = unix.as_secs() + 0x83AA_7E80;
    let frac = (u64::from(unix.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

/// 64-bit NTP to Unix microseconds.
pub(crate) fn ntp_to_unix_us(ntp: u64) -> Option<u64> {
    let secs = (ntp >> 32).checked_sub(0x83AA_7E80)?;
    let frac_us = ((ntp & 0xffff_ffff) * 1_000_000) >> 32;
    Some(secs * 1_000_000 + frac_us)
}

/// The interceptor half of a [`Tap`]; placed last in the chain.
pub(crate) struct RtcpTap {
    tap: Arc<Tap>,
    read: VecDeque<TaggedPacket>,
    write: VecDeque<TaggedPacket>,
}

impl RtcpTap {
    pub(crate) fn new(tap: Arc<Tap>) -> Self {
        RtcpTap {
            tap,
            read: VecDeque::new(),
            write: VecDeque::new(),
        }
    }
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for RtcpTap {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            let mut target = msg.message.attributes.iter().find_map(|a| match a {
                Attribute::TargetBitrateChanged { bits_per_second } => Some(*bits_per_second),
                _ => None,
            });
            for p in packets {
                self.tap.inbound(p.as_ref(), target.take());
            }
        }
        self.read.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.read.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            for p in packets {
                self.tap.outbound(p.as_ref());
            }
        }
        self.write.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.write.pop_front()
    }
}

impl Interceptor for RtcpTap {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ntp_round_trips_and_maps_rtp_time() {
        let unix = Duration::from_micros(1_700_000_000_123_456);
        let ntp = unix_to_ntp(unix);
        let back = ntp_to_unix_us(ntp).unwrap();
        assert!(back.abs_diff(1_700_000_000_123_456) <= 1);
        let clock = SenderClock { ntp, rtp: 90_000 };
        // 100 ms later / earlier at 90 kHz, across the u32 wrap too.
        let later = clock.unix_us_at(99_000, 90_000).unwrap();
        assert!(later.abs_diff(back + 100_000) <= 1);
        let earlier = clock.unix_us_at(81_000, 90_000).unwrap();
        assert!(earlier.abs_diff(back - 100_000) <= 1);
        let wrap = SenderClock {
            ntp,
            rtp: u32::MAX - 44_999,
        };
        let after_wrap = wrap.unix_us_at(45_000, 90_000).unwrap();
        assert!(after_wrap.abs_diff(back + 1_000_000) <= 1);
    }

    #[test]
    fn reports_and_requests_are_recorded() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let tap = Tap::new(tx);
        tap.inbound(
            &PictureLossIndication {
                sender_ssrc: 1,
                media_ssrc: 2,
            },
            Some(750_000.0),
        );
        assert_eq!(rx.try_recv().unwrap(), TapEvent::TargetBitrate(750_000));
        assert_eq!(
            rx.try_recv().unwrap(),
            TapEvent::KeyframeRequested { media_ssrc: 2 }
        );
        tap.inbound(
            &SenderReport {
                ssrc: 9,
                ntp_time: 5,
                rtp_time: 6,
                ..Default::default()
            },
            None,
        );
        assert_eq!(tap.sender_clock(9), Some(SenderClock { ntp: 5, rtp: 6 }));
        tap.inbound(
            &ReceiverReport {
                ssrc: 1,
                reports: vec![ReceptionReport {
                    ssrc: 2,
                    fraction_lost: 64,
                    jitter: 90,
                    ..Default::default()
                }],
                ..Default::default()
            },
            None,
        );
        let st = tap.snapshot();
        assert_eq!(st.fraction_lost, Some(0.25));
        assert_eq!(st.remote_jitter_ticks.get(&2), Some(&90));
        assert_eq!(st.keyframe_requests_received, 1);
    }

    #[test]
    fn loss_feedback_is_tallied() {
        let (tx, _rx) = mpsc::unbounded_channel();
        let tap = Tap::new(tx);
        tap.inbound(
            &TransportLayerCc {
                packet_status_count: 10,
                recv_deltas: vec![Default::default(); 7],
                ..Default::default()
            },
            None,
        );
        let report = rtc_profile::loss_report::LossReport {
            media_ssrc: 5,
            fraction_lost: 128,
        };
        let wire = rtc_profile::loss_report::encode(report);
        tap.inbound(&RawPacket(wire.to_vec().into()), None);
        tap.inbound(
            &ReceiverReport {
                reports: vec![
                    ReceptionReport {
                        fraction_lost: 26,
                        ..Default::default()
                    },
                    ReceptionReport {
                        fraction_lost: 64,
                        ..Default::default()
                    },
                ],
                ..Default::default()
            },
            None,
        );
        let loss = tap.snapshot().loss;
        assert_eq!((loss.feedback_reported, loss.feedback_received), (10, 7));
        assert_eq!(loss.downlink_reports, 1);
        assert_eq!(loss.downlink_fraction_lost, Some(0.5));
        assert_eq!(loss.uplink_reports, 1);
        assert_eq!(loss.uplink_fraction_lost, Some(0.25));
    }
}
