//! `confer call --probe`: reports what each played stream delivered, as JSON
//! lines on stdout beside the SDK events.
//!
//! - Per rendered video frame whose barcode (see
//!   `media_core::capture::barcode`) reads:
//!   `{"probe":"video","stream_id":"s1","frame_number":123,"capture_time_us":1700000000000000,"latency_ms":12.3}`,
//!   where `latency_ms` is the render time minus the capture time (both Unix
//!   time; meaningful when publisher and player share a clock), to 0.1 ms.
//! - Per stream, after each second of received audio:
//!   `{"probe":"audio","stream_id":"s1","frequency_hz":440.0,"rms":0.178}`:
//!   the dominant frequency (`null` for silence) and the RMS level (0..1 of
//!   full scale) of that last second, channels mixed to mono.

use media_core::capture::barcode;
use media_core::capture::tone::dominant_frequency;
use media_core::frame::{AudioFrame, VideoFrame};
use media_core::render::{FrameSink, RenderedFrame};
use media_core::PlayedAudio;
use serde::Serialize;
use std::collections::HashMap;
use tokio::sync::mpsc;

/// Frames the video probe may queue before it drops some.
const QUEUE: usize = 60;

/// One probe result, printed as one JSON line.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "probe", rename_all = "lowercase")]
enum Probe<'a> {
    /// A rendered frame's barcode.
    Video {
        stream_id: &'a str,
        frame_number: u32,
        capture_time_us: u64,
        latency_ms: f64,
    },
    /// The last second of a stream's audio.
    Audio {
        stream_id: &'a str,
        frequency_hz: Option<f64>,
        rms: f64,
    },
}

/// Prints a video probe line for every stamped frame rendered into `sink`.
pub(crate) fn probe_video(stream_id: &str, sink: &FrameSink) {
    let mut frames = sink.subscribe(QUEUE);
    let stream_id = stream_id.to_owned();
    tokio::spawn(async move {
        while let Some(frame) = frames.recv().await {
            if let Some(probe) = video_probe(&stream_id, &frame) {
                if let Err(e) = crate::jsonl::print(&probe) {
                    eprintln!("confer call: probe: {e:#}");
                    return;
                }
            }
        }
    });
}

/// The probe for one rendered frame, `None` when its barcode does not read.
fn video_probe<'a>(stream_id: &'a str, frame: &RenderedFrame) -> Option<Probe<'a>> {
    let video = VideoFrame {
        width: frame.width,
        height: frame.height,
        data: frame.data.to_vec(),
        capture_time_us: frame.capture_time_us,
    };
    let stamp = barcode::read_near(&video, frame.render_time_us)?;
    let latency_us = frame.render_time_us as f64 - stamp.capture_time_us as f64;
    Some(Probe::Video {
        stream_id,
        frame_number: stamp.frame_number,
        capture_time_us: stamp.capture_time_us,
        latency_ms: (latency_us / 100.0).round() / 10.0,
    })
}

/// Prints an audio probe line per stream after each second of its audio,
/// until `audio` closes.
pub(crate) async fn probe_audio(mut audio: mpsc::UnboundedReceiver<PlayedAudio>) {
    let mut windows: HashMap<String, AudioWindow> = HashMap::new();
    while let Some(played) = audio.recv().await {
        let window = windows.entry(played.stream_id.clone()).or_default();
        let Some((frequency_hz, rms)) = window.push(&played.frame) else {
            continue;
        };
        let probe = Probe::Audio {
            stream_id: &played.stream_id,
            frequency_hz,
            rms,
        };
        if let Err(e) = crate::jsonl::print(&probe) {
            eprintln!("confer call: probe: {e:#}");
            return;
        }
    }
}

/// The last second of one stream's audio, mixed to mono.
#[derive(Debug, Default)]
struct AudioWindow {
    samples: Vec<i16>,
}

impl AudioWindow {
    /// Adds a frame; once a full second has gathered, returns its dominant
    /// frequency and RMS level (0..1) and starts the next second.
    fn push(&mut self, frame: &AudioFrame) -> Option<(Option<f64>, f64)> {
        let channels = usize::from(frame.channels.max(1));
        self.samples
            .extend(frame.samples.chunks_exact(channels).map(|c| {
                let sum: i32 = c.iter().map(|&s| i32::from(s)).sum();
                // The mean of i16 values fits an i16.
                (sum / channels as i32) as i16
            }));
        let second = frame.sample_rate.max(1) as usize;
        if self.samples.len() < second {
            return None;
        }
        let frequency = dominant_frequency(&self.samples, 1, frame.sample_rate);
        let power = self
            .samples
            .iter()
            .map(|&s| f64::from(s) * f64::from(s))
            .sum::<f64>()
            / self.samples.len() as f64;
        let rms = power.sqrt() / -f64::from(i16::MIN);
        self.samples.clear();
        Some((
            frequency.map(|f| (f * 10.0).round() / 10.0),
            (rms * 1000.0).round() / 1000.0,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use media_core::capture::barcode::Stamp;
    use media_core::capture::tone::{ToneGenerator, TONE_AMPLITUDE};
    use media_core::frame::AUDIO_SAMPLE_RATE;
    use std::sync::Arc;

    #[test]
    fn video_probe_reads_the_barcode_and_latency() {
        let capture = 1_764_000_000_123_456;
        let mut video = VideoFrame::black(320, 180);
        barcode::draw(
            &mut video,
            Stamp {
                frame_number: 77,
                capture_time_us: capture,
            },
        );
        let mut frame = RenderedFrame {
            width: 320,
            height: 180,
            data: Arc::from(video.data),
            capture_time_us: 0,
            frame_number: 5,
            render_time_us: capture + 12_345,
        };
        let probe = video_probe("s1", &frame).unwrap();
        assert_eq!(
            serde_json::to_string(&probe).unwrap(),
            r#"{"probe":"video","stream_id":"s1","frame_number":77,"capture_time_us":1764000000123456,"latency_ms":12.3}"#
        );
        frame.data = Arc::from(VideoFrame::black(320, 180).data);
        assert_eq!(video_probe("s1", &frame), None);
    }

    #[test]
    fn audio_window_reports_each_second() {
        let mut tone = ToneGenerator::new(440.0, AUDIO_SAMPLE_RATE, 2);
        let mut window = AudioWindow::default();
        let mut reports = Vec::new();
        for i in 0..120 {
            if let Some(r) = window.push(&tone.next_frame(i * 20_000)) {
                reports.push((i, r));
            }
        }
        // 50 frames of 20 ms make a second.
        assert_eq!(
            reports.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            [49, 99]
        );
        for (_, (frequency, rms)) in reports {
            let f = frequency.unwrap();
            assert!((f - 440.0).abs() < 1.0, "{f} Hz");
            let expected = TONE_AMPLITUDE / 2f64.sqrt();
            assert!((rms - expected).abs() < 0.002, "rms {rms}");
        }
        let probe = Probe::Audio {
            stream_id: "s1",
            frequency_hz: Some(440.0),
            rms: 0.178,
        };
        assert_eq!(
            serde_json::to_string(&probe).unwrap(),
            r#"{"probe":"audio","stream_id":"s1","frequency_hz":440.0,"rms":0.178}"#
        );
    }

    #[test]
    fn silence_has_no_frequency() {
        let mut window = AudioWindow::default();
        let silence = AudioFrame {
            sample_rate: AUDIO_SAMPLE_RATE,
            channels: 1,
            samples: vec![0; 960],
            capture_time_us: 0,
        };
        let report = (0..50).find_map(|_| window.push(&silence));
        assert_eq!(report, Some((None, 0.0)));
    }
}
