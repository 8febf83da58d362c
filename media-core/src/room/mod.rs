//! The room: login, the signaling session state machine, reconnects, the
//! local view of users and streams, and the task that drives it all over a
//! WebSocket.

pub(crate) mod driver;
pub(crate) mod media;
pub(crate) mod reconnect;
pub(crate) mod session;
pub(crate) mod tls;
pub(crate) mod view;

use serde::{Deserialize, Serialize};

/// Options for [`Engine::login_room`](crate::Engine::login_room).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RoomConfig {
    /// Receive [`Event::RoomUserUpdate`](crate::Event::RoomUserUpdate) and
    /// [`Event::RoomOnlineUserCountUpdate`](crate::Event::RoomOnlineUserCountUpdate).
    /// Off by default, as in the seed.
    pub is_user_status_notify: bool,
    /// A login token (from `confer token` or the app's backend). When set it is
    /// used instead of the AppSign proof; required when the profile has no AppSign.
    pub token: Option<String>,
    /// Member limit for the room, applied when this login creates it
    /// (0 = the server's default).
    pub max_member_count: u32,
}

/// Which publishing channel a stream uses: a user can publish a main stream
/// (camera) and an auxiliary one (screen share) at the same time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PublishChannel {
    /// The main channel.
    Main,
    /// The auxiliary channel.
    Aux,
}

/// Which video of a played simulcast stream to receive (ZEGO's
/// `ZegoVideoStreamType`, for `set_play_stream_video_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum VideoStreamType {
    /// What the downlink allows, up to the publisher's full size.
    #[default]
    Default,
    /// The lowest layer only (a quarter of a 720p publisher's size).
    Small,
    /// The full size when the downlink allows it (as `Default`).
    Big,
}

impl VideoStreamType {
    /// The highest layer this type lets the SFU send.
    pub fn max_layer(self) -> protocol::VideoLayer {
        match self {
            VideoStreamType::Small => protocol::VideoLayer::Low,
            VideoStreamType::Default | VideoStreamType::Big => protocol::VideoLayer::High,
        }
    }
}

impl PublishChannel {
    /// The channel's index in per-channel arrays.
    pub(crate) fn index(self) -> usize {
        match self {
            PublishChannel::Main => 0,
            PublishChannel::Aux => 1,
        }
    }
}
