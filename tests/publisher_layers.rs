//! A simulcast publisher (issue 15 part 2): a 720p engine publishes three
//! H.264 layers on one video track (rid f/h/q, mid and rid header
//! extensions on every packet) through the real server's SFU, directly and
//! through the impairment relay; native players decode what the SFU sends
//! them, a player capped at `Low` decodes 320x180.

use media_core::codec::video_config::VideoPreset;
use media_core::render::{Canvas, FrameReceiver, FrameSink};
use media_core::{PlayerError, PlayerState, PublishChannel, VideoStreamType};
use std::time::Duration;
use test_support::media::rendered_sizes;
use test_support::{behind_relay, relayed_peer, Peer, TestServer};

/// A media port per test (tests in one binary run in parallel).
fn port(slot: u16) -> u16 {
    43_000 + (std::process::id() % 1000) as u16 * 16 + slot
}

/// User "a" publishing "a-cam" at 720p in `room`.
async fn publisher_720p(server: &TestServer, room: &str) -> Peer {
    publish_720p(Peer::create(server.profile(), "a"), room).await
}

/// `a` publishing "a-cam" at 720p in `room`.
async fn publish_720p(mut a: Peer, room: &str) -> Peer {
    a.engine
        .set_video_config(VideoPreset::P720.config(), PublishChannel::Main)
        .expect("config");
    a.login(room, false, None);
    a.publish("a-cam").await;
    a
}

/// Starts playing `stream` into a frame sink; waits until it plays.
async fn play(peer: &mut Peer, stream: &str) -> FrameReceiver {
    let sink = FrameSink::new();
    let rx = sink.subscribe(512);
    peer.engine
        .start_playing_stream(stream, Some(Canvas::sink(sink)))
        .expect("play accepted");
    peer.wait_player_state(PlayerState::Playing).await;
    rx
}

/// The publisher's reported `(estimate kbit/s, sent kbit/s, top layer
/// height)` over `window`.
async fn sent(peer: &mut Peer, window: Duration) -> Vec<(f64, f64, u32)> {
    peer.publisher_qualities(window)
        .await
        .into_iter()
        .map(|q| (q.target_kbps.round(), q.video_kbps.round(), q.height))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_720p_simulcast_publisher_reaches_players() {
    let server = TestServer::start().await;
    let mut a = publisher_720p(&server, "layers").await;
    let mut b = Peer::create(server.profile(), "b");
    b.login("layers", false, None);
    let mut rx = play(&mut b, "a-cam").await;
    let seen = rendered_sizes(&mut rx, Duration::from_secs(4)).await;
    let quality = sent(&mut a, Duration::from_millis(10)).await;
    let mut sizes: Vec<(u32, u32)> = seen.iter().map(|f| (f.1, f.2)).collect();
    sizes.dedup();
    eprintln!(
        "player: {} frames in 4 s, sizes {sizes:?}; publisher (estimate, sent kbit/s, height): {quality:?}",
        seen.len()
    );
    assert!(seen.len() >= 40, "{} frames in 4 s", seen.len());
    assert!(
        seen.windows(2).all(|w| w[1].0 > w[0].0),
        "frame numbers not increasing (layers mixed?): {seen:?}"
    );
    assert!(
        sizes
            .iter()
            .all(|s| [(1280, 720), (640, 360), (320, 180)].contains(s)),
        "sizes {sizes:?}"
    );
    a.engine.destroy().await;
    b.engine.destroy().await;
}

/// The distinct sizes of `seen`, in order.
fn sizes(seen: &[(u32, u32, u32)]) -> Vec<(u32, u32)> {
    let mut v: Vec<(u32, u32)> = seen.iter().map(|f| (f.1, f.2)).collect();
    v.dedup();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_player_asking_for_the_small_video_decodes_320x180() {
    let server = TestServer::start().await;
    let mut a = publisher_720p(&server, "small").await;
    let mut b = Peer::create(server.profile(), "b");
    b.login("small", false, None);
    assert_eq!(
        b.engine
            .set_play_stream_video_type("a-cam", VideoStreamType::Small),
        Err(PlayerError::NotPlaying),
        "not played yet"
    );
    let mut rx = play(&mut b, "a-cam").await;
    b.engine
        .set_play_stream_video_type("a-cam", VideoStreamType::Small)
        .expect("played");
    // The cap reaches the SFU, which switches at the next keyframe of q.
    let _ = rendered_sizes(&mut rx, Duration::from_secs(2)).await;
    let seen = rendered_sizes(&mut rx, Duration::from_secs(3)).await;
    let quality = sent(&mut a, Duration::from_millis(10)).await;
    eprintln!(
        "capped Small: {} frames in 3 s, sizes {:?}; publisher {quality:?}",
        seen.len(),
        sizes(&seen),
    );
    // Dynacast: its only player wants the low layer, so only 180p is sent.
    let last = quality.last().expect("publisher quality");
    assert_eq!(last.2, 180, "the publisher's top layer: {quality:?}");
    assert!(seen.len() >= 30, "{} frames in 3 s", seen.len());
    assert_eq!(sizes(&seen), vec![(320, 180)]);
    assert!(seen.windows(2).all(|w| w[1].0 > w[0].0), "{seen:?}");
    a.engine.destroy().await;
    b.engine.destroy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulcast_publisher_behind_a_capped_link_shares_it_and_keeps_playing() {
    let (server, relay) = behind_relay(port(1)).await;
    relay.set_rate_kbps(800);
    let mut a = publish_720p(relayed_peer(&server, "a"), "capped").await;
    let mut b = relayed_peer(&server, "b");
    b.login("capped", false, None);
    let mut rx = play(&mut b, "a-cam").await;
    let early = rendered_sizes(&mut rx, Duration::from_secs(10)).await;
    let seen = rendered_sizes(&mut rx, Duration::from_secs(6)).await;
    let fps = seen.len() as f64 / 6.0;
    let quality = sent(&mut a, Duration::from_millis(10)).await;
    eprintln!(
        "720p simulcast behind 800 kbit/s: first 10 s {} frames {:?}; last 6 s {fps:.1} fps \
         {:?}; publisher (estimate, sent kbit/s, top height) every 3 s {quality:?}; {} packets dropped",
        early.len(),
        sizes(&early),
        sizes(&seen),
        relay.dropped()
    );
    assert!(fps >= 10.0, "{fps:.1} fps: {seen:?}");
    assert!(seen.windows(2).all(|w| w[1].0 > w[0].0), "{seen:?}");
    let last = quality.last().expect("publisher quality");
    assert!(last.1 < 800.0, "the layers send {} kbit/s into 800", last.1);
    a.engine.destroy().await;
    b.engine.destroy().await;
}

/// Media packets the relay dropped `(toward the SFU, from it)` while a
/// 720p15 single-layer publisher (a keyframe every second) sent through a
/// 1 Mbit/s link with a 10-packet queue for 12 s, paced or not; and the
/// frames its player decoded.
async fn drops_behind_1_mbps(slot: u16, pace: bool) -> ((u64, u64), usize) {
    let (server, relay) = behind_relay(port(slot)).await;
    relay.set_rate_kbps(1000);
    let mut profile = server.profile();
    profile.transport.announce_local_candidates = false;
    profile.transport.pace_video = pace;
    // No estimate (GCC pinned: it never reports a change): a steady 720p15
    // at 500 kbit/s, so what differs is how its keyframes enter the queue.
    profile.transport.initial_bitrate_bps = 600_000;
    profile.transport.min_bitrate_bps = 600_000;
    profile.transport.max_bitrate_bps = 600_000;
    let mut a = Peer::create(profile, "a");
    a.engine.enable_video_simulcast(false);
    let mut config = VideoPreset::P720.config();
    config.bitrate_kbps = 500;
    config.fps = 15;
    config.keyframe_interval_s = 1;
    a.engine
        .set_video_config(config, PublishChannel::Main)
        .expect("config");
    a.login("paced", false, None);
    a.publish("a-cam").await;
    let mut b = relayed_peer(&server, "b");
    b.login("paced", false, None);
    let mut rx = play(&mut b, "a-cam").await;
    let _ = rendered_sizes(&mut rx, Duration::from_secs(3)).await;
    let before = relay.dropped_each_way();
    let seen = rendered_sizes(&mut rx, Duration::from_secs(12)).await;
    let after = relay.dropped_each_way();
    a.engine.destroy().await;
    b.engine.destroy().await;
    ((after.0 - before.0, after.1 - before.1), seen.len())
}

/// A measurement (run it with `--ignored`; the relay's timing shares two
/// loaded cores with the engines and the server). Steady keyframe drops are
/// alike (paced 49-89 packets in 12 s, unpaced 60); what pacing prevents is
/// the collapse at the start, when the first 720p keyframe burst into the
/// queue and the losses' NACK retransmissions kept it full: unpaced, two
/// runs in three lost 3,800-4,100 packets and decoded 42-53 of 180 frames.
/// So it checks that the paced publisher keeps the link: few drops, every
/// frame; the unpaced run is printed beside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn paced_keyframes_keep_a_small_queue_from_collapsing() {
    let (paced, paced_frames) = drops_behind_1_mbps(2, true).await;
    let (burst, burst_frames) = drops_behind_1_mbps(3, false).await;
    eprintln!(
        "behind 1 Mbit/s, 10-packet queue, 12 s, packets dropped (toward the SFU, from it): \
         paced {paced:?} ({paced_frames} frames decoded), unpaced {burst:?} ({burst_frames} frames)"
    );
    assert!(paced.0 + paced.1 < 240, "paced: {paced:?} dropped");
    assert!(paced_frames >= 170, "paced: {paced_frames} frames of 180");
}
