//! Pacing capture devices to real time (sans-IO: the clock is passed in).
//!
//! A real microphone delivers `sample_rate` samples per second of wall
//! clock. Some "devices" do not: the ALSA `null` PCM returns zero samples as
//! fast as they are read, which would make the whole capture pipeline spin.
//! [`RealTimePacer`] lets through at most what the wall clock allows since
//! the stream started plus a small slack ([`DEFAULT_SLACK`]); the excess is
//! dropped and counted. A device that keeps running ahead for more than
//! [`OVERRUN_REPORT_AFTER`] is reported once ([`Pace::Drop`] with `report`).
//!
//! ```
//! use media_core::capture::pacing::{Pace, RealTimePacer};
//! use std::time::{Duration, Instant};
//!
//! let start = Instant::now();
//! let mut pacer = RealTimePacer::new(48_000);
//! // 20 ms of audio every 20 ms passes.
//! for i in 0..100 {
//!     let now = start + Duration::from_millis(20 * i);
//!     assert_eq!(pacer.admit(960, now), Pace::Pass);
//! }
//! // One second of audio at once is far ahead of the clock.
//! let now = start + Duration::from_millis(2000);
//! assert!(matches!(pacer.admit(48_000, now), Pace::Drop { .. }));
//! assert_eq!(pacer.dropped_samples(), 48_000);
//! ```

use std::time::{Duration, Instant};

/// How far ahead of the wall clock a device may deliver before its audio is
/// dropped: covers buffering and scheduling jitter of real devices.
pub const DEFAULT_SLACK: Duration = Duration::from_millis(200);

/// How long a device must keep delivering too fast before it is reported.
pub const OVERRUN_REPORT_AFTER: Duration = Duration::from_secs(2);

/// Drops this far apart belong to separate overruns (a real device whose
/// clock drifts fast drops a frame now and then; that is not reported).
const OVERRUN_GAP: Duration = Duration::from_secs(1);

/// Drops in one overrun after which the capture thread is throttled
/// ([`RealTimePacer::throttle`]).
const THROTTLE_AFTER_DROPS: u64 = 5;

/// Longest single throttling sleep.
const MAX_THROTTLE: Duration = Duration::from_millis(50);

/// What to do with a chunk of captured audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// Within real time: pass it on.
    Pass,
    /// Ahead of real time: drop it. `report` is true exactly once, when the
    /// device has been running ahead for [`OVERRUN_REPORT_AFTER`].
    Drop {
        /// Report the device now (once per pacer).
        report: bool,
    },
}

/// A run of drops close together.
#[derive(Debug, Clone, Copy)]
struct Overrun {
    since: Instant,
    last_drop: Instant,
    drops: u64,
}

/// Holds a capture stream to real time; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct RealTimePacer {
    sample_rate: u32,
    slack: Duration,
    start: Option<Instant>,
    passed: u64,
    dropped: u64,
    overrun: Option<Overrun>,
    reported: bool,
}

impl RealTimePacer {
    /// A pacer for a stream of `sample_rate` samples (per channel) a
    /// second, with [`DEFAULT_SLACK`]. The clock starts at the first
    /// [`admit`](Self::admit).
    pub fn new(sample_rate: u32) -> RealTimePacer {
        RealTimePacer::with_slack(sample_rate, DEFAULT_SLACK)
    }

    /// Like [`new`](Self::new) with another slack.
    pub fn with_slack(sample_rate: u32, slack: Duration) -> RealTimePacer {
        RealTimePacer {
            sample_rate: sample_rate.max(1),
            slack,
            start: None,
            passed: 0,
            dropped: 0,
            overrun: None,
            reported: false,
        }
    }

    /// Decides about `samples` (per channel) delivered at `now`.
    pub fn admit(&mut self, samples: usize, now: Instant) -> Pace {
        let start = *self.start.get_or_insert(now);
        let samples = samples as u64;
        let allowed_us = now.saturating_duration_since(start) + self.slack;
        let allowed = allowed_us.as_micros() * u128::from(self.sample_rate) / 1_000_000;
        if u128::from(self.passed + samples) <= allowed {
            self.passed += samples;
            if self
                .overrun
                .is_some_and(|o| now.saturating_duration_since(o.last_drop) > OVERRUN_GAP)
            {
                self.overrun = None;
            }
            return Pace::Pass;
        }
        self.dropped += samples;
        let overrun = match self.overrun {
            Some(o) if now.saturating_duration_since(o.last_drop) <= OVERRUN_GAP => Overrun {
                last_drop: now,
                drops: o.drops + 1,
                ..o
            },
            _ => Overrun {
                since: now,
                last_drop: now,
                drops: 1,
            },
        };
        self.overrun = Some(overrun);
        let report =
            !self.reported && now.saturating_duration_since(overrun.since) >= OVERRUN_REPORT_AFTER;
        self.reported |= report;
        Pace::Drop { report }
    }

    /// How long the capture thread should pause after a dropped chunk of
    /// `samples`: the chunk's duration (at most 50 ms) once the device has
    /// kept running ahead for a few chunks, else nothing. A device that
    /// returns at once is then polled at about real time instead of in a
    /// busy loop; a real device that drops a frame now and then (clock
    /// drift) is never held up.
    pub fn throttle(&self, samples: usize) -> Option<Duration> {
        let overrun = self.overrun?;
        if overrun.drops < THROTTLE_AFTER_DROPS {
            return None;
        }
        let chunk = Duration::from_micros(samples as u64 * 1_000_000 / u64::from(self.sample_rate));
        Some(chunk.clamp(Duration::from_millis(1), MAX_THROTTLE))
    }

    /// Samples let through so far.
    pub fn passed_samples(&self) -> u64 {
        self.passed
    }

    /// Samples dropped so far for running ahead of real time.
    pub fn dropped_samples(&self) -> u64 {
        self.dropped
    }

    /// True once the device has been reported.
    pub fn reported(&self) -> bool {
        self.reported
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 48_000;
    const CHUNK: usize = 960; // 20 ms

    /// Feeds `seconds` of 20 ms chunks delivered `speed` times faster than
    /// real time; returns the reports.
    fn run(pacer: &mut RealTimePacer, start: Instant, speed: u32, seconds: u64) -> u32 {
        let chunks = seconds * 50 * u64::from(speed);
        let mut reports = 0;
        for i in 0..chunks {
            let now = start + Duration::from_micros(i * 20_000 / u64::from(speed));
            if let Pace::Drop { report: true } = pacer.admit(CHUNK, now) {
                reports += 1;
            }
        }
        reports
    }

    #[test]
    fn a_real_time_device_passes_everything() {
        let start = Instant::now();
        let mut pacer = RealTimePacer::new(RATE);
        assert_eq!(run(&mut pacer, start, 1, 60), 0);
        assert_eq!(pacer.dropped_samples(), 0);
        assert_eq!(pacer.passed_samples(), 60 * u64::from(RATE));
        assert!(!pacer.reported());
    }

    #[test]
    fn a_device_with_jitter_within_the_slack_passes_everything() {
        let start = Instant::now();
        let mut pacer = RealTimePacer::new(RATE);
        // Bursts of 150 ms delivered at once, then nothing for 150 ms.
        for burst in 0..100u64 {
            let now = start + Duration::from_millis(150 * burst);
            for _ in 0..(150 / 20) {
                assert_eq!(pacer.admit(CHUNK, now), Pace::Pass, "burst {burst}");
            }
        }
        assert_eq!(pacer.dropped_samples(), 0);
    }

    #[test]
    fn a_ten_times_fast_device_is_cut_to_real_time() {
        let start = Instant::now();
        let mut pacer = RealTimePacer::new(RATE);
        let reports = run(&mut pacer, start, 10, 10);
        assert_eq!(reports, 1, "reported once");
        assert!(pacer.reported());
        // 10 s of wall clock: at most 10 s + slack passed, 90 % dropped.
        let passed_ms = pacer.passed_samples() * 1000 / u64::from(RATE);
        assert!(
            (9_900..=10_200).contains(&passed_ms),
            "passed {passed_ms} ms"
        );
        let dropped_ms = pacer.dropped_samples() * 1000 / u64::from(RATE);
        assert!(dropped_ms >= 89_000, "dropped {dropped_ms} ms");
        assert!(pacer.throttle(CHUNK).is_some());
        assert_eq!(pacer.throttle(CHUNK), Some(Duration::from_millis(20)));
    }

    #[test]
    fn the_report_waits_two_seconds_and_fires_once() {
        let start = Instant::now();
        let mut pacer = RealTimePacer::new(RATE);
        // An instant device: everything at t=0 beyond the slack drops.
        for _ in 0..100 {
            pacer.admit(CHUNK, start);
        }
        assert!(!pacer.reported());
        let mut reports = 0;
        for ms in (0..5_000).step_by(5) {
            let now = start + Duration::from_millis(ms);
            for _ in 0..3 {
                if pacer.admit(CHUNK, now) == (Pace::Drop { report: true }) {
                    reports += 1;
                    assert!(ms >= 2_000, "reported after {ms} ms");
                }
            }
        }
        assert_eq!(reports, 1);
    }

    #[test]
    fn isolated_drops_from_clock_drift_are_not_reported() {
        let start = Instant::now();
        let mut pacer = RealTimePacer::with_slack(RATE, Duration::from_millis(20));
        // 1 % fast: drops a 20 ms chunk every ~2 s.
        for i in 0..(50 * 120u64) {
            let now = start + Duration::from_micros(i * 19_800);
            if let Pace::Drop { report } = pacer.admit(CHUNK, now) {
                assert!(!report);
                assert_eq!(pacer.throttle(CHUNK), None, "never held up");
            }
        }
        assert!(pacer.dropped_samples() > 0);
        assert!(!pacer.reported());
    }
}
