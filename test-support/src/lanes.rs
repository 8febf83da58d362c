//! A [`SplitRelay`] in front of the SFU's media port, and the capacity
//! links its lanes model: what tests and benches that put one participant
//! behind a worse link share.

use crate::split_relay::SplitRelay;
use crate::udp_relay::RELAY_IP;
use impair::Conditions;
use std::net::SocketAddr;

/// A UDP port free on 127.0.0.1 and on the relay's address right now (the
/// SFU binds it on the first, the relay on the second).
pub fn free_udp_port() -> u16 {
    loop {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let port = socket.local_addr().expect("addr").port();
        if std::net::UdpSocket::bind(SocketAddr::from((RELAY_IP, port))).is_ok() {
            return port;
        }
    }
}

/// A split relay with `lanes` lanes on the relay's address in front of
/// the SFU's media port `port` on 127.0.0.1 (the server announces
/// [`RELAY_IP`]).
pub async fn split_relay_in_front(port: u16, lanes: usize) -> SplitRelay {
    SplitRelay::start(
        SocketAddr::from((RELAY_IP, port)),
        SocketAddr::from(([127, 0, 0, 1], port)),
        lanes,
    )
    .await
    .expect("relay binds 127.0.0.2")
}

/// A capacity of `kbps` behind a drop-tail queue of about 200 ms of
/// 1200-byte packets (at least 8).
pub fn capacity(kbps: u64) -> Conditions {
    let queue = (kbps * 1000 / 5 / (8 * 1200)).max(8);
    format!("rate={kbps}kbps,queue={queue}")
        .parse()
        .expect("capacity spec")
}
