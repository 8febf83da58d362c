//! The SFU: terminates each publisher's peer connection and forwards its RTP
//! to every player of the stream without decoding.
//!
//! Everything webrtc-rs is behind this module boundary (so str0m could
//! replace it): the rest of the server sees [`Sfu`], [`StreamKey`],
//! [`LegRef`], the [`SfuObserver`] it reports to, and [`SfuError`].
//!
//! # Who owns what
//!
//! One task, the owner (`state.rs`), holds the SFU's media state: the
//! publishers with their declared tracks (each with its keyframe limiter
//! and forwarding channel), the players with the tracks each forwards, and
//! every leg's connection and tasks. Nothing else reads or writes it; the
//! rest sends it a `Command` on one channel and, where it needs an
//! answer, waits for a reply:
//!
//! - [`Sfu`]'s methods (signaling, from `media.rs`) build a leg's peer
//!   connection and negotiate it in the caller's task, and tell the owner
//!   at the two points that touch shared state: `Publish`/`Play` when the
//!   connection exists (a play is refused there if the stream is not live
//!   *now*), `Forward` once the player's answer is made (refused if its
//!   publisher left meanwhile). Closing (`Close`, `CloseSession`,
//!   `CloseAll`) takes the legs out and hands their connections back to
//!   the caller to close; the owner never awaits I/O.
//! - Each leg's webrtc-rs handler (`LegHandler`) only sends: `Connected`
//!   and `Ended` on connection state changes, `IceConnected` when a
//!   player's ICE is up (before DTLS), `TrackArrived` when a
//!   publisher's track sends its first packet. Its local ICE candidates
//!   touch no state and go straight to the [`SfuObserver`].
//! - A player leg's RTCP task sends `KeyframeRequest`; the owner decides
//!   with the pure `forwarder::KeyframeLimiter` and sends the PLI from a
//!   task (a delayed one comes back as `KeyframeDue`).
//! - The owner publishes a read-only view (live streams, playing legs,
//!   counts) on a `watch` channel for the synchronous queries
//!   ([`Sfu::is_live`], [`Sfu::is_playing`], [`Sfu::counts`]).
//!
//! The media itself never passes through the owner: a publisher track's
//! read task sends each packet on the track's broadcast channel, and each
//! player leg's writer task (spawned by the owner, aborted when the leg
//! ends) rewrites it (`forwarder::rewrite_for_leg`) and writes it. The
//! only other shared cells are set once: the transport (started by
//! [`Sfu::start`] or the first leg) and the parked owner until it runs.
//!
//! # Media
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
//!   player's NACKs from what was written. While a leg's packets queue
//!   (its link is full), its audio's RED loses redundant blocks down to a
//!   fifth of the leg's acknowledged rate (`red_trim`).
//! - Simulcast: a publisher's video track may carry up to three layers
//!   (rids `q`/`h`/`f` = `VideoLayer` low/medium/high; each layer's SSRC
//!   comes with its `OnOpen`, all on one `TrackRemote`); a track without
//!   rids is one `High` layer. The read task tags each packet with its
//!   layer and whether it starts a keyframe, and meters each layer's rate
//!   (`layer_meter`). Each player leg's video writer forwards one layer
//!   (`video_writer`: a sans-IO `layer_switch::LayerSwitch` picks it from
//!   the leg's estimate and the session's cap and switches at the target's
//!   keyframe; `temporal` drops the layer's non-reference pictures, half
//!   its frames, when even that layer does not fit the estimate or while a
//!   down-switch waits for its keyframe; `rewriter` keeps the leg's
//!   sequence numbers and timestamps continuous, dropped packets leaving
//!   no hole), probing with H.264 filler data while its estimate holds
//!   it below its cap. A player leg estimates its downlink with TWCC + GCC
//!   (`estimate`: plus the acknowledged rate and a restart from a rate a
//!   probe showed). The owner tells a publishing session which layers its
//!   players want (`dynacast`, via [`SfuObserver::video_layers`]).
//! - Players' PLI/FIR (delivered by `rtcp_delivery`) are forwarded to
//!   the publisher as a PLI for the layer the leg forwards, at most one per
//!   500 ms per publisher track and layer (later ones wait for the window
//!   to end, folded into one); a
//!   player asks for one at once when its ICE is up (the keyframe is
//!   encoded while DTLS runs) and again when its connection is. A
//!   player's video starts at a keyframe's first packet of its first
//!   layer (`leg_start`, `layer_switch`).
//! - The publisher's receiver reports and TWCC feedback come from its leg's
//!   interceptors.
//! - Sockets: by default every leg shares one UDP port and one ICE-TCP
//!   port (`mux`); candidates are announced with those ports (and on
//!   every announced IP) as they are signaled (`engine::Announce`).
//! - Connection state Failed/Closed ends a leg: its peer connection is
//!   closed and its tasks aborted (a remote track's `poll()` does not end on
//!   failure by itself). A publisher leg ending closes its players and tells
//!   the observer the stream ended.

mod audio_loss;
mod dynacast;
mod engine;
mod estimate;
mod forwarder;
mod layer_meter;
mod layer_switch;
mod leg_meter;
mod leg_start;
mod mux;
mod nack_throttle;
mod red_trim;
mod rewriter;
mod rtcp_delivery;
mod state;
mod temporal;
mod video_writer;

pub use mux::{MuxCounters, MuxError};
pub use state::ForwardingMute;

use crate::config::MediaConfig;
use crate::metrics::media::MediaMeter;
use engine::{usable_remote_candidate, Announce, LegConnection, Transport};
use forwarder::{negotiated_payload_type, sending_sections, RedOnLeg};
use protocol::{ErrorCode, IceCandidate, MediaRole, VideoLayer};
use rtc::media_stream::MediaStreamTrack;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use state::{Command, Leg, Output, Source, State, View};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use tokio::sync::{mpsc, oneshot, watch};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionEventHandler, RTCIceConnectionState, RTCIceGatheringState,
    RTCPeerConnectionIceEvent, RTCPeerConnectionState, RTCSessionDescription,
};

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
    /// Dynacast: the simulcast layers of `stream` its players want now
    /// changed; `session_id` publishes it.
    fn video_layers(&self, stream: &StreamKey, session_id: &str, active: Vec<VideoLayer>);
}

/// Why the SFU refused an offer.
#[derive(Debug, thiserror::Error)]
pub enum SfuError {
    /// The peer connection could not parse or answer the SDP.
    #[error("negotiation failed: {0}")]
    Negotiation(#[source] webrtc::error::Error),
    /// The offer is well-formed but cannot be answered: what it lacks.
    #[error("negotiation failed: {0}")]
    Unanswerable(&'static str),
    /// Play offer for a stream without a live publisher.
    #[error("the stream is not live")]
    NotLive,
    /// No media socket could be bound.
    #[error("no media socket: {0}")]
    Transport(#[source] webrtc::error::Error),
    /// No per-connection port could be bound: the last address tried.
    #[error("no media socket: {addr}: {source}")]
    Bind {
        /// The address whose binding failed.
        addr: std::net::SocketAddr,
        /// Why it failed.
        #[source]
        source: webrtc::error::Error,
    },
    /// Per-connection ports offer no address to bind.
    #[error("no media socket: no address to bind")]
    NoAddress,
    /// The media engine (codecs, extensions) could not be configured.
    #[error("media setup failed: {0}")]
    Setup(#[source] webrtc::error::Error),
    /// The SFU's task is gone: the server is shutting down.
    #[error("media setup failed: the SFU is shutting down")]
    ShuttingDown,
    /// The shared media ports could not be bound.
    #[error(transparent)]
    Ports(#[from] MuxError),
}

impl SfuError {
    /// The code reported to the client for a failed offer of `role`.
    pub fn code(&self, role: MediaRole) -> ErrorCode {
        match (self, role) {
            (SfuError::NotLive, _) => ErrorCode::StreamNotLive,
            (SfuError::Negotiation(_) | SfuError::Unanswerable(_), MediaRole::Publish) => {
                ErrorCode::PublishNegotiationFailed
            }
            (SfuError::Negotiation(_) | SfuError::Unanswerable(_), MediaRole::Play) => {
                ErrorCode::PlayNegotiationFailed
            }
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
    /// Started by [`Sfu::start`] (or the first leg); set once.
    transport: Mutex<Option<Arc<Transport>>>,
    observer: Arc<dyn SfuObserver>,
    /// The owner's channel (see the module doc).
    commands: mpsc::UnboundedSender<Command>,
    /// The owner until it runs (spawned on first use, inside a runtime).
    parked: Mutex<Option<(State, mpsc::UnboundedReceiver<Command>)>>,
    running: OnceLock<()>,
    /// What the owner last published, for the synchronous queries.
    view: watch::Receiver<View>,
    next_id: AtomicU64,
    /// Media counters (`/metrics`).
    meter: Arc<MediaMeter>,
}

impl Sfu {
    /// An SFU binding media per `config`, reporting to `observer`.
    pub fn new(config: MediaConfig, observer: Arc<dyn SfuObserver>) -> Self {
        let (commands, receiver) = mpsc::unbounded_channel();
        let (view_tx, view) = watch::channel(View::default());
        let meter = Arc::new(MediaMeter::default());
        let state = State::new(
            Arc::clone(&observer),
            commands.downgrade(),
            view_tx,
            Arc::clone(&meter),
        );
        Sfu {
            inner: Arc::new(Inner {
                config,
                transport: Mutex::new(None),
                observer,
                commands,
                parked: Mutex::new(Some((state, receiver))),
                running: OnceLock::new(),
                view,
                next_id: AtomicU64::new(1),
                meter,
            }),
        }
    }

    /// Binds the media ports (the mux's shared UDP and TCP ports, chosen
    /// now when configured as 0). Idempotent; without it the first leg
    /// does it. Must run inside a tokio runtime.
    pub fn start(&self) -> Result<(), SfuError> {
        self.inner.run_owner();
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
            return Err(SfuError::Unanswerable("the offer sends no audio or video"));
        }
        let leg = self.inner.leg(stream, MediaRole::Publish, session_id);
        let conn = self.inner.build(&leg).await?;
        let pc = Arc::clone(conn.pc());
        // Until answered, the leg ends with this future.
        let pending = Pending::new(&self.inner, &leg);
        let replaced = self
            .inner
            .ask(|reply| Command::Publish {
                leg: leg.clone(),
                kinds: kinds.clone(),
                conn,
                reply,
            })
            .await
            .ok_or(SfuError::ShuttingDown)?;
        replaced.finish().await;
        let answer = match negotiate_publisher(pc.as_ref(), &kinds, offer).await {
            Ok(answer) => answer,
            Err(error) => {
                pending.failed().await;
                return Err(error);
            }
        };
        pending.answered();
        tracing::info!(app_id = stream.app_id, stream_id = %stream.stream_id, session_id, tracks = kinds.len(), "publisher connection negotiated");
        Ok(self.inner.announced(answer))
    }

    /// Answers a player's offer for a live stream, replacing the session's
    /// previous player connection for it; its video forwards simulcast
    /// layers up to `cap`.
    pub async fn play(
        &self,
        stream: &StreamKey,
        session_id: &str,
        offer: String,
        cap: VideoLayer,
    ) -> Result<String, SfuError> {
        if !self.is_live(stream) {
            return Err(SfuError::NotLive);
        }
        let leg = self.inner.leg(stream, MediaRole::Play, session_id);
        let conn = self.inner.build(&leg).await?;
        let pc = Arc::clone(conn.pc());
        let pending = Pending::new(&self.inner, &leg);
        let (sources, replaced) = self
            .inner
            .ask_live(|reply| Command::Play {
                leg: leg.clone(),
                conn,
                cap,
                reply,
            })
            .await?;
        replaced.finish().await;
        let forwarded = match negotiate_player(pc.as_ref(), stream, &sources, offer).await {
            Ok((answer, outputs)) => self
                .inner
                .ask_live(|reply| Command::Forward {
                    leg: leg.clone(),
                    outputs,
                    reply,
                })
                .await
                .map(|()| answer),
            Err(error) => Err(error),
        };
        let answer = match forwarded {
            Ok(answer) => answer,
            Err(error) => {
                pending.failed().await;
                return Err(error);
            }
        };
        pending.answered();
        tracing::info!(app_id = stream.app_id, stream_id = %stream.stream_id, session_id, "player connection negotiated");
        Ok(self.inner.announced(answer))
    }

    /// Adds a remote ICE candidate to a leg. An empty candidate (end of
    /// candidates), TCP candidates the SFU would have to dial, and
    /// candidates for unknown legs are ignored.
    pub async fn add_candidate(&self, leg: &LegRef, candidate: IceCandidate) {
        if candidate.candidate.is_empty() || !usable_remote_candidate(&candidate.candidate) {
            return;
        }
        let pc = self
            .inner
            .ask(|reply| Command::Connection {
                leg: leg.clone(),
                reply,
            })
            .await
            .flatten();
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
        self.inner.view.borrow().live.contains(stream)
    }

    /// Closes the stream's publisher connection if `session_id` owns it
    /// (and with it the players' connections).
    pub async fn stop_publishing(&self, stream: &StreamKey, session_id: &str) {
        let leg = LegRef {
            stream: stream.clone(),
            role: MediaRole::Publish,
            session_id: session_id.to_owned(),
        };
        self.inner.close(leg).await;
    }

    /// Closes the session's player connection for the stream. `true` if it had one.
    pub async fn stop_playing(&self, stream: &StreamKey, session_id: &str) -> bool {
        let leg = LegRef {
            stream: stream.clone(),
            role: MediaRole::Play,
            session_id: session_id.to_owned(),
        };
        self.inner.close(leg).await
    }

    /// Closes every connection of a session that left.
    pub async fn close_session(&self, session_id: &str) {
        let session_id = session_id.to_owned();
        if let Some(closing) = self
            .inner
            .ask(|reply| Command::CloseSession { session_id, reply })
            .await
        {
            closing.finish().await;
        }
    }

    /// Caps the simulcast layer the session's player connection for the
    /// stream forwards (if it has one; the next one gets its cap with
    /// [`Sfu::play`]).
    pub fn set_max_layer(&self, stream: &StreamKey, session_id: &str, cap: VideoLayer) {
        let leg = LegRef {
            stream: stream.clone(),
            role: MediaRole::Play,
            session_id: session_id.to_owned(),
        };
        self.inner.send(Command::Cap { leg, cap });
    }

    /// Stops (or resumes) forwarding the stream's audio or video to its
    /// players, this publisher connection and the next ones, until lifted
    /// with [`ForwardingMute::default`].
    pub fn set_forwarding_mute(&self, stream: &StreamKey, muted: ForwardingMute) {
        self.inner.send(Command::ForwardingMute {
            stream: stream.clone(),
            muted,
        });
    }

    /// Whether the session has a player connection for the stream.
    pub fn is_playing(&self, stream: &StreamKey, session_id: &str) -> bool {
        self.inner
            .view
            .borrow()
            .playing
            .contains(&(stream.clone(), session_id.to_owned()))
    }

    /// Closes every connection (server shutdown).
    pub async fn close_all(&self) {
        if let Some(closing) = self.inner.ask(|reply| Command::CloseAll { reply }).await {
            closing.finish().await;
        }
    }

    /// The media counters (packets forwarded, keyframe requests, loss).
    pub fn meter(&self) -> &Arc<MediaMeter> {
        &self.inner.meter
    }

    /// The stream of each live publisher connection and of each player
    /// connection, now.
    pub fn legs(&self) -> (Vec<StreamKey>, Vec<StreamKey>) {
        let view = self.inner.view.borrow();
        let players = view.playing.iter().map(|(s, _)| s.clone()).collect();
        (view.live.iter().cloned().collect(), players)
    }

    /// Publisher and player connections open now.
    pub fn counts(&self) -> (usize, usize) {
        let view = self.inner.view.borrow();
        (view.publishers, view.playing.len())
    }
}

impl Inner {
    /// Spawns the owner if it is still parked.
    fn run_owner(&self) {
        self.running.get_or_init(|| {
            if let Some((state, commands)) = lock(&self.parked).take() {
                tokio::spawn(state::run(state, commands));
            }
        });
    }

    /// Sends the owner a command.
    fn send(&self, command: Command) {
        self.run_owner();
        // Fails only once the owner ended, which it does when `self` drops.
        let _ = self.commands.send(command);
    }

    /// Sends the owner a command and waits for its reply (`None` if it
    /// ended).
    async fn ask<T>(&self, command: impl FnOnce(oneshot::Sender<T>) -> Command) -> Option<T> {
        let (reply, answer) = oneshot::channel();
        self.send(command(reply));
        answer.await.ok()
    }

    /// [`Inner::ask`] for a command about a live stream: a stream that is
    /// gone, or an SFU that is, reads as not live.
    async fn ask_live<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<T, SfuError>>) -> Command,
    ) -> Result<T, SfuError> {
        self.ask(command).await.unwrap_or(Err(SfuError::NotLive))
    }

    /// Ends the current leg of `leg`; `true` if there was one.
    async fn close(&self, leg: LegRef) -> bool {
        match self
            .ask(|reply| Command::Close {
                leg,
                id: None,
                reply,
            })
            .await
        {
            Some(closing) if !closing.is_empty() => {
                closing.finish().await;
                true
            }
            _ => false,
        }
    }

    /// A new leg (its connection gets a new id).
    fn leg(&self, stream: &StreamKey, role: MediaRole, session_id: &str) -> Leg {
        Leg {
            leg: LegRef {
                stream: stream.clone(),
                role,
                session_id: session_id.to_owned(),
            },
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
        }
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

    async fn build(self: &Arc<Self>, leg: &Leg) -> Result<LegConnection, SfuError> {
        let handler = Arc::new(LegHandler {
            sfu: Arc::downgrade(self),
            leg: leg.clone(),
        });
        let meter = self.meter.stream(&leg.leg.stream);
        self.transport()?.build(handler, leg.leg.role, &meter).await
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
}

/// A leg being answered: if the answer fails (or its caller goes away),
/// dropping this ends the leg.
struct Pending {
    sfu: Weak<Inner>,
    leg: Option<Leg>,
}

impl Pending {
    fn new(sfu: &Arc<Inner>, leg: &Leg) -> Self {
        Pending {
            sfu: Arc::downgrade(sfu),
            leg: Some(leg.clone()),
        }
    }

    /// The leg was answered: it stays.
    fn answered(mut self) {
        self.leg = None;
    }

    /// The answer failed: the leg ends now.
    async fn failed(mut self) {
        let (Some(leg), Some(sfu)) = (self.leg.take(), self.sfu.upgrade()) else {
            return;
        };
        let closing = sfu
            .ask(|reply| Command::Close {
                leg: leg.leg,
                id: Some(leg.id),
                reply,
            })
            .await;
        if let Some(closing) = closing {
            closing.finish().await;
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let (Some(leg), Some(sfu)) = (self.leg.take(), self.sfu.upgrade()) {
            sfu.send(Command::Ended(leg));
        }
    }
}

async fn negotiate_publisher(
    pc: &dyn PeerConnection,
    kinds: &[RtpCodecKind],
    offer: String,
) -> Result<String, SfuError> {
    for kind in kinds {
        pc.add_transceiver_from_kind(
            *kind,
            Some(RTCRtpTransceiverInit {
                direction: RTCRtpTransceiverDirection::Recvonly,
                ..Default::default()
            }),
        )
        .await
        .map_err(SfuError::Negotiation)?;
    }
    answer(pc, offer).await
}

/// Adds a local track per publisher track and answers; the tracks the
/// player accepted, with their payload types, are to be forwarded.
async fn negotiate_player(
    pc: &dyn PeerConnection,
    stream: &StreamKey,
    sources: &[Source],
    offer: String,
) -> Result<(String, Vec<Output>), SfuError> {
    let mut added = Vec::new();
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
        let sender = pc
            .add_track(Arc::clone(&local) as Arc<dyn TrackLocal>)
            .await
            .map_err(SfuError::Negotiation)?;
        added.push((source, local, sender, ssrc));
    }
    let sdp = answer(pc, offer).await?;
    let mut outputs = Vec::new();
    for (source, local, sender, ssrc) in added {
        let params = sender
            .get_parameters()
            .await
            .map_err(SfuError::Negotiation)?;
        let Some(payload_type) =
            negotiated_payload_type(&source.codec, &params.rtp_parameters.codecs)
        else {
            tracing::warn!(stream_id = %stream.stream_id, mime = %source.codec.mime_type, "player did not accept the codec; track not forwarded");
            continue;
        };
        let red = if source.kind == RtpCodecKind::Audio {
            negotiated_payload_type(&rtc_profile::red_codec(), &params.rtp_parameters.codecs)
                .map_or(RedOnLeg::Strip, RedOnLeg::Keep)
        } else {
            RedOnLeg::NotAudio
        };
        outputs.push(Output {
            index: source.index,
            local,
            ssrc,
            payload_type,
            red,
            layer: Arc::default(),
        });
    }
    if outputs.is_empty() {
        return Err(SfuError::Unanswerable(
            "the offer accepts none of the stream's codecs",
        ));
    }
    Ok((sdp, outputs))
}

/// Applies the remote offer and returns the local answer.
async fn answer(pc: &dyn PeerConnection, offer: String) -> Result<String, SfuError> {
    let fail = SfuError::Negotiation;
    let offer = RTCSessionDescription::offer(offer).map_err(fail)?;
    pc.set_remote_description(offer).await.map_err(fail)?;
    let answer = pc.create_answer(None).await.map_err(fail)?;
    pc.set_local_description(answer).await.map_err(fail)?;
    pc.local_description()
        .await
        .map(|d| d.sdp)
        .ok_or(SfuError::Unanswerable("no local description"))
}

/// Events of one leg's peer connection: each becomes a message to the
/// owner (local candidates go to the observer).
struct LegHandler {
    sfu: Weak<Inner>,
    leg: Leg,
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
                        &self.leg.leg,
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
        sfu.observer.local_candidate(&self.leg.leg, end);
    }

    async fn on_ice_connection_state_change(&self, state: RTCIceConnectionState) {
        if state != RTCIceConnectionState::Connected || self.leg.leg.role != MediaRole::Play {
            return;
        }
        if let Some(sfu) = self.sfu.upgrade() {
            sfu.send(Command::IceConnected(self.leg.clone()));
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        tracing::debug!(leg = ?self.leg.leg, %state, "leg connection state");
        let command = match state {
            RTCPeerConnectionState::Connected => Command::Connected(self.leg.clone()),
            RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed => {
                Command::Ended(self.leg.clone())
            }
            _ => return,
        };
        if let Some(sfu) = self.sfu.upgrade() {
            sfu.send(command);
        }
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        if self.leg.leg.role != MediaRole::Publish {
            return;
        }
        let Some(ssrc) = track.ssrcs().await.first().copied() else {
            return;
        };
        let kind = track.kind().await;
        if let Some(codec) = track.codec(ssrc).await {
            if !expected_codec(kind, &codec.mime_type) {
                tracing::warn!(stream_id = %self.leg.leg.stream.stream_id, mime = %codec.mime_type, "publisher track with an unexpected codec");
            }
        }
        if let Some(sfu) = self.sfu.upgrade() {
            sfu.send(Command::TrackArrived {
                leg: self.leg.clone(),
                kind,
                ssrc,
                remote: track,
            });
        }
    }
}

/// Whether a publisher's track of `kind` may carry `mime`: the profile's
/// codec, or for audio RED (RFC 2198) over it.
fn expected_codec(kind: RtpCodecKind, mime: &str) -> bool {
    mime.eq_ignore_ascii_case(&codec_of(kind).mime_type)
        || (kind == RtpCodecKind::Audio && mime.eq_ignore_ascii_case(rtc_profile::MIME_TYPE_RED))
}

/// The codec the media profile negotiates for `kind`.
fn codec_of(kind: RtpCodecKind) -> RTCRtpCodec {
    match kind {
        RtpCodecKind::Audio => rtc_profile::opus_codec(),
        _ => rtc_profile::h264_codec(),
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Both cells are set in one step, so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::pin;
    use std::task::Poll;
    use webrtc::peer_connection::PeerConnectionBuilder;

    #[test]
    fn red_is_an_expected_audio_codec_and_nothing_else_is_added() {
        assert!(expected_codec(RtpCodecKind::Audio, "audio/opus"));
        assert!(expected_codec(RtpCodecKind::Audio, "audio/RED"));
        assert!(expected_codec(RtpCodecKind::Video, "video/H264"));
        assert!(!expected_codec(RtpCodecKind::Video, "audio/red"));
        assert!(!expected_codec(RtpCodecKind::Video, "video/VP8"));
        assert!(!expected_codec(RtpCodecKind::Audio, "audio/PCMU"));
    }

    struct Quiet;

    impl SfuObserver for Quiet {
        fn local_candidate(&self, _: &LegRef, _: IceCandidate) {}
        fn stream_live(&self, _: &StreamKey) {}
        fn stream_ended(&self, _: &StreamKey) {}
        fn video_layers(&self, _: &StreamKey, _: &str, _: Vec<VideoLayer>) {}
    }

    struct Client;

    impl PeerConnectionEventHandler for Client {}

    fn sfu() -> Sfu {
        Sfu::new(MediaConfig::default(), Arc::new(Quiet))
    }

    fn stream() -> StreamKey {
        StreamKey {
            app_id: 1,
            stream_id: "cam".into(),
        }
    }

    /// A client's offer: audio and video, sent (`Sendonly`) or received.
    async fn offer(direction: RTCRtpTransceiverDirection) -> String {
        let pc = PeerConnectionBuilder::new()
            .with_media_engine(rtc_profile::media_engine().expect("the profile's codecs"))
            .with_handler(Arc::new(Client))
            .with_udp_addrs(vec![std::net::SocketAddr::from(([127, 0, 0, 1], 0))])
            .build()
            .await
            .expect("a client connection");
        for kind in [RtpCodecKind::Audio, RtpCodecKind::Video] {
            if direction == RTCRtpTransceiverDirection::Recvonly {
                pc.add_transceiver_from_kind(
                    kind,
                    Some(RTCRtpTransceiverInit {
                        direction,
                        ..Default::default()
                    }),
                )
                .await
                .expect("a transceiver");
                continue;
            }
            let track = TrackLocalStaticRTP::new(MediaStreamTrack::new(
                "client".into(),
                format!("{kind}"),
                format!("client-{kind}"),
                kind,
                vec![RTCRtpEncodingParameters {
                    rtp_coding_parameters: RTCRtpCodingParameters {
                        ssrc: Some(rand::random()),
                        ..Default::default()
                    },
                    codec: codec_of(kind),
                    ..Default::default()
                }],
            ));
            pc.add_track(Arc::new(track)).await.expect("a track");
        }
        let offer = pc.create_offer(None).await.expect("an offer");
        let sdp = offer.sdp.clone();
        pc.close().await.expect("closed");
        sdp
    }

    /// What the handler of the last leg built, a publisher's, does when
    /// its connection comes up; returns once the owner handled it.
    async fn publisher_connects(sfu: &Sfu, stream: &StreamKey, session_id: &str) {
        let leg = LegRef {
            stream: stream.clone(),
            role: MediaRole::Publish,
            session_id: session_id.to_owned(),
        };
        let id = sfu.inner.next_id.load(Ordering::Relaxed) - 1;
        sfu.inner.send(Command::Connected(Leg {
            leg: leg.clone(),
            id,
        }));
        sfu.inner
            .ask(|reply| Command::Connection { leg, reply })
            .await
            .flatten()
            .expect("the publisher leg");
    }

    #[tokio::test]
    async fn a_player_attached_while_its_publisher_leaves_does_not_outlive_it() {
        let sfu = sfu();
        let stream = stream();
        let publish = offer(RTCRtpTransceiverDirection::Sendonly).await;
        let play = offer(RTCRtpTransceiverDirection::Recvonly).await;
        sfu.publish(&stream, "host", publish)
            .await
            .expect("answered");
        publisher_connects(&sfu, &stream, "host").await;
        assert!(sfu.is_live(&stream));
        // The play offer starts (the stream is live), and while it sets up
        // the player's connection the publisher leaves.
        let mut playing = pin!(sfu.play(&stream, "viewer", play, VideoLayer::High));
        let first = std::future::poll_fn(|cx| Poll::Ready(playing.as_mut().poll(cx))).await;
        assert!(first.is_pending(), "play finished without waiting");
        sfu.stop_publishing(&stream, "host").await;
        let played = playing.await;
        assert_eq!(sfu.counts(), (0, 0), "a player leg outlived its publisher");
        assert!(!sfu.is_playing(&stream, "viewer"));
        assert!(
            matches!(played, Err(SfuError::NotLive)),
            "the play offer was answered for an ended stream"
        );
    }
}
