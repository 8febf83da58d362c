//! Wayland screen capture through the xdg-desktop-portal ScreenCast
//! interface and PipeWire (feature `wayland`).
//!
//! [`PortalCapture::open`] asks the portal for one monitor or window: the
//! portal shows its own picker (the application never lists Wayland
//! windows), or restores an earlier choice without asking when given the
//! restore token an earlier share answered with. The handshake
//! ([`negotiation`], sans-IO) is `CreateSession` -> `SelectSources` ->
//! `Start` -> `OpenPipeWireRemote`; the D-Bus calls are a thin layer over
//! ashpd. The portal then hands over a PipeWire remote and a node id, and a
//! PipeWire input stream on that node delivers BGRx pictures that
//! [`PortalCapture::capture`] converts to I420.
//!
//! A user who cancels the dialog gets [`PortalError::PermissionDenied`]
//! ([`ErrorCode::PermissionDenied`]). When the session ends (the portal's
//! `Closed` signal: the user pressed the compositor's "stop sharing", or the
//! compositor went away) or the stream fails, the capture sends one
//! [`PortalEvent::SourceGone`] and every later [`PortalCapture::capture`]
//! is [`ScreenError::SourceGone`], as for a closed X11 window.
//!
//! ```no_run
//! # async fn share() -> Result<(), media_core::capture::screen::portal::PortalError> {
//! use media_core::capture::screen::portal::{PortalCapture, ShareRequest};
//! let saved: Option<String> = None; // from the app's settings
//! let mut capture = PortalCapture::open(
//!     None,
//!     ShareRequest { restore_token: saved, ..ShareRequest::default() },
//! )
//! .await?;
//! let _next_time = capture.restore_token(); // save it: tokens are single-use
//! let _picture = capture.capture();
//! # Ok(()) }
//! ```

mod dbus;
mod gone;
pub mod negotiation;
mod pipewire;
mod shared;

pub use negotiation::{PersistMode, PortalInfo, ShareRequest};
pub use shared::PortalSource;

use super::ScreenError;
use crate::frame::VideoFrame;
use dbus::PortalSession;
use gone::Gone;
use pipewire::{PictureSlot, PipeWireStream};
use protocol::ErrorCode;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::mpsc;

/// Errors opening a portal share.
#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    /// No ScreenCast portal on the session bus (no xdg-desktop-portal, or no
    /// backend for it), or no session bus.
    #[error("no screen-cast portal: {0}")]
    Unavailable(String),
    /// The portal cannot share what was asked (no such source type).
    #[error("the portal cannot share that: {0}")]
    Unsupported(String),
    /// The user cancelled the portal's dialog (response 1).
    #[error("permission denied: the screen share was cancelled")]
    PermissionDenied,
    /// The portal ended a request some other way (response 2).
    #[error("the portal ended {method} (response {code})")]
    Ended {
        /// The request.
        method: &'static str,
        /// Its response code.
        code: u32,
    },
    /// A portal method call failed with a D-Bus error.
    #[error("the portal's {method} failed: {detail}")]
    Call {
        /// The method.
        method: &'static str,
        /// The D-Bus error.
        detail: String,
    },
    /// `Start` succeeded with no stream.
    #[error("the portal started no stream")]
    NoStream,
    /// The portal closed the session during the handshake.
    #[error("the portal closed the session")]
    SessionClosed,
    /// A reply came that the handshake did not wait for (a portal bug).
    #[error("the portal answered out of order")]
    OutOfOrder,
    /// PipeWire could not connect to the portal's remote or the stream.
    #[error("PipeWire: {0}")]
    PipeWire(String),
}

impl PortalError {
    /// The error code: [`ErrorCode::PermissionDenied`] when the user
    /// cancelled, [`ErrorCode::ScreenSourceGone`] when the session was
    /// closed under us, [`ErrorCode::ScreenCaptureUnsupported`] when there
    /// is no portal or it cannot share that, [`ErrorCode::ScreenCaptureFailed`]
    /// otherwise.
    pub fn code(&self) -> ErrorCode {
        match self {
            PortalError::PermissionDenied => ErrorCode::PermissionDenied,
            PortalError::SessionClosed => ErrorCode::ScreenSourceGone,
            PortalError::Unavailable(_) | PortalError::Unsupported(_) => {
                ErrorCode::ScreenCaptureUnsupported
            }
            PortalError::Ended { .. }
            | PortalError::Call { .. }
            | PortalError::NoStream
            | PortalError::OutOfOrder
            | PortalError::PipeWire(_) => ErrorCode::ScreenCaptureFailed,
        }
    }
}

/// What a running portal capture reports.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PortalEvent {
    /// The share ended from outside: the portal session closed or the
    /// PipeWire stream failed. Sent once; capture is over.
    SourceGone {
        /// What ended it, for the log.
        reason: String,
    },
}

/// A running Wayland share: the portal session and its PipeWire stream.
#[derive(Debug)]
pub struct PortalCapture {
    session: PortalSession,
    // Dropped before the session: stops the PipeWire thread first.
    _stream: PipeWireStream,
    picture: PictureSlot,
    gone: Gone,
    events: mpsc::UnboundedReceiver<PortalEvent>,
}

impl PortalCapture {
    /// Asks the portal on `connection` (`None`: the session bus) for a
    /// share and connects to its stream. Needs a tokio runtime.
    ///
    /// Errors: [`PortalError::PermissionDenied`] when the user cancels, and
    /// the others of [`PortalError`].
    pub async fn open(
        connection: Option<ashpd::zbus::Connection>,
        request: ShareRequest,
    ) -> Result<PortalCapture, PortalError> {
        let (gone, events) = Gone::new();
        let (session, remote) = PortalSession::open(connection, request, gone.clone()).await?;
        let picture = Arc::new(Mutex::new(Default::default()));
        let node_id = session.negotiated.stream.node_id;
        let stream = match PipeWireStream::connect(remote, node_id, picture.clone(), gone.clone()) {
            Ok(stream) => stream,
            Err(e) => {
                session.close().await;
                return Err(e);
            }
        };
        Ok(PortalCapture {
            session,
            _stream: stream,
            picture,
            gone,
            events,
        })
    }

    /// The PipeWire node being captured.
    pub fn node_id(&self) -> u32 {
        self.session.negotiated.stream.node_id
    }

    /// The token that restores this choice next time without asking (when
    /// the portal gave one). Tokens are single-use: store this one in place
    /// of the one passed in.
    pub fn restore_token(&self) -> Option<&str> {
        self.session.negotiated.restore_token.as_deref()
    }

    /// The newest picture as I420 (its size rounded down to even).
    /// [`ScreenError::NotVisible`] before the first picture,
    /// [`ScreenError::SourceGone`] once the share has ended.
    pub fn capture(&mut self) -> Result<VideoFrame, ScreenError> {
        if self.gone.is_set() {
            return Err(ScreenError::SourceGone);
        }
        let picture = self.picture.lock().unwrap_or_else(PoisonError::into_inner);
        picture.to_i420().ok_or(ScreenError::NotVisible)
    }

    /// The newest picture's size; [`ScreenError::NotVisible`] before the
    /// first, [`ScreenError::SourceGone`] once the share has ended.
    pub fn size(&self) -> Result<(u32, u32), ScreenError> {
        if self.gone.is_set() {
            return Err(ScreenError::SourceGone);
        }
        let picture = self.picture.lock().unwrap_or_else(PoisonError::into_inner);
        match (picture.count, picture.width, picture.height) {
            (0, _, _) => Err(ScreenError::NotVisible),
            (_, w, h) => Ok((w, h)),
        }
    }

    /// The next event; `None` when the capture is dropped.
    pub async fn next_event(&mut self) -> Option<PortalEvent> {
        self.events.recv().await
    }

    /// Stops sharing: closes the portal session (the compositor stops the
    /// stream and its "sharing" indicator). Dropping the capture inside a
    /// tokio runtime does the same in the background.
    pub async fn close(self) {
        self.session.close().await;
    }
}
