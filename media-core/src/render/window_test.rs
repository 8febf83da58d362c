//! Window test: a real X11 window, a wgpu surface on it, an X screen grab.
//!
//! Run it under a virtual X server:
//!
//! ```sh
//! xvfb-run -a -s "-screen 0 1280x800x24" cargo test -p media-core --lib render::window_test
//! ```
//!
//! Without `DISPLAY` it prints a notice and passes (plain CI shells have no X
//! server; the Makefile runs it under `xvfb-run`). It needs a Vulkan or GL
//! driver for the X server's screen (mesa's lavapipe / llvmpipe do).
//!
//! Xlib is a C API, so this test is the one place in render/ with `unsafe`:
//! every call is on a display this test opened and a window it created.

#![allow(unsafe_code)]

use std::ffi::c_void;
use std::ptr::{self, NonNull};
use std::time::{Duration, Instant};

use raw_window_handle::{
    DisplayHandle, HandleError, HasDisplayHandle, HasWindowHandle, RawDisplayHandle,
    RawWindowHandle, WindowHandle, XlibDisplayHandle, XlibWindowHandle,
};
use x11_dl::xlib;

use crate::render::{Canvas, I420Planes, RawWindowTarget, RendererHandle, ViewMode};

/// Where the test window sits on the root window, and its first size.
const WINDOW_X: i32 = 40;
const WINDOW_Y: i32 = 60;
const WIDTH: u32 = 320;
const HEIGHT: u32 = 240;

/// The tests' windows would cover each other: one test on the screen at a time.
static SCREEN: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn lock_screen() -> std::sync::MutexGuard<'static, ()> {
    SCREEN
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[test]
fn renders_into_an_x11_window() {
    if std::env::var_os("DISPLAY").is_none() {
        test_support::skip(
            "renders_into_an_x11_window",
            "DISPLAY is not set. Run it under `xvfb-run -a -s \"-screen 0 1280x800x24\" \
             cargo test -p media-core --lib render::window_test`",
        );
        return;
    }
    let _screen = lock_screen();
    let window = X11Window::open(WINDOW_X, WINDOW_Y, WIDTH, HEIGHT);
    let grabber = X11Window::connect();
    let target = RawWindowTarget::new(window.clone_handles(), WIDTH, HEIGHT);
    let opening = Instant::now();
    let renderer = Canvas::window(target, ViewMode::AspectFit)
        .open()
        .expect("a window renderer on the Xvfb screen (needs mesa lavapipe or llvmpipe)");
    eprintln!(
        "window renderer on {}: opened in {} ms",
        renderer.stats().adapter,
        opening.elapsed().as_millis()
    );

    // A solid frame the window's size fills it.
    let magenta = [200, 40, 120];
    let frame = solid_i420(WIDTH, HEIGHT, magenta);
    renderer.push(&frame.planes()).unwrap();
    wait_rendered(&renderer, 1);
    // (Counts below are relative: a resize also redraws the current frame.)
    let center = (WINDOW_X + WIDTH as i32 / 2, WINDOW_Y + HEIGHT as i32 / 2);
    grabber.wait_for_pixel(center, magenta);
    grabber.wait_for_pixel((WINDOW_X + 2, WINDOW_Y + 2), magenta);

    // Wider window: the 4:3 frame is pillarboxed (AspectFit): 80 px bars.
    window.resize(480, HEIGHT);
    renderer.resize(480, HEIGHT);
    let green = [40, 200, 60];
    let drawn = *renderer.rendered().borrow();
    renderer
        .push(&solid_i420(WIDTH, HEIGHT, green).planes())
        .unwrap();
    wait_rendered(&renderer, drawn + 1);
    grabber.wait_for_pixel((WINDOW_X + 240, WINDOW_Y + 120), green);
    grabber.wait_for_pixel((WINDOW_X + 20, WINDOW_Y + 120), [0, 0, 0]);
    grabber.wait_for_pixel((WINDOW_X + 470, WINDOW_Y + 120), [0, 0, 0]);

    // Fill mode redraws the last frame without a new push: no more bars.
    let drawn = *renderer.rendered().borrow();
    renderer.set_view_mode(ViewMode::AspectFill);
    wait_rendered(&renderer, drawn + 1);
    grabber.wait_for_pixel((WINDOW_X + 20, WINDOW_Y + 120), green);

    // Hidden: pushes are kept, not drawn.
    renderer.set_visible(false);
    // Let a draw already under way finish before counting.
    std::thread::sleep(Duration::from_millis(100));
    let drawn = *renderer.rendered().borrow();
    renderer
        .push(&solid_i420(WIDTH, HEIGHT, [0, 0, 255]).planes())
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        *renderer.rendered().borrow(),
        drawn,
        "a hidden renderer drew"
    );
    renderer.set_visible(true);
    wait_rendered(&renderer, drawn + 1);
    grabber.wait_for_pixel((WINDOW_X + 240, WINDOW_Y + 120), [0, 0, 255]);

    // Frames pushed faster than drawn: the newest wins, nothing blocks.
    let started = Instant::now();
    for i in 0..30u8 {
        renderer
            .push(&solid_i420(WIDTH, HEIGHT, [i * 8, 0, 0]).planes())
            .unwrap();
    }
    assert!(started.elapsed() < Duration::from_secs(1), "push blocked");
    let last = [29 * 8, 0, 0];
    grabber.wait_for_pixel((WINDOW_X + 240, WINDOW_Y + 120), last);

    let stats = renderer.stats();
    eprintln!(
        "window renderer: {} frames rendered, {} dropped, avg submit {:.2} ms, {} surface configurations",
        stats.frames_rendered,
        stats.frames_dropped,
        stats.avg_submit_time.as_secs_f64() * 1e3,
        stats.surface_reconfigurations
    );
    assert!(stats.frames_rendered >= 5 && stats.errors == 0, "{stats:?}");
    assert!(stats.surface_reconfigurations >= 2, "{stats:?}");
    renderer.close();
    assert!(renderer.is_closed());
}

/// Sixty 720p frames pushed one at a time, each presented in a real
/// window before the next (a stream's pacing). Its cost is a bench figure
/// (`make bench-app`: the app's CPU with one 720p tile), not a test's.
#[test]
fn presents_paced_720p_frames_in_a_window() {
    if std::env::var_os("DISPLAY").is_none() {
        test_support::skip(
            "presents_paced_720p_frames_in_a_window",
            "DISPLAY is not set (run under xvfb-run)",
        );
        return;
    }
    let _screen = lock_screen();
    let window = X11Window::open(0, 0, 1280, 720);
    let renderer = Canvas::window(
        RawWindowTarget::new(window.clone_handles(), 1280, 720),
        ViewMode::AspectFit,
    )
    .open()
    .expect("a window renderer");
    let frames: Vec<_> = (0..4u8)
        .map(|i| solid_i420(1280, 720, [i * 60, 90, 30]))
        .collect();
    for i in 0..60u64 {
        let frame = &frames[(i % 4) as usize];
        renderer.push(&frame.planes()).unwrap();
        wait_rendered(&renderer, i + 1);
    }
    assert_eq!(renderer.stats().frames_dropped, 0, "{:?}", renderer.stats());
    drop(renderer);
}

fn wait_rendered(renderer: &RendererHandle, frames: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let rendered = renderer.rendered();
    while *rendered.borrow() < frames {
        assert!(
            Instant::now() < deadline,
            "only {} of {frames} frames rendered: {:?}",
            *rendered.borrow(),
            renderer.stats()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

struct I420 {
    width: u32,
    height: u32,
    y: Vec<u8>,
    u: Vec<u8>,
    v: Vec<u8>,
}

impl I420 {
    fn planes(&self) -> I420Planes<'_> {
        I420Planes::packed(self.width, self.height, &self.y, &self.u, &self.v, 0).unwrap()
    }
}

/// A frame of one colour, converted with BT.601 limited range.
fn solid_i420(width: u32, height: u32, rgb: [u8; 3]) -> I420 {
    let [r, g, b] = rgb.map(|c| f64::from(c) / 255.0);
    let y = 16.0 + 65.481 * r + 128.553 * g + 24.966 * b;
    let u = 128.0 - 37.797 * r - 74.203 * g + 112.0 * b;
    let v = 128.0 + 112.0 * r - 93.786 * g - 18.214 * b;
    let [y, u, v] = [y, u, v].map(|c| c.round().clamp(0.0, 255.0) as u8);
    let chroma = (width.div_ceil(2) * height.div_ceil(2)) as usize;
    I420 {
        width,
        height,
        y: vec![y; (width * height) as usize],
        u: vec![u; chroma],
        v: vec![v; chroma],
    }
}

/// An Xlib connection, and optionally a mapped window on it. Closed on drop.
struct X11Window {
    xlib: xlib::Xlib,
    display: *mut xlib::Display,
    screen: i32,
    window: xlib::Window,
}

// SAFETY: Xlib is initialised with XInitThreads before the first connection,
// so the display may be used from the render thread as well.
unsafe impl Send for X11Window {}
unsafe impl Sync for X11Window {}

impl X11Window {
    /// A connection without a window (for screen grabs).
    fn connect() -> Self {
        let xlib = xlib::Xlib::open().expect("libX11 (apt-get install libx11-6)");
        // SAFETY: plain Xlib calls; a null name means $DISPLAY.
        unsafe {
            (xlib.XInitThreads)();
            let display = (xlib.XOpenDisplay)(ptr::null());
            assert!(
                !display.is_null(),
                "XOpenDisplay failed for DISPLAY={:?}",
                std::env::var("DISPLAY")
            );
            let screen = (xlib.XDefaultScreen)(display);
            X11Window {
                xlib,
                display,
                screen,
                window: 0,
            }
        }
    }

    /// A mapped top-level window at (`x`, `y`) on its own connection.
    fn open(x: i32, y: i32, width: u32, height: u32) -> std::sync::Arc<Self> {
        let mut conn = Self::connect();
        // SAFETY: the display is open; the window is ours.
        unsafe {
            let xl = &conn.xlib;
            let root = (xl.XRootWindow)(conn.display, conn.screen);
            let black = (xl.XBlackPixel)(conn.display, conn.screen);
            conn.window =
                (xl.XCreateSimpleWindow)(conn.display, root, x, y, width, height, 0, black, black);
            assert!(conn.window != 0, "XCreateSimpleWindow failed");
            (xl.XMapRaised)(conn.display, conn.window);
            (xl.XSync)(conn.display, xlib::False);
        }
        std::sync::Arc::new(conn)
    }

    fn resize(&self, width: u32, height: u32) {
        // SAFETY: our display and window.
        unsafe {
            (self.xlib.XResizeWindow)(self.display, self.window, width, height);
            (self.xlib.XSync)(self.display, xlib::False);
        }
    }

    /// The root window's pixel at (`x`, `y`) as RGB.
    fn pixel(&self, (x, y): (i32, i32)) -> [u8; 3] {
        // SAFETY: our display; the image is checked for null and destroyed.
        unsafe {
            let root = (self.xlib.XRootWindow)(self.display, self.screen);
            let image = (self.xlib.XGetImage)(self.display, root, x, y, 1, 1, !0, xlib::ZPixmap);
            assert!(!image.is_null(), "XGetImage failed");
            let pixel = (self.xlib.XGetPixel)(image, 0, 0);
            let masks = [(*image).red_mask, (*image).green_mask, (*image).blue_mask];
            (self.xlib.XDestroyImage)(image);
            masks.map(|mask| ((pixel & mask) >> mask.trailing_zeros()) as u8)
        }
    }

    /// Waits (up to 5 s: presentation is asynchronous) for the pixel at
    /// `at` to show `want` within a small tolerance.
    #[track_caller]
    fn wait_for_pixel(&self, at: (i32, i32), want: [u8; 3]) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let got = self.pixel(at);
            let close = got
                .iter()
                .zip(want)
                .all(|(&g, w)| (i32::from(g) - i32::from(w)).abs() <= 6);
            if close {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "screen pixel {at:?} is {got:?}, want {want:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The window as a handle owner the renderer can keep alive.
    fn clone_handles(self: &std::sync::Arc<Self>) -> std::sync::Arc<Self> {
        std::sync::Arc::clone(self)
    }
}

impl HasWindowHandle for X11Window {
    fn window_handle(&self) -> Result<WindowHandle<'_>, HandleError> {
        let raw = RawWindowHandle::Xlib(XlibWindowHandle::new(self.window));
        // SAFETY: the window lives until this value is dropped.
        Ok(unsafe { WindowHandle::borrow_raw(raw) })
    }
}

impl HasDisplayHandle for X11Window {
    fn display_handle(&self) -> Result<DisplayHandle<'_>, HandleError> {
        let display = NonNull::new(self.display.cast::<c_void>());
        let raw = RawDisplayHandle::Xlib(XlibDisplayHandle::new(display, self.screen));
        // SAFETY: the connection stays open until this value is dropped.
        Ok(unsafe { DisplayHandle::borrow_raw(raw) })
    }
}

impl Drop for X11Window {
    fn drop(&mut self) {
        // SAFETY: our display and window; nothing uses them after this.
        unsafe {
            if self.window != 0 {
                (self.xlib.XDestroyWindow)(self.display, self.window);
            }
            (self.xlib.XCloseDisplay)(self.display);
        }
    }
}
