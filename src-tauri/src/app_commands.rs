//! The app's own commands (not SDK calls): hosting, video tiles,
//! diagnostics, settings, theme and app info.

use tauri::ipc::{Channel, InvokeResponseBody};
use tauri::{AppHandle, Emitter, State};

pub use confer_app_types::app::{AppInfo, Reachability};

use crate::error::CommandError;
use crate::host::{Host, HostInfo, HostInvite, HostStopped, DEFAULT_INVITE_TTL_SECS};
use crate::paths::config_dir;
use crate::settings::{self, HostScope, Settings};
use crate::surface::{Diagnostics, Surfaces, TileRect};

/// Runs the room server inside the app (or returns the running one's info).
#[tauri::command(rename_all = "snake_case")]
pub async fn host_call(host: State<'_, Host>, scope: String) -> Result<HostInfo, CommandError> {
    let scope = HostScope::parse(&scope).ok_or_else(|| {
        CommandError::invalid_argument(format!(
            "scope must be \"this_computer\" or \"network\", not {scope:?}"
        ))
    })?;
    host.start(&config_dir(), scope)
        .await
        .map_err(|e| CommandError::internal(e.to_string()))
}

/// An invite link to `room` of the hosted call, valid `ttl_secs` (default
/// a day): a room-scoped token any guest may use under a user ID nobody
/// holds, plus the certificate fingerprint; never the AppSign.
#[tauri::command(rename_all = "snake_case")]
pub async fn host_invite(
    host: State<'_, Host>,
    room: String,
    ttl_secs: Option<u64>,
) -> Result<HostInvite, CommandError> {
    host.invite(&room, ttl_secs.unwrap_or(DEFAULT_INVITE_TTL_SECS))
        .await
        .map_err(|e| match e {
            crate::host::HostError::InvalidRoom(_) => CommandError::invalid_argument(e.to_string()),
            e => CommandError::internal(e.to_string()),
        })
}

/// Checks the hosted call as a guest would reach it (`confer doctor`'s
/// steps) on each address it is shared on: the first one with a test
/// stream (the media path), the others up to the login.
#[tauri::command(rename_all = "snake_case")]
pub async fn check_reachability(host: State<'_, Host>) -> Result<Reachability, CommandError> {
    let info = host
        .info()
        .await
        .ok_or_else(|| CommandError::invalid_argument("no call is hosted: host one first"))?;
    let mut checks = Vec::new();
    for (i, server) in info.addresses.iter().enumerate() {
        let options = crate::host::doctor_options(&info, server, i == 0);
        checks.extend(media_core::doctor::diagnose(&options, |_| {}).await);
    }
    Ok(Reachability { checks })
}

/// Stops the embedded server; emits `HostStopped` if one was running.
#[tauri::command(rename_all = "snake_case")]
pub async fn stop_hosting(app: AppHandle, host: State<'_, Host>) -> Result<(), CommandError> {
    if host.stop().await {
        let stopped = HostStopped {
            reason: "stopped by the user".into(),
        };
        if let Err(error) = app.emit("HostStopped", stopped) {
            tracing::warn!(%error, "could not emit HostStopped");
        }
    }
    Ok(())
}

/// The video tiles' rects changed. Synchronous: runs on the GTK main
/// thread, where the webview's offset can be read.
#[tauri::command(rename_all = "snake_case")]
pub fn update_tiles(
    surfaces: State<'_, Surfaces>,
    tiles: Vec<TileRect>,
) -> Result<(), CommandError> {
    surfaces.update_tiles(tiles);
    Ok(())
}

/// Canvas fallback: send `tile_id`'s pictures to `channel`.
#[tauri::command(rename_all = "snake_case")]
pub async fn attach_canvas(
    surfaces: State<'_, Surfaces>,
    tile_id: String,
    channel: Channel<InvokeResponseBody>,
) -> Result<(), CommandError> {
    surfaces.attach_canvas(tile_id, channel);
    Ok(())
}

/// Which video path is active and why.
#[tauri::command(rename_all = "snake_case")]
pub async fn diagnostics(surfaces: State<'_, Surfaces>) -> Result<Diagnostics, CommandError> {
    Ok(surfaces.diagnostics())
}

/// The settings (defaults for whatever is missing).
#[tauri::command(rename_all = "snake_case")]
pub async fn load_settings() -> Result<Settings, CommandError> {
    tauri::async_runtime::spawn_blocking(|| {
        settings::load(&config_dir(), || {
            !media_core::capture::camera::list_cameras().is_empty()
        })
    })
    .await
    .map_err(|e| CommandError::internal(e.to_string()))?
    .map_err(|e| CommandError::internal(e.to_string()))
}

/// Saves the settings.
#[tauri::command(rename_all = "snake_case")]
pub async fn save_settings(settings: Settings) -> Result<(), CommandError> {
    settings::save(&settings, &config_dir()).map_err(|e| CommandError::internal(e.to_string()))
}

/// The CSS text of `<config dir>/theme.css`, or `null`.
#[tauri::command(rename_all = "snake_case")]
pub async fn user_theme() -> Result<Option<String>, CommandError> {
    settings::user_theme(&config_dir()).map_err(|e| CommandError::internal(e.to_string()))
}

/// The app's version (the packaged one: `tauri.conf.json`'s, which is the
/// workspace version unless a build overrides it) and config directory.
#[tauri::command(rename_all = "snake_case")]
pub async fn app_info<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
) -> Result<AppInfo, CommandError> {
    Ok(AppInfo {
        version: app.package_info().version.to_string(),
        config_dir: config_dir().display().to_string(),
    })
}
