//! One WebSocket connection: challenge, login or resume, then requests,
//! heartbeats and outgoing events until it closes.
//!
//! The loop is generic over the socket's `Sink`/`Stream` halves so it can run
//! on anything that carries [`Message`]s. Room logic lives in the
//! hub (`hub::Hub`); this module turns frames into hub calls and hub
//! output into frames.

use crate::apps::LoginClaim;
use crate::gate::Admitted;
use crate::hub::{Admission, Leave, Muted, SessionInfo, OUTBOX_CAPACITY};
use crate::media_queue::{MediaOp, MediaQueue};
use crate::nodes::Placement;
use crate::sfu::StreamKey;
use crate::state::{shutdown_begun, ServerState};
use crate::store::{Claim, Hold, JoinRequest, Member};
use axum::extract::ws::{CloseFrame, Message};
use axum::BoxError;
use confer_turn::TokenBucket;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use protocol::ids::{check_extra_info, check_user_name, RoomId, StreamId, UserId};
use protocol::{
    AckBody, ClientMessage, DecodeError, ErrorCode, Login, MediaRole, Resume, ServerMessage,
    PROTOCOL_VERSION,
};
use rand::Rng;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

/// Close code for a normal close (RFC 6455 section 7.4.1).
const CLOSE_NORMAL: u16 = 1000;
/// Close code when the server goes away.
const CLOSE_GOING_AWAY: u16 = 1001;
/// Close code for a frame that breaks the WebSocket protocol.
const CLOSE_PROTOCOL_ERROR: u16 = 1002;
/// Close code for a text frame that is not UTF-8.
const CLOSE_INVALID_PAYLOAD: u16 = 1007;
/// Close code for protocol abuse.
const CLOSE_POLICY: u16 = 1008;
/// Close code for an oversized message.
const CLOSE_TOO_BIG: u16 = 1009;
/// Close code for "try again later" (IANA registry): refused for capacity.
pub const CLOSE_TRY_AGAIN_LATER: u16 = 1013;

/// Why reading the WebSocket failed, as far as the connection cares: each
/// kind gets its own typed error and close code.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// A frame or message beyond the size the codec accepts.
    #[error("frame too large: {0}")]
    TooLarge(#[source] tungstenite::error::CapacityError),
    /// A text frame whose payload is not UTF-8.
    #[error("text frame is not valid UTF-8")]
    InvalidUtf8,
    /// A frame that breaks RFC 6455 (reserved bits, unmasked, bad opcode...).
    #[error("websocket protocol violation: {0}")]
    Protocol(#[source] tungstenite::error::ProtocolError),
    /// The socket failed or closed without a close frame.
    #[error("websocket read failed: {0}")]
    Io(#[source] BoxError),
}

/// Why a message could not be written; either way the socket is unusable.
#[derive(Debug, thiserror::Error)]
enum WriteError {
    /// The sink refused the message (its error type only says what happened).
    #[error("websocket write failed: {0}")]
    Failed(#[source] BoxError),
    /// The peer did not take the message in time (it stopped reading).
    #[error("websocket write timed out after {0:?}")]
    TimedOut(Duration),
}

/// A message over the connection's rate (`RateLimited` to the client).
#[derive(Debug, thiserror::Error)]
#[error("message rate exceeded")]
struct RateExceeded;

/// Runs a connection to its end. `admitted` is its TCP connection's place
/// at the gate: until the session logs in it may be evicted to make room
/// for a newer connection when the server is full.
pub async fn serve<S, R>(state: ServerState, sink: S, stream: R, admitted: Option<Admitted>)
where
    S: Sink<Message> + Unpin + Send,
    S::Error: Into<BoxError>,
    R: Stream<Item = Result<Message, ReadError>> + Unpin + Send,
{
    let gauge_state = state.clone();
    let _gauge = gauge_state.metrics().connection();
    let mut conn = Connection {
        login_deadline: Instant::now() + Duration::from_millis(state.config().login_timeout_ms),
        rate: TokenBucket::new(
            state.config().limits.messages_per_second.into(),
            state.config().limits.message_burst.max(1).into(),
            Instant::now(),
        ),
        nonce: random_hex(16),
        session: None,
        outbox: None,
        send_timeout: Duration::from_millis(state.config().heartbeat_timeout_ms),
        media_queue: None,
        admitted,
        state,
        sink,
    };
    conn.run(stream).await;
    if let Some(s) = conn.session.take() {
        conn.state.hub().detach(&s.session_id, s.conn_id);
        tracing::debug!(session_id = %s.session_id, user_id = %s.info.user.user_id, "connection closed; session detached");
    }
}

/// Answers a WebSocket that cannot be served (`ServerShuttingDown`: it
/// upgraded while shutdown began; capacity is refused earlier, at accept)
/// with a fatal error and a close.
pub async fn refuse<S>(state: ServerState, mut sink: S, code: ErrorCode)
where
    S: Sink<Message> + Unpin + Send,
{
    let _gauge = state.metrics().connection();
    state.metrics().error(code);
    tracing::warn!(code = code.name(), "connection refused");
    let text = ServerMessage::error(None, code, true).encode();
    if sink.send(Message::Text(text.into())).await.is_ok() {
        state.metrics().message_out();
    }
    let _ = sink.send(close_frame(CLOSE_GOING_AWAY, code)).await;
}

struct Connection<S> {
    state: ServerState,
    sink: S,
    login_deadline: Instant,
    rate: TokenBucket,
    nonce: String,
    session: Option<Attached>,
    outbox: Option<mpsc::Receiver<ServerMessage>>,
    send_timeout: Duration,
    /// The session's media signaling worker, started on first use.
    media_queue: Option<MediaQueue>,
    /// The TCP connection's place at the gate (evictable until logged in).
    admitted: Option<Admitted>,
}

/// The session this connection is attached to.
struct Attached {
    session_id: String,
    conn_id: u64,
    info: SessionInfo,
}

/// How long a connection that is done for keeps reading what the client
/// already sent.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// How many frames it reads at most meanwhile. Generous on purpose: closing
/// a socket with unread input makes the kernel send a reset, and the client
/// then loses what we wrote last (the error that says why it was closed), so
/// a client that flooded us must be read to its end; [`CLOSE_GRACE`] bounds it.
const CLOSE_MAX_FRAMES: usize = 16_384;

/// What the loop does after a step.
enum Next {
    Continue,
    /// Send a close frame, read what the client still sends, and end.
    Close(u16, ErrorCode),
    /// Send a close frame and end at once: the slot is needed now.
    CloseNow(u16, ErrorCode),
    /// A write failed: read what the client already sent, and end.
    Broken,
    /// End at once (the client closed or the socket is gone).
    End,
}

impl<S> Connection<S>
where
    S: Sink<Message> + Unpin + Send,
    S::Error: Into<BoxError>,
{
    async fn run<R>(&mut self, mut stream: R)
    where
        R: Stream<Item = Result<Message, ReadError>> + Unpin + Send,
    {
        let mut shutdown = self.state.shutdown_signal();
        let challenge = ServerMessage::Challenge {
            version: PROTOCOL_VERSION,
            nonce: self.nonce.clone(),
        };
        if self.send(&challenge).await.is_err() {
            return;
        }
        loop {
            let logged_in = self.session.is_some();
            let deadline = tokio::time::Instant::from_std(self.login_deadline);
            let next = tokio::select! {
                biased;
                () = shutdown_begun(&mut shutdown) => {
                    let bye = ServerMessage::Shutdown {
                        code: ErrorCode::ServerShuttingDown,
                        message: ErrorCode::ServerShuttingDown.message().to_owned(),
                    };
                    self.send_then(&bye, Next::Close(CLOSE_GOING_AWAY, ErrorCode::ServerShuttingDown))
                        .await
                }
                out = next_outgoing(&mut self.outbox) => match out {
                    Some(msg) => self.send_then(&msg, Next::Continue).await,
                    // The hub let go of this connection (kick, expiry, resumed
                    // elsewhere, too slow): close it.
                    None => Next::Close(CLOSE_NORMAL, ErrorCode::Success),
                },
                _ = tokio::time::sleep_until(deadline), if !logged_in => {
                    tracing::warn!("no login within the login timeout");
                    self.fatal(ErrorCode::LoginTimeoutOnServer).await
                }
                () = evicted(self.admitted.as_ref()), if !logged_in => {
                    tracing::info!("not logged in yet and evicted for a newer connection");
                    let code = ErrorCode::TooManyConnections;
                    self.send_then(
                        &ServerMessage::error(None, code, true),
                        Next::CloseNow(CLOSE_TRY_AGAIN_LATER, code),
                    )
                    .await
                }
                frame = stream.next() => match frame {
                    Some(Ok(frame)) => self.on_frame(frame).await,
                    // The write half still works after these: say why.
                    Some(Err(ReadError::TooLarge(error))) => {
                        tracing::warn!(%error, "oversized frame");
                        self.fatal_with(ErrorCode::MessageTooLarge, CLOSE_TOO_BIG).await
                    }
                    Some(Err(ReadError::InvalidUtf8)) => {
                        tracing::warn!("text frame is not UTF-8");
                        self.fatal_with(ErrorCode::MalformedMessage, CLOSE_INVALID_PAYLOAD).await
                    }
                    Some(Err(ReadError::Protocol(error))) => {
                        tracing::warn!(%error, "websocket protocol violation");
                        self.fatal_with(ErrorCode::MalformedMessage, CLOSE_PROTOCOL_ERROR).await
                    }
                    Some(Err(ReadError::Io(error))) => {
                        tracing::debug!(%error, "websocket read failed");
                        Next::End
                    }
                    None => Next::End,
                },
            };
            match next {
                Next::Continue => {}
                Next::Close(code, why) => {
                    let _ = self.sink.send(close_frame(code, why)).await;
                    self.drain(&mut stream).await;
                    break;
                }
                Next::CloseNow(code, why) => {
                    let _ = self.sink.send(close_frame(code, why)).await;
                    break;
                }
                Next::Broken => {
                    self.drain(&mut stream).await;
                    break;
                }
                Next::End => break,
            }
        }
    }

    /// Reads what the client still sends after this connection is done for
    /// (our close frame sent, or a write failed) until its close frame,
    /// bounded in time and count, and honours a `Logout` found there.
    ///
    /// - Completing the closing handshake keeps the kernel from resetting
    ///   the socket over unread input, which would lose our last messages
    ///   (the error that explains the close) on the way to the peer.
    /// - A client that logs out and closes at once can make one of our
    ///   writes fail (say an `SdpAnswer`: its socket is already gone) before
    ///   we read its `Logout`. That logout is still a clean one: without it
    ///   the session would linger until the heartbeat timeout, and the
    ///   others would see the user and its streams leave only then.
    async fn drain<R>(&mut self, stream: &mut R)
    where
        R: Stream<Item = Result<Message, ReadError>> + Unpin + Send,
    {
        let deadline = tokio::time::Instant::now() + CLOSE_GRACE;
        for _ in 0..CLOSE_MAX_FRAMES {
            // Only the read is bounded: a logout's cleanup runs to its end.
            match tokio::time::timeout_at(deadline, stream.next()).await {
                Ok(Some(Ok(Message::Text(text)))) => {
                    self.state.metrics().message_in();
                    let msg = ClientMessage::decode(text.as_str());
                    if matches!(msg, Ok(ClientMessage::Logout { .. })) {
                        self.logout_unanswered().await;
                    }
                }
                Ok(Some(Ok(Message::Close(_)) | Err(_)) | None) | Err(_) => break,
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    /// A `Logout` read after the connection stopped answering: the session
    /// leaves as on a normal logout (unless a resume elsewhere took it over),
    /// with no `Ack`.
    async fn logout_unanswered(&mut self) {
        let Some(s) = self.session.take() else {
            return;
        };
        self.outbox = None;
        let hub = self.state.hub();
        let cleanups = hub.leave_from(&s.session_id, s.conn_id, Leave::Logout, Instant::now());
        tracing::info!(session_id = %s.session_id, user_id = %s.info.user.user_id,
            "logout read after the connection closed");
        self.state.apply_cleanups(cleanups).await;
    }

    async fn on_frame(&mut self, frame: Message) -> Next {
        let now = Instant::now();
        let text = match frame {
            Message::Text(text) => text,
            Message::Binary(_) => {
                self.state.metrics().message_in();
                tracing::warn!("binary frame");
                return self.fatal(ErrorCode::BinaryNotSupported).await;
            }
            // Control frames cost a token like any message (the codec
            // answers pings itself) and never touch the hub: liveness is
            // what `Heartbeat` says.
            Message::Ping(_) | Message::Pong(_) => {
                return match self.take_token(now) {
                    Ok(()) => Next::Continue,
                    Err(RateExceeded) => self.fatal(ErrorCode::RateLimited).await,
                };
            }
            Message::Close(_) => return Next::End,
        };
        self.state.metrics().message_in();
        if self.take_token(now).is_err() {
            return self.fatal(ErrorCode::RateLimited).await;
        }
        if text.len() > self.state.config().limits.max_message_bytes {
            tracing::warn!(bytes = text.len(), "message too large");
            return self
                .fatal_with(ErrorCode::MessageTooLarge, CLOSE_TOO_BIG)
                .await;
        }
        let msg = match ClientMessage::decode(text.as_str()) {
            Ok(msg) => msg,
            Err(DecodeError::TooLarge(bytes)) => {
                tracing::warn!(bytes, "message too large");
                return self
                    .fatal_with(ErrorCode::MessageTooLarge, CLOSE_TOO_BIG)
                    .await;
            }
            Err(error) => {
                tracing::warn!(%error, "undecodable message");
                return self.reply_error(None, error.code()).await;
            }
        };
        tracing::debug!(?msg, "received");
        match self.session.as_ref().map(|s| s.session_id.clone()) {
            None => self.before_login(msg).await,
            Some(session_id) => self.logged_in(&session_id, msg, now).await,
        }
    }

    /// Takes one token of the connection's message rate.
    fn take_token(&mut self, now: Instant) -> Result<(), RateExceeded> {
        if self.rate.try_take(1, now) {
            return Ok(());
        }
        tracing::warn!(user_id = ?self.session.as_ref().map(|s| &s.info.user.user_id), "message rate exceeded");
        Err(RateExceeded)
    }

    /// The connection's session is in: it is never evicted from now on.
    fn mark_logged_in(&self) {
        if let Some(admitted) = &self.admitted {
            admitted.logged_in();
        }
    }

    async fn before_login(&mut self, msg: ClientMessage) -> Next {
        match msg {
            ClientMessage::Login(login) => self.login(login).await,
            ClientMessage::Resume(resume) => self.resume(resume).await,
            _ => self.fatal(ErrorCode::LoginRequired).await,
        }
    }

    async fn login(&mut self, login: Login) -> Next {
        let started = Instant::now();
        let app_id = login.app_id;
        let room_id = login.room_id.clone();
        let user_id = login.user.user_id.clone();
        let admission = match self.admit(login).await {
            Ok(a) => a,
            Err(Refused::Redirect(url)) => {
                tracing::info!(app_id, room_id = %room_id, user_id = %user_id, %url, "login redirected to the room's node");
                let redirect = ServerMessage::Redirect { url };
                return self
                    .send_then(&redirect, Next::Close(CLOSE_NORMAL, ErrorCode::Success))
                    .await;
            }
            Err(Refused::Failed(code)) => {
                tracing::info!(app_id, room_id = %room_id, user_id = %user_id, code = code.name(), "login failed");
                let failed = ServerMessage::LoginFailed {
                    code,
                    message: code.message().to_owned(),
                };
                return self
                    .send_then(&failed, Next::Close(CLOSE_NORMAL, code))
                    .await;
            }
        };
        let (tx, rx) = mpsc::channel(OUTBOX_CAPACITY);
        let hub = self.state.hub();
        let handle = hub.connection(tx);
        let conn_id = handle.id;
        let session_id = admission.session_id.clone();
        let info = SessionInfo {
            app_id,
            room_id: admission.room_id.clone(),
            user: admission.user.clone(),
        };
        let (mut ok, cleanups) = hub.admit(admission, handle, Instant::now());
        ok.ice_servers =
            crate::ice::servers_for(&self.state.config().ice, app_id, &user_id, unix_secs());
        self.state.apply_cleanups(cleanups).await;
        self.state.metrics().login();
        tracing::info!(app_id, room_id = %room_id, user_id = %user_id, session_id = %session_id,
            elapsed_us = started.elapsed().as_micros() as u64, "logged in");
        self.session = Some(Attached {
            session_id,
            conn_id,
            info,
        });
        self.outbox = Some(rx);
        self.mark_logged_in();
        self.reply(ServerMessage::LoginOk(ok)).await
    }

    /// Every login check, the room's placement and the store claims; the
    /// hub is not touched yet.
    async fn admit(&self, login: Login) -> Result<Admission, Refused> {
        if login.version != PROTOCOL_VERSION {
            return Err(ErrorCode::UnsupportedVersion.into());
        }
        let room = RoomId::new(login.room_id).map_err(|e| e.code())?;
        let user = UserId::new(login.user.user_id.clone()).map_err(|e| e.code())?;
        check_user_name(&login.user.user_name).map_err(|e| e.code())?;
        let claim = LoginClaim {
            app_id: login.app_id,
            room_id: room.as_str(),
            user_id: user.as_str(),
        };
        let now_unix = unix_secs();
        let auth =
            self.state
                .apps()
                .check_login(claim, &login.credentials, &self.nonce, now_unix)?;
        // Only a client with valid credentials learns where the room is.
        if let Some(node) = self.state.node() {
            let placed = node.place(login.app_id, room.as_str()).await;
            if let Placement::Elsewhere(url) = placed.map_err(store_failed)? {
                return Err(Refused::Redirect(url));
            }
        }
        let limits = &self.state.config().limits;
        let requested = usize::try_from(login.max_member_count).unwrap_or(usize::MAX);
        let room_limit = if requested > 0 && requested <= limits.max_users_per_room {
            requested
        } else {
            limits.max_users_per_room
        };
        let session_id = random_hex(16);
        let store = self.state.store();
        let member = Member {
            app_id: login.app_id,
            room_id: room.as_str().to_owned(),
            user_id: user.as_str().to_owned(),
            session_id: session_id.clone(),
        };
        let held = Hold {
            app_id: login.app_id,
            id: user.as_str().to_owned(),
            session_id: session_id.clone(),
        };
        // An invite never kicks anyone out: its user ID is claimed before
        // the room is joined, and refused if someone holds it.
        if auth.invite {
            match store.claim_user(held.clone()).await.map_err(store_failed)? {
                Claim::Granted | Claim::AlreadyHeld => {}
                Claim::HeldBy(_) => return Err(ErrorCode::UserIdInUse.into()),
            }
        }
        let joined = match store
            .join_room(JoinRequest {
                member: member.clone(),
                room_limit,
                max_rooms: limits.max_rooms_per_app,
                max_users: limits.max_users_per_app,
            })
            .await
            .map_err(store_failed)
            .and_then(|joined| joined.map_err(|refusal| refusal.code()))
        {
            Ok(joined) => joined,
            Err(code) => {
                if auth.invite {
                    let _ = store.release_user(held).await;
                }
                return Err(code.into());
            }
        };
        let mut replaces: Vec<String> = joined.replaced.into_iter().collect();
        let claimed = store.claim_user(held.clone()).await;
        let taken_over = match claimed {
            Ok(Claim::Granted | Claim::AlreadyHeld) => Ok(None),
            Ok(Claim::HeldBy(_)) => store.take_over_user(held).await,
            Err(e) => Err(e),
        };
        match taken_over {
            Ok(previous) => replaces.extend(previous),
            Err(e) => {
                let _ = store.leave_room(member).await;
                return Err(store_failed(e).into());
            }
        }
        Ok(Admission {
            session_id,
            resume_key: random_hex(16),
            app_id: login.app_id,
            room_id: room.into_string(),
            user: login.user,
            notify_users: login.notify_users,
            token_expires_in_ms: auth.expires_in_ms(now_unix),
            auth,
            replaces,
        })
    }

    async fn resume(&mut self, resume: Resume) -> Next {
        let refuse = |code: ErrorCode| ServerMessage::ResumeFailed {
            code,
            message: code.message().to_owned(),
        };
        if resume.version != PROTOCOL_VERSION {
            let code = ErrorCode::UnsupportedVersion;
            return self
                .send_then(&refuse(code), Next::Close(CLOSE_NORMAL, code))
                .await;
        }
        let (tx, rx) = mpsc::channel(OUTBOX_CAPACITY);
        let hub = self.state.hub();
        let handle = hub.connection(tx);
        let conn_id = handle.id;
        match hub.resume(
            &resume.session_id,
            &resume.resume_key,
            resume.last_seq,
            handle,
            Instant::now(),
        ) {
            Ok(resumed) => {
                let info = resumed.info;
                tracing::info!(app_id = info.app_id, room_id = %info.room_id, user_id = %info.user.user_id,
                    session_id = %resume.session_id, missed = resumed.missed.len(), "session resumed");
                self.session = Some(Attached {
                    session_id: resume.session_id,
                    conn_id,
                    info,
                });
                self.outbox = Some(rx);
                self.mark_logged_in();
                let msg = ServerMessage::Resumed {
                    missed: resumed.missed,
                };
                let sent = self.send(&msg).await;
                // Queued behind `Resumed`: the outbox drains after this step.
                if let Some(s) = &self.session {
                    self.state.media().resumed(&s.session_id);
                }
                match sent {
                    Ok(()) => Next::Continue,
                    Err(_) => Next::Broken,
                }
            }
            Err(refused) => {
                self.state.apply_cleanups(refused.cleanups).await;
                tracing::info!(session_id = %resume.session_id, code = refused.code.name(), "resume refused");
                self.send_then(
                    &refuse(refused.code),
                    Next::Close(CLOSE_NORMAL, refused.code),
                )
                .await
            }
        }
    }

    async fn logged_in(&mut self, session_id: &str, msg: ClientMessage, now: Instant) -> Next {
        let hub = self.state.hub();
        if let ClientMessage::Heartbeat { ack } = msg {
            if !hub.heartbeat(session_id, ack, now) {
                return Next::Continue;
            }
            let ack = ServerMessage::HeartbeatAck {
                server_time_ms: unix_millis(),
            };
            return self.reply(ack).await;
        }
        hub.heard(session_id, now);
        match msg {
            ClientMessage::Login(_)
            | ClientMessage::Resume(_)
            | ClientMessage::Heartbeat { .. } => {
                self.reply_error(None, ErrorCode::WrongState).await
            }
            ClientMessage::Logout { request_id } => {
                let cleanups = hub.leave(session_id, Leave::Logout, now);
                self.state.apply_cleanups(cleanups).await;
                self.session = None;
                self.outbox = None;
                let ack = ServerMessage::Ack {
                    request_id,
                    body: AckBody::LoggedOut,
                };
                self.send_then(&ack, Next::Close(CLOSE_NORMAL, ErrorCode::Success))
                    .await
            }
            ClientMessage::RenewToken { request_id, token } => {
                let Some(info) = hub.session_info(session_id) else {
                    return self
                        .reply_error(Some(request_id), ErrorCode::SessionExpired)
                        .await;
                };
                let claim = LoginClaim {
                    app_id: info.app_id,
                    room_id: &info.room_id,
                    user_id: &info.user.user_id,
                };
                let now_unix = unix_secs();
                let result = match self.state.apps().check_token(claim, &token, now_unix) {
                    Ok(auth) => {
                        let withdrawn = hub.renew(session_id, auth);
                        self.state.apply_cleanups(withdrawn).await;
                        Ok(AckBody::TokenRenewed {
                            expires_in_ms: auth.expires_in_ms(now_unix).unwrap_or(0),
                            publish: auth.may_publish,
                            ice_servers: crate::ice::servers_for(
                                &self.state.config().ice,
                                info.app_id,
                                &info.user.user_id,
                                now_unix,
                            ),
                        })
                    }
                    Err(code) => Err(code),
                };
                self.reply_result(request_id, result).await
            }
            ClientMessage::SendBroadcast { request_id, text } => {
                let result = hub
                    .broadcast(session_id, &text, now, unix_millis())
                    .map(|message_id| AckBody::BroadcastSent { message_id });
                self.reply_result(request_id, result).await
            }
            ClientMessage::PublishStream {
                request_id,
                stream_id,
                extra_info,
                audio_muted: audio,
                video_muted: video,
            } => {
                let published = self
                    .publish(session_id, &stream_id, &extra_info, Muted { audio, video })
                    .await;
                let result = published.map(|()| AckBody::StreamPublished { stream_id });
                self.reply_result(request_id, result).await
            }
            ClientMessage::StreamState {
                request_id,
                stream_id,
                audio_muted: audio,
                video_muted: video,
            } => {
                let muted = Muted { audio, video };
                let result = StreamId::new(&stream_id)
                    .map_err(|e| e.code())
                    .and_then(|id| hub.set_stream_state(session_id, id.as_str(), muted))
                    .map(|()| AckBody::StreamStateUpdated { stream_id });
                self.reply_result(request_id, result).await
            }
            ClientMessage::StopPublishing {
                request_id,
                stream_id,
            } => {
                let result = self.stop_publishing(session_id, stream_id).await;
                self.reply_result(request_id, result).await
            }
            ClientMessage::PlayStream {
                request_id,
                stream_id,
                max_layer,
            } => {
                // The Ack goes out directly, now; a StreamReady queued by
                // `play` drains from the outbox after it.
                let result = self.stream_key(&stream_id).map(|key| {
                    self.state.media().play(&key, session_id, max_layer);
                    AckBody::PlayAccepted { stream_id }
                });
                self.reply_result(request_id, result).await
            }
            ClientMessage::PlayVideoLayer {
                request_id,
                stream_id,
                max_layer,
            } => {
                let result = self.stream_key(&stream_id).and_then(|key| {
                    if self
                        .state
                        .media()
                        .set_max_layer(&key, session_id, max_layer)
                    {
                        Ok(AckBody::PlayVideoLayerSet {
                            stream_id,
                            max_layer,
                        })
                    } else {
                        Err(ErrorCode::NotPlaying)
                    }
                });
                self.reply_result(request_id, result).await
            }
            ClientMessage::StopPlaying {
                request_id,
                stream_id,
            } => {
                let result = self.stop_playing(session_id, stream_id).await;
                self.reply_result(request_id, result).await
            }
            ClientMessage::SdpOffer {
                request_id,
                stream_id,
                role,
                sdp,
            } => {
                let key = match self.stream_key(&stream_id) {
                    Ok(key) => key,
                    Err(code) => return self.reply_error(Some(request_id), code).await,
                };
                let owns = role == MediaRole::Publish && hub.owns_stream(session_id, &stream_id);
                self.media_queue(session_id).push(MediaOp::Offer {
                    request_id,
                    key,
                    role,
                    sdp,
                    owns,
                });
                Next::Continue
            }
            ClientMessage::TrickleIce {
                stream_id,
                role,
                candidate,
            } => match self.stream_key(&stream_id) {
                Ok(key) => {
                    self.media_queue(session_id).push(MediaOp::Candidate {
                        key,
                        role,
                        candidate,
                    });
                    Next::Continue
                }
                // No request ID to answer: an error without one.
                Err(code) => self.reply_error(None, code).await,
            },
        }
    }

    /// The session's media worker (started on first use).
    fn media_queue(&mut self, session_id: &str) -> &MediaQueue {
        self.media_queue
            .get_or_insert_with(|| MediaQueue::start(self.state.clone(), session_id.to_owned()))
    }

    /// The app-wide key of a stream this session names.
    fn stream_key(&self, stream_id: &str) -> Result<StreamKey, ErrorCode> {
        let stream = StreamId::new(stream_id).map_err(|e| e.code())?;
        let app_id = self
            .session
            .as_ref()
            .map(|s| s.info.app_id)
            .ok_or(ErrorCode::NotLoggedIn)?;
        Ok(StreamKey {
            app_id,
            stream_id: stream.into_string(),
        })
    }

    /// Removes a stream the session publishes and applies the store cleanup.
    async fn stop_publishing(
        &self,
        session_id: &str,
        stream_id: String,
    ) -> Result<AckBody, ErrorCode> {
        let stream = StreamId::new(&stream_id).map_err(|e| e.code())?;
        let cleanup = self
            .state
            .hub()
            .remove_stream(session_id, stream.as_str())?;
        self.state.apply_cleanups(vec![cleanup]).await;
        Ok(AckBody::StreamStopped { stream_id })
    }

    /// Closes the session's player connection for a stream it plays.
    async fn stop_playing(
        &self,
        session_id: &str,
        stream_id: String,
    ) -> Result<AckBody, ErrorCode> {
        let key = self.stream_key(&stream_id)?;
        if self.state.media().stop_playing(&key, session_id).await {
            Ok(AckBody::PlayStopped { stream_id })
        } else {
            Err(ErrorCode::NotPlaying)
        }
    }

    async fn publish(
        &self,
        session_id: &str,
        stream_id: &str,
        extra_info: &str,
        muted: Muted,
    ) -> Result<(), ErrorCode> {
        let stream = StreamId::new(stream_id).map_err(|e| e.code())?;
        check_extra_info(extra_info).map_err(|e| e.code())?;
        let hub = self.state.hub();
        if hub.owns_stream(session_id, stream.as_str()) {
            // A repeated announcement (its ack was lost) carries the current state.
            return hub.set_stream_state(session_id, stream.as_str(), muted);
        }
        hub.check_publish(session_id, unix_secs())?;
        let info = hub
            .session_info(session_id)
            .ok_or(ErrorCode::SessionExpired)?;
        let stream_hold = Hold {
            app_id: info.app_id,
            id: stream.as_str().to_owned(),
            session_id: session_id.to_owned(),
        };
        let claim = self
            .state
            .store()
            .claim_stream(stream_hold.clone(), info.room_id.clone())
            .await
            .map_err(store_failed)?;
        match claim {
            Claim::HeldBy(_) => Err(ErrorCode::StreamIdInUse),
            Claim::Granted | Claim::AlreadyHeld => {
                if hub.add_stream(session_id, stream.as_str(), extra_info, muted) {
                    tracing::info!(app_id = info.app_id, room_id = %info.room_id, user_id = %info.user.user_id,
                        session_id, stream_id = stream.as_str(), "stream published");
                    Ok(())
                } else {
                    let _ = self.state.store().release_stream(stream_hold).await;
                    Err(ErrorCode::SessionExpired)
                }
            }
        }
    }

    /// Sends `msg`, then goes on with `next`; a failed write breaks the
    /// connection.
    async fn send_then(&mut self, msg: &ServerMessage, next: Next) -> Next {
        match self.send(msg).await {
            Ok(()) => next,
            Err(_) => Next::Broken,
        }
    }

    async fn reply(&mut self, msg: ServerMessage) -> Next {
        self.send_then(&msg, Next::Continue).await
    }

    async fn reply_error(&mut self, request_id: Option<u32>, code: ErrorCode) -> Next {
        self.reply(ServerMessage::error(request_id, code, false))
            .await
    }

    /// Answers request `request_id`: an `Ack` with the body, or the error.
    async fn reply_result(&mut self, request_id: u32, result: Result<AckBody, ErrorCode>) -> Next {
        match result {
            Ok(body) => self.reply(ServerMessage::Ack { request_id, body }).await,
            Err(code) => self.reply_error(Some(request_id), code).await,
        }
    }

    async fn fatal(&mut self, code: ErrorCode) -> Next {
        self.fatal_with(code, CLOSE_POLICY).await
    }

    async fn fatal_with(&mut self, code: ErrorCode, close: u16) -> Next {
        self.send_then(
            &ServerMessage::error(None, code, true),
            Next::Close(close, code),
        )
        .await
    }

    /// Writes one message; an error means the socket is unusable.
    async fn send(&mut self, msg: &ServerMessage) -> Result<(), WriteError> {
        if let Some(code) = reported_code(msg) {
            self.state.metrics().error(code);
        }
        let text = msg.encode();
        match tokio::time::timeout(
            self.send_timeout,
            self.sink.send(Message::Text(text.into())),
        )
        .await
        {
            Ok(Ok(())) => {
                self.state.metrics().message_out();
                Ok(())
            }
            Ok(Err(error)) => {
                let error = WriteError::Failed(error.into());
                tracing::debug!(%error, "dropping the connection");
                Err(error)
            }
            Err(_) => {
                let error = WriteError::TimedOut(self.send_timeout);
                tracing::warn!(%error, "dropping the connection");
                Err(error)
            }
        }
    }
}

/// Resolves when the gate evicts this connection; never without a gate.
async fn evicted(admitted: Option<&Admitted>) {
    match admitted {
        Some(a) => a.evicted().await,
        None => std::future::pending().await,
    }
}

async fn next_outgoing(
    outbox: &mut Option<mpsc::Receiver<ServerMessage>>,
) -> Option<ServerMessage> {
    match outbox {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// The error code a message reports to the client, for the metrics.
fn reported_code(msg: &ServerMessage) -> Option<ErrorCode> {
    match msg {
        ServerMessage::LoginFailed { code, .. }
        | ServerMessage::ResumeFailed { code, .. }
        | ServerMessage::Error { code, .. }
        | ServerMessage::Kicked { code, .. }
        | ServerMessage::Shutdown { code, .. } => Some(*code),
        _ => None,
    }
}

fn close_frame(code: u16, why: ErrorCode) -> Message {
    let reason = if why == ErrorCode::Success {
        String::new()
    } else {
        why.name().to_owned()
    };
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

/// Why a login was not admitted here.
enum Refused {
    /// Refused, with this code (`LoginFailed`).
    Failed(ErrorCode),
    /// The room lives on another node, at this URL (`Redirect`).
    Redirect(String),
}

impl From<ErrorCode> for Refused {
    fn from(code: ErrorCode) -> Self {
        Refused::Failed(code)
    }
}

fn store_failed(error: crate::store::StoreError) -> ErrorCode {
    tracing::warn!(%error, "room store failed");
    ErrorCode::Internal
}

pub(crate) fn random_hex(bytes: usize) -> String {
    let mut rng = rand::rng();
    let raw: Vec<u8> = (0..bytes).map(|_| rng.random()).collect();
    protocol::auth::hex(&raw)
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
