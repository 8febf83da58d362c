//! Devices: what `list_devices` returns.

use media_core::capture::DeviceInfo;
use serde::Serialize;

/// A device as the UI sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Device {
    /// The ID to choose it with.
    pub id: String,
    /// Its human-readable name.
    pub name: String,
}

impl From<DeviceInfo> for Device {
    fn from(info: DeviceInfo) -> Self {
        Device {
            id: info.id,
            name: info.name,
        }
    }
}

/// The devices present (the result of `list_devices`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DeviceList {
    /// Cameras.
    pub cameras: Vec<Device>,
    /// Microphones.
    pub microphones: Vec<Device>,
    /// Speakers.
    pub speakers: Vec<Device>,
}
