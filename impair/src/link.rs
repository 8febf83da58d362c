//! One direction of an impaired link, sans IO: packets go in with the time
//! they arrive, and come out of [`Link::poll_deliver`] when the modelled
//! network would hand them over. The caller owns the sockets and the clock
//! and sleeps until [`Link::poll_timeout`].
//!
//! The model, in the order a packet meets it: loss (random or bursty); the
//! capacity, a FIFO that sends one packet after another at the link's rate,
//! behind a drop-tail queue; then the propagation delay with jitter (in
//! order, unless the packet is picked for reordering, when it skips the
//! delay).

use crate::conditions::Conditions;
use crate::loss::LossState;
use crate::timeline::Timeline;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::time::{Duration, Instant};

/// What became of a packet handed to [`Link::send`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// On its way; it will come out of [`Link::poll_deliver`].
    InFlight,
    /// Lost by the loss model.
    Lost,
    /// Dropped because the queue in front of the capacity was full.
    QueueFull,
}

/// Counters of one direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Packets handed to the link.
    pub sent: u64,
    /// Packets handed over at the far end.
    pub delivered: u64,
    /// Packets lost by the loss model.
    pub lost: u64,
    /// Packets dropped by the full queue.
    pub queue_drops: u64,
    /// Bytes handed over at the far end.
    pub delivered_bytes: u64,
}

/// A packet on its way, ordered by delivery time then by sending order.
struct InFlight<P> {
    deliver_at: Instant,
    order: u64,
    payload: P,
}

impl<P> PartialEq for InFlight<P> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl<P> Eq for InFlight<P> {}

impl<P> PartialOrd for InFlight<P> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<P> Ord for InFlight<P> {
    /// Reversed, so the max-heap pops the earliest first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.deliver_at, other.order).cmp(&(self.deliver_at, self.order))
    }
}

/// One direction of an impaired link carrying payloads of type `P`.
pub struct Link<P> {
    timeline: Timeline,
    start: Instant,
    rng: StdRng,
    loss: LossState,
    /// When the capacity is free to start sending the next packet.
    free_at: Instant,
    /// When each packet waiting for or being sent by the capacity leaves
    /// it, oldest first: its length is the queue's.
    queue: VecDeque<Instant>,
    /// The latest delivery time of an in-order packet (no overtaking).
    last_in_order: Instant,
    in_flight: BinaryHeap<InFlight<P>>,
    order: u64,
    stats: LinkStats,
}

impl<P> Link<P> {
    /// A link following `timeline` from `start`, its randomness from `seed`.
    pub fn new(timeline: Timeline, start: Instant, seed: u64) -> Link<P> {
        Link {
            timeline,
            start,
            rng: StdRng::seed_from_u64(seed),
            loss: LossState::default(),
            free_at: start,
            queue: VecDeque::new(),
            last_in_order: start,
            in_flight: BinaryHeap::new(),
            order: 0,
            stats: LinkStats::default(),
        }
    }

    /// Follows `timeline` from `now` on (packets already on their way keep
    /// their times).
    pub fn set_timeline(&mut self, timeline: Timeline, now: Instant) {
        self.timeline = timeline;
        self.start = now;
    }

    /// The conditions at `now`.
    pub fn conditions(&self, now: Instant) -> &Conditions {
        self.timeline.at(now.saturating_duration_since(self.start))
    }

    /// A packet of `len` bytes enters the link at `now`. A `protected`
    /// packet is never lost or dropped (it still waits and is delayed):
    /// for tests that keep a connection's handshakes out of the loss.
    pub fn send(&mut self, now: Instant, len: usize, payload: P, protected: bool) -> Fate {
        self.stats.sent += 1;
        let conditions = self.timeline.at(now.saturating_duration_since(self.start));
        let (delay, jitter, reorder, rate, depth) = (
            conditions.delay,
            conditions.jitter,
            conditions.reorder,
            conditions.rate_bps,
            conditions.queue_packets,
        );
        if !protected && self.loss.lose(&conditions.loss, &mut self.rng) {
            self.stats.lost += 1;
            return Fate::Lost;
        }
        while self.queue.front().is_some_and(|leaves| *leaves <= now) {
            self.queue.pop_front();
        }
        let sent_at = match rate {
            None => now,
            Some(_) if !protected && self.queue.len() >= depth => {
                self.stats.queue_drops += 1;
                return Fate::QueueFull;
            }
            Some(bps) => {
                let on_wire = Duration::from_secs_f64(len as f64 * 8.0 / bps as f64);
                let done = self.free_at.max(now) + on_wire;
                self.free_at = done;
                self.queue.push_back(done);
                done
            }
        };
        let deliver_at = if reorder > 0.0 && self.rng.random::<f64>() < reorder {
            sent_at
        } else {
            let spread = jitter.as_secs_f64() * (2.0 * self.rng.random::<f64>() - 1.0);
            let delayed = Duration::from_secs_f64((delay.as_secs_f64() + spread).max(0.0));
            let at = (sent_at + delayed).max(self.last_in_order);
            self.last_in_order = at;
            at
        };
        self.order += 1;
        self.in_flight.push(InFlight {
            deliver_at,
            order: self.order,
            payload,
        });
        Fate::InFlight
    }

    /// When the next packet is due, if any is on its way.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.in_flight.peek().map(|p| p.deliver_at)
    }

    /// The next packet due by `now`, with its length counted by `len`.
    pub fn poll_deliver(&mut self, now: Instant, len: impl Fn(&P) -> usize) -> Option<P> {
        if self.in_flight.peek()?.deliver_at > now {
            return None;
        }
        let packet = self.in_flight.pop()?;
        self.stats.delivered += 1;
        self.stats.delivered_bytes += len(&packet.payload) as u64;
        Some(packet.payload)
    }

    /// The counters so far.
    pub fn stats(&self) -> LinkStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends `count` packets of `len` bytes every `gap`, drains everything,
    /// and returns (packet number, sent at, delivered at) of what arrived.
    fn run(
        conditions: &str,
        count: u64,
        len: usize,
        gap: Duration,
    ) -> (Vec<(u64, Duration, Duration)>, LinkStats) {
        let t0 = Instant::now();
        let timeline = Timeline::constant(conditions.parse().expect("spec"));
        let mut link = Link::new(timeline, t0, 1);
        let mut out = Vec::new();
        // Delivers everything due by `until`, each at its own due time.
        let mut drain = |link: &mut Link<(u64, Instant)>, until: Instant| {
            while let Some(at) = link.poll_timeout().filter(|at| *at <= until) {
                while let Some((n, sent)) = link.poll_deliver(at, |_| len) {
                    out.push((n, sent - t0, at - t0));
                }
            }
        };
        for n in 0..count {
            let now = t0 + gap * n as u32;
            drain(&mut link, now);
            link.send(now, len, (n, now), false);
        }
        drain(&mut link, t0 + Duration::from_secs(3600));
        (out, link.stats())
    }

    #[test]
    fn a_clean_link_delivers_everything_at_once_in_order() {
        let (out, stats) = run("clean", 100, 1200, Duration::from_millis(10));
        assert_eq!(out.len(), 100);
        assert!(out.iter().all(|(_, sent, got)| sent == got));
        assert!(out.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(stats.delivered, 100);
        assert_eq!(stats.delivered_bytes, 120_000);
    }

    #[test]
    fn delay_and_jitter_keep_order_and_stay_in_bounds() {
        let (out, _) = run("delay=50ms,jitter=20ms", 500, 100, Duration::from_millis(2));
        assert_eq!(out.len(), 500);
        assert!(out.windows(2).all(|w| w[0].0 < w[1].0), "in order");
        let one_way: Vec<Duration> = out.iter().map(|(_, s, g)| *g - *s).collect();
        assert!(one_way.iter().all(|d| *d >= Duration::from_millis(30)));
        // In-order delivery can hold a packet behind a later-jittered one,
        // but never past the largest delay.
        assert!(one_way.iter().all(|d| *d <= Duration::from_millis(71)));
        let spread = one_way.iter().max().expect("max") > one_way.iter().min().expect("min");
        assert!(spread, "jitter varies the delay");
    }

    #[test]
    fn reordering_lets_some_packets_overtake() {
        let (out, _) = run(
            "delay=20ms,reorder=10%",
            1000,
            100,
            Duration::from_millis(1),
        );
        assert_eq!(out.len(), 1000);
        let overtaken = out.windows(2).filter(|w| w[0].0 > w[1].0).count();
        assert!((50..=200).contains(&overtaken), "{overtaken} inversions");
    }

    #[test]
    fn capacity_paces_packets_at_the_rate() {
        // 1 Mbps, 1250-byte packets = 10 ms each; offered at 2x the rate.
        let (out, stats) = run("rate=1mbps,queue=1000", 200, 1250, Duration::from_millis(5));
        assert_eq!(stats.queue_drops, 0);
        let last = out.last().expect("delivered").2;
        assert_eq!(last, Duration::from_millis(2000), "200 packets x 10 ms");
        assert!(out
            .windows(2)
            .all(|w| w[1].2 - w[0].2 == Duration::from_millis(10)));
    }

    #[test]
    fn a_full_queue_drops_the_tail_and_bounds_the_delay() {
        // Offered at 4x the rate into a 10-packet queue.
        let (out, stats) = run(
            "rate=1mbps,queue=10",
            400,
            1250,
            Duration::from_micros(2500),
        );
        assert!(stats.queue_drops > 250, "{stats:?}");
        assert_eq!(stats.delivered + stats.queue_drops, 400);
        let worst = out.iter().map(|(_, s, g)| *g - *s).max().expect("max");
        assert!(
            worst <= Duration::from_millis(110),
            "queueing delay {worst:?}"
        );
    }

    #[test]
    fn loss_takes_its_share_and_protected_packets_survive() {
        let (out, stats) = run("loss=30%", 10_000, 100, Duration::from_millis(1));
        let share = stats.lost as f64 / 10_000.0;
        assert!((share - 0.3).abs() < 0.02, "{share}");
        assert_eq!(out.len() as u64, 10_000 - stats.lost);

        let t0 = Instant::now();
        let mut link = Link::new(Timeline::constant(Conditions::blackout()), t0, 1);
        assert_eq!(link.send(t0, 10, 1u8, false), Fate::Lost);
        assert_eq!(link.send(t0, 10, 2u8, true), Fate::InFlight);
        assert_eq!(link.poll_deliver(t0, |_| 10), Some(2));
    }

    #[test]
    fn a_scheduled_blackout_stops_traffic_then_lets_it_through() {
        let t0 = Instant::now();
        let timeline = Timeline::blackout(
            Conditions::default(),
            Duration::from_secs(1),
            Duration::from_secs(1),
        );
        let mut link = Link::new(timeline, t0, 3);
        let fates: Vec<Fate> = (0..30)
            .map(|i| link.send(t0 + Duration::from_millis(100 * i), 10, i, false))
            .collect();
        let lost: Vec<usize> = (0..30).filter(|i| fates[*i] == Fate::Lost).collect();
        assert_eq!(lost, (10..20).collect::<Vec<usize>>());
    }

    #[test]
    fn the_same_seed_gives_the_same_fates() {
        let fates = |seed| {
            let t0 = Instant::now();
            let spec = "loss=20%,burst=4,jitter=5ms,reorder=5%";
            let mut link = Link::new(Timeline::constant(spec.parse().expect("spec")), t0, seed);
            (0..500)
                .map(|i| link.send(t0 + Duration::from_millis(i), 10, i, false))
                .collect::<Vec<Fate>>()
        };
        assert_eq!(fates(9), fates(9));
        assert_ne!(fates(9), fates(10));
    }
}
