//! The interceptor that lets the RTCP the SFU relays reach it: players'
//! keyframe requests (forwarded upstream) and receiver reports (their
//! downlink loss goes to the publisher, `audio_loss`), and publishers'
//! sender reports (forwarded to players, so they map RTP time to the
//! publisher's clock).
//!
//! A chain built by `Registry::build` ends in a no-op interceptor that drops
//! every inbound RTCP packet not marked for the application (RECIPES.md:
//! without this, PLIs never arrive). This one, placed last, marks PLI, FIR,
//! SR and RR and lets everything else stop there as before.
//!
//! The interceptor itself, [`RtcpFilter`], runs any [`RtcpStep`] on the
//! inbound RTCP: delivery is one, a player leg's NACK budget
//! (`nack_throttle`) another.

use rtc::interceptor::{self, Attribute, Interceptor, StreamInfo, TaggedPacket};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::sender_report::SenderReport;
use rtc::rtcp::Packet;
use rtc::sansio::Protocol;
use rtc::shared::error::Error;
use std::collections::VecDeque;
use std::time::Instant;

/// What an [`RtcpFilter`] does to each inbound RTCP packet.
pub(crate) trait RtcpStep: Send + Sync + 'static {
    /// Whether what goes on is marked for the application.
    const DELIVER: bool;

    /// What goes on in place of `packet` at `now` (`None`: nothing).
    fn keep(&mut self, packet: &dyn Packet, now: Instant) -> Option<Box<dyn Packet>>;

    /// An RTP packet `(ssrc, sequence number)` went out towards the wire.
    fn written(&mut self, _ssrc: u32, _sequence: u16) {}

    /// An RTCP packet went out towards the wire at `now`.
    fn sent_rtcp(&mut self, _packet: &dyn Packet, _now: Instant) {}
}

/// An interceptor running an [`RtcpStep`] on inbound RTCP; everything
/// else passes.
pub(crate) struct RtcpFilter<S> {
    step: S,
    read: VecDeque<TaggedPacket>,
    write: VecDeque<TaggedPacket>,
}

impl<S> RtcpFilter<S> {
    /// The interceptor around `step`.
    pub(crate) fn new(step: S) -> Self {
        RtcpFilter {
            step,
            read: VecDeque::new(),
            write: VecDeque::new(),
        }
    }
}

/// Marks inbound PLI/FIR, SR and RR for delivery to the application.
pub(crate) struct RtcpDelivery;

impl RtcpStep for RtcpDelivery {
    const DELIVER: bool = true;

    fn keep(&mut self, packet: &dyn Packet, _now: Instant) -> Option<Box<dyn Packet>> {
        is_relayed(packet).then(|| packet.cloned())
    }
}

/// Whether an RTCP packet asks for a keyframe.
pub(crate) fn is_keyframe_request(packet: &dyn Packet) -> bool {
    let any = packet.as_any();
    any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>()
}

/// Whether the SFU relays this RTCP packet.
fn is_relayed(packet: &dyn Packet) -> bool {
    let any = packet.as_any();
    is_keyframe_request(packet) || any.is::<SenderReport>() || any.is::<ReceiverReport>()
}

impl<S: RtcpStep> Protocol<TaggedPacket, TaggedPacket, ()> for RtcpFilter<S> {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Error> {
        if let interceptor::Packet::Rtcp(packets) = &msg.message.packet {
            let kept: Vec<Box<dyn Packet>> = packets
                .iter()
                .filter_map(|p| self.step.keep(p.as_ref(), msg.now))
                .collect();
            if kept.is_empty() {
                return Ok(());
            }
            msg.message.packet = interceptor::Packet::Rtcp(kept);
            if S::DELIVER {
                msg.message.add(Attribute::DeliverToApplication);
            }
        }
        self.read.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.read.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Error> {
        match &msg.message.packet {
            interceptor::Packet::Rtp(rtp) => {
                self.step
                    .written(rtp.header.ssrc, rtp.header.sequence_number);
            }
            interceptor::Packet::Rtcp(packets) => {
                for packet in packets {
                    self.step.sent_rtcp(packet.as_ref(), msg.now);
                }
            }
            _ => {}
        }
        self.write.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.write.pop_front()
    }
}

impl<S: RtcpStep> Interceptor for RtcpFilter<S> {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}
