//! `confer doctor`'s steps against the real server over wss with a test CA:
//! each step passes in order on a healthy server (the media path is direct
//! UDP on loopback); each broken layer fails at its own step with its own
//! code and ends the run there.

#![allow(clippy::unwrap_used)]

use media_core::doctor::{diagnose, Check, DoctorOptions, Step};
use media_core::TlsOptions;
use protocol::ErrorCode;
use std::time::Duration;
use test_support::tls::{LeafKind, TestCa};
use test_support::TestServer;

fn options(server: &TestServer, url: &str, tls: TlsOptions, media: bool) -> DoctorOptions {
    let mut profile = server.profile_for(url);
    profile.tls = tls;
    DoctorOptions {
        profile,
        token: None,
        room_id: "doctor-room".into(),
        user_id: "doctor".into(),
        step_timeout: Duration::from_secs(10),
        media,
    }
}

fn steps(checks: &[Check]) -> Vec<(Step, bool)> {
    checks.iter().map(|c| (c.name, c.ok)).collect()
}

/// The built-in TURN server on loopback: UDP and TCP on one free port,
/// TLS on another.
fn builtin_turn() -> confer_turn::Config {
    let port = |kind: &str| {
        let addr = if kind == "udp" {
            std::net::UdpSocket::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
        } else {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
        };
        addr.unwrap()
    };
    let mut turn = confer_turn::Config::default();
    turn.secret = "doctor-turn-secret-0123".into();
    turn.listen_udp = port("udp");
    turn.listen_tcp = Some(std::net::SocketAddr::new(
        turn.listen_udp.ip(),
        turn.listen_udp.port(),
    ));
    turn.listen_tls = Some(port("tcp"));
    turn.relay_ip = "127.0.0.1".parse().unwrap();
    turn
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_step_passes_on_a_healthy_server_and_reports_as_it_goes() {
    let ca = TestCa::new("doctor-healthy");
    let leaf = ca.leaf(LeafKind::Good);
    let server = TestServer::start_with(|c| {
        c.tls.cert_file = Some(leaf.cert_file.clone());
        c.tls.key_file = Some(leaf.key_file.clone());
        c.turn = Some(builtin_turn());
    })
    .await;
    let url = server.handle.ws_url().replace("127.0.0.1", "localhost");
    let tls = TlsOptions {
        extra_ca_pem: Some(ca.pem.clone()),
        pinned_cert_sha256: None,
    };
    let mut reported = Vec::new();
    let checks = diagnose(&options(&server, &url, tls, true), |c| {
        reported.push(c.clone())
    })
    .await;
    assert_eq!(reported, checks, "each check is reported as it ends");
    assert_eq!(
        steps(&checks),
        vec![
            (Step::Dns, true),
            (Step::Tcp, true),
            (Step::Tls, true),
            (Step::Websocket, true),
            (Step::Login, true),
            (Step::UdpMedia, true),
            (Step::TurnUdp, true),
            (Step::TurnTcp, true),
            (Step::TurnTls, true),
        ],
        "{checks:#?}"
    );
    for turn in &checks[6..] {
        assert!(
            turn.detail.starts_with("relayed address 127.0.0.1:"),
            "{turn:?}"
        );
    }
    // Every allocation was freed (the TURN steps' with a Refresh of
    // lifetime 0, the test stream's with its engine): a diagnosis holds
    // none of the user's TURN quota.
    let stats = || server.handle.state().turn_stats().expect("TURN runs");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while stats().allocations_active > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let turn = stats();
    assert!(turn.allocations_created >= 3, "{turn:?}");
    assert_eq!(turn.allocations_active, 0, "{turn:?}");
    let tls_check = &checks[2];
    assert!(
        tls_check
            .detail
            .contains(server.handle.tls_fingerprint().unwrap()),
        "the TLS step shows the certificate: {tls_check:?}"
    );
    assert!(
        checks[5].detail.ends_with("over udp"),
        "direct UDP on loopback: {:?}",
        checks[5]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_broken_layer_fails_at_its_step_with_its_code() {
    let ca = TestCa::new("doctor-broken");
    let leaf = ca.leaf(LeafKind::Good);
    let server = TestServer::start_with(|c| {
        c.tls.cert_file = Some(leaf.cert_file.clone());
        c.tls.key_file = Some(leaf.key_file.clone());
    })
    .await;
    let wss = server.handle.ws_url().replace("127.0.0.1", "localhost");
    let trusted = TlsOptions {
        extra_ca_pem: Some(ca.pem.clone()),
        pinned_cert_sha256: None,
    };
    let last = |checks: &[Check]| {
        let c = checks.last().expect("at least one check").clone();
        (c.name, c.ok, ErrorCode::from_code(c.code))
    };

    // No CA: the TLS step fails as untrusted.
    let checks = diagnose(
        &options(&server, &wss, TlsOptions::default(), false),
        |_| {},
    )
    .await;
    assert_eq!(
        last(&checks),
        (Step::Tls, false, Some(ErrorCode::TlsUntrusted))
    );
    // A pin of another certificate.
    let pinned = TlsOptions {
        extra_ca_pem: None,
        pinned_cert_sha256: Some("AB".repeat(32)),
    };
    let checks = diagnose(&options(&server, &wss, pinned, false), |_| {}).await;
    assert_eq!(
        last(&checks),
        (Step::Tls, false, Some(ErrorCode::TlsPinMismatch))
    );
    // Plain ws to the TLS port: the upgrade is refused with its code.
    let ws = wss.replace("wss://", "ws://");
    let checks = diagnose(&options(&server, &ws, trusted.clone(), false), |_| {}).await;
    assert_eq!(
        last(&checks),
        (Step::Websocket, false, Some(ErrorCode::PlainToTlsPort))
    );
    // A wrong AppSign: everything up to the login passes.
    let mut wrong_sign = options(&server, &wss, trusted.clone(), false);
    wrong_sign.profile.app_sign = "ab".repeat(32);
    let checks = diagnose(&wrong_sign, |_| {}).await;
    assert_eq!(checks.len(), 5, "{checks:#?}");
    assert_eq!(
        last(&checks),
        (Step::Login, false, Some(ErrorCode::AppSignMismatch))
    );
    // A closed port, then a name that does not resolve.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = format!("wss://127.0.0.1:{port}/ws");
    let checks = diagnose(&options(&server, &url, trusted.clone(), false), |_| {}).await;
    assert_eq!(
        last(&checks),
        (Step::Tcp, false, Some(ErrorCode::ServerUnreachable))
    );
    let checks = diagnose(
        &options(&server, "wss://confer.invalid/ws", trusted, false),
        |_| {},
    )
    .await;
    assert_eq!(
        last(&checks),
        (Step::Dns, false, Some(ErrorCode::HostNotFound))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_server_that_does_not_answer_fails_its_step() {
    let server = TestServer::start_with(|c| {
        // A TURN URL nobody serves: the login hands it out all the same.
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        c.ice.turn_urls = vec![format!(
            "turn:{}?transport=udp",
            silent.local_addr().unwrap()
        )];
        c.ice.turn_secret = Some("a-secret-for-nobody-0123".into());
    })
    .await;
    let url = server.handle.ws_url();
    let mut opts = options(&server, &url, TlsOptions::default(), false);
    opts.step_timeout = Duration::from_secs(2);
    let checks = diagnose(&opts, |_| {}).await;
    let turn = checks.last().unwrap();
    assert_eq!(
        (turn.name, turn.ok, ErrorCode::from_code(turn.code)),
        (Step::TurnUdp, false, Some(ErrorCode::TurnUnreachable)),
        "{checks:#?}"
    );
}
