//! Issue 15's network benchmark (`make bench-network`): the same
//! impairments for Confer native -> native (SDK engines in this process,
//! the 720p30 test pattern) and Chromium -> Chromium through the same SFU
//! (the web debug page's test pattern at 720p30, `?pattern=1280x720`,
//! driven by `tests/browser/network-bench.mjs`), one figure per line, e.g.
//! `loss20_native_fps 23.5`.
//!
//! Every participant reaches the SFU (a `confer serve` process with one UDP
//! media port) only through a [`SplitRelay`] on 127.0.0.2, which the server
//! announces: native engines announce no candidates of their own, and the
//! pages' host candidates are held back by an init script, so the SFU only
//! ever sees the relay. The relay has two lanes. Everybody uses lane 0,
//! whose conditions each scenario sets both ways; in the weak-player
//! scenario the weak player joins while new flows are routed to lane 1,
//! which alone is capped at 300 kbps (one server, one announced address,
//! no namespaces: the same for native engines and Chromium).
//!
//! Scenarios (`BENCH_SECONDS`, default 60, is each measured window):
//!
//! - `loss{0,5,10,20,30,50}`: random loss and 50 ms each way (RTT 100 ms);
//!   `bursty10`: 10% loss in bursts of 5 packets on average, same delay.
//!   Received fps, freezes per minute (W3C: a gap > max(3 x mean, mean +
//!   150 ms)), glass-to-glass p50/p95 (barcode capture time to
//!   presentation), received height and audio concealed %.
//! - `capacity`: 5 Mbps, then 500 kbps for half the window (30 s at 60),
//!   then 5 Mbps for a whole window: the received bitrate (the player's
//!   downlink at the relay) and height before, during, and the seconds
//!   after capacity returns until both are back to 90% of before (1 s
//!   windows; `n/a` if never within the window), and the stages: the
//!   first 360p and 720p frames, the height alone and the bitrate alone
//!   back.
//! - `steady{500k,1m,2m}`: a steady capacity: p50 and p95 one-way video
//!   delay (glass-to-glass, capture to presentation), received height and
//!   fps.
//! - `lte`: a seeded synthetic cellular capacity trace, committed as
//!   `test-support/traces/lte-synthetic.trace` (`test_support::cellular`:
//!   0.3-6 Mbit/s moving every 100 ms, outages of 1-2 s; 120 s, looped),
//!   40 ms each way, both ways: p95 one-way video delay, p50, fps, freezes
//!   per minute and received height (Salsify's figure of merit on an LTE
//!   trace is the p95 delay).
//! - `weak300k`: one player behind 300 kbps, three clean players: the clean
//!   players' lowest height and the weak player's fps and height.
//!
//! `BENCH_ONLY` (comma-separated scenario names, e.g. `loss20,capacity`)
//! runs a subset; `BENCH_NATIVE_ONLY=1` skips Chromium, `BENCH_BROWSER_ONLY=1`
//! the native engines. With `RUST_LOG` set (e.g.
//! `RUST_LOG=media_core::transport::rate_control=debug,network=info`) the
//! native engines' logs and the capacity steps go to stderr.
//!
//! Capacities sit behind a drop-tail queue of about 200 ms. Impairments
//! start once every player shows frames (a loss scenario's delay is the
//! path's from the start, only its loss starts then), and the window
//! starts 2 s later.

mod support;

use impair::{Conditions, Direction, Timeline};
use media_core::codec::video_config::VideoPreset;
use media_core::transport::TransportConfig;
use media_core::{
    Engine, EngineProfile, Event, PublishChannel, PublisherState, RoomConfig, Scenario, User,
};
use serde_json::{json, Value};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::ServerProcess;
use test_support::call_metrics::{Presented, Window};
use test_support::frame_log::FrameLog;
use test_support::lanes::{capacity, free_udp_port, split_relay_in_front};
use test_support::split_relay::SplitRelay;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

/// The address the server announces and the relay listens on.
const RELAY_IP: [u8; 4] = [127, 0, 0, 2];
/// The lane everybody uses.
const MAIN: usize = 0;
/// The weak player's lane.
const WEAK: usize = 1;
/// From the impairment's start to the measured window.
const WARMUP: Duration = Duration::from_secs(2);
/// How long a participant may take to show its first frame.
const JOIN_TIMEOUT: Duration = Duration::from_secs(45);
/// The stream every scenario publishes.
const STREAM: &str = "cam";
/// How often the capacity scenario reads the relay's counters.
const BITRATE_TICK: Duration = Duration::from_millis(250);

fn main() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .try_init();
    }
    support::block_on(run());
}

/// Unix microseconds now (the clock the barcodes use).
fn unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Which pair a scenario runs on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Native,
    Chromium,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Native => "native",
            Side::Chromium => "chromium",
        }
    }
}

/// What the scenarios share: the server, the relay, the browser worker.
struct Bench {
    server: ServerProcess,
    relay: SplitRelay,
    browser: Option<Browser>,
    window: Duration,
}

impl Bench {
    /// The sides this machine can run.
    fn sides(&self) -> Vec<Side> {
        let mut sides = Vec::new();
        if std::env::var_os("BENCH_BROWSER_ONLY").is_none() {
            sides.push(Side::Native);
        }
        if self.browser.is_some() {
            sides.push(Side::Chromium);
        }
        sides
    }
}

async fn run() {
    let started = Instant::now();
    let window = Duration::from_secs(
        std::env::var("BENCH_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(60),
    );
    let port = free_udp_port();
    let server = ServerProcess::start_with("network-bench", |c| {
        c.media.udp_port = port;
        c.media.announced_ips = vec![RELAY_IP.into()];
    })
    .await;
    let relay = split_relay_in_front(port, 2).await;
    let browser = if std::env::var_os("BENCH_NATIVE_ONLY").is_some() {
        None
    } else {
        Browser::start(&server).await
    };
    let mut bench = Bench {
        server,
        relay,
        browser,
        window,
    };
    println!("network_window_s {}", window.as_secs());

    let only = std::env::var("BENCH_ONLY").ok();
    let wanted = |name: &str| {
        only.as_deref()
            .is_none_or(|list| list.split(',').any(|n| n.trim() == name))
    };
    for percent in [0u32, 5, 10, 20, 30, 50] {
        let name = format!("loss{percent}");
        if wanted(&name) {
            let spec = format!("loss={percent}%,delay=50ms");
            quality(&mut bench, &name, &spec).await;
        }
    }
    if wanted("bursty10") {
        quality(&mut bench, "bursty10", "loss=10%,burst=5,delay=50ms").await;
    }
    if wanted("capacity") {
        for side in bench.sides() {
            capacity_step(&mut bench, side).await;
        }
    }
    for (name, kbps) in [("steady500k", 500), ("steady1m", 1000), ("steady2m", 2000)] {
        if wanted(name) {
            for side in bench.sides() {
                steady(&mut bench, side, name, kbps).await;
            }
        }
    }
    if wanted("lte") {
        for side in bench.sides() {
            cellular(&mut bench, side).await;
        }
    }
    if wanted("weak300k") {
        for side in bench.sides() {
            weak_player(&mut bench, side).await;
        }
    }

    if let Some(browser) = bench.browser.take() {
        browser.quit().await;
    }
    bench.server.stop();
    println!(
        "network_bench_total_s {:.0}",
        started.elapsed().as_secs_f64()
    );
    std::process::exit(0);
}

/// Loss scenarios: one publisher, one player, `spec` both ways on lane 0.
async fn quality(bench: &mut Bench, name: &str, spec: &str) {
    let conditions: Conditions = spec.parse().expect("scenario spec");
    // The path's delay is there from the call's start (a path with RTT
    // 100 ms): switched on with the loss, its 0 -> 50 ms step read as a
    // standing queue for the estimators' 10 s base-delay memory.
    let path = Conditions {
        delay: conditions.delay,
        ..Conditions::default()
    };
    for side in bench.sides() {
        let mut call = Call::start_on(bench, side, name, &[MAIN], &path).await;
        bench
            .relay
            .lane(MAIN)
            .set_both(Timeline::constant(conditions.clone()));
        let (from, to) = measure(bench.window).await;
        let seen = call.players[0].read(bench).await;
        let w = Window::of(&seen.frames, from, to);
        let prefix = format!("{name}_{}", side.name());
        println!("{prefix}_fps {:.1}", w.fps);
        println!("{prefix}_freezes_per_min {:.1}", w.freezes_per_minute);
        println!("{prefix}_g2g_p50_ms {}", ms(w.g2g_p50_ms));
        println!("{prefix}_g2g_p95_ms {}", ms(w.g2g_p95_ms));
        println!("{prefix}_height {}", w.height);
        match seen.audio.concealed_percent(from, to) {
            Some(pct) => println!("{prefix}_audio_concealed_pct {pct:.1}"),
            None => println!("{prefix}_audio_concealed_pct n/a"),
        }
        call.stop(bench).await;
    }
}

/// A latency figure; `n/a` when no frame came.
fn ms(value: f64) -> String {
    if value.is_nan() {
        "n/a".to_owned()
    } else {
        format!("{value:.1}")
    }
}

/// Waits out the warm-up and the window; the window's bounds.
async fn measure(window: Duration) -> (u64, u64) {
    tokio::time::sleep(WARMUP).await;
    let from = unix_us();
    tokio::time::sleep(window).await;
    (from, unix_us())
}

/// 5 Mbps, 500 kbps for half a window, 5 Mbps for a window: how long the
/// received bitrate and height take to come back after the step up.
async fn capacity_step(bench: &mut Bench, side: Side) {
    let name = format!("capacity_{}", side.name());
    let mut call = Call::start(bench, side, "capacity", &[MAIN]).await;
    let (before, low) = (bench.window / 4, bench.window / 2);
    let lane = bench.relay.lane(MAIN).clone();
    let start = unix_us();
    lane.set_both(
        Timeline::constant(capacity(5000))
            .then(before, capacity(500))
            .then(before + low, capacity(5000)),
    );
    tracing::info!(
        ?before,
        ?low,
        "capacity 5 Mbit/s, then 500 kbit/s after `before` for `low`"
    );
    // The player's downlink: what the relay delivered towards the clients.
    let mut bytes: Vec<(u64, u64)> = Vec::new();
    let end = Instant::now() + before + low + bench.window;
    while Instant::now() < end {
        bytes.push((unix_us(), lane.stats(Direction::Down).delivered_bytes));
        tokio::time::sleep(BITRATE_TICK).await;
    }
    let seen = call.players[0].read(bench).await;
    let (drop_at, back_at) = (
        start + before.as_micros() as u64,
        start + (before + low).as_micros() as u64,
    );
    let kbps = |from: u64, to: u64| kbps_between(&bytes, from, to);
    // Before: the second half of the first phase (the first is ramp-up).
    let base_from = start + (before / 2).as_micros() as u64;
    let base_kbps = kbps(base_from, drop_at);
    let base_height = Window::of(&seen.frames, base_from, drop_at).height;
    let low_from = drop_at + (low / 2).as_micros() as u64;
    println!("{name}_before_kbps {base_kbps:.0}");
    println!("{name}_before_height {base_height}");
    println!("{name}_low_kbps {:.0}", kbps(low_from, back_at));
    println!(
        "{name}_low_height {}",
        Window::of(&seen.frames, low_from, back_at).height
    );
    let second = 1_000_000;
    let last = bytes.last().map_or(back_at, |(t, _)| *t);
    let bitrate_back = |t: u64| kbps(t, t + second) >= 0.9 * base_kbps;
    let height_back = |t: u64| {
        f64::from(Window::of(&seen.frames, t, t + second).height) >= 0.9 * f64::from(base_height)
    };
    // Seconds from the capacity's return to the end of the first 1 s
    // window where `back` holds.
    let back_after = |back: &dyn Fn(u64) -> bool| {
        (back_at..last.saturating_sub(second))
            .step_by(BITRATE_TICK.as_micros() as usize)
            .find(|t| back(*t))
            .map_or("n/a".to_owned(), |t| {
                format!("{:.1}", (t + second - back_at) as f64 / 1e6)
            })
    };
    // The stages: the first frame of each height, then the height and the
    // bitrate each back to 90 % of before, then both at once.
    for lines in [360, 720].into_iter().filter(|l| *l <= base_height) {
        let first = seen
            .frames
            .iter()
            .find(|f| f.render_us >= back_at && f.height >= lines)
            .map_or("n/a".to_owned(), |f| {
                format!("{:.1}", (f.render_us - back_at) as f64 / 1e6)
            });
        println!("{name}_first_{lines}p_s {first}");
    }
    println!("{name}_height_back_s {}", back_after(&height_back));
    println!("{name}_bitrate_back_s {}", back_after(&bitrate_back));
    println!(
        "{name}_recovery_s {}",
        back_after(&|t| bitrate_back(t) && height_back(t))
    );
    call.stop(bench).await;
}

/// The bitrate between two times from (time, cumulative bytes) samples.
fn kbps_between(samples: &[(u64, u64)], from: u64, to: u64) -> f64 {
    let at = |t: u64| samples.iter().rev().find(|(s, _)| *s <= t).copied();
    match (at(from), at(to)) {
        (Some((t0, b0)), Some((t1, b1))) if t1 > t0 => {
            (b1 - b0) as f64 * 8.0 / ((t1 - t0) as f64 / 1e6) / 1000.0
        }
        _ => 0.0,
    }
}

/// A steady capacity: p95 one-way video delay, height and fps.
async fn steady(bench: &mut Bench, side: Side, name: &str, kbps: u64) {
    let mut call = Call::start(bench, side, name, &[MAIN]).await;
    bench
        .relay
        .lane(MAIN)
        .set_both(Timeline::constant(capacity(kbps)));
    let (from, to) = measure(bench.window).await;
    let w = Window::of(&call.players[0].read(bench).await.frames, from, to);
    let prefix = format!("{name}_{}", side.name());
    println!("{prefix}_delay_p50_ms {}", ms(w.g2g_p50_ms));
    println!("{prefix}_delay_p95_ms {}", ms(w.g2g_p95_ms));
    println!("{prefix}_height {}", w.height);
    println!("{prefix}_fps {:.1}", w.fps);
    call.stop(bench).await;
}

/// The cellular trace both ways on lane 0; its queue holds ~200 ms at
/// 2 Mbit/s (so ~1.3 s at the trace's 300 kbit/s floor, like a cellular
/// link's deep buffers).
async fn cellular(bench: &mut Bench, side: Side) {
    let mut call = Call::start(bench, side, "lte", &[MAIN]).await;
    let base: Conditions = format!("delay=40ms,queue={}", (2000 * 1000 / 5 / (8 * 1200)))
        .parse()
        .expect("base spec");
    let timeline =
        Timeline::parse_trace(test_support::cellular::LTE_TRACE, base).expect("cellular trace");
    bench.relay.lane(MAIN).set_both(timeline);
    let (from, to) = measure(bench.window).await;
    let w = Window::of(&call.players[0].read(bench).await.frames, from, to);
    let prefix = format!("lte_{}", side.name());
    println!("{prefix}_delay_p50_ms {}", ms(w.g2g_p50_ms));
    println!("{prefix}_delay_p95_ms {}", ms(w.g2g_p95_ms));
    println!("{prefix}_fps {:.1}", w.fps);
    println!("{prefix}_freezes_per_min {:.1}", w.freezes_per_minute);
    println!("{prefix}_height {}", w.height);
    call.stop(bench).await;
}

/// One player behind 300 kbps (lane 1), three clean ones.
async fn weak_player(bench: &mut Bench, side: Side) {
    let mut call = Call::start(bench, side, "weak300k", &[WEAK, MAIN, MAIN, MAIN]).await;
    bench
        .relay
        .lane(WEAK)
        .set_both(Timeline::constant(capacity(300)));
    let (from, to) = measure(bench.window).await;
    let mut windows = Vec::new();
    for player in &mut call.players {
        let frames = player.read(bench).await.frames;
        windows.push(Window::of(&frames, from, to));
    }
    let prefix = format!("weak300k_{}", side.name());
    let clean = &windows[1..];
    let lowest = clean.iter().map(|w| w.height).min().unwrap_or(0);
    let slowest = clean.iter().map(|w| w.fps).fold(f64::INFINITY, f64::min);
    println!("{prefix}_clean_height_min {lowest}");
    println!("{prefix}_clean_fps_min {slowest:.1}");
    println!("{prefix}_weak_fps {:.1}", windows[0].fps);
    println!("{prefix}_weak_height {}", windows[0].height);
    call.stop(bench).await;
}

/// A publisher and its players in a room of their own.
struct Call {
    publisher: Participant,
    players: Vec<Participant>,
}

impl Call {
    /// Starts the publisher (lane 0), then each player on its lane, each
    /// once the one before shows frames; every lane clean.
    async fn start(bench: &mut Bench, side: Side, scenario: &str, lanes: &[usize]) -> Call {
        Call::start_on(bench, side, scenario, lanes, &Conditions::default()).await
    }

    /// [`Call::start`] with every lane under `path` both ways.
    async fn start_on(
        bench: &mut Bench,
        side: Side,
        scenario: &str,
        lanes: &[usize],
        path: &Conditions,
    ) -> Call {
        bench.relay.clear();
        for lane in lanes {
            bench
                .relay
                .lane(*lane)
                .set_both(Timeline::constant(path.clone()));
        }
        bench.relay.route_new_flows(MAIN);
        let room = format!("{scenario}-{}", side.name());
        let publisher = Participant::publish(bench, side, &room).await;
        let mut players = Vec::new();
        for (i, lane) in lanes.iter().enumerate() {
            bench.relay.route_new_flows(*lane);
            players.push(Participant::play(bench, side, &room, &format!("p{i}")).await);
            bench.relay.route_new_flows(MAIN);
        }
        Call { publisher, players }
    }

    /// Ends every participant; the lanes clean again.
    async fn stop(self, bench: &mut Bench) {
        for p in self.players.into_iter().chain([self.publisher]) {
            p.stop(bench).await;
        }
        bench.relay.clear();
    }
}

/// What a player saw.
struct Seen {
    frames: Vec<Presented>,
    audio: Audio,
}

/// A player's audio concealment over time.
enum Audio {
    /// The SDK's quality events: (time, share of frames concealed in the
    /// interval before it).
    // HOOK(issue 15 part 4): `audio_break_rate` is the SDK's "share of audio
    // frames concealed (lost or late)". When the SDK reports concealed
    // samples from its adaptive jitter buffer, read those here instead
    // (and keep printing `n/a` while nothing is reported).
    Shares(Vec<(u64, f64)>),
    /// Chromium's getStats: (time, concealedSamples, totalSamplesReceived),
    /// cumulative.
    Samples(Vec<(u64, f64, f64)>),
}

impl Audio {
    /// Percent of audio concealed within `[from, to)`; `None` when nothing
    /// was reported.
    fn concealed_percent(&self, from: u64, to: u64) -> Option<f64> {
        match self {
            Audio::Shares(shares) => {
                let inside: Vec<f64> = shares
                    .iter()
                    .filter(|(t, _)| (from..to).contains(t))
                    .map(|(_, s)| *s)
                    .collect();
                (!inside.is_empty())
                    .then(|| inside.iter().sum::<f64>() / inside.len() as f64 * 100.0)
            }
            Audio::Samples(samples) => {
                let at = |t: u64| samples.iter().rev().find(|s| s.0 <= t).copied();
                let ((_, c0, n0), (_, c1, n1)) = (at(from)?, at(to)?);
                (n1 > n0).then(|| (c1 - c0) / (n1 - n0) * 100.0)
            }
        }
    }
}

/// One participant of a [`Call`].
enum Participant {
    Native(NativePeer),
    /// A page in the browser worker, by its key.
    Chromium(String),
}

impl Participant {
    /// Publishes [`STREAM`] in `room` and waits for Publishing.
    async fn publish(bench: &mut Bench, side: Side, room: &str) -> Participant {
        match side {
            Side::Native => {
                let peer = NativePeer::login(&bench.server, room, "pub");
                test_support::use_synthetic_sources(&peer.engine, VideoPreset::P720);
                peer.engine
                    .start_publishing_stream(STREAM, PublishChannel::Main)
                    .expect("publish");
                peer.wait("Publishing", |e| {
                    matches!(
                        e,
                        Event::PublisherStateUpdate {
                            state: PublisherState::Publishing,
                            ..
                        }
                    )
                })
                .await;
                Participant::Native(peer)
            }
            Side::Chromium => {
                let key = format!("{room}/pub");
                bench
                    .browser()
                    .ask(json!({"op": "publish", "key": key, "room": room, "user": "pub", "stream": STREAM}))
                    .await;
                Participant::Chromium(key)
            }
        }
    }

    /// Plays [`STREAM`] in `room` as `user` and waits for its first frame.
    async fn play(bench: &mut Bench, side: Side, room: &str, user: &str) -> Participant {
        match side {
            Side::Native => {
                let mut peer = NativePeer::login(&bench.server, room, user);
                let (canvas, frames) = FrameLog::canvas();
                peer.engine
                    .start_playing_stream(STREAM, Some(canvas))
                    .expect("play");
                let deadline = Instant::now() + JOIN_TIMEOUT;
                while frames.frames().is_empty() {
                    assert!(Instant::now() < deadline, "{room}/{user}: no frame");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                peer.frames = Some(frames);
                Participant::Native(peer)
            }
            Side::Chromium => {
                let key = format!("{room}/{user}");
                bench
                    .browser()
                    .ask(json!({"op": "play", "key": key, "room": room, "user": user, "stream": STREAM}))
                    .await;
                Participant::Chromium(key)
            }
        }
    }

    /// What this player saw so far.
    async fn read(&mut self, bench: &mut Bench) -> Seen {
        match self {
            Participant::Native(peer) => peer.seen(),
            Participant::Chromium(key) => {
                let reply = bench
                    .browser()
                    .ask(json!({"op": "read", "key": key, "stream": STREAM}))
                    .await;
                seen_in_page(&reply)
            }
        }
    }

    async fn stop(self, bench: &mut Bench) {
        match self {
            Participant::Native(peer) => peer.engine.destroy().await,
            Participant::Chromium(key) => {
                bench
                    .browser()
                    .ask(json!({"op": "close", "key": key}))
                    .await;
            }
        }
    }
}

/// A page's reads: each frame with the height of the latest stats sample
/// before it.
fn seen_in_page(reply: &Value) -> Seen {
    let num = |v: &Value, k: &str| v[k].as_f64().unwrap_or(0.0);
    let stats: Vec<(u64, f64, f64, u32)> = reply["stats"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| {
                    (
                        num(s, "atUs") as u64,
                        num(s, "concealed"),
                        num(s, "samples"),
                        num(s, "height") as u32,
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let height_at = |t: u64| {
        stats
            .iter()
            .rev()
            .find(|s| s.0 <= t)
            .or(stats.first())
            .map_or(0, |s| s.3)
    };
    let frames = reply["frames"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| {
                    let render_us = num(f, "presentedUs") as u64;
                    Presented {
                        capture_us: num(f, "captureTimeUs") as u64,
                        render_us,
                        height: height_at(render_us),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    Seen {
        frames,
        audio: Audio::Samples(stats.iter().map(|s| (s.0, s.1, s.2)).collect()),
    }
}

/// An SDK engine in this process that announces no candidates of its own
/// (the SFU reaches it through the relay), with its events logged.
struct NativePeer {
    engine: Engine,
    events: Arc<Mutex<Vec<(u64, Event)>>>,
    frames: Option<FrameLog>,
}

impl NativePeer {
    fn login(server: &ServerProcess, room: &str, user: &str) -> NativePeer {
        let (engine, mut rx) = Engine::create(EngineProfile {
            app_id: server.app.app_id,
            app_sign: server.app.app_sign.clone(),
            scenario: Scenario::HighQualityVideoCall,
            server: server.url.clone(),
            reconnect: Default::default(),
            transport: TransportConfig {
                bind_ip: std::net::Ipv4Addr::LOCALHOST.into(),
                announce_local_candidates: false,
                ..TransportConfig::default()
            },
            tls: Default::default(),
        })
        .expect("engine");
        let events: Arc<Mutex<Vec<(u64, Event)>>> = Arc::default();
        let log = Arc::clone(&events);
        tokio::spawn(async move {
            while let Some(e) = rx.recv().await {
                log.lock().expect("event log").push((unix_us(), e));
            }
        });
        engine
            .login_room(room, User::new(user, user), RoomConfig::default())
            .expect("login");
        NativePeer {
            engine,
            events,
            frames: None,
        }
    }

    /// Waits (at most [`JOIN_TIMEOUT`]) for an event matching `pred`.
    async fn wait(&self, what: &str, pred: impl Fn(&Event) -> bool) {
        let deadline = Instant::now() + JOIN_TIMEOUT;
        while !self
            .events
            .lock()
            .expect("event log")
            .iter()
            .any(|(_, e)| pred(e))
        {
            assert!(Instant::now() < deadline, "never saw {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn seen(&self) -> Seen {
        let shares = self
            .events
            .lock()
            .expect("event log")
            .iter()
            .filter_map(|(t, e)| match e {
                Event::PlayerQualityUpdate { quality, .. } => Some((*t, quality.audio_break_rate)),
                _ => None,
            })
            .collect();
        Seen {
            frames: self
                .frames
                .as_ref()
                .map(FrameLog::frames)
                .unwrap_or_default(),
            audio: Audio::Shares(shares),
        }
    }
}

/// `tests/browser/network-bench.mjs`: headless Chromium pages driven by
/// JSON lines (one reply line, `@reply {...}`, per request).
struct Browser {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Bench {
    fn browser(&mut self) -> &mut Browser {
        self.browser
            .as_mut()
            .expect("the browser side runs only with a browser")
    }
}

impl Browser {
    /// Starts the worker against `server`; `None` (after saying why) when
    /// Chromium or node is missing.
    async fn start(server: &ServerProcess) -> Option<Browser> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
        let http = server
            .url
            .replacen("ws", "http", 1)
            .trim_end_matches("/ws")
            .to_owned();
        let spawned = tokio::process::Command::new("node")
            .arg("network-bench.mjs")
            .current_dir(&dir)
            .env("CONFER_BIN", env!("CARGO_BIN_EXE_confer"))
            .env("CONFER_HTTP_URL", http)
            .env("CONFER_APP_ID", server.app.app_id.to_string())
            .env("CONFER_SECRET", &server.app.server_secret)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                test_support::skip("bench-network chromium", &format!("no node: {e}"));
                return None;
            }
        };
        let stdin = child.stdin.take().expect("stdin");
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut browser = Browser {
            child,
            stdin,
            lines,
        };
        let ready = browser.request(json!({"op": "ready"})).await;
        if let Some(error) = ready.get("error") {
            test_support::skip("bench-network chromium", &error.to_string());
            return None;
        }
        Some(browser)
    }

    /// Sends a request and returns its reply (`{"error": ...}` on failure).
    async fn request(&mut self, request: Value) -> Value {
        let line = format!("{request}\n");
        if let Err(e) = self.stdin.write_all(line.as_bytes()).await {
            return json!({"error": format!("worker gone: {e}")});
        }
        loop {
            match self.lines.next_line().await {
                Ok(Some(line)) => {
                    if let Some(reply) = line.strip_prefix("@reply ") {
                        return serde_json::from_str(reply)
                            .unwrap_or_else(|e| json!({"error": format!("bad reply: {e}")}));
                    }
                }
                _ => return json!({"error": "worker ended"}),
            }
        }
    }

    /// Like [`request`](Self::request); a failed request fails the bench.
    async fn ask(&mut self, request: Value) -> Value {
        let reply = self.request(request.clone()).await;
        assert!(
            reply.get("error").is_none(),
            "chromium {request}: {}",
            reply["error"]
        );
        reply
    }

    async fn quit(mut self) {
        let _ = self.request(json!({"op": "quit"})).await;
        let _ = self.child.wait().await;
    }
}
