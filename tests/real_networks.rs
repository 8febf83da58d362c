//! Calls across real networks, built in network namespaces (see
//! `common::netns`): `confer serve` on a "public" address with a test-CA
//! certificate, and `confer call` clients in homes behind NAT routers. Each
//! client logs in over wss, publishes the barcode test pattern and plays
//! the other's; at least 90% of the frame numbers in a window must be
//! decoded on each side.

mod common;

use common::flood::ServeProcess;
use common::netns::{self, Client, Internet, Nat};
use common::tls::{LeafKind, TestCa};
use serde_json::Value;
use server::ServerConfig;
use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::Duration;
use tokio::sync::mpsc;

const SERVER_IP: &str = "203.0.113.10";
/// Frames the players watch once media flows.
const WINDOW: Duration = Duration::from_secs(4);

/// One `confer call` in a client's namespace: publishes `<user>-cam` and
/// plays `play`; its JSON lines arrive on the returned channel.
fn call(
    client: &Client,
    serve: &ServeProcess,
    ca: &TestCa,
    user: &str,
    play: &str,
) -> (tokio::process::Child, mpsc::UnboundedReceiver<Value>) {
    let mut child = netns::exec(&client.ns, env!("CARGO_BIN_EXE_confer"))
        .args([
            "call", "--server", &serve.url, "--room", "nat-room", "--user", user,
        ])
        .args(["--app-id", &serve.app.app_id.to_string()])
        .arg("--ca-file")
        .arg(&ca.ca_file)
        .args([
            "--media-ip",
            &client.ip,
            "--publish",
            &format!("{user}-cam"),
        ])
        .args(["--source", "test", "--audio", "none", "--preset", "180p"])
        .args(["--play", play, "--probe"])
        .env("CONFER_APP_SIGN", &serve.app.app_sign)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn confer call");
    let mut lines = common::cli::stdout_lines(&mut child);
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                let _ = tx.send(v);
            }
        }
    });
    (child, rx)
}

/// What a player saw of a stream.
struct Watched {
    /// Distinct frame numbers decoded over the span they cover.
    share: f64,
    /// The media path its quality events reported (`"protocol"`, `"local"`,
    /// `"remote"`).
    path: Value,
}

/// Waits for the first decoded frame of `stream`, then counts the frame
/// numbers seen in the next [`WINDOW`], and reads the media path from the
/// player's quality events (the last one reported).
async fn watch(lines: &mut mpsc::UnboundedReceiver<Value>, who: &str, stream: &str) -> Watched {
    let mut path = Value::Null;
    let mut last_quality = Value::Null;
    let mut seen = BTreeSet::new();
    let mut window_end = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(45);
    loop {
        let done =
            window_end.is_some_and(|end| tokio::time::Instant::now() >= end) && path.is_object();
        if done {
            break;
        }
        let v = match tokio::time::timeout_at(deadline, lines.recv()).await {
            Ok(Some(v)) => v,
            Ok(None) => panic!("{who}: confer call exited"),
            Err(_) => panic!(
                "{who}: after 45 s: {} frames of {stream}, path {path}, last quality {last_quality}",
                seen.len()
            ),
        };
        if v["probe"] == "video" && v["stream_id"] == stream {
            let end = *window_end.get_or_insert(tokio::time::Instant::now() + WINDOW);
            if tokio::time::Instant::now() < end {
                if let Some(n) = v["frame_number"].as_u64() {
                    seen.insert(n);
                }
            }
        }
        if v["event"] == "PlayerQualityUpdate" && v["stream_id"] == stream {
            if v["quality"]["path"].is_object() {
                path = v["quality"]["path"].clone();
            }
            last_quality = v;
        }
    }
    let (Some(lo), Some(hi)) = (seen.first(), seen.last()) else {
        panic!("{who}: no stamped frames of {stream}");
    };
    let span = hi - lo + 1;
    println!(
        "{who}: {} of {span} frames of {stream}, media path {path}",
        seen.len()
    );
    Watched {
        share: seen.len() as f64 / span as f64,
        path,
    }
}

#[test]
fn calls_through_endpoint_independent_and_symmetric_nats() {
    if !netns::enter("calls_through_endpoint_independent_and_symmetric_nats") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut net = Internet::new();
        net.public_host("pub", SERVER_IP);
        let easy = net.home("easy", "203.0.113.21", 1, Nat::EndpointIndependent);
        let hard = net.home("hard", "203.0.113.22", 2, Nat::Symmetric);

        let ca = TestCa::new("nat");
        let leaf = ca.leaf_for(&[SERVER_IP], LeafKind::Good);
        let mut config = ServerConfig::generate_local();
        config.bind = format!("{SERVER_IP}:443").parse().expect("address");
        config.tls.cert_file = Some(leaf.cert_file.clone());
        config.tls.key_file = Some(leaf.key_file.clone());
        config.media.udp_bind_ip = SERVER_IP.parse().expect("address");
        let serve = ServeProcess::launch(config, 4096, &[], Some("pub")).await;
        assert_eq!(serve.url, format!("wss://{SERVER_IP}:443/ws"));

        let (mut a, mut a_lines) = call(&easy, &serve, &ca, "easy", "hard-cam");
        let (mut b, mut b_lines) = call(&hard, &serve, &ca, "hard", "easy-cam");
        let (a_saw, b_saw) = tokio::join!(
            watch(
                &mut a_lines,
                "easy (behind an endpoint-independent NAT)",
                "hard-cam"
            ),
            watch(&mut b_lines, "hard (behind a symmetric NAT)", "easy-cam"),
        );
        for (who, saw) in [("easy", &a_saw), ("hard", &b_saw)] {
            assert!(saw.share >= 0.9, "{who} decoded {:.0}%", saw.share * 100.0);
            // Direct UDP from the private address to the server's public one.
            assert_eq!(saw.path["protocol"], "udp", "{who}: {}", saw.path);
            assert_eq!(saw.path["local"], "host", "{who}: {}", saw.path);
        }
        common::cli::terminate(&mut a).await;
        common::cli::terminate(&mut b).await;
    });
}

/// A server in a cloud network behind a 1:1 NAT (no hairpinning) announces
/// its public address and its LAN address: a client at home reaches it on
/// the public one, a client in the office on the server's own LAN (behind a
/// host firewall, so it must be the one to reach out) on the LAN one, and
/// they call each other. Announcing only the public address fails here.
#[test]
fn a_server_behind_a_1to1_nat_serves_its_own_lan_without_hairpinning() {
    if !netns::enter("a_server_behind_a_1to1_nat_serves_its_own_lan_without_hairpinning") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let public_ip = "203.0.113.30";
        let mut net = Internet::new();
        let (srv, lan_ip, office) = net.cloud("cloud", public_ip, 5);
        // The office desktop lets in only what it started: the server's own
        // checks toward it are dropped until it has sent to the server.
        netns::stateful_firewall(&office.ns);
        let home = net.home("home", "203.0.113.31", 1, Nat::EndpointIndependent);

        let ca = TestCa::new("cloud");
        let leaf = ca.leaf_for(&[public_ip, &lan_ip], LeafKind::Good);
        let mut config = ServerConfig::generate_local();
        config.bind = "0.0.0.0:443".parse().expect("address");
        config.tls.cert_file = Some(leaf.cert_file.clone());
        config.tls.key_file = Some(leaf.key_file.clone());
        config.media.udp_bind_ip = lan_ip.parse().expect("address");
        let public: std::net::IpAddr = public_ip.parse().expect("address");
        let lan: std::net::IpAddr = lan_ip.parse().expect("address");
        config.media.announced_ips = vec![public, lan];
        let mut serve = ServeProcess::launch(config, 4096, &[], Some(&srv)).await;
        // Each client dials the address it can reach.
        serve.url = format!("wss://{public_ip}:443/ws");
        let (mut a, mut a_lines) = call(&home, &serve, &ca, "home", "office-cam");
        serve.url = format!("wss://{lan_ip}:443/ws");
        let (mut b, mut b_lines) = call(&office, &serve, &ca, "office", "home-cam");
        let (a_saw, b_saw) = tokio::join!(
            watch(&mut a_lines, "home (through the 1:1 NAT)", "office-cam"),
            watch(&mut b_lines, "office (on the server's LAN)", "home-cam"),
        );
        for (who, saw) in [("home", &a_saw), ("office", &b_saw)] {
            assert!(saw.share >= 0.9, "{who} decoded {:.0}%", saw.share * 100.0);
            assert_eq!(saw.path["protocol"], "udp", "{who}: {}", saw.path);
        }
        common::cli::terminate(&mut a).await;
        common::cli::terminate(&mut b).await;
    });
}

/// A home whose network drops every UDP packet (as offices and hotels do):
/// signaling over wss works, and media falls back to ICE over TCP.
#[test]
fn a_network_that_drops_udp_gets_media_over_tcp() {
    if !netns::enter("a_network_that_drops_udp_gets_media_over_tcp") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut net = Internet::new();
        net.public_host("pub", SERVER_IP);
        let blocked = net.home("blocked", "203.0.113.23", 3, Nat::UdpBlocked);
        let easy = net.home("easy", "203.0.113.21", 1, Nat::EndpointIndependent);
        let ca = TestCa::new("tcp");
        let leaf = ca.leaf_for(&[SERVER_IP], LeafKind::Good);
        let mut config = ServerConfig::generate_local();
        config.bind = format!("{SERVER_IP}:443").parse().expect("address");
        config.tls.cert_file = Some(leaf.cert_file.clone());
        config.tls.key_file = Some(leaf.key_file.clone());
        config.media.udp_bind_ip = SERVER_IP.parse().expect("address");
        let serve = ServeProcess::launch(config, 4096, &[], Some("pub")).await;
        let (mut a, mut a_lines) = call(&blocked, &serve, &ca, "blocked", "easy-cam");
        let (mut b, mut b_lines) = call(&easy, &serve, &ca, "easy", "blocked-cam");
        let (a_saw, b_saw) = tokio::join!(
            watch(&mut a_lines, "blocked (no UDP)", "easy-cam"),
            watch(&mut b_lines, "easy", "blocked-cam"),
        );
        assert!(
            a_saw.share >= 0.9,
            "blocked decoded {:.0}%",
            a_saw.share * 100.0
        );
        assert!(
            b_saw.share >= 0.9,
            "easy decoded {:.0}%",
            b_saw.share * 100.0
        );
        // The blocked network's media went over TCP; the other stayed on UDP.
        assert_eq!(a_saw.path["protocol"], "tcp", "{}", a_saw.path);
        assert_eq!(b_saw.path["protocol"], "udp", "{}", b_saw.path);
        common::cli::terminate(&mut a).await;
        common::cli::terminate(&mut b).await;
    });
}

/// The TURN secret shared by `confer serve` and coturn in the TURN test.
const TURN_SECRET: &str = "turn-secret-for-the-netns-test";
const TURN_IP: &str = "203.0.113.40";

/// coturn (Debian's `turnserver`) on `TURN_IP` in namespace `turn`, with
/// the TURN REST scheme (`use-auth-secret`): the server hands out the
/// credentials, nobody configures users.
fn coturn() -> tokio::process::Child {
    netns::exec("turn", "turnserver")
        .args([
            "--use-auth-secret",
            &format!("--static-auth-secret={TURN_SECRET}"),
        ])
        .args([
            "--realm=confer.test",
            "--fingerprint",
            "--no-cli",
            "--no-tls",
            "--no-dtls",
        ])
        .args([
            &format!("--listening-ip={TURN_IP}"),
            &format!("--relay-ip={TURN_IP}"),
        ])
        .args([
            "--listening-port=3478",
            "--min-port=49152",
            "--max-port=49400",
        ])
        .arg(format!("--allowed-peer-ip={SERVER_IP}"))
        .args(["--log-file=stdout", "--simple-log", "--no-stdout-log"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn turnserver (apt-get install coturn)")
}

/// A network that reaches the server only for signaling (TCP 443) and a
/// TURN server for everything else: the client gets the TURN server and
/// fresh credentials at login, and its media is relayed.
#[test]
fn media_relayed_through_turn_with_credentials_from_the_server() {
    if !netns::enter("media_relayed_through_turn_with_credentials_from_the_server") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut net = Internet::new();
        net.public_host("pub", SERVER_IP);
        net.public_host("turn", TURN_IP);
        let _turn = coturn();
        let walled = net.home("walled", "203.0.113.24", 4, Nat::EndpointIndependent);
        let signaling_only = format!("ip daddr {SERVER_IP} tcp dport 443 accept");
        let nothing_else = format!("ip daddr {SERVER_IP} drop");
        netns::forward_rules("walled-nat", &[&signaling_only, &nothing_else]);
        let easy = net.home("easy", "203.0.113.21", 1, Nat::EndpointIndependent);

        let ca = TestCa::new("turn");
        let leaf = ca.leaf_for(&[SERVER_IP], LeafKind::Good);
        let mut config = ServerConfig::generate_local();
        config.bind = format!("{SERVER_IP}:443").parse().expect("address");
        config.tls.cert_file = Some(leaf.cert_file.clone());
        config.tls.key_file = Some(leaf.key_file.clone());
        config.media.udp_bind_ip = SERVER_IP.parse().expect("address");
        config.ice.turn_urls = vec![format!("turn:{TURN_IP}:3478?transport=udp")];
        config.ice.turn_secret = Some(TURN_SECRET.to_owned());
        let serve = ServeProcess::launch(config, 4096, &[], Some("pub")).await;
        // coturn starts while the rest is set up; give it a moment more.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (mut a, mut a_lines) = call(&walled, &serve, &ca, "walled", "easy-cam");
        let (mut b, mut b_lines) = call(&easy, &serve, &ca, "easy", "walled-cam");
        let (a_saw, b_saw) = tokio::join!(
            watch(&mut a_lines, "walled (signaling only; TURN)", "easy-cam"),
            watch(&mut b_lines, "easy", "walled-cam"),
        );
        assert!(
            a_saw.share >= 0.9,
            "walled decoded {:.0}%",
            a_saw.share * 100.0
        );
        assert!(
            b_saw.share >= 0.9,
            "easy decoded {:.0}%",
            b_saw.share * 100.0
        );
        assert_eq!(a_saw.path["local"], "relay", "{}", a_saw.path);
        assert_eq!(a_saw.path["protocol"], "udp", "{}", a_saw.path);
        common::cli::terminate(&mut a).await;
        common::cli::terminate(&mut b).await;
    });
}
