//! Failover time on three `confer serve` nodes sharing one Redis (lease
//! 2 s): a publisher and a player, each through a front door preferring a
//! different node; the room's node is SIGKILLed and the time from the kill
//! to the player's first decoded frame captured after the node died (its
//! barcode's capture time: frames queued or in flight when the node died do
//! not count) is measured, KILLS times (the killed
//! node is started again after each), within BUDGET in all (30 s at most
//! per kill). Prints one figure per line.

mod support;

use media_core::PlayerState;
use server::ServerConfig;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::pct;
use test_support::cluster::{kill_node, serve_node, Front, Redis};
use test_support::flood::ServeProcess;
use test_support::media::VideoProbe;
use test_support::peer::engine_profile;
use test_support::Peer;

const KILLS: usize = 20;
/// The whole bench's time bound: kills not started by then are not run.
const BUDGET: Duration = Duration::from_secs(600);
const LEASE_MS: u64 = 2_000;
const ROOM: &str = "failover-room";

/// The first frame captured after `after_us` (Unix µs) arrives, within
/// 30 s: `None` if none does.
async fn frame_after(probe: &mut VideoProbe, after_us: u64) -> Option<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let seen = probe.first(left).await?;
        if seen.capture_time_us > after_us {
            return Some(());
        }
    }
}

/// Now, Unix µs (the barcode's clock).
fn unix_us() -> u64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH);
    since.map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Waits (5 s at most) until process `pid` has died (a zombie or gone).
async fn gone(pid: u32) {
    for _ in 0..500 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // The state follows the command name's closing parenthesis.
        let state = stat.rsplit(')').next().map(str::trim_start);
        if state.is_none_or(|s| s.is_empty() || s.starts_with(['Z', 'X'])) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The node that owns [`ROOM`] now, by its URL in Redis.
async fn owner(redis: &Redis, app_id: u32, nodes: &[ServeProcess]) -> usize {
    let owners = format!("confer:app:{app_id}:owners");
    let id = redis.cli(&["--raw", "HGET", &owners, ROOM]).await;
    let url = redis
        .cli(&["--raw", "GET", &format!("confer:node:{id}")])
        .await;
    nodes
        .iter()
        .position(|n| n.url == url)
        .expect("the room's owner is one of the nodes")
}

fn main() {
    // The clients' logs, for a slow kill: RUST_LOG=media_core::room=info.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_timer(tracing_subscriber::fmt::time::uptime())
        .try_init();
    support::block_on(async {
        let Some(redis) = Redis::start("failover bench").await else {
            return;
        };
        let mut config = ServerConfig::generate_local();
        config.bind = "127.0.0.1:0".parse().expect("literal address");
        config.heartbeat_interval_ms = 500;
        config.heartbeat_timeout_ms = 3_000;
        let app_id = config.apps[0].app_id;
        let mut nodes = Vec::new();
        for _ in 0..3 {
            nodes.push(serve_node(&config, &redis, LEASE_MS).await);
        }
        // Fronts by port, so a restarted node (same port) is reached again.
        let addrs: Vec<_> = nodes.iter().map(|n| n.addr).collect();
        let fa = Front::start(vec![addrs[0], addrs[1], addrs[2]]).await;
        let fb = Front::start(vec![addrs[1], addrs[2], addrs[0]]).await;
        let mut a = Peer::join(engine_profile(&config.apps[0], &fa.url), ROOM, "a", true).await;
        let mut b = Peer::join(engine_profile(&config.apps[0], &fb.url), ROOM, "b", true).await;
        a.publish("a-cam").await;
        let mut video = b.play_video("a-cam");
        b.wait_player_state(PlayerState::Playing).await;
        frame_after(&mut video, 0).await.expect("first frame");

        let mut samples = Vec::new();
        let began = Instant::now();
        for _ in 0..KILLS {
            if began.elapsed() > BUDGET {
                println!("failover_budget_exhausted_s {}", BUDGET.as_secs());
                break;
            }
            let dead = owner(&redis, app_id, &nodes).await;
            let killed = Instant::now();
            kill_node(&nodes[dead]);
            // Frames count from its death, not from the signal: a node
            // still forwarding for a few ms made a 16 ms sample (and the
            // next kill hit its restarted successor, the room elsewhere).
            gone(nodes[dead].pid()).await;
            let dead_us = unix_us();
            tracing::info!(node = dead, "failover bench: node killed");
            if frame_after(&mut video, dead_us).await.is_none() {
                println!("failover_no_media_within_30s 1");
                break;
            }
            let sample = killed.elapsed().as_secs_f64() * 1000.0;
            println!("failover_kill_ms {sample:.0}");
            samples.push(sample);
            // Back to three nodes, on the same port (the fronts know it).
            let mut again = config.clone();
            again.bind = nodes[dead].addr;
            nodes[dead] = serve_node(&again, &redis, LEASE_MS).await;
        }
        samples.sort_by(f64::total_cmp);
        println!("failover_lease_ms {LEASE_MS}");
        println!("failover_kills {}", samples.len());
        if !samples.is_empty() {
            println!("failover_kill_to_media_p50_ms {:.0}", pct(&samples, 0.50));
            println!("failover_kill_to_media_p99_ms {:.0}", pct(&samples, 0.99));
            println!("failover_kill_to_media_max_ms {:.0}", pct(&samples, 1.0));
        }
        a.engine.destroy().await;
        b.engine.destroy().await;
    });
}
