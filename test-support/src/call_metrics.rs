//! What a player saw over a window, as the network bench reports it for
//! native and browser players alike: received frame rate, freezes per
//! minute (the W3C webrtc-stats definition), glass-to-glass percentiles
//! and the received picture height. Times are Unix microseconds on this
//! machine's clock, which publisher and player share.

/// One presented frame, read from the test pattern's barcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Presented {
    /// Capture time at the publisher.
    pub capture_us: u64,
    /// Presentation (render) time at the player.
    pub render_us: u64,
    /// Height of the received picture (0 when unknown).
    pub height: u32,
}

/// The figures of one player over one window.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// Frames presented per second.
    pub fps: f64,
    /// Freezes per minute: an inter-frame gap longer than
    /// max(3 x mean gap, mean gap + 150 ms) ([`freezes`]).
    pub freezes_per_minute: f64,
    /// Glass-to-glass latency, ms: capture to presentation, median.
    pub g2g_p50_ms: f64,
    /// The same, 95th percentile.
    pub g2g_p95_ms: f64,
    /// Median received picture height (0 when no frame).
    pub height: u32,
}

impl Window {
    /// Of the frames presented in `[from_us, to_us)` (in presentation order).
    pub fn of(frames: &[Presented], from_us: u64, to_us: u64) -> Window {
        let inside: Vec<&Presented> = frames
            .iter()
            .filter(|f| (from_us..to_us).contains(&f.render_us))
            .collect();
        let seconds = to_us.saturating_sub(from_us) as f64 / 1e6;
        let times: Vec<u64> = inside.iter().map(|f| f.render_us).collect();
        let mut g2g: Vec<f64> = inside
            .iter()
            .map(|f| f.render_us.saturating_sub(f.capture_us) as f64 / 1000.0)
            .collect();
        g2g.sort_by(f64::total_cmp);
        let mut heights: Vec<u32> = inside.iter().map(|f| f.height).collect();
        heights.sort_unstable();
        Window {
            fps: inside.len() as f64 / seconds.max(1e-9),
            freezes_per_minute: freezes(&times, from_us, to_us) as f64 / (seconds / 60.0).max(1e-9),
            g2g_p50_ms: percentile(&g2g, 0.50),
            g2g_p95_ms: percentile(&g2g, 0.95),
            height: heights.get(heights.len() / 2).copied().unwrap_or(0),
        }
    }
}

/// Freezes among presentation times within `[from_us, to_us]` (W3C
/// webrtc-stats `freezeCount`): a gap longer than max(3 x mean, mean +
/// 150 ms), the mean over the gaps between frames. The gaps from the
/// window's start to the first frame and from the last frame to its end
/// count too, so a picture that stops (or never comes) is a freeze.
pub fn freezes(render_us: &[u64], from_us: u64, to_us: u64) -> usize {
    let between: Vec<f64> = render_us
        .windows(2)
        .map(|w| w[1].saturating_sub(w[0]) as f64)
        .collect();
    let mean = if between.is_empty() {
        0.0
    } else {
        between.iter().sum::<f64>() / between.len() as f64
    };
    let limit = (3.0 * mean).max(mean + 150_000.0);
    let edges = match (render_us.first(), render_us.last()) {
        (Some(first), Some(last)) => vec![
            first.saturating_sub(from_us) as f64,
            to_us.saturating_sub(*last) as f64,
        ],
        _ => vec![to_us.saturating_sub(from_us) as f64],
    };
    between.iter().chain(&edges).filter(|g| **g > limit).count()
}

/// The `p` quantile (0..=1) of sorted values, nearest rank; NaN when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(render_ms: u64, latency_ms: u64) -> Presented {
        Presented {
            capture_us: (render_ms - latency_ms) * 1000,
            render_us: render_ms * 1000,
            height: 720,
        }
    }

    #[test]
    fn a_long_gap_is_one_freeze() {
        // 30 fps for 2 s with one 400 ms hole.
        let mut times: Vec<u64> = (0..60).map(|i| i * 33_333).collect();
        times.retain(|t| !(1_000_000..1_400_000).contains(t));
        assert_eq!(freezes(&times, 0, 2_000_000), 1);
        let steady: Vec<u64> = (0..60).map(|i| i * 33_333).collect();
        assert_eq!(freezes(&steady, 0, 2_000_000), 0);
    }

    #[test]
    fn a_picture_that_stops_or_never_comes_is_a_freeze() {
        let first_second: Vec<u64> = (0..30).map(|i| i * 33_333).collect();
        assert_eq!(freezes(&first_second, 0, 2_000_000), 1);
        assert_eq!(freezes(&[], 0, 2_000_000), 1);
    }

    #[test]
    fn a_window_counts_only_its_frames() {
        let frames: Vec<Presented> = (0..100)
            .map(|i| frame(1000 + i * 100, 10 + i % 10))
            .collect();
        let w = Window::of(&frames, 2_000_000, 7_000_000);
        assert!((w.fps - 10.0).abs() < 1e-9, "{w:?}");
        assert_eq!(w.freezes_per_minute, 0.0);
        assert_eq!(w.g2g_p50_ms, 14.0);
        assert_eq!(w.g2g_p95_ms, 19.0);
        assert_eq!(w.height, 720);
        let empty = Window::of(&frames, 50_000_000, 51_000_000);
        assert_eq!(empty.fps, 0.0);
        assert_eq!(empty.freezes_per_minute, 60.0);
        assert!(empty.g2g_p50_ms.is_nan());
        assert_eq!(empty.height, 0);
    }
}
