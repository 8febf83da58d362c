//! The app's settings: `<config dir>/app-settings.json`. Unknown or missing
//! fields take defaults; a file that is not a JSON object is renamed `.bad`
//! and defaults are used. The user ID is generated once and kept.

use std::path::{Path, PathBuf};

use rand::distr::{Alphanumeric, SampleString};
use serde::{Deserialize, Deserializer, Serialize};

/// The settings file's name inside the config directory.
pub const SETTINGS_FILE: &str = "app-settings.json";
/// The user's stylesheet inside the config directory.
pub const THEME_FILE: &str = "theme.css";

/// Everything the app remembers between runs (the contract's `Settings`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Generated once (random), persisted.
    #[serde(deserialize_with = "lenient")]
    pub user_id: String,
    /// The display name.
    #[serde(deserialize_with = "lenient")]
    pub name: String,
    /// The last server URL joined.
    #[serde(deserialize_with = "lenient")]
    pub last_server: String,
    /// The last room ID joined.
    #[serde(deserialize_with = "lenient")]
    pub last_room: String,
    /// The last AppID used.
    #[serde(deserialize_with = "lenient")]
    pub last_app_id: Option<u32>,
    /// The last AppSign used.
    #[serde(deserialize_with = "lenient")]
    pub last_app_sign: String,
    /// The last invite's token (room-scoped; its expiry is inside it, and
    /// the UI refills it only while it is valid).
    #[serde(deserialize_with = "lenient")]
    pub last_token: String,
    /// The last invite's certificate fingerprint (the pin).
    #[serde(deserialize_with = "lenient")]
    pub last_pin: String,
    /// The chosen camera's device ID (`None`: the default one).
    #[serde(deserialize_with = "lenient")]
    pub camera: Option<String>,
    /// The chosen microphone's device ID.
    #[serde(deserialize_with = "lenient")]
    pub microphone: Option<String>,
    /// The chosen speaker's device ID.
    #[serde(deserialize_with = "lenient")]
    pub speaker: Option<String>,
    /// What the camera tile shows.
    #[serde(deserialize_with = "lenient")]
    pub video_source: VideoSourceSetting,
    /// The video preset name, e.g. `"360p"`.
    #[serde(deserialize_with = "lenient")]
    pub video_preset: String,
    /// Who may join a call this app hosts.
    #[serde(deserialize_with = "lenient")]
    pub host_scope: HostScope,
    /// The UI theme.
    #[serde(deserialize_with = "lenient")]
    pub theme: Theme,
}

/// The video source the user chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VideoSourceSetting {
    /// A camera.
    #[default]
    Camera,
    /// The synthetic test pattern.
    TestPattern,
}

/// Who can reach a call this app hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostScope {
    /// Only this computer (loopback).
    #[default]
    ThisComputer,
    /// Everyone on the local network.
    Network,
}

impl HostScope {
    /// Parses the contract's spelling, `"this_computer"` or `"network"`.
    pub fn parse(text: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(text.to_owned())).ok()
    }
}

/// The UI theme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Theme {
    /// Follow the system.
    #[default]
    System,
    /// Light.
    Light,
    /// Dark.
    Dark,
    /// High contrast.
    HighContrast,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            user_id: String::new(),
            name: std::env::var("USER").unwrap_or_default(),
            last_server: String::new(),
            last_room: String::new(),
            last_app_id: None,
            last_app_sign: String::new(),
            last_token: String::new(),
            last_pin: String::new(),
            camera: None,
            microphone: None,
            speaker: None,
            video_source: VideoSourceSetting::Camera,
            video_preset: "360p".into(),
            host_scope: HostScope::ThisComputer,
            theme: Theme::System,
        }
    }
}

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

/// Deserializes a field, taking its default when the value does not fit.
fn lenient<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned + Default,
{
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(serde_json::from_value(value).unwrap_or_default())
}

/// A new random user ID: `u-` and 12 letters or digits (fits the user ID rule).
fn new_user_id() -> String {
    format!("u-{}", Alphanumeric.sample_string(&mut rand::rng(), 12))
}

impl Settings {
    /// Loads `<dir>/app-settings.json`. Fields that are missing or unusable
    /// take defaults (`video_source`: the test pattern when `has_camera` is
    /// false); a file that is not a JSON object is renamed `.bad`. A user ID
    /// is generated when there is none, and the file is written back when
    /// anything had to be filled in.
    pub fn load(dir: &Path, has_camera: impl FnOnce() -> bool) -> Result<Self, SettingsError> {
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
            settings.save(dir)?;
        }
        Ok(settings)
    }

    /// Writes the settings to `<dir>/app-settings.json` (through a temporary
    /// file, so a crash never leaves half a file).
    pub fn save(&self, dir: &Path) -> Result<(), SettingsError> {
        let path = dir.join(SETTINGS_FILE);
        let io = |what, source| SettingsError::Io {
            what,
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(|e| io("cannot create the directory of", e))?;
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".into());
        std::fs::write(&tmp, text).map_err(|e| io("cannot write", e))?;
        std::fs::rename(&tmp, &path).map_err(|e| io("cannot replace", e))
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
        let first = Settings::load(&dir, || true).unwrap();
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
            ..first.clone()
        };
        changed.save(&dir).unwrap();
        let text = std::fs::read_to_string(dir.join(SETTINGS_FILE)).unwrap();
        assert!(text.contains("\"high-contrast\"") && text.contains("\"test_pattern\""));
        assert_eq!(Settings::load(&dir, || true).unwrap(), changed);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn missing_and_unusable_fields_take_defaults() {
        let dir = temp_dir("defaults");
        std::fs::write(
            dir.join(SETTINGS_FILE),
            r#"{"user_id":"u-kept","name":"Bo","theme":"purple","last_app_id":"x","future":1}"#,
        )
        .unwrap();
        let settings = Settings::load(&dir, || false).unwrap();
        assert_eq!(settings.user_id, "u-kept");
        assert_eq!(settings.name, "Bo");
        assert_eq!(settings.theme, Theme::System);
        assert_eq!(settings.last_app_id, None);
        assert_eq!(settings.video_preset, "360p");
        assert_eq!(settings.host_scope, HostScope::ThisComputer);
        // No camera and no choice yet: the test pattern.
        assert_eq!(settings.video_source, VideoSourceSetting::TestPattern);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn corrupt_file_is_renamed_bad() {
        let dir = temp_dir("corrupt");
        std::fs::write(dir.join(SETTINGS_FILE), "{ not json").unwrap();
        let settings = Settings::load(&dir, || true).unwrap();
        assert_eq!(settings.name, Settings::default().name);
        assert!(!settings.user_id.is_empty());
        let bad = std::fs::read_to_string(dir.join("app-settings.json.bad")).unwrap();
        assert_eq!(bad, "{ not json");
        // Defaults (with the new user ID) were written in its place.
        assert_eq!(Settings::load(&dir, || true).unwrap(), settings);
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
