//! Login time on loopback: `Engine::create` -> RoomStateUpdate Connected,
//! over 500 logins against an in-process server. Prints one figure per line.
//! Target: p50 < 5 ms.

mod support;

use media_core::RoomState;
use std::time::Instant;
use support::pct;
use test_support::{Peer, TestServer};

const LOGINS: usize = 500;

fn main() {
    support::block_on(async {
        let server = TestServer::start().await;
        // Warm up: first connection pays for lazy initialisation.
        let warm = Peer::join(server.profile(), "bench-room", "warm", true).await;
        let mut samples = Vec::with_capacity(LOGINS);
        for i in 0..LOGINS {
            let start = Instant::now();
            let mut p = Peer::create(server.profile(), &format!("user-{i}"));
            p.login(&format!("room-{}", i % 50), true, None);
            p.wait_state(RoomState::Connected).await;
            samples.push(start.elapsed().as_secs_f64() * 1000.0);
            p.engine.destroy().await;
        }
        warm.engine.destroy().await;
        samples.sort_by(f64::total_cmp);
        println!("login_samples {LOGINS}");
        println!(
            "login_create_to_connected_p50_ms {:.3}",
            pct(&samples, 0.50)
        );
        println!(
            "login_create_to_connected_p99_ms {:.3}",
            pct(&samples, 0.99)
        );
        println!("login_create_to_connected_max_ms {:.3}", pct(&samples, 1.0));
    });
}
