//! `/healthz`, `/metrics` and graceful shutdown.
#![allow(clippy::unwrap_used)]

mod common;

use protocol::{ErrorCode, ServerMessage};

#[tokio::test]
async fn healthz_and_metrics() {
    let server = common::start(|_| {}).await;
    let health = server.http_get("/healthz").await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(health.ends_with("ok"), "{health}");
    let (_a, _) = server.login("r1", "a", true).await;
    let (_b, _) = server.login("r2", "b", true).await;
    let m = server.http_get("/metrics").await;
    assert!(m.starts_with("HTTP/1.1 200"), "{m}");
    for line in [
        "confer_rooms 2",
        "confer_users 2",
        "confer_connections 2",
        "confer_logins_total 2",
        "# TYPE confer_messages_in_total counter",
        "# TYPE confer_messages_out_total counter",
        "# TYPE confer_errors_total counter",
    ] {
        assert!(m.contains(line), "missing {line:?} in {m}");
    }
    server.handle.shutdown().await;
}

#[tokio::test]
async fn shutdown_says_goodbye_to_everyone() {
    let server = common::start(|_| {}).await;
    let (mut a, _) = server.login("r", "a", true).await;
    let mut waiting = server.connect().await;
    let addr = server.handle.local_addr();
    server.handle.shutdown().await;
    for c in [&mut a, &mut waiting] {
        let msgs = c.closed().await;
        assert!(
            msgs.iter().any(|m| matches!(
                m,
                ServerMessage::Shutdown {
                    code: ErrorCode::ServerShuttingDown,
                    ..
                }
            )),
            "{msgs:?}"
        );
    }
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "listener closed"
    );
}

#[tokio::test]
async fn router_builds_without_a_socket() {
    let state = server::ServerState::new(server::ServerConfig::generate_local()).unwrap();
    let _router: axum::Router = server::app(state);
}
