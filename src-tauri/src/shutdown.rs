//! Closing the window (or relaunching into an update): leave the room at
//! once (so the others see the user go now, not after a timeout), destroy
//! the engine, close the video surfaces, stop hosting, then exit. A hung
//! network cannot hold the app open: everything gets [`CLOSE_LIMIT`] in
//! total.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tauri::{AppHandle, Manager, Runtime};

use crate::engine_state::EngineState;
use crate::host::Host;
use crate::room_commands::shut_down_engine;
use crate::surface::Surfaces;

/// The most closing may take before the app exits anyway.
pub const CLOSE_LIMIT: Duration = Duration::from_secs(5);

/// Set once closing has begun (a second close request changes nothing).
#[derive(Debug, Default)]
pub struct Closing(AtomicBool);

/// Starts the close sequence (once) and exits when it is done.
pub fn begin(app: AppHandle) {
    tauri::async_runtime::spawn(async move {
        if leave_all(&app).await {
            app.exit(0);
        }
    });
}

/// Runs the close sequence (at most [`CLOSE_LIMIT`]) unless it has begun
/// already; whether this call ran it (the caller then exits or restarts).
pub async fn leave_all<R: Runtime>(app: &AppHandle<R>) -> bool {
    if app.state::<Closing>().0.swap(true, Ordering::SeqCst) {
        return false;
    }
    if tokio::time::timeout(CLOSE_LIMIT, close(app)).await.is_err() {
        tracing::warn!("closing took too long; exiting anyway");
    }
    true
}

async fn close<R: Runtime>(app: &AppHandle<R>) {
    shut_down_engine(&app.state::<EngineState>(), CLOSE_LIMIT).await;
    if let Some(surfaces) = app.try_state::<Surfaces>() {
        surfaces.release_all();
    }
    app.state::<Host>().stop().await;
    tracing::info!("closed cleanly");
}
