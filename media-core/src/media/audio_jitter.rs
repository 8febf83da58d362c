//! The audio jitter buffer of one played stream: Opus (or RED carrying
//! Opus) packets in, 20 ms frames out with a playout time each.
//!
//! - Repair: a packet lost on the wire is recovered from the redundant
//!   blocks of a later RED packet first, then from the Opus in-band FEC of
//!   the next frame's packet (its own or a RED block of it), and only then
//!   concealed (Opus PLC). Each outcome is counted, so the player reports
//!   loss before repair (packets lost) and after it (frames concealed).
//! - Delay: each packet's transit (arrival minus its RTP time) is kept for
//!   the last [`WINDOW`] packets; frames are played at their RTP time plus
//!   the smallest transit plus the target delay, the spread between the
//!   smallest and the 95th-percentile transit (bounded by [`MAX_TARGET`]):
//!   it grows when arrivals jitter and shrinks when they calm down.

use crate::codec::opus::OpusDecoder;
use crate::codec::CodecError;
use crate::frame::{AudioFrame, AUDIO_FRAME_SAMPLES, AUDIO_SAMPLE_RATE};
use crate::transport::AudioPacket;
use bytes::Bytes;
use rtc_profile::red::parse;
use std::collections::{BTreeMap, VecDeque};

/// Transits kept for the target delay (5 s of 20 ms packets).
const WINDOW: usize = 250;
/// The target delay never exceeds this.
const MAX_TARGET_US: u64 = 200_000;
/// At most this many missing frames are repaired or concealed before a
/// packet (as far back as a RED block header reaches: 16383 ticks); a
/// longer gap is skipped (and counted concealed).
const MAX_REPAIR: u64 = 17;
/// A sequence jump this large (either way) means the stream restarted.
const RESTART_GAP: i64 = 100;
/// One 20 ms frame in µs.
const FRAME_US: i64 = 20_000;

/// The repair outcome of the packets pushed so far (cumulative).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RepairCounts {
    /// Packets that arrived (in time, once each).
    pub(crate) received: u64,
    /// Packets lost on the wire (missing when their frame was due).
    pub(crate) lost: u64,
    /// Lost frames recovered from RED redundancy.
    pub(crate) recovered_red: u64,
    /// Lost frames recovered from Opus in-band FEC.
    pub(crate) recovered_fec: u64,
    /// Lost frames concealed (PLC, or skipped in a long gap).
    pub(crate) concealed: u64,
}

/// One decoded frame, when to play it and when its sender captured it.
#[derive(Debug)]
pub(crate) struct TimedFrame {
    /// The decoded audio.
    pub(crate) frame: AudioFrame,
    /// The jitter buffer's playout time, Unix µs.
    pub(crate) play_at_us: u64,
    /// The sender's wall clock at the frame's start (Unix µs), when its
    /// sender reports are known.
    pub(crate) sender_us: Option<u64>,
}

/// A packet waiting for its turn.
#[derive(Debug)]
struct Held {
    /// Its RTP time on the stream's unwrapped timeline, µs.
    ts_us: i64,
    sender_us: Option<u64>,
    /// Its own Opus packet (empty when malformed).
    primary: Bytes,
    /// Its RED blocks: (timestamp offset, Opus packet).
    redundant: Vec<(u32, Bytes)>,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct AudioJitterBuffer {
    decoder: OpusDecoder,
    red_payload_type: u8,
    /// The next sequence number to play (unwrapped), once the first packet came.
    next: Option<i64>,
    /// The highest sequence number seen (unwrapped).
    highest: i64,
    /// Packets ahead of `next`, by unwrapped sequence number.
    held: BTreeMap<i64, Held>,
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
            next: None,
            highest: 0,
            held: BTreeMap::new(),
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
    /// now ready, in order, each with its playout time. A packet behind a
    /// missing one waits until the missing one is due ([`Self::deadline_us`]):
    /// it may still arrive (reordered), else it is repaired or concealed.
    /// Duplicates and packets whose frame was already played are ignored.
    pub(crate) fn push(&mut self, packet: &AudioPacket, arrival_us: u64) -> Vec<TimedFrame> {
        let mut out = Vec::new();
        let seq = self.unwrap_sequence(packet.sequence);
        if let Some(next) = self.next {
            if seq < next - RESTART_GAP || seq >= next + RESTART_GAP {
                // The stream restarted: play what is held, start afresh.
                self.flush(&mut out);
                self.next = None;
                self.ts_base = None;
                self.ts_latest = 0;
                self.transits.clear();
            } else if seq < next || self.held.contains_key(&seq) {
                // Too late (its frame was played) or a duplicate.
                return out;
            }
        }
        if self.next.is_none() {
            self.next = Some(seq);
            self.highest = seq;
        }
        self.highest = self.highest.max(seq);
        self.counts.received += 1;
        let ts_us = self.note_arrival(packet.rtp_timestamp, arrival_us);
        let held = self.hold(packet, ts_us);
        self.held.insert(seq, held);
        self.release(arrival_us, &mut out);
        out
    }

    /// The frames due by `now_us` (Unix µs) when no packet came: missing
    /// ones repaired or concealed, and the held packets behind them.
    pub(crate) fn poll(&mut self, now_us: u64) -> Vec<TimedFrame> {
        let mut out = Vec::new();
        self.release(now_us, &mut out);
        out
    }

    /// When the first missing frame must be decided (Unix µs: its playout
    /// time), if packets wait behind it; [`Self::poll`] then.
    pub(crate) fn deadline_us(&self) -> Option<u64> {
        let (next, (&seq, first)) = (self.next?, self.held.first_key_value()?);
        let missing_ts = first.ts_us - (seq - next) * FRAME_US;
        Some((missing_ts + self.playout_offset_us()).max(0) as u64)
    }

    /// The sequence number on the stream's unwrapped count, near the highest.
    fn unwrap_sequence(&self, sequence: u16) -> i64 {
        if self.next.is_none() {
            // Far from zero, so that no unwrapped number goes negative.
            return (1 << 32) + i64::from(sequence);
        }
        let delta = sequence.wrapping_sub(self.highest as u16) as i16;
        self.highest + i64::from(delta)
    }

    /// A packet's blocks, kept until its turn.
    fn hold(&self, packet: &AudioPacket, ts_us: i64) -> Held {
        let mut held = Held {
            ts_us,
            sender_us: packet.capture_time_us,
            primary: Bytes::new(),
            redundant: Vec::new(),
        };
        if packet.payload_type != self.red_payload_type {
            held.primary = packet.data.clone();
            return held;
        }
        match parse(&packet.data) {
            Ok(red) => {
                held.primary = packet.data.slice_ref(red.primary.data);
                held.redundant = red
                    .redundant
                    .iter()
                    .filter(|b| !b.data.is_empty())
                    .map(|b| (u32::from(b.timestamp_offset), packet.data.slice_ref(b.data)))
                    .collect();
            }
            Err(e) => tracing::debug!(%e, "malformed RED packet"),
        }
        held
    }

    /// Plays held packets in order while the next one is there or, when it
    /// is missing, once it is due at `now_us`.
    fn release(&mut self, now_us: u64, out: &mut Vec<TimedFrame>) {
        while let Some(next) = self.next {
            if let Some(held) = self.held.remove(&next) {
                self.next = Some(next + 1);
                self.play(&held, out);
                continue;
            }
            match self.deadline_us() {
                Some(due) if due <= now_us => self.repair(next, out),
                _ => return,
            }
        }
    }

    /// Decides the missing frame `missing`: skipped if the gap is too long,
    /// else repaired from RED, then FEC, else concealed.
    fn repair(&mut self, missing: i64, out: &mut Vec<TimedFrame>) {
        let Some((&after, first)) = self.held.first_key_value() else {
            return;
        };
        let gap = (after - missing) as u64;
        self.counts.lost += 1;
        self.next = Some(missing + 1);
        if gap > MAX_REPAIR {
            self.counts.concealed += 1;
            return;
        }
        let ts_us = first.ts_us - (after - missing) * FRAME_US;
        let sender_us = first
            .sender_us
            .map(|t| t.saturating_sub((after - missing) as u64 * FRAME_US as u64));
        let copy = self.opus_packet_of(missing);
        // The next frame's packet carries this one's FEC, wherever it is
        // held: its own packet, or a RED block of a later one.
        let fec_source = self.opus_packet_of(missing + 1);
        let (repaired, counter) = match (copy, fec_source) {
            (Some(block), _) => (self.decoder.decode(&block), &mut self.counts.recovered_red),
            (None, Some(next)) => (
                self.decoder.decode_fec(&next),
                &mut self.counts.recovered_fec,
            ),
            (None, None) => (self.decoder.conceal(), &mut self.counts.concealed),
        };
        match repaired {
            Ok(frame) => {
                *counter += 1;
                out.push(self.timed(frame, ts_us, sender_us));
            }
            Err(e) => {
                // Nothing to play for this frame: a gap, as concealed.
                self.counts.concealed += 1;
                tracing::debug!(%e, "audio repair failed");
            }
        }
    }

    /// The Opus packet of frame `seq` among the held packets: its own, or
    /// the first later packet's RED block of it.
    fn opus_packet_of(&self, seq: i64) -> Option<Bytes> {
        if let Some(own) = self.held.get(&seq).filter(|h| !h.primary.is_empty()) {
            return Some(own.primary.clone());
        }
        self.held.range(seq + 1..).find_map(|(&later, held)| {
            let offset = (later - seq) as u32 * AUDIO_FRAME_SAMPLES as u32;
            held.redundant
                .iter()
                .find(|(o, _)| *o == offset)
                .map(|(_, data)| data.clone())
        })
    }

    /// Decodes a packet's own frame.
    fn play(&mut self, held: &Held, out: &mut Vec<TimedFrame>) {
        if held.primary.is_empty() {
            return;
        }
        match self.decoder.decode(&held.primary) {
            Ok(frame) => out.push(self.timed(frame, held.ts_us, held.sender_us)),
            Err(e) => tracing::debug!(%e, "undecodable audio packet"),
        }
    }

    /// Plays every held packet at once, without repair (the stream restarted).
    fn flush(&mut self, out: &mut Vec<TimedFrame>) {
        for held in std::mem::take(&mut self.held).into_values() {
            self.play(&held, out);
        }
    }

    fn timed(&self, frame: AudioFrame, ts_us: i64, sender_us: Option<u64>) -> TimedFrame {
        TimedFrame {
            frame,
            play_at_us: (ts_us + self.playout_offset_us()).max(0) as u64,
            sender_us,
        }
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
                for f in out {
                    f.frame.validate().unwrap();
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
    fn deep_red_repairs_a_long_gap() {
        // Eight in a row lost, eight redundant frames: all recovered.
        let (red, frames) = run(&packets(40, 8), |i| (10..18).contains(&i));
        assert_eq!(frames, 40);
        assert_eq!((red.lost, red.recovered_red, red.concealed), (8, 8, 0));
    }

    #[test]
    fn fec_comes_from_a_red_copy_of_the_next_frame_too() {
        // 10, 11 and 12 lost; 13 carries 11 and 12 (distance 2), and 11's
        // copy carries 10's FEC.
        let (c, frames) = run(&packets(30, 2), |i| (10..13).contains(&i));
        assert_eq!(frames, 30);
        assert_eq!((c.lost, c.recovered_red, c.recovered_fec), (3, 2, 1));
        assert_eq!(c.concealed, 0);
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
            // Every third packet 45 ms late (the two after it wait for it).
            let late = if i % 3 == 0 { 45_000 } else { 0 };
            let out = jb.push(p, 1_000_000 + i as u64 * 20_000 + late);
            if let Some(last) = out.last() {
                last_at = last.play_at_us;
            }
        }
        let target = jb.target_delay_us();
        assert!((40_000..=50_000).contains(&target), "{target}");
        // Played at the RTP time + smallest transit + target.
        assert_eq!(last_at, 1_000_000 + 119 * 20_000 + target);
    }

    /// A buffer that learned a ~45 ms target delay from 60 packets.
    fn jittery(ps: &[AudioPacket]) -> AudioJitterBuffer {
        let mut jb = AudioJitterBuffer::new(1, RED_PT).unwrap();
        for (i, p) in ps.iter().take(60).enumerate() {
            let late = if i % 3 == 0 { 45_000 } else { 0 };
            jb.push(p, 1_000_000 + i as u64 * 20_000 + late);
        }
        jb
    }

    #[test]
    fn reordered_packets_are_put_in_order_and_duplicates_ignored() {
        let ps = packets(70, 0);
        let mut jb = jittery(&ps);
        let at = |i: usize| 1_000_000 + i as u64 * 20_000;
        let before = jb.counts();
        let seqs = |out: Vec<TimedFrame>| out.len();
        // 61 overtakes 60 (netem's reorder: sent without the delay), then
        // 62 comes twice.
        assert_eq!(seqs(jb.push(&ps[61], at(61) - 30_000)), 0, "waits for 60");
        let out = jb.push(&ps[60], at(60) + 5_000);
        assert_eq!(out.len(), 2, "60 then 61");
        assert!(out[0].play_at_us + 20_000 == out[1].play_at_us);
        assert_eq!(seqs(jb.push(&ps[62], at(62))), 1);
        assert_eq!(seqs(jb.push(&ps[62], at(62) + 1_000)), 0, "duplicate");
        // 64 before 63, 63 after its frame was played: 63 is lost, and
        // repaired from 64's FEC when due.
        assert_eq!(seqs(jb.push(&ps[64], at(64))), 0);
        let due = jb.deadline_us().unwrap();
        assert!(jb.poll(due - 1).is_empty());
        assert_eq!(jb.poll(due).len(), 2, "63 repaired, 64");
        assert_eq!(seqs(jb.push(&ps[63], due + 1_000)), 0, "too late");
        let c = jb.counts();
        assert_eq!(c.received - before.received, 4);
        assert_eq!(c.lost - before.lost, 1);
        assert_eq!(c.recovered_fec - before.recovered_fec, 1);
        assert_eq!(c.concealed, before.concealed);
    }

    #[test]
    fn red_repairs_from_any_held_packet() {
        // 10 and 11 lost, 13 overtakes 12: 12 carries 10 and 11 (RED
        // distance 2), and they are repaired from it once due.
        let ps = packets(20, 2);
        let mut jb = jittery(&packets(60, 0));
        let before = jb.counts();
        let at = |i: usize| 1_000_000 + (60 + i as u64) * 20_000;
        let mut frames = 0;
        for (i, arrival) in (0..10)
            .map(|i| (i, at(i)))
            .chain([(13, at(13) - 30_000), (12, at(12))])
            .chain((14..20).map(|i| (i, at(i))))
        {
            let mut p = ps[i].clone();
            p.sequence = 65_530u16.wrapping_add(60 + i as u16);
            p.rtp_timestamp = 1000 + (60 + i as u32) * 960;
            frames += jb.push(&p, arrival).len();
        }
        let c = jb.counts();
        assert_eq!(frames, 20, "every frame played");
        assert_eq!(c.lost - before.lost, 2);
        assert_eq!(c.recovered_red - before.recovered_red, 2, "{c:?}");
        assert_eq!(c.concealed, before.concealed);
    }
}
