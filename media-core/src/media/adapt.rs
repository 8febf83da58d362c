//! What the publisher encodes for a bandwidth estimate, in ZEGO's order:
//! bitrate first, then resolution, then frame rate (issue 15 part 3).
//! Sans-IO: the caller passes the time and the estimate, and applies the
//! answer (downscale, encoder restart, frame skipping).
//!
//! The rungs, from the captured size at the configured frame rate down:
//! each smaller standard 16:9 height (1080, 720, 540, 360, 180; the width
//! keeps the source's aspect), then the smallest size at 15 and at 10 fps.
//! A rung is starved below its floor of `30 kbit/s + 0.03 bits per pixel
//! per frame`: at 30 fps 720p needs about 860 kbit/s, 540p 500, 360p 240,
//! 180p 80; 180p at 15 fps 55, at 10 fps 47. Below the floor the encoder
//! still follows the estimate (bitrate first); a size is dropped only when
//! the estimate stays under its floor for [`STEP_DOWN_AFTER`]: a large
//! picture at a starved bitrate makes keyframes too big for a short
//! drop-tail queue, and nothing decodes. Going back up needs the estimate
//! to hold [`STEP_UP_MARGIN`] times the larger rung's floor for
//! [`STEP_UP_AFTER`] (hysteresis: no flapping on an oscillating estimate).

use crate::codec::video_config::VideoConfig;
use std::time::{Duration, Instant};

/// How long the estimate must stay below a rung's floor to step down.
pub(crate) const STEP_DOWN_AFTER: Duration = Duration::from_secs(1);
/// How long the estimate must hold above the next rung up to step up.
pub(crate) const STEP_UP_AFTER: Duration = Duration::from_secs(3);
/// The margin over the larger rung's floor that stepping up needs.
pub(crate) const STEP_UP_MARGIN: f64 = 1.3;
/// A gap between updates (video muted, no frames) after which the
/// estimate's history no longer counts toward a step.
const STALE_AFTER: Duration = Duration::from_millis(500);
/// The smaller heights a source steps down through, largest first.
const HEIGHTS: [u32; 5] = [1080, 720, 540, 360, 180];
/// The frame rates the smallest size steps down through.
const FRAME_RATES: [u32; 2] = [15, 10];
/// A floor's fixed part, kbit/s.
const FLOOR_BASE_KBPS: f64 = 30.0;
/// A floor's part per pixel per frame, bits.
const FLOOR_BITS_PER_PIXEL: f64 = 0.03;

/// What to encode: size, frame rate and bitrate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EncodeTarget {
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) fps: u32,
    pub(crate) bitrate_kbps: u32,
}

/// One size and frame rate, with the estimate below which it is starved.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Rung {
    width: u32,
    height: u32,
    fps: u32,
    floor_kbps: f64,
}

impl Rung {
    fn new(width: u32, height: u32, fps: u32) -> Rung {
        let pixels_per_s = f64::from(width) * f64::from(height) * f64::from(fps);
        Rung {
            width,
            height,
            fps,
            floor_kbps: FLOOR_BASE_KBPS + FLOOR_BITS_PER_PIXEL * pixels_per_s / 1000.0,
        }
    }
}

/// The adaptation state of one publishing pipeline.
#[derive(Debug, Clone)]
pub(crate) struct Adaptation {
    source: (u32, u32),
    max_kbps: u32,
    rungs: Vec<Rung>,
    rung: usize,
    below_since: Option<Instant>,
    above_since: Option<Instant>,
    last_update: Option<Instant>,
}

impl Adaptation {
    /// Starts at the full captured size `(width, height)` and the
    /// configured frame rate and bitrate.
    pub(crate) fn new(source: (u32, u32), config: &VideoConfig) -> Adaptation {
        let (width, height) = source;
        let fps = config.fps;
        let mut rungs = vec![Rung::new(width, height, fps)];
        for h in HEIGHTS.into_iter().filter(|&h| h < height) {
            // Even, as I420 needs; the aspect of the source.
            let w = (u64::from(width) * u64::from(h) / u64::from(height)) as u32 & !1;
            if w >= 16 {
                rungs.push(Rung::new(w, h, fps));
            }
        }
        let smallest = rungs[rungs.len() - 1];
        for f in FRAME_RATES.into_iter().filter(|&f| f < fps) {
            rungs.push(Rung::new(smallest.width, smallest.height, f));
        }
        Adaptation {
            source,
            max_kbps: config.bitrate_kbps,
            rungs,
            rung: 0,
            below_since: None,
            above_since: None,
            last_update: None,
        }
    }

    /// The captured size this adaptation was made for.
    pub(crate) fn source(&self) -> (u32, u32) {
        self.source
    }

    /// The configured (highest) bitrate, kbit/s.
    pub(crate) fn max_kbps(&self) -> u32 {
        self.max_kbps
    }

    /// What to encode at `now` for an estimate of `target_kbps` (0: no
    /// estimate yet, which keeps the current rung at the configured
    /// bitrate). The bitrate follows the estimate at once, capped by the
    /// configured one; size and frame rate move one rung at a time. After
    /// a pause in updates the estimate's history starts again.
    pub(crate) fn update(&mut self, now: Instant, target_kbps: u32) -> EncodeTarget {
        let stale = self
            .last_update
            .replace(now)
            .is_some_and(|t| now.duration_since(t) > STALE_AFTER);
        if stale {
            self.below_since = None;
            self.above_since = None;
        }
        if target_kbps == 0 {
            self.below_since = None;
            self.above_since = None;
            return self.target(self.max_kbps);
        }
        let estimate = f64::from(target_kbps);
        let below = estimate < self.rungs[self.rung].floor_kbps && self.rung + 1 < self.rungs.len();
        let above =
            self.rung > 0 && estimate >= self.rungs[self.rung - 1].floor_kbps * STEP_UP_MARGIN;
        if !below {
            self.below_since = None;
        }
        if !above {
            self.above_since = None;
        }
        if below && held(&mut self.below_since, now, STEP_DOWN_AFTER) {
            self.rung += 1;
            self.below_since = None;
        } else if above && held(&mut self.above_since, now, STEP_UP_AFTER) {
            self.rung -= 1;
            self.above_since = None;
        }
        self.target(target_kbps.min(self.max_kbps))
    }

    fn target(&self, bitrate_kbps: u32) -> EncodeTarget {
        let r = self.rungs[self.rung];
        EncodeTarget {
            width: r.width,
            height: r.height,
            fps: r.fps,
            bitrate_kbps,
        }
    }
}

/// Whether a condition that started at `*since` (now, if unset) has held
/// for `enough`.
pub(super) fn held(since: &mut Option<Instant>, now: Instant, enough: Duration) -> bool {
    now.duration_since(*since.get_or_insert(now)) >= enough
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::video_config::VideoPreset;

    const TICK: Duration = Duration::from_millis(100);
    /// The rungs of a 720p30 source: sizes, then frame rates.
    const LADDER_720P30: [(u32, u32, u32); 6] = [
        (1280, 720, 30),
        (960, 540, 30),
        (640, 360, 30),
        (320, 180, 30),
        (320, 180, 15),
        (320, 180, 10),
    ];

    /// A 720p30 adaptation and a clock.
    fn p720() -> (Adaptation, Instant) {
        (
            Adaptation::new((1280, 720), &VideoPreset::P720.config()),
            Instant::now(),
        )
    }

    /// Feeds `kbps` every 100 ms for `span`; returns the last answer.
    fn feed(a: &mut Adaptation, now: &mut Instant, kbps: u32, span: Duration) -> EncodeTarget {
        let mut last = a.update(*now, kbps);
        let end = *now + span;
        while *now < end {
            *now += TICK;
            last = a.update(*now, kbps);
        }
        last
    }

    fn size(t: EncodeTarget) -> (u32, u32, u32) {
        (t.width, t.height, t.fps)
    }

    #[test]
    fn the_ladder_steps_sizes_then_frame_rates() {
        let (a, _) = p720();
        let rungs: Vec<_> = a.rungs.iter().map(|r| (r.width, r.height, r.fps)).collect();
        assert_eq!(rungs, LADDER_720P30.to_vec());
        let floors: Vec<u32> = a.rungs.iter().map(|r| r.floor_kbps as u32).collect();
        assert_eq!(floors, vec![859, 496, 237, 81, 55, 47]);
        // A 4:3 source keeps its aspect; a 180p15 source only drops to 10 fps.
        let vga = Adaptation::new((640, 480), &VideoPreset::P360.config());
        assert_eq!((vga.rungs[1].width, vga.rungs[1].height), (480, 360));
        let small = Adaptation::new((320, 180), &VideoPreset::P180.config());
        assert_eq!(small.rungs.len(), 2);
        assert_eq!(size(small.target(100)), (320, 180, 15));
    }

    #[test]
    fn bitrate_follows_the_estimate_first() {
        let (mut a, mut now) = p720();
        assert_eq!(
            a.update(now, 0),
            EncodeTarget {
                width: 1280,
                height: 720,
                fps: 30,
                bitrate_kbps: 1500
            }
        );
        // Above the configured bitrate: capped. Above the floor: full size.
        assert_eq!(a.update(now, 5000).bitrate_kbps, 1500);
        let t = feed(&mut a, &mut now, 900, Duration::from_secs(10));
        assert_eq!((size(t), t.bitrate_kbps), ((1280, 720, 30), 900));
        // Below the floor: the bitrate drops at once, the size holds 1 s.
        let t = feed(&mut a, &mut now, 600, Duration::from_millis(900));
        assert_eq!((size(t), t.bitrate_kbps), ((1280, 720, 30), 600));
    }

    #[test]
    fn steps_down_one_size_per_second_below_the_floor() {
        let (mut a, mut now) = p720();
        let t = feed(&mut a, &mut now, 400, Duration::from_millis(900));
        assert_eq!(size(t), (1280, 720, 30));
        let t = feed(&mut a, &mut now, 400, Duration::from_millis(200));
        assert_eq!(size(t), (960, 540, 30), "one step, not two");
        let t = feed(&mut a, &mut now, 400, Duration::from_millis(900));
        assert_eq!(size(t), (960, 540, 30));
        let t = feed(&mut a, &mut now, 400, Duration::from_secs(5));
        assert_eq!(
            (size(t), t.bitrate_kbps),
            ((640, 360, 30), 400),
            "360p holds 400"
        );
    }

    #[test]
    fn frame_rate_drops_only_at_the_smallest_size() {
        let (mut a, mut now) = p720();
        let mut seen = vec![size(a.update(now, 50))];
        for _ in 0..100 {
            now += TICK;
            let s = size(a.update(now, 50));
            if seen.last() != Some(&s) {
                seen.push(s);
            }
        }
        assert_eq!(seen, LADDER_720P30.to_vec());
        // Nothing below the last rung.
        let t = feed(&mut a, &mut now, 30, Duration::from_secs(5));
        assert_eq!((size(t), t.bitrate_kbps), ((320, 180, 10), 30));
    }

    #[test]
    fn steps_up_after_three_seconds_with_margin() {
        let (mut a, mut now) = p720();
        feed(&mut a, &mut now, 400, Duration::from_secs(3));
        assert_eq!(a.rung, 2, "at 360p");
        // Above 540p's floor but under the margin: stays, however long.
        let t = feed(&mut a, &mut now, 600, Duration::from_secs(20));
        assert_eq!(size(t), (640, 360, 30));
        // With the margin (496 x 1.3 = 645): up after 3 s, one rung.
        let t = feed(&mut a, &mut now, 700, Duration::from_millis(2900));
        assert_eq!(size(t), (640, 360, 30));
        let t = feed(&mut a, &mut now, 700, Duration::from_millis(200));
        assert_eq!(size(t), (960, 540, 30));
        // 720p needs 859 x 1.3 = 1117 kbit/s.
        let t = feed(&mut a, &mut now, 700, Duration::from_secs(10));
        assert_eq!(size(t), (960, 540, 30));
        let t = feed(&mut a, &mut now, 1200, Duration::from_millis(3100));
        assert_eq!((size(t), t.bitrate_kbps), ((1280, 720, 30), 1200));
    }

    #[test]
    fn an_oscillating_estimate_does_not_flap() {
        let (mut a, mut now) = p720();
        // Across 720p's floor every 500 ms: never below for a whole second.
        for i in 0..40 {
            let kbps = if i % 2 == 0 { 500 } else { 1000 };
            assert_eq!(
                size(feed(&mut a, &mut now, kbps, Duration::from_millis(400))),
                (1280, 720, 30)
            );
            now += TICK;
        }
        // Down at 360p, an estimate swinging above the step-up margin for
        // 2 s at a time: stays down.
        feed(&mut a, &mut now, 300, Duration::from_secs(3));
        assert_eq!(a.rung, 2);
        for i in 0..20 {
            let kbps = if i % 2 == 0 { 1500 } else { 300 };
            let span = if i % 2 == 0 { 1900 } else { 900 };
            feed(&mut a, &mut now, kbps, Duration::from_millis(span));
            now += TICK;
            assert_eq!(a.rung, 2, "flapped at swing {i}");
        }
        // No estimate resets both timers, as does a pause in updates.
        feed(&mut a, &mut now, 1500, Duration::from_millis(2500));
        a.update(now, 0);
        let t = feed(&mut a, &mut now, 1500, Duration::from_millis(2500));
        assert_eq!(size(t), (640, 360, 30));
        now += Duration::from_secs(5);
        let t = feed(&mut a, &mut now, 1500, Duration::from_millis(2500));
        assert_eq!(size(t), (640, 360, 30));
        let t = feed(&mut a, &mut now, 1500, Duration::from_millis(600));
        assert_eq!(size(t), (960, 540, 30));
    }
}
