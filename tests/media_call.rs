//! Media through the real SFU on loopback: a publisher's test pattern and
//! tone reach players, checked by decoding the frame numbers drawn in the
//! picture and measuring the tone's frequency; the seed's publisher and
//! player state / first-frame sequences; two-way calls, fan-out, stop and
//! republish, duplicate stream IDs, and missing devices.

use media_core::capture::tone::dominant_frequency;
use media_core::{DeviceType, ErrorCode, Event, PlayerState, PublishChannel, PublisherState};
use std::time::Duration;
use test_support::media::Completeness;
use test_support::{Peer, TestServer};

/// How long a test watches video to count frames.
const WATCH: Duration = Duration::from_secs(4);
const FIRST_FRAME: Duration = Duration::from_secs(20);

/// The order of the player's state and first-frame events in `log`.
fn player_sequence(log: &[Event]) -> Vec<String> {
    log.iter()
        .filter_map(|e| match e {
            Event::PlayerStateUpdate {
                state, error_code, ..
            } => Some(format!("{state:?} {error_code}")),
            Event::PlayerRecvVideoFirstFrame { .. } => Some("RecvVideoFirstFrame".into()),
            Event::PlayerRenderVideoFirstFrame { .. } => Some("RenderVideoFirstFrame".into()),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn player_decodes_frame_numbers_and_tone_with_seed_events() {
    let server = TestServer::start().await;
    let mut a = Peer::join(server.profile(), "media-room", "a", false).await;
    let mut b = Peer::join(server.profile(), "media-room", "b", false).await;
    a.publish("a-cam").await;
    let publisher: Vec<String> = a
        .log
        .iter()
        .filter_map(|e| match e {
            Event::PublisherStateUpdate {
                state, error_code, ..
            } => Some(format!("{state:?} {error_code}")),
            Event::PublisherCapturedVideoFirstFrame { .. } => {
                Some("CapturedVideoFirstFrame".into())
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        publisher.first().map(String::as_str),
        Some("PublishRequesting 0")
    );
    assert_eq!(publisher.last().map(String::as_str), Some("Publishing 0"));
    assert!(
        publisher.contains(&"CapturedVideoFirstFrame".to_owned()),
        "{publisher:?}"
    );

    b.wait_stream_update("stream Add").await;
    let (mut video, mut audio) = b.play_probed("a-cam");
    assert!(
        video.first(FIRST_FRAME).await.is_some(),
        "no stamped frame; log {:#?}",
        b.log
    );

    let seen = video.collect(WATCH).await;
    let c = Completeness::of(&seen);
    assert!(c.in_order, "frames out of order: {seen:?}");
    assert!(
        c.ratio() >= 0.9,
        "decoded {} of {} frames",
        c.received,
        c.sent
    );
    assert!(c.sent >= 30, "only {} frames in {WATCH:?}", c.sent);

    let samples = audio
        .collect("a-cam", Duration::from_secs(1), Duration::from_secs(10))
        .await;
    assert!(samples.len() >= 48_000, "only {} samples", samples.len());
    let f = dominant_frequency(&samples, 1, 48_000).expect("a tone");
    assert!((f - 440.0).abs() <= 440.0 * 0.02, "tone at {f} Hz");

    // The seed's order: PlayRequesting, Playing, then the first frames.
    b.wait_for("quality", |e| {
        matches!(e, Event::PlayerQualityUpdate { .. })
    })
    .await;
    assert_eq!(
        player_sequence(&b.log),
        [
            "PlayRequesting 0",
            "Playing 0",
            "RecvVideoFirstFrame",
            "RenderVideoFirstFrame"
        ]
    );
    match b
        .log
        .iter()
        .rev()
        .find(|e| matches!(e, Event::PlayerQualityUpdate { .. }))
    {
        Some(Event::PlayerQualityUpdate { quality, .. }) => {
            assert!(quality.video_recv_fps > 5.0, "{quality:?}");
            assert!(quality.video_kbps > 10.0, "{quality:?}");
            assert!(quality.audio_recv_fps > 30.0, "{quality:?}");
            assert_eq!((quality.width, quality.height), (320, 180));
            assert_eq!(quality.video_codec, "H264");
            // Audio and video timed by the publisher's own sender reports
            // (relayed by the SFU) stay within lip-sync range.
            assert!(quality.av_timestamp_diff_ms.abs() < 200.0, "{quality:?}");
        }
        _ => unreachable!("waited for it"),
    }
    a.wait_for("publisher quality", |e| {
        matches!(e, Event::PublisherQualityUpdate { .. })
    })
    .await;
    a.engine.destroy().await;
    b.engine.destroy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_way_call() {
    let server = TestServer::start().await;
    let mut a = Peer::join(server.profile(), "duo", "a", false).await;
    let mut b = Peer::join(server.profile(), "duo", "b", false).await;
    a.publish("a-cam").await;
    b.publish("b-cam").await;
    let mut va = a.play_video("b-cam");
    let mut vb = b.play_video("a-cam");
    assert!(
        va.first(FIRST_FRAME).await.is_some(),
        "a got nothing: {:#?}",
        a.log
    );
    assert!(
        vb.first(FIRST_FRAME).await.is_some(),
        "b got nothing: {:#?}",
        b.log
    );
    let (sa, sb) = tokio::join!(va.collect(WATCH), vb.collect(WATCH));
    for (who, seen) in [("a", sa), ("b", sb)] {
        let c = Completeness::of(&seen);
        assert!(c.in_order && c.ratio() >= 0.9, "{who}: {c:?}");
    }
    a.engine.destroy().await;
    b.engine.destroy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_publisher_four_players() {
    let server = TestServer::start().await;
    let mut a = Peer::join(server.profile(), "fan", "a", false).await;
    a.publish("a-cam").await;
    let mut players = Vec::new();
    for i in 0..4 {
        let p = Peer::join(server.profile(), "fan", &format!("p{i}"), false).await;
        let probe = p.play_video("a-cam");
        players.push((p, probe));
    }
    for (p, probe) in &mut players {
        assert!(
            probe.first(FIRST_FRAME).await.is_some(),
            "{} got nothing",
            p.user_id
        );
    }
    let results =
        futures_util::future::join_all(players.iter_mut().map(|(_, probe)| probe.collect(WATCH)))
            .await;
    for (i, seen) in results.iter().enumerate() {
        let c = Completeness::of(seen);
        assert!(c.in_order && c.ratio() >= 0.9, "player {i}: {c:?}");
    }
    for (p, _) in players {
        p.engine.destroy().await;
    }
    a.engine.destroy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_and_republish_and_duplicate_stream_id() {
    let server = TestServer::start().await;
    let mut a = Peer::join(server.profile(), "cycle", "a", false).await;
    let mut b = Peer::join(server.profile(), "cycle", "b", false).await;
    // Playing before the stream exists waits in PlayRequesting.
    let mut video = b.play_video("a-cam");
    a.publish("a-cam").await;
    b.wait_player_state(PlayerState::Playing).await;
    let before = video.first(FIRST_FRAME).await.expect("frames before stop");

    // A second publisher of the same ID in the app fails with its code.
    let mut c = Peer::join(server.profile(), "elsewhere", "c", false).await;
    c.engine
        .start_publishing_stream("a-cam", PublishChannel::Main)
        .expect("accepted locally");
    let refused = c.wait_publisher_state(PublisherState::NoPublish).await;
    assert!(
        matches!(refused, Event::PublisherStateUpdate { error_code, .. } if error_code == ErrorCode::StreamIdInUse.code()),
        "{refused:?}"
    );

    a.engine
        .stop_publishing_stream(PublishChannel::Main)
        .expect("stop");
    b.wait_stream_delete("stream Delete").await;
    let back = b.wait_player_state(PlayerState::PlayRequesting).await;
    assert!(
        matches!(back, Event::PlayerStateUpdate { error_code, .. } if error_code == ErrorCode::StreamEnded.code()),
        "{back:?}"
    );

    a.publish("a-cam").await;
    b.wait_player_state(PlayerState::Playing).await;
    let after = video.collect(Duration::from_secs(3)).await;
    assert!(
        after
            .iter()
            .any(|s| s.capture_time_us > before.capture_time_us + 500_000),
        "no new frames after republishing"
    );
    for p in [a, b, c] {
        p.engine.destroy().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_camera_and_microphone_are_reported_and_playing_needs_login() {
    let server = TestServer::start().await;
    let mut a = Peer::create(server.profile(), "nodev");
    assert_eq!(
        a.engine
            .start_playing_stream("x", None)
            .map_err(|e| e.code()),
        Err(ErrorCode::NotLoggedIn)
    );
    assert_eq!(
        a.engine
            .start_publishing_stream("x", PublishChannel::Main)
            .map_err(|e| e.code()),
        Err(ErrorCode::NotLoggedIn)
    );
    // The machine has no camera and no microphone: use them anyway.
    a.engine.set_video_source(
        media_core::capture::source::VideoSourceKind::Camera { id: None },
        PublishChannel::Main,
    );
    a.engine.set_audio_source(
        media_core::capture::source::AudioSourceKind::Microphone { id: None },
        PublishChannel::Main,
    );
    a.login("nodev-room", false, None);
    a.publish("nodev-cam").await;
    let mut errors: Vec<(DeviceType, u32)> = a
        .log
        .iter()
        .filter_map(|e| match e {
            Event::LocalDeviceError {
                device_type,
                error_code,
                ..
            } => Some((*device_type, *error_code)),
            _ => None,
        })
        .collect();
    errors.sort_by_key(|(d, _)| format!("{d:?}"));
    assert_eq!(
        errors,
        [
            (DeviceType::Camera, ErrorCode::NoCamera.code()),
            (DeviceType::Microphone, ErrorCode::NoMicrophone.code())
        ]
    );
    assert!(a.engine.video_devices().is_empty());
    assert_eq!(
        a.engine
            .use_video_device("nope", PublishChannel::Main)
            .map_err(|e| e.code()),
        Err(ErrorCode::DeviceNotFound)
    );
    assert_eq!(
        a.engine
            .set_camera_zoom_factor(2.0, PublishChannel::Main)
            .map_err(|e| e.code()),
        Err(ErrorCode::ZoomUnsupported)
    );
    a.engine.destroy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutes_stop_and_resume_what_the_player_gets() {
    let server = TestServer::start().await;
    let mut a = Peer::join(server.profile(), "mute", "a", false).await;
    let b = Peer::join(server.profile(), "mute", "b", false).await;
    a.publish("a-cam").await;
    let (mut video, mut audio) = b.play_probed("a-cam");
    assert!(video.first(FIRST_FRAME).await.is_some());

    // Publisher stops sending video: nothing new is rendered.
    a.engine
        .mute_publish_stream_video(true, PublishChannel::Main);
    let _ = video.collect(Duration::from_millis(500)).await;
    assert!(
        video.collect(Duration::from_secs(2)).await.is_empty(),
        "video kept coming"
    );
    a.engine
        .mute_publish_stream_video(false, PublishChannel::Main);
    assert!(
        video.first(Duration::from_secs(10)).await.is_some(),
        "video did not resume"
    );

    // The player mutes the video: not decoded, not rendered; unmute resumes.
    b.engine
        .mute_play_stream_video("a-cam", true)
        .expect("playing");
    let _ = video.collect(Duration::from_millis(500)).await;
    assert!(
        video.collect(Duration::from_secs(2)).await.is_empty(),
        "muted video rendered"
    );
    b.engine
        .mute_play_stream_video("a-cam", false)
        .expect("playing");
    assert!(
        video.first(Duration::from_secs(10)).await.is_some(),
        "video did not resume"
    );

    // Microphone muted at the publisher: the tone stops reaching the player.
    let heard = audio
        .collect("a-cam", Duration::from_millis(500), Duration::from_secs(5))
        .await;
    assert!(!heard.is_empty());
    a.engine.mute_microphone(true);
    tokio::time::sleep(Duration::from_millis(500)).await;
    audio.drain();
    let during = audio
        .collect("a-cam", Duration::from_secs(1), Duration::from_secs(2))
        .await;
    let loud = during.iter().filter(|s| s.unsigned_abs() > 1000).count();
    assert!(loud < 4_800, "{loud} loud samples while muted");
    assert_eq!(
        b.engine
            .mute_play_stream_audio("nope", true)
            .map_err(|e| e.code()),
        Err(ErrorCode::NotPlaying)
    );
    a.engine.destroy().await;
    b.engine.destroy().await;
}
