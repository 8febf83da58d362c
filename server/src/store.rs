//! Room state that must be shared by every server node: per-app unique claims
//! (user ID -> session, stream ID -> publisher), room membership and the
//! counts the limits check.
//!
//! The trait is shaped for a networked store (Redis): every call is async,
//! fallible and self-contained (owned arguments, nothing borrowed across
//! calls), and each one is a single atomic operation there (a `SET NX`, a
//! compare-and-delete, or a small script). Live connections are not here:
//! they stay in the [`Hub`](crate::hub::Hub) of the node that holds them.

pub(crate) mod memory;
pub(crate) mod redis;

pub use self::redis::RedisStore;
pub use memory::MemoryStore;

use protocol::ErrorCode;
use std::future::Future;
use std::pin::Pin;

/// The future every [`RoomStore`] call returns.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// The store could not do what was asked (network, backend down, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The backend is unreachable or failed.
    #[error("room store unavailable: {0}")]
    Unavailable(String),
    /// The backend answered something this server never writes (a networked
    /// store's contents are untrusted input).
    #[error("room store answered invalid data: {0}")]
    Invalid(String),
}

/// The outcome of a set-if-absent claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key was free and now belongs to the caller.
    Granted,
    /// The caller already held it.
    AlreadyHeld,
    /// Another session holds it.
    HeldBy(String),
}

/// A session's member entry in a room: a user of an app in the room,
/// through that session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The app.
    pub app_id: u32,
    /// The room.
    pub room_id: String,
    /// The user.
    pub user_id: String,
    /// The session.
    pub session_id: String,
}

/// An app-wide ID (a user's or a stream's) and the session that claims,
/// holds or releases it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    /// The app.
    pub app_id: u32,
    /// The user or stream ID.
    pub id: String,
    /// The session.
    pub session_id: String,
}

/// A request to become a member of a room (created if missing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRequest {
    /// The joining session's entry.
    pub member: Member,
    /// Member limit to set if this join creates the room.
    pub room_limit: usize,
    /// Rooms the app may have.
    pub max_rooms: usize,
    /// Users the app may have.
    pub max_users: usize,
}

/// Why a join was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JoinRefusal {
    /// The app has its maximum number of rooms.
    #[error("too many rooms")]
    TooManyRooms,
    /// The app has its maximum number of users.
    #[error("too many users")]
    TooManyUsers,
    /// The room has its maximum number of members.
    #[error("room full")]
    RoomFull,
}

impl JoinRefusal {
    /// The error code reported to the client.
    pub fn code(self) -> ErrorCode {
        match self {
            JoinRefusal::TooManyRooms => ErrorCode::TooManyRooms,
            JoinRefusal::TooManyUsers => ErrorCode::TooManyUsers,
            JoinRefusal::RoomFull => ErrorCode::RoomFull,
        }
    }
}

/// What a successful join changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    /// The session this user had in this room before, now replaced.
    pub replaced: Option<String>,
}

/// How many rooms and users an app has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppCounts {
    /// Rooms.
    pub rooms: usize,
    /// Room members.
    pub users: usize,
}

/// Shared room state. See the module docs.
pub trait RoomStore: Send + Sync + 'static {
    /// Adds the session as the user's member entry in the room, creating the
    /// room, after checking the app's room and user limits and the room's
    /// member limit. A user already in the room is replaced in place (no limit
    /// applies).
    fn join_room(&self, request: JoinRequest) -> StoreFuture<'_, Result<Joined, JoinRefusal>>;

    /// Removes the user's member entry if it still belongs to the
    /// member's session; removes the room when it is empty. `true` if an
    /// entry was removed.
    fn leave_room(&self, member: Member) -> StoreFuture<'_, bool>;

    /// Claims the user ID for the session if nobody holds it (set-if-absent).
    fn claim_user(&self, user: Hold) -> StoreFuture<'_, Claim>;

    /// Takes the user ID over for the session (kick-out); returns the previous
    /// holder.
    fn take_over_user(&self, user: Hold) -> StoreFuture<'_, Option<String>>;

    /// Releases the user ID if the session holds it (compare-and-delete).
    fn release_user(&self, user: Hold) -> StoreFuture<'_, bool>;

    /// Claims the stream ID for the publishing session (set-if-absent) in
    /// `room_id`.
    fn claim_stream(&self, stream: Hold, room_id: String) -> StoreFuture<'_, Claim>;

    /// Releases the stream ID if the session holds it (compare-and-delete).
    fn release_stream(&self, stream: Hold) -> StoreFuture<'_, bool>;

    /// The app's room and user counts.
    fn app_counts(&self, app_id: u32) -> StoreFuture<'_, AppCounts>;
}

/// A store write left to do after the hub changed (done without holding the
/// hub's lock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cleanup {
    /// [`RoomStore::leave_room`] for the leaving session's entry.
    LeaveRoom(Member),
    /// [`RoomStore::release_user`] for the session that held it.
    ReleaseUser(Hold),
    /// [`RoomStore::release_stream`] for the session that published it.
    ReleaseStream(Hold),
}

/// Applies cleanups in order; failures are logged (the claims then expire in
/// a networked store with their leases).
pub(crate) async fn apply_cleanups(store: &dyn RoomStore, cleanups: Vec<Cleanup>) {
    for cleanup in cleanups {
        let done = match cleanup {
            Cleanup::LeaveRoom(member) => store.leave_room(member),
            Cleanup::ReleaseUser(user) => store.release_user(user),
            Cleanup::ReleaseStream(stream) => store.release_stream(stream),
        };
        if let Err(error) = done.await {
            tracing::warn!(%error, "room store cleanup failed");
        }
    }
}
