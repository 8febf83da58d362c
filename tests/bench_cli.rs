//! `confer bench` against real servers:
//!
//! - one server, one room, one WHIP publisher replaying the pre-encoded
//!   loop, two WHEP players, 3 s: every player receives frames and every
//!   figure line is printed (the server's CPU and RSS too: it runs in this
//!   test's process);
//! - two `confer serve` nodes on one real Redis, the bench entering through
//!   both: the sessions that reach the node without the room are
//!   redirected (307) to the room's node, and every player gets frames.

use server::ServerConfig;
use std::time::Duration;
use test_support::cluster::{serve_node, Redis};
use test_support::{unix_now, TestServer};

/// Runs `confer bench` with `args` (25 s at most) and returns its stdout.
async fn bench(args: &[&str]) -> String {
    let mut bench = tokio::process::Command::new(env!("CARGO_BIN_EXE_confer"));
    bench.arg("bench").args(args).kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(25), bench.output())
        .await
        .expect("the bench ends within 25 s")
        .expect("runs confer bench");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "confer bench failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The value of the one-figure line `name value`.
fn figure(stdout: &str, name: &str) -> f64 {
    let line = stdout
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} line: {stdout}"));
    line[name.len() + 1..]
        .parse()
        .unwrap_or_else(|_| panic!("not a number: {line}"))
}

/// Checks every `player` line has frames, bytes and a latency, and that
/// there are `expected` of them.
fn check_players(stdout: &str, expected: usize) {
    let players: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("player "))
        .collect();
    assert_eq!(players.len(), expected, "one line per player: {stdout}");
    for line in players {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let value = |name: &str| -> f64 {
            let at = fields.iter().position(|f| *f == name).expect(name);
            fields[at + 1].parse().expect("a number")
        };
        assert!(value("fps") > 0.0, "no frames: {line}");
        assert!(value("kbps") > 0.0, "no bytes: {line}");
        let p99 = value("latency_p99_ms");
        assert!(p99 > 0.0 && p99 < 5000.0, "latency from the loop: {line}");
    }
}

fn admin_token(app: &server::AppConfig) -> String {
    server::jwt::mint_admin(app.server_secret.as_bytes(), app.app_id, unix_now(), 600)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_bench_prints_fps_latency_and_server_figures() {
    let server = TestServer::start().await;
    let admin = admin_token(&server.app);
    let pid = std::process::id().to_string();
    let stdout = bench(&[
        "--server",
        &server.http_url(),
        "--admin-token",
        &admin,
        "--rooms",
        "1",
        "--publishers",
        "1",
        "--players",
        "2",
        "--seconds",
        "3",
        "--server-pid",
        &pid,
    ])
    .await;
    check_players(&stdout, 2);
    for name in [
        "join_p50_ms",
        "join_p99_ms",
        "fanout_latency_p50_ms",
        "fanout_latency_p99_ms",
        "player_fps_mean",
        "server_cpu_percent",
        "server_rss_mb",
    ] {
        assert!(figure(&stdout, name) >= 0.0, "{name}: {stdout}");
    }
    assert_eq!(figure(&stdout, "publish_failed"), 0.0, "{stdout}");
    assert_eq!(figure(&stdout, "play_failed"), 0.0, "{stdout}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whip_and_whep_posts_follow_the_redirect_to_the_rooms_node() {
    let Some(redis) = Redis::start("bench over two nodes").await else {
        return;
    };
    let mut config = ServerConfig::generate_local();
    config.bind = "127.0.0.1:0".parse().expect("literal address");
    let a = serve_node(&config, &redis, 2_000).await;
    let b = serve_node(&config, &redis, 2_000).await;
    let admin = admin_token(&config.apps[0]);
    let (url_a, url_b) = (format!("http://{}", a.addr), format!("http://{}", b.addr));
    let (pid_a, pid_b) = (a.pid().to_string(), b.pid().to_string());
    // Room 0's publisher enters at a, its players at b then a: b redirects.
    let stdout = bench(&[
        "--server",
        &url_a,
        "--admin-token",
        &admin,
        "--entry",
        &url_a,
        "--entry",
        &url_b,
        "--rooms",
        "1",
        "--players",
        "2",
        "--seconds",
        "2",
        "--server-pid",
        &pid_a,
        "--server-pid",
        &pid_b,
    ])
    .await;
    check_players(&stdout, 2);
    assert_eq!(figure(&stdout, "redirects_followed"), 1.0, "{stdout}");
    assert_eq!(figure(&stdout, "publish_failed"), 0.0, "{stdout}");
    assert_eq!(figure(&stdout, "play_failed"), 0.0, "{stdout}");
    assert_eq!(figure(&stdout, "server_nodes"), 2.0, "{stdout}");
}
