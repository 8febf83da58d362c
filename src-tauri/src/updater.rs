//! Self-updates: `check_update` asks the update feed (tauri-plugin-updater's
//! `latest.json`) whether a newer version exists, `install_update` downloads
//! it with progress events, verifies its minisign signature against the
//! public key built into the app, installs it and relaunches the app.
//!
//! The feed is `plugins.updater.endpoints` in `tauri.conf.json`, or the URL
//! in `CONFER_UPDATE_FEED` (tests and self-hosted channels; `confer serve
//! --update-feed DIR` serves one at `/updates/latest.json`).
//!
//! Anything wrong (unreachable feed, bad signature, cut-short download, a
//! package that does not install) rejects with an `Update*` error code and
//! leaves the running version as it is. An update that is not newer than
//! the running version is never offered.

use std::sync::Mutex;
use std::time::Duration;

use protocol::ErrorCode;
use tauri::{AppHandle, Emitter, Manager, Runtime, State};
use tauri_plugin_updater::{Error as UpdaterError, Update, UpdaterExt};

pub use confer_app_types::update::{UpdateInfo, UpdateProgress};

use crate::error::CommandError;

/// The environment variable that overrides the configured update feed URL.
pub const FEED_ENV: &str = "CONFER_UPDATE_FEED";

/// The event `install_update` emits while it works (payload:
/// [`UpdateProgress`]).
pub const PROGRESS_EVENT: &str = "update_progress";

/// How long a feed or download request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// The update found by the last `check_update`, kept for `install_update`.
#[derive(Default)]
pub struct PendingUpdate(Mutex<Option<Update>>);

/// Checks the update feed. Resolves to the newer version on offer, or
/// `null` when the running version is the newest.
#[tauri::command(rename_all = "snake_case")]
pub async fn check_update<R: Runtime>(
    app: AppHandle<R>,
    pending: State<'_, PendingUpdate>,
) -> Result<Option<UpdateInfo>, CommandError> {
    let mut builder = app.updater_builder().timeout(REQUEST_TIMEOUT);
    if let Some(feed) = feed_override() {
        let url = feed.parse().map_err(|error| {
            CommandError::new(
                ErrorCode::UpdateFeedUnreachable,
                format!("{FEED_ENV} is not a URL ({feed}): {error}."),
            )
        })?;
        builder = builder.endpoints(vec![url]).map_err(feed_error)?;
    }
    let update = builder.build().map_err(feed_error)?.check().await;
    let update = update.map_err(feed_error)?;
    let info = update.as_ref().map(|update| UpdateInfo {
        version: update.version.clone(),
        current_version: update.current_version.clone(),
        notes: update.body.clone().unwrap_or_default(),
        date: update.date.map(|date| date.to_string()),
    });
    match &info {
        Some(info) => tracing::info!(version = %info.version, "update available"),
        None => tracing::info!("no newer version on the update feed"),
    }
    *lock(&pending) = update;
    Ok(info)
}

/// Downloads, verifies and installs the update found by `check_update`,
/// then relaunches the app (the promise never resolves on success).
/// Progress arrives as `update_progress` events.
#[tauri::command(rename_all = "snake_case")]
pub async fn install_update<R: Runtime>(
    app: AppHandle<R>,
    pending: State<'_, PendingUpdate>,
) -> Result<(), CommandError> {
    let update = lock(&pending).take().ok_or_else(|| {
        CommandError::new(
            ErrorCode::NoPendingUpdate,
            ErrorCode::NoPendingUpdate.message(),
        )
    })?;
    let mut downloaded = 0u64;
    let mut reported = 0u64;
    let mut total_seen = None;
    let emitter = app.clone();
    let bytes = update
        .download(
            |chunk, total| {
                downloaded += chunk as u64;
                total_seen = total;
                // At most one event per 64 KiB (and the last one).
                if downloaded - reported >= 64 * 1024 || Some(downloaded) == total {
                    reported = downloaded;
                    let _ = emitter.emit(
                        PROGRESS_EVENT,
                        UpdateProgress::Downloading { downloaded, total },
                    );
                }
            },
            || {},
        )
        .await;
    let bytes = bytes.map_err(download_error)?;
    if let Some(total) = total_seen {
        if bytes.len() as u64 != total {
            return Err(CommandError::new(
                ErrorCode::UpdateDownloadFailed,
                format!("The download stopped at {} of {total} bytes.", bytes.len()),
            ));
        }
    }
    tracing::info!(version = %update.version, bytes = bytes.len(), "update downloaded and verified");
    let _ = app.emit(PROGRESS_EVENT, UpdateProgress::Installing);
    let installing = update.clone();
    tauri::async_runtime::spawn_blocking(move || install(&installing, &bytes))
        .await
        .map_err(|error| CommandError::internal(format!("the installer task failed: {error}")))??;
    tracing::info!(version = %update.version, "update installed; relaunching");
    let _ = app.emit(PROGRESS_EVENT, UpdateProgress::Restarting);
    // Let the UI show "Restarting" before the window goes away.
    tokio::time::sleep(Duration::from_millis(300)).await;
    relaunch(&app).await;
    Ok(())
}

/// Relaunches the app into the installed version: hides the window, leaves
/// the call and stops hosting as closing the window does, then starts the
/// installed binary. (When a window close already began, that exits.)
async fn relaunch<R: Runtime>(app: &AppHandle<R>) {
    if let Some(window) = app.get_webview_window(crate::MAIN_WINDOW) {
        let _ = window.hide();
    }
    if crate::shutdown::leave_all(app).await {
        app.restart();
    }
}

/// Installs verified update bytes. The plugin installs a `.deb` through
/// pkexec, a graphical sudo prompt or sudo; when the app already runs as
/// root (CI, kiosks) none of those is needed or present, so it runs
/// `dpkg -i` itself. The bytes are verified again first either way.
fn install(update: &Update, bytes: &[u8]) -> Result<(), CommandError> {
    #[cfg(target_os = "linux")]
    if running_as_root()
        && tauri::utils::platform::bundle_type() == Some(tauri::utils::config::BundleType::Deb)
    {
        update.verify(bytes).map_err(download_error)?;
        return install_deb_as_root(bytes);
    }
    update.install(bytes).map_err(install_error)
}

/// Whether the effective user is root.
#[cfg(target_os = "linux")]
fn running_as_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// `dpkg -i` on a verified package, from a private temp directory.
#[cfg(target_os = "linux")]
fn install_deb_as_root(bytes: &[u8]) -> Result<(), CommandError> {
    let failed = |message: String| CommandError::new(ErrorCode::UpdateInstallFailed, message);
    let dir = std::env::temp_dir().join(format!("confer-update-{}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .map_err(|error| failed(format!("Cannot create {}: {error}.", dir.display())))?;
    let package = dir.join("update.deb");
    let result = std::fs::write(&package, bytes)
        .map_err(|error| failed(format!("Cannot write {}: {error}.", package.display())))
        .and_then(|()| {
            std::process::Command::new("dpkg")
                .arg("-i")
                .arg(&package)
                .env("DEBIAN_FRONTEND", "noninteractive")
                .output()
                .map_err(|error| failed(format!("Cannot run dpkg: {error}.")))
        })
        .and_then(|output| {
            if output.status.success() {
                Ok(())
            } else {
                Err(failed(format!(
                    "dpkg -i failed: {}.",
                    String::from_utf8_lossy(&output.stderr).trim()
                )))
            }
        });
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// The feed URL from the environment, if set and not empty.
fn feed_override() -> Option<String> {
    std::env::var(FEED_ENV)
        .ok()
        .map(|feed| feed.trim().to_owned())
        .filter(|feed| !feed.is_empty())
}

fn lock(pending: &PendingUpdate) -> std::sync::MutexGuard<'_, Option<Update>> {
    pending
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A failed check: the feed is unreachable or its answer unusable.
fn feed_error(error: UpdaterError) -> CommandError {
    tracing::warn!(%error, "update check failed");
    CommandError::new(
        ErrorCode::UpdateFeedUnreachable,
        format!("The update feed could not be read: {error}."),
    )
}

/// A failed download: a bad signature, or the transfer failed.
fn download_error(error: UpdaterError) -> CommandError {
    tracing::warn!(%error, "update download refused");
    match error {
        UpdaterError::Minisign(_)
        | UpdaterError::Base64(_)
        | UpdaterError::SignatureUtf8(_)
        | UpdaterError::SignedVersionMismatch { .. } => CommandError::new(
            ErrorCode::UpdateSignatureInvalid,
            format!(
                "Its signature does not match Confer's update key, so it was not installed ({error})."
            ),
        ),
        error => CommandError::new(
            ErrorCode::UpdateDownloadFailed,
            format!("The download failed: {error}."),
        ),
    }
}

/// A failed install (the signature may also fail here when re-verified).
fn install_error(error: UpdaterError) -> CommandError {
    match error {
        UpdaterError::Minisign(_)
        | UpdaterError::Base64(_)
        | UpdaterError::SignatureUtf8(_)
        | UpdaterError::SignedVersionMismatch { .. } => download_error(error),
        error => {
            tracing::warn!(%error, "update install failed");
            CommandError::new(
                ErrorCode::UpdateInstallFailed,
                format!("It could not be installed: {error}."),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_update_codes() {
        let error = download_error(UpdaterError::Network("cut".into()));
        assert_eq!(error.code, ErrorCode::UpdateDownloadFailed.code());
        let error = download_error(UpdaterError::SignatureUtf8("x".into()));
        assert_eq!(error.code, ErrorCode::UpdateSignatureInvalid.code());
        assert!(error.message.contains("not installed"));
        let error = install_error(UpdaterError::PackageInstallFailed);
        assert_eq!(error.code, ErrorCode::UpdateInstallFailed.code());
        let error = feed_error(UpdaterError::ReleaseNotFound);
        assert_eq!(error.code, ErrorCode::UpdateFeedUnreachable.code());
    }

    #[test]
    fn progress_serializes_with_its_stage() {
        let json = serde_json::to_value(UpdateProgress::Downloading {
            downloaded: 5,
            total: Some(10),
        })
        .unwrap();
        assert_eq!(json["stage"], "downloading");
        assert_eq!(json["downloaded"], 5);
        assert_eq!(
            serde_json::to_value(UpdateProgress::Restarting).unwrap()["stage"],
            "restarting"
        );
    }
}
