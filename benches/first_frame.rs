//! Time to first frame through the SFU on loopback, with the publisher (720p30
//! test pattern) already live: `start_playing_stream` -> first frame rendered,
//! over `FIRST_FRAME_RUNS` runs (default 30), and where the time goes. The
//! player's transport reports its steps (`media_core::transport::PLAY_TIMELINE_TARGET`,
//! a debug event caught here); the engine's events mark the rest:
//!
//! - `signaling`: the call -> the play transport asked for (`PlayStream`,
//!   the server's `StreamReady`);
//! - `pc_and_offer`: the peer connection built and its offer sent;
//! - `negotiation`: offer -> the SFU's answer (its peer connection too);
//! - `answer_applied`: the answer applied with the SFU's first candidates;
//! - `ice`: applied -> ICE connected (checks and nomination);
//! - `dtls`: ICE -> the peer connection connected (DTLS, SRTP keys);
//! - `first_rtp`: connected -> the first video packet;
//! - `keyframe_wait`: first packet -> first complete keyframe;
//! - `to_decoder`: keyframe -> `PlayerRecvVideoFirstFrame` (about to decode);
//! - `decode_render`: -> `PlayerRenderVideoFirstFrame` (decoded, shown).
//!
//! Each run waits `GAP` after the previous one stops, longer than the SFU's
//! keyframe-request window, so every run starts alike.
//!
//! Targets: p50 <= 80 ms, p99 <= 150 ms.

mod support;

use media_core::frame::unix_time_us;
use media_core::transport::PLAY_TIMELINE_TARGET;
use media_core::{Event, PlayerState};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{pct, Peer, ServerProcess};
use test_support::media::VideoProbe;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

const GAP: Duration = Duration::from_millis(600);

/// The timeline events' fields, in step order.
const STEPS: [&str; 8] = [
    "created_us",
    "offer_sent_us",
    "answer_received_us",
    "answer_applied_us",
    "ice_connected_us",
    "connected_us",
    "first_rtp_us",
    "first_keyframe_us",
];

/// The stages printed: from one mark to the next.
const STAGES: [&str; 11] = [
    "signaling",
    "pc_and_offer",
    "negotiation",
    "answer_applied",
    "ice",
    "dtls",
    "first_rtp",
    "keyframe_wait",
    "to_decoder",
    "decode_render",
    "total",
];

type Timelines = Arc<Mutex<Vec<HashMap<&'static str, u64>>>>;

/// Keeps every play timeline event.
struct Catch(Timelines);

struct Fields(HashMap<&'static str, u64>);

impl tracing::field::Visit for Fields {
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.0.insert(field.name(), value);
    }

    fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
}

impl<S: tracing::Subscriber> Layer<S> for Catch {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut fields = Fields(HashMap::new());
        event.record(&mut fields);
        self.0.lock().expect("timelines").push(fields.0);
    }
}

fn main() {
    let timelines = Timelines::default();
    let filter = tracing_subscriber::filter::Targets::new()
        .with_target(PLAY_TIMELINE_TARGET, tracing::Level::DEBUG);
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(Catch(Arc::clone(&timelines)).with_filter(filter)),
    )
    .expect("subscriber");
    support::block_on(run(timelines));
}

fn ms(from: u64, to: u64) -> f64 {
    to.saturating_sub(from) as f64 / 1000.0
}

async fn run(timelines: Timelines) {
    let runs: usize = std::env::var("FIRST_FRAME_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let server = ServerProcess::start("first-frame-bench").await;
    let mut publisher = Peer::new(&server.url, &server.app, "bench", "publisher");
    publisher.publish_720p("cam").await;
    let mut b = Peer::new(&server.url, &server.app, "bench", "probe");
    let mut stages: Vec<Vec<f64>> = vec![Vec::new(); STAGES.len()];
    for _ in 0..runs {
        let (canvas, mut video) = VideoProbe::canvas();
        timelines.lock().expect("timelines").clear();
        let t0 = unix_time_us();
        b.engine
            .start_playing_stream("cam", Some(canvas))
            .expect("play");
        b.wait(|e| matches!(e, Event::PlayerRecvVideoFirstFrame { .. }))
            .await;
        let received = unix_time_us();
        b.wait(|e| matches!(e, Event::PlayerRenderVideoFirstFrame { .. }))
            .await;
        let rendered = unix_time_us();
        assert!(
            video.first(Duration::from_secs(5)).await.is_some(),
            "no stamped frame"
        );
        let timeline = timelines
            .lock()
            .expect("timelines")
            .pop()
            .expect("the play timeline");
        let mut marks = vec![t0];
        marks.extend(STEPS.iter().map(|s| timeline.get(s).copied().unwrap_or(0)));
        marks.extend([received, rendered]);
        for (i, stage) in stages.iter_mut().enumerate().take(STAGES.len() - 1) {
            stage.push(ms(marks[i], marks[i + 1]));
        }
        stages[STAGES.len() - 1].push(ms(t0, rendered));
        b.engine.stop_playing_stream("cam").expect("stop");
        b.wait_player(PlayerState::NoPlay).await;
        tokio::time::sleep(GAP).await;
    }
    println!("first_frame_runs {runs}");
    for (name, values) in STAGES.iter().zip(&mut stages) {
        values.sort_by(f64::total_cmp);
        println!(
            "first_frame_{name}_ms p50 {:.1} p95 {:.1} max {:.1}",
            pct(values, 0.5),
            pct(values, 0.95),
            pct(values, 1.0)
        );
    }
    let total = &stages[STAGES.len() - 1];
    println!("first_frame_p50_ms {:.1}", pct(total, 0.5));
    println!("first_frame_p95_ms {:.1}", pct(total, 0.95));
    println!("first_frame_p99_ms {:.1}", pct(total, 0.99));
    println!("first_frame_max_ms {:.1}", pct(total, 1.0));
    b.engine.destroy().await;
    publisher.engine.destroy().await;
    server.stop();
    std::process::exit(0);
}
