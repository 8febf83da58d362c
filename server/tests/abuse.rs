//! Misbehaving clients get their code; everybody else keeps being served.
#![allow(clippy::unwrap_used)]

mod common;

use protocol::{ClientMessage, ErrorCode, ServerMessage};
use tokio_tungstenite::tungstenite::Message;

async fn still_served(server: &common::TestServer, probe: &mut common::Client) {
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

fn rand_suffix() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

#[tokio::test]
async fn malformed_and_unknown_are_not_fatal() {
    let server = common::start(|_| {}).await;
    let (mut probe, _) = server.login("r", "probe", false).await;
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
    let metrics = server.http_get("/metrics").await;
    assert!(
        metrics.contains("confer_errors_total{code=\"1009001\",name=\"MalformedMessage\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("confer_errors_total{code=\"1009002\",name=\"UnknownMessage\"} 1"),
        "{metrics}"
    );
    server.handle.shutdown().await;
}

#[tokio::test]
async fn binary_oversized_and_flood_are_fatal() {
    let server = common::start(|c| {
        c.limits.messages_per_second = 5;
        c.limits.message_burst = 10;
    })
    .await;
    let (mut probe, _) = server.login("r", "probe", false).await;

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

#[tokio::test]
async fn connection_limit_refuses_politely() {
    let server = common::start(|c| c.limits.max_connections = 2).await;
    let (mut probe, _) = server.login("r", "a", false).await;
    let _second = server.connect().await;
    let (mut third, _) = tokio_tungstenite::connect_async(server.handle.ws_url())
        .await
        .unwrap();
    use futures_util::StreamExt;
    let first = third.next().await.unwrap().unwrap();
    let Message::Text(t) = first else {
        panic!("{first:?}")
    };
    assert!(matches!(
        ServerMessage::decode(t.as_str()).unwrap(),
        ServerMessage::Error {
            code: ErrorCode::TooManyConnections,
            fatal: true,
            ..
        }
    ));
    assert!(matches!(
        probe.request(&ClientMessage::Heartbeat { ack: 0 }).await,
        ServerMessage::HeartbeatAck { .. }
    ));
    server.handle.shutdown().await;
}
