//! `/metrics` after a real call: a native publisher and player through the
//! SFU behind a relay that loses 5 % of the packets and delays them 10 ms
//! each way; the player mutes and unmutes its video (a keyframe request).
//! The scrape is parsed as Prometheus text and the room's series
//! are checked: packets and bytes forwarded, PLIs, NACKs, resends, one
//! publisher and one player, the loss and round-trip histograms; after
//! both leave, the room's series are gone and the node's stay.

use media_core::codec::video_config::VideoPreset;
use media_core::{PlayerState, PublishChannel};
use std::time::{Duration, Instant};
use test_support::lanes::free_udp_port;
use test_support::metrics::{parse, Sample};
use test_support::{behind_relay, relayed_peer, TestServer};

const ROOM: &str = "metrics-room";

/// The room's sample `name` (panics, with every sample, when missing).
fn room_value(samples: &[Sample], name: &str) -> f64 {
    samples
        .iter()
        .find(|s| s.name == name && s.label("room_id") == Some(ROOM))
        .unwrap_or_else(|| panic!("{name} of {ROOM} missing: {samples:#?}"))
        .value
}

/// The node's sample `name` (no labels).
fn node_value(samples: &[Sample], name: &str) -> f64 {
    samples
        .iter()
        .find(|s| s.name == name && s.labels.is_empty())
        .unwrap_or_else(|| panic!("{name} of the node missing: {samples:#?}"))
        .value
}

async fn scrape(server: &TestServer) -> Vec<Sample> {
    let response = server.http_get_ok("/metrics").await;
    let (_, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    parse(body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_shows_in_the_room_series_which_leave_with_the_room() {
    let (server, relay) = behind_relay(free_udp_port()).await;
    relay.set_loss_percent(5);
    relay.set_delay(Duration::from_millis(10));
    let mut a = relayed_peer(&server, "a");
    a.login(ROOM, false, None);
    a.publish("a-cam").await;
    let mut b = relayed_peer(&server, "b");
    b.login(ROOM, false, None);
    let mut video = b.play_video("a-cam");
    b.wait_player_state(PlayerState::Playing).await;
    assert!(
        video.first(Duration::from_secs(20)).await.is_some(),
        "no frame; {:#?}",
        b.log
    );
    // Periodic keyframes a minute apart, then the player's video muted
    // and unmuted: it waits for a keyframe and asks for one (a PLI).
    let mut config = VideoPreset::P180.config();
    config.keyframe_interval_s = 60;
    a.engine
        .set_video_config(config, PublishChannel::Main)
        .expect("config");
    let _ = video.collect(Duration::from_millis(500)).await;
    b.engine
        .mute_play_stream_video("a-cam", true)
        .expect("mute");
    let _ = video.collect(Duration::from_millis(300)).await;
    b.engine
        .mute_play_stream_video("a-cam", false)
        .expect("unmute");
    // Until every figure has moved (receiver reports come about once a
    // second, NACKs with the losses), 20 s at most.
    let deadline = Instant::now() + Duration::from_secs(20);
    let samples = loop {
        let _ = video.collect(Duration::from_millis(500)).await;
        let samples = scrape(&server).await;
        let moved = [
            "confer_media_nacks_total",
            "confer_media_retransmissions_total",
            "confer_media_plis_total",
            "confer_media_loss_ratio_count",
            "confer_media_rtt_seconds_count",
        ]
        .iter()
        .all(|name| room_value(&samples, name) > 0.0);
        if moved || Instant::now() > deadline {
            break samples;
        }
    };
    for name in [
        "confer_media_packets_forwarded_total",
        "confer_media_bytes_forwarded_total",
        "confer_media_plis_total",
        "confer_media_nacks_total",
        "confer_media_retransmissions_total",
        "confer_media_loss_ratio_count",
        "confer_media_rtt_seconds_count",
    ] {
        let room = room_value(&samples, name);
        let media: Vec<&Sample> = samples
            .iter()
            .filter(|s| s.name.starts_with("confer_media") && !s.name.ends_with("_bucket"))
            .collect();
        assert!(room > 0.0, "{name} of the room is {room}: {media:?}");
        assert!(node_value(&samples, name) >= room, "{name}");
    }
    assert!(
        room_value(&samples, "confer_media_bytes_forwarded_total")
            > room_value(&samples, "confer_media_packets_forwarded_total")
    );
    assert_eq!(room_value(&samples, "confer_media_publishers"), 1.0);
    assert_eq!(room_value(&samples, "confer_media_players"), 1.0);
    assert_eq!(node_value(&samples, "confer_rooms"), 1.0);
    // 10 ms each way: the round trip is above 20 ms (and, generously,
    // under 2 s on a loaded machine).
    let rtts = room_value(&samples, "confer_media_rtt_seconds_count");
    let mean = room_value(&samples, "confer_media_rtt_seconds_sum") / rtts;
    assert!((0.02..2.0).contains(&mean), "mean round trip {mean} s");
    eprintln!(
        "room: {} packets, {} NACKs, {} resends, {} PLIs, RTT mean {:.1} ms over {rtts} reports, {} dropped by the relay",
        room_value(&samples, "confer_media_packets_forwarded_total"),
        room_value(&samples, "confer_media_nacks_total"),
        room_value(&samples, "confer_media_retransmissions_total"),
        room_value(&samples, "confer_media_plis_total"),
        mean * 1000.0,
        relay.dropped(),
    );

    a.engine.destroy().await;
    b.engine.destroy().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let after = loop {
        let samples = scrape(&server).await;
        let left = samples.iter().any(|s| s.label("room_id") == Some(ROOM));
        if !left || Instant::now() > deadline {
            break samples;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let left: Vec<&Sample> = after
        .iter()
        .filter(|s| s.label("room_id") == Some(ROOM))
        .collect();
    assert!(left.is_empty(), "the closed room's series: {left:#?}");
    assert!(node_value(&after, "confer_media_packets_forwarded_total") > 0.0);
    assert_eq!(node_value(&after, "confer_media_players"), 0.0);
    server.shutdown().await;
}
