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
//!
//! The waiting itself is the layer switch's (`layer_switch`): a leg's
//! start is its first switch, to the lowest simulcast layer, at that
//! layer's keyframe. This module says what starts a keyframe; the read
//! task of a publisher's track tests each packet once.

use std::time::Duration;

/// How often a leg waiting for its first keyframe asks for one.
pub(crate) const KEYFRAME_RETRY: Duration = Duration::from_millis(500);

/// H.264 NAL unit types (RFC 6184) this looks at.
const NAL_IDR: u8 = 5;
const NAL_SPS: u8 = 7;
const NAL_STAP_A: u8 = 24;
const NAL_FU_A: u8 = 28;

/// Whether an H.264 RTP payload starts a keyframe: its SPS (alone or first
/// in a STAP-A), or the start of an IDR slice (alone or as the first
/// fragment of an FU-A) for a sender that sent its parameter sets earlier.
pub(crate) fn starts_keyframe(payload: &[u8]) -> bool {
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
    fn keyframes_start_at_an_sps_an_idr_or_their_first_fragment() {
        // A P slice, an FU-A middle fragment of an IDR, an FU-A start of a
        // P slice, nothing: no.
        for not in [
            &[0x41, 0x9a][..],
            &[0x7c, 0x05, 0x00],
            &[0x7c, 0x81, 0x00],
            &[],
        ] {
            assert!(!starts_keyframe(not), "{not:x?}");
        }
        // A STAP-A with the SPS first, an SPS, an IDR, an FU-A start of an IDR.
        let stap = [0x78, 0x00, 0x04, 0x67, 0x42, 0xe0, 0x1f];
        for start in [&stap[..], &[0x67, 0x42], &[0x65, 0x88], &[0x7c, 0x85, 0x00]] {
            assert!(starts_keyframe(start), "{start:x?}");
        }
    }
}
