//! Versioned JSON signaling messages, one enum per direction.
//!
//! Every message is a JSON object with a `"type"` field naming the variant in
//! snake_case. Requests that expect an answer carry a `request_id` chosen by
//! the client; the server answers with [`ServerMessage::Ack`] or
//! [`ServerMessage::Error`] carrying the same id.
//!
//! Room events ([`RoomEvent`]) are numbered per session (`seq`, from 1). The
//! client acknowledges the highest `seq` it has seen in each heartbeat; after a
//! reconnect it sends `Resume { last_seq }` and the server replays the rest.

use crate::limits::MAX_MESSAGE_BYTES;
use crate::ErrorCode;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A user as the room sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct UserInfo {
    /// The user ID (unique within the app).
    pub user_id: String,
    /// The display name.
    pub user_name: String,
}

/// A stream published in a room.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct StreamInfo {
    /// The stream ID (unique within the app).
    pub stream_id: String,
    /// The publishing user.
    pub user: UserInfo,
    /// Free-form data the publisher attached (at most 1024 bytes).
    #[serde(default)]
    pub extra_info: String,
    /// The publisher sends no audio (microphone or stream audio muted).
    #[serde(default)]
    pub audio_muted: bool,
    /// The publisher sends no video (camera off or stream video muted).
    #[serde(default)]
    pub video_muted: bool,
}

/// Whether a user or stream update adds or removes entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum UpdateType {
    /// Entries appeared.
    Add,
    /// Entries went away.
    Delete,
}

/// A room broadcast (chat) message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct BroadcastMessage {
    /// Per-room increasing message ID.
    pub message_id: u64,
    /// The sender.
    pub from_user: UserInfo,
    /// The text, at most 1024 bytes.
    pub text: String,
    /// Server time when it was sent, Unix milliseconds.
    pub send_time_ms: u64,
}

/// Which peer connection a media message is about: the one publishing a
/// stream, or the one playing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum MediaRole {
    /// The client sends the stream to the SFU.
    Publish,
    /// The client receives the stream from the SFU.
    Play,
}

/// A simulcast layer of a video stream, lowest first. For a 720p source
/// the layers are 180p (`Low`), 360p (`Medium`) and 720p (`High`); a
/// smaller source has fewer (a layer it lacks is served by the next one
/// down). On the wire (RTP `rid`) they are `q`, `h` and `f`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum VideoLayer {
    /// A quarter of the source's size (180p of 720p).
    Low,
    /// Half the source's size (360p of 720p).
    Medium,
    /// The source's size.
    #[default]
    High,
}

impl VideoLayer {
    /// Every layer, lowest first.
    pub const ALL: [VideoLayer; 3] = [VideoLayer::Low, VideoLayer::Medium, VideoLayer::High];

    /// Whether this is the top layer (the default cap: no cap).
    pub fn is_high(&self) -> bool {
        *self == VideoLayer::High
    }

    /// The layer's RTP stream ID (`rid`): `q`, `h` or `f`.
    pub fn rid(self) -> &'static str {
        match self {
            VideoLayer::Low => "q",
            VideoLayer::Medium => "h",
            VideoLayer::High => "f",
        }
    }

    /// The layer an RTP stream ID names (`None` for any other text).
    pub fn from_rid(rid: &str) -> Option<Self> {
        VideoLayer::ALL.into_iter().find(|l| l.rid() == rid)
    }

    /// 0 for `Low`, 1 for `Medium`, 2 for `High`.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// One trickled ICE candidate (the browser's `RTCIceCandidateInit`).
/// An empty `candidate` means the sender has no more candidates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct IceCandidate {
    /// The `candidate:` attribute line, or empty at the end of candidates.
    pub candidate: String,
    /// The media section's `mid`.
    #[serde(default)]
    pub sdp_mid: Option<String>,
    /// The media section's index.
    #[serde(default)]
    pub sdp_mline_index: Option<u16>,
}

/// How a native client or a browser proves who it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Credentials {
    /// HMAC proof over the server's nonce keyed by the AppSign (see [`crate::auth`]).
    AppSign {
        /// Hex HMAC-SHA256.
        proof: String,
    },
    /// A token minted with the app's server secret (see [`crate::token`]).
    Token {
        /// The token string.
        token: String,
    },
}

/// Log in to a room (created on demand).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Login {
    /// Protocol version the client speaks.
    pub version: u16,
    /// The AppID.
    pub app_id: u32,
    /// The room to join.
    pub room_id: String,
    /// Who is joining.
    pub user: UserInfo,
    /// Proof of identity.
    pub credentials: Credentials,
    /// Whether this session wants user Add/Delete and online-count updates.
    pub notify_users: bool,
    /// Room member limit requested by the first user (0 = server default).
    #[serde(default)]
    pub max_member_count: u32,
}

/// Resume a session after the connection dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Resume {
    /// Protocol version the client speaks.
    pub version: u16,
    /// The session to resume (from `LoginOk`).
    pub session_id: String,
    /// The session's secret (from `LoginOk`).
    pub resume_key: String,
    /// The highest event `seq` the client has seen.
    pub last_seq: u64,
}

/// Messages from a client to the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// Log in (answers the `Challenge`).
    Login(Login),
    /// Resume a dropped session (answers the `Challenge`).
    Resume(Resume),
    /// Keep-alive; `ack` is the highest event `seq` seen.
    Heartbeat {
        /// Highest event sequence number received.
        ack: u64,
    },
    /// Leave the room; the server answers `Ack { LoggedOut }` and closes.
    Logout {
        /// Correlates the answer.
        request_id: u32,
    },
    /// Replace the login token before it expires.
    RenewToken {
        /// Correlates the answer.
        request_id: u32,
        /// The new token.
        token: String,
    },
    /// Send a broadcast message to everyone else in the room.
    SendBroadcast {
        /// Correlates the answer.
        request_id: u32,
        /// The text (1-1024 bytes).
        text: String,
    },
    /// Announce a stream this client publishes (claims the stream ID in the app).
    PublishStream {
        /// Correlates the answer.
        request_id: u32,
        /// The stream ID.
        stream_id: String,
        /// Extra info shown to players.
        #[serde(default)]
        extra_info: String,
        /// The stream starts without audio (see `StreamState`).
        #[serde(default)]
        audio_muted: bool,
        /// The stream starts without video (see `StreamState`).
        #[serde(default)]
        video_muted: bool,
    },
    /// Tell the room what a stream this client publishes sends now. The
    /// server keeps it on the stream (so `LoginOk` and stream `Add` carry it)
    /// and, when it changed, sends the others a `StreamStateUpdate` event.
    /// Answered by `Ack{StreamStateUpdated}` or `Error{NotStreamOwner}` for a
    /// stream this session does not publish.
    StreamState {
        /// Correlates the answer.
        request_id: u32,
        /// The stream ID.
        stream_id: String,
        /// No audio is sent (microphone or stream audio muted).
        audio_muted: bool,
        /// No video is sent (camera off or stream video muted).
        video_muted: bool,
    },
    /// Withdraw a stream this client published.
    StopPublishing {
        /// Correlates the answer.
        request_id: u32,
        /// The stream ID.
        stream_id: String,
    },
    /// Ask to play a stream of this app. The server answers `Ack{PlayAccepted}`
    /// at once, then sends `StreamReady` whenever the stream is live (now or
    /// later) and `StreamEnded` when it stops; the client offers media after
    /// each `StreamReady`.
    PlayStream {
        /// Correlates the answer.
        request_id: u32,
        /// The stream ID.
        stream_id: String,
        /// The highest simulcast layer to send this client (see
        /// `PlayVideoLayer`); absent means `High`, no cap.
        #[serde(default, skip_serializing_if = "VideoLayer::is_high")]
        max_layer: VideoLayer,
    },
    /// Cap the video layer the SFU sends this client for a stream it plays
    /// (ZEGO's `setPlayStreamVideoType`: a small tile needs `Low`); below
    /// the cap the SFU still picks by this client's downlink. Kept with the
    /// play request, so a stream that ends and returns keeps it. Answered by
    /// `Ack{PlayVideoLayerSet}`, or `Error{NotPlaying}` when this session
    /// did not ask to play that stream.
    PlayVideoLayer {
        /// Correlates the answer.
        request_id: u32,
        /// The stream ID.
        stream_id: String,
        /// The highest layer to send.
        max_layer: VideoLayer,
    },
    /// Stop playing a stream (closes its peer connection on the server).
    StopPlaying {
        /// Correlates the answer.
        request_id: u32,
        /// The stream ID.
        stream_id: String,
    },
    /// An SDP offer for the publishing or playing peer connection of a stream.
    /// The server answers with `SdpAnswer` or an `Error` for `request_id`.
    SdpOffer {
        /// Correlates the answer.
        request_id: u32,
        /// The stream ID.
        stream_id: String,
        /// Publish or play.
        role: MediaRole,
        /// The offer SDP.
        sdp: String,
    },
    /// A trickled ICE candidate for a stream's peer connection.
    TrickleIce {
        /// The stream ID.
        stream_id: String,
        /// Publish or play.
        role: MediaRole,
        /// The candidate.
        candidate: IceCandidate,
    },
}

/// A STUN or TURN server a client should use (the shape of WebRTC's
/// `RTCIceServer`): TURN entries carry short-lived credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct IceServer {
    /// `stun:host:port`, `turn:host:port?transport=udp|tcp`, `turns:...`.
    pub urls: Vec<String>,
    /// The TURN username (empty for STUN).
    #[serde(default)]
    pub username: String,
    /// The TURN credential (empty for STUN).
    #[serde(default)]
    pub credential: String,
}

/// The answer to `Login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LoginOk {
    /// The session's ID, used to resume.
    pub session_id: String,
    /// The session's secret, used to resume.
    pub resume_key: String,
    /// The room joined.
    pub room_id: String,
    /// Other users in the room (empty unless `notify_users`).
    pub users: Vec<UserInfo>,
    /// Streams in the room (not the client's own).
    pub streams: Vec<StreamInfo>,
    /// Users in the room, the client included.
    pub online_count: u32,
    /// Sequence number of the last event already reflected in this snapshot.
    pub seq: u64,
    /// How often the client must send a heartbeat.
    pub heartbeat_interval_ms: u64,
    /// After this long without hearing from the client the server drops the session.
    pub heartbeat_timeout_ms: u64,
    /// Milliseconds until the login token expires (`None` for AppSign logins).
    pub token_expires_in_ms: Option<u64>,
    /// STUN/TURN servers for this session's media (TURN with credentials
    /// valid for the server's configured lifetime). Older servers: none.
    #[serde(default)]
    pub ice_servers: Vec<IceServer>,
}

/// A room event with its per-session sequence number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SequencedEvent {
    /// Per-session sequence number, from 1.
    pub seq: u64,
    /// The event.
    pub event: RoomEvent,
}

/// Something that changed in the room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RoomEvent {
    /// Users joined or left (only to sessions with `notify_users`).
    UserUpdate {
        /// Add or Delete.
        update_type: UpdateType,
        /// The users.
        users: Vec<UserInfo>,
    },
    /// The room's user count changed (only to sessions with `notify_users`).
    OnlineUserCount {
        /// Users in the room.
        count: u32,
    },
    /// Streams were published or withdrawn (to everyone but the publisher).
    StreamUpdate {
        /// Add or Delete.
        update_type: UpdateType,
        /// The streams.
        streams: Vec<StreamInfo>,
    },
    /// A stream's publisher muted or unmuted its audio or video (to everyone
    /// but the publisher; sent only when the state changed).
    StreamStateUpdate {
        /// The stream ID.
        stream_id: String,
        /// No audio is sent.
        audio_muted: bool,
        /// No video is sent.
        video_muted: bool,
    },
    /// Someone sent a broadcast message (to everyone but the sender).
    Broadcast {
        /// The message.
        message: BroadcastMessage,
    },
}

/// The payload of a successful answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AckBody {
    /// Logout done.
    LoggedOut,
    /// Token replaced.
    TokenRenewed {
        /// Milliseconds until the new token expires.
        expires_in_ms: u64,
        /// Whether the new token grants the publish privilege. When it does
        /// not, the server has withdrawn every stream the session published
        /// (the others got a stream Delete) and the client stops publishing
        /// with `TokenNoPublishPrivilege`. Absent (older servers): `true`.
        #[serde(default = "granted")]
        publish: bool,
        /// The ICE servers again, with TURN credentials minted now: the
        /// ones from `LoginOk` expire, and media connections made from now
        /// on use these. Empty when the server hands out none.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        ice_servers: Vec<IceServer>,
    },
    /// Broadcast delivered to the room.
    BroadcastSent {
        /// The message's ID.
        message_id: u64,
    },
    /// Stream announced.
    StreamPublished {
        /// The stream ID.
        stream_id: String,
    },
    /// Stream state recorded.
    StreamStateUpdated {
        /// The stream ID.
        stream_id: String,
    },
    /// Stream withdrawn.
    StreamStopped {
        /// The stream ID.
        stream_id: String,
    },
    /// Play request registered.
    PlayAccepted {
        /// The stream ID.
        stream_id: String,
    },
    /// Play stopped.
    PlayStopped {
        /// The stream ID.
        stream_id: String,
    },
    /// The play request's layer cap recorded (and applied to its leg).
    PlayVideoLayerSet {
        /// The stream ID.
        stream_id: String,
        /// The cap now in force.
        max_layer: VideoLayer,
    },
}

/// Messages from the server to a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// First message on every connection.
    Challenge {
        /// Protocol version the server speaks.
        version: u16,
        /// Random nonce for the AppSign proof.
        nonce: String,
    },
    /// Login succeeded.
    LoginOk(LoginOk),
    /// Login failed; the server closes the connection.
    LoginFailed {
        /// Why.
        code: ErrorCode,
        /// Human text.
        message: String,
    },
    /// The room lives on another node (several nodes on one Redis): log in
    /// again, with the same credentials, at `url`. The server closes the
    /// connection.
    Redirect {
        /// The room's node's signaling URL (`ws://` or `wss://`, same scheme).
        url: String,
    },
    /// Resume succeeded; `missed` are the events after `last_seq`.
    Resumed {
        /// Events the client has not seen, in order.
        missed: Vec<SequencedEvent>,
    },
    /// Resume failed (the session is gone); the client should log in again
    /// unless `code` is a kick-out.
    ResumeFailed {
        /// Why.
        code: ErrorCode,
        /// Human text.
        message: String,
    },
    /// A room event.
    Event(SequencedEvent),
    /// Answer to `Heartbeat`.
    HeartbeatAck {
        /// Server time, Unix milliseconds.
        server_time_ms: u64,
    },
    /// A request succeeded.
    Ack {
        /// The request's ID.
        request_id: u32,
        /// What happened.
        body: AckBody,
    },
    /// A request failed, or (without `request_id`) the connection misbehaved;
    /// `fatal` errors are followed by a close.
    Error {
        /// The failed request, if any.
        request_id: Option<u32>,
        /// Why.
        code: ErrorCode,
        /// Human text.
        message: String,
        /// Whether the server closes the connection after this.
        fatal: bool,
    },
    /// The SFU's answer to an `SdpOffer`.
    SdpAnswer {
        /// The offer's request ID.
        request_id: u32,
        /// The stream ID.
        stream_id: String,
        /// Publish or play.
        role: MediaRole,
        /// The answer SDP.
        sdp: String,
    },
    /// A trickled ICE candidate from the SFU.
    TrickleIce {
        /// The stream ID.
        stream_id: String,
        /// Publish or play.
        role: MediaRole,
        /// The candidate.
        candidate: IceCandidate,
    },
    /// A stream this client asked to play is live: offer media now.
    StreamReady {
        /// The stream ID.
        stream_id: String,
    },
    /// A stream this client plays stopped (its publisher stopped or left); the
    /// play request stays registered and `StreamReady` follows if it returns.
    StreamEnded {
        /// The stream ID.
        stream_id: String,
    },
    /// Which simulcast layers of a stream this client publishes someone
    /// plays now (LiveKit's dynacast): the publisher encodes and sends only
    /// these, the lowest always among them. Sent whenever the set changes,
    /// after the publisher's leg is connected; until the first one, send all.
    VideoLayers {
        /// The stream ID.
        stream_id: String,
        /// The layers to send, lowest first.
        active: Vec<VideoLayer>,
    },
    /// The server ended this session for good (`KickedOut`: the same user
    /// logged in elsewhere); do not retry.
    Kicked {
        /// Why.
        code: ErrorCode,
        /// Human text.
        message: String,
    },
    /// The server removed this session (`SessionExpired`: it heard nothing
    /// within the heartbeat timeout, say while the client was suspended)
    /// although the socket stayed open. Not a kick: the client logs in again
    /// within its retry window, as after a cut, and republishes and replays.
    SessionExpired {
        /// Why.
        code: ErrorCode,
        /// Human text.
        message: String,
    },
    /// The server is going away; the client may reconnect (to a restarted server).
    Shutdown {
        /// Why.
        code: ErrorCode,
        /// Human text.
        message: String,
    },
}

/// Why an incoming message was refused.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Larger than [`MAX_MESSAGE_BYTES`].
    #[error("message of {0} bytes exceeds the limit")]
    TooLarge(usize),
    /// Not JSON, or not the schema of its `type`.
    #[error("malformed message: {0}")]
    Malformed(#[source] serde_json::Error),
    /// A `type` this side does not know.
    #[error("unknown message type {0:?}")]
    Unknown(String),
}

impl DecodeError {
    /// The error code reported for this refusal.
    pub fn code(&self) -> ErrorCode {
        match self {
            DecodeError::TooLarge(_) => ErrorCode::MessageTooLarge,
            DecodeError::Malformed(_) => ErrorCode::MalformedMessage,
            DecodeError::Unknown(_) => ErrorCode::UnknownMessage,
        }
    }
}

impl ClientMessage {
    /// Every `type` a client message can have.
    pub const TYPES: &'static [&'static str] = &[
        "login",
        "resume",
        "heartbeat",
        "logout",
        "renew_token",
        "send_broadcast",
        "publish_stream",
        "stream_state",
        "stop_publishing",
        "play_stream",
        "play_video_layer",
        "stop_playing",
        "sdp_offer",
        "trickle_ice",
    ];

    /// Parses a text frame.
    pub fn decode(text: &str) -> Result<Self, DecodeError> {
        decode(text, Self::TYPES)
    }

    /// Serializes to a text frame.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("messages are plain data and always serialize")
    }
}

impl ServerMessage {
    /// Every `type` a server message can have.
    pub const TYPES: &'static [&'static str] = &[
        "challenge",
        "login_ok",
        "login_failed",
        "redirect",
        "resumed",
        "resume_failed",
        "event",
        "heartbeat_ack",
        "ack",
        "error",
        "sdp_answer",
        "trickle_ice",
        "stream_ready",
        "stream_ended",
        "video_layers",
        "kicked",
        "session_expired",
        "shutdown",
    ];

    /// Parses a text frame.
    pub fn decode(text: &str) -> Result<Self, DecodeError> {
        decode(text, Self::TYPES)
    }

    /// Serializes to a text frame.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("messages are plain data and always serialize")
    }

    /// An error answer built from a code, with the code's own message.
    pub fn error(request_id: Option<u32>, code: ErrorCode, fatal: bool) -> Self {
        ServerMessage::Error {
            request_id,
            code,
            message: code.message().to_owned(),
            fatal,
        }
    }
}

/// Serde default of `AckBody::TokenRenewed::publish` (older servers).
fn granted() -> bool {
    true
}

#[derive(Deserialize)]
struct TypeTag {
    #[serde(rename = "type")]
    kind: String,
}

fn decode<T: DeserializeOwned>(text: &str, known: &[&str]) -> Result<T, DecodeError> {
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(DecodeError::TooLarge(text.len()));
    }
    let tag: TypeTag = serde_json::from_str(text).map_err(DecodeError::Malformed)?;
    if !known.contains(&tag.kind.as_str()) {
        let mut kind = tag.kind;
        // At most 64 bytes, cut on a character boundary (a peer's type may
        // be any text; found by fuzz/ `signaling`).
        let mut end = kind.len().min(64);
        while !kind.is_char_boundary(end) {
            end -= 1;
        }
        kind.truncate(end);
        return Err(DecodeError::Unknown(kind));
    }
    serde_json::from_str(text).map_err(DecodeError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn video_layers_map_to_rids_and_back_and_high_is_left_out_of_play_stream() {
        for layer in VideoLayer::ALL {
            assert_eq!(VideoLayer::from_rid(layer.rid()), Some(layer));
        }
        assert_eq!(VideoLayer::from_rid("x"), None);
        assert!(VideoLayer::Low < VideoLayer::Medium && VideoLayer::Medium < VideoLayer::High);
        let plain = ClientMessage::PlayStream {
            request_id: 1,
            stream_id: "s".into(),
            max_layer: VideoLayer::High,
        };
        assert_eq!(
            plain.encode(),
            r#"{"type":"play_stream","request_id":1,"stream_id":"s"}"#
        );
        let capped = r#"{"type":"play_stream","request_id":1,"stream_id":"s","max_layer":"low"}"#;
        assert!(matches!(
            ClientMessage::decode(capped),
            Ok(ClientMessage::PlayStream {
                max_layer: VideoLayer::Low,
                ..
            })
        ));
        let bad =
            r#"{"type":"play_video_layer","request_id":1,"stream_id":"s","max_layer":"huge"}"#;
        assert!(matches!(
            ClientMessage::decode(bad),
            Err(DecodeError::Malformed(_))
        ));
    }

    fn user() -> impl Strategy<Value = UserInfo> {
        ("[a-z0-9_]{1,64}", ".{0,40}")
            .prop_map(|(user_id, user_name)| UserInfo { user_id, user_name })
    }

    fn stream() -> impl Strategy<Value = StreamInfo> {
        (
            "[A-Za-z0-9_.-]{1,256}",
            user(),
            ".{0,100}",
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(stream_id, user, extra_info, audio_muted, video_muted)| {
                StreamInfo {
                    stream_id,
                    user,
                    extra_info,
                    audio_muted,
                    video_muted,
                }
            })
    }

    fn update_type() -> impl Strategy<Value = UpdateType> {
        prop_oneof![Just(UpdateType::Add), Just(UpdateType::Delete)]
    }

    fn code() -> impl Strategy<Value = ErrorCode> {
        proptest::sample::select(ErrorCode::ALL)
    }

    fn room_event() -> impl Strategy<Value = RoomEvent> {
        prop_oneof![
            (update_type(), proptest::collection::vec(user(), 0..4))
                .prop_map(|(update_type, users)| RoomEvent::UserUpdate { update_type, users }),
            any::<u32>().prop_map(|count| RoomEvent::OnlineUserCount { count }),
            (update_type(), proptest::collection::vec(stream(), 0..3)).prop_map(
                |(update_type, streams)| RoomEvent::StreamUpdate {
                    update_type,
                    streams
                }
            ),
            (".{0,40}", any::<bool>(), any::<bool>()).prop_map(
                |(stream_id, audio_muted, video_muted)| RoomEvent::StreamStateUpdate {
                    stream_id,
                    audio_muted,
                    video_muted,
                }
            ),
            (any::<u64>(), user(), ".{0,200}", any::<u64>()).prop_map(
                |(message_id, from_user, text, send_time_ms)| {
                    RoomEvent::Broadcast {
                        message: BroadcastMessage {
                            message_id,
                            from_user,
                            text,
                            send_time_ms,
                        },
                    }
                }
            ),
        ]
    }

    fn sequenced() -> impl Strategy<Value = SequencedEvent> {
        (any::<u64>(), room_event()).prop_map(|(seq, event)| SequencedEvent { seq, event })
    }

    fn credentials() -> impl Strategy<Value = Credentials> {
        prop_oneof![
            "[0-9a-f]{64}".prop_map(|proof| Credentials::AppSign { proof }),
            ".{0,200}".prop_map(|token| Credentials::Token { token }),
        ]
    }

    fn client_message() -> impl Strategy<Value = ClientMessage> {
        prop_oneof![
            (
                any::<u16>(),
                any::<u32>(),
                ".{0,130}",
                user(),
                credentials(),
                any::<bool>(),
                any::<u32>()
            )
                .prop_map(
                    |(
                        version,
                        app_id,
                        room_id,
                        user,
                        credentials,
                        notify_users,
                        max_member_count,
                    )| {
                        ClientMessage::Login(Login {
                            version,
                            app_id,
                            room_id,
                            user,
                            credentials,
                            notify_users,
                            max_member_count,
                        })
                    }
                ),
            (any::<u16>(), ".{0,40}", ".{0,40}", any::<u64>()).prop_map(
                |(version, session_id, resume_key, last_seq)| {
                    ClientMessage::Resume(Resume {
                        version,
                        session_id,
                        resume_key,
                        last_seq,
                    })
                }
            ),
            any::<u64>().prop_map(|ack| ClientMessage::Heartbeat { ack }),
            any::<u32>().prop_map(|request_id| ClientMessage::Logout { request_id }),
            (any::<u32>(), ".{0,100}")
                .prop_map(|(request_id, token)| ClientMessage::RenewToken { request_id, token }),
            (any::<u32>(), ".{0,300}")
                .prop_map(|(request_id, text)| ClientMessage::SendBroadcast { request_id, text }),
            (
                any::<u32>(),
                ".{0,40}",
                ".{0,40}",
                any::<bool>(),
                any::<bool>()
            )
                .prop_map(
                    |(request_id, stream_id, extra_info, audio_muted, video_muted)| {
                        ClientMessage::PublishStream {
                            request_id,
                            stream_id,
                            extra_info,
                            audio_muted,
                            video_muted,
                        }
                    }
                ),
            (any::<u32>(), ".{0,40}", any::<bool>(), any::<bool>()).prop_map(
                |(request_id, stream_id, audio_muted, video_muted)| ClientMessage::StreamState {
                    request_id,
                    stream_id,
                    audio_muted,
                    video_muted,
                }
            ),
            (any::<u32>(), ".{0,40}").prop_map(|(request_id, stream_id)| {
                ClientMessage::StopPublishing {
                    request_id,
                    stream_id,
                }
            }),
            (any::<u32>(), ".{0,40}").prop_map(|(request_id, stream_id)| {
                ClientMessage::PlayStream {
                    request_id,
                    stream_id,
                    max_layer: VideoLayer::High,
                }
            }),
            (any::<u32>(), ".{0,40}", video_layer()).prop_map(
                |(request_id, stream_id, max_layer)| ClientMessage::PlayVideoLayer {
                    request_id,
                    stream_id,
                    max_layer,
                }
            ),
            (any::<u32>(), ".{0,40}").prop_map(|(request_id, stream_id)| {
                ClientMessage::StopPlaying {
                    request_id,
                    stream_id,
                }
            }),
            (any::<u32>(), ".{0,40}", role(), ".{0,300}").prop_map(
                |(request_id, stream_id, role, sdp)| {
                    ClientMessage::SdpOffer {
                        request_id,
                        stream_id,
                        role,
                        sdp,
                    }
                }
            ),
            (".{0,40}", role(), candidate()).prop_map(|(stream_id, role, candidate)| {
                ClientMessage::TrickleIce {
                    stream_id,
                    role,
                    candidate,
                }
            }),
        ]
    }

    fn video_layer() -> impl Strategy<Value = VideoLayer> {
        proptest::sample::select(VideoLayer::ALL.to_vec())
    }

    fn role() -> impl Strategy<Value = MediaRole> {
        prop_oneof![Just(MediaRole::Publish), Just(MediaRole::Play)]
    }

    fn candidate() -> impl Strategy<Value = IceCandidate> {
        (
            ".{0,120}",
            proptest::option::of(".{0,8}"),
            proptest::option::of(any::<u16>()),
        )
            .prop_map(|(candidate, sdp_mid, sdp_mline_index)| IceCandidate {
                candidate,
                sdp_mid,
                sdp_mline_index,
            })
    }

    /// One TURN server for `username` when `with_turn`, none otherwise.
    fn turn_servers(with_turn: bool, username: &str) -> Vec<IceServer> {
        if with_turn {
            vec![IceServer {
                urls: vec!["turn:203.0.113.1:3478".into()],
                username: username.into(),
                credential: "c2VjcmV0".into(),
            }]
        } else {
            Vec::new()
        }
    }

    fn ack_body() -> impl Strategy<Value = AckBody> {
        prop_oneof![
            Just(AckBody::LoggedOut),
            (any::<u64>(), any::<bool>(), any::<bool>()).prop_map(
                |(expires_in_ms, publish, with_turn)| AckBody::TokenRenewed {
                    expires_in_ms,
                    publish,
                    ice_servers: turn_servers(with_turn, "1700000000:7:u"),
                }
            ),
            any::<u64>().prop_map(|message_id| AckBody::BroadcastSent { message_id }),
            ".{0,40}".prop_map(|stream_id| AckBody::StreamPublished { stream_id }),
            ".{0,40}".prop_map(|stream_id| AckBody::StreamStateUpdated { stream_id }),
            ".{0,40}".prop_map(|stream_id| AckBody::StreamStopped { stream_id }),
            ".{0,40}".prop_map(|stream_id| AckBody::PlayAccepted { stream_id }),
            ".{0,40}".prop_map(|stream_id| AckBody::PlayStopped { stream_id }),
            (".{0,40}", video_layer()).prop_map(|(stream_id, max_layer)| {
                AckBody::PlayVideoLayerSet {
                    stream_id,
                    max_layer,
                }
            }),
        ]
    }

    fn server_message() -> impl Strategy<Value = ServerMessage> {
        prop_oneof![
            (any::<u16>(), "[0-9a-f]{32}")
                .prop_map(|(version, nonce)| ServerMessage::Challenge { version, nonce }),
            (
                ".{0,40}",
                ".{0,40}",
                ".{0,40}",
                proptest::collection::vec(user(), 0..4),
                proptest::collection::vec(stream(), 0..3),
                any::<u32>(),
                any::<u64>(),
                (
                    any::<u64>(),
                    any::<u64>(),
                    proptest::option::of(any::<u64>())
                ),
            )
                .prop_map(
                    |(
                        session_id,
                        resume_key,
                        room_id,
                        users,
                        streams,
                        online_count,
                        seq,
                        (hi, ht, te),
                    )| {
                        ServerMessage::LoginOk(LoginOk {
                            session_id,
                            resume_key,
                            room_id,
                            users,
                            streams,
                            online_count,
                            seq,
                            heartbeat_interval_ms: hi,
                            heartbeat_timeout_ms: ht,
                            token_expires_in_ms: te,
                            ice_servers: turn_servers(te.is_some(), "1:2:u"),
                        })
                    }
                ),
            (code(), ".{0,80}")
                .prop_map(|(code, message)| ServerMessage::LoginFailed { code, message }),
            ".{0,80}".prop_map(|url| ServerMessage::Redirect { url }),
            proptest::collection::vec(sequenced(), 0..4)
                .prop_map(|missed| ServerMessage::Resumed { missed }),
            (code(), ".{0,80}")
                .prop_map(|(code, message)| ServerMessage::ResumeFailed { code, message }),
            sequenced().prop_map(ServerMessage::Event),
            any::<u64>().prop_map(|server_time_ms| ServerMessage::HeartbeatAck { server_time_ms }),
            (any::<u32>(), ack_body())
                .prop_map(|(request_id, body)| ServerMessage::Ack { request_id, body }),
            (
                proptest::option::of(any::<u32>()),
                code(),
                ".{0,80}",
                any::<bool>()
            )
                .prop_map(|(request_id, code, message, fatal)| ServerMessage::Error {
                    request_id,
                    code,
                    message,
                    fatal
                }),
            (code(), ".{0,80}").prop_map(|(code, message)| ServerMessage::Kicked { code, message }),
            (code(), ".{0,80}")
                .prop_map(|(code, message)| ServerMessage::SessionExpired { code, message }),
            (code(), ".{0,80}")
                .prop_map(|(code, message)| ServerMessage::Shutdown { code, message }),
            (any::<u32>(), ".{0,40}", role(), ".{0,300}").prop_map(
                |(request_id, stream_id, role, sdp)| {
                    ServerMessage::SdpAnswer {
                        request_id,
                        stream_id,
                        role,
                        sdp,
                    }
                }
            ),
            (".{0,40}", role(), candidate()).prop_map(|(stream_id, role, candidate)| {
                ServerMessage::TrickleIce {
                    stream_id,
                    role,
                    candidate,
                }
            }),
            ".{0,40}".prop_map(|stream_id| ServerMessage::StreamReady { stream_id }),
            ".{0,40}".prop_map(|stream_id| ServerMessage::StreamEnded { stream_id }),
            (".{0,40}", proptest::collection::vec(video_layer(), 0..4))
                .prop_map(|(stream_id, active)| ServerMessage::VideoLayers { stream_id, active }),
        ]
    }

    fn type_of(json: &str) -> String {
        serde_json::from_str::<TypeTag>(json).unwrap().kind
    }

    proptest! {
        #[test]
        fn client_messages_round_trip(m in client_message()) {
            let text = m.encode();
            prop_assert!(ClientMessage::TYPES.contains(&type_of(&text).as_str()));
            prop_assert_eq!(ClientMessage::decode(&text).unwrap(), m);
        }

        #[test]
        fn server_messages_round_trip(m in server_message()) {
            let text = m.encode();
            prop_assert!(ServerMessage::TYPES.contains(&type_of(&text).as_str()));
            prop_assert_eq!(ServerMessage::decode(&text).unwrap(), m);
        }

        #[test]
        fn garbage_is_refused_without_panic(s in ".{0,500}") {
            let _ = ClientMessage::decode(&s);
            let _ = ServerMessage::decode(&s);
        }

        #[test]
        fn bytes_are_refused_without_panic(b in proptest::collection::vec(any::<u8>(), 0..300)) {
            let s = String::from_utf8_lossy(&b);
            let _ = ClientMessage::decode(&s);
            let _ = ServerMessage::decode(&s);
        }

        #[test]
        fn truncated_messages_are_malformed(m in client_message(), cut in 1usize..20) {
            let text = m.encode();
            let mut end = text.len().saturating_sub(cut);
            while !text.is_char_boundary(end) { end -= 1; }
            prop_assert!(ClientMessage::decode(&text[..end]).is_err());
        }
    }

    #[test]
    fn refusals_have_codes() {
        assert_eq!(
            ClientMessage::decode("{").unwrap_err().code(),
            ErrorCode::MalformedMessage
        );
        assert_eq!(
            ClientMessage::decode("[1,2]").unwrap_err().code(),
            ErrorCode::MalformedMessage
        );
        assert_eq!(
            ClientMessage::decode(r#"{"type":"dance"}"#)
                .unwrap_err()
                .code(),
            ErrorCode::UnknownMessage
        );
        assert_eq!(
            ClientMessage::decode(r#"{"type":"heartbeat","ack":"x"}"#)
                .unwrap_err()
                .code(),
            ErrorCode::MalformedMessage
        );
        // An unknown type is echoed cut to 64 bytes, never inside a
        // character (this panicked: fuzz/regressions/signaling/).
        let long = format!(r#"{{"type":"{}é"}}"#, "x".repeat(63));
        assert!(matches!(
            ClientMessage::decode(&long),
            Err(DecodeError::Unknown(kind)) if kind == "x".repeat(63)
        ));
        let big = format!(
            r#"{{"type":"heartbeat","ack":1,"pad":"{}"}}"#,
            "x".repeat(MAX_MESSAGE_BYTES)
        );
        assert_eq!(
            ClientMessage::decode(&big).unwrap_err().code(),
            ErrorCode::MessageTooLarge
        );
    }

    #[test]
    fn stream_state_wire_format() {
        let msg = ClientMessage::StreamState {
            request_id: 7,
            stream_id: "cam".into(),
            audio_muted: true,
            video_muted: false,
        };
        assert_eq!(
            msg.encode(),
            r#"{"type":"stream_state","request_id":7,"stream_id":"cam","audio_muted":true,"video_muted":false}"#
        );
        let event = ServerMessage::Event(SequencedEvent {
            seq: 3,
            event: RoomEvent::StreamStateUpdate {
                stream_id: "cam".into(),
                audio_muted: false,
                video_muted: true,
            },
        });
        assert_eq!(
            event.encode(),
            r#"{"type":"event","seq":3,"event":{"kind":"stream_state_update","stream_id":"cam","audio_muted":false,"video_muted":true}}"#
        );
    }

    #[test]
    fn messages_without_mute_fields_still_parse() {
        // Peers that predate the mute state: both flags default to false.
        let publish =
            ClientMessage::decode(r#"{"type":"publish_stream","request_id":1,"stream_id":"cam"}"#)
                .unwrap();
        assert_eq!(
            publish,
            ClientMessage::PublishStream {
                request_id: 1,
                stream_id: "cam".into(),
                extra_info: String::new(),
                audio_muted: false,
                video_muted: false,
            }
        );
        let added = ServerMessage::decode(
            r#"{"type":"event","seq":1,"event":{"kind":"stream_update","update_type":"add",
                "streams":[{"stream_id":"cam","user":{"user_id":"a","user_name":"A"}}]}}"#,
        )
        .unwrap();
        let ServerMessage::Event(SequencedEvent {
            event: RoomEvent::StreamUpdate { streams, .. },
            ..
        }) = added
        else {
            panic!("{added:?}");
        };
        assert!(!streams[0].audio_muted && !streams[0].video_muted);
        // The state message itself needs both flags.
        assert_eq!(
            ClientMessage::decode(r#"{"type":"stream_state","request_id":1,"stream_id":"cam"}"#)
                .unwrap_err()
                .code(),
            ErrorCode::MalformedMessage
        );
    }

    #[test]
    fn every_listed_type_decodes_from_a_sample() {
        // Each name in TYPES must be a real variant: a sample of it decodes.
        let samples = [
            r#"{"type":"heartbeat","ack":1}"#,
            r#"{"type":"logout","request_id":1}"#,
            r#"{"type":"play_video_layer","request_id":1,"stream_id":"s","max_layer":"medium"}"#,
        ];
        for s in samples {
            assert!(ClientMessage::decode(s).is_ok(), "{s}");
        }
        let layers = r#"{"type":"video_layers","stream_id":"s","active":["low","high"]}"#;
        assert!(ServerMessage::decode(layers).is_ok(), "{layers}");
        let redirect = r#"{"type":"redirect","url":"wss://node-b.example/ws"}"#;
        assert!(ServerMessage::decode(redirect).is_ok(), "{redirect}");
        assert_eq!(ClientMessage::TYPES.len(), 14);
        assert_eq!(ServerMessage::TYPES.len(), 18);
    }
}
