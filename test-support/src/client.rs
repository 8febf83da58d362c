//! A raw WebSocket client for the server's own tests: it logs in with an
//! AppSign proof or a token and reads and writes protocol messages, failing
//! the test after [`WAIT`]; plus the media requests those tests send and a
//! probe for connections refused at accept.
// A panic on anything unexpected is what these helpers are for.
#![allow(clippy::unwrap_used)]

use crate::TestServer;
use futures_util::{SinkExt, StreamExt};
use protocol::auth::login_proof;
use protocol::{
    ClientMessage, Credentials, ErrorCode, Login, LoginOk, ServerMessage, UserInfo,
    PROTOCOL_VERSION,
};
use server::AppConfig;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a raw client waits for any one message, a close or an HTTP
/// response before failing.
pub const WAIT: Duration = Duration::from_secs(5);

/// A `Login` for `user` (named `user` too) in `room` of `app`, with an
/// AppSign proof over the connection's `nonce`, without user notices.
pub fn login_as(app: &AppConfig, room: &str, user: &str, nonce: &str) -> Login {
    Login {
        version: PROTOCOL_VERSION,
        app_id: app.app_id,
        room_id: room.into(),
        user: UserInfo {
            user_id: user.into(),
            user_name: user.into(),
        },
        credentials: Credentials::AppSign {
            proof: login_proof(&app.app_sign, app.app_id, room, user, nonce),
        },
        notify_users: false,
        max_member_count: 0,
    }
}

/// `PublishStream` for `stream_id`: no extra info, audio and video on.
pub fn publish_stream(request_id: u32, stream_id: &str) -> ClientMessage {
    ClientMessage::PublishStream {
        request_id,
        stream_id: stream_id.into(),
        extra_info: String::new(),
        audio_muted: false,
        video_muted: false,
    }
}

/// `StopPublishing` for `stream_id`.
pub fn stop_publishing(request_id: u32, stream_id: &str) -> ClientMessage {
    ClientMessage::StopPublishing {
        request_id,
        stream_id: stream_id.into(),
    }
}

/// `PlayStream` for `stream_id`.
pub fn play_stream(request_id: u32, stream_id: &str) -> ClientMessage {
    ClientMessage::PlayStream {
        request_id,
        stream_id: stream_id.into(),
        max_layer: Default::default(),
    }
}

/// `StopPlaying` for `stream_id`.
pub fn stop_playing(request_id: u32, stream_id: &str) -> ClientMessage {
    ClientMessage::StopPlaying {
        request_id,
        stream_id: stream_id.into(),
    }
}

/// Connects to `addr` and reads, without sending anything, what the server
/// answers a connection it refuses at accept (its whole response).
pub async fn refused_at_accept(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(WAIT, s.read_to_end(&mut out))
        .await
        .expect("closed at once");
    String::from_utf8_lossy(&out).into_owned()
}

/// A connected raw client, past the server's Challenge.
pub struct Client {
    /// The WebSocket.
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The nonce from the server's Challenge.
    pub nonce: String,
}

/// Raw protocol clients for a test server.
impl TestServer {
    /// Connects a raw client (past the Challenge).
    pub async fn connect(&self) -> Client {
        Client::connect(&self.url).await
    }

    /// Connects and logs in with an AppSign proof.
    pub async fn login(&self, room: &str, user: &str, notify_users: bool) -> (Client, LoginOk) {
        let mut c = self.connect().await;
        let login = c.app_sign_login(&self.app, room, user, notify_users);
        c.send(&ClientMessage::Login(login)).await;
        match c.recv().await {
            ServerMessage::LoginOk(ok) => (c, ok),
            other => panic!("expected LoginOk, got {other:?}"),
        }
    }

    /// Connects and logs in with `token`.
    pub async fn token_login(&self, room: &str, user: &str, token: String) -> (Client, LoginOk) {
        let mut c = self.connect().await;
        let mut login = c.app_sign_login(&self.app, room, user, true);
        login.credentials = Credentials::Token { token };
        c.send(&ClientMessage::Login(login)).await;
        match c.recv().await {
            ServerMessage::LoginOk(ok) => (c, ok),
            other => panic!("expected LoginOk, got {other:?}"),
        }
    }
}

impl Client {
    /// Connects to `url` and reads the Challenge (checking its version and
    /// nonce length).
    pub async fn connect(url: &str) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connects");
        let mut c = Client {
            ws,
            nonce: String::new(),
        };
        match c.recv().await {
            ServerMessage::Challenge { version, nonce } => {
                assert_eq!(version, PROTOCOL_VERSION);
                assert_eq!(nonce.len(), 32);
                c.nonce = nonce;
            }
            other => panic!("expected Challenge, got {other:?}"),
        }
        c
    }

    /// A `Login` for `user` in `room` with an AppSign proof over this
    /// connection's nonce.
    pub fn app_sign_login(
        &self,
        app: &AppConfig,
        room: &str,
        user: &str,
        notify_users: bool,
    ) -> Login {
        Login {
            user: UserInfo {
                user_id: user.into(),
                user_name: format!("{user} name"),
            },
            notify_users,
            ..login_as(app, room, user, &self.nonce)
        }
    }

    /// Sends a protocol message.
    pub async fn send(&mut self, msg: &ClientMessage) {
        self.send_raw(Message::Text(msg.encode().into())).await;
    }

    /// Sends a WebSocket frame as is.
    pub async fn send_raw(&mut self, msg: Message) {
        self.ws.send(msg).await.expect("sends");
    }

    /// Sends `msg` and returns the next server message (its answer, where
    /// nothing else is due first).
    pub async fn request(&mut self, msg: &ClientMessage) -> ServerMessage {
        self.send(msg).await;
        self.recv().await
    }

    /// Sends `RenewToken` with `token`: the answer.
    pub async fn renew_token(&mut self, request_id: u32, token: String) -> ServerMessage {
        self.request(&ClientMessage::RenewToken { request_id, token })
            .await
    }

    /// The next server message (panics on close or after [`WAIT`]).
    pub async fn recv(&mut self) -> ServerMessage {
        match self.try_recv(WAIT).await {
            Some(m) => m,
            None => panic!("connection closed or silent while waiting for a message"),
        }
    }

    /// The next server message within `wait`; `None` on close or silence.
    pub async fn try_recv(&mut self, wait: Duration) -> Option<ServerMessage> {
        loop {
            let frame = tokio::time::timeout(wait, self.ws.next()).await.ok()??;
            match frame.ok()? {
                Message::Text(t) => {
                    return Some(ServerMessage::decode(t.as_str()).expect("server messages decode"))
                }
                Message::Close(_) => return None,
                _ => continue,
            }
        }
    }

    /// Skips heartbeat acks until a message matching `pred` arrives.
    pub async fn recv_until(&mut self, pred: impl Fn(&ServerMessage) -> bool) -> ServerMessage {
        loop {
            let m = self.recv().await;
            if pred(&m) {
                return m;
            }
        }
    }

    /// Waits for the server to close the connection (any messages before it are returned).
    pub async fn closed(&mut self) -> Vec<ServerMessage> {
        let mut before = Vec::new();
        loop {
            match tokio::time::timeout(WAIT, self.ws.next()).await {
                Err(_) => panic!("connection not closed; got {before:?}"),
                Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => return before,
                Ok(Some(Ok(Message::Text(t)))) => {
                    before.push(ServerMessage::decode(t.as_str()).unwrap())
                }
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    /// Waits for the server to close the connection; returns the messages
    /// before it and the close frame's code (`None`: no close frame, the
    /// socket just ended).
    pub async fn close_code(&mut self) -> (Vec<ServerMessage>, Option<u16>) {
        let mut before = Vec::new();
        loop {
            match tokio::time::timeout(WAIT, self.ws.next()).await {
                Err(_) => panic!("connection not closed; got {before:?}"),
                Ok(None) | Ok(Some(Err(_))) => return (before, None),
                Ok(Some(Ok(Message::Close(frame)))) => {
                    return (before, frame.map(|f| u16::from(f.code)))
                }
                Ok(Some(Ok(Message::Text(t)))) => {
                    before.push(ServerMessage::decode(t.as_str()).unwrap())
                }
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    /// Waits for exactly one fatal `Error` with `code`, then a close frame
    /// with `close`.
    pub async fn fatal_then_close(&mut self, code: ErrorCode, close: u16) {
        let (msgs, got) = self.close_code().await;
        assert!(
            matches!(msgs.as_slice(), [ServerMessage::Error { code: c, fatal: true, .. }] if *c == code),
            "expected one fatal {code:?}, got {msgs:?}"
        );
        assert_eq!(got, Some(close), "close code after {code:?}");
    }

    /// Waits for the server to close the connection after exactly one
    /// message, a fatal `Error`; returns its code.
    pub async fn closed_with_fatal_error(&mut self) -> ErrorCode {
        match self.closed().await.as_slice() {
            [ServerMessage::Error {
                code, fatal: true, ..
            }] => *code,
            msgs => panic!("expected one fatal error before the close, got {msgs:?}"),
        }
    }

    /// Asserts nothing but heartbeat acks arrives within `wait`.
    pub async fn quiet(&mut self, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return;
            }
            match tokio::time::timeout(left, self.ws.next()).await {
                Err(_) => return,
                Ok(Some(Ok(Message::Text(t)))) => {
                    let m = ServerMessage::decode(t.as_str()).unwrap();
                    assert!(
                        matches!(m, ServerMessage::HeartbeatAck { .. }),
                        "unexpected {m:?}"
                    );
                }
                Ok(other) => panic!("unexpected {other:?}"),
            }
        }
    }
}
