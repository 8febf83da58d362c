//! Each refusal a real client can provoke, against a real server on
//! loopback: 401 (no, wrong or expired credentials), 486 (per-user quota),
//! 403 (denied peers under the default policy), 438 (stale nonce).

#![allow(clippy::unwrap_used)]

use confer_turn::Config;
use rtc_stun::attributes::{ATTR_NONCE, ATTR_REALM};
use rtc_stun::message::{TransactionId, CLASS_SUCCESS_RESPONSE, METHOD_ALLOCATE};
use rtc_stun::textattrs::TextAttribute;
use test_support::turn::*;

#[tokio::test]
async fn no_credentials_get_401_with_realm_and_nonce() {
    let server = start(loopback_config(), None).await;
    let mut client = Client::udp(&server, "alice").await;
    let bytes = client.build(METHOD_ALLOCATE, TransactionId::new(), wire::udp_transport());
    let response = client.exchange(bytes).await.unwrap();
    assert_eq!(error_code(&response), Some(401));
    assert_eq!(
        TextAttribute::get_from_as(&response, ATTR_REALM)
            .unwrap()
            .text,
        REALM
    );
    assert!(!TextAttribute::get_from_as(&response, ATTR_NONCE)
        .unwrap()
        .text
        .is_empty());
    assert_eq!(server.stats().challenges, 1);
    assert_eq!(server.stats().allocations_active, 0);
    server.shutdown().await;
}

#[tokio::test]
async fn wrong_password_gets_401() {
    let server = start(loopback_config(), None).await;
    let (username, _) = credentials("alice", 3600);
    let mut client = Client::new(
        Conn::udp(server.udp_addr()).await,
        (username, "d3Jvbmc=".to_owned()),
    );
    assert_eq!(error_code(&client.try_allocate().await), Some(401));
    assert_eq!(server.stats().refused.unauthorized, 1);
    assert_eq!(server.stats().allocations_active, 0);
    server.shutdown().await;
}

#[tokio::test]
async fn expired_credentials_get_401() {
    let server = start(loopback_config(), None).await;
    let mut client = Client::new(Conn::udp(server.udp_addr()).await, credentials("alice", -5));
    assert_eq!(error_code(&client.try_allocate().await), Some(401));
    assert_eq!(server.stats().refused.unauthorized, 1);
    server.shutdown().await;
}

#[tokio::test]
async fn per_user_quota_gets_486() {
    let server = start_with(|c| c.max_allocations_per_user = 2).await;
    let udp = server.udp_addr();
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut client = Client::new(Conn::udp(udp).await, credentials("alice", 3600));
        client.allocate().await;
        held.push(client);
    }
    // Another credential of the same user (a later expiry) counts too.
    let mut third = Client::new(Conn::udp(udp).await, credentials("alice", 7200));
    assert_eq!(error_code(&third.try_allocate().await), Some(486));
    let mut bob = Client::new(Conn::udp(udp).await, credentials("bob", 3600));
    bob.allocate().await;
    assert_eq!(server.stats().refused.quota_reached, 1);
    assert_eq!(server.stats().allocations_active, 3);
    server.shutdown().await;
}

#[tokio::test]
async fn default_policy_denies_loopback_and_private_peers_with_403() {
    // No allowed networks: the defaults apply.
    let server = start_with(|c| c.allowed_peer_networks = Vec::new()).await;
    let mut client = Client::udp(&server, "alice").await;
    client.allocate().await;
    let (peer, peer_addr) = peer().await;
    for denied in [
        peer_addr,
        "10.0.0.1:5000".parse().unwrap(),
        "192.168.0.10:5000".parse().unwrap(),
        "169.254.169.254:80".parse().unwrap(),
        "[::ffff:127.0.0.1]:5000".parse().unwrap(),
    ] {
        let response = client.create_permission(denied).await;
        assert_eq!(error_code(&response), Some(403), "{denied}");
        let response = client.channel_bind(0x4000, denied).await;
        assert_eq!(error_code(&response), Some(403), "{denied}");
    }
    // Send indications to a denied peer are dropped without an answer.
    client
        .send_indication(peer_addr, b"should not arrive")
        .await;
    let mut buf = [0u8; 64];
    let got = tokio::time::timeout(
        std::time::Duration::from_millis(300),
        peer.recv_from(&mut buf),
    )
    .await;
    assert!(got.is_err(), "a denied peer received data");
    // A public address would be allowed (nothing is sent there).
    let public = client
        .create_permission("203.0.113.7:5000".parse().unwrap())
        .await;
    assert_eq!(public.typ.class, CLASS_SUCCESS_RESPONSE);
    assert_eq!(server.stats().refused.forbidden, 10);
    server.shutdown().await;
}

/// One Refresh, signed with the nonce the client holds (no challenge
/// dance): the response.
async fn refresh_once(client: &mut Client) -> rtc_stun::message::Message {
    let bytes = client.build(
        rtc_stun::message::METHOD_REFRESH,
        TransactionId::new(),
        Vec::new(),
    );
    client.exchange(bytes).await.unwrap()
}

#[tokio::test]
async fn stale_nonce_gets_438_and_the_fresh_nonce_works() {
    let server = start_with(|c| c.nonce_lifetime_secs = 1).await;
    let mut client = Client::udp(&server, "alice").await;
    client.allocate().await;
    // Nonces are checked against whole seconds: 2.1 s is past any rounding.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let response = refresh_once(&mut client).await;
    assert_eq!(error_code(&response), Some(438));
    let fresh = TextAttribute::get_from_as(&response, ATTR_NONCE)
        .unwrap()
        .text;
    assert_ne!(Some(fresh), client.nonce);
    client.learn(&response);
    let response = refresh_once(&mut client).await;
    assert_eq!(response.typ.class, CLASS_SUCCESS_RESPONSE);
    assert_eq!(server.stats().refused.stale_nonce, 1);
    server.shutdown().await;
}

#[tokio::test]
async fn start_refuses_bad_configs() {
    let short = Config {
        secret: "short".into(),
        ..loopback_config()
    };
    assert!(matches!(
        confer_turn::TurnServer::start(short, None).await,
        Err(confer_turn::TurnError::Config(
            confer_turn::ConfigError::SecretTooShort
        ))
    ));
    let tls_without_config = Config {
        listen_tls: Some("127.0.0.1:0".parse().unwrap()),
        ..loopback_config()
    };
    assert!(matches!(
        confer_turn::TurnServer::start(tls_without_config, None).await,
        Err(confer_turn::TurnError::TlsConfigMissing)
    ));
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let in_use = Config {
        listen_udp: taken.local_addr().unwrap(),
        ..loopback_config()
    };
    assert!(matches!(
        confer_turn::TurnServer::start(in_use, None).await,
        Err(confer_turn::TurnError::Bind {
            transport: "udp",
            ..
        })
    ));
}
