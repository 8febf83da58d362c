//! Self-updates: what `check_update` returns and the `update_progress`
//! event's payload.

use serde::Serialize;

/// What `check_update` tells the UI about an available update.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct UpdateInfo {
    /// The version on offer.
    pub version: String,
    /// The running version.
    pub current_version: String,
    /// The release notes (may be empty).
    pub notes: String,
    /// The release date (RFC 3339), if the feed has one.
    pub date: Option<String>,
}

/// One step of `install_update`, as the `update_progress` event payload.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum UpdateProgress {
    /// Bytes received so far and the total, if the feed server sent one.
    Downloading {
        /// Bytes received so far.
        downloaded: u64,
        /// The download's size, when known.
        total: Option<u64>,
    },
    /// Downloaded and the signature verified; installing.
    Installing,
    /// Installed; the app relaunches now.
    Restarting,
}
