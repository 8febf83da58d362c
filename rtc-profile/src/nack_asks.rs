//! The profile's NACK generator: asks for a missing packet at once, again
//! every [`ASK_INTERVAL`] up to [`MAX_ASKS`] times, and asks for packets
//! that are overdue before anything after them has come.
//!
//! webrtc-rs's generator asks only on its timer (every 40 ms here), so a
//! gap waited 0-40 ms for its first ask, and it learns of a lost packet
//! only when a later one arrives. A frame of one packet (the P-frames of a
//! still or slow picture, 30 a second) is then noticed one frame interval
//! later, and a run of lost ones only when the first packet after the run
//! arrives: at 20 % random loss on each of the publisher's and the
//! player's legs a packet is missing at the player 36 % of the time, runs
//! of three are common, and measured through the network bench the frames
//! behind such a run came 150-250 ms after the rest, each a playout stall.
//!
//! So a stream is expected to go on: the next frame's packet is due a
//! frame interval (the least timestamp step lately) after the highest
//! packet arrived; once it is `OVERDUE` (20 ms) late, the next sequence number
//! is asked for (and one more per further frame interval, at most
//! `MAX_AHEAD`, 3), for at most `GUESS_FOR` (500 ms) after the last arrival. Due
//! from the last arrival, not from the least transit delay, so a queue
//! that grows (packets later and later, still a frame interval apart)
//! asks for nothing that is only late. A sender that has not sent it yet
//! finds nothing to resend (webrtc-rs's responder and libwebrtc look the
//! number up in what they sent; the SFU's budget ignores asks for what the
//! leg has not written), so a wrong guess costs a NACK.

use rtc::interceptor::{self, AttributedPacket, Interceptor, StreamInfo, TaggedPacket};
use rtc::rtcp::transport_feedbacks::transport_layer_nack::{
    nack_pairs_from_sequence_numbers, TransportLayerNack,
};
use rtc::sansio::Protocol;
use rtc::shared::error::Error;
use rtc::shared::TransportContext;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

/// How long after an ask a missing packet is asked for again.
pub const ASK_INTERVAL: Duration = Duration::from_millis(40);
/// A missing packet is asked for at most this many times (RTX would
/// otherwise cause a NACK storm, RECIPES.md).
pub const MAX_ASKS: u16 = 10;
/// How often asks that came due are sent.
const TICK: Duration = Duration::from_millis(10);
/// Missing packets further back than this many numbers are forgotten.
const SPAN: u64 = 512;
/// How late against its due time the next packet is asked for.
const OVERDUE: Duration = Duration::from_millis(20);
/// The most numbers past the highest received that are asked for.
const MAX_AHEAD: u64 = 3;
/// No number past the highest is asked for this long after the last
/// arrival (the sender paused, or the stream ended).
const GUESS_FOR: Duration = Duration::from_millis(500);
/// How many of the latest timestamp steps give the frame interval.
const STEPS: usize = 16;

/// Asks so far for one packet.
#[derive(Debug, Clone, Copy)]
struct Asked {
    count: u16,
    last: Option<Instant>,
}

impl Asked {
    const NONE: Asked = Asked {
        count: 0,
        last: None,
    };

    fn due(&self, now: Instant) -> bool {
        self.count < MAX_ASKS
            && self
                .last
                .is_none_or(|t| now.saturating_duration_since(t) >= ASK_INTERVAL)
    }
}

/// One received stream.
#[derive(Debug)]
struct Stream {
    clock_rate: f64,
    /// The highest extended sequence number seen, its extended timestamp
    /// and when it came.
    highest: Option<(u64, u64, Instant)>,
    /// When the last packet came.
    last_arrival: Option<Instant>,
    /// Missing below `highest`, or asked for past it.
    missing: BTreeMap<u64, Asked>,
    /// The latest timestamp steps between consecutive packets.
    steps: VecDeque<u64>,
}

impl Stream {
    fn new(clock_rate: u32) -> Self {
        Stream {
            clock_rate: f64::from(clock_rate.max(1)),
            highest: None,
            last_arrival: None,
            missing: BTreeMap::new(),
            steps: VecDeque::new(),
        }
    }

    /// A packet arrived: the numbers it shows missing, to ask for at once.
    fn arrived(&mut self, now: Instant, seq: u16, timestamp: u32) -> Vec<u64> {
        self.last_arrival = Some(now);
        let Some((high, high_ts, _)) = self.highest else {
            self.highest = Some((
                u64::from(seq) + (1 << 32),
                u64::from(timestamp) + (1 << 40),
                now,
            ));
            return Vec::new();
        };
        let ext = high.saturating_add_signed(i64::from(seq.wrapping_sub(high as u16) as i16));
        let ts =
            high_ts.saturating_add_signed(i64::from(timestamp.wrapping_sub(high_ts as u32) as i32));
        self.missing.remove(&ext);
        if ext <= high {
            return Vec::new();
        }
        if ext == high + 1 && ts > high_ts {
            if self.steps.len() == STEPS {
                self.steps.pop_front();
            }
            self.steps.push_back(ts - high_ts);
        }
        self.highest = Some((ext, ts, now));
        let floor = ext.saturating_sub(SPAN);
        self.missing = self.missing.split_off(&floor);
        // Those asked for past the old highest that have not come are
        // missing already, asked at their own pace.
        let fresh: Vec<u64> = ((high + 1).max(floor)..ext)
            .filter(|s| !self.missing.contains_key(s))
            .collect();
        for s in &fresh {
            self.missing.insert(*s, Asked::NONE);
        }
        fresh
    }

    /// The numbers past the highest that are overdue at `now`.
    fn overdue(&self, now: Instant) -> impl Iterator<Item = u64> {
        let ahead = (|| {
            let (high, _, came) = self.highest?;
            let last = self.last_arrival?;
            if now.saturating_duration_since(last) > GUESS_FOR {
                return None;
            }
            let step = *self.steps.iter().min()? as f64 / self.clock_rate;
            // The next frame is due a frame interval after the highest.
            let late =
                now.saturating_duration_since(came).as_secs_f64() - step - OVERDUE.as_secs_f64();
            if late < 0.0 || step <= 0.0 {
                return None;
            }
            let frames = 1 + (late / step) as u64;
            Some(high + 1..=high + frames.min(MAX_AHEAD))
        })();
        ahead.into_iter().flatten()
    }

    /// The numbers to ask for at `now` (each counted as asked).
    fn due(&mut self, now: Instant) -> Vec<u16> {
        for s in self.overdue(now).collect::<Vec<_>>() {
            self.missing.entry(s).or_insert(Asked::NONE);
        }
        let mut asks = Vec::new();
        for (s, asked) in self.missing.iter_mut() {
            if asked.due(now) {
                asked.count += 1;
                asked.last = Some(now);
                asks.push(*s as u16);
            }
        }
        asks
    }

    /// Counts `seqs` as asked for at `now`.
    fn asked(&mut self, now: Instant, seqs: &[u64]) {
        for s in seqs {
            if let Some(a) = self.missing.get_mut(s) {
                a.count += 1;
                a.last = Some(now);
            }
        }
    }
}

/// The interceptor (module doc).
pub struct NackAsks {
    sender_ssrc: u32,
    streams: HashMap<u32, Stream>,
    next_tick: Option<Instant>,
    read: VecDeque<TaggedPacket>,
    write: VecDeque<TaggedPacket>,
}

impl Default for NackAsks {
    fn default() -> Self {
        Self::new()
    }
}

impl NackAsks {
    /// A generator with no stream bound yet.
    pub fn new() -> Self {
        NackAsks {
            sender_ssrc: {
                use std::hash::{BuildHasher, Hasher};
                std::collections::hash_map::RandomState::new()
                    .build_hasher()
                    .finish() as u32
            },
            streams: HashMap::new(),
            next_tick: None,
            read: VecDeque::new(),
            write: VecDeque::new(),
        }
    }

    fn ask(&mut self, now: Instant, media_ssrc: u32, seqs: &[u16]) {
        if seqs.is_empty() {
            return;
        }
        let nack = TransportLayerNack {
            sender_ssrc: self.sender_ssrc,
            media_ssrc,
            nacks: nack_pairs_from_sequence_numbers(seqs),
        };
        self.write.push_back(TaggedPacket {
            now,
            transport: TransportContext::default(),
            message: AttributedPacket::new(interceptor::Packet::Rtcp(vec![Box::new(nack)])),
        });
    }
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for NackAsks {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Error> {
        if let interceptor::Packet::Rtp(packet) = &msg.message.packet {
            let ssrc = packet.header.ssrc;
            if let Some(stream) = self.streams.get_mut(&ssrc) {
                let now = msg.now;
                let fresh =
                    stream.arrived(now, packet.header.sequence_number, packet.header.timestamp);
                stream.asked(now, &fresh);
                self.next_tick.get_or_insert(now + TICK);
                let seqs: Vec<u16> = fresh.iter().map(|s| *s as u16).collect();
                self.ask(now, ssrc, &seqs);
            }
        }
        self.read.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.read.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Error> {
        self.write.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.write.pop_front()
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), Error> {
        if self.next_tick.is_some_and(|t| now >= t) {
            self.next_tick = Some(now + TICK);
            let due: Vec<(u32, Vec<u16>)> = self
                .streams
                .iter_mut()
                .map(|(ssrc, s)| (*ssrc, s.due(now)))
                .collect();
            for (ssrc, seqs) in due {
                self.ask(now, ssrc, &seqs);
            }
        }
        Ok(())
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.next_tick
    }
}

impl Interceptor for NackAsks {
    fn bind_remote_stream(&mut self, info: &StreamInfo) {
        let nack = info
            .rtcp_feedback
            .iter()
            .any(|fb| fb.typ == "nack" && fb.parameter.is_empty());
        if nack {
            self.streams.insert(info.ssrc, Stream::new(info.clock_rate));
        }
    }

    fn unbind_remote_stream(&mut self, info: &StreamInfo) {
        self.streams.remove(&info.ssrc);
    }

    fn bind_local_stream(&mut self, _info: &StreamInfo) {}

    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// A 30 fps stream of one packet per frame (3000 ticks apart), each
    /// arriving 50 ms after its frame's time, from `t0`; `lost`: which
    /// numbers never come. The asks (time in ms, numbers) until `until_ms`.
    fn run(lost: impl Fn(u16) -> bool, until_ms: u64) -> Vec<(u64, Vec<u16>)> {
        let t0 = Instant::now();
        let mut s = Stream::new(90_000);
        let mut asks = Vec::new();
        let mut next = 0u16;
        for ms in 0..until_ms {
            let now = t0 + MS * ms as u32;
            // Frame k arrives at 50 + 33.3 k ms.
            while (50.0 + f64::from(next) * 100.0 / 3.0) as u64 <= ms {
                if !lost(next) {
                    let fresh = s.arrived(now, next, u32::from(next) * 3000);
                    s.asked(now, &fresh);
                    if !fresh.is_empty() {
                        asks.push((ms, fresh.iter().map(|x| *x as u16).collect()));
                    }
                }
                next += 1;
            }
            if ms % 10 == 0 {
                let due = s.due(now);
                if !due.is_empty() {
                    asks.push((ms, due));
                }
            }
        }
        asks
    }

    #[test]
    fn a_steady_stream_asks_for_nothing() {
        assert_eq!(run(|_| false, 2000), Vec::new());
    }

    #[test]
    fn a_lost_frame_is_asked_for_before_the_next_one_comes() {
        // Frame 30 (due at 1050 ms) is lost: asked for ~20 ms after it
        // was due, again every 40 ms; frame 31 (1083 ms) ends the guess.
        let asks = run(|s| s == 30, 1200);
        let (first, seqs) = &asks[0];
        assert!((1070..=1080).contains(first), "{asks:?}");
        assert_eq!(seqs, &vec![30]);
        let times: Vec<u64> = asks
            .iter()
            .filter(|(_, s)| s.contains(&30))
            .map(|(t, _)| *t)
            .collect();
        assert!(times.windows(2).all(|w| w[1] - w[0] >= 40), "{asks:?}");
        assert!(asks.iter().all(|(_, s)| s == &vec![30]), "{asks:?}");
    }

    #[test]
    fn a_run_of_lost_frames_is_asked_for_frame_by_frame() {
        // Frames 30-32 are lost: each is asked for about 20 ms after it
        // was due, not once 33 arrives (1150 ms).
        let asks = run(|s| (30..=32).contains(&s), 1150);
        let first = |seq: u16| asks.iter().find(|(_, s)| s.contains(&seq)).map(|(t, _)| *t);
        assert!(first(30).is_some_and(|t| t <= 1080), "{asks:?}");
        assert!(first(31).is_some_and(|t| t <= 1110), "{asks:?}");
        assert!(first(32).is_some_and(|t| t <= 1150), "{asks:?}");
    }

    #[test]
    fn a_gap_is_asked_for_at_once_and_at_most_ten_times() {
        let t0 = Instant::now();
        let mut s = Stream::new(90_000);
        // Packets 0..5 of one frame, then 7: 5 and 6 are missing.
        for seq in 0..5u16 {
            assert!(s.arrived(t0, seq, 0).is_empty());
        }
        let fresh = s.arrived(t0 + MS, 7, 0);
        assert_eq!(
            fresh.iter().map(|x| *x as u16).collect::<Vec<_>>(),
            vec![5, 6]
        );
        s.asked(t0 + MS, &fresh);
        // Not again within 40 ms; then every 40 ms, ten asks in all.
        assert!(s.due(t0 + MS * 30).is_empty());
        let mut count = 1;
        for ms in (41..2000).step_by(10) {
            if !s.due(t0 + MS * ms).is_empty() {
                count += 1;
            }
        }
        assert_eq!(count, usize::from(MAX_ASKS));
        // 6 arrives: only 5 was missing (and is asked no more).
        s.arrived(t0 + MS * 2000, 6, 0);
        assert_eq!(
            s.missing.keys().copied().collect::<Vec<_>>(),
            vec![5 + (1 << 32)]
        );
    }

    #[test]
    fn a_queue_that_grows_asks_for_nothing() {
        // Each frame 3 ms later than the one before (a queue growing
        // 90 ms a second): late against the path, not against each other.
        let t0 = Instant::now();
        let mut s = Stream::new(90_000);
        for k in 0..60u16 {
            let now = t0 + MS * (50 + u32::from(k) * 36);
            assert!(s.arrived(now, k, u32::from(k) * 3000).is_empty());
            for tick in 0..4 {
                assert_eq!(s.due(now + MS * (tick * 9)), Vec::<u16>::new(), "{k}");
            }
        }
    }

    #[test]
    fn a_paused_stream_is_not_asked_for_long() {
        // Everything after frame 30 stops: a few guesses, then none.
        let asks = run(|s| s > 30, 3000);
        assert!(
            asks.iter()
                .all(|(t, _)| *t < 1083 + GUESS_FOR.as_millis() as u64),
            "{asks:?}"
        );
        let asked: usize = asks.iter().map(|(_, s)| s.len()).sum();
        assert!(
            asked <= usize::from(MAX_ASKS) * MAX_AHEAD as usize,
            "{asks:?}"
        );
    }
}
