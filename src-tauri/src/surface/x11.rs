//! Native video surfaces on X11: one child window of the app's toplevel per
//! video tile, on a connection of the app's own (`XOpenDisplay`; window IDs
//! are server-wide, so a child of GTK's toplevel can live on it). The child
//! windows select no input events, so clicks fall through to the page, and
//! sit above the webview exactly over their tile's rect.
//!
//! Xlib is a C API: every `unsafe` block here is an Xlib call on the
//! connection this module opened and a window it created (or the toplevel
//! whose ID GTK gave us). `main` calls `XInitThreads` first, so the
//! connection may be used from any thread (GTK's, Tokio's, render threads).

#![allow(unsafe_code)]

use std::ffi::c_void;
use std::ptr::{self, NonNull};
use std::sync::Arc;

use raw_window_handle::{
    DisplayHandle, HandleError, HasDisplayHandle, HasWindowHandle, RawDisplayHandle,
    RawWindowHandle, WindowHandle, XlibDisplayHandle, XlibWindowHandle,
};
use x11_dl::xlib;

/// The app's own X connection and the toplevel its child windows go into.
pub(super) struct X11Host {
    connection: Arc<Connection>,
    parent: xlib::Window,
}

/// An open Xlib display; closed when the last window using it is gone.
struct Connection {
    xlib: xlib::Xlib,
    display: *mut xlib::Display,
    screen: i32,
}

// SAFETY: Xlib is made thread-safe by XInitThreads (called in main before
// any display is opened); the pointer is only used for Xlib calls.
unsafe impl Send for Connection {}
// SAFETY: as above; Xlib locks the display around every request.
unsafe impl Sync for Connection {}

impl Drop for Connection {
    fn drop(&mut self) {
        // SAFETY: the display is open and nothing uses it after this (every
        // window holds an Arc of the connection).
        unsafe {
            (self.xlib.XCloseDisplay)(self.display);
        }
    }
}

impl X11Host {
    /// Opens a connection to `$DISPLAY` for child windows of `parent`.
    pub(super) fn connect(parent: xlib::Window) -> Result<Self, String> {
        let xlib = xlib::Xlib::open().map_err(|e| format!("libX11 is not available: {e}"))?;
        // SAFETY: a null name means $DISPLAY; the result is checked.
        let display = unsafe { (xlib.XOpenDisplay)(ptr::null()) };
        if display.is_null() {
            return Err("cannot open the X display".into());
        }
        // SAFETY: the display was just opened.
        let screen = unsafe { (xlib.XDefaultScreen)(display) };
        Ok(X11Host {
            connection: Arc::new(Connection {
                xlib,
                display,
                screen,
            }),
            parent,
        })
    }

    /// A new, unmapped child window of the toplevel at (`x`, `y`), `width` x
    /// `height` physical pixels (at least 1 x 1).
    pub(super) fn create_child(
        &self,
        (x, y): (i32, i32),
        (width, height): (u32, u32),
    ) -> Result<ChildWindow, String> {
        let c = &self.connection;
        // SAFETY: our open display; the parent is the app's toplevel window.
        let window = unsafe {
            let black = (c.xlib.XBlackPixel)(c.display, c.screen);
            let window = (c.xlib.XCreateSimpleWindow)(
                c.display,
                self.parent,
                x,
                y,
                width.max(1),
                height.max(1),
                0,
                black,
                black,
            );
            (c.xlib.XSync)(c.display, xlib::False);
            window
        };
        if window == 0 {
            return Err("XCreateSimpleWindow failed".into());
        }
        Ok(ChildWindow {
            connection: Arc::clone(&self.connection),
            window,
        })
    }
}

/// One tile's child window. Destroyed when dropped (after the renderer that
/// draws into it has released it: the renderer holds a clone of its `Arc`).
pub(super) struct ChildWindow {
    connection: Arc<Connection>,
    window: xlib::Window,
}

impl ChildWindow {
    /// Moves and resizes the window (physical pixels, relative to the
    /// toplevel) and shows it above its siblings.
    pub(super) fn show_at(&self, (x, y): (i32, i32), (width, height): (u32, u32)) {
        let c = &self.connection;
        // SAFETY: our display and window.
        unsafe {
            (c.xlib.XMoveResizeWindow)(c.display, self.window, x, y, width.max(1), height.max(1));
            (c.xlib.XMapRaised)(c.display, self.window);
            (c.xlib.XFlush)(c.display);
        }
    }

    /// Hides the window (the page underneath shows).
    pub(super) fn hide(&self) {
        let c = &self.connection;
        // SAFETY: our display and window.
        unsafe {
            (c.xlib.XUnmapWindow)(c.display, self.window);
            (c.xlib.XFlush)(c.display);
        }
    }
}

impl HasWindowHandle for ChildWindow {
    fn window_handle(&self) -> Result<WindowHandle<'_>, HandleError> {
        let raw = RawWindowHandle::Xlib(XlibWindowHandle::new(self.window));
        // SAFETY: the window exists until this value is dropped.
        Ok(unsafe { WindowHandle::borrow_raw(raw) })
    }
}

impl HasDisplayHandle for ChildWindow {
    fn display_handle(&self) -> Result<DisplayHandle<'_>, HandleError> {
        let c = &self.connection;
        let display = NonNull::new(c.display.cast::<c_void>());
        let raw = RawDisplayHandle::Xlib(XlibDisplayHandle::new(display, c.screen));
        // SAFETY: the connection stays open while this window holds it.
        Ok(unsafe { DisplayHandle::borrow_raw(raw) })
    }
}

impl Drop for ChildWindow {
    fn drop(&mut self) {
        let c = &self.connection;
        // SAFETY: our display and window; nothing uses the window after this.
        unsafe {
            (c.xlib.XDestroyWindow)(c.display, self.window);
            (c.xlib.XFlush)(c.display);
        }
    }
}

/// Where the webview's top-left corner is inside the toplevel X window, in
/// physical pixels (0, 0 unless GTK puts something above the webview, such
/// as a menu bar or client-side decorations). Call it on the GTK main thread.
pub(super) fn webview_offset(window: &tauri::WebviewWindow) -> Option<(i32, i32)> {
    use gtk::prelude::WidgetExt;
    let content = window.default_vbox().ok()?;
    let toplevel = window.gtk_window().ok()?;
    let (x, y) = content.translate_coordinates(&toplevel, 0, 0)?;
    let scale = content.scale_factor();
    Some((x * scale, y * scale))
}
