//! A UDP relay in front of the SFU's media ports, for loss tests: the
//! server announces the relay's IP (`[media] announced_ips`), so peers reach
//! the SFU only through it. It forwards both ways and drops a chosen share
//! of the RTP/RTCP packets (STUN and DTLS always pass, so connectivity
//! stays up); 100% is a blackout.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::UdpSocket;

/// The IP the relay listens on (the SFU binds 127.0.0.1).
pub const RELAY_IP: [u8; 4] = [127, 0, 0, 2];

/// A running relay.
#[derive(Clone)]
pub struct UdpRelay {
    loss_percent: Arc<AtomicU64>,
    dropped: Arc<AtomicU64>,
    /// Media bytes per second allowed through (0 = no cap), as a token
    /// bucket of one second: what exceeds it is dropped, like a full queue.
    cap: Arc<Mutex<Cap>>,
}

#[derive(Default)]
struct Cap {
    bytes_per_second: u64,
    tokens: f64,
    at: Option<std::time::Instant>,
}

impl Cap {
    fn admit(&mut self, len: usize) -> bool {
        if self.bytes_per_second == 0 {
            return true;
        }
        let now = std::time::Instant::now();
        let rate = self.bytes_per_second as f64;
        let elapsed = self.at.map_or(0.0, |t| now.duration_since(t).as_secs_f64());
        self.tokens = (self.tokens + elapsed * rate).min(rate);
        self.at = Some(now);
        if self.tokens >= len as f64 {
            self.tokens -= len as f64;
            true
        } else {
            false
        }
    }
}

impl UdpRelay {
    /// Relays `RELAY_IP:port` to `127.0.0.1:port` for every port in `ports`.
    pub async fn start(ports: RangeInclusive<u16>) -> UdpRelay {
        let relay = UdpRelay {
            loss_percent: Arc::new(AtomicU64::new(0)),
            dropped: Arc::new(AtomicU64::new(0)),
            cap: Arc::default(),
        };
        for port in ports {
            let front = Arc::new(
                UdpSocket::bind(SocketAddr::from((RELAY_IP, port)))
                    .await
                    .expect("relay binds 127.0.0.2"),
            );
            let target = SocketAddr::from(([127, 0, 0, 1], port));
            tokio::spawn(relay.clone().forward(front, target));
        }
        relay
    }

    /// Drops `percent` of media packets from now on (100 = blackout).
    pub fn set_loss_percent(&self, percent: u64) {
        self.loss_percent.store(percent.min(100), Ordering::Relaxed);
    }

    /// Caps media (both directions together) at `kbps` (0 = no cap).
    pub fn set_rate_kbps(&self, kbps: u64) {
        let mut cap = self.cap.lock().expect("relay cap");
        cap.bytes_per_second = kbps * 1000 / 8;
        cap.tokens = cap.bytes_per_second as f64;
        cap.at = None;
    }

    /// Media packets dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Whether to drop this packet: RTP/RTCP only (first byte 128..=191),
    /// spread deterministically (`n * 37 % 100`).
    fn lose(&self, data: &[u8], counter: &AtomicU64) -> bool {
        let media = data.first().is_some_and(|b| (128..=191).contains(b));
        let n = counter.fetch_add(1, Ordering::Relaxed);
        let drop = media
            && ((n * 37 % 100) < self.loss_percent.load(Ordering::Relaxed)
                || !self.cap.lock().expect("relay cap").admit(data.len()));
        if drop {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        drop
    }

    async fn forward(self, front: Arc<UdpSocket>, target: SocketAddr) {
        let backs: Arc<Mutex<HashMap<SocketAddr, Arc<UdpSocket>>>> = Arc::default();
        let counter = Arc::new(AtomicU64::new(0));
        let mut buf = vec![0u8; 2048];
        while let Ok((len, from)) = front.recv_from(&mut buf).await {
            let existing = backs.lock().expect("relay map").get(&from).cloned();
            let back = match existing {
                Some(b) => b,
                None => {
                    let b = Arc::new(
                        UdpSocket::bind("127.0.0.1:0")
                            .await
                            .expect("relay back socket"),
                    );
                    b.connect(target).await.expect("relay connect");
                    backs
                        .lock()
                        .expect("relay map")
                        .insert(from, Arc::clone(&b));
                    let (relay, front, b2, counter) = (
                        self.clone(),
                        Arc::clone(&front),
                        Arc::clone(&b),
                        Arc::clone(&counter),
                    );
                    tokio::spawn(async move {
                        let mut buf = vec![0u8; 2048];
                        while let Ok(len) = b2.recv(&mut buf).await {
                            if !relay.lose(&buf[..len], &counter) {
                                let _ = front.send_to(&buf[..len], from).await;
                            }
                        }
                    });
                    b
                }
            };
            if !self.lose(&buf[..len], &counter) {
                let _ = back.send(&buf[..len]).await;
            }
        }
    }
}
