//! TypeScript declarations for the two types [`Event`](crate::Event) carries
//! from modules that do not derive `ts_rs::TS` themselves
//! ([`DeviceType`](crate::DeviceType), [`PublishChannel`](crate::PublishChannel)).
//!
//! Each mirror converts from its original with an exhaustive match, so a
//! variant added there stops this feature from compiling; the generator
//! (contract/) checks that both serialize alike, so a renamed one fails it.
//! Only built with the `ts` feature.

use serde::Serialize;
use ts_rs::TS;

/// Which kind of local device an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[ts(rename = "DeviceType")]
pub enum DeviceType {
    /// A camera (or the configured video source).
    Camera,
    /// A microphone (or the configured audio source).
    Microphone,
    /// A speaker.
    Speaker,
}

impl From<crate::DeviceType> for DeviceType {
    fn from(d: crate::DeviceType) -> Self {
        match d {
            crate::DeviceType::Camera => DeviceType::Camera,
            crate::DeviceType::Microphone => DeviceType::Microphone,
            crate::DeviceType::Speaker => DeviceType::Speaker,
        }
    }
}

/// Which publishing channel a stream uses: a user can publish a main stream
/// (camera) and an auxiliary one (screen share) at the same time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[ts(rename = "PublishChannel")]
pub enum PublishChannel {
    /// The main channel.
    Main,
    /// The auxiliary channel.
    Aux,
}

impl From<crate::PublishChannel> for PublishChannel {
    fn from(c: crate::PublishChannel) -> Self {
        match c {
            crate::PublishChannel::Main => PublishChannel::Main,
            crate::PublishChannel::Aux => PublishChannel::Aux,
        }
    }
}
