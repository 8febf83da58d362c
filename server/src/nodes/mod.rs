//! Several nodes on one Redis: each node holds a lease, each room is pinned
//! to one node (its media lives there), and a login that reaches another
//! node is redirected to the room's node.
//!
//! - Lease: `confer:node:{id}` holds the node's signaling URL with a TTL of
//!   `lease_ms`, renewed every third of it ([`Node::run_lease`]). A node
//!   that dies stops renewing; after the lease its rooms are free.
//! - Placement ([`Node::place`]): one script reads the room's owner; a live
//!   owner elsewhere means a redirect to its URL, no owner (or one whose
//!   lease is gone) makes this node the owner, dropping the dead node's
//!   member records (those clients log in again here).
//! - Redis lost its data (a restart without persistence): the renewal finds
//!   the lease missing and writes back what this node holds (`restore.rs`).
//! - One login per user across nodes: a login elsewhere that takes over a
//!   user held by a session here kicks that session out (`kicks.rs`).
//! - The server API sees every node: lists and room calls for a room on
//!   another node go to that node (`peer_urls`, `owner_url`).
//!
//! Redis contents are untrusted: a URL read back is checked (scheme, size)
//! and a reply of the wrong shape is a typed [`StoreError`].

mod kicks;
mod restore;

use crate::store::redis::{node_key, node_key_prefix, store_error, AppKeys};
use crate::store::{RedisStore, StoreError};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::Script;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::LazyLock;
use std::time::Duration;

/// The `[nodes]` table: run as one node of several sharing a Redis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodesConfig {
    /// The Redis to share (`redis://host:port/db`).
    pub redis_url: String,
    /// This node's signaling URL as clients reach it (`wss://host/ws`),
    /// handed out in redirects. Unset: derived from the bound address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// How long a node's lease lasts without renewal: a dead node's rooms
    /// move to another node after this.
    pub lease_ms: u64,
}

impl Default for NodesConfig {
    fn default() -> Self {
        NodesConfig {
            redis_url: "redis://127.0.0.1:6379".to_owned(),
            public_url: None,
            lease_ms: 10_000,
        }
    }
}

/// The shortest lease accepted.
const MIN_LEASE_MS: u64 = 300;
/// The longest URL accepted, from the config or read back from Redis.
const MAX_URL_BYTES: usize = 1024;
/// The most other nodes the server API asks (a cluster larger than this
/// lists only some).
const MAX_PEERS: usize = 64;
/// How long one Redis command may take before it counts as failed.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// Why the node could not join the cluster.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// `redis_url` does not parse or Redis cannot be reached.
    #[error("redis {url}: {source}")]
    Redis {
        /// The URL.
        url: String,
        /// What failed.
        source: redis::RedisError,
    },
    /// The lease is shorter than 300 ms.
    #[error("[nodes] lease_ms must be at least {MIN_LEASE_MS}")]
    LeaseTooShort,
    /// The first lease could not be written.
    #[error("registering the node: {0}")]
    Register(#[source] StoreError),
    /// No `public_url`, and the bound address is not one clients can use.
    #[error("[nodes] public_url is needed when listening on {0}")]
    PublicUrlNeeded(SocketAddr),
    /// `public_url` is not a `ws://` or `wss://` URL of a sane size.
    #[error("[nodes] public_url {0:?} must be a ws:// or wss:// URL")]
    PublicUrl(String),
}

/// Where a room lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// On this node (it was free, or already here).
    Here,
    /// On another live node, reached at this signaling URL.
    Elsewhere(String),
}

/// Claims a room for a node unless a live node owns it. KEYS: owners, room,
/// rooms, members, limits. ARGV: room ID, node ID, node key prefix.
/// Answers `{"here", ""}` or `{"elsewhere", url}`.
static PLACE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local owner = redis.call('HGET', KEYS[1], ARGV[1])
if owner and owner ~= ARGV[2] then
  local url = redis.call('GET', ARGV[3] .. owner)
  if url then return {'elsewhere', url} end
  local n = redis.call('HLEN', KEYS[2])
  if n > 0 and redis.call('DECRBY', KEYS[4], n) < 0 then redis.call('SET', KEYS[4], 0) end
  redis.call('DEL', KEYS[2])
  redis.call('SREM', KEYS[3], ARGV[1])
  redis.call('HDEL', KEYS[5], ARGV[1])
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return {'here', ''}
",
    )
});

/// This node: its ID, URL and lease, on a Redis connection.
pub struct Node {
    id: String,
    url: String,
    lease: Duration,
    redis: ConnectionManager,
    /// For the kick channel's own connection.
    client: redis::Client,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.id)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Node {
    /// Connects to the config's Redis as a new node reached at `url` (its
    /// public signaling URL), registers its lease and returns it with the
    /// room store it shares.
    pub async fn join(config: &NodesConfig, url: String) -> Result<(Node, RedisStore), NodeError> {
        if config.lease_ms < MIN_LEASE_MS {
            return Err(NodeError::LeaseTooShort);
        }
        check_url(&url).map_err(|_| NodeError::PublicUrl(url.clone()))?;
        let redis_error = |source| NodeError::Redis {
            url: config.redis_url.clone(),
            source,
        };
        let client = redis::Client::open(config.redis_url.as_str()).map_err(redis_error)?;
        let manager = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let redis = ConnectionManager::new_with_config(client.clone(), manager)
            .await
            .map_err(redis_error)?;
        let id = crate::connection::random_hex(8);
        let node = Node {
            id: id.clone(),
            url,
            lease: Duration::from_millis(config.lease_ms),
            redis: redis.clone(),
            client,
        };
        node.renew().await.map_err(NodeError::Register)?;
        tracing::info!(node_id = %node.id, url = %node.url, lease_ms = config.lease_ms, "joined the cluster");
        Ok((node, RedisStore::new(redis, id)))
    }

    /// This node's ID.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// This node's signaling URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Where room `room_id` of `app_id` lives, claiming it for this node if
    /// it is free or its node's lease is gone.
    pub async fn place(&self, app_id: u32, room_id: &str) -> Result<Placement, StoreError> {
        let keys = AppKeys::of(app_id);
        let mut invocation = PLACE.prepare_invoke();
        invocation
            .key(keys.owners())
            .key(keys.room(room_id))
            .key(keys.rooms())
            .key(keys.members())
            .key(keys.limits())
            .arg(room_id)
            .arg(&self.id)
            .arg(node_key_prefix());
        let mut redis = self.redis.clone();
        let (kind, url): (String, String) = invocation
            .invoke_async(&mut redis)
            .await
            .map_err(store_error)?;
        match kind.as_str() {
            "here" => Ok(Placement::Here),
            "elsewhere" => {
                check_url(&url)?;
                Ok(Placement::Elsewhere(url))
            }
            _ => Err(StoreError::Invalid("unexpected placement reply".to_owned())),
        }
    }

    /// The signaling URL of the live node owning room `room_id` of
    /// `app_id`, when that is another node (`None`: no owner, or this
    /// node).
    pub async fn owner_url(
        &self,
        app_id: u32,
        room_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let mut redis = self.redis.clone();
        let owner: Option<String> = redis::cmd("HGET")
            .arg(AppKeys::of(app_id).owners())
            .arg(room_id)
            .query_async(&mut redis)
            .await
            .map_err(store_error)?;
        let Some(owner) = owner.filter(|o| *o != self.id) else {
            return Ok(None);
        };
        let url: Option<String> = redis::cmd("GET")
            .arg(node_key(&owner))
            .query_async(&mut redis)
            .await
            .map_err(store_error)?;
        match url {
            Some(url) => check_url(&url).map(|()| Some(url)),
            None => Ok(None),
        }
    }

    /// The signaling URLs of the other live nodes.
    pub async fn peer_urls(&self) -> Result<Vec<String>, StoreError> {
        let mut redis = self.redis.clone();
        let pattern = format!("{}*", node_key_prefix());
        let mut keys: Vec<String> = Vec::new();
        let mut cursor = 0u64;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(100)
                .query_async(&mut redis)
                .await
                .map_err(store_error)?;
            keys.extend(batch.into_iter().filter(|k| *k != node_key(&self.id)));
            if next == 0 || keys.len() > MAX_PEERS {
                break;
            }
            cursor = next;
        }
        let mut urls = Vec::new();
        for key in keys.iter().take(MAX_PEERS) {
            let url: Option<String> = redis::cmd("GET")
                .arg(key)
                .query_async(&mut redis)
                .await
                .map_err(store_error)?;
            // A lease that ran out meanwhile is no peer.
            if let Some(url) = url {
                check_url(&url)?;
                urls.push(url);
            }
        }
        Ok(urls)
    }

    /// Renews the lease; `true` when it was missing (first registration,
    /// or Redis lost it: a restart, or the lease ran out meanwhile).
    async fn renew(&self) -> Result<bool, StoreError> {
        let mut redis = self.redis.clone();
        let previous: Option<String> = redis::cmd("SET")
            .arg(node_key(&self.id))
            .arg(&self.url)
            .arg("PX")
            .arg(u64::try_from(self.lease.as_millis()).unwrap_or(u64::MAX))
            .arg("GET")
            .query_async(&mut redis)
            .await
            .map_err(store_error)?;
        Ok(previous.is_none())
    }

    /// Gives the lease up (a clean shutdown): this node's rooms are free at
    /// once instead of after the lease.
    async fn resign(&self) {
        let mut redis = self.redis.clone();
        let done: Result<i64, _> = redis::cmd("DEL")
            .arg(node_key(&self.id))
            .query_async(&mut redis)
            .await;
        if let Err(error) = done {
            tracing::warn!(%error, "could not give the node lease up");
        }
    }

    /// Renews the lease every third of it until shutdown begins, then gives
    /// it up. A renewal that finds the lease missing writes back the rooms,
    /// members and claims this node holds.
    pub async fn run_lease(self: std::sync::Arc<Self>, state: crate::ServerState) {
        let mut shutdown = state.shutdown_signal();
        let mut tick = tokio::time::interval(self.lease / 3);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate; the lease was just taken.
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => match self.renew().await {
                    Ok(false) => {}
                    Ok(true) => {
                        tracing::warn!(node_id = %self.id, "node lease was missing in Redis; writing back this node's rooms");
                        restore::restore(&self, &state).await;
                    }
                    Err(error) => tracing::warn!(%error, "node lease renewal failed"),
                },
                () = crate::state::shutdown_begun(&mut shutdown) => break,
            }
        }
        self.resign().await;
    }
}

/// The URL this node advertises: `public_url`, or the bound address.
pub fn public_url(config: &NodesConfig, bound: SocketAddr, tls: bool) -> Result<String, NodeError> {
    if let Some(url) = &config.public_url {
        check_url(url).map_err(|_| NodeError::PublicUrl(url.clone()))?;
        return Ok(url.clone());
    }
    if bound.ip().is_unspecified() {
        return Err(NodeError::PublicUrlNeeded(bound));
    }
    let scheme = if tls { "wss" } else { "ws" };
    Ok(format!("{scheme}://{bound}/ws"))
}

/// A signaling URL read from the config or from Redis: `ws://` or `wss://`,
/// at most [`MAX_URL_BYTES`], no whitespace or control characters.
fn check_url(url: &str) -> Result<(), StoreError> {
    let scheme_ok = url.starts_with("ws://") || url.starts_with("wss://");
    let chars_ok = !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if scheme_ok && chars_ok && url.len() <= MAX_URL_BYTES {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "node URL {:?} is not a ws:// or wss:// URL",
            url.chars().take(64).collect::<String>()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_from_redis_are_checked() {
        assert!(check_url("ws://127.0.0.1:1/ws").is_ok());
        assert!(check_url("wss://a.example/ws").is_ok());
        let long = format!("wss://{}", "a".repeat(MAX_URL_BYTES));
        for bad in ["http://x/ws", "", "ws://a b", "javascript:x", long.as_str()] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn public_url_is_derived_from_a_specific_address() {
        let config = NodesConfig::default();
        let bound: SocketAddr = "127.0.0.1:7000".parse().unwrap();
        assert_eq!(
            public_url(&config, bound, false).unwrap(),
            "ws://127.0.0.1:7000/ws"
        );
        assert_eq!(
            public_url(&config, bound, true).unwrap(),
            "wss://127.0.0.1:7000/ws"
        );
        let any: SocketAddr = "0.0.0.0:7000".parse().unwrap();
        assert!(matches!(
            public_url(&config, any, false),
            Err(NodeError::PublicUrlNeeded(_))
        ));
    }
}
