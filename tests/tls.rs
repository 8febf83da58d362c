//! Signaling over TLS: `confer serve` with a certificate serves wss on its
//! one port; the SDK trusts it through an extra CA or a pinned fingerprint,
//! and media flows as over plain ws. Every way the connection can be wrong
//! ends the login at once with its own code (no retries): an untrusted,
//! expired or misnamed certificate, a pin that does not match, plain ws to
//! the TLS port and TLS to a plain port.

use media_core::{Event, RoomState, RoomStateChangedReason, TlsOptions};
use protocol::ErrorCode;
use std::time::Duration;
use test_support::media::VideoProbe;
use test_support::tls::{LeafKind, TestCa};
use test_support::{Peer, TestServer};

async fn tls_server(ca: &TestCa, kind: LeafKind) -> TestServer {
    let leaf = ca.leaf(kind);
    TestServer::start_with(|c| {
        c.tls.cert_file = Some(leaf.cert_file.clone());
        c.tls.key_file = Some(leaf.key_file.clone());
    })
    .await
}

fn with_ca(ca: &TestCa) -> TlsOptions {
    TlsOptions {
        extra_ca_pem: Some(ca.pem.clone()),
        pinned_cert_sha256: None,
    }
}

/// Logs in to `url` with `tls` and returns the code the room ended with,
/// checking it ended at once as a failed login (no reconnect attempts).
async fn login_refused(server: &TestServer, url: &str, tls: TlsOptions) -> ErrorCode {
    let mut profile = server.profile_for(url);
    profile.tls = tls;
    let mut peer = Peer::create(profile, "tls-user");
    peer.login("tls-room", false, None);
    let code = peer.wait_state(RoomState::Disconnected).await;
    peer.wait_for("LoginFailed", |e| {
        matches!(
            e,
            Event::RoomStateChanged {
                reason: RoomStateChangedReason::LoginFailed,
                ..
            }
        )
    })
    .await;
    let after = peer.collect_for(Duration::from_millis(500)).await;
    assert!(
        after.is_empty(),
        "no retries after a TLS refusal: {after:#?}"
    );
    peer.engine.destroy().await;
    ErrorCode::from_code(code).unwrap_or_else(|| panic!("unknown code {code}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_over_wss_with_a_private_ca_carries_media() {
    let ca = TestCa::new("call");
    let server = tls_server(&ca, LeafKind::Good).await;
    assert!(server.url.starts_with("wss://127.0.0.1:"), "{}", server.url);
    let mut profile = server.profile();
    profile.tls = with_ca(&ca);
    let mut a = Peer::join(profile.clone(), "wss-room", "a", false).await;
    let mut b = Peer::join(profile, "wss-room", "b", false).await;
    a.publish("a-cam").await;
    b.wait_stream_update("stream Add").await;
    let (canvas, mut probe) = VideoProbe::canvas();
    b.engine
        .start_playing_stream("a-cam", Some(canvas))
        .expect("play accepted");
    let seen = probe.collect(Duration::from_secs(3)).await;
    assert!(seen.len() >= 20, "decoded {} stamped frames", seen.len());
    for p in [a, b] {
        p.engine.destroy().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tls_failure_has_its_own_code() {
    let ca = TestCa::new("codes");
    let good = tls_server(&ca, LeafKind::Good).await;
    let url = good.url.clone();
    // No CA: the private CA is unknown.
    assert_eq!(
        login_refused(&good, &url, TlsOptions::default()).await,
        ErrorCode::TlsUntrusted
    );
    // A pin of another certificate.
    let other = ca.self_signed();
    let wrong_pin = TlsOptions {
        extra_ca_pem: None,
        pinned_cert_sha256: Some(other.fingerprint.clone()),
    };
    assert_eq!(
        login_refused(&good, &url, wrong_pin).await,
        ErrorCode::TlsPinMismatch
    );
    // Plain ws to the TLS port.
    let plain_url = url.replacen("wss://", "ws://", 1);
    assert_eq!(
        login_refused(&good, &plain_url, with_ca(&ca)).await,
        ErrorCode::PlainToTlsPort
    );

    let expired = tls_server(&ca, LeafKind::Expired).await;
    assert_eq!(
        login_refused(&expired, &expired.url, with_ca(&ca)).await,
        ErrorCode::TlsExpired
    );
    let misnamed = tls_server(&ca, LeafKind::OtherName).await;
    assert_eq!(
        login_refused(&misnamed, &misnamed.url, with_ca(&ca)).await,
        ErrorCode::TlsNameMismatch
    );
    // TLS to a plain port.
    let plain = TestServer::start().await;
    let tls_url = plain.url.replacen("ws://", "wss://", 1);
    assert_eq!(
        login_refused(&plain, &tls_url, with_ca(&ca)).await,
        ErrorCode::TlsToPlainPort
    );
    // The server counted the failed handshakes (untrusted, pin).
    assert!(good.handle.state().gate().stats().tls_failures >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_self_signed_certificate_needs_no_ca() {
    let ca = TestCa::new("pin");
    let leaf = ca.self_signed();
    let server = TestServer::start_with(|c| {
        c.tls.cert_file = Some(leaf.cert_file.clone());
        c.tls.key_file = Some(leaf.key_file.clone());
    })
    .await;
    let mut profile = server.profile();
    // Colons and case do not matter.
    profile.tls.pinned_cert_sha256 = Some(leaf.fingerprint.replace(':', "").to_lowercase());
    let peer = Peer::join(profile, "pin-room", "p", false).await;
    peer.engine.destroy().await;
}

/// `confer serve --tls-self-signed` prints the fingerprint a client pins;
/// `confer call --pin` joins with it (and the certificate is kept: a
/// restart serves the same fingerprint).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_self_signed_server_and_pinned_call() {
    use test_support::flood::ServeProcess;
    let config = server::ServerConfig::generate_local();
    let serve = ServeProcess::start_with_args(config.clone(), 4096, &["--tls-self-signed"]).await;
    assert!(serve.url.starts_with("wss://127.0.0.1:"), "{}", serve.url);
    let fingerprint = serve.fingerprint.clone().expect("prints its fingerprint");
    let mut call = tokio::process::Command::new(env!("CARGO_BIN_EXE_confer"))
        .args([
            "call", "--server", &serve.url, "--room", "r", "--user", "pinned",
        ])
        .args([
            "--app-id",
            &serve.app.app_id.to_string(),
            "--pin",
            &fingerprint,
        ])
        .env("CONFER_APP_SIGN", &serve.app.app_sign)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn confer call");
    let mut lines = test_support::cli::stdout_lines(&mut call);
    // Connecting, then Connected over the pinned wss.
    for want in ["Connecting", "Connected"] {
        let state = next_room_state(&mut lines).await;
        assert_eq!(state["state"], want, "{state}");
    }
    test_support::cli::terminate(&mut call).await;
}

/// The next `RoomStateUpdate` line `confer call` prints.
async fn next_room_state(lines: &mut test_support::cli::StdoutLines) -> serde_json::Value {
    tokio::time::timeout(Duration::from_secs(20), async {
        while let Ok(Some(line)) = lines.next_line().await {
            let v: serde_json::Value = serde_json::from_str(&line).expect("JSON lines");
            if v["event"] == "RoomStateUpdate" {
                return v;
            }
        }
        panic!("confer call exited");
    })
    .await
    .expect("a room state in time")
}
