//! The SFU's side of simulcast (issue 15 part 2), through the impairment
//! relay: a 720p engine publishes three layers (1280x720, 640x360,
//! 320x180) and each player gets the layer its downlink and its cap
//! allow, told apart by the decoded resolution.
//!
//! - a player behind 300 kbit/s gets the lowest layer while a clean one
//!   keeps the top layer;
//! - a capacity step down and back up brings the top layer back (the
//!   player leg's probe; the time it took is printed);
//! - `max_layer: low` gives the low layer;
//! - dynacast: every player capped low makes the publisher send the low
//!   layer only, one uncapped player all three, and the low one again once
//!   that player left (read off the publisher's sent rate);
//! - `PlayVideoLayer` is refused for a stream the session does not play
//!   (unknown, another's, stopped) or an invalid ID, and a burst of
//!   changes is acknowledged one by one.
//!
//! Every participant's media goes through a [`SplitRelay`] (the SFU
//! announces only its address); lane 1 is the impaired one.

use impair::Timeline;
use media_core::codec::video_config::VideoPreset;
use media_core::render::{Canvas, FrameReceiver, FrameSink};
use media_core::{ErrorCode, PlayerState, PublishChannel, VideoLayer};
use protocol::{AckBody, ClientMessage, ServerMessage};
use std::net::IpAddr;
use std::time::{Duration, Instant};
use test_support::client;
use test_support::lanes::{capacity, free_udp_port, split_relay_in_front};
use test_support::media::stamp_of;
use test_support::split_relay::SplitRelay;
use test_support::udp_relay::RELAY_IP;
use test_support::{Peer, TestServer};

const CLEAN: usize = 0;
const WEAK: usize = 1;

/// A server whose SFU media port is reached only through a split relay.
async fn behind_split_relay() -> (TestServer, SplitRelay) {
    let port = free_udp_port();
    let server = TestServer::start_with(|c| {
        c.media.udp_port = port;
        c.media.announced_ips = vec![IpAddr::from(RELAY_IP)];
    })
    .await;
    (server, split_relay_in_front(port, 2).await)
}

/// An engine whose media goes through the relay (it announces no
/// candidates of its own), on `lane`.
fn relayed_peer(server: &TestServer, relay: &SplitRelay, lane: usize, user: &str) -> Peer {
    relay.route_new_flows(lane);
    let mut profile = server.profile();
    profile.transport.announce_local_candidates = false;
    Peer::create(profile, user)
}

/// User "a" publishing "a-cam" at 720p (simulcast, the default) in `room`,
/// on the clean lane.
async fn publisher(server: &TestServer, relay: &SplitRelay, room: &str) -> Peer {
    let mut a = relayed_peer(server, relay, CLEAN, "a");
    a.engine
        .set_video_config(VideoPreset::P720.config(), PublishChannel::Main)
        .expect("config");
    a.login(room, false, None);
    a.publish("a-cam").await;
    a
}

/// `user` playing "a-cam" on `lane`, capped at `cap` (`None`: no cap);
/// returns once it plays, with its rendered frames.
async fn player(
    server: &TestServer,
    relay: &SplitRelay,
    lane: usize,
    room: &str,
    user: &str,
    cap: Option<VideoLayer>,
) -> (Peer, FrameReceiver) {
    let mut p = relayed_peer(server, relay, lane, user);
    p.login(room, false, None);
    let sink = FrameSink::new();
    let rx = sink.subscribe(1024);
    p.engine
        .start_playing_stream("a-cam", Some(Canvas::sink(sink)))
        .expect("play accepted");
    if let Some(cap) = cap {
        p.engine
            .set_play_stream_video_layer("a-cam", cap)
            .expect("cap accepted");
    }
    p.wait_player_state(PlayerState::Playing).await;
    relay.route_new_flows(CLEAN);
    (p, rx)
}

/// The heights of the stamped frames rendered within `window`.
async fn heights(rx: &mut FrameReceiver, window: Duration) -> Vec<u32> {
    let deadline = tokio::time::Instant::now() + window;
    let mut seen = Vec::new();
    while let Ok(Some(frame)) = tokio::time::timeout_at(deadline, rx.recv()).await {
        if stamp_of(&frame).is_some() {
            seen.push(frame.height);
        }
    }
    seen
}

/// How long until `rx` renders a frame of `height` (`None`: not within `limit`).
async fn time_to_height(rx: &mut FrameReceiver, height: u32, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let deadline = tokio::time::Instant::now() + limit;
    while let Ok(Some(frame)) = tokio::time::timeout_at(deadline, rx.recv()).await {
        if frame.height == height && stamp_of(&frame).is_some() {
            return Some(start.elapsed());
        }
    }
    None
}

/// Fails unless `heights` (6 s of frames) has `min_frames` frames, at
/// least `min_share` of them `height` high.
fn assert_mostly(who: &str, heights: &[u32], min_frames: usize, height: u32, min_share: f64) {
    assert!(
        heights.len() >= min_frames,
        "{who}: {} frames in 6 s",
        heights.len()
    );
    assert!(
        share(heights, height) >= min_share,
        "{who}: heights {heights:?}"
    );
}

/// Fails unless `rx` renders at least `min_frames` frames in `window`,
/// all of the low layer (180p).
async fn only_low(rx: &mut FrameReceiver, what: &str, window: Duration, min_frames: usize) {
    let seen = heights(rx, window).await;
    let mut sizes = seen.clone();
    sizes.dedup();
    eprintln!(
        "{what}: {} frames in {window:?}, heights {sizes:?}",
        seen.len()
    );
    assert!(seen.len() >= min_frames, "{what}: {} frames", seen.len());
    assert!(seen.iter().all(|h| *h == 180), "{what}: heights {sizes:?}");
}

/// The share of `heights` that are `height`.
fn share(heights: &[u32], height: u32) -> f64 {
    heights.iter().filter(|h| **h == height).count() as f64 / heights.len().max(1) as f64
}

/// The publisher's sent video rate (kbit/s) in the quality reports of `window`.
async fn sent_kbps(a: &mut Peer, window: Duration) -> Vec<f64> {
    a.publisher_qualities(window)
        .await
        .into_iter()
        .map(|q| q.video_kbps.round())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_player_behind_300_kbps_gets_the_low_layer_and_a_clean_one_the_top() {
    let (server, relay) = behind_split_relay().await;
    relay.lane(WEAK).set_both(Timeline::constant(capacity(300)));
    let a = publisher(&server, &relay, "weak").await;
    let (clean, mut clean_rx) = player(&server, &relay, CLEAN, "weak", "clean", None).await;
    let (weak, mut weak_rx) = player(&server, &relay, WEAK, "weak", "weak", None).await;
    // The clean player climbs to the top layer (probe + 2 s per step).
    let climbed = time_to_height(&mut clean_rx, 720, Duration::from_secs(30)).await;
    eprintln!("clean player: first 720p frame after {climbed:?}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let window = Duration::from_secs(6);
    let (clean_seen, weak_seen) = tokio::join!(
        heights(&mut clean_rx, window),
        heights(&mut weak_rx, window)
    );
    eprintln!(
        "last 6 s: clean {} frames, {:.0} % 720p; weak {} frames, {:.0} % 180p, {:.0} % 360p; \
         weak lane dropped {} packets",
        clean_seen.len(),
        share(&clean_seen, 720) * 100.0,
        weak_seen.len(),
        share(&weak_seen, 180) * 100.0,
        share(&weak_seen, 360) * 100.0,
        relay.lane(WEAK).stats(impair::Direction::Down).queue_drops
    );
    assert!(climbed.is_some(), "the clean player never got 720p");
    assert_mostly("clean player", &clean_seen, 60, 720, 0.9);
    assert_mostly("weak player", &weak_seen, 90, 180, 0.8);
    for p in [a, clean, weak] {
        p.engine.destroy().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_top_layer_returns_after_a_capacity_step_down_and_up() {
    let (server, relay) = behind_split_relay().await;
    let a = publisher(&server, &relay, "step").await;
    let (b, mut rx) = player(&server, &relay, WEAK, "step", "b", None).await;
    let climbed = time_to_height(&mut rx, 720, Duration::from_secs(30)).await;
    eprintln!("first 720p frame after {climbed:?}");
    assert!(climbed.is_some(), "the player never got 720p");
    // 30 s at 500 kbit/s: the SFU steps down.
    relay.lane(WEAK).set_both(Timeline::constant(capacity(500)));
    let dropped_at = Instant::now();
    let low = heights(&mut rx, Duration::from_secs(30)).await;
    let last_5s: Vec<u32> = low.iter().rev().take(75).copied().collect();
    eprintln!(
        "at 500 kbit/s: {} frames in 30 s, {:.0} % 720p; last ones {:?}",
        low.len(),
        share(&low, 720) * 100.0,
        &last_5s[..last_5s.len().min(10)]
    );
    assert!(
        last_5s.iter().all(|h| *h < 720),
        "still 720p {:?} after the drop",
        dropped_at.elapsed()
    );
    // Back to 5 Mbit/s: the top layer returns.
    relay
        .lane(WEAK)
        .set_both(Timeline::constant(capacity(5000)));
    // The SFU forwards the top layer's keyframe ~3 s after the capacity is
    // back (probes, then the 2 s hysteresis); the player renders it 0-7 s
    // after that, by the delay its playout built up behind the slow link.
    let back = time_to_height(&mut rx, 720, Duration::from_secs(25)).await;
    eprintln!("capacity back: first 720p frame after {back:?} (goal 5 s)");
    assert!(
        back.is_some_and(|t| t <= Duration::from_secs(20)),
        "720p not back within 20 s: {back:?}"
    );
    a.engine.destroy().await;
    b.engine.destroy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_layer_low_gives_the_low_layer() {
    let (server, relay) = behind_split_relay().await;
    let a = publisher(&server, &relay, "capped").await;
    let (b, mut rx) = player(&server, &relay, CLEAN, "capped", "b", Some(VideoLayer::Low)).await;
    only_low(&mut rx, "capped low", Duration::from_secs(8), 80).await;
    // A burst of cap changes on the live leg, ending on Low: harmless.
    for n in 0..30 {
        let layer = if n % 2 == 0 {
            VideoLayer::High
        } else {
            VideoLayer::Low
        };
        b.engine
            .set_play_stream_video_layer("a-cam", layer)
            .expect("cap accepted");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    only_low(&mut rx, "after 30 cap changes", Duration::from_secs(3), 30).await;
    // Lifting the cap climbs (same connection).
    b.engine
        .set_play_stream_video_layer("a-cam", VideoLayer::High)
        .expect("cap accepted");
    let up = time_to_height(&mut rx, 720, Duration::from_secs(20)).await;
    eprintln!("cap lifted: first 720p frame after {up:?}");
    assert!(up.is_some(), "no 720p after the cap was lifted");
    a.engine.destroy().await;
    b.engine.destroy().await;
}

/// Fails unless the publisher, given 4 s to follow, sends at most the low
/// layer's rate (under 400 kbit/s) by the end of the next 7 s.
async fn sends_low_only(a: &mut Peer, when: &str) {
    tokio::time::sleep(Duration::from_secs(4)).await;
    let sent = sent_kbps(a, Duration::from_secs(7)).await;
    eprintln!("{when}: publisher sends {sent:?} kbit/s");
    assert!(
        sent.last().is_some_and(|k| *k < 400.0),
        "{when}: the publisher still sends {sent:?} kbit/s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynacast_sends_the_low_layer_only_while_every_player_caps_low() {
    let (server, relay) = behind_split_relay().await;
    let mut a = publisher(&server, &relay, "dyna").await;
    let low = Some(VideoLayer::Low);
    let (b, mut b_rx) = player(&server, &relay, CLEAN, "dyna", "b", low).await;
    let (c, _c_rx) = player(&server, &relay, CLEAN, "dyna", "c", low).await;
    sends_low_only(&mut a, "both players capped low").await;
    // One player wants the top layer: all three are sent again.
    b.engine
        .set_play_stream_video_layer("a-cam", VideoLayer::High)
        .expect("cap accepted");
    let up = time_to_height(&mut b_rx, 720, Duration::from_secs(20)).await;
    let all = sent_kbps(&mut a, Duration::from_secs(4)).await;
    eprintln!("one player uncapped: 720p after {up:?}; publisher sends {all:?} kbit/s");
    assert!(up.is_some(), "no 720p for the uncapped player");
    assert!(
        all.last().is_some_and(|k| *k > 1000.0),
        "the publisher sends {all:?} kbit/s"
    );
    // The uncapped player leaves: only the low layer again.
    b.engine.destroy().await;
    sends_low_only(&mut a, "the uncapped player left").await;
    for p in [a, c] {
        p.engine.destroy().await;
    }
}

/// A raw client's `PlayVideoLayer` for `stream_id`.
fn cap_msg(request_id: u32, stream_id: &str, max_layer: VideoLayer) -> ClientMessage {
    ClientMessage::PlayVideoLayer {
        request_id,
        stream_id: stream_id.to_owned(),
        max_layer,
    }
}

/// Sends a request and returns its answer (an `Ack` or `Error` for its
/// request ID), skipping the events and notices in between.
async fn answer(c: &mut client::Client, msg: &ClientMessage, request_id: u32) -> ServerMessage {
    c.send(msg).await;
    loop {
        match c.recv().await {
            reply @ ServerMessage::Ack { request_id: id, .. } if id == request_id => return reply,
            reply @ ServerMessage::Error {
                request_id: Some(id),
                ..
            } if id == request_id => return reply,
            _ => {}
        }
    }
}

/// The error code of a refused request, or what came instead.
fn refusal(reply: &ServerMessage) -> Option<ErrorCode> {
    match reply {
        ServerMessage::Error { code, .. } => Some(*code),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn play_video_layer_is_refused_for_streams_not_asked_for_and_a_flood_is_harmless() {
    let server = TestServer::start().await;
    let (mut a, _) = server.login("caps", "a", false).await;
    let (mut b, _) = server.login("caps", "b", false).await;
    let published = answer(&mut a, &client::publish_stream(1, "a-cam"), 1).await;
    assert!(
        matches!(published, ServerMessage::Ack { .. }),
        "{published:?}"
    );
    // Not played (yet), not a stream at all, not a valid ID; the
    // publisher's own stream it does not play.
    let low = VideoLayer::Low;
    let not_played = answer(&mut b, &cap_msg(2, "a-cam", low), 2).await;
    assert_eq!(refusal(&not_played), Some(ErrorCode::NotPlaying));
    let unknown = answer(&mut b, &cap_msg(3, "nobody", low), 3).await;
    assert_eq!(refusal(&unknown), Some(ErrorCode::NotPlaying));
    let invalid = answer(&mut b, &cap_msg(4, "bad id!", low), 4).await;
    assert_eq!(refusal(&invalid), Some(ErrorCode::InvalidStreamId));
    let own = answer(&mut a, &cap_msg(5, "a-cam", low), 5).await;
    assert_eq!(refusal(&own), Some(ErrorCode::NotPlaying));
    // Played: set, and acknowledged with what was set.
    let play = answer(&mut b, &client::play_stream(6, "a-cam"), 6).await;
    assert!(matches!(play, ServerMessage::Ack { .. }), "{play:?}");
    let set = answer(&mut b, &cap_msg(7, "a-cam", low), 7).await;
    assert!(
        matches!(
            &set,
            ServerMessage::Ack {
                request_id: 7,
                body: AckBody::PlayVideoLayerSet { stream_id, max_layer: VideoLayer::Low },
            } if stream_id == "a-cam"
        ),
        "{set:?}"
    );
    // Another session's play does not make it a's to cap.
    let still_not = answer(&mut a, &cap_msg(8, "a-cam", VideoLayer::High), 8).await;
    assert_eq!(refusal(&still_not), Some(ErrorCode::NotPlaying));
    // A burst of changes: each acknowledged, the session stays.
    for n in 0..40u32 {
        let layer = VideoLayer::ALL[(n % 3) as usize];
        b.send(&cap_msg(100 + n, "a-cam", layer)).await;
    }
    let mut acked = 0;
    while acked < 40 {
        match b.recv().await {
            ServerMessage::Ack { request_id, .. } => {
                assert_eq!(request_id, 100 + acked, "out of order");
                acked += 1;
            }
            ServerMessage::Error { code, .. } => panic!("refused: {code:?}"),
            _ => {}
        }
    }
    // Stopped playing: refused again.
    let stop = answer(&mut b, &client::stop_playing(200, "a-cam"), 200).await;
    assert!(matches!(stop, ServerMessage::Ack { .. }), "{stop:?}");
    let after = answer(&mut b, &cap_msg(201, "a-cam", low), 201).await;
    assert_eq!(refusal(&after), Some(ErrorCode::NotPlaying));
}
