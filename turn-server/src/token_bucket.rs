//! A token bucket rate limiter (sans-IO: the caller passes `now`), in
//! whole tokens: the TURN server's per-allocation bandwidth cap counts
//! bytes with it, the room service messages and broadcasts.

use std::time::{Duration, Instant};

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// Allows `rate` tokens per second on average and bursts of up to `burst`.
/// Refills are exact: the time a refill did not pay for carries over.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: u64,
    burst: u64,
    tokens: u64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket refilling at `rate` per second (0: never), holding at
    /// most `burst`.
    pub fn new(rate: u64, burst: u64, now: Instant) -> TokenBucket {
        TokenBucket {
            rate,
            burst,
            tokens: burst,
            last: now,
        }
    }

    /// Takes `amount` tokens if there are that many; `false` means the
    /// event is over the limit (and takes nothing).
    pub fn try_take(&mut self, amount: u64, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= amount {
            self.tokens -= amount;
            true
        } else {
            false
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_nanos();
        let rate = u128::from(self.rate);
        let refill = rate * elapsed / NANOS_PER_SEC;
        if refill == 0 {
            return;
        }
        let room = u128::from(self.burst - self.tokens);
        if refill >= room {
            self.tokens = self.burst;
            self.last = now;
        } else {
            // `refill < room` fits u64; the time it took is under `elapsed`.
            self.tokens += refill as u64;
            let spent = refill * NANOS_PER_SEC / rate;
            self.last += Duration::from_nanos(spent as u64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10, 5, t0);
        for _ in 0..5 {
            assert!(b.try_take(1, t0));
        }
        assert!(!b.try_take(1, t0));
        // 100 ms at 10/s refills exactly one token.
        let t1 = t0 + Duration::from_millis(100);
        assert!(b.try_take(1, t1));
        assert!(!b.try_take(1, t1));
        // A long pause refills only up to the burst.
        let t2 = t1 + Duration::from_secs(60);
        for _ in 0..5 {
            assert!(b.try_take(1, t2));
        }
        assert!(!b.try_take(1, t2));
    }

    #[test]
    fn sustained_rate_is_respected() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(50, 100, t0);
        let mut allowed = 0;
        // 10 s of 1000 events per second.
        for ms in 0..10_000u64 {
            if b.try_take(1, t0 + Duration::from_millis(ms)) {
                allowed += 1;
            }
        }
        assert!((590..=610).contains(&allowed), "{allowed}");
    }

    #[test]
    fn clock_going_backwards_is_harmless() {
        let t0 = Instant::now() + Duration::from_secs(1);
        let mut b = TokenBucket::new(1, 1, t0);
        assert!(b.try_take(1, t0));
        assert!(!b.try_take(1, t0 - Duration::from_millis(500)));
    }

    #[test]
    fn bucket_allows_a_second_of_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(1000, 1000, t0);
        assert!(bucket.try_take(600, t0));
        assert!(bucket.try_take(400, t0));
        assert!(!bucket.try_take(1, t0));
        assert!(bucket.try_take(100, t0 + Duration::from_millis(100)));
        assert!(!bucket.try_take(100, t0 + Duration::from_millis(100)));
        // Idle for a minute: still only one second of burst.
        let later = t0 + Duration::from_secs(60);
        assert!(bucket.try_take(1000, later));
        assert!(!bucket.try_take(1, later));
    }
}
