//! Where a new player leg's video starts: at the first packet of a
//! keyframe. A leg's writers start when its connection is up, which is
//! as likely as not in the middle of a picture, often the keyframe asked
//! for at connect: the player got that picture's tail, asked for the rest
//! (NACKs the leg cannot answer: it never sent it), waited its jitter
//! buffer's limit (250 ms) and then for another keyframe. Pictures before
//! the first keyframe are of no use to the player (it waits for one), so
//! the leg drops them. Audio starts at once.
//!
//! While it waits, the leg asks again for a keyframe every
//! [`KEYFRAME_RETRY`]: the one asked for at connect may have passed before
//! the leg's writer started, and a browser publisher ignores requests that
//! come too soon after its last keyframe, so a leg that only waited could
//! wait forever (it forwards nothing, so its player never asks either).

use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use std::time::{Duration, Instant};

/// How often a leg waiting for its first keyframe asks for one.
pub(crate) const KEYFRAME_RETRY: Duration = Duration::from_millis(500);

/// H.264 NAL unit types (RFC 6184) this looks at.
const NAL_IDR: u8 = 5;
const NAL_SPS: u8 = 7;
const NAL_STAP_A: u8 = 24;
const NAL_FU_A: u8 = 28;

/// What to do with a packet on a player leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Forward it.
    Forward,
    /// Drop it: the leg waits for a keyframe.
    Drop,
    /// Drop it, and ask the publisher for a keyframe again.
    DropAndAsk,
}

/// Whether a player leg's track forwards yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LegStart {
    started: bool,
    /// When a keyframe was last asked for this leg.
    asked: Instant,
}

impl LegStart {
    /// A video track waits for a keyframe (one was just asked for, at
    /// `now`); any other starts at once.
    pub(crate) fn new(kind: RtpCodecKind, now: Instant) -> Self {
        LegStart {
            started: kind != RtpCodecKind::Video,
            asked: now,
        }
    }

    /// What to do with the packet with this payload arriving at `now`:
    /// every packet from the first that starts a keyframe on is forwarded.
    pub(crate) fn admit(&mut self, payload: &[u8], now: Instant) -> Admit {
        self.started = self.started || starts_keyframe(payload);
        if self.started {
            Admit::Forward
        } else if now.saturating_duration_since(self.asked) >= KEYFRAME_RETRY {
            self.asked = now;
            Admit::DropAndAsk
        } else {
            Admit::Drop
        }
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
        let t0 = Instant::now();
        let mut video = LegStart::new(RtpCodecKind::Video, t0);
        // A P slice, an FU-A middle fragment of an IDR, an FU-A start of a
        // P slice: not yet.
        assert_eq!(video.admit(&[0x41, 0x9a], t0), Admit::Drop);
        assert_eq!(video.admit(&[0x7c, 0x05, 0x00], t0), Admit::Drop);
        assert_eq!(video.admit(&[0x7c, 0x81, 0x00], t0), Admit::Drop);
        assert_eq!(video.admit(&[], t0), Admit::Drop);
        // A STAP-A with the SPS first starts it; everything after passes.
        let stap = [0x78, 0x00, 0x04, 0x67, 0x42, 0xe0, 0x1f];
        assert_eq!(video.admit(&stap, t0), Admit::Forward);
        assert_eq!(video.admit(&[0x41, 0x9a], t0), Admit::Forward);

        for keyframe_start in [&[0x67, 0x42][..], &[0x65, 0x88], &[0x7c, 0x85, 0x00]] {
            let mut leg = LegStart::new(RtpCodecKind::Video, t0);
            assert_eq!(leg.admit(keyframe_start, t0), Admit::Forward);
        }
        let mut audio = LegStart::new(RtpCodecKind::Audio, t0);
        assert_eq!(audio.admit(&[0xfc, 0x01], t0), Admit::Forward);
    }

    #[test]
    fn a_leg_still_waiting_asks_again_every_retry_interval() {
        let t0 = Instant::now();
        let mut video = LegStart::new(RtpCodecKind::Video, t0);
        let p_slice = [0x41, 0x9a];
        let at = |ms| t0 + Duration::from_millis(ms);
        assert_eq!(video.admit(&p_slice, at(100)), Admit::Drop);
        assert_eq!(video.admit(&p_slice, at(500)), Admit::DropAndAsk);
        assert_eq!(video.admit(&p_slice, at(900)), Admit::Drop);
        assert_eq!(video.admit(&p_slice, at(1000)), Admit::DropAndAsk);
        assert_eq!(video.admit(&[0x65, 0x88], at(1100)), Admit::Forward);
        // Started: never asks again.
        assert_eq!(video.admit(&p_slice, at(5000)), Admit::Forward);
    }
}
