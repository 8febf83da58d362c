//! The WebSocket loop (`connection::serve`) driven over in-memory channels,
//! no sockets: it is generic over the sink and stream, so each rule can be
//! checked message by message (the order, the fatal error, the close code).
#![allow(clippy::unwrap_used)]

use axum::extract::ws::Message;
use futures_util::{sink, stream};
use protocol::auth::login_proof;
use protocol::{
    ClientMessage, Credentials, ErrorCode, Login, ServerMessage, UserInfo, PROTOCOL_VERSION,
};
use server::connection::{self, ReadError};
use server::state::ServerState;
use server::ServerConfig;
use std::time::Duration;
use tokio::sync::mpsc;
use tungstenite::error::{CapacityError, ProtocolError};

/// A connection being served: what the client sends, what it receives.
struct Wire {
    to_server: mpsc::UnboundedSender<Result<Message, ReadError>>,
    from_server: mpsc::UnboundedReceiver<Message>,
    state: ServerState,
}

impl Wire {
    fn open() -> Wire {
        let state = ServerState::new(ServerConfig::generate_local()).unwrap();
        let (to_server, inbox) = mpsc::unbounded_channel();
        let (outbox, from_server) = mpsc::unbounded_channel::<Message>();
        let reader = stream::unfold(
            inbox,
            |mut rx| async move { rx.recv().await.map(|m| (m, rx)) },
        );
        let writer = sink::unfold(outbox, |tx, m: Message| async move {
            tx.send(m).map_err(|_| "closed").map(|()| tx)
        });
        let served = state.clone();
        tokio::spawn(async move {
            connection::serve(served, Box::pin(writer), Box::pin(reader), None).await;
        });
        Wire {
            to_server,
            from_server,
            state,
        }
    }

    fn send(&self, msg: &ClientMessage) {
        self.to_server
            .send(Ok(Message::Text(msg.encode().into())))
            .unwrap();
    }

    async fn recv(&mut self) -> Message {
        tokio::time::timeout(Duration::from_secs(5), self.from_server.recv())
            .await
            .expect("an answer in time")
            .expect("the connection is still writing")
    }

    async fn message(&mut self) -> ServerMessage {
        match self.recv().await {
            Message::Text(t) => ServerMessage::decode(&t).unwrap(),
            other => panic!("expected a message, got {other:?}"),
        }
    }

    /// The fatal error, then the close frame's code.
    async fn fatal_then_close(&mut self) -> (ErrorCode, u16) {
        let code = match self.message().await {
            ServerMessage::Error {
                code, fatal: true, ..
            } => code,
            other => panic!("expected a fatal error, got {other:?}"),
        };
        match self.recv().await {
            Message::Close(Some(frame)) => (code, frame.code),
            other => panic!("expected a close frame, got {other:?}"),
        }
    }

    async fn nonce(&mut self) -> String {
        match self.message().await {
            ServerMessage::Challenge { nonce, .. } => nonce,
            other => panic!("expected the challenge first, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn challenge_login_heartbeat_logout_in_order() {
    let mut wire = Wire::open();
    let nonce = wire.nonce().await;
    let app = wire.state.config().apps[0].clone();
    wire.send(&ClientMessage::Login(Login {
        version: PROTOCOL_VERSION,
        app_id: app.app_id,
        room_id: "r".into(),
        user: UserInfo {
            user_id: "u".into(),
            user_name: "U".into(),
        },
        credentials: Credentials::AppSign {
            proof: login_proof(&app.app_sign, app.app_id, "r", "u", &nonce),
        },
        notify_users: false,
        max_member_count: 0,
    }));
    assert!(matches!(wire.message().await, ServerMessage::LoginOk(ok) if ok.room_id == "r"));
    wire.send(&ClientMessage::Heartbeat { ack: 0 });
    assert!(matches!(
        wire.message().await,
        ServerMessage::HeartbeatAck { .. }
    ));
    wire.send(&ClientMessage::Logout { request_id: 7 });
    assert!(matches!(
        wire.message().await,
        ServerMessage::Ack { request_id: 7, .. }
    ));
    match wire.recv().await {
        Message::Close(Some(frame)) => assert_eq!(frame.code, 1000),
        other => panic!("expected a normal close, got {other:?}"),
    }
    assert_eq!(wire.state.hub().counts(), (0, 0), "the room is gone");
}

#[tokio::test]
async fn each_broken_frame_gets_its_code_and_close_code() {
    let cases: [(Result<Message, ReadError>, ErrorCode, u16); 4] = [
        (
            Err(ReadError::TooLarge(CapacityError::MessageTooLong {
                size: 20 << 20,
                max_size: 16 << 20,
            })),
            ErrorCode::MessageTooLarge,
            1009,
        ),
        (
            Err(ReadError::InvalidUtf8),
            ErrorCode::MalformedMessage,
            1007,
        ),
        (
            Err(ReadError::Protocol(ProtocolError::NonZeroReservedBits)),
            ErrorCode::MalformedMessage,
            1002,
        ),
        (
            Ok(Message::Binary(vec![1, 2, 3].into())),
            ErrorCode::BinaryNotSupported,
            1008,
        ),
    ];
    for (input, code, close) in cases {
        let mut wire = Wire::open();
        wire.nonce().await;
        wire.to_server.send(input).unwrap();
        assert_eq!(wire.fatal_then_close().await, (code, close));
    }
}

#[tokio::test]
async fn a_ping_flood_is_rate_limited_before_login() {
    let mut wire = Wire::open();
    wire.nonce().await;
    for _ in 0..1_000 {
        if wire
            .to_server
            .send(Ok(Message::Ping(Vec::new().into())))
            .is_err()
        {
            break;
        }
    }
    assert_eq!(
        wire.fatal_then_close().await,
        (ErrorCode::RateLimited, 1008)
    );
}
