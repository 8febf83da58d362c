//! ID rules, checked on both sides with the same code.
//!
//! | ID | length | characters |
//! |---|---|---|
//! | room ID | 1-128 bytes | letters, digits, `` ~!@#$%^&*()_+=-`;',.<>/\ `` |
//! | user ID | 1-64 bytes | as room ID |
//! | user name | 0-256 bytes | any UTF-8 without control characters |
//! | stream ID | 1-256 bytes | `A-Z a-z 0-9 _ - .` |
//!
//! Each validated ID is a newtype ([`RoomId`], [`UserId`], [`StreamId`]);
//! wire messages carry plain strings and each side validates at its edge.

use crate::limits::{
    MAX_EXTRA_INFO_BYTES, MAX_ROOM_ID_BYTES, MAX_STREAM_ID_BYTES, MAX_USER_ID_BYTES,
    MAX_USER_NAME_BYTES,
};
use crate::ErrorCode;
use std::fmt;

/// Why an ID was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The room ID breaks the room ID rule.
    #[error("invalid room ID {0:?}: must be 1-128 bytes of letters, digits and ~!@#$%^&*()_+=-`;',.<>/\\")]
    RoomId(String),
    /// The user ID breaks the user ID rule.
    #[error("invalid user ID {0:?}: must be 1-64 bytes of letters, digits and ~!@#$%^&*()_+=-`;',.<>/\\")]
    UserId(String),
    /// The user name breaks the user name rule.
    #[error("invalid user name: must be at most 256 bytes without control characters")]
    UserName,
    /// The stream ID breaks the stream ID rule.
    #[error("invalid stream ID {0:?}: must be 1-256 bytes of A-Z a-z 0-9 _ - .")]
    StreamId(String),
    /// The extra info is too long.
    #[error("extra info is {0} bytes; at most 1024 allowed")]
    ExtraInfo(usize),
}

impl IdError {
    /// The error code reported for this refusal.
    pub fn code(&self) -> ErrorCode {
        match self {
            IdError::RoomId(_) => ErrorCode::InvalidRoomId,
            IdError::UserId(_) => ErrorCode::InvalidUserId,
            IdError::UserName => ErrorCode::InvalidUserName,
            IdError::StreamId(_) => ErrorCode::InvalidStreamId,
            IdError::ExtraInfo(_) => ErrorCode::ExtraInfoTooLong,
        }
    }
}

const ID_SPECIALS: &str = "~!@#$%^&*()_+=-`;',.<>/\\";

fn is_room_or_user_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || ID_SPECIALS.contains(c)
}

fn is_stream_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

fn id_ok(s: &str, max: usize, allowed: fn(char) -> bool) -> bool {
    !s.is_empty() && s.len() <= max && s.chars().all(allowed)
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $max:expr, $allowed:expr, $err:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Validates `s` against the rule for this ID.
            pub fn new(s: impl Into<String>) -> Result<Self, IdError> {
                let s = s.into();
                if id_ok(&s, $max, $allowed) {
                    Ok(Self(s))
                } else {
                    Err(IdError::$err(truncate_for_error(&s)))
                }
            }

            /// The ID as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The ID as an owned string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

id_type!(
    /// A validated room ID (unique within an AppID).
    RoomId, MAX_ROOM_ID_BYTES, is_room_or_user_char, RoomId
);
id_type!(
    /// A validated user ID (unique within an AppID).
    UserId, MAX_USER_ID_BYTES, is_room_or_user_char, UserId
);
id_type!(
    /// A validated stream ID (unique within an AppID).
    StreamId, MAX_STREAM_ID_BYTES, is_stream_char, StreamId
);

/// Checks a user name: at most 256 bytes, no control characters. Empty is
/// allowed (the user ID is shown instead).
pub fn check_user_name(name: &str) -> Result<(), IdError> {
    if name.len() <= MAX_USER_NAME_BYTES && !name.chars().any(char::is_control) {
        Ok(())
    } else {
        Err(IdError::UserName)
    }
}

/// Checks stream extra info: at most 1024 bytes.
pub fn check_extra_info(info: &str) -> Result<(), IdError> {
    if info.len() <= MAX_EXTRA_INFO_BYTES {
        Ok(())
    } else {
        Err(IdError::ExtraInfo(info.len()))
    }
}

/// Keeps error messages bounded when someone sends a megabyte of ID.
fn truncate_for_error(s: &str) -> String {
    const SHOWN: usize = 80;
    if s.len() <= SHOWN {
        return s.to_owned();
    }
    let mut end = SHOWN;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn room_id_rules() {
        assert!(RoomId::new("room-1_a.b~!@#$%^&*()+=`;',<>/\\").is_ok());
        assert_eq!(
            RoomId::new("").unwrap_err().code(),
            ErrorCode::InvalidRoomId
        );
        assert!(RoomId::new("a".repeat(128)).is_ok());
        assert!(RoomId::new("a".repeat(129)).is_err());
        assert!(RoomId::new("has space").is_err());
        assert!(RoomId::new("ünï").is_err());
    }

    #[test]
    fn user_id_rules() {
        assert!(UserId::new("user_1").is_ok());
        assert!(UserId::new("u".repeat(64)).is_ok());
        assert_eq!(
            UserId::new("u".repeat(65)).unwrap_err().code(),
            ErrorCode::InvalidUserId
        );
        assert!(UserId::new("").is_err());
    }

    #[test]
    fn stream_id_rules() {
        assert!(StreamId::new("Stream_1-a.b").is_ok());
        assert!(StreamId::new("s".repeat(256)).is_ok());
        assert!(StreamId::new("s".repeat(257)).is_err());
        assert!(StreamId::new("a/b").is_err());
        assert!(StreamId::new("").is_err());
    }

    #[test]
    fn names_and_extra_info() {
        assert!(check_user_name("").is_ok());
        assert!(check_user_name("Zoë Ångström 🎥").is_ok());
        assert!(check_user_name("bad\nname").is_err());
        assert!(check_user_name(&"n".repeat(257)).is_err());
        assert!(check_extra_info(&"x".repeat(1024)).is_ok());
        assert_eq!(
            check_extra_info(&"x".repeat(1025)).unwrap_err().code(),
            ErrorCode::ExtraInfoTooLong
        );
    }

    #[test]
    fn error_text_is_bounded() {
        let err = RoomId::new("é".repeat(10_000)).unwrap_err();
        assert!(err.to_string().len() < 300);
    }

    proptest! {
        #[test]
        fn any_string_is_accepted_or_refused_without_panic(s in ".{0,300}") {
            let _ = RoomId::new(s.clone());
            let _ = UserId::new(s.clone());
            let _ = StreamId::new(s.clone());
            let _ = check_user_name(&s);
        }

        #[test]
        fn valid_stream_ids_are_accepted(s in "[A-Za-z0-9_.-]{1,256}") {
            prop_assert!(StreamId::new(s).is_ok());
        }
    }
}
