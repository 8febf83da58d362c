//! The shared ICE-TCP listener (RFC 6544 passive candidates, RFC 4571
//! framing): each accepted connection's first framed message must be a
//! verified connectivity check; it goes, bytes replayed, to the virtual
//! listener of the connection it names. A connection that sends nothing
//! valid in time is closed, and only so many wait at once.

use super::{sink_for, Counters, Shared, SinkGuard};
use bytes::{Buf, Bytes};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use webrtc::runtime::{AsyncTcpListener, AsyncTcpStream};

/// Routed connections a virtual listener may have waiting to be accepted.
pub(super) const QUEUE: usize = 16;

/// How long a new connection has to send its first message.
const FIRST_MESSAGE_TIMEOUT: Duration = Duration::from_secs(5);

/// The largest first message read (a connectivity check is ~100-200 bytes).
const MAX_FIRST_MESSAGE: usize = 1024;

/// Connections waiting for their first message, over all sources.
const MAX_PENDING: usize = 256;

/// Connections one source IP may have waiting: a flood from one host
/// cannot fill [`MAX_PENDING`] for everyone else.
const MAX_PENDING_PER_IP: usize = 16;

/// Binds the shared listener (inside a tokio runtime).
pub(super) fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// A routed ICE-TCP connection and the bytes already read from it.
#[derive(Debug)]
pub(super) struct Accepted {
    stream: TcpStream,
    peer: SocketAddr,
    first: Bytes,
}

/// Where a connection's virtual listener keyed `local` accepts.
pub(super) struct Sink {
    pub(super) id: u64,
    pub(super) local: SocketAddr,
    pub(super) tx: mpsc::Sender<Accepted>,
}

/// The accept loop: forever.
pub(super) async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    let pending = Arc::new(Pending::default());
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and the like: try again shortly.
                tracing::debug!(%error, "media TCP accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(slot) = Pending::enter(&pending, peer.ip()) else {
            Counters::add(&shared.counters.tcp_refused);
            continue;
        };
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let routed =
                tokio::time::timeout(FIRST_MESSAGE_TIMEOUT, route(stream, peer, &shared)).await;
            drop(slot);
            match routed {
                Ok(Ok(())) => Counters::add(&shared.counters.tcp_routed),
                Ok(Err(reason)) => {
                    tracing::debug!(%peer, reason, "media TCP connection refused");
                    Counters::add(&shared.counters.tcp_refused);
                }
                Err(_) => {
                    tracing::debug!(%peer, "media TCP connection sent no first message in time");
                    Counters::add(&shared.counters.tcp_refused);
                }
            }
        });
    }
}

/// Reads the first framed message and hands the connection to the
/// connection its check names. On `Err` the stream is dropped (closed).
async fn route(
    mut stream: TcpStream,
    peer: SocketAddr,
    shared: &Shared,
) -> Result<(), &'static str> {
    let mut header = [0u8; 2];
    stream
        .read_exact(&mut header)
        .await
        .map_err(|_| "closed before a message")?;
    let len = usize::from(u16::from_be_bytes(header));
    if len > MAX_FIRST_MESSAGE {
        return Err("first message too long");
    }
    let mut first = vec![0u8; 2 + len];
    first[..2].copy_from_slice(&header);
    stream
        .read_exact(&mut first[2..])
        .await
        .map_err(|_| "closed inside the first message")?;
    let local_ip = stream.local_addr().ok().map(|a| a.ip());
    let registry = shared.registry();
    let conn = match registry.routes.authenticate(&first[2..]) {
        Ok(conn) => conn,
        Err(super::route::Refused::BadIntegrity) => return Err("bad message integrity"),
        Err(_) => return Err("not a check for a known connection"),
    };
    let sink = registry
        .sinks
        .get(&conn)
        .and_then(|s| sink_for(&s.tcp, local_ip, |s| s.local.ip()))
        .ok_or("the connection has no ICE-TCP listener")?;
    sink.tx
        .try_send(Accepted {
            stream,
            peer,
            first: Bytes::from(first),
        })
        .map_err(|_| "the connection is not accepting")
}

/// Counts connections waiting for their first message.
#[derive(Default)]
struct Pending {
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

/// One waiting connection's place; freed when dropped.
struct PendingSlot {
    pending: Arc<Pending>,
    ip: IpAddr,
}

impl Pending {
    fn enter(pending: &Arc<Pending>, ip: IpAddr) -> Option<PendingSlot> {
        let mut per_ip = lock(&pending.per_ip);
        let total: usize = per_ip.values().sum();
        let mine = per_ip.entry(ip).or_default();
        if total >= MAX_PENDING || *mine >= MAX_PENDING_PER_IP {
            return None;
        }
        *mine += 1;
        Some(PendingSlot {
            pending: Arc::clone(pending),
            ip,
        })
    }
}

impl Drop for PendingSlot {
    fn drop(&mut self) {
        let mut per_ip = lock(&self.pending.per_ip);
        if let Some(count) = per_ip.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                per_ip.remove(&self.ip);
            }
        }
    }
}

/// A connection's ICE-TCP listener: accepts what the shared one routed.
pub(super) struct VirtualListener {
    local: SocketAddr,
    rx: Mutex<mpsc::Receiver<Accepted>>,
    _sink: SinkGuard,
}

impl std::fmt::Debug for VirtualListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualListener")
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

impl VirtualListener {
    /// The listener keyed `local`, accepting from `rx`.
    pub(super) fn new(local: SocketAddr, rx: mpsc::Receiver<Accepted>, sink: SinkGuard) -> Self {
        VirtualListener {
            local,
            rx: Mutex::new(rx),
            _sink: sink,
        }
    }
}

impl AsyncTcpListener for VirtualListener {
    fn accept<'a>(
        &'a self,
    ) -> Pin<
        Box<
            dyn std::future::Future<Output = io::Result<(Arc<dyn AsyncTcpStream>, SocketAddr)>>
                + Send
                + 'a,
        >,
    > {
        Box::pin(async move {
            let accepted = std::future::poll_fn(|cx| lock(&self.rx).poll_recv(cx)).await;
            let Some(accepted) = accepted else {
                // The connection left the mux; an error would make the
                // driver accept again at once, so wait for its end.
                return std::future::pending().await;
            };
            let (read, write) = accepted.stream.into_split();
            let stream = VirtualStream {
                read,
                write,
                replay: Mutex::new(accepted.first),
                local: self.local,
                peer: accepted.peer,
            };
            Ok((Arc::new(stream) as Arc<dyn AsyncTcpStream>, accepted.peer))
        })
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// A routed ICE-TCP connection: the bytes the router read first, then the
/// socket. Its local address is its listener's key, so the driver matches
/// it to the passive candidate.
#[derive(Debug)]
struct VirtualStream {
    read: OwnedReadHalf,
    write: OwnedWriteHalf,
    replay: Mutex<Bytes>,
    local: SocketAddr,
    peer: SocketAddr,
}

impl AsyncTcpStream for VirtualStream {
    fn read<'a, 'b>(
        &'a self,
        buf: &'b mut [u8],
    ) -> Pin<Box<dyn std::future::Future<Output = io::Result<usize>> + Send + 'b>>
    where
        'a: 'b,
    {
        Box::pin(async move {
            {
                let mut replay = lock(&self.replay);
                if !replay.is_empty() {
                    let n = replay.len().min(buf.len());
                    buf[..n].copy_from_slice(&replay[..n]);
                    replay.advance(n);
                    return Ok(n);
                }
            }
            loop {
                self.read.readable().await?;
                match self.read.try_read(buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    result => return result,
                }
            }
        })
    }

    fn write_all<'a, 'b>(
        &'a self,
        buf: &'b [u8],
    ) -> Pin<Box<dyn std::future::Future<Output = io::Result<()>> + Send + 'b>>
    where
        'a: 'b,
    {
        Box::pin(async move {
            let mut rest = buf;
            while !rest.is_empty() {
                self.write.writable().await?;
                match self.write.try_write(rest) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => rest = &rest[n..],
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        })
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }

    fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.peer)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
