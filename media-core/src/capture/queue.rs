//! A bounded single-consumer frame queue that drops the oldest frame when
//! full, so a slow consumer (an encoder that fell behind) always gets the
//! freshest media instead of stalling the capture thread.
//!
//! Senders are plain blocking-free calls usable from any thread (capture
//! threads, device callbacks); the receiver can wait asynchronously
//! ([`FrameReceiver::recv`]) or block ([`FrameReceiver::blocking_recv`]).

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;

/// Creates a queue holding at most `capacity` (at least 1) items.
pub fn frame_queue<T>(capacity: usize) -> (FrameSender<T>, FrameReceiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::with_capacity(capacity.max(1)),
            capacity: capacity.max(1),
            senders: 1,
            receiver_alive: true,
            dropped: 0,
        }),
        notify: Notify::new(),
        condvar: Condvar::new(),
    });
    (
        FrameSender {
            shared: shared.clone(),
        },
        FrameReceiver { shared },
    )
}

/// The receiving half is gone: nobody will consume what is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the frame receiver was dropped")]
pub struct QueueClosed;

/// The sending half of a [`frame_queue`]. Cloning adds a sender; the queue
/// ends when every sender is dropped.
#[derive(Debug)]
pub struct FrameSender<T> {
    shared: Arc<Shared<T>>,
}

/// The receiving half of a [`frame_queue`].
#[derive(Debug)]
pub struct FrameReceiver<T> {
    shared: Arc<Shared<T>>,
}

#[derive(Debug)]
struct Shared<T> {
    state: Mutex<State<T>>,
    notify: Notify,
    condvar: Condvar,
}

#[derive(Debug)]
struct State<T> {
    items: VecDeque<T>,
    capacity: usize,
    senders: usize,
    receiver_alive: bool,
    dropped: u64,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A panic while holding this lock cannot leave the queue inconsistent
        // (every critical section is a single VecDeque operation).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wake(&self) {
        self.notify.notify_one();
        self.condvar.notify_all();
    }
}

impl<T> FrameSender<T> {
    /// Queues an item, dropping the oldest queued one if the queue is full.
    /// Fails only when the receiver is gone (the source should stop).
    pub fn send(&self, item: T) -> Result<(), QueueClosed> {
        let mut state = self.shared.lock();
        if !state.receiver_alive {
            return Err(QueueClosed);
        }
        if state.items.len() >= state.capacity {
            state.items.pop_front();
            state.dropped += 1;
        }
        state.items.push_back(item);
        drop(state);
        self.shared.wake();
        Ok(())
    }

    /// True when the receiver has been dropped.
    pub fn is_closed(&self) -> bool {
        !self.shared.lock().receiver_alive
    }
}

impl<T> Clone for FrameSender<T> {
    fn clone(&self) -> Self {
        self.shared.lock().senders += 1;
        FrameSender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for FrameSender<T> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.senders -= 1;
        let last = state.senders == 0;
        drop(state);
        if last {
            self.shared.wake();
        }
    }
}

impl<T> FrameReceiver<T> {
    /// The next item; `None` once every sender is gone and the queue is empty.
    pub async fn recv(&mut self) -> Option<T> {
        loop {
            let notified = self.shared.notify.notified();
            {
                let mut state = self.shared.lock();
                if let Some(item) = state.items.pop_front() {
                    return Some(item);
                }
                if state.senders == 0 {
                    return None;
                }
            }
            notified.await;
        }
    }

    /// Blocks the thread for the next item (not for use on an async task).
    pub fn blocking_recv(&mut self) -> Option<T> {
        let mut state = self.shared.lock();
        loop {
            if let Some(item) = state.items.pop_front() {
                return Some(item);
            }
            if state.senders == 0 {
                return None;
            }
            state = self
                .shared
                .condvar
                .wait(state)
                .unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Blocks up to `timeout` for the next item; `None` on timeout or end.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Option<T> {
        let deadline = std::time::Instant::now() + timeout;
        let mut state = self.shared.lock();
        loop {
            if let Some(item) = state.items.pop_front() {
                return Some(item);
            }
            let now = std::time::Instant::now();
            if state.senders == 0 || now >= deadline {
                return None;
            }
            state = self
                .shared
                .condvar
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// The next item if one is queued.
    pub fn try_recv(&mut self) -> Option<T> {
        self.shared.lock().items.pop_front()
    }

    /// How many items were dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.shared.lock().dropped
    }

    /// True when every sender is gone (queued items may remain).
    pub fn is_finished(&self) -> bool {
        self.shared.lock().senders == 0
    }
}

impl<T> Drop for FrameReceiver<T> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.receiver_alive = false;
        state.items.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_oldest_when_full() {
        let (tx, mut rx) = frame_queue(2);
        for i in 0..5 {
            tx.send(i).unwrap();
        }
        assert_eq!(rx.dropped(), 3);
        assert_eq!(rx.try_recv(), Some(3));
        assert_eq!(rx.try_recv(), Some(4));
        assert_eq!(rx.try_recv(), None);
        drop(tx);
        assert_eq!(rx.blocking_recv(), None);
    }

    #[test]
    fn send_fails_once_the_receiver_is_gone() {
        let (tx, rx) = frame_queue::<u8>(1);
        drop(rx);
        assert!(tx.is_closed());
        assert_eq!(tx.send(1), Err(QueueClosed));
    }

    #[tokio::test]
    async fn async_receiver_wakes_on_send_from_a_thread() {
        let (tx, mut rx) = frame_queue(4);
        let t = std::thread::spawn(move || {
            for i in 0..3 {
                std::thread::sleep(Duration::from_millis(5));
                tx.send(i).unwrap();
            }
        });
        let mut got = Vec::new();
        while let Some(i) = rx.recv().await {
            got.push(i);
        }
        t.join().unwrap();
        assert_eq!(got, vec![0, 1, 2]);
    }
}
