//! The signaling session as a sans-IO state machine (in the manner of
//! quinn-proto and str0m): it owns all room state, takes `now` as an argument,
//! never reads the clock, never spawns and never touches a socket.
//!
//! Inputs: commands ([`Session::login`], [`Session::logout`], ...), transport
//! events tagged with a connection id ([`Session::handle_transport`]) and timer
//! ticks ([`Session::handle_timeout`]). Outputs: [`Session::poll_output`]
//! (connect, send, close, events, request completions) and
//! [`Session::poll_timeout`] (when to call `handle_timeout` next).
//!
//! Input from a connection other than the current one is stale and ignored.

use super::media::{MediaCommand, MediaFact, MediaLink, Player, MEDIA_RETRY, NEGOTIATION_TIMEOUT};
use super::reconnect::{Backoff, ReconnectPolicy};
use super::view::{RemoteDevices, View};
use super::{PublishChannel, RoomConfig};
use crate::error::{PlayerError, PublisherError, RoomError};
use crate::event::{
    BroadcastMessage, Event, PlayerState, PublisherState, RoomState, RoomStateChangedReason,
    Stream, UpdateType, User,
};
use protocol::{
    ids, limits, AckBody, ClientMessage, Credentials, ErrorCode, Login, LoginOk, MediaRole, Resume,
    RoomEvent, SequencedEvent, ServerMessage, PROTOCOL_VERSION,
};
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// Identifies one WebSocket connection attempt.
pub(crate) type ConnId = u64;

/// How long a connection may take from `Connect` to `LoginOk`/`Resumed`.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request (broadcast) waits for its answer.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// `RoomTokenWillExpire` fires this long before the token expires.
pub(crate) const TOKEN_WARNING: Duration = Duration::from_secs(30);
/// The server counts as silent after `2 * heartbeat interval + SILENCE_GRACE`.
pub(crate) const SILENCE_GRACE: Duration = Duration::from_secs(2);
const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(5);
const MIN_HEARTBEAT: Duration = Duration::from_millis(100);
const NO_DATA: &str = "{}";

/// What the session needs from the engine profile.
#[derive(Debug, Clone)]
pub(crate) struct SessionConfig {
    pub(crate) app_id: u32,
    pub(crate) app_sign: String,
    pub(crate) reconnect: ReconnectPolicy,
}

/// A mute the app set on the engine, as the session tracks it: what a
/// published stream sends is announced to the room from these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LocalMute {
    /// `mute_microphone`: no audio on any channel.
    Microphone,
    /// `mute_publish_stream_audio` on a channel.
    StreamAudio(PublishChannel),
    /// `mute_publish_stream_video` on a channel.
    StreamVideo(PublishChannel),
    /// `enable_camera(false)` on a channel (`true` = camera off).
    CameraOff(PublishChannel),
}

/// The local mutes, per channel where they are per channel.
#[derive(Debug, Clone, Copy, Default)]
struct LocalMutes {
    microphone: bool,
    audio: [bool; 2],
    video: [bool; 2],
    camera_off: [bool; 2],
}

impl LocalMutes {
    fn set(&mut self, mute: LocalMute, on: bool) {
        match mute {
            LocalMute::Microphone => self.microphone = on,
            LocalMute::StreamAudio(c) => self.audio[c.index()] = on,
            LocalMute::StreamVideo(c) => self.video[c.index()] = on,
            LocalMute::CameraOff(c) => self.camera_off[c.index()] = on,
        }
    }

    /// What a channel's stream does not send.
    fn of(&self, channel: PublishChannel) -> SendState {
        let i = channel.index();
        SendState {
            audio_muted: self.microphone || self.audio[i],
            video_muted: self.video[i] || self.camera_off[i],
        }
    }
}

/// What a published stream does not send, as announced to the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct SendState {
    audio_muted: bool,
    video_muted: bool,
}

/// Something that happened on a connection.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Transport {
    /// The WebSocket is open.
    Opened,
    /// A message arrived.
    Message(ServerMessage),
    /// A frame arrived that does not decode.
    Malformed(String),
    /// The connection failed or closed.
    Closed(String),
    /// The connection cannot succeed by retrying (the server's certificate,
    /// the pin, the wrong scheme for the port): the room ends with the code.
    Refused(ErrorCode, String),
}

/// What the session asks its driver to do, in order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Output {
    /// Open a new connection to the server and report on it with this id.
    Connect { conn: ConnId },
    /// Send a message on a connection.
    Send { conn: ConnId, msg: ClientMessage },
    /// Close a connection (after sending what was queued before).
    Close { conn: ConnId },
    /// Deliver an event to the app.
    Event(Event),
    /// A broadcast request finished.
    BroadcastDone {
        request: u32,
        result: Result<u64, RoomError>,
    },
    /// Something for the media side to do.
    Media(MediaCommand),
}

/// The signaling session of one engine.
#[derive(Debug)]
pub(crate) struct Session {
    ctx: Ctx,
    room: Option<Room>,
    out: Outbox,
}

impl Session {
    /// A session with no room.
    pub(crate) fn new(config: SessionConfig) -> Self {
        Session {
            ctx: Ctx {
                config,
                next_conn: 0,
                next_request: 0,
                mutes: LocalMutes::default(),
            },
            room: None,
            out: Outbox::default(),
        }
    }

    /// Whether a room is joined (in any state from `login_room` to `logout_room`).
    pub(crate) fn is_logged_in(&self) -> bool {
        self.room.is_some()
    }

    /// Whether `stream_id` is being played (in any state but NoPlay).
    pub(crate) fn is_playing(&self, stream_id: &str) -> bool {
        self.room
            .as_ref()
            .is_some_and(|r| r.players.contains_key(stream_id))
    }

    /// Starts logging in to `room_id`.
    pub(crate) fn login(
        &mut self,
        now: Instant,
        room_id: &str,
        user: User,
        config: RoomConfig,
    ) -> Result<(), RoomError> {
        if self.room.is_some() {
            return Err(RoomError::AlreadyLoggedIn);
        }
        ids::RoomId::new(room_id).map_err(|_| RoomError::InvalidRoomId)?;
        ids::UserId::new(user.user_id.as_str()).map_err(|_| RoomError::InvalidUserId)?;
        ids::check_user_name(&user.user_name).map_err(|_| RoomError::InvalidUserName)?;
        match &config.token {
            Some(t) => check_token(t)?,
            None if self.ctx.config.app_sign.is_empty() => {
                return Err(RoomError::MissingCredentials)
            }
            None => {}
        }
        let conn = self.ctx.new_conn();
        self.room = Some(Room {
            room_id: room_id.to_owned(),
            user,
            config,
            link: Link::Connecting {
                conn,
                deadline: now + HANDSHAKE_TIMEOUT,
            },
            backoff: Backoff::new(self.ctx.config.reconnect, now),
            ever_connected: false,
            resume: None,
            last_seq: 0,
            heartbeat_interval: DEFAULT_HEARTBEAT,
            next_heartbeat: None,
            last_rx: now,
            token_expires_at: None,
            token_warn_at: None,
            view: View::default(),
            publishers: [None, None],
            players: BTreeMap::new(),
            requests: BTreeMap::new(),
        });
        self.out.state(
            room_id,
            RoomState::Connecting,
            RoomStateChangedReason::Logining,
            ErrorCode::Success,
            NO_DATA.into(),
        );
        self.out.push(Output::Connect { conn });
        Ok(())
    }

    /// Leaves the room: sends `Logout` if connected, closes the connection,
    /// reports every publisher as `NoPublish(0)` and the room as
    /// `Disconnected(0)`.
    pub(crate) fn logout(&mut self, _now: Instant) -> Result<(), RoomError> {
        let Some(mut room) = self.room.take() else {
            return Err(RoomError::NotLoggedIn);
        };
        if let Link::Live { conn } = room.link {
            let request_id = self.ctx.new_request();
            self.out.send(conn, ClientMessage::Logout { request_id });
        }
        room.end(
            ErrorCode::Success,
            RoomStateChangedReason::Logout,
            NO_DATA.into(),
            &mut self.out,
        );
        Ok(())
    }

    /// Replaces the login token: used for later logins and sent to the server.
    pub(crate) fn renew_token(&mut self, _now: Instant, token: &str) -> Result<(), RoomError> {
        let Some(room) = self.room.as_mut() else {
            return Err(RoomError::NotLoggedIn);
        };
        check_token(token)?;
        room.config.token = Some(token.to_owned());
        room.requests
            .retain(|_, r| !matches!(r, Request::Renew { .. }));
        let request_id = self.ctx.new_request();
        room.requests.insert(
            request_id,
            Request::Renew {
                token: token.to_owned(),
                sent_on: None,
            },
        );
        room.flush_requests(&mut self.out);
        Ok(())
    }

    /// Queues a broadcast message; returns the request id its
    /// [`Output::BroadcastDone`] will carry.
    pub(crate) fn send_broadcast(&mut self, now: Instant, text: &str) -> Result<u32, RoomError> {
        let Some(room) = self.room.as_mut() else {
            return Err(RoomError::NotLoggedIn);
        };
        if text.is_empty() {
            return Err(RoomError::BroadcastEmpty);
        }
        if text.len() > limits::MAX_BROADCAST_BYTES {
            return Err(RoomError::BroadcastTooLong);
        }
        let request_id = self.ctx.new_request();
        room.requests.insert(
            request_id,
            Request::Broadcast {
                text: text.to_owned(),
                deadline: now + REQUEST_TIMEOUT,
                sent_on: None,
            },
        );
        room.flush_requests(&mut self.out);
        Ok(request_id)
    }

    /// Starts publishing `stream_id` on `channel` (announced once connected).
    pub(crate) fn start_publishing(
        &mut self,
        _now: Instant,
        stream_id: &str,
        channel: PublishChannel,
    ) -> Result<(), PublisherError> {
        let Some(room) = self.room.as_mut() else {
            return Err(PublisherError::NotLoggedIn);
        };
        ids::StreamId::new(stream_id).map_err(|_| PublisherError::InvalidStreamId)?;
        if room.publishers[channel.index()].is_some() {
            return Err(PublisherError::AlreadyPublishing);
        }
        if room
            .publishers
            .iter()
            .flatten()
            .any(|p| p.stream_id == stream_id)
        {
            return Err(PublisherError::StreamIdInUse);
        }
        room.publishers[channel.index()] = Some(Publisher {
            stream_id: stream_id.to_owned(),
            state: PublisherState::PublishRequesting,
            acked: false,
            request: None,
            media: MediaLink::Idle,
            told: SendState::default(),
        });
        self.out.publisher(
            stream_id,
            PublisherState::PublishRequesting,
            ErrorCode::Success,
            NO_DATA.into(),
        );
        self.out.media(MediaCommand::StartPublishing {
            channel,
            stream_id: stream_id.to_owned(),
        });
        if let Link::Live { conn } = room.link {
            room.announce(channel, conn, &mut self.ctx, &mut self.out);
        }
        Ok(())
    }

    /// Stops publishing on `channel`: `NoPublish(0)` at once, `StopPublishing`
    /// to the server if it knows (or may know) the stream.
    pub(crate) fn stop_publishing(
        &mut self,
        _now: Instant,
        channel: PublishChannel,
    ) -> Result<(), PublisherError> {
        let Some(room) = self.room.as_mut() else {
            return Err(PublisherError::NotLoggedIn);
        };
        let Some(p) =
            room.drop_publisher(channel, ErrorCode::Success, NO_DATA.into(), &mut self.out)
        else {
            return Err(PublisherError::NotPublishing);
        };
        if p.acked || p.request.is_some() {
            let request_id = self.ctx.new_request();
            room.requests.insert(
                request_id,
                Request::Stop {
                    stream_id: p.stream_id,
                    sent_on: None,
                },
            );
            room.flush_requests(&mut self.out);
        }
        Ok(())
    }

    /// Starts playing `stream_id`: `PlayRequesting(0)` at once; media starts
    /// when the server says the stream is live.
    pub(crate) fn start_playing(
        &mut self,
        _now: Instant,
        stream_id: &str,
    ) -> Result<(), PlayerError> {
        let Some(room) = self.room.as_mut() else {
            return Err(PlayerError::NotLoggedIn);
        };
        ids::StreamId::new(stream_id).map_err(|_| PlayerError::InvalidStreamId)?;
        if room.players.contains_key(stream_id) {
            return Err(PlayerError::AlreadyPlaying);
        }
        room.players.insert(stream_id.to_owned(), Player::new());
        self.out.player(
            stream_id,
            PlayerState::PlayRequesting,
            ErrorCode::Success,
            NO_DATA.into(),
        );
        self.out.media(MediaCommand::StartPlaying {
            stream_id: stream_id.to_owned(),
        });
        room.request_play(stream_id, &mut self.ctx, &mut self.out);
        Ok(())
    }

    /// Stops playing `stream_id`: `NoPlay(0)` at once.
    pub(crate) fn stop_playing(
        &mut self,
        _now: Instant,
        stream_id: &str,
    ) -> Result<(), PlayerError> {
        let Some(room) = self.room.as_mut() else {
            return Err(PlayerError::NotLoggedIn);
        };
        if room.players.remove(stream_id).is_none() {
            return Err(PlayerError::NotPlaying);
        }
        room.requests
            .retain(|_, r| !matches!(r, Request::Play { stream_id: s, .. } if s == stream_id));
        self.out.player(
            stream_id,
            PlayerState::NoPlay,
            ErrorCode::Success,
            NO_DATA.into(),
        );
        self.out.media(MediaCommand::StopPlaying {
            stream_id: stream_id.to_owned(),
        });
        let request_id = self.ctx.new_request();
        room.requests.insert(
            request_id,
            Request::StopPlay {
                stream_id: stream_id.to_owned(),
                sent_on: None,
            },
        );
        room.flush_requests(&mut self.out);
        Ok(())
    }

    /// Records a mute the app set (it outlives rooms, like the engine's
    /// media settings). When it changes what a published stream sends, the
    /// server is told with `StreamState` (at once if the stream is
    /// confirmed and the link is live; otherwise when it is confirmed or the
    /// session resumes). A stream announced later carries the state in its
    /// `PublishStream`.
    pub(crate) fn set_local_mute(&mut self, _now: Instant, mute: LocalMute, on: bool) {
        self.ctx.mutes.set(mute, on);
        if let Some(room) = self.room.as_mut() {
            room.sync_send_states(&mut self.ctx, &mut self.out);
        }
    }

    /// Delivers an event from the media side (first frames, quality, device
    /// errors) in order with the session's own.
    pub(crate) fn emit(&mut self, event: Event) {
        self.out.event(event);
    }

    /// Feeds what the media side reports about a stream.
    pub(crate) fn handle_media(
        &mut self,
        now: Instant,
        stream_id: &str,
        role: MediaRole,
        fact: MediaFact,
    ) {
        let Some(room) = self.room.as_mut() else {
            return;
        };
        room.on_media(now, stream_id, role, fact, &mut self.ctx, &mut self.out);
    }

    /// Feeds something that happened on connection `conn`.
    pub(crate) fn handle_transport(&mut self, now: Instant, conn: ConnId, input: Transport) {
        let Some(room) = self.room.as_mut() else {
            return;
        };
        if room.link.conn() != Some(conn) {
            tracing::trace!(conn, "ignoring input from a stale connection");
            return;
        }
        if room.on_transport(now, conn, input, &mut self.ctx, &mut self.out) == Flow::End {
            self.room = None;
        }
    }

    /// Runs timers that are due at `now`.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        let Some(room) = self.room.as_mut() else {
            return;
        };
        if room.on_timeout(now, &mut self.ctx, &mut self.out) == Flow::End {
            self.room = None;
        }
    }

    /// The next thing for the driver to do.
    pub(crate) fn poll_output(&mut self) -> Option<Output> {
        self.out.0.pop_front()
    }

    /// When `handle_timeout` must be called next.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.room.as_ref().and_then(Room::next_timeout)
    }
}

// ---------------------------------------------------------------------------

#[derive(Debug)]
struct Ctx {
    config: SessionConfig,
    next_conn: ConnId,
    next_request: u32,
    mutes: LocalMutes,
}

impl Ctx {
    fn new_conn(&mut self) -> ConnId {
        self.next_conn += 1;
        self.next_conn
    }

    fn new_request(&mut self) -> u32 {
        self.next_request = self.next_request.wrapping_add(1);
        self.next_request
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// Backing off before the next connection attempt.
    Waiting { until: Instant },
    /// Connecting; waiting for the server's `Challenge`.
    Connecting { conn: ConnId, deadline: Instant },
    /// `Login` or `Resume` sent; waiting for the answer.
    Authenticating {
        conn: ConnId,
        deadline: Instant,
        resuming: bool,
    },
    /// Logged in.
    Live { conn: ConnId },
}

impl Link {
    fn conn(&self) -> Option<ConnId> {
        match *self {
            Link::Waiting { .. } => None,
            Link::Connecting { conn, .. }
            | Link::Authenticating { conn, .. }
            | Link::Live { conn } => Some(conn),
        }
    }
}

#[derive(Debug)]
struct Publisher {
    stream_id: String,
    state: PublisherState,
    /// The server confirmed the stream in this session.
    acked: bool,
    /// The outstanding `PublishStream` request, once sent.
    request: Option<u32>,
    /// The peer connection to the SFU.
    media: MediaLink,
    /// What the server was last told the stream sends (in `PublishStream` or
    /// `StreamState`) in this server session.
    told: SendState,
}

#[derive(Debug)]
enum Request {
    Publish {
        channel: PublishChannel,
    },
    Stop {
        stream_id: String,
        sent_on: Option<ConnId>,
    },
    Renew {
        token: String,
        sent_on: Option<ConnId>,
    },
    Broadcast {
        text: String,
        deadline: Instant,
        sent_on: Option<ConnId>,
    },
    Play {
        stream_id: String,
        sent_on: Option<ConnId>,
    },
    StopPlay {
        stream_id: String,
        sent_on: Option<ConnId>,
    },
    /// An `SdpOffer` (sent directly when the media side reports it; never resent).
    Offer {
        stream_id: String,
        role: MediaRole,
    },
    /// A `StreamState` (sent directly; after a resume an unanswered one is
    /// replaced by the current state).
    StreamState {
        channel: PublishChannel,
    },
}

impl Request {
    /// The message to (re)send for this request on `conn`, marking it sent;
    /// `None` if it needs no sending there. Publishes are announced by their
    /// publisher; a broadcast goes out at most once (a resend could deliver
    /// it twice); stop and renew are idempotent and resent on a new link.
    fn send_on(&mut self, conn: ConnId, request_id: u32) -> Option<ClientMessage> {
        let (sent_on, once) = match self {
            Request::Publish { .. } | Request::Offer { .. } | Request::StreamState { .. } => {
                return None
            }
            Request::Broadcast { sent_on, .. } => (sent_on, true),
            Request::Stop { sent_on, .. }
            | Request::Renew { sent_on, .. }
            | Request::Play { sent_on, .. }
            | Request::StopPlay { sent_on, .. } => (sent_on, false),
        };
        if sent_on.is_some() && (once || *sent_on == Some(conn)) {
            return None;
        }
        *sent_on = Some(conn);
        Some(match self {
            Request::Broadcast { text, .. } => ClientMessage::SendBroadcast {
                request_id,
                text: text.clone(),
            },
            Request::Stop { stream_id, .. } => ClientMessage::StopPublishing {
                request_id,
                stream_id: stream_id.clone(),
            },
            Request::Renew { token, .. } => ClientMessage::RenewToken {
                request_id,
                token: token.clone(),
            },
            Request::Play { stream_id, .. } => ClientMessage::PlayStream {
                request_id,
                stream_id: stream_id.clone(),
            },
            Request::StopPlay { stream_id, .. } => ClientMessage::StopPlaying {
                request_id,
                stream_id: stream_id.clone(),
            },
            Request::Publish { .. } | Request::Offer { .. } | Request::StreamState { .. } => {
                unreachable!("returned above")
            }
        })
    }
}

#[derive(Debug)]
struct Room {
    room_id: String,
    user: User,
    config: RoomConfig,
    link: Link,
    backoff: Backoff,
    ever_connected: bool,
    /// `(session_id, resume_key)` of the server session.
    resume: Option<(String, String)>,
    last_seq: u64,
    heartbeat_interval: Duration,
    next_heartbeat: Option<Instant>,
    last_rx: Instant,
    token_expires_at: Option<Instant>,
    token_warn_at: Option<Instant>,
    view: View,
    publishers: [Option<Publisher>; 2],
    players: BTreeMap<String, Player>,
    requests: BTreeMap<u32, Request>,
}

impl Room {
    fn on_transport(
        &mut self,
        now: Instant,
        conn: ConnId,
        input: Transport,
        ctx: &mut Ctx,
        out: &mut Outbox,
    ) -> Flow {
        match input {
            Transport::Opened => {
                tracing::debug!(conn, "connection open");
                Flow::Continue
            }
            Transport::Closed(why) => {
                self.lose(now, &why, out);
                Flow::Continue
            }
            Transport::Refused(code, why) => {
                tracing::warn!(%code, why, "connection refused for good");
                let reason = if self.ever_connected {
                    RoomStateChangedReason::ReconnectFailed
                } else {
                    RoomStateChangedReason::LoginFailed
                };
                self.end(code, reason, details(&why), out)
            }
            Transport::Malformed(why) => {
                out.debug(ErrorCode::MalformedMessage, "on_message", why);
                Flow::Continue
            }
            Transport::Message(msg) => {
                self.last_rx = now;
                self.on_message(now, conn, msg, ctx, out)
            }
        }
    }

    fn on_message(
        &mut self,
        now: Instant,
        conn: ConnId,
        msg: ServerMessage,
        ctx: &mut Ctx,
        out: &mut Outbox,
    ) -> Flow {
        match msg {
            ServerMessage::Challenge { version, nonce } => {
                let Link::Connecting { deadline, .. } = self.link else {
                    out.debug(
                        ErrorCode::WrongState,
                        "on_challenge",
                        "unexpected challenge",
                    );
                    return Flow::Continue;
                };
                if version != PROTOCOL_VERSION {
                    tracing::warn!(version, "server speaks another protocol version");
                }
                let msg = match &self.resume {
                    Some((session_id, resume_key)) => ClientMessage::Resume(Resume {
                        version: PROTOCOL_VERSION,
                        session_id: session_id.clone(),
                        resume_key: resume_key.clone(),
                        last_seq: self.last_seq,
                    }),
                    None => ClientMessage::Login(self.login_message(&ctx.config, &nonce)),
                };
                out.send(conn, msg);
                self.link = Link::Authenticating {
                    conn,
                    deadline,
                    resuming: self.resume.is_some(),
                };
            }
            ServerMessage::LoginOk(ok) => {
                if matches!(
                    self.link,
                    Link::Authenticating {
                        resuming: false,
                        ..
                    }
                ) {
                    self.on_login_ok(now, conn, ok, ctx, out);
                } else {
                    out.debug(ErrorCode::WrongState, "on_login_ok", "unexpected login_ok");
                }
            }
            ServerMessage::LoginFailed { code, message } => {
                if matches!(
                    self.link,
                    Link::Authenticating {
                        resuming: false,
                        ..
                    }
                ) {
                    let reason = if self.ever_connected {
                        RoomStateChangedReason::ReconnectFailed
                    } else {
                        RoomStateChangedReason::LoginFailed
                    };
                    return self.end(code, reason, details(&message), out);
                }
                out.debug(code, "on_login_failed", message);
            }
            ServerMessage::Resumed { missed } => {
                if matches!(self.link, Link::Authenticating { resuming: true, .. }) {
                    self.on_resumed(now, conn, missed, ctx, out);
                } else {
                    out.debug(ErrorCode::WrongState, "on_resumed", "unexpected resumed");
                }
            }
            ServerMessage::ResumeFailed { code, message } => {
                if !matches!(self.link, Link::Authenticating { resuming: true, .. }) {
                    out.debug(code, "on_resume_failed", message);
                } else if code == ErrorCode::KickedOut {
                    return self.end(
                        code,
                        RoomStateChangedReason::KickOut,
                        details(&message),
                        out,
                    );
                } else {
                    self.session_gone(now, code, ctx, out);
                }
            }
            ServerMessage::Event(se) => {
                if matches!(self.link, Link::Live { .. }) {
                    self.apply_event(se, out);
                }
            }
            ServerMessage::HeartbeatAck { .. } => {}
            ServerMessage::Ack { request_id, body } => self.on_ack(now, request_id, body, ctx, out),
            ServerMessage::Error {
                request_id,
                code,
                message,
                fatal,
            } => match request_id {
                Some(id) => self.on_request_error(now, id, code, message, out),
                None => {
                    if fatal {
                        tracing::warn!(%code, %message, "fatal server error");
                    }
                    out.debug(code, "server", message);
                }
            },
            // Older servers report an expired session as a kick: it is not one.
            ServerMessage::SessionExpired { code, .. }
            | ServerMessage::Kicked {
                code: code @ ErrorCode::SessionExpired,
                ..
            } => self.session_gone(now, code, ctx, out),
            ServerMessage::Kicked { code, message } => {
                return self.end(
                    code,
                    RoomStateChangedReason::KickOut,
                    details(&message),
                    out,
                );
            }
            ServerMessage::Shutdown { code, message } => {
                out.debug(code, "server", message);
                self.lose(now, "server shutting down", out);
            }
            ServerMessage::SdpAnswer {
                request_id,
                stream_id,
                role,
                sdp,
            } => {
                if self.requests.remove(&request_id).is_some() {
                    out.media(MediaCommand::Answer {
                        stream_id,
                        role,
                        sdp,
                    });
                }
            }
            ServerMessage::TrickleIce {
                stream_id,
                role,
                candidate,
            } => out.media(MediaCommand::RemoteCandidate {
                stream_id,
                role,
                candidate,
            }),
            ServerMessage::StreamReady { stream_id } => self.on_stream_ready(now, &stream_id, out),
            ServerMessage::StreamEnded { stream_id } => self.on_stream_ended(&stream_id, out),
        }
        Flow::Continue
    }

    fn login_message(&self, config: &SessionConfig, nonce: &str) -> Login {
        let credentials = match &self.config.token {
            Some(token) => Credentials::Token {
                token: token.clone(),
            },
            None => Credentials::AppSign {
                proof: protocol::auth::login_proof(
                    &config.app_sign,
                    config.app_id,
                    &self.room_id,
                    &self.user.user_id,
                    nonce,
                ),
            },
        };
        Login {
            version: PROTOCOL_VERSION,
            app_id: config.app_id,
            room_id: self.room_id.clone(),
            user: self.user.to_wire(),
            credentials,
            notify_users: self.config.is_user_status_notify,
            max_member_count: self.config.max_member_count,
        }
    }

    fn on_login_ok(
        &mut self,
        now: Instant,
        conn: ConnId,
        ok: LoginOk,
        ctx: &mut Ctx,
        out: &mut Outbox,
    ) {
        let relogin = self.ever_connected;
        self.resume = Some((ok.session_id, ok.resume_key));
        self.last_seq = ok.seq;
        // Before any negotiation below: new peer connections use them.
        out.media(MediaCommand::IceServers(ok.ice_servers));
        self.heartbeat_interval = match ok.heartbeat_interval_ms {
            0 => DEFAULT_HEARTBEAT,
            ms => Duration::from_millis(ms).max(MIN_HEARTBEAT),
        };
        self.next_heartbeat = Some(now + self.heartbeat_interval);
        self.link = Link::Live { conn };
        self.ever_connected = true;
        let reason = if relogin {
            RoomStateChangedReason::Reconnected
        } else {
            RoomStateChangedReason::Logined
        };
        out.state(
            &self.room_id,
            RoomState::Connected,
            reason,
            ErrorCode::Success,
            NO_DATA.into(),
        );

        let snapshot = View::from_wire_snapshot(
            ok.users.into_iter().map(User::from_wire).collect(),
            ok.streams,
            ok.online_count,
        );
        let notify = self.config.is_user_status_notify;
        let room_id = self.room_id.clone();
        if relogin {
            let d = self.view.diff(&snapshot);
            if notify {
                out.users(&room_id, UpdateType::Delete, d.users_gone);
                out.users(&room_id, UpdateType::Add, d.users_new);
                if snapshot.online_count != self.view.online_count {
                    out.event(Event::RoomOnlineUserCountUpdate {
                        room_id: room_id.clone(),
                        count: snapshot.online_count,
                    });
                }
            }
            out.streams(&room_id, UpdateType::Delete, d.streams_gone);
            let appeared: Vec<String> = d.streams_new.iter().map(|s| s.stream_id.clone()).collect();
            out.streams(&room_id, UpdateType::Add, d.streams_new);
            // New streams report their devices; kept ones only what changed.
            for s in snapshot.streams() {
                if let Some(new) = snapshot.devices(&s.stream_id) {
                    let old = if appeared.contains(&s.stream_id) {
                        None
                    } else {
                        self.view.devices(&s.stream_id)
                    };
                    out.devices(&s.stream_id, old, new);
                }
            }
        } else {
            if notify {
                out.users(&room_id, UpdateType::Add, snapshot.users());
                out.event(Event::RoomOnlineUserCountUpdate {
                    room_id: room_id.clone(),
                    count: snapshot.online_count,
                });
            }
            out.streams(&room_id, UpdateType::Add, snapshot.streams());
            for s in snapshot.streams() {
                if let Some(new) = snapshot.devices(&s.stream_id) {
                    out.devices(&s.stream_id, None, new);
                }
            }
        }
        self.view = snapshot;
        self.set_token_expiry(now, ok.token_expires_in_ms, out);

        // A new server session: only broadcasts survive (unsent ones go out
        // now, sent ones time out); the token in the login is already current.
        // The old session's peer connections are gone on the server: close
        // ours, claim the streams again and ask to play again.
        self.requests
            .retain(|_, r| matches!(r, Request::Broadcast { .. }));
        for channel in [PublishChannel::Main, PublishChannel::Aux] {
            if let Some(p) = self.publishers[channel.index()].as_mut() {
                p.acked = false;
                p.request = None;
                if p.media != MediaLink::Idle {
                    p.media = MediaLink::Idle;
                    out.media(MediaCommand::CloseTransport {
                        stream_id: p.stream_id.clone(),
                        role: MediaRole::Publish,
                    });
                }
                self.announce(channel, conn, ctx, out);
            }
        }
        let played: Vec<String> = self.players.keys().cloned().collect();
        for stream_id in played {
            if let Some(player) = self.players.get_mut(&stream_id) {
                let had_media = player.media != MediaLink::Idle;
                *player = Player {
                    state: player.state,
                    ..Player::new()
                };
                if had_media {
                    out.media(MediaCommand::CloseTransport {
                        stream_id: stream_id.clone(),
                        role: MediaRole::Play,
                    });
                }
            }
            self.request_play(&stream_id, ctx, out);
        }
        self.flush_requests(out);
    }

    fn on_resumed(
        &mut self,
        now: Instant,
        conn: ConnId,
        missed: Vec<SequencedEvent>,
        ctx: &mut Ctx,
        out: &mut Outbox,
    ) {
        self.link = Link::Live { conn };
        self.next_heartbeat = Some(now + self.heartbeat_interval);
        // Connected first, then what changed while away: the same order as a
        // fresh login (state, then user/stream updates).
        out.state(
            &self.room_id,
            RoomState::Connected,
            RoomStateChangedReason::Reconnected,
            ErrorCode::Success,
            NO_DATA.into(),
        );
        for se in missed {
            self.apply_event(se, out);
        }
        // Answers lost with the old connection will not come: offers restart,
        // and a state that may not have arrived is sent again below.
        let mut unanswered = [false; 2];
        self.requests.retain(|_, r| match r {
            Request::Offer { .. } => false,
            Request::StreamState { channel } => {
                unanswered[channel.index()] = true;
                false
            }
            _ => true,
        });
        for channel in [PublishChannel::Main, PublishChannel::Aux] {
            let Some(p) = self.publishers[channel.index()].as_mut() else {
                continue;
            };
            if !p.acked {
                if let Some(old) = p.request.take() {
                    self.requests.remove(&old);
                }
                self.announce(channel, conn, ctx, out);
            } else if p.media == MediaLink::Connected {
                p.state = PublisherState::Publishing;
                out.publisher(&p.stream_id, p.state, ErrorCode::Success, NO_DATA.into());
            } else {
                let stream_id = p.stream_id.clone();
                p.media = negotiate(now, &stream_id, MediaRole::Publish, out);
            }
        }
        for (stream_id, player) in self.players.iter_mut() {
            match player.media {
                MediaLink::Connected => {
                    player.state = PlayerState::Playing;
                    out.player(stream_id, player.state, ErrorCode::Success, NO_DATA.into());
                }
                MediaLink::Negotiating { .. } if player.live => {
                    player.media = negotiate(now, stream_id, MediaRole::Play, out);
                }
                _ => {}
            }
        }
        for channel in [PublishChannel::Main, PublishChannel::Aux] {
            if unanswered[channel.index()] {
                self.send_state(channel, ctx, out);
            }
        }
        self.sync_send_states(ctx, out);
        self.flush_requests(out);
    }

    /// Sends `PublishStream` for the publisher on `channel`.
    fn announce(&mut self, channel: PublishChannel, conn: ConnId, ctx: &mut Ctx, out: &mut Outbox) {
        let Some(p) = self.publishers[channel.index()].as_mut() else {
            return;
        };
        let request_id = ctx.new_request();
        p.request = Some(request_id);
        p.told = ctx.mutes.of(channel);
        self.requests
            .insert(request_id, Request::Publish { channel });
        out.send(
            conn,
            ClientMessage::PublishStream {
                request_id,
                stream_id: p.stream_id.clone(),
                extra_info: String::new(),
                audio_muted: p.told.audio_muted,
                video_muted: p.told.video_muted,
            },
        );
    }

    /// Tells the server what each confirmed stream sends now, where that
    /// differs from what it was last told. Needs a live link: on a resume
    /// [`Room::on_resumed`] calls this again; unconfirmed streams announce
    /// their state when confirmed.
    fn sync_send_states(&mut self, ctx: &mut Ctx, out: &mut Outbox) {
        for channel in [PublishChannel::Main, PublishChannel::Aux] {
            let stale = self.publishers[channel.index()]
                .as_ref()
                .is_some_and(|p| p.acked && p.told != ctx.mutes.of(channel));
            if stale {
                self.send_state(channel, ctx, out);
            }
        }
    }

    /// Sends `StreamState` with what the confirmed stream on `channel` sends
    /// now, if the link is live.
    fn send_state(&mut self, channel: PublishChannel, ctx: &mut Ctx, out: &mut Outbox) {
        let Link::Live { conn } = self.link else {
            return;
        };
        let Some(p) = self.publishers[channel.index()]
            .as_mut()
            .filter(|p| p.acked)
        else {
            return;
        };
        p.told = ctx.mutes.of(channel);
        let request_id = ctx.new_request();
        self.requests
            .insert(request_id, Request::StreamState { channel });
        out.send(
            conn,
            ClientMessage::StreamState {
                request_id,
                stream_id: p.stream_id.clone(),
                audio_muted: p.told.audio_muted,
                video_muted: p.told.video_muted,
            },
        );
    }

    /// Sends queued requests not yet sent on the live connection. Broadcasts
    /// are sent at most once (a resend could deliver twice).
    fn flush_requests(&mut self, out: &mut Outbox) {
        let Link::Live { conn } = self.link else {
            return;
        };
        for (&request_id, req) in self.requests.iter_mut() {
            if let Some(msg) = req.send_on(conn, request_id) {
                out.send(conn, msg);
            }
        }
    }

    fn apply_event(&mut self, se: SequencedEvent, out: &mut Outbox) {
        if se.seq <= self.last_seq {
            tracing::trace!(seq = se.seq, "duplicate event ignored");
            return;
        }
        self.last_seq = se.seq;
        let room_id = self.room_id.clone();
        match se.event {
            RoomEvent::UserUpdate { update_type, users } => {
                let users: Vec<User> = users.into_iter().map(User::from_wire).collect();
                let update_type = UpdateType::from_wire(update_type);
                self.view.apply_users(update_type, &users);
                out.users(&room_id, update_type, users);
            }
            RoomEvent::OnlineUserCount { count } => {
                self.view.online_count = count;
                out.event(Event::RoomOnlineUserCountUpdate { room_id, count });
            }
            RoomEvent::StreamUpdate {
                update_type,
                streams,
            } => {
                let devices: Vec<(String, RemoteDevices)> = streams
                    .iter()
                    .map(|s| (s.stream_id.clone(), RemoteDevices::of(s)))
                    .collect();
                let streams: Vec<Stream> = streams.into_iter().map(Stream::from_wire).collect();
                let update_type = UpdateType::from_wire(update_type);
                self.view.apply_streams(update_type, &streams);
                out.streams(&room_id, update_type, streams);
                if update_type == UpdateType::Add {
                    for (stream_id, new) in devices {
                        if self.view.set_devices(&stream_id, new).is_some() {
                            out.devices(&stream_id, None, new);
                        }
                    }
                }
            }
            RoomEvent::StreamStateUpdate {
                stream_id,
                audio_muted,
                video_muted,
            } => {
                let new = RemoteDevices::from_muted(audio_muted, video_muted);
                // Streams not in the view (unknown, or our own) are ignored.
                if let Some(old) = self.view.set_devices(&stream_id, new) {
                    out.devices(&stream_id, old, new);
                }
            }
            RoomEvent::Broadcast { message } => out.event(Event::RoomBroadcastMessage {
                room_id,
                messages: vec![BroadcastMessage::from_wire(message)],
            }),
        }
    }

    fn on_ack(
        &mut self,
        now: Instant,
        request_id: u32,
        body: AckBody,
        ctx: &mut Ctx,
        out: &mut Outbox,
    ) {
        let Some(req) = self.requests.remove(&request_id) else {
            tracing::debug!(request_id, "ack for an unknown or finished request");
            return;
        };
        match (req, body) {
            (Request::Publish { channel }, AckBody::StreamPublished { .. }) => {
                if let Some(p) = self.publishers[channel.index()].as_mut() {
                    if p.request == Some(request_id) {
                        p.request = None;
                        p.acked = true;
                        // Publishing once the media connection is up.
                        let stream_id = p.stream_id.clone();
                        p.media = negotiate(now, &stream_id, MediaRole::Publish, out);
                        // A mute changed while the announcement was on its way.
                        self.sync_send_states(ctx, out);
                    }
                }
            }
            (Request::StreamState { .. }, AckBody::StreamStateUpdated { .. }) => {}
            (Request::Play { stream_id, .. }, AckBody::PlayAccepted { .. }) => {
                if let Some(player) = self.players.get_mut(&stream_id) {
                    player.accepted = true;
                }
            }
            (Request::StopPlay { .. }, AckBody::PlayStopped { .. }) => {}
            (Request::Broadcast { .. }, AckBody::BroadcastSent { message_id }) => {
                out.push(Output::BroadcastDone {
                    request: request_id,
                    result: Ok(message_id),
                });
            }
            (
                Request::Renew { .. },
                AckBody::TokenRenewed {
                    expires_in_ms,
                    publish,
                    ice_servers,
                },
            ) => {
                self.set_token_expiry(now, Some(expires_in_ms), out);
                if !ice_servers.is_empty() {
                    // Fresh TURN credentials for the connections made from now on.
                    out.media(MediaCommand::IceServers(ice_servers));
                }
                if !publish {
                    // The server already withdrew every stream we published.
                    for channel in [PublishChannel::Main, PublishChannel::Aux] {
                        self.drop_publisher(
                            channel,
                            ErrorCode::TokenNoPublishPrivilege,
                            NO_DATA.into(),
                            out,
                        );
                    }
                }
            }
            (Request::Stop { .. }, AckBody::StreamStopped { .. }) => {}
            (req, body) => {
                out.debug(
                    ErrorCode::WrongState,
                    "on_ack",
                    format!("ack {body:?} does not match request {req:?}"),
                );
            }
        }
    }

    fn on_request_error(
        &mut self,
        now: Instant,
        request_id: u32,
        code: ErrorCode,
        message: String,
        out: &mut Outbox,
    ) {
        let Some(req) = self.requests.remove(&request_id) else {
            out.debug(code, "server", message);
            return;
        };
        match req {
            Request::Publish { channel } => {
                // Refused for good: nothing re-announces it after a reconnect.
                let ours = self.publishers[channel.index()]
                    .as_ref()
                    .is_some_and(|p| p.request == Some(request_id));
                if ours {
                    self.drop_publisher(channel, code, details(&message), out);
                }
            }
            Request::Broadcast { .. } => out.push(Output::BroadcastDone {
                request: request_id,
                result: Err(RoomError::Rejected(code)),
            }),
            Request::Renew { .. } => out.debug(code, "renew_token", message),
            Request::Stop { .. } => out.debug(code, "stop_publishing_stream", message),
            Request::StreamState { .. } => out.debug(code, "stream_state", message),
            Request::StopPlay { .. } => out.debug(code, "stop_playing_stream", message),
            Request::Play { stream_id, .. } => {
                if self.players.remove(&stream_id).is_some() {
                    out.player(&stream_id, PlayerState::NoPlay, code, details(&message));
                    out.media(MediaCommand::StopPlaying { stream_id });
                }
            }
            Request::Offer { stream_id, role } => {
                self.on_media_failed(now, &stream_id, role, code, &message, out);
            }
        }
    }

    /// Queues a `PlayStream` request for `stream_id`.
    fn request_play(&mut self, stream_id: &str, ctx: &mut Ctx, out: &mut Outbox) {
        let request_id = ctx.new_request();
        self.requests.insert(
            request_id,
            Request::Play {
                stream_id: stream_id.to_owned(),
                sent_on: None,
            },
        );
        self.flush_requests(out);
    }

    fn on_stream_ready(&mut self, now: Instant, stream_id: &str, out: &mut Outbox) {
        let Some(player) = self.players.get_mut(stream_id) else {
            return;
        };
        player.live = true;
        if player.media != MediaLink::Connected {
            player.media = negotiate(now, stream_id, MediaRole::Play, out);
        }
    }

    fn on_stream_ended(&mut self, stream_id: &str, out: &mut Outbox) {
        let Some(player) = self.players.get_mut(stream_id) else {
            return;
        };
        player.live = false;
        if player.media != MediaLink::Idle {
            player.media = MediaLink::Idle;
            out.media(MediaCommand::CloseTransport {
                stream_id: stream_id.to_owned(),
                role: MediaRole::Play,
            });
        }
        player.state = PlayerState::PlayRequesting;
        out.player(
            stream_id,
            player.state,
            ErrorCode::StreamEnded,
            NO_DATA.into(),
        );
    }

    /// What the media side reports about a stream's peer connection.
    fn on_media(
        &mut self,
        now: Instant,
        stream_id: &str,
        role: MediaRole,
        fact: MediaFact,
        ctx: &mut Ctx,
        out: &mut Outbox,
    ) {
        let live_conn = match self.link {
            Link::Live { conn } => Some(conn),
            _ => None,
        };
        match fact {
            MediaFact::Offer(sdp) => {
                if self.media_link(stream_id, role).is_none() {
                    return;
                }
                let Some(conn) = live_conn else {
                    // Renegotiated after the signaling comes back (on_resumed).
                    return;
                };
                let request_id = ctx.new_request();
                self.requests.insert(
                    request_id,
                    Request::Offer {
                        stream_id: stream_id.to_owned(),
                        role,
                    },
                );
                out.send(
                    conn,
                    ClientMessage::SdpOffer {
                        request_id,
                        stream_id: stream_id.to_owned(),
                        role,
                        sdp,
                    },
                );
            }
            MediaFact::Candidate(candidate) => {
                if let (Some(conn), Some(_)) = (live_conn, self.media_link(stream_id, role)) {
                    out.send(
                        conn,
                        ClientMessage::TrickleIce {
                            stream_id: stream_id.to_owned(),
                            role,
                            candidate,
                        },
                    );
                }
            }
            MediaFact::Connected => {
                self.on_media_connected(stream_id, role, live_conn.is_some(), out)
            }
            MediaFact::Failed(why) => {
                let code = match role {
                    MediaRole::Publish => ErrorCode::PublishTransportFailed,
                    MediaRole::Play => ErrorCode::PlayTransportFailed,
                };
                self.on_media_failed(now, stream_id, role, code, &why, out);
            }
        }
    }

    /// The media link of a stream this session publishes or plays.
    fn media_link(&mut self, stream_id: &str, role: MediaRole) -> Option<&mut MediaLink> {
        match role {
            MediaRole::Publish => self
                .publishers
                .iter_mut()
                .flatten()
                .find(|p| p.stream_id == stream_id)
                .map(|p| &mut p.media),
            MediaRole::Play => self.players.get_mut(stream_id).map(|p| &mut p.media),
        }
    }

    fn on_media_connected(
        &mut self,
        stream_id: &str,
        role: MediaRole,
        signaling_up: bool,
        out: &mut Outbox,
    ) {
        match role {
            MediaRole::Publish => {
                let Some(p) = self
                    .publishers
                    .iter_mut()
                    .flatten()
                    .find(|p| p.stream_id == stream_id)
                else {
                    return;
                };
                p.media = MediaLink::Connected;
                if p.acked && signaling_up && p.state != PublisherState::Publishing {
                    p.state = PublisherState::Publishing;
                    out.publisher(stream_id, p.state, ErrorCode::Success, NO_DATA.into());
                }
            }
            MediaRole::Play => {
                let Some(player) = self.players.get_mut(stream_id) else {
                    return;
                };
                player.media = MediaLink::Connected;
                if signaling_up && player.state != PlayerState::Playing {
                    player.state = PlayerState::Playing;
                    out.player(stream_id, player.state, ErrorCode::Success, NO_DATA.into());
                }
            }
        }
    }

    /// A stream's peer connection failed (or its offer was refused): report
    /// it and renegotiate after [`MEDIA_RETRY`] if there is still something to
    /// connect to.
    fn on_media_failed(
        &mut self,
        now: Instant,
        stream_id: &str,
        role: MediaRole,
        code: ErrorCode,
        why: &str,
        out: &mut Outbox,
    ) {
        tracing::info!(stream_id, ?role, %code, why, "media connection failed");
        match role {
            MediaRole::Publish => {
                let Some(p) = self
                    .publishers
                    .iter_mut()
                    .flatten()
                    .find(|p| p.stream_id == stream_id)
                else {
                    return;
                };
                p.media = MediaLink::Retry {
                    at: now + MEDIA_RETRY,
                };
                p.state = PublisherState::PublishRequesting;
                out.publisher(stream_id, p.state, code, details(why));
            }
            MediaRole::Play => {
                let Some(player) = self.players.get_mut(stream_id) else {
                    return;
                };
                // A stream that is not live waits for StreamReady instead.
                player.media = if player.live && code != ErrorCode::StreamNotLive {
                    MediaLink::Retry {
                        at: now + MEDIA_RETRY,
                    }
                } else {
                    MediaLink::Idle
                };
                player.state = PlayerState::PlayRequesting;
                out.player(stream_id, player.state, code, details(why));
            }
        }
        out.media(MediaCommand::CloseTransport {
            stream_id: stream_id.to_owned(),
            role,
        });
    }

    /// Retries failed media links and gives up on negotiations that hang.
    fn on_media_timers(&mut self, now: Instant, out: &mut Outbox) {
        if !matches!(self.link, Link::Live { .. }) {
            return;
        }
        let mut due: Vec<(String, MediaRole, bool)> = Vec::new();
        for p in self.publishers.iter().flatten() {
            match p.media {
                MediaLink::Retry { at } if now >= at => {
                    due.push((p.stream_id.clone(), MediaRole::Publish, true))
                }
                MediaLink::Negotiating { deadline } if now >= deadline => {
                    due.push((p.stream_id.clone(), MediaRole::Publish, false))
                }
                _ => {}
            }
        }
        for (stream_id, player) in &self.players {
            match player.media {
                MediaLink::Retry { at } if now >= at => {
                    due.push((stream_id.clone(), MediaRole::Play, true))
                }
                MediaLink::Negotiating { deadline } if now >= deadline => {
                    due.push((stream_id.clone(), MediaRole::Play, false))
                }
                _ => {}
            }
        }
        for (stream_id, role, retry) in due {
            if retry {
                let link = negotiate(now, &stream_id, role, out);
                if let Some(l) = self.media_link(&stream_id, role) {
                    *l = link;
                }
            } else {
                let code = match role {
                    MediaRole::Publish => ErrorCode::PublishTransportFailed,
                    MediaRole::Play => ErrorCode::PlayTransportFailed,
                };
                self.on_media_failed(now, &stream_id, role, code, "negotiation timed out", out);
            }
        }
    }

    fn set_token_expiry(&mut self, now: Instant, expires_in_ms: Option<u64>, out: &mut Outbox) {
        self.token_warn_at = None;
        self.token_expires_at = None;
        let Some(ms) = expires_in_ms else {
            return;
        };
        let left = Duration::from_millis(ms);
        self.token_expires_at = Some(now + left);
        if left <= TOKEN_WARNING {
            out.event(Event::RoomTokenWillExpire {
                room_id: self.room_id.clone(),
                remain_time_in_second: whole_seconds(left),
            });
        } else {
            self.token_warn_at = Some(now + (left - TOKEN_WARNING));
        }
    }

    fn on_timeout(&mut self, now: Instant, ctx: &mut Ctx, out: &mut Outbox) -> Flow {
        match self.link {
            Link::Live { conn } => {
                if now >= self.silence_deadline() {
                    self.lose(now, "server silent", out);
                } else if self.next_heartbeat.is_some_and(|t| now >= t) {
                    out.send(conn, ClientMessage::Heartbeat { ack: self.last_seq });
                    self.next_heartbeat = Some(now + self.heartbeat_interval);
                }
            }
            _ if now >= self.backoff.window_end() => {
                let reason = if self.ever_connected {
                    RoomStateChangedReason::ReconnectFailed
                } else {
                    RoomStateChangedReason::LoginFailed
                };
                return self.end(ErrorCode::ReconnectTimeout, reason, NO_DATA.into(), out);
            }
            Link::Waiting { until } => {
                if now >= until {
                    self.connect(now, ctx, out);
                }
            }
            Link::Connecting { deadline, .. } | Link::Authenticating { deadline, .. } => {
                if now >= deadline {
                    self.lose(now, "handshake timed out", out);
                }
            }
        }
        if let (Some(warn), Some(expires)) = (self.token_warn_at, self.token_expires_at) {
            if now >= warn {
                self.token_warn_at = None;
                out.event(Event::RoomTokenWillExpire {
                    room_id: self.room_id.clone(),
                    remain_time_in_second: whole_seconds(expires.saturating_duration_since(now)),
                });
            }
        }
        self.on_media_timers(now, out);
        let expired: Vec<u32> = self
            .requests
            .iter()
            .filter(|(_, r)| matches!(r, Request::Broadcast { deadline, .. } if now >= *deadline))
            .map(|(&id, _)| id)
            .collect();
        for request in expired {
            self.requests.remove(&request);
            out.push(Output::BroadcastDone {
                request,
                result: Err(RoomError::RequestTimeout),
            });
        }
        Flow::Continue
    }

    fn next_timeout(&self) -> Option<Instant> {
        let link = match self.link {
            Link::Live { .. } => match self.next_heartbeat {
                Some(hb) => hb.min(self.silence_deadline()),
                None => self.silence_deadline(),
            },
            Link::Waiting { until } => until.min(self.backoff.window_end()),
            Link::Connecting { deadline, .. } | Link::Authenticating { deadline, .. } => {
                deadline.min(self.backoff.window_end())
            }
        };
        let broadcasts = self.requests.values().filter_map(|r| match r {
            Request::Broadcast { deadline, .. } => Some(*deadline),
            _ => None,
        });
        let media = self
            .publishers
            .iter()
            .flatten()
            .filter_map(|p| p.media.deadline())
            .chain(self.players.values().filter_map(|p| p.media.deadline()));
        std::iter::once(link)
            .chain(self.token_warn_at)
            .chain(broadcasts)
            .chain(media)
            .min()
    }

    fn silence_deadline(&self) -> Instant {
        self.last_rx + self.heartbeat_interval * 2 + SILENCE_GRACE
    }

    /// Opens a new connection attempt.
    fn connect(&mut self, now: Instant, ctx: &mut Ctx, out: &mut Outbox) {
        let conn = ctx.new_conn();
        self.link = Link::Connecting {
            conn,
            deadline: now + HANDSHAKE_TIMEOUT,
        };
        self.last_rx = now;
        out.push(Output::Connect { conn });
    }

    /// The connection is gone (or must be given up): report the interruption
    /// if we were connected, then wait for the next backoff step.
    fn lose(&mut self, now: Instant, why: &str, out: &mut Outbox) {
        tracing::info!(room_id = %self.room_id, why, "connection to the room server lost");
        if let Some(conn) = self.link.conn() {
            out.push(Output::Close { conn });
        }
        if matches!(self.link, Link::Live { .. }) {
            out.state(
                &self.room_id,
                RoomState::Connecting,
                RoomStateChangedReason::Reconnecting,
                ErrorCode::NetworkInterrupted,
                NO_DATA.into(),
            );
            for p in self.publishers.iter_mut().flatten() {
                p.state = PublisherState::PublishRequesting;
                out.publisher(
                    &p.stream_id,
                    p.state,
                    ErrorCode::NetworkInterrupted,
                    NO_DATA.into(),
                );
            }
            for (stream_id, player) in self.players.iter_mut() {
                if player.state == PlayerState::Playing {
                    player.state = PlayerState::PlayRequesting;
                    out.player(
                        stream_id,
                        player.state,
                        ErrorCode::NetworkInterrupted,
                        NO_DATA.into(),
                    );
                }
            }
            self.backoff = Backoff::new(self.backoff_policy(), now);
            self.next_heartbeat = None;
        }
        let delay = self.backoff.next_delay();
        self.link = Link::Waiting { until: now + delay };
    }

    /// The server no longer has this session (it expired, or a resume was
    /// refused): the resume credentials are useless, so log in afresh. While
    /// live this is a lost connection (reported, retried with backoff in the
    /// retry window); a refused resume logs in at once on a new connection.
    /// Either way `LoginOk` then runs the relogin path (republish, replay).
    fn session_gone(&mut self, now: Instant, code: ErrorCode, ctx: &mut Ctx, out: &mut Outbox) {
        tracing::info!(room_id = %self.room_id, %code, "server session gone; logging in again");
        self.resume = None;
        match self.link {
            Link::Authenticating {
                conn,
                resuming: true,
                ..
            } => {
                out.push(Output::Close { conn });
                self.connect(now, ctx, out);
            }
            _ => self.lose(now, "server session gone", out),
        }
    }

    /// Ends the publisher on `channel` for good, if there is one: reports
    /// `NoPublish` with `code`, stops its pipeline and forgets its unanswered
    /// `PublishStream`, so nothing retries or re-announces it. Returns it.
    fn drop_publisher(
        &mut self,
        channel: PublishChannel,
        code: ErrorCode,
        data: String,
        out: &mut Outbox,
    ) -> Option<Publisher> {
        let p = self.publishers[channel.index()].take()?;
        if let Some(id) = p.request {
            self.requests.remove(&id);
        }
        out.publisher(&p.stream_id, PublisherState::NoPublish, code, data);
        out.media(MediaCommand::StopPublishing { channel });
        Some(p)
    }

    fn backoff_policy(&self) -> ReconnectPolicy {
        self.backoff.policy()
    }

    /// Ends the room: closes the connection, stops publishers, fails pending
    /// broadcasts and reports `Disconnected(code)`.
    fn end(
        &mut self,
        code: ErrorCode,
        reason: RoomStateChangedReason,
        data: String,
        out: &mut Outbox,
    ) -> Flow {
        if let Some(conn) = self.link.conn() {
            out.push(Output::Close { conn });
        }
        for channel in [PublishChannel::Main, PublishChannel::Aux] {
            self.drop_publisher(channel, code, NO_DATA.into(), out);
        }
        for (stream_id, _) in std::mem::take(&mut self.players) {
            out.player(&stream_id, PlayerState::NoPlay, code, NO_DATA.into());
            out.media(MediaCommand::StopPlaying { stream_id });
        }
        for (request, req) in std::mem::take(&mut self.requests) {
            if matches!(req, Request::Broadcast { .. }) {
                out.push(Output::BroadcastDone {
                    request,
                    result: Err(RoomError::LoggedOut),
                });
            }
        }
        out.state(&self.room_id, RoomState::Disconnected, reason, code, data);
        Flow::End
    }
}

/// Outputs waiting for the driver, with helpers that build events.
#[derive(Debug, Default)]
struct Outbox(VecDeque<Output>);

impl Outbox {
    fn push(&mut self, o: Output) {
        self.0.push_back(o);
    }

    fn send(&mut self, conn: ConnId, msg: ClientMessage) {
        self.push(Output::Send { conn, msg });
    }

    fn event(&mut self, e: Event) {
        self.push(Output::Event(e));
    }

    fn state(
        &mut self,
        room_id: &str,
        state: RoomState,
        reason: RoomStateChangedReason,
        code: ErrorCode,
        extended_data: String,
    ) {
        self.event(Event::RoomStateUpdate {
            room_id: room_id.to_owned(),
            state,
            error_code: code.code(),
            extended_data: extended_data.clone(),
        });
        self.event(Event::RoomStateChanged {
            room_id: room_id.to_owned(),
            reason,
            error_code: code.code(),
            extended_data,
        });
    }

    fn publisher(
        &mut self,
        stream_id: &str,
        state: PublisherState,
        code: ErrorCode,
        extended_data: String,
    ) {
        self.event(Event::PublisherStateUpdate {
            stream_id: stream_id.to_owned(),
            state,
            error_code: code.code(),
            extended_data,
        });
    }

    fn player(
        &mut self,
        stream_id: &str,
        state: PlayerState,
        code: ErrorCode,
        extended_data: String,
    ) {
        self.event(Event::PlayerStateUpdate {
            stream_id: stream_id.to_owned(),
            state,
            error_code: code.code(),
            extended_data,
        });
    }

    fn media(&mut self, command: MediaCommand) {
        self.push(Output::Media(command));
    }

    fn users(&mut self, room_id: &str, update_type: UpdateType, users: Vec<User>) {
        if !users.is_empty() {
            self.event(Event::RoomUserUpdate {
                room_id: room_id.to_owned(),
                update_type,
                users,
            });
        }
    }

    fn streams(&mut self, room_id: &str, update_type: UpdateType, streams: Vec<Stream>) {
        if !streams.is_empty() {
            self.event(Event::RoomStreamUpdate {
                room_id: room_id.to_owned(),
                update_type,
                streams,
                extended_data: NO_DATA.into(),
            });
        }
    }

    /// Reports a remote stream's microphone and camera: each one that differs
    /// from `old` (both when `old` is `None`: the stream just appeared).
    fn devices(&mut self, stream_id: &str, old: Option<RemoteDevices>, new: RemoteDevices) {
        if old.map(|o| o.mic) != Some(new.mic) {
            self.event(Event::RemoteMicStateUpdate {
                stream_id: stream_id.to_owned(),
                state: new.mic,
            });
        }
        if old.map(|o| o.camera) != Some(new.camera) {
            self.event(Event::RemoteCameraStateUpdate {
                stream_id: stream_id.to_owned(),
                state: new.camera,
            });
        }
    }

    fn debug(&mut self, code: ErrorCode, func_name: &str, info: impl Into<String>) {
        self.event(Event::Debug {
            error_code: code.code(),
            func_name: func_name.to_owned(),
            info: info.into(),
        });
    }
}

fn check_token(token: &str) -> Result<(), RoomError> {
    if token.is_empty() || token.len() > limits::MAX_TOKEN_BYTES {
        return Err(RoomError::InvalidToken);
    }
    Ok(())
}

/// Asks the media side for a (new) peer connection; returns the link state.
fn negotiate(now: Instant, stream_id: &str, role: MediaRole, out: &mut Outbox) -> MediaLink {
    out.media(MediaCommand::Negotiate {
        stream_id: stream_id.to_owned(),
        role,
    });
    MediaLink::Negotiating {
        deadline: now + NEGOTIATION_TIMEOUT,
    }
}

/// `{"message": ...}` as extended data.
fn details(message: &str) -> String {
    serde_json::json!({ "message": message }).to_string()
}

fn whole_seconds(d: Duration) -> u32 {
    u32::try_from(d.as_millis().saturating_add(500) / 1000).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::RemoteDeviceState;
    use protocol::{StreamInfo, UserInfo};

    const SIGN: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    /// A session and a fake clock.
    struct H {
        s: Session,
        t0: Instant,
    }

    impl H {
        fn new() -> Self {
            Self::with_policy(ReconnectPolicy::default())
        }

        fn with_policy(reconnect: ReconnectPolicy) -> Self {
            H {
                s: Session::new(SessionConfig {
                    app_id: 1,
                    app_sign: SIGN.into(),
                    reconnect,
                }),
                t0: Instant::now(),
            }
        }

        fn at(&self, ms: u64) -> Instant {
            self.t0 + Duration::from_millis(ms)
        }

        fn drain(&mut self) -> Vec<Output> {
            std::iter::from_fn(|| self.s.poll_output()).collect()
        }

        fn login(&mut self, ms: u64, notify: bool) -> ConnId {
            let config = RoomConfig {
                is_user_status_notify: notify,
                ..Default::default()
            };
            self.s
                .login(self.at(ms), "r1", User::new("u1", "Alice"), config)
                .unwrap();
            let out = self.drain();
            connect_of(&out).expect("login connects")
        }

        fn input(&mut self, ms: u64, conn: ConnId, msg: ServerMessage) -> Vec<Output> {
            self.s
                .handle_transport(self.at(ms), conn, Transport::Message(msg));
            self.drain()
        }

        fn close(&mut self, ms: u64, conn: ConnId) -> Vec<Output> {
            self.s
                .handle_transport(self.at(ms), conn, Transport::Closed("test".into()));
            self.drain()
        }

        fn media(&mut self, ms: u64, id: &str, role: MediaRole, fact: MediaFact) -> Vec<Output> {
            self.s.handle_media(self.at(ms), id, role, fact);
            self.drain()
        }

        fn tick(&mut self, ms: u64) -> Vec<Output> {
            self.s.handle_timeout(self.at(ms));
            self.drain()
        }

        /// Ticks every heartbeat from `from` to `to` (ms) with the server
        /// answering each heartbeat.
        fn keep_alive(&mut self, conn: ConnId, from: u64, to: u64) {
            for t in (from..=to).step_by(5000) {
                self.tick(t);
                self.input(t, conn, ServerMessage::HeartbeatAck { server_time_ms: t });
            }
        }

        /// Opens `conn`, answers the challenge and returns what was sent.
        fn challenge(&mut self, ms: u64, conn: ConnId) -> ClientMessage {
            self.s
                .handle_transport(self.at(ms), conn, Transport::Opened);
            let out = self.input(ms, conn, challenge());
            let sent = sent(&out);
            assert_eq!(sent.len(), 1, "{out:?}");
            sent[0].clone()
        }

        /// Logs in at `ms` with `ok` as the answer; returns the connection.
        fn logged_in(&mut self, ms: u64, notify: bool, ok: LoginOk) -> (ConnId, Vec<Output>) {
            let conn = self.login(ms, notify);
            let out = self.answer_login(ms, ms, conn, ok);
            (conn, out)
        }

        /// Answers the challenge on `conn` at `ms` and the login with `ok`
        /// at `ok_ms`; returns what the answer produced.
        fn answer_login(&mut self, ms: u64, ok_ms: u64, conn: ConnId, ok: LoginOk) -> Vec<Output> {
            let _ = self.challenge(ms, conn);
            self.input(ok_ms, conn, ServerMessage::LoginOk(ok))
        }

        /// The publish transport of "p1" connects at `ms`: the publisher is
        /// publishing, and nothing else is reported.
        fn publish_connects(&mut self, ms: u64) {
            let out = self.media(ms, "p1", MediaRole::Publish, MediaFact::Connected);
            assert_eq!(
                events(&out),
                vec![publisher(
                    "p1",
                    PublisherState::Publishing,
                    ErrorCode::Success
                )]
            );
        }

        /// Lets the retry timer fire at `ms` (it must connect) and answers
        /// the challenge at `challenge_ms`; returns the new connection.
        fn reconnect(&mut self, ms: u64, challenge_ms: u64) -> ConnId {
            let conn = connect_of(&self.tick(ms)).unwrap();
            let _ = self.challenge(challenge_ms, conn);
            conn
        }

        /// The server refuses the resume on `conn` at `ms` (session
        /// expired); returns the output and the connection it opens at
        /// once to log in again.
        fn resume_refused(&mut self, ms: u64, conn: ConnId) -> (Vec<Output>, ConnId) {
            let out = self.input(
                ms,
                conn,
                ServerMessage::ResumeFailed {
                    code: ErrorCode::SessionExpired,
                    message: "gone".into(),
                },
            );
            let next = connect_of(&out).expect("reconnects at once to log in");
            (out, next)
        }
    }

    /// The server's acknowledgement of a PublishStream request.
    fn stream_published(request_id: u32, stream_id: &str) -> ServerMessage {
        ServerMessage::Ack {
            request_id,
            body: AckBody::StreamPublished {
                stream_id: stream_id.into(),
            },
        }
    }

    fn challenge() -> ServerMessage {
        ServerMessage::Challenge {
            version: PROTOCOL_VERSION,
            nonce: "n1".into(),
        }
    }

    fn wire_user(id: &str) -> UserInfo {
        UserInfo {
            user_id: id.into(),
            user_name: id.to_uppercase(),
        }
    }

    fn wire_stream(id: &str, user: &str) -> StreamInfo {
        StreamInfo {
            stream_id: id.into(),
            user: wire_user(user),
            extra_info: String::new(),
            audio_muted: false,
            video_muted: false,
        }
    }

    fn user(id: &str) -> User {
        User::from_wire(wire_user(id))
    }

    fn stream(id: &str, u: &str) -> Stream {
        Stream::from_wire(wire_stream(id, u))
    }

    fn ok(users: &[&str], streams: &[(&str, &str)], count: u32) -> LoginOk {
        LoginOk {
            session_id: "s1".into(),
            resume_key: "k1".into(),
            room_id: "r1".into(),
            users: users.iter().map(|u| wire_user(u)).collect(),
            streams: streams.iter().map(|(s, u)| wire_stream(s, u)).collect(),
            online_count: count,
            seq: 0,
            heartbeat_interval_ms: 5000,
            heartbeat_timeout_ms: 15000,
            token_expires_in_ms: None,
            ice_servers: Vec::new(),
        }
    }

    fn event(seq: u64, event: RoomEvent) -> ServerMessage {
        ServerMessage::Event(SequencedEvent { seq, event })
    }

    fn users_added(ids: &[&str]) -> RoomEvent {
        RoomEvent::UserUpdate {
            update_type: protocol::UpdateType::Add,
            users: ids.iter().map(|u| wire_user(u)).collect(),
        }
    }

    fn connect_of(out: &[Output]) -> Option<ConnId> {
        out.iter().find_map(|o| match o {
            Output::Connect { conn } => Some(*conn),
            _ => None,
        })
    }

    fn sent(out: &[Output]) -> Vec<ClientMessage> {
        out.iter()
            .filter_map(|o| match o {
                Output::Send { msg, .. } => Some(msg.clone()),
                _ => None,
            })
            .collect()
    }

    fn events(out: &[Output]) -> Vec<Event> {
        out.iter()
            .filter_map(|o| match o {
                Output::Event(e) => Some(e.clone()),
                _ => None,
            })
            .collect()
    }

    fn done(out: &[Output]) -> Vec<(u32, Result<u64, RoomError>)> {
        out.iter()
            .filter_map(|o| match o {
                Output::BroadcastDone { request, result } => Some((*request, result.clone())),
                _ => None,
            })
            .collect()
    }

    fn state(state: RoomState, code: ErrorCode) -> Event {
        Event::RoomStateUpdate {
            room_id: "r1".into(),
            state,
            error_code: code.code(),
            extended_data: NO_DATA.into(),
        }
    }

    /// Asserts that `ev` starts with a Disconnected state update with `code`
    /// and a state change for `reason` (whatever their extended data).
    fn assert_disconnected(ev: &[Event], code: ErrorCode, reason: RoomStateChangedReason) {
        assert!(matches!(
            &ev[0],
            Event::RoomStateUpdate { state: RoomState::Disconnected, error_code, .. }
                if *error_code == code.code()
        ));
        assert!(matches!(
            &ev[1],
            Event::RoomStateChanged { reason: r, .. } if *r == reason
        ));
    }

    fn changed(reason: RoomStateChangedReason, code: ErrorCode) -> Event {
        Event::RoomStateChanged {
            room_id: "r1".into(),
            reason,
            error_code: code.code(),
            extended_data: NO_DATA.into(),
        }
    }

    fn publisher(id: &str, state: PublisherState, code: ErrorCode) -> Event {
        Event::PublisherStateUpdate {
            stream_id: id.into(),
            state,
            error_code: code.code(),
            extended_data: NO_DATA.into(),
        }
    }

    fn user_update(update_type: UpdateType, ids: &[&str]) -> Event {
        Event::RoomUserUpdate {
            room_id: "r1".into(),
            update_type,
            users: ids.iter().map(|u| user(u)).collect(),
        }
    }

    fn stream_update(update_type: UpdateType, s: &[(&str, &str)]) -> Event {
        Event::RoomStreamUpdate {
            room_id: "r1".into(),
            update_type,
            streams: s.iter().map(|(s, u)| stream(s, u)).collect(),
            extended_data: NO_DATA.into(),
        }
    }

    fn mic(id: &str, state: RemoteDeviceState) -> Event {
        Event::RemoteMicStateUpdate {
            stream_id: id.into(),
            state,
        }
    }

    fn camera(id: &str, state: RemoteDeviceState) -> Event {
        Event::RemoteCameraStateUpdate {
            stream_id: id.into(),
            state,
        }
    }

    fn publish_request(msg: &ClientMessage) -> Option<(u32, String)> {
        match msg {
            ClientMessage::PublishStream {
                request_id,
                stream_id,
                ..
            } => Some((*request_id, stream_id.clone())),
            _ => None,
        }
    }

    /// Logs in, publishes "p1" on Main and gets it acknowledged.
    fn publishing(h: &mut H) -> ConnId {
        let (conn, _) = h.logged_in(0, true, ok(&["a"], &[("sa", "a")], 2));
        h.s.start_publishing(h.at(0), "p1", PublishChannel::Main)
            .unwrap();
        let out = h.drain();
        let (id, _) = publish_request(&sent(&out)[0]).unwrap();
        let out = h.input(0, conn, stream_published(id, "p1"));
        assert_eq!(media(&out), vec![negotiate_cmd("p1", MediaRole::Publish)]);
        h.publish_connects(0);
        conn
    }

    /// Logs in, publishes "p1" (as [`publishing`]) and plays "s1", both
    /// connected.
    fn publishing_and_playing(h: &mut H) -> ConnId {
        let conn = publishing(h);
        let _ = play(h, 10, conn, "s1");
        h.input(
            11,
            conn,
            ServerMessage::StreamReady {
                stream_id: "s1".into(),
            },
        );
        let out = h.media(12, "s1", MediaRole::Play, MediaFact::Connected);
        assert_eq!(
            events(&out),
            vec![player("s1", PlayerState::Playing, ErrorCode::Success)]
        );
        conn
    }

    fn media(out: &[Output]) -> Vec<MediaCommand> {
        out.iter()
            .filter_map(|o| match o {
                Output::Media(m) => Some(m.clone()),
                _ => None,
            })
            .collect()
    }

    fn negotiate_cmd(stream_id: &str, role: MediaRole) -> MediaCommand {
        MediaCommand::Negotiate {
            stream_id: stream_id.into(),
            role,
        }
    }

    fn player(id: &str, state: PlayerState, code: ErrorCode) -> Event {
        Event::PlayerStateUpdate {
            stream_id: id.into(),
            state,
            error_code: code.code(),
            extended_data: NO_DATA.into(),
        }
    }

    /// Starts playing `id` on a live connection and returns the PlayStream request id.
    fn play(h: &mut H, ms: u64, conn: ConnId, id: &str) -> u32 {
        h.s.start_playing(h.at(ms), id).unwrap();
        let out = h.drain();
        assert_eq!(
            events(&out),
            vec![player(id, PlayerState::PlayRequesting, ErrorCode::Success)]
        );
        assert_eq!(
            media(&out),
            vec![MediaCommand::StartPlaying {
                stream_id: id.into()
            }]
        );
        match sent(&out).as_slice() {
            [ClientMessage::PlayStream {
                request_id,
                stream_id,
            }] if stream_id == id => {
                let request_id = *request_id;
                h.input(
                    ms,
                    conn,
                    ServerMessage::Ack {
                        request_id,
                        body: AckBody::PlayAccepted {
                            stream_id: id.into(),
                        },
                    },
                );
                request_id
            }
            other => panic!("expected PlayStream, got {other:?}"),
        }
    }

    /// Reports an offer for `id` and returns the SdpOffer's request id.
    fn offer(h: &mut H, ms: u64, id: &str, role: MediaRole) -> u32 {
        let out = h.media(ms, id, role, MediaFact::Offer("v=0 offer".into()));
        match sent(&out).as_slice() {
            [ClientMessage::SdpOffer {
                request_id,
                stream_id,
                role: r,
                sdp,
            }] if stream_id == id && *r == role && sdp == "v=0 offer" => *request_id,
            other => panic!("expected SdpOffer, got {other:?}"),
        }
    }

    #[test]
    fn player_waits_for_the_stream_then_plays_and_follows_it() {
        let mut h = H::new();
        let (conn, _) = h.logged_in(0, false, ok(&[], &[], 1));
        let _ = play(&mut h, 10, conn, "s1");
        // Not live yet: nothing happens until StreamReady.
        assert!(h.tick(5_000).iter().all(|o| !matches!(o, Output::Media(_))));
        let out = h.input(
            6_000,
            conn,
            ServerMessage::StreamReady {
                stream_id: "s1".into(),
            },
        );
        assert_eq!(media(&out), vec![negotiate_cmd("s1", MediaRole::Play)]);
        let request_id = offer(&mut h, 6_010, "s1", MediaRole::Play);
        let out = h.input(
            6_020,
            conn,
            ServerMessage::SdpAnswer {
                request_id,
                stream_id: "s1".into(),
                role: MediaRole::Play,
                sdp: "v=0 answer".into(),
            },
        );
        assert_eq!(
            media(&out),
            vec![MediaCommand::Answer {
                stream_id: "s1".into(),
                role: MediaRole::Play,
                sdp: "v=0 answer".into()
            }]
        );
        // Trickle both ways.
        let cand = protocol::IceCandidate {
            candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host".into(),
            sdp_mid: Some("0".into()),
            sdp_mline_index: Some(0),
        };
        let out = h.media(
            6_021,
            "s1",
            MediaRole::Play,
            MediaFact::Candidate(cand.clone()),
        );
        assert_eq!(
            sent(&out),
            vec![ClientMessage::TrickleIce {
                stream_id: "s1".into(),
                role: MediaRole::Play,
                candidate: cand.clone()
            }]
        );
        let out = h.input(
            6_022,
            conn,
            ServerMessage::TrickleIce {
                stream_id: "s1".into(),
                role: MediaRole::Play,
                candidate: cand.clone(),
            },
        );
        assert_eq!(
            media(&out),
            vec![MediaCommand::RemoteCandidate {
                stream_id: "s1".into(),
                role: MediaRole::Play,
                candidate: cand
            }]
        );
        let out = h.media(6_030, "s1", MediaRole::Play, MediaFact::Connected);
        assert_eq!(
            events(&out),
            vec![player("s1", PlayerState::Playing, ErrorCode::Success)]
        );
        // The publisher stops: back to PlayRequesting, the transport closes.
        let out = h.input(
            7_000,
            conn,
            ServerMessage::StreamEnded {
                stream_id: "s1".into(),
            },
        );
        assert_eq!(
            events(&out),
            vec![player(
                "s1",
                PlayerState::PlayRequesting,
                ErrorCode::StreamEnded
            )]
        );
        assert_eq!(
            media(&out),
            vec![MediaCommand::CloseTransport {
                stream_id: "s1".into(),
                role: MediaRole::Play
            }]
        );
        // It returns: negotiate again.
        let out = h.input(
            8_000,
            conn,
            ServerMessage::StreamReady {
                stream_id: "s1".into(),
            },
        );
        assert_eq!(media(&out), vec![negotiate_cmd("s1", MediaRole::Play)]);
        // Stop: NoPlay, StopPlaying to the server, pipeline stopped.
        h.s.stop_playing(h.at(8_100), "s1").unwrap();
        let out = h.drain();
        assert_eq!(
            events(&out),
            vec![player("s1", PlayerState::NoPlay, ErrorCode::Success)]
        );
        assert_eq!(
            media(&out),
            vec![MediaCommand::StopPlaying {
                stream_id: "s1".into()
            }]
        );
        assert!(
            matches!(sent(&out).as_slice(), [ClientMessage::StopPlaying { stream_id, .. }] if stream_id == "s1")
        );
        assert_eq!(
            h.s.stop_playing(h.at(8_200), "s1"),
            Err(PlayerError::NotPlaying)
        );
    }

    #[test]
    fn failed_media_is_retried_and_hung_negotiation_times_out() {
        let mut h = H::new();
        let conn = publishing(&mut h);
        let out = h.media(
            100,
            "p1",
            MediaRole::Publish,
            MediaFact::Failed("ice failed".into()),
        );
        assert!(matches!(
            events(&out).as_slice(),
            [Event::PublisherStateUpdate { state: PublisherState::PublishRequesting, error_code, .. }]
                if *error_code == ErrorCode::PublishTransportFailed.code()
        ));
        assert_eq!(
            media(&out),
            vec![MediaCommand::CloseTransport {
                stream_id: "p1".into(),
                role: MediaRole::Publish
            }]
        );
        assert_eq!(h.s.poll_timeout(), Some(h.at(100) + MEDIA_RETRY));
        let at = 100 + MEDIA_RETRY.as_millis() as u64;
        assert_eq!(
            media(&h.tick(at)),
            vec![negotiate_cmd("p1", MediaRole::Publish)]
        );
        // The new offer is never answered: after the negotiation timeout it
        // counts as a failure and is retried again.
        let _ = offer(&mut h, at + 1, "p1", MediaRole::Publish);
        h.keep_alive(conn, at + 5_000, at + 10_000);
        let out = h.tick(at + NEGOTIATION_TIMEOUT.as_millis() as u64);
        assert_eq!(
            media(&out),
            vec![MediaCommand::CloseTransport {
                stream_id: "p1".into(),
                role: MediaRole::Publish
            }]
        );
        // Offer refused by the server: also a failure with its code.
        let mut h = H::new();
        let (conn, _) = h.logged_in(0, false, ok(&[], &[], 1));
        let _ = play(&mut h, 1, conn, "s1");
        h.input(
            2,
            conn,
            ServerMessage::StreamReady {
                stream_id: "s1".into(),
            },
        );
        let request_id = offer(&mut h, 3, "s1", MediaRole::Play);
        let out = h.input(
            4,
            conn,
            ServerMessage::error(Some(request_id), ErrorCode::StreamNotLive, false),
        );
        assert_eq!(
            events(&out),
            vec![Event::PlayerStateUpdate {
                stream_id: "s1".into(),
                state: PlayerState::PlayRequesting,
                error_code: ErrorCode::StreamNotLive.code(),
                extended_data: details(ErrorCode::StreamNotLive.message()),
            }]
        );
        // Not live: waits for StreamReady instead of retrying on a timer.
        assert!(media(&h.tick(2_000)).is_empty());
    }

    #[test]
    fn signaling_loss_keeps_media_and_relogin_renegotiates() {
        let mut h = H::new();
        let conn = publishing_and_playing(&mut h);
        // Signaling drops: both report the interruption; media is left running.
        let out = h.close(1_000, conn);
        assert!(events(&out).contains(&player(
            "s1",
            PlayerState::PlayRequesting,
            ErrorCode::NetworkInterrupted
        )));
        assert!(media(&out).is_empty(), "{out:?}");
        // Resumed: both back at once, no renegotiation.
        let c2 = h.reconnect(1_250, 1_260);
        let out = h.input(1_270, c2, ServerMessage::Resumed { missed: vec![] });
        assert!(media(&out).is_empty());
        assert!(events(&out).contains(&publisher(
            "p1",
            PublisherState::Publishing,
            ErrorCode::Success
        )));
        assert!(events(&out).contains(&player("s1", PlayerState::Playing, ErrorCode::Success)));
        // Dropped again, and this time the server forgot us: log in again,
        // close the old transports, claim and ask to play again.
        h.close(2_000, c2);
        let c3 = h.reconnect(2_250, 2_260);
        let (_, c4) = h.resume_refused(2_270, c3);
        let out = h.answer_login(2_280, 2_290, c4, ok(&[], &[], 1));
        assert_eq!(media(&out), relogin_media_commands());
        let sent = sent(&out);
        assert!(sent.iter().any(
            |m| matches!(m, ClientMessage::PublishStream { stream_id, .. } if stream_id == "p1")
        ));
        assert!(sent.iter().any(
            |m| matches!(m, ClientMessage::PlayStream { stream_id, .. } if stream_id == "s1")
        ));
    }

    #[test]
    fn logout_stops_all_media() {
        let mut h = H::new();
        let conn = publishing(&mut h);
        let _ = play(&mut h, 10, conn, "s1");
        h.s.logout(h.at(20)).unwrap();
        let out = h.drain();
        assert_eq!(
            media(&out),
            vec![
                MediaCommand::StopPublishing {
                    channel: PublishChannel::Main
                },
                MediaCommand::StopPlaying {
                    stream_id: "s1".into()
                },
            ]
        );
        assert_eq!(
            events(&out),
            vec![
                publisher("p1", PublisherState::NoPublish, ErrorCode::Success),
                player("s1", PlayerState::NoPlay, ErrorCode::Success),
                state(RoomState::Disconnected, ErrorCode::Success),
                changed(RoomStateChangedReason::Logout, ErrorCode::Success),
            ]
        );
        assert_eq!(
            h.s.start_playing(h.at(30), "s1"),
            Err(PlayerError::NotLoggedIn)
        );
    }

    #[test]
    fn login_ok_reports_state_then_users_then_streams() {
        let mut h = H::new();
        h.s.login(
            h.at(0),
            "r1",
            User::new("u1", "Alice"),
            RoomConfig {
                is_user_status_notify: true,
                ..Default::default()
            },
        )
        .unwrap();
        let out = h.drain();
        assert_eq!(
            events(&out),
            vec![
                state(RoomState::Connecting, ErrorCode::Success),
                changed(RoomStateChangedReason::Logining, ErrorCode::Success)
            ]
        );
        let conn = connect_of(&out).unwrap();
        let login = h.challenge(10, conn);
        let ClientMessage::Login(login) = login else {
            panic!("expected login, got {login:?}");
        };
        assert_eq!(
            login.credentials,
            Credentials::AppSign {
                proof: protocol::auth::login_proof(SIGN, 1, "r1", "u1", "n1")
            }
        );
        assert!(login.notify_users);
        assert_eq!(login.user, wire_user("u1").clone_with_name("Alice"));
        let out = h.input(
            20,
            conn,
            ServerMessage::LoginOk(ok(&["a"], &[("sa", "a")], 2)),
        );
        assert_eq!(
            events(&out),
            vec![
                state(RoomState::Connected, ErrorCode::Success),
                changed(RoomStateChangedReason::Logined, ErrorCode::Success),
                user_update(UpdateType::Add, &["a"]),
                Event::RoomOnlineUserCountUpdate {
                    room_id: "r1".into(),
                    count: 2
                },
                stream_update(UpdateType::Add, &[("sa", "a")]),
                mic("sa", RemoteDeviceState::Open),
                camera("sa", RemoteDeviceState::Open),
            ]
        );
    }

    trait WithName {
        fn clone_with_name(&self, name: &str) -> Self;
    }

    impl WithName for UserInfo {
        fn clone_with_name(&self, name: &str) -> Self {
            UserInfo {
                user_id: self.user_id.clone(),
                user_name: name.into(),
            }
        }
    }

    #[test]
    fn without_notify_only_streams_follow_and_token_is_used() {
        let mut h = H::new();
        let config = RoomConfig {
            token: Some("CF1.tok.sig".into()),
            ..Default::default()
        };
        h.s.login(h.at(0), "r1", User::new("u1", ""), config)
            .unwrap();
        let conn = connect_of(&h.drain()).unwrap();
        let ClientMessage::Login(login) = h.challenge(0, conn) else {
            panic!("expected login");
        };
        assert_eq!(
            login.credentials,
            Credentials::Token {
                token: "CF1.tok.sig".into()
            }
        );
        let out = h.input(0, conn, ServerMessage::LoginOk(ok(&[], &[("sa", "a")], 2)));
        assert_eq!(
            events(&out)[2..],
            [
                stream_update(UpdateType::Add, &[("sa", "a")]),
                mic("sa", RemoteDeviceState::Open),
                camera("sa", RemoteDeviceState::Open),
            ]
        );
    }

    #[test]
    fn login_failure_disconnects_without_retry() {
        let mut h = H::new();
        let conn = h.login(0, false);
        let _ = h.challenge(0, conn);
        let out = h.input(
            5,
            conn,
            ServerMessage::LoginFailed {
                code: ErrorCode::AppSignMismatch,
                message: "wrong".into(),
            },
        );
        let ev = events(&out);
        assert_disconnected(
            &ev,
            ErrorCode::AppSignMismatch,
            RoomStateChangedReason::LoginFailed,
        );
        assert!(out.contains(&Output::Close { conn }));
        assert!(!h.s.is_logged_in());
        assert_eq!(h.s.poll_timeout(), None);
        assert!(h.tick(60_000).is_empty());
    }

    /// The `StreamState` messages in `out` as `(request, stream, audio, video)`.
    fn states_sent(out: &[Output]) -> Vec<(u32, String, bool, bool)> {
        sent(out)
            .into_iter()
            .filter_map(|m| match m {
                ClientMessage::StreamState {
                    request_id,
                    stream_id,
                    audio_muted,
                    video_muted,
                } => Some((request_id, stream_id, audio_muted, video_muted)),
                _ => None,
            })
            .collect()
    }

    /// Sets a local mute at `ms`; returns the StreamStates sent (without ids).
    fn mute(h: &mut H, ms: u64, m: LocalMute, on: bool) -> Vec<(String, bool, bool)> {
        h.s.set_local_mute(h.at(ms), m, on);
        let out = h.drain();
        assert!(events(&out).is_empty(), "own mutes are not events: {out:?}");
        states_sent(&out)
            .into_iter()
            .map(|(_, s, a, v)| (s, a, v))
            .collect()
    }

    #[test]
    fn local_mutes_are_announced_while_publishing() {
        let mut h = H::new();
        let conn = publishing(&mut h);
        let main = PublishChannel::Main;
        h.s.set_local_mute(h.at(10), LocalMute::Microphone, true);
        let out = h.drain();
        let states = states_sent(&out);
        let [(id, ref stream, true, false)] = states[..] else {
            panic!("{out:?}");
        };
        assert_eq!(stream, "p1");
        let out = h.input(
            20,
            conn,
            ServerMessage::Ack {
                request_id: id,
                body: AckBody::StreamStateUpdated {
                    stream_id: "p1".into(),
                },
            },
        );
        assert!(out.is_empty(), "{out:?}");
        // Audio is already off: muting the stream's audio too changes nothing,
        // and unmuting the microphone leaves it off.
        assert_eq!(mute(&mut h, 30, LocalMute::StreamAudio(main), true), []);
        assert_eq!(mute(&mut h, 40, LocalMute::Microphone, false), []);
        assert_eq!(
            mute(&mut h, 50, LocalMute::StreamAudio(main), false),
            [("p1".to_owned(), false, false)]
        );
        // Camera off and video mute both stop the video.
        assert_eq!(
            mute(&mut h, 60, LocalMute::CameraOff(main), true),
            [("p1".to_owned(), false, true)]
        );
        assert_eq!(mute(&mut h, 70, LocalMute::StreamVideo(main), true), []);
        assert_eq!(mute(&mut h, 80, LocalMute::CameraOff(main), false), []);
        assert_eq!(
            mute(&mut h, 90, LocalMute::StreamVideo(main), false),
            [("p1".to_owned(), false, false)]
        );
        // The aux channel publishes nothing: nothing to tell.
        assert_eq!(
            mute(
                &mut h,
                100,
                LocalMute::StreamVideo(PublishChannel::Aux),
                true
            ),
            []
        );
        // A refusal is only worth a debug event.
        h.s.set_local_mute(h.at(110), LocalMute::Microphone, true);
        let out = h.drain();
        let id = states_sent(&out)[0].0;
        let out = h.input(
            120,
            conn,
            ServerMessage::error(Some(id), ErrorCode::NotStreamOwner, false),
        );
        assert_eq!(
            events(&out),
            vec![Event::Debug {
                error_code: ErrorCode::NotStreamOwner.code(),
                func_name: "stream_state".into(),
                info: ErrorCode::NotStreamOwner.message().into(),
            }]
        );
        // Stopped: later mutes go nowhere.
        h.s.stop_publishing(h.at(130), main).unwrap();
        h.drain();
        assert_eq!(mute(&mut h, 140, LocalMute::Microphone, false), []);
    }

    #[test]
    fn publishing_starts_with_the_current_mute_state() {
        let mut h = H::new();
        // Set before logging in: mutes belong to the engine, not the room.
        assert_eq!(mute(&mut h, 0, LocalMute::Microphone, true), []);
        let (conn, _) = h.logged_in(0, false, ok(&[], &[], 1));
        h.s.start_publishing(h.at(10), "p1", PublishChannel::Main)
            .unwrap();
        let out = h.drain();
        let announced = sent(&out);
        let [ClientMessage::PublishStream {
            request_id,
            audio_muted: true,
            video_muted: false,
            ..
        }] = announced[..]
        else {
            panic!("{announced:?}");
        };
        // The camera goes off while the announcement is on its way: told
        // once the stream is confirmed.
        assert_eq!(
            mute(&mut h, 20, LocalMute::CameraOff(PublishChannel::Main), true),
            []
        );
        let out = h.input(30, conn, stream_published(request_id, "p1"));
        let states: Vec<_> = states_sent(&out)
            .into_iter()
            .map(|(_, s, a, v)| (s, a, v))
            .collect();
        assert_eq!(states, [("p1".to_owned(), true, true)]);
        // A new server session (resume refused): the stream is announced
        // again with its state, no separate StreamState.
        h.close(1000, conn);
        let c2 = h.reconnect(1250, 1300);
        let (_, c3) = h.resume_refused(1310, c2);
        let mut again = ok(&[], &[], 1);
        again.session_id = "s2".into();
        let out = h.answer_login(1320, 1330, c3, again);
        assert!(states_sent(&out).is_empty(), "{out:?}");
        assert!(
            matches!(
                sent(&out)[..],
                [ClientMessage::PublishStream {
                    audio_muted: true,
                    video_muted: true,
                    ..
                }]
            ),
            "{out:?}"
        );
    }

    #[test]
    fn mute_state_lost_with_the_connection_is_sent_again_on_resume() {
        let mut h = H::new();
        let conn = publishing(&mut h);
        // Sent, then the connection drops before the answer.
        assert_eq!(
            mute(&mut h, 10, LocalMute::Microphone, true),
            [("p1".to_owned(), true, false)]
        );
        h.close(1000, conn);
        // Changed while away: nothing can be sent.
        assert_eq!(
            mute(
                &mut h,
                1100,
                LocalMute::CameraOff(PublishChannel::Main),
                true
            ),
            []
        );
        let c2 = h.reconnect(1250, 1300);
        let out = h.input(1310, c2, ServerMessage::Resumed { missed: vec![] });
        let states = states_sent(&out);
        let [(id, ref stream, true, true)] = states[..] else {
            panic!("{out:?}");
        };
        assert_eq!(stream, "p1");
        h.input(
            1320,
            c2,
            ServerMessage::Ack {
                request_id: id,
                body: AckBody::StreamStateUpdated {
                    stream_id: "p1".into(),
                },
            },
        );
        // Answered and unchanged: a later resume sends nothing.
        h.close(2000, c2);
        let c3 = h.reconnect(2250, 2300);
        let out = h.input(2310, c3, ServerMessage::Resumed { missed: vec![] });
        assert!(states_sent(&out).is_empty(), "{out:?}");
        // An unanswered state is sent again even if unchanged.
        assert_eq!(
            mute(&mut h, 2400, LocalMute::Microphone, false),
            [("p1".to_owned(), false, true)]
        );
        h.close(3000, c3);
        let c4 = h.reconnect(3250, 3300);
        let out = h.input(3310, c4, ServerMessage::Resumed { missed: vec![] });
        let states: Vec<_> = states_sent(&out)
            .into_iter()
            .map(|(_, s, a, v)| (s, a, v))
            .collect();
        assert_eq!(states, [("p1".to_owned(), false, true)]);
    }

    fn state_event(seq: u64, id: &str, audio_muted: bool, video_muted: bool) -> ServerMessage {
        event(
            seq,
            RoomEvent::StreamStateUpdate {
                stream_id: id.into(),
                audio_muted,
                video_muted,
            },
        )
    }

    #[test]
    fn remote_device_states_are_reported_on_add_and_on_change() {
        let mut h = H::new();
        use RemoteDeviceState::{Mute, Open};
        let mut snapshot = ok(&[], &[("sa", "a"), ("sm", "m")], 3);
        snapshot.streams[1].audio_muted = true;
        let (conn, out) = h.logged_in(0, false, snapshot);
        assert_eq!(
            events(&out)[2..],
            [
                stream_update(UpdateType::Add, &[("sa", "a"), ("sm", "m")]),
                mic("sa", Open),
                camera("sa", Open),
                mic("sm", Mute),
                camera("sm", Open),
            ]
        );
        // A change reports only the device that changed; a repeat nothing.
        let out = h.input(10, conn, state_event(1, "sa", false, true));
        assert_eq!(events(&out), [camera("sa", Mute)]);
        assert!(events(&h.input(20, conn, state_event(2, "sa", false, true))).is_empty());
        let out = h.input(30, conn, state_event(3, "sa", true, false));
        assert_eq!(events(&out), [mic("sa", Mute), camera("sa", Open)]);
        // Unknown streams (and the local user's own) are not reported.
        assert!(events(&h.input(40, conn, state_event(4, "zz", true, true))).is_empty());
        // A stream added muted reports it right after the Add.
        let mut sc = wire_stream("sc", "c");
        sc.video_muted = true;
        let out = h.input(
            50,
            conn,
            event(
                5,
                RoomEvent::StreamUpdate {
                    update_type: protocol::UpdateType::Add,
                    streams: vec![sc],
                },
            ),
        );
        assert_eq!(
            events(&out),
            [
                stream_update(UpdateType::Add, &[("sc", "c")]),
                mic("sc", Open),
                camera("sc", Mute),
            ]
        );
        // A deleted stream reports nothing more.
        let out = h.input(
            60,
            conn,
            event(
                6,
                RoomEvent::StreamUpdate {
                    update_type: protocol::UpdateType::Delete,
                    streams: vec![wire_stream("sa", "a")],
                },
            ),
        );
        assert_eq!(
            events(&out),
            [stream_update(UpdateType::Delete, &[("sa", "a")])]
        );
        assert!(events(&h.input(70, conn, state_event(7, "sa", false, false))).is_empty());

        // A resume replays what was missed.
        h.close(1000, conn);
        let c2 = h.reconnect(1250, 1300);
        let missed = vec![SequencedEvent {
            seq: 8,
            event: RoomEvent::StreamStateUpdate {
                stream_id: "sm".into(),
                audio_muted: false,
                video_muted: false,
            },
        }];
        let out = h.input(1310, c2, ServerMessage::Resumed { missed });
        assert_eq!(events(&out)[2..], [mic("sm", Open)]);

        // A relogin reconciles: new streams report both devices, kept ones
        // what changed meanwhile, unchanged ones nothing.
        h.close(2000, c2);
        let c3 = h.reconnect(2250, 2300);
        let (_, c4) = h.resume_refused(2310, c3);
        let mut again = ok(&[], &[("sc", "c"), ("sd", "d"), ("sm", "m")], 4);
        again.session_id = "s2".into();
        again.streams[0].video_muted = true;
        again.streams[1].audio_muted = true;
        again.streams[2].video_muted = true;
        let out = h.answer_login(2320, 2330, c4, again);
        assert_eq!(
            events(&out)[2..],
            [
                stream_update(UpdateType::Add, &[("sd", "d")]),
                mic("sd", Mute),
                camera("sd", Open),
                camera("sm", Mute),
            ]
        );
    }

    #[test]
    fn network_loss_backs_off_then_resumes_and_replays_missed_events() {
        let mut h = H::new();
        let conn = publishing(&mut h);
        h.input(100, conn, event(1, users_added(&["b"])));
        let out = h.close(1000, conn);
        assert_eq!(
            events(&out),
            vec![
                state(RoomState::Connecting, ErrorCode::NetworkInterrupted),
                changed(
                    RoomStateChangedReason::Reconnecting,
                    ErrorCode::NetworkInterrupted
                ),
                publisher(
                    "p1",
                    PublisherState::PublishRequesting,
                    ErrorCode::NetworkInterrupted
                ),
            ]
        );
        // Backoff: 250 ms, then 500, 1000 after failed attempts.
        assert_eq!(h.s.poll_timeout(), Some(h.at(1250)));
        assert!(h.tick(1249).is_empty());
        let c2 = connect_of(&h.tick(1250)).unwrap();
        assert!(events(&h.close(1300, c2)).is_empty());
        assert_eq!(h.s.poll_timeout(), Some(h.at(1800)));
        let c3 = connect_of(&h.tick(1800)).unwrap();
        h.close(1850, c3);
        assert_eq!(h.s.poll_timeout(), Some(h.at(2850)));
        let c4 = connect_of(&h.tick(2850)).unwrap();
        // Stale input from the first connection is ignored.
        assert!(h
            .input(2900, conn, event(9, users_added(&["zz"])))
            .is_empty());
        assert_eq!(
            h.challenge(2900, c4),
            ClientMessage::Resume(Resume {
                version: PROTOCOL_VERSION,
                session_id: "s1".into(),
                resume_key: "k1".into(),
                last_seq: 1
            })
        );
        let missed = vec![
            SequencedEvent {
                seq: 1,
                event: users_added(&["b"]),
            },
            SequencedEvent {
                seq: 2,
                event: users_added(&["c"]),
            },
        ];
        let out = h.input(3000, c4, ServerMessage::Resumed { missed });
        assert_eq!(
            events(&out),
            vec![
                state(RoomState::Connected, ErrorCode::Success),
                changed(RoomStateChangedReason::Reconnected, ErrorCode::Success),
                user_update(UpdateType::Add, &["c"]),
                publisher("p1", PublisherState::Publishing, ErrorCode::Success),
            ]
        );
        // Heartbeats resume on the new connection and acknowledge seq 2.
        let out = h.tick(8000);
        assert_eq!(
            out,
            vec![Output::Send {
                conn: c4,
                msg: ClientMessage::Heartbeat { ack: 2 }
            }]
        );
    }

    #[test]
    fn resume_failure_logs_in_again_and_reconciles() {
        let mut h = H::new();
        let conn = publishing(&mut h);
        h.close(1000, conn);
        let c2 = h.reconnect(1250, 1300);
        let (out, c3) = h.resume_refused(1310, c2);
        assert!(out.contains(&Output::Close { conn: c2 }));
        assert!(matches!(h.challenge(1320, c3), ClientMessage::Login(_)));
        let mut snapshot = ok(&["b"], &[("sb", "b")], 2);
        snapshot.session_id = "s2".into();
        let out = h.input(1330, c3, ServerMessage::LoginOk(snapshot));
        assert_eq!(
            events(&out),
            vec![
                state(RoomState::Connected, ErrorCode::Success),
                changed(RoomStateChangedReason::Reconnected, ErrorCode::Success),
                user_update(UpdateType::Delete, &["a"]),
                user_update(UpdateType::Add, &["b"]),
                stream_update(UpdateType::Delete, &[("sa", "a")]),
                stream_update(UpdateType::Add, &[("sb", "b")]),
                mic("sb", RemoteDeviceState::Open),
                camera("sb", RemoteDeviceState::Open),
            ]
        );
        let (id, stream_id) = publish_request(&sent(&out)[0]).expect("own stream re-announced");
        assert_eq!(stream_id, "p1");
        let out = h.input(1340, c3, stream_published(id, &stream_id));
        assert_eq!(media(&out), vec![negotiate_cmd("p1", MediaRole::Publish)]);
        h.publish_connects(1350);
    }

    #[test]
    fn retry_window_exhausted_disconnects() {
        let mut h = H::with_policy(ReconnectPolicy {
            retry_window: Duration::from_secs(10),
            ..Default::default()
        });
        let conn = publishing(&mut h);
        h.close(1000, conn);
        let mut now = 1000;
        let mut out = Vec::new();
        while h.s.is_logged_in() {
            now =
                h.s.poll_timeout()
                    .map(|t| (t - h.t0).as_millis() as u64)
                    .unwrap();
            out = h.tick(now);
            if let Some(c) = connect_of(&out) {
                h.close(now, c);
            }
        }
        assert_eq!(now, 11_000);
        assert_eq!(
            events(&out),
            vec![
                publisher("p1", PublisherState::NoPublish, ErrorCode::ReconnectTimeout),
                state(RoomState::Disconnected, ErrorCode::ReconnectTimeout),
                changed(
                    RoomStateChangedReason::ReconnectFailed,
                    ErrorCode::ReconnectTimeout
                ),
            ]
        );
        assert_eq!(h.s.poll_timeout(), None);
    }

    #[test]
    fn first_login_to_an_unreachable_server_gives_up_after_the_window() {
        let mut h = H::with_policy(ReconnectPolicy {
            retry_window: Duration::from_secs(3),
            ..Default::default()
        });
        let conn = h.login(0, false);
        assert!(events(&h.close(10, conn)).is_empty());
        let mut last = Vec::new();
        while h.s.is_logged_in() {
            let now =
                h.s.poll_timeout()
                    .map(|t| (t - h.t0).as_millis() as u64)
                    .unwrap();
            last = h.tick(now);
            if let Some(c) = connect_of(&last) {
                h.close(now, c);
            }
        }
        assert_eq!(
            events(&last),
            vec![
                state(RoomState::Disconnected, ErrorCode::ReconnectTimeout),
                changed(
                    RoomStateChangedReason::LoginFailed,
                    ErrorCode::ReconnectTimeout
                ),
            ]
        );
    }

    #[test]
    fn handshake_timeout_counts_as_a_failed_attempt() {
        let mut h = H::new();
        let conn = h.login(0, false);
        assert_eq!(h.s.poll_timeout(), Some(h.at(10_000)));
        let out = h.tick(10_000);
        assert!(out.contains(&Output::Close { conn }));
        assert_eq!(h.s.poll_timeout(), Some(h.at(10_250)));
    }

    #[test]
    fn kick_out_disconnects_without_retry() {
        for msg in [
            ServerMessage::Kicked {
                code: ErrorCode::KickedOut,
                message: "elsewhere".into(),
            },
            ServerMessage::ResumeFailed {
                code: ErrorCode::KickedOut,
                message: "elsewhere".into(),
            },
        ] {
            let mut h = H::new();
            let mut conn = publishing(&mut h);
            if matches!(msg, ServerMessage::ResumeFailed { .. }) {
                h.close(10, conn);
                conn = h.reconnect(260, 270);
            }
            let out = h.input(300, conn, msg);
            let ev = events(&out);
            assert_eq!(
                ev[0],
                publisher("p1", PublisherState::NoPublish, ErrorCode::KickedOut)
            );
            assert_disconnected(
                &ev[1..],
                ErrorCode::KickedOut,
                RoomStateChangedReason::KickOut,
            );
            assert!(out.contains(&Output::Close { conn }));
            assert_eq!(h.s.poll_timeout(), None);
        }
    }

    /// A relogin's media commands when publishing "p1" and playing "s1":
    /// the server's ICE servers (none here) are taken, then both old
    /// transports close (and renegotiate after).
    fn relogin_media_commands() -> Vec<MediaCommand> {
        vec![
            MediaCommand::IceServers(Vec::new()),
            MediaCommand::CloseTransport {
                stream_id: "p1".into(),
                role: MediaRole::Publish,
            },
            MediaCommand::CloseTransport {
                stream_id: "s1".into(),
                role: MediaRole::Play,
            },
        ]
    }

    #[test]
    fn login_ok_hands_its_ice_servers_to_the_media_side() {
        let mut h = H::new();
        let conn = h.login(0, false);
        let turn = protocol::IceServer {
            urls: vec!["turn:203.0.113.40:3478?transport=udp".into()],
            username: "86400:7:u1".into(),
            credential: "c2VjcmV0".into(),
        };
        let mut with_turn = ok(&[], &[], 1);
        with_turn.ice_servers = vec![turn.clone()];
        let out = h.answer_login(10, 20, conn, with_turn);
        assert_eq!(media(&out), vec![MediaCommand::IceServers(vec![turn])]);
    }

    #[test]
    fn a_renewal_hands_fresh_turn_credentials_to_the_media_side() {
        let mut h = H::new();
        let conn = h.login(0, false);
        h.answer_login(10, 20, conn, ok(&[], &[], 1));
        h.s.renew_token(h.at(1_000), "CF1.renewed.sig").unwrap();
        let out = h.drain();
        let [ClientMessage::RenewToken { request_id, .. }] = &sent(&out)[..] else {
            panic!("expected renew, got {out:?}");
        };
        let fresh = protocol::IceServer {
            urls: vec!["turn:203.0.113.40:3478".into()],
            username: "90000:7:u1".into(),
            credential: "bmV3".into(),
        };
        let body = AckBody::TokenRenewed {
            expires_in_ms: 600_000,
            publish: true,
            ice_servers: vec![fresh.clone()],
        };
        let request_id = *request_id;
        let out = h.input(1_001, conn, ServerMessage::Ack { request_id, body });
        assert_eq!(media(&out), vec![MediaCommand::IceServers(vec![fresh])]);
    }

    /// The server's notice that it removed the session (heartbeat timeout).
    fn session_expired() -> ServerMessage {
        ServerMessage::SessionExpired {
            code: ErrorCode::SessionExpired,
            message: "no heartbeat".into(),
        }
    }

    /// Asserts that nothing in `out` ends the room or a stream for good.
    fn assert_never_ended(out: &[Output]) {
        for e in events(out) {
            assert!(
                !matches!(
                    e,
                    Event::RoomStateUpdate {
                        state: RoomState::Disconnected,
                        ..
                    } | Event::RoomStateChanged {
                        reason: RoomStateChangedReason::KickOut
                            | RoomStateChangedReason::Logout
                            | RoomStateChangedReason::ReconnectFailed,
                        ..
                    } | Event::PublisherStateUpdate {
                        state: PublisherState::NoPublish,
                        ..
                    } | Event::PlayerStateUpdate {
                        state: PlayerState::NoPlay,
                        ..
                    }
                ),
                "{e:?}"
            );
        }
    }

    /// The interruption [`publishing_and_playing`] reports when its link is
    /// lost: room, publisher, player.
    fn interrupted() -> Vec<Event> {
        vec![
            state(RoomState::Connecting, ErrorCode::NetworkInterrupted),
            changed(
                RoomStateChangedReason::Reconnecting,
                ErrorCode::NetworkInterrupted,
            ),
            publisher(
                "p1",
                PublisherState::PublishRequesting,
                ErrorCode::NetworkInterrupted,
            ),
            player(
                "s1",
                PlayerState::PlayRequesting,
                ErrorCode::NetworkInterrupted,
            ),
        ]
    }

    /// A new server session for [`publishing_and_playing`] logs in on `conn`
    /// at `ms`: Reconnected, the old transports close, "p1" is claimed again
    /// (and publishes once acknowledged and connected), "s1" asked for again.
    fn relogin_republishes_and_replays(h: &mut H, ms: u64, conn: ConnId) -> Vec<Output> {
        let mut snapshot = ok(&["a"], &[("sa", "a")], 2);
        snapshot.session_id = "s2".into();
        let mut all = h.input(ms, conn, ServerMessage::LoginOk(snapshot));
        assert_eq!(
            events(&all),
            vec![
                state(RoomState::Connected, ErrorCode::Success),
                changed(RoomStateChangedReason::Reconnected, ErrorCode::Success),
            ]
        );
        assert_eq!(media(&all), relogin_media_commands());
        let sent = sent(&all);
        assert_eq!(sent.len(), 2, "{sent:?}");
        let (id, stream_id) = publish_request(&sent[0]).expect("p1 claimed again");
        assert_eq!(stream_id, "p1");
        assert!(
            matches!(&sent[1], ClientMessage::PlayStream { stream_id, .. } if stream_id == "s1")
        );
        let out = h.input(ms + 1, conn, stream_published(id, "p1"));
        assert_eq!(media(&out), vec![negotiate_cmd("p1", MediaRole::Publish)]);
        all.extend(out);
        h.publish_connects(ms + 2);
        let ready = ServerMessage::StreamReady {
            stream_id: "s1".into(),
        };
        let out = h.input(ms + 3, conn, ready);
        assert_eq!(media(&out), vec![negotiate_cmd("s1", MediaRole::Play)]);
        all.extend(out);
        let out = h.media(ms + 4, "s1", MediaRole::Play, MediaFact::Connected);
        assert_eq!(
            events(&out),
            vec![player("s1", PlayerState::Playing, ErrorCode::Success)]
        );
        all.extend(out);
        all
    }

    /// A client frozen (suspended, SIGSTOPped) past the server's heartbeat
    /// timeout reads `expiry` on its old connection first thing after
    /// waking: an interruption, then a fresh login within the retry window.
    fn frozen_client_logs_in_again(expiry: ServerMessage) {
        let mut h = H::new();
        let conn = publishing_and_playing(&mut h);
        // Nothing sent or received from 12 ms to 60 s.
        let mut all = h.input(60_000, conn, expiry);
        assert_eq!(events(&all), interrupted());
        assert!(all.contains(&Output::Close { conn }));
        assert_eq!(connect_of(&all), None, "backs off first: {all:?}");
        assert_eq!(h.s.poll_timeout(), Some(h.at(60_250)));
        let out = h.tick(60_250);
        let c2 = connect_of(&out).expect("reconnects after the backoff");
        all.extend(out);
        assert!(
            matches!(h.challenge(60_260, c2), ClientMessage::Login(_)),
            "the expired session cannot be resumed"
        );
        all.extend(relogin_republishes_and_replays(&mut h, 60_270, c2));
        assert_never_ended(&all);
        // Heartbeats go on the new connection.
        assert_eq!(
            h.tick(65_270),
            vec![Output::Send {
                conn: c2,
                msg: ClientMessage::Heartbeat { ack: 0 }
            }]
        );
    }

    #[test]
    fn session_expired_while_frozen_logs_in_again() {
        frozen_client_logs_in_again(session_expired());
    }

    #[test]
    fn legacy_kick_for_an_expired_session_logs_in_again() {
        frozen_client_logs_in_again(ServerMessage::Kicked {
            code: ErrorCode::SessionExpired,
            message: "no heartbeat".into(),
        });
    }

    #[test]
    fn frozen_client_whose_own_timer_fires_first_logs_in_again() {
        let mut h = H::new();
        let conn = publishing_and_playing(&mut h);
        // Waking at 60 s, the silence timer runs before the socket is read.
        assert_eq!(h.s.poll_timeout(), Some(h.at(5_000)));
        let mut all = h.tick(60_000);
        assert_eq!(events(&all), interrupted());
        assert!(all.contains(&Output::Close { conn }));
        // The server's notice on the dropped connection comes too late.
        assert!(h.input(60_001, conn, session_expired()).is_empty());
        let out = h.tick(60_250);
        let c2 = connect_of(&out).unwrap();
        all.extend(out);
        assert!(matches!(h.challenge(60_260, c2), ClientMessage::Resume(_)));
        let (out, c3) = h.resume_refused(60_270, c2);
        assert!(out.contains(&Output::Close { conn: c2 }));
        assert!(events(&out).is_empty(), "{out:?}");
        all.extend(out);
        assert!(matches!(h.challenge(60_280, c3), ClientMessage::Login(_)));
        all.extend(relogin_republishes_and_replays(&mut h, 60_290, c3));
        assert_never_ended(&all);
    }

    #[test]
    fn session_expired_during_a_resume_logs_in_at_once() {
        let mut h = H::new();
        let conn = publishing(&mut h);
        h.close(1_000, conn);
        let c2 = h.reconnect(1_250, 1_260);
        let out = h.input(1_270, c2, session_expired());
        assert!(out.contains(&Output::Close { conn: c2 }));
        assert!(events(&out).is_empty(), "{out:?}");
        let c3 = connect_of(&out).expect("logs in at once");
        assert!(matches!(h.challenge(1_280, c3), ClientMessage::Login(_)));
    }

    /// Renews the token at `ms` on `conn` and acknowledges it with `publish`.
    fn renewed(h: &mut H, ms: u64, conn: ConnId, publish: bool) -> Vec<Output> {
        h.s.renew_token(h.at(ms), "CF1.renewed.sig").unwrap();
        let out = h.drain();
        let [ClientMessage::RenewToken { request_id, .. }] = &sent(&out)[..] else {
            panic!("expected renew, got {out:?}");
        };
        let body = AckBody::TokenRenewed {
            expires_in_ms: 600_000,
            publish,
            ice_servers: Vec::new(),
        };
        let request_id = *request_id;
        h.input(ms + 1, conn, ServerMessage::Ack { request_id, body })
    }

    /// Asserts that `out` announces no stream.
    fn announces_nothing(out: &[Output]) {
        assert!(
            sent(out).iter().all(|m| publish_request(m).is_none()),
            "{out:?}"
        );
    }

    #[test]
    fn renewed_token_without_publish_stops_every_publisher_for_good() {
        let mut h = H::new();
        let conn = publishing(&mut h);
        // A second stream, announced but not yet confirmed.
        h.s.start_publishing(h.at(10), "p2", PublishChannel::Aux)
            .unwrap();
        let (aux_request, _) = publish_request(&sent(&h.drain())[0]).unwrap();
        // A renewal that keeps the privilege changes nothing.
        let out = renewed(&mut h, 20, conn, true);
        assert!(events(&out).is_empty() && media(&out).is_empty(), "{out:?}");
        let out = renewed(&mut h, 30, conn, false);
        let code = ErrorCode::TokenNoPublishPrivilege;
        assert_eq!(
            events(&out),
            vec![
                publisher("p1", PublisherState::NoPublish, code),
                publisher("p2", PublisherState::NoPublish, code),
            ]
        );
        assert_eq!(
            media(&out),
            vec![
                MediaCommand::StopPublishing {
                    channel: PublishChannel::Main
                },
                MediaCommand::StopPublishing {
                    channel: PublishChannel::Aux
                },
            ]
        );
        // The server already withdrew them: nothing to tell it.
        assert!(sent(&out).is_empty(), "{out:?}");
        // The refusal of the announcement in flight changes nothing more.
        let out = h.input(
            40,
            conn,
            ServerMessage::error(Some(aux_request), code, false),
        );
        assert!(
            events(&out)
                .iter()
                .all(|e| !matches!(e, Event::PublisherStateUpdate { .. })),
            "{out:?}"
        );
        assert!(media(&out).is_empty());
        // The room stays up, and no cut brings the streams back: not a
        // resume, not a fresh login.
        let mut all = Vec::new();
        for t in (5_000..=10_000).step_by(5_000) {
            all.extend(h.tick(t));
            all.extend(h.input(t, conn, ServerMessage::HeartbeatAck { server_time_ms: t }));
        }
        all.extend(h.close(11_000, conn));
        let c2 = h.reconnect(11_250, 11_260);
        all.extend(h.input(11_270, c2, ServerMessage::Resumed { missed: vec![] }));
        all.extend(h.close(12_000, c2));
        let c3 = h.reconnect(12_250, 12_260);
        let (out, c4) = h.resume_refused(12_270, c3);
        all.extend(out);
        all.extend(h.answer_login(12_280, 12_290, c4, ok(&["a"], &[("sa", "a")], 2)));
        announces_nothing(&all);
        assert!(
            events(&all)
                .iter()
                .all(|e| !matches!(e, Event::PublisherStateUpdate { .. })),
            "{all:?}"
        );
        assert!(h.s.is_logged_in());
    }

    #[test]
    fn publish_refused_for_want_of_privilege_is_never_retried() {
        let mut h = H::new();
        let (conn, _) = h.logged_in(0, false, ok(&[], &[], 1));
        h.s.start_publishing(h.at(10), "p1", PublishChannel::Main)
            .unwrap();
        let (id, _) = publish_request(&sent(&h.drain())[0]).unwrap();
        let code = ErrorCode::TokenNoPublishPrivilege;
        let out = h.input(20, conn, ServerMessage::error(Some(id), code, false));
        assert_eq!(
            events(&out),
            vec![Event::PublisherStateUpdate {
                stream_id: "p1".into(),
                state: PublisherState::NoPublish,
                error_code: code.code(),
                extended_data: details(code.message()),
            }]
        );
        assert_eq!(
            media(&out),
            vec![MediaCommand::StopPublishing {
                channel: PublishChannel::Main
            }]
        );
        announces_nothing(&out);
        // A cut, a refused resume and a fresh login: still not announced.
        let mut all = h.close(1_000, conn);
        let c2 = h.reconnect(1_250, 1_260);
        let (out, c3) = h.resume_refused(1_270, c2);
        all.extend(out);
        all.extend(h.answer_login(1_280, 1_290, c3, ok(&[], &[], 1)));
        announces_nothing(&all);
        assert!(
            events(&all)
                .iter()
                .all(|e| !matches!(e, Event::PublisherStateUpdate { .. })),
            "{all:?}"
        );
        assert_eq!(
            h.s.stop_publishing(h.at(2_000), PublishChannel::Main),
            Err(PublisherError::NotPublishing)
        );
    }

    #[test]
    fn shutdown_is_an_interruption() {
        let mut h = H::new();
        let (conn, _) = h.logged_in(0, false, ok(&[], &[], 1));
        let out = h.input(
            100,
            conn,
            ServerMessage::Shutdown {
                code: ErrorCode::ServerShuttingDown,
                message: "bye".into(),
            },
        );
        let ev = events(&out);
        assert!(ev.contains(&state(RoomState::Connecting, ErrorCode::NetworkInterrupted)));
        assert!(out.contains(&Output::Close { conn }));
        assert_eq!(h.s.poll_timeout(), Some(h.at(350)));
    }

    #[test]
    fn heartbeats_and_silent_server_detection() {
        let mut h = H::new();
        let (conn, _) = h.logged_in(0, false, ok(&[], &[], 1));
        h.input(
            1000,
            conn,
            event(1, RoomEvent::OnlineUserCount { count: 2 }),
        );
        assert_eq!(h.s.poll_timeout(), Some(h.at(5000)));
        assert_eq!(
            h.tick(5000),
            vec![Output::Send {
                conn,
                msg: ClientMessage::Heartbeat { ack: 1 }
            }]
        );
        assert_eq!(h.s.poll_timeout(), Some(h.at(10_000)));
        h.tick(10_000);
        // Last heard at 1000: silent after 1000 + 2 * 5000 + 2000.
        assert_eq!(h.s.poll_timeout(), Some(h.at(13_000)));
        let out = h.tick(13_000);
        assert!(out.contains(&Output::Close { conn }));
        assert_eq!(
            events(&out)[0],
            state(RoomState::Connecting, ErrorCode::NetworkInterrupted)
        );
    }

    #[test]
    fn duplicate_events_are_ignored() {
        let mut h = H::new();
        let (conn, _) = h.logged_in(0, true, ok(&[], &[], 1));
        assert_eq!(
            events(&h.input(1, conn, event(1, users_added(&["b"])))).len(),
            1
        );
        assert!(h.input(2, conn, event(1, users_added(&["b"]))).is_empty());
        assert_eq!(
            events(&h.input(3, conn, event(2, users_added(&["c"])))).len(),
            1
        );
    }

    #[test]
    fn token_will_expire_thirty_seconds_before_and_renew_resets() {
        let mut h = H::new();
        let mut login_ok = ok(&[], &[], 1);
        login_ok.token_expires_in_ms = Some(100_000);
        let (conn, _) = h.logged_in(0, false, login_ok);
        h.keep_alive(conn, 5000, 65_000);
        let out = h.tick(69_999);
        assert!(events(&out).is_empty());
        assert_eq!(
            events(&h.tick(70_000)),
            vec![Event::RoomTokenWillExpire {
                room_id: "r1".into(),
                remain_time_in_second: 30
            }]
        );
        h.s.renew_token(h.at(71_000), "CF1.new.sig").unwrap();
        let out = h.drain();
        let [ClientMessage::RenewToken { request_id, token }] = &sent(&out)[..] else {
            panic!("expected renew, got {out:?}");
        };
        assert_eq!(token, "CF1.new.sig");
        h.input(
            71_100,
            conn,
            ServerMessage::Ack {
                request_id: *request_id,
                body: AckBody::TokenRenewed {
                    expires_in_ms: 60_000,
                    publish: true,
                    ice_servers: Vec::new(),
                },
            },
        );
        // Fires again 30 s before the new expiry (71.1 + 60 - 30 s).
        h.keep_alive(conn, 75_000, 100_000);
        assert!(events(&h.tick(101_000)).is_empty());
        assert_eq!(
            events(&h.tick(101_100)),
            vec![Event::RoomTokenWillExpire {
                room_id: "r1".into(),
                remain_time_in_second: 30
            }]
        );
    }

    #[test]
    fn token_with_little_time_left_warns_at_once() {
        let mut h = H::new();
        let mut login_ok = ok(&[], &[], 1);
        login_ok.token_expires_in_ms = Some(12_000);
        let (_, out) = h.logged_in(0, false, login_ok);
        assert_eq!(
            events(&out).last(),
            Some(&Event::RoomTokenWillExpire {
                room_id: "r1".into(),
                remain_time_in_second: 12
            })
        );
    }

    #[test]
    fn publisher_state_sequences() {
        let mut h = H::new();
        let conn = h.login(0, false);
        // Publishing may start while still connecting; it is announced on login.
        h.s.start_publishing(h.at(0), "p1", PublishChannel::Main)
            .unwrap();
        let out = h.drain();
        assert_eq!(
            events(&out),
            vec![publisher(
                "p1",
                PublisherState::PublishRequesting,
                ErrorCode::Success
            )]
        );
        assert!(sent(&out).is_empty());
        let out = h.answer_login(1, 2, conn, ok(&[], &[], 1));
        let (id, _) = publish_request(&sent(&out)[0]).unwrap();
        let out = h.input(3, conn, stream_published(id, "p1"));
        assert!(events(&out).is_empty());
        assert_eq!(media(&out), vec![negotiate_cmd("p1", MediaRole::Publish)]);
        h.publish_connects(3);
        assert_eq!(
            h.s.start_publishing(h.at(4), "p2", PublishChannel::Main),
            Err(PublisherError::AlreadyPublishing)
        );
        assert_eq!(
            h.s.start_publishing(h.at(4), "p1", PublishChannel::Aux),
            Err(PublisherError::StreamIdInUse)
        );
        assert_eq!(
            h.s.start_publishing(h.at(4), "bad/id", PublishChannel::Aux),
            Err(PublisherError::InvalidStreamId)
        );
        // The server refuses a stream ID in use elsewhere.
        h.s.start_publishing(h.at(5), "taken", PublishChannel::Aux)
            .unwrap();
        let out = h.drain();
        let (id, _) = publish_request(&sent(&out)[0]).unwrap();
        let out = h.input(
            6,
            conn,
            ServerMessage::error(Some(id), ErrorCode::StreamIdInUse, false),
        );
        let ev = events(&out);
        assert!(matches!(
            &ev[..],
            [Event::PublisherStateUpdate { stream_id, state: PublisherState::NoPublish, error_code, .. }]
                if stream_id == "taken" && *error_code == ErrorCode::StreamIdInUse.code()
        ));
        // Stop.
        h.s.stop_publishing(h.at(7), PublishChannel::Main).unwrap();
        let out = h.drain();
        assert_eq!(
            events(&out),
            vec![publisher(
                "p1",
                PublisherState::NoPublish,
                ErrorCode::Success
            )]
        );
        assert!(matches!(
            &sent(&out)[..],
            [ClientMessage::StopPublishing { stream_id, .. }] if stream_id == "p1"
        ));
        assert_eq!(
            h.s.stop_publishing(h.at(8), PublishChannel::Main),
            Err(PublisherError::NotPublishing)
        );
    }

    #[test]
    fn wrong_calls_fail_at_once() {
        let mut h = H::new();
        let now = h.at(0);
        assert_eq!(h.s.logout(now), Err(RoomError::NotLoggedIn));
        assert_eq!(h.s.renew_token(now, "t"), Err(RoomError::NotLoggedIn));
        assert_eq!(h.s.send_broadcast(now, "hi"), Err(RoomError::NotLoggedIn));
        assert_eq!(
            h.s.start_publishing(now, "p", PublishChannel::Main),
            Err(PublisherError::NotLoggedIn)
        );
        let login = |s: &mut Session, room: &str, id: &str, name: &str| {
            s.login(now, room, User::new(id, name), RoomConfig::default())
        };
        assert_eq!(login(&mut h.s, "", "u", ""), Err(RoomError::InvalidRoomId));
        assert_eq!(
            login(&mut h.s, "r 1", "u", ""),
            Err(RoomError::InvalidRoomId)
        );
        assert_eq!(login(&mut h.s, "r", "", ""), Err(RoomError::InvalidUserId));
        assert_eq!(
            login(&mut h.s, "r", "u", "a\nb"),
            Err(RoomError::InvalidUserName)
        );
        assert!(h.drain().is_empty());
        login(&mut h.s, "r", "u", "").unwrap();
        assert_eq!(
            login(&mut h.s, "r", "u", ""),
            Err(RoomError::AlreadyLoggedIn)
        );
        assert_eq!(h.s.send_broadcast(now, ""), Err(RoomError::BroadcastEmpty));
        assert_eq!(
            h.s.send_broadcast(now, &"x".repeat(1025)),
            Err(RoomError::BroadcastTooLong)
        );
        assert_eq!(h.s.renew_token(now, ""), Err(RoomError::InvalidToken));

        let mut no_sign = Session::new(SessionConfig {
            app_id: 1,
            app_sign: String::new(),
            reconnect: ReconnectPolicy::default(),
        });
        assert_eq!(
            no_sign.login(now, "r", User::new("u", ""), RoomConfig::default()),
            Err(RoomError::MissingCredentials)
        );
    }

    #[test]
    fn broadcasts_resolve_with_ack_error_timeout_or_logout() {
        let mut h = H::new();
        let (conn, _) = h.logged_in(0, false, ok(&[], &[], 1));
        let b1 = h.s.send_broadcast(h.at(10), "one").unwrap();
        let b2 = h.s.send_broadcast(h.at(10), "two").unwrap();
        let b3 = h.s.send_broadcast(h.at(10), "three").unwrap();
        let out = h.drain();
        assert_eq!(
            sent(&out)[0],
            ClientMessage::SendBroadcast {
                request_id: b1,
                text: "one".into()
            }
        );
        let out = h.input(
            20,
            conn,
            ServerMessage::Ack {
                request_id: b1,
                body: AckBody::BroadcastSent { message_id: 42 },
            },
        );
        assert_eq!(done(&out), vec![(b1, Ok(42))]);
        let out = h.input(
            30,
            conn,
            ServerMessage::error(Some(b2), ErrorCode::BroadcastRateLimited, false),
        );
        assert_eq!(
            done(&out),
            vec![(
                b2,
                Err(RoomError::Rejected(ErrorCode::BroadcastRateLimited))
            )]
        );
        h.tick(5000); // heartbeat
        assert_eq!(h.s.poll_timeout(), Some(h.at(5010)));
        assert_eq!(
            done(&h.tick(5010)),
            vec![(b3, Err(RoomError::RequestTimeout))]
        );
        let b4 = h.s.send_broadcast(h.at(6000), "four").unwrap();
        h.s.logout(h.at(6001)).unwrap();
        let out = h.drain();
        assert_eq!(done(&out), vec![(b4, Err(RoomError::LoggedOut))]);
    }

    #[test]
    fn incoming_broadcast_is_an_event() {
        let mut h = H::new();
        let (conn, _) = h.logged_in(0, false, ok(&[], &[], 1));
        let message = protocol::BroadcastMessage {
            message_id: 7,
            from_user: wire_user("a"),
            text: "hi".into(),
            send_time_ms: 1,
        };
        let out = h.input(1, conn, event(1, RoomEvent::Broadcast { message }));
        assert_eq!(
            events(&out),
            vec![Event::RoomBroadcastMessage {
                room_id: "r1".into(),
                messages: vec![BroadcastMessage {
                    message_id: 7,
                    from_user: user("a"),
                    text: "hi".into(),
                    send_time_ms: 1
                }]
            }]
        );
    }

    #[test]
    fn logout_stops_publishers_then_disconnects() {
        let mut h = H::new();
        let conn = publishing(&mut h);
        h.s.logout(h.at(100)).unwrap();
        let out = h.drain();
        assert!(matches!(
            out[0],
            Output::Send {
                msg: ClientMessage::Logout { .. },
                ..
            }
        ));
        assert_eq!(out[1], Output::Close { conn });
        assert_eq!(
            events(&out),
            vec![
                publisher("p1", PublisherState::NoPublish, ErrorCode::Success),
                state(RoomState::Disconnected, ErrorCode::Success),
                changed(RoomStateChangedReason::Logout, ErrorCode::Success),
            ]
        );
        assert!(!h.s.is_logged_in());
        assert_eq!(h.s.poll_timeout(), None);
        // Late input from the closed connection is ignored; a new login works.
        assert!(h.input(200, conn, event(1, users_added(&["x"]))).is_empty());
        assert!(h.login(300, false) > conn);
    }

    #[test]
    fn server_error_without_request_is_a_debug_event() {
        let mut h = H::new();
        let (conn, _) = h.logged_in(0, false, ok(&[], &[], 1));
        let out = h.input(
            1,
            conn,
            ServerMessage::error(None, ErrorCode::RateLimited, false),
        );
        assert!(matches!(
            &events(&out)[..],
            [Event::Debug { error_code, .. }] if *error_code == ErrorCode::RateLimited.code()
        ));
    }
}
