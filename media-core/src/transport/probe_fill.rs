//! The publisher's probe on the wire (sans-IO): while
//! [`super::rate_control`] asks for an extra rate, each frame of the
//! highest sending layer is followed by H.264 filler data NAL units
//! ([`rtc_profile::filler`]) in the same picture, the last of them
//! carrying the frame's marker: decoders skip them, the SFU forwards them
//! like any packet of the frame, and the transport-wide feedback counts
//! them, which is all a probe needs.

use bytes::Bytes;
use rtc::rtp::header::Header;
use rtc::rtp::sequence::Sequencer;
use rtc::rtp::Packet;
use std::time::{Duration, Instant};

/// The payload size of one filler packet.
const FILLER_BYTES: usize = 1000;
/// At most this many filler packets after one frame.
const MAX_FILLERS: usize = 24;
/// The longest gap between frames a probe fills for.
const MAX_FILL_GAP: Duration = Duration::from_millis(100);

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
    /// `duration` for a probe of `bps` extra (0: no probe): the bytes of
    /// the time since the last filled frame (at most [`MAX_FILL_GAP`]).
    pub(crate) fn count(&mut self, now: Instant, duration: Duration, bps: u64) -> usize {
        if bps == 0 {
            self.last = None;
            return 0;
        }
        let gap = self
            .last
            .map_or(duration, |t| now.saturating_duration_since(t))
            .min(MAX_FILL_GAP);
        self.last = Some(now);
        let bytes = bps as f64 / 8.0 * gap.as_secs_f64();
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
    fn a_probe_fills_the_time_since_the_last_frame() {
        let t0 = Instant::now();
        let frame = Duration::from_millis(33);
        let mut fill = ProbeFill::default();
        assert_eq!(fill.count(t0, frame, 0), 0);
        // 800 kbit/s = 100 B/ms: a 33 ms frame carries 3.3 kB.
        assert_eq!(fill.count(t0, frame, 800_000), 3);
        assert_eq!(
            fill.count(t0 + Duration::from_millis(50), frame, 800_000),
            5
        );
        // A long gap counts 100 ms at most; a huge rate 24 packets.
        assert_eq!(fill.count(t0 + Duration::from_secs(2), frame, 800_000), 10);
        assert_eq!(
            fill.count(t0 + Duration::from_secs(3), frame, 80_000_000),
            MAX_FILLERS
        );
        // The probe ended: the next one starts from one frame's time.
        assert_eq!(fill.count(t0 + Duration::from_secs(4), frame, 0), 0);
        assert_eq!(fill.count(t0 + Duration::from_secs(5), frame, 800_000), 3);
    }
}
