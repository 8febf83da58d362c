//! Bad input on the wire from a raw WebSocket client: each case gets its
//! error code, the server stays up, and two SDK users in a room see nothing
//! odd and keep talking.

use media_core::Event;
use protocol::{auth, ClientMessage, Credentials, ErrorCode, Login, ServerMessage, UserInfo};
use std::time::Duration;
use test_support::raw::RawClient;
use test_support::{briefs, Peer, TestServer};

fn login_msg(
    server: &TestServer,
    nonce: &str,
    room: &str,
    user: &str,
    name: &str,
) -> ClientMessage {
    let proof = auth::login_proof(&server.app.app_sign, server.app.app_id, room, user, nonce);
    ClientMessage::Login(Login {
        version: protocol::PROTOCOL_VERSION,
        app_id: server.app.app_id,
        room_id: room.to_owned(),
        user: UserInfo {
            user_id: user.to_owned(),
            user_name: name.to_owned(),
        },
        credentials: Credentials::AppSign { proof },
        notify_users: true,
        max_member_count: 0,
    })
}

fn error_code(m: &ServerMessage) -> Option<ErrorCode> {
    match m {
        ServerMessage::Error { code, .. } | ServerMessage::LoginFailed { code, .. } => Some(*code),
        _ => None,
    }
}

/// Expects an error with `code`, then the close.
async fn expect_fatal(client: &mut RawClient, code: ErrorCode) {
    let msgs = client.recv_until_closed().await;
    assert!(
        msgs.iter().any(|m| error_code(m) == Some(code)),
        "expected {code:?} before close, got {msgs:?}"
    );
}

async fn expect_error_kept_open(client: &mut RawClient, code: ErrorCode) {
    let m = client.recv_msg().await;
    assert_eq!(error_code(&m), Some(code), "{m:?}");
    assert!(
        matches!(m, ServerMessage::Error { fatal: false, .. }),
        "{m:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_gets_its_code_and_others_carry_on() {
    let server = TestServer::start().await;
    let mut a = Peer::join(server.profile(), "calm-room", "a", true).await;
    let b = Peer::join(server.profile(), "calm-room", "b", true).await;
    a.wait_for("user Add [b]", |e| {
        matches!(e, Event::RoomUserUpdate { .. })
    })
    .await;
    a.wait_for("count 2", |e| {
        matches!(e, Event::RoomOnlineUserCountUpdate { .. })
    })
    .await;
    let url = server.url.clone();

    // Malformed JSON and unknown types: an error, connection kept.
    let mut c = RawClient::connect(&url).await;
    c.send_text("{not json").await;
    expect_error_kept_open(&mut c, ErrorCode::MalformedMessage).await;
    c.send_text(r#"{"type":"teleport","to":"mars"}"#).await;
    expect_error_kept_open(&mut c, ErrorCode::UnknownMessage).await;
    c.send_text(r#"{"type":"heartbeat","ack":"seven"}"#).await;
    expect_error_kept_open(&mut c, ErrorCode::MalformedMessage).await;
    // ... and it can still log in afterwards.
    let nonce = c.nonce.clone();
    c.send(&login_msg(&server, &nonce, "raw-room", "raw", "Raw"))
        .await;
    assert!(matches!(c.recv_msg().await, ServerMessage::LoginOk(_)));
    // Login again on a logged-in connection: wrong state, not fatal.
    c.send(&login_msg(&server, &nonce, "raw-room", "raw", "Raw"))
        .await;
    expect_error_kept_open(&mut c, ErrorCode::WrongState).await;

    // A session message before login.
    let mut c = RawClient::connect(&url).await;
    c.send(&ClientMessage::Heartbeat { ack: 0 }).await;
    expect_fatal(&mut c, ErrorCode::LoginRequired).await;

    // Oversized frame.
    let mut c = RawClient::connect(&url).await;
    let big = format!(
        r#"{{"type":"heartbeat","ack":1,"pad":"{}"}}"#,
        "x".repeat(64 * 1024)
    );
    c.send_text(big).await;
    expect_fatal(&mut c, ErrorCode::MessageTooLarge).await;

    // Binary frame.
    let mut c = RawClient::connect(&url).await;
    c.send_binary(vec![0xde, 0xad, 0xbe, 0xef]).await;
    expect_fatal(&mut c, ErrorCode::BinaryNotSupported).await;

    // Flood after login.
    let mut c = RawClient::connect(&url).await;
    let nonce = c.nonce.clone();
    c.send(&login_msg(&server, &nonce, "flood-room", "flooder", "F"))
        .await;
    assert!(matches!(c.recv_msg().await, ServerMessage::LoginOk(_)));
    for _ in 0..2000 {
        c.send(&ClientMessage::Heartbeat { ack: 0 }).await;
    }
    expect_fatal(&mut c, ErrorCode::RateLimited).await;

    // Logins with bad IDs, names and versions.
    let long_user = "u".repeat(65);
    let bad = [
        ("has space", "u", "n", ErrorCode::InvalidRoomId),
        ("", "u", "n", ErrorCode::InvalidRoomId),
        ("r", "", "n", ErrorCode::InvalidUserId),
        ("r", long_user.as_str(), "n", ErrorCode::InvalidUserId),
        ("r", "u", "bad\u{7}name", ErrorCode::InvalidUserName),
    ];
    for (room, user, name, code) in bad {
        let mut c = RawClient::connect(&url).await;
        let nonce = c.nonce.clone();
        c.send(&login_msg(&server, &nonce, room, user, name)).await;
        expect_fatal(&mut c, code).await;
    }
    let mut c = RawClient::connect(&url).await;
    let nonce = c.nonce.clone();
    let mut msg = login_msg(&server, &nonce, "r", "u", "n");
    if let ClientMessage::Login(l) = &mut msg {
        l.version = 999;
    }
    c.send(&msg).await;
    expect_fatal(&mut c, ErrorCode::UnsupportedVersion).await;
    // A proof for another nonce (replay).
    let mut c = RawClient::connect(&url).await;
    c.send(&login_msg(&server, "stale-nonce", "r", "u", "n"))
        .await;
    expect_fatal(&mut c, ErrorCode::AppSignMismatch).await;

    // Through all that, the calm room saw nothing odd and still works.
    let id = b
        .engine
        .send_broadcast_message("still here")
        .await
        .expect("broadcast");
    let e = a
        .wait_for("broadcast", |e| {
            matches!(e, Event::RoomBroadcastMessage { .. })
        })
        .await;
    assert!(
        matches!(&e, Event::RoomBroadcastMessage { messages, .. } if messages[0].message_id == id)
    );
    assert_eq!(
        briefs(&a.log),
        [
            "state Connecting 0",
            "state Connected 0",
            "count 1",
            "user Add [b]",
            "count 2",
            "broadcast [still here]"
        ],
        "a saw odd events"
    );

    // Server health and metrics still answer and count the errors.
    let metrics = http_get(&server.http_url(), "/metrics").await;
    assert!(metrics.contains("confer_errors_total"), "{metrics}");
    assert!(
        metrics.contains(&format!("code=\"{}\"", ErrorCode::RateLimited.code())),
        "{metrics}"
    );
    assert_eq!(http_get(&server.http_url(), "/healthz").await.trim(), "ok");
    a.engine.destroy().await;
    b.engine.destroy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_limits_have_codes() {
    let server = TestServer::start().await;
    let a = Peer::join(server.profile(), "chat", "a", false).await;
    let _b = Peer::join(server.profile(), "chat", "b", false).await;
    let too_long = "x".repeat(1025);
    let err = a
        .engine
        .send_broadcast_message(&too_long)
        .await
        .expect_err("too long");
    assert_eq!(err.code(), ErrorCode::BroadcastTooLong);
    let err = a
        .engine
        .send_broadcast_message("")
        .await
        .expect_err("empty");
    assert_eq!(err.code(), ErrorCode::BroadcastEmpty);
    // 25 at once: at most 10 per second per room get through.
    let sends = (0..25).map(|i| {
        let engine = a.engine.clone();
        async move { engine.send_broadcast_message(&format!("m{i}")).await }
    });
    let results = futures_util::future::join_all(sends).await;
    let limited = results
        .iter()
        .filter(|r| matches!(r, Err(e) if e.code() == ErrorCode::BroadcastRateLimited))
        .count();
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok + limited, 25, "{results:?}");
    assert!(limited >= 10, "only {limited} of 25 were limited");
    a.engine.destroy().await;
}

async fn http_get(base: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect http");
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .expect("http answer in time")
        .expect("read");
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (_, body) = text.split_once("\r\n\r\n").unwrap_or(("", &text));
    body.to_owned()
}
