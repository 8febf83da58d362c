//! Reassembles H.264 access units from RTP packets: a small jitter buffer
//! keyed by sequence number, sans-IO (every call takes `now`).
//!
//! Packets are held until the frame at the head is complete (every sequence
//! number from the previous frame's marker to this frame's marker, one
//! timestamp). A gap blocks the head for at most `max_wait` after the first
//! later packet arrived (time for NACK retransmissions: [`repair_wait`], a
//! round longer while many packets go missing,
//! [`FrameAssembler::missing_share`]);
//! then the frame is emitted as incomplete and a keyframe is requested,
//! unless the frame is known to be a non-reference picture (`nal_ref_idc`
//! 0: nothing refers to it, it is only skipped). The deadline counts from
//! the packets' arrival, not from when the head was looked at, so frames
//! queued behind a long-blocked head do not each wait `max_wait` again.
//! While a keyframe is awaited, a complete one behind a blocked head is
//! emitted at once (the frames before it are dropped); otherwise the head
//! is waited for (its repair may come, and the keyframe decodes after it
//! anyway). Until a keyframe has been emitted, keyframes are
//! requested periodically too, at most one per [`KEYFRAME_REQUEST_INTERVAL`].

use bytes::{Bytes, BytesMut};
use rtc::rtp::codec::h264::H264Packet;
use rtc::rtp::packetizer::Depacketizer;
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// How often a keyframe is asked for while one is awaited.
const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(200);
/// Packets held at most; beyond this the head gives up at once.
const MAX_BUFFERED_PACKETS: usize = 4096;
/// The NACK generator's interval between asks for a missing packet.
const NACK_INTERVAL: Duration = rtc_profile::nack_asks::ASK_INTERVAL;
/// A gap is never waited for longer than this, whatever the RTT.
const MAX_REPAIR_WAIT: Duration = Duration::from_millis(600);
/// From this share of packets missing on arrival, a gap is waited for a
/// NACK round longer.
const HEAVY_LOSS: f64 = 0.1;
/// The weight of each packet in [`FrameAssembler::missing_share`] (about
/// the last 300 packets count).
const MISSING_WEIGHT: f64 = 1.0 / 300.0;
/// How many of the latest repairs [`FrameAssembler::repair_rtt`] covers.
const REPAIR_SAMPLES: usize = 32;

/// How long to wait for a missing packet at round-trip time `rtt` (never
/// less than `floor`) while `missing_share` of the packets go missing:
/// three NACK rounds (the packet may be lost on the publisher's leg and
/// its resend on the player's), plus the NACK generator's interval; a
/// fourth round from [`HEAVY_LOSS`] on (at 20 % loss each way a packet
/// and its resends stay lost for three rounds about once in 600 packets,
/// a keyframe wait each; for four, about once in 5 000); at most
/// [`MAX_REPAIR_WAIT`].
pub(crate) fn repair_wait(floor: Duration, rtt: Duration, missing_share: f64) -> Duration {
    let rounds = if missing_share >= HEAVY_LOSS { 4 } else { 3 };
    (rtt * rounds + NACK_INTERVAL)
        .min(MAX_REPAIR_WAIT)
        .max(floor)
}

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
    /// Incomplete, but every lost packet was this frame's and it is a
    /// non-reference picture: skipping it leaves later frames decodable.
    pub(crate) discardable: bool,
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
    /// Since when the head has been blocked by a gap (the arrival of the
    /// first packet beyond it).
    blocked_since: Option<Instant>,
    awaiting_keyframe: bool,
    last_request: Option<Instant>,
    pending_request: bool,
    /// Packets missing when a later one arrived, per packet received
    /// (moving average).
    missing: f64,
    /// How long each of the latest packets that came after a later one
    /// took, from that later one's arrival.
    repairs: VecDeque<Duration>,
    /// Packets dropped: they arrived after their frame was emitted or
    /// skipped, or their frame was skipped for a later keyframe.
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
            missing: 0.0,
            repairs: VecDeque::new(),
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
        let skipped = self.highest.map_or(0, |h| {
            let delta = i64::from(sequence.wrapping_sub(h as u16) as i16);
            delta.saturating_sub(1).clamp(0, 16)
        });
        self.missing += (skipped as f64 - self.missing) * MISSING_WEIGHT;
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
        if !self.held.contains_key(&ext) {
            // A packet missing when a later one came: how long it took.
            if let Some((_, later)) = self.held.range(ext + 1..).next() {
                if self.repairs.len() == REPAIR_SAMPLES {
                    self.repairs.pop_front();
                }
                self.repairs
                    .push_back(now.saturating_duration_since(later.arrived));
            }
        }
        self.held.entry(ext).or_insert(Held {
            timestamp,
            marker,
            payload,
            arrived: now,
        });
    }

    /// Waits at most `max_wait` for a missing packet from now on.
    pub(crate) fn set_max_wait(&mut self, max_wait: Duration) {
        self.max_wait = max_wait;
    }

    /// The round-trip time the latest repairs show: the quickest of the
    /// last [`REPAIR_SAMPLES`] packets that came after a later one (ask
    /// and resend; `None` before any). The transport's RTT comes from
    /// its stats every few seconds, stale when the path has just changed.
    pub(crate) fn repair_rtt(&self) -> Option<Duration> {
        self.repairs.iter().min().copied()
    }

    /// The share of the latest packets (about 300) that were missing
    /// when a later one arrived: the loss before repair.
    pub(crate) fn missing_share(&self) -> f64 {
        self.missing / (1.0 + self.missing)
    }

    /// An explicit keyframe request from the application (sent at most one
    /// per [`KEYFRAME_REQUEST_INTERVAL`], with the assembler's own).
    pub(crate) fn request_keyframe(&mut self) {
        self.pending_request = true;
    }

    /// The next output, if any is ready at `now`.
    pub(crate) fn poll(&mut self, now: Instant) -> Option<AssemblerOutput> {
        if self.pending_request && self.request_due(now) {
            self.pending_request = false;
            self.last_request = Some(now);
            return Some(AssemblerOutput::RequestKeyframe);
        }
        let frame = self.next_frame(now)?;
        if frame.keyframe && frame.complete {
            // It answers every request made before it.
            self.awaiting_keyframe = false;
            self.pending_request = false;
        } else if !frame.complete && !frame.discardable {
            self.awaiting_keyframe = true;
        }
        if self.awaiting_keyframe && self.request_due(now) {
            self.pending_request = true;
        }
        Some(AssemblerOutput::Frame(frame))
    }

    /// When `poll` should be called again at the latest.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let request = self
            .pending_request
            .then(|| self.last_request.map(|t| t + KEYFRAME_REQUEST_INTERVAL))
            .flatten();
        let gap = self.blocked_since.map(|t| t + self.max_wait);
        request.into_iter().chain(gap).min()
    }

    fn request_due(&self, now: Instant) -> bool {
        self.last_request
            .is_none_or(|t| now.saturating_duration_since(t) >= KEYFRAME_REQUEST_INTERVAL)
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
        // Blocked only if something after the gap arrived: since the first
        // such packet arrived.
        let beyond = self.held.range(next..).next_back().map(|(s, _)| *s)?;
        let since = match (next..=beyond).find(|s| !self.held.contains_key(s)) {
            Some(missing) => self.earliest_arrival(missing, |_| true),
            // No gap, but the head's timestamp changes without a marker.
            None => {
                let ts = self.held.get(&next).map(|h| h.timestamp)?;
                self.earliest_arrival(next, |p| p.timestamp != ts)
            }
        };
        let Some(since) = since else {
            self.blocked_since = None;
            return None;
        };
        self.blocked_since = Some(since);
        // While no keyframe is awaited, the head may still be repaired:
        // dropping it and the frames up to the keyframe would skip frames.
        if self.awaiting_keyframe {
            if let Some((first, last)) = self.complete_keyframe_after(next) {
                return Some(self.take(first, last, last + 1, true, true));
            }
        }
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

    /// When the earliest of the held packets from `from` on that match
    /// arrived.
    fn earliest_arrival(&self, from: u64, matches: impl Fn(&Held) -> bool) -> Option<Instant> {
        self.held
            .range(from..)
            .filter(|(_, p)| matches(p))
            .map(|(_, p)| p.arrived)
            .min()
    }

    /// The first and last packet of a complete keyframe (starting with its
    /// SPS) held after `next`, if there is one.
    fn complete_keyframe_after(&self, next: u64) -> Option<(u64, u64)> {
        self.held
            .range(next + 1..)
            .filter(|(_, p)| starts_with_sps(&p.payload))
            .find_map(|(first, p)| {
                let mut seq = *first;
                loop {
                    match self.held.get(&seq) {
                        Some(q) if q.timestamp == p.timestamp && q.marker => {
                            return Some((*first, seq))
                        }
                        Some(q) if q.timestamp == p.timestamp => seq += 1,
                        _ => return None,
                    }
                }
            })
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
        // Every lost packet is known to be this frame's when it starts where
        // the previous frame ended.
        let own_gaps = first == self.next.unwrap_or(first) && self.next_starts_frame;
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
        let complete = complete && intact;
        let keyframe = has_idr(&data);
        let non_reference = packets.iter().all(|p| nal_ref_idc(&p.payload) == Some(0));
        AssembledFrame {
            discardable: !complete && own_gaps && non_reference && !keyframe,
            keyframe,
            data,
            rtp_timestamp,
            complete,
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

/// Whether an RTP payload starts with an SPS (alone or first in a STAP-A):
/// the first packet of an access unit.
fn starts_with_sps(payload: &[u8]) -> bool {
    let unit = |i: usize| payload.get(i).map(|b| b & 0x1f);
    match unit(0) {
        Some(7) => true,
        Some(24) => unit(3) == Some(7),
        _ => false,
    }
}

/// The `nal_ref_idc` of an RTP payload's NAL unit (for a STAP-A the
/// largest of its units', for an FU-A the fragmented unit's).
fn nal_ref_idc(payload: &[u8]) -> Option<u8> {
    payload.first().map(|b| (b >> 5) & 0x3)
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

    /// [`after_a_keyframe`] with the keyframe drained.
    fn started(t0: Instant) -> (FrameAssembler, Sender) {
        let (mut a, s) = after_a_keyframe(1, t0);
        assert_eq!(drain(&mut a, t0).0.len(), 1);
        (a, s)
    }

    /// Sends `au` at `ts`, all arriving at `at` but its second packet.
    fn push_losing_one(a: &mut FrameAssembler, s: &mut Sender, at: Instant, au: &Bytes, ts: u32) {
        let mut packets = s.packets(au, ts);
        packets.remove(1);
        push_all(a, at, packets);
    }

    /// A non-reference access unit (one slice with `nal_ref_idc` 0).
    fn non_reference_unit(n: u32, size: usize) -> Bytes {
        let mut au = access_unit(n, false, size).to_vec();
        au[4] = 0x01;
        Bytes::from(au)
    }

    #[test]
    fn frames_behind_a_long_blocked_head_do_not_wait_again() {
        let t0 = Instant::now();
        let (mut a, mut s) = started(t0);
        // Frames 1..=4 each lose a packet; all of them arrive within 40 ms.
        for n in 1..=4u32 {
            let at = t0 + Duration::from_millis(u64::from(n) * 10);
            push_losing_one(&mut a, &mut s, at, &access_unit(n, false, 3000), n * 3000);
        }
        // The first one is polled only late, when its wait is over.
        let t = t0 + Duration::from_millis(10 + 100);
        let (frames, _) = drain(&mut a, t);
        assert_eq!(
            frames.len(),
            1,
            "the head gives up, the next waits its own wait"
        );
        // Each later gap's wait counts from its own arrival, not from when
        // the head before it gave up.
        let (frames, _) = drain(&mut a, t0 + Duration::from_millis(40 + 100));
        assert_eq!(frames.len(), 3);
        assert!(frames.iter().all(|f| !f.complete && !f.discardable));
        assert_eq!(a.poll_timeout(), None);
    }

    #[test]
    fn a_complete_keyframe_behind_a_blocked_head_is_emitted_at_once_if_awaited() {
        let t0 = Instant::now();
        let (mut a, mut s) = started(t0);
        // Frame 1 gives up: a keyframe is awaited from now on.
        push_losing_one(&mut a, &mut s, t0, &access_unit(1, false, 3000), 3000);
        push_all(&mut a, t0, s.packets(&access_unit(2, false, 500), 6000));
        let (frames, _) = drain(&mut a, t0 + Duration::from_millis(100));
        assert!(!frames[0].complete && frames.len() == 2);
        let t1 = t0 + Duration::from_millis(150);
        push_losing_one(&mut a, &mut s, t1, &access_unit(3, false, 3000), 9000);
        push_all(&mut a, t1, s.packets(&access_unit(4, true, 5000), 12000));
        push_all(&mut a, t1, s.packets(&access_unit(5, false, 500), 15000));
        // No waiting for frame 3's packet: it is dropped.
        let (frames, _) = drain(&mut a, t1 + Duration::from_millis(1));
        let stamps: Vec<u32> = frames.iter().map(|f| f.rtp_timestamp).collect();
        assert_eq!(stamps, vec![12000, 15000]);
        assert!(frames[0].keyframe && frames.iter().all(|f| f.complete));
        assert!(a.late_packets > 0);
    }

    #[test]
    fn a_keyframe_behind_a_head_under_repair_waits_for_it_when_none_is_awaited() {
        let t0 = Instant::now();
        let (mut a, mut s) = started(t0);
        let mut f1 = s.packets(&access_unit(1, false, 3000), 3000);
        let lost = f1.remove(1);
        push_all(&mut a, t0, f1);
        push_all(&mut a, t0, s.packets(&access_unit(2, true, 5000), 6000));
        assert!(drain(&mut a, t0 + Duration::from_millis(1)).0.is_empty());
        // The resend comes: nothing is skipped.
        push_all(&mut a, t0 + Duration::from_millis(50), vec![lost]);
        let (frames, _) = drain(&mut a, t0 + Duration::from_millis(50));
        let stamps: Vec<u32> = frames.iter().map(|f| f.rtp_timestamp).collect();
        assert_eq!(stamps, vec![3000, 6000]);
        assert!(frames.iter().all(|f| f.complete));
    }

    #[test]
    fn a_damaged_non_reference_frame_is_skipped_without_a_keyframe_request() {
        let t0 = Instant::now();
        let (mut a, mut s) = started(t0);
        let t1 = t0 + Duration::from_secs(1);
        push_losing_one(&mut a, &mut s, t1, &non_reference_unit(1, 3000), 3000);
        push_all(&mut a, t1, s.packets(&access_unit(2, false, 500), 6000));
        let (frames, plis) = drain(&mut a, t1 + Duration::from_millis(100));
        assert_eq!(frames.len(), 2);
        assert!(!frames[0].complete && frames[0].discardable);
        assert!(frames[1].complete);
        assert_eq!(plis, 0);
        // A damaged reference frame is not discardable and asks a keyframe.
        let t2 = t1 + Duration::from_secs(1);
        push_losing_one(&mut a, &mut s, t2, &access_unit(3, false, 3000), 9000);
        push_all(&mut a, t2, s.packets(&non_reference_unit(4, 500), 12000));
        let (frames, plis) = drain(&mut a, t2 + Duration::from_millis(100));
        assert!(!frames[0].complete && !frames[0].discardable);
        assert_eq!(plis, 1);
    }

    #[test]
    fn a_non_reference_frame_after_an_unknown_gap_is_not_discardable() {
        let t0 = Instant::now();
        let (mut a, mut s) = started(t0);
        // A whole frame is lost, then a non-reference frame loses a packet:
        // the lost packets may have been a reference frame's.
        s.packets(&access_unit(1, false, 500), 3000);
        push_losing_one(&mut a, &mut s, t0, &non_reference_unit(2, 3000), 6000);
        push_all(&mut a, t0, s.packets(&access_unit(3, false, 500), 9000));
        let (frames, _) = drain(&mut a, t0 + Duration::from_millis(100));
        assert!(!frames[0].complete && !frames[0].discardable);
    }

    #[test]
    fn keyframe_requests_are_spaced() {
        let t0 = Instant::now();
        let mut a = FrameAssembler::new(Duration::from_millis(100));
        a.request_keyframe();
        assert_eq!(drain(&mut a, t0).1, 1);
        a.request_keyframe();
        assert_eq!(drain(&mut a, t0 + Duration::from_millis(100)).1, 0);
        assert_eq!(a.poll_timeout(), Some(t0 + KEYFRAME_REQUEST_INTERVAL));
        assert_eq!(drain(&mut a, t0 + KEYFRAME_REQUEST_INTERVAL).1, 1);
    }

    #[test]
    fn a_keyframe_answers_the_requests_before_it() {
        let t0 = Instant::now();
        let (mut a, mut s) = started(t0);
        let t1 = t0 + Duration::from_secs(1);
        push_losing_one(&mut a, &mut s, t1, &access_unit(1, false, 3000), 3000);
        push_all(&mut a, t1, s.packets(&access_unit(2, false, 500), 6000));
        let (_, plis) = drain(&mut a, t1 + Duration::from_millis(100));
        assert_eq!(plis, 1);
        // The player asks too while it waits; the keyframe comes first.
        a.request_keyframe();
        let t2 = t1 + Duration::from_millis(150);
        push_all(&mut a, t2, s.packets(&access_unit(3, true, 3000), 9000));
        let (frames, plis) = drain(&mut a, t2);
        assert!(frames[0].keyframe && frames[0].complete);
        assert_eq!(plis, 0);
        assert_eq!(drain(&mut a, t2 + KEYFRAME_REQUEST_INTERVAL).1, 0);
        assert_eq!(a.poll_timeout(), None);
    }

    #[test]
    fn the_repair_wait_follows_the_rtt_and_the_loss() {
        let floor = Duration::from_millis(250);
        let ms = Duration::from_millis;
        assert_eq!(repair_wait(floor, ms(1), 0.0), floor);
        assert_eq!(repair_wait(floor, ms(100), 0.0), ms(340));
        assert_eq!(repair_wait(floor, ms(100), 0.05), ms(340));
        assert_eq!(repair_wait(floor, ms(100), 0.2), ms(440));
        assert_eq!(repair_wait(floor, ms(1000), 0.0), MAX_REPAIR_WAIT);
    }

    #[test]
    fn the_missing_share_and_the_repair_time_are_measured() {
        let t0 = Instant::now();
        let (mut a, mut s) = started(t0);
        assert_eq!(a.missing_share(), 0.0);
        // One packet in five never arrives.
        for n in 1..=200u32 {
            let packets = s.packets(&access_unit(n, false, 5000), n * 3000);
            let kept = packets.into_iter().enumerate().filter(|(i, _)| i % 5 != 4);
            push_all(&mut a, t0, kept.map(|(_, p)| p).collect());
        }
        let share = a.missing_share();
        assert!((0.15..0.25).contains(&share), "{share}");
        // A resend 120 ms after the packet behind it came.
        let (mut a, mut s) = started(t0);
        let mut f1 = s.packets(&access_unit(1, false, 4000), 3000);
        let lost = f1.remove(1);
        push_all(&mut a, t0, f1);
        assert!(drain(&mut a, t0).0.is_empty());
        assert_eq!(a.repair_rtt(), None);
        push_all(&mut a, t0 + Duration::from_millis(120), vec![lost]);
        push_all(&mut a, t0, s.packets(&access_unit(2, false, 500), 6000));
        let (frames, _) = drain(&mut a, t0);
        assert!(frames.len() == 2 && frames.iter().all(|f| f.complete));
        assert_eq!(a.repair_rtt(), Some(Duration::from_millis(120)));
    }

    #[test]
    fn nal_types_are_listed() {
        let au = access_unit(7, true, 10);
        assert_eq!(nal_types(&au).collect::<Vec<_>>(), vec![7, 8, 5]);
        assert!(has_idr(&au));
    }
}
