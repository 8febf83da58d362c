//! The Redis [`RoomStore`]: the room state every node of a cluster shares
//! (`--redis URL`).
//!
//! Each call is one Lua script or one command, so it is atomic on the Redis
//! server. A claim records its holder as `node|session`: a claim whose node's
//! lease (`confer:node:{id}`, see [`crate::nodes`]) is gone is free to take,
//! so a node that died leaves nothing that blocks its users on another node.
//! Everything read back from Redis is untrusted: answers of the wrong shape
//! are [`StoreError::Invalid`], never a panic.
//!
//! Keys, per app `A`:
//! - `confer:app:A:rooms`: set of the app's room IDs;
//! - `confer:app:A:limits`: hash room ID -> member limit;
//! - `confer:app:A:members`: the app's member count;
//! - `confer:app:A:room:R`: hash user ID -> holder, the members of room `R`;
//! - `confer:app:A:owners`: hash room ID -> the node that owns it;
//! - `confer:app:A:users` and `confer:app:A:streams`: hash ID -> holder.

use super::{
    AppCounts, Claim, Hold, JoinRefusal, JoinRequest, Joined, Member, RoomStore, StoreError,
    StoreFuture,
};
use redis::aio::ConnectionManager;
use redis::{ErrorKind, RedisError, Script};
use std::sync::LazyLock;

/// The prefix of every key.
const PREFIX: &str = "confer";

/// The key of node `id`'s lease (its value: the node's signaling URL).
pub(crate) fn node_key(id: &str) -> String {
    format!("{PREFIX}:node:{id}")
}

/// The prefix [`node_key`] puts before a node's ID (for scripts).
pub(crate) fn node_key_prefix() -> String {
    node_key("")
}

/// The pub/sub channel on which node `id` hears of its sessions whose user
/// logged in on another node (messages `app_id|node|session`).
pub(crate) fn kick_channel(id: &str) -> String {
    format!("{PREFIX}:kick:{id}")
}

/// The keys of one app's records.
pub(crate) struct AppKeys {
    base: String,
}

impl AppKeys {
    /// The keys of `app_id`.
    pub(crate) fn of(app_id: u32) -> Self {
        AppKeys {
            base: format!("{PREFIX}:app:{app_id}"),
        }
    }

    fn key(&self, what: &str) -> String {
        format!("{}:{what}", self.base)
    }

    /// The set of room IDs.
    pub(crate) fn rooms(&self) -> String {
        self.key("rooms")
    }

    /// Room ID -> member limit.
    pub(crate) fn limits(&self) -> String {
        self.key("limits")
    }

    /// The member count.
    pub(crate) fn members(&self) -> String {
        self.key("members")
    }

    /// Room ID -> owning node.
    pub(crate) fn owners(&self) -> String {
        self.key("owners")
    }

    /// The members of `room_id`.
    pub(crate) fn room(&self, room_id: &str) -> String {
        self.key(&format!("room:{room_id}"))
    }

    /// User ID -> holder.
    pub(crate) fn users(&self) -> String {
        self.key("users")
    }

    fn streams(&self) -> String {
        self.key("streams")
    }
}

/// Joins a room. KEYS: room, rooms, members, limits, owners. ARGV: room ID,
/// user ID, holder, limit, max rooms, max users, node ID. Answers
/// `{"joined", previous holder or ""}` or `{"refused", why}`.
static JOIN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local exists = redis.call('EXISTS', KEYS[1]) == 1
local prev = redis.call('HGET', KEYS[1], ARGV[2])
if not exists and redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[5]) then
  return {'refused', 'rooms'}
end
if not prev and tonumber(redis.call('GET', KEYS[3]) or '0') >= tonumber(ARGV[6]) then
  return {'refused', 'users'}
end
if exists and not prev then
  local limit = tonumber(redis.call('HGET', KEYS[4], ARGV[1]) or ARGV[4]) or 1
  if redis.call('HLEN', KEYS[1]) >= limit then return {'refused', 'full'} end
end
if not exists then
  redis.call('SADD', KEYS[2], ARGV[1])
  redis.call('HSET', KEYS[4], ARGV[1], ARGV[4])
end
redis.call('HSETNX', KEYS[5], ARGV[1], ARGV[7])
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
if not prev then redis.call('INCR', KEYS[3]) end
return {'joined', prev or ''}
",
    )
});

/// Leaves a room if the holder is still the member; an emptied room goes,
/// with this node's ownership. KEYS: room, rooms, members, limits, owners.
/// ARGV: room ID, user ID, holder, node ID. Answers 1 if removed.
static LEAVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('HGET', KEYS[1], ARGV[2]) ~= ARGV[3] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[2])
if redis.call('DECR', KEYS[3]) < 0 then redis.call('SET', KEYS[3], 0) end
if redis.call('HLEN', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[2], ARGV[1])
  redis.call('HDEL', KEYS[4], ARGV[1])
  if redis.call('HGET', KEYS[5], ARGV[1]) == ARGV[4] then redis.call('HDEL', KEYS[5], ARGV[1]) end
end
return 1
",
    )
});

/// Set-if-absent, where a holder whose node's lease is gone counts as
/// absent. KEYS: the hash. ARGV: ID, holder, node key prefix. Answers
/// `{"granted"|"held"|"other", holder}`.
static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local held = redis.call('HGET', KEYS[1], ARGV[1])
if held then
  if held == ARGV[2] then return {'held', held} end
  local node = string.match(held, '^([^|]*)|')
  if node and redis.call('EXISTS', ARGV[3] .. node) == 1 then return {'other', held} end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return {'granted', ''}
",
    )
});

/// Sets the holder, answering the previous one (or ""); a previous holder
/// on another node is told on that node's kick channel. KEYS: the hash.
/// ARGV: ID, holder, this node's ID, the kick channel prefix, app ID.
static TAKE_OVER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local prev = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if prev then
  local node = string.match(prev, '^([^|]*)|')
  if node and node ~= ARGV[3] then
    redis.call('PUBLISH', ARGV[4] .. node, ARGV[5] .. '|' .. prev)
  end
end
return prev or ''
",
    )
});

/// Compare-and-delete. KEYS: the hash. ARGV: ID, holder. Answers 1 if
/// removed.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
",
    )
});

/// Room state in Redis, written by this node (`node_id` tags its claims).
#[derive(Clone)]
pub struct RedisStore {
    redis: ConnectionManager,
    node_id: String,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

/// A Redis failure as a store error: a reply of the wrong shape is
/// [`StoreError::Invalid`], anything else [`StoreError::Unavailable`].
pub(crate) fn store_error(error: RedisError) -> StoreError {
    match error.kind() {
        ErrorKind::Parse | ErrorKind::UnexpectedReturnType => {
            StoreError::Invalid(error.to_string())
        }
        _ => StoreError::Unavailable(error.to_string()),
    }
}

impl RedisStore {
    /// A store on `redis` for node `node_id`.
    pub fn new(redis: ConnectionManager, node_id: String) -> Self {
        RedisStore { redis, node_id }
    }

    /// How this node's `session_id` is recorded.
    fn holder(&self, session_id: &str) -> String {
        format!("{}|{session_id}", self.node_id)
    }

    /// Runs `script` with `keys` and `args`.
    async fn run<T: redis::FromRedisValue>(
        &self,
        script: &Script,
        keys: &[String],
        args: &[&str],
    ) -> Result<T, StoreError> {
        let mut invocation = script.prepare_invoke();
        for key in keys {
            invocation.key(key);
        }
        for arg in args {
            invocation.arg(*arg);
        }
        let mut redis = self.redis.clone();
        invocation
            .invoke_async(&mut redis)
            .await
            .map_err(store_error)
    }

    /// The keys the room scripts take: room, rooms, members, limits, owners.
    fn room_keys(app_id: u32, room_id: &str) -> Vec<String> {
        let keys = AppKeys::of(app_id);
        vec![
            keys.room(room_id),
            keys.rooms(),
            keys.members(),
            keys.limits(),
            keys.owners(),
        ]
    }

    async fn join(&self, r: JoinRequest) -> Result<Result<Joined, JoinRefusal>, StoreError> {
        let m = &r.member;
        let limit = r.room_limit.max(1).to_string();
        let reply: (String, String) = self
            .run(
                &JOIN,
                &Self::room_keys(m.app_id, &m.room_id),
                &[
                    &m.room_id,
                    &m.user_id,
                    &self.holder(&m.session_id),
                    &limit,
                    &r.max_rooms.to_string(),
                    &r.max_users.to_string(),
                    &self.node_id,
                ],
            )
            .await?;
        match (reply.0.as_str(), reply.1.as_str()) {
            ("joined", "") => Ok(Ok(Joined { replaced: None })),
            ("joined", previous) => Ok(Ok(Joined {
                replaced: Some(session_of(previous)?),
            })),
            ("refused", "rooms") => Ok(Err(JoinRefusal::TooManyRooms)),
            ("refused", "users") => Ok(Err(JoinRefusal::TooManyUsers)),
            ("refused", "full") => Ok(Err(JoinRefusal::RoomFull)),
            _ => Err(invalid("join")),
        }
    }

    async fn leave(&self, m: Member) -> Result<bool, StoreError> {
        let removed: i64 = self
            .run(
                &LEAVE,
                &Self::room_keys(m.app_id, &m.room_id),
                &[
                    &m.room_id,
                    &m.user_id,
                    &self.holder(&m.session_id),
                    &self.node_id,
                ],
            )
            .await?;
        Ok(removed == 1)
    }

    async fn claim(&self, hash: String, hold: Hold) -> Result<Claim, StoreError> {
        let reply: (String, String) = self
            .run(
                &CLAIM,
                &[hash],
                &[&hold.id, &self.holder(&hold.session_id), &node_key_prefix()],
            )
            .await?;
        match reply.0.as_str() {
            "granted" => Ok(Claim::Granted),
            "held" => Ok(Claim::AlreadyHeld),
            "other" => Ok(Claim::HeldBy(session_of(&reply.1)?)),
            _ => Err(invalid("claim")),
        }
    }

    async fn take_over(&self, user: Hold) -> Result<Option<String>, StoreError> {
        let holder = self.holder(&user.session_id);
        let previous: String = self
            .run(
                &TAKE_OVER,
                &[AppKeys::of(user.app_id).users()],
                &[
                    &user.id,
                    &holder,
                    &self.node_id,
                    &kick_channel(""),
                    &user.app_id.to_string(),
                ],
            )
            .await?;
        if previous.is_empty() || previous == holder {
            return Ok(None);
        }
        session_of(&previous).map(Some)
    }

    async fn release(&self, hash: String, hold: Hold) -> Result<bool, StoreError> {
        let removed: i64 = self
            .run(
                &RELEASE,
                &[hash],
                &[&hold.id, &self.holder(&hold.session_id)],
            )
            .await?;
        Ok(removed == 1)
    }

    async fn counts(&self, app_id: u32) -> Result<AppCounts, StoreError> {
        let keys = AppKeys::of(app_id);
        let mut redis = self.redis.clone();
        let (rooms, users): (usize, Option<i64>) = redis::pipe()
            .scard(keys.rooms())
            .get(keys.members())
            .query_async(&mut redis)
            .await
            .map_err(store_error)?;
        Ok(AppCounts {
            rooms,
            users: usize::try_from(users.unwrap_or(0)).unwrap_or(0),
        })
    }
}

/// The longest holder record accepted from Redis.
const MAX_HOLDER_BYTES: usize = 256;

/// The session of a `node|session` holder record.
fn session_of(holder: &str) -> Result<String, StoreError> {
    match holder.split_once('|') {
        Some((_, session)) if holder.len() <= MAX_HOLDER_BYTES && !session.is_empty() => {
            Ok(session.to_owned())
        }
        _ => Err(StoreError::Invalid(format!(
            "holder record {:?} is not node|session",
            holder.chars().take(64).collect::<String>()
        ))),
    }
}

/// A script answered something it never answers.
fn invalid(what: &str) -> StoreError {
    StoreError::Invalid(format!("unexpected {what} reply"))
}

impl RoomStore for RedisStore {
    fn join_room(&self, request: JoinRequest) -> StoreFuture<'_, Result<Joined, JoinRefusal>> {
        Box::pin(self.join(request))
    }

    fn leave_room(&self, member: Member) -> StoreFuture<'_, bool> {
        Box::pin(self.leave(member))
    }

    fn claim_user(&self, user: Hold) -> StoreFuture<'_, Claim> {
        Box::pin(self.claim(AppKeys::of(user.app_id).users(), user))
    }

    fn take_over_user(&self, user: Hold) -> StoreFuture<'_, Option<String>> {
        Box::pin(self.take_over(user))
    }

    fn release_user(&self, user: Hold) -> StoreFuture<'_, bool> {
        Box::pin(self.release(AppKeys::of(user.app_id).users(), user))
    }

    fn claim_stream(&self, stream: Hold, _room_id: String) -> StoreFuture<'_, Claim> {
        Box::pin(self.claim(AppKeys::of(stream.app_id).streams(), stream))
    }

    fn release_stream(&self, stream: Hold) -> StoreFuture<'_, bool> {
        Box::pin(self.release(AppKeys::of(stream.app_id).streams(), stream))
    }

    fn app_counts(&self, app_id: u32) -> StoreFuture<'_, AppCounts> {
        Box::pin(self.counts(app_id))
    }
}

#[cfg(test)]
mod tests {
    use super::session_of;

    #[test]
    fn holder_records_parse_or_are_typed_errors() {
        assert_eq!(session_of("n1|s1").unwrap(), "s1");
        for bad in ["", "s1", "n1|", &format!("n|{}", "x".repeat(300))] {
            assert!(session_of(bad).is_err(), "{bad}");
        }
    }
}
