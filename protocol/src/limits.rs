//! Size and rate limits shared by the SDK and the server.

/// Longest room ID, in bytes.
pub const MAX_ROOM_ID_BYTES: usize = 128;
/// Longest user ID, in bytes.
pub const MAX_USER_ID_BYTES: usize = 64;
/// Longest user name, in bytes.
pub const MAX_USER_NAME_BYTES: usize = 256;
/// Longest stream ID, in bytes.
pub const MAX_STREAM_ID_BYTES: usize = 256;
/// Longest stream extra info, in bytes.
pub const MAX_EXTRA_INFO_BYTES: usize = 1024;
/// Longest broadcast message text, in bytes.
pub const MAX_BROADCAST_BYTES: usize = 1024;
/// Broadcast messages allowed per room per second.
pub const BROADCASTS_PER_ROOM_PER_SECOND: u32 = 10;
/// Largest signaling message the server accepts, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;
/// Longest token, in bytes.
pub const MAX_TOKEN_BYTES: usize = 2048;
