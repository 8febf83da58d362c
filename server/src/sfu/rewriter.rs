//! Keeps a player leg's video one continuous RTP stream while the SFU
//! switches between a publisher's simulcast layers and inserts probe
//! packets (sans-IO).
//!
//! Each layer has its own sequence numbers and a timestamp base of its own
//! (webrtc-rs starts each SSRC's packetizer at a random timestamp, and a
//! paused layer's clock stops). At a switch the new layer's first packet
//! continues the leg's sequence (last + 1) and its timestamp continues the
//! leg's clock by the wall time elapsed since the last packet written
//! (90 kHz), so frame-rate changes and resumed layers stay in step.
//! Packets inserted by the SFU take the next sequence numbers; the layer's
//! later packets shift past them, while an earlier one arriving late (a
//! retransmission) keeps the numbering it had.

use super::forwarder::rewrite_for_leg;
use rtc::rtp;
use std::collections::VecDeque;
use std::time::Instant;

/// The video clock rate (H.264).
const CLOCK_RATE: u64 = 90_000;
/// How many insertion points a late packet may still be placed behind.
const SHIFTS_KEPT: usize = 16;

/// One leg's sequence and timestamp mapping.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rewriter {
    /// Source sequence numbers from `.0` on are shifted by `.1`, newest last.
    shifts: VecDeque<(u16, u16)>,
    ts_delta: u32,
    /// The newest packet written: its leg sequence number and timestamp, and when.
    last: Option<(u16, u32, Instant)>,
}

impl Rewriter {
    /// The timestamp offset from the forwarded layer's clock to the leg's.
    pub(crate) fn ts_delta(&self) -> u32 {
        self.ts_delta
    }

    /// Re-anchors on the first packet of a new layer (its header), at `now`.
    pub(crate) fn switch(&mut self, first: &rtp::header::Header, now: Instant) {
        let Some((seq, ts, at)) = self.last else {
            self.shifts.clear();
            self.shifts.push_back((first.sequence_number, 0));
            self.ts_delta = 0;
            return;
        };
        let elapsed = now.saturating_duration_since(at);
        let ticks = (elapsed.as_micros() as u64 * CLOCK_RATE / 1_000_000).max(1);
        self.shifts.clear();
        self.shifts.push_back((
            first.sequence_number,
            seq.wrapping_add(1).wrapping_sub(first.sequence_number),
        ));
        self.ts_delta = ts.wrapping_add(ticks as u32).wrapping_sub(first.timestamp);
    }

    /// Rewrites a packet of the forwarded layer for the leg (SSRC, payload
    /// type, no extensions, sequence number and timestamp), at `now`.
    pub(crate) fn rewrite(&mut self, packet: &mut rtp::Packet, ssrc: u32, pt: u8, now: Instant) {
        let source = packet.header.sequence_number;
        let shift = self
            .shifts
            .iter()
            .rev()
            .find(|(from, _)| !is_before(source, *from))
            .or(self.shifts.front())
            .map_or(0, |(_, shift)| *shift);
        rewrite_for_leg(packet, ssrc, pt);
        packet.header.sequence_number = source.wrapping_add(shift);
        packet.header.timestamp = packet.header.timestamp.wrapping_add(self.ts_delta);
        self.note(packet.header.sequence_number, packet.header.timestamp, now);
    }

    /// The leg sequence number for a packet the SFU inserts after the
    /// newest one written; the layer's next packets shift past it.
    /// `None` before anything was written.
    pub(crate) fn insert(&mut self, now: Instant) -> Option<(u16, u32)> {
        let (seq, ts, _) = self.last?;
        let seq = seq.wrapping_add(1);
        let (from, shift) = *self.shifts.back()?;
        // Source packets from the one that would have taken `seq` on.
        let next_source = seq.wrapping_sub(shift);
        let from = if is_before(next_source, from) {
            from
        } else {
            next_source
        };
        self.shifts.push_back((from, shift.wrapping_add(1)));
        if self.shifts.len() > SHIFTS_KEPT {
            self.shifts.pop_front();
        }
        self.note(seq, ts, now);
        Some((seq, ts))
    }

    fn note(&mut self, seq: u16, ts: u32, now: Instant) {
        let newer = self.last.is_none_or(|(last, _, _)| !is_before(seq, last));
        if newer {
            self.last = Some((seq, ts, now));
        }
    }
}

/// Whether sequence number `a` comes before `b` (RFC 1982 arithmetic).
fn is_before(a: u16, b: u16) -> bool {
    a != b && b.wrapping_sub(a) < 0x8000
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::time::Duration;

    fn packet(seq: u16, ts: u32) -> rtp::Packet {
        rtp::Packet {
            header: rtp::header::Header {
                version: 2,
                sequence_number: seq,
                timestamp: ts,
                ssrc: 7,
                payload_type: 102,
                ..Default::default()
            },
            payload: Bytes::from_static(b"x"),
        }
    }

    fn out(r: &mut Rewriter, seq: u16, ts: u32, now: Instant) -> (u16, u32) {
        let mut p = packet(seq, ts);
        r.rewrite(&mut p, 99, 125, now);
        assert_eq!((p.header.ssrc, p.header.payload_type), (99, 125));
        (p.header.sequence_number, p.header.timestamp)
    }

    #[test]
    fn the_first_layer_passes_unchanged() {
        let t0 = Instant::now();
        let mut r = Rewriter::default();
        r.switch(&packet(100, 5000).header, t0);
        assert_eq!(out(&mut r, 100, 5000, t0), (100, 5000));
        assert_eq!(out(&mut r, 101, 8000, t0), (101, 8000));
        assert_eq!(r.ts_delta(), 0);
    }

    #[test]
    fn a_switch_continues_sequence_and_clock_across_the_wrap() {
        let t0 = Instant::now();
        let mut r = Rewriter::default();
        r.switch(&packet(65_534, u32::MAX - 1000).header, t0);
        assert_eq!(
            out(&mut r, 65_534, u32::MAX - 1000, t0),
            (65_534, u32::MAX - 1000)
        );
        assert_eq!(
            out(&mut r, 65_535, u32::MAX - 1000, t0),
            (65_535, u32::MAX - 1000)
        );
        // 40 ms later the other layer's keyframe: 3600 ticks on.
        let t1 = t0 + Duration::from_millis(40);
        r.switch(&packet(10, 77).header, t1);
        assert_eq!(out(&mut r, 10, 77, t1), (0, 2599));
        assert_eq!(out(&mut r, 11, 77 + 3000, t1), (1, 5599));
        // Back to the first layer after 1 s (its clock ran on meanwhile).
        let t2 = t1 + Duration::from_secs(1);
        r.switch(&packet(300, 1_000_000).header, t2);
        assert_eq!(out(&mut r, 300, 1_000_000, t2), (2, 5599 + 90_000));
    }

    #[test]
    fn a_switch_within_the_same_instant_still_moves_the_clock() {
        let t0 = Instant::now();
        let mut r = Rewriter::default();
        r.switch(&packet(1, 1000).header, t0);
        out(&mut r, 1, 1000, t0);
        r.switch(&packet(50, 9).header, t0);
        assert_eq!(out(&mut r, 50, 9, t0), (2, 1001));
    }

    #[test]
    fn inserted_packets_take_the_next_numbers_and_late_packets_keep_theirs() {
        let t0 = Instant::now();
        let mut r = Rewriter::default();
        assert_eq!(r.insert(t0), None);
        r.switch(&packet(65_533, 100).header, t0);
        assert_eq!(out(&mut r, 65_533, 100, t0), (65_533, 100));
        assert_eq!(out(&mut r, 65_535, 100, t0), (65_535, 100));
        assert_eq!(r.insert(t0), Some((0, 100)));
        assert_eq!(r.insert(t0), Some((1, 100)));
        // The layer goes on after the two inserted packets, across the wrap.
        assert_eq!(out(&mut r, 0, 3100, t0), (2, 3100));
        // 65534 was late (a retransmission): it keeps its place.
        assert_eq!(out(&mut r, 65_534, 100, t0), (65_534, 100));
        assert_eq!(r.insert(t0), Some((3, 3100)));
        assert_eq!(out(&mut r, 1, 6100, t0), (4, 6100));
        assert_eq!(out(&mut r, 0, 3100, t0), (2, 3100));
    }
}
