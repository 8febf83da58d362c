//! The tokio shell: a UDP relay in front of a server's port. Each client
//! address that sends to the relay gets its own socket towards the target
//! (so the server sees one peer per client, as behind a NAT); everything
//! going up (client -> target) shares one [`Link`] and everything coming
//! down shares another, as on a household access link.
//!
//! The relay stops when the last [`Relay`] handle is dropped.

use crate::link::{Link, LinkStats};
use crate::timeline::Timeline;
use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The largest datagram relayed.
const MAX_DATAGRAM: usize = 65_535;

/// A direction through the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the clients to the target.
    Up,
    /// From the target back to the clients.
    Down,
}

/// How to start a [`Relay`].
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Where clients send (port 0 picks one).
    pub listen: SocketAddr,
    /// The server the relay forwards to.
    pub target: SocketAddr,
    /// Conditions from the clients to the target.
    pub up: Timeline,
    /// Conditions from the target to the clients.
    pub down: Timeline,
    /// Seed of the loss, jitter and reordering draws (two runs with the
    /// same seed and the same packet times impair the same packets).
    pub seed: u64,
    /// Keep everything that is not RTP/RTCP (STUN, DTLS) out of loss and
    /// queue drops, so tests of media repair keep their connection up.
    pub protect_handshakes: bool,
}

/// A datagram on its way through one direction.
struct Datagram {
    data: Vec<u8>,
    /// Up: the flow's socket towards the target; down: the client.
    route: Route,
}

enum Route {
    Up(Arc<UdpSocket>),
    Down(SocketAddr),
}

/// What a direction's task is fed.
enum Input {
    Packet(Datagram),
    Timeline(Timeline),
}

/// The relay's tasks, aborted when the last handle goes.
#[derive(Default)]
struct Tasks(Mutex<Vec<JoinHandle<()>>>);

impl Tasks {
    fn add(&self, task: JoinHandle<()>) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(task);
    }
}

impl Drop for Tasks {
    fn drop(&mut self) {
        for task in self
            .0
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            task.abort();
        }
    }
}

/// A running impairment relay; clones share it.
#[derive(Clone)]
pub struct Relay {
    local: SocketAddr,
    up: mpsc::UnboundedSender<Input>,
    down: mpsc::UnboundedSender<Input>,
    stats: Arc<[Mutex<LinkStats>; 2]>,
    _tasks: Arc<Tasks>,
}

impl Relay {
    /// Binds `config.listen` and starts relaying.
    pub async fn start(config: RelayConfig) -> std::io::Result<Relay> {
        let front = Arc::new(UdpSocket::bind(config.listen).await?);
        let local = front.local_addr()?;
        let now = Instant::now();
        let stats: Arc<[Mutex<LinkStats>; 2]> = Arc::default();
        let tasks = Arc::new(Tasks::default());
        let (up, up_rx) = mpsc::unbounded_channel();
        let (down, down_rx) = mpsc::unbounded_channel();
        let protect = config.protect_handshakes;
        for (index, rx, timeline, seed) in [
            (0, up_rx, config.up, config.seed),
            (1, down_rx, config.down, config.seed.wrapping_add(1)),
        ] {
            let link = Link::new(timeline, now, seed);
            let (front, stats) = (Arc::clone(&front), Arc::clone(&stats));
            tasks.add(tokio::spawn(async move {
                carry(link, rx, front, &stats[index], protect).await;
            }));
        }
        let flows = Flows {
            front: Arc::clone(&front),
            target: config.target,
            up: up.clone(),
            down: down.clone(),
            tasks: Arc::downgrade(&tasks),
        };
        tasks.add(tokio::spawn(flows.accept()));
        Ok(Relay {
            local,
            up,
            down,
            stats,
            _tasks: tasks,
        })
    }

    /// The address clients send to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Follows `timeline` in `direction` from now on.
    pub fn set(&self, direction: Direction, timeline: Timeline) {
        let sender = match direction {
            Direction::Up => &self.up,
            Direction::Down => &self.down,
        };
        // The task only ends with the relay, which this handle keeps alive.
        let _ = sender.send(Input::Timeline(timeline));
    }

    /// Follows `timeline` both ways from now on.
    pub fn set_both(&self, timeline: Timeline) {
        self.set(Direction::Up, timeline.clone());
        self.set(Direction::Down, timeline);
    }

    /// The counters of `direction` so far.
    pub fn stats(&self, direction: Direction) -> LinkStats {
        let slot = &self.stats[direction as usize];
        *slot.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Whether a datagram is RTP or RTCP (RFC 7983: first byte 128..=191).
fn is_media(data: &[u8]) -> bool {
    data.first().is_some_and(|b| (128..=191).contains(b))
}

/// One direction's task: feeds packets into its link and sends what the
/// link delivers when it is due.
async fn carry(
    mut link: Link<Datagram>,
    mut rx: mpsc::UnboundedReceiver<Input>,
    front: Arc<UdpSocket>,
    stats: &Mutex<LinkStats>,
    protect: bool,
) {
    loop {
        let due = link.poll_timeout();
        tokio::select! {
            input = rx.recv() => match input {
                None => return,
                Some(Input::Packet(datagram)) => {
                    let protected = protect && !is_media(&datagram.data);
                    let len = datagram.data.len();
                    link.send(Instant::now(), len, datagram, protected);
                }
                Some(Input::Timeline(timeline)) => link.set_timeline(timeline, Instant::now()),
            },
            _ = sleep_until(due), if due.is_some() => {}
        }
        let now = Instant::now();
        while let Some(datagram) = link.poll_deliver(now, |d| d.data.len()) {
            // A send that fails (the far end is gone) is a lost packet.
            let _ = match &datagram.route {
                Route::Up(socket) => socket.send(&datagram.data).await,
                Route::Down(client) => front.send_to(&datagram.data, *client).await,
            };
        }
        *stats.lock().unwrap_or_else(|e| e.into_inner()) = link.stats();
    }
}

async fn sleep_until(due: Option<Instant>) {
    if let Some(due) = due {
        tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await;
    }
}

/// Accepts datagrams from clients and gives each client its own socket
/// towards the target.
struct Flows {
    front: Arc<UdpSocket>,
    target: SocketAddr,
    up: mpsc::UnboundedSender<Input>,
    down: mpsc::UnboundedSender<Input>,
    tasks: std::sync::Weak<Tasks>,
}

impl Flows {
    async fn accept(self) {
        let mut sockets: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
        let mut buf = vec![0u8; MAX_DATAGRAM];
        while let Ok((len, client)) = self.front.recv_from(&mut buf).await {
            let socket = match sockets.get(&client) {
                Some(socket) => Arc::clone(socket),
                None => match self.open(client).await {
                    Ok(socket) => Arc::clone(sockets.entry(client).or_insert(socket)),
                    Err(e) => {
                        tracing::warn!(%client, error = %e, "impair: no socket towards the target");
                        continue;
                    }
                },
            };
            let datagram = Datagram {
                data: buf[..len].to_vec(),
                route: Route::Up(socket),
            };
            if self.up.send(Input::Packet(datagram)).is_err() {
                return;
            }
        }
    }

    /// A socket towards the target for `client`, and the task carrying
    /// what comes back.
    async fn open(&self, client: SocketAddr) -> std::io::Result<Arc<UdpSocket>> {
        let any: SocketAddr = match self.target {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let socket = Arc::new(UdpSocket::bind(any).await?);
        socket.connect(self.target).await?;
        let (back, down) = (Arc::clone(&socket), self.down.clone());
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; MAX_DATAGRAM];
            while let Ok(len) = back.recv(&mut buf).await {
                let datagram = Datagram {
                    data: buf[..len].to_vec(),
                    route: Route::Down(client),
                };
                if down.send(Input::Packet(datagram)).is_err() {
                    return;
                }
            }
        });
        match self.tasks.upgrade() {
            Some(tasks) => tasks.add(task),
            None => task.abort(),
        }
        Ok(socket)
    }
}
