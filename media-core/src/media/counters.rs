//! Counters the media pipelines bump as frames pass, and the rates they
//! turn into over each quality interval.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// A monotonically increasing count, shared between a pipeline's threads.
#[derive(Debug, Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    pub(crate) fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Turns successive readings of counters into per-second rates.
#[derive(Debug)]
pub(crate) struct RateMeter {
    last: Vec<u64>,
    at: Instant,
}

impl RateMeter {
    /// A meter over `n` counters starting at `now`.
    pub(crate) fn new(n: usize, now: Instant) -> Self {
        RateMeter {
            last: vec![0; n],
            at: now,
        }
    }

    /// The per-second rate of each reading since the previous call.
    pub(crate) fn rates(&mut self, now: Instant, readings: &[u64]) -> Vec<f64> {
        let secs = now.duration_since(self.at).as_secs_f64().max(1e-3);
        let rates = readings
            .iter()
            .zip(&self.last)
            .map(|(now, before)| now.saturating_sub(*before) as f64 / secs)
            .collect();
        self.last = readings.to_vec();
        self.at = now;
        rates
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rates_over_each_interval() {
        let t0 = Instant::now();
        let mut m = RateMeter::new(2, t0);
        assert_eq!(
            m.rates(t0 + Duration::from_secs(2), &[60, 1000]),
            vec![30.0, 500.0]
        );
        assert_eq!(
            m.rates(t0 + Duration::from_secs(3), &[75, 1000]),
            vec![15.0, 0.0]
        );
    }
}
