//! The one error type every command returns, as the UI receives it:
//! `{ "code": <protocol::ErrorCode number>, "message": "..." }`.

use protocol::ErrorCode;
use serde::Serialize;

/// A command's failure: a `protocol::ErrorCode` number (never 0) and a
/// human-readable message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[error("{message} ({code})")]
pub struct CommandError {
    /// The `protocol::ErrorCode` number.
    pub code: u32,
    /// What went wrong, for people.
    pub message: String,
}

impl CommandError {
    /// An error with `code` and a message of its own.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        CommandError {
            code: code.code(),
            message: message.into(),
        }
    }

    /// An SDK call before `create_engine` (or after `destroy_engine`). The
    /// protocol has no "engine not created" code; the nearest is
    /// `EngineDestroyed`.
    pub fn no_engine() -> Self {
        Self::new(
            ErrorCode::EngineDestroyed,
            "no engine: call create_engine first",
        )
    }

    /// An argument the command cannot use (unknown enum value, bad shape).
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::MalformedMessage, message)
    }

    /// An app-side failure outside the SDK (files, the embedded server).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }
}

/// `From` for every media-core error: they all carry `.code()`.
macro_rules! from_sdk_errors {
    ($($error:ty),* $(,)?) => {$(
        impl From<$error> for CommandError {
            fn from(error: $error) -> Self {
                CommandError::new(error.code(), error.to_string())
            }
        }
    )*};
}

from_sdk_errors!(
    media_core::EngineError,
    media_core::RoomError,
    media_core::PublisherError,
    media_core::PlayerError,
    media_core::capture::DeviceError,
    media_core::codec::CodecError,
    media_core::render::RenderError,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdk_errors_keep_their_code_and_message() {
        let error = CommandError::from(media_core::RoomError::InvalidRoomId);
        assert_eq!(error.code, ErrorCode::InvalidRoomId.code());
        assert!(error.message.starts_with("room ID must be"));
        let json = serde_json::to_value(&error).unwrap();
        assert_eq!(json["code"], 1_002_003);
        assert!(json["message"].is_string());
        assert_ne!(CommandError::no_engine().code, 0);
    }
}
