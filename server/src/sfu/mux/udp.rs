//! The shared UDP socket: one router task reads it and hands each datagram
//! to its connection's queue; each connection's virtual socket reads its
//! queue and sends through the shared socket.

use super::route::Refused;
use super::{sink_for, Counters, Shared, SinkGuard};
use bytes::Bytes;
use std::future::Future;
use std::io::{self, IoSliceMut};
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use tokio::io::Interest;
use tokio::sync::mpsc;
use webrtc::runtime::{AsyncUdpSocket, RecvMeta, Transmit, UdpSockRef, UdpSocketState, BATCH_SIZE};

/// Datagrams a connection may have waiting before more are dropped (about
/// a second of 720p video and audio).
pub(super) const QUEUE: usize = 1024;

/// Receive buffers the router reads into per system call.
const RECV_BATCH: usize = if BATCH_SIZE < 8 { BATCH_SIZE } else { 8 };

/// The largest datagram (or GRO-coalesced run of datagrams) read at once.
const RECV_BUF_LEN: usize = u16::MAX as usize;

/// The kernel buffers asked for on the shared socket, each way. Every
/// connection's packets pass through this one socket: with Linux's default
/// receive buffer (208 KiB, about 90 datagrams) a 100-room bench lost
/// 89,000 datagrams in 15 s at half a core, each stall of the router task
/// longer than ~5 ms overflowing it. The kernel caps the size at
/// `net.core.rmem_max` / `wmem_max` (then doubles it for its bookkeeping);
/// a smaller grant is logged so an operator can raise those.
const SOCKET_BUFFER_BYTES: usize = 4 << 20;

/// The one UDP socket of the mux.
pub(super) struct SharedSocket {
    io: tokio::net::UdpSocket,
    /// quinn-udp: batched receive with the destination IP of each
    /// datagram, GSO sends and an explicit source IP.
    state: UdpSocketState,
    local: SocketAddr,
}

impl SharedSocket {
    /// Binds `addr` (inside a tokio runtime).
    pub(super) fn bind(addr: SocketAddr) -> io::Result<Arc<SharedSocket>> {
        let socket = std::net::UdpSocket::bind(addr)?;
        socket.set_nonblocking(true)?;
        let io = tokio::net::UdpSocket::from_std(socket)?;
        let state = UdpSocketState::new(UdpSockRef::from(&io))?;
        grow_buffers(&io, &state);
        let local = io.local_addr()?;
        Ok(Arc::new(SharedSocket { io, state, local }))
    }

    /// The bound address.
    pub(super) fn local_addr(&self) -> SocketAddr {
        self.local
    }

    fn try_send(&self, transmit: &Transmit<'_>) -> io::Result<()> {
        self.io.try_io(Interest::WRITABLE, || {
            self.state.try_send(UdpSockRef::from(&self.io), transmit)
        })
    }

    /// Resolves when the socket may be writable again; shared by any number
    /// of waiting connections (unlike `poll_send_ready`, which wakes only
    /// the last one).
    fn writable(self: &Arc<Self>) -> WritableFuture {
        let socket = Arc::clone(self);
        Box::pin(async move { socket.io.writable().await })
    }
}

/// Asks for [`SOCKET_BUFFER_BYTES`] each way and logs what was granted;
/// the socket works (with more loss under load) whatever the answer.
fn grow_buffers(io: &tokio::net::UdpSocket, state: &UdpSocketState) {
    let sock = || UdpSockRef::from(io);
    let recv = state.set_recv_buffer_size(sock(), SOCKET_BUFFER_BYTES);
    let send = state.set_send_buffer_size(sock(), SOCKET_BUFFER_BYTES);
    let granted = (
        state.recv_buffer_size(sock()).unwrap_or(0),
        state.send_buffer_size(sock()).unwrap_or(0),
    );
    if recv.is_err() || send.is_err() || granted.0 < SOCKET_BUFFER_BYTES {
        tracing::warn!(
            wanted = SOCKET_BUFFER_BYTES,
            recv = granted.0,
            send = granted.1,
            "media UDP socket buffers are smaller than wanted: raise net.core.rmem_max and wmem_max"
        );
    } else {
        tracing::debug!(
            recv = granted.0,
            send = granted.1,
            "media UDP socket buffers"
        );
    }
}

type WritableFuture = Pin<Box<dyn Future<Output = io::Result<()>> + Send>>;

/// A datagram routed to a connection.
#[derive(Debug)]
pub(super) struct Datagram {
    from: SocketAddr,
    /// The local IP it arrived on (for a wildcard bind).
    local_ip: Option<IpAddr>,
    data: Bytes,
}

/// Where a connection's virtual socket keyed `local` receives.
pub(super) struct Sink {
    pub(super) id: u64,
    pub(super) local: SocketAddr,
    pub(super) tx: mpsc::Sender<Datagram>,
}

/// The router: reads the shared socket forever and routes each datagram.
pub(super) async fn route(socket: Arc<SharedSocket>, shared: Arc<Shared>) {
    let mut storage = vec![vec![0u8; RECV_BUF_LEN]; RECV_BATCH];
    let mut meta = [RecvMeta::default(); RECV_BATCH];
    loop {
        if let Err(error) = socket.io.readable().await {
            tracing::warn!(%error, "media UDP socket unreadable");
            return;
        }
        let mut bufs: Vec<IoSliceMut<'_>> =
            storage.iter_mut().map(|b| IoSliceMut::new(b)).collect();
        let received = socket.io.try_io(Interest::READABLE, || {
            socket
                .state
                .recv(UdpSockRef::from(&socket.io), &mut bufs, &mut meta)
        });
        let count = match received {
            Ok(count) => count,
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
            Err(error) => {
                // ICMP errors from earlier sends (connection refused) and
                // the like: the socket is still fine. Yield, so an error
                // that repeats cannot starve the runtime.
                tracing::trace!(%error, "media UDP receive error");
                tokio::task::yield_now().await;
                continue;
            }
        };
        drop(bufs);
        for (buf, m) in storage.iter().zip(&meta).take(count) {
            let stride = m.stride.max(1);
            for datagram in buf[..m.len.min(buf.len())].chunks(stride) {
                deliver(&shared, m.addr, m.dst_ip, datagram);
            }
        }
    }
}

/// Routes one datagram to its connection's queue, or drops and counts it.
fn deliver(shared: &Shared, from: SocketAddr, local_ip: Option<IpAddr>, data: &[u8]) {
    let c = &shared.counters;
    let mut registry = shared.registry();
    let route = match registry.routes.route_datagram(from, data) {
        Ok(route) => route,
        Err(Refused::BadIntegrity) => {
            Counters::add(&c.udp_bad_integrity);
            return;
        }
        Err(refused) => {
            tracing::trace!(%from, %refused, "media datagram dropped");
            Counters::add(&c.udp_unrouted);
            return;
        }
    };
    if matches!(route, super::route::Route::Learned(_)) {
        tracing::debug!(%from, conn = route.conn(), "media route learned");
        Counters::add(&c.udp_learned);
    }
    let Some(sink) = registry
        .sinks
        .get(&route.conn())
        .and_then(|s| sink_for(&s.udp, local_ip, |s| s.local.ip()))
    else {
        Counters::add(&c.udp_unrouted);
        return;
    };
    let datagram = Datagram {
        from,
        local_ip,
        data: Bytes::copy_from_slice(data),
    };
    match sink.tx.try_send(datagram) {
        Ok(()) => Counters::add(&c.udp_routed),
        Err(_) => Counters::add(&c.udp_queue_full),
    }
}

/// A connection's UDP socket: its queue in, the shared socket out.
pub(super) struct VirtualSocket {
    local: SocketAddr,
    /// Set on sends when the shared socket is bound to a wildcard: replies
    /// leave from the address the connection's candidate names.
    src_ip: Option<IpAddr>,
    rx: Mutex<mpsc::Receiver<Datagram>>,
    socket: Arc<SharedSocket>,
    /// A send that found the socket full waits for this.
    writable: Mutex<Option<WritableFuture>>,
    _sink: SinkGuard,
}

impl std::fmt::Debug for VirtualSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualSocket")
            .field("local", &self.local)
            .field("shared", &self.socket.local)
            .finish_non_exhaustive()
    }
}

impl VirtualSocket {
    /// The virtual socket keyed `local`, reading `rx`, sending on `socket`.
    pub(super) fn new(
        local: SocketAddr,
        rx: mpsc::Receiver<Datagram>,
        socket: Arc<SharedSocket>,
        sink: SinkGuard,
    ) -> Self {
        let src_ip = (socket.local.ip().is_unspecified() && !local.ip().is_unspecified())
            .then_some(local.ip());
        VirtualSocket {
            local,
            src_ip,
            rx: Mutex::new(rx),
            socket,
            writable: Mutex::new(None),
            _sink: sink,
        }
    }
}

impl AsyncUdpSocket for VirtualSocket {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }

    fn max_gso_segments(&self) -> usize {
        self.socket.state.max_gso_segments()
    }

    fn poll_send(&self, cx: &mut Context<'_>, transmit: &Transmit<'_>) -> Poll<io::Result<usize>> {
        let transmit = Transmit {
            destination: transmit.destination,
            ecn: transmit.ecn,
            contents: transmit.contents,
            segment_size: transmit.segment_size,
            src_ip: transmit.src_ip.or(self.src_ip),
        };
        let mut writable = lock(&self.writable);
        loop {
            if let Some(wait) = writable.as_mut() {
                match wait.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(result) => {
                        *writable = None;
                        result?;
                    }
                }
            }
            match self.socket.try_send(&transmit) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    *writable = Some(self.socket.writable());
                }
                result => return Poll::Ready(result.map(|()| transmit.contents.len())),
            }
        }
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        let mut rx = lock(&self.rx);
        let max = bufs.len().min(meta.len());
        let mut filled = 0;
        while filled < max {
            let datagram = if filled == 0 {
                match rx.poll_recv(cx) {
                    Poll::Ready(Some(d)) => d,
                    // The connection left the mux: nothing will come. Not an
                    // error, which the driver would log; it is closing.
                    Poll::Ready(None) | Poll::Pending => return Poll::Pending,
                }
            } else {
                match rx.try_recv() {
                    Ok(d) => d,
                    Err(_) => break,
                }
            };
            let buf = &mut bufs[filled];
            let len = datagram.data.len().min(buf.len());
            buf[..len].copy_from_slice(&datagram.data[..len]);
            let mut m = RecvMeta::default();
            m.addr = datagram.from;
            m.len = len;
            m.stride = len.max(1);
            m.dst_ip = datagram.local_ip;
            meta[filled] = m;
            filled += 1;
        }
        Poll::Ready(Ok(filled))
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_shared_socket_gets_the_buffers_the_kernel_allows() {
        let socket = SharedSocket::bind("127.0.0.1:0".parse().unwrap()).expect("bound");
        let sysctl = |name: &str| -> usize {
            std::fs::read_to_string(format!("/proc/sys/net/core/{name}"))
                .expect("Linux sysctl")
                .trim()
                .parse()
                .expect("a number")
        };
        let sock = || UdpSockRef::from(&socket.io);
        let recv = socket.state.recv_buffer_size(sock()).unwrap();
        let send = socket.state.send_buffer_size(sock()).unwrap();
        // At least what was asked for, as far as the caps allow (the
        // default receive buffer is far below either).
        assert!(
            recv >= SOCKET_BUFFER_BYTES.min(sysctl("rmem_max")),
            "{recv}"
        );
        assert!(
            send >= SOCKET_BUFFER_BYTES.min(sysctl("wmem_max")),
            "{send}"
        );
    }
}
