//! Misbehaving clients get their code; everybody else keeps being served.
#![allow(clippy::unwrap_used)]

use protocol::{ClientMessage, ErrorCode, ServerMessage};
use server::ServerConfig;
use test_support::client;
use test_support::{metrics, TestServer};
use tokio_tungstenite::tungstenite::Message;

async fn still_served(server: &TestServer, probe: &mut client::Client) {
    probe.send(&ClientMessage::Heartbeat { ack: 0 }).await;
    let m = probe
        .recv_until(|m| matches!(m, ServerMessage::HeartbeatAck { .. }))
        .await;
    assert!(matches!(m, ServerMessage::HeartbeatAck { .. }));
    let (_other, ok) = server
        .login("probe-room", &format!("u{}", rand_suffix()), false)
        .await;
    assert!(ok.online_count >= 1);
}

/// A server with `tweak` applied and a logged-in probe client, which
/// [`still_served`] checks on.
async fn with_probe(tweak: impl FnOnce(&mut ServerConfig)) -> (TestServer, client::Client) {
    let server = TestServer::start_with(tweak).await;
    let (probe, _) = server.login("r", "probe", false).await;
    (server, probe)
}

/// [`with_probe`] with `per_second` messages per connection and bursts of
/// `burst`.
async fn rate_limited(per_second: u32, burst: u32) -> (TestServer, client::Client) {
    with_probe(|c| {
        c.limits.messages_per_second = per_second;
        c.limits.message_burst = burst;
    })
    .await
}

fn rand_suffix() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

#[tokio::test]
async fn malformed_and_unknown_are_not_fatal() {
    let (server, mut probe) = with_probe(|_| {}).await;
    let (mut c, _) = server.login("r", "c", false).await;
    c.send_raw(Message::Text("{not json".into())).await;
    assert!(matches!(
        c.recv().await,
        ServerMessage::Error {
            code: ErrorCode::MalformedMessage,
            fatal: false,
            request_id: None,
            ..
        }
    ));
    c.send_raw(Message::Text(r#"{"type":"dance"}"#.into()))
        .await;
    assert!(matches!(
        c.recv().await,
        ServerMessage::Error {
            code: ErrorCode::UnknownMessage,
            fatal: false,
            ..
        }
    ));
    // Still usable.
    assert!(matches!(
        c.request(&ClientMessage::Heartbeat { ack: 0 }).await,
        ServerMessage::HeartbeatAck { .. }
    ));
    still_served(&server, &mut probe).await;
    metrics::assert_has(
        &server,
        &[
            "confer_errors_total{code=\"1009001\",name=\"MalformedMessage\"} 1",
            "confer_errors_total{code=\"1009002\",name=\"UnknownMessage\"} 1",
        ],
    )
    .await;
    server.handle.shutdown().await;
}

#[tokio::test]
async fn binary_oversized_and_flood_are_fatal() {
    let (server, mut probe) = rate_limited(5, 10).await;

    let (mut bin, _) = server.login("r", "bin", false).await;
    bin.send_raw(Message::Binary(vec![1u8, 2, 3].into())).await;
    assert_eq!(
        bin.closed_with_fatal_error().await,
        ErrorCode::BinaryNotSupported
    );

    let (mut big, _) = server.login("r", "big", false).await;
    let limit = protocol::limits::MAX_MESSAGE_BYTES;
    let text = format!(
        r#"{{"type":"heartbeat","ack":0,"pad":"{}"}}"#,
        "x".repeat(limit)
    );
    big.send_raw(Message::Text(text.into())).await;
    assert_eq!(
        big.closed_with_fatal_error().await,
        ErrorCode::MessageTooLarge
    );

    let (mut flood, _) = server.login("r", "flood", false).await;
    for _ in 0..30 {
        flood.send(&ClientMessage::Heartbeat { ack: 0 }).await;
    }
    let msgs = flood.closed().await;
    assert!(
        matches!(
            msgs.last(),
            Some(ServerMessage::Error {
                code: ErrorCode::RateLimited,
                fatal: true,
                ..
            })
        ),
        "{msgs:?}"
    );
    assert!(
        msgs.iter()
            .filter(|m| matches!(m, ServerMessage::HeartbeatAck { .. }))
            .count()
            >= 8,
        "the burst (minus the login) is served: {msgs:?}"
    );

    still_served(&server, &mut probe).await;
    let metrics = server.http_get("/metrics").await;
    for code in ["BinaryNotSupported", "MessageTooLarge", "RateLimited"] {
        assert!(
            metrics.contains(&format!("name=\"{code}\"}} 1")),
            "{code}: {metrics}"
        );
    }
    server.handle.shutdown().await;
}

/// The connection cap holds at accept: a newcomer is refused (503 and the
/// typed error, before any HTTP is read) while the connections that hold
/// the server are young; once the oldest one that has not logged in is old
/// enough, it is evicted for the newcomer. Logged-in sessions are never
/// evicted.
#[tokio::test]
async fn connection_limit_refuses_then_evicts_the_oldest_not_logged_in() {
    let server = TestServer::start_with(|c| c.limits.max_connections = 2).await;
    let (mut probe, _) = server.login("r", "a", false).await;
    let mut pending = server.connect().await;
    let refused = client::refused_at_accept(server.handle.local_addr()).await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(refused.contains("\"code\":1009010"), "{refused}");
    assert!(refused.contains("TooManyConnections"), "{refused}");

    tokio::time::sleep(server::gate::EVICT_MIN_AGE).await;
    let (_newcomer, _) = server.login("r", "b", false).await;
    pending
        .fatal_then_close(ErrorCode::TooManyConnections, 1013)
        .await;
    assert!(matches!(
        probe.request(&ClientMessage::Heartbeat { ack: 0 }).await,
        ServerMessage::HeartbeatAck { .. }
    ));
    // Both slots hold logged-in sessions now: nothing to evict.
    tokio::time::sleep(server::gate::EVICT_MIN_AGE).await;
    let refused = client::refused_at_accept(server.handle.local_addr()).await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    let stats = server.handle.state().gate().stats();
    assert_eq!((stats.evicted, stats.refused_full), (1, 2));
    server.handle.shutdown().await;
}

/// RFC 6455 close codes after the typed error, every time.
#[tokio::test]
async fn bad_frames_get_their_typed_error_and_close_code() {
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    let (server, mut probe) = rate_limited(5, 10).await;

    // Invalid UTF-8 in a text frame: 1007, before and after login.
    for logged_in in [false, true] {
        let mut c = if logged_in {
            server.login("r", "utf8", false).await.0
        } else {
            server.connect().await
        };
        let bad = Frame::message(vec![b'{', 0xff, 0xfe, b'}'], OpCode::Data(Data::Text), true);
        c.send_raw(Message::Frame(bad)).await;
        c.fatal_then_close(ErrorCode::MalformedMessage, 1007).await;
    }

    // Frames far beyond the limit (past the grace the codec reads): 1009,
    // and the close frame must arrive every time, not be lost to a reset.
    for round in 0..14 {
        let (mut big, _) = server.login("r", &format!("big{round}"), false).await;
        let text = "x".repeat(256 * 1024);
        big.send_raw(Message::Text(text.into())).await;
        big.fatal_then_close(ErrorCode::MessageTooLarge, 1009).await;
    }
    // Just over the limit (read, then refused): 1009 too.
    let (mut over, _) = server.login("r", "over", false).await;
    let text = format!(
        r#"{{"type":"heartbeat","ack":0,"pad":"{}"}}"#,
        "x".repeat(protocol::limits::MAX_MESSAGE_BYTES)
    );
    over.send_raw(Message::Text(text.into())).await;
    over.fatal_then_close(ErrorCode::MessageTooLarge, 1009)
        .await;

    // Binary frames and floods are policy: 1008.
    let (mut bin, _) = server.login("r", "bin", false).await;
    bin.send_raw(Message::Binary(vec![1u8].into())).await;
    bin.fatal_then_close(ErrorCode::BinaryNotSupported, 1008)
        .await;

    still_served(&server, &mut probe).await;
    server.handle.shutdown().await;
}

/// Pings cost a token like any message: a ping flood is cut off with
/// `RateLimited`, and never reaches the hub (the session is not kept alive
/// by it: liveness is what `Heartbeat` says).
#[tokio::test]
async fn ping_flood_is_rate_limited() {
    let (server, mut probe) = rate_limited(50, 100).await;
    let (mut flood, _) = server.login("r", "pinger", false).await;
    use futures_util::SinkExt;
    let mut sent = 0;
    // Within the burst: answered with pongs, the session lives on.
    for _ in 0..50 {
        flood.send_raw(Message::Ping(vec![1].into())).await;
        sent += 1;
    }
    assert!(matches!(
        flood.request(&ClientMessage::Heartbeat { ack: 0 }).await,
        ServerMessage::HeartbeatAck { .. }
    ));
    // Then a flood: cut off.
    let mut refused = false;
    for _ in 0..10_000 {
        if flood.ws.send(Message::Ping(vec![1].into())).await.is_err() {
            refused = true;
            break;
        }
        sent += 1;
        if sent % 100 == 0 {
            tokio::task::yield_now().await;
        }
    }
    let (msgs, close) = flood.close_code().await;
    assert!(
        msgs.iter().any(|m| matches!(
            m,
            ServerMessage::Error {
                code: ErrorCode::RateLimited,
                fatal: true,
                ..
            }
        )),
        "{msgs:?} (send failed early: {refused})"
    );
    assert_eq!(close, Some(1008));
    still_served(&server, &mut probe).await;
    assert_eq!(
        server
            .handle
            .state()
            .metrics()
            .errors_of(ErrorCode::RateLimited),
        1
    );
    server.handle.shutdown().await;
}

/// Every request that carries a stream ID checks it before anything else
/// (a well-formed one would get NotPublishing, NotStreamOwner, ...).
#[tokio::test]
async fn malformed_ids_are_refused_first_on_every_request() {
    use protocol::{IceCandidate, MediaRole};
    let server = TestServer::start_with(|_| {}).await;
    let (mut c, _) = server.login("r", "ids", false).await;
    for bad in ["../x", "", "a b", &"s".repeat(257), "é"] {
        let requests = [
            client::publish_stream(1, bad),
            ClientMessage::StreamState {
                request_id: 2,
                stream_id: bad.into(),
                audio_muted: true,
                video_muted: false,
            },
            client::stop_publishing(3, bad),
            client::play_stream(4, bad),
            client::stop_playing(5, bad),
            ClientMessage::SdpOffer {
                request_id: 6,
                stream_id: bad.into(),
                role: MediaRole::Publish,
                sdp: "v=0\r\n".into(),
            },
        ];
        for (i, request) in requests.iter().enumerate() {
            match c.request(request).await {
                ServerMessage::Error {
                    request_id: Some(id),
                    code: ErrorCode::InvalidStreamId,
                    fatal: false,
                    ..
                } => assert_eq!(id as usize, i + 1, "{request:?}"),
                other => panic!("{bad:?}: {request:?} got {other:?}"),
            }
        }
        let trickle = ClientMessage::TrickleIce {
            stream_id: bad.into(),
            role: MediaRole::Play,
            candidate: IceCandidate {
                candidate: String::new(),
                sdp_mid: None,
                sdp_mline_index: None,
            },
        };
        match c.request(&trickle).await {
            ServerMessage::Error {
                request_id: None,
                code: ErrorCode::InvalidStreamId,
                fatal: false,
                ..
            } => {}
            other => panic!("{bad:?}: trickle got {other:?}"),
        }
    }
    // Logins check the room and user IDs (and name) first.
    for (room, user, code) in [
        ("r r", "u", ErrorCode::InvalidRoomId),
        ("r", "", ErrorCode::InvalidUserId),
        ("r", "a\u{0}b", ErrorCode::InvalidUserId),
        ("r", &"u".repeat(65), ErrorCode::InvalidUserId),
    ] {
        let mut l = server.connect().await;
        let login = l.app_sign_login(&server.app, room, user, false);
        match l.request(&ClientMessage::Login(login)).await {
            ServerMessage::LoginFailed { code: got, .. } => assert_eq!(got, code, "{room} {user}"),
            other => panic!("{other:?}"),
        }
    }
    // Still usable.
    assert!(matches!(
        c.request(&ClientMessage::Heartbeat { ack: 0 }).await,
        ServerMessage::HeartbeatAck { .. }
    ));
    server.handle.shutdown().await;
}
