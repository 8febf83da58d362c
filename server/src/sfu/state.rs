//! The SFU's media state and the one task that owns it: the publishers and
//! their declared tracks, the players and what each forwards, the
//! keyframe limiters. Everything else talks to it with a [`Command`]
//! (see the module doc of `sfu` for who sends which).
//!
//! The task never awaits I/O: connections it drops are closed by the
//! caller that asked (their [`Closing`] comes back in the reply) or, for
//! a leg that ended by itself, by a task it spawns; keyframe requests are
//! written by a task of their own. The forwarding decisions are
//! `forwarder`'s, fed the task's `now`.

use super::audio_loss;
use super::dynacast::{Dynacast, Tell};
use super::engine::LegConnection;
use super::forwarder::{
    leg_payload_type, rewrite_for_leg, KeyframeDecision, KeyframeLimiter, RedOnLeg,
};
use super::layer_meter::LayerMeter;
use super::layer_switch::Estimate;
use super::leg_start::starts_keyframe;
use super::red_trim::{self, RedTrim};
use super::rtcp_delivery::is_keyframe_request;
use super::video_writer::{VideoLeg, Written};
use super::{codec_of, LegRef, SfuError, SfuObserver, StreamKey};
use crate::metrics::media::{MediaMeter, StreamMeter};
use protocol::{MediaRole, VideoLayer};
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::sender_report::SenderReport;
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodec, RtpCodecKind};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::PeerConnection;

/// Packets a player leg may fall behind its publisher before it loses some.
const PACKET_QUEUE: usize = 1024;

/// One leg of the SFU as the owner knows it: which, and which connection
/// (a replaced leg keeps its [`LegRef`] but not its `id`).
#[derive(Debug, Clone)]
pub(super) struct Leg {
    pub(super) leg: LegRef,
    pub(super) id: u64,
}

/// What the owner of the media state is told.
pub(super) enum Command {
    /// A publisher leg's connection is built: it replaces the stream's
    /// publisher (and with it that one's players).
    Publish {
        leg: Leg,
        kinds: Vec<RtpCodecKind>,
        conn: LegConnection,
        reply: oneshot::Sender<Closing>,
    },
    /// A player leg's connection is built: it joins the stream's live
    /// publisher (replacing the session's previous player leg), and learns
    /// the tracks it may forward.
    Play {
        leg: Leg,
        conn: LegConnection,
        /// The highest video layer to forward.
        cap: VideoLayer,
        reply: oneshot::Sender<Result<(Vec<Source>, Closing), SfuError>>,
    },
    /// A player leg negotiated: forward these tracks to it.
    Forward {
        leg: Leg,
        outputs: Vec<Output>,
        reply: oneshot::Sender<Result<(), SfuError>>,
    },
    /// A leg's peer connection (to add a remote candidate).
    Connection {
        leg: LegRef,
        reply: oneshot::Sender<Option<Arc<dyn PeerConnection>>>,
    },
    /// Ends one leg: the given connection, or whichever is current.
    Close {
        leg: LegRef,
        id: Option<u64>,
        reply: oneshot::Sender<Closing>,
    },
    /// Ends every leg of a session.
    CloseSession {
        session_id: String,
        reply: oneshot::Sender<Closing>,
    },
    /// Ends every leg.
    CloseAll { reply: oneshot::Sender<Closing> },
    /// A player leg's ICE found a pair, DTLS still to come (from its
    /// handler): its keyframe is asked for now, on its way while the
    /// handshake runs.
    IceConnected(Leg),
    /// A leg's connection is up (from its handler).
    Connected(Leg),
    /// A leg's connection failed or closed (from its handler).
    Ended(Leg),
    /// A publisher's track sent its first packet (from its handler).
    TrackArrived {
        leg: Leg,
        kind: RtpCodecKind,
        ssrc: u32,
        remote: Arc<dyn TrackRemote>,
    },
    /// A publisher track's simulcast layer (or its only one) sent its
    /// first packet (from the track's read task).
    LayerOpened {
        track: TrackRef,
        layer: VideoLayer,
        ssrc: u32,
        /// It carries a `rid`: the track is simulcast.
        rid: bool,
    },
    /// A keyframe of a layer of a publisher track is wanted (a player's
    /// request from its leg's RTCP task, or a layer switch's from its writer).
    KeyframeRequest { track: TrackRef, layer: VideoLayer },
    /// A player's receiver report on its copy of a publisher track: it
    /// lost `fraction_lost` (1/256, on the whole path), for the
    /// publisher's RED.
    DownlinkLoss { track: TrackRef, fraction_lost: u8 },
    /// A delayed keyframe request is due (from the owner's timer task).
    KeyframeDue { track: TrackRef, layer: VideoLayer },
    /// A keyframe of a layer of a publisher track arrived (from the
    /// track's read task): it answers the keyframe requests before it.
    KeyframeArrived { track: TrackRef, layer: VideoLayer },
    /// A session's cap on the video layers of a stream it plays.
    Cap { leg: LegRef, cap: VideoLayer },
    /// The server's operator stops (or resumes) forwarding a stream's audio
    /// or video to its players (server API `mute_stream`).
    ForwardingMute {
        stream: StreamKey,
        muted: ForwardingMute,
    },
    /// The layers a player leg's video writer wants of its track changed.
    Wanted {
        leg: Leg,
        index: usize,
        wanted: [bool; 3],
    },
    /// A debounced dynacast look at a stream is due (from a timer task).
    DynacastDue { stream: StreamKey },
}

/// One track of one publisher connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TrackRef {
    stream: StreamKey,
    publisher: u64,
    index: usize,
}

impl TrackRef {
    /// Track `index` of `stream`'s publisher connection `publisher`.
    fn new(stream: &StreamKey, publisher: u64, index: usize) -> Self {
        TrackRef {
            stream: stream.clone(),
            publisher,
            index,
        }
    }
}

/// A publisher track a player may forward: what its negotiation needs.
pub(super) struct Source {
    pub(super) index: usize,
    pub(super) kind: RtpCodecKind,
    pub(super) codec: RTCRtpCodec,
}

/// A publisher track as a player leg negotiated it.
pub(super) struct Output {
    /// The [`Source::index`].
    pub(super) index: usize,
    pub(super) local: Arc<TrackLocalStaticRTP>,
    pub(super) ssrc: u32,
    pub(super) payload_type: u8,
    /// What the leg does with the publisher's RED audio packets.
    pub(super) red: RedOnLeg,
    /// The simulcast layer it forwards ([`VideoLayer::index`]; its
    /// writer sets it), where its player's keyframe requests go.
    pub(super) layer: Arc<AtomicUsize>,
}

/// Connections taken out of the state, to close (outside the owner).
#[derive(Default)]
#[must_use = "the connections are still open"]
pub(super) struct Closing(Vec<LegConnection>);

impl Closing {
    /// Whether it closes nothing.
    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Closes the connections.
    pub(super) async fn finish(self) {
        for conn in self.0 {
            conn.close().await;
        }
    }

    /// Closes the connections in a task of their own.
    fn spawn(self) {
        if !self.is_empty() {
            tokio::spawn(self.finish());
        }
    }
}

/// Which of a stream's kinds the SFU does not forward: the server's
/// operator muted them (the publisher keeps sending).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ForwardingMute {
    /// Audio is not forwarded.
    pub audio: bool,
    /// Video is not forwarded.
    pub video: bool,
}

impl ForwardingMute {
    fn of(self, kind: RtpCodecKind) -> bool {
        if kind == RtpCodecKind::Video {
            self.video
        } else {
            self.audio
        }
    }
}

/// What the synchronous queries of `Sfu` read: published by the owner
/// after every change.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct View {
    pub(super) publishers: usize,
    pub(super) live: HashSet<StreamKey>,
    pub(super) playing: HashSet<(StreamKey, String)>,
}

/// The media state; only [`run`] touches it.
pub(super) struct State {
    observer: Arc<dyn SfuObserver>,
    /// For the tasks the owner spawns (weak: the SFU's handle owns the channel).
    commands: mpsc::WeakUnboundedSender<Command>,
    view: watch::Sender<View>,
    publishers: HashMap<StreamKey, Publisher>,
    players: HashMap<(StreamKey, String), Player>,
    /// The latest video layer cap each session set per stream: a player leg
    /// built while a cap changed takes it over the one its offer read.
    caps: HashMap<(StreamKey, String), VideoLayer>,
    /// Streams the server's operator muted: kept across publisher legs (a
    /// republish after a reconnect stays muted) until lifted.
    forwarding_mutes: HashMap<StreamKey, ForwardingMute>,
    /// What the observer is told once the view is published.
    notices: Vec<Notice>,
    /// Media counters (`/metrics`).
    meter: Arc<MediaMeter>,
}

enum Notice {
    Live(StreamKey),
    Ended(StreamKey),
    /// Dynacast: the layers the stream's publishing session should send.
    Layers {
        stream: StreamKey,
        session_id: String,
        active: Vec<VideoLayer>,
    },
}

struct Publisher {
    id: u64,
    session_id: String,
    conn: LegConnection,
    /// The tracks the offer sends, in its order.
    tracks: Vec<SourceTrack>,
    live: bool,
    /// One read task per arrived track.
    tasks: Vec<JoinHandle<()>>,
    dynacast: Dynacast,
}

/// One track a publisher's offer sends.
struct SourceTrack {
    kind: RtpCodecKind,
    /// The profile's codec for `kind` (the only one the SFU negotiates).
    codec: RTCRtpCodec,
    /// The remote track, once its first packet arrived.
    arrived: Option<Arrived>,
    /// The forwarding table: every player leg's writer task subscribes.
    packets: broadcast::Sender<Relayed>,
    /// Per layer (one, `High`, for a track without simulcast).
    keyframes: [KeyframeLimiter; 3],
    meter: Arc<LayerMeter>,
    /// Its layers carry `rid`s.
    simulcast: bool,
    /// Not forwarded: the server's operator muted it (its read task drops
    /// its RTP).
    muted: Arc<AtomicBool>,
}

/// A declared track's media, once it arrives.
struct Arrived {
    /// Per layer, once it sent.
    ssrcs: [Option<u32>; 3],
    remote: Arc<dyn TrackRemote>,
}

struct Player {
    id: u64,
    /// The publisher connection it plays (always the stream's current one:
    /// a publisher leaving takes its players along).
    publisher: u64,
    conn: LegConnection,
    /// The publisher tracks it forwards, by index.
    forwarded: Vec<usize>,
    /// Its connection is up (ICE and DTLS): packets written before that
    /// would be dropped by webrtc-rs for want of SRTP keys, the start of
    /// the keyframe the player waits for among them.
    connected: bool,
    /// Negotiated tracks whose writers wait for the connection.
    unwritten: Vec<Output>,
    /// Per forwarded track: the writer and the RTCP reader.
    tasks: Vec<JoinHandle<()>>,
    /// The session's cap on its video layers (the writers watch it).
    cap: watch::Sender<VideoLayer>,
    /// Per forwarded video track (by index): the layers its writer wants.
    wanted: HashMap<usize, [bool; 3]>,
}

/// What a publisher track sends on to its players, in order.
#[derive(Debug, Clone)]
pub(super) enum Relayed {
    Rtp {
        /// The simulcast layer (`High` for a track without).
        layer: VideoLayer,
        /// The packet starts a keyframe (video only; tested once here).
        keyframe: bool,
        packet: rtp::Packet,
    },
    /// The publisher's sender report for a layer of this track (its clock
    /// for A/V sync and capture-to-display delay at the players).
    SenderReport { layer: VideoLayer, sr: SenderReport },
}

impl State {
    /// An empty state reporting to `observer`, its view published on `view`.
    pub(super) fn new(
        observer: Arc<dyn SfuObserver>,
        commands: mpsc::WeakUnboundedSender<Command>,
        view: watch::Sender<View>,
        meter: Arc<MediaMeter>,
    ) -> Self {
        State {
            meter,
            observer,
            commands,
            view,
            publishers: HashMap::new(),
            players: HashMap::new(),
            caps: HashMap::new(),
            forwarding_mutes: HashMap::new(),
            notices: Vec::new(),
        }
    }
}

/// The owner: applies commands until the SFU's handle is dropped, then
/// closes every leg.
///
/// After each command the view is published before the observer hears of
/// a stream going live or ending, so a client acting on that notice finds
/// the SFU's synchronous queries agree with it.
pub(super) async fn run(mut state: State, mut commands: mpsc::UnboundedReceiver<Command>) {
    while let Some(command) = commands.recv().await {
        let changes_view = !matches!(
            command,
            Command::Connection { .. }
                | Command::IceConnected(_)
                | Command::TrackArrived { .. }
                | Command::LayerOpened { .. }
                | Command::KeyframeRequest { .. }
                | Command::DownlinkLoss { .. }
                | Command::KeyframeDue { .. }
                | Command::KeyframeArrived { .. }
                | Command::Cap { .. }
                | Command::ForwardingMute { .. }
                | Command::Wanted { .. }
                | Command::DynacastDue { .. }
        );
        state.handle(command, Instant::now());
        if changes_view {
            state.publish_view();
        }
        state.notify();
    }
    state.close_all().spawn();
    state.notify();
}

impl State {
    fn handle(&mut self, command: Command, now: Instant) {
        match command {
            Command::Publish {
                leg,
                kinds,
                conn,
                reply,
            } => self.publish(leg, kinds, conn, reply),
            Command::Play {
                leg,
                conn,
                cap,
                reply,
            } => self.play(leg, conn, cap, reply),
            Command::Forward {
                leg,
                outputs,
                reply,
            } => {
                let forwarded = self.forward(&leg, outputs, now);
                let _ = reply.send(forwarded);
            }
            Command::Connection { leg, reply } => {
                let _ = reply.send(self.connection(&leg));
            }
            Command::Close { leg, id, reply } => {
                let closing = match leg.role {
                    MediaRole::Publish => {
                        let owned = self
                            .publishers
                            .get(&leg.stream)
                            .is_some_and(|p| p.session_id == leg.session_id);
                        if owned {
                            self.remove_publisher(&leg.stream, id)
                        } else {
                            Closing::default()
                        }
                    }
                    MediaRole::Play => {
                        self.caps
                            .remove(&(leg.stream.clone(), leg.session_id.clone()));
                        self.remove_player(&leg, id)
                    }
                };
                reply_or_close(reply, closing);
            }
            Command::CloseSession { session_id, reply } => {
                let closing = self.close_session(&session_id);
                reply_or_close(reply, closing);
            }
            Command::CloseAll { reply } => {
                let closing = self.close_all();
                reply_or_close(reply, closing);
            }
            Command::IceConnected(leg) => self.ice_connected(&leg, now),
            Command::Connected(leg) => self.connected(&leg, now),
            Command::Ended(leg) => {
                let closing = match leg.leg.role {
                    MediaRole::Publish => self.remove_publisher(&leg.leg.stream, Some(leg.id)),
                    MediaRole::Play => self.remove_player(&leg.leg, Some(leg.id)),
                };
                closing.spawn();
            }
            Command::TrackArrived {
                leg,
                kind,
                ssrc,
                remote,
            } => self.track_arrived(&leg, kind, ssrc, remote),
            Command::LayerOpened {
                track,
                layer,
                ssrc,
                rid,
            } => self.layer_opened(&track, layer, ssrc, rid, now),
            Command::DownlinkLoss {
                track,
                fraction_lost,
            } => self.downlink_loss(&track, fraction_lost),
            Command::KeyframeRequest { track, layer } => {
                self.request_keyframe(&track, layer, false, now)
            }
            Command::KeyframeDue { track, layer } => {
                if let Some(source) = self.track(&track) {
                    if source.keyframes[layer.index()].fire_pending(now) {
                        source.send_pli(layer);
                    }
                }
            }
            Command::KeyframeArrived { track, layer } => {
                if let Some(source) = self.track(&track) {
                    source.keyframes[layer.index()].keyframe_arrived(now);
                }
            }
            Command::Cap { leg, cap } => {
                let key = (leg.stream, leg.session_id);
                if let Some(player) = self.players.get(&key) {
                    player.cap.send_replace(cap);
                }
                self.caps.insert(key, cap);
            }
            Command::ForwardingMute { stream, muted } => {
                self.set_forwarding_mute(stream, muted, now)
            }
            Command::Wanted { leg, index, wanted } => {
                let key = (leg.leg.stream.clone(), leg.leg.session_id);
                if let Some(player) = self.players.get_mut(&key).filter(|p| p.id == leg.id) {
                    player.wanted.insert(index, wanted);
                    self.dynacast(&leg.leg.stream, false, now);
                }
            }
            Command::DynacastDue { stream } => self.dynacast(&stream, true, now),
        }
    }

    /// A layer of a publisher track sent its first packet: its SSRC is
    /// where its keyframe requests go.
    fn layer_opened(
        &mut self,
        track: &TrackRef,
        layer: VideoLayer,
        ssrc: u32,
        rid: bool,
        now: Instant,
    ) {
        let Some(source) = self.track(track) else {
            return;
        };
        if let Some(arrived) = source.arrived.as_mut() {
            arrived.ssrcs[layer.index()] = Some(ssrc);
        }
        if rid && !source.simulcast {
            source.simulcast = true;
            self.dynacast(&track.stream, false, now);
        }
    }

    /// Dynacast: tells a simulcast publisher the union of the layers its
    /// players want, when it changed (debounced; `due`: the debounced look).
    fn dynacast(&mut self, stream: &StreamKey, due: bool, now: Instant) {
        let Some(publisher) = self.publishers.get_mut(stream) else {
            return;
        };
        if !publisher.tracks.iter().any(|t| t.simulcast) {
            return;
        }
        let wishes: Vec<&[bool; 3]> = self
            .players
            .iter()
            .filter(|((s, _), p)| s == stream && p.publisher == publisher.id)
            .flat_map(|(_, p)| p.wanted.values())
            .collect();
        // Nobody plays (or says what it wants yet): the publisher keeps what
        // it sends, so a first player finds every layer ready (a publisher
        // resumes a paused top layer only as its own estimate climbs back).
        let wanted = (!wishes.is_empty()).then(|| {
            let mut union = [false; 3];
            for wish in wishes {
                for (layer, want) in union.iter_mut().zip(wish) {
                    *layer |= *want;
                }
            }
            union
        });
        match publisher.dynacast.update(wanted, due, now) {
            Tell::Now(active) => {
                tracing::debug!(stream_id = %stream.stream_id, ?active, "dynacast");
                self.notices.push(Notice::Layers {
                    stream: stream.clone(),
                    session_id: publisher.session_id.clone(),
                    active,
                });
            }
            Tell::At(at) => {
                let commands = self.commands.clone();
                let stream = stream.clone();
                tokio::spawn(async move {
                    tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
                    if let Some(commands) = commands.upgrade() {
                        let _ = commands.send(Command::DynacastDue { stream });
                    }
                });
            }
            Tell::Nothing => {}
        }
    }

    /// A publisher leg replaces the stream's publisher; the replaced legs
    /// go back to the asker to close.
    fn publish(
        &mut self,
        leg: Leg,
        kinds: Vec<RtpCodecKind>,
        conn: LegConnection,
        reply: oneshot::Sender<Closing>,
    ) {
        let stream = leg.leg.stream;
        let replaced = self.remove_publisher(&stream, None);
        let publisher = Publisher {
            id: leg.id,
            session_id: leg.leg.session_id,
            conn,
            tracks: kinds.into_iter().map(SourceTrack::declared).collect(),
            live: false,
            tasks: Vec::new(),
            dynacast: Dynacast::default(),
        };
        let muted = self
            .forwarding_mutes
            .get(&stream)
            .copied()
            .unwrap_or_default();
        for track in &publisher.tracks {
            track.muted.store(muted.of(track.kind), Ordering::Relaxed);
        }
        self.publishers.insert(stream.clone(), publisher);
        if let Err(replaced) = reply.send(replaced) {
            // Its asker is gone: so is the leg.
            replaced.spawn();
            self.remove_publisher(&stream, Some(leg.id)).spawn();
        }
    }

    /// Stops or resumes forwarding a stream's audio and video; video that
    /// resumes starts at a keyframe asked for now.
    fn set_forwarding_mute(&mut self, stream: StreamKey, muted: ForwardingMute, now: Instant) {
        let mut resumed = Vec::new();
        if let Some(publisher) = self.publishers.get(&stream) {
            for (index, track) in publisher.tracks.iter().enumerate() {
                let was = track.muted.swap(muted.of(track.kind), Ordering::Relaxed);
                if was && !muted.of(track.kind) && track.kind == RtpCodecKind::Video {
                    resumed.push(TrackRef::new(&stream, publisher.id, index));
                }
            }
        }
        for track in resumed {
            for layer in VideoLayer::ALL {
                self.request_keyframe(&track, layer, true, now);
            }
        }
        if muted == ForwardingMute::default() {
            self.forwarding_mutes.remove(&stream);
        } else {
            self.forwarding_mutes.insert(stream, muted);
        }
    }

    /// A player leg joins the stream's publisher if it is live now (else
    /// its connection is closed), replacing the session's previous one.
    fn play(
        &mut self,
        leg: Leg,
        conn: LegConnection,
        cap: VideoLayer,
        reply: oneshot::Sender<Result<(Vec<Source>, Closing), SfuError>>,
    ) {
        let sources = self
            .publishers
            .get(&leg.leg.stream)
            .filter(|p| p.live)
            .map(|p| (p.id, p.sources()));
        let Some((publisher, sources)) = sources else {
            Closing(vec![conn]).spawn();
            let _ = reply.send(Err(SfuError::NotLive));
            return;
        };
        let key = (leg.leg.stream.clone(), leg.leg.session_id.clone());
        // A cap set while the leg was built is newer than its offer's.
        let cap = self.caps.get(&key).copied().unwrap_or(cap);
        let player = Player {
            id: leg.id,
            publisher,
            conn,
            forwarded: Vec::new(),
            connected: false,
            unwritten: Vec::new(),
            tasks: Vec::new(),
            cap: watch::Sender::new(cap),
            wanted: HashMap::new(),
        };
        let replaced = match self.players.insert(key, player) {
            Some(old) => old.finish(),
            None => Closing::default(),
        };
        if let Err(Ok((_, replaced))) = reply.send(Ok((sources, replaced))) {
            // Its asker is gone: so is the leg.
            replaced.spawn();
            self.remove_player(&leg.leg, Some(leg.id)).spawn();
        }
    }

    /// Tells the observer what streams went live or ended.
    fn notify(&mut self) {
        for notice in self.notices.drain(..) {
            match notice {
                Notice::Live(stream) => self.observer.stream_live(&stream),
                Notice::Ended(stream) => self.observer.stream_ended(&stream),
                Notice::Layers {
                    stream,
                    session_id,
                    active,
                } => self.observer.video_layers(&stream, &session_id, active),
            }
        }
    }

    /// Publishes the view for the synchronous queries, if it changed.
    fn publish_view(&self) {
        let view = View {
            publishers: self.publishers.len(),
            live: self
                .publishers
                .iter()
                .filter(|(_, p)| p.live)
                .map(|(key, _)| key.clone())
                .collect(),
            playing: self.players.keys().cloned().collect(),
        };
        self.view.send_if_modified(|old| {
            let changed = *old != view;
            if changed {
                *old = view;
            }
            changed
        });
    }

    /// Takes the stream's publisher (if it is connection `only`, when
    /// given) out, and its players with it; tells the observer if the
    /// stream was live.
    fn remove_publisher(&mut self, stream: &StreamKey, only: Option<u64>) -> Closing {
        let current = self
            .publishers
            .get(stream)
            .is_some_and(|p| only.is_none_or(|id| p.id == id));
        let Some(publisher) = current.then(|| self.publishers.remove(stream)).flatten() else {
            return Closing::default();
        };
        for task in &publisher.tasks {
            task.abort();
        }
        let mut closing = self.remove_players(|(key, _)| key == stream);
        if publisher.live {
            tracing::info!(app_id = stream.app_id, stream_id = %stream.stream_id, "stream ended");
            self.notices.push(Notice::Ended(stream.clone()));
        }
        closing.0.push(publisher.conn);
        closing
    }

    /// Takes a player leg out (if it is connection `only`, when given).
    fn remove_player(&mut self, leg: &LegRef, only: Option<u64>) -> Closing {
        let key = (leg.stream.clone(), leg.session_id.clone());
        let current = self
            .players
            .get(&key)
            .is_some_and(|p| only.is_none_or(|id| p.id == id));
        if current {
            self.remove_players(|k| *k == key)
        } else {
            Closing::default()
        }
    }

    fn close_session(&mut self, session_id: &str) -> Closing {
        self.caps.retain(|(_, s), _| s != session_id);
        let mut closing = self.remove_players(|(_, s)| s == session_id);
        let published: Vec<StreamKey> = self
            .publishers
            .iter()
            .filter(|(_, p)| p.session_id == session_id)
            .map(|(key, _)| key.clone())
            .collect();
        for stream in published {
            closing.0.extend(self.remove_publisher(&stream, None).0);
        }
        closing
    }

    fn close_all(&mut self) -> Closing {
        let mut closing = Closing::default();
        let streams: Vec<StreamKey> = self.publishers.keys().cloned().collect();
        for stream in streams {
            closing.0.extend(self.remove_publisher(&stream, None).0);
        }
        closing.0.extend(self.remove_players(|_| true).0);
        closing
    }

    /// Takes the player legs whose (stream, session) `which` picks out.
    fn remove_players(&mut self, which: impl Fn(&(StreamKey, String)) -> bool) -> Closing {
        let keys: Vec<_> = self.players.keys().filter(|k| which(k)).cloned().collect();
        let mut closing = Closing::default();
        for key in &keys {
            if let Some(player) = self.players.remove(key) {
                closing.0.extend(player.finish().0);
            }
        }
        // Their wishes leave with them (a publisher that is gone too is
        // told nothing).
        let now = Instant::now();
        for (stream, _) in &keys {
            self.dynacast(stream, false, now);
        }
        closing
    }

    fn connection(&self, leg: &LegRef) -> Option<Arc<dyn PeerConnection>> {
        match leg.role {
            MediaRole::Publish => self
                .publishers
                .get(&leg.stream)
                .filter(|p| p.session_id == leg.session_id)
                .map(|p| Arc::clone(p.conn.pc())),
            MediaRole::Play => self
                .players
                .get(&(leg.stream.clone(), leg.session_id.clone()))
                .map(|p| Arc::clone(p.conn.pc())),
        }
    }

    /// A leg's connection is up: a publisher's stream is live; a player
    /// asks for keyframes so it starts at once.
    /// A player leg's ICE is up: the publisher is asked for a keyframe
    /// now, so that it is encoded while DTLS runs (the writers still wait
    /// for [`State::connected`], which asks again: a keyframe that beat the
    /// handshake was dropped, and two requests this close make one).
    fn ice_connected(&mut self, leg: &Leg, now: Instant) {
        if leg.leg.role != MediaRole::Play {
            return;
        }
        let key = (leg.leg.stream.clone(), leg.leg.session_id.clone());
        let Some(player) = self
            .players
            .get(&key)
            .filter(|p| p.id == leg.id && !p.connected)
        else {
            return;
        };
        let (publisher, forwarded) = (player.publisher, player.forwarded.clone());
        self.request_keyframes(&leg.leg.stream, publisher, &forwarded, now);
    }

    fn connected(&mut self, leg: &Leg, now: Instant) {
        let stream = &leg.leg.stream;
        match leg.leg.role {
            MediaRole::Publish => {
                let Some(publisher) = self.publishers.get_mut(stream) else {
                    return;
                };
                if publisher.id != leg.id || publisher.live {
                    return;
                }
                publisher.live = true;
                tracing::info!(app_id = stream.app_id, stream_id = %stream.stream_id, "stream live");
                self.notices.push(Notice::Live(stream.clone()));
            }
            MediaRole::Play => {
                let key = (stream.clone(), leg.leg.session_id.clone());
                let Some(player) = self.players.get_mut(&key).filter(|p| p.id == leg.id) else {
                    return;
                };
                player.connected = true;
                let publisher = self.publishers.get(stream);
                if let Some(publisher) = publisher.filter(|p| p.id == player.publisher) {
                    player.start_writers(leg, publisher, &self.commands, &self.meter);
                }
                let (publisher, forwarded) = (player.publisher, player.forwarded.clone());
                self.request_keyframes(stream, publisher, &forwarded, now);
            }
        }
    }

    /// Starts forwarding a player leg's negotiated tracks, if it still
    /// plays (its publisher may have left while it negotiated).
    fn forward(&mut self, leg: &Leg, outputs: Vec<Output>, now: Instant) -> Result<(), SfuError> {
        let stream = &leg.leg.stream;
        let key = (stream.clone(), leg.leg.session_id.clone());
        let player = self
            .players
            .get_mut(&key)
            .filter(|p| p.id == leg.id)
            .ok_or(SfuError::NotLive)?;
        let publisher = self
            .publishers
            .get(stream)
            .filter(|p| p.id == player.publisher)
            .ok_or(SfuError::NotLive)?;
        for output in outputs {
            if output.index >= publisher.tracks.len() {
                continue;
            }
            let track = TrackRef::new(stream, publisher.id, output.index);
            player.tasks.push(tokio::spawn(read_leg_rtcp(
                Arc::clone(&output.local),
                self.commands.clone(),
                track,
                Arc::clone(&output.layer),
                self.meter.stream(stream),
            )));
            player.forwarded.push(output.index);
            player.unwritten.push(output);
        }
        if player.connected {
            player.start_writers(leg, publisher, &self.commands, &self.meter);
            let (publisher, forwarded) = (player.publisher, player.forwarded.clone());
            self.request_keyframes(stream, publisher, &forwarded, now);
        }
        Ok(())
    }

    /// A publisher track arrived (its first packet): bind it to the first
    /// declared track of its kind still waiting and start reading it.
    fn track_arrived(
        &mut self,
        leg: &Leg,
        kind: RtpCodecKind,
        ssrc: u32,
        remote: Arc<dyn TrackRemote>,
    ) {
        let stream = &leg.leg.stream;
        let Some(publisher) = self.publishers.get_mut(stream).filter(|p| p.id == leg.id) else {
            return;
        };
        let Some((index, source)) = publisher
            .tracks
            .iter_mut()
            .enumerate()
            .find(|(_, t)| t.kind == kind && t.arrived.is_none())
        else {
            tracing::warn!(stream_id = %stream.stream_id, ?kind, ssrc, "publisher track the offer did not declare; ignored");
            return;
        };
        tracing::info!(stream_id = %stream.stream_id, ?kind, ssrc, "publisher track arrived");
        source.arrived = Some(Arrived {
            ssrcs: [None; 3],
            remote: Arc::clone(&remote),
        });
        let track = TrackRef::new(stream, leg.id, index);
        let reader = PublisherReader {
            packets: source.packets.clone(),
            meter: Arc::clone(&source.meter),
            muted: Arc::clone(&source.muted),
            video: kind == RtpCodecKind::Video,
            commands: self.commands.clone(),
            track: track.clone(),
        };
        // A player that connected before this track's media asked for a
        // keyframe that could not be sent yet: ask when its layer opens.
        let waiting = source.packets.receiver_count() > 0;
        publisher
            .tasks
            .push(tokio::spawn(reader.run(remote, waiting)));
    }

    /// Asks for a keyframe of each of these tracks at once: of its lowest
    /// layer, where a new player starts.
    fn request_keyframes(
        &mut self,
        stream: &StreamKey,
        publisher: u64,
        tracks: &[usize],
        now: Instant,
    ) {
        for &index in tracks {
            let track = TrackRef::new(stream, publisher, index);
            let lowest = self.track(&track).and_then(|t| t.lowest_layer());
            if let Some(layer) = lowest {
                self.request_keyframe(&track, layer, true, now);
            }
        }
    }

    /// Asks the publisher for a keyframe of a layer (a PLI to its SSRC), at
    /// most one per window and layer: a request inside the window is sent
    /// when it ends (see [`KeyframeLimiter::decide`]); `force` goes out at once.
    fn request_keyframe(&mut self, track: &TrackRef, layer: VideoLayer, force: bool, now: Instant) {
        let commands = self.commands.clone();
        let Some(source) = self.track(track).filter(|s| s.kind == RtpCodecKind::Video) else {
            return;
        };
        let decision = source.keyframes[layer.index()].decide(now, force);
        tracing::debug!(?layer, force, ?decision, "keyframe request");
        match decision {
            KeyframeDecision::Now => source.send_pli(layer),
            KeyframeDecision::Folded => {}
            KeyframeDecision::At(at) => {
                let track = track.clone();
                tokio::spawn(async move {
                    tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
                    if let Some(commands) = commands.upgrade() {
                        let _ = commands.send(Command::KeyframeDue { track, layer });
                    }
                });
            }
        }
    }

    /// Passes a player's loss of an audio track on to its publisher.
    fn downlink_loss(&mut self, track: &TrackRef, fraction_lost: u8) {
        let Some(source) = self.track(track).filter(|s| s.kind == RtpCodecKind::Audio) else {
            return;
        };
        if let Some(arrived) = &source.arrived {
            if let Some(ssrc) = arrived.ssrcs.iter().flatten().next() {
                audio_loss::tell_publisher(&arrived.remote, *ssrc, fraction_lost);
            }
        }
    }

    fn track(&mut self, track: &TrackRef) -> Option<&mut SourceTrack> {
        self.publishers
            .get_mut(&track.stream)
            .filter(|p| p.id == track.publisher)
            .and_then(|p| p.tracks.get_mut(track.index))
    }
}

impl Publisher {
    fn sources(&self) -> Vec<Source> {
        self.tracks
            .iter()
            .enumerate()
            .map(|(index, t)| Source {
                index,
                kind: t.kind,
                codec: t.codec.clone(),
            })
            .collect()
    }
}

impl Player {
    /// Starts writing `publisher`'s packets to the tracks that wait for
    /// them, from the next packet on.
    fn start_writers(
        &mut self,
        leg: &Leg,
        publisher: &Publisher,
        commands: &mpsc::WeakUnboundedSender<Command>,
        meter: &MediaMeter,
    ) {
        for output in self.unwritten.drain(..) {
            let Some(source) = publisher.tracks.get(output.index) else {
                continue;
            };
            let track = TrackRef::new(&leg.leg.stream, publisher.id, output.index);
            let writer = LegWriter {
                output,
                meter: meter.stream(&leg.leg.stream),
                commands: commands.clone(),
                track,
                leg: leg.clone(),
            };
            let packets = source.packets.subscribe();
            let task = if source.kind == RtpCodecKind::Video {
                let video = VideoLeg::new(
                    leg.leg.session_id.clone(),
                    Arc::clone(&source.meter),
                    self.cap.subscribe(),
                    self.conn.estimate(),
                );
                tokio::spawn(writer.video(packets, video))
            } else {
                tokio::spawn(writer.audio(packets, self.conn.estimate()))
            };
            self.tasks.push(task);
        }
    }

    /// Stops its tasks; its connection is left to close.
    fn finish(self) -> Closing {
        for task in &self.tasks {
            task.abort();
        }
        Closing(vec![self.conn])
    }
}

impl SourceTrack {
    /// A track of `kind` the publisher's offer sends, before its media arrives.
    fn declared(kind: RtpCodecKind) -> Self {
        let (packets, _) = broadcast::channel(PACKET_QUEUE);
        SourceTrack {
            kind,
            codec: codec_of(kind),
            arrived: None,
            packets,
            keyframes: Default::default(),
            meter: Arc::new(LayerMeter::new(Instant::now())),
            simulcast: false,
            muted: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The lowest layer that sent so far.
    fn lowest_layer(&self) -> Option<VideoLayer> {
        let arrived = self.arrived.as_ref()?;
        VideoLayer::ALL
            .into_iter()
            .find(|l| arrived.ssrcs[l.index()].is_some())
    }

    /// Sends a PLI for a layer of the track (from a task); nothing before
    /// that layer's media arrived (the publisher's first picture is a
    /// keyframe, and arrival asks again).
    fn send_pli(&self, layer: VideoLayer) {
        let Some(arrived) = &self.arrived else {
            return;
        };
        let Some(media_ssrc) = arrived.ssrcs[layer.index()] else {
            return;
        };
        let pli = PictureLossIndication {
            sender_ssrc: 0,
            media_ssrc,
        };
        let remote = Arc::clone(&arrived.remote);
        tokio::spawn(async move {
            for _ in 0..rtc_profile::PLI_COPIES {
                if let Err(error) = remote.write_rtcp(vec![Box::new(pli.clone())]).await {
                    tracing::debug!(%error, "keyframe request not sent");
                }
            }
        });
    }
}

/// Sends a reply; if its asker is gone, closes what it would have closed.
fn reply_or_close(reply: oneshot::Sender<Closing>, closing: Closing) {
    if let Err(closing) = reply.send(closing) {
        closing.spawn();
    }
}

/// A publisher track's read loop: its RTP and sender reports into the
/// track's forwarding channel, each with its simulcast layer (the hot path:
/// no state, no lock).
struct PublisherReader {
    packets: broadcast::Sender<Relayed>,
    meter: Arc<LayerMeter>,
    /// Set while the server's operator mutes the track: RTP is dropped.
    muted: Arc<AtomicBool>,
    video: bool,
    commands: mpsc::WeakUnboundedSender<Command>,
    track: TrackRef,
}

impl PublisherReader {
    /// Reads until the track ends. `waiting`: players wait for a keyframe
    /// already, ask for one as each layer opens.
    async fn run(self, remote: Arc<dyn TrackRemote>, waiting: bool) {
        // Each layer's SSRC, learnt from its `OnOpen` (the first layer's
        // too: it is queued before the track is handed over).
        let mut layers: HashMap<u32, VideoLayer> = HashMap::new();
        while let Some(event) = remote.poll().await {
            match event {
                TrackRemoteEvent::OnOpen(init) => {
                    let rid = init.rid.as_deref().filter(|r| !r.is_empty());
                    let Some(layer) = rid.map_or(Some(VideoLayer::High), VideoLayer::from_rid)
                    else {
                        tracing::warn!(rid, "simulcast layer with an unknown rid; ignored");
                        continue;
                    };
                    tracing::info!(rid, ssrc = init.ssrc, ?layer, "publisher layer opened");
                    layers.insert(init.ssrc, layer);
                    if rid.is_some() {
                        self.meter.mark_simulcast();
                    }
                    self.tell(Command::LayerOpened {
                        track: self.track.clone(),
                        layer,
                        ssrc: init.ssrc,
                        rid: rid.is_some(),
                    });
                    if waiting {
                        self.tell(Command::KeyframeRequest {
                            track: self.track.clone(),
                            layer,
                        });
                    }
                }
                TrackRemoteEvent::OnRtpPacket(packet) => {
                    let layer = match layers.get(&packet.header.ssrc) {
                        Some(layer) => *layer,
                        None if layers.is_empty() => VideoLayer::High,
                        None => continue,
                    };
                    self.meter.record_packet(
                        layer,
                        &packet.payload,
                        packet.header.timestamp,
                        Instant::now(),
                    );
                    if self.muted.load(Ordering::Relaxed) {
                        continue;
                    }
                    let keyframe = self.video && starts_keyframe(&packet.payload);
                    if keyframe {
                        self.tell(Command::KeyframeArrived {
                            track: self.track.clone(),
                            layer,
                        });
                    }
                    // No receivers yet is fine: nobody plays.
                    let _ = self.packets.send(Relayed::Rtp {
                        layer,
                        keyframe,
                        packet,
                    });
                }
                TrackRemoteEvent::OnRtcpPacket(rtcp) => {
                    for p in rtcp {
                        let Some(sr) = p.as_any().downcast_ref::<SenderReport>() else {
                            continue;
                        };
                        if let Some(layer) = layers.get(&sr.ssrc) {
                            tracing::debug!(
                                ssrc = sr.ssrc,
                                rtp = sr.rtp_time,
                                "publisher sender report"
                            );
                            let _ = self.packets.send(Relayed::SenderReport {
                                layer: *layer,
                                sr: sr.clone(),
                            });
                        }
                    }
                }
                TrackRemoteEvent::OnEnded | TrackRemoteEvent::OnError => break,
                _ => {}
            }
        }
    }

    fn tell(&self, command: Command) {
        if let Some(commands) = self.commands.upgrade() {
            let _ = commands.send(command);
        }
    }
}

/// A player leg's writer for one track (the hot path).
struct LegWriter {
    output: Output,
    meter: StreamMeter,
    commands: mpsc::WeakUnboundedSender<Command>,
    track: TrackRef,
    leg: Leg,
}

impl LegWriter {
    /// An audio track: every packet, its payload type (and RED) as the leg
    /// negotiated, RED trimmed while the leg is congested ([`red_trim`]
    /// by its `estimate`), and the publisher's sender reports.
    async fn audio(
        self,
        mut packets: broadcast::Receiver<Relayed>,
        estimate: Option<watch::Receiver<Option<Estimate>>>,
    ) {
        let mut trimming = RedTrim::default();
        loop {
            match packets.recv().await {
                Ok(Relayed::Rtp { mut packet, .. }) => {
                    let Some(pt) =
                        leg_payload_type(&mut packet, self.output.payload_type, self.output.red)
                    else {
                        continue;
                    };
                    if self.output.red == RedOnLeg::Keep(pt) {
                        let estimate = estimate.as_ref().and_then(|e| *e.borrow());
                        if let Some(budget) = trimming.budget(estimate, Instant::now()) {
                            if let Some(trimmed) = red_trim::trim(&packet.payload, budget) {
                                packet.payload = trimmed;
                            }
                        }
                    }
                    rewrite_for_leg(&mut packet, self.output.ssrc, pt);
                    self.write(packet).await;
                }
                // RTP timestamps pass unchanged, so the publisher's
                // mapping holds on this leg under its SSRC.
                Ok(Relayed::SenderReport { sr, .. }) => self.relay_report(sr, 0).await,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(lost = n, "player leg fell behind; packets dropped");
                }
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    }

    /// A video track: one simulcast layer at a time, switched and
    /// rewritten by `video` (see `video_writer`).
    async fn video(self, mut packets: broadcast::Receiver<Relayed>, mut video: VideoLeg) {
        loop {
            let written = tokio::select! {
                relayed = packets.recv() => match relayed {
                    Ok(relayed) => video.on_relayed(relayed, &self.output, Instant::now()),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(lost = n, "player leg fell behind; packets dropped");
                        continue;
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                other = video.next_event() => match other {
                    Some(written) => written,
                    None => break,
                },
            };
            self.carry_out(written, &video).await;
        }
    }

    /// Writes and tells what a video step produced.
    async fn carry_out(&self, written: Written, video: &VideoLeg) {
        let Written {
            packets,
            report,
            keyframe,
            wanted,
        } = written;
        if let Some(current) = video.current() {
            self.output.layer.store(current.index(), Ordering::Relaxed);
        }
        if let Some(layer) = keyframe {
            self.tell(Command::KeyframeRequest {
                track: self.track.clone(),
                layer,
            });
        }
        if let Some(wanted) = wanted {
            self.tell(Command::Wanted {
                leg: self.leg.clone(),
                index: self.output.index,
                wanted,
            });
        }
        for packet in packets {
            self.write(packet).await;
        }
        if let Some((sr, ts_delta)) = report {
            self.relay_report(sr, ts_delta).await;
        }
    }

    async fn write(&self, packet: rtp::Packet) {
        let bytes = packet.payload.len();
        match self.output.local.write_rtp(packet).await {
            Ok(_) => self.meter.forwarded(bytes),
            Err(error) => tracing::trace!(%error, "forwarded packet not written"),
        }
    }

    /// Relays a publisher's sender report under the leg's SSRC, its RTP
    /// time moved onto the leg's clock.
    async fn relay_report(&self, sr: SenderReport, ts_delta: u32) {
        let sr = SenderReport {
            ssrc: self.output.ssrc,
            rtp_time: sr.rtp_time.wrapping_add(ts_delta),
            reports: Vec::new(),
            ..sr
        };
        if let Err(error) = self.output.local.write_rtcp(vec![Box::new(sr)]).await {
            tracing::trace!(%error, "sender report not relayed");
        }
    }

    fn tell(&self, command: Command) {
        if let Some(commands) = self.commands.upgrade() {
            let _ = commands.send(command);
        }
    }
}

/// A player leg's RTCP for one track: its keyframe requests go to the
/// owner, for the layer the leg forwards now; its receiver reports' loss
/// too (for an audio track, [`audio_loss`]).
async fn read_leg_rtcp(
    local: Arc<TrackLocalStaticRTP>,
    commands: mpsc::WeakUnboundedSender<Command>,
    track: TrackRef,
    layer: Arc<AtomicUsize>,
    meter: StreamMeter,
) {
    while let Some(event) = local.poll().await {
        if let TrackLocalEvent::OnRtcpPacket(packets) = event {
            if packets.iter().any(|p| is_keyframe_request(p.as_ref())) {
                meter.keyframe_request();
                let Some(commands) = commands.upgrade() else {
                    return;
                };
                let layer = VideoLayer::ALL[layer.load(Ordering::Relaxed).min(2)];
                let _ = commands.send(Command::KeyframeRequest {
                    track: track.clone(),
                    layer,
                });
            }
            if let Some(fraction_lost) = audio_loss::worst_fraction_lost(&packets) {
                meter.loss(fraction_lost);
                let Some(commands) = commands.upgrade() else {
                    return;
                };
                let _ = commands.send(Command::DownlinkLoss {
                    track: track.clone(),
                    fraction_lost,
                });
            }
        }
    }
}
