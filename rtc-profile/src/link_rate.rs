//! What a sender's transport-wide feedback shows about its link, beside
//! webrtc-rs's GCC (sans-IO: every call carries its `now`). The SFU's
//! player legs and the SDK's publisher both estimate with it.
//!
//! - The **acknowledged rate**: the most the receiver reported receiving
//!   in any [`WINDOW`] of the last [`ACKED_HOLD`] (held that long so a
//!   probe burst's proof outlasts a layer switch's 2 s hysteresis until
//!   the next burst).
//! - **Recovery by probe**: GCC in webrtc-rs 0.21 climbs additively
//!   (+12 kbit/s per 200 ms) near the rate of its last back-off and never
//!   forgets it, so after a capacity drop it sat at its floor for ~16 s once
//!   the link was back (docs/simulcast-spike.md). When the sender probes
//!   (sends more than the estimate) and the receiver gets it at the rate it
//!   was sent, without loss, the link has shown that rate: GCC is started
//!   afresh from it.
//! - The **queue delay**: how much later than the path's one-way delay
//!   (the base) the latest feedback's packets arrived (the clocks' offset
//!   cancels out). The base is the least delay of the last [`BASE_HOLD`],
//!   or a level the delay stepped up to and held ([`REBASE_SPAN`]): a
//!   route change. A queue cannot look like that: it fills and drains
//!   with the sender's bursts, grows through the levels between, or
//!   overflows; a step that comes with loss waits out [`BASE_HOLD`].
//! - Optionally ([`LinkRate::sparing_random_loss`]), **random loss**
//!   ([`crate::loss_kind`]: loss while nothing queues) neither cuts GCC's
//!   estimate (GCC is fed the feedback's arrived packets only: its loss
//!   half holds below 10 % loss and cuts above, whatever the cause) nor
//!   stops a probe from showing a rate, and the acknowledged rate counts
//!   the packets it lost (NACKs repair them; the link had room).

use crate::loss_kind::LossKind;
use rtc::interceptor::{BandwidthEstimator, Gcc, PacketReport};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How long a measured rate counts as acknowledged.
pub const ACKED_HOLD: Duration = Duration::from_secs(3);
/// The window rates are measured on (by departure).
pub const WINDOW: Duration = Duration::from_millis(500);
/// The least span of departures in the window that shows a probe.
const PROBE_MIN_SPAN: Duration = Duration::from_millis(300);
/// Fewer packets than this in the window say nothing.
const PROBE_MIN_PACKETS: usize = 20;
/// A window losing more than this did not carry its rate.
const PROBE_MAX_LOSS: f64 = 0.03;
/// Received this share of the sent rate or more: no queue built up.
const PROBE_DELIVERED: f64 = 0.9;
/// Fewer arrived packets than this in the window, or spread over less
/// time, cannot show that arrivals keep pace with departures.
const KEEPING_PACE_PACKETS: usize = 10;
/// See [`KEEPING_PACE_PACKETS`].
const KEEPING_PACE_SPAN: Duration = Duration::from_millis(200);
/// A shown rate this far above the estimate restarts GCC from it.
const PROBE_RAISES_AT: f64 = 1.2;
/// How long the least one-way delay is remembered (the empty path's).
pub const BASE_HOLD: Duration = Duration::from_secs(10);
/// How long the one-way delay must hold a higher level, flat, before that
/// level is the path's (a route change, not a queue).
pub const REBASE_SPAN: Duration = Duration::from_millis(1500);
/// Flat: every packet of the span within this of the span's least delay
/// (a queue fed by a paced sender's bursts swings wider: each burst fills
/// it, each pause drains it). Also the step's least height, and how far
/// from either level the delays before the span may be (more between the
/// two levels is a queue growing through them).
const FLAT_SPREAD: Duration = Duration::from_millis(8);
/// Feedbacks a span needs (one every ~100 ms).
const REBASE_MIN_REPORTS: usize = 8;
/// The most of the span's packets that may be lost: a queue that
/// overflows also holds a flat delay, its top.
const REBASE_MAX_LOSS: f64 = 0.03;

/// What one feedback showed of the one-way delay (seconds, plus the
/// clocks' offset).
#[derive(Debug, Clone, Copy)]
struct Delays {
    at: Instant,
    least: f64,
    most: f64,
    arrived: usize,
    lost: usize,
}

#[derive(Debug, Clone, Copy)]
struct Sent {
    departure: Instant,
    arrival: Option<Duration>,
    size: usize,
}

/// GCC with the acknowledged rate, probe recovery and the queue delay.
pub struct LinkRate {
    gcc: Gcc,
    min_bps: f64,
    max_bps: f64,
    /// Reported packets, by departure, for the last [`WINDOW`].
    sent: VecDeque<Sent>,
    /// The received rate measured at each feedback, for [`ACKED_HOLD`].
    received: VecDeque<(Instant, f64)>,
    /// The one-way delays of each feedback, for [`BASE_HOLD`] (or since
    /// the last re-base).
    delays: VecDeque<Delays>,
    /// The departures' zero, for one-way delays.
    epoch: Option<Instant>,
    /// When the first feedback came.
    first_report: Option<Instant>,
    /// The last feedback showed a rate that restarted GCC.
    raised: bool,
    /// Tells random loss from congestion (`None`: all loss counts).
    loss_kind: Option<LossKind>,
    /// The last feedback's losses were random.
    random_loss: bool,
}

impl LinkRate {
    /// An estimate starting at `initial_bps`, kept within `min_bps` and
    /// `max_bps`.
    pub fn new(initial_bps: f64, min_bps: f64, max_bps: f64) -> Self {
        LinkRate {
            gcc: Gcc::new(initial_bps, min_bps, max_bps),
            min_bps,
            max_bps,
            sent: VecDeque::new(),
            received: VecDeque::new(),
            delays: VecDeque::new(),
            epoch: None,
            first_report: None,
            raised: false,
            loss_kind: None,
            random_loss: false,
        }
    }

    /// The same, but random loss (module doc) neither cuts the estimate
    /// nor stops a probe from showing a rate, and counts in the
    /// acknowledged rate. The SFU's player legs and the SDK's publisher
    /// estimate so.
    pub fn sparing_random_loss(self) -> Self {
        LinkRate {
            loss_kind: Some(LossKind::default()),
            ..self
        }
    }

    /// Whether the last feedback's losses were random (always `false`
    /// unless [`sparing_random_loss`](Self::sparing_random_loss)).
    pub fn loss_is_random(&self) -> bool {
        self.random_loss
    }

    /// Starts GCC afresh from `bps` (within the limits).
    pub fn restart(&mut self, bps: f64) {
        let bps = bps.clamp(self.min_bps, self.max_bps);
        self.gcc = Gcc::new(bps, self.min_bps, self.max_bps);
    }

    /// The acknowledged rate, bits/s (0 before any feedback).
    pub fn acked_bps(&self) -> f64 {
        self.received.iter().map(|(_, r)| *r).fold(0.0, f64::max)
    }

    /// What the receiver got of the last [`WINDOW`]'s packets, bits/s:
    /// their bytes over the window, or over the time they took to arrive
    /// if longer (a queue stretches the arrivals to the link's rate).
    /// While the loss is random, the lost packets count too: the link had
    /// room for them.
    pub fn received_bps(&self) -> f64 {
        let bytes: usize = self
            .sent
            .iter()
            .filter(|s| s.arrival.is_some() || self.random_loss)
            .map(|s| s.size)
            .sum();
        let span = self
            .arrival_span()
            .map_or(WINDOW, |(first, last)| (last - first).max(WINDOW));
        bytes as f64 * 8.0 / span.as_secs_f64()
    }

    /// The first and last arrival of the window's packets.
    fn arrival_span(&self) -> Option<(Duration, Duration)> {
        self.sent
            .iter()
            .filter_map(|s| s.arrival)
            .fold(None, |span, a| {
                Some(span.map_or((a, a), |(lo, hi): (Duration, Duration)| {
                    (lo.min(a), hi.max(a))
                }))
            })
    }

    /// The share of the last [`WINDOW`]'s packets reported lost, per mille.
    pub fn lost_permille(&self) -> u16 {
        let lost = self.sent.iter().filter(|s| s.arrival.is_none()).count();
        (lost * 1000 / self.sent.len().max(1)) as u16
    }

    /// How much longer than the path's one-way delay (the least of the
    /// last [`BASE_HOLD`], or a level it stepped up to, module doc) the
    /// latest feedback's packets took (zero before any).
    pub fn queue_delay(&self) -> Duration {
        let latest = self.delays.back().map_or(0.0, |d| d.least);
        Duration::from_secs_f64((latest - self.base()).max(0.0))
    }

    /// The least one-way delay remembered.
    fn base(&self) -> f64 {
        self.delays.iter().map(|d| d.least).fold(f64::MAX, f64::min)
    }

    /// Whether the last feedback showed a rate that restarted GCC from it.
    pub fn raised(&self) -> bool {
        self.raised
    }

    /// How long feedback has been coming (zero before any).
    pub fn reporting_for(&self, now: Instant) -> Duration {
        self.first_report
            .map_or(Duration::ZERO, |t| now.saturating_duration_since(t))
    }

    /// The rate the last [`WINDOW`] showed the link carries, if it says
    /// so: enough packets, little loss, received as fast as sent.
    fn shown_bps(&self) -> Option<f64> {
        let newest = self.sent.back()?.departure;
        let window: Vec<&Sent> = self.sent.iter().collect();
        if window.len() < PROBE_MIN_PACKETS {
            return None;
        }
        let lost = window.iter().filter(|s| s.arrival.is_none()).count();
        if !self.random_loss && lost as f64 > PROBE_MAX_LOSS * window.len() as f64 {
            return None;
        }
        let send_span = newest.saturating_duration_since(window[0].departure);
        let (first, last) = self.arrival_span()?;
        let receive_span = last - first;
        if send_span < PROBE_MIN_SPAN || receive_span.is_zero() {
            return None;
        }
        // The first packet's bytes were sent before the span began.
        let bytes: usize = window.iter().skip(1).map(|s| s.size).sum();
        let sent = bytes as f64 * 8.0 / send_span.as_secs_f64();
        let received = bytes as f64 * 8.0 / receive_span.as_secs_f64();
        (received >= PROBE_DELIVERED * sent).then_some(sent.min(received))
    }

    /// Whether the last [`WINDOW`]'s arrived packets arrived as fast as
    /// they left (within [`PROBE_DELIVERED`]); `false` for too few to say.
    fn keeping_pace(&self) -> bool {
        let departures = self
            .sent
            .iter()
            .filter(|s| s.arrival.is_some())
            .map(|s| s.departure);
        let (Some(first), Some(last)) = (departures.clone().min(), departures.clone().max()) else {
            return false;
        };
        let send_span = last - first;
        let Some((lo, hi)) = self.arrival_span() else {
            return false;
        };
        departures.count() >= KEEPING_PACE_PACKETS
            && send_span >= KEEPING_PACE_SPAN
            && PROBE_DELIVERED * (hi - lo).as_secs_f64() <= send_span.as_secs_f64()
    }

    /// Records the least one-way delay of `reports`.
    fn note_delays(&mut self, now: Instant, reports: &[PacketReport]) {
        let Some(epoch) = self.epoch.or_else(|| reports.first().map(|r| r.departure)) else {
            return;
        };
        self.epoch = Some(epoch);
        let delays: Vec<f64> = reports
            .iter()
            .filter_map(|r| {
                let arrival = r.arrival.filter(|_| r.arrived)?;
                let departed = r.departure.checked_duration_since(epoch)?;
                Some(arrival.as_secs_f64() - departed.as_secs_f64())
            })
            .collect();
        if let (Some(least), Some(most)) = (
            delays.iter().copied().reduce(f64::min),
            delays.iter().copied().reduce(f64::max),
        ) {
            self.delays.push_back(Delays {
                at: now,
                least,
                most,
                arrived: delays.len(),
                lost: reports.iter().filter(|r| !r.arrived).count(),
            });
        }
        while self
            .delays
            .front()
            .is_some_and(|d| now.saturating_duration_since(d.at) > BASE_HOLD)
        {
            self.delays.pop_front();
        }
        if let Some(since) = self.stepped_up(now) {
            // The new level is the path's: forget the old one.
            while self.delays.front().is_some_and(|d| d.at < since) {
                self.delays.pop_front();
            }
        }
    }

    /// When the span began over which the one-way delay has held a level
    /// it stepped up to (module doc): flat within [`FLAT_SPREAD`] for
    /// [`REBASE_SPAN`], without loss, and before that only at the old
    /// level or the new one, not between.
    fn stepped_up(&self, now: Instant) -> Option<Instant> {
        let since = now.checked_sub(REBASE_SPAN)?;
        let split = self.delays.iter().position(|d| d.at >= since)?;
        if split == 0 {
            // Nothing older: the span may not be whole.
            return None;
        }
        let all: Vec<&Delays> = self.delays.iter().collect();
        let (before, span) = all.split_at(split);
        if span.len() < REBASE_MIN_REPORTS {
            return None;
        }
        let flat = FLAT_SPREAD.as_secs_f64();
        let level = span.iter().map(|d| d.least).fold(f64::MAX, f64::min);
        let top = span.iter().map(|d| d.most).fold(f64::MIN, f64::max);
        let base = self.base();
        let (arrived, lost) = span
            .iter()
            .fold((0, 0), |(a, l), d| (a + d.arrived, l + d.lost));
        let stepped = level - base > flat
            && top - level <= flat
            && lost as f64 <= REBASE_MAX_LOSS * (arrived + lost) as f64
            && before
                .iter()
                .all(|d| d.least <= base + flat || d.least >= level - flat);
        stepped.then_some(since)
    }
}

impl BandwidthEstimator for LinkRate {
    fn on_reports(&mut self, now: Instant, reports: &[PacketReport]) {
        self.raised = false;
        self.first_report.get_or_insert(now);
        self.note_delays(now, reports);
        for r in reports {
            self.sent.push_back(Sent {
                departure: r.departure,
                arrival: if r.arrived { r.arrival } else { None },
                size: r.size,
            });
        }
        if let Some(newest) = self.sent.back().map(|s| s.departure) {
            while self
                .sent
                .front()
                .is_some_and(|s| newest.saturating_duration_since(s.departure) > WINDOW)
            {
                self.sent.pop_front();
            }
        }
        let queue_delay = self.queue_delay();
        let keeping_pace = self.keeping_pace();
        self.random_loss = self
            .loss_kind
            .as_mut()
            .is_some_and(|kind| kind.on_feedback(now, queue_delay, keeping_pace));
        if self.random_loss {
            let arrived: Vec<PacketReport> =
                reports.iter().filter(|r| r.arrived).cloned().collect();
            self.gcc.on_reports(now, &arrived);
        } else {
            self.gcc.on_reports(now, reports);
        }
        self.received.push_back((now, self.received_bps()));
        while self
            .received
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) > ACKED_HOLD)
        {
            self.received.pop_front();
        }
        if let Some(shown) = self.shown_bps() {
            if shown > PROBE_RAISES_AT * self.gcc.target_bitrate() {
                self.restart(shown);
                self.raised = true;
            }
        }
    }

    fn target_bitrate(&self) -> f64 {
        self.gcc.target_bitrate()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.gcc.handle_timeout(now);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.gcc.poll_timeout()
    }
}

/// Synthetic feedback, for tests of estimators: `count` packets of 1000
/// bytes sent every `send_ms` from `t0`, received every `arrival_ms` after
/// 5 ms (`lost`: which are lost).
pub fn synthetic_reports(
    t0: Instant,
    count: u64,
    send_ms: u64,
    arrival_ms: u64,
    lost: impl Fn(u64) -> bool,
) -> Vec<PacketReport> {
    (0..count)
        .map(|i| {
            let arrival = (!lost(i)).then(|| Duration::from_millis(5 + arrival_ms * i));
            packet_report(i, t0 + Duration::from_millis(send_ms * i), arrival, 1000)
        })
        .collect()
}

/// Packet `i` of a synthetic stream (`size` bytes, SSRC 1, sequence
/// numbers `i`), sent at `departure`, arriving at `arrival` on the
/// receiver's clock (`None`: lost), for tests of estimators.
pub fn packet_report(
    i: u64,
    departure: Instant,
    arrival: Option<Duration>,
    size: usize,
) -> PacketReport {
    use rtc::rtcp::transport_feedbacks::cc_feedback_report::Ecn;
    PacketReport {
        ssrc: 1,
        id: i,
        rtp_sequence_number: i as u16,
        is_twcc: true,
        twcc_sequence_number: i as u16,
        size,
        arrived: arrival.is_some(),
        departure,
        arrival,
        ecn: Ecn::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A link started at 200 kbit/s after one feedback on 150 packets of
    /// 1000 bytes sent every 4 ms (2 Mbit/s for 600 ms), received every
    /// `arrival_ms` (`lost_every`: every that many lost).
    fn after(arrival_ms: u64, lost_every: Option<u64>) -> LinkRate {
        let t0 = Instant::now();
        let mut link = LinkRate::new(200_000.0, 100_000.0, 20_000_000.0);
        let reports = synthetic_reports(t0, 150, 4, arrival_ms, |i| {
            lost_every.is_some_and(|k| i % k == k - 1)
        });
        link.on_reports(t0 + Duration::from_millis(650), &reports);
        link
    }

    #[test]
    fn a_rate_the_link_carried_restarts_gcc_from_it() {
        let link = after(4, None);
        assert!(link.target_bitrate() > 1_800_000.0);
        assert!((1_600_000.0..2_200_000.0).contains(&link.acked_bps()));
        assert_eq!(link.lost_permille(), 0);
        assert!(link.queue_delay() < Duration::from_millis(1));
    }

    #[test]
    fn a_queue_or_loss_shows_nothing() {
        assert!(after(16, None).target_bitrate() < 400_000.0);
        let lossy = after(4, Some(10));
        assert!(lossy.target_bitrate() < 400_000.0);
        assert!((90..=110).contains(&lossy.lost_permille()));
    }

    #[test]
    fn the_queue_delay_is_measured_from_the_least_delay_seen() {
        let t0 = Instant::now();
        let mut link = LinkRate::new(1_000_000.0, 100_000.0, 20_000_000.0);
        // Received as sent: no queue.
        let clean = synthetic_reports(t0, 50, 4, 4, |_| false);
        link.on_reports(t0 + Duration::from_millis(250), &clean);
        assert!(link.queue_delay() < Duration::from_millis(1));
        assert_eq!(
            link.reporting_for(t0 + Duration::from_millis(1250)),
            Duration::from_secs(1)
        );
        // The next 50 each arrive 120 ms later than the path's least.
        let t1 = t0 + Duration::from_millis(200);
        let late: Vec<PacketReport> = synthetic_reports(t1, 50, 4, 4, |_| false)
            .into_iter()
            .map(|r| PacketReport {
                arrival: r.arrival.map(|a| a + Duration::from_millis(320)),
                ..r
            })
            .collect();
        link.on_reports(t0 + Duration::from_millis(500), &late);
        let queue = link.queue_delay();
        assert!(
            (Duration::from_millis(115)..Duration::from_millis(125)).contains(&queue),
            "{queue:?}"
        );
        link.restart(50_000.0);
        assert_eq!(link.target_bitrate(), 100_000.0);
    }

    /// Feeds `link` one feedback every 100 ms for `ms` from `from_ms` (ms
    /// since `t0`): 25 packets each, sent 4 ms apart, packet `i` (counted
    /// from `t0`) arriving `delay_ms(i)` after it left, or lost (`None`).
    /// The queue delay after each feedback.
    fn feed(
        link: &mut LinkRate,
        t0: Instant,
        from_ms: u64,
        ms: u64,
        delay_ms: impl Fn(u64) -> Option<f64>,
    ) -> Vec<Duration> {
        (from_ms / 100..(from_ms + ms) / 100)
            .map(|round| {
                let reports: Vec<PacketReport> = (round * 25..round * 25 + 25)
                    .map(|i| {
                        let arrival = delay_ms(i)
                            .map(|d| Duration::from_secs_f64((4 * i) as f64 / 1e3 + d / 1e3));
                        packet_report(i, t0 + Duration::from_millis(4 * i), arrival, 1000)
                    })
                    .collect();
                link.on_reports(t0 + Duration::from_millis(100 * round + 160), &reports);
                link.queue_delay()
            })
            .collect()
    }

    fn ms(queue: Duration) -> u128 {
        queue.as_millis()
    }

    #[test]
    fn random_loss_is_spared_but_loss_behind_a_queue_cuts() {
        let t0 = Instant::now();
        let link = || LinkRate::new(1_000_000.0, 100_000.0, 20_000_000.0);
        // 2 Mbit/s, every fifth packet lost, nothing queues.
        let lossy = |i: u64| (i % 5 != 0).then_some(20.0);
        let mut plain = link();
        feed(&mut plain, t0, 0, 5000, lossy);
        assert!(!plain.loss_is_random());
        assert!(
            plain.target_bitrate() < 500_000.0,
            "{}",
            plain.target_bitrate()
        );
        let mut spared = link().sparing_random_loss();
        feed(&mut spared, t0, 0, 5000, lossy);
        assert!(spared.loss_is_random());
        assert!((180..=220).contains(&spared.lost_permille()));
        let kept = spared.target_bitrate();
        assert!(kept > 1_500_000.0, "{kept}");
        assert!(spared.acked_bps() > 1_800_000.0, "{}", spared.acked_bps());
        // The same loss while the packets queue 60 ms: congestion.
        feed(&mut spared, t0, 5000, 3000, |i| lossy(i).map(|d| d + 60.0));
        assert!(!spared.loss_is_random());
        let cut = spared.target_bitrate();
        assert!(cut < 0.6 * kept, "{kept} -> {cut}");
    }

    #[test]
    fn a_delay_step_that_holds_is_the_paths_new_delay() {
        let t0 = Instant::now();
        let mut link = LinkRate::new(1_000_000.0, 100_000.0, 20_000_000.0);
        // 3 s at the path's 20 ms (give or take 1 ms), then a route 50 ms
        // longer (packet 750 leaves at 3 s).
        let path = |i: u64| Some(if i < 750 { 20.0 } else { 70.0 } + (i % 3) as f64 * 0.5);
        feed(&mut link, t0, 0, 3000, path);
        assert!(ms(link.queue_delay()) < 2);
        let after = feed(&mut link, t0, 3000, 3000, path);
        // At first it reads as a queue; once held flat for REBASE_SPAN
        // (and a feedback), it is the path's.
        assert!((48..=52).contains(&ms(after[3])), "{after:?}");
        assert!(after[20..].iter().all(|q| ms(*q) < 2), "{after:?}");
        // A queue on top of the new delay still shows at once.
        let queued = feed(&mut link, t0, 6000, 500, |i| path(i).map(|d| d + 40.0));
        assert!((38..=42).contains(&ms(queued[2])), "{queued:?}");
    }

    #[test]
    fn a_growing_queue_is_not_taken_for_a_step() {
        let t0 = Instant::now();
        let mut link = LinkRate::new(1_000_000.0, 100_000.0, 20_000_000.0);
        feed(&mut link, t0, 0, 2000, |_| Some(20.0));
        // The queue grows 25 ms a second for 2 s, then holds at 50 ms
        // (the sender at the link's rate) for 4 s.
        let queue = |i: u64| Some(20.0 + (i.saturating_sub(500) as f64 * 0.1).min(50.0));
        let grown = feed(&mut link, t0, 2000, 6000, queue);
        assert!(
            grown.iter().rev().take(40).all(|q| ms(*q) >= 48),
            "{grown:?}"
        );
    }

    #[test]
    fn a_queue_filled_by_bursts_or_overflowing_is_not_taken_for_a_step() {
        let t0 = Instant::now();
        // A standing 50 ms queue that each burst of 5 packets fills by
        // another 12 ms and the pause after it drains.
        let mut bursts = LinkRate::new(1_000_000.0, 100_000.0, 20_000_000.0);
        feed(&mut bursts, t0, 0, 2000, |_| Some(20.0));
        let sawtooth = |i: u64| Some(70.0 + (i % 5) as f64 * 3.0);
        let held = feed(&mut bursts, t0, 2000, 4000, sawtooth);
        assert!(held.iter().all(|q| ms(*q) >= 48), "{held:?}");
        // A full queue: flat at its top, but every tenth packet dropped.
        let mut full = LinkRate::new(1_000_000.0, 100_000.0, 20_000_000.0);
        feed(&mut full, t0, 0, 2000, |_| Some(20.0));
        let overflow = |i: u64| (i % 10 != 0).then_some(70.0);
        let held = feed(&mut full, t0, 2000, 4000, overflow);
        assert!(held.iter().all(|q| ms(*q) >= 48), "{held:?}");
    }
}
