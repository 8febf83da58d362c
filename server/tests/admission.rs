//! Connection admission before HTTP: the per-address cap at accept, the
//! header-read timeout (idle sockets, slowloris, idle keep-alive), the idle
//! timeout of a stalled request, and that a logged-in WebSocket outlives
//! them all.
#![allow(clippy::unwrap_used)]

use protocol::{ClientMessage, ServerMessage};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};
use test_support::metrics::closed_early;
use test_support::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const HEADER_READ_MS: u64 = 400;
const IDLE_MS: u64 = 600;

async fn start() -> TestServer {
    TestServer::start_with(|c| {
        c.header_read_timeout_ms = HEADER_READ_MS;
        c.http_idle_timeout_ms = IDLE_MS;
        c.limits.max_connections_per_ip = 3;
    })
    .await
}

async fn connect_from(last: u8, server: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)),
            0,
        ))
        .unwrap();
    socket.connect(server).await.unwrap()
}

/// Reads until the server closes the socket; when that was and what it
/// sent.
async fn until_closed(s: &mut TcpStream) -> (Instant, String) {
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => out.extend_from_slice(&buf[..n]),
            Ok(_) => break,
            Err(_) => panic!("not closed; got {:?}", String::from_utf8_lossy(&out)),
        }
    }
    (Instant::now(), String::from_utf8_lossy(&out).into_owned())
}

#[tokio::test]
async fn per_address_cap_refuses_at_accept_with_the_typed_error() {
    let server = start().await;
    let addr = server.handle.local_addr();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect_from(7, addr).await);
    }
    let mut fourth = connect_from(7, addr).await;
    let (_, refused) = until_closed(&mut fourth).await;
    assert!(refused.starts_with("HTTP/1.1 429"), "{refused}");
    assert!(
        refused.contains("\"name\":\"TooManyConnections\""),
        "{refused}"
    );
    // Another address is served meanwhile.
    server.http_get_ok("/healthz").await;
    // A slot comes back when a connection closes.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut again = connect_from(7, addr).await;
    again
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (_, ok) = until_closed(&mut again).await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    let metrics = server.http_get("/metrics").await;
    assert_eq!(closed_early(&metrics, "refused_per_ip"), 1);
    server.handle.shutdown().await;
}

#[tokio::test]
async fn header_read_timeout_closes_idle_slow_and_kept_alive_connections() {
    let server = start().await;
    let addr = server.handle.local_addr();
    let t0 = Instant::now();
    // Never sends a byte.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    // Sends its headers a byte every 50 ms (never finishing within 400 ms).
    let mut slow = TcpStream::connect(addr).await.unwrap();
    let slow_task = tokio::spawn(async move {
        for byte in b"GET /healthz HTTP/1.1\r\nHost: slowloris.example\r\n"
            .iter()
            .cycle()
        {
            if slow.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            if t0.elapsed() > Duration::from_secs(10) {
                panic!("slowloris never cut off");
            }
        }
        Instant::now()
    });
    // A kept-alive connection after one request.
    let mut kept = TcpStream::connect(addr).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 17];
    kept.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200 OK\r\n");

    let (idle_end, _) = until_closed(&mut idle).await;
    let (kept_end, _) = until_closed(&mut kept).await;
    let slow_end = slow_task.await.unwrap();
    for (what, end) in [
        ("idle", idle_end),
        ("kept-alive", kept_end),
        ("slowloris", slow_end),
    ] {
        let held = end - t0;
        assert!(
            held >= Duration::from_millis(HEADER_READ_MS - 50) && held < Duration::from_secs(5),
            "{what} held {held:?}"
        );
    }
    let metrics = server.http_get("/metrics").await;
    assert!(closed_early(&metrics, "header_timeout") >= 3, "{metrics}");
    server.handle.shutdown().await;
}

#[tokio::test]
async fn a_stalled_request_body_is_cut_by_the_idle_timeout() {
    let server = start().await;
    let mut stalled = TcpStream::connect(server.handle.local_addr())
        .await
        .unwrap();
    stalled
        .write_all(
            b"POST /api/dev-token HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n{\"app_id\":",
        )
        .await
        .unwrap();
    let t0 = Instant::now();
    let (end, _) = until_closed(&mut stalled).await;
    let held = end - t0;
    assert!(
        held >= Duration::from_millis(IDLE_MS - 50) && held < Duration::from_secs(5),
        "held {held:?}"
    );
    let metrics = server.http_get("/metrics").await;
    assert_eq!(closed_early(&metrics, "idle_timeout"), 1, "{metrics}");
    server.handle.shutdown().await;
}

#[tokio::test]
async fn a_logged_in_websocket_outlives_the_http_timeouts() {
    let server = start().await;
    let (mut c, _) = server.login("r", "stays", false).await;
    // Quiet for longer than both HTTP timeouts; heartbeats keep the session.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(IDLE_MS)).await;
        assert!(matches!(
            c.request(&ClientMessage::Heartbeat { ack: 0 }).await,
            ServerMessage::HeartbeatAck { .. }
        ));
    }
    let stats = server.handle.state().gate().stats();
    assert_eq!((stats.open, stats.pending), (1, 0));
    server.handle.shutdown().await;
}

/// A TLS port holds a handshake that never finishes no longer than the
/// header-read timeout, and counts it.
#[tokio::test]
async fn a_stalled_tls_handshake_is_cut_by_the_header_read_timeout() {
    let dir = std::env::temp_dir().join(format!("confer-tls-stall-{}", std::process::id()));
    let (cert, key) =
        server::tls::self_signed(&dir, &["127.0.0.1".to_owned()]).expect("certificate");
    let server = TestServer::start_with(|c| {
        c.header_read_timeout_ms = HEADER_READ_MS;
        c.tls.cert_file = Some(cert);
        c.tls.key_file = Some(key);
    })
    .await;
    let t0 = Instant::now();
    let mut stalled = TcpStream::connect(server.handle.local_addr())
        .await
        .unwrap();
    // The first bytes of a TLS record header, then nothing.
    stalled.write_all(&[0x16, 0x03, 0x01]).await.unwrap();
    let (end, _) = until_closed(&mut stalled).await;
    let held = end - t0;
    assert!(
        held >= Duration::from_millis(HEADER_READ_MS - 50) && held < Duration::from_secs(5),
        "held {held:?}"
    );
    assert_eq!(server.handle.state().gate().stats().tls_failures, 1);
    server.handle.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
