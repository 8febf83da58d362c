//! The tokio shell around [`crate::Server`]: binds the listeners, runs one
//! driver task that owns the core (no locks), one receive task per socket
//! and one task per TCP/TLS connection.

mod driver;
mod stream;
mod udp;

use crate::config::Config;
use crate::error::TurnError;
use crate::server::{FiveTuple, Server};
use crate::stats::{Stats, StatsSnapshot};
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinHandle;

/// Inputs queued for the driver task.
pub(crate) enum Input {
    /// A datagram or framed message from a client.
    Client { from: FiveTuple, data: Vec<u8> },
    /// A datagram on a relay socket.
    Peer {
        relay: SocketAddr,
        peer: SocketAddr,
        data: Vec<u8>,
    },
    /// A TCP/TLS connection is ready; the driver writes to it through `tx`.
    StreamOpened {
        from: FiveTuple,
        tx: mpsc::Sender<Vec<u8>>,
        has_allocation: Arc<AtomicBool>,
    },
    /// A TCP/TLS connection ended.
    StreamClosed { from: FiveTuple },
}

/// How many inputs may wait for the driver before receive tasks wait too
/// (and the kernel drops datagrams, as UDP does under overload).
const INPUT_QUEUE: usize = 4096;

/// Starts TURN servers. See [`TurnServer::start`].
pub struct TurnServer;

impl TurnServer {
    /// Binds the listeners of `config` and starts serving on the current
    /// tokio runtime. `tls` is required when `config.listen_tls` is set
    /// (build it with rustls' ring provider; ALPN is not needed).
    ///
    /// ```no_run
    /// # async fn example() -> Result<(), confer_turn::TurnError> {
    /// let mut config = confer_turn::Config::new(
    ///     "the-shared-secret-of-the-signaling-server",
    ///     "example.org",
    ///     "203.0.113.10".parse().unwrap(),
    /// );
    /// config.listen_tcp = Some("0.0.0.0:3478".parse().unwrap());
    /// let turn = confer_turn::TurnServer::start(config, None).await?;
    /// println!("TURN on {}", turn.udp_addr());
    /// turn.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub async fn start(
        config: Config,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Result<TurnHandle, TurnError> {
        config.validate()?;
        if config.listen_tls.is_some() && tls.is_none() {
            return Err(TurnError::TlsConfigMissing);
        }
        let mut core = Server::new(config.clone(), Instant::now(), unix_now())?;
        let bind_error = |addr, transport| {
            move |source| TurnError::Bind {
                addr,
                transport,
                source,
            }
        };
        let udp = UdpSocket::bind(config.listen_udp)
            .await
            .map_err(bind_error(config.listen_udp, "udp"))?;
        let udp_addr = udp
            .local_addr()
            .map_err(bind_error(config.listen_udp, "udp"))?;
        core.add_listen_addr(udp_addr);
        let mut tcp = None;
        if let Some(addr) = config.listen_tcp {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(bind_error(addr, "tcp"))?;
            let local = listener.local_addr().map_err(bind_error(addr, "tcp"))?;
            core.add_listen_addr(local);
            tcp = Some((listener, local));
        }
        let mut tls_listener = None;
        if let (Some(addr), Some(tls)) = (config.listen_tls, tls) {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(bind_error(addr, "tls"))?;
            let local = listener.local_addr().map_err(bind_error(addr, "tls"))?;
            core.add_listen_addr(local);
            tls_listener = Some((listener, local, tokio_rustls::TlsAcceptor::from(tls)));
        }

        let stats = core.stats();
        let (shutdown_tx, shutdown) = watch::channel(false);
        let (inputs, input_rx) = mpsc::channel(INPUT_QUEUE);
        let udp = Arc::new(udp);
        let mut tasks = Vec::new();
        tasks.push(tokio::spawn(udp::listen(
            Arc::clone(&udp),
            udp_addr,
            inputs.clone(),
            shutdown.clone(),
        )));
        let limit = Arc::new(Semaphore::new(config.max_stream_connections as usize));
        let stream_context = |local| stream::Context {
            local,
            inputs: inputs.clone(),
            shutdown: shutdown.clone(),
            limit: Arc::clone(&limit),
            idle: config.stream_idle_timeout(),
            stats: Arc::clone(&stats),
        };
        let tcp_addr = tcp.as_ref().map(|(_, local)| *local);
        if let Some((listener, local)) = tcp {
            tasks.push(tokio::spawn(stream::accept(
                listener,
                None,
                stream_context(local),
            )));
        }
        let tls_addr = tls_listener.as_ref().map(|(_, local, _)| *local);
        if let Some((listener, local, acceptor)) = tls_listener {
            tasks.push(tokio::spawn(stream::accept(
                listener,
                Some(acceptor),
                stream_context(local),
            )));
        }
        let relays = udp::RelayPorts::new(&config, inputs, shutdown.clone());
        let driver = driver::Driver::new(core, udp, relays);
        tasks.push(tokio::spawn(driver.run(input_rx, shutdown)));
        tracing::info!(udp = %udp_addr, tcp = ?tcp_addr, tls = ?tls_addr, "TURN server listening");
        Ok(TurnHandle {
            udp_addr,
            tcp_addr,
            tls_addr,
            stats,
            shutdown: shutdown_tx,
            tasks,
        })
    }
}

/// A running TURN server. Dropping it stops the server too (without
/// waiting); [`TurnHandle::shutdown`] stops it and waits.
#[derive(Debug)]
pub struct TurnHandle {
    udp_addr: SocketAddr,
    tcp_addr: Option<SocketAddr>,
    tls_addr: Option<SocketAddr>,
    stats: Arc<Stats>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl TurnHandle {
    /// The UDP listener's address (with the real port if 0 was asked).
    pub fn udp_addr(&self) -> SocketAddr {
        self.udp_addr
    }

    /// The TCP listener's address, if one is configured.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp_addr
    }

    /// The TLS listener's address, if one is configured.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_addr
    }

    /// The server's counters now.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// The live counters, for a reader that outlives this borrow (a
    /// metrics endpoint).
    pub fn shared_stats(&self) -> Arc<Stats> {
        Arc::clone(&self.stats)
    }

    /// Stops accepting, closes every connection and relay socket, and
    /// waits until all tasks have ended.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
    }
}

impl Drop for TurnHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Resolves once shutdown is signalled (or the handle is gone).
pub(crate) async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not `Send`: drop it here.
    let _ = shutdown.wait_for(|stop| *stop).await.map(|_| ());
}
