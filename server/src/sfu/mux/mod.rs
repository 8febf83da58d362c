//! One UDP port and one TCP port for every peer connection of the SFU.
//!
//! webrtc-rs 0.21 binds a socket per peer connection. The mux gives each
//! connection a [`Runtime`](webrtc::runtime::Runtime) of its own
//! ([`runtime`]) whose sockets are virtual: a virtual UDP socket receives
//! from a bounded queue and sends through the one shared socket
//! ([`udp`]); a virtual TCP listener accepts the ICE-TCP connections the
//! shared listener hands it ([`tcp`]).
//!
//! Routing ([`route`], [`stun`]): each connection's local ICE ufrag and
//! password are set by the SFU and registered here. A datagram from a
//! known remote address goes to that address's connection; one from a new
//! address must be a connectivity check whose USERNAME
//! (`<sfu-ufrag>:<client-ufrag>`) names a connection and whose
//! MESSAGE-INTEGRITY verifies with that connection's password, and then
//! teaches the address. An ICE-TCP connection is routed by its first
//! framed message the same way. Everything else is dropped and counted.
//!
//! The driver keys a connection's sockets by the address its own bound
//! (ephemeral, released at once) socket had, and candidates carry that
//! address: the SFU announces them with the shared ports instead
//! (`engine::Announce`). Packets reach the driver tagged with that key, so
//! the ICE agent matches them to its candidate as usual.

mod route;
mod runtime;
mod stun;
mod tcp;
mod udp;

use rand::distr::{Alphanumeric, SampleString};
use route::{ConnId, RouteTable};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::task::JoinHandle;
use webrtc::runtime::{AsyncTcpListener, AsyncUdpSocket, Runtime};

/// Why the mux could not start.
#[derive(Debug, thiserror::Error)]
pub enum MuxError {
    /// The shared UDP socket could not be bound.
    #[error("cannot bind the media UDP port {addr}: {source}")]
    Udp {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: io::Error,
    },
    /// The shared ICE-TCP listener could not be bound.
    #[error("cannot bind the media TCP port {addr}: {source}")]
    Tcp {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: io::Error,
    },
    /// No async runtime to build peer connections on.
    #[error("no webrtc runtime is compiled in")]
    NoRuntime,
}

/// What the mux did so far (counters) and holds now (gauges).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MuxCounters {
    /// Datagrams handed to a connection.
    pub udp_routed: u64,
    /// Remote addresses learned from verified checks.
    pub udp_learned: u64,
    /// Datagrams from unknown sources that were no usable check, or a
    /// check for an unknown ufrag.
    pub udp_unrouted: u64,
    /// Checks whose MESSAGE-INTEGRITY did not verify.
    pub udp_bad_integrity: u64,
    /// Datagrams dropped because their connection's queue was full.
    pub udp_queue_full: u64,
    /// ICE-TCP connections handed to a connection.
    pub tcp_routed: u64,
    /// ICE-TCP connections closed before routing: no valid first message
    /// in time, too many pending, or nobody to take them.
    pub tcp_refused: u64,
    /// Peer connections registered now.
    pub connections: usize,
    /// Remote addresses routed now.
    pub routes: usize,
}

/// The shared ports, bound once when the SFU starts.
pub(crate) struct Mux {
    shared: Arc<Shared>,
    udp_addr: SocketAddr,
    tcp_addr: Option<SocketAddr>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Mux {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mux")
            .field("udp", &self.udp_addr)
            .field("tcp", &self.tcp_addr)
            .finish_non_exhaustive()
    }
}

impl Mux {
    /// Binds the UDP port `udp` and, if given, the ICE-TCP port `tcp` (port
    /// 0: an ephemeral one, kept for the mux's life) and starts routing.
    /// Must run inside a tokio runtime.
    pub(crate) fn start(udp: SocketAddr, tcp: Option<SocketAddr>) -> Result<Mux, MuxError> {
        let inner_runtime = webrtc::runtime::default_runtime().ok_or(MuxError::NoRuntime)?;
        let socket =
            udp::SharedSocket::bind(udp).map_err(|source| MuxError::Udp { addr: udp, source })?;
        let udp_addr = socket.local_addr();
        let listener = match tcp {
            Some(addr) => Some(tcp::bind(addr).map_err(|source| MuxError::Tcp { addr, source })?),
            None => None,
        };
        let tcp_addr = match &listener {
            Some(l) => Some(l.local_addr().map_err(|source| MuxError::Tcp {
                addr: tcp.unwrap_or(udp),
                source,
            })?),
            None => None,
        };
        let shared = Arc::new(Shared {
            registry: Mutex::new(Registry::default()),
            counters: Counters::default(),
            udp: Arc::clone(&socket),
            inner_runtime,
            next_id: AtomicU64::new(1),
        });
        let mut tasks = vec![tokio::spawn(udp::route(socket, Arc::clone(&shared)))];
        if let Some(listener) = listener {
            tasks.push(tokio::spawn(tcp::accept(listener, Arc::clone(&shared))));
        }
        tracing::info!(udp = %udp_addr, tcp = ?tcp_addr, "media ports bound");
        Ok(Mux {
            shared,
            udp_addr,
            tcp_addr,
            tasks,
        })
    }

    /// The shared UDP address.
    pub(crate) fn udp_addr(&self) -> SocketAddr {
        self.udp_addr
    }

    /// The shared ICE-TCP address, unless ICE-TCP is off.
    pub(crate) fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp_addr
    }

    /// Registers a new peer connection with fresh ICE credentials; build
    /// it with [`Registration::credentials`] and
    /// [`Registration::runtime`].
    pub(crate) fn register(&self) -> Arc<Registration> {
        let mut rng = rand::rng();
        let mut registry = self.shared.registry();
        loop {
            let conn = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
            // ICE: a ufrag of at least 24 bits, a password of at least 128.
            let ufrag = Alphanumeric.sample_string(&mut rng, 16);
            let password = Alphanumeric.sample_string(&mut rng, 32);
            if registry.routes.register(conn, &ufrag, &password) {
                registry.sinks.insert(conn, Sinks::default());
                return Arc::new(Registration {
                    conn,
                    ufrag,
                    password,
                    shared: Arc::clone(&self.shared),
                    released: AtomicBool::new(false),
                });
            }
        }
    }

    /// The counters so far.
    pub(crate) fn counters(&self) -> MuxCounters {
        let (connections, routes) = {
            let registry = self.shared.registry();
            (registry.routes.connections(), registry.routes.routes())
        };
        let c = &self.shared.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        MuxCounters {
            udp_routed: get(&c.udp_routed),
            udp_learned: get(&c.udp_learned),
            udp_unrouted: get(&c.udp_unrouted),
            udp_bad_integrity: get(&c.udp_bad_integrity),
            udp_queue_full: get(&c.udp_queue_full),
            tcp_routed: get(&c.tcp_routed),
            tcp_refused: get(&c.tcp_refused),
            connections,
            routes,
        }
    }
}

impl Drop for Mux {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// One peer connection's place in the mux. Released (its credentials,
/// routes and sockets forgotten) by [`release`](Self::release) or when
/// dropped.
pub(crate) struct Registration {
    conn: ConnId,
    ufrag: String,
    password: String,
    shared: Arc<Shared>,
    released: AtomicBool,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("conn", &self.conn)
            .field("ufrag", &self.ufrag)
            .finish_non_exhaustive()
    }
}

impl Registration {
    /// The local ICE ufrag and password the connection must use.
    pub(crate) fn credentials(&self) -> (String, String) {
        (self.ufrag.clone(), self.password.clone())
    }

    /// The runtime to build the connection on: its sockets are this
    /// registration's virtual ones.
    pub(crate) fn runtime(self: &Arc<Self>) -> Arc<dyn Runtime> {
        Arc::new(runtime::MuxRuntime::new(
            Arc::clone(&self.shared.inner_runtime),
            Arc::clone(self),
        ))
    }

    /// Forgets the connection: nothing reaches it any more.
    pub(crate) fn release(&self) {
        if self.released.swap(true, Ordering::AcqRel) {
            return;
        }
        let mut registry = self.shared.registry();
        registry.routes.remove(self.conn);
        registry.sinks.remove(&self.conn);
    }

    /// A virtual UDP socket of this connection, keyed `local`.
    fn udp_socket(&self, local: SocketAddr) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        let (tx, rx) = tokio::sync::mpsc::channel(udp::QUEUE);
        let id = self.add_sink(|sinks, id| sinks.udp.push(udp::Sink { id, local, tx }))?;
        Ok(Arc::new(udp::VirtualSocket::new(
            local,
            rx,
            Arc::clone(&self.shared.udp),
            SinkGuard {
                shared: Arc::downgrade(&self.shared),
                conn: self.conn,
                id,
            },
        )))
    }

    /// A virtual ICE-TCP listener of this connection, keyed `local`.
    fn tcp_listener(&self, local: SocketAddr) -> io::Result<Arc<dyn AsyncTcpListener>> {
        let (tx, rx) = tokio::sync::mpsc::channel(tcp::QUEUE);
        let id = self.add_sink(|sinks, id| sinks.tcp.push(tcp::Sink { id, local, tx }))?;
        Ok(Arc::new(tcp::VirtualListener::new(
            local,
            rx,
            SinkGuard {
                shared: Arc::downgrade(&self.shared),
                conn: self.conn,
                id,
            },
        )))
    }

    fn add_sink(&self, add: impl FnOnce(&mut Sinks, u64)) -> io::Result<u64> {
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let mut registry = self.shared.registry();
        let sinks = registry.sinks.get_mut(&self.conn).ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotConnected, "the connection left the mux")
        })?;
        add(sinks, id);
        Ok(id)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.release();
    }
}

/// Removes a virtual socket's or listener's sink when it is dropped (an
/// ICE restart rebinds, a connection closes).
#[derive(Debug)]
struct SinkGuard {
    shared: std::sync::Weak<Shared>,
    conn: ConnId,
    id: u64,
}

impl Drop for SinkGuard {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.upgrade() {
            if let Some(sinks) = shared.registry().sinks.get_mut(&self.conn) {
                sinks.udp.retain(|s| s.id != self.id);
                sinks.tcp.retain(|s| s.id != self.id);
            }
        }
    }
}

/// What the routing tasks, registrations and virtual sockets share.
struct Shared {
    registry: Mutex<Registry>,
    counters: Counters,
    udp: Arc<udp::SharedSocket>,
    /// What the per-connection runtimes delegate everything but sockets to.
    inner_runtime: Arc<dyn Runtime>,
    /// Connection and sink IDs.
    next_id: AtomicU64,
}

impl Shared {
    fn registry(&self) -> MutexGuard<'_, Registry> {
        // Every critical section leaves the table consistent.
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Default)]
struct Counters {
    udp_routed: AtomicU64,
    udp_learned: AtomicU64,
    udp_unrouted: AtomicU64,
    udp_bad_integrity: AtomicU64,
    udp_queue_full: AtomicU64,
    tcp_routed: AtomicU64,
    tcp_refused: AtomicU64,
}

impl Counters {
    fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The routing table and where each connection's traffic goes.
#[derive(Default)]
struct Registry {
    routes: RouteTable,
    sinks: HashMap<ConnId, Sinks>,
}

/// A connection's virtual sockets and listeners (one per local address
/// the driver bound: one, or one per interface for a wildcard bind IP).
#[derive(Default)]
struct Sinks {
    udp: Vec<udp::Sink>,
    tcp: Vec<tcp::Sink>,
}

/// The sink of `sinks` for traffic that arrived on `local_ip`: the one
/// keyed with that IP, else the first.
fn sink_for<S>(sinks: &[S], local_ip: Option<IpAddr>, key: impl Fn(&S) -> IpAddr) -> Option<&S> {
    local_ip
        .and_then(|ip| sinks.iter().find(|s| key(s) == ip))
        .or_else(|| sinks.first())
}
