//! The relay over real UDP sockets on loopback: an echo server behind it,
//! clients in front.

use impair::{Conditions, Direction, Relay, RelayConfig, Timeline};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::time::timeout;

/// An echo server; returns its address.
async fn echo() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind echo");
    let addr = socket.local_addr().expect("echo addr");
    tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        while let Ok((len, from)) = socket.recv_from(&mut buf).await {
            let _ = socket.send_to(&buf[..len], from).await;
        }
    });
    addr
}

async fn relay(up: &str, down: &str) -> Relay {
    Relay::start(RelayConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        target: echo().await,
        up: Timeline::constant(up.parse().expect("up spec")),
        down: Timeline::constant(down.parse().expect("down spec")),
        seed: 5,
        protect_handshakes: false,
    })
    .await
    .expect("relay")
}

async fn client(relay: &Relay) -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind client");
    socket.connect(relay.local_addr()).await.expect("connect");
    socket
}

#[tokio::test]
async fn each_direction_adds_its_own_delay() {
    let relay = relay("delay=40ms", "delay=60ms").await;
    let socket = client(&relay).await;
    let mut buf = [0u8; 64];
    for round in 0..3u8 {
        let sent = Instant::now();
        socket.send(&[round; 20]).await.expect("send");
        let len = timeout(Duration::from_secs(5), socket.recv(&mut buf))
            .await
            .expect("echo within 5 s")
            .expect("recv");
        let rtt = sent.elapsed();
        assert_eq!(&buf[..len], &[round; 20]);
        assert!(rtt >= Duration::from_millis(100), "rtt {rtt:?}");
    }
    assert_eq!(relay.stats(Direction::Up).delivered, 3);
    assert_eq!(relay.stats(Direction::Down).delivered, 3);
}

#[tokio::test]
async fn two_clients_get_their_own_echo_through_one_relay() {
    let relay = relay("clean", "clean").await;
    let (a, b) = (client(&relay).await, client(&relay).await);
    a.send(b"from a").await.expect("send a");
    b.send(b"from b").await.expect("send b");
    let mut buf = [0u8; 64];
    for (socket, expected) in [(&a, &b"from a"[..]), (&b, &b"from b"[..])] {
        let len = timeout(Duration::from_secs(5), socket.recv(&mut buf))
            .await
            .expect("echo")
            .expect("recv");
        assert_eq!(&buf[..len], expected);
    }
}

#[tokio::test]
async fn a_blackout_then_recovery_on_command() {
    let relay = relay("clean", "clean").await;
    let socket = client(&relay).await;
    relay.set(Direction::Up, Timeline::constant(Conditions::blackout()));
    // The blackout reaches the up task before the packet does (one queue).
    tokio::time::sleep(Duration::from_millis(20)).await;
    socket.send(b"lost").await.expect("send");
    let mut buf = [0u8; 64];
    let lost = timeout(Duration::from_millis(300), socket.recv(&mut buf)).await;
    assert!(lost.is_err(), "nothing comes back during a blackout");
    assert_eq!(relay.stats(Direction::Up).lost, 1);

    relay.set_both(Timeline::constant(Conditions::default()));
    tokio::time::sleep(Duration::from_millis(20)).await;
    socket.send(b"back").await.expect("send");
    let len = timeout(Duration::from_secs(5), socket.recv(&mut buf))
        .await
        .expect("echo after the blackout")
        .expect("recv");
    assert_eq!(&buf[..len], b"back");
}

#[tokio::test]
async fn capacity_limits_what_gets_through() {
    // 400 kbps down: 50 kB/s. Offer 200 x 1000-byte packets at once with a
    // 20-packet queue: about 20 fit, the rest are dropped at the tail.
    let relay = relay("clean", "rate=400kbps,queue=20").await;
    let socket = client(&relay).await;
    for i in 0..200u8 {
        socket.send(&[i; 1000]).await.expect("send");
    }
    let mut got = 0u64;
    let mut buf = [0u8; 2048];
    while timeout(Duration::from_millis(500), socket.recv(&mut buf))
        .await
        .is_ok()
    {
        got += 1;
    }
    let down = relay.stats(Direction::Down);
    assert_eq!(got, down.delivered);
    assert!(
        (15..=40).contains(&got),
        "{got} of 200 through a 20-packet queue"
    );
    assert_eq!(down.delivered + down.queue_drops + down.lost, down.sent);
}
