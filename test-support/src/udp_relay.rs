//! A UDP relay in front of the SFU's media ports, for loss tests: the
//! server announces the relay's IP (`[media] announced_ips`), so peers reach
//! the SFU only through it. It is the `impair` crate's relay with its
//! handshakes protected: a chosen share of the RTP/RTCP packets is lost
//! (STUN and DTLS always pass, so connectivity stays up; 100% is a
//! blackout), and media can be capped behind a drop-tail queue.

use impair::{Conditions, Direction, LossModel, Relay, RelayConfig, Timeline};
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The IP the relay listens on (the SFU binds 127.0.0.1).
pub const RELAY_IP: [u8; 4] = [127, 0, 0, 2];

/// The queue in front of a capped link, in packets: about 100 ms of
/// 1200-byte packets at 1 Mbit/s.
const CAPPED_QUEUE_PACKETS: usize = 10;

/// A running relay; clones share it.
#[derive(Clone)]
pub struct UdpRelay {
    relays: Vec<Relay>,
    conditions: Arc<Mutex<Conditions>>,
}

impl UdpRelay {
    /// Relays `RELAY_IP:port` to `127.0.0.1:port` for every port in `ports`.
    pub async fn start(ports: RangeInclusive<u16>) -> UdpRelay {
        let mut relays = Vec::new();
        for port in ports {
            let relay = Relay::start(RelayConfig {
                listen: SocketAddr::from((RELAY_IP, port)),
                target: SocketAddr::from(([127, 0, 0, 1], port)),
                up: Timeline::constant(Conditions::default()),
                down: Timeline::constant(Conditions::default()),
                seed: u64::from(port),
                protect_handshakes: true,
            })
            .await
            .expect("relay binds 127.0.0.2");
            relays.push(relay);
        }
        UdpRelay {
            relays,
            conditions: Arc::default(),
        }
    }

    /// Loses `percent` of media packets each way from now on (100 =
    /// blackout).
    pub fn set_loss_percent(&self, percent: u64) {
        let rate = percent.min(100) as f64 / 100.0;
        self.change(|c| c.loss = LossModel::None.with_rate(rate));
    }

    /// Caps media each way at `kbps` (0 = no cap) behind a short drop-tail
    /// queue.
    pub fn set_rate_kbps(&self, kbps: u64) {
        self.change(|c| {
            c.rate_bps = (kbps > 0).then_some(kbps * 1000);
            c.queue_packets = CAPPED_QUEUE_PACKETS;
        });
    }

    /// Sends `percent` of media packets each way without the delay (they
    /// overtake the ones before them, as netem's `reorder`) from now on.
    pub fn set_reorder_percent(&self, percent: u64) {
        self.change(|c| c.reorder = percent.min(100) as f64 / 100.0);
    }

    /// Delays every packet by `one_way` each way from now on.
    pub fn set_delay(&self, one_way: Duration) {
        self.change(|c| c.delay = one_way);
    }

    /// Media packets lost or dropped so far, both ways.
    pub fn dropped(&self) -> u64 {
        self.relays
            .iter()
            .flat_map(|r| [r.stats(Direction::Up), r.stats(Direction::Down)])
            .map(|s| s.lost + s.queue_drops)
            .sum()
    }

    /// Media packets lost or dropped so far toward the SFU and from it.
    pub fn dropped_each_way(&self) -> (u64, u64) {
        let way = |d| {
            self.relays
                .iter()
                .map(|r| r.stats(d))
                .map(|s| s.lost + s.queue_drops)
                .sum()
        };
        (way(Direction::Up), way(Direction::Down))
    }

    fn change(&self, edit: impl FnOnce(&mut Conditions)) {
        let mut conditions = self.conditions.lock().expect("relay conditions");
        edit(&mut conditions);
        for relay in &self.relays {
            relay.set_both(Timeline::constant(conditions.clone()));
        }
    }
}
