//! The publisher's probe trains on the wire (sans-IO): while
//! [`super::rate_control`] asks for a train, one frame of the highest
//! sending layer is followed by H.264 filler data NAL units
//! ([`rtc_profile::filler`]) in the same picture, the last of them
//! carrying the frame's marker: decoders skip them, the SFU forwards them
//! like any packet of the frame (or drops them), and the transport-wide
//! feedback times them, which is all a train needs
//! ([`super::dispersion`]).

use bytes::Bytes;
use rtc::rtp::header::Header;
use rtc::rtp::sequence::Sequencer;
use rtc::rtp::Packet;
use std::time::{Duration, Instant};

/// The payload size of one filler packet.
const FILLER_BYTES: usize = 1000;
/// At most this many filler packets after one frame.
const MAX_FILLERS: usize = 24;
/// One train fills one frame: none within this of the last filled one.
const TRAIN_SPACING: Duration = Duration::from_millis(80);

/// The filler rate that puts `packets` filler packets after a 30 fps
/// frame, bits/s.
pub(crate) fn train_bps(packets: u64) -> u64 {
    packets * FILLER_BYTES as u64 * 8 * 30
}

/// How much filler one layer's frames carry.
#[derive(Debug)]
pub(crate) struct ProbeFill {
    /// When the last frame was filled.
    last: Option<Instant>,
    payload: Bytes,
}

impl Default for ProbeFill {
    fn default() -> Self {
        ProbeFill {
            last: None,
            payload: Bytes::from(rtc_profile::filler::h264_filler_nal(FILLER_BYTES)),
        }
    }
}

impl ProbeFill {
    /// How many filler packets follow a frame sent at `now` lasting
    /// `duration` for a train's rate of `bps` (0: none): the frame's time
    /// of it, unless a frame was filled less than [`TRAIN_SPACING`] ago
    /// (the same train).
    pub(crate) fn count(&mut self, now: Instant, duration: Duration, bps: u64) -> usize {
        let same_train = self
            .last
            .is_some_and(|t| now.saturating_duration_since(t) < TRAIN_SPACING);
        if bps == 0 || same_train {
            return 0;
        }
        self.last = Some(now);
        let bytes = bps as f64 / 8.0 * duration.as_secs_f64();
        ((bytes / FILLER_BYTES as f64).round() as usize).min(MAX_FILLERS)
    }

    /// Appends `count` filler packets to the frame in `packets` (numbered
    /// by `sequencer`, the frame's packetizer's), moving its marker to
    /// the last one.
    pub(crate) fn append(
        &self,
        packets: &mut Vec<Packet>,
        count: usize,
        sequencer: &dyn Sequencer,
    ) {
        let Some(last) = packets.last_mut() else {
            return;
        };
        if count == 0 {
            return;
        }
        let template = last.header.clone();
        last.header.marker = false;
        for n in 1..=count {
            packets.push(Packet {
                header: Header {
                    marker: n == count,
                    sequence_number: sequencer.next_sequence_number(),
                    ..template.clone()
                },
                payload: self.payload.clone(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::rtp::sequence::new_fixed_sequencer;

    #[test]
    fn fillers_follow_the_frame_in_sequence_and_carry_its_marker() {
        let sequencer = new_fixed_sequencer(10);
        let frame = |seq| Packet {
            header: Header {
                version: 2,
                sequence_number: seq,
                timestamp: 900,
                ssrc: 7,
                marker: seq == 11,
                ..Default::default()
            },
            payload: Bytes::from_static(&[0x65, 1, 2]),
        };
        let mut packets = vec![frame(sequencer.next_sequence_number())];
        packets.push(frame(sequencer.next_sequence_number()));
        let fill = ProbeFill::default();
        fill.append(&mut packets, 3, &sequencer);
        let seqs: Vec<u16> = packets.iter().map(|p| p.header.sequence_number).collect();
        assert_eq!(seqs, [10, 11, 12, 13, 14]);
        let markers: Vec<bool> = packets.iter().map(|p| p.header.marker).collect();
        assert_eq!(markers, [false, false, false, false, true]);
        assert!(packets[2..].iter().all(|p| p.header.timestamp == 900
            && p.header.ssrc == 7
            && p.payload[0] & 0x1f == 12
            && p.payload.len() == FILLER_BYTES));
    }

    #[test]
    fn a_train_fills_one_frame() {
        let t0 = Instant::now();
        let frame = Duration::from_millis(33);
        let ms = |n| t0 + Duration::from_millis(n);
        let mut fill = ProbeFill::default();
        assert_eq!(fill.count(t0, frame, 0), 0);
        // Two packets after a 30 fps frame, none after the next frame of
        // the same train.
        assert_eq!(fill.count(ms(10), frame, train_bps(2)), 2);
        assert_eq!(fill.count(ms(43), frame, train_bps(2)), 0);
        assert_eq!(fill.count(ms(76), frame, 0), 0);
        // The next train; a 15 fps frame carries twice as much; a huge
        // rate 24 packets.
        assert_eq!(fill.count(ms(109), frame * 2, train_bps(2)), 4);
        assert_eq!(fill.count(ms(500), frame, 80_000_000), MAX_FILLERS);
    }
}
