//! Screen and window capture (issue 17): what can be shared
//! ([`list_sources`]), and a [`ScreenCapture`] that grabs one picture of a
//! whole screen or one window at a time, cursor drawn, as I420.
//!
//! X11 ([`x11`], over the X protocol in pure Rust: GetImage or MIT-SHM,
//! XFixes for the cursor) and, with the `wayland` feature, Wayland
//! ([`portal`]: the xdg-desktop-portal ScreenCast dialog and PipeWire,
//! [`ScreenTarget::Portal`]); [`session`] says which one a desktop session
//! needs. A shared window that closes ends its capture with
//! [`ScreenError::SourceGone`].
//!
//! [`VideoSourceKind::Screen`](super::source::VideoSourceKind::Screen) runs
//! a capture as a channel's paced video source.

mod convert;
#[cfg(feature = "wayland")]
pub mod portal;
pub mod session;
mod shm;
mod sources;
mod thumbnail;
pub mod x11;

pub use convert::bgrx_to_i420;
pub use sources::ScreenSourceQuery;
pub use thumbnail::Thumbnail;
pub use x11::X11Capture as ScreenCapture;

use protocol::ErrorCode;

/// What to capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScreenTarget {
    /// A whole X screen (its root window), by index.
    Screen(u32),
    /// One top-level window, by its X window id.
    Window(u32),
    /// One RandR monitor of the default X screen (its part of the root
    /// window), by its name atom; listed when the screen has two or more.
    Monitor(u32),
    /// The monitor or window the user picks in the desktop's own dialog
    /// (xdg-desktop-portal ScreenCast, for Wayland; feature `wayland`), or
    /// the one a restore token names without asking again. Listed alone on
    /// a Wayland session ([`list_sources`]); X11 captures refuse it.
    Portal,
}

/// A screen or window that can be shared.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ScreenSourceInfo {
    /// What to pass to a capture.
    pub target: ScreenTarget,
    /// A human-readable name (the window title, or "Screen 1").
    pub name: String,
    /// Its width in pixels when listed.
    pub width: u32,
    /// Its height in pixels when listed.
    pub height: u32,
    /// The process that owns a window (its `_NET_WM_PID`), when it says;
    /// `None` for screens.
    pub pid: Option<u32>,
}

/// Errors listing or capturing screens and windows.
#[derive(Debug, thiserror::Error)]
pub enum ScreenError {
    /// No display server could be reached (no `DISPLAY`, or it refused us).
    #[error("cannot connect to the display: {0}")]
    Connect(String),
    /// The connection to the display server failed.
    #[error("the display connection failed: {0}")]
    Connection(String),
    /// The display server answered a request with an error.
    #[error("the display server refused {request}: {detail}")]
    Refused {
        /// The request.
        request: &'static str,
        /// The server's error.
        detail: String,
    },
    /// The captured window or screen no longer exists (closed).
    #[error("the shared window or screen is gone")]
    SourceGone,
    /// The window exists but is not shown (minimised or unmapped): no
    /// picture this time.
    #[error("the shared window is not visible")]
    NotVisible,
    /// The screen's pixel format is not 24/32-bit true colour, or the
    /// target needs another capture (a portal target given to X11, or the
    /// `wayland` feature is off).
    #[error("unsupported pixel format: {0}")]
    UnsupportedFormat(String),
    /// The Wayland portal refused or ended the share (the user cancelled its
    /// dialog: [`ErrorCode::PermissionDenied`]).
    #[cfg(feature = "wayland")]
    #[error(transparent)]
    Portal(#[from] portal::PortalError),
}

impl ScreenError {
    /// The error code of this error (the screen codes of protocol's table).
    pub fn code(&self) -> ErrorCode {
        match self {
            ScreenError::Connect(_) | ScreenError::Connection(_) => ErrorCode::NoDisplay,
            ScreenError::SourceGone => ErrorCode::ScreenSourceGone,
            ScreenError::UnsupportedFormat(_) => ErrorCode::ScreenCaptureUnsupported,
            ScreenError::Refused { .. } | ScreenError::NotVisible => ErrorCode::ScreenCaptureFailed,
            #[cfg(feature = "wayland")]
            ScreenError::Portal(e) => e.code(),
        }
    }

    /// Whether capture cannot go on (a window that is only hidden may come
    /// back).
    pub fn is_fatal(&self) -> bool {
        !matches!(self, ScreenError::NotVisible)
    }
}

/// The screens, then each screen's monitors (when it has two or more),
/// then the top-level windows of `query.display`, without the windows the
/// query excludes. On a Wayland session with no
/// display named ([`session::uses_portal`]) there is one source,
/// [`ScreenTarget::Portal`]: the portal's dialog lists the monitors and
/// windows itself (an X11 listing would only see XWayland's windows).
pub fn list_sources(query: &ScreenSourceQuery) -> Result<Vec<ScreenSourceInfo>, ScreenError> {
    if session::uses_portal(query.display.as_deref()) {
        return Ok(vec![session::portal_source()]);
    }
    let mut sources = x11::list_sources(query.display.as_deref())?;
    sources.retain(|s| !query.excludes(s));
    Ok(sources)
}

#[cfg(test)]
mod tests;
