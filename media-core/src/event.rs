//! Everything the engine reports: one [`Event`] enum delivered in order on the
//! channel returned by [`Engine::create`](crate::Engine::create), and the
//! domain types its variants carry.
//!
//! These types are media-core's own; wire types from `protocol` are converted
//! at the edge and never appear here.

use protocol::{
    BroadcastMessage as WireBroadcast, StreamInfo, UpdateType as WireUpdateType, UserInfo,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::media::DeviceType;
use crate::quality::{PlayStreamQuality, PublishStreamQuality};
use crate::room::PublishChannel;
use crate::screen_share::ScreenShareState;

/// A user in a room: an ID unique within the AppID and a display name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct User {
    /// The user ID: 1-64 bytes of letters, digits and `` ~!@#$%^&*()_+=-`;',.<>/\ ``.
    pub user_id: String,
    /// The display name: at most 256 bytes, no control characters.
    pub user_name: String,
}

impl User {
    /// A user with this ID and display name.
    pub fn new(user_id: impl Into<String>, user_name: impl Into<String>) -> Self {
        User {
            user_id: user_id.into(),
            user_name: user_name.into(),
        }
    }

    pub(crate) fn from_wire(u: UserInfo) -> Self {
        User {
            user_id: u.user_id,
            user_name: u.user_name,
        }
    }

    pub(crate) fn to_wire(&self) -> UserInfo {
        UserInfo {
            user_id: self.user_id.clone(),
            user_name: self.user_name.clone(),
        }
    }
}

/// A stream published in the room by another user.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Stream {
    /// The stream ID (unique within the AppID); pass it to the player.
    pub stream_id: String,
    /// Who publishes it.
    pub user: User,
    /// Free-form data the publisher attached.
    pub extra_info: String,
}

impl Stream {
    pub(crate) fn from_wire(s: StreamInfo) -> Self {
        Stream {
            stream_id: s.stream_id,
            user: User::from_wire(s.user),
            extra_info: s.extra_info,
        }
    }
}

/// Whether a user or stream update adds or removes entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum UpdateType {
    /// Users entered / streams were published.
    Add,
    /// Users left / streams were withdrawn.
    Delete,
}

impl UpdateType {
    pub(crate) fn from_wire(u: WireUpdateType) -> Self {
        match u {
            WireUpdateType::Add => UpdateType::Add,
            WireUpdateType::Delete => UpdateType::Delete,
        }
    }
}

/// The local user's connection state in the room (the seed's three states).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum RoomState {
    /// Not in a room: before login, after logout, or after a fatal error
    /// (wrong AppSign, kicked out, retry window exhausted).
    Disconnected = 0,
    /// Logging in, or retrying after a network interruption.
    Connecting = 1,
    /// Logged in; user and stream updates arrive.
    Connected = 2,
}

/// Why the room state changed: the finer-grained companion of [`RoomState`],
/// carried by [`Event::RoomStateChanged`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum RoomStateChangedReason {
    /// `login_room` was called; connecting.
    Logining,
    /// Logged in.
    Logined,
    /// The login failed (see the error code); no retry.
    LoginFailed,
    /// The connection was interrupted; retrying.
    Reconnecting,
    /// Reconnected after an interruption.
    Reconnected,
    /// Reconnecting failed (retry window exhausted, or the new login was refused).
    ReconnectFailed,
    /// The server ended the session (same user logged in elsewhere, session expired).
    KickOut,
    /// `logout_room` was called.
    Logout,
    /// The logout failed.
    LogoutFailed,
}

/// The state of one of the local user's published streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum PublisherState {
    /// Not publishing.
    NoPublish,
    /// Publishing was requested (or is being retried after an interruption).
    PublishRequesting,
    /// Publishing.
    Publishing,
}

/// The state of a stream the local user plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum PlayerState {
    /// Not playing.
    NoPlay,
    /// Playing was requested: waiting for the stream to be live, negotiating,
    /// or retrying after an interruption or after the stream stopped.
    PlayRequesting,
    /// Playing: media flows from the SFU.
    Playing,
}

/// A remote publisher's microphone or camera as its players see it (the
/// seed's `ZegoRemoteDeviceState`, reduced to what Confer reports; the
/// numbers are the seed's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum RemoteDeviceState {
    /// The device is on and its media is sent.
    Open = 0,
    /// The publisher muted it: for the microphone, `mute_microphone` or
    /// `mute_publish_stream_audio`; for the camera, `enable_camera(false)` or
    /// `mute_publish_stream_video`. Nothing of it is sent.
    Mute = 10,
}

impl RemoteDeviceState {
    pub(crate) fn from_muted(muted: bool) -> Self {
        if muted {
            RemoteDeviceState::Mute
        } else {
            RemoteDeviceState::Open
        }
    }
}

/// A room broadcast (chat) message from another user.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct BroadcastMessage {
    /// Per-room increasing message ID.
    pub message_id: u64,
    /// The sender.
    pub from_user: User,
    /// The text.
    pub text: String,
    /// Server time when it was sent, Unix milliseconds.
    pub send_time_ms: u64,
}

impl BroadcastMessage {
    pub(crate) fn from_wire(m: WireBroadcast) -> Self {
        BroadcastMessage {
            message_id: m.message_id,
            from_user: User::from_wire(m.from_user),
            text: m.text,
            send_time_ms: m.send_time_ms,
        }
    }
}

/// Everything the engine reports, in order, on one channel (the SDK's
/// callbacks). Serialized as a JSON object whose `"event"` field names the
/// variant, e.g. `{"event":"RoomStateUpdate","room_id":"r1","state":"Connected",...}`.
///
/// Error codes are the numbers of [`protocol::ErrorCode`] (0 = none);
/// `extended_data` is JSON text, `"{}"` when there is nothing to add.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "event")]
#[non_exhaustive]
pub enum Event {
    /// The local user's room state changed (seed: `OnRoomStateUpdate`).
    RoomStateUpdate {
        /// The room.
        room_id: String,
        /// The new state.
        state: RoomState,
        /// Why (0 = no error).
        error_code: u32,
        /// JSON text with details, `"{}"` when none.
        extended_data: String,
    },
    /// The reason-based twin of [`Event::RoomStateUpdate`], emitted right after it.
    RoomStateChanged {
        /// The room.
        room_id: String,
        /// What happened.
        reason: RoomStateChangedReason,
        /// Why (0 = no error).
        error_code: u32,
        /// JSON text with details, `"{}"` when none.
        extended_data: String,
    },
    /// Other users entered or left (only with `RoomConfig::is_user_status_notify`).
    RoomUserUpdate {
        /// The room.
        room_id: String,
        /// Add (entered) or Delete (left).
        update_type: UpdateType,
        /// The users.
        users: Vec<User>,
    },
    /// The number of users in the room, the local user included (only with
    /// `RoomConfig::is_user_status_notify`).
    RoomOnlineUserCountUpdate {
        /// The room.
        room_id: String,
        /// Users in the room.
        count: u32,
    },
    /// Other users published or withdrew streams.
    RoomStreamUpdate {
        /// The room.
        room_id: String,
        /// Add (published) or Delete (withdrawn).
        update_type: UpdateType,
        /// The streams.
        streams: Vec<Stream>,
        /// JSON text with details, `"{}"` when none.
        extended_data: String,
    },
    /// The login token expires soon; call `renew_token`.
    RoomTokenWillExpire {
        /// The room.
        room_id: String,
        /// Seconds until the token expires.
        remain_time_in_second: u32,
    },
    /// Broadcast messages from other users in the room.
    RoomBroadcastMessage {
        /// The room.
        room_id: String,
        /// The messages, oldest first.
        messages: Vec<BroadcastMessage>,
    },
    /// One of the local user's streams changed publishing state.
    PublisherStateUpdate {
        /// The stream.
        stream_id: String,
        /// The new state.
        state: PublisherState,
        /// Why (0 = no error).
        error_code: u32,
        /// JSON text with details, `"{}"` when none.
        extended_data: String,
    },
    /// The first video frame was captured for a publishing channel (also
    /// during preview).
    PublisherCapturedVideoFirstFrame {
        /// The channel.
        #[cfg_attr(feature = "ts", ts(as = "crate::typescript::PublishChannel"))]
        channel: PublishChannel,
    },
    /// Publishing quality, every 3 s while publishing.
    PublisherQualityUpdate {
        /// The stream.
        stream_id: String,
        /// The measurements.
        quality: PublishStreamQuality,
    },
    /// One of the streams the local user plays changed state.
    PlayerStateUpdate {
        /// The stream.
        stream_id: String,
        /// The new state.
        state: PlayerState,
        /// Why (0 = no error).
        error_code: u32,
        /// JSON text with details, `"{}"` when none.
        extended_data: String,
    },
    /// The first video frame of a played stream arrived (complete and decodable).
    PlayerRecvVideoFirstFrame {
        /// The stream.
        stream_id: String,
    },
    /// The first video frame of a played stream was rendered.
    PlayerRenderVideoFirstFrame {
        /// The stream.
        stream_id: String,
    },
    /// The first audio frame of a played stream arrived.
    PlayerRecvAudioFirstFrame {
        /// The stream.
        stream_id: String,
    },
    /// Playing quality, every 3 s while playing.
    PlayerQualityUpdate {
        /// The stream.
        stream_id: String,
        /// The measurements.
        quality: PlayStreamQuality,
    },
    /// The microphone state of another user's stream (seed:
    /// `onRemoteMicStateUpdate`). Emitted once for every stream that appears
    /// (right after the [`Event::RoomStreamUpdate`] that adds it, whether from
    /// an event, the login snapshot or a relogin), `Open` included, then on
    /// every change while the stream stays. Not emitted for the local user's
    /// own streams.
    RemoteMicStateUpdate {
        /// The stream.
        stream_id: String,
        /// Open, or Mute when its publisher sends no audio.
        state: RemoteDeviceState,
    },
    /// The camera state of another user's stream (seed:
    /// `onRemoteCameraStateUpdate`); emitted like
    /// [`Event::RemoteMicStateUpdate`], right after it when a stream appears.
    RemoteCameraStateUpdate {
        /// The stream.
        stream_id: String,
        /// Open, or Mute when its publisher sends no video.
        state: RemoteDeviceState,
    },
    /// The level of the main channel's captured audio (seed:
    /// `onCapturedSoundLevelUpdate`), every interval while the sound level
    /// monitor runs ([`Engine::start_sound_level_monitor`](crate::Engine::start_sound_level_monitor)),
    /// before login too. Measured before any mute, so it is reported whether
    /// or not the microphone is muted and whether or not the channel
    /// publishes; 0 when nothing is captured (no microphone).
    CapturedSoundLevelUpdate {
        /// 0 (silence, -60 dBFS and below) to 100 (full scale): the RMS over
        /// the interval, `(dBFS + 60) / 60 * 100`.
        level: f32,
    },
    /// The level of every played stream's received audio (seed:
    /// `onRemoteSoundLevelUpdate`), every interval while the sound level
    /// monitor runs and at least one stream is played. A stream whose
    /// publisher sends no audio (muted) is 0; streams not played are absent.
    RemoteSoundLevelUpdate {
        /// Stream ID -> level over the interval, on the scale of
        /// [`Event::CapturedSoundLevelUpdate`].
        levels: BTreeMap<String, f32>,
    },
    /// A local device (camera, microphone, speaker) is missing or failed
    /// (seed: `onLocalDeviceExceptionOccurred`). Publishing goes on with what
    /// still works.
    LocalDeviceError {
        /// Which device.
        #[cfg_attr(feature = "ts", ts(as = "crate::typescript::DeviceType"))]
        device_type: DeviceType,
        /// Why (e.g. `NoCamera`).
        error_code: u32,
        /// Human text.
        info: String,
    },
    /// The screen share changed state (seed: `onScreenCaptureExceptionOccurred`,
    /// plus its start and stop): `Capturing` once
    /// [`Engine::start_screen_capture`](crate::Engine::start_screen_capture)
    /// has started it, `Stopped` after [`ScreenShare::stop`](crate::ScreenShare::stop),
    /// `SourceGone` when the shared window or screen (or the display, or the
    /// portal session) went away and `Failed` when capture cannot go on; in
    /// both the SDK has already withdrawn the aux stream.
    ScreenCaptureStateUpdate {
        /// The new state.
        state: ScreenShareState,
        /// 0 for `Capturing` and `Stopped`; else why (`ScreenSourceGone`,
        /// `NoDisplay`, `ScreenCaptureFailed`, ...).
        error_code: u32,
        /// Human text, empty when there is no error.
        info: String,
    },
    /// A non-fatal problem worth logging (a server error without a request,
    /// an undecodable message, a failed token renewal, ...).
    Debug {
        /// The error code.
        error_code: u32,
        /// Where it happened.
        func_name: String,
        /// Human text.
        info: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_with_event_tag() {
        let cases = [
            (
                Event::RoomStateUpdate {
                    room_id: "r1".into(),
                    state: RoomState::Connected,
                    error_code: 0,
                    extended_data: "{}".into(),
                },
                r#"{"event":"RoomStateUpdate","room_id":"r1","state":"Connected","error_code":0,"extended_data":"{}"}"#,
            ),
            (
                Event::RemoteMicStateUpdate {
                    stream_id: "s1".into(),
                    state: RemoteDeviceState::Mute,
                },
                r#"{"event":"RemoteMicStateUpdate","stream_id":"s1","state":"Mute"}"#,
            ),
            (
                Event::RemoteCameraStateUpdate {
                    stream_id: "s1".into(),
                    state: RemoteDeviceState::Open,
                },
                r#"{"event":"RemoteCameraStateUpdate","stream_id":"s1","state":"Open"}"#,
            ),
            (
                Event::CapturedSoundLevelUpdate { level: 75.5 },
                r#"{"event":"CapturedSoundLevelUpdate","level":75.5}"#,
            ),
            (
                Event::RemoteSoundLevelUpdate {
                    levels: [("s1".to_owned(), 0.0), ("s2".to_owned(), 66.5)].into(),
                },
                r#"{"event":"RemoteSoundLevelUpdate","levels":{"s1":0.0,"s2":66.5}}"#,
            ),
        ];
        for (e, json) in cases {
            assert_eq!(serde_json::to_string(&e).unwrap(), json);
        }
    }
}
