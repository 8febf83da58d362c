//! The per-allocation bandwidth cap: a token bucket in bytes.

use std::time::Instant;

/// A token bucket holding at most one second of `rate` bytes. A rate of 0
/// means unlimited.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    rate: u64,
    tokens: u64,
    last: Instant,
}

impl TokenBucket {
    pub(crate) fn new(rate: u64, now: Instant) -> TokenBucket {
        TokenBucket {
            rate,
            tokens: rate,
            last: now,
        }
    }

    /// Takes `bytes` tokens if there are that many; `false` means drop.
    pub(crate) fn take(&mut self, bytes: usize, now: Instant) -> bool {
        if self.rate == 0 {
            return true;
        }
        let elapsed = now.saturating_duration_since(self.last);
        let refill = (u128::from(self.rate) * elapsed.as_nanos()) / 1_000_000_000;
        if refill > 0 {
            let refill = u64::try_from(refill).unwrap_or(u64::MAX);
            self.tokens = self.tokens.saturating_add(refill).min(self.rate);
            self.last = now;
        }
        let bytes = bytes as u64;
        if self.tokens >= bytes {
            self.tokens -= bytes;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_allows_a_second_of_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(1000, t0);
        assert!(bucket.take(600, t0));
        assert!(bucket.take(400, t0));
        assert!(!bucket.take(1, t0));
        assert!(bucket.take(100, t0 + Duration::from_millis(100)));
        assert!(!bucket.take(100, t0 + Duration::from_millis(100)));
        // Idle for a minute: still only one second of burst.
        let later = t0 + Duration::from_secs(60);
        assert!(bucket.take(1000, later));
        assert!(!bucket.take(1, later));
    }

    #[test]
    fn zero_rate_is_unlimited() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(0, t0);
        assert!(bucket.take(usize::MAX, t0));
    }
}
