//! Running the server on a socket: [`start`] and its [`ServerHandle`].

use crate::config::{ConfigError, PublicIp, ServerConfig};
use crate::http::app;
use crate::state::ServerState;
use crate::tls::{TlsError, TlsIdentity};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket};
use tokio::task::JoinHandle;

/// How long [`ServerHandle::shutdown`] waits for connections to say goodbye.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The config is not usable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The bound socket has no local address.
    #[error("cannot read the listening address: {0}")]
    LocalAddr(#[source] std::io::Error),
    /// The TLS certificate or key is not usable.
    #[error("tls: {0}")]
    Tls(#[from] TlsError),
    /// The media ports could not be bound.
    #[error("media: {0}")]
    Media(#[from] crate::sfu::SfuError),
    /// The built-in TURN server could not start.
    #[error("turn: {0}")]
    Turn(#[from] confer_turn::TurnError),
    /// Joining the cluster on Redis (`[nodes]`) failed.
    #[error("nodes: {0}")]
    Node(#[from] crate::nodes::NodeError),
    /// Webhook delivery could not start.
    #[error(transparent)]
    Webhooks(#[from] crate::webhooks::WebhookError),
    /// `public_ip = "auto"` could not learn the public address.
    #[error("public address: {0}")]
    PublicIp(#[from] crate::public_ip::PublicIpError),
}

/// A running server.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    /// The certificate's fingerprint when serving TLS.
    fingerprint: Option<String>,
    state: ServerState,
    /// The built-in TURN server, when `[turn]` is set.
    turn: Option<confer_turn::TurnHandle>,
    /// Webhook delivery, when `[webhooks]` has URLs.
    webhooks: Option<crate::webhooks::Flush>,
    task: JoinHandle<()>,
}

/// Binds `config.bind` (port 0 picks a free port), spawns the server and
/// returns at once.
pub async fn start(mut config: ServerConfig) -> Result<ServerHandle, ServeError> {
    config.validate()?;
    let public = announce_public_ip(&mut config).await?;
    let tls = match config.tls.files() {
        Some((cert, key)) => Some(crate::tls::load(cert, key)?),
        None => None,
    };
    let turn = crate::turn::start(
        &mut config,
        public,
        tls.as_ref().map(|t| Arc::clone(&t.config)),
    )
    .await?;
    let bind = config.bind;
    let listener = listen(bind).map_err(|source| ServeError::Bind { addr: bind, source })?;
    let addr = listener.local_addr().map_err(ServeError::LocalAddr)?;
    let state = match config.nodes.clone() {
        None => ServerState::new(config)?,
        Some(nodes) => {
            let url = crate::nodes::public_url(&nodes, addr, tls.is_some())?;
            let (node, store) = crate::nodes::Node::join(&nodes, url).await?;
            ServerState::with_node(config, node, store)?
        }
    };
    if let Some(node) = state.node() {
        tokio::spawn(Arc::clone(node).run_lease(state.clone()));
        tokio::spawn(Arc::clone(node).run_kicks(state.clone()));
    }
    if let Some(turn) = &turn {
        state.set_turn_stats(turn.shared_stats());
    }
    let webhooks = crate::webhooks::start(&state)?;
    // The media ports first: an ephemeral one is chosen here, once.
    state.media().sfu().start()?;
    let fingerprint = tls.as_ref().map(|t: &TlsIdentity| t.fingerprint.clone());
    let acceptor = tls.map(|t| tokio_rustls::TlsAcceptor::from(t.config));
    let router = app(state.clone());
    let sweeper = tokio::spawn(state.clone().run_sweeper());
    let accepting = state.clone();
    let task = tokio::spawn(async move {
        // Both end when shutdown begins.
        crate::listener::run(listener, router, accepting, acceptor).await;
        let _ = sweeper.await;
    });
    tracing::info!(%addr, apps = state.config().apps.len(),
        max_connections = state.gate().capacity(), tls = fingerprint.is_some(), "server listening");
    Ok(ServerHandle {
        addr,
        fingerprint,
        state,
        turn,
        webhooks,
        task,
    })
}

/// How long `--public-ip auto` waits for each STUN server.
const STUN_WAIT: Duration = Duration::from_secs(3);

/// Adds `[media] public_ip` (learned from a STUN server when `auto`) to the
/// announced addresses, beside the server's own: the ones configured, or
/// else the bound address (every LAN address when bound to all), so
/// clients on the server's LAN keep a direct path without hairpinning.
async fn announce_public_ip(config: &mut ServerConfig) -> Result<Option<IpAddr>, ServeError> {
    let media = &mut config.media;
    let public = match media.public_ip {
        None => return Ok(None),
        Some(PublicIp::Fixed(ip)) => ip,
        Some(PublicIp::Auto) => {
            let bind = if media.udp_bind_ip.is_unspecified() || media.udp_bind_ip.is_loopback() {
                std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
            } else {
                media.udp_bind_ip
            };
            let ip = crate::public_ip::discover(&config.ice.stun_urls, bind, STUN_WAIT).await?;
            tracing::info!(%ip, "public address learned from STUN");
            ip
        }
    };
    if media.announced_ips.is_empty() {
        media.announced_ips = if media.udp_bind_ip.is_unspecified() {
            crate::net::lan_addresses()
        } else {
            vec![media.udp_bind_ip]
        };
    }
    if !media.announced_ips.contains(&public) {
        media.announced_ips.push(public);
    }
    Ok(Some(public))
}

/// A deep accept queue (the kernel caps it at `net.core.somaxconn`): a
/// burst of connections waits there instead of having its handshakes
/// dropped.
const ACCEPT_BACKLOG: u32 = 4096;

/// Binds `addr` with [`ACCEPT_BACKLOG`] (tokio's `bind` listens with 1024).
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_BACKLOG)
}

impl ServerHandle {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The signaling URL: `wss://addr/ws` with TLS, else `ws://addr/ws`.
    pub fn ws_url(&self) -> String {
        self.url("ws", "/ws")
    }

    /// The HTTP base URL: `https://addr` with TLS, else `http://addr`.
    pub fn http_url(&self) -> String {
        self.url("http", "")
    }

    /// `scheme` (made secure with TLS: `wss`, `https`), the address, `path`.
    fn url(&self, scheme: &str, path: &str) -> String {
        let secure = if self.fingerprint.is_some() { "s" } else { "" };
        format!("{scheme}{secure}://{}{path}", self.addr)
    }

    /// The SHA-256 fingerprint of the TLS certificate (what clients pin),
    /// when serving TLS.
    pub fn tls_fingerprint(&self) -> Option<&str> {
        self.fingerprint.as_deref()
    }

    /// The UDP port every media connection uses (the SFU's mux; `None`
    /// with `[media] mux = false`): what a firewall must let in, or a
    /// router forward.
    pub fn media_udp_port(&self) -> Option<u16> {
        self.state.media().sfu().media_udp_port()
    }

    /// The TCP port media falls back to where UDP is blocked (ICE-TCP on
    /// the SFU's mux; `None` with `mux = false` or `ice_tcp = false`).
    pub fn media_tcp_port(&self) -> Option<u16> {
        self.state.media().sfu().media_tcp_port()
    }

    /// The shared state (hub, metrics, ...).
    pub fn state(&self) -> &ServerState {
        &self.state
    }

    /// Graceful shutdown: every connection gets `Shutdown` and a close frame,
    /// then the server stops (waiting at most a few seconds for stragglers),
    /// and the webhook events still queued are delivered (for `flush_ms`
    /// at most).
    pub async fn shutdown(self) {
        tracing::info!(addr = %self.addr, "shutting down");
        self.state.begin_shutdown();
        // Every connection holds its slot at the gate until it has closed.
        self.state.gate().wait_empty(SHUTDOWN_GRACE).await;
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, self.task).await;
        self.state.media().close_all().await;
        if let Some(turn) = self.turn {
            turn.shutdown().await;
        }
        if let Some(webhooks) = self.webhooks {
            webhooks.run().await;
        }
        tracing::info!("server stopped");
    }

    /// The built-in TURN server, when `[turn]` is set.
    pub fn turn(&self) -> Option<&confer_turn::TurnHandle> {
        self.turn.as_ref()
    }

    /// Waits until the server stops (after a shutdown begun elsewhere),
    /// then flushes the webhook events still queued.
    pub async fn wait(self) {
        let _ = self.task.await;
        if let Some(webhooks) = self.webhooks {
            webhooks.run().await;
        }
    }
}
