//! Keeps a player leg's video one continuous RTP stream while the SFU
//! switches between a publisher's simulcast layers, drops frames of the
//! forwarded layer (temporal thinning) and inserts probe packets
//! (sans-IO).
//!
//! Each layer has its own sequence numbers and a timestamp base of its own
//! (webrtc-rs starts each SSRC's packetizer at a random timestamp, and a
//! paused layer's clock stops). At a switch the new layer's first packet
//! continues the leg's sequence (last + 1) and its timestamp continues the
//! leg's clock by the wall time elapsed since the last packet written
//! (90 kHz), so frame-rate changes and resumed layers stay in step.
//! Packets inserted by the SFU take the next sequence numbers, and packets
//! the SFU drops give theirs up: the layer's later packets shift past the
//! one and close up behind the other, so the player sees no hole to ask a
//! retransmission of. An earlier packet arriving late (a retransmission)
//! keeps the numbering it had; a late packet of a dropped range, or older
//! than the mapping remembers, is refused (its number may have gone to
//! another packet).

use super::forwarder::rewrite_for_leg;
use rtc::rtp;
use std::collections::VecDeque;
use std::time::Instant;

/// The video clock rate (H.264).
const CLOCK_RATE: u64 = 90_000;
/// How many shifts a late packet may still be placed behind (a thinned
/// leg makes one per dropped frame: two seconds of them at 30 fps).
const SHIFTS_KEPT: usize = 64;

/// Source sequence numbers from `from` on go out shifted by `shift`; the
/// `dropped` numbers just before `from` were dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Shift {
    from: u16,
    shift: u16,
    dropped: u16,
}

/// One leg's sequence and timestamp mapping.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rewriter {
    /// Newest last, `from` never decreasing (in sequence order).
    shifts: VecDeque<Shift>,
    ts_delta: u32,
    /// The newest packet written: its leg sequence number and timestamp, and when.
    last: Option<(u16, u32, Instant)>,
    /// The newest source sequence number of the layer, written or dropped.
    newest: Option<u16>,
}

impl Rewriter {
    /// The timestamp offset from the forwarded layer's clock to the leg's.
    pub(crate) fn ts_delta(&self) -> u32 {
        self.ts_delta
    }

    /// Re-anchors on the first packet of a new layer (its header), at `now`.
    pub(crate) fn switch(&mut self, first: &rtp::header::Header, now: Instant) {
        self.shifts.clear();
        self.newest = None;
        let Some((seq, ts, at)) = self.last else {
            self.push(first.sequence_number, 0, 0);
            self.ts_delta = 0;
            return;
        };
        let elapsed = now.saturating_duration_since(at);
        let ticks = (elapsed.as_micros() as u64 * CLOCK_RATE / 1_000_000).max(1);
        self.push(
            first.sequence_number,
            seq.wrapping_add(1).wrapping_sub(first.sequence_number),
            0,
        );
        self.ts_delta = ts.wrapping_add(ticks as u32).wrapping_sub(first.timestamp);
    }

    /// Rewrites a packet of the forwarded layer for the leg (SSRC, payload
    /// type, no extensions, sequence number and timestamp), at `now`.
    /// `false` (the packet untouched): a late packet whose number went to
    /// another one when its neighbours were dropped, or one older than
    /// the switch to its layer or than the [`SHIFTS_KEPT`] shifts kept
    /// (its number is not known); it must not be sent.
    pub(crate) fn rewrite(
        &mut self,
        packet: &mut rtp::Packet,
        ssrc: u32,
        pt: u8,
        now: Instant,
    ) -> bool {
        let source = packet.header.sequence_number;
        let after = self
            .shifts
            .iter()
            .position(|s| is_before(source, s.from))
            .unwrap_or(self.shifts.len());
        let next_dropped = self
            .shifts
            .get(after)
            .is_some_and(|next| !is_before(source, next.from.wrapping_sub(next.dropped)));
        let Some(shift) = after.checked_sub(1).and_then(|i| self.shifts.get(i)) else {
            // Older than the mapping remembers (or than the layer's switch).
            return false;
        };
        if next_dropped {
            return false;
        }
        let shift = shift.shift;
        self.see(source);
        rewrite_for_leg(packet, ssrc, pt);
        packet.header.sequence_number = source.wrapping_add(shift);
        packet.header.timestamp = packet.header.timestamp.wrapping_add(self.ts_delta);
        self.note(packet.header.sequence_number, packet.header.timestamp, now);
        true
    }

    /// A packet of the forwarded layer (its header) is not sent: the
    /// layer's later packets close up behind it. A late one (older than
    /// the newest seen) cannot give its number back any more: the player
    /// sees a hole there, as for a packet lost upstream.
    pub(crate) fn drop_packet(&mut self, header: &rtp::header::Header) {
        let source = header.sequence_number;
        if self.newest.is_some_and(|n| !is_before(n, source)) {
            return;
        }
        self.see(source);
        let Some(last) = self.shifts.back_mut() else {
            return;
        };
        let next = source.wrapping_add(1);
        if last.from == source {
            // Right after the last drop (or the packet a shift starts at).
            *last = Shift {
                from: next,
                shift: last.shift.wrapping_sub(1),
                dropped: last.dropped.wrapping_add(1),
            };
        } else {
            let shift = last.shift.wrapping_sub(1);
            self.push(next, shift, 1);
        }
    }

    /// The leg sequence number for a packet the SFU inserts after the
    /// newest one seen (the numbers of packets not arrived yet before it
    /// stay theirs), with the newest written timestamp; the layer's next
    /// packets shift past it. `None` before anything was written.
    pub(crate) fn insert(&mut self, now: Instant) -> Option<(u16, u32)> {
        let (_, ts, _) = self.last?;
        let last = *self.shifts.back()?;
        // The source packet that would have taken the number, and those after.
        let next_source = self.newest.map_or(last.from, |n| n.wrapping_add(1));
        let from = if is_before(next_source, last.from) {
            last.from
        } else {
            next_source
        };
        let seq = from.wrapping_add(last.shift);
        self.push(from, last.shift.wrapping_add(1), 0);
        self.note(seq, ts, now);
        Some((seq, ts))
    }

    fn push(&mut self, from: u16, shift: u16, dropped: u16) {
        self.shifts.push_back(Shift {
            from,
            shift,
            dropped,
        });
        if self.shifts.len() > SHIFTS_KEPT {
            self.shifts.pop_front();
        }
    }

    fn see(&mut self, source: u16) {
        if self.newest.is_none_or(|n| is_before(n, source)) {
            self.newest = Some(source);
        }
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
        assert!(r.rewrite(&mut p, 99, 125, now), "packet {seq} refused");
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

    fn dropped(r: &mut Rewriter, seq: u16) {
        r.drop_packet(&packet(seq, 0).header);
    }

    #[test]
    fn dropped_frames_give_their_numbers_up_across_the_wrap() {
        let t0 = Instant::now();
        let mut r = Rewriter::default();
        // T0 (two packets), T1 (two, dropped), T0, T1 (dropped), T0 ...
        for (n, seq) in [65_530, 65_531].into_iter().enumerate() {
            if n == 0 {
                r.switch(&packet(seq, 0).header, t0);
            }
            assert_eq!(out(&mut r, seq, 0, t0), (seq, 0));
        }
        dropped(&mut r, 65_532);
        dropped(&mut r, 65_533);
        assert_eq!(out(&mut r, 65_534, 6000, t0).0, 65_532);
        dropped(&mut r, 65_535);
        assert_eq!(out(&mut r, 0, 12_000, t0).0, 65_533);
        assert_eq!(out(&mut r, 1, 12_000, t0).0, 65_534);
        dropped(&mut r, 2);
        dropped(&mut r, 3);
        dropped(&mut r, 4);
        assert_eq!(out(&mut r, 5, 18_000, t0).0, 65_535);
        assert_eq!(out(&mut r, 6, 18_000, t0).0, 0);
        // A probe packet in between, then more drops.
        assert_eq!(r.insert(t0), Some((1, 18_000)));
        dropped(&mut r, 7);
        assert_eq!(out(&mut r, 8, 24_000, t0).0, 2);
        // A late retransmission of a forwarded packet keeps its number; one
        // of a dropped frame is refused (its number went to packet 65534).
        assert_eq!(out(&mut r, 65_531, 0, t0).0, 65_531);
        let mut late = packet(65_533, 0);
        assert!(!r.rewrite(&mut late, 99, 125, t0));
        assert!(!r.rewrite(&mut packet(3, 0), 99, 125, t0));
        assert!(!r.rewrite(&mut packet(7, 0), 99, 125, t0));
        // A late drop cannot give its number back: a hole, not a repeat.
        dropped(&mut r, 65_534);
        assert_eq!(out(&mut r, 9, 24_000, t0).0, 3);
        // A switch starts afresh after the last number written.
        r.switch(&packet(500, 0).header, t0);
        assert_eq!(out(&mut r, 500, 0, t0).0, 4);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;
        use std::collections::HashMap;

        /// One step of a leg: a frame of `packets` packets forwarded or
        /// dropped, a probe packet inserted, or a retransmission (sent on)
        /// of the packet this many before the newest.
        #[derive(Debug, Clone)]
        enum Step {
            Frame { packets: u16, forwarded: bool },
            Insert,
            Again(u16),
        }

        fn in_order() -> impl Strategy<Value = Step> {
            prop_oneof![
                8 => (1u16..5, any::<bool>())
                    .prop_map(|(packets, forwarded)| Step::Frame { packets, forwarded }),
                1 => Just(Step::Insert),
            ]
        }

        fn any_step() -> impl Strategy<Value = Step> {
            prop_oneof![
                8 => in_order(),
                1 => (0u16..12).prop_map(Step::Again),
            ]
        }

        /// A number written, and the source packet it went to (`None`: an
        /// inserted one).
        type Written = (u16, Option<u16>);

        /// Runs `steps` from source number `start`; `late[n]` holds back
        /// the last packets of frame `n` until after the next frame (0:
        /// in order) and whether they are then sent the other way (the
        /// thinning changed meanwhile).
        fn run(start: u16, steps: &[Step], late: &[(usize, bool)]) -> Vec<Written> {
            let t0 = Instant::now();
            let mut r = Rewriter::default();
            r.switch(&packet(start, 0).header, t0);
            let mut written = vec![(out(&mut r, start, 0, t0).0, Some(start))];
            let send = |r: &mut Rewriter, s: u16, forwarded: bool, written: &mut Vec<_>| {
                let mut p = packet(s, 0);
                if !forwarded {
                    r.drop_packet(&p.header);
                } else if r.rewrite(&mut p, 99, 125, t0) {
                    written.push((p.header.sequence_number, Some(s)));
                }
            };
            let mut sent: u16 = 1;
            let mut held: Vec<(u16, bool)> = Vec::new();
            for (n, step) in steps.iter().enumerate() {
                let next = start.wrapping_add(sent);
                match *step {
                    Step::Insert => written.extend(r.insert(t0).map(|(s, _)| (s, None))),
                    Step::Again(back) => {
                        let back = back.min(sent - 1);
                        send(&mut r, next.wrapping_sub(1 + back), true, &mut written);
                    }
                    Step::Frame { packets, forwarded } => {
                        let (hold, flip) = late.get(n).copied().unwrap_or((0, false));
                        let hold = hold.min(packets as usize);
                        let frame: Vec<u16> = (0..packets).map(|i| next.wrapping_add(i)).collect();
                        sent += packets;
                        let (now, later) = frame.split_at(frame.len() - hold);
                        for &s in now {
                            send(&mut r, s, forwarded, &mut written);
                        }
                        for (s, f) in held.drain(..) {
                            send(&mut r, s, f, &mut written);
                        }
                        held.extend(later.iter().map(|&s| (s, forwarded != flip)));
                    }
                }
            }
            written
        }

        proptest! {
            #[test]
            fn in_order_numbers_are_contiguous(
                start in any::<u16>(),
                steps in prop::collection::vec(in_order(), 0..400),
            ) {
                let written = run(start, &steps, &[]);
                for pair in written.windows(2) {
                    prop_assert_eq!(pair[1].0, pair[0].0.wrapping_add(1), "{:?}", written);
                }
            }

            #[test]
            fn late_and_repeated_packets_never_take_another_packets_number(
                start in any::<u16>(),
                steps in prop::collection::vec(any_step(), 0..400),
                late in prop::collection::vec((0usize..3, any::<bool>()), 0..400),
            ) {
                let written = run(start, &steps, &late);
                let mut owner: HashMap<u16, Option<u16>> = HashMap::new();
                for (number, source) in &written {
                    // A retransmission keeps its packet's number; no number
                    // goes to two packets (an inserted one's to none else).
                    if let Some(before) = owner.insert(*number, *source) {
                        prop_assert!(
                            before == *source && source.is_some(),
                            "{} went to {:?} and {:?}: {:?}", number, before, source, written
                        );
                    }
                }
            }
        }
    }
}
