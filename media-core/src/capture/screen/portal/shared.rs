//! A portal share as the SDK runs it: opened once per share from
//! synchronous code ([`PortalSource::open_blocking`], the handshake on the
//! caller's tokio runtime), then shared by the aux channel's source thread
//! (which restarts with the channel's pipeline: the portal is not asked
//! again) and the share's watcher and stop.

use super::{PortalCapture, PortalError, ShareRequest};
use crate::capture::screen::ScreenError;
use crate::frame::VideoFrame;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tokio::runtime::{Handle, RuntimeFlavor};

/// How long [`PortalSource::open_blocking`] waits for the stream's first
/// picture (its size) once the portal has answered.
const FIRST_PICTURE_WAIT: Duration = Duration::from_secs(5);
/// How often it looks for that picture.
const FIRST_PICTURE_POLL: Duration = Duration::from_millis(20);

/// A running portal capture, cheap to clone; equal only to its own clones.
/// The portal session is closed by [`PortalSource::close`] or when the last
/// clone goes, on the runtime it was opened on.
#[derive(Debug, Clone)]
pub struct PortalSource {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// `None` once closed.
    capture: Mutex<Option<PortalCapture>>,
    restore_token: Option<String>,
    runtime: Handle,
}

impl PartialEq for PortalSource {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for PortalSource {}

impl PortalSource {
    /// Asks the portal on `bus` (a D-Bus address; `None`: the session bus)
    /// for `request`, blocking until the user has answered its dialog (at
    /// once with a valid restore token), then waits (at most 5 s) for the
    /// stream's first picture. The handshake runs on the current tokio
    /// runtime: call it on a multi-thread runtime or from a blocking
    /// thread (`spawn_blocking`), never on a current-thread runtime's own
    /// thread.
    ///
    /// Errors: [`ScreenError::Portal`] (cancelled: `PermissionDenied`; no
    /// portal; PipeWire), [`ScreenError::Connect`] outside a runtime,
    /// [`ScreenError::NotVisible`] when no picture came.
    pub fn open_blocking(
        bus: Option<&str>,
        request: ShareRequest,
    ) -> Result<PortalSource, ScreenError> {
        let runtime = Handle::try_current()
            .map_err(|_| ScreenError::Connect("no tokio runtime to ask the portal on".into()))?;
        let flavor = runtime.runtime_flavor();
        let bus = bus.map(str::to_owned);
        let run = move || PortalSource::open_and_wait(runtime, bus, request);
        match flavor {
            // Off the worker thread's other tasks while it waits.
            RuntimeFlavor::MultiThread => tokio::task::block_in_place(run),
            _ => run(),
        }
    }

    /// [`PortalSource::open_blocking`] on `runtime`, blocking this thread.
    fn open_and_wait(
        runtime: Handle,
        bus: Option<String>,
        request: ShareRequest,
    ) -> Result<PortalSource, ScreenError> {
        let (tx, rx) = std::sync::mpsc::channel();
        runtime.spawn(async move {
            let _ = tx.send(open(bus, request).await);
        });
        let capture = rx.recv().map_err(|_| {
            ScreenError::Connection("the runtime ended during the handshake".into())
        })??;
        let restore_token = capture.restore_token().map(str::to_owned);
        let source = PortalSource {
            inner: Arc::new(Inner {
                capture: Mutex::new(Some(capture)),
                restore_token,
                runtime,
            }),
        };
        let deadline = Instant::now() + FIRST_PICTURE_WAIT;
        loop {
            match source.size() {
                Err(ScreenError::NotVisible) if Instant::now() < deadline => {
                    std::thread::sleep(FIRST_PICTURE_POLL);
                }
                Ok(_) => return Ok(source),
                Err(e) => {
                    source.close();
                    return Err(e);
                }
            }
        }
    }

    /// The token that restores this choice next time without asking, when
    /// the portal gave one (single-use: keep it in place of the one passed).
    pub fn restore_token(&self) -> Option<&str> {
        self.inner.restore_token.as_deref()
    }

    /// The newest picture as I420; [`ScreenError::NotVisible`] before the
    /// first, [`ScreenError::SourceGone`] once the share ended or was
    /// closed.
    pub fn capture(&self) -> Result<VideoFrame, ScreenError> {
        self.inner
            .lock()
            .as_mut()
            .map_or(Err(ScreenError::SourceGone), PortalCapture::capture)
    }

    /// The newest picture's size (errors as [`PortalSource::capture`]).
    pub fn size(&self) -> Result<(u32, u32), ScreenError> {
        self.inner
            .lock()
            .as_ref()
            .map_or(Err(ScreenError::SourceGone), PortalCapture::size)
    }

    /// Ends the share: closes the portal session (in the background, on the
    /// runtime it was opened on); every clone's capture is then
    /// [`ScreenError::SourceGone`].
    pub fn close(&self) {
        self.inner.close();
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Option<PortalCapture>> {
        self.capture.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn close(&self) {
        if let Some(capture) = self.lock().take() {
            self.runtime.spawn(capture.close());
        }
    }
}

impl Drop for Inner {
    /// The last clone may go on a thread with no runtime (the source
    /// thread): the session is closed on the runtime it was opened on.
    fn drop(&mut self) {
        self.close();
    }
}

/// Connects to `bus` (or the session bus) and runs the handshake.
async fn open(bus: Option<String>, request: ShareRequest) -> Result<PortalCapture, PortalError> {
    let connection = match bus {
        Some(address) => Some(
            ashpd::zbus::connection::Builder::address(address.as_str())
                .map_err(|e| PortalError::Unavailable(e.to_string()))?
                .build()
                .await
                .map_err(|e| PortalError::Unavailable(e.to_string()))?,
        ),
        None => None,
    };
    PortalCapture::open(connection, request).await
}
