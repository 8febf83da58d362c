//! A WHIP or WHEP resource's session: an in-process client of the signaling
//! protocol, served by the same [`connection::serve`] as a WebSocket. The
//! resource logs in with the caller's token, publishes or plays like any
//! client (so every check, room event and cleanup is the protocol's own),
//! and keeps its session alive with heartbeats until it is deleted or its
//! peer connection ends.

use crate::connection::{self, ReadError};
use crate::sfu::StreamKey;
use crate::state::ServerState;
use axum::extract::ws::Message;
use futures_util::stream::Stream;
use protocol::{ClientMessage, ErrorCode, Login, ServerMessage};
use std::pin::Pin;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{timeout, Instant};

/// How long a request to the session may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the SFU's candidates may take after its answer (with the mux
/// they are there at once).
const GATHER_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a resource's peer connection may take to come up.
const CONNECT_WINDOW: Duration = Duration::from_secs(30);
/// How often a resource checks that its peer connection is still up.
const LIVENESS_CHECK: Duration = Duration::from_secs(1);
/// How long a logout may take.
const LOGOUT_TIMEOUT: Duration = Duration::from_secs(2);
/// Frames queued each way (the server's outbox holds more; this one is
/// drained at once).
const CHANNEL_CAPACITY: usize = 64;

/// The peer connection a resource lives for.
#[derive(Debug, Clone)]
pub(super) enum Leg {
    /// WHIP: the session publishes this stream.
    Publish(StreamKey),
    /// WHEP: the session plays this stream.
    Play(StreamKey),
}

/// A logged-in in-process session.
pub(super) struct Session {
    state: ServerState,
    to_server: mpsc::Sender<Result<Message, ReadError>>,
    from_server: mpsc::Receiver<Message>,
    session_id: String,
    heartbeat: Duration,
    next_request: u32,
    last_seq: u64,
    candidates: Vec<String>,
    candidates_done: bool,
    ready: bool,
    /// The played stream ended (WHEP).
    stream_ended: bool,
    /// The server ended the session (kicked, expired, shut down, closed).
    closed: bool,
}

impl Session {
    /// Connects to the server in-process and logs in; the code of the
    /// refusal otherwise.
    pub(super) async fn login(state: &ServerState, login: Login) -> Result<Session, ErrorCode> {
        let (to_server, server_reads) =
            mpsc::channel::<Result<Message, ReadError>>(CHANNEL_CAPACITY);
        let (server_writes, from_server) = mpsc::channel::<Message>(CHANNEL_CAPACITY);
        let sink = Box::pin(futures_util::sink::unfold(
            server_writes,
            |tx, msg: Message| async move { tx.send(msg).await.map(|()| tx) },
        ));
        let stream: Pin<Box<dyn Stream<Item = Result<Message, ReadError>> + Send>> = Box::pin(
            futures_util::stream::unfold(server_reads, |mut rx| async move {
                rx.recv().await.map(|m| (m, rx))
            }),
        );
        tokio::spawn(connection::serve(state.clone(), sink, stream, None));
        let mut session = Session {
            state: state.clone(),
            to_server,
            from_server,
            session_id: String::new(),
            heartbeat: Duration::from_secs(5),
            next_request: 1,
            last_seq: 0,
            candidates: Vec::new(),
            candidates_done: false,
            ready: false,
            stream_ended: false,
            closed: false,
        };
        timeout(REQUEST_TIMEOUT, session.log_in(login))
            .await
            .unwrap_or(Err(ErrorCode::RequestTimeout))?;
        Ok(session)
    }

    async fn log_in(&mut self, login: Login) -> Result<(), ErrorCode> {
        loop {
            match self.next().await {
                Some(ServerMessage::Challenge { .. }) => break,
                Some(_) => {}
                None => return Err(ErrorCode::Internal),
            }
        }
        self.send(ClientMessage::Login(login)).await?;
        loop {
            match self.next().await {
                Some(ServerMessage::LoginOk(ok)) => {
                    self.session_id = ok.session_id;
                    self.last_seq = ok.seq;
                    self.heartbeat = Duration::from_millis(ok.heartbeat_interval_ms.max(100));
                    return Ok(());
                }
                Some(ServerMessage::LoginFailed { code, .. })
                | Some(ServerMessage::Error { code, .. }) => return Err(code),
                Some(_) => {}
                None => return Err(ErrorCode::Internal),
            }
        }
    }

    /// The session's ID.
    pub(super) fn session_id(&self) -> &str {
        &self.session_id
    }

    /// Sends the request `make` builds with a new request ID and waits for
    /// its answer (`Ack` or `SdpAnswer`), or the code of its `Error`.
    pub(super) async fn request(
        &mut self,
        make: impl FnOnce(u32) -> ClientMessage,
    ) -> Result<ServerMessage, ErrorCode> {
        let id = self.next_request;
        self.next_request += 1;
        self.send(make(id)).await?;
        let answer = async {
            loop {
                let Some(msg) = self.next().await else {
                    return Err(ErrorCode::SessionExpired);
                };
                match &msg {
                    ServerMessage::Ack { request_id, .. }
                    | ServerMessage::SdpAnswer { request_id, .. }
                        if *request_id == id =>
                    {
                        return Ok(msg)
                    }
                    ServerMessage::Error {
                        request_id, code, ..
                    } if *request_id == Some(id) || request_id.is_none() => return Err(*code),
                    _ if self.closed => return Err(ErrorCode::SessionExpired),
                    _ => {}
                }
            }
        };
        timeout(REQUEST_TIMEOUT, answer)
            .await
            .unwrap_or(Err(ErrorCode::RequestTimeout))
    }

    /// Waits (up to `within`) for `StreamReady`; whether it came.
    pub(super) async fn wait_ready(&mut self, within: Duration) -> bool {
        let ready = async {
            while !self.ready && !self.closed {
                if self.next().await.is_none() {
                    break;
                }
            }
            self.ready
        };
        timeout(within, ready).await.unwrap_or(false)
    }

    /// The SFU's candidates for the leg just answered (all of them, or
    /// those that came within [`GATHER_TIMEOUT`]).
    pub(super) async fn candidates(&mut self) -> Vec<String> {
        let gathered = async {
            while !self.candidates_done {
                if self.next().await.is_none() {
                    break;
                }
            }
        };
        let _ = timeout(GATHER_TIMEOUT, gathered).await;
        std::mem::take(&mut self.candidates)
    }

    /// Keeps the session alive in a task until `stop` fires (then logs out
    /// and answers on the sender it carries) or `leg` ends (then logs out
    /// and calls `ended`).
    pub(super) fn keep(
        mut self,
        leg: Leg,
        mut stop: oneshot::Receiver<oneshot::Sender<()>>,
        ended: impl FnOnce() + Send + 'static,
    ) {
        tokio::spawn(async move {
            let started = Instant::now();
            let mut beat = tokio::time::interval(self.heartbeat);
            let mut check = tokio::time::interval(LIVENESS_CHECK);
            let mut was_up = false;
            let done = loop {
                tokio::select! {
                    asked = &mut stop => break asked.ok(),
                    _ = beat.tick() => {
                        let ack = self.last_seq;
                        if self.send(ClientMessage::Heartbeat { ack }).await.is_err() {
                            break None;
                        }
                    }
                    _ = check.tick() => {
                        let up = self.is_up(&leg);
                        was_up |= up;
                        if !up && (was_up || started.elapsed() > CONNECT_WINDOW) {
                            tracing::info!(?leg, session_id = %self.session_id, "peer connection ended; resource closed");
                            break None;
                        }
                    }
                    msg = self.next() => {
                        if msg.is_none() || self.closed || self.stream_ended {
                            break None;
                        }
                    }
                }
            };
            self.logout().await;
            match done {
                Some(answer) => {
                    let _ = answer.send(());
                }
                None => ended(),
            }
        });
    }

    /// Logs out (ends the session at once: others get the stream and user
    /// Delete) and waits briefly for the answer.
    pub(super) async fn logout(&mut self) {
        if self.closed {
            return;
        }
        let _ = timeout(
            LOGOUT_TIMEOUT,
            self.request(|request_id| ClientMessage::Logout { request_id }),
        )
        .await;
        self.closed = true;
    }

    fn is_up(&self, leg: &Leg) -> bool {
        let sfu = self.state.media().sfu();
        match leg {
            Leg::Publish(stream) => sfu.is_live(stream),
            Leg::Play(stream) => sfu.is_playing(stream, &self.session_id),
        }
    }

    async fn send(&self, msg: ClientMessage) -> Result<(), ErrorCode> {
        self.to_server
            .send(Ok(Message::Text(msg.encode().into())))
            .await
            .map_err(|_| ErrorCode::SessionExpired)
    }

    /// The next message from the server, noted: event numbers (for the
    /// heartbeat's ack), the SFU's candidates, `StreamReady`, and the
    /// messages that end the session. `None` once the connection closed.
    async fn next(&mut self) -> Option<ServerMessage> {
        loop {
            let Message::Text(text) = self.from_server.recv().await? else {
                // A close frame: the server ends the connection.
                self.closed = true;
                continue;
            };
            let Ok(msg) = ServerMessage::decode(text.as_str()) else {
                continue;
            };
            match &msg {
                ServerMessage::Event(event) => self.last_seq = self.last_seq.max(event.seq),
                ServerMessage::Resumed { missed } => {
                    if let Some(last) = missed.last() {
                        self.last_seq = self.last_seq.max(last.seq);
                    }
                }
                ServerMessage::TrickleIce { candidate, .. } => {
                    if candidate.candidate.is_empty() {
                        self.candidates_done = true;
                    } else if !self.candidates.contains(&candidate.candidate) {
                        self.candidates.push(candidate.candidate.clone());
                    }
                }
                ServerMessage::StreamReady { .. } => self.ready = true,
                ServerMessage::StreamEnded { .. } => self.stream_ended = true,
                ServerMessage::Kicked { .. }
                | ServerMessage::SessionExpired { .. }
                | ServerMessage::Shutdown { .. }
                | ServerMessage::Error { fatal: true, .. } => self.closed = true,
                _ => {}
            }
            return Some(msg);
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Closing the read side ends the server's connection loop; a session
        // that did not log out is detached and expires after the heartbeat
        // timeout like any dropped client.
        self.from_server.close();
    }
}
