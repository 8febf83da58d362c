//! Data relayed both ways between a client and a UDP peer, through a
//! channel and through Send/Data indications, over the UDP, TCP and TLS
//! listeners of a real server on loopback.

#![allow(clippy::unwrap_used)]

use rtc_stun::message::CLASS_SUCCESS_RESPONSE;
use test_support::turn::*;

/// Relays both ways through Send/Data indications, then through channel
/// 0x4000, and checks the server's counters.
async fn relay_both_ways(mut client: Client) {
    let relayed = client.allocate().await;
    assert_eq!(relayed.ip().to_string(), "127.0.0.1");
    let (peer, peer_addr) = peer().await;

    // Send / Data indications.
    let permission = client.create_permission(peer_addr).await;
    assert_eq!(permission.typ.class, CLASS_SUCCESS_RESPONSE);
    client
        .send_indication(peer_addr, b"to the peer by Send")
        .await;
    let (data, from) = peer_recv(&peer).await;
    assert_eq!(data, b"to the peer by Send");
    assert_eq!(from, relayed, "the peer sees the relayed address");
    peer.send_to(b"back by Data", relayed).await.unwrap();
    match client.recv_data().await {
        Some(Incoming::Data(from, data)) => {
            assert_eq!(from, peer_addr);
            assert_eq!(data, b"back by Data");
        }
        other => panic!("expected a Data indication, got {other:?}"),
    }

    // A channel; odd lengths exercise the stream padding.
    let bind = client.channel_bind(0x4000, peer_addr).await;
    assert_eq!(bind.typ.class, CLASS_SUCCESS_RESPONSE);
    for len in [1usize, 5, 1200] {
        let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
        client.channel_data(0x4000, &payload).await;
        let (data, _) = peer_recv(&peer).await;
        assert_eq!(data, payload);
        peer.send_to(&payload, relayed).await.unwrap();
        match client.recv_data().await {
            Some(Incoming::Channel(0x4000, data)) => assert_eq!(data, payload),
            other => panic!("expected ChannelData, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn relays_over_udp() {
    let server = start(loopback_config(), None).await;
    let client = Client::udp(&server, "alice").await;
    relay_both_ways(client).await;
    let stats = server.stats();
    assert_eq!(stats.allocations_active, 1);
    assert_eq!(stats.to_peer.packets, 4);
    assert_eq!(stats.to_client.packets, 4);
    assert_eq!(stats.to_peer.bytes, (19 + 1 + 5 + 1200) as u64);
    server.shutdown().await;
}

#[tokio::test]
async fn relays_over_tcp_and_the_allocation_ends_with_the_connection() {
    let server = start(loopback_config(), None).await;
    let tcp = server.tcp_addr().unwrap();
    let client = Client::tcp(tcp, "alice").await;
    relay_both_ways(client).await;
    // The client (and its connection) is gone: so is the allocation.
    let deadline = tokio::time::Instant::now() + WAIT;
    while server.stats().allocations_active > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "allocation outlived its TCP connection"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    server.shutdown().await;
}

#[tokio::test]
async fn relays_over_tls() {
    let (tls, cert) = tls_pair();
    let server = start(loopback_config(), Some(tls)).await;
    let client = Client::new(
        Conn::tls(server.tls_addr().unwrap(), &cert).await,
        credentials("alice", 3600),
    );
    relay_both_ways(client).await;
    assert_eq!(server.stats().to_client.packets, 4);
    server.shutdown().await;
}

#[tokio::test]
async fn relay_ports_come_from_the_configured_range_and_are_released() {
    let base = 47000 + (std::process::id() % 1000) as u16 * 2;
    let config = confer_turn::Config {
        relay_port_min: Some(base),
        relay_port_max: Some(base + 1),
        ..loopback_config()
    };
    let server = start(config, None).await;
    let mut a = Client::udp(&server, "a").await;
    let mut b = Client::udp(&server, "b").await;
    let mut c = Client::udp(&server, "c").await;
    let ports = [a.allocate().await.port(), b.allocate().await.port()];
    for port in ports {
        assert!(port == base || port == base + 1, "{port} outside the range");
    }
    // Range exhausted: 508.
    assert_eq!(error_code(&c.try_allocate().await), Some(508));
    // Releasing one makes room.
    let release = a
        .request(rtc_stun::message::METHOD_REFRESH, || {
            vec![Box::new(rtc_turn::proto::lifetime::Lifetime(
                std::time::Duration::ZERO,
            ))]
        })
        .await;
    assert_eq!(release.typ.class, CLASS_SUCCESS_RESPONSE);
    let port = c.allocate().await.port();
    assert!(port == base || port == base + 1);
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_releases_the_ports() {
    let server = start(loopback_config(), None).await;
    let udp = server.udp_addr();
    let tcp = server.tcp_addr().unwrap();
    server.shutdown().await;
    tokio::net::UdpSocket::bind(udp)
        .await
        .expect("UDP port still held");
    tokio::net::TcpListener::bind(tcp)
        .await
        .expect("TCP port still held");
}
