//! Offscreen GPU tests: known I420 frames in, RGBA read back, colours checked.
//!
//! They need a GPU adapter; a software one is enough (mesa's lavapipe, from
//! the `mesa-vulkan-drivers` package, which `make test` installs).

use std::sync::Mutex;
use std::time::Instant;

use protocol::ErrorCode;

use super::*;

/// An RGB colour as 8-bit components.
type Rgb = [u8; 3];

const RED: Rgb = [255, 0, 0];
const GREEN: Rgb = [0, 255, 0];
const BLUE: Rgb = [0, 0, 255];
const BLACK: Rgb = [0, 0, 0];
/// Per-channel tolerance: 8-bit YUV rounding plus filtering.
const TOLERANCE: i32 = 6;

/// Runs `f` with the renderer shared by all tests (device creation on
/// llvmpipe takes a while), one test at a time.
fn with_renderer<T>(f: impl FnOnce(&mut GpuRenderer) -> T) -> T {
    static RENDERER: Mutex<Option<GpuRenderer>> = Mutex::new(None);
    let mut guard = RENDERER.lock().unwrap_or_else(|p| p.into_inner());
    let renderer = guard.get_or_insert_with(|| {
        let renderer = GpuRenderer::offscreen().unwrap_or_else(|e| {
            panic!("{e}: the render tests need a GPU adapter; a software one is enough (apt-get install mesa-vulkan-drivers)")
        });
        eprintln!("render tests on {}", renderer.stats().adapter);
        renderer
    });
    f(renderer)
}

/// BT.601 limited-range YUV of an RGB colour.
fn yuv(rgb: Rgb) -> [u8; 3] {
    let [r, g, b] = rgb.map(|c| f64::from(c) / 255.0);
    let y = 16.0 + 65.481 * r + 128.553 * g + 24.966 * b;
    let u = 128.0 - 37.797 * r - 74.203 * g + 112.0 * b;
    let v = 128.0 + 112.0 * r - 93.786 * g - 18.214 * b;
    [y, u, v].map(|c| c.round().clamp(0.0, 255.0) as u8)
}

/// A packed I420 frame whose pixel colours come from `color_at(x, y)`
/// (chroma taken at the top-left pixel of each 2x2 block).
struct TestFrame {
    width: u32,
    height: u32,
    y: Vec<u8>,
    u: Vec<u8>,
    v: Vec<u8>,
}

impl TestFrame {
    fn new(width: u32, height: u32, color_at: impl Fn(u32, u32) -> Rgb) -> Self {
        let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
        let mut frame = TestFrame {
            width,
            height,
            y: Vec::new(),
            u: Vec::new(),
            v: Vec::new(),
        };
        for row in 0..height {
            for col in 0..width {
                frame.y.push(yuv(color_at(col, row))[0]);
            }
        }
        for row in 0..ch {
            for col in 0..cw {
                let [_, u, v] = yuv(color_at(col * 2, row * 2));
                frame.u.push(u);
                frame.v.push(v);
            }
        }
        frame
    }

    fn solid(width: u32, height: u32, rgb: Rgb) -> Self {
        Self::new(width, height, |_, _| rgb)
    }

    fn planes(&self) -> I420Planes<'_> {
        I420Planes::packed(self.width, self.height, &self.y, &self.u, &self.v, 0).unwrap()
    }
}

/// The RGBA image that came back.
struct Image {
    width: u32,
    rgba: Vec<u8>,
}

impl Image {
    fn render(frame: &TestFrame, width: u32, height: u32, mode: ViewMode, mirror: bool) -> Self {
        let rgba =
            with_renderer(|r| r.render_to_rgba(&frame.planes(), width, height, mode, mirror))
                .unwrap();
        assert_eq!(rgba.len(), (width * height * 4) as usize);
        Image { width, rgba }
    }

    /// [`Image::render`] of a solid `(width, height, color)` frame, not mirrored.
    fn solid(frame: (u32, u32, Rgb), width: u32, height: u32, mode: ViewMode) -> Self {
        let (w, h, color) = frame;
        Self::render(&TestFrame::solid(w, h, color), width, height, mode, false)
    }

    fn at(&self, x: u32, y: u32) -> Rgb {
        let i = ((y * self.width + x) * 4) as usize;
        assert_eq!(self.rgba[i + 3], 255, "alpha at ({x}, {y})");
        [self.rgba[i], self.rgba[i + 1], self.rgba[i + 2]]
    }

    #[track_caller]
    fn assert_color(&self, x: u32, y: u32, want: Rgb) {
        let got = self.at(x, y);
        let close = got
            .iter()
            .zip(want)
            .all(|(&g, w)| (i32::from(g) - i32::from(w)).abs() <= TOLERANCE);
        assert!(close, "pixel ({x}, {y}) is {got:?}, want {want:?}");
    }
}

#[test]
fn solid_colors_convert_bt601_limited_range() {
    for rgb in [
        RED,
        GREEN,
        BLUE,
        BLACK,
        [255, 255, 255],
        [128, 128, 128],
        [200, 40, 120],
    ] {
        let image = Image::solid((64, 48, rgb), 64, 48, ViewMode::ScaleToFill);
        for (x, y) in [(0, 0), (31, 20), (63, 47), (10, 40)] {
            image.assert_color(x, y, rgb);
        }
    }
}

#[test]
fn split_frame_keeps_sides_and_mirror_swaps_them() {
    let split = TestFrame::new(64, 32, |x, _| if x < 32 { RED } else { BLUE });
    let plain = Image::render(&split, 64, 32, ViewMode::ScaleToFill, false);
    let mirrored = Image::render(&split, 64, 32, ViewMode::ScaleToFill, true);
    for y in [0, 16, 31] {
        for x in [0, 10, 28] {
            plain.assert_color(x, y, RED);
            mirrored.assert_color(x, y, BLUE);
        }
        for x in [36, 50, 63] {
            plain.assert_color(x, y, BLUE);
            mirrored.assert_color(x, y, RED);
        }
    }
    // Scaled up 2x the halves stay put.
    let big = Image::render(&split, 128, 64, ViewMode::ScaleToFill, false);
    big.assert_color(20, 30, RED);
    big.assert_color(100, 30, BLUE);
}

#[test]
fn aspect_fit_letterboxes_with_black_bars() {
    // 2:1 video in a square: 32 rows of picture centred, 16 black rows above and below.
    let wide = Image::solid((64, 32, GREEN), 64, 64, ViewMode::AspectFit);
    for x in [0, 32, 63] {
        for y in 0..16 {
            wide.assert_color(x, y, BLACK);
        }
        for y in 16..48 {
            wide.assert_color(x, y, GREEN);
        }
        for y in 48..64 {
            wide.assert_color(x, y, BLACK);
        }
    }
    // 1:2 video in a square: pillarbox.
    let tall = Image::solid((32, 64, RED), 64, 64, ViewMode::AspectFit);
    for y in [0, 32, 63] {
        tall.assert_color(15, y, BLACK);
        tall.assert_color(16, y, RED);
        tall.assert_color(47, y, RED);
        tall.assert_color(48, y, BLACK);
    }
    // Same aspect: no bars.
    let same = Image::solid((64, 32, BLUE), 128, 64, ViewMode::AspectFit);
    same.assert_color(0, 0, BLUE);
    same.assert_color(127, 63, BLUE);
}

#[test]
fn aspect_fill_crops_and_scale_to_fill_stretches() {
    // Green | red | blue stripes (16 | 32 | 16 px) in a 64x32 frame.
    let stripes = TestFrame::new(64, 32, |x, _| match x {
        0..16 => GREEN,
        16..48 => RED,
        _ => BLUE,
    });
    // A square output keeps the middle half of the width: only red.
    let fill = Image::render(&stripes, 32, 32, ViewMode::AspectFill, false);
    for y in [0, 16, 31] {
        for x in [2, 16, 29] {
            fill.assert_color(x, y, RED);
        }
    }
    // Stretched, all three stripes show, no bars.
    let stretch = Image::render(&stripes, 32, 32, ViewMode::ScaleToFill, false);
    stretch.assert_color(2, 0, GREEN);
    stretch.assert_color(16, 16, RED);
    stretch.assert_color(29, 31, BLUE);
    // Fill never shows black, fit does.
    let fit = Image::render(&stripes, 32, 32, ViewMode::AspectFit, false);
    fit.assert_color(16, 2, BLACK);
    fit.assert_color(2, 16, GREEN);
}

#[test]
fn odd_sizes_strided_planes_and_size_changes() {
    let color = [30, 160, 220];
    // 33x17 with padded rows: chroma is 17x9.
    let [y, u, v] = yuv(color);
    let (y_stride, uv_stride) = (40, 24);
    let y_plane = vec![y; y_stride * 17];
    let (u_plane, v_plane) = (vec![u; uv_stride * 9], vec![v; uv_stride * 9]);
    let planes =
        I420Planes::new(33, 17, &y_plane, &u_plane, &v_plane, y_stride, uv_stride, 0).unwrap();
    let rgba =
        with_renderer(|r| r.render_to_rgba(&planes, 33, 17, ViewMode::ScaleToFill, false)).unwrap();
    let image = Image { width: 33, rgba };
    image.assert_color(0, 0, color);
    image.assert_color(32, 16, color);
    // Changing the frame size re-creates the textures; going back works too.
    for (w, h) in [(16, 16), (48, 24), (16, 16)] {
        let image = Image::solid((w, h, GREEN), 20, 10, ViewMode::ScaleToFill);
        image.assert_color(10, 5, GREEN);
    }
}

#[test]
fn bad_frames_are_errors_not_panics() {
    let (y, c) = (vec![0u8; 10], vec![0u8; 1]);
    let short = I420Planes {
        width: 4,
        height: 4,
        y: &y,
        u: &c,
        v: &c,
        y_stride: 4,
        uv_stride: 2,
        capture_time_us: 0,
    };
    let err =
        with_renderer(|r| r.render_to_rgba(&short, 8, 8, ViewMode::AspectFit, false)).unwrap_err();
    assert!(matches!(err, RenderError::InvalidFrame(_)), "{err}");
    assert_eq!(err.code(), ErrorCode::InvalidFrame);
    let frame = TestFrame::solid(4, 4, RED);
    let err =
        with_renderer(|r| r.render_to_rgba(&frame.planes(), 0, 8, ViewMode::AspectFit, false))
            .unwrap_err();
    assert!(matches!(err, RenderError::InvalidFrame(_)), "{err}");
    let err = with_renderer(|r| {
        r.render_to_rgba(&frame.planes(), 1 << 20, 8, ViewMode::AspectFit, false)
    })
    .unwrap_err();
    assert!(matches!(err, RenderError::TooLarge { .. }), "{err}");
    // The renderer still works afterwards.
    Image::render(&frame, 4, 4, ViewMode::ScaleToFill, false).assert_color(1, 1, RED);
}

#[test]
fn a_window_renderer_needs_a_window() {
    let frame = TestFrame::solid(4, 4, RED);
    let err = with_renderer(|r| r.draw(&frame.planes(), ViewMode::AspectFit, false)).unwrap_err();
    assert!(matches!(err, RenderError::SurfaceCreation(_)), "{err}");
}

#[test]
fn sink_canvas_delivers_frames_and_stops_when_hidden_or_closed() {
    let sink = FrameSink::new();
    let mut frames = sink.subscribe(8);
    let canvas = Canvas::sink(sink.clone()).mirrored(true);
    assert!(
        canvas.is_mirrored() && canvas.frame_sink().is_some() && canvas.window_target().is_none()
    );
    let renderer = canvas.open().unwrap();
    let frame = TestFrame::solid(8, 4, RED);
    let planes = I420Planes {
        capture_time_us: 1234,
        ..frame.planes()
    };
    renderer.push(&planes).unwrap();
    let got = frames.try_recv().unwrap();
    assert_eq!(
        (got.width, got.height, got.capture_time_us, got.frame_number),
        (8, 4, 1234, 1)
    );
    assert_eq!(got.planes().u, &frame.u[..]);
    assert_eq!(*renderer.rendered().borrow(), 1);

    renderer.set_visible(false);
    renderer.push(&planes).unwrap();
    assert!(frames.try_recv().is_none());
    renderer.set_visible(true);
    renderer.push(&planes).unwrap();
    assert_eq!(frames.try_recv().unwrap().frame_number, 2);
    let stats = renderer.stats();
    assert_eq!((stats.frames_rendered, stats.frames_dropped), (2, 1));

    renderer.close();
    assert!(renderer.is_closed());
    let pushed_after_close = renderer.push(&planes);
    assert!(
        matches!(pushed_after_close, Err(RenderError::Closed)),
        "{pushed_after_close:?}"
    );
}

#[test]
fn an_open_renderer_is_shared_by_its_clones_and_canvas() {
    let sink = FrameSink::new();
    let mut frames = sink.subscribe(8);
    let kept = Canvas::sink(sink).open().unwrap();
    let canvas = Canvas::renderer(kept.clone());
    assert!(canvas.opened_renderer().is_some() && canvas.window_target().is_none());
    // Opening returns the same renderer, however often.
    let pushed = canvas.clone().open().unwrap();
    assert!(pushed.same_renderer(&kept) && canvas.open().unwrap().same_renderer(&kept));
    let frame = TestFrame::solid(4, 4, GREEN);
    pushed.push(&frame.planes()).unwrap();
    assert_eq!(frames.try_recv().unwrap().frame_number, 1);
    assert_eq!(*kept.rendered().borrow(), 1);

    // Settings on one clone apply to the other.
    kept.set_visible(false);
    pushed.push(&frame.planes()).unwrap();
    assert!(frames.try_recv().is_none());
    kept.set_visible(true);

    // Dropping a clone does not close the renderer; close() on any does.
    let extra = kept.clone();
    drop(extra);
    assert!(!pushed.is_closed());
    pushed.push(&frame.planes()).unwrap();
    assert_eq!(frames.try_recv().unwrap().frame_number, 2);
    kept.close();
    assert!(pushed.is_closed());
    let pushed_after_close = pushed.push(&frame.planes());
    assert!(
        matches!(pushed_after_close, Err(RenderError::Closed)),
        "{pushed_after_close:?}"
    );
}

/// Not a benchmark harness, just figures: upload + draw + submit of a 720p
/// frame, and the same with the read-back.
#[test]
fn prints_720p_render_timings() {
    let frame = TestFrame::new(1280, 720, |x, y| [(x % 256) as u8, (y % 256) as u8, 128]);
    let planes = frame.planes();
    let runs = 20;
    let (before, after, total) = with_renderer(|renderer| {
        renderer
            .render_to_rgba(&planes, 1280, 720, ViewMode::AspectFit, false)
            .unwrap();
        let before = renderer.stats();
        let started = Instant::now();
        for _ in 0..runs {
            renderer
                .render_to_rgba(&planes, 1280, 720, ViewMode::AspectFit, false)
                .unwrap();
        }
        (before, renderer.stats(), started.elapsed() / runs)
    });
    assert_eq!(
        after.frames_rendered,
        before.frames_rendered + u64::from(runs)
    );
    eprintln!(
        "render 720p on {}: upload+draw+submit {:.2} ms/frame (running average)",
        after.adapter,
        after.avg_submit_time.as_secs_f64() * 1e3
    );
    eprintln!(
        "render 720p on {}: upload+draw+read-back {:.2} ms/frame",
        after.adapter,
        total.as_secs_f64() * 1e3
    );
}

#[test]
fn handles_can_move_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Canvas>();
    send_sync::<RawWindowTarget>();
    send_sync::<FrameSink>();
    send_sync::<RendererHandle>();
    send_sync::<RenderedFrame>();
    fn send<T: Send>() {}
    send::<GpuRenderer>();
    send::<FrameReceiver>();
}
