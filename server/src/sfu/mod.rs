//! The SFU: terminates each publisher's peer connection and forwards its RTP
//! to every player of the stream without decoding.
//!
//! Everything webrtc-rs is behind this module boundary (so str0m could
//! replace it): the rest of the server sees [`Sfu`], [`StreamKey`],
//! [`LegRef`], the [`SfuObserver`] it reports to, and [`SfuError`].
//!
//! - Each publisher leg is a recvonly peer connection. Every track its offer
//!   sends is declared at once (kind and codec from the media profile), so a
//!   player gets every track even if one is still silent (a camera off from
//!   the start); when a track's first packet arrives (webrtc-rs reports a
//!   remote track then) one task reads it into the declared track's
//!   broadcast channel. The stream is live once the publisher's connection
//!   is up.
//! - Each player leg is a peer connection with one `TrackLocalStaticRTP` per
//!   publisher track (a local track binds to one connection only). A task per
//!   track rewrites SSRC and payload type for that leg, strips header
//!   extensions and writes the packet; the leg's NACK responder answers the
//!   player's NACKs from what was written.
//! - Players' PLI/FIR (delivered by [`keyframe_delivery`]) are forwarded to
//!   the publisher as a PLI, at most one per 500 ms per publisher track (later
//!   ones wait for the window to end, folded into one); a
//!   player whose connection comes up asks for one at once.
//! - The publisher's receiver reports and TWCC feedback come from its leg's
//!   interceptors.
//! - Sockets: by default every leg shares one UDP port and one ICE-TCP
//!   port ([`mux`]); candidates are announced with those ports (and on
//!   every announced IP) as they are signaled (`engine::Announce`).
//! - Connection state Failed/Closed ends a leg: its peer connection is
//!   closed and its tasks aborted (a remote track's `poll()` does not end on
//!   failure by itself). A publisher leg ending closes its players and tells
//!   the observer the stream ended.

mod engine;
mod forwarder;
mod mux;
mod rtcp_delivery;

pub use mux::{MuxCounters, MuxError};

use crate::config::MediaConfig;
use engine::{usable_remote_candidate, Announce, LegConnection, Transport};
use forwarder::{
    negotiated_payload_type, rewrite_for_leg, sending_sections, KeyframeDecision, KeyframeLimiter,
};
use protocol::{ErrorCode, IceCandidate, MediaRole};
use rtc::media_stream::MediaStreamTrack;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::sender_report::SenderReport;
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use rtcp_delivery::is_keyframe_request;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Instant;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionEventHandler, RTCIceGatheringState, RTCPeerConnectionIceEvent,
    RTCPeerConnectionState, RTCSessionDescription,
};

/// Packets a player leg may fall behind its publisher before it loses some.
const PACKET_QUEUE: usize = 1024;

/// A stream: stream IDs are unique per app.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamKey {
    /// The app.
    pub app_id: u32,
    /// The stream ID.
    pub stream_id: String,
}

/// One peer connection of the SFU: a session publishing or playing a stream.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LegRef {
    /// The stream.
    pub stream: StreamKey,
    /// Publish or play.
    pub role: MediaRole,
    /// The session on the other end.
    pub session_id: String,
}

/// What the SFU reports. Called from its tasks: implementations must not block.
pub trait SfuObserver: Send + Sync + 'static {
    /// A local ICE candidate for a leg; an empty `candidate` ends them.
    fn local_candidate(&self, leg: &LegRef, candidate: IceCandidate);
    /// A publisher's connection is up: players may offer now.
    fn stream_live(&self, stream: &StreamKey);
    /// A live publisher's connection went away (stopped, replaced, failed);
    /// its players' connections are closed.
    fn stream_ended(&self, stream: &StreamKey);
}

/// Why the SFU refused an offer.
#[derive(Debug, thiserror::Error)]
pub enum SfuError {
    /// The SDP could not be parsed or negotiated.
    #[error("negotiation failed: {0}")]
    Negotiation(String),
    /// Play offer for a stream without a live publisher.
    #[error("the stream is not live")]
    NotLive,
    /// No media socket could be bound.
    #[error("no media socket: {0}")]
    Transport(String),
    /// The peer connection could not be configured.
    #[error("media setup failed: {0}")]
    Setup(String),
    /// The shared media ports could not be bound.
    #[error(transparent)]
    Ports(#[from] MuxError),
}

impl SfuError {
    /// The code reported to the client for a failed offer of `role`.
    pub fn code(&self, role: MediaRole) -> ErrorCode {
        match (self, role) {
            (SfuError::NotLive, _) => ErrorCode::StreamNotLive,
            (SfuError::Negotiation(_), MediaRole::Publish) => ErrorCode::PublishNegotiationFailed,
            (SfuError::Negotiation(_), MediaRole::Play) => ErrorCode::PlayNegotiationFailed,
            (_, MediaRole::Publish) => ErrorCode::PublishTransportFailed,
            (_, MediaRole::Play) => ErrorCode::PlayTransportFailed,
        }
    }
}

/// The SFU. Cheap to clone.
#[derive(Clone)]
pub struct Sfu {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Sfu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (publishers, players) = self.counts();
        f.debug_struct("Sfu")
            .field("publishers", &publishers)
            .field("players", &players)
            .finish_non_exhaustive()
    }
}

struct Inner {
    config: MediaConfig,
    /// Started by [`Sfu::start`] (or the first leg).
    transport: Mutex<Option<Arc<Transport>>>,
    observer: Arc<dyn SfuObserver>,
    state: Mutex<State>,
    next_id: AtomicU64,
}

#[derive(Default)]
struct State {
    publishers: HashMap<StreamKey, Arc<Publisher>>,
    players: HashMap<(StreamKey, String), Arc<Player>>,
}

struct Publisher {
    id: u64,
    key: StreamKey,
    session_id: String,
    conn: LegConnection,
    /// The tracks the offer sends, in its order.
    tracks: Mutex<Vec<Arc<SourceTrack>>>,
    live: AtomicBool,
    closed: AtomicBool,
    tasks: Tasks,
}

/// What a publisher track sends on to its players, in order.
#[derive(Debug, Clone)]
enum Relayed {
    Rtp(rtp::Packet),
    /// The publisher's sender report for this track (its clock for A/V sync
    /// and capture-to-display delay at the players).
    SenderReport(SenderReport),
}

/// One track a publisher's offer sends.
struct SourceTrack {
    kind: RtpCodecKind,
    /// The profile's codec for `kind` (the only one the SFU negotiates).
    codec: RTCRtpCodec,
    /// The remote track, once its first packet arrived.
    arrived: OnceLock<Arrived>,
    packets: broadcast::Sender<Relayed>,
    keyframes: Mutex<KeyframeLimiter>,
}

/// A declared track's media, once it arrives.
struct Arrived {
    ssrc: u32,
    remote: Arc<dyn TrackRemote>,
}

struct Player {
    id: u64,
    conn: LegConnection,
    sources: Mutex<Vec<Arc<SourceTrack>>>,
    tasks: Tasks,
}

/// Tasks of a leg, aborted when it closes.
#[derive(Default)]
struct Tasks(Mutex<Vec<JoinHandle<()>>>);

impl Tasks {
    fn push(&self, task: JoinHandle<()>) {
        lock(&self.0).push(task);
    }

    fn abort_all(&self) {
        for task in lock(&self.0).drain(..) {
            task.abort();
        }
    }
}

impl Sfu {
    /// An SFU binding media per `config`, reporting to `observer`.
    pub fn new(config: MediaConfig, observer: Arc<dyn SfuObserver>) -> Self {
        Sfu {
            inner: Arc::new(Inner {
                config,
                transport: Mutex::new(None),
                observer,
                state: Mutex::new(State::default()),
                next_id: AtomicU64::new(1),
            }),
        }
    }

    /// Binds the media ports (the mux's shared UDP and TCP ports, chosen
    /// now when configured as 0). Idempotent; without it the first leg
    /// does it. Must run inside a tokio runtime.
    pub fn start(&self) -> Result<(), SfuError> {
        self.inner.transport().map(|_| ())
    }

    /// The shared media UDP port, once started with the mux.
    pub fn media_udp_port(&self) -> Option<u16> {
        self.inner.started().and_then(|t| t.udp_port())
    }

    /// The shared ICE-TCP port, once started with the mux and ICE-TCP.
    pub fn media_tcp_port(&self) -> Option<u16> {
        self.inner.started().and_then(|t| t.tcp_port())
    }

    /// What the mux routed and dropped so far (with the mux, once started).
    pub fn mux_counters(&self) -> Option<MuxCounters> {
        self.inner.started().and_then(|t| t.counters())
    }

    /// Answers a publisher's offer, replacing its previous connection.
    pub async fn publish(
        &self,
        stream: &StreamKey,
        session_id: &str,
        offer: String,
    ) -> Result<String, SfuError> {
        let kinds = sending_sections(&offer);
        if kinds.is_empty() {
            return Err(SfuError::Negotiation(
                "the offer sends no audio or video".into(),
            ));
        }
        self.inner.close_publisher(stream, None).await;
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let leg = LegRef {
            stream: stream.clone(),
            role: MediaRole::Publish,
            session_id: session_id.to_owned(),
        };
        let conn = self.inner.build(leg, id).await?;
        let pc = Arc::clone(conn.pc());
        let publisher = Arc::new(Publisher {
            id,
            key: stream.clone(),
            session_id: session_id.to_owned(),
            conn,
            tracks: Mutex::new(
                kinds
                    .iter()
                    .map(|kind| SourceTrack::declared(*kind))
                    .collect(),
            ),
            live: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            tasks: Tasks::default(),
        });
        let replaced = self
            .inner
            .state()
            .publishers
            .insert(stream.clone(), publisher);
        if let Some(old) = replaced {
            self.inner.finish_publisher(old).await;
        }
        match negotiate_publisher(pc.as_ref(), &kinds, offer).await {
            Ok(answer) => {
                let answer = self.inner.announced(answer);
                tracing::info!(app_id = stream.app_id, stream_id = %stream.stream_id, session_id, tracks = kinds.len(), "publisher connection negotiated");
                Ok(answer)
            }
            Err(error) => {
                self.inner.close_publisher(stream, Some(id)).await;
                Err(error)
            }
        }
    }

    /// Answers a player's offer for a live stream, replacing the session's
    /// previous player connection for it.
    pub async fn play(
        &self,
        stream: &StreamKey,
        session_id: &str,
        offer: String,
    ) -> Result<String, SfuError> {
        let sources = self.inner.live_sources(stream).ok_or(SfuError::NotLive)?;
        self.inner.close_player(stream, session_id, None).await;
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let leg = LegRef {
            stream: stream.clone(),
            role: MediaRole::Play,
            session_id: session_id.to_owned(),
        };
        let conn = self.inner.build(leg, id).await?;
        let player = Arc::new(Player {
            id,
            conn,
            sources: Mutex::new(Vec::new()),
            tasks: Tasks::default(),
        });
        let replaced = self
            .inner
            .state()
            .players
            .insert((stream.clone(), session_id.to_owned()), Arc::clone(&player));
        if let Some(old) = replaced {
            finish_player(old).await;
        }
        match negotiate_player(&player, stream, &sources, offer).await {
            Ok(answer) => {
                let answer = self.inner.announced(answer);
                tracing::info!(app_id = stream.app_id, stream_id = %stream.stream_id, session_id, "player connection negotiated");
                Ok(answer)
            }
            Err(error) => {
                self.inner.close_player(stream, session_id, Some(id)).await;
                Err(error)
            }
        }
    }

    /// Adds a remote ICE candidate to a leg. An empty candidate (end of
    /// candidates), TCP candidates the SFU would have to dial, and
    /// candidates for unknown legs are ignored.
    pub async fn add_candidate(&self, leg: &LegRef, candidate: IceCandidate) {
        if candidate.candidate.is_empty() || !usable_remote_candidate(&candidate.candidate) {
            return;
        }
        let pc = {
            let st = self.inner.state();
            match leg.role {
                MediaRole::Publish => st
                    .publishers
                    .get(&leg.stream)
                    .filter(|p| p.session_id == leg.session_id)
                    .map(|p| Arc::clone(p.conn.pc())),
                MediaRole::Play => st
                    .players
                    .get(&(leg.stream.clone(), leg.session_id.clone()))
                    .map(|p| Arc::clone(p.conn.pc())),
            }
        };
        let Some(pc) = pc else {
            tracing::debug!(?leg, "candidate for an unknown leg");
            return;
        };
        if let Err(error) = rtc_profile::add_remote_candidate(pc.as_ref(), candidate).await {
            tracing::debug!(?leg, %error, "remote candidate refused");
        }
    }

    /// Whether the stream's publisher is connected (players may offer).
    pub fn is_live(&self, stream: &StreamKey) -> bool {
        self.inner.live_sources(stream).is_some()
    }

    /// Closes the stream's publisher connection if `session_id` owns it
    /// (and with it the players' connections).
    pub async fn stop_publishing(&self, stream: &StreamKey, session_id: &str) {
        let id = self
            .inner
            .state()
            .publishers
            .get(stream)
            .filter(|p| p.session_id == session_id)
            .map(|p| p.id);
        if let Some(id) = id {
            self.inner.close_publisher(stream, Some(id)).await;
        }
    }

    /// Closes the session's player connection for the stream. `true` if it had one.
    pub async fn stop_playing(&self, stream: &StreamKey, session_id: &str) -> bool {
        self.inner.close_player(stream, session_id, None).await
    }

    /// Closes every connection of a session that left.
    pub async fn close_session(&self, session_id: &str) {
        let (publishers, players) = {
            let mut st = self.inner.state();
            let pubs: Vec<StreamKey> = st
                .publishers
                .values()
                .filter(|p| p.session_id == session_id)
                .map(|p| p.key.clone())
                .collect();
            let mut players = Vec::new();
            st.players.retain(|(_, s), p| {
                let mine = s == session_id;
                if mine {
                    players.push(Arc::clone(p));
                }
                !mine
            });
            (pubs, players)
        };
        for player in players {
            finish_player(player).await;
        }
        for key in publishers {
            self.stop_publishing(&key, session_id).await;
        }
    }

    /// Whether the session has a player connection for the stream.
    pub fn is_playing(&self, stream: &StreamKey, session_id: &str) -> bool {
        self.inner
            .state()
            .players
            .contains_key(&(stream.clone(), session_id.to_owned()))
    }

    /// Closes every connection (server shutdown).
    pub async fn close_all(&self) {
        let publishers: Vec<StreamKey> = self.inner.state().publishers.keys().cloned().collect();
        for key in publishers {
            self.inner.close_publisher(&key, None).await;
        }
        let players: Vec<Arc<Player>> =
            self.inner.state().players.drain().map(|(_, p)| p).collect();
        for player in players {
            finish_player(player).await;
        }
    }

    /// Publisher and player connections open now.
    pub fn counts(&self) -> (usize, usize) {
        let st = self.inner.state();
        (st.publishers.len(), st.players.len())
    }
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// The transport, started on first use.
    fn transport(&self) -> Result<Arc<Transport>, SfuError> {
        let mut transport = lock(&self.transport);
        if let Some(started) = transport.as_ref() {
            return Ok(Arc::clone(started));
        }
        let started = Arc::new(Transport::start(&self.config)?);
        *transport = Some(Arc::clone(&started));
        Ok(started)
    }

    fn started(&self) -> Option<Arc<Transport>> {
        lock(&self.transport).clone()
    }

    async fn build(self: &Arc<Self>, leg: LegRef, id: u64) -> Result<LegConnection, SfuError> {
        let handler = Arc::new(LegHandler {
            sfu: Arc::downgrade(self),
            leg,
            id,
        });
        self.transport()?.build(handler).await
    }

    /// How candidates are announced now.
    fn announce(&self) -> Announce {
        self.started()
            .map(|t| t.announce().clone())
            .unwrap_or_else(|| Announce {
                ips: self.config.announced_ips.clone(),
                ..Announce::default()
            })
    }

    /// An answer as announced (candidates on every announced address, with
    /// the shared ports).
    fn announced(&self, sdp: String) -> String {
        self.announce().sdp(&sdp)
    }

    fn publisher(&self, stream: &StreamKey, id: u64) -> Option<Arc<Publisher>> {
        self.state()
            .publishers
            .get(stream)
            .filter(|p| p.id == id)
            .cloned()
    }

    fn live_sources(&self, stream: &StreamKey) -> Option<Vec<Arc<SourceTrack>>> {
        let publisher = self.state().publishers.get(stream).cloned()?;
        if !publisher.live.load(Ordering::Acquire) {
            return None;
        }
        let sources = lock(&publisher.tracks).clone();
        (!sources.is_empty()).then_some(sources)
    }

    /// A publisher's track arrived (its first packet): bind it to the first
    /// declared track of its kind still waiting and start reading it.
    async fn publisher_track(&self, stream: &StreamKey, id: u64, track: Arc<dyn TrackRemote>) {
        let Some(publisher) = self.publisher(stream, id) else {
            return;
        };
        let Some(ssrc) = track.ssrcs().await.first().copied() else {
            return;
        };
        let kind = track.kind().await;
        if let Some(codec) = track.codec(ssrc).await {
            if !codec
                .mime_type
                .eq_ignore_ascii_case(&codec_of(kind).mime_type)
            {
                tracing::warn!(stream_id = %stream.stream_id, mime = %codec.mime_type, "publisher track with an unexpected codec");
            }
        }
        let arrived = Arrived {
            ssrc,
            remote: Arc::clone(&track),
        };
        let source = lock(&publisher.tracks)
            .iter()
            .find(|t| t.kind == kind && t.arrived.get().is_none())
            .cloned();
        let Some(source) = source.filter(|s| s.arrived.set(arrived).is_ok()) else {
            tracing::warn!(stream_id = %stream.stream_id, ?kind, ssrc, "publisher track the offer did not declare; ignored");
            return;
        };
        tracing::info!(stream_id = %stream.stream_id, ?kind, ssrc, "publisher track arrived");
        let packets = source.packets.clone();
        publisher.tasks.push(tokio::spawn(async move {
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
                                    tracing::debug!(
                                        ssrc,
                                        rtp = sr.rtp_time,
                                        "publisher sender report"
                                    );
                                    let _ = packets.send(Relayed::SenderReport(sr.clone()));
                                }
                            }
                        }
                    }
                    TrackRemoteEvent::OnEnded | TrackRemoteEvent::OnError => break,
                    _ => {}
                }
            }
        }));
        // A player that connected before this track's media asked for a
        // keyframe that could not be sent yet: ask now.
        if source.packets.receiver_count() > 0 {
            source.request_keyframe(true).await;
        }
    }

    /// A publisher's connection is up: its stream is live.
    fn publisher_connected(&self, stream: &StreamKey, id: u64) {
        if let Some(publisher) = self.publisher(stream, id) {
            self.mark_live(&publisher);
        }
    }

    fn mark_live(&self, publisher: &Publisher) {
        if publisher.closed.load(Ordering::Acquire) || publisher.live.swap(true, Ordering::AcqRel) {
            return;
        }
        tracing::info!(app_id = publisher.key.app_id, stream_id = %publisher.key.stream_id, "stream live");
        self.observer.stream_live(&publisher.key);
    }

    /// A player's connection is up: ask the publisher for a keyframe so it
    /// starts at once.
    async fn player_connected(&self, leg: &LegRef, id: u64) {
        let player = self
            .state()
            .players
            .get(&(leg.stream.clone(), leg.session_id.clone()))
            .filter(|p| p.id == id)
            .cloned();
        let Some(player) = player else { return };
        let sources = lock(&player.sources).clone();
        for source in sources {
            source.request_keyframe(true).await;
        }
    }

    /// Connection state Failed/Closed: end that leg if it is still current.
    async fn leg_gone(&self, leg: &LegRef, id: u64) {
        match leg.role {
            MediaRole::Publish => self.close_publisher(&leg.stream, Some(id)).await,
            MediaRole::Play => {
                self.close_player(&leg.stream, &leg.session_id, Some(id))
                    .await;
            }
        }
    }

    async fn close_publisher(&self, stream: &StreamKey, only: Option<u64>) {
        let removed = {
            let mut st = self.state();
            let matches = st
                .publishers
                .get(stream)
                .is_some_and(|p| only.is_none_or(|id| p.id == id));
            if matches {
                st.publishers.remove(stream)
            } else {
                None
            }
        };
        if let Some(publisher) = removed {
            self.finish_publisher(publisher).await;
        }
    }

    async fn finish_publisher(&self, publisher: Arc<Publisher>) {
        if publisher.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        publisher.tasks.abort_all();
        let was_live = publisher.live.swap(false, Ordering::AcqRel);
        let players: Vec<Arc<Player>> = {
            let mut st = self.state();
            let mut gone = Vec::new();
            st.players.retain(|(key, _), p| {
                let of_stream = *key == publisher.key;
                if of_stream {
                    gone.push(Arc::clone(p));
                }
                !of_stream
            });
            gone
        };
        if was_live {
            tracing::info!(app_id = publisher.key.app_id, stream_id = %publisher.key.stream_id, "stream ended");
            self.observer.stream_ended(&publisher.key);
        }
        for player in players {
            finish_player(player).await;
        }
        lock(&publisher.tracks).clear();
        publisher.conn.close().await;
    }

    async fn close_player(&self, stream: &StreamKey, session_id: &str, only: Option<u64>) -> bool {
        let key = (stream.clone(), session_id.to_owned());
        let removed = {
            let mut st = self.state();
            let matches = st
                .players
                .get(&key)
                .is_some_and(|p| only.is_none_or(|id| p.id == id));
            if matches {
                st.players.remove(&key)
            } else {
                None
            }
        };
        match removed {
            Some(player) => {
                finish_player(player).await;
                true
            }
            None => false,
        }
    }
}

impl SourceTrack {
    /// A track of `kind` the publisher's offer sends, before its media arrives.
    fn declared(kind: RtpCodecKind) -> Arc<Self> {
        let (packets, _) = broadcast::channel(PACKET_QUEUE);
        Arc::new(SourceTrack {
            kind,
            codec: codec_of(kind),
            arrived: OnceLock::new(),
            packets,
            keyframes: Mutex::new(KeyframeLimiter::default()),
        })
    }

    /// Asks the publisher for a keyframe (a PLI), at most one per window:
    /// a request inside the window is sent when it ends (see
    /// [`KeyframeLimiter::decide`]); `force` goes out at once.
    async fn request_keyframe(self: &Arc<Self>, force: bool) {
        if self.kind != RtpCodecKind::Video {
            return;
        }
        let decision = lock(&self.keyframes).decide(Instant::now(), force);
        match decision {
            KeyframeDecision::Now => self.send_pli().await,
            KeyframeDecision::Folded => {}
            KeyframeDecision::At(at) => {
                let this = Arc::clone(self);
                tokio::spawn(async move {
                    tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
                    lock(&this.keyframes).fire_pending(Instant::now());
                    this.send_pli().await;
                });
            }
        }
    }

    /// Sends a PLI for the track; nothing before its media arrived (the
    /// publisher's first picture is a keyframe, and arrival asks again).
    async fn send_pli(&self) {
        let Some(arrived) = self.arrived.get() else {
            return;
        };
        let pli = PictureLossIndication {
            sender_ssrc: 0,
            media_ssrc: arrived.ssrc,
        };
        if let Err(error) = arrived.remote.write_rtcp(vec![Box::new(pli)]).await {
            tracing::debug!(%error, "keyframe request not sent");
        }
    }
}

async fn finish_player(player: Arc<Player>) {
    player.tasks.abort_all();
    lock(&player.sources).clear();
    player.conn.close().await;
}

async fn negotiate_publisher(
    pc: &dyn PeerConnection,
    kinds: &[RtpCodecKind],
    offer: String,
) -> Result<String, SfuError> {
    let fail = |e: webrtc::error::Error| SfuError::Negotiation(e.to_string());
    for kind in kinds {
        pc.add_transceiver_from_kind(
            *kind,
            Some(RTCRtpTransceiverInit {
                direction: RTCRtpTransceiverDirection::Recvonly,
                ..Default::default()
            }),
        )
        .await
        .map_err(fail)?;
    }
    answer(pc, offer).await
}

async fn negotiate_player(
    player: &Player,
    stream: &StreamKey,
    sources: &[Arc<SourceTrack>],
    offer: String,
) -> Result<String, SfuError> {
    let fail = |e: webrtc::error::Error| SfuError::Negotiation(e.to_string());
    let mut outputs = Vec::new();
    for source in sources {
        let ssrc: u32 = rand::random();
        let kind = source.kind;
        let local = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
            format!("confer-{}", stream.stream_id),
            format!("{kind}-{ssrc}"),
            format!("{}-{kind}", stream.stream_id),
            kind,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                codec: source.codec.clone(),
                ..Default::default()
            }],
        )));
        let sender = player
            .conn
            .pc()
            .add_track(Arc::clone(&local) as Arc<dyn TrackLocal>)
            .await
            .map_err(fail)?;
        outputs.push((Arc::clone(source), local, sender, ssrc));
    }
    let sdp = answer(player.conn.pc().as_ref(), offer).await?;
    let mut forwarded = 0;
    for (source, local, sender, ssrc) in outputs {
        let params = sender.get_parameters().await.map_err(fail)?;
        let Some(payload_type) =
            negotiated_payload_type(&source.codec, &params.rtp_parameters.codecs)
        else {
            tracing::warn!(stream_id = %stream.stream_id, mime = %source.codec.mime_type, "player did not accept the codec; track not forwarded");
            continue;
        };
        forwarded += 1;
        let mut packets = source.packets.subscribe();
        let writer = Arc::clone(&local);
        player.tasks.push(tokio::spawn(async move {
            loop {
                match packets.recv().await {
                    Ok(Relayed::Rtp(mut packet)) => {
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
        }));
        let upstream = Arc::clone(&source);
        player.tasks.push(tokio::spawn(async move {
            while let Some(event) = local.poll().await {
                if let TrackLocalEvent::OnRtcpPacket(packets) = event {
                    if packets.iter().any(|p| is_keyframe_request(p.as_ref())) {
                        upstream.request_keyframe(false).await;
                    }
                }
            }
        }));
        lock(&player.sources).push(source);
    }
    if forwarded == 0 {
        return Err(SfuError::Negotiation(
            "the offer accepts none of the stream's codecs".into(),
        ));
    }
    Ok(sdp)
}

/// Applies the remote offer and returns the local answer.
async fn answer(pc: &dyn PeerConnection, offer: String) -> Result<String, SfuError> {
    let fail = |e: webrtc::error::Error| SfuError::Negotiation(e.to_string());
    let offer = RTCSessionDescription::offer(offer).map_err(fail)?;
    pc.set_remote_description(offer).await.map_err(fail)?;
    let answer = pc.create_answer(None).await.map_err(fail)?;
    pc.set_local_description(answer).await.map_err(fail)?;
    pc.local_description()
        .await
        .map(|d| d.sdp)
        .ok_or_else(|| SfuError::Negotiation("no local description".into()))
}

/// Events of one leg's peer connection.
struct LegHandler {
    sfu: Weak<Inner>,
    leg: LegRef,
    id: u64,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for LegHandler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        let Some(sfu) = self.sfu.upgrade() else {
            return;
        };
        match event.candidate.to_json() {
            Ok(init) => {
                for candidate in sfu.announce().candidate(&init.candidate) {
                    sfu.observer.local_candidate(
                        &self.leg,
                        IceCandidate {
                            candidate,
                            sdp_mid: init.sdp_mid.clone(),
                            sdp_mline_index: init.sdp_mline_index,
                        },
                    );
                }
            }
            Err(error) => tracing::debug!(%error, "local candidate not serializable"),
        }
    }

    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state != RTCIceGatheringState::Complete {
            return;
        }
        let Some(sfu) = self.sfu.upgrade() else {
            return;
        };
        let end = IceCandidate {
            candidate: String::new(),
            sdp_mid: None,
            sdp_mline_index: None,
        };
        sfu.observer.local_candidate(&self.leg, end);
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let Some(sfu) = self.sfu.upgrade() else {
            return;
        };
        tracing::debug!(leg = ?self.leg, %state, "leg connection state");
        match state {
            RTCPeerConnectionState::Connected if self.leg.role == MediaRole::Play => {
                let (leg, id) = (self.leg.clone(), self.id);
                tokio::spawn(async move { sfu.player_connected(&leg, id).await });
            }
            RTCPeerConnectionState::Connected => sfu.publisher_connected(&self.leg.stream, self.id),
            RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed => {
                let (leg, id) = (self.leg.clone(), self.id);
                tokio::spawn(async move { sfu.leg_gone(&leg, id).await });
            }
            _ => {}
        }
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        if self.leg.role != MediaRole::Publish {
            return;
        }
        let Some(sfu) = self.sfu.upgrade() else {
            return;
        };
        sfu.publisher_track(&self.leg.stream, self.id, track).await;
    }
}

/// The codec the media profile negotiates for `kind`.
fn codec_of(kind: RtpCodecKind) -> RTCRtpCodec {
    match kind {
        RtpCodecKind::Audio => rtc_profile::opus_codec(),
        _ => rtc_profile::h264_codec(),
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves its data consistent, so a poisoned lock
    // is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}
