//! The transports against the real SFU: a raw signaling client relays
//! SdpOffer/SdpAnswer/TrickleIce between the server and PublishTransport /
//! PlayTransport (the engine integration comes later).
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use media_core::transport::{
    EncodedVideoFrame, PlayEvent, PlayTransport, PublishEvent, PublishTransport, Signal,
    TransportConfig,
};
use protocol::{AckBody, ClientMessage, MediaRole, ServerMessage};
use server::MediaConfig;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use test_support::client::login_as;
use test_support::udp_relay::UdpRelay;
use test_support::TestServer;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(10);
const FPS: u64 = 30;

// ---------- server and signaling ----------

async fn start_server(media: MediaConfig) -> TestServer {
    TestServer::start_with(|config| config.media = media).await
}

fn loopback_media() -> MediaConfig {
    MediaConfig::default()
}

fn client_config() -> TransportConfig {
    TransportConfig {
        bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        ..TransportConfig::default()
    }
}

enum Cmd {
    Send(ClientMessage),
    Route(String, MediaRole, mpsc::UnboundedSender<ServerMessage>),
}

/// A logged-in signaling connection: a task owns the socket, sends
/// heartbeats, and routes SdpAnswer/TrickleIce to the transport of their
/// (stream, role); everything else lands in `inbox`.
struct Signaling {
    cmd: mpsc::UnboundedSender<Cmd>,
    inbox: mpsc::UnboundedReceiver<ServerMessage>,
    next_request: Arc<AtomicU32>,
}

impl Signaling {
    async fn login(server: &TestServer, room: &str, user: &str) -> Self {
        let app = &server.app;
        let (mut ws, _) = tokio_tungstenite::connect_async(&server.url).await.unwrap();
        let nonce = loop {
            let Some(Ok(Message::Text(t))) = ws.next().await else {
                panic!("no challenge")
            };
            if let ServerMessage::Challenge { nonce, .. } =
                ServerMessage::decode(t.as_str()).unwrap()
            {
                break nonce;
            }
        };
        let login = ClientMessage::Login(login_as(app, room, user, &nonce));
        ws.send(Message::Text(login.encode().into())).await.unwrap();
        loop {
            let Some(Ok(Message::Text(t))) = ws.next().await else {
                panic!("no login answer")
            };
            match ServerMessage::decode(t.as_str()).unwrap() {
                ServerMessage::LoginOk(_) => break,
                ServerMessage::LoginFailed { code, .. } => panic!("login failed: {code:?}"),
                _ => {}
            }
        }
        let (cmd, mut cmd_rx) = mpsc::unbounded_channel::<Cmd>();
        let (inbox_tx, inbox) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut routes: HashMap<(String, MediaRole), mpsc::UnboundedSender<ServerMessage>> =
                HashMap::new();
            let mut beat = tokio::time::interval(Duration::from_secs(2));
            loop {
                tokio::select! {
                    c = cmd_rx.recv() => match c {
                        Some(Cmd::Send(m)) => {
                            if ws.send(Message::Text(m.encode().into())).await.is_err() { break; }
                        }
                        Some(Cmd::Route(s, r, tx)) => { routes.insert((s, r), tx); }
                        None => break,
                    },
                    _ = beat.tick() => {
                        let hb = ClientMessage::Heartbeat { ack: 0 };
                        if ws.send(Message::Text(hb.encode().into())).await.is_err() { break; }
                    }
                    frame = ws.next() => {
                        let Some(Ok(frame)) = frame else { break };
                        let Message::Text(t) = frame else { continue };
                        let msg = ServerMessage::decode(t.as_str()).unwrap();
                        let route = match &msg {
                            ServerMessage::SdpAnswer { stream_id, role, .. }
                            | ServerMessage::TrickleIce { stream_id, role, .. } => {
                                routes.get(&(stream_id.clone(), *role)).cloned()
                            }
                            ServerMessage::HeartbeatAck { .. } => continue,
                            _ => None,
                        };
                        match route {
                            Some(tx) => { let _ = tx.send(msg); }
                            None => { let _ = inbox_tx.send(msg); }
                        }
                    }
                }
            }
        });
        Signaling {
            cmd,
            inbox,
            next_request: Arc::new(AtomicU32::new(1)),
        }
    }

    fn request_id(&self) -> u32 {
        self.next_request.fetch_add(1, Ordering::Relaxed)
    }

    fn send(&self, m: ClientMessage) {
        self.cmd.send(Cmd::Send(m)).unwrap();
    }

    async fn expect(&mut self, what: &str, pred: impl Fn(&ServerMessage) -> bool) -> ServerMessage {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let m = tokio::time::timeout_at(deadline, self.inbox.recv())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
                .expect("signaling open");
            if pred(&m) {
                return m;
            }
        }
    }

    async fn publish_stream(&mut self, stream: &str) {
        let request_id = self.request_id();
        self.send(ClientMessage::PublishStream {
            request_id,
            stream_id: stream.into(),
            extra_info: String::new(),
            audio_muted: false,
            video_muted: false,
        });
        self.expect("StreamPublished", |m| {
            matches!(m, ServerMessage::Ack { request_id: r, body: AckBody::StreamPublished { .. } } if *r == request_id)
        })
        .await;
    }

    async fn stop_publishing(&mut self, stream: &str) {
        let request_id = self.request_id();
        self.send(ClientMessage::StopPublishing {
            request_id,
            stream_id: stream.into(),
        });
        self.expect(
            "StreamStopped",
            |m| matches!(m, ServerMessage::Ack { request_id: r, .. } if *r == request_id),
        )
        .await;
    }

    async fn play_stream(&mut self, stream: &str) {
        let request_id = self.request_id();
        self.send(ClientMessage::PlayStream {
            request_id,
            stream_id: stream.into(),
            max_layer: Default::default(),
        });
        self.expect("PlayAccepted", |m| {
            matches!(m, ServerMessage::Ack { request_id: r, body: AckBody::PlayAccepted { .. } } if *r == request_id)
        })
        .await;
    }

    async fn stream_ready(&mut self, stream: &str) {
        self.expect(
            "StreamReady",
            |m| matches!(m, ServerMessage::StreamReady { stream_id } if stream_id == stream),
        )
        .await;
    }

    async fn stream_ended(&mut self, stream: &str) {
        self.expect(
            "StreamEnded",
            |m| matches!(m, ServerMessage::StreamEnded { stream_id } if stream_id == stream),
        )
        .await;
    }

    /// Relays a transport's signals to the server and the server's answer
    /// and candidates back. `trickle_local`: send our candidates (a relay
    /// test keeps them back so the SFU only reaches us through the relay).
    fn wire<T: Remote + 'static>(
        &self,
        stream: &str,
        role: MediaRole,
        transport: Arc<T>,
        mut signals: mpsc::UnboundedReceiver<Signal>,
        trickle_local: bool,
    ) {
        let (route_tx, mut route_rx) = mpsc::unbounded_channel();
        self.cmd
            .send(Cmd::Route(stream.into(), role, route_tx))
            .unwrap();
        let cmd = self.cmd.clone();
        let ids = Arc::clone(&self.next_request);
        let stream_id = stream.to_owned();
        tokio::spawn(async move {
            while let Some(signal) = signals.recv().await {
                let msg = match signal {
                    Signal::Offer { sdp } => {
                        let sdp = if trickle_local {
                            sdp
                        } else {
                            sdp.lines()
                                .filter(|l| !l.starts_with("a=candidate"))
                                .map(|l| format!("{l}\r\n"))
                                .collect()
                        };
                        ClientMessage::SdpOffer {
                            request_id: ids.fetch_add(1, Ordering::Relaxed),
                            stream_id: stream_id.clone(),
                            role,
                            sdp,
                        }
                    }
                    Signal::Candidate(candidate) => {
                        if !trickle_local {
                            continue;
                        }
                        ClientMessage::TrickleIce {
                            stream_id: stream_id.clone(),
                            role,
                            candidate,
                        }
                    }
                };
                if cmd.send(Cmd::Send(msg)).is_err() {
                    break;
                }
            }
        });
        tokio::spawn(async move {
            while let Some(msg) = route_rx.recv().await {
                match msg {
                    // The answer may wait for the first candidate: apply
                    // it beside the loop that delivers them.
                    ServerMessage::SdpAnswer { sdp, .. } => {
                        let transport = Arc::clone(&transport);
                        tokio::spawn(async move { transport.answer(sdp).await });
                    }
                    ServerMessage::TrickleIce { candidate, .. } => {
                        transport.candidate(candidate).await
                    }
                    _ => {}
                }
            }
        });
    }
}

#[async_trait::async_trait]
trait Remote: Send + Sync {
    async fn answer(&self, sdp: String);
    async fn candidate(&self, c: protocol::IceCandidate);
}

#[async_trait::async_trait]
impl Remote for PublishTransport {
    async fn answer(&self, sdp: String) {
        self.accept_answer(sdp).await.expect("answer applies");
    }
    async fn candidate(&self, c: protocol::IceCandidate) {
        self.add_remote_candidate(c).await;
    }
}

#[async_trait::async_trait]
impl Remote for PlayTransport {
    async fn answer(&self, sdp: String) {
        self.accept_answer(sdp).await.expect("answer applies");
    }
    async fn candidate(&self, c: protocol::IceCandidate) {
        self.add_remote_candidate(c).await;
    }
}

// ---------- synthetic media ----------

/// Access unit `n`: SPS+PPS+IDR for keyframes, one P slice otherwise; the
/// slice payload starts with the frame number and a key flag, then filler
/// (no zero bytes, so no emulated start codes). Some exceed 1200 bytes.
fn access_unit(n: u32, key: bool) -> Bytes {
    let size = match n % 5 {
        0 => 4000,
        1 => 1500,
        _ => 300 + (n as usize % 7) * 50,
    };
    let mut out = Vec::with_capacity(size + 32);
    if key {
        out.extend_from_slice(&[0, 0, 0, 1, 0x67, 0x42, 0xe0, 0x1f, 0xda, 0x02, 0x80]);
        out.extend_from_slice(&[0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80]);
    }
    out.extend_from_slice(&[0, 0, 0, 1, if key { 0x65 } else { 0x41 }, 0x88]);
    for b in n.to_be_bytes() {
        // Keep the stamp free of zero bytes: 4 bits per byte, tagged.
        out.push(0x10 | (b >> 4));
        out.push(0x10 | (b & 0x0f));
    }
    out.push(if key { 0x7b } else { 0x7a });
    out.extend((0..size).map(|i| ((i * 7 + n as usize) % 250) as u8 + 1));
    Bytes::from(out)
}

/// The frame number and key flag of a received access unit.
fn stamp_of(data: &[u8]) -> Option<(u32, bool)> {
    let slice = data
        .windows(6)
        .position(|w| w[..4] == [0, 0, 0, 1] && (w[4] == 0x65 || w[4] == 0x41) && w[5] == 0x88)?;
    let s = data.get(slice + 6..slice + 15)?;
    let mut n = 0u32;
    for pair in s[..8].chunks(2) {
        n = (n << 8) | u32::from(((pair[0] & 0x0f) << 4) | (pair[1] & 0x0f));
    }
    Some((n, s[8] == 0x7b))
}

/// Publishes synthetic video (30 fps, keyframe every 2 s and on request)
/// and audio (50 packets/s) until `stop`.
fn spawn_media_source(
    publisher: Arc<PublishTransport>,
    mut events: mpsc::UnboundedReceiver<PublishEvent>,
    stop: Arc<AtomicBool>,
    keyframe_requests: Arc<AtomicU64>,
) -> tokio::task::JoinHandle<u32> {
    tokio::spawn(async move {
        let mut connected = false;
        let mut n = 0u32;
        let mut force_key = true;
        let mut tick = tokio::time::interval(Duration::from_millis(1000 / FPS));
        let mut audio = 0u32;
        while !stop.load(Ordering::Acquire) {
            tick.tick().await;
            while let Ok(e) = events.try_recv() {
                match e {
                    PublishEvent::Connected => connected = true,
                    PublishEvent::KeyframeRequested(_) => {
                        keyframe_requests.fetch_add(1, Ordering::Relaxed);
                        force_key = true;
                    }
                    _ => {}
                }
            }
            if !connected {
                continue;
            }
            let key = force_key || n % 60 == 0;
            force_key = false;
            let au = access_unit(n, key);
            let now_us = media_core::frame::unix_time_us();
            publisher
                .write_video(au, Duration::from_millis(1000 / FPS), now_us)
                .await
                .unwrap();
            for _ in 0..2 {
                if audio % 3 != 2 {
                    let packet = Bytes::from(vec![0xfc, (audio & 0xff) as u8, 1, 2, 3]);
                    publisher
                        .write_audio(packet, Duration::from_millis(20))
                        .await
                        .unwrap();
                }
                audio += 1;
            }
            n += 1;
        }
        n
    })
}

struct Received {
    frames: Vec<EncodedVideoFrame>,
    audio: usize,
    connected: bool,
}

/// Collects a player's events until `stop`.
fn spawn_collector(
    mut events: mpsc::Receiver<PlayEvent>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Received> {
    tokio::spawn(async move {
        let mut r = Received {
            frames: Vec::new(),
            audio: 0,
            connected: false,
        };
        while !stop.load(Ordering::Acquire) {
            match tokio::time::timeout(Duration::from_millis(50), events.recv()).await {
                Ok(Some(PlayEvent::Video(f))) => r.frames.push(f),
                Ok(Some(PlayEvent::Audio(_))) => r.audio += 1,
                Ok(Some(PlayEvent::Connected)) => r.connected = true,
                Ok(Some(_)) | Err(_) => {}
                Ok(None) => break,
            }
        }
        r
    })
}

/// (byte-identical in-order frames, frames sent since the first one received, complete frames).
fn score(r: &Received, sent: u32) -> (usize, usize, usize) {
    let mut good = 0;
    let mut complete = 0;
    let mut last: Option<u32> = None;
    let mut first = None;
    for f in &r.frames {
        if f.complete {
            complete += 1;
        }
        let Some((n, key)) = stamp_of(&f.data) else {
            continue;
        };
        first.get_or_insert(n);
        let in_order = last.is_none_or(|l| n > l);
        if in_order && f.data == access_unit(n, key) && f.keyframe == key {
            good += 1;
        }
        if in_order {
            last = Some(n);
        }
    }
    let expected = first.map_or(0, |f| (sent - f) as usize);
    (good, expected, complete)
}

async fn publisher(
    sig: &Signaling,
    stream: &str,
    trickle: bool,
) -> (Arc<PublishTransport>, mpsc::UnboundedReceiver<PublishEvent>) {
    let (t, signals, events) = PublishTransport::new(&client_config()).await.unwrap();
    let t = Arc::new(t);
    sig.wire(stream, MediaRole::Publish, Arc::clone(&t), signals, trickle);
    (t, events)
}

async fn player(
    sig: &Signaling,
    stream: &str,
    trickle: bool,
) -> (Arc<PlayTransport>, mpsc::Receiver<PlayEvent>) {
    let (t, signals, events) = PlayTransport::new(&client_config()).await.unwrap();
    let t = Arc::new(t);
    sig.wire(stream, MediaRole::Play, Arc::clone(&t), signals, trickle);
    (t, events)
}

/// A publisher with synthetic media flowing ([`spawn_media_source`]).
struct Source {
    transport: Arc<PublishTransport>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<u32>,
}

impl Source {
    /// Wires a publisher for `stream` on `sig` and starts its media; the
    /// keyframe requests it gets are counted in `keyframe_requests`.
    async fn start(
        sig: &Signaling,
        stream: &str,
        trickle: bool,
        keyframe_requests: Arc<AtomicU64>,
    ) -> Source {
        let (transport, events) = publisher(sig, stream, trickle).await;
        let stop = Arc::new(AtomicBool::new(false));
        let task = spawn_media_source(
            Arc::clone(&transport),
            events,
            Arc::clone(&stop),
            keyframe_requests,
        );
        Source {
            transport,
            stop,
            task,
        }
    }

    /// Stops the media and returns how many video frames it sent.
    async fn stop(&mut self) -> u32 {
        self.stop.store(true, Ordering::Release);
        (&mut self.task).await.unwrap()
    }
}

/// A player's events collected ([`spawn_collector`]) until [`Collector::finish`].
struct Collector {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Received>,
}

impl Collector {
    fn start(events: mpsc::Receiver<PlayEvent>) -> Collector {
        let stop = Arc::new(AtomicBool::new(false));
        let task = spawn_collector(events, Arc::clone(&stop));
        Collector { stop, task }
    }

    async fn finish(self) -> Received {
        self.stop.store(true, Ordering::Release);
        self.task.await.unwrap()
    }
}

/// Waits (at most 5 s) for the SFU to hold no connections; returns its counts.
async fn sfu_counts_settled(server: &TestServer) -> (usize, usize) {
    let sfu = server.handle.state().media().sfu().clone();
    let deadline = Instant::now() + Duration::from_secs(5);
    while sfu.counts() != (0, 0) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sfu.counts()
}

// ---------- tests ----------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_publisher_four_players_get_byte_identical_frames() {
    let server = start_server(loopback_media()).await;
    let mut a = Signaling::login(&server, "room1", "alice").await;
    a.publish_stream("cam").await;
    let keyframe_requests = Arc::new(AtomicU64::new(0));
    let mut source = Source::start(&a, "cam", true, Arc::clone(&keyframe_requests)).await;

    let mut players = Vec::new();
    let collect_stop = Arc::new(AtomicBool::new(false));
    for i in 0..4 {
        // Two in the publisher's room, two in another room of the app.
        let room = if i < 2 { "room1" } else { "room2" };
        let mut s = Signaling::login(&server, room, &format!("viewer{i}")).await;
        s.play_stream("cam").await;
        s.stream_ready("cam").await;
        let (t, events) = player(&s, "cam", true).await;
        let collector = spawn_collector(events, Arc::clone(&collect_stop));
        players.push((s, t, collector));
    }
    tokio::time::sleep(Duration::from_secs(4)).await;

    // A player's PLI reaches the publisher as KeyframeRequested.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let before = keyframe_requests.load(Ordering::Relaxed);
    players[0].1.request_keyframe();
    let deadline = Instant::now() + Duration::from_secs(3);
    while keyframe_requests.load(Ordering::Relaxed) == before && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        keyframe_requests.load(Ordering::Relaxed) > before,
        "the player's PLI did not reach the publisher"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;

    let sent = source.stop().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    collect_stop.store(true, Ordering::Release);
    let stats = players[0].1.stats().await;
    let pub_stats = source.transport.stats().await;
    for (i, (_, t, collector)) in players.into_iter().enumerate() {
        let r = collector.await.unwrap();
        let (good, expected, complete) = score(&r, sent);
        eprintln!(
            "player {i}: {good}/{expected} frames byte-identical in order, {complete} complete, {} audio packets",
            r.audio
        );
        assert!(r.connected);
        assert!(
            expected > 60,
            "too few frames reached player {i}: {expected}"
        );
        assert!(
            good * 100 >= expected * 99,
            "player {i}: only {good} of {expected} frames arrived intact"
        );
        assert!(r.audio > 100, "player {i}: {} audio packets", r.audio);
        assert!(
            r.frames.iter().any(|f| f.capture_time_us.is_some()),
            "player {i}: no sender-report mapping"
        );
        t.close().await;
    }
    eprintln!("player stats: {stats:?}\npublisher stats: {pub_stats:?}");
    assert!(stats.packets_received > 100 && stats.bytes_received > 10_000);
    assert!(pub_stats.packets_sent > 100);
    source.transport.close().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_publishing_ends_the_stream_and_republishing_resumes_it() {
    let server = start_server(loopback_media()).await;
    let mut a = Signaling::login(&server, "r", "alice").await;
    let mut b = Signaling::login(&server, "r", "bob").await;
    // Playing before the stream exists waits for it.
    b.play_stream("cam").await;
    for round in 0..2 {
        a.publish_stream("cam").await;
        let mut source = Source::start(&a, "cam", true, Arc::default()).await;
        b.stream_ready("cam").await;
        let (play_t, events) = player(&b, "cam", true).await;
        let collector = Collector::start(events);
        tokio::time::sleep(Duration::from_secs(2)).await;
        a.stop_publishing("cam").await;
        b.stream_ended("cam").await;
        let sent = source.stop().await;
        let r = collector.finish().await;
        let (good, expected, _) = score(&r, sent);
        eprintln!("round {round}: {good}/{expected}");
        assert!(good > 20, "round {round}: {good} frames");
        play_t.close().await;
        source.transport.close().await;
    }
    assert_eq!(sfu_counts_settled(&server).await, (0, 0));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_percent_loss_is_repaired_by_nack() {
    // The SFU's one media port, reached only through the relay.
    let port = 47_000 + (std::process::id() % 2000) as u16;
    let media = MediaConfig {
        udp_bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        udp_port: port,
        announced_ips: vec![IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))],
        ..MediaConfig::default()
    };
    let relay = UdpRelay::start(port..=port).await;
    relay.set_loss_percent(10);
    let server = start_server(media).await;
    let mut a = Signaling::login(&server, "r", "alice").await;
    let mut b = Signaling::login(&server, "r", "bob").await;
    a.publish_stream("cam").await;
    b.play_stream("cam").await;
    let mut source = Source::start(&a, "cam", false, Arc::default()).await;
    b.stream_ready("cam").await;
    let (play_t, events) = player(&b, "cam", false).await;
    let collector = Collector::start(events);
    tokio::time::sleep(Duration::from_secs(8)).await;
    let sent = source.stop().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let r = collector.finish().await;
    let stats = play_t.stats().await;
    let (good, expected, complete) = score(&r, sent);
    eprintln!(
        "lossy: {good}/{expected} intact, {complete}/{} complete, dropped {} packets, stats {stats:?}",
        r.frames.len(),
        relay.dropped()
    );
    assert!(relay.dropped() > 50, "the relay dropped nothing");
    assert!(expected > 100, "too few frames: {expected}");
    assert!(
        complete * 100 >= expected * 90,
        "only {complete} of {expected} frames complete"
    );
    assert!(stats.nacks_sent > 0, "no NACK was sent");
    play_t.close().await;
    source.transport.close().await;
    server.shutdown().await;
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_publish_play_cycles_free_everything() {
    let server = start_server(loopback_media()).await;
    let mut a = Signaling::login(&server, "r", "alice").await;
    let mut b = Signaling::login(&server, "r", "bob").await;
    b.play_stream("cam").await;
    let metrics = tokio::runtime::Handle::current().metrics();
    let mut baseline = None;
    for cycle in 0..50 {
        a.publish_stream("cam").await;
        let mut source = Source::start(&a, "cam", true, Arc::default()).await;
        b.stream_ready("cam").await;
        let (play_t, mut events) = player(&b, "cam", true).await;
        let deadline = Instant::now() + WAIT;
        loop {
            let e = tokio::time::timeout_at(deadline.into(), events.recv()).await;
            match e {
                Ok(Some(PlayEvent::Video(_))) => break,
                Ok(Some(_)) => {}
                _ => panic!("cycle {cycle}: no video"),
            }
        }
        a.stop_publishing("cam").await;
        b.stream_ended("cam").await;
        source.stop().await;
        play_t.close().await;
        source.transport.close().await;
        drop(events);
        assert_eq!(
            sfu_counts_settled(&server).await,
            (0, 0),
            "cycle {cycle}: connections left open"
        );
        if cycle == 9 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            baseline = Some((rss_kib(), metrics.num_alive_tasks()));
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (rss0, tasks0) = baseline.unwrap();
    let (rss, tasks) = (rss_kib(), metrics.num_alive_tasks());
    eprintln!("after 10 cycles: {rss0} KiB, {tasks0} tasks; after 50: {rss} KiB, {tasks} tasks");
    assert!(tasks <= tasks0 + 5, "tasks grew from {tasks0} to {tasks}");
    assert!(
        rss < rss0 + 30 * 1024,
        "RSS grew from {rss0} KiB to {rss} KiB"
    );
    server.shutdown().await;
}
