//! The per-connection webrtc [`Runtime`]: everything as the default
//! (tokio) runtime does it, except that the sockets the driver binds are
//! swapped for the connection's virtual ones in the mux.

use super::Registration;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use webrtc::runtime::{
    AsyncInterval, AsyncTcpListener, AsyncTcpStream, AsyncUdpSocket, JoinHandle, Runtime,
};

/// A runtime whose sockets belong to one registration of the mux.
#[derive(Debug)]
pub(super) struct MuxRuntime {
    inner: Arc<dyn Runtime>,
    registration: Arc<Registration>,
}

impl MuxRuntime {
    /// Delegates to `inner`; sockets come from `registration`.
    pub(super) fn new(inner: Arc<dyn Runtime>, registration: Arc<Registration>) -> Self {
        MuxRuntime {
            inner,
            registration,
        }
    }
}

impl Runtime for MuxRuntime {
    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) -> Box<dyn JoinHandle> {
        self.inner.spawn(future)
    }

    fn spawn_reactor(
        &self,
        reactor_pool_size: usize,
        future: Pin<Box<dyn Future<Output = ()> + Send>>,
    ) -> Box<dyn JoinHandle> {
        self.inner.spawn_reactor(reactor_pool_size, future)
    }

    /// The driver bound `socket` (an ephemeral port on the configured IP)
    /// and keys the connection's candidate and traffic by its address: keep
    /// the address, close the socket, and give back the virtual one.
    fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        let local = socket.local_addr()?;
        drop(socket);
        self.registration.udp_socket(local)
    }

    /// As [`wrap_udp_socket`](Self::wrap_udp_socket), for the passive
    /// ICE-TCP listener.
    fn wrap_tcp_listener(
        &self,
        listener: std::net::TcpListener,
    ) -> io::Result<Arc<dyn AsyncTcpListener>> {
        let local = listener.local_addr()?;
        drop(listener);
        self.registration.tcp_listener(local)
    }

    /// The SFU only takes ICE-TCP connections (on the shared port); it
    /// never dials clients' passive candidates.
    fn connect_tcp<'a>(
        &'a self,
        _remote_addr: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = io::Result<Arc<dyn AsyncTcpStream>>> + Send + 'a>> {
        Box::pin(async {
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the SFU accepts ICE-TCP only",
            ))
        })
    }

    fn resolve_host<'a>(
        &'a self,
        host: &'a str,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send + 'a>> {
        self.inner.resolve_host(host)
    }

    fn now(&self) -> Instant {
        self.inner.now()
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        self.inner.sleep(duration)
    }

    fn interval(&self, period: Duration) -> Box<dyn AsyncInterval> {
        self.inner.interval(period)
    }

    fn block_on(&self, future: Pin<Box<dyn Future<Output = ()> + '_>>) {
        self.inner.block_on(future)
    }

    fn yield_now(&self) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        self.inner.yield_now()
    }

    fn name(&self) -> &'static str {
        "confer-mux"
    }
}
