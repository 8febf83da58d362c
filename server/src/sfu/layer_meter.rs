//! What a publisher's video track sends per simulcast layer: the receive
//! rate and frame rate over the last second and whether the layer sent in
//! that second.
//! Written by the track's read task only, read by every player leg's
//! writer (atomics: the hot path takes no lock).

use super::layer_switch::Layers;
use protocol::VideoLayer;
use rtc_profile::filler::is_h264_filler;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The rate window, and how long a silent layer still counts as live.
const WINDOW: Duration = Duration::from_secs(1);
/// An RTP header without extensions, counted with each packet's payload.
const RTP_HEADER_BYTES: usize = 12;

/// Per-layer counters of one publisher track.
#[derive(Debug)]
pub(crate) struct LayerMeter {
    epoch: Instant,
    layers: [Counter; 3],
    /// A layer with a `rid` opened: the track is simulcast.
    simulcast: AtomicBool,
}

#[derive(Debug, Default)]
struct Counter {
    /// Milliseconds since the epoch, plus one (0: never).
    window_start: AtomicU64,
    last_packet: AtomicU64,
    bytes: AtomicU64,
    bps: AtomicU64,
    /// The newest RTP timestamp seen, plus one (0: none yet).
    newest_ts: AtomicU64,
    /// New frames (newer RTP timestamps) in the current window.
    frames: AtomicU64,
    /// Frames per second over the last whole window (0: not measured).
    fps: AtomicU64,
}

impl LayerMeter {
    /// A meter with nothing received.
    pub(crate) fn new(epoch: Instant) -> Self {
        LayerMeter {
            epoch,
            layers: Default::default(),
            simulcast: AtomicBool::new(false),
        }
    }

    /// A layer with a `rid` opened (from the read task).
    pub(crate) fn mark_simulcast(&self) {
        self.simulcast.store(true, Ordering::Relaxed);
    }

    fn millis(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_millis() as u64 + 1
    }

    /// An RTP packet with `payload` on `layer` at `now` (from the read task
    /// only). A probe's filler keeps the layer live but is not its rate:
    /// counted, the publisher's probe (~2 Mbit/s of filler after its 360p
    /// frames) made the 360p layer look too big for a 1.2 Mbit/s leg, which
    /// stepped down to 180p and could not climb again for 5 s.
    ///
    /// A packet whose RTP `timestamp` is newer than any before starts a
    /// frame; a resend of an older frame does not.
    pub(crate) fn record_packet(
        &self,
        layer: VideoLayer,
        payload: &[u8],
        timestamp: u32,
        now: Instant,
    ) {
        let bytes = match is_h264_filler(payload) {
            true => 0,
            false => payload.len() + RTP_HEADER_BYTES,
        };
        let c = &self.layers[layer.index()];
        let newest = c.newest_ts.load(Ordering::Relaxed);
        // Serial-number order (RFC 1982): newer when less than half the
        // timestamp space ahead.
        let new_frame = newest == 0 || (timestamp.wrapping_sub((newest - 1) as u32) as i32) > 0;
        if new_frame {
            c.newest_ts
                .store(u64::from(timestamp) + 1, Ordering::Relaxed);
        }
        self.record(layer, bytes, new_frame, now);
    }

    /// A packet of `bytes` on `layer` at `now`, the first of a new frame or
    /// not (from the read task only).
    pub(crate) fn record(&self, layer: VideoLayer, bytes: usize, new_frame: bool, now: Instant) {
        let c = &self.layers[layer.index()];
        let frame = u64::from(new_frame);
        let at = self.millis(now);
        let last = c.last_packet.swap(at, Ordering::Relaxed);
        let paused = last != 0 && at.saturating_sub(last) > WINDOW.as_millis() as u64;
        if last == 0 || paused {
            // A new or resumed layer: measured afresh (nominal until then).
            c.bps.store(0, Ordering::Relaxed);
            c.fps.store(0, Ordering::Relaxed);
            c.bytes.store(bytes as u64, Ordering::Relaxed);
            c.frames.store(frame, Ordering::Relaxed);
            c.window_start.store(at, Ordering::Relaxed);
            return;
        }
        let start = c.window_start.load(Ordering::Relaxed);
        let total = c.bytes.fetch_add(bytes as u64, Ordering::Relaxed) + bytes as u64;
        let frames = c.frames.fetch_add(frame, Ordering::Relaxed) + frame;
        let elapsed = at.saturating_sub(start);
        if elapsed >= WINDOW.as_millis() as u64 {
            c.bps.store(total * 8 * 1000 / elapsed, Ordering::Relaxed);
            // The frame in hand opens the next window.
            let whole = frames.saturating_sub(frame);
            c.fps
                .store((whole * 1000 / elapsed).max(1), Ordering::Relaxed);
            c.bytes.store(0, Ordering::Relaxed);
            c.frames.store(frame, Ordering::Relaxed);
            c.window_start.store(at, Ordering::Relaxed);
        }
    }

    /// The layers as seen at `now`.
    pub(crate) fn layers(&self, now: Instant) -> Layers {
        let at = self.millis(now);
        let mut out = Layers {
            simulcast: self.simulcast.load(Ordering::Relaxed),
            ..Layers::default()
        };
        for (i, c) in self.layers.iter().enumerate() {
            let last = c.last_packet.load(Ordering::Relaxed);
            out.live[i] = last != 0 && at.saturating_sub(last) <= WINDOW.as_millis() as u64;
            if !out.live[i] {
                continue;
            }
            out.bps[i] = c.bps.load(Ordering::Relaxed);
            out.fps[i] = c.fps.load(Ordering::Relaxed) as u32;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probes_filler_keeps_a_layer_live_without_raising_its_rate() {
        let t0 = Instant::now();
        let m = LayerMeter::new(t0);
        let slice = [0x41u8; 988];
        let filler = rtc_profile::filler::h264_filler_nal(1000);
        for n in 0..=50u64 {
            // A 1000-byte packet every 20 ms (400 kbit/s), each followed by
            // four of filler.
            let at = t0 + Duration::from_millis(n * 20);
            let ts = n as u32 * 1800;
            m.record_packet(VideoLayer::Medium, &slice, ts, at);
            for _ in 0..4 {
                m.record_packet(VideoLayer::Medium, &filler, ts, at);
            }
        }
        let layers = m.layers(t0 + Duration::from_millis(1000));
        assert_eq!((layers.live[1], layers.bps[1]), (true, 408_000));
        m.record_packet(
            VideoLayer::Low,
            &filler,
            0,
            t0 + Duration::from_millis(1000),
        );
        assert!(m.layers(t0 + Duration::from_millis(1001)).live[0]);
    }

    #[test]
    fn frames_count_once_each_and_resends_of_older_frames_do_not() {
        let t0 = Instant::now();
        let m = LayerMeter::new(t0);
        let slice = [0x41u8; 500];
        // 10 fps with three packets a frame, each frame's first packet
        // resent a frame later, across the timestamp wrap.
        let base = u32::MAX - 4 * 9000;
        for n in 0..=10u64 {
            let at = t0 + Duration::from_millis(n * 100);
            let ts = base.wrapping_add(n as u32 * 9000);
            for _ in 0..3 {
                m.record_packet(VideoLayer::High, &slice, ts, at);
            }
            if n > 0 {
                let older = base.wrapping_add((n as u32 - 1) * 9000);
                m.record_packet(VideoLayer::High, &slice, older, at);
            }
        }
        let layers = m.layers(t0 + Duration::from_millis(1000));
        assert_eq!(layers.fps[2], 10);
    }

    #[test]
    fn rates_per_second_and_silence_after_a_second() {
        let t0 = Instant::now();
        let m = LayerMeter::new(t0);
        assert_eq!(m.layers(t0), Layers::default());
        for n in 0..=50u64 {
            // 1000 bytes every 20 ms: 400 kbit/s.
            m.record(
                VideoLayer::Medium,
                1000,
                true,
                t0 + Duration::from_millis(n * 20),
            );
        }
        let at = t0 + Duration::from_millis(1000);
        let layers = m.layers(at);
        assert_eq!(layers.live, [false, true, false]);
        assert_eq!(layers.bps[1], 408_000, "51 packets in the first window");
        assert!(!m.layers(t0 + Duration::from_millis(2001)).live[1]);
        // Resumed after the pause: not measured until a new window ends.
        m.record(
            VideoLayer::Medium,
            1000,
            true,
            t0 + Duration::from_millis(9000),
        );
        let resumed = m.layers(t0 + Duration::from_millis(9001));
        assert_eq!((resumed.live[1], resumed.bps[1]), (true, 0));
    }
}
