//! The server API's request and response bodies (JSON).
//!
//! Requests refuse unknown fields, so a misspelt field is an error
//! (`MalformedMessage`), not a silent default.

use protocol::UserInfo;
use serde::{Deserialize, Serialize};

/// `list_rooms` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListRoomsResponse {
    /// The app's rooms (on every node), by room ID.
    pub rooms: Vec<RoomItem>,
}

/// A room in `list_rooms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomItem {
    /// The room ID.
    pub room_id: String,
    /// Users in the room.
    pub users: u32,
    /// Streams published in the room.
    pub streams: u32,
}

/// `list_users`, `list_streams` and `close_room` request: one room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomRequest {
    /// The room ID.
    pub room_id: String,
}

/// `list_users` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListUsersResponse {
    /// The users in the room, in join order.
    pub users: Vec<UserInfo>,
}

/// `list_streams` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListStreamsResponse {
    /// The streams published in the room.
    pub streams: Vec<StreamItem>,
}

/// A stream in `list_streams`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamItem {
    /// The stream ID.
    pub stream_id: String,
    /// The publishing user.
    pub user: UserInfo,
    /// The publisher's extra info.
    pub extra_info: String,
    /// The room sees no audio (its publisher or the server muted it).
    pub audio_muted: bool,
    /// The room sees no video (its publisher or the server muted it).
    pub video_muted: bool,
    /// The server mutes its audio (`mute_stream`).
    pub server_audio_muted: bool,
    /// The server mutes its video (`mute_stream`).
    pub server_video_muted: bool,
}

/// `kick_user` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KickUserRequest {
    /// The room ID.
    pub room_id: String,
    /// The user to remove.
    pub user_id: String,
}

/// `mute_stream` request: `true` mutes, `false` lifts the server's mute,
/// absent leaves that kind as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MuteStreamRequest {
    /// The room ID.
    pub room_id: String,
    /// The stream ID.
    pub stream_id: String,
    /// Mute (or unmute) its audio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<bool>,
    /// Mute (or unmute) its video.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video: Option<bool>,
}

/// `mute_stream` answer: what the server mutes now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MuteStreamResponse {
    /// Its audio is not forwarded.
    pub audio: bool,
    /// Its video is not forwarded.
    pub video: bool,
}

/// `kick_user` and `close_room` answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemovedResponse {
    /// Sessions removed.
    pub removed: u32,
}

/// `send_message` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendMessageRequest {
    /// The room ID.
    pub room_id: String,
    /// The text (1-1024 bytes).
    pub text: String,
    /// The sender's user ID the clients see (default `server`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_user_id: Option<String>,
    /// The sender's name the clients see (default `Server`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_user_name: Option<String>,
}

/// `send_message` answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendMessageResponse {
    /// The room's message ID.
    pub message_id: u64,
}

/// `mint_token` request: a login token for the admin token's app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MintTokenRequest {
    /// The user (absent: an invite, which needs `room_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Limit the token to this room (absent: any room).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room_id: Option<String>,
    /// Lifetime in seconds (default 3600, at most 30 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_secs: Option<u64>,
    /// Grant publishing (default `true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish: Option<bool>,
}

/// `mint_token` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MintTokenResponse {
    /// The token (a JWT).
    pub token: String,
    /// Seconds until it expires.
    pub expires_in_secs: u64,
}
