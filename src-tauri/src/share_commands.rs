//! Screen sharing (issue 17): the screens and windows that can be shared,
//! with thumbnails (never the app's own windows), starting a share as the
//! aux channel's video published as its own stream, and stopping it.
//!
//! At most one share runs; `start_share` replaces a running one. Its later
//! states come as the SDK's `ScreenCaptureStateUpdate` event (forwarded like
//! every engine event): when the shared window closes, the SDK withdraws the
//! stream by itself and the UI then calls `stop_share` to let go of it.

use std::sync::{Mutex, MutexGuard, PoisonError};

use base64::Engine as _;
use confer_app_types::share::{parse_source_id, ShareHint, ShareSource, ShareStatus};
use media_core::capture::screen::{ScreenSourceQuery, ScreenTarget};
use media_core::{Engine, PublishChannel, ScreenCaptureConfig, ScreenShare, ScreenShareState};
use protocol::ErrorCode;
use tauri::{AppHandle, Manager, State};

use crate::engine_state::EngineState;
use crate::error::CommandError;
use crate::paths::config_dir;
use crate::settings;
use crate::MAIN_WINDOW;

/// The picker's thumbnails fit this box (CSS px of a card, at 2x).
const THUMBNAIL_MAX: (u32, u32) = (320, 200);

/// The running share, if any.
#[derive(Debug, Default)]
pub struct Shares {
    active: Mutex<Option<ScreenShare>>,
}

impl Shares {
    fn lock(&self) -> MutexGuard<'_, Option<ScreenShare>> {
        self.active.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Lists the screens (first) and windows that can be shared, each with a
/// thumbnail, without the app's own windows.
#[tauri::command(rename_all = "snake_case")]
pub async fn list_share_sources(
    app: AppHandle,
    engines: State<'_, EngineState>,
) -> Result<Vec<ShareSource>, CommandError> {
    let engine = engines.engine()?;
    let query = own_windows_left_out(&app);
    blocking(move || {
        let sources = engine.screen_capture_sources(&query)?;
        Ok(sources
            .iter()
            .map(|info| {
                let (w, h) = THUMBNAIL_MAX;
                let thumbnail = engine
                    .screen_source_thumbnail(None, info.target, w, h)
                    .ok()
                    .map(|t| {
                        let png = base64::engine::general_purpose::STANDARD.encode(&t.png);
                        format!("data:image/png;base64,{png}")
                    });
                ShareSource::new(info, thumbnail)
            })
            .collect())
    })
    .await
}

/// Starts sharing `source_id` (from `list_share_sources`) with `hint`,
/// published on the aux channel as `stream_id`. A running share is stopped
/// first. Fails at once when the source is gone or cannot be captured.
#[tauri::command(rename_all = "snake_case")]
pub async fn start_share(
    app: AppHandle,
    engines: State<'_, EngineState>,
    shares: State<'_, Shares>,
    source_id: String,
    hint: ShareHint,
    stream_id: String,
) -> Result<ShareStatus, CommandError> {
    let target = parse_source_id(&source_id)?;
    let engine = engines.engine()?;
    let running = shares.lock().take();
    if let Some(old) = running {
        stop(old).await;
    }
    let query = own_windows_left_out(&app);
    let source = {
        let engine = engine.clone();
        blocking(move || find_source(&engine, &query, target)).await?
    };
    let portal = target == ScreenTarget::Portal;
    let config = ScreenCaptureConfig {
        target,
        display: None,
        hint: hint.into(),
        // Wayland: the last share's pick, so the portal does not ask again.
        restore_token: portal
            .then(|| settings::share_restore_token(&config_dir()))
            .flatten(),
    };
    let share = {
        let engine = engine.clone();
        // Blocks through the portal's dialog on Wayland.
        blocking(move || Ok(engine.start_screen_capture(config)?)).await?
    };
    if portal {
        if let Err(e) = settings::save_share_restore_token(&config_dir(), share.restore_token()) {
            tracing::warn!("cannot keep the share's restore token: {e}");
        }
    }
    if let Err(error) = engine.start_publishing_stream(&stream_id, PublishChannel::Aux) {
        stop(share).await;
        return Err(error.into());
    }
    *shares.lock() = Some(share);
    Ok(ShareStatus {
        stream_id,
        source,
        state: ScreenShareState::Capturing,
    })
}

/// Stops the running share (players get stream Delete; a share that was
/// still capturing reports `Stopped`); resolves when it has stopped. Also
/// lets go of a share that ended by itself. Without a share it does nothing.
#[tauri::command(rename_all = "snake_case")]
pub async fn stop_share(shares: State<'_, Shares>) -> Result<(), CommandError> {
    let running = shares.lock().take();
    if let Some(share) = running {
        stop(share).await;
    }
    Ok(())
}

/// Stops a share off the async runtime (it joins the SDK's watcher thread).
async fn stop(share: ScreenShare) {
    let _ = tauri::async_runtime::spawn_blocking(move || share.stop()).await;
}

/// Runs `f` (display round trips, captures) on a blocking thread.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, CommandError> + Send + 'static,
) -> Result<T, CommandError> {
    tauri::async_runtime::spawn_blocking(f)
        .await
        .map_err(|e| CommandError::internal(format!("screen capture task failed: {e}")))?
}

/// The listed source for `target` (its name and size, no thumbnail);
/// `ScreenSourceGone` when it is not there (closed since the list was
/// shown, or one of the app's own windows).
fn find_source(
    engine: &Engine,
    query: &ScreenSourceQuery,
    target: ScreenTarget,
) -> Result<ShareSource, CommandError> {
    engine
        .screen_capture_sources(query)?
        .iter()
        .find(|s| s.target == target)
        .map(|info| ShareSource::new(info, None))
        .ok_or_else(|| {
            CommandError::new(
                ErrorCode::ScreenSourceGone,
                "the window or screen to share is gone",
            )
        })
}

/// A listing without the app's own windows: those of this process, and
/// the main window by its X id (in case the window manager does not say
/// which process owns it). Sharing them would show the call to itself.
fn own_windows_left_out(app: &AppHandle) -> ScreenSourceQuery {
    ScreenSourceQuery {
        display: None,
        exclude_pids: vec![std::process::id()],
        exclude_windows: main_window_xid(app).into_iter().collect(),
    }
}

/// The main window's X id, or `None` off X11.
fn main_window_xid(app: &AppHandle) -> Option<u32> {
    use raw_window_handle::{HasWindowHandle, RawWindowHandle};
    let window = app.get_webview_window(MAIN_WINDOW)?;
    match window.window_handle().ok()?.as_raw() {
        RawWindowHandle::Xlib(h) => u32::try_from(h.window).ok(),
        RawWindowHandle::Xcb(h) => Some(h.window.get()),
        _ => None,
    }
}
