//! A simulcast publisher (issue 15 part 2): a 720p engine publishes three
//! H.264 layers on one video track (rid f/h/q, mid and rid header
//! extensions on every packet) through the real server's SFU, directly and
//! through the impairment relay; native players decode what the SFU sends
//! them, a player capped at `Low` decodes 320x180.

use media_core::codec::video_config::VideoPreset;
use media_core::render::{Canvas, FrameReceiver, FrameSink};
use media_core::{Event, PlayerState, PublishChannel};
use std::time::Duration;
use test_support::media::rendered_sizes;
use test_support::{Peer, TestServer};

/// User `user` publishing `stream` at 720p in `room`.
async fn publisher_720p(server: &TestServer, room: &str, user: &str, stream: &str) -> Peer {
    let mut a = Peer::create(server.profile(), user);
    a.engine
        .set_video_config(VideoPreset::P720.config(), PublishChannel::Main)
        .expect("config");
    a.login(room, false, None);
    a.publish(stream).await;
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

/// The publisher's reported `(sent kbit/s, height)` over `window`.
async fn sent(peer: &mut Peer, window: Duration) -> Vec<(f64, u32)> {
    peer.collect_for(window)
        .await
        .into_iter()
        .filter_map(|e| match e {
            Event::PublisherQualityUpdate { quality, .. } => {
                Some((quality.video_kbps.round(), quality.height))
            }
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_720p_simulcast_publisher_reaches_players() {
    let server = TestServer::start().await;
    let mut a = publisher_720p(&server, "layers", "a", "a-cam").await;
    let mut b = Peer::create(server.profile(), "b");
    b.login("layers", false, None);
    let mut rx = play(&mut b, "a-cam").await;
    let seen = rendered_sizes(&mut rx, Duration::from_secs(4)).await;
    let quality = sent(&mut a, Duration::from_millis(10)).await;
    let mut sizes: Vec<(u32, u32)> = seen.iter().map(|f| (f.1, f.2)).collect();
    sizes.dedup();
    eprintln!(
        "player: {} frames in 4 s, sizes {sizes:?}; publisher (kbit/s, height): {quality:?}",
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
