//! The WebRTC media profile both ends of a Confer call negotiate: the SDK's
//! transport (media-core) and the server's SFU build their peer connections
//! from this one definition, so the codecs, payload types, RTCP feedback and
//! header extensions on the two sides cannot drift apart.
//!
//! - Video: H.264 constrained baseline (what openh264 produces), payload
//!   type 102, with `nack`, `nack pli` and `ccm fir` feedback.
//! - Audio: Opus stereo at 48 kHz, 10 ms minimum packets and in-band FEC,
//!   payload type 111; and RED (RFC 2198) over that Opus, payload type 63
//!   with fmtp `111/111` as Chromium offers it, so a sender may add older
//!   Opus packets to each one when the link loses packets ([`red`]). It is
//!   registered after Opus: an answer that lists Opus first makes Opus the
//!   sending codec, and an answer without RED means plain Opus.
//! - Both kinds: `transport-cc` feedback and the transport-wide sequence
//!   number header extension (TWCC), for the sender's bandwidth estimator.
//! - Video: the `sdes:mid` and `sdes:rtp-stream-id` header extensions, so a
//!   publisher can send simulcast layers (`rid` q/h/f) in one section.
//!
//! [`feedback_interceptors`] are the interceptors that answer and produce
//! that feedback on both ends; each side adds its own on top (the SDK a
//! congestion controller, TWCC sender and sender reports; the SFU relays the
//! publisher's sender reports instead).

pub mod filler;
pub mod link_rate;
pub mod loss_kind;
pub mod loss_report;
pub mod nack_asks;
pub mod nack_copies;
pub mod red;

#[cfg(feature = "signaled-candidates")]
use protocol::IceCandidate;
use rtc::interceptor::{
    NackResponderBuilder, ReceiverReportBuilder, Registry, Slot, TwccReceiverBuilder,
};
use rtc::peer_connection::configuration::media_engine::{
    MediaEngine, MIME_TYPE_H264, MIME_TYPE_OPUS,
};
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpHeaderExtensionCapability, RtpCodecKind,
};
#[cfg(feature = "signaled-candidates")]
use webrtc::peer_connection::{PeerConnection, RTCIceCandidateInit};

/// The H.264 format every Confer endpoint announces: constrained baseline,
/// as openh264 makes it (see RECIPES.md).
pub const H264_FMTP: &str =
    "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f";
/// The Opus format: 10 ms minimum packets, in-band FEC.
pub const OPUS_FMTP: &str = "minptime=10;useinbandfec=1";
/// The RED format: redundant blocks and the primary are all Opus (PT 111).
pub const RED_FMTP: &str = "111/111";
/// RED's MIME type.
pub const MIME_TYPE_RED: &str = "audio/red";
/// The payload type H.264 is registered with.
pub const H264_PAYLOAD_TYPE: u8 = 102;
/// How many times a keyframe request (PLI) is written, each in its own
/// datagram: a lost PLI costs a picture the whole retry interval, and on
/// a path losing 20 % each way one PLI in three never reached the
/// publisher through the SFU (measured, tests/media_network.rs); two
/// copies cost a few dozen bytes.
pub const PLI_COPIES: usize = 2;
/// The payload type Opus is registered with.
pub const OPUS_PAYLOAD_TYPE: u8 = 111;
/// The payload type RED is registered with (Chromium's too).
pub const RED_PAYLOAD_TYPE: u8 = 63;
/// The TWCC (transport-wide sequence number) header extension.
pub const TRANSPORT_CC_URI: &str =
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";
/// The RTP header extension naming a packet's media section (RFC 8843);
/// simulcast layers carry it so the receiver can bind their SSRCs.
pub const SDES_MID_URI: &str = "urn:ietf:params:rtp-hdrext:sdes:mid";
/// The RTP header extension naming a packet's simulcast layer (`rid`,
/// RFC 8852): `q`, `h` or `f` (see `protocol::VideoLayer`).
pub const SDES_RID_URI: &str = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id";

/// The video codec of every Confer track.
pub fn h264_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_H264.to_owned(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: H264_FMTP.to_owned(),
        rtcp_feedback: vec![],
    }
}

/// The audio codec of every Confer track.
pub fn opus_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.to_owned(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: OPUS_FMTP.to_owned(),
        rtcp_feedback: vec![],
    }
}

/// RED (RFC 2198) carrying Opus, as Chromium offers it.
pub fn red_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_RED.to_owned(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: RED_FMTP.to_owned(),
        rtcp_feedback: vec![],
    }
}

/// A media engine with the codecs, RTCP feedback and header extensions of
/// the profile (see the crate docs).
pub fn media_engine() -> Result<MediaEngine, rtc::shared::error::Error> {
    let mut engine = MediaEngine::default();
    engine.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: h264_codec(),
            payload_type: H264_PAYLOAD_TYPE,
        },
        RtpCodecKind::Video,
    )?;
    engine.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: opus_codec(),
            payload_type: OPUS_PAYLOAD_TYPE,
        },
        RtpCodecKind::Audio,
    )?;
    engine.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: red_codec(),
            payload_type: RED_PAYLOAD_TYPE,
        },
        RtpCodecKind::Audio,
    )?;
    for (typ, parameter) in [("nack", ""), ("nack", "pli"), ("ccm", "fir")] {
        engine.register_feedback(
            RTCPFeedback {
                typ: typ.to_owned(),
                parameter: parameter.to_owned(),
            },
            RtpCodecKind::Video,
        );
    }
    for kind in [RtpCodecKind::Video, RtpCodecKind::Audio] {
        engine.register_feedback(
            RTCPFeedback {
                typ: "transport-cc".to_owned(),
                parameter: String::new(),
            },
            kind,
        );
        engine.register_header_extension(
            RTCRtpHeaderExtensionCapability {
                uri: TRANSPORT_CC_URI.to_owned(),
            },
            kind,
            None,
        )?;
    }
    // Simulcast: webrtc-rs does not write these itself; the sender adds
    // them to each layer's packets and the receiver learns the SSRCs.
    for uri in [SDES_MID_URI, SDES_RID_URI] {
        engine.register_header_extension(
            RTCRtpHeaderExtensionCapability {
                uri: uri.to_owned(),
            },
            RtpCodecKind::Video,
            None,
        )?;
    }
    Ok(engine)
}

/// The interceptors behind the profile's feedback, the same on both ends:
/// NACK responder and generator ([`nack_asks`]: bounded, asking at once
/// and for overdue packets), each NACK sent twice and
/// answered once ([`nack_copies`]), TWCC feedback for the sender's
/// bandwidth estimator, receiver reports. A [`Registry`] orders by slot, so
/// callers add theirs with [`Registry::with`] in any order.
pub fn feedback_interceptors() -> Registry {
    Registry::new()
        .with(Slot::NackResponder, NackResponderBuilder::new().build())
        .with(Slot::NackGenerator, nack_asks::NackAsks::new())
        .with(
            Slot::from(nack_copies::NACK_COPIES_SLOT),
            nack_copies::NackCopies::new(),
        )
        .with(Slot::TwccReceiver, TwccReceiverBuilder::new().build())
        .with(Slot::ReceiverReport, ReceiverReportBuilder::new().build())
}

/// Adds a signaled remote ICE candidate to a peer connection.
#[cfg(feature = "signaled-candidates")]
pub async fn add_remote_candidate(
    pc: &dyn PeerConnection,
    candidate: IceCandidate,
) -> Result<(), webrtc::error::Error> {
    let init = RTCIceCandidateInit {
        candidate: candidate.candidate,
        sdp_mid: candidate.sdp_mid,
        sdp_mline_index: candidate.sdp_mline_index,
        ..Default::default()
    };
    pc.add_ice_candidate(init).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profile_builds() {
        assert!(media_engine().is_ok());
        assert_eq!(h264_codec().sdp_fmtp_line, H264_FMTP);
        assert!(H264_FMTP.contains("profile-level-id=42e01f"));
        assert!(H264_FMTP.contains("packetization-mode=1"));
        assert_eq!(
            (opus_codec().clock_rate, opus_codec().channels),
            (48_000, 2)
        );
        assert_eq!(
            red_codec().sdp_fmtp_line,
            format!("{OPUS_PAYLOAD_TYPE}/{OPUS_PAYLOAD_TYPE}")
        );
    }
}
