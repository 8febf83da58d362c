//! UDP: the client listener's receive loop, and the relay sockets (bound
//! on `relay_ip` within the configured port range).

use super::{stopped, Input};
use crate::config::Config;
use crate::server::{FiveTuple, RelayAllocator, Transport};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::Arc;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// The largest UDP payload.
const MAX_DATAGRAM: usize = 65_535;

/// Receives client datagrams on the UDP listener until shutdown.
pub(super) async fn listen(
    socket: Arc<UdpSocket>,
    local: SocketAddr,
    inputs: mpsc::Sender<Input>,
    shutdown: watch::Receiver<bool>,
) {
    receive(socket, inputs, shutdown, |client, data| Input::Client {
        from: FiveTuple {
            client,
            server: local,
            transport: Transport::Udp,
        },
        data,
    })
    .await;
}

/// Feeds every datagram `socket` receives to the core as `to_input(sender,
/// payload)`, until shutdown or the core is gone. Receive errors (ICMP
/// errors surface here on some systems) are skipped.
async fn receive(
    socket: Arc<UdpSocket>,
    inputs: mpsc::Sender<Input>,
    mut shutdown: watch::Receiver<bool>,
    to_input: impl Fn(SocketAddr, Vec<u8>) -> Input,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        tokio::select! {
            _ = stopped(&mut shutdown) => return,
            received = socket.recv_from(&mut buf) => {
                let Ok((n, sender)) = received else {
                    continue;
                };
                if inputs.send(to_input(sender, buf[..n].to_vec())).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// One relay socket and its receive task (aborted on drop).
pub(super) struct RelaySocket {
    pub(super) socket: Arc<UdpSocket>,
    task: JoinHandle<()>,
}

impl Drop for RelaySocket {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The relay sockets: opened for the core, closed when it says so.
pub(super) struct RelayPorts {
    ip: IpAddr,
    range: Option<RangeInclusive<u16>>,
    cursor: u16,
    pub(super) sockets: HashMap<SocketAddr, RelaySocket>,
    inputs: mpsc::Sender<Input>,
    shutdown: watch::Receiver<bool>,
}

impl RelayPorts {
    pub(super) fn new(
        config: &Config,
        inputs: mpsc::Sender<Input>,
        shutdown: watch::Receiver<bool>,
    ) -> RelayPorts {
        let range = config.relay_ports();
        // Start at a random port of the range (RFC 8656 §7.2: relay ports
        // should not be predictable).
        let cursor = range.as_ref().map_or(0, |r| {
            let span = u32::from(*r.end()) - u32::from(*r.start()) + 1;
            let offset = rand::random::<u32>() % span;
            (u32::from(*r.start()) + offset) as u16
        });
        RelayPorts {
            ip: config.relay_ip,
            range,
            cursor,
            sockets: HashMap::new(),
            inputs,
            shutdown,
        }
    }

    /// Closes the relay socket at `relay` (its task ends).
    pub(super) fn close(&mut self, relay: &SocketAddr) {
        self.sockets.remove(relay);
    }

    fn bind(&mut self) -> Option<std::net::UdpSocket> {
        let Some(range) = self.range.clone() else {
            return std::net::UdpSocket::bind((self.ip, 0)).ok();
        };
        let span = usize::from(*range.end() - *range.start()) + 1;
        if self.sockets.len() >= span {
            return None;
        }
        for _ in 0..span {
            let port = self.cursor;
            self.cursor = if port >= *range.end() {
                *range.start()
            } else {
                port + 1
            };
            if self.sockets.contains_key(&SocketAddr::new(self.ip, port)) {
                continue;
            }
            if let Ok(socket) = std::net::UdpSocket::bind((self.ip, port)) {
                return Some(socket);
            }
        }
        None
    }
}

impl RelayAllocator for RelayPorts {
    fn open_relay(&mut self) -> Option<SocketAddr> {
        let socket = self.bind()?;
        socket.set_nonblocking(true).ok()?;
        let socket = Arc::new(UdpSocket::from_std(socket).ok()?);
        let local = socket.local_addr().ok()?;
        let task = tokio::spawn(relay_receive(
            Arc::clone(&socket),
            local,
            self.inputs.clone(),
            self.shutdown.clone(),
        ));
        self.sockets.insert(local, RelaySocket { socket, task });
        Some(local)
    }
}

async fn relay_receive(
    socket: Arc<UdpSocket>,
    relay: SocketAddr,
    inputs: mpsc::Sender<Input>,
    shutdown: watch::Receiver<bool>,
) {
    receive(socket, inputs, shutdown, |peer, data| Input::Peer {
        relay,
        peer,
        data,
    })
    .await;
}
