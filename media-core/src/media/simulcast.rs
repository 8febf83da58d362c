//! Simulcast: which layers a source publishes, and how the bandwidth
//! estimate is shared across them (issue 15 parts 2 and 3). Sans-IO: the
//! caller passes the time, the estimate and the layers the SFU wants
//! (dynacast), and encodes what the answer says.
//!
//! **The ladder.** Each layer below the top halves the size; a source has
//! as many layers as keep the smallest at least 180 lines (the smaller side,
//! so portrait sources count the same), at most three: 720p and up publish
//! three (1280x720 `f`, 640x360 `h`, 320x180 `q`), 360p up to 720p two
//! (`h` at the source's size, `q` at half), smaller sources one plain layer
//! (no rid, exactly as without simulcast). A source's top layer is named
//! `High` with three layers and `Medium` with two, so a layer means about
//! the same size whatever the source ([`protocol::VideoLayer`]).
//!
//! **Nominal rates.** The top layer gets the configured bitrate; each
//! layer below gets `0.25^0.8` (~0.33) of the one above, as its pixels are
//! a quarter (720p30 at 1500 kbit/s: 1500 / 495 / 163).
//!
//! **Sharing the estimate** (ZEGO's order: bitrate, resolution, frame
//! rate), bottom-up: the lowest layer first, at its nominal rate at most;
//! it is never paused, and when even it does not fit it degrades by
//! [`super::adapt`]'s rules (its bitrate, then frame rate). What is left
//! goes to each next layer the SFU wants, at its nominal rate at most. The
//! first estimate decides at once which layers start (the estimator's
//! initial value stands in until it reports: the default 2.5 Mbit/s
//! starts all three layers of 720p30, since webrtc-rs's GCC climbs ~8 % a
//! second and a 1 Mbit/s start kept 720p off for 13-15 s on a clean link;
//! the pacer keeps the first keyframes from bursting); after that a
//! sending layer is paused once what is left stayed under [`PAUSE_BELOW`]
//! of its nominal rate for [`STEP_DOWN_AFTER`], and a paused one resumes
//! once what is left held its whole nominal rate for [`STEP_UP_AFTER`], or
//! [`RESUME_MARGIN`] x that for [`RESUME_FAST`] (capacity that came back:
//! the 3 s wait alone was most of the 5 s issue 15 allows to be back at
//! 720p; the band between 0.75x and 1.2x keeps an estimate swinging
//! around a threshold from flapping the layer). A paused layer is not
//! encoded and sends nothing; a resumed one starts with a keyframe.
//!
//! **Per channel.** [`publish_layers`] decides what a channel publishes:
//! the ladder when the engine's simulcast is on, except for a shared
//! screen, which always sends one full-size layer (players get its text at
//! full size from the first frame; a quarter-size layer of a 1080p page is
//! unreadable, and a share's bitrate is already spent on one picture).

use super::adapt::{held, Adaptation, EncodeTarget, STEP_DOWN_AFTER, STEP_UP_AFTER};
use crate::capture::source::VideoSourceKind;
use crate::codec::video_config::VideoConfig;
use protocol::VideoLayer;
use std::time::{Duration, Instant};

/// The smallest layer's height (or width, for portrait) at least.
const MIN_LAYER_LINES: u32 = 180;
/// Each layer's nominal rate relative to the layer above (a quarter of
/// the pixels, `0.25^0.8`).
const RATE_PER_STEP: f64 = 0.330;
/// The smallest side the encoder takes (a capture smaller than its config
/// still gets encodable layers).
const MIN_SIDE: u32 = 16;
/// A sending layer is paused when what is left for it stays below this
/// share of its nominal rate.
pub(crate) const PAUSE_BELOW: f64 = 0.75;
/// A paused layer resumes after [`RESUME_FAST`] when what is left for it
/// is this many times its nominal rate.
pub(crate) const RESUME_MARGIN: f64 = 1.2;
/// See [`RESUME_MARGIN`].
const RESUME_FAST: Duration = Duration::from_millis(500);

/// The layers a channel publishes for its `video` source configured at
/// `width` x `height`, lowest first: [`layers_for`] when the engine's
/// simulcast is on (`simulcast`) and the source is not a screen, else one
/// plain layer.
pub(crate) fn publish_layers(
    simulcast: bool,
    video: &VideoSourceKind,
    width: u32,
    height: u32,
) -> Vec<VideoLayer> {
    if simulcast && !video.is_screen() {
        layers_for(width, height)
    } else {
        vec![VideoLayer::High]
    }
}

/// The layers to publish for a source of `width` x `height`, lowest first
/// (see the module doc). One layer means plain, single-encoding video.
pub(crate) fn layers_for(width: u32, height: u32) -> Vec<VideoLayer> {
    let lines = width.min(height);
    let count = if lines >= 4 * MIN_LAYER_LINES {
        3
    } else if lines >= 2 * MIN_LAYER_LINES {
        2
    } else {
        return vec![VideoLayer::High];
    };
    VideoLayer::ALL[..count].to_vec()
}

/// One layer's fixed plan: its size (from the source) and nominal rate.
#[derive(Debug, Clone, Copy, PartialEq)]
struct LayerPlan {
    layer: VideoLayer,
    width: u32,
    height: u32,
    nominal_kbps: f64,
}

/// How a simulcast publisher's layers share the estimate.
#[derive(Debug, Clone)]
pub(crate) struct Allocation {
    source: (u32, u32),
    fps: u32,
    /// Lowest first.
    plans: Vec<LayerPlan>,
    /// The estimate leaves room for the layer (hysteresis state; `None`
    /// until the first estimate).
    fits: Vec<Option<bool>>,
    since: Vec<Option<Instant>>,
    /// The lowest layer's own ladder (bitrate, then frame rate).
    lowest: Adaptation,
}

impl Allocation {
    /// The allocation for `layers` (lowest first, from [`layers_for`]) of
    /// a source of `source` size, with the configured frame rate and the
    /// top layer's bitrate.
    pub(crate) fn new(source: (u32, u32), layers: &[VideoLayer], config: &VideoConfig) -> Self {
        let top = layers.len().saturating_sub(1);
        let plans: Vec<LayerPlan> = layers
            .iter()
            .enumerate()
            .map(|(i, &layer)| {
                let down = (top - i) as u32;
                LayerPlan {
                    layer,
                    width: ((source.0 >> down) & !1).max(MIN_SIDE),
                    height: ((source.1 >> down) & !1).max(MIN_SIDE),
                    nominal_kbps: f64::from(config.bitrate_kbps) * RATE_PER_STEP.powi(down as i32),
                }
            })
            .collect();
        let low = plans[0];
        let lowest = Adaptation::new(
            (low.width, low.height),
            &VideoConfig {
                bitrate_kbps: (low.nominal_kbps as u32).max(30),
                ..*config
            },
        );
        Allocation {
            source,
            fps: config.fps,
            fits: vec![None; plans.len()],
            since: vec![None; plans.len()],
            plans,
            lowest,
        }
    }

    /// The captured size this allocation was made for.
    pub(crate) fn source(&self) -> (u32, u32) {
        self.source
    }

    /// What the layers `wanted` says (and the lowest) take at their
    /// nominal rates, kbit/s: the most this allocation would use.
    pub(crate) fn wanted_kbps(&self, wanted: impl Fn(VideoLayer) -> bool) -> u32 {
        self.plans
            .iter()
            .enumerate()
            .filter(|(i, p)| *i == 0 || wanted(p.layer))
            .map(|(_, p)| p.nominal_kbps)
            .sum::<f64>() as u32
    }

    /// What to encode per layer at `now` (lowest first; `None`: paused) for
    /// an estimate of `estimate_kbps` (0: none yet, every wanted layer at
    /// its nominal rate) when the SFU wants the layers `wanted` says (the
    /// lowest is sent whatever it says).
    pub(crate) fn update(
        &mut self,
        now: Instant,
        estimate_kbps: u32,
        wanted: impl Fn(VideoLayer) -> bool,
    ) -> Vec<(VideoLayer, Option<EncodeTarget>)> {
        let low = self.lowest.update(now, estimate_kbps);
        let mut out = vec![(self.plans[0].layer, Some(low))];
        let mut left = f64::from(estimate_kbps) - f64::from(low.bitrate_kbps);
        for i in 1..self.plans.len() {
            let plan = self.plans[i];
            let fits = match self.fits[i] {
                _ if estimate_kbps == 0 => true,
                None => left >= plan.nominal_kbps * PAUSE_BELOW,
                Some(true) => {
                    let flip = left < plan.nominal_kbps * PAUSE_BELOW;
                    !held_while(&mut self.since[i], flip, now, STEP_DOWN_AFTER)
                }
                Some(false) => {
                    let flip = left >= plan.nominal_kbps;
                    let wait = if left >= RESUME_MARGIN * plan.nominal_kbps {
                        RESUME_FAST
                    } else {
                        STEP_UP_AFTER
                    };
                    held_while(&mut self.since[i], flip, now, wait)
                }
            };
            if estimate_kbps > 0 {
                if self.fits[i] != Some(fits) {
                    self.since[i] = None;
                }
                self.fits[i] = Some(fits);
            }
            // A layer above a paused one waits for it.
            let below_sends = out[i - 1].1.is_some() || !wanted(self.plans[i - 1].layer);
            let send = fits && below_sends && wanted(plan.layer);
            let target = send.then(|| {
                let kbps = if estimate_kbps == 0 {
                    plan.nominal_kbps
                } else {
                    left.clamp(0.0, plan.nominal_kbps)
                };
                left -= kbps;
                EncodeTarget {
                    width: plan.width,
                    height: plan.height,
                    fps: self.fps,
                    bitrate_kbps: (kbps as u32).max(30),
                }
            });
            out.push((plan.layer, target));
        }
        out
    }
}

/// Whether a `condition` that started at `*since` has held for `enough`
/// (a false one clears `since`).
fn held_while(
    since: &mut Option<Instant>,
    condition: bool,
    now: Instant,
    enough: Duration,
) -> bool {
    if !condition {
        *since = None;
        return false;
    }
    held(since, now, enough)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::video_config::VideoPreset;

    const TICK: Duration = Duration::from_millis(100);

    #[test]
    fn the_ladder_keeps_the_smallest_layer_at_180_lines() {
        use VideoLayer::*;
        assert_eq!(layers_for(1920, 1080), vec![Low, Medium, High]);
        assert_eq!(layers_for(1280, 720), vec![Low, Medium, High]);
        assert_eq!(layers_for(960, 540), vec![Low, Medium]);
        assert_eq!(layers_for(640, 360), vec![Low, Medium]);
        assert_eq!(layers_for(360, 640), vec![Low, Medium], "portrait");
        assert_eq!(layers_for(480, 270), vec![High]);
        assert_eq!(layers_for(320, 180), vec![High]);
    }

    #[test]
    fn a_shared_screen_sends_one_full_size_layer_even_with_simulcast_on() {
        use crate::capture::screen::ScreenTarget;
        use crate::codec::content::ContentHint;
        use VideoLayer::*;
        let camera = VideoSourceKind::Camera { id: None };
        let screen = VideoSourceKind::Screen {
            target: ScreenTarget::Window(7),
            display: None,
            hint: ContentHint::Text,
        };
        assert_eq!(
            publish_layers(true, &camera, 1920, 1080),
            vec![Low, Medium, High]
        );
        assert_eq!(publish_layers(false, &camera, 1920, 1080), vec![High]);
        assert_eq!(publish_layers(true, &screen, 1920, 1080), vec![High]);
        assert_eq!(publish_layers(true, &screen, 2560, 1440), vec![High]);
    }

    #[test]
    fn a_capture_smaller_than_its_config_still_gets_encodable_layers() {
        let layers = layers_for(1280, 720);
        let mut a = Allocation::new((40, 30), &layers, &VideoPreset::P720.config());
        let s = sent(&a.update(Instant::now(), 0, |_| true));
        let sizes: Vec<_> = s.iter().map(|x| (x.1, x.2)).collect();
        assert_eq!(sizes, vec![(16, 16), (20, 16), (40, 30)]);
    }

    fn p720() -> (Allocation, Instant) {
        let layers = layers_for(1280, 720);
        (
            Allocation::new((1280, 720), &layers, &VideoPreset::P720.config()),
            Instant::now(),
        )
    }

    /// `(layer, width, height, fps, kbps)` of the layers sent.
    fn sent(out: &[(VideoLayer, Option<EncodeTarget>)]) -> Vec<(VideoLayer, u32, u32, u32, u32)> {
        out.iter()
            .filter_map(|(l, t)| t.map(|t| (*l, t.width, t.height, t.fps, t.bitrate_kbps)))
            .collect()
    }

    fn feed(
        a: &mut Allocation,
        now: &mut Instant,
        kbps: u32,
        span: Duration,
    ) -> Vec<(VideoLayer, u32, u32, u32, u32)> {
        let mut last = a.update(*now, kbps, |_| true);
        let end = *now + span;
        while *now < end {
            *now += TICK;
            last = a.update(*now, kbps, |_| true);
        }
        sent(&last)
    }

    #[test]
    fn without_an_estimate_every_layer_gets_its_nominal_rate() {
        use VideoLayer::*;
        let (mut a, now) = p720();
        assert_eq!(
            sent(&a.update(now, 0, |_| true)),
            vec![
                (Low, 320, 180, 30, 163),
                (Medium, 640, 360, 30, 495),
                (High, 1280, 720, 30, 1500)
            ]
        );
        // 360p: two layers, the top one at the source's size.
        let layers = layers_for(640, 360);
        let mut b = Allocation::new((640, 360), &layers, &VideoPreset::P360.config());
        assert_eq!(
            sent(&b.update(now, 0, |_| true)),
            vec![(Low, 320, 180, 15, 132), (Medium, 640, 360, 15, 400)]
        );
    }

    #[test]
    fn the_estimate_fills_layers_bottom_up_and_pauses_what_does_not_fit() {
        use VideoLayer::*;
        let (mut a, mut now) = p720();
        // Plenty: all three, the top capped at its nominal rate.
        let s = feed(&mut a, &mut now, 5000, Duration::from_secs(2));
        assert_eq!(
            s.iter().map(|x| x.4).collect::<Vec<_>>(),
            vec![163, 495, 1500]
        );
        // 1200: the top gets what is left (542) for a second, then pauses.
        let s = feed(&mut a, &mut now, 1200, Duration::from_millis(900));
        assert_eq!(s.last().map(|x| (x.0, x.4)), Some((High, 542)));
        let s = feed(&mut a, &mut now, 1200, Duration::from_millis(200));
        assert_eq!(s.len(), 2, "720p paused: {s:?}");
        // 400: 360p gets 237 (< 0.75 x 495) and pauses too; 180p stays.
        let s = feed(&mut a, &mut now, 400, Duration::from_millis(1100));
        assert_eq!(s, vec![(Low, 320, 180, 30, 163)]);
        // Even 180p does not fit: its bitrate, then its frame rate, drop.
        let s = feed(&mut a, &mut now, 60, Duration::from_millis(200));
        assert_eq!(s, vec![(Low, 320, 180, 30, 60)]);
        let s = feed(&mut a, &mut now, 60, Duration::from_secs(1));
        assert_eq!(s, vec![(Low, 320, 180, 15, 60)]);
    }

    #[test]
    fn the_first_estimate_decides_at_once_which_layers_start() {
        use VideoLayer::*;
        let (mut a, now) = p720();
        // 1000: 163 + 495 fit; 342 left is not 0.75 x 1500.
        let s = sent(&a.update(now, 1000, |_| true));
        assert_eq!(
            s.iter().map(|x| (x.0, x.4)).collect::<Vec<_>>(),
            vec![(Low, 163), (Medium, 495)]
        );
    }

    #[test]
    fn a_paused_layer_resumes_once_its_rate_held_three_seconds_or_with_margin_half_a_second() {
        use VideoLayer::*;
        let (mut a, mut now) = p720();
        feed(&mut a, &mut now, 400, Duration::from_secs(2));
        // 360p needs 163 + 495 = 658 for 3 s.
        let s = feed(&mut a, &mut now, 640, Duration::from_secs(10));
        assert_eq!(s.len(), 1);
        let s = feed(&mut a, &mut now, 700, Duration::from_millis(2900));
        assert_eq!(s.len(), 1);
        let s = feed(&mut a, &mut now, 700, Duration::from_millis(200));
        assert_eq!(s.last().map(|x| (x.0, x.4)), Some((Medium, 495)));
        // With 1.2x its rate left (163 + 1.2 x 495 = 757): half a second.
        let (mut b, mut then) = p720();
        feed(&mut b, &mut then, 400, Duration::from_secs(2));
        let s = feed(&mut b, &mut then, 760, Duration::from_millis(400));
        assert_eq!(s.len(), 1);
        let s = feed(&mut b, &mut then, 760, Duration::from_millis(100));
        assert_eq!(s.last().map(|x| x.0), Some(Medium));
        // An estimate swinging around the top's threshold (above it by
        // less than the margin) does not flap it.
        for i in 0..20 {
            let kbps = if i % 2 == 0 { 2300 } else { 700 };
            let s = feed(&mut a, &mut now, kbps, Duration::from_millis(900));
            assert_eq!(s.len(), 2, "swing {i}: {s:?}");
            now += TICK;
        }
    }

    #[test]
    fn dynacast_pauses_unwanted_layers_at_once_but_never_the_lowest() {
        use VideoLayer::*;
        let (mut a, now) = p720();
        let s = sent(&a.update(now, 3000, |l| l == High));
        assert_eq!(
            s.iter().map(|x| (x.0, x.4)).collect::<Vec<_>>(),
            vec![(Low, 163), (High, 1500)],
            "medium unwanted: its share goes up"
        );
        let s = sent(&a.update(now, 3000, |_| false));
        assert_eq!(s.iter().map(|x| x.0).collect::<Vec<_>>(), vec![Low]);
        let s = sent(&a.update(now, 3000, |_| true));
        assert_eq!(s.len(), 3, "wanted again: at once, the estimate allows it");
    }
}
