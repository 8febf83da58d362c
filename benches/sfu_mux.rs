//! The SFU's CPU with its one shared media port (the mux) against one UDP
//! port per peer connection, in one run (one figure per line): a 720p
//! publisher and 16 players (video muted at the players, so they do not
//! decode; the SFU forwards to every one), the server a separate `confer
//! serve` process whose CPU time is read over a window.

mod support;

use std::time::Duration;
use support::{Peer, ServerProcess, TICKS_PER_SECOND};

const PLAYERS: usize = 16;
const WARMUP: Duration = Duration::from_secs(3);
const WINDOW: Duration = Duration::from_secs(15);

fn main() {
    support::block_on(async {
        for (mode, mux) in [("muxed", true), ("per_port", false)] {
            let server = ServerProcess::start_with(&format!("sfu-mux-{mode}"), |c| {
                c.media.mux = mux;
            })
            .await;
            let (cpu, rss_mb) = fan_out(&server).await;
            println!("sfu_{PLAYERS}_players_{mode}_server_cpu_percent {cpu:.1}");
            println!("sfu_{PLAYERS}_players_{mode}_server_rss_mb {rss_mb:.1}");
            server.stop();
        }
    });
}

/// One publisher and [`PLAYERS`] players on `server`; its CPU (percent of
/// one core) over [`WINDOW`] once they all play, and its RSS.
async fn fan_out(server: &ServerProcess) -> (f64, f64) {
    let mut publisher = Peer::new(&server.url, &server.app, "sfu-mux", "publisher");
    publisher.publish_720p("cam").await;
    let mut players = Vec::new();
    for i in 0..PLAYERS {
        let user = format!("player{i}");
        players.push(Peer::listener(&server.url, &server.app, "sfu-mux", &user, "cam").await);
    }
    tokio::time::sleep(WARMUP).await;
    let cpu0 = server.cpu_ticks();
    let deadline = tokio::time::Instant::now() + WINDOW;
    // Keep the event queues short while the window runs.
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        for p in players.iter_mut().chain(std::iter::once(&mut publisher)) {
            while p.events.try_recv().is_ok() {}
        }
    }
    let cpu1 = server.cpu_ticks();
    let cpu = (cpu1 - cpu0) as f64 / TICKS_PER_SECOND / WINDOW.as_secs_f64() * 100.0;
    let rss_mb = server.rss_kb() as f64 / 1024.0;
    for p in players {
        p.engine.destroy().await;
    }
    publisher.engine.destroy().await;
    (cpu, rss_mb)
}
