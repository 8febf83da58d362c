//! RED (RFC 2198) for Opus on the sending side: each 20 ms Opus packet goes
//! out with up to [`MAX_REDUNDANCY`] of the packets before it, as many as the
//! path's loss calls for (the publisher's RED level). The wire format is
//! [`rtc_profile::red`]; the receiver's side is the audio jitter buffer.

use super::CodecError;
use crate::frame::AUDIO_FRAME_SAMPLES;
use bytes::Bytes;
use rtc_profile::red::{build, RedBlock, MAX_BLOCK_LEN, MAX_TIMESTAMP_OFFSET};
use rtc_profile::OPUS_PAYLOAD_TYPE;
use std::collections::VecDeque;

/// The most redundant frames a packet carries: at 50 % loss each way (75 %
/// on the path) ten copies and Opus FEC leave ~3 % of frames lost (eight
/// left ~6 %; measured through the relay, 9-20 % concealed). A packet of
/// 32 kbit/s Opus with ten copies is ~1 kB. Chromium's RED decoder takes
/// up to 32 blocks.
pub const MAX_REDUNDANCY: usize = 10;

/// The recent Opus packets of one stream and the RED payloads made of them.
#[derive(Debug, Default)]
pub struct RedEncoder {
    /// (frame number, packet) of the latest sent frames, oldest first.
    history: VecDeque<(u64, Bytes)>,
    /// Number of the next frame.
    frame: u64,
}

impl RedEncoder {
    /// An encoder with no history.
    pub fn new() -> Self {
        RedEncoder::default()
    }

    /// A 20 ms frame was not sent (DTX): time moves on, nothing to repeat.
    pub fn skip(&mut self) {
        self.frame += 1;
    }

    /// The RED payload for this frame's Opus `packet`, repeating up to
    /// `redundancy` (at most [`MAX_REDUNDANCY`]) earlier packets still
    /// within a header's timestamp offset; `None` for a redundancy of 0
    /// (send `packet` as plain Opus). The packet joins the history either way.
    pub fn encode(
        &mut self,
        packet: &Bytes,
        redundancy: usize,
    ) -> Result<Option<Bytes>, CodecError> {
        let frame = self.frame;
        self.frame += 1;
        let offset_of = |n: u64| (frame - n) * AUDIO_FRAME_SAMPLES as u64;
        let blocks: Vec<RedBlock<'_>> = self
            .history
            .iter()
            .skip(
                self.history
                    .len()
                    .saturating_sub(redundancy.min(MAX_REDUNDANCY)),
            )
            .filter(|(n, p)| {
                offset_of(*n) <= u64::from(MAX_TIMESTAMP_OFFSET) && p.len() <= MAX_BLOCK_LEN
            })
            .map(|(n, p)| RedBlock {
                payload_type: OPUS_PAYLOAD_TYPE,
                timestamp_offset: offset_of(*n) as u16,
                data: p,
            })
            .collect();
        let payload = if redundancy == 0 {
            None
        } else {
            let built = build(OPUS_PAYLOAD_TYPE, packet, &blocks)
                .map_err(|e| CodecError::Encoder(format!("RED: {e}")))?;
            Some(Bytes::from(built))
        };
        if self.history.len() == MAX_REDUNDANCY {
            self.history.pop_front();
        }
        self.history.push_back((frame, packet.clone()));
        Ok(payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc_profile::red::parse;

    #[test]
    fn packets_carry_the_previous_frames_at_their_offsets() {
        let mut red = RedEncoder::new();
        let packets: Vec<Bytes> = (0u8..6)
            .map(|i| Bytes::from(vec![i; 10 + i as usize]))
            .collect();
        let first = red.encode(&packets[0], 3).unwrap().unwrap();
        assert!(parse(&first).unwrap().redundant.is_empty());
        red.encode(&packets[1], 3).unwrap();
        red.skip(); // frame 2 not sent (DTX)
        red.encode(&packets[3], 3).unwrap();
        let payload = red.encode(&packets[4], 2).unwrap().unwrap();
        let parsed = parse(&payload).unwrap();
        assert_eq!(parsed.primary.data, &packets[4][..]);
        let got: Vec<(u16, &[u8])> = parsed
            .redundant
            .iter()
            .map(|b| (b.timestamp_offset, b.data))
            .collect();
        assert_eq!(got, vec![(2880, &packets[1][..]), (960, &packets[3][..])]);
        // Off: plain Opus, and the history still follows.
        assert_eq!(red.encode(&packets[5], 0).unwrap(), None);
        let next = red.encode(&Bytes::from_static(b"x"), 1).unwrap().unwrap();
        assert_eq!(parse(&next).unwrap().redundant[0].data, &packets[5][..]);
    }
}
