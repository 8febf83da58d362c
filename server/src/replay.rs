//! A session's replay buffer: the events sent but not yet acknowledged, kept
//! so a resumed connection can get what it missed.

use protocol::{RoomEvent, SequencedEvent};
use std::collections::VecDeque;
use std::sync::Arc;

/// Most events kept per session; older unacknowledged ones are dropped.
pub(crate) const REPLAY_CAPACITY: usize = 1024;

/// Events with their sequence numbers, oldest first.
#[derive(Debug)]
pub(crate) struct ReplayBuffer {
    events: VecDeque<(u64, Arc<RoomEvent>)>,
    /// The highest seq that is no longer available (acknowledged or dropped).
    floor: u64,
    capacity: usize,
}

/// A resume asked for events that are no longer buffered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EventsLost;

impl Default for ReplayBuffer {
    fn default() -> Self {
        ReplayBuffer::new(REPLAY_CAPACITY)
    }
}

impl ReplayBuffer {
    /// An empty buffer holding at most `capacity` events.
    pub(crate) fn new(capacity: usize) -> Self {
        ReplayBuffer {
            events: VecDeque::new(),
            floor: 0,
            capacity: capacity.max(1),
        }
    }

    /// Keeps `event` numbered `seq` (which must exceed every seq pushed before).
    pub(crate) fn push(&mut self, seq: u64, event: Arc<RoomEvent>) {
        if self.events.len() >= self.capacity {
            if let Some((dropped, _)) = self.events.pop_front() {
                self.floor = self.floor.max(dropped);
            }
        }
        self.events.push_back((seq, event));
    }

    /// Forgets events the client acknowledged (`seq <= ack`).
    pub(crate) fn ack(&mut self, ack: u64) {
        while self.events.front().is_some_and(|(seq, _)| *seq <= ack) {
            self.events.pop_front();
        }
        self.floor = self.floor.max(ack);
    }

    /// The events after `last_seq`, or [`EventsLost`] when some of them were
    /// already dropped.
    pub(crate) fn since(&self, last_seq: u64) -> Result<Vec<SequencedEvent>, EventsLost> {
        if last_seq < self.floor {
            return Err(EventsLost);
        }
        Ok(self
            .events
            .iter()
            .filter(|(seq, _)| *seq > last_seq)
            .map(|(seq, event)| SequencedEvent {
                seq: *seq,
                event: RoomEvent::clone(event),
            })
            .collect())
    }

    /// Events currently kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.events.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(count: u32) -> Arc<RoomEvent> {
        Arc::new(RoomEvent::OnlineUserCount { count })
    }

    fn seqs(v: &[SequencedEvent]) -> Vec<u64> {
        v.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn replays_after_last_seq_and_trims_on_ack() {
        let mut b = ReplayBuffer::new(8);
        for s in 1..=5 {
            b.push(s, ev(s as u32));
        }
        assert_eq!(seqs(&b.since(2).expect("kept")), vec![3, 4, 5]);
        b.ack(3);
        assert_eq!(b.len(), 2);
        assert_eq!(seqs(&b.since(3).expect("kept")), vec![4, 5]);
        assert_eq!(seqs(&b.since(5).expect("kept")), Vec::<u64>::new());
        // The client claims less than it acknowledged: those events are gone.
        assert_eq!(b.since(1), Err(EventsLost));
    }

    #[test]
    fn overflow_drops_oldest_and_marks_them_lost() {
        let mut b = ReplayBuffer::new(4);
        for s in 1..=6 {
            b.push(s, ev(0));
        }
        assert_eq!(b.len(), 4);
        assert_eq!(b.since(1), Err(EventsLost));
        assert_eq!(seqs(&b.since(2).expect("kept")), vec![3, 4, 5, 6]);
    }

    #[test]
    fn default_capacity_is_1024() {
        let mut b = ReplayBuffer::new(REPLAY_CAPACITY);
        for s in 1..=2000 {
            b.push(s, ev(0));
        }
        assert_eq!(b.len(), 1024);
        assert!(b.since(976).is_ok());
        assert!(b.since(975).is_err());
    }
}
