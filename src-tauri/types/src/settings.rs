//! The app's settings as stored in `<config dir>/app-settings.json` and as
//! the UI reads and saves them: unknown or unusable fields take defaults.

use crate::audio::{EchoCancellation, NoiseSuppression};
use serde::{Deserialize, Deserializer, Serialize};

/// Everything the app remembers between runs (the contract's `Settings`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
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
    /// Noise suppression of the microphone.
    #[serde(deserialize_with = "lenient")]
    pub noise_suppression: NoiseSuppression,
    /// Echo cancellation.
    #[serde(deserialize_with = "lenient")]
    pub echo_cancellation: EchoCancellation,
}

/// The video source the user chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
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
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
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
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
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
            noise_suppression: NoiseSuppression::Standard,
            echo_cancellation: EchoCancellation::On,
        }
    }
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
