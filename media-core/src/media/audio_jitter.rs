//! The audio jitter buffer of one played stream: Opus (or RED carrying
//! Opus) packets in, 20 ms frames out with a playout time each.
//!
//! - Repair: a packet lost on the wire is recovered from the redundant
//!   blocks of a later RED packet first, then from the Opus in-band FEC of
//!   the packet right after it, and only then concealed (Opus PLC). Each
//!   outcome is counted, so the player reports loss before repair (packets
//!   lost) and after it (frames concealed).
//! - Delay: each packet's transit (arrival minus its RTP time) is kept for
//!   the last [`WINDOW`] packets; frames are played at their RTP time plus
//!   the smallest transit plus the target delay, the spread between the
//!   smallest and the 95th-percentile transit (bounded by [`MAX_TARGET`]):
//!   it grows when arrivals jitter and shrinks when they calm down.

use crate::codec::opus::OpusDecoder;
use crate::codec::CodecError;
use crate::frame::{AudioFrame, AUDIO_FRAME_SAMPLES, AUDIO_SAMPLE_RATE};
use crate::transport::AudioPacket;
use rtc_profile::red::{parse, RedBlock};
use std::collections::VecDeque;

/// Transits kept for the target delay (5 s of 20 ms packets).
const WINDOW: usize = 250;
/// The target delay never exceeds this.
const MAX_TARGET_US: u64 = 200_000;
/// At most this many missing frames are repaired or concealed before a
/// packet; a longer gap is skipped (and counted concealed).
const MAX_REPAIR: u16 = 5;
/// A sequence jump this large means the stream restarted.
const RESTART_GAP: u16 = 100;

/// The repair outcome of the packets pushed so far (cumulative).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RepairCounts {
    /// Packets that arrived.
    pub(crate) received: u64,
    /// Packets lost on the wire (sequence gaps).
    pub(crate) lost: u64,
    /// Lost frames recovered from RED redundancy.
    pub(crate) recovered_red: u64,
    /// Lost frames recovered from Opus in-band FEC.
    pub(crate) recovered_fec: u64,
    /// Lost frames concealed (PLC, or skipped in a long gap).
    pub(crate) concealed: u64,
}

/// One decoded frame and when to play it (Unix µs).
pub(crate) type TimedFrame = (AudioFrame, u64);

/// See the module docs.
#[derive(Debug)]
pub(crate) struct AudioJitterBuffer {
    decoder: OpusDecoder,
    red_payload_type: u8,
    last_seq: Option<u16>,
    /// First RTP timestamp seen and the unwrapped latest one.
    ts_base: Option<u32>,
    ts_latest: i64,
    transits: VecDeque<i64>,
    counts: RepairCounts,
}

impl AudioJitterBuffer {
    /// A buffer decoding to `channels` and taking packets of
    /// `red_payload_type` as RED.
    pub(crate) fn new(channels: u16, red_payload_type: u8) -> Result<Self, CodecError> {
        Ok(AudioJitterBuffer {
            decoder: OpusDecoder::new(AUDIO_SAMPLE_RATE, channels)?,
            red_payload_type,
            last_seq: None,
            ts_base: None,
            ts_latest: 0,
            transits: VecDeque::with_capacity(WINDOW),
            counts: RepairCounts::default(),
        })
    }

    /// The repair counts so far.
    pub(crate) fn counts(&self) -> RepairCounts {
        self.counts
    }

    /// The delay added to the smallest transit before playout, µs.
    pub(crate) fn target_delay_us(&self) -> u64 {
        let Some(&min) = self.transits.iter().min() else {
            return 0;
        };
        let mut sorted: Vec<i64> = self.transits.iter().copied().collect();
        sorted.sort_unstable();
        let p95 = sorted[(sorted.len() - 1) * 95 / 100];
        (p95 - min).clamp(0, MAX_TARGET_US as i64) as u64
    }

    /// Takes a packet that arrived at `arrival_us` (Unix µs): the frames
    /// it yields, repaired ones first, each with its playout time.
    pub(crate) fn push(&mut self, packet: &AudioPacket, arrival_us: u64) -> Vec<TimedFrame> {
        let gap = self
            .last_seq
            .map_or(0, |s| packet.sequence.wrapping_sub(s).wrapping_sub(1));
        if gap >= 0x8000 {
            // Late duplicate or reordered packet: already repaired.
            return Vec::new();
        }
        self.counts.received += 1;
        self.last_seq = Some(packet.sequence);
        let gap = if gap >= RESTART_GAP { 0 } else { gap };
        self.counts.lost += u64::from(gap);
        let ts_us = self.note_arrival(packet.rtp_timestamp, arrival_us);
        let offset_us = self.playout_offset_us();
        let play_at = |frames_before: u16| {
            (ts_us - i64::from(frames_before) * FRAME_US + offset_us).max(0) as u64
        };
        let red;
        let (primary, redundant): (&[u8], &[RedBlock<'_>]) =
            if packet.payload_type == self.red_payload_type {
                match parse(&packet.data) {
                    Ok(parsed) => {
                        red = parsed;
                        (red.primary.data, &red.redundant)
                    }
                    Err(e) => {
                        tracing::debug!(%e, "malformed RED packet");
                        (&[], &[])
                    }
                }
            } else {
                (&packet.data, &[])
            };
        let mut out = Vec::new();
        self.counts.concealed += u64::from(gap.saturating_sub(MAX_REPAIR));
        for before in (1..=gap.min(MAX_REPAIR)).rev() {
            let offset = u32::from(before) * AUDIO_FRAME_SAMPLES as u32;
            let copy = redundant
                .iter()
                .find(|b| u32::from(b.timestamp_offset) == offset && !b.data.is_empty());
            let (repaired, counter) = match copy {
                Some(block) => (
                    self.decoder.decode(block.data),
                    &mut self.counts.recovered_red,
                ),
                None if before == 1 && !primary.is_empty() => (
                    self.decoder.decode_fec(primary),
                    &mut self.counts.recovered_fec,
                ),
                None => (self.decoder.conceal(), &mut self.counts.concealed),
            };
            match repaired {
                Ok(frame) => {
                    *counter += 1;
                    out.push((frame, play_at(before)));
                }
                Err(e) => {
                    // Nothing to play for this frame: a gap, as concealed.
                    self.counts.concealed += 1;
                    tracing::debug!(%e, "audio repair failed");
                }
            }
        }
        if primary.is_empty() {
            return out;
        }
        match self.decoder.decode(primary) {
            Ok(frame) => out.push((frame, play_at(0))),
            Err(e) => tracing::debug!(%e, "undecodable audio packet"),
        }
        out
    }

    /// Records a packet's transit; returns its RTP time in µs on the
    /// stream's own (unwrapped) timeline.
    fn note_arrival(&mut self, rtp_timestamp: u32, arrival_us: u64) -> i64 {
        let base = *self.ts_base.get_or_insert(rtp_timestamp);
        // Unwrap near the latest: a 32-bit RTP clock wraps every 25 h.
        let latest = self.ts_latest;
        let delta = rtp_timestamp.wrapping_sub(base.wrapping_add(latest as u32)) as i32;
        let ts = latest + i64::from(delta);
        self.ts_latest = self.ts_latest.max(ts);
        let ts_us = ts * 1_000_000 / i64::from(AUDIO_SAMPLE_RATE);
        if self.transits.len() == WINDOW {
            self.transits.pop_front();
        }
        self.transits.push_back(arrival_us as i64 - ts_us);
        ts_us
    }

    /// From a frame's RTP time (µs) to its playout time: the smallest
    /// transit plus the target delay.
    fn playout_offset_us(&self) -> i64 {
        let min = self.transits.iter().min().copied().unwrap_or(0);
        min + self.target_delay_us() as i64
    }
}

/// One 20 ms frame in µs.
const FRAME_US: i64 = 20_000;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::tone::ToneGenerator;
    use crate::codec::opus::OpusEncoder;
    use crate::codec::red::RedEncoder;
    use bytes::Bytes;
    use std::time::Instant;

    const RED_PT: u8 = rtc_profile::RED_PAYLOAD_TYPE;

    /// `n` packets of a tone, RED with `redundancy` frames (0: plain Opus).
    fn packets(n: u16, redundancy: usize) -> Vec<AudioPacket> {
        let mut tone = ToneGenerator::new(440.0, AUDIO_SAMPLE_RATE, 1);
        let mut enc = OpusEncoder::new(48_000, 1).unwrap();
        let mut red = RedEncoder::new();
        (0..n)
            .map(|i| {
                let opus = enc.encode(&tone.next_frame(u64::from(i) * 20_000)).unwrap();
                let (data, payload_type) = match red.encode(&opus, redundancy).unwrap() {
                    Some(red) => (red, RED_PT),
                    None => (opus, rtc_profile::OPUS_PAYLOAD_TYPE),
                };
                AudioPacket {
                    data,
                    rtp_timestamp: 1000 + u32::from(i) * 960,
                    sequence: 65_530u16.wrapping_add(i),
                    payload_type,
                    received_at: Instant::now(),
                    capture_time_us: None,
                }
            })
            .collect()
    }

    fn run(packets: &[AudioPacket], lose: impl Fn(usize) -> bool) -> (RepairCounts, usize) {
        let mut jb = AudioJitterBuffer::new(1, RED_PT).unwrap();
        let mut frames = 0;
        for (i, p) in packets.iter().enumerate() {
            if !lose(i) {
                let out = jb.push(p, 5_000_000 + i as u64 * 20_000);
                frames += out.len();
                for (f, _) in out {
                    f.validate().unwrap();
                }
            }
        }
        (jb.counts(), frames)
    }

    #[test]
    fn red_repairs_what_fec_and_plc_would_conceal() {
        // Bursts of three lost packets out of every eight.
        let lose = |i: usize| i > 0 && i < 95 && i % 8 >= 5;
        let (plain, plain_frames) = run(&packets(100, 0), lose);
        let (red, red_frames) = run(&packets(100, 3), lose);
        assert_eq!(plain.lost, red.lost);
        assert_eq!(plain_frames, 100);
        assert_eq!(red_frames, 100);
        assert_eq!(red.recovered_red, red.lost, "{red:?}");
        assert_eq!(red.concealed, 0);
        assert_eq!(
            plain.recovered_fec + plain.concealed,
            plain.lost,
            "{plain:?}"
        );
        assert!(plain.concealed > 0);
    }

    #[test]
    fn late_and_malformed_packets_do_no_harm() {
        let ps = packets(6, 1);
        let mut jb = AudioJitterBuffer::new(1, RED_PT).unwrap();
        assert_eq!(jb.push(&ps[0], 1_000_000).len(), 1);
        assert_eq!(jb.push(&ps[2], 1_040_000).len(), 2, "recovered + primary");
        assert!(
            jb.push(&ps[1], 1_045_000).is_empty(),
            "late: already repaired"
        );
        let bad = AudioPacket {
            data: Bytes::from_static(&[0xff, 0x01]),
            ..ps[3].clone()
        };
        assert!(jb.push(&bad, 1_060_000).is_empty());
        assert_eq!(jb.push(&ps[4], 1_080_000).len(), 1);
        let c = jb.counts();
        assert_eq!((c.received, c.lost, c.recovered_red), (4, 1, 1));
    }

    #[test]
    fn target_delay_follows_arrival_jitter() {
        let ps = packets(120, 0);
        let mut jb = AudioJitterBuffer::new(1, RED_PT).unwrap();
        for (i, p) in ps.iter().take(60).enumerate() {
            jb.push(p, 1_000_000 + i as u64 * 20_000);
        }
        assert!(jb.target_delay_us() < 1_000, "{}", jb.target_delay_us());
        let mut last_at = 0;
        for (i, p) in ps.iter().enumerate().skip(60) {
            // Every third packet 45 ms late.
            let late = if i % 3 == 0 { 45_000 } else { 0 };
            let out = jb.push(p, 1_000_000 + i as u64 * 20_000 + late);
            last_at = out.last().unwrap().1;
        }
        let target = jb.target_delay_us();
        assert!((40_000..=50_000).contains(&target), "{target}");
        // Played at the RTP time + smallest transit + target.
        assert_eq!(last_at, 1_000_000 + 119 * 20_000 + target);
    }
}
