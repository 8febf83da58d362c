//! Issue 13's figures, measured in network namespaces (as root; skipped
//! otherwise): `confer serve` on a "public" address with its built-in TURN
//! server (UDP and TCP on 3478, TLS on 443 of a second address), a 720p30
//! publisher at one home, and a player at homes whose routers let through
//! only one path each:
//!
//! - `direct`: nothing blocked (direct UDP to the SFU);
//! - `turn_udp`: only signaling and UDP to TURN (media relayed over UDP);
//! - `turn_tcp`: only TCP to signaling and TURN (relayed, TURN over TCP);
//! - `turn_tls`: only TCP 443 (relayed, TURN over TLS on 443);
//! - `ice_tcp`: only TCP to signaling and the SFU's ICE-TCP port.
//!
//! For each, in one run: login to first remote frame (the player's
//! `login_room` to its first decoded frame; p50 of 3 joins), and
//! glass-to-glass (capture to render, from the barcode stamp) p50/p99 over
//! 5 s, with the media path the player reported.

use serde_json::Value;
use std::time::{Duration, Instant};
use test_support::flood::ServeProcess;
use test_support::netns::{self, Client, Internet, Nat};
use test_support::tls::{LeafKind, TestCa};

const SERVER_IP: &str = "203.0.113.10";
const TURN_TLS_IP: &str = "203.0.113.11";
const SFU_UDP_PORT: u16 = 3480;
const SFU_TCP_PORT: u16 = 3479;
const JOINS: usize = 3;
const WINDOW: Duration = Duration::from_secs(5);

fn main() {
    netns::run_inside("real_networks_bench", run);
}

/// The forward rules of a case's home router (toward the server only).
fn rules(case: &str) -> Vec<String> {
    let servers = format!("{{ {SERVER_IP}, {TURN_TLS_IP} }}");
    let allow = match case {
        "direct" => return Vec::new(),
        "turn_udp" => vec![
            format!("ip daddr {SERVER_IP} tcp dport 443 accept"),
            format!("ip daddr {SERVER_IP} udp dport 3478 accept"),
        ],
        "turn_tcp" => vec![format!(
            "ip daddr {SERVER_IP} tcp dport {{ 443, 3478 }} accept"
        )],
        "turn_tls" => vec![format!("ip daddr {servers} tcp dport 443 accept")],
        "ice_tcp" => vec![format!(
            "ip daddr {SERVER_IP} tcp dport {{ 443, {SFU_TCP_PORT} }} accept"
        )],
        other => panic!("unknown case {other}"),
    };
    let mut all = allow;
    all.push(format!("ip daddr {servers} drop"));
    all
}

async fn run() {
    let mut net = Internet::new();
    net.public_host("pub", SERVER_IP);
    net.also_at("pub", TURN_TLS_IP);
    let ca = TestCa::new("bench-networks");
    let leaf = ca.leaf_for(&[SERVER_IP, TURN_TLS_IP], LeafKind::Good);
    let mut config = server::ServerConfig::generate_local();
    config.bind = format!("{SERVER_IP}:443").parse().expect("address");
    config.tls.cert_file = Some(leaf.cert_file);
    config.tls.key_file = Some(leaf.key_file);
    config.media.udp_bind_ip = SERVER_IP.parse().expect("address");
    config.media.udp_port = SFU_UDP_PORT;
    config.media.tcp_port = SFU_TCP_PORT;
    let mut turn = confer_turn::Config::default();
    turn.secret = "bench-turn-secret-0123456789".into();
    turn.listen_udp = format!("{SERVER_IP}:3478").parse().expect("address");
    turn.listen_tcp = Some(turn.listen_udp);
    turn.listen_tls = Some(format!("{TURN_TLS_IP}:443").parse().expect("address"));
    turn.relay_ip = SERVER_IP.parse().expect("address");
    // 720p30 runs at up to a few Mbit/s: no cap in the way of the figures.
    turn.bandwidth_bytes_per_sec = 0;
    config.turn = Some(turn);
    let serve = ServeProcess::launch(config, 4096, &[], Some("pub")).await;

    let source = net.home("src", "203.0.113.20", 1, Nat::EndpointIndependent);
    let mut publisher = confer_call(
        &serve,
        &ca,
        &source,
        "src",
        &["--publish", "src-cam", "--preset", "720p"],
    );
    let mut publisher_lines = test_support::cli::stdout_lines(&mut publisher);
    wait_line(&mut publisher_lines, "the publisher publishes", |v| {
        v["event"] == "PublisherStateUpdate" && v["state"] == "Publishing"
    })
    .await;
    test_support::cli::drain(publisher_lines);

    for (i, case) in ["direct", "turn_udp", "turn_tcp", "turn_tls", "ice_tcp"]
        .into_iter()
        .enumerate()
    {
        let n = u8::try_from(i + 2).expect("few cases");
        let home = net.home(
            case,
            &format!("203.0.113.{}", 30 + n),
            n,
            Nat::EndpointIndependent,
        );
        let rules = rules(case);
        if !rules.is_empty() {
            let rules: Vec<&str> = rules.iter().map(String::as_str).collect();
            netns::forward_rules(&format!("{case}-nat"), &rules);
        }
        let mut joins = Vec::new();
        let mut latencies = Vec::new();
        let mut path = Value::Null;
        for join in 0..JOINS {
            let user = format!("{case}-{join}");
            let mut player =
                confer_call(&serve, &ca, &home, &user, &["--play", "src-cam", "--probe"]);
            let mut lines = test_support::cli::stdout_lines(&mut player);
            wait_line(&mut lines, "the login starts", |v| {
                v["event"] == "RoomStateUpdate"
            })
            .await;
            let login = Instant::now();
            wait_line(&mut lines, "the first frame", |v| v["probe"] == "video").await;
            joins.push(login.elapsed().as_secs_f64() * 1000.0);
            if join + 1 == JOINS {
                let end = Instant::now() + WINDOW;
                while Instant::now() < end || path.is_null() {
                    let v = wait_line(&mut lines, "frames and quality", |_| true).await;
                    if v["probe"] == "video" && Instant::now() < end {
                        latencies.extend(v["latency_ms"].as_f64());
                    }
                    if v["event"] == "PlayerQualityUpdate" && v["quality"]["path"].is_object() {
                        path = v["quality"]["path"].clone();
                    }
                }
            }
            test_support::cli::terminate(&mut player).await;
        }
        joins.sort_by(f64::total_cmp);
        latencies.sort_by(f64::total_cmp);
        let pct = |v: &[f64], p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
        println!("login_to_first_frame_{case}_p50_ms {:.0}", pct(&joins, 0.5));
        println!("login_to_first_frame_{case}_max_ms {:.0}", pct(&joins, 1.0));
        println!(
            "glass_to_glass_720p30_{case}_p50_ms {:.1}",
            pct(&latencies, 0.5)
        );
        println!(
            "glass_to_glass_720p30_{case}_p99_ms {:.1}",
            pct(&latencies, 0.99)
        );
        println!(
            "media_path_{case} {}/{}",
            path["local"].as_str().unwrap_or("?"),
            path["protocol"].as_str().unwrap_or("?")
        );
    }
    test_support::cli::terminate(&mut publisher).await;
}

/// A `confer call` at `client` on the server's wss URL, with the test CA.
fn confer_call(
    serve: &ServeProcess,
    ca: &TestCa,
    client: &Client,
    user: &str,
    args: &[&str],
) -> tokio::process::Child {
    test_support::cli::confer_call_in(
        client,
        &serve.url,
        &serve.app,
        &ca.ca_file,
        "bench-room",
        user,
    )
    .args(args)
    .spawn()
    .expect("spawn confer call")
}

/// The next JSON line matching `pred` (within 45 s).
async fn wait_line(
    lines: &mut test_support::cli::StdoutLines,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(45);
    loop {
        let line = tokio::time::timeout_at(deadline, lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("no {what} within 45 s"))
            .expect("read")
            .unwrap_or_else(|| panic!("confer call exited before {what}"));
        if let Ok(v) = serde_json::from_str::<Value>(&line) {
            if pred(&v) {
                return v;
            }
        }
    }
}
