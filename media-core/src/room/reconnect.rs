//! Reconnect timing: exponential backoff inside a retry window. Pure data; the
//! session asks it for delays and deadlines, passing `now` in.

use std::time::{Duration, Instant};

/// How the engine retries after the connection to the room server is lost
/// (and while the first login cannot reach the server).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconnectPolicy {
    /// How long to keep retrying, measured from the moment the connection was
    /// lost (or from `login_room` for the first login). Default 20 minutes.
    pub retry_window: Duration,
    /// Delay before the first retry; doubled after each failed attempt.
    /// Default 250 ms.
    pub initial_backoff: Duration,
    /// Upper bound of the delay between attempts. Default 5 s.
    pub max_backoff: Duration,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        ReconnectPolicy {
            retry_window: Duration::from_secs(20 * 60),
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// One run of retries: when it started and how many attempts were made.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    policy: ReconnectPolicy,
    started: Instant,
    attempts: u32,
}

impl Backoff {
    /// A retry run starting at `now`.
    pub(crate) fn new(policy: ReconnectPolicy, now: Instant) -> Self {
        Backoff {
            policy,
            started: now,
            attempts: 0,
        }
    }

    /// The delay before the next attempt: `initial_backoff * 2^n`, capped at
    /// `max_backoff`.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let factor = 1u32.checked_shl(self.attempts.min(31)).unwrap_or(u32::MAX);
        let delay = self
            .policy
            .initial_backoff
            .checked_mul(factor)
            .unwrap_or(self.policy.max_backoff)
            .min(self.policy.max_backoff);
        self.attempts = self.attempts.saturating_add(1);
        delay
    }

    /// The policy this run follows.
    pub(crate) fn policy(&self) -> ReconnectPolicy {
        self.policy
    }

    /// When the retry window closes.
    pub(crate) fn window_end(&self) -> Instant {
        self.started + self.policy.retry_window
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap() {
        let mut b = Backoff::new(ReconnectPolicy::default(), Instant::now());
        let ms: Vec<u128> = (0..8).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(ms, [250, 500, 1000, 2000, 4000, 5000, 5000, 5000]);
        for _ in 0..100 {
            assert_eq!(b.next_delay(), Duration::from_secs(5));
        }
    }

    #[test]
    fn window_is_measured_from_the_start() {
        let t0 = Instant::now();
        let b = Backoff::new(ReconnectPolicy::default(), t0);
        assert_eq!(b.window_end() - t0, Duration::from_secs(1200));
    }
}
