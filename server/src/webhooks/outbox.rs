//! One endpoint's delivery queue (sans-IO): events wait in a bounded queue,
//! each is attempted until the receiver answers 2xx or its attempts run
//! out, retried after an exponential backoff. The caller sends what
//! [`Outbox::poll`] hands out and reports each result to
//! [`Outbox::finished`]; it sleeps until [`Outbox::poll_timeout`].
//!
//! Every attempt of an event carries the same event ID, so a receiver
//! that answered too late (the sender retried) deduplicates by it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Queue bound, attempts and backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Events waiting or in flight at most; a new one beyond is dropped.
    pub max_queued: usize,
    /// Attempts per event (the first one included).
    pub max_attempts: u32,
    /// The wait before the first retry; each further retry doubles it.
    pub first_backoff: Duration,
    /// The longest wait between attempts.
    pub max_backoff: Duration,
    /// Attempts in flight at once.
    pub max_in_flight: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_queued: 10_000,
            max_attempts: 8,
            first_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(60),
            max_in_flight: 4,
        }
    }
}

impl Policy {
    /// The wait after failed attempt number `attempt` (1 = the first).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(20);
        self.first_backoff
            .saturating_mul(1 << doublings)
            .min(self.max_backoff)
    }
}

/// An event to deliver: its ID and its JSON body (signed at each attempt).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The event's ID (the same on every attempt).
    pub id: String,
    /// The app whose secret signs it.
    pub app_id: u32,
    /// The JSON body.
    pub body: Arc<str>,
}

/// What became of an event (for the counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The receiver took it.
    Delivered,
    /// Failed; retried later.
    Retrying,
    /// Failed its last attempt: given up.
    GaveUp,
}

#[derive(Debug)]
struct Entry {
    event: Pending,
    attempts: u32,
    due: Instant,
    in_flight: bool,
}

/// One endpoint's queue.
#[derive(Debug)]
pub struct Outbox {
    policy: Policy,
    entries: VecDeque<Entry>,
}

impl Outbox {
    /// An empty queue under `policy`.
    pub fn new(policy: Policy) -> Self {
        Outbox {
            policy,
            entries: VecDeque::new(),
        }
    }

    /// Queues `event`, due at once. `false` (dropped) when the queue is full.
    pub fn push(&mut self, event: Pending, now: Instant) -> bool {
        if self.entries.len() >= self.policy.max_queued {
            return false;
        }
        self.entries.push_back(Entry {
            event,
            attempts: 0,
            due: now,
            in_flight: false,
        });
        true
    }

    /// The events to attempt now (marked in flight), oldest first, within
    /// the in-flight bound.
    pub fn poll(&mut self, now: Instant) -> Vec<Pending> {
        let mut room = self
            .policy
            .max_in_flight
            .saturating_sub(self.entries.iter().filter(|e| e.in_flight).count());
        let mut out = Vec::new();
        for entry in &mut self.entries {
            if room == 0 {
                break;
            }
            if !entry.in_flight && entry.due <= now {
                entry.in_flight = true;
                entry.attempts += 1;
                room -= 1;
                out.push(entry.event.clone());
            }
        }
        out
    }

    /// The attempt of event `id` ended: `ok` when the receiver took it.
    /// `None` for an ID not in flight.
    pub fn finished(&mut self, id: &str, ok: bool, now: Instant) -> Option<Outcome> {
        let index = self
            .entries
            .iter()
            .position(|e| e.in_flight && e.event.id == id)?;
        if ok {
            self.entries.remove(index);
            return Some(Outcome::Delivered);
        }
        let entry = self.entries.get_mut(index)?;
        if entry.attempts >= self.policy.max_attempts {
            self.entries.remove(index);
            return Some(Outcome::GaveUp);
        }
        entry.in_flight = false;
        entry.due = now + self.policy.backoff(entry.attempts);
        Some(Outcome::Retrying)
    }

    /// When the next waiting event is due (`None`: nothing waits).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.entries
            .iter()
            .filter(|e| !e.in_flight)
            .map(|e| e.due)
            .min()
    }

    /// Events queued or in flight.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is queued or in flight.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str) -> Pending {
        Pending {
            id: id.to_owned(),
            app_id: 1,
            body: Arc::from("{}"),
        }
    }

    fn policy() -> Policy {
        Policy {
            max_queued: 3,
            max_attempts: 4,
            first_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(3),
            max_in_flight: 2,
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = policy();
        let waits: Vec<u64> = (1..=5).map(|a| p.backoff(a).as_secs()).collect();
        assert_eq!(waits, [1, 2, 3, 3, 3]);
        assert_eq!(Policy::default().backoff(u32::MAX), Duration::from_secs(60));
    }

    #[test]
    fn a_failing_event_is_retried_with_backoff_then_given_up() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut o = Outbox::new(policy());
        assert!(o.push(event("a"), t0));
        assert_eq!(o.poll(t0), [event("a")]);
        // In flight: not handed out twice, no timeout for it.
        assert!(o.poll(t0).is_empty());
        assert_eq!(o.poll_timeout(), None);
        assert_eq!(o.finished("a", false, t0), Some(Outcome::Retrying));
        assert_eq!(o.poll_timeout(), Some(at(1)));
        assert!(o.poll(at(0)).is_empty());
        assert_eq!(o.poll(at(1)), [event("a")]);
        assert_eq!(o.finished("a", false, at(1)), Some(Outcome::Retrying));
        assert_eq!(o.poll_timeout(), Some(at(3)));
        assert_eq!(o.poll(at(3)), [event("a")]);
        assert_eq!(o.finished("a", false, at(3)), Some(Outcome::Retrying));
        assert_eq!(o.poll_timeout(), Some(at(6)));
        assert_eq!(o.poll(at(6)), [event("a")]);
        assert_eq!(o.finished("a", false, at(6)), Some(Outcome::GaveUp));
        assert!(o.is_empty());
        assert_eq!(o.finished("a", true, at(6)), None);
    }

    #[test]
    fn delivered_events_leave_and_the_bounds_hold() {
        let t0 = Instant::now();
        let mut o = Outbox::new(policy());
        for id in ["a", "b", "c"] {
            assert!(o.push(event(id), t0));
        }
        assert!(!o.push(event("d"), t0), "the queue holds 3");
        assert_eq!(o.poll(t0), [event("a"), event("b")], "2 in flight at most");
        assert_eq!(o.finished("b", true, t0), Some(Outcome::Delivered));
        assert_eq!(o.poll(t0), [event("c")]);
        assert_eq!(o.len(), 2);
        assert!(o.push(event("d"), t0));
        assert!(o.poll(t0).is_empty());
        assert_eq!(o.finished("a", true, t0), Some(Outcome::Delivered));
        assert_eq!(o.poll(t0), [event("d")]);
        // An ID the outbox does not have in flight changes nothing.
        assert_eq!(o.finished("zz", true, t0), None);
        assert_eq!(o.len(), 2);
    }
}
