//! Where a new player leg's video starts: at the first packet of a
//! keyframe. A leg's writers start when its connection is up, which is
//! as likely as not in the middle of a picture, often the keyframe asked
//! for at connect: the player got that picture's tail, asked for the rest
//! (NACKs the leg cannot answer: it never sent it), waited its jitter
//! buffer's limit (250 ms) and then for another keyframe. Pictures before
//! the first keyframe are of no use to the player (it waits for one), so
//! the leg drops them. Audio starts at once.

use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;

/// H.264 NAL unit types (RFC 6184) this looks at.
const NAL_IDR: u8 = 5;
const NAL_SPS: u8 = 7;
const NAL_STAP_A: u8 = 24;
const NAL_FU_A: u8 = 28;

/// Whether a player leg's track forwards yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LegStart {
    started: bool,
}

impl LegStart {
    /// A video track waits for a keyframe; any other starts at once.
    pub(crate) fn new(kind: RtpCodecKind) -> Self {
        LegStart {
            started: kind != RtpCodecKind::Video,
        }
    }

    /// Whether the packet with this payload is forwarded: every packet from
    /// the first that starts a keyframe on.
    pub(crate) fn admits(&mut self, payload: &[u8]) -> bool {
        self.started = self.started || starts_keyframe(payload);
        self.started
    }
}

/// Whether an H.264 RTP payload starts a keyframe: its SPS (alone or first
/// in a STAP-A), or the start of an IDR slice (alone or as the first
/// fragment of an FU-A) for a sender that sent its parameter sets earlier.
fn starts_keyframe(payload: &[u8]) -> bool {
    let nal_type = |b: &u8| b & 0x1f;
    match payload.first().map(nal_type) {
        Some(NAL_SPS | NAL_IDR) => true,
        // STAP-A header, then each unit's 16-bit size and header.
        Some(NAL_STAP_A) => payload.get(3).map(nal_type) == Some(NAL_SPS),
        // FU indicator, then the FU header: start bit and unit type.
        Some(NAL_FU_A) => payload
            .get(1)
            .is_some_and(|h| h & 0x80 != 0 && nal_type(h) == NAL_IDR),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn video_starts_at_a_keyframe_and_audio_at_once() {
        let mut video = LegStart::new(RtpCodecKind::Video);
        // A P slice, an FU-A middle fragment of an IDR, an FU-A start of a
        // P slice: not yet.
        assert!(!video.admits(&[0x41, 0x9a]));
        assert!(!video.admits(&[0x7c, 0x05, 0x00]));
        assert!(!video.admits(&[0x7c, 0x81, 0x00]));
        assert!(!video.admits(&[]));
        // A STAP-A with the SPS first starts it; everything after passes.
        assert!(video.admits(&[0x78, 0x00, 0x04, 0x67, 0x42, 0xe0, 0x1f]));
        assert!(video.admits(&[0x41, 0x9a]));

        for keyframe_start in [&[0x67, 0x42][..], &[0x65, 0x88], &[0x7c, 0x85, 0x00]] {
            assert!(LegStart::new(RtpCodecKind::Video).admits(keyframe_start));
        }
        assert!(LegStart::new(RtpCodecKind::Audio).admits(&[0xfc, 0x01]));
    }
}
