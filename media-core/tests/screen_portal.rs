//! The Wayland share against a mock of xdg-desktop-portal's ScreenCast
//! interface on a private session bus (a `dbus-daemon` each test starts):
//! the real D-Bus calls, signals and file-descriptor passing through ashpd;
//! the mock stands in for the portal and its dialog (no compositor runs
//! here).
//!
//! - a share returns the node id and a restore token; a second share with
//!   that token passes it back, is not asked about again, and gets a new
//!   one; `close()` and dropping the capture both close the session;
//! - the user cancelling the dialog (response 1) is PermissionDenied;
//! - the portal closing the session ends the capture with SourceGone;
//! - with a headless PipeWire daemon (and wireplumber) and a video source
//!   node on it, the pictures that node sends reach the capture.
#![cfg(feature = "wayland")]

#[path = "screen_portal/mock_portal.rs"]
mod mock_portal;
#[path = "screen_portal/pipewire_daemon.rs"]
mod pipewire_daemon;

use media_core::capture::screen::portal::negotiation::{
    CURSOR_EMBEDDED, SOURCE_MONITOR, SOURCE_WINDOW,
};
use media_core::capture::screen::portal::{
    PersistMode, PortalCapture, PortalError, PortalEvent, ShareRequest,
};
use media_core::capture::screen::ScreenError;
use media_core::frame::VideoFrame;
use mock_portal::{MockPortal, PrivateBus, PICKED_NODE};
use pipewire_daemon::{PipeWireDaemon, VideoSource};
use protocol::ErrorCode;
use std::time::{Duration, Instant};

/// How long any one step may take here (busy 2-core CI).
const STEP: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_returns_node_and_token_and_the_token_skips_the_dialog() {
    let Some(bus) = PrivateBus::start("a_share_returns_node_and_token") else {
        return;
    };
    let portal = MockPortal::serve(&bus).await;

    let first = open(&bus, ShareRequest::default())
        .await
        .expect("first share");
    assert_eq!(first.node_id(), PICKED_NODE);
    let token = first.restore_token().expect("a restore token").to_owned();
    first.close().await;
    {
        let state = portal.state.lock().expect("mock state");
        assert_eq!(state.dialogs, 1, "the first share asks the user");
        let select = state.selects.last().expect("SelectSources was called");
        assert_eq!(select.types, SOURCE_MONITOR | SOURCE_WINDOW);
        assert_eq!(select.cursor_mode, Some(CURSOR_EMBEDDED));
        assert_eq!(
            select.persist_mode,
            Some(PersistMode::UntilRevoked.as_u32())
        );
        assert_eq!(select.restore_token, None);
        assert!(!select.multiple);
        assert_eq!(state.closed_by_client, 1, "close() closes the session");
    }

    let second = open(
        &bus,
        ShareRequest {
            restore_token: Some(token.clone()),
            ..ShareRequest::default()
        },
    )
    .await
    .expect("restored share");
    assert_eq!(second.node_id(), PICKED_NODE);
    let new_token = second.restore_token().expect("a new token").to_owned();
    assert_ne!(
        new_token, token,
        "tokens are single-use: a new one replaces it"
    );
    drop(second);
    let deadline = Instant::now() + STEP;
    while portal.state.lock().expect("mock state").closed_by_client < 2 {
        assert!(
            Instant::now() < deadline,
            "dropping a capture closes its session"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let state = portal.state.lock().expect("mock state");
    assert_eq!(
        state
            .selects
            .last()
            .and_then(|s| s.restore_token.as_deref()),
        Some(token.as_str()),
        "the token is passed back in SelectSources"
    );
    assert_eq!(state.dialogs, 1, "a restored share does not ask again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_the_dialog_is_permission_denied() {
    let Some(bus) = PrivateBus::start("cancelling_the_dialog_is_permission_denied") else {
        return;
    };
    let portal = MockPortal::serve(&bus).await;
    portal.state.lock().expect("mock state").cancel = true;
    let err = open(&bus, ShareRequest::default())
        .await
        .expect_err("the user cancelled");
    assert!(matches!(err, PortalError::PermissionDenied), "{err}");
    assert_eq!(err.code(), ErrorCode::PermissionDenied);
    assert_eq!(err.code().code(), 1_006_008);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_session_ends_the_capture_with_source_gone() {
    let Some(bus) = PrivateBus::start("a_closed_session_ends_the_capture") else {
        return;
    };
    let portal = MockPortal::serve(&bus).await;
    let mut capture = open(&bus, ShareRequest::default()).await.expect("share");
    assert!(
        matches!(capture.capture(), Err(ScreenError::NotVisible)),
        "no picture before the stream sends one"
    );
    portal.close_sessions().await;
    let event = tokio::time::timeout(STEP, capture.next_event())
        .await
        .expect("an event within the step")
        .expect("the capture is alive");
    let PortalEvent::SourceGone { reason } = event;
    assert!(reason.contains("session was closed"), "{reason}");
    assert!(matches!(capture.capture(), Err(ScreenError::SourceGone)));
    assert!(matches!(capture.size(), Err(ScreenError::SourceGone)));
}

/// Opens a share on the private bus, within [`STEP`].
async fn open(bus: &PrivateBus, request: ShareRequest) -> Result<PortalCapture, PortalError> {
    let connection = zbus::connection::Builder::address(bus.address.as_str())
        .expect("bus address")
        .build()
        .await
        .expect("client connection");
    tokio::time::timeout(STEP, PortalCapture::open(Some(connection), request))
        .await
        .expect("the handshake ends within the step")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pictures_from_a_pipewire_node_reach_the_capture() {
    const TEST: &str = "pictures_from_a_pipewire_node_reach_the_capture";
    let Some(bus) = PrivateBus::start(TEST) else {
        return;
    };
    let Some(daemon) = PipeWireDaemon::start(TEST, &bus.address) else {
        return;
    };
    // Left half orange, right half teal (B, G, R).
    let (left, right) = ([40u8, 140, 230], [170u8, 160, 20]);
    let socket = daemon.socket();
    let source =
        tokio::task::spawn_blocking(move || VideoSource::start(&socket, 320, 240, left, right))
            .await
            .expect("source thread");
    let portal = MockPortal::serve(&bus).await;
    {
        let mut state = portal.state.lock().expect("mock state");
        state.node = Some(source.node_id);
        state.pipewire = Some(daemon.socket());
    }
    let mut capture = open(&bus, ShareRequest::default()).await.expect("share");
    assert_eq!(capture.node_id(), source.node_id);

    let deadline = Instant::now() + STEP;
    let frame = loop {
        match capture.capture() {
            Ok(frame) => break frame,
            Err(ScreenError::NotVisible) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("no picture from the PipeWire node within {STEP:?}: {e}"),
        }
    };
    assert_eq!((frame.width, frame.height), (320, 240));
    assert_eq!(capture.size().expect("size"), (320, 240));
    let luma = |x: usize, y: usize| frame.y()[y * 320 + x];
    let (want_left, want_right) = (luma_of(left), luma_of(right));
    for y in [0, 120, 239] {
        assert!(
            luma(10, y).abs_diff(want_left) <= 1,
            "left luma {} vs {want_left}",
            luma(10, y)
        );
        assert!(
            luma(310, y).abs_diff(want_right) <= 1,
            "right luma {} vs {want_right}",
            luma(310, y)
        );
    }

    portal.close_sessions().await;
    let event = tokio::time::timeout(STEP, capture.next_event())
        .await
        .expect("an event within the step")
        .expect("the capture is alive");
    assert!(matches!(event, PortalEvent::SourceGone { .. }));
    assert!(matches!(capture.capture(), Err(ScreenError::SourceGone)));
    drop(capture);
    drop(source);
}

/// The I420 luma of a BGR colour, by the SDK's own RGBA conversion.
fn luma_of([b, g, r]: [u8; 3]) -> u8 {
    let rgba = [r, g, b, 255].repeat(4);
    VideoFrame::from_rgba(2, 2, &rgba).expect("2x2 frame").y()[0]
}
