//! Kick-out, resume after a dropped connection, heartbeat timeout.
#![allow(clippy::unwrap_used)]

use protocol::{
    ClientMessage, ErrorCode, Resume, RoomEvent, ServerMessage, UpdateType, PROTOCOL_VERSION,
};
use std::time::Duration;
use test_support::client;
use test_support::TestServer;

fn resume(ok: &protocol::LoginOk, last_seq: u64) -> ClientMessage {
    ClientMessage::Resume(Resume {
        version: PROTOCOL_VERSION,
        session_id: ok.session_id.clone(),
        resume_key: ok.resume_key.clone(),
        last_seq,
    })
}

/// Resumes `ok`'s session (seen up to seq 0) on a new connection, which the
/// server must close after exactly one `ResumeFailed`; returns its code.
async fn resume_fails(server: &TestServer, ok: &protocol::LoginOk) -> ErrorCode {
    let mut c = server.connect().await;
    c.send(&resume(ok, 0)).await;
    match c.closed().await.as_slice() {
        [ServerMessage::ResumeFailed { code, .. }] => *code,
        msgs => panic!("expected ResumeFailed before the close, got {msgs:?}"),
    }
}

#[tokio::test]
async fn second_login_kicks_the_first_without_churn() {
    let server = TestServer::start_with(|_| {}).await;
    let (mut a, _) = server.login("r", "a", true).await;
    let (mut b, ok_b) = server.login("r", "b", true).await;
    a.recv().await;
    a.recv().await; // Add b, count 2
    b.request(&client::publish_stream(1, "cam")).await;
    a.recv().await; // stream Add

    let (_b2, ok_b2) = server.login("r", "b", true).await;
    assert_eq!(ok_b2.online_count, 2);
    assert_eq!(ok_b2.users.len(), 1);
    assert!(ok_b2.streams.is_empty(), "the old session's stream is gone");
    let kicked = b.closed().await;
    assert!(
        matches!(
            kicked.as_slice(),
            [ServerMessage::Kicked {
                code: ErrorCode::KickedOut,
                ..
            }]
        ),
        "{kicked:?}"
    );
    match a.recv().await {
        ServerMessage::Event(e) => assert!(matches!(
            e.event,
            RoomEvent::StreamUpdate {
                update_type: UpdateType::Delete,
                ..
            }
        )),
        other => panic!("{other:?}"),
    }
    a.quiet(Duration::from_millis(300)).await;

    // The kicked session may not come back.
    assert_eq!(resume_fails(&server, &ok_b).await, ErrorCode::KickedOut);

    // Logging in to another room moves the user: Delete here.
    let (_b3, _) = server.login("elsewhere", "b", true).await;
    match a.recv().await {
        ServerMessage::Event(e) => assert!(matches!(
            e.event,
            RoomEvent::UserUpdate {
                update_type: UpdateType::Delete,
                ..
            }
        )),
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(a.recv().await, ServerMessage::Event(e) if e.event == RoomEvent::OnlineUserCount { count: 1 })
    );
    server.handle.shutdown().await;
}

#[tokio::test]
async fn resume_after_dropped_connection_replays_missed_events() {
    let server = TestServer::start_with(|_| {}).await;
    let (a, ok_a) = server.login("r", "a", true).await;
    let (mut b, _) = server.login("r", "b", true).await;
    // a vanishes without logging out (TCP drop).
    drop(a);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (_c, ok_c) = server.login("r", "c", true).await;
    assert_eq!(ok_c.online_count, 3, "a is detached but still in the room");
    b.recv().await;
    b.recv().await; // Add c, count 3

    let mut a2 = server.connect().await;
    // a saw nothing after login (seq 0): Add b, count 2, Add c, count 3.
    match a2.request(&resume(&ok_a, 0)).await {
        ServerMessage::Resumed { missed } => {
            assert_eq!(
                missed.iter().map(|e| e.seq).collect::<Vec<_>>(),
                vec![1, 2, 3, 4]
            );
            assert_eq!(missed[3].event, RoomEvent::OnlineUserCount { count: 3 });
        }
        other => panic!("{other:?}"),
    }
    // b saw no churn for a.
    b.quiet(Duration::from_millis(300)).await;
    // Events keep flowing on the new connection with the next seq.
    b.send(&ClientMessage::Logout { request_id: 1 }).await;
    let next = a2.recv().await;
    assert!(
        matches!(next, ServerMessage::Event(ref e) if e.seq == 5),
        "{next:?}"
    );
    // Heartbeats get acks.
    a2.send(&ClientMessage::Heartbeat { ack: 5 }).await;
    let ack = a2
        .recv_until(|m| matches!(m, ServerMessage::HeartbeatAck { .. }))
        .await;
    assert!(matches!(ack, ServerMessage::HeartbeatAck { server_time_ms } if server_time_ms > 0));
    // Login again on a logged-in connection is a non-fatal WrongState.
    let login = a2.app_sign_login(&server.app, "r", "a", true);
    a2.send(&ClientMessage::Login(login)).await;
    let e = a2
        .recv_until(|m| matches!(m, ServerMessage::Error { .. }))
        .await;
    assert!(matches!(
        e,
        ServerMessage::Error {
            code: ErrorCode::WrongState,
            fatal: false,
            ..
        }
    ));

    // Unknown session.
    let mut bogus = ok_a.clone();
    bogus.resume_key = "0".repeat(32);
    assert_eq!(
        resume_fails(&server, &bogus).await,
        ErrorCode::SessionExpired
    );
    server.handle.shutdown().await;
}

#[tokio::test]
async fn resume_takes_over_an_open_connection() {
    let server = TestServer::start_with(|_| {}).await;
    let (mut a, ok_a) = server.login("r", "a", true).await;
    let mut a2 = server.connect().await;
    assert!(
        matches!(a2.request(&resume(&ok_a, 0)).await, ServerMessage::Resumed { missed } if missed.is_empty())
    );
    assert!(a.closed().await.is_empty());
    server.handle.shutdown().await;
}

#[tokio::test]
async fn silent_clients_are_removed_after_the_heartbeat_timeout() {
    let server = TestServer::start_with(|c| {
        c.heartbeat_interval_ms = 100;
        c.heartbeat_timeout_ms = 500;
    })
    .await;
    let (mut a, ok_a) = server.login("r", "a", true).await;
    assert_eq!(ok_a.heartbeat_timeout_ms, 500);
    let (mut silent_open, _) = server.login("r", "b", true).await;
    let (gone, ok_c) = server.login("r", "c", true).await;
    drop(gone); // connection closed: detached until the timeout
    let keep_alive = async {
        let mut seen = Vec::new();
        for _ in 0..30 {
            a.send(&ClientMessage::Heartbeat { ack: 0 }).await;
            while let Some(m) = a.try_recv(Duration::from_millis(100)).await {
                if let ServerMessage::Event(e) = m {
                    seen.push(e.event);
                }
            }
            if seen.len() >= 6 + 2 {
                break;
            }
        }
        seen
    };
    let seen = keep_alive.await;
    let deletes: Vec<_> = seen
        .iter()
        .filter_map(|e| match e {
            RoomEvent::UserUpdate {
                update_type: UpdateType::Delete,
                users,
            } => Some(users[0].user_id.clone()),
            _ => None,
        })
        .collect();
    assert!(
        deletes.contains(&"b".to_owned()) && deletes.contains(&"c".to_owned()),
        "{seen:?}"
    );
    assert_eq!(seen.last(), Some(&RoomEvent::OnlineUserCount { count: 1 }));
    // Told its session is gone, which is not a kick: it may log in again.
    let msgs = silent_open.closed().await;
    assert!(
        msgs.iter().any(|m| matches!(
            m,
            ServerMessage::SessionExpired {
                code: ErrorCode::SessionExpired,
                ..
            }
        )),
        "{msgs:?}"
    );
    assert!(
        !msgs
            .iter()
            .any(|m| matches!(m, ServerMessage::Kicked { .. })),
        "{msgs:?}"
    );
    assert_eq!(
        resume_fails(&server, &ok_c).await,
        ErrorCode::SessionExpired
    );
    server.handle.shutdown().await;
}

/// A client that logs out and closes its socket at once (the SDK's `destroy`)
/// can make the server's next write fail (here the answer to a heartbeat, in
/// the SDK's case often an `SdpAnswer`) before the server reads the `Logout`
/// that is already on its socket. It is still a clean logout: the others see
/// the user and its stream leave at once, not after the heartbeat timeout.
///
/// Deterministic on a current-thread runtime: the frames and the reset all
/// reach the server's socket before its task runs again.
#[tokio::test]
async fn logout_behind_a_failed_write_still_logs_out() {
    use std::io::Write;
    use tokio_tungstenite::tungstenite::protocol::{Role, WebSocket};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::MaybeTlsStream;

    let server = TestServer::start_with(|c| {
        c.heartbeat_interval_ms = 10_000;
        c.heartbeat_timeout_ms = 30_000;
    })
    .await;
    let (mut other, _) = server.login("r", "other", true).await;
    let (mut leaving, _) = server.login("r", "leaving", true).await;
    leaving.send(&client::publish_stream(1, "cam")).await;
    leaving
        .recv_until(|m| matches!(m, ServerMessage::Ack { request_id: 1, .. }))
        .await;
    other
        .recv_until(|m| {
            matches!(m, ServerMessage::Event(e) if matches!(&e.event,
                RoomEvent::StreamUpdate { update_type: UpdateType::Add, .. }))
        })
        .await;

    // An answer the client will never read: closing over it resets the socket.
    leaving.send(&ClientMessage::Heartbeat { ack: 0 }).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let MaybeTlsStream::Plain(tcp) = leaving.ws.into_inner() else {
        panic!("plain TCP expected");
    };
    let tcp = tcp.into_std().unwrap();
    tcp.set_nonblocking(false).unwrap();
    let mut unread = [0u8; 1];
    assert_eq!(tcp.peek(&mut unread).unwrap(), 1, "the ack is waiting");

    // A heartbeat (its answer is the write that fails), the logout and a
    // close, in one write; then the reset, before the server task runs.
    let mut frames =
        WebSocket::from_raw_socket(std::io::Cursor::new(Vec::new()), Role::Client, None);
    for msg in [
        ClientMessage::Heartbeat { ack: 0 },
        ClientMessage::Logout { request_id: 2 },
    ] {
        frames.send(Message::text(msg.encode())).unwrap();
    }
    frames.close(None).unwrap();
    let _ = frames.flush();
    let bytes = frames.get_ref().get_ref().clone();
    (&tcp).write_all(&bytes).unwrap();
    drop(tcp);

    // Far below the 30 s heartbeat timeout.
    let deletes = async {
        let mut seen = Vec::new();
        while seen.len() < 2 {
            let m = other.try_recv(Duration::from_secs(60)).await;
            if let ServerMessage::Event(e) = m.expect("the other stays connected") {
                match e.event {
                    RoomEvent::StreamUpdate {
                        update_type: UpdateType::Delete,
                        streams,
                    } => seen.push(format!("stream {}", streams[0].stream_id)),
                    RoomEvent::UserUpdate {
                        update_type: UpdateType::Delete,
                        users,
                    } => seen.push(format!("user {}", users[0].user_id)),
                    _ => {}
                }
            }
        }
        seen
    };
    let seen = tokio::time::timeout(Duration::from_secs(5), deletes)
        .await
        .expect("the logout is honoured at once, not after the heartbeat timeout");
    assert_eq!(seen, ["stream cam", "user leaving"]);
    server.handle.shutdown().await;
}
