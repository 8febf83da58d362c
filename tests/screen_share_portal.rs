//! A Wayland share through the SDK (issue 17): `start_screen_capture` with
//! [`ScreenTarget::Portal`] against the mock xdg-desktop-portal on a private
//! D-Bus daemon (media-core's `tests/screen_portal/`) and a real headless
//! PipeWire daemon with a video node standing in for the compositor's
//! screen-cast stream; published on the aux channel through the real server
//! on loopback and played by a second engine.
//!
//! Checked: the share asks the portal's dialog once and hands back its
//! restore token; the player decodes the node's picture (size and both
//! halves' luma); `stop` closes the portal session; a second share passes
//! the token back (the mock sees it) and is not asked again; the portal
//! closing the session gives `SourceGone` (event with `ScreenSourceGone`)
//! and stream Delete; a cancelled dialog is `PermissionDenied`.
//!
//! Skipped without `dbus-daemon`, `pipewire` or `wireplumber` (fails with
//! `CONFER_REQUIRE_ALL=1`).

// Shared with media-core's tests/screen_portal.rs; this test uses part.
#[allow(dead_code)]
#[path = "../media-core/tests/screen_portal/mock_portal.rs"]
mod mock_portal;
#[allow(dead_code)]
#[path = "../media-core/tests/screen_portal/pipewire_daemon.rs"]
mod pipewire_daemon;

use media_core::capture::screen::ScreenTarget;
use media_core::codec::content::ContentHint;
use media_core::frame::VideoFrame;
use media_core::render::{Canvas, FrameSink};
use media_core::{ErrorCode, ScreenCaptureConfig, ScreenShare, ScreenShareState};
use mock_portal::{MockPortal, PrivateBus};
use pipewire_daemon::{PipeWireDaemon, VideoSource};
use std::time::{Duration, Instant};
use test_support::{Peer, TestServer};

const TEST: &str = "screen_share_portal";
/// The node's picture.
const WIDTH: u32 = 320;
const HEIGHT: u32 = 240;
/// Left half orange, right half teal (B, G, R).
const LEFT: [u8; 3] = [40, 140, 230];
const RIGHT: [u8; 3] = [170, 160, 20];
/// How long any one step may take (busy 2-core CI, debug build).
const STEP: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_share_plays_restores_without_asking_and_ends_when_the_session_closes() {
    let Some(bus) = PrivateBus::start(TEST) else {
        return;
    };
    let Some(daemon) = PipeWireDaemon::start(TEST, &bus.address) else {
        return;
    };
    let socket = daemon.socket();
    let node = tokio::task::spawn_blocking(move || {
        VideoSource::start(&socket, WIDTH, HEIGHT, LEFT, RIGHT)
    })
    .await
    .expect("source thread");
    let portal = MockPortal::serve(&bus).await;
    {
        let mut state = portal.state.lock().expect("mock state");
        state.node = Some(node.node_id);
        state.pipewire = Some(daemon.socket());
    }
    let server = TestServer::start().await;
    let mut a = Peer::join(server.profile(), "portal-share", "a", false).await;
    let mut b = Peer::join(server.profile(), "portal-share", "b", false).await;

    // The first share: the dialog is shown, a token comes back.
    let clicked = Instant::now();
    let share = start(&a, &bus, None).expect("portal share started");
    let token = share.restore_token().expect("a restore token").to_owned();
    assert_eq!(portal.state.lock().expect("mock state").dialogs, 1);
    a.wait_share_state(ScreenShareState::Capturing, 0).await;
    a.publish_share("a-screen", &mut b).await;
    let sink = FrameSink::new();
    let mut rendered = sink.subscribe(64);
    b.engine
        .start_playing_stream("a-screen", Some(Canvas::sink(sink)))
        .expect("play accepted");
    let frame = tokio::time::timeout(STEP, rendered.recv())
        .await
        .expect("a picture within the step")
        .expect("the player renders");
    eprintln!(
        "portal share: first picture at the player {:.2} s after start_screen_capture",
        clicked.elapsed().as_secs_f64()
    );
    assert_eq!((frame.width, frame.height), (WIDTH, HEIGHT));
    let luma = |x: u32, y: u32| frame.data[(y * WIDTH + x) as usize];
    for y in [8, HEIGHT / 2, HEIGHT - 8] {
        for (x, colour) in [(16, LEFT), (WIDTH - 16, RIGHT)] {
            let want = luma_of(colour);
            assert!(
                luma(x, y).abs_diff(want) <= 4,
                "luma at {x},{y}: {} vs {want}",
                luma(x, y)
            );
        }
    }
    b.engine.stop_playing_stream("a-screen").expect("stop play");

    // Stop closes the portal session.
    tokio::task::spawn_blocking(move || share.stop())
        .await
        .expect("stop");
    a.wait_share_state(ScreenShareState::Stopped, 0).await;
    wait_until("stop closes the portal session", || {
        portal.state.lock().expect("mock state").closed_by_client == 1
    })
    .await;
    b.wait_stream_delete("stream Delete after stop").await;

    // The second share passes the token back and does not ask again.
    let mut share = start(&a, &bus, Some(token.clone())).expect("restored share");
    {
        let state = portal.state.lock().expect("mock state");
        let select = state.selects.last().expect("SelectSources");
        assert_eq!(select.restore_token.as_deref(), Some(token.as_str()));
        assert_eq!(state.dialogs, 1, "a restored share does not ask again");
    }
    let new_token = share.restore_token().expect("a new token");
    assert_ne!(new_token, token, "tokens are single-use");
    a.publish_share("a-screen", &mut b).await;

    // The compositor ends the session ("stop sharing").
    portal.close_sessions().await;
    let ended = tokio::time::timeout(STEP, share.changed())
        .await
        .expect("the share notices the session closing");
    assert_eq!(ended, ScreenShareState::SourceGone);
    a.wait_share_state(
        ScreenShareState::SourceGone,
        ErrorCode::ScreenSourceGone.code(),
    )
    .await;
    b.wait_stream_delete("stream Delete after the session closed")
        .await;
    tokio::task::spawn_blocking(move || share.stop())
        .await
        .expect("stop");

    // A cancelled dialog.
    portal.state.lock().expect("mock state").cancel = true;
    let err = start(&a, &bus, None).expect_err("the user cancelled");
    assert_eq!(err.code(), ErrorCode::PermissionDenied, "{err}");

    a.engine.destroy().await;
    b.engine.destroy().await;
    drop(node);
}

/// Starts a portal share on `bus` (blocks through the handshake).
fn start(
    peer: &Peer,
    bus: &PrivateBus,
    restore_token: Option<String>,
) -> Result<ScreenShare, media_core::capture::DeviceError> {
    peer.engine.start_screen_capture(ScreenCaptureConfig {
        target: ScreenTarget::Portal,
        display: Some(bus.address.clone()),
        hint: ContentHint::Text,
        restore_token,
    })
}

/// Polls `done` until it holds, within [`STEP`].
async fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + STEP;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {STEP:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The I420 luma of a BGR colour, by the SDK's own RGBA conversion.
fn luma_of([b, g, r]: [u8; 3]) -> u8 {
    let rgba = [r, g, b, 255].repeat(4);
    VideoFrame::from_rgba(2, 2, &rgba).expect("2x2 frame").y()[0]
}
