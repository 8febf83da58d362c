//! Confer's wire protocol: the only crate the SDK (`media-core`) and the room
//! server share.
//!
//! It holds pure data and pure functions, no I/O:
//!
//! - [`message`]: the versioned JSON signaling messages, one enum per
//!   direction ([`ClientMessage`], [`ServerMessage`]).
//! - [`ids`]: the ID rules (room, user, stream, user name, extra data), checked
//!   on both sides with the same code.
//! - [`ErrorCode`]: one table of every error a user can see, grouped by module.
//! - [`token`]: HMAC-SHA256 login tokens (mint and verify).
//! - [`auth`]: the AppSign challenge proof (the sign never crosses the wire).
//!
//! # The signaling flow
//!
//! ```text
//! client                                   server
//!   | ---- WebSocket connect /ws ----------> |
//!   | <--- Challenge {nonce} --------------- |
//!   | ---- Login {app, room, user, proof} -> |   proof = HMAC(AppSign, nonce, ...) or a Token
//!   | <--- LoginOk {session, users, streams} |   or LoginFailed {code} and close
//!   | ---- Heartbeat {ack} every interval -> |
//!   | <--- HeartbeatAck -------------------- |
//!   | <--- Event {seq, UserUpdate|...} ----- |   numbered; `ack` tells the server what arrived
//!   |         ... connection lost ...        |
//!   | ---- connect, Resume {session, seq} -> |   within the heartbeat timeout
//!   | <--- Resumed {missed events} --------- |   or ResumeFailed {code}: log in again
//!   | ---- Logout -------------------------> |
//! ```
//!
//! ```
//! use protocol::{ClientMessage, ServerMessage};
//! let msg = ClientMessage::Heartbeat { ack: 7 };
//! let text = msg.encode();
//! assert_eq!(ClientMessage::decode(&text).unwrap(), msg);
//! assert!(ServerMessage::decode("{\"type\":\"nope\"}").is_err());
//! ```

pub mod auth;
mod error_code;
pub mod ids;
pub mod limits;
pub mod message;
pub mod token;

pub use error_code::{ErrorCode, ErrorModule};
pub use message::{
    AckBody, BroadcastMessage, ClientMessage, Credentials, DecodeError, IceCandidate, IceServer,
    Login, LoginOk, MediaRole, Resume, RoomEvent, SequencedEvent, ServerMessage, StreamInfo,
    UpdateType, UserInfo, VideoLayer,
};

/// The signaling protocol version this crate speaks. Sent in `Challenge`,
/// `Login` and `Resume`; a peer with another version is refused with
/// [`ErrorCode::UnsupportedVersion`].
pub const PROTOCOL_VERSION: u16 = 1;
