//! One relay address in front of the SFU's media port with several impaired
//! lanes behind it, so one participant can sit behind a worse link than the
//! others while the server announces a single address.
//!
//! An [`impair::Relay`] applies one link per direction to every flow
//! through it. Here a front socket (the announced address) hands each new
//! client flow to one lane, an [`impair::Relay`] of its own, chosen when
//! the flow's first datagram arrives ([`SplitRelay::route_new_flows`]).
//! A flow keeps its lane for good, which works for native engines and for
//! Chromium alike: whoever joins while lane 1 is selected is the weak
//! player. The front hop itself adds no impairment.

use impair::{Conditions, Relay, RelayConfig, Timeline};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// The largest datagram relayed.
const MAX_DATAGRAM: usize = 65_535;

/// A running split relay; it stops when dropped.
pub struct SplitRelay {
    lanes: Vec<Relay>,
    route: Arc<AtomicUsize>,
    /// The front task and each flow's return task.
    tasks: Tasks,
}

/// Tasks aborted together.
type Tasks = Arc<Mutex<Vec<JoinHandle<()>>>>;

impl SplitRelay {
    /// Listens on `listen` and forwards to `target` through `lanes` lanes
    /// (clean until told otherwise; handshakes are impaired like media).
    /// New flows go to lane 0.
    pub async fn start(
        listen: SocketAddr,
        target: SocketAddr,
        lanes: usize,
    ) -> std::io::Result<SplitRelay> {
        let mut relays = Vec::with_capacity(lanes);
        for lane in 0..lanes {
            relays.push(
                Relay::start(RelayConfig {
                    listen: SocketAddr::from(([127, 0, 0, 1], 0)),
                    target,
                    up: Timeline::constant(Conditions::default()),
                    down: Timeline::constant(Conditions::default()),
                    seed: 15 + lane as u64,
                    protect_handshakes: false,
                })
                .await?,
            );
        }
        let front = Arc::new(UdpSocket::bind(listen).await?);
        let route = Arc::new(AtomicUsize::new(0));
        let lane_addrs = relays.iter().map(Relay::local_addr).collect();
        let tasks = Tasks::default();
        let front = tokio::spawn(accept(
            front,
            lane_addrs,
            Arc::clone(&route),
            Arc::clone(&tasks),
        ));
        tasks.lock().unwrap_or_else(|e| e.into_inner()).push(front);
        Ok(SplitRelay {
            lanes: relays,
            route,
            tasks,
        })
    }

    /// Flows seen from now on go through `lane`.
    pub fn route_new_flows(&self, lane: usize) {
        assert!(lane < self.lanes.len(), "no lane {lane}");
        self.route.store(lane, Ordering::SeqCst);
    }

    /// The relay of `lane` (to set its conditions and read its counters).
    pub fn lane(&self, lane: usize) -> &Relay {
        &self.lanes[lane]
    }

    /// Every lane clean again.
    pub fn clear(&self) {
        for lane in &self.lanes {
            lane.set_both(Timeline::constant(Conditions::default()));
        }
    }
}

impl Drop for SplitRelay {
    fn drop(&mut self) {
        for task in self
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            task.abort();
        }
    }
}

/// Hands each client's datagrams to its lane through a socket of its own,
/// and what comes back to the client from the front address.
async fn accept(
    front: Arc<UdpSocket>,
    lanes: Vec<SocketAddr>,
    route: Arc<AtomicUsize>,
    tasks: Tasks,
) {
    let mut flows: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    while let Ok((len, client)) = front.recv_from(&mut buf).await {
        let socket = match flows.get(&client) {
            Some(socket) => Arc::clone(socket),
            None => {
                let lane = lanes[route.load(Ordering::SeqCst)];
                let Ok(socket) = open(lane).await else {
                    continue;
                };
                let (back, front) = (Arc::clone(&socket), Arc::clone(&front));
                let task = tokio::spawn(async move {
                    let mut buf = vec![0u8; MAX_DATAGRAM];
                    while let Ok(len) = back.recv(&mut buf).await {
                        let _ = front.send_to(&buf[..len], client).await;
                    }
                });
                tasks.lock().unwrap_or_else(|e| e.into_inner()).push(task);
                Arc::clone(flows.entry(client).or_insert(socket))
            }
        };
        // A failed send is a lost datagram, as on a network.
        let _ = socket.send(&buf[..len]).await;
    }
}

/// A socket connected to a lane's relay.
async fn open(lane: SocketAddr) -> std::io::Result<Arc<UdpSocket>> {
    let socket = UdpSocket::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    socket.connect(lane).await?;
    Ok(Arc::new(socket))
}
