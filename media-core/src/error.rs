//! Errors returned at once by engine calls, one small enum per area. Each
//! variant maps to one [`ErrorCode`] through `.code()`.

use protocol::ErrorCode;
use std::path::PathBuf;

/// Errors from creating or configuring an engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The engine has been destroyed.
    #[error("the engine has been destroyed")]
    EngineDestroyed,
    /// The profile's AppID is 0.
    #[error("AppID must be a non-zero number")]
    InvalidAppId,
    /// The profile's AppSign is neither empty nor 64 hexadecimal characters.
    #[error("AppSign must be 64 hexadecimal characters (or empty for token-only logins)")]
    InvalidAppSign,
    /// The profile's server address is not a `ws://` or `wss://` URL.
    #[error("server must be a ws:// or wss:// URL")]
    InvalidServerUrl,
    /// `set_log_config` got an unusable directory or size, or another global
    /// tracing subscriber is already installed.
    #[error("invalid log config: {0}")]
    InvalidLogConfig(String),
    /// `set_log_config` could not create its directory.
    #[error("invalid log config: cannot create {}: {source}", dir.display())]
    LogDir {
        /// The directory.
        dir: PathBuf,
        /// Why it could not be created.
        #[source]
        source: std::io::Error,
    },
    /// `set_log_config` could not open its log file.
    #[error("invalid log config: cannot open {}: {source}", path.display())]
    LogFile {
        /// The file.
        path: PathBuf,
        /// Why it could not be opened.
        #[source]
        source: std::io::Error,
    },
    /// Another global tracing subscriber is already installed.
    #[error("invalid log config: cannot install the log subscriber: {0}")]
    LogSubscriber(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// `Engine::create` was called outside a Tokio runtime.
    #[error("the engine must be created inside a Tokio runtime")]
    NoRuntime,
    /// The profile's TLS options are unusable (the extra CA is not PEM, the
    /// pin not a SHA-256).
    #[error("the TLS options are invalid: the CA must be PEM, the pin a SHA-256 fingerprint")]
    InvalidTlsConfig,
}

impl EngineError {
    /// The error code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            EngineError::EngineDestroyed => ErrorCode::EngineDestroyed,
            EngineError::InvalidAppId => ErrorCode::InvalidAppId,
            EngineError::InvalidAppSign => ErrorCode::InvalidAppSign,
            EngineError::InvalidServerUrl => ErrorCode::InvalidServerUrl,
            EngineError::InvalidLogConfig(_)
            | EngineError::LogDir { .. }
            | EngineError::LogFile { .. }
            | EngineError::LogSubscriber(_) => ErrorCode::InvalidLogConfig,
            EngineError::NoRuntime => ErrorCode::NoRuntime,
            EngineError::InvalidTlsConfig => ErrorCode::InvalidTlsConfig,
        }
    }
}

/// Errors from room calls (`login_room`, `logout_room`, `renew_token`,
/// `send_broadcast_message`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomError {
    /// The engine has been destroyed.
    #[error("the engine has been destroyed")]
    EngineDestroyed,
    /// The call needs a room; call `login_room` first.
    #[error("not logged in to a room; call login_room first")]
    NotLoggedIn,
    /// `login_room` was called while logged in (or logging in).
    #[error("already logged in to a room; call logout_room first")]
    AlreadyLoggedIn,
    /// The room ID breaks the room ID rule.
    #[error("room ID must be 1-128 bytes of letters, digits and ~!@#$%^&*()_+=-`;',.<>/\\")]
    InvalidRoomId,
    /// The user ID breaks the user ID rule.
    #[error("user ID must be 1-64 bytes of letters, digits and ~!@#$%^&*()_+=-`;',.<>/\\")]
    InvalidUserId,
    /// The user name breaks the user name rule.
    #[error("user name must be at most 256 bytes without control characters")]
    InvalidUserName,
    /// The profile has no AppSign and the room config no token: there is no
    /// way to log in.
    #[error("no AppSign in the engine profile and no token in the room config")]
    MissingCredentials,
    /// The token is empty or longer than the token limit.
    #[error("the token is empty or too long")]
    InvalidToken,
    /// A broadcast message was empty.
    #[error("broadcast message is empty")]
    BroadcastEmpty,
    /// A broadcast message was longer than 1024 bytes.
    #[error("broadcast message is longer than 1024 bytes")]
    BroadcastTooLong,
    /// The server did not answer within 5 s.
    #[error("the server did not answer in time")]
    RequestTimeout,
    /// The user logged out (or the room session ended) while the request was pending.
    #[error("logged out before the request completed")]
    LoggedOut,
    /// The server refused the request.
    #[error("the server refused the request: {0}")]
    Rejected(ErrorCode),
}

impl RoomError {
    /// The error code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            RoomError::EngineDestroyed => ErrorCode::EngineDestroyed,
            RoomError::NotLoggedIn => ErrorCode::NotLoggedIn,
            RoomError::AlreadyLoggedIn => ErrorCode::AlreadyLoggedIn,
            RoomError::InvalidRoomId => ErrorCode::InvalidRoomId,
            RoomError::InvalidUserId => ErrorCode::InvalidUserId,
            RoomError::InvalidUserName => ErrorCode::InvalidUserName,
            RoomError::MissingCredentials => ErrorCode::InvalidAppSign,
            RoomError::InvalidToken => ErrorCode::TokenMalformed,
            RoomError::BroadcastEmpty => ErrorCode::BroadcastEmpty,
            RoomError::BroadcastTooLong => ErrorCode::BroadcastTooLong,
            RoomError::RequestTimeout => ErrorCode::RequestTimeout,
            RoomError::LoggedOut => ErrorCode::LoggedOut,
            RoomError::Rejected(code) => *code,
        }
    }
}

/// Errors from publishing calls.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublisherError {
    /// The engine has been destroyed.
    #[error("the engine has been destroyed")]
    EngineDestroyed,
    /// Publishing needs a room; call `login_room` first.
    #[error("not logged in to a room; call login_room first")]
    NotLoggedIn,
    /// The stream ID breaks the stream ID rule.
    #[error("stream ID must be 1-256 bytes of A-Z a-z 0-9 _ - .")]
    InvalidStreamId,
    /// The other channel of this engine already publishes this stream ID.
    #[error("this engine already publishes this stream ID on another channel")]
    StreamIdInUse,
    /// This channel is already publishing.
    #[error("this channel is already publishing a stream")]
    AlreadyPublishing,
    /// This channel is not publishing.
    #[error("this channel is not publishing")]
    NotPublishing,
}

impl PublisherError {
    /// The error code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            PublisherError::EngineDestroyed => ErrorCode::EngineDestroyed,
            PublisherError::NotLoggedIn => ErrorCode::NotLoggedIn,
            PublisherError::InvalidStreamId => ErrorCode::InvalidStreamId,
            PublisherError::StreamIdInUse => ErrorCode::StreamIdInUse,
            PublisherError::AlreadyPublishing => ErrorCode::AlreadyPublishing,
            PublisherError::NotPublishing => ErrorCode::NotPublishing,
        }
    }
}

/// Errors from playing calls.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlayerError {
    /// The engine has been destroyed.
    #[error("the engine has been destroyed")]
    EngineDestroyed,
    /// Playing needs a room; call `login_room` first.
    #[error("not logged in to a room; call login_room first")]
    NotLoggedIn,
    /// The stream ID breaks the stream ID rule.
    #[error("stream ID must be 1-256 bytes of A-Z a-z 0-9 _ - .")]
    InvalidStreamId,
    /// The stream is already being played.
    #[error("this stream is already being played")]
    AlreadyPlaying,
    /// The stream is not being played.
    #[error("this stream is not being played")]
    NotPlaying,
}

impl PlayerError {
    /// The error code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            PlayerError::EngineDestroyed => ErrorCode::EngineDestroyed,
            PlayerError::NotLoggedIn => ErrorCode::NotLoggedIn,
            PlayerError::InvalidStreamId => ErrorCode::InvalidStreamId,
            PlayerError::AlreadyPlaying => ErrorCode::AlreadyPlaying,
            PlayerError::NotPlaying => ErrorCode::NotPlaying,
        }
    }
}
