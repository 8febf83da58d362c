//! The app's settings: `<config dir>/app-settings.json`. Unknown or missing
//! fields take defaults; a file that is not a JSON object is renamed `.bad`
//! and defaults are used. The user ID is generated once and kept.

use std::path::{Path, PathBuf};

pub use confer_app_types::audio::{EchoCancellation, NoiseSuppression};
pub use confer_app_types::settings::{HostScope, Settings, Theme, VideoSourceSetting};
use rand::distr::{Alphanumeric, SampleString};

/// The settings file's name inside the config directory.
pub const SETTINGS_FILE: &str = "app-settings.json";
/// The user's stylesheet inside the config directory.
pub const THEME_FILE: &str = "theme.css";
/// The Wayland portal's restore token of the last screen share, inside the
/// config directory (kept out of `app-settings.json`: the UI never sees it).
pub const SHARE_TOKEN_FILE: &str = "share-restore-token";

/// Why settings could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// Reading, writing or renaming a file failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A new random user ID: `u-` and 12 letters or digits (fits the user ID rule).
fn new_user_id() -> String {
    format!("u-{}", Alphanumeric.sample_string(&mut rand::rng(), 12))
}

/// Loads `<dir>/app-settings.json`. Fields that are missing or unusable
/// take defaults (`video_source`: the test pattern when `has_camera` is
/// false); a file that is not a JSON object is renamed `.bad`. A user ID
/// is generated when there is none, and the file is written back when
/// anything had to be filled in.
pub fn load(dir: &Path, has_camera: impl FnOnce() -> bool) -> Result<Settings, SettingsError> {
    let path = dir.join(SETTINGS_FILE);
    let object = match std::fs::read_to_string(&path) {
        Ok(text) => match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(serde_json::Value::Object(object)) => Some(object),
            _ => {
                let bad = path.with_extension("json.bad");
                tracing::warn!(path = %path.display(), "settings file is corrupt; renamed to .bad");
                std::fs::rename(&path, &bad).map_err(|source| SettingsError::Io {
                    what: "cannot rename",
                    path: path.clone(),
                    source,
                })?;
                None
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => {
            return Err(SettingsError::Io {
                what: "cannot read",
                path,
                source,
            })
        }
    };
    let object = object.unwrap_or_default();
    let choose_source = !object.contains_key("video_source");
    let mut settings: Settings =
        serde_json::from_value(serde_json::Value::Object(object)).unwrap_or_default();
    let mut changed = false;
    if choose_source {
        settings.video_source = if has_camera() {
            VideoSourceSetting::Camera
        } else {
            VideoSourceSetting::TestPattern
        };
        changed = true;
    }
    if settings.user_id.trim().is_empty() {
        settings.user_id = new_user_id();
        changed = true;
    }
    if changed {
        save(&settings, dir)?;
    }
    Ok(settings)
}

/// Writes `settings` to `<dir>/app-settings.json` (through a temporary
/// file, so a crash never leaves half a file).
pub fn save(settings: &Settings, dir: &Path) -> Result<(), SettingsError> {
    let path = dir.join(SETTINGS_FILE);
    let io = |what, source| SettingsError::Io {
        what,
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(|e| io("cannot create the directory of", e))?;
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(settings).unwrap_or_else(|_| "{}".into());
    std::fs::write(&tmp, text).map_err(|e| io("cannot write", e))?;
    std::fs::rename(&tmp, &path).map_err(|e| io("cannot replace", e))
}

/// The portal restore token the last Wayland share gave, if any (so the
/// next share does not ask again).
pub fn share_restore_token(dir: &Path) -> Option<String> {
    let token = std::fs::read_to_string(dir.join(SHARE_TOKEN_FILE)).ok()?;
    let token = token.trim();
    (!token.is_empty()).then(|| token.to_owned())
}

/// Keeps the portal restore token a share gave (tokens are single-use: it
/// replaces the last one); `None` forgets it.
pub fn save_share_restore_token(dir: &Path, token: Option<&str>) -> Result<(), SettingsError> {
    let path = dir.join(SHARE_TOKEN_FILE);
    let io = |what, source| SettingsError::Io {
        what,
        path: path.clone(),
        source,
    };
    match token {
        Some(token) => {
            std::fs::create_dir_all(dir).map_err(|e| io("cannot create the directory of", e))?;
            std::fs::write(&path, token).map_err(|e| io("cannot write", e))
        }
        None => match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io("cannot remove", e)),
            _ => Ok(()),
        },
    }
}

/// The CSS text of `<dir>/theme.css`, if the user has one.
pub fn user_theme(dir: &Path) -> Result<Option<String>, SettingsError> {
    let path = dir.join(THEME_FILE);
    match std::fs::read_to_string(&path) {
        Ok(css) => Ok(Some(css)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SettingsError::Io {
            what: "cannot read",
            path,
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_share_restore_token_is_kept_replaced_and_forgotten() {
        let dir = temp_dir("share-token");
        assert_eq!(share_restore_token(&dir), None);
        save_share_restore_token(&dir, Some("t-1")).unwrap();
        assert_eq!(share_restore_token(&dir).as_deref(), Some("t-1"));
        save_share_restore_token(&dir, Some("t-2")).unwrap();
        assert_eq!(share_restore_token(&dir).as_deref(), Some("t-2"));
        save_share_restore_token(&dir, None).unwrap();
        assert_eq!(share_restore_token(&dir), None);
        save_share_restore_token(&dir, None).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A fresh, empty directory for one test.
    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("confer-app-settings-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn round_trip_and_user_id_is_kept() {
        let dir = temp_dir("round-trip");
        let first = load(&dir, || true).unwrap();
        assert!(first.user_id.starts_with("u-") && first.user_id.len() == 14);
        assert!(protocol::ids::UserId::new(&first.user_id).is_ok());
        assert_eq!(first.video_source, VideoSourceSetting::Camera);
        let changed = Settings {
            name: "Ada".into(),
            last_app_id: Some(123_456_789),
            camera: Some("/dev/video0".into()),
            video_source: VideoSourceSetting::TestPattern,
            video_preset: "720p".into(),
            host_scope: HostScope::Network,
            theme: Theme::HighContrast,
            noise_suppression: NoiseSuppression::Ai,
            echo_cancellation: EchoCancellation::SpeakersOnly,
            ..first.clone()
        };
        save(&changed, &dir).unwrap();
        let text = std::fs::read_to_string(dir.join(SETTINGS_FILE)).unwrap();
        assert!(text.contains("\"high-contrast\"") && text.contains("\"test_pattern\""));
        assert!(text.contains("\"noise_suppression\": \"ai\""), "{text}");
        assert!(
            text.contains("\"echo_cancellation\": \"speakers_only\""),
            "{text}"
        );
        assert_eq!(load(&dir, || true).unwrap(), changed);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn missing_and_unusable_fields_take_defaults() {
        let dir = temp_dir("defaults");
        std::fs::write(
            dir.join(SETTINGS_FILE),
            r#"{"user_id":"u-kept","name":"Bo","theme":"purple","last_app_id":"x","future":1,"noise_suppression":"max"}"#,
        )
        .unwrap();
        let settings = load(&dir, || false).unwrap();
        assert_eq!(settings.user_id, "u-kept");
        assert_eq!(settings.name, "Bo");
        assert_eq!(settings.theme, Theme::System);
        assert_eq!(settings.last_app_id, None);
        assert_eq!(settings.video_preset, "360p");
        assert_eq!(settings.host_scope, HostScope::ThisComputer);
        // Audio processing on by default; an unknown mode takes the default.
        assert_eq!(settings.noise_suppression, NoiseSuppression::Standard);
        assert_eq!(settings.echo_cancellation, EchoCancellation::On);
        // No camera and no choice yet: the test pattern.
        assert_eq!(settings.video_source, VideoSourceSetting::TestPattern);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn corrupt_file_is_renamed_bad() {
        let dir = temp_dir("corrupt");
        std::fs::write(dir.join(SETTINGS_FILE), "{ not json").unwrap();
        let settings = load(&dir, || true).unwrap();
        assert_eq!(settings.name, Settings::default().name);
        assert!(!settings.user_id.is_empty());
        let bad = std::fs::read_to_string(dir.join("app-settings.json.bad")).unwrap();
        assert_eq!(bad, "{ not json");
        // Defaults (with the new user ID) were written in its place.
        assert_eq!(load(&dir, || true).unwrap(), settings);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn theme_css_is_optional() {
        let dir = temp_dir("theme");
        assert_eq!(user_theme(&dir).unwrap(), None);
        std::fs::write(dir.join(THEME_FILE), ":root { --accent: red; }").unwrap();
        assert_eq!(
            user_theme(&dir).unwrap().as_deref(),
            Some(":root { --accent: red; }")
        );
        assert_eq!(HostScope::parse("network"), Some(HostScope::Network));
        assert_eq!(HostScope::parse("moon"), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
