//! The Confer desktop app's entry point.

// No console window next to the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    #[cfg(target_os = "linux")]
    init_xlib_threads();
    confer_app::run();
}

/// Makes Xlib thread-safe before GTK or anything else opens a display: the
/// app's own X connection (native video surfaces) is used from GTK's main
/// thread, Tokio workers and render threads.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn init_xlib_threads() {
    // Without libX11 (a Wayland-only system) there is nothing to initialise;
    // the app then renders video through the canvas fallback.
    if let Ok(xlib) = x11_dl::xlib::Xlib::open() {
        // SAFETY: XInitThreads takes no arguments and is called here, first
        // thing in main, before any other Xlib call in the process.
        unsafe {
            (xlib.XInitThreads)();
        }
    }
}
