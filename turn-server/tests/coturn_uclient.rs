//! Interoperability with an independent implementation: coturn's
//! `turnutils_uclient` (Debian package `coturn`) allocates, binds channels
//! or sends indications, and relays data through our server over UDP, TCP
//! and TLS; with a wrong password it cannot allocate.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::process::Output;
use std::time::Duration;
use test_support::turn::*;

const UCLIENT: &str = "turnutils_uclient";
const MESSAGES: usize = 20;

/// Runs uclient against `port` with `flags` and the given credentials.
async fn uclient(flags: &[&str], port: u16, username: &str, password: &str) -> Output {
    let mut command = tokio::process::Command::new(UCLIENT);
    command
        .args(flags)
        .args(["-c", "-n", &MESSAGES.to_string(), "-l", "300", "-z", "5"])
        .args(["-u", username, "-w", password, "-p", &port.to_string()])
        .arg("127.0.0.1")
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(40), command.output())
        .await
        .expect("turnutils_uclient did not finish in 40 s");
    output.unwrap_or_else(|e| panic!("{UCLIENT} not runnable ({e}): apt-get install -y coturn"))
}

/// Asserts uclient sent and received every message with no loss.
fn assert_relayed(output: &Output, expected: usize) {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "uclient failed:\n{text}");
    let totals = format!("tot_send_msgs={expected}, tot_recv_msgs={expected}");
    assert!(text.contains(&totals), "expected `{totals}` in:\n{text}");
    assert!(
        text.contains("Total lost packets 0 "),
        "loss reported:\n{text}"
    );
}

/// A UDP echo peer (like `turnutils_peer`), for uclient runs without -y.
async fn echo_peer() -> SocketAddr {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65536];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let _ = socket.send_to(&buf[..n], from).await;
        }
    });
    addr
}

#[tokio::test]
async fn uclient_relays_client_to_client_over_udp_and_tcp_with_channels_and_indications() {
    let server = start(loopback_config(), None).await;
    let port = server.udp_addr().port();
    let tcp_port = server.tcp_addr().unwrap().port();
    let (username, password) = credentials("coturn", 3600);
    // -y: two clients, each sending to the other's relayed address. Both
    // directions of every run go through our relays.
    for (flags, port) in [
        (&["-y"][..], port),
        (&["-y", "-s"][..], port),
        (&["-y", "-t"][..], tcp_port),
        (&["-y", "-t", "-s"][..], tcp_port),
    ] {
        let before = server.stats();
        let output = uclient(flags, port, &username, &password).await;
        assert_relayed(&output, 2 * MESSAGES);
        let after = server.stats();
        assert!(
            after.to_peer.packets - before.to_peer.packets >= 2 * MESSAGES as u64,
            "{flags:?}: {after:?}"
        );
        assert!(after.to_client.packets - before.to_client.packets >= 2 * MESSAGES as u64);
    }
    server.shutdown().await;
}

#[tokio::test]
async fn uclient_relays_to_an_echo_peer() {
    let server = start(loopback_config(), None).await;
    let peer = echo_peer().await;
    let (username, password) = credentials("coturn", 3600);
    let peer_port = peer.port().to_string();
    for extra in [&[][..], &["-s"][..]] {
        let mut flags = vec!["-e", "127.0.0.1", "-r", &peer_port];
        flags.extend_from_slice(extra);
        let output = uclient(&flags, server.udp_addr().port(), &username, &password).await;
        assert_relayed(&output, MESSAGES);
    }
    server.shutdown().await;
}

#[tokio::test]
async fn uclient_relays_over_tls() {
    let (tls, _) = tls_pair();
    let server = start(loopback_config(), Some(tls)).await;
    let (username, password) = credentials("coturn", 3600);
    let tls_port = server.tls_addr().unwrap().port();
    let output = uclient(&["-y", "-t", "-S"], tls_port, &username, &password).await;
    assert_relayed(&output, 2 * MESSAGES);
    server.shutdown().await;
}

#[tokio::test]
async fn uclient_with_a_wrong_password_cannot_allocate() {
    let server = start(loopback_config(), None).await;
    let (username, _) = credentials("coturn", 3600);
    let output = uclient(&["-y"], server.udp_addr().port(), &username, "d3Jvbmc=").await;
    assert!(!output.status.success());
    assert_eq!(server.stats().allocations_active, 0);
    assert!(server.stats().refused.unauthorized >= 1);
    // And with expired credentials.
    let (username, password) = credentials("coturn", -60);
    let output = uclient(&["-y"], server.udp_addr().port(), &username, &password).await;
    assert!(!output.status.success());
    assert_eq!(server.stats().allocations_active, 0);
    server.shutdown().await;
}
