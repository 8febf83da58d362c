//! `FrameSink`: rendered frames for headless use and tests.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;

use super::I420Planes;

/// A frame delivered to a [`FrameSink`]: the decoded picture, packed I420,
/// and when it was captured and rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFrame {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Packed I420: Y (`width * height`), then U, then V
    /// (`ceil(width / 2) * ceil(height / 2)` each). Shared by all subscribers.
    pub data: Arc<[u8]>,
    /// The capture timestamp the frame carried, in microseconds.
    pub capture_time_us: u64,
    /// 1 for the first frame this sink (and its clones) rendered, then 2, 3, ...
    /// Frames a subscriber missed because its queue was full still count.
    pub frame_number: u64,
    /// When the frame was rendered: microseconds since the UNIX epoch.
    pub render_time_us: u64,
}

impl RenderedFrame {
    /// The frame's planes.
    pub fn planes(&self) -> I420Planes<'_> {
        I420Planes::split_packed(self.width, self.height, &self.data, self.capture_time_us)
    }
}

/// Receives every frame rendered on a [`Canvas::sink`](super::Canvas::sink).
///
/// Cloning is cheap; clones share subscribers and the frame counter. While
/// nobody subscribes, a rendered frame costs an atomic increment and no copy.
#[derive(Debug, Clone, Default)]
pub struct FrameSink {
    inner: Arc<SinkInner>,
}

#[derive(Debug, Default)]
struct SinkInner {
    subscribers: Mutex<Vec<mpsc::Sender<RenderedFrame>>>,
    subscriber_count: AtomicUsize,
    frames: AtomicU64,
    dropped: AtomicU64,
}

/// The receiving end of [`FrameSink::subscribe`].
#[derive(Debug)]
pub struct FrameReceiver {
    rx: mpsc::Receiver<RenderedFrame>,
}

impl FrameSink {
    /// A sink with no subscribers.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new subscriber that queues up to `capacity` frames (at least 1).
    /// When its queue is full, newer frames are dropped for it (counted in
    /// [`FrameSink::frames_dropped`]) rather than blocking the renderer.
    pub fn subscribe(&self, capacity: usize) -> FrameReceiver {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let mut subscribers = self.lock_subscribers();
        subscribers.push(tx);
        self.inner
            .subscriber_count
            .store(subscribers.len(), Ordering::Release);
        FrameReceiver { rx }
    }

    /// Frames rendered into this sink so far.
    pub fn frames_rendered(&self) -> u64 {
        self.inner.frames.load(Ordering::Acquire)
    }

    /// Frames a subscriber did not get because its queue was full.
    pub fn frames_dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Acquire)
    }

    /// Counts a rendered frame and hands a copy to every subscriber;
    /// returns its frame number.
    pub(crate) fn deliver(&self, planes: &I420Planes<'_>) -> u64 {
        let frame_number = self.inner.frames.fetch_add(1, Ordering::AcqRel) + 1;
        if self.inner.subscriber_count.load(Ordering::Acquire) == 0 {
            return frame_number;
        }
        let frame = RenderedFrame {
            width: planes.width,
            height: planes.height,
            data: packed(planes),
            capture_time_us: planes.capture_time_us,
            frame_number,
            render_time_us: unix_time_us(),
        };
        let mut subscribers = self.lock_subscribers();
        subscribers.retain(|tx| match tx.try_send(frame.clone()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.inner.dropped.fetch_add(1, Ordering::AcqRel);
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        });
        self.inner
            .subscriber_count
            .store(subscribers.len(), Ordering::Release);
        frame_number
    }

    fn lock_subscribers(&self) -> std::sync::MutexGuard<'_, Vec<mpsc::Sender<RenderedFrame>>> {
        // A panic while holding the lock cannot leave the Vec inconsistent.
        self.inner
            .subscribers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl FrameReceiver {
    /// The next frame; `None` once every sink clone and renderer is gone.
    pub async fn recv(&mut self) -> Option<RenderedFrame> {
        self.rx.recv().await
    }

    /// The next frame if one is queued.
    pub fn try_recv(&mut self) -> Option<RenderedFrame> {
        self.rx.try_recv().ok()
    }

    /// The next frame, blocking the thread (not for use inside an async
    /// runtime: it panics there).
    pub fn blocking_recv(&mut self) -> Option<RenderedFrame> {
        self.rx.blocking_recv()
    }
}

/// Microseconds since the UNIX epoch (0 if the clock is before 1970).
pub(crate) fn unix_time_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

fn packed(planes: &I420Planes<'_>) -> Arc<[u8]> {
    let mut owned = super::planes::OwnedI420::default();
    owned.copy_from(planes);
    owned.data.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gray(width: u32, height: u32, luma: u8) -> (Vec<u8>, Vec<u8>) {
        let c = (width.div_ceil(2) * height.div_ceil(2)) as usize;
        (vec![luma; (width * height) as usize], vec![128; c])
    }

    #[test]
    fn subscribers_get_every_frame_with_metadata() {
        let sink = FrameSink::new();
        let mut a = sink.subscribe(4);
        let mut b = sink.clone().subscribe(4);
        let (y, c) = gray(4, 2, 50);
        for t in [10, 20] {
            sink.deliver(&I420Planes::packed(4, 2, &y, &c, &c, t).unwrap());
        }
        for rx in [&mut a, &mut b] {
            let first = rx.try_recv().unwrap();
            assert_eq!((first.frame_number, first.capture_time_us), (1, 10));
            assert_eq!(first.data.len(), 8 + 2 + 2);
            assert_eq!(first.planes().y, &y[..]);
            assert!(first.render_time_us > 0);
            assert_eq!(rx.try_recv().unwrap().frame_number, 2);
            assert!(rx.try_recv().is_none());
        }
        assert_eq!(sink.frames_rendered(), 2);
    }

    #[test]
    fn full_queues_drop_and_closed_ones_are_removed() {
        let sink = FrameSink::new();
        let (y, c) = gray(2, 2, 0);
        let planes = I420Planes::packed(2, 2, &y, &c, &c, 0).unwrap();
        // No subscriber: only counted.
        assert_eq!(sink.deliver(&planes), 1);
        let mut rx = sink.subscribe(1);
        sink.deliver(&planes);
        sink.deliver(&planes);
        assert_eq!(sink.frames_dropped(), 1);
        assert_eq!(rx.try_recv().unwrap().frame_number, 2);
        drop(rx);
        sink.deliver(&planes);
        assert_eq!(sink.inner.subscriber_count.load(Ordering::Acquire), 0);
    }
}
