//! Which simulcast layer a player leg forwards, and when it switches
//! (sans-IO: every input carries its `now`, the caller owns the timers).
//!
//! The rules (docs/simulcast-spike.md, "the layer-switch state machine"):
//!
//! 1. The **affordable** layer is the best available layer within the cap
//!    whose receive rate fits 0.85 x min(estimate, 1.5 x max(acked rate,
//!    current layer's rate)): an estimate the leg never exercised does not
//!    count (an unexercised estimate put the top layer on a 700 kbit/s link
//!    in the spike and froze the player for 3.4 s).
//! 2. **Down** when the affordable layer has been below the current one for
//!    [`DOWN_AFTER`], at once on a cap change, a layer going silent or the
//!    estimate falling by more than [`SUDDEN_FALL`].
//! 3. **Up** one step at a time, once a higher layer has been affordable for
//!    [`UP_AFTER`], and not within [`UP_QUIET_AFTER_DOWN`] of the last down;
//!    straight to the affordable layer after [`UP_AFTER_PROVEN`] when the
//!    leg has acknowledged receiving its rate and the audio's (a probe
//!    showed the link carries it: capacity that came back is used within
//!    a second, not two per step). No climb, and a pending one is called
//!    off, while the leg lost more than [`CLIMB_MAX_LOSS_PERMILLE`] in the
//!    last [`CLIMB_LOSS_MEMORY`] for want of capacity (random loss, which
//!    NACKs repair on a link that does not queue, does not count); the
//!    hold starts afresh after that, and
//!    does not start before the leg's last probe burst ended (its
//!    feedback, losses included, comes in meanwhile).
//! 4. A switch happens only at the first packet of a keyframe of the
//!    target, which is asked for at once and again every
//!    [`KEYFRAME_RETRY`]; the current layer keeps flowing until then. An
//!    up-switch whose keyframe does not come within [`UP_GIVE_UP`] is
//!    given up (a down-switch waits on).
//! 5. A new leg starts on the lowest available layer within its cap (the
//!    smallest keyframe: the first frame comes fast) and climbs by rule 3.
//!    A simulcast leg never starts above its cap (its lowest layer opens
//!    a few packets after the top one at times); a track without simulcast
//!    starts on its one layer whatever the cap.
//!    A leg without an estimate (no transport-wide feedback) goes by its
//!    cap alone.
//!
//! While the estimate holds a leg below what its cap allows, the leg
//! [probes](LayerSwitch::probe_bps): for [`PROBE_LENGTH`] it sends twice
//! its acknowledged rate, every [`PROBE_EVERY`] (twice, then four times
//! that after probes in a row the link did not carry; none while its
//! packets queue), or at once again after a probe the link carried, so
//! that the estimator (`estimate.rs`) sees the link carry it and raises
//! the estimate step by step.

use super::leg_start::KEYFRAME_RETRY;
use super::temporal::STANDING_QUEUE;
use protocol::VideoLayer;
use std::time::{Duration, Instant};

/// How long a lower affordable layer must hold before a down-switch.
pub(crate) const DOWN_AFTER: Duration = Duration::from_millis(300);
/// How long a higher affordable layer must hold before an up-switch.
pub(crate) const UP_AFTER: Duration = Duration::from_secs(2);
/// How long a higher layer the leg has shown it carries must stay
/// affordable before an up-switch.
pub(crate) const UP_AFTER_PROVEN: Duration = Duration::from_millis(500);
/// No up-switch this soon after a down-switch.
pub(crate) const UP_QUIET_AFTER_DOWN: Duration = Duration::from_secs(5);
/// An up-switch waiting this long for its keyframe is given up.
pub(crate) const UP_GIVE_UP: Duration = Duration::from_secs(2);
/// A leg whose feedback showed more than this congestion loss (per
/// mille, [`Estimate::congestion_permille`]) in the last
/// [`CLIMB_LOSS_MEMORY`] does not climb. On the LTE trace a leg
/// climbed to 720p right after a probe while it lost 52-80 % of its
/// packets, and each time the top layer's keyframe was lost with them.
pub(crate) const CLIMB_MAX_LOSS_PERMILLE: u16 = 100;
/// See [`CLIMB_MAX_LOSS_PERMILLE`].
pub(crate) const CLIMB_LOSS_MEMORY: Duration = Duration::from_secs(1);
/// A fall of the estimate by more than this share acts at once.
const SUDDEN_FALL: f64 = 0.3;
/// The share of the (capped) estimate a layer may use.
const HEADROOM: f64 = 0.85;
/// How far above the acknowledged rate an estimate is believed.
const UNEXERCISED_CAP: f64 = 1.5;
/// How often a held-down leg probes, and for how long.
pub(crate) const PROBE_EVERY: Duration = Duration::from_millis(1500);
/// See [`PROBE_EVERY`].
pub(crate) const PROBE_LENGTH: Duration = Duration::from_millis(400);
/// A probe sends this many times the acknowledged rate (libwebrtc's
/// exponential probing): a link near its limit sees a small excess for a
/// moment, a link that has room shows it in a few steps.
const PROBE_GROWTH: f64 = 2.0;
/// After a probe that raised the acknowledged rate by this factor, the
/// next one follows as soon as its feedback is in ([`PROBE_FEEDBACK`]).
const PROBE_RAISED: f64 = 1.4;
/// See [`PROBE_RAISED`].
const PROBE_FEEDBACK: Duration = Duration::from_millis(300);
/// A link losing more than this (per mille, random loss aside) is not
/// probed, and a probe that makes it lose more ends.
const PROBE_MAX_LOSS_PERMILLE: u16 = 20;
/// A leg probes only once it has acknowledged this share of its layer's rate.
const PROBE_CARRIED: f64 = 0.9;
/// A probe ends early when the estimate falls below this share of what it
/// was when the probe began.
const PROBE_ABORT: f64 = 0.9;
/// After each probe in a row that the link did not carry, the time to the
/// next one doubles, at most this many times (to 4 x [`PROBE_EVERY`], 6 s:
/// a capacity that returns is still found within seconds). A link
/// that is simply small (300 kbit/s under a 500 kbit/s layer) lost a third
/// to two thirds of its packets in the second after every probe, one every
/// 1.6 s; its player saw 18 fps of the lowest layer's 30.
const PROBE_BACKOFF_DOUBLINGS: u32 = 2;
/// While a leg's packets queue this long, its link is full: it carries
/// what the leg acknowledged and no more, and the forwarded layer's fit
/// (temporal thinning) goes by that rather than by GCC. Deeper than
/// [`STANDING_QUEUE`]: on a 160 kbit/s link a frame's packets queue
/// 35-45 ms behind each other even when the link has room for them.
const FULL_QUEUE_MS: u32 = 100;

/// What a leg's audio takes of its estimate, bits/s (Opus ~30 kbit/s and
/// its RTP, SRTP, UDP and IP headers at 50 packets/s): at the lowest
/// layer's ~160 kbit/s it decides whether the layer fits.
const AUDIO_BPS: f64 = 50_000.0;

/// A layer's nominal rate (bits/s), for a layer live too briefly to be
/// measured: the SDK's ladder.
fn nominal_bps(layer: VideoLayer) -> u64 {
    match layer {
        VideoLayer::Low => 150_000,
        VideoLayer::Medium => 500_000,
        VideoLayer::High => 1_500_000,
    }
}

/// What the publisher sends now, per layer (index [`VideoLayer::index`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Layers {
    /// The layer sent in the last second.
    pub(crate) live: [bool; 3],
    /// Its receive rate over the last second, bits/s (0: not measured yet).
    pub(crate) bps: [u64; 3],
    /// Its frames over the last second (0: not measured yet).
    pub(crate) fps: [u32; 3],
    /// The track's layers carry `rid`s (a track without has one layer,
    /// `High`).
    pub(crate) simulcast: bool,
}

impl Layers {
    fn live(&self, layer: VideoLayer) -> bool {
        self.live[layer.index()]
    }

    /// Whether the layer moves: its frame rate is at least half the best
    /// live layer's (or not measured yet). A publisher short of uplink may
    /// starve its top layer (Chromium's 720p made 4 fps beside its 180p at
    /// 30 fps at 20 % loss), and a player is better served by the fluid one.
    fn fluid(&self, layer: VideoLayer) -> bool {
        let best = VideoLayer::ALL
            .into_iter()
            .filter(|l| self.live(*l))
            .map(|l| self.fps[l.index()])
            .max()
            .unwrap_or(0);
        let fps = self.fps[layer.index()];
        fps == 0 || 2 * fps >= best
    }

    /// The layer's measured rate, or its nominal one before a measurement.
    fn rate(&self, layer: VideoLayer) -> u64 {
        match self.bps[layer.index()] {
            0 => nominal_bps(layer),
            bps => bps,
        }
    }
}

/// The leg's downlink as its estimator sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Estimate {
    /// The congestion controller's target, bits/s.
    pub(crate) target_bps: u64,
    /// What the player acknowledged receiving (the most in any half
    /// second of the last few), bits/s.
    pub(crate) acked_bps: u64,
    /// The share of the last half second's packets the player reported
    /// lost, per mille.
    pub(crate) lost_permille: u16,
    /// How much longer than the link's least delay the latest feedback's
    /// packets took, ms (a standing queue).
    pub(crate) queue_delay_ms: u32,
    /// The latest feedback's losses were random (`rtc_profile::loss_kind`:
    /// nothing queued for a while), not for want of capacity.
    pub(crate) random_loss: bool,
}

impl Estimate {
    /// The loss that shows congestion, per mille: [`lost_permille`](Self::lost_permille)
    /// unless the loss is random (then none). NACKs repair random loss,
    /// and a link that loses at random but does not queue has room.
    pub(crate) fn congestion_permille(&self) -> u16 {
        if self.random_loss {
            0
        } else {
            self.lost_permille
        }
    }

    /// Whether the leg's packets queue [`STANDING_QUEUE`] or longer: its
    /// link is full and carries what it acknowledges, no more (a probe's
    /// excess would only be dropped).
    pub(crate) fn queue_stands(&self) -> bool {
        u128::from(self.queue_delay_ms) >= STANDING_QUEUE.as_millis()
    }
}

/// What to do with a packet of a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// Forward it (a packet of the current layer).
    Forward,
    /// It starts the target's keyframe: switch to the target (re-anchor)
    /// and forward it.
    Switch,
    /// Not forwarded.
    Drop,
}

/// One player leg's layer choice.
#[derive(Debug, Clone)]
pub(crate) struct LayerSwitch {
    /// The layer being forwarded (`None` before the first keyframe).
    current: Option<VideoLayer>,
    /// The layer wanted; differs from `current` while its keyframe is awaited.
    target: Option<VideoLayer>,
    /// Since when the target has differed from `current`.
    target_since: Option<Instant>,
    /// When its keyframe was last asked for.
    asked: Option<Instant>,
    cap: VideoLayer,
    estimate: Option<Estimate>,
    /// The estimate fell sharply since the last evaluation.
    fell: bool,
    /// Since when a lower / higher layer has been affordable.
    down_since: Option<Instant>,
    up_since: Option<Instant>,
    last_down: Option<Instant>,
    /// The last switch (a leg's start is one).
    last_switch: Option<Instant>,
    /// The current probe.
    probe: Option<Probe>,
    /// When the last probe burst ended (or will): no climb's hold starts
    /// before.
    probe_end: Option<Instant>,
    /// When the leg's feedback last showed more loss than
    /// [`CLIMB_MAX_LOSS_PERMILLE`].
    lossy_at: Option<Instant>,
    /// Probes in a row the link did not carry (the backoff), and the best
    /// layer and last switch they were for (a change starts afresh).
    probe_failures: u32,
    probe_for: Option<(VideoLayer, Option<Instant>)>,
}

/// One probe burst.
#[derive(Debug, Clone, Copy)]
struct Probe {
    started: Instant,
    /// The acknowledged rate when it started: it sends [`PROBE_GROWTH`] x that.
    acked: u64,
    /// The estimate's target then (`None` once the estimate fell during
    /// it: it ended early).
    floor: Option<u64>,
}

impl Probe {
    fn new(now: Instant, acked: u64, estimate: Estimate) -> Self {
        Probe {
            started: now,
            acked,
            floor: Some(estimate.target_bps),
        }
    }
}

impl LayerSwitch {
    /// A leg that forwards nothing yet, capped at `cap`.
    pub(crate) fn new(cap: VideoLayer) -> Self {
        LayerSwitch {
            current: None,
            target: None,
            target_since: None,
            asked: None,
            cap,
            estimate: None,
            fell: false,
            down_since: None,
            up_since: None,
            last_down: None,
            last_switch: None,
            probe: None,
            probe_end: None,
            lossy_at: None,
            probe_failures: 0,
            probe_for: None,
        }
    }

    /// The layer forwarded now.
    pub(crate) fn current(&self) -> Option<VideoLayer> {
        self.current
    }

    /// The layer wanted (the current one unless a switch is pending).
    #[cfg(test)]
    pub(crate) fn target(&self) -> Option<VideoLayer> {
        self.target
    }

    /// The layers this leg wants sent (dynacast): the lowest, its current
    /// and target layers, and every layer above the current one within its
    /// cap. Those stay live while its estimate holds it below its cap, so
    /// it can probe and climb back (a paused layer would leave it nothing
    /// to climb to, and a publisher resumes one only slowly).
    pub(crate) fn wanted(&self) -> [bool; 3] {
        let mut wanted = [false; 3];
        for layer in VideoLayer::ALL {
            let used = Some(layer) == self.current || Some(layer) == self.target;
            let above = layer <= self.cap && self.current.is_none_or(|c| layer > c);
            wanted[layer.index()] = used || above;
        }
        wanted[VideoLayer::Low.index()] = true;
        wanted
    }

    /// The leg's last estimate.
    pub(crate) fn estimate(&self) -> Option<Estimate> {
        self.estimate
    }

    /// A new estimate of the leg's downlink.
    pub(crate) fn on_estimate(&mut self, estimate: Estimate) {
        if let Some(old) = self.estimate {
            if (estimate.target_bps as f64) < old.target_bps as f64 * (1.0 - SUDDEN_FALL) {
                self.fell = true;
            }
        }
        self.estimate = Some(estimate);
    }

    /// The app's cap changed.
    pub(crate) fn on_cap(&mut self, cap: VideoLayer) {
        self.cap = cap;
    }

    /// Re-decides the target from `layers` at `now`; returns the layer to
    /// ask a keyframe of, when one is due.
    pub(crate) fn tick(&mut self, layers: &Layers, now: Instant) -> Option<VideoLayer> {
        if self
            .estimate
            .is_some_and(|e| e.congestion_permille() > CLIMB_MAX_LOSS_PERMILLE)
        {
            self.lossy_at = Some(now);
        }
        let wanted = self.decide(layers, now);
        self.fell = false;
        if wanted != self.target {
            self.target = wanted;
            self.target_since = Some(now);
            self.asked = None;
        }
        let target = self.target?;
        if Some(target) == self.current {
            self.target_since = None;
            self.asked = None;
            return None;
        }
        let due = self
            .asked
            .is_none_or(|t| now.saturating_duration_since(t) >= KEYFRAME_RETRY);
        if !due {
            return None;
        }
        self.asked = Some(now);
        Some(target)
    }

    /// What to do with a packet of `layer` (`keyframe`: it starts a
    /// keyframe) arriving at `now`.
    pub(crate) fn on_packet(&mut self, layer: VideoLayer, keyframe: bool, now: Instant) -> Route {
        let switching = self.target.is_some_and(|t| Some(t) != self.current);
        if switching && keyframe && Some(layer) == self.target {
            if self.current.is_some_and(|c| c > layer) {
                self.last_down = Some(now);
            }
            self.current = Some(layer);
            self.target_since = None;
            self.asked = None;
            self.last_switch = Some(now);
            return Route::Switch;
        }
        if Some(layer) == self.current {
            Route::Forward
        } else {
            Route::Drop
        }
    }

    /// The extra rate (bits/s) to send now as a probe, if the leg probes:
    /// its estimate holds it below what its cap and the publisher allow.
    pub(crate) fn probe_bps(&mut self, layers: &Layers, now: Instant) -> Option<u64> {
        let (Some(current), Some(estimate)) = (self.current, self.estimate) else {
            self.probe = None;
            return None;
        };
        let best = self.best_within_cap(layers)?;
        let affordable = self.affordable(layers, estimate)?;
        let switching = self.target != self.current;
        if affordable >= best || switching {
            self.probe = None;
            return None;
        }
        // A leg that has not shown it carries its layer (the lowest, too
        // big for its link) has nothing to probe for: a probe would only
        // fill its queue.
        if (estimate.acked_bps as f64) < PROBE_CARRIED * layers.rate(current) as f64 {
            self.probe = None;
            return None;
        }
        let acked = estimate.acked_bps.max(layers.rate(current));
        if self.probe_for != Some((best, self.last_switch)) {
            // Something to climb to that was not there, or a switch since:
            // no probe failed yet.
            self.probe_for = Some((best, self.last_switch));
            self.probe_failures = 0;
            self.probe = None;
        }
        // Only a link that loses nothing now and holds no queue is probed
        // (on a full one a probe's losses feed retransmissions and
        // keyframe requests), and not in the first moments of a layer (its
        // rate and the link's feedback settle first).
        let settled = self
            .last_switch
            .is_none_or(|t| now.saturating_duration_since(t) >= PROBE_EVERY);
        let clean = settled
            && estimate.congestion_permille() <= PROBE_MAX_LOSS_PERMILLE
            && !estimate.queue_stands();
        let probe = match self.probe {
            Some(p) => {
                let since = now.saturating_duration_since(p.started);
                let raised = since >= PROBE_LENGTH + PROBE_FEEDBACK
                    && acked as f64 >= p.acked as f64 * PROBE_RAISED;
                let every = PROBE_EVERY * (1 << self.probe_failures.min(PROBE_BACKOFF_DOUBLINGS));
                if clean && (raised || since >= every) {
                    self.probe_failures = if raised {
                        0
                    } else {
                        self.probe_failures.saturating_add(1)
                    };
                    Probe::new(now, acked, estimate)
                } else {
                    p
                }
            }
            None if clean => Probe::new(now, acked, estimate),
            None => return None,
        };
        // The link pushed back (losses, or GCC saw the queue grow): end
        // this probe now rather than fill the queue for its whole length.
        let floor = probe
            .floor
            .filter(|f| clean && estimate.target_bps as f64 >= *f as f64 * PROBE_ABORT);
        self.probe = Some(Probe { floor, ..probe });
        let bursting = now.saturating_duration_since(probe.started) < PROBE_LENGTH;
        if floor.is_none() || !bursting {
            return None;
        }
        self.probe_end = Some(probe.started + PROBE_LENGTH);
        let total = probe.acked as f64 * PROBE_GROWTH;
        Some((total - layers.rate(current) as f64).max(0.0) as u64)
    }

    /// Whether the estimate holds the leg below the best live layer its
    /// cap allows: the leg has a layer to climb to, and a probe (its own,
    /// or the publisher's filler) to show the link for it.
    pub(crate) fn held(&self, layers: &Layers) -> bool {
        let Some(estimate) = self.estimate else {
            return false;
        };
        match (
            self.best_within_cap(layers),
            self.affordable(layers, estimate),
        ) {
            (Some(best), Some(affordable)) => affordable < best,
            _ => false,
        }
    }

    /// The layer wanted now.
    fn decide(&mut self, layers: &Layers, now: Instant) -> Option<VideoLayer> {
        let lowest = VideoLayer::ALL
            .into_iter()
            .find(|l| *l <= self.cap && layers.live(*l))
            .or_else(|| {
                let any = VideoLayer::ALL.into_iter().find(|l| layers.live(*l));
                any.filter(|_| !layers.simulcast)
            });
        let Some(current) = self.current else {
            // Starting: the lowest available layer within the cap.
            return lowest.or(self.target);
        };
        let affordable = match self.estimate {
            Some(estimate) => self.affordable(layers, estimate),
            None => self.best_within_cap(layers),
        };
        let Some(affordable) = affordable else {
            // Nothing live within reach: keep what flows.
            return self.target;
        };
        let silent = !layers.live(current);
        if affordable < current {
            self.up_since = None;
            let since = *self.down_since.get_or_insert(now);
            let at_once = silent || current > self.cap || self.fell;
            if at_once || now.saturating_duration_since(since) >= DOWN_AFTER {
                return Some(affordable);
            }
            // Not yet: a pending up-switch is called off meanwhile.
            return self.target.filter(|t| *t <= current).or(Some(current));
        }
        self.down_since = None;
        if silent {
            // The layer went away: whatever is affordable, now.
            return Some(affordable);
        }
        if affordable == current {
            self.up_since = None;
            return Some(current);
        }
        // A higher layer is affordable.
        let lossy = self
            .lossy_at
            .is_some_and(|t| now.saturating_duration_since(t) < CLIMB_LOSS_MEMORY);
        if lossy {
            // Not on a link that loses this much now (a pending climb is
            // called off); the hold starts once it stops.
            self.up_since = None;
            return Some(current);
        }
        let since = *self.up_since.get_or_insert(now);
        let since = self.probe_end.map_or(since, |end| since.max(end));
        let quiet = self
            .last_down
            .is_none_or(|t| now.saturating_duration_since(t) >= UP_QUIET_AFTER_DOWN);
        let pending_up = self.target.filter(|t| *t > current);
        if let Some(pending) = pending_up {
            let waited = self
                .target_since
                .is_some_and(|t| now.saturating_duration_since(t) >= UP_GIVE_UP);
            if waited {
                // Its keyframe did not come: stay, and wait again.
                self.up_since = Some(now);
                return Some(current);
            }
            return Some(pending);
        }
        let proven = self
            .estimate
            .is_some_and(|e| e.acked_bps as f64 >= layers.rate(affordable) as f64 + AUDIO_BPS);
        let held = now.saturating_duration_since(since);
        if quiet && proven && held >= UP_AFTER_PROVEN {
            return Some(affordable);
        }
        if quiet && held >= UP_AFTER {
            return next_live_above(current, affordable, layers).or(Some(current));
        }
        Some(current)
    }

    /// The best fluid live layer within the cap (the lowest live one if
    /// none is).
    fn best_within_cap(&self, layers: &Layers) -> Option<VideoLayer> {
        VideoLayer::ALL
            .into_iter()
            .rev()
            .find(|l| *l <= self.cap && layers.live(*l) && layers.fluid(*l))
            .or_else(|| VideoLayer::ALL.into_iter().find(|l| layers.live(*l)))
    }

    /// The estimate as far as it is believed: at most
    /// [`UNEXERCISED_CAP`] x what the leg has shown it carries.
    fn believed_bps(&self, layers: &Layers, estimate: Estimate) -> f64 {
        let current_bps = self.current.map_or(0, |c| layers.rate(c));
        let exercised = UNEXERCISED_CAP * estimate.acked_bps.max(current_bps) as f64;
        (estimate.target_bps as f64).min(exercised)
    }

    /// How the forwarded layer fits the leg (temporal thinning, rule 5 in
    /// `temporal.rs`): the believed estimate less the leg's audio
    /// ([`AUDIO_BPS`]) over the layer's rate, and whether a down-switch
    /// waits for its keyframe. While the leg's packets queue
    /// [`FULL_QUEUE_MS`] or longer on the lowest live layer (nothing to
    /// step down to) its link carries what it acknowledged and no more,
    /// whatever GCC says. `None` without an estimate or a forwarded layer.
    pub(crate) fn fit(&self, layers: &Layers) -> Option<(f64, bool)> {
        let (current, estimate) = (self.current?, self.estimate?);
        // What the leg acknowledged counts too: GCC cuts its estimate for
        // random loss, while a link that delivers the layer is not short
        // of capacity (thinning would only halve the frame rate).
        // GCC's delay detector misses a queue that grows slowly: on a
        // 160 kbit/s link under the 165 kbit/s lowest layer its target
        // climbed from 2.7 to 4.7 Mbit/s while the queue grew from 50 to
        // 500 ms, and fell only when the 1 s drop-tail queue overflowed,
        // 12 s after the start (a probe's burst had overflowed it sooner).
        let lowest = VideoLayer::ALL.into_iter().find(|l| layers.live(*l));
        let believed = if estimate.queue_delay_ms >= FULL_QUEUE_MS && lowest == Some(current) {
            estimate.acked_bps as f64
        } else {
            self.believed_bps(layers, estimate)
                .max(estimate.acked_bps as f64)
        };
        let video_bps = (believed - AUDIO_BPS).max(0.0);
        let ratio = video_bps / layers.rate(current) as f64;
        let down_pending = self.target.is_some_and(|t| t < current);
        Some((ratio, down_pending))
    }

    /// Rule 1: the best fluid live layer within the cap the estimate
    /// affords (the lowest live one if none fits).
    fn affordable(&self, layers: &Layers, estimate: Estimate) -> Option<VideoLayer> {
        let budget = HEADROOM * self.believed_bps(layers, estimate);
        let live = || {
            VideoLayer::ALL
                .into_iter()
                .filter(|l| *l <= self.cap && layers.live(*l))
        };
        live()
            .rev()
            .find(|l| layers.fluid(*l) && layers.rate(*l) as f64 <= budget)
            .or_else(|| live().next())
            .or_else(|| VideoLayer::ALL.into_iter().find(|l| layers.live(*l)))
    }
}

/// The first fluid live layer above `current`, at most `limit`.
fn next_live_above(current: VideoLayer, limit: VideoLayer, layers: &Layers) -> Option<VideoLayer> {
    VideoLayer::ALL
        .into_iter()
        .find(|l| *l > current && *l <= limit && layers.live(*l) && layers.fluid(*l))
}

#[cfg(test)]
mod tests {
    use super::*;
    use VideoLayer::{High, Low, Medium};

    const ALL_LIVE: Layers = Layers {
        live: [true; 3],
        bps: [150_000, 500_000, 1_500_000],
        fps: [30; 3],
        simulcast: true,
    };

    fn ms(t0: Instant, n: u64) -> Instant {
        t0 + Duration::from_millis(n)
    }

    fn estimate(kbps: u64) -> Estimate {
        Estimate {
            target_bps: kbps * 1000,
            acked_bps: kbps * 1000,
            lost_permille: 0,
            queue_delay_ms: 0,
            random_loss: false,
        }
    }

    /// A leg started on `layer` at `t0` (keyframe forwarded).
    fn started_on(layer: VideoLayer, kbps: u64, t0: Instant) -> LayerSwitch {
        let mut s = LayerSwitch::new(High);
        s.on_estimate(estimate(kbps));
        s.current = Some(layer);
        s.target = Some(layer);
        assert_eq!(s.tick(&ALL_LIVE, t0), None);
        s
    }

    #[test]
    fn a_new_leg_starts_on_the_lowest_layer_within_its_cap_at_a_keyframe() {
        let t0 = Instant::now();
        let mut s = LayerSwitch::new(High);
        // Nothing live yet: nothing to ask for.
        assert_eq!(s.tick(&Layers::default(), t0), None);
        assert_eq!(s.tick(&ALL_LIVE, t0), Some(Low));
        assert_eq!(s.on_packet(High, true, ms(t0, 10)), Route::Drop);
        assert_eq!(s.on_packet(Low, false, ms(t0, 20)), Route::Drop);
        // Asked again every 500 ms while it waits.
        assert_eq!(s.tick(&ALL_LIVE, ms(t0, 400)), None);
        assert_eq!(s.tick(&ALL_LIVE, ms(t0, 500)), Some(Low));
        assert_eq!(s.on_packet(Low, true, ms(t0, 600)), Route::Switch);
        assert_eq!(s.on_packet(Low, false, ms(t0, 610)), Route::Forward);
        assert_eq!(s.current(), Some(Low));
        assert_eq!(s.tick(&ALL_LIVE, ms(t0, 1200)), None);

        // A publisher without layers: its one layer counts as High.
        let single = Layers {
            live: [false, false, true],
            bps: [0, 0, 800_000],
            fps: [0; 3],
            simulcast: false,
        };
        let mut s = LayerSwitch::new(Low);
        assert_eq!(s.tick(&single, t0), Some(High));
        assert_eq!(s.on_packet(High, true, t0), Route::Switch);

        // A simulcast track whose top layer opened first: a leg capped low
        // waits for the low layer rather than start above its cap.
        let top_first = Layers {
            live: [false, false, true],
            ..ALL_LIVE
        };
        let mut s = LayerSwitch::new(Low);
        assert_eq!(s.tick(&top_first, t0), None);
        assert_eq!(s.on_packet(High, true, t0), Route::Drop);
        assert_eq!(s.tick(&ALL_LIVE, ms(t0, 40)), Some(Low));
        assert_eq!(s.on_packet(High, true, ms(t0, 50)), Route::Drop);
        assert_eq!(s.on_packet(Low, true, ms(t0, 60)), Route::Switch);
    }

    /// An estimate of `kbps` of which the leg acknowledged `acked_kbps`.
    fn unproven(kbps: u64, acked_kbps: u64) -> Estimate {
        Estimate {
            acked_bps: acked_kbps * 1000,
            ..estimate(kbps)
        }
    }

    #[test]
    fn climbs_one_step_after_two_seconds_and_switches_at_the_keyframe() {
        let t0 = Instant::now();
        let mut s = started_on(Low, 3000, t0);
        // 1.5 x 1.2 Mbit/s acknowledged affords the top layer, but the
        // leg has not carried its rate.
        s.on_estimate(unproven(3000, 1200));
        assert_eq!(s.tick(&ALL_LIVE, ms(t0, 1900)), None);
        assert_eq!(s.tick(&ALL_LIVE, ms(t0, 2000)), Some(Medium));
        assert_eq!(s.target(), Some(Medium));
        // The old layer flows until the target's keyframe.
        assert_eq!(s.on_packet(Low, false, ms(t0, 2010)), Route::Forward);
        assert_eq!(s.on_packet(Medium, false, ms(t0, 2020)), Route::Drop);
        assert_eq!(s.on_packet(Medium, true, ms(t0, 2050)), Route::Switch);
        assert_eq!(s.on_packet(Low, true, ms(t0, 2060)), Route::Drop);
        // The next step follows (the top layer has been affordable since t0).
        assert_eq!(s.tick(&ALL_LIVE, ms(t0, 2100)), Some(High));
        assert_eq!(s.on_packet(High, true, ms(t0, 2200)), Route::Switch);
        assert_eq!(s.current(), Some(High));
    }

    #[test]
    fn a_rate_the_leg_carried_is_climbed_to_straight_after_half_a_second() {
        let t0 = Instant::now();
        // 3 Mbit/s acknowledged: the top layer and audio fit.
        let mut s = started_on(Low, 3000, t0);
        assert_eq!(s.tick(&ALL_LIVE, ms(t0, 499)), None);
        assert_eq!(s.tick(&ALL_LIVE, ms(t0, 500)), Some(High));
        assert_eq!(s.on_packet(High, true, ms(t0, 550)), Route::Switch);
        // 1 Mbit/s acknowledged: Medium (500 + 50) at once, High not.
        let mut s = started_on(Low, 3000, t0);
        s.on_estimate(unproven(3000, 1000));
        assert_eq!(s.tick(&ALL_LIVE, ms(t0, 500)), Some(Medium));
        // 400 kbit/s acknowledged affords Medium but has not carried it.
        let mut s = started_on(Low, 3000, t0);
        s.on_estimate(unproven(3000, 400));
        assert_eq!(s.tick(&ALL_LIVE, ms(t0, 500)), None);
        assert_eq!(s.tick(&ALL_LIVE, ms(t0, 2000)), Some(Medium));
        // Not within 5 s of a down-switch, proven or not.
        let mut s = started_on(Medium, 800, t0);
        s.on_estimate(estimate(200));
        assert_eq!(s.tick(&ALL_LIVE, t0), Some(Low));
        assert_eq!(s.on_packet(Low, true, ms(t0, 50)), Route::Switch);
        s.on_estimate(estimate(3000));
        assert_eq!(s.tick(&ALL_LIVE, ms(t0, 4000)), None);
        assert_eq!(s.tick(&ALL_LIVE, ms(t0, 5050)), Some(High));
    }

    #[test]
    fn an_unexercised_estimate_does_not_lift_a_leg() {
        let t0 = Instant::now();
        let mut s = started_on(Low, 3000, t0);
        // 3 Mbit/s estimated, 150 kbit/s acknowledged: 1.5x of it affords Low only.
        s.on_estimate(Estimate {
            acked_bps: 150_000,
            ..estimate(3000)
        });
        assert_eq!(s.tick(&ALL_LIVE, ms(t0, 5000)), None);
        assert_eq!(s.target(), Some(Low));
    }

    #[test]
    fn a_starved_layer_is_left_for_a_fluid_one_and_climbed_to_when_it_moves_again() {
        let t0 = Instant::now();
        // The top layer makes 4 fps beside 30 at 360p and 180p (a browser
        // publisher short of uplink): the leg steps down after 300 ms.
        let starved = Layers {
            fps: [30, 30, 4],
            ..ALL_LIVE
        };
        let mut s = started_on(High, 5000, t0);
        assert_eq!(s.tick(&starved, ms(t0, 100)), None);
        assert_eq!(s.tick(&starved, ms(t0, 400)), Some(Medium));
        assert_eq!(s.on_packet(Medium, true, ms(t0, 450)), Route::Switch);
        // Never climbed to while it stays starved.
        assert_eq!(s.tick(&starved, ms(t0, 20_000)), None);
        assert_eq!(s.current(), Some(Medium));
        // Half the best frame rate is fluid enough: climbed to as usual.
        let moving = Layers {
            fps: [30, 30, 15],
            ..ALL_LIVE
        };
        assert_eq!(s.tick(&moving, ms(t0, 20_100)), None);
        assert_eq!(s.tick(&moving, ms(t0, 20_600)), Some(High));
        // A layer not measured yet counts as fluid.
        let fresh = Layers {
            fps: [30, 30, 0],
            ..ALL_LIVE
        };
        assert!(fresh.fluid(High));
        // Any layer can be the starved one (a leg held to it falls back to
        // the lowest live layer when nothing fluid fits).
        let all_slow = Layers {
            fps: [2, 30, 30],
            ..ALL_LIVE
        };
        assert!(!all_slow.fluid(Low));
    }

    #[test]
    fn steps_down_after_300_ms_or_at_once_on_a_sharp_fall_or_cap() {
        let t0 = Instant::now();
        let mut s = started_on(High, 2000, t0);
        // 1.6 Mbit/s: 0.85 x 1.6 = 1.36 < 1.5 -> Medium, after 300 ms.
        s.on_estimate(estimate(1600));
        assert_eq!(s.tick(&ALL_LIVE, ms(t0, 100)), None);
        assert_eq!(s.tick(&ALL_LIVE, ms(t0, 399)), None);
        assert_eq!(s.tick(&ALL_LIVE, ms(t0, 400)), Some(Medium));
        assert_eq!(s.on_packet(Medium, true, ms(t0, 450)), Route::Switch);

        // A fall by more than 30 %: at once.
        let mut s = started_on(High, 2000, t0);
        s.on_estimate(estimate(300));
        assert_eq!(s.tick(&ALL_LIVE, ms(t0, 10)), Some(Low));
        // A sharp fall that still affords more than the current layer
        // lifts nothing.
        let mut s = started_on(Low, 10_000, t0);
        s.on_estimate(estimate(5000));
        assert_eq!(s.tick(&ALL_LIVE, ms(t0, 10)), None);
        assert_eq!(s.target(), Some(Low));

        // A cap: at once, and never above it afterwards.
        let mut s = started_on(High, 5000, t0);
        s.on_cap(Low);
        assert_eq!(s.tick(&ALL_LIVE, ms(t0, 10)), Some(Low));
        assert_eq!(s.on_packet(Low, true, ms(t0, 20)), Route::Switch);
        assert_eq!(s.tick(&ALL_LIVE, ms(t0, 10_000)), None);
        assert_eq!(s.current(), Some(Low));
        // Lifting the cap climbs by the usual rule (the last down was 10 s
        // ago): straight to the top, which the leg has shown it carries.
        s.on_cap(High);
        assert_eq!(s.tick(&ALL_LIVE, ms(t0, 10_100)), None);
        assert_eq!(s.tick(&ALL_LIVE, ms(t0, 10_600)), Some(High));
    }

    #[test]
    fn a_down_switch_waits_for_its_keyframe_asking_every_500_ms() {
        let t0 = Instant::now();
        let mut s = started_on(High, 2000, t0);
        s.on_estimate(estimate(200));
        assert_eq!(s.tick(&ALL_LIVE, t0), Some(Low));
        for n in 1..10 {
            assert_eq!(s.on_packet(High, false, ms(t0, n * 100)), Route::Forward);
            let asked = s.tick(&ALL_LIVE, ms(t0, n * 100));
            assert_eq!(asked, (n % 5 == 0).then_some(Low), "at {} ms", n * 100);
        }
        assert_eq!(s.on_packet(Low, true, ms(t0, 3000)), Route::Switch);
        assert_eq!(s.on_packet(High, false, ms(t0, 3001)), Route::Drop);
    }

    #[test]
    fn no_climb_within_five_seconds_of_a_down_switch_and_a_late_keyframe_gives_up() {
        let t0 = Instant::now();
        let mut s = started_on(Medium, 800, t0);
        s.on_estimate(estimate(200));
        assert_eq!(s.tick(&ALL_LIVE, t0), Some(Low));
        assert_eq!(s.on_packet(Low, true, ms(t0, 50)), Route::Switch);
        s.on_estimate(estimate(800));
        for n in 1..50 {
            assert_eq!(s.tick(&ALL_LIVE, ms(t0, 50 + n * 100)), None, "{n}");
        }
        assert_eq!(s.tick(&ALL_LIVE, ms(t0, 5050)), Some(Medium));
        // No keyframe of Medium within 2 s: stay on Low, try again 2 s later.
        assert_eq!(s.tick(&ALL_LIVE, ms(t0, 7050)), None);
        assert_eq!(s.target(), Some(Low));
        assert_eq!(s.on_packet(Medium, true, ms(t0, 7060)), Route::Drop);
        assert_eq!(s.tick(&ALL_LIVE, ms(t0, 9050)), Some(Medium));
    }

    #[test]
    fn a_silent_layer_is_left_at_once() {
        let t0 = Instant::now();
        let mut s = started_on(High, 5000, t0);
        let no_top = Layers {
            live: [true, true, false],
            ..ALL_LIVE
        };
        assert_eq!(s.tick(&no_top, ms(t0, 10)), Some(Medium));
        assert_eq!(s.on_packet(Medium, true, ms(t0, 20)), Route::Switch);
    }

    #[test]
    fn no_estimate_means_the_cap_decides() {
        let t0 = Instant::now();
        let mut s = LayerSwitch::new(Medium);
        assert_eq!(s.tick(&ALL_LIVE, t0), Some(Low));
        assert_eq!(s.on_packet(Low, true, t0), Route::Switch);
        assert_eq!(s.tick(&ALL_LIVE, ms(t0, 10)), None);
        assert_eq!(s.tick(&ALL_LIVE, ms(t0, 2010)), Some(Medium));
        assert_eq!(s.on_packet(Medium, true, ms(t0, 2020)), Route::Switch);
        assert_eq!(s.tick(&ALL_LIVE, ms(t0, 9000)), None);
    }

    #[test]
    fn a_leg_wants_its_layers_and_those_above_within_its_cap() {
        let t0 = Instant::now();
        let mut s = LayerSwitch::new(High);
        assert_eq!(s.wanted(), [true; 3]);
        s.on_cap(Medium);
        assert_eq!(s.wanted(), [true, true, false]);
        s.on_cap(Low);
        assert_eq!(s.wanted(), [true, false, false]);
        // Held down on Low by its estimate: the layers to climb to stay.
        let s = started_on(Low, 300, t0);
        assert_eq!(s.wanted(), [true, true, true]);
        // On the top layer: Medium is not needed.
        let mut s = started_on(High, 5000, t0);
        assert_eq!(s.wanted(), [true, false, true]);
        // A layer still forwarded is still wanted.
        s.on_cap(Low);
        assert_eq!(s.wanted(), [true, false, true]);
    }

    #[test]
    fn a_held_down_leg_probes_at_twice_its_rate_and_again_at_once_if_carried() {
        let t0 = Instant::now();
        let mut s = started_on(Low, 300, t0);
        // Twice the 300 kbit/s acknowledged, less what Low sends.
        assert_eq!(s.probe_bps(&ALL_LIVE, t0), Some(450_000));
        assert!(s.probe_bps(&ALL_LIVE, ms(t0, 399)).is_some());
        assert_eq!(s.probe_bps(&ALL_LIVE, ms(t0, 400)), None);
        // Not carried: the next one after 1.5 s.
        assert_eq!(s.probe_bps(&ALL_LIVE, ms(t0, 1499)), None);
        assert_eq!(s.probe_bps(&ALL_LIVE, ms(t0, 1500)), Some(450_000));
        // Carried (the acknowledged rate rose): the next, from there, once
        // its feedback is in.
        s.on_estimate(Estimate {
            acked_bps: 500_000,
            ..estimate(3000)
        });
        assert_eq!(s.probe_bps(&ALL_LIVE, ms(t0, 1999)), None);
        assert_eq!(s.probe_bps(&ALL_LIVE, ms(t0, 2200)), Some(850_000));
        // At the top of its cap: no probe.
        let mut top = started_on(High, 5000, t0);
        assert_eq!(top.probe_bps(&ALL_LIVE, t0), None);
        let mut capped = started_on(Low, 300, t0);
        capped.on_cap(Low);
        assert_eq!(capped.probe_bps(&ALL_LIVE, t0), None);
        // The estimate falls during a probe: it ends there, the next one
        // starts on time.
        let mut s = started_on(Low, 300, t0);
        assert!(s.probe_bps(&ALL_LIVE, t0).is_some());
        s.on_estimate(Estimate {
            target_bps: 260_000,
            ..estimate(300)
        });
        assert_eq!(s.probe_bps(&ALL_LIVE, ms(t0, 100)), None);
        s.on_estimate(estimate(300));
        assert_eq!(s.probe_bps(&ALL_LIVE, ms(t0, 200)), None);
        assert!(s.probe_bps(&ALL_LIVE, ms(t0, 1500)).is_some());
        // Not in a layer's first 1.5 s (a start is a switch too).
        let mut s = LayerSwitch::new(High);
        s.on_estimate(estimate(300));
        assert_eq!(s.tick(&ALL_LIVE, t0), Some(Low));
        assert_eq!(s.on_packet(Low, true, t0), Route::Switch);
        assert_eq!(s.probe_bps(&ALL_LIVE, ms(t0, 1499)), None);
        assert!(s.probe_bps(&ALL_LIVE, ms(t0, 1500)).is_some());
        // A link that loses packets is not probed, and a probe ends when
        // losses start.
        let lossy = Estimate {
            lost_permille: 50,
            ..estimate(300)
        };
        let mut s = started_on(Low, 300, t0);
        s.on_estimate(lossy);
        assert_eq!(s.probe_bps(&ALL_LIVE, t0), None);
        s.on_estimate(estimate(300));
        assert!(s.probe_bps(&ALL_LIVE, ms(t0, 100)).is_some());
        s.on_estimate(lossy);
        assert_eq!(s.probe_bps(&ALL_LIVE, ms(t0, 200)), None);
    }

    #[test]
    fn probes_the_link_did_not_carry_back_off_and_a_queue_stops_them() {
        let t0 = Instant::now();
        let mut s = started_on(Low, 300, t0);
        // Every probe fails (the acknowledged rate stays): 1.5 s, 3 s,
        // then 6 s apart, and no further.
        let mut starts = Vec::new();
        let mut probing = false;
        for n in 0..=300 {
            let now = ms(t0, n * 100);
            let on = s.probe_bps(&ALL_LIVE, now).is_some();
            if on && !probing {
                starts.push(n * 100);
            }
            probing = on;
        }
        assert_eq!(starts, [0, 1500, 4500, 10_500, 16_500, 22_500, 28_500]);
        // A switch starts the count afresh.
        s.target = Some(Medium);
        assert_eq!(s.on_packet(Medium, true, ms(t0, 30_000)), Route::Switch);
        s.target = Some(Low);
        assert_eq!(s.on_packet(Low, true, ms(t0, 30_100)), Route::Switch);
        assert!(s.probe_bps(&ALL_LIVE, ms(t0, 31_600)).is_some());
        assert_eq!(s.probe_bps(&ALL_LIVE, ms(t0, 32_000)), None);
        assert!(s.probe_bps(&ALL_LIVE, ms(t0, 33_100)).is_some());
        // A standing queue: no probe starts, and one under way ends.
        let queued = Estimate {
            queue_delay_ms: 30,
            ..estimate(300)
        };
        let mut s = started_on(Low, 300, t0);
        s.on_estimate(queued);
        assert_eq!(s.probe_bps(&ALL_LIVE, t0), None);
        s.on_estimate(estimate(300));
        assert!(s.probe_bps(&ALL_LIVE, ms(t0, 100)).is_some());
        s.on_estimate(queued);
        assert_eq!(s.probe_bps(&ALL_LIVE, ms(t0, 200)), None);
    }

    #[test]
    fn fit_compares_the_believed_estimate_with_the_forwarded_layer() {
        let t0 = Instant::now();
        assert_eq!(LayerSwitch::new(High).fit(&ALL_LIVE), None);
        // 170 kbit/s, 120 of them for video, on the 150 kbit/s lowest
        // layer: 0.8 of it.
        let s = started_on(Low, 170, t0);
        assert_eq!(s.fit(&ALL_LIVE), Some((0.8, false)));
        assert_eq!(started_on(Low, 40, t0).fit(&ALL_LIVE), Some((0.0, false)));
        // An estimate never exercised counts up to 1.5 x the layer's rate.
        let mut s = started_on(Low, 120, t0);
        s.on_estimate(Estimate {
            target_bps: 900_000,
            acked_bps: 100_000,
            lost_permille: 0,
            queue_delay_ms: 0,
            random_loss: false,
        });
        assert_eq!(s.fit(&ALL_LIVE), Some((1.5 - 50.0 / 150.0, false)));
        // On the top layer at 650 kbit/s: the down-switch waits for its
        // keyframe meanwhile.
        let mut s = started_on(High, 2000, t0);
        s.on_estimate(estimate(650));
        assert_eq!(s.tick(&ALL_LIVE, t0), Some(Medium), "a sudden fall");
        assert_eq!(s.fit(&ALL_LIVE), Some((0.4, true)));
    }

    #[test]
    fn a_full_queue_fits_the_layer_by_the_acknowledged_rate_not_gcc() {
        let t0 = Instant::now();
        // 160 kbit/s carried on the 150 kbit/s lowest layer while GCC
        // says 3 Mbit/s: 1.5 x the acknowledged rate is believed.
        let mut s = started_on(Low, 300, t0);
        let full = |queue_delay_ms| Estimate {
            target_bps: 3_000_000,
            acked_bps: 160_000,
            lost_permille: 0,
            queue_delay_ms,
            random_loss: false,
        };
        s.on_estimate(full(FULL_QUEUE_MS - 1));
        assert_eq!(s.fit(&ALL_LIVE), Some(((240.0 - 50.0) / 150.0, false)));
        // Queued 100 ms: the link carries 160 kbit/s, 110 for video.
        s.on_estimate(full(FULL_QUEUE_MS));
        let (ratio, _) = s.fit(&ALL_LIVE).expect("a fit");
        assert!((ratio - 110.0 / 150.0).abs() < 1e-9, "{ratio}");
        // A higher layer steps down instead (by GCC's estimate, 1.5 x
        // its rate believed).
        let mut s = started_on(Medium, 2000, t0);
        s.on_estimate(Estimate {
            acked_bps: 300_000,
            ..full(400)
        });
        assert_eq!(s.fit(&ALL_LIVE), Some(((750.0 - 50.0) / 500.0, false)));
    }

    #[test]
    fn a_lossy_leg_does_not_climb_until_its_loss_has_stayed_low_for_a_second() {
        let t0 = Instant::now();
        let lossy = Estimate {
            lost_permille: CLIMB_MAX_LOSS_PERMILLE + 1,
            ..estimate(3000)
        };
        // 3 Mbit/s acknowledged would lift it after 500 ms; losing 10.1 %
        // it stays, and the hold starts 1 s after the last lossy feedback.
        let mut s = started_on(Low, 3000, t0);
        s.on_estimate(lossy);
        for n in 0..=10 {
            assert_eq!(s.tick(&ALL_LIVE, ms(t0, n * 100)), None, "{n}");
        }
        s.on_estimate(estimate(3000));
        assert_eq!(s.tick(&ALL_LIVE, ms(t0, 1999)), None);
        assert_eq!(s.tick(&ALL_LIVE, ms(t0, 2000)), None);
        assert_eq!(s.tick(&ALL_LIVE, ms(t0, 2499)), None);
        assert_eq!(s.tick(&ALL_LIVE, ms(t0, 2500)), Some(High));
        // 10 % exactly does not hold a leg.
        let mut s = started_on(Low, 3000, t0);
        s.on_estimate(Estimate {
            lost_permille: CLIMB_MAX_LOSS_PERMILLE,
            ..estimate(3000)
        });
        assert_eq!(s.tick(&ALL_LIVE, ms(t0, 500)), Some(High));
        // Loss while the climb waits for its keyframe: called off.
        assert_eq!(s.on_packet(Low, false, ms(t0, 510)), Route::Forward);
        s.on_estimate(lossy);
        assert_eq!(s.tick(&ALL_LIVE, ms(t0, 600)), None);
        assert_eq!(s.target(), Some(Low));
        assert_eq!(s.on_packet(High, true, ms(t0, 610)), Route::Drop);
    }

    #[test]
    fn random_loss_neither_holds_a_climb_nor_stops_a_probe() {
        let t0 = Instant::now();
        // Losing 35 % at random (no queue): probed, and it climbs as a
        // clean leg would.
        let random = |kbps| Estimate {
            lost_permille: 350,
            random_loss: true,
            ..estimate(kbps)
        };
        let mut s = started_on(Low, 300, t0);
        s.on_estimate(random(300));
        assert_eq!(s.probe_bps(&ALL_LIVE, t0), Some(450_000));
        s.on_estimate(random(3000));
        assert_eq!(s.tick(&ALL_LIVE, ms(t0, 400)), None);
        assert_eq!(s.tick(&ALL_LIVE, ms(t0, 900)), Some(High));
        // The same loss for want of capacity: no probe, no climb.
        let congested = |kbps| Estimate {
            random_loss: false,
            ..random(kbps)
        };
        let mut s = started_on(Low, 300, t0);
        s.on_estimate(congested(300));
        assert_eq!(s.probe_bps(&ALL_LIVE, t0), None);
        s.on_estimate(congested(3000));
        assert_eq!(s.tick(&ALL_LIVE, ms(t0, 900)), None);
    }

    #[test]
    fn a_climb_holds_from_the_end_of_the_last_probe_burst() {
        let t0 = Instant::now();
        // Held on Low at 300 kbit/s: it probes from t0 to 400 ms.
        let mut s = started_on(Low, 300, t0);
        assert!(s.probe_bps(&ALL_LIVE, t0).is_some());
        // The probe's feedback shows 3 Mbit/s carried at 100 ms: the hold
        // counts from the burst's end, not from then.
        s.on_estimate(estimate(3000));
        assert_eq!(s.tick(&ALL_LIVE, ms(t0, 100)), None);
        assert_eq!(s.tick(&ALL_LIVE, ms(t0, 600)), None);
        assert_eq!(s.tick(&ALL_LIVE, ms(t0, 899)), None);
        assert_eq!(s.tick(&ALL_LIVE, ms(t0, 900)), Some(High));
    }

    #[test]
    fn a_leg_that_does_not_carry_its_layer_does_not_probe() {
        let t0 = Instant::now();
        let mut s = started_on(Low, 300, t0);
        let carried = |acked_kbps: u64| Estimate {
            acked_bps: acked_kbps * 1000,
            ..estimate(300)
        };
        s.on_estimate(carried(130));
        assert_eq!(s.probe_bps(&ALL_LIVE, ms(t0, 1500)), None);
        s.on_estimate(carried(140));
        assert!(s.probe_bps(&ALL_LIVE, ms(t0, 1600)).is_some());
    }
}
