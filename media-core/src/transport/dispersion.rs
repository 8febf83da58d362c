//! The bottleneck's rate from packet trains (sans-IO): packets that leave
//! back to back (a frame's packets, a probe's filler after a frame) reach
//! the receiver spaced by the slowest link of the path, however loaded it
//! is (they queue behind each other there), so the bytes after the first
//! over the time from the first arrival to the last are that link's rate
//! (packet-pair dispersion; libwebrtc's probe clusters are measured the
//! same way). The transport-wide feedback carries both ends: when each
//! packet left here and when it arrived there.
//!
//! A train measures the link even when it is full, and costs a few packets
//! where a probe sent for a while costs a queue: on a 500 kbit/s link a
//! 1.5x probe of 400 ms adds 100 ms of queue, a pair of packets 16 ms.

use rtc::interceptor::PacketReport;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Packets that left at most this far apart belong to one train.
const TRAIN_GAP: Duration = Duration::from_millis(1);
/// A train says something with at least this many bytes after its first
/// packet (one filler packet after a frame's).
const MIN_BYTES: usize = 800;
/// Arrivals closer than this (the receiver's clock ticks in 250 us, a
/// relay's timer in 1 ms) show only that the link is fast.
const MIN_SPAN: Duration = Duration::from_micros(500);
/// How long a measured rate counts.
pub(crate) const SAMPLE_HOLD: Duration = Duration::from_secs(1);
/// The rate is the median of this many trains.
const MEDIAN_OF: usize = 3;

/// One packet of the train being gathered.
#[derive(Debug, Clone, Copy)]
struct Member {
    departure: Instant,
    arrival: Option<Duration>,
    size: usize,
}

/// The bottleneck rates trains showed (see the module doc).
#[derive(Debug, Default)]
pub(crate) struct Dispersion {
    /// The train being gathered (it may go on in the next feedback).
    train: Vec<Member>,
    /// (when measured, bits/s), for [`SAMPLE_HOLD`].
    samples: VecDeque<(Instant, f64)>,
}

impl Dispersion {
    /// Takes a feedback's reports (in send order) at `now`; the rates of
    /// the trains it completed, bits/s.
    pub(crate) fn on_reports(&mut self, now: Instant, reports: &[PacketReport]) -> Vec<f64> {
        let mut shown = Vec::new();
        for r in reports {
            let joins = self
                .train
                .last()
                .is_some_and(|m| r.departure.saturating_duration_since(m.departure) <= TRAIN_GAP);
            if !joins {
                shown.extend(self.finish());
            }
            self.train.push(Member {
                departure: r.departure,
                arrival: r.arrival.filter(|_| r.arrived),
                size: r.size,
            });
        }
        for &bps in &shown {
            self.samples.push_back((now, bps));
        }
        while self
            .samples
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) > SAMPLE_HOLD)
        {
            self.samples.pop_front();
        }
        shown
    }

    /// The bottleneck's rate at `now`, bits/s: the median of the last
    /// [`MEDIAN_OF`] trains measured within [`SAMPLE_HOLD`] (the lower one
    /// of two; one train alone, too fast or too slow by a busy receiver's
    /// timing, does not move it); `None` without any.
    pub(crate) fn rate_bps(&self, now: Instant) -> Option<f64> {
        let mut rates: Vec<f64> = self
            .samples
            .iter()
            .rev()
            .take_while(|(at, _)| now.saturating_duration_since(*at) <= SAMPLE_HOLD)
            .take(MEDIAN_OF)
            .map(|(_, r)| *r)
            .collect();
        rates.sort_by(f64::total_cmp);
        rates.get(rates.len().saturating_sub(1) / 2).copied()
    }

    /// The rate the gathered train shows, if it says anything: no packet
    /// lost, enough bytes after the first arrival, sent faster than it
    /// arrived (else it shows only its own sending rate, a lower bound).
    fn finish(&mut self) -> Option<f64> {
        let train = std::mem::take(&mut self.train);
        let arrivals: Option<Vec<Duration>> = train.iter().map(|m| m.arrival).collect();
        let arrivals = arrivals?;
        let (first_at, first) = arrivals.iter().enumerate().min_by_key(|(_, a)| **a)?;
        let last = arrivals.iter().max()?;
        let bytes: usize = train.iter().map(|m| m.size).sum::<usize>() - train[first_at].size;
        if bytes < MIN_BYTES {
            return None;
        }
        let bits = bytes as f64 * 8.0;
        let received = bits / (*last - *first).max(MIN_SPAN).as_secs_f64();
        let sent_span = train[train.len() - 1]
            .departure
            .saturating_duration_since(train[0].departure);
        let sent = bits / sent_span.max(MIN_SPAN).as_secs_f64();
        Some(received.min(sent))
    }
}

/// A packet of `size` bytes sent at `t0` + `sent_us`, arriving at
/// `arrival_us` on the receiver's clock (`None`: lost), for tests.
#[cfg(test)]
pub(crate) fn report(
    t0: Instant,
    id: u64,
    sent_us: u64,
    arrival_us: Option<u64>,
    size: usize,
) -> PacketReport {
    rtc_profile::link_rate::packet_report(
        id,
        t0 + Duration::from_micros(sent_us),
        arrival_us.map(Duration::from_micros),
        size,
    )
}

/// A frame's packet (700 bytes) and `fillers` of 1000 bytes sent 50 us
/// apart at `at_ms`, through a link of `kbps` behind `queue_ms` of queue
/// (20 ms path), numbered from `id`, for tests.
#[cfg(test)]
pub(crate) fn train(
    t0: Instant,
    id: u64,
    at_ms: u64,
    fillers: u64,
    kbps: u64,
    queue_ms: u64,
) -> Vec<PacketReport> {
    let mut done_us = (at_ms + queue_ms + 20) * 1000;
    (0..=fillers)
        .map(|i| {
            let size = if i == 0 { 700 } else { 1000 };
            done_us += size as u64 * 8 * 1000 / kbps;
            report(t0, id + i, at_ms * 1000 + i * 50, Some(done_us), size)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_train_shows_the_bottleneck_rate_whatever_its_queue() {
        let t0 = Instant::now();
        let mut d = Dispersion::default();
        let now = t0 + Duration::from_millis(200);
        // A pair on 500 kbit/s and a train of four behind 150 ms of queue.
        let pair = d.on_reports(now, &train(t0, 0, 0, 1, 500, 0));
        assert!(pair.is_empty(), "the train may go on in the next feedback");
        // The next packet ends it.
        let shown = d.on_reports(now, &train(t0, 10, 100, 4, 500, 150));
        assert_eq!(shown.len(), 1);
        assert!((shown[0] - 500_000.0).abs() < 10_000.0, "{shown:?}");
        let shown = d.on_reports(now, &train(t0, 20, 200, 0, 500, 0));
        assert!((shown[0] - 500_000.0).abs() < 10_000.0, "{shown:?}");
        // 5 Mbit/s: 1.6 ms per filler packet.
        let mut fast = Dispersion::default();
        let mut reports = train(t0, 0, 0, 4, 5000, 0);
        reports.extend(train(t0, 10, 33, 0, 5000, 0));
        let shown = fast.on_reports(now, &reports);
        assert!((shown[0] - 5_000_000.0).abs() < 100_000.0, "{shown:?}");
    }

    #[test]
    fn lone_packets_lost_ones_and_slowly_sent_ones_show_nothing_or_the_sending_rate() {
        let t0 = Instant::now();
        let now = t0 + Duration::from_millis(500);
        let mut d = Dispersion::default();
        // Frames of one packet, 33 ms apart.
        let lone: Vec<_> = (0..10)
            .map(|i| report(t0, i, i * 33_000, Some(20_000 + i * 33_000), 700))
            .collect();
        assert!(d.on_reports(now, &lone).is_empty());
        // A train with a lost packet.
        let mut lossy = train(t0, 20, 400, 4, 500, 0);
        lossy[2].arrived = false;
        lossy[2].arrival = None;
        lossy.extend(train(t0, 30, 450, 0, 500, 0));
        assert!(d.on_reports(now, &lossy).is_empty());
        // A pacer's packets 0.9 ms apart (8.9 Mbit/s) through a fast link
        // show at most the rate they were sent at.
        let paced: Vec<_> = (0..5)
            .map(|i| report(t0, 40 + i, 600_000 + i * 900, Some(620_000 + i * 900), 1000))
            .chain([report(t0, 50, 700_000, Some(720_000), 700)])
            .collect();
        let shown = d.on_reports(now, &paced);
        assert!((shown[0] - 8_888_888.0).abs() < 10_000.0, "{shown:?}");
    }

    /// A train of two fillers at `at_ms` on `kbps`, completed by the
    /// next frame's packet 10 ms later; the feedback comes 100 ms after.
    fn feed(d: &mut Dispersion, t0: Instant, at_ms: u64, kbps: u64) {
        let mut reports = train(t0, at_ms * 10, at_ms, 2, kbps, 0);
        reports.extend(train(t0, at_ms * 10 + 5, at_ms + 10, 0, kbps, 0));
        d.on_reports(t0 + Duration::from_millis(at_ms + 100), &reports);
    }

    #[test]
    fn the_rate_is_the_median_of_the_last_three_trains_of_the_last_second() {
        let t0 = Instant::now();
        let mut d = Dispersion::default();
        assert_eq!(d.rate_bps(t0), None);
        let rate = |d: &Dispersion, at_ms: u64| {
            d.rate_bps(t0 + Duration::from_millis(at_ms))
                .map(|r| (r / 100_000.0).round() as u64)
        };
        feed(&mut d, t0, 0, 500);
        assert_eq!(rate(&d, 100), Some(5));
        feed(&mut d, t0, 300, 5000);
        assert_eq!(rate(&d, 400), Some(5), "the lower of two");
        feed(&mut d, t0, 600, 500);
        feed(&mut d, t0, 900, 500);
        assert_eq!(rate(&d, 1000), Some(5));
        // A fast train beside slow ones moves nothing; a second does.
        feed(&mut d, t0, 1200, 5000);
        assert_eq!(rate(&d, 1300), Some(5));
        feed(&mut d, t0, 1500, 5000);
        assert_eq!(rate(&d, 1600), Some(50));
        // Nothing measured for a second: nothing known.
        assert_eq!(rate(&d, 2601), None);
    }
}
