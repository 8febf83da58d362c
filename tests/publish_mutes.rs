//! Publish mutes set while the channel is not running, through the real SFU
//! on loopback: a camera turned off (`enable_camera(false)`) or a stream's
//! audio muted (`mute_publish_stream_audio`) *before* `start_publishing_stream`
//! holds once the pipeline starts (players get no frames of it, the
//! publisher counts none sent), matches what the room is told
//! (`RemoteCameraStateUpdate` / `RemoteMicStateUpdate`), comes back when
//! turned on, and survives a pipeline restart (new video config). A track
//! muted from the start still reaches a player once unmuted (the SFU only
//! forwards tracks it has seen a packet of), even when nothing at all was
//! sent at first.

use media_core::codec::video_config::VideoPreset;
use media_core::{Event, PlayerState, PublishChannel, PublishStreamQuality};
use std::time::Duration;
use test_support::media::{AudioProbe, VideoProbe};
use test_support::{device_brief, Peer, TestServer};

/// Long enough for anything sent to have been rendered or played.
const WATCH: Duration = Duration::from_secs(3);
/// How long a test waits for media to (re)appear.
const ARRIVAL: Duration = Duration::from_secs(20);
/// One second of 48 kHz mono.
const ONE_SECOND: usize = 48_000;

/// The latest state `peer` was told of, e.g. `"camera a-cam Mute"` for
/// `"camera a-cam"`.
fn last_device(peer: &Peer, of: &str) -> Option<String> {
    peer.log
        .iter()
        .rev()
        .filter_map(device_brief)
        .find(|d| d.starts_with(of))
}

/// Asserts a second of `a-cam`'s audio reaches the player within [`ARRIVAL`]
/// (`when`: at which point of the test, for the failure message).
async fn assert_audio_flows(audio: &mut AudioProbe, when: &str, log: &[Event]) {
    let samples = audio
        .collect("a-cam", Duration::from_secs(1), ARRIVAL)
        .await;
    assert!(
        samples.len() >= ONE_SECOND,
        "only {} samples {when}; log {log:#?}",
        samples.len()
    );
}

/// Asserts no `a-cam` audio at all is played during [`WATCH`].
async fn assert_no_audio(audio: &mut AudioProbe, when: &str) {
    let samples = audio.collect("a-cam", Duration::from_secs(1), WATCH).await;
    assert!(
        samples.is_empty(),
        "{} samples played {when}",
        samples.len()
    );
}

/// Asserts no frame is rendered during [`WATCH`].
async fn assert_no_video(video: &mut VideoProbe, when: &str) {
    let frames = video.count(WATCH).await;
    assert_eq!(frames, 0, "{frames} frames rendered {when}");
}

/// The publisher's next quality report for which `pred` holds.
async fn publisher_quality(
    peer: &mut Peer,
    what: &str,
    pred: impl Fn(&PublishStreamQuality) -> bool,
) -> PublishStreamQuality {
    match peer
        .wait_for(
            what,
            |e| matches!(e, Event::PublisherQualityUpdate { quality, .. } if pred(quality)),
        )
        .await
    {
        Event::PublisherQualityUpdate { quality, .. } => quality,
        _ => unreachable!("matched above"),
    }
}

/// `a` publishes `a-cam` (after `before_publish` set its mutes), `b` plays
/// it into a video and an audio probe.
async fn call(
    server: &TestServer,
    room: &str,
    before_publish: impl FnOnce(&Peer),
) -> (Peer, Peer, VideoProbe, AudioProbe) {
    let mut a = Peer::join(server.profile(), room, "a", false).await;
    let mut b = Peer::join(server.profile(), room, "b", false).await;
    before_publish(&a);
    a.publish("a-cam").await;
    b.wait_stream_update("stream Add").await;
    let (video, audio) = b.play_probed("a-cam");
    b.wait_player_state(PlayerState::Playing).await;
    (a, b, video, audio)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn camera_off_before_publishing_sends_no_video_until_turned_on() {
    let server = TestServer::start().await;
    let (mut a, mut b, mut video, mut audio) = call(&server, "camera-room", |a| {
        a.engine.enable_camera(false, PublishChannel::Main);
    })
    .await;
    // The room was told the camera is off, from the start.
    assert_eq!(
        last_device(&b, "camera a-cam").as_deref(),
        Some("camera a-cam Mute"),
        "b: {:#?}",
        b.log
    );

    // Audio flows...
    assert_audio_flows(&mut audio, "with the camera off", &b.log).await;
    // ...but not a single picture.
    assert_no_video(&mut video, "with the camera off").await;
    // The publisher captured and sent none either.
    let q = publisher_quality(&mut a, "quality with audio", |q| q.audio_send_fps > 0.0).await;
    assert_eq!(q.video_capture_fps, 0.0, "{q:?}");
    assert_eq!(q.video_send_fps, 0.0, "{q:?}");

    // Camera on: the room is told, and frames arrive.
    a.engine.enable_camera(true, PublishChannel::Main);
    b.wait_device("camera a-cam Open").await;
    assert!(
        video.first(ARRIVAL).await.is_some(),
        "no frame after enable_camera(true); log {:#?}",
        b.log
    );
    let seen = video.collect(WATCH).await;
    assert!(seen.len() >= 10, "only {} frames in {WATCH:?}", seen.len());
    publisher_quality(&mut a, "quality with video", |q| q.video_send_fps > 0.0).await;

    a.engine.destroy().await;
    b.engine.destroy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_audio_muted_before_publishing_sends_no_audio_until_unmuted() {
    let server = TestServer::start().await;
    let (mut a, mut b, mut video, mut audio) = call(&server, "audio-room", |a| {
        a.engine
            .mute_publish_stream_audio(true, PublishChannel::Main);
    })
    .await;
    // The room was told the audio is muted, from the start.
    assert_eq!(
        last_device(&b, "mic a-cam").as_deref(),
        Some("mic a-cam Mute"),
        "b: {:#?}",
        b.log
    );

    // Video flows...
    assert!(
        video.first(ARRIVAL).await.is_some(),
        "no frame; log {:#?}",
        b.log
    );
    // ...but no audio at all.
    assert_no_audio(&mut audio, "with the audio muted").await;
    let q = publisher_quality(&mut a, "quality with video", |q| q.video_send_fps > 0.0).await;
    assert_eq!(q.audio_send_fps, 0.0, "{q:?}");

    // Unmuted: the room is told, and audio arrives.
    a.engine
        .mute_publish_stream_audio(false, PublishChannel::Main);
    b.wait_device("mic a-cam Open").await;
    assert_audio_flows(&mut audio, "after unmuting", &b.log).await;

    // A video mute survives a pipeline restart (new video config).
    a.engine
        .mute_publish_stream_video(true, PublishChannel::Main);
    b.wait_device("camera a-cam Mute").await;
    a.engine
        .set_video_config(VideoPreset::P270.config(), PublishChannel::Main)
        .expect("preset is valid");
    // What was in flight before the mute drains first.
    video.count(Duration::from_secs(1)).await;
    assert_no_video(&mut video, "after mute + restart").await;
    audio.drain();
    assert_audio_flows(&mut audio, "after the restart", &b.log).await;

    a.engine.destroy().await;
    b.engine.destroy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_off_before_publishing_still_plays_and_flows_once_on() {
    let server = TestServer::start().await;
    // Nothing is sent at first: the stream still goes live and plays.
    let (mut a, mut b, mut video, mut audio) = call(&server, "off-room", |a| {
        a.engine.enable_camera(false, PublishChannel::Main);
        a.engine.mute_microphone(true);
    })
    .await;
    assert_no_video(&mut video, "with the camera off").await;
    assert_no_audio(&mut audio, "with the microphone muted").await;
    let q = publisher_quality(&mut a, "quality", |_| true).await;
    assert_eq!((q.video_send_fps, q.audio_send_fps), (0.0, 0.0), "{q:?}");

    // Both on: both arrive at the player that was already playing.
    a.engine.mute_microphone(false);
    a.engine.enable_camera(true, PublishChannel::Main);
    b.wait_device("camera a-cam Open").await;
    assert!(
        video.first(ARRIVAL).await.is_some(),
        "no frame after turning the camera on; log {:#?}",
        b.log
    );
    assert_audio_flows(&mut audio, "after unmuting the microphone", &b.log).await;

    a.engine.destroy().await;
    b.engine.destroy().await;
}
