//! The SFU's one media port: a publisher and six players all reach the
//! SFU on the same UDP port (and ICE-TCP port) while hostile traffic hits
//! both ports, and still decode the barcode frame numbers; connections that
//! close leave nothing behind in the mux.
//!
//! The SFU binds its media on its own loopback address ([`MEDIA_IP`]), so
//! the sockets on that address in `/proc/self/net/{udp,tcp}` are the SFU's
//! and nobody else's.

use futures_util::future::join_all;
use media_core::transport::{PlayTransport, Signal, TransportConfig};
use media_core::PlayerState;
use protocol::{ClientMessage, MediaRole, ServerMessage};
use server::sfu::MuxCounters;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use test_support::client::login_as;
use test_support::media::Completeness;
use test_support::raw::RawClient;
use test_support::{Peer, TestServer};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket};

/// The SFU's media address in the first test (only it binds it; tests run
/// in parallel, so the other has its own).
const MEDIA_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 77);
const PLAYERS: usize = 6;
const WATCH: Duration = Duration::from_secs(5);
const FIRST_FRAME: Duration = Duration::from_secs(30);

async fn server(media_ip: Ipv4Addr) -> TestServer {
    TestServer::start_with(|c| c.media.udp_bind_ip = IpAddr::V4(media_ip)).await
}

fn counters(server: &TestServer) -> MuxCounters {
    server
        .handle
        .state()
        .media()
        .sfu()
        .mux_counters()
        .expect("the mux is the default")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_players_and_a_publisher_share_one_udp_port_through_hostile_traffic() {
    let server = server(MEDIA_IP).await;
    let udp_port = server.handle.media_udp_port().expect("a shared UDP port");
    let tcp_port = server.handle.media_tcp_port().expect("a shared TCP port");
    let udp_target = SocketAddr::from((MEDIA_IP, udp_port));
    let tcp_target = SocketAddr::from((MEDIA_IP, tcp_port));

    let mut a = Peer::join(server.profile(), "mux", "a", false).await;
    a.publish("a-cam").await;
    let mut players = Vec::new();
    let mut probes = Vec::new();
    for i in 0..PLAYERS {
        let p = Peer::join(server.profile(), "mux", &format!("player{i}"), false).await;
        probes.push(p.play_video("a-cam"));
        players.push(p);
    }
    for p in &mut players {
        p.wait_player_state(PlayerState::Playing).await;
    }
    for (i, probe) in probes.iter_mut().enumerate() {
        assert!(
            probe.first(FIRST_FRAME).await.is_some(),
            "player{i}: no frame"
        );
    }

    // A logged-in attacker knows the credentials of its own leg at the SFU
    // (from its SDP answer) and the shared ports; it sprays both while the
    // call runs.
    let mallory = Mallory::play(&server, "a-cam").await;
    let before = counters(&server);
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(Sent::default());
    let udp_flood = tokio::spawn(hostile_udp(
        udp_target,
        mallory.ufrag.clone(),
        Arc::clone(&stop),
        Arc::clone(&sent),
    ));
    let tcp_flood = tokio::spawn(hostile_tcp(
        tcp_target,
        mallory.ufrag.clone(),
        Arc::clone(&stop),
        Arc::clone(&sent),
    ));
    let seen = join_all(probes.iter_mut().map(|p| p.collect(WATCH))).await;
    stop.store(true, Ordering::Release);
    udp_flood.await.expect("udp flood");
    tcp_flood.await.expect("tcp flood");

    for (i, seen) in seen.iter().enumerate() {
        let c = Completeness::of(seen);
        eprintln!("player{i}: {} of {} frames", c.received, c.sent);
        assert!(
            c.sent >= 30,
            "player{i}: only {} frames in {WATCH:?}",
            c.sent
        );
        assert!(
            c.ratio() >= 0.9,
            "player{i}: decoded {} of {} frames",
            c.received,
            c.sent
        );
    }

    // The SFU's side: one UDP socket and one TCP listener on its address,
    // for eight connections (a publisher, six players, the attacker's).
    assert_eq!(sockets_on(MEDIA_IP, "udp", None), vec![udp_port]);
    assert_eq!(sockets_on(MEDIA_IP, "tcp", Some("0A")), vec![tcp_port]);
    let after = counters(&server);
    eprintln!("mux before the flood {before:?}\nmux after {after:?}\nsent {sent:?}");
    assert_eq!(after.connections, PLAYERS + 2);
    // A route per connection that carries media (the attacker's does not).
    assert!(after.udp_learned > PLAYERS as u64, "{after:?}");
    assert!(
        after.udp_routed - before.udp_routed > 200,
        "media kept flowing in: {after:?}"
    );
    let forged = sent.forged.load(Ordering::Relaxed);
    let garbage = sent.garbage.load(Ordering::Relaxed);
    assert!(forged > 100 && garbage > 1000, "{sent:?}");
    assert!(
        after.udp_bad_integrity - before.udp_bad_integrity >= forged,
        "every forged check refused: {after:?}"
    );
    assert!(
        after.udp_unrouted - before.udp_unrouted >= garbage,
        "every unknown datagram dropped: {after:?}"
    );
    assert_eq!(
        after.udp_learned, before.udp_learned,
        "the flood taught no route"
    );
    assert!(
        after.tcp_routed >= 1,
        "the SDK's ICE-TCP connections reach their legs through the shared port: {after:?}"
    );
    let attempts = sent.tcp_connections.load(Ordering::Relaxed);
    assert!(attempts > 50, "{sent:?}");
    assert!(
        after.tcp_refused - before.tcp_refused >= attempts / 2,
        "hostile TCP connections closed: {after:?}"
    );

    // Everyone leaves: the mux forgets every connection and route.
    drop(mallory);
    for p in players {
        p.engine.destroy().await;
    }
    a.engine.destroy().await;
    let settled = settle(&server, |c| c.connections == 0 && c.routes == 0).await;
    assert_eq!((settled.connections, settled.routes), (0, 0), "{settled:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_come_and_go_leave_no_route_behind() {
    let server = server(Ipv4Addr::new(127, 0, 0, 78)).await;
    let mut a = Peer::join(server.profile(), "cycles", "a", false).await;
    a.publish("a-cam").await;
    for round in 0..10 {
        let mut b = Peer::join(server.profile(), "cycles", &format!("b{round}"), false).await;
        let mut video = b.play_video("a-cam");
        b.wait_player_state(PlayerState::Playing).await;
        assert!(
            video.first(FIRST_FRAME).await.is_some(),
            "round {round}: no frame"
        );
        b.engine.destroy().await;
    }
    // Only the publisher's connection is left.
    let c = settle(&server, |c| c.connections == 1).await;
    assert_eq!(c.connections, 1, "{c:?}");
    assert!(c.routes <= 4, "{c:?}");
    a.engine.destroy().await;
    let c = settle(&server, |c| c.connections == 0 && c.routes == 0).await;
    assert_eq!((c.connections, c.routes), (0, 0), "{c:?}");
    server.shutdown().await;
}

/// The counters once `done` holds (or after 10 s).
async fn settle(server: &TestServer, done: impl Fn(&MuxCounters) -> bool) -> MuxCounters {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let c = counters(server);
        if done(&c) || tokio::time::Instant::now() >= deadline {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Local ports of this network namespace's `proto` sockets on `ip` (in
/// TCP state `state`, e.g. `0A` LISTEN), from `/proc/self/net`.
fn sockets_on(ip: Ipv4Addr, proto: &str, state: Option<&str>) -> Vec<u16> {
    let table = std::fs::read_to_string(format!("/proc/self/net/{proto}")).expect("proc net");
    let hex_ip = format!("{:08X}", u32::from_le_bytes(ip.octets()));
    let mut ports: Vec<u16> = table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (addr, port) = fields.get(1)?.split_once(':')?;
            let in_state = state.is_none_or(|s| fields.get(3) == Some(&s));
            (addr == hex_ip && in_state).then(|| u16::from_str_radix(port, 16).ok())?
        })
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// What the hostile tasks sent.
#[derive(Debug, Default)]
struct Sent {
    /// Datagrams from never-verified sources that are not usable checks.
    garbage: AtomicU64,
    /// Checks with the attacker's real ufrag and a wrong MESSAGE-INTEGRITY.
    forged: AtomicU64,
    /// TCP connections opened.
    tcp_connections: AtomicU64,
}

/// Datagrams from fresh source addresses: noise, RTP- and DTLS-looking
/// packets, checks for unknown ufrags, and checks for the attacker's own
/// leg with a wrong MESSAGE-INTEGRITY.
async fn hostile_udp(target: SocketAddr, ufrag: String, stop: Arc<AtomicBool>, sent: Arc<Sent>) {
    let mut round: u32 = 0;
    while !stop.load(Ordering::Acquire) {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let noise: Vec<u8> = (0..120u32).map(|i| (i * 31 + round) as u8).collect();
        let rtp = [
            &[0x80u8, 0x60, 0, 1, 0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef][..],
            &noise,
        ]
        .concat();
        let dtls = [&[0x16u8, 0xfe, 0xfd, 0, 0][..], &noise].concat();
        let unknown = check(&format!("nobody{round}:x"), round);
        for datagram in [&noise, &rtp, &dtls, &unknown] {
            for _ in 0..5 {
                let _ = socket.send_to(datagram, target).await;
                sent.garbage.fetch_add(1, Ordering::Relaxed);
            }
        }
        let forged = check(&format!("{ufrag}:mallory"), round);
        let _ = socket.send_to(&forged, target).await;
        sent.forged.fetch_add(1, Ordering::Relaxed);
        round += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// TCP connections to the ICE-TCP port that send nothing, noise, an
/// oversized frame, or a check with a wrong MESSAGE-INTEGRITY.
async fn hostile_tcp(target: SocketAddr, ufrag: String, stop: Arc<AtomicBool>, sent: Arc<Sent>) {
    let mut idle = Vec::new();
    let mut round: u32 = 0;
    while !stop.load(Ordering::Acquire) {
        let Ok(mut stream) = TcpStream::connect(target).await else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        sent.tcp_connections.fetch_add(1, Ordering::Relaxed);
        let forged = check(&format!("{ufrag}:mallory"), round);
        let payload: Vec<u8> = match round % 4 {
            // Silent: held open, closed by the server's timeout.
            0 => {
                idle.push(stream);
                round += 1;
                continue;
            }
            1 => b"GET / HTTP/1.1\r\n\r\n".to_vec(),
            2 => vec![0xff, 0xff, 1, 2, 3],
            _ => [&(forged.len() as u16).to_be_bytes()[..], &forged].concat(),
        };
        let _ = stream.write_all(&payload).await;
        round += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A STUN Binding request with USERNAME `username` and a made-up
/// MESSAGE-INTEGRITY (what an attacker without the password can send).
fn check(username: &str, seed: u32) -> Vec<u8> {
    let name = username.as_bytes();
    let padded = name.len().next_multiple_of(4);
    let body_len = 4 + padded + 4 + 20;
    let mut m = Vec::with_capacity(20 + body_len);
    m.extend_from_slice(&[0x00, 0x01]);
    m.extend_from_slice(&(body_len as u16).to_be_bytes());
    m.extend_from_slice(&[0x21, 0x12, 0xa4, 0x42]);
    m.extend_from_slice(&seed.to_be_bytes());
    m.extend_from_slice(&[7u8; 8]);
    m.extend_from_slice(&[0x00, 0x06]);
    m.extend_from_slice(&(name.len() as u16).to_be_bytes());
    m.extend_from_slice(name);
    m.resize(m.len() + padded - name.len(), 0);
    m.extend_from_slice(&[0x00, 0x08, 0x00, 0x14]);
    m.extend((0..20u32).map(|i| (i ^ seed) as u8));
    m
}

/// A logged-in client with a play leg at the SFU whose answer it read, so
/// it knows that leg's ICE ufrag.
struct Mallory {
    _client: RawClient,
    _transport: PlayTransport,
    ufrag: String,
}

impl Mallory {
    async fn play(server: &TestServer, stream: &str) -> Mallory {
        let app = &server.app;
        let mut client = RawClient::connect(&server.url).await;
        let (room, user) = ("mux", "mallory");
        client
            .send(&ClientMessage::Login(login_as(
                app,
                room,
                user,
                &client.nonce,
            )))
            .await;
        client
            .send(&ClientMessage::PlayStream {
                request_id: 1,
                stream_id: stream.into(),
                max_layer: Default::default(),
            })
            .await;
        loop {
            if let ServerMessage::StreamReady { .. } = client.recv_msg().await {
                break;
            }
        }
        let config = TransportConfig {
            bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            ..TransportConfig::default()
        };
        let (transport, mut signals, _events) =
            PlayTransport::new(&config).await.expect("transport");
        let sdp = loop {
            match signals.recv().await.expect("an offer") {
                Signal::Offer { sdp } => break sdp,
                Signal::Candidate(_) => {}
            }
        };
        client
            .send(&ClientMessage::SdpOffer {
                request_id: 2,
                stream_id: stream.into(),
                role: MediaRole::Play,
                sdp,
            })
            .await;
        let answer = loop {
            if let ServerMessage::SdpAnswer { sdp, .. } = client.recv_msg().await {
                break sdp;
            }
        };
        let ufrag = answer
            .lines()
            .find_map(|l| l.trim().strip_prefix("a=ice-ufrag:"))
            .expect("the answer has an ice-ufrag")
            .to_owned();
        Mallory {
            _client: client,
            _transport: transport,
            ufrag,
        }
    }
}
