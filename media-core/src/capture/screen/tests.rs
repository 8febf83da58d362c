//! Capture under a private Xvfb (skipped without the `Xvfb` binary): a
//! window's pixels and its place on the screen, the source list, the end of
//! a capture when its window closes, and the paced channel source.

use super::*;
use crate::capture::source::{VideoSource, VideoSourceKind};
use std::time::Duration;
use test_support::xvfb::{TestWindow, Xvfb};

/// A window `w` x `h`: the left half red, the right half blue (BGRX).
fn halves(w: usize, h: usize) -> Vec<u8> {
    let mut data = Vec::with_capacity(w * h * 4);
    for _ in 0..h {
        for x in 0..w {
            data.extend_from_slice(if x < w / 2 {
                &[0, 0, 255, 0]
            } else {
                &[255, 0, 0, 0]
            });
        }
    }
    data
}

fn xvfb(test: &str) -> Option<Xvfb> {
    let server = Xvfb::start(640, 480);
    if server.is_none() {
        test_support::skip(test, "no Xvfb binary (apt-get install xvfb)");
    }
    server
}

/// Luma of red and blue in BT.601 limited range.
const RED_Y: u8 = 82;
const BLUE_Y: u8 = 41;

#[test]
fn captures_a_window_and_the_screen_then_ends_when_the_window_closes() {
    let Some(server) = xvfb("captures_a_window_and_the_screen") else {
        return;
    };
    let display = Some(server.display());
    let window = TestWindow::open(server.display(), 100, 60, 200, 120, "Shared code");
    window.show_bgrx(&halves(200, 120));

    let sources = list_sources(display).unwrap();
    assert_eq!(sources[0].target, ScreenTarget::Screen(0));
    assert_eq!((sources[0].width, sources[0].height), (640, 480));
    let listed = sources
        .iter()
        .find(|s| s.target == ScreenTarget::Window(window.id()))
        .expect("the window is listed");
    assert_eq!(
        (listed.name.as_str(), listed.width, listed.height),
        ("Shared code", 200, 120)
    );

    let mut capture = ScreenCapture::open(display, ScreenTarget::Window(window.id())).unwrap();
    let frame = capture.capture().unwrap();
    assert_eq!((frame.width, frame.height), (200, 120));
    assert_eq!(frame.y()[10 * 200 + 10], RED_Y);
    assert_eq!(frame.y()[10 * 200 + 190], BLUE_Y);
    assert_eq!(frame.v()[5 * 100 + 5], 240);

    let mut screen = ScreenCapture::open(display, ScreenTarget::Screen(0)).unwrap();
    let frame = screen.capture().unwrap();
    assert_eq!((frame.width, frame.height), (640, 480));
    assert_eq!(frame.y()[70 * 640 + 110], RED_Y);
    assert_eq!(frame.y()[70 * 640 + 290], BLUE_Y);
    assert_eq!(frame.y()[10 * 640 + 10], 16, "black root window");

    window.close();
    assert!(matches!(capture.capture(), Err(ScreenError::SourceGone)));
    assert!(screen.capture().is_ok(), "the screen is still there");
    assert!(matches!(
        ScreenCapture::open(display, ScreenTarget::Screen(3)),
        Err(ScreenError::SourceGone)
    ));
}

#[test]
fn draws_the_cursor_over_the_captured_picture() {
    let Some(server) = xvfb("draws_the_cursor_over_the_captured_picture") else {
        return;
    };
    let mut screen = ScreenCapture::open(Some(server.display()), ScreenTarget::Screen(0)).unwrap();
    assert!(screen.draws_cursor(), "Xvfb has XFixes");
    // Xvfb's default cursor (the X) sits at the screen's centre over the
    // black root window: some pixels around it are not black.
    let frame = screen.capture().unwrap();
    let around = (230..250).flat_map(|y| (310..330).map(move |x| y * 640 + x));
    assert!(around.map(|i| frame.y()[i]).any(|y| y > 16));
}

#[tokio::test]
async fn a_channel_source_follows_the_window_and_ends_with_it() {
    let Some(server) = xvfb("a_channel_source_follows_the_window_and_ends_with_it") else {
        return;
    };
    let window = TestWindow::open(server.display(), 0, 0, 322, 180, "Slides");
    window.show_bgrx(&halves(322, 180));
    let kind = VideoSourceKind::Screen {
        target: ScreenTarget::Window(window.id()),
        display: Some(server.display().into()),
        hint: crate::codec::content::ContentHint::Text,
    };
    let mut source = VideoSource::start(&kind, 640, 360, 30).unwrap();
    assert_eq!(source.size(), (322, 180));
    assert!(source.screen_content());
    let frame = tokio::time::timeout(Duration::from_secs(5), source.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((frame.width, frame.height, frame.y()[0]), (322, 180, RED_Y));
    window.close();
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while source.recv().await.is_some() {}
    })
    .await;
    assert!(ended.is_ok(), "the source ends when its window closes");
}
