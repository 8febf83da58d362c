//! Temporal thinning of a player leg's video (sans-IO: every input carries
//! its `now`, the caller owns the timers).
//!
//! The SDK's encoders code temporal layers without prefix NAL units, so a
//! packet's temporal layer is read from its NAL header's `nal_ref_idc`
//! (docs/simulcast-spike.md, section 3): 3 is T0 (the base, every other
//! picture), 1 or 2 a reference picture above it (T1 of a three-layer
//! stream), 0 a picture nothing refers to (the top layer: T1 of the SDK's
//! two layers, T2 of three). Dropping the top layer halves the frame rate.
//!
//! Rule 5 of the layer switch: when even the forwarded layer does not fit
//! the leg's estimate (the lowest one, or a higher one whose down-switch
//! waits for its keyframe), the leg forwards only the temporal layers up
//! to a level:
//!
//! - the top layer (`nal_ref_idc` 0) goes below [`TOP_OFF`] x the layer's
//!   measured rate (it carries ~36 % of a two-layer stream's bits, ~28 %
//!   of a three-layer one's), the middle one too below [`MIDDLE_OFF`]
//!   (a two-layer stream has none: its step is [`TOP_OFF`] alone);
//! - thinning starts after the estimate has said so for [`THIN_AFTER`], or
//!   at once while a down-switch waits for its keyframe or within
//!   [`RESTORE_FAILED`] of a restore (a trial the link failed); a layer comes
//!   back once the estimate has cleared its threshold by
//!   [`RESTORE_MARGIN`] for [`RESTORE_AFTER`], and not within
//!   [`RESTORE_QUIET`] of the last thinning (GCC's estimate climbs while
//!   the thinned leg sends less than the link carries; restoring on it
//!   at once would refill the queue every few seconds), twice that after
//!   a restore that did not last [`RESTORE_FAILED`], and so on up to
//!   [`MAX_RESTORE_QUIET`];
//! - a leg losing over [`LOSSY_PERMILLE`] while its packets queue less
//!   than [`STANDING_QUEUE`] loses at random, not for want of capacity:
//!   it is not thinned (but while a down-switch waits); one still losing
//!   that much [`LOSS_CHECK`] after its thinning, and for [`LOSSY_FOR`]
//!   without a break, is taken for random loss too, and nothing is
//!   thinned on it for [`LOSSY_HOLD`];
//! - a lower level takes effect at the next frame (never inside one), a
//!   higher one at the next T0 frame (the pictures above it may refer to
//!   ones that were dropped before it).

use super::layer_switch::{DOWN_AFTER, UP_AFTER, UP_QUIET_AFTER_DOWN};
use std::time::{Duration, Instant};

/// Every temporal layer (the level that drops nothing).
pub(crate) const ALL: u8 = 2;
/// Below this share of the layer's rate the top temporal layer is dropped.
pub(crate) const TOP_OFF: f64 = 0.85;
/// Below this share the middle temporal layer is dropped too.
pub(crate) const MIDDLE_OFF: f64 = 0.6;
/// A dropped layer comes back once the estimate clears its threshold by
/// this factor.
pub(crate) const RESTORE_MARGIN: f64 = 1.15;
/// How long the estimate must call for thinning before it starts.
pub(crate) const THIN_AFTER: Duration = DOWN_AFTER;
/// How long the estimate must allow a dropped layer before it comes back.
pub(crate) const RESTORE_AFTER: Duration = UP_AFTER;
/// No layer comes back this soon after the last thinning.
pub(crate) const RESTORE_QUIET: Duration = UP_QUIET_AFTER_DOWN;
/// A thinning this soon after a restore doubles the quiet time.
pub(crate) const RESTORE_FAILED: Duration = Duration::from_secs(10);
/// The longest quiet time.
pub(crate) const MAX_RESTORE_QUIET: Duration = Duration::from_secs(60);
/// A leg still losing more than this (per mille) [`LOSS_CHECK`] after it
/// was thinned loses at random: every layer comes back, and nothing is
/// thinned for [`LOSSY_HOLD`] (GCC cuts its estimate for random loss too;
/// halving the frame rate would not bring the loss down).
pub(crate) const LOSSY_PERMILLE: u16 = 50;
/// See [`LOSSY_PERMILLE`] (a congested link's feedback still shows the
/// losses of its queue for ~3 s after the thinning).
pub(crate) const LOSS_CHECK: Duration = Duration::from_secs(4);
/// See [`LOSSY_PERMILLE`].
pub(crate) const LOSSY_HOLD: Duration = Duration::from_secs(60);
/// How long a thinned leg must have lost more than [`LOSSY_PERMILLE`]
/// without a break to be taken for lossy. A single lossy feedback is not
/// enough: on tests/temporal_thinning's 160 kbit/s link a keyframe's
/// burst lost 11 % of a half second's packets 4.5 s after the thinning;
/// taken for random loss, it brought every layer back for 60 s, the
/// queue grew to 545 ms and overflowed, and the player saw 1.2 fps.
pub(crate) const LOSSY_FOR: Duration = Duration::from_secs(1);
/// A leg losing more than [`LOSSY_PERMILLE`] whose packets queue less than
/// this loses at random: a link short of capacity queues before it drops
/// (and GCC's delay signal cuts the estimate without loss), so the
/// estimate's cut came from the losses alone and nothing is thinned.
pub(crate) use rtc_profile::loss_kind::STANDING_QUEUE;

/// A packet's temporal layer from its RTP payload (H.264, RFC 6184): the
/// first byte is the NAL header, a STAP-A's (the most important of its
/// units) or an FU-A's indicator (the fragmented unit's), all carrying the
/// `nal_ref_idc`. 0 is the base; an empty payload counts as base.
pub(crate) fn temporal_layer(payload: &[u8]) -> u8 {
    match payload.first().map(|b| (b >> 5) & 0x3) {
        None | Some(3) => 0,
        Some(1 | 2) => 1,
        Some(_) => 2,
    }
}

/// The level (highest temporal layer kept) for an estimate of `fit` x
/// the layer's rate, with every threshold raised by `margin`.
fn level_at(fit: f64, margin: f64) -> u8 {
    if fit < MIDDLE_OFF * margin {
        0
    } else if fit < TOP_OFF * margin {
        1
    } else {
        ALL
    }
}

/// One player leg's temporal thinning of the layer it forwards.
#[derive(Debug, Clone)]
pub(crate) struct Thinning {
    /// The highest temporal layer forwarded now.
    forwarded: u8,
    /// The level decided; `forwarded` follows at a frame boundary.
    wanted: u8,
    /// Since when the estimate has called for a lower / allowed a higher level.
    lower_since: Option<Instant>,
    higher_since: Option<Instant>,
    /// When the level was last lowered, and last raised.
    lowered: Option<Instant>,
    raised: Option<Instant>,
    /// How long after a lowering no layer comes back.
    quiet: Duration,
    /// Until when the link counts as lossy (nothing is thinned).
    lossy_until: Option<Instant>,
    /// Since when every feedback has shown more loss than
    /// [`LOSSY_PERMILLE`].
    losing_since: Option<Instant>,
    /// The RTP timestamp of the newest frame seen.
    frame: Option<u32>,
}

impl Default for Thinning {
    fn default() -> Self {
        Thinning {
            forwarded: ALL,
            wanted: ALL,
            lower_since: None,
            higher_since: None,
            lowered: None,
            raised: None,
            quiet: RESTORE_QUIET,
            lossy_until: None,
            losing_since: None,
            frame: None,
        }
    }
}

impl Thinning {
    /// The highest temporal layer forwarded now ([`ALL`]: no thinning).
    #[cfg(test)]
    pub(crate) fn forwarded(&self) -> u8 {
        self.forwarded
    }

    /// Whether a temporal layer is dropped now or about to be, or was
    /// within [`RESTORE_FAILED`] of `now` (every layer back on trial): the
    /// leg is not probed meanwhile. A probe 360 ms after a restore on a
    /// 160 kbit/s link (tests/temporal_thinning) filled its queue to
    /// 500 ms, and it lost half its packets for 5 s.
    pub(crate) fn thinned(&self, now: Instant) -> bool {
        let recently = self
            .lowered
            .is_some_and(|t| now.saturating_duration_since(t) < RESTORE_FAILED);
        self.wanted < ALL || self.forwarded < ALL || recently
    }

    /// Re-decides at `now`. `fit`: the leg's estimate over the forwarded
    /// layer's rate (`None`: no estimate, nothing is thinned);
    /// `down_pending`: a down-switch waits for its keyframe;
    /// `lost_permille` and `queue_delay`: the leg's latest feedback.
    /// Returns the new level when it changed (it takes effect at a frame,
    /// see [`forward`](Self::forward)).
    pub(crate) fn decide(
        &mut self,
        fit: Option<f64>,
        down_pending: bool,
        lost_permille: u16,
        queue_delay: Duration,
        now: Instant,
    ) -> Option<u8> {
        let was = self.wanted;
        let thinned_long = self
            .lowered
            .is_some_and(|t| self.wanted < ALL && now.saturating_duration_since(t) >= LOSS_CHECK);
        self.losing_since =
            (lost_permille > LOSSY_PERMILLE).then(|| self.losing_since.unwrap_or(now));
        let losing = self
            .losing_since
            .is_some_and(|t| now.saturating_duration_since(t) >= LOSSY_FOR);
        if thinned_long && losing {
            // Thinning did not stop the losses: the link loses packets at
            // random (GCC cut its estimate for them), it is not too small.
            self.lossy_until = Some(now + LOSSY_HOLD);
        }
        let lossy = self.lossy_until.is_some_and(|t| now < t);
        let random_loss = lost_permille > LOSSY_PERMILLE && queue_delay < STANDING_QUEUE;
        let may_lower = down_pending || !random_loss;
        self.redecide(fit.filter(|_| !lossy), down_pending, may_lower, now);
        (self.wanted != was).then_some(self.wanted)
    }

    fn redecide(&mut self, fit: Option<f64>, down_pending: bool, may_lower: bool, now: Instant) {
        let Some(fit) = fit else {
            self.wanted = ALL;
            self.lower_since = None;
            self.higher_since = None;
            return;
        };
        let pending_cap = if down_pending { ALL - 1 } else { ALL };
        let lower = level_at(fit, 1.0).min(pending_cap);
        let restore = level_at(fit, RESTORE_MARGIN).min(pending_cap);
        if lower < self.wanted && may_lower {
            self.higher_since = None;
            let since = *self.lower_since.get_or_insert(now);
            let trial = self
                .raised
                .is_some_and(|t| now.saturating_duration_since(t) < RESTORE_FAILED);
            let held = now.saturating_duration_since(since) >= THIN_AFTER;
            if down_pending || trial || held {
                self.wanted = lower;
                self.lower_since = None;
                self.lowered = Some(now);
                let failed = self
                    .raised
                    .is_some_and(|t| now.saturating_duration_since(t) < RESTORE_FAILED);
                self.quiet = if failed {
                    (self.quiet * 2).min(MAX_RESTORE_QUIET)
                } else {
                    RESTORE_QUIET
                };
            }
        } else if restore > self.wanted {
            self.lower_since = None;
            let since = *self.higher_since.get_or_insert(now);
            let quiet = self
                .lowered
                .is_none_or(|t| now.saturating_duration_since(t) >= self.quiet);
            if quiet && now.saturating_duration_since(since) >= RESTORE_AFTER {
                self.wanted = restore;
                self.higher_since = None;
                self.raised = Some(now);
            }
        } else {
            self.lower_since = None;
            self.higher_since = None;
        }
    }

    /// Whether to forward a packet of the forwarded layer with RTP
    /// `timestamp` and `payload`.
    pub(crate) fn forward(&mut self, timestamp: u32, payload: &[u8]) -> bool {
        let layer = temporal_layer(payload);
        let new_frame = self.frame.is_none_or(|f| is_newer(timestamp, f));
        if new_frame {
            self.frame = Some(timestamp);
            if self.wanted < self.forwarded || (self.wanted > self.forwarded && layer == 0) {
                self.forwarded = self.wanted;
            }
        }
        layer <= self.forwarded
    }

    /// The leg switched layer at a keyframe with RTP `timestamp` (of the
    /// new layer): the decision starts afresh with every temporal layer.
    pub(crate) fn on_switch(&mut self, timestamp: u32) {
        *self = Thinning {
            frame: Some(timestamp),
            ..Thinning::default()
        };
    }
}

/// Whether RTP timestamp `a` is newer than `b` (wrapping).
fn is_newer(a: u32, b: u32) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000_0000
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A T0 (`nal_ref_idc` 3), T1 (1) and top (0) payload: FU-A
    /// indicators, as a slice's packets carry them.
    const T0: &[u8] = &[0x7c, 0x85];
    const T1: &[u8] = &[0x3c, 0x81];
    const TOP: &[u8] = &[0x1c, 0x81];

    fn ms(t0: Instant, n: u64) -> Instant {
        t0 + Duration::from_millis(n)
    }

    #[test]
    fn the_layer_is_read_from_the_nal_header() {
        assert_eq!(temporal_layer(&[0x65, 0x88]), 0, "IDR slice");
        assert_eq!(temporal_layer(&[0x67]), 0, "SPS");
        assert_eq!(temporal_layer(&[0x78, 0, 2]), 0, "STAP-A of SPS/PPS");
        assert_eq!(temporal_layer(T0), 0);
        assert_eq!(temporal_layer(&[0x41, 0x9a]), 1, "nal_ref_idc 2");
        assert_eq!(temporal_layer(T1), 1);
        assert_eq!(temporal_layer(TOP), 2);
        assert_eq!(temporal_layer(&[0x01, 0x9a]), 2, "non-reference slice");
        assert_eq!(temporal_layer(&[]), 0);
    }

    /// Feeds `steps` (ms after `t0`, the fit, the level wanted after it)
    /// to `t`, no down-switch pending.
    fn expect_levels(t: &mut Thinning, t0: Instant, steps: &[(u64, f64, u8)]) {
        for &(at, fit, wanted) in steps {
            t.decide(Some(fit), false, 0, Duration::ZERO, ms(t0, at));
            assert_eq!(t.wanted, wanted, "at {at} ms with {fit} x");
        }
    }

    #[test]
    fn thresholds_and_hysteresis() {
        let t0 = Instant::now();
        let mut t = Thinning::default();
        expect_levels(
            &mut t,
            t0,
            &[
                // Fits, or nearly: nothing dropped.
                (0, 0.9, ALL),
                (1000, 0.9, ALL),
                // Below 0.85 x: the top layer goes after 300 ms, not before.
                (1000, 0.8, ALL),
                (1200, 0.8, ALL),
                (1300, 0.8, 1),
                // Below 0.6 x: the middle layer too (after 300 ms more).
                (1400, 0.5, 1),
                (1700, 0.5, 0),
                // 0.65 x: above 0.6 but not by the margin (0.69): held.
                (2000, 0.65, 0),
                (9000, 0.65, 0),
                // 0.7 x clears it: the middle layer returns after 2 s...
                (9000, 0.7, 0),
                (10_900, 0.7, 0),
                // ... counted afresh after a dip below the threshold.
                (10_950, 0.55, 0),
                (11_000, 0.7, 0),
                (12_999, 0.7, 0),
                (13_000, 0.7, 1),
                // 0.9 x is above 0.85 but not 0.85 x 1.15 = 0.98: held.
                (13_000, 0.9, 1),
                (20_000, 0.9, 1),
            ],
        );
        // Plenty: every layer back after 2 s (in one step), but not
        // within 5 s of the last thinning, or longer after failed restores.
        let mut t = Thinning {
            wanted: 0,
            forwarded: 0,
            ..Thinning::default()
        };
        expect_levels(&mut t, t0, &[(0, 3.0, 0), (1999, 3.0, 0), (2000, 3.0, ALL)]);
        // Within 10 s of a restore a dip thins at once (the restore was a
        // trial), after that only once it held 300 ms.
        let mut trial = t.clone();
        expect_levels(&mut trial, t0, &[(11_999, 0.5, 0)]);
        // Each cycle: 0.5 x from `at` (thinned at once in a restore's
        // trial, else after 300 ms), then plenty until a restore `quiet`
        // ms after the thinning.
        let cycle = |at: u64, trial: bool, quiet: u64| {
            let thinned = if trial { at } else { at + 300 };
            [
                (at, 0.5, if trial { 0 } else { ALL }),
                (at + 300, 0.5, 0),
                (at + 400, 3.0, 0),
                (thinned + quiet - 1, 3.0, 0),
                (thinned + quiet, 3.0, ALL),
            ]
        };
        // Thinned 10 s after that restore: 5 s quiet; thinned within 10 s
        // of a restore (it failed): 10 s, then 20 s; after a restore that
        // lasted: 5 s again.
        for (at, trial, quiet) in [
            (12_000, false, 5000),
            (17_300, true, 10_000),
            (27_300, true, 20_000),
            (60_000, false, 5000),
        ] {
            expect_levels(&mut t, t0, &cycle(at, trial, quiet));
        }
        // No estimate: nothing thinned.
        let mut t = Thinning {
            wanted: 0,
            forwarded: 0,
            ..Thinning::default()
        };
        t.decide(None, false, 0, Duration::ZERO, t0);
        assert_eq!(t.wanted, ALL);
    }

    #[test]
    fn a_pending_down_switch_thins_at_once() {
        let t0 = Instant::now();
        let mut t = Thinning::default();
        // The layer nearly fits, but its down-switch waits for a keyframe:
        // the top layer goes now, and stays off while it waits.
        t.decide(Some(0.95), true, 0, Duration::ZERO, t0);
        assert_eq!(t.wanted, 1);
        t.decide(Some(3.0), true, 0, Duration::ZERO, ms(t0, 5000));
        assert_eq!(t.wanted, 1);
        // Far too big: straight to the base layer.
        t.decide(Some(0.2), true, 0, Duration::ZERO, ms(t0, 5000));
        assert_eq!(t.wanted, 0);
    }

    #[test]
    fn levels_change_at_frames_and_come_back_at_a_t0_frame() {
        let t0 = Instant::now();
        let mut t = Thinning::default();
        // Two packets of a top-layer frame, then thinning is decided
        // between them: the frame is finished whole.
        assert!(t.forward(3000, TOP));
        t.decide(Some(0.5), true, 0, Duration::ZERO, t0);
        assert!(t.forward(3000, TOP));
        // From the next frame on, only T0.
        assert!(t.forward(6000, T0));
        assert!(!t.forward(9000, TOP));
        assert!(!t.forward(12_000, T1));
        assert!(!t.forward(12_000, T1));
        assert!(t.forward(15_000, T0));
        // A late packet of an older frame follows the current level.
        assert!(!t.forward(9000, TOP));
        // Allowed again: nothing above T0 before the next T0 frame.
        t.decide(Some(3.0), false, 0, Duration::ZERO, ms(t0, 5000));
        t.decide(Some(3.0), false, 0, Duration::ZERO, ms(t0, 7000));
        assert_eq!((t.wanted, t.forwarded()), (ALL, 0));
        assert!(!t.forward(18_000, TOP));
        assert!(!t.forward(21_000, T1));
        assert!(t.forward(24_000, T0));
        assert_eq!(t.forwarded(), ALL);
        assert!(t.forward(27_000, TOP));
        // Frames after the timestamp wraps are newer ones.
        t.on_switch(u32::MAX - 1000);
        t.decide(Some(0.5), true, 0, Duration::ZERO, ms(t0, 7100));
        assert!(!t.forward(2000, TOP));
        assert!(t.forward(5000, T0));
    }

    #[test]
    fn a_switch_starts_with_every_layer() {
        let t0 = Instant::now();
        let mut t = Thinning::default();
        t.decide(Some(0.2), true, 0, Duration::ZERO, t0);
        assert!(t.forward(100, T0));
        assert_eq!(t.forwarded(), 0);
        t.on_switch(5000);
        assert_eq!(t.forwarded(), ALL);
        assert!(t.forward(5000, T0));
        assert!(t.forward(8000, TOP));
    }

    /// A queue that stands (the link is short of capacity).
    const QUEUED: Duration = Duration::from_millis(200);

    #[test]
    fn random_loss_without_a_queue_is_not_thinned() {
        let t0 = Instant::now();
        let mut t = Thinning::default();
        // 20 % lost, nothing queued: GCC's cut is for the losses alone.
        for at in (0..3000).step_by(100) {
            t.decide(Some(0.5), false, 200, Duration::from_millis(5), ms(t0, at));
            assert_eq!(t.wanted, ALL, "at {at} ms");
        }
        // The same losses with a standing queue: short of capacity.
        t.decide(Some(0.5), false, 200, QUEUED, ms(t0, 3000));
        t.decide(Some(0.5), false, 200, QUEUED, ms(t0, 3300));
        assert_eq!(t.wanted, 0);
        // A down-switch waiting for its keyframe thins at once regardless.
        let mut switching = Thinning::default();
        switching.decide(Some(0.5), true, 200, Duration::ZERO, t0);
        assert_eq!(switching.wanted, 0);
        // Little loss and no queue (a delay-based cut): thinned as before.
        let mut clean = Thinning::default();
        clean.decide(Some(0.5), false, 0, Duration::ZERO, t0);
        clean.decide(Some(0.5), false, 0, Duration::ZERO, ms(t0, 300));
        assert_eq!(clean.wanted, 0);
    }

    #[test]
    fn a_leg_counts_as_thinned_for_ten_seconds_after_its_thinning() {
        let t0 = Instant::now();
        let mut t = Thinning::default();
        assert!(!t.thinned(t0));
        t.decide(Some(0.5), true, 0, QUEUED, t0);
        assert!(t.thinned(t0));
        // Every layer back (a restore on trial): still thinned for the
        // probe until 10 s after the thinning.
        t.wanted = ALL;
        t.forwarded = ALL;
        assert!(t.thinned(ms(t0, 9999)));
        assert!(!t.thinned(ms(t0, 10_000)));
    }

    #[test]
    fn a_link_that_keeps_losing_after_thinning_is_lossy_not_small() {
        let t0 = Instant::now();
        // (ms, fit, down-switch pending, lost per mille, level wanted after)
        let run = |steps: &[(u64, f64, bool, u16, u8)]| {
            let mut t = Thinning::default();
            for &(at, fit, down, lost, wanted) in steps {
                t.decide(Some(fit), down, lost, QUEUED, ms(t0, at));
                assert_eq!(t.wanted, wanted, "at {at} ms");
            }
        };
        // Losses for 4 s after the thinning: every layer back, none
        // thinned for 60 s.
        run(&[
            (0, 0.5, true, 200, 0),
            (3999, 0.5, false, 200, 0),
            (4000, 0.5, false, 200, ALL),
            (60_000, 0.2, true, 0, ALL),
            (64_000, 0.2, true, 0, 0),
        ]);
        // A congested link's losses stop within 4 s of the thinning.
        run(&[
            (0, 0.5, true, 500, 0),
            (3000, 0.5, false, 300, 0),
            (4000, 0.5, false, 0, 0),
        ]);
        // A loss that comes and goes (a keyframe's burst into a full
        // queue) is not random loss: the leg stays thinned.
        run(&[
            (0, 0.5, true, 0, 0),
            (3999, 0.5, false, 0, 0),
            (4500, 0.5, false, 110, 0),
            (5000, 0.5, false, 0, 0),
            (5400, 0.5, false, 120, 0),
            (6300, 0.5, false, 120, 0),
            (6400, 0.5, false, 120, ALL),
        ]);
    }
}
