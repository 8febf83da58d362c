//! A canvas that logs every stamped frame a native player renders, in the
//! background, for figures over any window afterwards
//! ([`crate::call_metrics::Window`]).

use crate::call_metrics::Presented;
use crate::media::stamp_of;
use media_core::render::{Canvas, FrameSink};
use std::sync::{Arc, Mutex};
use tokio::task::JoinHandle;

/// The rendered frames of one canvas; logging stops when dropped.
pub struct FrameLog {
    frames: Arc<Mutex<Vec<Presented>>>,
    task: JoinHandle<()>,
}

impl FrameLog {
    /// A sink canvas and the log of what it renders (frames without a
    /// readable barcode are left out).
    pub fn canvas() -> (Canvas, FrameLog) {
        let sink = FrameSink::new();
        let mut rx = sink.subscribe(512);
        let frames: Arc<Mutex<Vec<Presented>>> = Arc::default();
        let log = Arc::clone(&frames);
        let task = tokio::spawn(async move {
            while let Some(frame) = rx.recv().await {
                if let Some(stamp) = stamp_of(&frame) {
                    log.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(Presented {
                            capture_us: stamp.capture_time_us,
                            render_us: frame.render_time_us,
                            height: frame.height,
                        });
                }
            }
        });
        (Canvas::sink(sink), FrameLog { frames, task })
    }

    /// Every frame logged so far, in render order.
    pub fn frames(&self) -> Vec<Presented> {
        self.frames
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for FrameLog {
    fn drop(&mut self) {
        self.task.abort();
    }
}
