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
//!
//! This file holds the state every concern shares (`Session`, `Room`,
//! `Link`) and the API the driver calls (`login`, `logout`, `handle_*`,
//! `poll_*`). Each concern adds its own `impl Session` (its commands) and
//! `impl Room` blocks in a sibling file:
//!
//! - `handshake.rs`: connecting, `Challenge`, `Login`/`Resume` and their
//!   answers, losing the connection, backing off, ending the room;
//! - `redirect.rs`: following a `Redirect` to the room's node (several
//!   nodes on one Redis), bounded and same-scheme only;
//! - `heartbeat.rs`: heartbeats and detecting a silent server;
//! - `requests.rs`: the requests waiting for an answer, (re)sending them,
//!   acks, errors and broadcast timeouts;
//! - `token.rs`: renewing the token and warning before it expires;
//! - `publish.rs`: publishers and the local mutes announced for them;
//! - `play.rs`: players;
//! - `media_links.rs`: each stream's peer connection and the media
//!   decisions (when to negotiate, retry, close);
//! - `events.rs`: the room's users and streams as the server reports them;
//! - `outbox.rs`: the queued outputs and the helpers that build events;
//! - `tests/`: the fake-clock harness and the tests.

mod events;
mod handshake;
mod heartbeat;
mod media_links;
mod outbox;
mod play;
mod publish;
mod redirect;
mod requests;
mod token;

#[cfg(test)]
mod tests;

use super::media::{MediaCommand, MediaFact};
use super::reconnect::{Backoff, ReconnectPolicy};
use super::view::View;
use super::RoomConfig;
use crate::error::RoomError;
use crate::event::{Event, RoomState, RoomStateChangedReason, User};
use protocol::{ids, ClientMessage, ErrorCode, MediaRole, ServerMessage};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use self::handshake::HANDSHAKE_TIMEOUT;
use self::heartbeat::DEFAULT_HEARTBEAT;
use self::outbox::{details, Outbox, NO_DATA};
use self::play::Player;
use self::publish::{LocalMutes, Publisher};
use self::requests::Request;
use self::token::check_token;

pub(crate) use self::publish::LocalMute;

/// Identifies one WebSocket connection attempt.
pub(crate) type ConnId = u64;

/// What the session needs from the engine profile.
#[derive(Debug, Clone)]
pub(crate) struct SessionConfig {
    /// The app's id, sent in every login.
    pub(crate) app_id: u32,
    /// The AppSign the login proof is keyed with (empty: log in with tokens only).
    pub(crate) app_sign: String,
    /// How long and how often to retry a lost connection.
    pub(crate) reconnect: ReconnectPolicy,
    /// The server URL the engine was created with: where every login
    /// starts, and the scheme a redirect must keep.
    pub(crate) server_url: String,
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
    /// Open a new connection and report on it with this id: to `url`, the
    /// room's node a server redirected to, or else the engine's server URL.
    Connect { conn: ConnId, url: Option<String> },
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
            target: None,
            redirects: 0,
        });
        self.out.state(
            room_id,
            RoomState::Connecting,
            RoomStateChangedReason::Logining,
            ErrorCode::Success,
            NO_DATA.into(),
        );
        self.out.push(Output::Connect { conn, url: None });
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
        self.out.pop()
    }

    /// When `handle_timeout` must be called next.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.room.as_ref().and_then(Room::next_timeout)
    }
}

// ---------------------------------------------------------------------------

/// What outlives rooms: the configuration, the id counters and the mutes.
#[derive(Debug)]
struct Ctx {
    config: SessionConfig,
    next_conn: ConnId,
    next_request: u32,
    mutes: LocalMutes,
}

impl Ctx {
    /// A fresh connection id.
    fn new_conn(&mut self) -> ConnId {
        self.next_conn += 1;
        self.next_conn
    }

    /// A fresh request id.
    fn new_request(&mut self) -> u32 {
        self.next_request = self.next_request.wrapping_add(1);
        self.next_request
    }
}

/// Whether the room goes on after an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    End,
}

/// Where the connection to the server stands.
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
    /// The connection this link is on, if any.
    fn conn(&self) -> Option<ConnId> {
        match *self {
            Link::Waiting { .. } => None,
            Link::Connecting { conn, .. }
            | Link::Authenticating { conn, .. }
            | Link::Live { conn } => Some(conn),
        }
    }
}

/// A joined room: everything the session knows between `login` and the end.
#[derive(Debug)]
struct Room {
    room_id: String,
    user: User,
    /// The app's options; the token is replaced by a renewal.
    config: RoomConfig,
    link: Link,
    /// The current run of retries (its window ends the room).
    backoff: Backoff,
    /// A login succeeded once: later logins are relogins.
    ever_connected: bool,
    /// `(session_id, resume_key)` of the server session.
    resume: Option<(String, String)>,
    /// The last numbered event applied (acknowledged by heartbeats, asked
    /// for again by a resume).
    last_seq: u64,
    /// The interval the server asked for (`heartbeat.rs`).
    heartbeat_interval: Duration,
    /// When the next heartbeat is due, on a live link.
    next_heartbeat: Option<Instant>,
    /// When anything last arrived from the server.
    last_rx: Instant,
    /// When the token expires (`token.rs`).
    token_expires_at: Option<Instant>,
    /// When to warn that the token expires, unless done.
    token_warn_at: Option<Instant>,
    /// The users and streams as last reported to the app (`events.rs`).
    view: View,
    /// Per channel (`publish.rs`).
    publishers: [Option<Publisher>; 2],
    /// By stream id (`play.rs`).
    players: BTreeMap<String, Player>,
    /// Requests waiting for an answer, by request id (`requests.rs`).
    requests: BTreeMap<u32, Request>,
    /// The room's node a server redirected to, connected to instead of the
    /// engine's server URL until a connection to it fails (`redirect.rs`).
    target: Option<String>,
    /// Redirects followed since the last `LoginOk`.
    redirects: u8,
}

impl Room {
    /// Something happened on the current connection.
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
                let reason = self.failure_reason();
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

    /// A message from the server on the current connection: each kind goes
    /// to the concern that handles it.
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
                self.on_challenge(conn, version, &nonce, ctx, out)
            }
            ServerMessage::LoginOk(ok) => self.on_login_ok(now, conn, ok, ctx, out),
            ServerMessage::LoginFailed { code, message } => {
                return self.on_login_failed(code, message, out)
            }
            ServerMessage::Redirect { url } => return self.on_redirect(now, url, ctx, out),
            ServerMessage::Resumed { missed } => self.on_resumed(now, conn, missed, ctx, out),
            ServerMessage::ResumeFailed { code, message } => {
                return self.on_resume_failed(now, code, message, ctx, out)
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
            } => self.on_answer(request_id, stream_id, role, sdp, out),
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
            // Dynacast: encode only the layers someone plays.
            ServerMessage::VideoLayers { stream_id, active } => {
                let ours = self
                    .publishers
                    .iter()
                    .flatten()
                    .any(|p| p.stream_id == stream_id);
                if ours {
                    out.media(MediaCommand::VideoLayers { stream_id, active });
                }
            }
        }
        Flow::Continue
    }

    /// Runs the room's timers that are due at `now`: the link's (heartbeat,
    /// or backoff and handshake), the token warning, media links, broadcasts.
    fn on_timeout(&mut self, now: Instant, ctx: &mut Ctx, out: &mut Outbox) -> Flow {
        match self.link {
            Link::Live { conn } => self.heartbeat_timer(now, conn, out),
            _ => {
                if self.link_timer(now, ctx, out) == Flow::End {
                    return Flow::End;
                }
            }
        }
        self.token_timer(now, out);
        self.on_media_timers(now, out);
        self.expire_broadcasts(now, out);
        Flow::Continue
    }

    /// The earliest of the room's timers.
    fn next_timeout(&self) -> Option<Instant> {
        let link = match self.link {
            Link::Live { .. } => self.heartbeat_deadline(),
            Link::Waiting { until } => until.min(self.backoff.window_end()),
            Link::Connecting { deadline, .. } | Link::Authenticating { deadline, .. } => {
                deadline.min(self.backoff.window_end())
            }
        };
        std::iter::once(link)
            .chain(self.token_warn_at)
            .chain(self.broadcast_deadlines())
            .chain(self.media_deadlines())
            .min()
    }
}
