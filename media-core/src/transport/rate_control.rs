//! The publisher's rate control on top of GCC (issue 15 part 3), sans-IO:
//! every input carries its `now`.
//!
//! - **Draining a queue.** When the feedback's one-way delay stands more
//!   than [`QUEUE_LIMIT`] above the least of the last seconds for
//!   [`QUEUE_PERSIST`], the link is full: GCC restarts from
//!   [`DRAIN_SHARE`] of what was received (not more than once per
//!   [`DRAIN_EVERY`]). GCC alone climbed past a 1 Mbit/s link until its
//!   ~200 ms drop-tail queue overflowed and lost 50-90 % of a half second's
//!   packets (keyframe requests and retransmissions then kept it full).
//! - **The acknowledged cap.** While the link is congested (it queued in
//!   the last [`CONGESTION_HOLD`]) the target is at most [`ACKED_CAP`] x
//!   the rate the SFU acknowledged receiving ([`LinkRate::acked_bps`]):
//!   an estimate the link never carried is not believed. A clean link is
//!   not capped: encoders make less than their target (a low layer's
//!   simple picture), and a cap by what they made ratcheted the estimate
//!   down to its floor.
//! - **Trains** ([`Trains`], [`super::dispersion`]): packets that leave
//!   back to back arrive spaced by the bottleneck, so each such train in
//!   the feedback (a large frame's packets, or a few filler packets after
//!   a frame, [`super::probe_fill`]) measures the link's rate, full or
//!   not; the link's rate is the median of the last three
//!   ([`Dispersion::rate_bps`]). While the estimate holds the publisher below [`HELD_BELOW`] x
//!   what its simulcast ladder wants and no frame made a train for
//!   [`TRAIN_EVERY`], the publisher sends one of [`TRAIN_PACKETS`] filler
//!   packets (16 ms of a 500 kbit/s link each, where the 400 ms probes at
//!   1.5x the estimate before them added 100 ms of queue, and backed off
//!   to 4 s apart: the capacity step of issue 15 waited for them).
//! - **The link's rate bounds the target**: at most [`CAPACITY_SHARE`] of
//!   it. GCC climbs on a link its
//!   encoders do not fill (to 748 kbit/s on a 500 kbit/s one), and a
//!   paused layer then resumed into the full link.
//! - **A capacity that came back** ([`JUMP_AT`] x the target or more, on a
//!   clean link) restarts GCC at once from that share of it (at most
//!   [`HELD_BELOW`] x what the ladder wants); a train that shows it is
//!   followed by another at once, which must show it too.
//! - **The audio budget.** While a queue stands on the link, audio with
//!   its RED redundancy may take at most [`AUDIO_SHARE`] of the estimate
//!   (`codec::red_level`); not after it (random loss keeps every copy).

use super::dispersion::Dispersion;
use rtc::interceptor::{BandwidthEstimator, PacketReport};
use rtc_profile::link_rate::LinkRate;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The target is at most this many times the acknowledged rate.
pub(crate) const ACKED_CAP: f64 = 1.5;
/// The cap starts once feedback has come for this long (the first
/// acknowledged rates still ramp up with the encoders).
const CAP_AFTER: Duration = Duration::from_secs(1);
/// A standing queue longer than this restarts GCC lower...
pub(crate) const QUEUE_LIMIT: Duration = Duration::from_millis(60);
/// ... once it has stood this long (a busy machine delays a packet now
/// and then; a full link delays all of them).
pub(crate) const QUEUE_PERSIST: Duration = Duration::from_millis(200);
/// The share of the received rate GCC restarts from on a full link.
const DRAIN_SHARE: f64 = 0.85;
/// At most one drain restart this often (the queue takes a while to
/// empty, and the feedback to show it).
const DRAIN_EVERY: Duration = Duration::from_secs(1);
/// While held down, a train goes when none did (nor a frame's) for this
/// long: how late a capacity that came back is seen at most.
pub(crate) const TRAIN_EVERY: Duration = Duration::from_millis(500);
/// A train's filler packets (after one frame's).
pub(crate) const TRAIN_PACKETS: u64 = 2;
/// How long a train's rate stays on for the video side to fill a frame
/// with it (a frame at 30 fps and some; `probe_fill` fills one).
const TRAIN_WINDOW: Duration = Duration::from_millis(50);
/// The share of the link's rate the target may take (audio, RTCP and a
/// keyframe's burst take the rest).
pub(crate) const CAPACITY_SHARE: f64 = 0.85;
/// The link's rate this many times the target, on a clean link: the
/// capacity came back.
pub(crate) const JUMP_AT: f64 = 1.5;
/// Held down: the target is below this share of what the ladder wants
/// (above it: a paused layer resumes fast with this margin,
/// `simulcast::RESUME_MARGIN`).
const HELD_BELOW: f64 = 1.25;
/// A link losing more than this (per mille) is not clean.
const PROBE_MAX_LOSS_PERMILLE: u16 = 20;
/// A link queueing more than this is not clean, and is congested.
const PROBE_MAX_QUEUE: Duration = Duration::from_millis(30);
/// The share of the estimate audio (with RED) may take on a congested link.
/// Half (as before) let RED's copies take 200-300 kbit/s of a 500 kbit/s
/// link and keep its queue standing: p95 video delay 437-608 ms there,
/// 298-406 ms with a fifth (native, 30 s windows); 50 % random loss is not
/// capped (no standing queue) and stays at 4.6 % audio concealed.
pub(crate) const AUDIO_SHARE: f64 = rtc_profile::red::CONGESTED_AUDIO_SHARE;
/// A link losing this much (per mille) while its queue stays under
/// [`QUEUE_LIMIT`] loses at random: a short queue does not overflow that
/// often, and RED's copies are what gets audio through.
const RANDOM_LOSS_PERMILLE: u16 = 200;
/// A link stays congested this long after it last queued.
const CONGESTION_HOLD: Duration = Duration::from_secs(5);

/// What the video side and the estimator tell each other: the bitrate the
/// ladder wants (set by the encoder loop) and the train's filler (armed by
/// the estimator, sent by the video output after a frame).
#[derive(Debug)]
pub(crate) struct RateShared {
    wanted_bps: AtomicU64,
    /// The train's rate is on until this many microseconds after `epoch`.
    train_until_us: AtomicU64,
    epoch: Instant,
    /// 0: the link is not congested.
    audio_budget_bps: AtomicU64,
}

impl Default for RateShared {
    fn default() -> Self {
        RateShared {
            wanted_bps: AtomicU64::new(0),
            train_until_us: AtomicU64::new(0),
            epoch: Instant::now(),
            audio_budget_bps: AtomicU64::new(0),
        }
    }
}

impl RateShared {
    /// What the simulcast ladder wants now (every wanted layer at its
    /// nominal rate), bits/s; 0: no limit known (never probes).
    pub(crate) fn set_wanted(&self, bps: u64) {
        self.wanted_bps.store(bps, Ordering::Relaxed);
    }

    /// The filler rate for the frame sent now, bits/s (0: none): a train's
    /// [`TRAIN_PACKETS`] after a 30 fps frame for [`TRAIN_WINDOW`] after
    /// one was armed (`probe_fill` fills one frame of it).
    pub(crate) fn probe_bps(&self) -> u64 {
        let now = Instant::now().saturating_duration_since(self.epoch);
        if (now.as_micros() as u64) < self.train_until_us.load(Ordering::Relaxed) {
            super::probe_fill::train_bps(TRAIN_PACKETS)
        } else {
            0
        }
    }

    /// Arms a train at `now`.
    fn arm_train(&self, now: Instant) {
        let until = now.saturating_duration_since(self.epoch) + TRAIN_WINDOW;
        self.train_until_us
            .store(until.as_micros() as u64, Ordering::Relaxed);
    }

    /// While the link is congested: the most audio may take, bits/s.
    pub(crate) fn audio_budget_bps(&self) -> Option<u64> {
        Some(self.audio_budget_bps.load(Ordering::Relaxed)).filter(|b| *b > 0)
    }
}

/// What the train scheduler looks at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LinkView {
    /// The estimate, bits/s.
    pub(crate) target_bps: f64,
    /// What the ladder wants, bits/s (0: unknown).
    pub(crate) wanted_bps: f64,
    /// Loss of the last half second, per mille.
    pub(crate) lost_permille: u16,
    /// The standing queue.
    pub(crate) queue_delay: Duration,
}

impl LinkView {
    fn held(&self) -> bool {
        self.wanted_bps > 0.0 && self.target_bps < HELD_BELOW * self.wanted_bps
    }

    fn clean(&self) -> bool {
        self.lost_permille <= PROBE_MAX_LOSS_PERMILLE && self.queue_delay <= PROBE_MAX_QUEUE
    }
}

/// When the publisher sends a train (see the module doc).
#[derive(Debug, Clone, Default)]
pub(crate) struct Trains {
    /// The next train may go then (`None`: not held down).
    next: Option<Instant>,
}

impl Trains {
    /// Whether a train goes at `now` on `link`: held down and clean, and
    /// [`TRAIN_EVERY`] after the last train or measured frame (`sampled`:
    /// a train was measured now), or at once when `fast` (the last one
    /// showed a capacity that came back: the next confirms it).
    pub(crate) fn update(
        &mut self,
        now: Instant,
        link: &LinkView,
        sampled: bool,
        fast: bool,
    ) -> bool {
        if !link.held() {
            self.next = None;
            return false;
        }
        let next = self.next.get_or_insert(now + TRAIN_EVERY);
        if fast {
            *next = now;
        } else if sampled {
            *next = (*next).max(now + TRAIN_EVERY);
        }
        if now < *next || !link.clean() {
            return false;
        }
        *next = now + TRAIN_EVERY;
        true
    }
}

/// The publisher's bandwidth estimator: [`LinkRate`] (GCC, the
/// acknowledged rate, probe recovery) with the acknowledged cap, queue
/// draining, the link's rate from trains and the [`Trains`].
pub(crate) struct PublisherEstimator {
    link: LinkRate,
    dispersion: Dispersion,
    trains: Trains,
    shared: Arc<RateShared>,
    /// No drain restart before this.
    drain_after: Option<Instant>,
    /// Congested until this.
    congested_until: Option<Instant>,
    /// Since when the queue has stood above [`QUEUE_LIMIT`] and
    /// [`PROBE_MAX_QUEUE`].
    over_limit: Option<Instant>,
    over_probe_limit: Option<Instant>,
    /// The target now, bits/s.
    target: f64,
    min_bps: f64,
}

impl PublisherEstimator {
    /// An estimator starting at `initial_bps` within `min_bps`..`max_bps`,
    /// talking to the video side through `shared`.
    pub(crate) fn new(
        initial_bps: f64,
        min_bps: f64,
        max_bps: f64,
        shared: Arc<RateShared>,
    ) -> Self {
        PublisherEstimator {
            link: LinkRate::new(initial_bps, min_bps, max_bps).sparing_random_loss(),
            dispersion: Dispersion::default(),
            trains: Trains::default(),
            shared,
            drain_after: None,
            congested_until: None,
            over_limit: None,
            over_probe_limit: None,
            target: initial_bps,
            min_bps,
        }
    }

    /// GCC's estimate within the link's rate, and capped by the
    /// acknowledged rate while the link is congested.
    fn capped(&self, now: Instant) -> f64 {
        let mut target = self.link.target_bitrate();
        if let Some(rate) = self.dispersion.rate_bps(now) {
            target = target.min(CAPACITY_SHARE * rate);
        }
        let congested = self.congested_until.is_some_and(|t| now < t);
        if congested && self.link.reporting_for(now) >= CAP_AFTER {
            target = target.min(ACKED_CAP * self.link.acked_bps());
        }
        target.max(self.min_bps)
    }
}

impl BandwidthEstimator for PublisherEstimator {
    fn on_reports(&mut self, now: Instant, reports: &[PacketReport]) {
        self.link.on_reports(now, reports);
        let shown = self.dispersion.on_reports(now, reports);
        let queue = self.link.queue_delay();
        let drain_due = self.drain_after.is_none_or(|t| now >= t);
        let full = stood(&mut self.over_limit, queue > QUEUE_LIMIT, now);
        let queued = stood(&mut self.over_probe_limit, queue > PROBE_MAX_QUEUE, now);
        if queued {
            self.congested_until = Some(now + CONGESTION_HOLD);
        }
        if full && drain_due {
            let to = DRAIN_SHARE * self.link.received_bps();
            if to < self.link.target_bitrate() {
                tracing::debug!(?queue, to, "publisher's link queues: estimate lowered");
                self.link.restart(to);
            }
            self.drain_after = Some(now + DRAIN_EVERY);
        }
        self.target = self.capped(now);
        let mut view = LinkView {
            target_bps: self.target,
            wanted_bps: self.shared.wanted_bps.load(Ordering::Relaxed) as f64,
            lost_permille: self.link.lost_permille(),
            queue_delay: queue,
        };
        let rate = self.dispersion.rate_bps(now);
        if let Some(rate) = rate.filter(|r| view.clean() && *r >= JUMP_AT * self.target) {
            let to = (CAPACITY_SHARE * rate).min(HELD_BELOW * view.wanted_bps);
            if to > self.link.target_bitrate() {
                tracing::debug!(
                    rate,
                    to,
                    ?view,
                    "the link's rate came back: estimate raised"
                );
                self.link.restart(to);
                self.congested_until = None;
                self.target = self.capped(now);
                view.target_bps = self.target;
            }
        }
        let fast = shown.iter().any(|r| *r >= JUMP_AT * self.target);
        if self.trains.update(now, &view, !shown.is_empty(), fast) {
            tracing::debug!(?shown, ?rate, ?view, "publisher sends a train");
            self.shared.arm_train(now);
        }
        // Only while the queue stands now: a hold after it (like the
        // estimate's cap) took RED's copies on random loss, where a
        // delay spike had marked the link congested (the bench's 50 %
        // loss: 15.4 % concealed with the hold, 0.0 % without the cap).
        // Nor on heavy loss behind a short queue: delay spikes of 30-60 ms
        // still capped RED there (17-20 % concealed at 50 % loss).
        let random_loss = view.lost_permille >= RANDOM_LOSS_PERMILLE && queue < QUEUE_LIMIT;
        let budget = if queued && !random_loss {
            (AUDIO_SHARE * self.target) as u64
        } else {
            0
        };
        self.shared
            .audio_budget_bps
            .store(budget, Ordering::Relaxed);
    }

    fn target_bitrate(&self) -> f64 {
        self.target
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.link.handle_timeout(now);
        self.target = self.capped(now);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.link.poll_timeout()
    }
}

/// Whether a `condition` true since `*since` has held for
/// [`QUEUE_PERSIST`] (a false one clears `since`).
fn stood(since: &mut Option<Instant>, condition: bool, now: Instant) -> bool {
    if !condition {
        *since = None;
        return false;
    }
    now.saturating_duration_since(*since.get_or_insert(now)) >= QUEUE_PERSIST
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc_profile::link_rate::synthetic_reports;

    fn ms(t0: Instant, n: u64) -> Instant {
        t0 + Duration::from_millis(n)
    }

    /// Feedback batch `n` (100 ms from `t0`: 5 packets of 1000 bytes every
    /// 20 ms, `lost` of them lost), each `queue` ms later than sent plus
    /// the path's 5 ms.
    fn delayed_batch(
        t0: Instant,
        n: u64,
        queue: u64,
        lost: impl Fn(u64) -> bool,
    ) -> Vec<PacketReport> {
        synthetic_reports(ms(t0, n * 100), 5, 20, 20, lost)
            .into_iter()
            .map(|r| PacketReport {
                arrival: r
                    .arrival
                    .map(|a| a + Duration::from_millis(n * 100 + queue)),
                ..r
            })
            .collect()
    }

    fn held(target_bps: f64) -> LinkView {
        LinkView {
            target_bps,
            wanted_bps: 2_000_000.0,
            lost_permille: 0,
            queue_delay: Duration::ZERO,
        }
    }

    #[test]
    fn a_held_down_publisher_sends_a_train_every_half_second_unless_frames_made_one() {
        let t0 = Instant::now();
        let mut t = Trains::default();
        let low = held(400_000.0);
        assert!(!t.update(t0, &low, false, false));
        assert!(!t.update(ms(t0, 499), &low, false, false));
        assert!(t.update(ms(t0, 500), &low, false, false));
        assert!(!t.update(ms(t0, 600), &low, true, false));
        // A frame's train was measured at 900: the next at 1400.
        assert!(!t.update(ms(t0, 900), &low, true, false));
        assert!(!t.update(ms(t0, 1399), &low, false, false));
        assert!(t.update(ms(t0, 1400), &low, false, false));
        // One showed a capacity far above the target: another at once.
        assert!(t.update(ms(t0, 1500), &low, true, true));
        assert!(!t.update(ms(t0, 1600), &low, true, false));
    }

    #[test]
    fn a_queueing_lossy_or_free_link_gets_no_train() {
        let t0 = Instant::now();
        let low = held(400_000.0);
        let queueing = LinkView {
            queue_delay: Duration::from_millis(40),
            ..low
        };
        let lossy = LinkView {
            lost_permille: 50,
            ..low
        };
        let mut t = Trains::default();
        t.update(t0, &low, false, false);
        assert!(!t.update(ms(t0, 500), &queueing, false, false));
        assert!(!t.update(ms(t0, 600), &lossy, false, false));
        assert!(t.update(ms(t0, 700), &low, false, false), "clean again");
        // Not held down (or nothing wanted): no train, ever.
        let mut free = Trains::default();
        let unknown = LinkView {
            wanted_bps: 0.0,
            ..low
        };
        for n in 0..50 {
            assert!(!free.update(ms(t0, n * 100), &held(2_550_000.0), false, true));
            assert!(!free.update(ms(t0, n * 100 + 50), &unknown, false, true));
        }
    }

    /// Feedback batch `n` (100 ms from `t0`) on a link of `kbps`: frames
    /// of one packet at 0 and 33 ms, and at 66 ms a frame with two filler
    /// packets (a train).
    fn trains_batch(t0: Instant, n: u64, kbps: u64) -> Vec<PacketReport> {
        use super::super::dispersion::{report, train};
        let at = n * 100;
        let lone = |i: u64| {
            let sent = (at + 33 * i) * 1000;
            report(
                t0,
                n * 10 + i,
                sent,
                Some(sent + 20_000 + 700 * 8 * 1000 / kbps),
                700,
            )
        };
        let mut reports = vec![lone(0), lone(1)];
        reports.extend(train(t0, n * 10 + 2, at + 66, 2, kbps, 0));
        reports
    }

    #[test]
    fn trains_bound_the_target_by_the_links_rate_and_a_rate_that_came_back_raises_it() {
        let t0 = Instant::now();
        let shared = Arc::new(RateShared::default());
        shared.set_wanted(2_158_000);
        let mut e =
            PublisherEstimator::new(2_500_000.0, 100_000.0, 20_000_000.0, Arc::clone(&shared));
        // 500 kbit/s: GCC's 2.5 Mbit/s start is bounded by 0.85 x that.
        for n in 0..30 {
            e.on_reports(ms(t0, n * 100 + 100), &trains_batch(t0, n, 500));
        }
        let bounded = e.target_bitrate();
        assert!((400_000.0..=430_000.0).contains(&bounded), "{bounded}");
        // 5 Mbit/s (each batch's train is measured with the next batch):
        // the first fast train does not move it, the second (its train
        // asked for at once) does: GCC, which climbed meanwhile, is no
        // longer bounded (below 1.25x what the ladder wants, it would
        // restart there).
        e.on_reports(ms(t0, 3100), &trains_batch(t0, 30, 5000));
        assert!(shared.probe_bps() == 0);
        e.on_reports(ms(t0, 3200), &trains_batch(t0, 31, 5000));
        assert!(e.target_bitrate() < 500_000.0, "{}", e.target_bitrate());
        assert!(shared.probe_bps() > 0, "a train at once");
        e.on_reports(ms(t0, 3300), &trains_batch(t0, 32, 5000));
        let raised = e.target_bitrate();
        assert!((2_690_000.0..=4_250_000.0).contains(&raised), "{raised}");
    }

    #[test]
    fn a_standing_queue_lowers_the_target_and_caps_it_by_the_acknowledged_rate() {
        let t0 = Instant::now();
        let shared = Arc::new(RateShared::default());
        let mut e =
            PublisherEstimator::new(2_500_000.0, 100_000.0, 20_000_000.0, Arc::clone(&shared));
        // 400 kbit/s, each batch of feedback (100 ms) arriving `queue`
        // later than sent plus the path's 5 ms.
        let batch = |n: u64, queue: u64| delayed_batch(t0, n, queue, |_| false);
        for n in 0..20 {
            e.on_reports(ms(t0, n * 100 + 100), &batch(n, 0));
        }
        // A clean link: the encoders' 400 kbit/s does not cap GCC.
        let target = e.target_bitrate();
        assert!(target > 2_000_000.0, "{target}");
        assert_eq!(shared.audio_budget_bps(), None);
        // A queue of 150 ms for 100 ms: a moment's delay, not congestion.
        e.on_reports(ms(t0, 2100), &batch(20, 150));
        e.on_reports(ms(t0, 2200), &batch(21, 150));
        assert_eq!(shared.audio_budget_bps(), None);
        // For 200 ms: lowered to what was received (about 400 kbit/s)
        // and below, at most 1.5x the acknowledged rate from now on.
        e.on_reports(ms(t0, 2300), &batch(22, 150));
        let lowered = e.target_bitrate();
        assert!(lowered < 420_000.0, "{lowered}");
        // A standing queue: audio may take its share of it, and all again once
        // the queue is gone.
        assert_eq!(
            shared.audio_budget_bps(),
            Some((lowered * AUDIO_SHARE) as u64)
        );
        e.on_reports(ms(t0, 2400), &batch(23, 0));
        assert_eq!(shared.audio_budget_bps(), None);
    }

    #[test]
    fn heavy_loss_behind_a_short_queue_leaves_audio_uncapped() {
        let t0 = Instant::now();
        let shared = Arc::new(RateShared::default());
        let mut e =
            PublisherEstimator::new(2_500_000.0, 100_000.0, 20_000_000.0, Arc::clone(&shared));
        // Half the packets lost, each batch `queue` late.
        let batch = |n: u64, queue: u64| delayed_batch(t0, n, queue, |i| i % 2 == 0);
        for n in 0..20 {
            e.on_reports(ms(t0, n * 100 + 100), &batch(n, 0));
        }
        // A 45 ms queue standing: random loss with jitter, RED uncapped.
        for n in 20..25 {
            e.on_reports(ms(t0, n * 100 + 100), &batch(n, 45));
            assert_eq!(shared.audio_budget_bps(), None, "batch {n}");
        }
        // A full queue (150 ms) losing as much is congestion: capped.
        for n in 25..29 {
            e.on_reports(ms(t0, n * 100 + 100), &batch(n, 150));
        }
        assert!(shared.audio_budget_bps().is_some());
    }
}
