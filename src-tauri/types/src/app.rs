//! The app's own answers: `check_reachability` and `app_info`.

use serde::Serialize;

/// The answer of `check_reachability`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Reachability {
    /// Each step, in order, for every address others can use.
    pub checks: Vec<media_core::doctor::Check>,
}

/// What `app_info` returns.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AppInfo {
    /// The app's version.
    pub version: String,
    /// Where settings, `theme.css` and `server.toml` live.
    pub config_dir: String,
}
