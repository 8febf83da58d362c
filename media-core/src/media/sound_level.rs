//! The sound level monitor (ZEGO: `startSoundLevelMonitor`): the level of
//! the main channel's captured audio and of every played stream's decoded
//! audio, reported every interval as [`Event::CapturedSoundLevelUpdate`]
//! and [`Event::RemoteSoundLevelUpdate`](crate::Event::RemoteSoundLevelUpdate).
//!
//! A level is the RMS over the whole interval (not the peak of per-frame
//! levels) mapped to a perceptual 0..=100 scale by [`level_from_rms`]. The
//! pipelines add every 20 ms frame to a [`LevelMeter`] (two atomics, no
//! allocation); the monitor's one timer task takes each meter's level and
//! restarts it.
//!
//! [`Event::CapturedSoundLevelUpdate`]: crate::Event::CapturedSoundLevelUpdate

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The shortest reporting interval; shorter requests are raised to it.
pub(crate) const MIN_INTERVAL: Duration = Duration::from_millis(100);
/// The longest reporting interval; longer requests are lowered to it.
pub(crate) const MAX_INTERVAL: Duration = Duration::from_millis(3000);
/// Levels at or below this many dBFS are 0.
const FLOOR_DBFS: f64 = -60.0;

/// The perceptual level (0..=100) of an RMS amplitude where 1.0 is full
/// scale: `(dBFS + 60) / 60 * 100`, clamped, so -60 dBFS and below is 0
/// and full scale is 100 (a full-scale sine, RMS -3 dBFS, is 95).
pub(crate) fn level_from_rms(rms: f64) -> f32 {
    if rms <= 0.0 || rms.is_nan() {
        return 0.0;
    }
    let dbfs = 20.0 * rms.log10();
    ((dbfs - FLOOR_DBFS) / -FLOOR_DBFS * 100.0).clamp(0.0, 100.0) as f32
}

/// The running sum of one audio path's samples since its level was last
/// taken. Written by one pipeline, read by the monitor.
#[derive(Debug, Default)]
pub(crate) struct LevelMeter {
    /// Sum of squared samples (i16 units; 2^30 per sample at most, so an
    /// interval of 3 s at 48 kHz stereo stays far below `u64::MAX`).
    sum_sq: AtomicU64,
    /// Samples summed.
    samples: AtomicU64,
}

impl LevelMeter {
    /// Adds interleaved 16-bit samples (all channels count alike).
    pub(crate) fn add(&self, samples: &[i16]) {
        let sum: u64 = samples
            .iter()
            .map(|&s| (i64::from(s) * i64::from(s)) as u64)
            .sum();
        self.sum_sq.fetch_add(sum, Ordering::Relaxed);
        self.samples
            .fetch_add(samples.len() as u64, Ordering::Relaxed);
    }

    /// The level of what was added since the last call (0 when nothing
    /// was), and starts over.
    pub(crate) fn take(&self) -> f32 {
        let samples = self.samples.swap(0, Ordering::Relaxed);
        let sum_sq = self.sum_sq.swap(0, Ordering::Relaxed);
        if samples == 0 {
            return 0.0;
        }
        let full_scale = f64::from(i16::MAX);
        level_from_rms((sum_sq as f64 / samples as f64).sqrt() / full_scale)
    }
}

/// `interval` within [`MIN_INTERVAL`]..=[`MAX_INTERVAL`].
pub(crate) fn clamp_interval(interval: Duration) -> Duration {
    interval.clamp(MIN_INTERVAL, MAX_INTERVAL)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::tone::ToneGenerator;

    /// `n` samples of a sine at `amplitude` (1.0 = full scale).
    fn sine(amplitude: f64, n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| {
                let phase = 2.0 * std::f64::consts::PI * 440.0 * i as f64 / 48_000.0;
                (phase.sin() * amplitude * f64::from(i16::MAX)).round() as i16
            })
            .collect()
    }

    #[test]
    fn maps_rms_to_a_perceptual_level() {
        assert_eq!(level_from_rms(0.0), 0.0);
        assert_eq!(level_from_rms(0.001), 0.0); // -60 dBFS
        assert_eq!(level_from_rms(0.000_1), 0.0);
        assert_eq!(level_from_rms(1.0), 100.0);
        assert_eq!(level_from_rms(2.0), 100.0);
        assert!((level_from_rms(0.1) - 200.0 / 3.0).abs() < 0.01); // -20 dBFS
        assert!((level_from_rms(std::f64::consts::FRAC_1_SQRT_2) - 94.98).abs() < 0.01);
    }

    #[test]
    fn meter_levels_silence_sines_and_nothing() {
        let meter = LevelMeter::default();
        assert_eq!(meter.take(), 0.0, "nothing added");
        meter.add(&[0; 960]);
        assert_eq!(meter.take(), 0.0, "silence");
        // A full-scale sine: RMS -3 dBFS.
        meter.add(&sine(1.0, 960));
        assert!((meter.take() - 94.98).abs() < 0.1);
        // A sine whose RMS is -20 dBFS, over several frames.
        for _ in 0..10 {
            meter.add(&sine(0.1 * std::f64::consts::SQRT_2, 960));
        }
        assert!((meter.take() - 66.67).abs() < 0.1);
        assert_eq!(meter.take(), 0.0, "taking starts over");
    }

    #[test]
    fn the_test_tone_is_well_above_a_speaking_threshold() {
        // -12 dBFS peak, -15 dBFS RMS: 75.
        let mut tone = ToneGenerator::new(440.0, 48_000, 1);
        let meter = LevelMeter::default();
        for _ in 0..5 {
            meter.add(&tone.next_frame(0).samples);
        }
        assert!((meter.take() - 75.0).abs() < 0.2);
    }

    #[test]
    fn intervals_are_clamped() {
        let ms = Duration::from_millis;
        assert_eq!(clamp_interval(ms(0)), ms(100));
        assert_eq!(clamp_interval(ms(250)), ms(250));
        assert_eq!(clamp_interval(ms(60_000)), ms(3000));
    }
}
