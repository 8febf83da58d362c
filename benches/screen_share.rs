//! Screen-share cost on this machine (issue 17), one figure per line; run
//! in release: `cargo bench --bench screen_share`. Under a private Xvfb
//! (skipped without the `Xvfb` binary): X11 capture ms per frame of a whole
//! 1080p and 1440p screen showing a page of small text (GetImage through
//! the socket, then MIT-SHM; the cursor; BGRX to I420), and the
//! conversion alone. Then openh264 ms per
//! frame and kbit/s at the text hint's 5 fps for a static page and for one
//! scrolling a line (12 px) per frame, in screen-content and camera mode.

use media_core::capture::screen::{bgrx_to_i420, ScreenCapture, ScreenTarget};
use media_core::codec::content::ContentHint;
use media_core::codec::h264::H264Encoder;
use media_core::frame::VideoFrame;
use std::time::{Duration, Instant};
use test_support::xvfb::{TestWindow, Xvfb};

const CAPTURES: u32 = 60;
const ENCODES: usize = 50;
const SIZES: [(&str, u16, u16); 2] = [("1080p", 1920, 1080), ("1440p", 2560, 1440)];

/// A page of 1-pixel "glyphs" in 8x12 cells on white, as BGRX, `scroll`
/// pixel rows down.
fn page(width: usize, height: usize, scroll: usize) -> Vec<u8> {
    let mut bgrx = Vec::with_capacity(width * height * 4);
    for row in 0..height {
        let row = row + scroll;
        for col in 0..width {
            let glyph = (col / 8 * 7 + row / 12 * 13) % 11;
            let (cx, cy) = (col % 8, row % 12);
            let stroke = cy > 2 && cy < 10 && cx < 6 && (cx == glyph % 6 || cy == 3 + glyph % 6);
            let ink = stroke && row % 240 < 200 && col < width * 3 / 4;
            let v = if ink { 0 } else { 255 };
            bgrx.extend_from_slice(&[v, v, v, 0]);
        }
    }
    bgrx
}

fn ms(total: Duration, count: u32) -> f64 {
    total.as_secs_f64() * 1000.0 / f64::from(count)
}

fn capture(name: &str, width: u16, height: u16) {
    let Some(x) = Xvfb::start(width.into(), height.into()) else {
        eprintln!("SKIPPED capture_{name}: no Xvfb binary");
        return;
    };
    let window = TestWindow::open(x.display(), 0, 0, width, height, "page");
    window.show_bgrx(&page(width.into(), height.into(), 0));
    let mut capture =
        ScreenCapture::open(Some(x.display()), ScreenTarget::Screen(0)).expect("capture");
    // Through the socket (GetImage), then shared memory (MIT-SHM), the
    // same process and screen: the ratio is the figure.
    for (path, shared) in [("socket", false), ("shm", true)] {
        capture.set_shared_memory(shared);
        if capture.uses_shared_memory() != shared {
            eprintln!("SKIPPED capture_{name}_{path}: no MIT-SHM 1.2");
            continue;
        }
        capture.capture().expect("a first picture");
        let started = Instant::now();
        for _ in 0..CAPTURES {
            capture.capture().expect("capture");
        }
        println!(
            "capture_{path}_{name}_ms_per_frame: {:.2} ms",
            ms(started.elapsed(), CAPTURES)
        );
    }
    let bgrx = page(width.into(), height.into(), 0);
    let started = Instant::now();
    for _ in 0..CAPTURES {
        std::hint::black_box(bgrx_to_i420(
            width.into(),
            height.into(),
            &bgrx,
            usize::from(width) * 4,
            0,
        ));
    }
    println!(
        "convert_{name}_ms_per_frame {:.2}",
        ms(started.elapsed(), CAPTURES)
    );
}

fn encode(name: &str, width: u16, height: u16) {
    let (w, h) = (usize::from(width), usize::from(height));
    let config = ContentHint::Text.video_config(width.into(), height.into());
    let frames = |scrolling: bool| -> Vec<VideoFrame> {
        (0..ENCODES)
            .map(|n| {
                let scroll = if scrolling { n * 12 } else { 0 };
                let mut frame =
                    bgrx_to_i420(width.into(), height.into(), &page(w, h, scroll), w * 4, 0);
                frame.capture_time_us = n as u64 * 1_000_000 / u64::from(config.fps);
                frame
            })
            .collect()
    };
    for (content, scrolling) in [("static", false), ("scrolling", true)] {
        let input = frames(scrolling);
        for (mode, screen) in [("screen", true), ("camera", false)] {
            let mut encoder = H264Encoder::new(&config).expect("valid config");
            encoder.set_screen_content(screen).expect("mode");
            let mut bytes = 0usize;
            let started = Instant::now();
            for frame in &input {
                if let Some(encoded) = encoder.encode(frame, false).expect("encode") {
                    bytes += encoded.data.len();
                }
            }
            let elapsed = started.elapsed();
            let seconds = ENCODES as f64 / f64::from(config.fps);
            println!(
                "encode_{mode}_{content}_{name}_ms_per_frame {:.2}",
                ms(elapsed, ENCODES as u32)
            );
            println!(
                "encode_{mode}_{content}_{name}_kbps {:.0}",
                bytes as f64 * 8.0 / seconds / 1000.0
            );
        }
    }
}

fn main() {
    for (name, width, height) in SIZES {
        capture(name, width, height);
    }
    for (name, width, height) in SIZES {
        encode(name, width, height);
    }
}
