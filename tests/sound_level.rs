//! The sound level monitor through the real SFU on loopback: a publisher's
//! tone is measured where it is captured (`CapturedSoundLevelUpdate`, muted
//! or not) and where it is played (`RemoteSoundLevelUpdate`, which falls to
//! silence once nothing is sent); the monitor reports before login too and
//! reports nothing once stopped. Timing only as generous timeouts.

use media_core::{Event, PublishChannel};
use std::time::Duration;
use test_support::{one_way_call, Peer, TestServer};

/// The monitor's interval here (the shortest allowed).
const INTERVAL: Duration = Duration::from_millis(100);
/// The -12 dBFS test tone measures 75; this is well below, well above silence.
const LOUD: f32 = 40.0;
/// A level this low is silence (nothing received).
const QUIET: f32 = 5.0;

/// The level `e` reports for the local capture.
fn captured(e: &Event) -> Option<f32> {
    match e {
        Event::CapturedSoundLevelUpdate { level } => Some(*level),
        _ => None,
    }
}

/// The level `e` reports for played stream `stream_id`.
fn remote(e: &Event, stream_id: &str) -> Option<f32> {
    match e {
        Event::RemoteSoundLevelUpdate { levels } => levels.get(stream_id).copied(),
        _ => None,
    }
}

/// Waits for a captured level for which `pred` holds; returns the event.
async fn wait_captured(peer: &mut Peer, what: &str, pred: impl Fn(f32) -> bool) -> Event {
    peer.wait_for(what, |e| captured(e).is_some_and(&pred))
        .await
}

/// Waits for a level of `stream_id` for which `pred` holds; returns the event.
async fn wait_remote(
    peer: &mut Peer,
    stream_id: &str,
    what: &str,
    pred: impl Fn(f32) -> bool,
) -> Event {
    peer.wait_for(what, |e| remote(e, stream_id).is_some_and(&pred))
        .await
}

fn is_level(e: &Event) -> bool {
    matches!(
        e,
        Event::CapturedSoundLevelUpdate { .. } | Event::RemoteSoundLevelUpdate { .. }
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn levels_follow_the_tone_captured_and_received() {
    let server = TestServer::start().await;
    let (mut a, mut b, _video) = one_way_call(&server, "level-room").await;
    a.engine.start_sound_level_monitor(INTERVAL);
    b.engine.start_sound_level_monitor(INTERVAL);

    // The tone, where it is captured and where it is played.
    let e = wait_captured(&mut a, "a captured level > 40", |l| l > LOUD).await;
    println!("{}", serde_json::to_string(&e).unwrap());
    let e = wait_remote(&mut b, "a-cam", "b's a-cam level > 40", |l| l > LOUD).await;
    println!("{}", serde_json::to_string(&e).unwrap());

    // Stream audio muted: nothing is received any more.
    a.engine
        .mute_publish_stream_audio(true, PublishChannel::Main);
    let e = wait_remote(&mut b, "a-cam", "b's a-cam level < 5 (muted)", |l| {
        l < QUIET
    })
    .await;
    println!("{}", serde_json::to_string(&e).unwrap());
    a.engine
        .mute_publish_stream_audio(false, PublishChannel::Main);
    wait_remote(&mut b, "a-cam", "b's a-cam level > 40 (unmuted)", |l| {
        l > LOUD
    })
    .await;

    // Microphone muted: captured (the "you are muted" hint), not sent.
    a.engine.mute_microphone(true);
    wait_remote(&mut b, "a-cam", "b's a-cam level < 5 (mic muted)", |l| {
        l < QUIET
    })
    .await;
    // Reports queued before the mute are skipped; the next ten are after it.
    a.collect_for(Duration::from_millis(50)).await;
    for i in 0..10 {
        let e = wait_captured(&mut a, "a captured level", |_| true).await;
        let level = captured(&e).unwrap_or_default();
        assert!(level > LOUD, "report {i} with the mic muted: {level}");
    }

    // Stopped: nothing more (what was under way when stopping aside).
    a.engine.stop_sound_level_monitor();
    b.engine.stop_sound_level_monitor();
    a.collect_for(INTERVAL).await;
    b.collect_for(INTERVAL).await;
    let after_a = a.collect_for(Duration::from_secs(1)).await;
    let after_b = b.collect_for(Duration::ZERO).await;
    for e in after_a.iter().chain(&after_b) {
        assert!(!is_level(e), "a level event after stop: {e:?}");
    }

    a.engine.destroy().await;
    b.engine.destroy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_reports_before_login() {
    let server = TestServer::start().await;
    // Not logged in and capturing nothing: level 0 every interval.
    let mut c = Peer::create(server.profile(), "c");
    c.engine.start_sound_level_monitor(Duration::ZERO);
    for _ in 0..3 {
        wait_captured(&mut c, "captured level 0 before login", |l| l == 0.0).await;
    }
    assert!(
        !c.log
            .iter()
            .any(|e| matches!(e, Event::RemoteSoundLevelUpdate { .. })),
        "remote levels with nothing played: {:#?}",
        c.log
    );
    c.engine.stop_sound_level_monitor();
    c.engine.destroy().await;
}
