//! Media benchmarks through the SFU on loopback (one figure per line):
//!
//! - glass-to-glass latency at 720p30 1.5 Mbps: the capture time in each
//!   frame's barcode to the frame rendered at the player, p50/p95/p99 over 30 s;
//! - time to first frame: `start_playing_stream` -> first frame rendered, and
//!   `start_publishing_stream` -> Publishing;
//! - SFU fan-out: one 720p publisher to 1, 8 and 32 players, the server's
//!   CPU (a separate `confer serve` process) and the latency the extra
//!   players add at a probe player (the others do not decode: video muted).
//!
//! Targets: latency p50 <= 60 ms, p99 <= 120 ms; first frame p50 <= 80 ms
//! (`benches/first_frame.rs`: more runs and where the time goes).

mod support;

use media_core::{Event, PlayerState};
use std::time::{Duration, Instant};
use support::{pct, Peer, ServerProcess, TICKS_PER_SECOND};
use test_support::media::{Seen, VideoProbe};

const LATENCY_WINDOW: Duration = Duration::from_secs(30);
const FANOUT_WINDOW: Duration = Duration::from_secs(10);
const TTFF_RUNS: usize = 5;

fn main() {
    support::block_on(run());
}

fn latencies_ms(seen: &[Seen]) -> Vec<f64> {
    let mut v: Vec<f64> = seen
        .iter()
        .map(|s| s.render_time_us.saturating_sub(s.capture_time_us) as f64 / 1000.0)
        .collect();
    v.sort_by(f64::total_cmp);
    v
}

async fn run() {
    let server = ServerProcess::start("media-bench").await;
    let (url, app) = (server.url.clone(), server.app.clone());

    // Publisher: 720p30 at 1.5 Mbps test pattern.
    let mut a = Peer::new(&url, &app, "bench", "publisher");
    let publishing = a.publish_720p("cam").await;
    println!(
        "publish_to_publishing_ms {:.1}",
        publishing.as_secs_f64() * 1000.0
    );

    // Time to first frame, several runs.
    let mut b = Peer::new(&url, &app, "bench", "probe");
    let (mut ttff, mut playing_ms, mut recv_ms) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..TTFF_RUNS {
        let (canvas, mut video) = VideoProbe::canvas();
        let t0 = Instant::now();
        b.engine
            .start_playing_stream("cam", Some(canvas))
            .expect("play");
        let playing = b.wait_player(PlayerState::Playing).await;
        let received = b
            .wait(|e| matches!(e, Event::PlayerRecvVideoFirstFrame { .. }))
            .await;
        b.wait(|e| matches!(e, Event::PlayerRenderVideoFirstFrame { .. }))
            .await;
        ttff.push(t0.elapsed().as_secs_f64() * 1000.0);
        playing_ms.push((playing - t0).as_secs_f64() * 1000.0);
        recv_ms.push((received - t0).as_secs_f64() * 1000.0);
        assert!(
            video.first(Duration::from_secs(5)).await.is_some(),
            "no stamped frame"
        );
        b.engine.stop_playing_stream("cam").expect("stop");
        b.wait_player(PlayerState::NoPlay).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    for v in [&mut ttff, &mut playing_ms, &mut recv_ms] {
        v.sort_by(f64::total_cmp);
    }
    println!("first_frame_runs {TTFF_RUNS}");
    println!("play_to_playing_p50_ms {:.1}", pct(&playing_ms, 0.5));
    println!(
        "play_to_first_frame_received_p50_ms {:.1}",
        pct(&recv_ms, 0.5)
    );
    println!("first_frame_p50_ms {:.1}", pct(&ttff, 0.5));
    println!("first_frame_max_ms {:.1}", pct(&ttff, 1.0));

    // Glass-to-glass latency over 30 s.
    let (canvas, mut video) = VideoProbe::canvas();
    b.engine
        .start_playing_stream("cam", Some(canvas))
        .expect("play");
    let _ = video.first(Duration::from_secs(10)).await;
    let _ = video.collect(Duration::from_secs(2)).await;
    let seen = video.collect(LATENCY_WINDOW).await;
    let lat = latencies_ms(&seen);
    println!("latency_720p30_frames {}", lat.len());
    println!(
        "latency_720p30_fps {:.1}",
        lat.len() as f64 / LATENCY_WINDOW.as_secs_f64()
    );
    println!("latency_720p30_p50_ms {:.1}", pct(&lat, 0.50));
    println!("latency_720p30_p95_ms {:.1}", pct(&lat, 0.95));
    println!("latency_720p30_p99_ms {:.1}", pct(&lat, 0.99));
    // The player's own view of the same stream (its last quality report).
    let mut quality = None;
    while let Ok(e) = b.events.try_recv() {
        if let Event::PlayerQualityUpdate { quality: q, .. } = e {
            quality = Some(q);
        }
    }
    if let Some(q) = quality {
        println!("player_quality_recv_fps {:.1}", q.video_recv_fps);
        println!("player_quality_render_fps {:.1}", q.video_render_fps);
        println!("player_quality_video_kbps {:.0}", q.video_kbps);
        println!(
            "player_quality_end_to_end_delay_ms {:.1}",
            q.end_to_end_delay_ms
        );
        println!(
            "player_quality_av_timestamp_diff_ms {:.1}",
            q.av_timestamp_diff_ms
        );
        println!("player_quality_mos {:.2}", q.mos);
        println!("player_quality_break_rate {:.3}", q.video_break_rate);
    }

    // Fan-out: 1, 8, 32 players (the probe plus listeners that do not decode).
    let mut listeners: Vec<Peer> = Vec::new();
    let mut baseline_p50 = None;
    for players in [1usize, 8, 32] {
        while listeners.len() + 1 < players {
            let user = format!("listener{}", listeners.len());
            listeners.push(Peer::listener(&url, &app, "bench", &user, "cam").await);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let _ = video.collect(Duration::from_millis(200)).await;
        let cpu0 = server.cpu_ticks();
        let seen = video.collect(FANOUT_WINDOW).await;
        let cpu1 = server.cpu_ticks();
        let cpu = (cpu1 - cpu0) as f64 / TICKS_PER_SECOND / FANOUT_WINDOW.as_secs_f64() * 100.0;
        let lat = latencies_ms(&seen);
        let p50 = pct(&lat, 0.5);
        let base = *baseline_p50.get_or_insert(p50);
        println!("fanout_{players}_players_server_cpu_percent {cpu:.1}");
        println!("fanout_{players}_players_probe_latency_p50_ms {p50:.1}");
        println!(
            "fanout_{players}_players_probe_latency_p99_ms {:.1}",
            pct(&lat, 0.99)
        );
        println!(
            "fanout_{players}_players_added_delay_p50_ms {:.1}",
            p50 - base
        );
        // Drain the events of idle listeners so their queues stay small.
        for l in &mut listeners {
            while l.events.try_recv().is_ok() {}
        }
        while b.events.try_recv().is_ok() {}
        while a.events.try_recv().is_ok() {}
    }
    println!("server_rss_mb {:.1}", server.rss_kb() as f64 / 1024.0);

    for l in listeners {
        l.engine.destroy().await;
    }
    b.engine.destroy().await;
    a.engine.destroy().await;
    server.stop();
    std::process::exit(0);
}
