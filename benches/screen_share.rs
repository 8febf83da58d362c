//! Screen-share cost on this machine (issue 17), one figure per line; run
//! in release: `cargo bench --bench screen_share`. Under a private Xvfb
//! (skipped without the `Xvfb` binary): X11 capture ms per frame of a whole
//! 1080p and 1440p screen showing a page of small text (GetImage through
//! the socket, then MIT-SHM; the cursor; BGRX to I420), and the
//! conversion alone. Then openh264 ms per
//! frame and kbit/s at the text hint's 5 fps for a static page and for one
//! scrolling a line (12 px) per frame, in screen-content and camera mode.
//!
//! Then the SDK end to end against `confer serve` in its own process: the
//! CPU of this process while it shares the 1080p screen (capture, encode,
//! send; no player in the process) at 5 fps (`Text`) and 30 fps
//! (`Motion`), over 10 s from /proc, with the page still and with the
//! page scrolling (the drawing thread's own CPU subtracted); and the first
//! shared frame: `start_screen_capture` + `start_publishing_stream` to the
//! first picture a player in the same process renders (it plays on stream
//! Add, as the app does), p50 / max over several shares.

mod support;

use media_core::capture::screen::{bgrx_to_i420, ScreenCapture, ScreenTarget};
use media_core::codec::content::ContentHint;
use media_core::codec::h264::{H264Decoder, H264Encoder};
use media_core::frame::VideoFrame;
use media_core::render::{Canvas, FrameSink};
use media_core::{
    Event, PublishChannel, PublisherState, RoomState, ScreenCaptureConfig, UpdateType,
};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{pct, proc_stat, Peer, ServerProcess, TICKS_PER_SECOND};
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

/// A photo-like picture (smooth gradients, fine texture, colour), `shift`
/// pixels panned: what a `Text` share of a picture or video shows.
fn photo(width: u32, height: u32, shift: u32) -> VideoFrame {
    let mut frame = VideoFrame::black(width, height);
    let (w, h) = (width as usize, height as usize);
    let (y_plane, u_plane, v_plane) = frame.planes_mut();
    let noise = |x: usize, y: usize| {
        let mut n = (x as u32).wrapping_mul(0x9E37_79B1) ^ (y as u32).wrapping_mul(0x85EB_CA77);
        n ^= n >> 15;
        n = n.wrapping_mul(0x2C1B_3C6D);
        (n >> 24) as i32 % 24 - 12
    };
    for y in 0..h {
        for x in 0..w {
            let px = x + shift as usize;
            let wave = ((px as f64 / 37.0).sin() * (y as f64 / 29.0).cos() * 50.0) as i32;
            let base = 40 + (px * 140 / (w + 1)) as i32 + (y * 40 / h) as i32;
            y_plane[y * w + x] = (base + wave + noise(px, y)).clamp(16, 235) as u8;
        }
    }
    for y in 0..h / 2 {
        for x in 0..w / 2 {
            let px = x + shift as usize / 2;
            u_plane[y * w / 2 + x] = (96 + (px * 64 / w) as i32 + noise(px, y) / 3) as u8;
            v_plane[y * w / 2 + x] = (160 - (y * 64 / h) as i32 + noise(y, px) / 3) as u8;
        }
    }
    frame
}

/// Luma PSNR of `b` against `a` (same size).
fn luma_psnr(a: &VideoFrame, b: &VideoFrame) -> f64 {
    let mse = a
        .y()
        .iter()
        .zip(b.y())
        .map(|(&p, &q)| (f64::from(p) - f64::from(q)).powi(2))
        .sum::<f64>()
        / a.y().len() as f64;
    10.0 * (255.0 * 255.0 / mse.max(1e-9)).log10()
}

fn encode(name: &str, width: u16, height: u16) {
    let (w, h) = (usize::from(width), usize::from(height));
    let config = ContentHint::Text.video_config(width.into(), height.into());
    let frames = |content: &str| -> Vec<VideoFrame> {
        (0..ENCODES)
            .map(|n| {
                let mut frame = match content {
                    "static" => bgrx_to_i420(width.into(), height.into(), &page(w, h, 0), w * 4, 0),
                    "scrolling" => {
                        bgrx_to_i420(width.into(), height.into(), &page(w, h, n * 12), w * 4, 0)
                    }
                    "photo" => photo(width.into(), height.into(), 0),
                    _ => photo(width.into(), height.into(), n as u32 * 12),
                };
                frame.capture_time_us = n as u64 * 1_000_000 / u64::from(config.fps);
                frame
            })
            .collect()
    };
    // Text pages, then a photo-like picture still and panning: the hint
    // Detail (camera mode at Text's rate) exists for the latter.
    for content in ["static", "scrolling", "photo", "photo_panning"] {
        let input = frames(content);
        for (mode, screen) in [("screen", true), ("camera", false)] {
            let mut encoder = H264Encoder::new(&config).expect("valid config");
            encoder.set_screen_content(screen).expect("mode");
            let mut decoder = H264Decoder::new().expect("decoder");
            let mut bytes = 0usize;
            let mut elapsed = Duration::ZERO;
            let mut psnr = Vec::new();
            for frame in &input {
                let started = Instant::now();
                let encoded = encoder.encode(frame, false).expect("encode");
                elapsed += started.elapsed();
                if let Some(encoded) = encoded {
                    bytes += encoded.data.len();
                    if let Some(decoded) = decoder.decode(&encoded.data).expect("decode") {
                        psnr.push(luma_psnr(frame, &decoded));
                    }
                }
            }
            let seconds = ENCODES as f64 / f64::from(config.fps);
            println!(
                "encode_{mode}_{content}_{name}_ms_per_frame {:.2}",
                ms(elapsed, ENCODES as u32)
            );
            println!(
                "encode_{mode}_{content}_{name}_kbps {:.0}",
                bytes as f64 * 8.0 / seconds / 1000.0
            );
            println!(
                "encode_{mode}_{content}_{name}_psnr_db {:.1}",
                psnr.iter().sum::<f64>() / psnr.len().max(1) as f64
            );
        }
    }
    println!("encode_target_{name}_kbps {}", config.bitrate_kbps);
}

/// The CPU window of a share.
const CPU_WINDOW: Duration = Duration::from_secs(10);
/// Shares timed for the first shared frame.
const FIRST_FRAME_RUNS: usize = 7;

/// This process's CPU time so far, in clock ticks.
fn own_cpu_ticks() -> u64 {
    proc_stat::cpu_ticks(std::process::id())
}

/// The calling thread's CPU time so far, in clock ticks (its
/// `/proc/thread-self/stat`).
fn thread_cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| fields.get(i - 3).and_then(|v| v.parse::<u64>().ok());
    field(14).unwrap_or(0) + field(15).unwrap_or(0)
}

/// A peer logged in to `room`, once connected.
async fn joined(server: &ServerProcess, room: &str, user: &str) -> Peer {
    let mut peer = Peer::new(&server.url, &server.app, room, user);
    peer.wait(|e| {
        matches!(
            e,
            Event::RoomStateUpdate {
                state: RoomState::Connected,
                ..
            }
        )
    })
    .await;
    peer
}

/// Shares screen 0 of `display` with `hint` as `stream` on the aux channel.
fn share(peer: &Peer, display: &str, hint: ContentHint, stream: &str) -> media_core::ScreenShare {
    let share = peer
        .engine
        .start_screen_capture(ScreenCaptureConfig {
            target: ScreenTarget::Screen(0),
            display: Some(display.into()),
            hint,
            restore_token: None,
        })
        .expect("share started");
    peer.engine
        .start_publishing_stream(stream, PublishChannel::Aux)
        .expect("publish accepted");
    share
}

fn is_stream_update(e: &Event, want: UpdateType) -> bool {
    matches!(e, Event::RoomStreamUpdate { update_type, .. } if *update_type == want)
}

/// CPU % (of one core) of this process sharing the 1080p screen at 5 and
/// 30 fps, the page still or scrolling.
async fn share_cpu(server: &ServerProcess) {
    let (width, height) = (1920u16, 1080u16);
    let Some(x) = Xvfb::start(width.into(), height.into()) else {
        eprintln!("SKIPPED share_cpu: no Xvfb binary");
        return;
    };
    let window = Arc::new(TestWindow::open(x.display(), 0, 0, width, height, "page"));
    let pages: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..10)
            .map(|n| page(width.into(), height.into(), n * 12))
            .collect(),
    );
    for (content, scrolling) in [("static", false), ("scrolling", true)] {
        for (rate, hint) in [("5fps", ContentHint::Text), ("30fps", ContentHint::Motion)] {
            window.show_bgrx(&pages[0]);
            let mut a = joined(server, &format!("cpu-{content}-{rate}"), "a").await;
            let running = share(&a, x.display(), hint, "a-screen");
            a.wait(|e| {
                matches!(
                    e,
                    Event::PublisherStateUpdate {
                        state: PublisherState::Publishing,
                        ..
                    }
                )
            })
            .await;
            // The drawer scrolls the page 12 px five times a second (a
            // reader scrolling); its own CPU is not the share's.
            let drawing = Arc::new(AtomicBool::new(scrolling));
            let drawer_ticks = Arc::new(AtomicU64::new(0));
            let drawer = {
                let (window, pages) = (window.clone(), pages.clone());
                let (drawing, drawer_ticks) = (drawing.clone(), drawer_ticks.clone());
                std::thread::spawn(move || {
                    let start = thread_cpu_ticks();
                    let mut n = 0;
                    while drawing.load(Ordering::Relaxed) {
                        n += 1;
                        window.show_bgrx(&pages[n % pages.len()]);
                        drawer_ticks.store(thread_cpu_ticks() - start, Ordering::Relaxed);
                        std::thread::sleep(Duration::from_millis(200));
                    }
                })
            };
            // Past the first keyframe and the rate control's start.
            tokio::time::sleep(Duration::from_secs(2)).await;
            let (ticks, drawn, started) = (
                own_cpu_ticks(),
                drawer_ticks.load(Ordering::Relaxed),
                Instant::now(),
            );
            tokio::time::sleep(CPU_WINDOW).await;
            let used = own_cpu_ticks() - ticks;
            let drawn = drawer_ticks.load(Ordering::Relaxed) - drawn;
            let wall = started.elapsed().as_secs_f64();
            drawing.store(false, Ordering::Relaxed);
            drawer.join().expect("drawer");
            let percent = used.saturating_sub(drawn) as f64 / TICKS_PER_SECOND / wall * 100.0;
            println!("share_cpu_1080p_{rate}_{content}_percent {percent:.1}");
            running.stop();
            a.engine.destroy().await;
        }
    }
}

/// The first shared frame: from `start_screen_capture` to the first
/// picture a player renders, over [`FIRST_FRAME_RUNS`] shares.
async fn first_shared_frame(server: &ServerProcess) {
    let (width, height) = (1920u16, 1080u16);
    let Some(x) = Xvfb::start(width.into(), height.into()) else {
        eprintln!("SKIPPED first_shared_frame: no Xvfb binary");
        return;
    };
    let window = TestWindow::open(x.display(), 0, 0, width, height, "page");
    window.show_bgrx(&page(width.into(), height.into(), 0));
    let mut a = joined(server, "first-share", "a").await;
    let mut b = joined(server, "first-share", "b").await;
    let mut ms = Vec::new();
    for _ in 0..FIRST_FRAME_RUNS {
        let clicked = Instant::now();
        let running = share(&a, x.display(), ContentHint::Text, "a-screen");
        b.wait(|e| is_stream_update(e, UpdateType::Add)).await;
        let sink = FrameSink::new();
        let mut rendered = sink.subscribe(8);
        b.engine
            .start_playing_stream("a-screen", Some(Canvas::sink(sink)))
            .expect("play accepted");
        tokio::time::timeout(Duration::from_secs(30), rendered.recv())
            .await
            .expect("a first picture within 30 s")
            .expect("the player renders");
        ms.push(clicked.elapsed().as_secs_f64() * 1000.0);
        b.engine.stop_playing_stream("a-screen").expect("stop play");
        running.stop();
        b.wait(|e| is_stream_update(e, UpdateType::Delete)).await;
        // Drain a's events (its stream states).
        while a.events.try_recv().is_ok() {}
    }
    ms.sort_by(f64::total_cmp);
    println!("first_shared_frame_1080p_ms_p50 {:.0}", pct(&ms, 0.5));
    println!("first_shared_frame_1080p_ms_max {:.0}", pct(&ms, 1.0));
    println!("first_shared_frame_1080p_ms_min {:.0}", pct(&ms, 0.0));
    a.engine.destroy().await;
    b.engine.destroy().await;
}

fn main() {
    for (name, width, height) in SIZES {
        capture(name, width, height);
    }
    for (name, width, height) in SIZES {
        encode(name, width, height);
    }
    support::block_on(async {
        let server = ServerProcess::start("screen-share-bench").await;
        share_cpu(&server).await;
        first_shared_frame(&server).await;
        server.stop();
    });
}
