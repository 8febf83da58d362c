//! The one table of error codes. Every error a user can see has a code from
//! here and a human message. Codes are grouped by module: the millions digit
//! block `10MM_NNN` names the module (see [`ErrorModule`]).

use serde::{Deserialize, Serialize};

/// The module an [`ErrorCode`] belongs to, derived from its numeric range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorModule {
    /// Code 0: no error.
    None,
    /// `1000xxx`: engine creation and lifetime.
    Engine,
    /// `1002xxx`: room login, connection and room messages.
    Room,
    /// `1003xxx`: publishing streams.
    Publisher,
    /// `1004xxx`: playing streams.
    Player,
    /// `1006xxx`: cameras, microphones and speakers.
    Device,
    /// `1007xxx`: login tokens.
    Token,
    /// `1008xxx`: network reachability (diagnostics, TURN).
    Network,
    /// `1009xxx`: the signaling server and the wire protocol.
    Server,
}

macro_rules! error_codes {
    ($( $(#[doc = $doc:literal])* $name:ident = $code:literal => $msg:literal, )*) => {
        /// Every error code Confer reports, with its number and message.
        ///
        /// Events carry codes as plain `u32` (the SDK callbacks' `errorCode`);
        /// [`ErrorCode::from_code`] maps a number back to its entry.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $( $(#[doc = $doc])* $name = $code, )*
        }

        impl ErrorCode {
            /// Every code in the table, in table order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name),*];

            /// The human-readable message for this code.
            pub fn message(self) -> &'static str {
                match self { $(ErrorCode::$name => $msg,)* }
            }

            /// The variant name, e.g. `"KickedOut"`.
            pub fn name(self) -> &'static str {
                match self { $(ErrorCode::$name => stringify!($name),)* }
            }

            /// Looks a number up in the table.
            pub fn from_code(code: u32) -> Option<Self> {
                match code { $($code => Some(ErrorCode::$name),)* _ => None }
            }
        }
    };
}

error_codes! {
    /// No error.
    Success = 0 => "success",

    // ---- engine ----
    /// A call was made on an engine after `destroy`.
    EngineDestroyed = 1_000_001 => "the engine has been destroyed",
    /// The profile's AppID is 0.
    InvalidAppId = 1_000_002 => "AppID must be a non-zero number",
    /// The profile's AppSign is not 64 hexadecimal characters.
    InvalidAppSign = 1_000_003 => "AppSign must be 64 hexadecimal characters",
    /// The profile's server address is not a ws:// or wss:// URL.
    InvalidServerUrl = 1_000_004 => "server must be a ws:// or wss:// URL",
    /// `set_log_config` got an unusable directory or size.
    InvalidLogConfig = 1_000_005 => "log directory is not writable or max size is 0",
    /// `Engine::create` was called outside a Tokio runtime.
    NoRuntime = 1_000_006 => "the engine must be created inside a Tokio runtime",
    /// The profile's extra CA is not a PEM certificate, or its pinned
    /// fingerprint is not a SHA-256 (64 hex digits, colons allowed).
    InvalidTlsConfig = 1_000_007 => "the TLS settings are invalid: the CA must be PEM, the pin a SHA-256 fingerprint",
    /// The update feed could not be reached or did not answer with a
    /// valid manifest (desktop app updater).
    UpdateFeedUnreachable = 1_000_101 => "the update feed could not be reached",
    /// A downloaded update's signature does not match the app's public key.
    UpdateSignatureInvalid = 1_000_102 => "the update's signature is invalid; it was not installed",
    /// The update download failed or was cut short.
    UpdateDownloadFailed = 1_000_103 => "the update download failed",
    /// Installing a verified update failed.
    UpdateInstallFailed = 1_000_104 => "the update could not be installed",
    /// `install_update` without an update found by `check_update`.
    NoPendingUpdate = 1_000_105 => "no update to install; check for updates first",

    // ---- room ----
    /// A room call was made before `login_room`.
    NotLoggedIn = 1_002_001 => "not logged in to a room; call login_room first",
    /// `login_room` was called while already logged in (or logging in).
    AlreadyLoggedIn = 1_002_002 => "already logged in to a room; call logout_room first",
    /// The room ID is empty, longer than 128 bytes, or has illegal characters.
    InvalidRoomId = 1_002_003 => "room ID must be 1-128 bytes of letters, digits and ~!@#$%^&*()_+=-`;',.<>/\\",
    /// The user ID is empty, longer than 64 bytes, or has illegal characters.
    InvalidUserId = 1_002_004 => "user ID must be 1-64 bytes of letters, digits and ~!@#$%^&*()_+=-`;',.<>/\\",
    /// The user name is longer than 256 bytes or has control characters.
    InvalidUserName = 1_002_005 => "user name must be at most 256 bytes without control characters",
    /// The connection to the room server was lost; the SDK is retrying.
    NetworkInterrupted = 1_002_011 => "connection to the room server lost; reconnecting",
    /// Reconnecting did not succeed within the retry window.
    ReconnectTimeout = 1_002_012 => "could not reconnect to the room within the retry window",
    /// The same user ID logged in elsewhere; this session was closed.
    KickedOut = 1_002_013 => "the same user logged in elsewhere",
    /// The AppID is not registered on the server.
    AppNotFound = 1_002_014 => "AppID is not registered on this server",
    /// The AppSign proof did not verify: the AppSign is wrong.
    AppSignMismatch = 1_002_015 => "AppSign is wrong for this AppID",
    /// The room has reached its member limit.
    RoomFull = 1_002_016 => "the room is full",
    /// The app has reached its room limit.
    TooManyRooms = 1_002_017 => "the app has reached its room limit",
    /// The app has reached its user limit.
    TooManyUsers = 1_002_018 => "the app has reached its user limit",
    /// The server no longer knows this session (it timed out): log in again.
    SessionExpired = 1_002_019 => "the session expired on the server",
    /// The server did not answer a request in time.
    RequestTimeout = 1_002_020 => "the server did not answer in time",
    /// An invite's login asked for a user ID someone is using (an invite
    /// never kicks anyone out): pick another one.
    UserIdInUse = 1_002_021 => "someone in this app already uses this user ID; pick another",
    /// The server's operator removed this user from the room (server API
    /// `kick`); do not retry.
    KickedByServer = 1_002_022 => "the server's operator removed this user from the room",
    /// The server's operator closed the room (server API `close-room`).
    RoomClosed = 1_002_023 => "the server's operator closed the room",
    /// The login was redirected from node to node more times than the SDK
    /// follows (several nodes on one Redis: the room's node kept changing).
    TooManyRedirects = 1_002_024 => "the login was redirected too many times",
    /// A server redirected the login to a URL of another scheme (`ws` from
    /// `wss`, say) or an unparsable one; the SDK does not follow it.
    RedirectRefused = 1_002_025 => "the server redirected the login to an unacceptable URL",
    /// A broadcast message was empty.
    BroadcastEmpty = 1_002_030 => "broadcast message is empty",
    /// A broadcast message was longer than 1024 bytes.
    BroadcastTooLong = 1_002_031 => "broadcast message is longer than 1024 bytes",
    /// The room's broadcast rate (10 messages per second) was exceeded.
    BroadcastRateLimited = 1_002_032 => "too many broadcast messages in this room; at most 10 per second",
    /// The user logged out (or the engine was destroyed) while a request was pending.
    LoggedOut = 1_002_033 => "logged out before the request completed",
    /// The server's TLS certificate does not chain to a trusted root (an
    /// unknown issuer, or self-signed) and no pinned fingerprint matches it.
    TlsUntrusted = 1_002_040 => "the server's certificate is not trusted; add its CA or pin its fingerprint",
    /// The server's TLS certificate has expired or is not valid yet.
    TlsExpired = 1_002_041 => "the server's certificate has expired or is not valid yet",
    /// The server's TLS certificate is not valid for the host name in the URL.
    TlsNameMismatch = 1_002_042 => "the server's certificate is not valid for this host name",
    /// The server's TLS certificate is not the one whose fingerprint is pinned.
    TlsPinMismatch = 1_002_043 => "the server's certificate does not match the pinned fingerprint",
    /// A plain `ws://` (or `http://`) connection reached a port that speaks TLS.
    PlainToTlsPort = 1_002_044 => "this server port speaks TLS: use a wss:// URL",
    /// A `wss://` (TLS) connection reached a port that does not speak TLS.
    TlsToPlainPort = 1_002_045 => "this server port does not speak TLS: use a ws:// URL",
    /// The TLS handshake with the server failed for another reason.
    TlsFailed = 1_002_046 => "the TLS handshake with the server failed",
    /// The server's host name does not resolve.
    HostNotFound = 1_002_047 => "the server's host name does not resolve",
    /// No TCP connection to the server's port: refused, filtered or timed out.
    ServerUnreachable = 1_002_048 => "cannot connect to the server's port (refused, filtered or timed out)",
    /// The port answered but did not upgrade `/ws` to a WebSocket.
    WebSocketRejected = 1_002_049 => "the server did not accept the WebSocket connection at /ws",

    // ---- publisher ----
    /// The stream ID is empty, longer than 256 bytes, or not [A-Za-z0-9_.-].
    InvalidStreamId = 1_003_001 => "stream ID must be 1-256 bytes of A-Z a-z 0-9 _ - .",
    /// Another publisher in this app already uses the stream ID.
    StreamIdInUse = 1_003_002 => "the stream ID is already being published in this app",
    /// This channel is already publishing.
    AlreadyPublishing = 1_003_003 => "this channel is already publishing a stream",
    /// Stop was called on a channel that is not publishing.
    NotPublishing = 1_003_004 => "this channel is not publishing",
    /// The stream's extra info is longer than 1024 bytes.
    ExtraInfoTooLong = 1_003_005 => "stream extra info is longer than 1024 bytes",
    /// The SFU refused or could not parse the publishing offer.
    PublishNegotiationFailed = 1_003_006 => "the server could not negotiate media for this stream",
    /// The publishing peer connection failed (ICE/DTLS); the SDK retries.
    PublishTransportFailed = 1_003_007 => "the media connection for publishing failed; retrying",
    /// Media was offered for a stream this session does not publish.
    NotStreamOwner = 1_003_008 => "this session does not publish that stream",
    /// Media reached the SFU only over TCP: UDP to it is blocked on the way.
    MediaUdpBlocked = 1_003_009 => "media reached the server only over TCP: UDP is blocked on the way",

    // ---- player ----
    /// The stream is already being played.
    AlreadyPlaying = 1_004_001 => "this stream is already being played",
    /// Stop was called for a stream that is not being played.
    NotPlaying = 1_004_002 => "this stream is not being played",
    /// The SFU refused or could not parse the playing offer.
    PlayNegotiationFailed = 1_004_003 => "the server could not negotiate media for playing this stream",
    /// The playing peer connection failed (ICE/DTLS); the SDK retries.
    PlayTransportFailed = 1_004_004 => "the media connection for playing failed; retrying",
    /// The played stream stopped; the player waits for it to return.
    StreamEnded = 1_004_005 => "the stream stopped; waiting for it to be published again",
    /// Media was offered for a stream this session has not asked to play, or that is not live.
    StreamNotLive = 1_004_006 => "the stream is not live or was not requested",

    // ---- device ----
    /// No camera is present (or the chosen one is gone).
    NoCamera = 1_006_001 => "no camera found",
    /// No microphone is present (or the chosen one is gone).
    NoMicrophone = 1_006_002 => "no microphone found",
    /// The chosen device ID does not exist.
    DeviceNotFound = 1_006_003 => "no device with that ID",
    /// The device exists but could not be opened (busy, unsupported format).
    DeviceOpenFailed = 1_006_004 => "the device could not be opened; is another application using it?",
    /// The camera has no zoom control.
    ZoomUnsupported = 1_006_005 => "this camera does not support zoom",
    /// The video config is out of range (resolution, fps or bitrate).
    InvalidVideoConfig = 1_006_006 => "video config out of range",
    /// A pushed custom frame does not match its declared format and size.
    InvalidFrame = 1_006_007 => "custom frame does not match its format and size",
    /// The user (or the system) refused access: a screen share cancelled
    /// in the portal's dialog.
    PermissionDenied = 1_006_008 => "permission denied: the screen share was cancelled",
    /// The shared window or screen no longer exists (closed, or the screen
    /// went away).
    ScreenSourceGone = 1_006_009 => "the shared window or screen is gone",
    /// No display server to capture: no `DISPLAY`, or it refused or dropped
    /// the connection.
    NoDisplay = 1_006_010 => "no display server to capture",
    /// The display server or its pixel format cannot be captured.
    ScreenCaptureUnsupported = 1_006_011 => "screen capture is not supported on this display",
    /// The display server refused a capture request.
    ScreenCaptureFailed = 1_006_012 => "screen capture failed",

    // ---- token ----
    /// The token is not in Confer's token format.
    TokenMalformed = 1_007_001 => "token is malformed",
    /// The token's signature does not verify: forged or minted with another secret.
    TokenForged = 1_007_002 => "token signature is invalid",
    /// The token has expired.
    TokenExpired = 1_007_003 => "token has expired",
    /// The token was minted for another AppID.
    TokenWrongApp = 1_007_004 => "token was issued for another AppID",
    /// The token was minted for another user ID.
    TokenWrongUser = 1_007_005 => "token was issued for another user",
    /// The token was minted for another room.
    TokenWrongRoom = 1_007_006 => "token was issued for another room",
    /// The token does not grant the login privilege.
    TokenNoLoginPrivilege = 1_007_007 => "token does not grant the login privilege",
    /// The token does not grant the publish privilege.
    TokenNoPublishPrivilege = 1_007_008 => "token does not grant the publish privilege",
    /// Minting tokens over HTTP is disabled on this server (production config).
    TokenMintingDisabled = 1_007_009 => "token minting is disabled on this server",
    /// The token's JWT header names an algorithm other than HS256 (`none`,
    /// RS256 with the secret as a public key, ...): refused.
    TokenAlgorithmRefused = 1_007_010 => "token must be signed with HS256; other algorithms and alg none are refused",
    /// The token is longer than 2048 bytes.
    TokenTooLarge = 1_007_011 => "token is longer than 2048 bytes",
    /// The token expires further ahead than the longest lifetime a server
    /// accepts (30 days).
    TokenLifetimeTooLong = 1_007_012 => "token lives longer than the 30-day maximum",
    /// The token's `nbf` (not before) is still in the future.
    TokenNotYetValid = 1_007_013 => "token is not valid yet (its nbf is in the future)",

    // ---- network ----
    /// A TURN server did not answer (nothing came back in time).
    TurnUnreachable = 1_008_001 => "the TURN server did not answer",
    /// A TURN server refused the credentials (401: missing, wrong or expired).
    TurnUnauthorized = 1_008_002 => "the TURN server refused the credentials",
    /// A TURN server refused the allocation: quota (486) or capacity (508).
    TurnQuotaReached = 1_008_003 => "the TURN server has no allocation left for this user or server",
    /// A TURN server answered with another error.
    TurnFailed = 1_008_004 => "the TURN allocation failed",
    /// A TURN URL this client cannot use (unknown scheme or transport).
    TurnUrlUnsupported = 1_008_005 => "this TURN URL is not supported",

    // ---- server / wire ----
    /// A message was not valid JSON or did not match its schema.
    MalformedMessage = 1_009_001 => "malformed message",
    /// A message had an unknown `type`.
    UnknownMessage = 1_009_002 => "unknown message type",
    /// A message was larger than the server's limit.
    MessageTooLarge = 1_009_003 => "message too large",
    /// The connection sent messages faster than allowed; it is closed.
    RateLimited = 1_009_004 => "too many messages; connection closed",
    /// Binary WebSocket frames are not part of the protocol.
    BinaryNotSupported = 1_009_005 => "binary frames are not supported",
    /// The peer speaks another protocol version.
    UnsupportedVersion = 1_009_006 => "unsupported protocol version",
    /// A message that needs a session arrived before login.
    LoginRequired = 1_009_007 => "log in first",
    /// A message arrived that is not valid in the session's current state.
    WrongState = 1_009_008 => "message not valid in the current state",
    /// The server is shutting down.
    ServerShuttingDown = 1_009_009 => "the server is shutting down",
    /// The server has reached its connection limit.
    TooManyConnections = 1_009_010 => "the server has reached its connection limit",
    /// The client did not log in within the allowed time after connecting.
    LoginTimeoutOnServer = 1_009_011 => "no login within the allowed time",
    /// An internal server error.
    Internal = 1_009_012 => "internal server error",
    /// `GET /updates/...`: no such file in the update feed, or the server
    /// hosts no update feed (`confer serve --update-feed DIR`).
    UpdateFileNotFound = 1_009_013 => "no such file in this server's update feed",
    /// A server API call without an `Authorization: Bearer` admin token.
    AdminTokenRequired = 1_009_014 => "an admin token is required: Authorization: Bearer <token> (confer admin-token)",
    /// A server API call with a valid token that is not an admin token
    /// (a login token, say).
    NotAdminToken = 1_009_015 => "this token does not grant admin access",
    /// A server API call named a room with nobody in it on this server.
    RoomNotFound = 1_009_016 => "no such room on this server",
    /// A server API call named a user who is not in the room.
    UserNotFound = 1_009_017 => "no such user in this room",
    /// A server API call named a stream that is not published in the room.
    StreamNotFound = 1_009_018 => "no such stream in this room",
    /// A server API path that does not exist.
    ApiNotFound = 1_009_019 => "no such server API endpoint",
}

impl ErrorCode {
    /// The numeric code, as carried on the wire and in events.
    pub fn code(self) -> u32 {
        self as u32
    }

    /// The module this code belongs to.
    pub fn module(self) -> ErrorModule {
        match self.code() / 1000 {
            0 => ErrorModule::None,
            1000 => ErrorModule::Engine,
            1002 => ErrorModule::Room,
            1003 => ErrorModule::Publisher,
            1004 => ErrorModule::Player,
            1006 => ErrorModule::Device,
            1007 => ErrorModule::Token,
            1008 => ErrorModule::Network,
            _ => ErrorModule::Server,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.name(), self.code(), self.message())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.code())
    }
}

/// In TypeScript a code is one of the numbers of the generated `ErrorCode`
/// table (contract/ writes the table itself from [`ErrorCode::ALL`]).
#[cfg(feature = "ts")]
impl ts_rs::TS for ErrorCode {
    type WithoutGenerics = Self;
    type OptionInnerType = Self;

    fn name(_: &ts_rs::Config) -> String {
        "ErrorCode".to_owned()
    }

    fn inline(_: &ts_rs::Config) -> String {
        "number".to_owned()
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = u32::deserialize(d)?;
        ErrorCode::from_code(code)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown error code {code}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_and_round_trip() {
        let mut seen = HashSet::new();
        for &c in ErrorCode::ALL {
            assert!(seen.insert(c.code()), "duplicate code {}", c.code());
            assert_eq!(ErrorCode::from_code(c.code()), Some(c));
            assert!(!c.message().is_empty());
        }
    }

    #[test]
    fn modules_follow_ranges() {
        assert_eq!(ErrorCode::Success.module(), ErrorModule::None);
        assert_eq!(ErrorCode::EngineDestroyed.module(), ErrorModule::Engine);
        assert_eq!(ErrorCode::KickedOut.module(), ErrorModule::Room);
        assert_eq!(ErrorCode::StreamIdInUse.module(), ErrorModule::Publisher);
        assert_eq!(ErrorCode::NotPlaying.module(), ErrorModule::Player);
        assert_eq!(ErrorCode::NoCamera.module(), ErrorModule::Device);
        assert_eq!(ErrorCode::TokenExpired.module(), ErrorModule::Token);
        assert_eq!(ErrorCode::TurnUnauthorized.module(), ErrorModule::Network);
        assert_eq!(ErrorCode::RateLimited.module(), ErrorModule::Server);
    }

    #[test]
    fn serializes_as_number() {
        assert_eq!(
            serde_json::to_string(&ErrorCode::KickedOut).unwrap(),
            "1002013"
        );
        assert!(serde_json::from_str::<ErrorCode>("42").is_err());
    }
}
