//! The forwarding core, free of I/O: how a publisher's RTP packet is turned
//! into a player leg's packet, which payload type a leg negotiated, how often
//! keyframes may be requested, and what a publisher's offer sends.

use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodec, RTCRtpCodecParameters, RtpCodecKind};
use std::time::{Duration, Instant};

/// At most one keyframe request per publisher track in this interval.
pub(crate) const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(500);

/// Rewrites a forwarded packet for one player leg: its SSRC and payload type,
/// and no header extensions (their IDs were negotiated on the publisher's
/// leg, not this one; an unknown ID would make the receiver drop the packet).
pub(crate) fn rewrite_for_leg(packet: &mut rtp::Packet, ssrc: u32, payload_type: u8) {
    packet.header.ssrc = ssrc;
    packet.header.payload_type = payload_type;
    packet.header.extension = false;
    packet.header.extension_profile = 0;
    packet.header.extensions.clear();
    packet.header.extensions_padding = 0;
}

/// How a player leg's track takes the publisher's RED (RFC 2198) packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RedOnLeg {
    /// Not an audio track: payload types pass as negotiated.
    NotAudio,
    /// The leg did not accept RED: send the primary (Opus) block only.
    Strip,
    /// The leg accepted RED under this payload type.
    Keep(u8),
}

/// The payload type a forwarded packet goes out with on a leg that
/// negotiated `payload_type` for the track: a RED packet (the profile's RED
/// payload type on an audio track) keeps RED where the leg accepted it and
/// is cut to its primary Opus block where not; `None` drops a malformed one.
pub(crate) fn leg_payload_type(
    packet: &mut rtp::Packet,
    payload_type: u8,
    red: RedOnLeg,
) -> Option<u8> {
    if red == RedOnLeg::NotAudio || packet.header.payload_type != rtc_profile::RED_PAYLOAD_TYPE {
        return Some(payload_type);
    }
    match red {
        RedOnLeg::Keep(red_type) => Some(red_type),
        _ => {
            let primary = rtc_profile::red::primary(&packet.payload)?.len();
            let start = packet.payload.len() - primary;
            packet.payload = packet.payload.slice(start..);
            Some(payload_type)
        }
    }
}

/// The payload type a player leg negotiated for the publisher's codec: the
/// same MIME type and, for H.264, the same profile-level-id and
/// packetization-mode (answers list every codec the player offered, so the
/// first H.264 entry is not necessarily the right one).
pub(crate) fn negotiated_payload_type(
    source: &RTCRtpCodec,
    negotiated: &[RTCRtpCodecParameters],
) -> Option<u8> {
    let same_mime = |c: &&RTCRtpCodecParameters| {
        c.rtp_codec
            .mime_type
            .eq_ignore_ascii_case(&source.mime_type)
    };
    if source.mime_type.eq_ignore_ascii_case("video/H264") {
        let want = h264_format(&source.sdp_fmtp_line);
        if let Some(c) = negotiated
            .iter()
            .filter(same_mime)
            .find(|c| h264_format(&c.rtp_codec.sdp_fmtp_line) == want)
        {
            return Some(c.payload_type);
        }
    }
    negotiated.iter().find(same_mime).map(|c| c.payload_type)
}

/// (profile-level-id's profile part, packetization-mode) of an H.264 fmtp line.
fn h264_format(fmtp: &str) -> (String, String) {
    let profile = fmtp_param(fmtp, "profile-level-id")
        .map(|p| p.get(..4).unwrap_or(p).to_ascii_lowercase())
        .unwrap_or_else(|| "4200".to_owned());
    let mode = fmtp_param(fmtp, "packetization-mode")
        .unwrap_or("0")
        .to_owned();
    (profile, mode)
}

/// One `key=value` parameter of an fmtp line.
pub(crate) fn fmtp_param<'a>(fmtp: &'a str, key: &str) -> Option<&'a str> {
    fmtp.split(';').find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        k.trim().eq_ignore_ascii_case(key).then_some(v.trim())
    })
}

/// The kinds of the media sections an offer sends (sendonly or sendrecv,
/// audio or video, port not 0), in order.
pub(crate) fn sending_sections(sdp: &str) -> Vec<RtpCodecKind> {
    let mut out = Vec::new();
    let mut current: Option<(RtpCodecKind, bool)> = None;
    let finish = |section: Option<(RtpCodecKind, bool)>, out: &mut Vec<RtpCodecKind>| {
        if let Some((kind, true)) = section {
            out.push(kind);
        }
    };
    for line in sdp.lines().map(str::trim) {
        if let Some(m) = line.strip_prefix("m=") {
            finish(current.take(), &mut out);
            let mut fields = m.split_whitespace();
            let kind = match fields.next() {
                Some("audio") => Some(RtpCodecKind::Audio),
                Some("video") => Some(RtpCodecKind::Video),
                _ => None,
            };
            let enabled = fields.next().is_some_and(|port| port != "0");
            // Sections send unless they say otherwise (sendrecv is the default).
            current = kind.map(|k| (k, enabled));
        } else if let Some((_, sends)) = current.as_mut() {
            match line {
                "a=recvonly" | "a=inactive" => *sends = false,
                _ => {}
            }
        }
    }
    finish(current.take(), &mut out);
    out
}

/// Rate limit for keyframe requests sent upstream for one publisher track.
///
/// Copies of a request within [`KEYFRAME_COPIES_WITHIN`] are one. At most one PLI per [`KEYFRAME_REQUEST_INTERVAL`] once the publisher
/// answered the last one; a PLI no keyframe answered within
/// [`KEYFRAME_RESEND_AFTER`] was lost (or its keyframe was), and the next
/// request goes out then. A request inside the window is delayed, never
/// dropped, unless a keyframe arrives after it and before it is due (that
/// keyframe answers it).
#[derive(Debug, Default)]
pub(crate) struct KeyframeLimiter {
    /// When the last PLI went out.
    last: Option<Instant>,
    /// When the first request folded into the delayed one came.
    pending: Option<Instant>,
    /// When the publisher's last keyframe arrived.
    keyframe: Option<Instant>,
}

/// How long a PLI waits for its keyframe before another may follow it:
/// the publisher's next picture (66 ms at 15 fps) plus a round trip.
pub(crate) const KEYFRAME_RESEND_AFTER: Duration = Duration::from_millis(150);
/// Requests this soon after a PLI went out are copies of the one it
/// answered (players write each request [`rtc_profile::PLI_COPIES`] times).
pub(crate) const KEYFRAME_COPIES_WITHIN: Duration = Duration::from_millis(30);

/// What to do with a keyframe request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyframeDecision {
    /// Send it now.
    Now,
    /// Too soon after the last one: send one at this time (requests in
    /// between are folded into it).
    At(Instant),
    /// One is already scheduled.
    Folded,
}

impl KeyframeLimiter {
    /// Decides on a request at `now`. `force` (a player's connection just
    /// came up) goes out at once and does not use the window up: the
    /// picture it asks for may not reach that player yet.
    pub(crate) fn decide(&mut self, now: Instant, force: bool) -> KeyframeDecision {
        if force {
            return KeyframeDecision::Now;
        }
        let Some(last) = self
            .last
            .filter(|l| now.saturating_duration_since(*l) < KEYFRAME_REQUEST_INTERVAL)
        else {
            self.last = Some(now);
            return KeyframeDecision::Now;
        };
        let since_last = now.saturating_duration_since(last);
        if since_last < KEYFRAME_COPIES_WITHIN {
            return KeyframeDecision::Folded;
        }
        let unanswered = self.keyframe.is_none_or(|k| k < last);
        if unanswered && since_last >= KEYFRAME_RESEND_AFTER {
            self.last = Some(now);
            return KeyframeDecision::Now;
        }
        if self.pending.is_some() {
            return KeyframeDecision::Folded;
        }
        self.pending = Some(now);
        let wait = if unanswered {
            KEYFRAME_RESEND_AFTER
        } else {
            KEYFRAME_REQUEST_INTERVAL
        };
        KeyframeDecision::At(last + wait)
    }

    /// A keyframe of the track arrived from the publisher at `now`.
    pub(crate) fn keyframe_arrived(&mut self, now: Instant) {
        self.keyframe = Some(now);
    }

    /// The delayed request is due at `now`: whether to send it (not when
    /// a keyframe arrived since it was made).
    pub(crate) fn fire_pending(&mut self, now: Instant) -> bool {
        let Some(since) = self.pending.take() else {
            return false;
        };
        if self.keyframe.is_some_and(|k| k >= since) {
            return false;
        }
        self.last = Some(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn codec(mime: &str, fmtp: &str, pt: u8) -> RTCRtpCodecParameters {
        RTCRtpCodecParameters {
            rtp_codec: RTCRtpCodec {
                mime_type: mime.to_owned(),
                clock_rate: 90_000,
                channels: 0,
                sdp_fmtp_line: fmtp.to_owned(),
                rtcp_feedback: vec![],
            },
            payload_type: pt,
        }
    }

    #[test]
    fn h264_payload_type_matches_profile_and_mode() {
        let source = codec(
            "video/H264",
            "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
            102,
        )
        .rtp_codec;
        let answer = vec![
            codec(
                "video/H264",
                "packetization-mode=0;profile-level-id=42e01f",
                96,
            ),
            codec(
                "video/H264",
                "packetization-mode=1;profile-level-id=640032",
                97,
            ),
            codec(
                "video/H264",
                "profile-level-id=42e01f;packetization-mode=1",
                125,
            ),
        ];
        assert_eq!(negotiated_payload_type(&source, &answer), Some(125));
        let opus = codec("audio/opus", "", 111).rtp_codec;
        assert_eq!(negotiated_payload_type(&opus, &answer), None);
        assert_eq!(
            negotiated_payload_type(&opus, &[codec("audio/OPUS", "", 109)]),
            Some(109)
        );
    }

    #[test]
    fn red_stays_red_where_accepted_and_becomes_opus_where_not() {
        let red_payload = rtc_profile::red::build(
            111,
            b"now",
            &[rtc_profile::red::RedBlock {
                payload_type: 111,
                timestamp_offset: 960,
                data: b"before",
            }],
        )
        .unwrap();
        let packet = |pt: u8, payload: &[u8]| rtp::Packet {
            header: rtp::header::Header {
                payload_type: pt,
                ..Default::default()
            },
            payload: Bytes::copy_from_slice(payload),
        };
        let red_pt = rtc_profile::RED_PAYLOAD_TYPE;
        let mut p = packet(red_pt, &red_payload);
        assert_eq!(
            leg_payload_type(&mut p, 109, RedOnLeg::Keep(100)),
            Some(100)
        );
        assert_eq!(p.payload, red_payload);
        assert_eq!(leg_payload_type(&mut p, 109, RedOnLeg::Strip), Some(109));
        assert_eq!(&p.payload[..], b"now");
        // Opus passes; video is never taken for RED; malformed RED is dropped.
        let mut opus = packet(111, b"opus");
        assert_eq!(leg_payload_type(&mut opus, 109, RedOnLeg::Strip), Some(109));
        assert_eq!(&opus.payload[..], b"opus");
        let mut video = packet(red_pt, &[0xff]);
        assert_eq!(
            leg_payload_type(&mut video, 102, RedOnLeg::NotAudio),
            Some(102)
        );
        assert_eq!(leg_payload_type(&mut video, 109, RedOnLeg::Strip), None);
    }

    #[test]
    fn rewrite_sets_ssrc_pt_and_strips_extensions() {
        let mut p = rtp::Packet {
            header: rtp::header::Header {
                version: 2,
                payload_type: 102,
                ssrc: 1,
                sequence_number: 7,
                ..Default::default()
            },
            payload: Bytes::from_static(b"x"),
        };
        p.header
            .set_extension(3, Bytes::from_static(&[1, 2]))
            .unwrap();
        rewrite_for_leg(&mut p, 99, 125);
        assert_eq!((p.header.ssrc, p.header.payload_type), (99, 125));
        assert!(!p.header.extension && p.header.extensions.is_empty());
        assert_eq!(p.header.sequence_number, 7);
    }

    #[test]
    fn sending_sections_reads_directions() {
        let sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=sendonly\r\nm=video 9 UDP/TLS/RTP/SAVPF 102\r\na=sendrecv\r\nm=video 0 UDP/TLS/RTP/SAVPF 102\r\nm=video 9 x 1\r\na=recvonly\r\nm=application 9 x\r\n";
        assert_eq!(
            sending_sections(sdp),
            vec![RtpCodecKind::Audio, RtpCodecKind::Video]
        );
    }

    #[test]
    fn keyframe_requests_are_rate_limited_but_never_dropped() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut l = KeyframeLimiter::default();
        assert_eq!(l.decide(ms(0), false), KeyframeDecision::Now);
        l.keyframe_arrived(ms(80));
        // Answered: the next is delayed to the window's end, later ones
        // folded in.
        assert_eq!(l.decide(ms(100), false), KeyframeDecision::At(ms(500)));
        assert_eq!(l.decide(ms(300), false), KeyframeDecision::Folded);
        // A player joining goes out at once and leaves the window alone.
        assert_eq!(l.decide(ms(350), true), KeyframeDecision::Now);
        assert!(l.fire_pending(ms(500)));
        l.keyframe_arrived(ms(560));
        assert_eq!(l.decide(ms(600), false), KeyframeDecision::At(ms(1000)));
        assert!(l.fire_pending(ms(1000)));
        assert_eq!(l.decide(ms(1600), false), KeyframeDecision::Now);
    }

    #[test]
    fn an_unanswered_keyframe_request_is_resent_soon() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut l = KeyframeLimiter::default();
        assert_eq!(l.decide(ms(0), false), KeyframeDecision::Now);
        // The request's copy is the same request.
        assert_eq!(l.decide(ms(1), false), KeyframeDecision::Folded);
        // No keyframe came: the PLI (or its picture) was lost upstream.
        assert_eq!(l.decide(ms(50), false), KeyframeDecision::At(ms(150)));
        assert!(l.fire_pending(ms(150)));
        assert_eq!(l.decide(ms(320), false), KeyframeDecision::Now);
        // A keyframe arriving before a delayed request is due answers it.
        l.keyframe_arrived(ms(380));
        assert_eq!(l.decide(ms(400), false), KeyframeDecision::At(ms(820)));
        l.keyframe_arrived(ms(700));
        assert!(!l.fire_pending(ms(820)));
        // The window then runs from the last PLI sent (at 320 ms).
        assert_eq!(l.decide(ms(830), false), KeyframeDecision::Now);
    }
}
