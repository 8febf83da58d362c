//! Reassembles H.264 access units from RTP packets: a small jitter buffer
//! keyed by sequence number, sans-IO (every call takes `now`).
//!
//! Packets are held until the frame at the head is complete (every sequence
//! number from the previous frame's marker to this frame's marker, one
//! timestamp). A gap blocks the head for at most `max_wait` after a later
//! packet shows it (time for NACK retransmissions); then the frame is emitted
//! as incomplete and a keyframe is requested. Until a keyframe has been
//! emitted, keyframes are requested periodically too.

use bytes::{Bytes, BytesMut};
use rtc::rtp::codec::h264::H264Packet;
use rtc::rtp::packetizer::Depacketizer;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How often a keyframe is asked for while one is awaited.
const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(300);
/// Packets held at most; beyond this the head gives up at once.
const MAX_BUFFERED_PACKETS: usize = 4096;

/// One reassembled access unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AssembledFrame {
    /// Annex-B access unit (4-byte start codes).
    pub(crate) data: Bytes,
    /// The frame's RTP timestamp.
    pub(crate) rtp_timestamp: u32,
    /// Contains an IDR slice.
    pub(crate) keyframe: bool,
    /// Every packet of the frame arrived.
    pub(crate) complete: bool,
    /// When its last packet arrived.
    pub(crate) received_at: Instant,
}

/// What the assembler asks of its driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AssemblerOutput {
    /// A frame, in order.
    Frame(AssembledFrame),
    /// Send a PLI to the sender.
    RequestKeyframe,
}

#[derive(Debug, Clone)]
struct Held {
    timestamp: u32,
    marker: bool,
    payload: Bytes,
    arrived: Instant,
}

/// The H.264 jitter buffer and frame assembler.
#[derive(Debug)]
pub(crate) struct FrameAssembler {
    max_wait: Duration,
    held: BTreeMap<u64, Held>,
    /// Highest extended sequence number seen.
    highest: Option<u64>,
    /// Extended sequence number of the next frame's first packet.
    next: Option<u64>,
    /// Whether `next` is known to start a frame (it follows a marker, or
    /// it is the first packet and starts a keyframe).
    next_starts_frame: bool,
    /// Since when the head has been blocked by a gap.
    blocked_since: Option<Instant>,
    awaiting_keyframe: bool,
    last_request: Option<Instant>,
    pending_request: bool,
    /// Packets that arrived after their frame was emitted or skipped.
    pub(crate) late_packets: u64,
}

impl FrameAssembler {
    /// A buffer that waits at most `max_wait` for a missing packet.
    pub(crate) fn new(max_wait: Duration) -> Self {
        FrameAssembler {
            max_wait,
            held: BTreeMap::new(),
            highest: None,
            next: None,
            next_starts_frame: false,
            blocked_since: None,
            awaiting_keyframe: true,
            last_request: None,
            pending_request: false,
            late_packets: 0,
        }
    }

    /// One received RTP packet (sequence number, timestamp, marker, payload).
    pub(crate) fn push(
        &mut self,
        now: Instant,
        sequence: u16,
        timestamp: u32,
        marker: bool,
        payload: Bytes,
    ) {
        let ext = self.extend(sequence);
        if self.next.is_none() {
            // The SFU starts a new player's video at a keyframe's first
            // packet: that first frame is whole.
            self.next_starts_frame = starts_keyframe(&payload);
        }
        let next = *self.next.get_or_insert(ext);
        if ext < next {
            self.late_packets += 1;
            return;
        }
        self.held.entry(ext).or_insert(Held {
            timestamp,
            marker,
            payload,
            arrived: now,
        });
    }

    /// An explicit keyframe request from the application.
    pub(crate) fn request_keyframe(&mut self) {
        self.pending_request = true;
    }

    /// The next output, if any is ready at `now`.
    pub(crate) fn poll(&mut self, now: Instant) -> Option<AssemblerOutput> {
        if self.pending_request {
            self.pending_request = false;
            self.last_request = Some(now);
            return Some(AssemblerOutput::RequestKeyframe);
        }
        let frame = self.next_frame(now)?;
        if frame.keyframe && frame.complete {
            self.awaiting_keyframe = false;
        } else if !frame.complete {
            self.awaiting_keyframe = true;
        }
        if self.awaiting_keyframe
            && self
                .last_request
                .is_none_or(|t| now.saturating_duration_since(t) >= KEYFRAME_REQUEST_INTERVAL)
        {
            self.pending_request = true;
        }
        Some(AssemblerOutput::Frame(frame))
    }

    /// When `poll` should be called again at the latest.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        if self.pending_request {
            return self.blocked_since;
        }
        self.blocked_since.map(|t| t + self.max_wait)
    }

    fn extend(&mut self, sequence: u16) -> u64 {
        let ext = match self.highest {
            None => (1u64 << 16) + u64::from(sequence),
            Some(h) => {
                let delta = i64::from(sequence.wrapping_sub(h as u16) as i16);
                h.saturating_add_signed(delta)
            }
        };
        if self.highest.is_none_or(|h| ext > h) {
            self.highest = Some(ext);
        }
        ext
    }

    /// The head frame if it is complete, or given up on.
    fn next_frame(&mut self, now: Instant) -> Option<AssembledFrame> {
        let next = self.next?;
        // A complete head: contiguous packets from `next`, one timestamp, ending in a marker.
        if let Some(head) = self.held.get(&next) {
            let ts = head.timestamp;
            let mut seq = next;
            loop {
                match self.held.get(&seq) {
                    Some(p) if p.timestamp == ts => {
                        if p.marker {
                            let complete = self.next_starts_frame;
                            return Some(self.take(next, seq, seq + 1, true, complete));
                        }
                        seq += 1;
                    }
                    // The timestamp changed without a marker: the marker was
                    // lost, or this is not a frame boundary we can trust.
                    Some(_) => return self.give_up(now, next),
                    None => break,
                }
            }
        }
        self.give_up(now, next)
    }

    /// The head is blocked: wait while packets may still come, then emit what
    /// there is as incomplete.
    fn give_up(&mut self, now: Instant, next: u64) -> Option<AssembledFrame> {
        // Blocked only if something after the gap arrived.
        let beyond = self.held.range(next..).next_back().map(|(s, _)| *s)?;
        let missing = (next..=beyond).any(|s| !self.held.contains_key(&s));
        let head_ends_later = self.held.get(&next).is_some_and(|h| {
            self.held
                .range(next..)
                .any(|(_, p)| p.timestamp != h.timestamp)
        });
        if !missing && !head_ends_later {
            self.blocked_since = None;
            return None;
        }
        let since = *self.blocked_since.get_or_insert(now);
        let overfull = self.held.len() > MAX_BUFFERED_PACKETS;
        if now.saturating_duration_since(since) < self.max_wait && !overfull {
            return None;
        }
        // Emit the head's timestamp group (if its first packet is here) and
        // move past it.
        let (first_seq, first) = self
            .held
            .range(next..)
            .next()
            .map(|(s, p)| (*s, p.clone()))?;
        let ts = first.timestamp;
        let mut last = first_seq;
        for (s, p) in self.held.range(first_seq..) {
            if p.timestamp != ts {
                break;
            }
            last = *s;
        }
        let ends_with_marker = self.held.get(&last).is_some_and(|p| p.marker);
        Some(self.take(first_seq, last, last + 1, ends_with_marker, false))
    }

    /// Removes packets `first..=last` into a frame; the next frame starts at
    /// `next` (known to start a frame when `boundary`).
    fn take(
        &mut self,
        first: u64,
        last: u64,
        next: u64,
        boundary: bool,
        complete: bool,
    ) -> AssembledFrame {
        let mut packets: Vec<Held> = Vec::new();
        let keys: Vec<u64> = self.held.range(..=last).map(|(s, _)| *s).collect();
        for s in keys {
            if let Some(p) = self.held.remove(&s) {
                if s >= first {
                    packets.push(p);
                } else {
                    self.late_packets += 1;
                }
            }
        }
        self.next = Some(next);
        self.next_starts_frame = boundary;
        self.blocked_since = None;
        let rtp_timestamp = packets.first().map_or(0, |p| p.timestamp);
        let received_at = packets.iter().map(|p| p.arrived).max().unwrap_or_else(|| {
            // An empty take cannot happen (callers pass a present packet),
            // but a frame needs a time.
            packets.first().map_or_else(Instant::now, |p| p.arrived)
        });
        let mut depacketizer = H264Packet::default();
        let mut data = BytesMut::new();
        let mut intact = true;
        for p in &packets {
            match depacketizer.depacketize(&p.payload) {
                Ok(nalus) => data.extend_from_slice(&nalus),
                Err(_) => intact = false,
            }
        }
        let data = data.freeze();
        AssembledFrame {
            keyframe: has_idr(&data),
            data,
            rtp_timestamp,
            complete: complete && intact,
            received_at,
        }
    }
}

/// Whether an RTP payload (RFC 6184) starts a keyframe: an SPS or IDR
/// unit, a STAP-A whose first unit is an SPS, an IDR's first FU-A fragment.
fn starts_keyframe(payload: &[u8]) -> bool {
    let unit = |i: usize| payload.get(i).map(|b| b & 0x1f);
    match unit(0) {
        Some(5 | 7) => true,
        Some(24) => unit(3) == Some(7),
        Some(28) => payload.get(1).is_some_and(|b| b & 0x80 != 0) && unit(1) == Some(5),
        _ => false,
    }
}

/// Whether an Annex-B access unit holds an IDR slice (NAL type 5).
pub(crate) fn has_idr(annex_b: &[u8]) -> bool {
    nal_types(annex_b).any(|t| t == 5)
}

/// NAL unit types of an Annex-B byte stream.
pub(crate) fn nal_types(annex_b: &[u8]) -> impl Iterator<Item = u8> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        while i + 3 < annex_b.len() {
            let three = annex_b[i] == 0 && annex_b[i + 1] == 0 && annex_b[i + 2] == 1;
            if three {
                i += 3;
                return annex_b.get(i).map(|b| b & 0x1f);
            }
            i += 1;
        }
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::rtp::codec::h264::H264Payloader;
    use rtc::rtp::packetizer::Payloader;

    /// A synthetic access unit: SPS+PPS+IDR for keyframes, one slice
    /// otherwise; `size` bytes of slice payload stamped with `n`.
    fn access_unit(n: u32, key: bool, size: usize) -> Bytes {
        let mut out = Vec::new();
        if key {
            out.extend_from_slice(&[0, 0, 0, 1, 0x67, 0x42, 0xe0, 0x1f, 0xaa]);
            out.extend_from_slice(&[0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80]);
        }
        out.extend_from_slice(&[0, 0, 0, 1, if key { 0x65 } else { 0x41 }]);
        // No zero bytes in the stamp: they could form a start code.
        out.extend(n.to_be_bytes().iter().map(|b| b | 0x80));
        out.extend((0..size).map(|i| (i % 251) as u8 + 1));
        Bytes::from(out)
    }

    /// Packetizes access units as an SFU would forward them.
    struct Sender {
        payloader: H264Payloader,
        seq: u16,
    }

    /// A packet as [`FrameAssembler::push`] takes it: (seq, ts, marker, payload).
    type Packet = (u16, u32, bool, Bytes);

    impl Sender {
        /// A sender whose first packet has sequence number `seq + 1`.
        fn new(seq: u16) -> Self {
            Sender {
                payloader: H264Payloader::default(),
                seq,
            }
        }

        fn packets(&mut self, au: &Bytes, ts: u32) -> Vec<Packet> {
            let payloads = self.payloader.payload(1188, au).unwrap();
            let n = payloads.len();
            payloads
                .into_iter()
                .enumerate()
                .map(|(i, p)| {
                    self.seq = self.seq.wrapping_add(1);
                    (self.seq, ts, i == n - 1, p)
                })
                .collect()
        }
    }

    /// Pushes `packets` in order, all arriving at `now`.
    fn push_all(a: &mut FrameAssembler, now: Instant, packets: Vec<Packet>) {
        for (seq, ts, m, p) in packets {
            a.push(now, seq, ts, m, p);
        }
    }

    /// An assembler (100 ms wait) given a first keyframe at `t0` by a
    /// sender starting after `seq`, and that sender.
    fn after_a_keyframe(seq: u16, t0: Instant) -> (FrameAssembler, Sender) {
        let mut a = FrameAssembler::new(Duration::from_millis(100));
        let mut s = Sender::new(seq);
        push_all(&mut a, t0, s.packets(&access_unit(0, true, 100), 0));
        (a, s)
    }

    fn drain(a: &mut FrameAssembler, now: Instant) -> (Vec<AssembledFrame>, usize) {
        let (mut frames, mut plis) = (Vec::new(), 0);
        while let Some(out) = a.poll(now) {
            match out {
                AssemblerOutput::Frame(f) => frames.push(f),
                AssemblerOutput::RequestKeyframe => plis += 1,
            }
        }
        (frames, plis)
    }

    #[test]
    fn in_order_frames_are_byte_identical() {
        let t0 = Instant::now();
        let mut a = FrameAssembler::new(Duration::from_millis(100));
        let mut s = Sender::new(65530); // wraps during the test
        let mut sent = Vec::new();
        for n in 0..20u32 {
            let au = access_unit(n, n % 10 == 0, if n % 3 == 0 { 3000 } else { 500 });
            push_all(&mut a, t0, s.packets(&au, n * 3000));
            sent.push(au);
        }
        let (frames, _) = drain(&mut a, t0);
        assert_eq!(frames.len(), 20);
        for (f, au) in frames.iter().zip(&sent) {
            assert_eq!(&f.data, au);
        }
        assert!(frames[0].keyframe && !frames[1].keyframe && frames[10].keyframe);
        // The very first frame starts with a keyframe's SPS: whole.
        assert!(frames.iter().all(|f| f.complete));
    }

    #[test]
    fn a_first_frame_joined_midway_is_incomplete() {
        let t0 = Instant::now();
        let mut a = FrameAssembler::new(Duration::from_millis(100));
        let mut s = Sender::new(100);
        // Joined after the parameter sets and the IDR's first fragment.
        let key = s.packets(&access_unit(0, true, 3000), 0);
        push_all(&mut a, t0, key[2..].to_vec());
        push_all(&mut a, t0, s.packets(&access_unit(1, false, 500), 3000));
        let (frames, _) = drain(&mut a, t0);
        assert_eq!(frames.len(), 2);
        // The first frame cannot be known to start at a frame boundary.
        assert!(!frames[0].complete && frames[1].complete);
    }

    #[test]
    fn reordered_and_retransmitted_packets_complete_the_frame() {
        let t0 = Instant::now();
        let (mut a, mut s) = after_a_keyframe(100, t0);
        let mut f1 = s.packets(&access_unit(1, false, 4000), 3000);
        let lost = f1.remove(1);
        f1.swap(0, 1);
        push_all(&mut a, t0, f1);
        let (frames, _) = drain(&mut a, t0 + Duration::from_millis(50));
        assert_eq!(frames.len(), 1, "frame 1 waits for its missing packet");
        push_all(&mut a, t0 + Duration::from_millis(60), vec![lost]);
        let (frames, _) = drain(&mut a, t0 + Duration::from_millis(60));
        assert_eq!(frames.len(), 1);
        assert!(frames[0].complete);
        assert_eq!(frames[0].data, access_unit(1, false, 4000));
    }

    #[test]
    fn unrecovered_loss_gives_up_and_requests_a_keyframe() {
        let t0 = Instant::now();
        let (mut a, mut s) = after_a_keyframe(1, t0);
        assert_eq!(drain(&mut a, t0).0.len(), 1);
        // A second later (past the keyframe request interval) a packet is lost.
        let t1 = t0 + Duration::from_secs(1);
        let mut f1 = s.packets(&access_unit(1, false, 4000), 3000);
        f1.remove(2);
        push_all(&mut a, t1, f1);
        push_all(&mut a, t1, s.packets(&access_unit(2, false, 100), 6000));
        assert!(drain(&mut a, t1 + Duration::from_millis(10)).0.is_empty());
        let deadline = a.poll_timeout().expect("blocked head has a deadline");
        let (frames, plis) = drain(&mut a, deadline);
        assert_eq!(frames.len(), 2);
        assert!(!frames[0].complete && frames[0].rtp_timestamp == 3000);
        assert!(frames[1].complete && frames[1].rtp_timestamp == 6000);
        assert_eq!(plis, 1);
        // Late retransmission is counted, not emitted.
        a.push(deadline, 3, 3000, false, Bytes::from_static(&[0x41, 0]));
        assert_eq!(a.late_packets, 1);
    }

    #[test]
    fn nal_types_are_listed() {
        let au = access_unit(7, true, 10);
        assert_eq!(nal_types(&au).collect::<Vec<_>>(), vec![7, 8, 5]);
        assert!(has_idr(&au));
    }
}
