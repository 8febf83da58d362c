//! Which capture a desktop session needs: X11's own (`DISPLAY`), or the
//! xdg-desktop-portal on Wayland, where applications cannot read the
//! screen themselves and XWayland (when there is one) only sees the windows
//! of X clients.
//!
//! ```
//! use media_core::capture::screen::session;
//! // What `confer call --share-screen` shares when told nothing else.
//! let _target = session::default_target(None);
//! ```

use super::{ScreenSourceInfo, ScreenTarget};

/// The name of the one source listed on a Wayland session.
pub const PORTAL_SOURCE_NAME: &str = "Screen or window (chosen in the system's dialog)";

/// Whether the session is a Wayland one, from its `XDG_SESSION_TYPE` and
/// `WAYLAND_DISPLAY`: the session type when it says `wayland` or `x11`,
/// else whether a Wayland display is named (a terminal started from a
/// Wayland desktop may have no session type).
pub fn is_wayland(session_type: Option<&str>, wayland_display: Option<&str>) -> bool {
    match session_type.map(str::trim) {
        Some(t) if t.eq_ignore_ascii_case("wayland") => true,
        Some(t) if t.eq_ignore_ascii_case("x11") => false,
        _ => wayland_display.is_some_and(|d| !d.trim().is_empty()),
    }
}

/// Whether this process's session is a Wayland one ([`is_wayland`] of its
/// environment).
pub fn is_wayland_session() -> bool {
    let var = |name| std::env::var(name).ok();
    is_wayland(
        var("XDG_SESSION_TYPE").as_deref(),
        var("WAYLAND_DISPLAY").as_deref(),
    )
}

/// Whether a capture with no X display named goes through the portal:
/// on a Wayland session with the `wayland` feature. Naming a `display`
/// asks for X11 (e.g. an Xvfb), whatever the session.
pub fn uses_portal(display: Option<&str>) -> bool {
    cfg!(feature = "wayland") && display.is_none() && is_wayland_session()
}

/// What to share when the user named nothing: the portal's pick on a
/// Wayland session ([`uses_portal`]), else the first X screen.
pub fn default_target(display: Option<&str>) -> ScreenTarget {
    if uses_portal(display) {
        ScreenTarget::Portal
    } else {
        ScreenTarget::Screen(0)
    }
}

/// The one source a Wayland session lists: the portal's dialog shows the
/// monitors and windows (no size or thumbnail before the user picks).
pub(super) fn portal_source() -> ScreenSourceInfo {
    ScreenSourceInfo {
        target: ScreenTarget::Portal,
        name: PORTAL_SOURCE_NAME.into(),
        width: 0,
        height: 0,
        pid: None,
    }
}

#[cfg(test)]
mod tests {
    use super::is_wayland;

    #[test]
    fn the_session_type_decides_then_the_wayland_display() {
        assert!(is_wayland(Some("wayland"), None));
        assert!(is_wayland(Some("Wayland"), Some("")));
        assert!(!is_wayland(Some("x11"), Some("wayland-0")));
        assert!(is_wayland(None, Some("wayland-0")));
        assert!(is_wayland(Some("tty"), Some("wayland-1")));
        assert!(!is_wayland(None, Some(" ")));
        assert!(!is_wayland(None, None));
        assert!(!is_wayland(Some("tty"), None));
    }
}
