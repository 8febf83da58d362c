//! The state every request handler shares.

use crate::apps::AppRegistry;
use crate::config::{ConfigError, ServerConfig};
use crate::gate::Gate;
use crate::hub::Hub;
use crate::media::Media;
use crate::metrics::Metrics;
use crate::nodes::Node;
use crate::store::{apply_cleanups, Cleanup, MemoryStore, RedisStore, RoomStore};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Shared server state: config, apps, the hub, the room store, metrics, the
/// connection gate and the shutdown signal. Cheap to clone.
#[derive(Clone)]
pub struct ServerState {
    inner: Arc<Shared>,
}

struct Shared {
    config: ServerConfig,
    apps: AppRegistry,
    hub: Arc<Hub>,
    media: Media,
    store: Arc<dyn RoomStore>,
    /// This node of several on one Redis (`[nodes]`), if so.
    node: Option<Arc<Node>>,
    metrics: Metrics,
    gate: Arc<Gate>,
    shutdown: watch::Sender<bool>,
    /// The built-in TURN server's counters, once it runs.
    turn_stats: std::sync::OnceLock<Arc<confer_turn::Stats>>,
}

impl std::fmt::Debug for ServerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerState")
            .field("bind", &self.inner.config.bind)
            .finish_non_exhaustive()
    }
}

impl ServerState {
    /// State for `config` with the in-memory room store.
    pub fn new(config: ServerConfig) -> Result<Self, ConfigError> {
        Self::with_store(config, Arc::new(MemoryStore::new()))
    }

    /// State for `config` with the given room store.
    pub fn with_store(
        config: ServerConfig,
        store: Arc<dyn RoomStore>,
    ) -> Result<Self, ConfigError> {
        Self::build(config, store, None)
    }

    /// State for `config` as `node` of a cluster, with its Redis store.
    pub fn with_node(
        config: ServerConfig,
        node: Node,
        store: RedisStore,
    ) -> Result<Self, ConfigError> {
        Self::build(config, Arc::new(store), Some(Arc::new(node)))
    }

    fn build(
        config: ServerConfig,
        store: Arc<dyn RoomStore>,
        node: Option<Arc<Node>>,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        let hub = Arc::new(Hub::new(
            Duration::from_millis(config.heartbeat_interval_ms),
            Duration::from_millis(config.heartbeat_timeout_ms),
        ));
        let media = Media::new(config.media.clone(), Arc::clone(&hub));
        // Per-room media series follow the rooms.
        hub.listen(media.sfu().meter().clone());
        let capacity = crate::listener::fit_to_fd_limit(config.limits.max_connections);
        Ok(ServerState {
            inner: Arc::new(Shared {
                apps: AppRegistry::new(&config.apps),
                hub,
                media,
                store,
                node,
                metrics: Metrics::default(),
                gate: Gate::new(capacity, config.limits.max_connections_per_ip),
                shutdown: watch::channel(false).0,
                turn_stats: std::sync::OnceLock::new(),
                config,
            }),
        })
    }

    /// Reports the built-in TURN server's counters in `/metrics`.
    pub fn set_turn_stats(&self, stats: Arc<confer_turn::Stats>) {
        let _ = self.inner.turn_stats.set(stats);
    }

    /// The built-in TURN server's counters now, if it runs.
    pub fn turn_stats(&self) -> Option<confer_turn::StatsSnapshot> {
        self.inner.turn_stats.get().map(|s| s.snapshot())
    }

    /// The config the server runs with.
    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    /// The registered apps.
    pub fn apps(&self) -> &AppRegistry {
        &self.inner.apps
    }

    /// Live sessions and rooms.
    pub fn hub(&self) -> &Hub {
        &self.inner.hub
    }

    /// The SFU and play subscriptions.
    pub fn media(&self) -> &Media {
        &self.inner.media
    }

    /// Applies what a session or stream going away implies: closes its media
    /// and writes the store.
    pub async fn apply_cleanups(&self, cleanups: Vec<Cleanup>) {
        if cleanups.is_empty() {
            return;
        }
        self.media().apply_cleanups(&cleanups).await;
        apply_cleanups(self.store(), cleanups).await;
    }

    /// The room store.
    pub fn store(&self) -> &dyn RoomStore {
        self.inner.store.as_ref()
    }

    /// This node of a cluster (`[nodes]`), if it is one.
    pub fn node(&self) -> Option<&Arc<Node>> {
        self.inner.node.as_ref()
    }

    /// Counters.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The connection gate (one slot per open TCP connection).
    pub fn gate(&self) -> &Arc<Gate> {
        &self.inner.gate
    }

    /// Asks every connection to say goodbye and close.
    pub fn begin_shutdown(&self) {
        self.inner.shutdown.send_replace(true);
    }

    /// Whether shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        *self.inner.shutdown.borrow()
    }

    /// A receiver that changes to `true` when shutdown begins.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.inner.shutdown.subscribe()
    }

    /// Removes timed-out sessions periodically until shutdown begins.
    pub async fn run_sweeper(self) {
        let timeout = self.config().heartbeat_timeout_ms;
        let period = Duration::from_millis((timeout / 10).clamp(20, 1000));
        let mut shutdown = self.shutdown_signal();
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let cleanups = self.hub().sweep(Instant::now());
                    self.apply_cleanups(cleanups).await;
                }
                () = shutdown_begun(&mut shutdown) => break,
            }
        }
    }
}

/// Resolves once `signal` turns `true` (or its sender is gone).
pub async fn shutdown_begun(signal: &mut watch::Receiver<bool>) {
    let _begun = signal.wait_for(|down| *down).await.is_ok();
}
