//! The one "source gone" flag of a share, set by whichever notices first
//! (the session's `Closed` signal, a failed or disconnected PipeWire
//! stream), which sends the share's one [`PortalEvent::SourceGone`].

use super::PortalEvent;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// A shared, set-once "the source is gone" flag with its event sender.
#[derive(Debug, Clone)]
pub(super) struct Gone {
    flag: Arc<AtomicBool>,
    events: mpsc::UnboundedSender<PortalEvent>,
}

impl Gone {
    /// A flag not set yet, and the receiver of its event.
    pub(super) fn new() -> (Gone, mpsc::UnboundedReceiver<PortalEvent>) {
        let (events, rx) = mpsc::unbounded_channel();
        (
            Gone {
                flag: Arc::new(AtomicBool::new(false)),
                events,
            },
            rx,
        )
    }

    /// Sets the flag; the first call sends [`PortalEvent::SourceGone`] with
    /// `reason`, later ones do nothing.
    pub(super) fn mark(&self, reason: &str) {
        if !self.flag.swap(true, Ordering::AcqRel) {
            tracing::info!("shared screen gone: {reason}");
            let _ = self.events.send(PortalEvent::SourceGone {
                reason: reason.to_owned(),
            });
        }
    }

    /// Whether the source is gone.
    pub(super) fn is_set(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }
}
