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

use super::engine::LegConnection;
use super::forwarder::{
    leg_payload_type, rewrite_for_leg, KeyframeDecision, KeyframeLimiter, RedOnLeg,
};
use super::leg_start::{Admit, LegStart};
use super::rtcp_delivery::is_keyframe_request;
use super::{codec_of, LegRef, SfuError, SfuObserver, StreamKey};
use protocol::MediaRole;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::sender_report::SenderReport;
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodec, RtpCodecKind};
use std::collections::{HashMap, HashSet};
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
    /// A player asked for a keyframe of a publisher track (from a player
    /// leg's RTCP task).
    KeyframeRequest { track: TrackRef },
    /// A delayed keyframe request is due (from the owner's timer task).
    KeyframeDue { track: TrackRef },
}

/// One track of one publisher connection.
#[derive(Debug, Clone)]
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
    /// What the observer is told once the view is published.
    notices: Vec<Notice>,
}

enum Notice {
    Live(StreamKey),
    Ended(StreamKey),
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
    keyframes: KeyframeLimiter,
}

/// A declared track's media, once it arrives.
struct Arrived {
    ssrc: u32,
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
}

/// What a publisher track sends on to its players, in order.
#[derive(Debug, Clone)]
enum Relayed {
    Rtp(rtp::Packet),
    /// The publisher's sender report for this track (its clock for A/V sync
    /// and capture-to-display delay at the players).
    SenderReport(SenderReport),
}

impl State {
    /// An empty state reporting to `observer`, its view published on `view`.
    pub(super) fn new(
        observer: Arc<dyn SfuObserver>,
        commands: mpsc::WeakUnboundedSender<Command>,
        view: watch::Sender<View>,
    ) -> Self {
        State {
            observer,
            commands,
            view,
            publishers: HashMap::new(),
            players: HashMap::new(),
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
                | Command::KeyframeRequest { .. }
                | Command::KeyframeDue { .. }
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
            Command::Play { leg, conn, reply } => self.play(leg, conn, reply),
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
                    MediaRole::Play => self.remove_player(&leg, id),
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
            } => self.track_arrived(&leg, kind, ssrc, remote, now),
            Command::KeyframeRequest { track } => self.request_keyframe(&track, false, now),
            Command::KeyframeDue { track } => {
                if let Some(source) = self.track(&track) {
                    source.keyframes.fire_pending(now);
                    source.send_pli();
                }
            }
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
        };
        self.publishers.insert(stream.clone(), publisher);
        if let Err(replaced) = reply.send(replaced) {
            // Its asker is gone: so is the leg.
            replaced.spawn();
            self.remove_publisher(&stream, Some(leg.id)).spawn();
        }
    }

    /// A player leg joins the stream's publisher if it is live now (else
    /// its connection is closed), replacing the session's previous one.
    fn play(
        &mut self,
        leg: Leg,
        conn: LegConnection,
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
        let player = Player {
            id: leg.id,
            publisher,
            conn,
            forwarded: Vec::new(),
            connected: false,
            unwritten: Vec::new(),
            tasks: Vec::new(),
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
        match current.then(|| self.players.remove(&key)).flatten() {
            Some(player) => player.finish(),
            None => Closing::default(),
        }
    }

    fn close_session(&mut self, session_id: &str) -> Closing {
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
        for key in keys {
            if let Some(player) = self.players.remove(&key) {
                closing.0.extend(player.finish().0);
            }
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
                    player.start_writers(stream, publisher, &self.commands);
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
            )));
            player.forwarded.push(output.index);
            player.unwritten.push(output);
        }
        if player.connected {
            player.start_writers(stream, publisher, &self.commands);
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
        now: Instant,
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
            ssrc,
            remote: Arc::clone(&remote),
        });
        let packets = source.packets.clone();
        // A player that connected before this track's media asked for a
        // keyframe that could not be sent yet: ask now.
        let waiting = source.packets.receiver_count() > 0;
        publisher
            .tasks
            .push(tokio::spawn(read_publisher_track(remote, ssrc, packets)));
        if waiting {
            let track = TrackRef::new(stream, leg.id, index);
            self.request_keyframe(&track, true, now);
        }
    }

    fn request_keyframes(
        &mut self,
        stream: &StreamKey,
        publisher: u64,
        tracks: &[usize],
        now: Instant,
    ) {
        for &index in tracks {
            let track = TrackRef::new(stream, publisher, index);
            self.request_keyframe(&track, true, now);
        }
    }

    /// Asks the publisher for a keyframe (a PLI), at most one per window:
    /// a request inside the window is sent when it ends (see
    /// [`KeyframeLimiter::decide`]); `force` goes out at once.
    fn request_keyframe(&mut self, track: &TrackRef, force: bool, now: Instant) {
        let commands = self.commands.clone();
        let Some(source) = self.track(track).filter(|s| s.kind == RtpCodecKind::Video) else {
            return;
        };
        match source.keyframes.decide(now, force) {
            KeyframeDecision::Now => source.send_pli(),
            KeyframeDecision::Folded => {}
            KeyframeDecision::At(at) => {
                let track = track.clone();
                tokio::spawn(async move {
                    tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
                    if let Some(commands) = commands.upgrade() {
                        let _ = commands.send(Command::KeyframeDue { track });
                    }
                });
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
        stream: &StreamKey,
        publisher: &Publisher,
        commands: &mpsc::WeakUnboundedSender<Command>,
    ) {
        for output in self.unwritten.drain(..) {
            let Some(source) = publisher.tracks.get(output.index) else {
                continue;
            };
            let track = TrackRef::new(stream, publisher.id, output.index);
            self.tasks.push(tokio::spawn(write_leg(
                LegStart::new(source.kind, Instant::now()),
                source.packets.subscribe(),
                output,
                commands.clone(),
                track,
            )));
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
            keyframes: KeyframeLimiter::default(),
        }
    }

    /// Sends a PLI for the track (from a task); nothing before its media
    /// arrived (the publisher's first picture is a keyframe, and arrival
    /// asks again).
    fn send_pli(&self) {
        let Some(arrived) = &self.arrived else {
            return;
        };
        let pli = PictureLossIndication {
            sender_ssrc: 0,
            media_ssrc: arrived.ssrc,
        };
        let remote = Arc::clone(&arrived.remote);
        tokio::spawn(async move {
            if let Err(error) = remote.write_rtcp(vec![Box::new(pli)]).await {
                tracing::debug!(%error, "keyframe request not sent");
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
/// track's forwarding channel (the hot path: no state, no lock).
async fn read_publisher_track(
    track: Arc<dyn TrackRemote>,
    ssrc: u32,
    packets: broadcast::Sender<Relayed>,
) {
    while let Some(event) = track.poll().await {
        match event {
            TrackRemoteEvent::OnRtpPacket(packet) => {
                // No receivers yet is fine: nobody plays.
                let _ = packets.send(Relayed::Rtp(packet));
            }
            TrackRemoteEvent::OnRtcpPacket(rtcp) => {
                for p in rtcp {
                    if let Some(sr) = p.as_any().downcast_ref::<SenderReport>() {
                        if sr.ssrc == ssrc {
                            tracing::debug!(ssrc, rtp = sr.rtp_time, "publisher sender report");
                            let _ = packets.send(Relayed::SenderReport(sr.clone()));
                        }
                    }
                }
            }
            TrackRemoteEvent::OnEnded | TrackRemoteEvent::OnError => break,
            _ => {}
        }
    }
}

/// A player leg's writer for one track: rewrites each packet for the leg
/// and writes it (the hot path).
async fn write_leg(
    mut start: LegStart,
    mut packets: broadcast::Receiver<Relayed>,
    output: Output,
    commands: mpsc::WeakUnboundedSender<Command>,
    track: TrackRef,
) {
    let Output {
        local: writer,
        ssrc,
        payload_type,
        red,
        ..
    } = output;
    loop {
        match packets.recv().await {
            Ok(Relayed::Rtp(mut packet)) => {
                match start.admit(&packet.payload, Instant::now()) {
                    Admit::Forward => {}
                    Admit::Drop => continue,
                    Admit::DropAndAsk => {
                        if let Some(commands) = commands.upgrade() {
                            let track = track.clone();
                            let _ = commands.send(Command::KeyframeRequest { track });
                        }
                        continue;
                    }
                }
                let Some(payload_type) = leg_payload_type(&mut packet, payload_type, red) else {
                    continue;
                };
                rewrite_for_leg(&mut packet, ssrc, payload_type);
                if let Err(error) = writer.write_rtp(packet).await {
                    tracing::trace!(%error, "forwarded packet not written");
                }
            }
            Ok(Relayed::SenderReport(sr)) => {
                // RTP timestamps pass unchanged, so the publisher's
                // mapping holds on this leg under its SSRC.
                let sr = SenderReport {
                    ssrc,
                    reports: Vec::new(),
                    ..sr
                };
                if let Err(error) = writer.write_rtcp(vec![Box::new(sr)]).await {
                    tracing::trace!(%error, "sender report not relayed");
                }
            }
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(lost = n, "player leg fell behind; packets dropped");
            }
            Err(broadcast::error::RecvError::Closed) => break,
        }
    }
}

/// A player leg's RTCP for one track: its keyframe requests go to the owner.
async fn read_leg_rtcp(
    local: Arc<TrackLocalStaticRTP>,
    commands: mpsc::WeakUnboundedSender<Command>,
    track: TrackRef,
) {
    while let Some(event) = local.poll().await {
        if let TrackLocalEvent::OnRtcpPacket(packets) = event {
            if packets.iter().any(|p| is_keyframe_request(p.as_ref())) {
                let Some(commands) = commands.upgrade() else {
                    return;
                };
                let _ = commands.send(Command::KeyframeRequest {
                    track: track.clone(),
                });
            }
        }
    }
}
