//! Probes for what a player actually got: the frame numbers and capture
//! times read from the test pattern's barcode in rendered frames, and the
//! decoded audio.

use crate::Peer;
use media_core::capture::barcode::{self, Stamp};
use media_core::frame::VideoFrame;
use media_core::render::{Canvas, FrameReceiver, FrameSink, RenderedFrame};
use media_core::{AudioSink, PlayedAudio};
use std::time::Duration;
use tokio::sync::mpsc;

/// One rendered frame's barcode, with when it was rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// The frame number drawn at capture.
    pub frame_number: u32,
    /// Capture time at the publisher (Unix µs).
    pub capture_time_us: u64,
    /// Render time at the player (Unix µs).
    pub render_time_us: u64,
}

/// Reads the barcode of a rendered frame.
pub fn stamp_of(frame: &RenderedFrame) -> Option<Stamp> {
    let video = VideoFrame {
        width: frame.width,
        height: frame.height,
        data: frame.data.to_vec(),
        capture_time_us: frame.capture_time_us,
    };
    barcode::read(&video)
}

/// The `(frame number, width, height)` of every stamped frame `rx`
/// rendered during `window`.
pub async fn rendered_sizes(rx: &mut FrameReceiver, window: Duration) -> Vec<(u32, u32, u32)> {
    let deadline = tokio::time::Instant::now() + window;
    let mut seen = Vec::new();
    while let Ok(Some(frame)) = tokio::time::timeout_at(deadline, rx.recv()).await {
        if let Some(s) = stamp_of(&frame) {
            seen.push((s.frame_number, frame.width, frame.height));
        }
    }
    seen
}

/// A canvas whose rendered frames the test reads.
pub struct VideoProbe {
    rx: FrameReceiver,
}

impl VideoProbe {
    /// A sink canvas and its probe.
    pub fn canvas() -> (Canvas, VideoProbe) {
        let sink = FrameSink::new();
        let rx = sink.subscribe(512);
        (Canvas::sink(sink), VideoProbe { rx })
    }

    /// Every stamped frame rendered during `window`.
    pub async fn collect(&mut self, window: Duration) -> Vec<Seen> {
        let deadline = tokio::time::Instant::now() + window;
        let mut seen = Vec::new();
        while let Ok(Some(frame)) = tokio::time::timeout_at(deadline, self.rx.recv()).await {
            if let Some(s) = stamp_of(&frame) {
                seen.push(Seen {
                    frame_number: s.frame_number,
                    capture_time_us: s.capture_time_us,
                    render_time_us: frame.render_time_us,
                });
            }
        }
        seen
    }

    /// How many frames (stamped or not) were rendered during `window`.
    pub async fn count(&mut self, window: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + window;
        let mut n = 0;
        while let Ok(Some(_)) = tokio::time::timeout_at(deadline, self.rx.recv()).await {
            n += 1;
        }
        n
    }

    /// Waits (up to `timeout`) for the first stamped frame.
    pub async fn first(&mut self, timeout: Duration) -> Option<Seen> {
        let deadline = tokio::time::Instant::now() + timeout;
        while let Ok(Some(frame)) = tokio::time::timeout_at(deadline, self.rx.recv()).await {
            if let Some(s) = stamp_of(&frame) {
                return Some(Seen {
                    frame_number: s.frame_number,
                    capture_time_us: s.capture_time_us,
                    render_time_us: frame.render_time_us,
                });
            }
        }
        None
    }
}

/// How complete a run of received frame numbers is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Completeness {
    /// Distinct frame numbers received.
    pub received: usize,
    /// Frames sent over the same span (last - first + 1).
    pub sent: usize,
    /// Whether the numbers only ever increase.
    pub in_order: bool,
}

impl Completeness {
    /// Of `seen`, in arrival order.
    pub fn of(seen: &[Seen]) -> Completeness {
        let numbers: Vec<u32> = seen.iter().map(|s| s.frame_number).collect();
        let in_order = numbers.windows(2).all(|w| w[1] > w[0]);
        let mut distinct = numbers.clone();
        distinct.sort_unstable();
        distinct.dedup();
        let sent = match (distinct.first(), distinct.last()) {
            (Some(a), Some(b)) => (b - a + 1) as usize,
            _ => 0,
        };
        Completeness {
            received: distinct.len(),
            sent,
            in_order,
        }
    }

    /// The frame numbers missing from `seen`, as runs ("120-125, 140"):
    /// a stall shows as one long run, dropped temporal layers as every
    /// other number.
    pub fn missing_runs(seen: &[Seen]) -> String {
        let mut numbers: Vec<u32> = seen.iter().map(|s| s.frame_number).collect();
        numbers.sort_unstable();
        numbers.dedup();
        let runs: Vec<String> = numbers
            .windows(2)
            .filter(|w| w[1] > w[0] + 1)
            .map(|w| match (w[0] + 1, w[1] - 1) {
                (a, b) if a == b => a.to_string(),
                (a, b) => format!("{a}-{b}"),
            })
            .collect();
        runs.join(", ")
    }

    /// received / sent.
    pub fn ratio(&self) -> f64 {
        if self.sent == 0 {
            0.0
        } else {
            self.received as f64 / self.sent as f64
        }
    }
}

/// Decoded audio of played streams.
pub struct AudioProbe {
    rx: mpsc::UnboundedReceiver<PlayedAudio>,
}

impl AudioProbe {
    /// A sink for `Engine::set_audio_sink` and its probe.
    pub fn sink() -> (AudioSink, AudioProbe) {
        let (sink, rx) = AudioSink::new();
        (sink, AudioProbe { rx })
    }

    /// Discards what has queued up so far.
    pub fn drain(&mut self) {
        while self.rx.try_recv().is_ok() {}
    }

    /// Mono samples of `stream_id` until `duration` of audio has arrived
    /// (or `timeout` passes).
    pub async fn collect(
        &mut self,
        stream_id: &str,
        duration: Duration,
        timeout: Duration,
    ) -> Vec<i16> {
        let want = (duration.as_secs_f64() * 48_000.0) as usize;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut samples = Vec::with_capacity(want);
        while samples.len() < want {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(p)) if p.stream_id == stream_id => {
                    let ch = p.frame.channels.max(1) as usize;
                    samples.extend(p.frame.samples.iter().step_by(ch));
                }
                Ok(Some(_)) => {}
                _ => break,
            }
        }
        samples
    }
}

impl Peer {
    /// Starts playing `stream_id` onto a new [`VideoProbe`]'s canvas (does
    /// not wait for Playing).
    pub fn play_video(&self, stream_id: &str) -> VideoProbe {
        let (canvas, video) = VideoProbe::canvas();
        self.engine
            .start_playing_stream(stream_id, Some(canvas))
            .expect("play accepted");
        video
    }

    /// Like [`Peer::play_video`], with the engine's audio sink probed too.
    pub fn play_probed(&self, stream_id: &str) -> (VideoProbe, AudioProbe) {
        let (sink, audio) = AudioProbe::sink();
        self.engine.set_audio_sink(Some(sink));
        (self.play_video(stream_id), audio)
    }
}
