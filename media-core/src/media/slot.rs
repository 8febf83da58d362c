//! A stream's current peer connection, replaced on each negotiation.
//!
//! Creating a transport is async; the session may close or renegotiate
//! meanwhile. Every `begin` bumps a generation: a transport that finishes
//! creating for an old generation is closed instead of installed.

use crate::transport::{PlayTransport, PublishTransport};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// What a slot needs from either transport.
pub(crate) trait Transport: Send + Sync + 'static {
    /// Frees the connection.
    fn close(&self) -> impl Future<Output = ()> + Send;
}

impl Transport for PublishTransport {
    fn close(&self) -> impl Future<Output = ()> + Send {
        PublishTransport::close(self)
    }
}

impl Transport for PlayTransport {
    fn close(&self) -> impl Future<Output = ()> + Send {
        PlayTransport::close(self)
    }
}

/// The current transport of one stream.
#[derive(Debug)]
pub(crate) struct Slot<T> {
    inner: Mutex<(u64, Option<Arc<T>>)>,
}

impl<T: Transport> Slot<T> {
    pub(crate) fn new() -> Self {
        Slot {
            inner: Mutex::new((0, None)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, (u64, Option<Arc<T>>)> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts a new generation, taking out the old transport (to close).
    pub(crate) fn begin(&self) -> (u64, Option<Arc<T>>) {
        let mut g = self.lock();
        g.0 += 1;
        (g.0, g.1.take())
    }

    /// Installs `t` if `generation` is still current; otherwise gives it back.
    pub(crate) fn install(&self, generation: u64, t: Arc<T>) -> Result<(), Arc<T>> {
        let mut g = self.lock();
        if g.0 == generation {
            g.1 = Some(t);
            Ok(())
        } else {
            Err(t)
        }
    }

    /// The installed transport.
    pub(crate) fn get(&self) -> Option<Arc<T>> {
        self.lock().1.clone()
    }

    /// Whether `generation` is the current one.
    pub(crate) fn is_current(&self, generation: u64) -> bool {
        self.lock().0 == generation
    }

    /// Closes the current transport (if any) and invalidates pending ones.
    pub(crate) async fn close(&self) {
        let (_, old) = self.begin();
        if let Some(t) = old {
            t.close().await;
        }
    }
}
