//! The SFU's per-node and per-room media counters: packets and bytes
//! forwarded to players, keyframe requests (PLI/FIR) and NACKs from
//! players, the packets resent for those NACKs, and histograms of the
//! loss players report and of the round-trip time measured on their legs.
//! The SFU counts per stream ([`StreamMeter`], resolved once per leg); a
//! stream counts into its room's tally while the room is tracked.
//!
//! Room series are bounded: a room is tracked from its start (hub
//! [`Activity`]) while fewer than the cap are, and forgotten when it
//! finishes, so a closed room's series leave `/metrics`; a room over the
//! cap counts into the node's figures only.

use crate::activity::{Activity, ActivityKind, ActivityListener};
use crate::sfu::StreamKey;
use prometheus_client::metrics::histogram::Histogram;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Rooms with their own series at most, by default.
pub(crate) const DEFAULT_MAX_ROOMS: usize = 1000;

/// Upper bounds of the loss histogram's buckets (fraction lost, 0 to 1).
const LOSS_BUCKETS: [f64; 8] = [0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0];
/// Upper bounds of the round-trip time histogram's buckets, seconds.
const RTT_BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0];

/// One scope's counters (the node, or a room).
#[derive(Debug)]
pub struct Tally {
    /// RTP packets written to players.
    pub packets: AtomicU64,
    /// Their bytes (RTP payload and header).
    pub bytes: AtomicU64,
    /// Keyframe requests (PLI/FIR) from players.
    pub plis: AtomicU64,
    /// NACK feedback packets from players.
    pub nacks: AtomicU64,
    /// RTP packets resent to players (answers to their NACKs).
    pub retransmissions: AtomicU64,
    /// Fraction lost per receiver report block from players.
    pub loss: Histogram,
    /// Round-trip time of player legs, seconds, per receiver report that
    /// answers a sender report the SFU relayed on the leg.
    pub rtt: Histogram,
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            packets: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            plis: AtomicU64::new(0),
            nacks: AtomicU64::new(0),
            retransmissions: AtomicU64::new(0),
            loss: Histogram::new(LOSS_BUCKETS),
            rtt: Histogram::new(RTT_BUCKETS),
        }
    }
}

/// Where one stream's media is counted: the node, and its room if tracked.
#[derive(Debug, Clone)]
pub struct StreamMeter {
    scopes: Vec<Arc<Tally>>,
}

impl StreamMeter {
    /// A packet of `bytes` was written to a player.
    pub fn forwarded(&self, bytes: usize) {
        self.add(|t| &t.packets, 1);
        self.add(|t| &t.bytes, bytes as u64);
    }

    /// A player asked for a keyframe.
    pub fn keyframe_request(&self) {
        self.add(|t| &t.plis, 1);
    }

    /// A player sent a NACK.
    pub fn nack(&self) {
        self.add(|t| &t.nacks, 1);
    }

    /// A packet was resent to a player.
    pub fn retransmitted(&self) {
        self.add(|t| &t.retransmissions, 1);
    }

    /// A player reported losing `fraction_lost`/256 of the packets.
    pub fn loss(&self, fraction_lost: u8) {
        let fraction = f64::from(fraction_lost) / 256.0;
        for t in &self.scopes {
            t.loss.observe(fraction);
        }
    }

    /// A player leg's round trip took `rtt`.
    pub fn rtt(&self, rtt: Duration) {
        for t in &self.scopes {
            t.rtt.observe(rtt.as_secs_f64());
        }
    }

    fn add(&self, field: TallyField, n: u64) {
        for t in &self.scopes {
            field(t).fetch_add(n, Ordering::Relaxed);
        }
    }
}

/// One counter of a [`Tally`].
pub(crate) type TallyField = fn(&Tally) -> &AtomicU64;

/// A room's key: app and room ID.
pub(crate) type RoomRef = (u32, String);

#[derive(Debug, Default)]
struct Rooms {
    tallies: HashMap<RoomRef, Arc<Tally>>,
    /// The room of each stream published in a tracked room.
    streams: HashMap<StreamKey, RoomRef>,
}

/// The node's and the tracked rooms' media counters.
#[derive(Debug)]
pub struct MediaMeter {
    node: Arc<Tally>,
    max_rooms: usize,
    rooms: Mutex<Rooms>,
}

impl Default for MediaMeter {
    fn default() -> Self {
        MediaMeter::new(DEFAULT_MAX_ROOMS)
    }
}

impl MediaMeter {
    /// A meter keeping series of `max_rooms` rooms at most.
    pub fn new(max_rooms: usize) -> Self {
        MediaMeter {
            node: Arc::default(),
            max_rooms,
            rooms: Mutex::default(),
        }
    }

    /// Where `stream`'s media is counted now.
    pub fn stream(&self, stream: &StreamKey) -> StreamMeter {
        let rooms = self.lock();
        let room = rooms
            .streams
            .get(stream)
            .and_then(|r| rooms.tallies.get(r))
            .cloned();
        StreamMeter {
            scopes: std::iter::once(Arc::clone(&self.node))
                .chain(room)
                .collect(),
        }
    }

    /// The node's counters.
    pub fn node(&self) -> &Arc<Tally> {
        &self.node
    }

    /// The tracked rooms' counters.
    pub fn rooms(&self) -> Vec<(RoomRef, Arc<Tally>)> {
        let rooms = self.lock();
        let mut all: Vec<_> = rooms
            .tallies
            .iter()
            .map(|(k, t)| (k.clone(), Arc::clone(t)))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// The tracked room `stream` is published in.
    pub fn room_of(&self, stream: &StreamKey) -> Option<RoomRef> {
        self.lock().streams.get(stream).cloned()
    }

    fn lock(&self) -> MutexGuard<'_, Rooms> {
        self.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl ActivityListener for MediaMeter {
    fn on_activity(&self, a: &Activity) {
        let mut rooms = self.lock();
        let room = (a.app_id, a.room_id.clone());
        match &a.kind {
            ActivityKind::RoomStarted if rooms.tallies.len() < self.max_rooms => {
                rooms.tallies.insert(room, Arc::default());
            }
            ActivityKind::RoomFinished => {
                rooms.tallies.remove(&room);
                rooms.streams.retain(|_, r| *r != room);
            }
            ActivityKind::StreamPublished { stream_id, .. }
                if rooms.tallies.contains_key(&room) =>
            {
                let key = StreamKey {
                    app_id: a.app_id,
                    stream_id: stream_id.clone(),
                };
                rooms.streams.insert(key, room);
            }
            ActivityKind::StreamStopped { stream_id, .. } => {
                rooms.streams.remove(&StreamKey {
                    app_id: a.app_id,
                    stream_id: stream_id.clone(),
                });
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn activity(room: &str, kind: ActivityKind) -> Activity {
        Activity {
            app_id: 1,
            room_id: room.into(),
            kind,
        }
    }

    fn published(stream: &str) -> ActivityKind {
        ActivityKind::StreamPublished {
            stream_id: stream.into(),
            user_id: "u".into(),
        }
    }

    fn key(stream: &str) -> StreamKey {
        StreamKey {
            app_id: 1,
            stream_id: stream.into(),
        }
    }

    #[test]
    fn streams_count_into_their_room_until_it_finishes_and_rooms_are_capped() {
        let m = MediaMeter::new(1);
        m.on_activity(&activity("a", ActivityKind::RoomStarted));
        m.on_activity(&activity("b", ActivityKind::RoomStarted));
        m.on_activity(&activity("a", published("s1")));
        m.on_activity(&activity("b", published("s2")));
        m.stream(&key("s1")).forwarded(100);
        m.stream(&key("s2")).forwarded(50);
        m.stream(&key("s1")).loss(128);
        assert_eq!(m.node().bytes.load(Ordering::Relaxed), 150);
        let rooms = m.rooms();
        assert_eq!(rooms.len(), 1, "the cap keeps b out");
        assert_eq!(rooms[0].0, (1, "a".to_owned()));
        assert_eq!(rooms[0].1.packets.load(Ordering::Relaxed), 1);
        assert_eq!(m.room_of(&key("s1")), Some((1, "a".to_owned())));
        m.on_activity(&activity("a", ActivityKind::RoomFinished));
        assert!(m.rooms().is_empty());
        assert_eq!(m.room_of(&key("s1")), None);
        assert_eq!(m.node().packets.load(Ordering::Relaxed), 2);
    }
}
