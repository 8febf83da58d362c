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

    let all = ScreenSourceQuery {
        display: display.map(Into::into),
        ..ScreenSourceQuery::default()
    };
    let sources = list_sources(&all).unwrap();
    assert_eq!(sources[0].target, ScreenTarget::Screen(0));
    assert_eq!((sources[0].width, sources[0].height), (640, 480));
    let listed = sources
        .iter()
        .find(|s| s.target == ScreenTarget::Window(window.id()))
        .expect("the window is listed");
    assert_eq!(
        (
            listed.name.as_str(),
            listed.width,
            listed.height,
            listed.pid
        ),
        ("Shared code", 200, 120, None)
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

/// Sets a window's `_NET_WM_PID` as its owner would.
fn set_pid(display: &str, window: u32, pid: u32) {
    use x11rb::protocol::xproto::{AtomEnum, ConnectionExt, PropMode};
    use x11rb::wrapper::ConnectionExt as _;
    let (conn, _) = x11rb::rust_connection::RustConnection::connect(Some(display)).unwrap();
    let atom = conn
        .intern_atom(false, b"_NET_WM_PID")
        .unwrap()
        .reply()
        .unwrap()
        .atom;
    conn.change_property32(PropMode::REPLACE, window, atom, AtomEnum::CARDINAL, &[pid])
        .unwrap();
    conn.sync().unwrap();
}

#[test]
fn the_source_list_leaves_out_the_callers_windows_and_gives_thumbnails() {
    let Some(server) = xvfb("the_source_list_leaves_out_the_callers_windows") else {
        return;
    };
    let display = server.display();
    let own = TestWindow::open(display, 0, 0, 120, 80, "Confer");
    let other = TestWindow::open(display, 200, 100, 400, 200, "Slides");
    let own_by_id = TestWindow::open(display, 10, 300, 50, 50, "Confer - picker");
    other.show_bgrx(&halves(400, 200));
    set_pid(display, own.id(), std::process::id());
    set_pid(display, other.id(), 1);
    let query = ScreenSourceQuery {
        display: Some(display.into()),
        exclude_pids: vec![std::process::id()],
        exclude_windows: vec![own_by_id.id()],
    };
    let listed: Vec<ScreenTarget> = list_sources(&query)
        .unwrap()
        .iter()
        .map(|s| s.target)
        .collect();
    assert_eq!(
        listed,
        vec![ScreenTarget::Screen(0), ScreenTarget::Window(other.id())]
    );
    let everything = list_sources(&ScreenSourceQuery {
        display: Some(display.into()),
        ..ScreenSourceQuery::default()
    })
    .unwrap();
    let own_listed = everything
        .iter()
        .find(|s| s.target == ScreenTarget::Window(own.id()))
        .expect("listed when not excluded");
    assert_eq!(own_listed.pid, Some(std::process::id()));

    // The window's thumbnail: half red, half blue, 400x200 fit into 100x100.
    let mut capture = ScreenCapture::open(Some(display), ScreenTarget::Window(other.id())).unwrap();
    let thumb = capture.thumbnail(100, 100).unwrap();
    assert_eq!((thumb.width, thumb.height), (100, 50));
    let mut reader = png::Decoder::new(std::io::Cursor::new(&thumb.png))
        .read_info()
        .unwrap();
    let mut rgb = vec![0; reader.output_buffer_size().unwrap()];
    reader.next_frame(&mut rgb).unwrap();
    let pixel = |x: usize, y: usize| &rgb[(y * 100 + x) * 3..][..3];
    assert_eq!(pixel(10, 25), &[255, 0, 0]);
    assert_eq!(pixel(90, 25), &[0, 0, 255]);
    // The whole screen: 640x480 into 160x160.
    let mut screen = ScreenCapture::open(Some(display), ScreenTarget::Screen(0)).unwrap();
    let thumb = screen.thumbnail(160, 160).unwrap();
    assert_eq!((thumb.width, thumb.height), (160, 120));
}

#[test]
fn shared_memory_gives_the_sockets_picture_and_follows_a_growing_window() {
    let Some(server) = xvfb("shared_memory_gives_the_sockets_picture") else {
        return;
    };
    let display = server.display();
    let window = TestWindow::open(display, 100, 60, 200, 120, "Shared code");
    window.show_bgrx(&halves(200, 120));
    let mut capture =
        ScreenCapture::open(Some(display), ScreenTarget::Window(window.id())).unwrap();
    assert!(capture.uses_shared_memory(), "Xvfb has MIT-SHM 1.2");
    let shared = capture.capture().unwrap();
    capture.set_shared_memory(false);
    assert!(!capture.uses_shared_memory());
    let sent = capture.capture().unwrap();
    assert_eq!((shared.width, shared.height), (200, 120));
    assert!(shared.data == sent.data, "the same pixels either way");

    // The window grows: a larger segment.
    capture.set_shared_memory(true);
    capture.capture().unwrap();
    {
        use x11rb::protocol::xproto::{ConfigureWindowAux, ConnectionExt as _};
        use x11rb::wrapper::ConnectionExt as _;
        let (conn, _) = x11rb::rust_connection::RustConnection::connect(Some(display)).unwrap();
        conn.configure_window(
            window.id(),
            &ConfigureWindowAux::new().width(400).height(300),
        )
        .unwrap();
        conn.sync().unwrap();
    }
    let grown = capture.capture().unwrap();
    assert!(capture.uses_shared_memory());
    assert_eq!((grown.width, grown.height), (400, 300));
}

#[test]
fn each_randr_monitor_is_a_source_captured_on_its_own() {
    use x11rb::connection::Connection as _;
    use x11rb::protocol::randr::{ConnectionExt as _, MonitorInfo};
    use x11rb::protocol::xproto::ConnectionExt as _;
    let Some(server) = xvfb("each_randr_monitor_is_a_source") else {
        return;
    };
    let window = TestWindow::open(server.display(), 0, 0, 640, 480, "halves");
    window.show_bgrx(&halves(640, 480));
    // Two monitors side by side, as `xrandr --setmonitor` makes them.
    let (conn, screen) =
        x11rb::rust_connection::RustConnection::connect(Some(server.display())).expect("connect");
    conn.randr_query_version(1, 5).unwrap().reply().unwrap();
    let root = conn.setup().roots[screen].root;
    let atom = |name: &str| {
        conn.intern_atom(false, name.as_bytes())
            .unwrap()
            .reply()
            .unwrap()
            .atom
    };
    let (left, right) = (atom("LEFT"), atom("RIGHT"));
    for (name, x) in [(left, 0), (right, 320)] {
        let monitor = MonitorInfo {
            name,
            primary: false,
            automatic: false,
            x,
            y: 0,
            width: 320,
            height: 480,
            width_in_millimeters: 100,
            height_in_millimeters: 150,
            outputs: vec![],
        };
        conn.randr_set_monitor(root, monitor)
            .unwrap()
            .check()
            .unwrap();
    }

    let display = Some(server.display());
    let sources = list_sources(&ScreenSourceQuery {
        display: display.map(Into::into),
        ..ScreenSourceQuery::default()
    })
    .unwrap();
    assert_eq!(sources[0].target, ScreenTarget::Screen(0));
    let listed = |name: u32| {
        sources
            .iter()
            .find(|s| s.target == ScreenTarget::Monitor(name))
            .unwrap_or_else(|| panic!("monitor {name} listed in {sources:?}"))
    };
    assert_eq!(listed(right).name, "Monitor RIGHT");
    assert_eq!((listed(right).width, listed(right).height), (320, 480));
    let window_at = sources
        .iter()
        .position(|s| s.target == ScreenTarget::Window(window.id()))
        .expect("the window is listed");
    let monitor_at = sources
        .iter()
        .position(|s| s.target == ScreenTarget::Monitor(left))
        .unwrap();
    assert!(monitor_at < window_at, "monitors before windows");

    for (name, luma) in [(left, RED_Y), (right, BLUE_Y)] {
        let mut capture = ScreenCapture::open(display, ScreenTarget::Monitor(name)).unwrap();
        assert_eq!(capture.size().unwrap(), (320, 480));
        for shared in [true, false] {
            capture.set_shared_memory(shared);
            let frame = capture.capture().unwrap();
            assert_eq!((frame.width, frame.height), (320, 480));
            for (x, y) in [(2, 2), (160, 240), (317, 477)] {
                assert_eq!(frame.y()[y * 320 + x], luma, "monitor {name} at {x},{y}");
            }
        }
    }

    let mut capture = ScreenCapture::open(display, ScreenTarget::Monitor(right)).unwrap();
    conn.randr_delete_monitor(root, right)
        .unwrap()
        .check()
        .unwrap();
    assert!(matches!(capture.capture(), Err(ScreenError::SourceGone)));
    assert!(matches!(capture.size(), Err(ScreenError::SourceGone)));
}
