//! `confer bench` against a real server: one room, one WHIP publisher
//! replaying the pre-encoded loop, two WHEP players, 3 s; every player
//! receives frames and every figure line is printed (the server's CPU and
//! RSS too: it runs in this test's process).

use std::time::Duration;
use test_support::{unix_now, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_bench_prints_fps_latency_and_server_figures() {
    let server = TestServer::start().await;
    let admin = server::jwt::mint_admin(
        server.app.server_secret.as_bytes(),
        server.app.app_id,
        unix_now(),
        600,
    );
    let mut bench = tokio::process::Command::new(env!("CARGO_BIN_EXE_confer"));
    bench
        .args([
            "bench",
            "--server",
            &server.http_url(),
            "--admin-token",
            &admin,
        ])
        .args([
            "--rooms",
            "1",
            "--publishers",
            "1",
            "--players",
            "2",
            "--seconds",
            "3",
        ])
        .args(["--server-pid", &std::process::id().to_string()])
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(25), bench.output())
        .await
        .expect("the bench ends within 25 s")
        .expect("runs confer bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "confer bench failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let players: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("player "))
        .collect();
    assert_eq!(players.len(), 2, "one line per player: {stdout}");
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
    for figure in [
        "join_p50_ms",
        "join_p99_ms",
        "fanout_latency_p50_ms",
        "fanout_latency_p99_ms",
        "player_fps_mean",
        "server_cpu_percent",
        "server_rss_mb",
    ] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&format!("{figure} ")))
            .unwrap_or_else(|| panic!("no {figure} line: {stdout}"));
        let value: f64 = line[figure.len() + 1..].parse().expect("a number");
        assert!(value >= 0.0, "{line}");
    }
    server.shutdown().await;
}
