//! Hostile input on every listener never takes the server down: random
//! bytes, truncated STUN, huge lengths, half-open and idle connections, too
//! many connections. A correct allocation works afterwards each time.

#![allow(clippy::unwrap_used)]

use confer_turn::Config;
use rand::Rng;
use rtc_stun::message::{TransactionId, BINDING_REQUEST};
use std::time::Duration;
use test_support::turn::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Inputs an attacker would try: random bytes, truncated and lying STUN
/// headers, ChannelData claiming 64 KiB, a valid header with garbage
/// attributes.
fn hostile_inputs() -> Vec<Vec<u8>> {
    let mut rng = rand::rng();
    let mut inputs: Vec<Vec<u8>> = (0..50)
        .map(|_| {
            let len = rng.random_range(0..1500);
            (0..len).map(|_| rng.random()).collect()
        })
        .collect();
    let mut binding = rtc_stun::message::Message::new();
    binding
        .build(&[Box::new(TransactionId::new()), Box::new(BINDING_REQUEST)])
        .unwrap();
    let valid = binding.raw.clone();
    inputs.push(valid[..10].to_vec());
    let mut huge = valid.clone();
    huge[2] = 0xFF;
    huge[3] = 0xFC;
    inputs.push(huge);
    let mut lying_attrs = valid.clone();
    lying_attrs[3] = 8;
    lying_attrs.extend_from_slice(&[0x00, 0x12, 0xFF, 0xFF, 1, 2, 3, 4]);
    inputs.push(lying_attrs);
    inputs.push(vec![0x40, 0x00, 0xFF, 0xFF, 1, 2, 3]);
    inputs.push(vec![0x7F, 0xFF, 0x00, 0x00]);
    inputs.push(vec![0xFF; 2000]);
    inputs.push(Vec::new());
    inputs
}

/// A full allocation + relay exchange over UDP still works.
async fn still_serves(server: &confer_turn::TurnHandle) {
    let mut client = Client::udp(server, "after").await;
    let relayed = client.allocate().await;
    let (peer, peer_addr) = peer().await;
    client.create_permission(peer_addr).await;
    // UDP on loopback drops when a flood (the garbage tests run beside
    // this one) fills the kernel's backlog: a few tries, as a client would.
    let mut buf = [0u8; 64];
    let mut got = None;
    for _ in 0..3 {
        client.send_indication(peer_addr, b"still alive").await;
        if let Ok(Ok((n, _))) = tokio::time::timeout(WAIT, peer.recv_from(&mut buf)).await {
            got = Some(buf[..n].to_vec());
            break;
        }
    }
    assert_eq!(
        got.as_deref(),
        Some(&b"still alive"[..]),
        "the peer got nothing"
    );
    peer.send_to(b"yes", relayed).await.unwrap();
    assert!(matches!(client.recv_data().await, Some(Incoming::Data(_, d)) if d == b"yes"));
}

/// Reads until the server closes the connection; `false` on timeout.
async fn closed_by_server(stream: &mut (impl AsyncReadExt + Unpin), within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test]
async fn garbage_on_udp_is_dropped_and_counted() {
    let server = start(loopback_config(), None).await;
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let inputs = hostile_inputs();
    for input in &inputs {
        socket.send_to(input, server.udp_addr()).await.unwrap();
    }
    still_serves(&server).await;
    // Random bytes are mostly malformed; a few may look like ChannelData
    // on no channel, which is dropped without counting as malformed.
    assert!(server.stats().malformed >= 40, "{:?}", server.stats());
    server.shutdown().await;
}

#[tokio::test]
async fn garbage_on_tcp_closes_that_connection_only() {
    let server = start(loopback_config(), None).await;
    let tcp = server.tcp_addr().unwrap();
    // A good TCP client holds an allocation throughout.
    let mut good = Client::tcp(tcp, "good").await;
    let relayed = good.allocate().await;
    for input in hostile_inputs()
        .into_iter()
        .filter(|i| i.first().is_some_and(|b| *b >= 0x80))
    {
        let mut stream = TcpStream::connect(tcp).await.unwrap();
        stream.write_all(&input).await.unwrap();
        assert!(
            closed_by_server(&mut stream, WAIT).await,
            "a connection sending garbage stayed open"
        );
    }
    // A complete STUN frame whose attribute overruns it: closed at once.
    let mut stream = TcpStream::connect(tcp).await.unwrap();
    let mut bad = vec![0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xA4, 0x42];
    bad.extend_from_slice(&[0; 12]);
    bad.extend_from_slice(&[0x00, 0x06, 0x00, 0x40, 1, 2, 3, 4]);
    stream.write_all(&bad).await.unwrap();
    assert!(closed_by_server(&mut stream, WAIT).await);
    // The good client is unaffected.
    let (peer, peer_addr) = peer().await;
    good.create_permission(peer_addr).await;
    peer.send_to(b"still here", relayed).await.unwrap();
    good.send_indication(peer_addr, b"ping").await;
    assert_eq!(peer_recv(&peer).await.0, b"ping");
    assert!(matches!(good.recv_data().await, Some(Incoming::Data(_, d)) if d == b"still here"));
    still_serves(&server).await;
    server.shutdown().await;
}

#[tokio::test]
async fn half_open_and_idle_connections_time_out() {
    let config = Config {
        stream_idle_timeout_secs: 1,
        ..loopback_config()
    };
    let (tls, _) = tls_pair();
    let server = start(config, Some(tls)).await;
    let tcp = server.tcp_addr().unwrap();
    // Connects and says nothing.
    let mut silent = TcpStream::connect(tcp).await.unwrap();
    // Sends half a header.
    let mut half = TcpStream::connect(tcp).await.unwrap();
    half.write_all(&[0x00, 0x03, 0x00]).await.unwrap();
    // Claims a 64 KiB message and sends 100 bytes of it.
    let mut slow = TcpStream::connect(tcp).await.unwrap();
    let mut header = vec![0x00, 0x03, 0xFF, 0xFC, 0x21, 0x12, 0xA4, 0x42];
    header.extend_from_slice(&[0; 112]);
    slow.write_all(&header).await.unwrap();
    // Opens TCP to the TLS port and never starts the handshake.
    let mut no_handshake = TcpStream::connect(server.tls_addr().unwrap())
        .await
        .unwrap();
    for stream in [&mut silent, &mut half, &mut slow, &mut no_handshake] {
        assert!(closed_by_server(stream, Duration::from_secs(3)).await);
    }
    assert_eq!(server.stats().stream_connections, 0);
    still_serves(&server).await;
    server.shutdown().await;
}

#[tokio::test]
async fn garbage_on_tls_closes_that_connection_only() {
    let (tls, cert) = tls_pair();
    let server = start(loopback_config(), Some(tls)).await;
    let tls_addr = server.tls_addr().unwrap();
    // Plain garbage instead of a ClientHello.
    let mut raw = TcpStream::connect(tls_addr).await.unwrap();
    raw.write_all(&[0xFF; 300]).await.unwrap();
    assert!(closed_by_server(&mut raw, WAIT).await);
    // A real TLS session that then sends garbage inside.
    let mut garbage = Conn::tls(tls_addr, &cert).await;
    garbage.send(&[0xC0; 64]).await;
    assert!(
        garbage.recv().await.is_none(),
        "the server answered garbage"
    );
    // A good TLS client allocates afterwards.
    let mut good = Client::new(Conn::tls(tls_addr, &cert).await, credentials("good", 3600));
    good.allocate().await;
    still_serves(&server).await;
    server.shutdown().await;
}

#[tokio::test]
async fn connections_over_the_cap_are_closed_at_accept() {
    let server = start_with(|c| c.max_stream_connections = 2).await;
    let tcp = server.tcp_addr().unwrap();
    let mut first = Client::tcp(tcp, "a").await;
    first.allocate().await;
    let mut second = Client::tcp(tcp, "b").await;
    second.allocate().await;
    let mut third = TcpStream::connect(tcp).await.unwrap();
    assert!(closed_by_server(&mut third, WAIT).await);
    assert_eq!(server.stats().stream_connections_refused, 1);
    drop(first);
    // The slot frees once the server notices the close.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mut fourth = Client::tcp(tcp, "d").await;
        let bytes = fourth.build(
            rtc_stun::message::METHOD_BINDING,
            TransactionId::new(),
            Vec::new(),
        );
        fourth.conn.send(&bytes).await;
        if fourth.conn.recv().await.is_some() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "slot never freed");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_flood_of_allocations_is_capped() {
    let server = start_with(|c| c.max_allocations = 5).await;
    let mut refused = 0;
    let mut held = Vec::new();
    for i in 0..8 {
        let mut client = Client::udp(&server, &format!("user{i}")).await;
        let response = client.try_allocate().await;
        if error_code(&response) == Some(508) {
            refused += 1;
        }
        held.push(client);
    }
    assert_eq!(refused, 3);
    assert_eq!(server.stats().allocations_active, 5);
    server.shutdown().await;
}
