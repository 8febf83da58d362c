//! A player leg's downlink estimate: webrtc-rs's GCC over the player's
//! transport-wide feedback, plus what GCC lacks (sans-IO apart from the
//! `watch` it publishes on).
//!
//! - The acknowledged rate: the most the player reported receiving in any
//!   half second of the last [`ACKED_HOLD`] (the layer switch believes an
//!   estimate only up to 1.5x of it). Held that long so a probe burst's
//!   proof outlasts the switch's 2 s hysteresis until the next burst.
//! - Recovery by probe: GCC in webrtc-rs 0.21 climbs additively (+12 kbit/s
//!   per 200 ms) near the rate of its last back-off and never forgets it,
//!   so after a capacity drop it sat at its floor for ~16 s once the link
//!   was back (docs/simulcast-spike.md). When the leg probes (sends more
//!   than the estimate) and the player receives it at the rate it was sent,
//!   without loss, the link has shown that rate: GCC is started afresh
//!   from it.

use super::layer_switch::Estimate;
use rtc::interceptor::{BandwidthEstimator, Gcc, PacketReport};
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How long a measured rate counts as acknowledged.
const ACKED_HOLD: Duration = Duration::from_secs(3);
/// The window rates are measured on (by departure), and the least span of
/// departures in it that shows a probe.
const WINDOW: Duration = Duration::from_millis(500);
const PROBE_MIN_SPAN: Duration = Duration::from_millis(300);
/// Fewer packets than this in the window say nothing.
const PROBE_MIN_PACKETS: usize = 20;
/// A window losing more than this did not carry its rate.
const PROBE_MAX_LOSS: f64 = 0.03;
/// Received this share of the sent rate or more: no queue built up.
const PROBE_DELIVERED: f64 = 0.9;
/// A shown rate this far above the estimate restarts GCC from it.
const PROBE_RAISES_AT: f64 = 1.2;

/// The estimate's floor and ceiling, bits/s.
pub(crate) const MIN_BPS: f64 = 100_000.0;
/// See [`MIN_BPS`].
pub(crate) const MAX_BPS: f64 = 20_000_000.0;

#[derive(Debug, Clone, Copy)]
struct Sent {
    departure: Instant,
    arrival: Option<Duration>,
    size: usize,
}

/// GCC with the acknowledged rate and probe recovery, publishing each new
/// [`Estimate`].
pub(crate) struct LegEstimator {
    gcc: Gcc,
    /// Reported packets, by departure, for the last [`WINDOW`].
    sent: VecDeque<Sent>,
    /// The received rate measured at each feedback, for [`ACKED_HOLD`].
    received: VecDeque<(Instant, f64)>,
    out: watch::Sender<Option<Estimate>>,
}

impl LegEstimator {
    /// An estimator starting at `initial_bps`, publishing on `out`.
    pub(crate) fn new(initial_bps: f64, out: watch::Sender<Option<Estimate>>) -> Self {
        LegEstimator {
            gcc: Gcc::new(initial_bps, MIN_BPS, MAX_BPS),
            sent: VecDeque::new(),
            received: VecDeque::new(),
            out,
        }
    }

    /// What the player received in the last [`WINDOW`], bits/s.
    fn received_bps(&self) -> f64 {
        let bytes: usize = self
            .sent
            .iter()
            .filter(|s| s.arrival.is_some())
            .map(|s| s.size)
            .sum();
        bytes as f64 * 8.0 / WINDOW.as_secs_f64()
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
        if lost as f64 > PROBE_MAX_LOSS * window.len() as f64 {
            return None;
        }
        let send_span = newest.saturating_duration_since(window[0].departure);
        let arrivals = window.iter().filter_map(|s| s.arrival);
        let (first, last) = arrivals.fold(
            (None, None),
            |(lo, hi): (Option<Duration>, Option<Duration>), a| {
                (
                    Some(lo.map_or(a, |l| l.min(a))),
                    Some(hi.map_or(a, |h| h.max(a))),
                )
            },
        );
        let receive_span = last?.checked_sub(first?)?;
        if send_span < PROBE_MIN_SPAN || receive_span.is_zero() {
            return None;
        }
        // The first packet's bytes were sent before the span began.
        let bytes: usize = window.iter().skip(1).map(|s| s.size).sum();
        let sent = bytes as f64 * 8.0 / send_span.as_secs_f64();
        let received = bytes as f64 * 8.0 / receive_span.as_secs_f64();
        (received >= PROBE_DELIVERED * sent).then_some(sent.min(received))
    }
}

impl BandwidthEstimator for LegEstimator {
    fn on_reports(&mut self, now: Instant, reports: &[PacketReport]) {
        self.gcc.on_reports(now, reports);
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
                tracing::debug!(
                    shown,
                    was = self.gcc.target_bitrate(),
                    "probe raised a player leg's estimate"
                );
                self.gcc = Gcc::new(shown, MIN_BPS, MAX_BPS);
            }
        }
        let lost = self.sent.iter().filter(|s| s.arrival.is_none()).count();
        let estimate = Estimate {
            lost_permille: (lost * 1000 / self.sent.len().max(1)) as u16,
            target_bps: self.gcc.target_bitrate() as u64,
            acked_bps: self.received.iter().map(|(_, r)| *r).fold(0.0, f64::max) as u64,
        };
        self.out.send_if_modified(|old| {
            let changed = *old != Some(estimate);
            *old = Some(estimate);
            changed
        });
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

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::rtcp::transport_feedbacks::cc_feedback_report::Ecn;

    /// The estimate of a leg started at 200 kbit/s after one feedback on
    /// 150 packets of 1000 bytes sent every 4 ms (2 Mbit/s for 600 ms),
    /// received every `arrival_ms` (`lost_every`: every that many lost).
    fn estimate_after(arrival_ms: u32, lost_every: Option<u64>) -> Estimate {
        let t0 = Instant::now();
        let (tx, rx) = watch::channel(None);
        let mut e = LegEstimator::new(200_000.0, tx);
        let reports: Vec<PacketReport> = (0..150u64)
            .map(|i| {
                let lost = lost_every.is_some_and(|k| i % k == k - 1);
                PacketReport {
                    ssrc: 1,
                    id: i,
                    rtp_sequence_number: i as u16,
                    is_twcc: true,
                    twcc_sequence_number: i as u16,
                    size: 1000,
                    arrived: !lost,
                    departure: t0 + Duration::from_millis(4 * i),
                    arrival: (!lost).then(|| Duration::from_millis(5 + u64::from(arrival_ms) * i)),
                    ecn: Ecn::default(),
                }
            })
            .collect();
        e.on_reports(t0 + Duration::from_millis(650), &reports);
        let estimate = *rx.borrow();
        estimate.expect("an estimate")
    }

    #[test]
    fn a_rate_the_link_carried_restarts_gcc_from_it() {
        let got = estimate_after(4, None);
        assert!(got.target_bps > 1_800_000, "{got:?}");
        assert!((1_600_000..2_200_000).contains(&got.acked_bps), "{got:?}");
        assert_eq!(got.lost_permille, 0);
    }

    #[test]
    fn a_queue_or_loss_shows_nothing() {
        // Received at 500 kbit/s: a queue.
        assert!(estimate_after(16, None).target_bps < 400_000);
        // Received as sent, but 10 % lost.
        let lossy = estimate_after(4, Some(10));
        assert!(lossy.target_bps < 400_000);
        assert!((90..=110).contains(&lossy.lost_permille), "{lossy:?}");
    }
}
