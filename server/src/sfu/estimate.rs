//! A player leg's downlink estimate: webrtc-rs's GCC over the player's
//! transport-wide feedback with the acknowledged rate, probe recovery and
//! random-loss sparing of [`rtc_profile::link_rate`] (sans-IO apart from
//! the `watch` it publishes on). Loss while the leg's packets do not queue
//! ([`rtc_profile::loss_kind`]) is the link's, not the leg's rate's:
//! NACKs repair it, and it cuts neither the estimate nor, in the layer
//! switch, a climb or a probe. The layer switch believes an estimate only up to 1.5x
//! of the acknowledged rate; the leg probes (sends more than the
//! estimate) and when the player receives it at the rate it was sent,
//! without loss, GCC is started afresh from that rate.

use super::layer_switch::Estimate;
use rtc::interceptor::{BandwidthEstimator, PacketReport};
use rtc_profile::link_rate::LinkRate;
use std::time::Instant;
use tokio::sync::watch;

/// The estimate's floor and ceiling, bits/s.
pub(crate) const MIN_BPS: f64 = 100_000.0;
/// See [`MIN_BPS`].
pub(crate) const MAX_BPS: f64 = 20_000_000.0;

/// GCC with the acknowledged rate and probe recovery, publishing each new
/// [`Estimate`].
pub(crate) struct LegEstimator {
    link: LinkRate,
    out: watch::Sender<Option<Estimate>>,
}

impl LegEstimator {
    /// An estimator starting at `initial_bps`, publishing on `out`.
    pub(crate) fn new(initial_bps: f64, out: watch::Sender<Option<Estimate>>) -> Self {
        LegEstimator {
            link: LinkRate::new(initial_bps, MIN_BPS, MAX_BPS).sparing_random_loss(),
            out,
        }
    }
}

impl BandwidthEstimator for LegEstimator {
    fn on_reports(&mut self, now: Instant, reports: &[PacketReport]) {
        let was = self.link.target_bitrate();
        self.link.on_reports(now, reports);
        if self.link.raised() {
            tracing::debug!(
                shown = self.link.target_bitrate(),
                was,
                "probe raised a player leg's estimate"
            );
        }
        let estimate = Estimate {
            lost_permille: self.link.lost_permille(),
            target_bps: self.link.target_bitrate() as u64,
            acked_bps: self.link.acked_bps() as u64,
            queue_delay_ms: u32::try_from(self.link.queue_delay().as_millis()).unwrap_or(u32::MAX),
            random_loss: self.link.loss_is_random(),
        };
        self.out.send_if_modified(|old| {
            let changed = *old != Some(estimate);
            *old = Some(estimate);
            changed
        });
    }

    fn target_bitrate(&self) -> f64 {
        self.link.target_bitrate()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.link.handle_timeout(now);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.link.poll_timeout()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc_profile::link_rate::synthetic_reports;
    use std::time::Duration;

    /// The estimate of a leg started at 200 kbit/s after one feedback on
    /// 150 packets of 1000 bytes sent every 4 ms (2 Mbit/s for 600 ms),
    /// received every `arrival_ms` (`lost_every`: every that many lost).
    fn estimate_after(arrival_ms: u32, lost_every: Option<u64>) -> Estimate {
        let t0 = Instant::now();
        let (tx, rx) = watch::channel(None);
        let mut e = LegEstimator::new(200_000.0, tx);
        let reports = synthetic_reports(t0, 150, 4, u64::from(arrival_ms), |i| {
            lost_every.is_some_and(|k| i % k == k - 1)
        });
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
