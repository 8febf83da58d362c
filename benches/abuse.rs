//! What a hostile or flaky client costs the server (issue 12's figures):
//!
//! - a half-open flood (2,000 idle TCP connections and 300 slowloris ones
//!   from 23 addresses) against `confer serve` with its default timeouts
//!   under `ulimit -n 1024`: attacker connections held open over time, the
//!   server's open files and memory before, at the peak and after, and
//!   whether `/healthz` and logins from another address kept working;
//! - a publishing client frozen past the heartbeat timeout (SIGSTOP, as in a
//!   suspend) then thawed, 10 rounds: SIGCONT to its new login, and to the
//!   player's first frame captured after the thaw (p50 and max).

use server::ServerConfig;
use std::time::Duration;
use test_support::flood::{self, Flood, ServeProcess};
use test_support::{frozen, TestServer};

fn main() {
    test_support::block_on(run());
}

async fn run() {
    let defaults = ServerConfig::generate_local();
    println!(
        "flood_header_read_timeout_ms {}",
        defaults.header_read_timeout_ms
    );
    let server = ServeProcess::start(defaults, 1024).await;
    let report = flood::run(&server, Flood::half_open(Duration::from_millis(500))).await;
    let mut next_second = 0;
    for (ms, held) in &report.held_open {
        if *ms >= next_second * 1000 {
            println!("flood_held_open_at_{next_second}s {held}");
            next_second += 1;
        }
    }
    let mut closed = report.closed_after_ms.clone();
    closed.sort_unstable();
    println!("flood_refused_at_accept {}", report.refused_at_accept);
    println!("flood_closed_by_server {}", closed.len());
    println!("flood_never_closed {}", report.never_closed);
    println!("flood_connect_failed {}", report.connect_failed);
    println!(
        "flood_held_ms_p50 {}",
        closed.get(closed.len() / 2).copied().unwrap_or(0)
    );
    println!("flood_held_ms_max {}", closed.last().copied().unwrap_or(0));
    println!(
        "flood_legit_checks_ok {}/{}",
        report.health_checks + report.logins - report.failures.len(),
        report.health_checks + report.logins
    );
    for (phase, i) in [("before", 0), ("peak", 1), ("after", 2)] {
        println!("flood_server_fds_{phase} {}", report.fds[i]);
        println!("flood_server_rss_mib_{phase} {:.1}", report.rss_mib[i]);
    }
    drop(server);

    let server = TestServer::start_with(|c| {
        c.heartbeat_interval_ms = 250;
        c.heartbeat_timeout_ms = 1_000;
    })
    .await;
    let rounds = frozen::freeze_rounds(&server, 10, Duration::from_millis(2_000)).await;
    let mut relogin: Vec<f64> = rounds
        .iter()
        .map(|r| r.relogin.as_secs_f64() * 1e3)
        .collect();
    let mut frames: Vec<f64> = rounds
        .iter()
        .map(|r| r.frames_again.as_secs_f64() * 1e3)
        .collect();
    relogin.sort_by(f64::total_cmp);
    frames.sort_by(f64::total_cmp);
    println!("frozen_rounds {}", rounds.len());
    println!("frozen_relogin_ms_p50 {:.0}", relogin[relogin.len() / 2]);
    println!("frozen_relogin_ms_max {:.0}", relogin[relogin.len() - 1]);
    println!("frozen_frames_again_ms_p50 {:.0}", frames[frames.len() / 2]);
    println!("frozen_frames_again_ms_max {:.0}", frames[frames.len() - 1]);
}
