//! `confer call --probe`: beside its events the child prints, for the stream
//! it plays, the frame numbers and capture times read from the publisher's
//! test-pattern barcode and the frequency of its tone, as JSON lines on the
//! same stdout. It also saves what it received (`--save-received`), so both
//! consumers of the played frames run at once.

use serde_json::Value;
use std::process::Stdio;
use std::time::Duration;
use test_support::{cli, Peer, TestServer};

/// The tone `Peer` publishes.
const TONE_HZ: f64 = 440.0;
/// Stamped frames to see before the video side passes.
const FRAMES_WANTED: usize = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_probe_reports_frame_numbers_latency_and_tone() {
    let server = TestServer::start().await;
    let dir = std::env::temp_dir().join(format!("confer-probe-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);

    let mut child = cli::confer_call(&server, "probe-room", "cli")
        .args(["--play", "auto", "--probe", "--save-received"])
        .arg(&dir)
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn confer call");
    let mut lines = cli::stdout_lines(&mut child);

    let mut a = Peer::join(server.profile(), "probe-room", "a", false).await;
    a.publish("a-cam").await;

    // Every line is one whole JSON object: events and probes never interleave.
    let mut frames: Vec<(u64, u64, f64)> = Vec::new();
    let mut tones: Vec<(f64, f64)> = Vec::new();
    let mut events = 0usize;
    let tone_heard = |tones: &[(f64, f64)]| tones.iter().any(|(f, _)| (f - TONE_HZ).abs() <= 5.0);
    let done = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            let v: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line}"));
            match v["probe"].as_str() {
                Some("video") => {
                    assert_eq!(v["stream_id"], "a-cam", "{line}");
                    frames.push((
                        v["frame_number"].as_u64().expect("frame_number"),
                        v["capture_time_us"].as_u64().expect("capture_time_us"),
                        v["latency_ms"].as_f64().expect("latency_ms"),
                    ));
                }
                Some("audio") => {
                    assert_eq!(v["stream_id"], "a-cam", "{line}");
                    // `null` (silence) is allowed while the stream starts.
                    if let Some(f) = v["frequency_hz"].as_f64() {
                        tones.push((f, v["rms"].as_f64().expect("rms")));
                    }
                }
                Some(other) => panic!("unknown probe {other}: {line}"),
                None => {
                    assert!(v["event"].is_string(), "neither event nor probe: {line}");
                    events += 1;
                }
            }
            if frames.len() >= FRAMES_WANTED && tone_heard(&tones) {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(
        done,
        Ok(true),
        "{} stamped frames, tones {tones:?}, {events} events",
        frames.len()
    );
    cli::drain(lines);

    let numbers: Vec<u64> = frames.iter().map(|f| f.0).collect();
    assert!(
        numbers.windows(2).all(|w| w[1] > w[0]),
        "frame numbers do not increase: {numbers:?}"
    );
    let now_us = media_core::frame::unix_time_us();
    for &(_, capture_us, latency_ms) in &frames {
        // Same machine, same clock: captured in the last minute, rendered after.
        assert!(
            capture_us <= now_us && now_us - capture_us < 60_000_000,
            "capture time {capture_us} vs now {now_us}"
        );
        assert!(
            (0.0..10_000.0).contains(&latency_ms),
            "latency {latency_ms} ms"
        );
    }
    let &(_, rms) = tones
        .iter()
        .find(|(f, _)| (f - TONE_HZ).abs() <= 5.0)
        .expect("checked above");
    // The tone is at -12 dBFS: RMS 0.178 of full scale, give or take the codec.
    assert!((0.05..0.5).contains(&rms), "tone RMS {rms}");

    let status = cli::terminate(&mut child).await;
    assert!(status.success(), "{status:?}");

    // The saver got the same frames and audio as the probe.
    for file in ["a-cam.y4m", "a-cam.wav"] {
        let len = std::fs::metadata(dir.join(file)).map_or(0, |m| m.len());
        assert!(len > 100_000, "{file} has only {len} bytes");
    }
    a.engine.destroy().await;
    let _ = std::fs::remove_dir_all(&dir);
}
