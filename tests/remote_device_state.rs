//! Remote device state through the real server on loopback: a publisher's
//! microphone and camera mutes reach the room as `RemoteMicStateUpdate` /
//! `RemoteCameraStateUpdate` (the seed's `onRemoteMicStateUpdate` /
//! `onRemoteCameraStateUpdate`), for a player, for a user who logs in after
//! the mute, and for a stream published already muted.

use media_core::{Event, PlayerState, PublishChannel, RemoteDeviceState};
use std::time::Duration;
use test_support::{device_brief, Peer, TestServer};

/// The device events in a peer's log, in order.
fn devices(log: &[Event]) -> Vec<String> {
    log.iter().filter_map(device_brief).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutes_reach_players_late_joiners_and_new_streams() {
    let server = TestServer::start().await;
    let mut a = Peer::join(server.profile(), "dev-room", "a", false).await;
    let mut b = Peer::join(server.profile(), "dev-room", "b", false).await;
    a.publish("a-cam").await;

    // b sees the stream with both devices open, and plays it.
    b.wait_stream_update("stream Add").await;
    b.wait_device("camera a-cam Open").await;
    b.engine
        .start_playing_stream("a-cam", None)
        .expect("play accepted");
    b.wait_player_state(PlayerState::Playing).await;

    // Microphone muted, then back on.
    a.engine.mute_microphone(true);
    b.wait_device("mic a-cam Mute").await;
    a.engine.mute_microphone(false);
    b.wait_device("mic a-cam Open").await;

    // Camera off.
    a.engine.enable_camera(false, PublishChannel::Main);
    b.wait_device("camera a-cam Mute").await;

    // c logs in after the mute: the snapshot says so.
    let mut c = Peer::join(server.profile(), "dev-room", "c", false).await;
    let camera = c
        .wait_for("camera state", |e| {
            matches!(e, Event::RemoteCameraStateUpdate { .. })
        })
        .await;
    assert_eq!(
        camera,
        Event::RemoteCameraStateUpdate {
            stream_id: "a-cam".into(),
            state: RemoteDeviceState::Mute,
        }
    );
    assert_eq!(
        devices(&c.log),
        ["mic a-cam Open", "camera a-cam Mute"],
        "c: {:#?}",
        c.log
    );

    // The stream's own audio mute is a microphone Mute too.
    a.engine
        .mute_publish_stream_audio(true, PublishChannel::Main);
    b.wait_device("mic a-cam Mute").await;
    c.wait_device("mic a-cam Mute").await;

    // d publishes with its microphone already muted: its stream arrives muted.
    let mut d = Peer::join(server.profile(), "dev-room", "d", false).await;
    d.engine.mute_microphone(true);
    d.publish("d-cam").await;
    b.wait_device("camera d-cam Open").await;

    // Every change once, in order; nothing about the own stream.
    assert_eq!(
        devices(&b.log),
        [
            "mic a-cam Open",
            "camera a-cam Open",
            "mic a-cam Mute",
            "mic a-cam Open",
            "camera a-cam Mute",
            "mic a-cam Mute",
            "mic d-cam Mute",
            "camera d-cam Open",
        ],
        "b: {:#?}",
        b.log
    );
    let own = a.collect_for(Duration::from_millis(300)).await;
    assert!(
        devices(&a.log).iter().all(|d| !d.contains("a-cam")),
        "a heard about its own stream: {own:#?}"
    );
    // The player kept playing throughout.
    assert!(
        !b.log.iter().any(|e| matches!(
            e,
            Event::PlayerStateUpdate {
                state: PlayerState::PlayRequesting,
                error_code,
                ..
            } if *error_code != 0
        )),
        "b: {:#?}",
        b.log
    );

    for p in [a, b, c, d] {
        p.engine.destroy().await;
    }
}
