//! Login tokens as JWTs (HS256) against the real server: an SDK engine logs
//! in and publishes with one; every way of breaking one is refused with its
//! own code (alg none, alg confusion, another app's secret, another room,
//! expired, too long-lived, not yet valid, garbage, oversized); the legacy
//! `CF1.` format still logs in; and the server keeps serving the others.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use media_core::RoomState;
use protocol::token::Privileges;
use protocol::{ClientMessage, Credentials, ErrorCode, ServerMessage};
use test_support::{unix_now, Peer, TestServer};

/// A token with this header and claims JSON, HMAC-SHA256-signed with `key`
/// (what a hand-rolled or hostile minting would send).
fn hand_made(header: &str, claims: &str, key: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
    mac.update(signed.as_bytes());
    format!(
        "{signed}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

fn claims_json(server: &TestServer, user: &str, room: &str, nbf: u64, exp: u64) -> String {
    format!(
        r#"{{"app_id":{},"user_id":"{user}","room_id":"{room}","privileges":{{"login":true,"publish":true}},"iat":{},"nbf":{nbf},"exp":{exp}}}"#,
        server.app.app_id,
        unix_now()
    )
}

/// Logs in as `u1` to `room-a` with only `token` (no AppSign) over the raw
/// protocol and returns the LoginFailed code.
async fn raw_login_code(server: &TestServer, token: String) -> ErrorCode {
    let mut c = server.connect().await;
    let mut login = c.app_sign_login(&server.app, "room-a", "u1", false);
    login.credentials = Credentials::Token { token };
    c.send(&ClientMessage::Login(login)).await;
    match c.recv().await {
        ServerMessage::LoginFailed { code, .. } => code,
        ServerMessage::Error { code, .. } => code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// An SDK engine logs in as `u1` to `room-a` with `token` and gets
/// Disconnected: returns its code.
async fn sdk_login_code(server: &TestServer, token: String) -> u32 {
    let mut profile = server.profile();
    profile.app_sign = String::new();
    let mut p = Peer::create(profile, "u1");
    p.login("room-a", false, Some(token));
    let code = p.wait_state(RoomState::Disconnected).await;
    p.engine.destroy().await;
    code
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sdk_engine_logs_in_and_publishes_with_a_jwt() {
    let server = TestServer::start().await;
    let mut profile = server.profile();
    profile.app_sign = String::new();
    let mut p = Peer::create(profile, "u1");
    p.login(
        "room-a",
        false,
        Some(server.jwt("u1", Some("room-a"), Privileges::ALL, 600)),
    );
    assert_eq!(p.wait_state(RoomState::Connected).await, 0);
    p.publish("u1-cam").await;
    p.engine.destroy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_jwts_are_refused_each_with_its_code() {
    let server = TestServer::start().await;
    // Someone stays in the room through every refusal.
    let (mut bystander, _) = server.login("room-a", "bystander", true).await;
    let secret = server.app.server_secret.as_bytes();
    let now = unix_now();
    let good = claims_json(&server, "u1", "room-a", now, now + 600);
    let payload = URL_SAFE_NO_PAD.encode(&good);
    let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let other_app_secret = "another app's server secret".repeat(2);
    let cases = [
        (
            format!("{none_header}.{payload}."),
            ErrorCode::TokenAlgorithmRefused,
        ),
        (
            hand_made(r#"{"alg":"RS256","typ":"JWT"}"#, &good, secret),
            ErrorCode::TokenAlgorithmRefused,
        ),
        (
            hand_made(
                r#"{"alg":"HS256","typ":"JWT"}"#,
                &good,
                other_app_secret.as_bytes(),
            ),
            ErrorCode::TokenForged,
        ),
        (
            server.jwt("u1", Some("room-b"), Privileges::ALL, 600),
            ErrorCode::TokenWrongRoom,
        ),
        (
            server.jwt("u2", Some("room-a"), Privileges::ALL, 600),
            ErrorCode::TokenWrongUser,
        ),
        (
            hand_made(
                r#"{"alg":"HS256"}"#,
                &claims_json(&server, "u1", "room-a", now - 7200, now - 60),
                secret,
            ),
            ErrorCode::TokenExpired,
        ),
        (
            server.jwt("u1", None, Privileges::ALL, 10 * 365 * 24 * 3600),
            ErrorCode::TokenLifetimeTooLong,
        ),
        (
            hand_made(
                r#"{"alg":"HS256"}"#,
                &claims_json(&server, "u1", "room-a", now + 3600, now + 7200),
                secret,
            ),
            ErrorCode::TokenNotYetValid,
        ),
        ("%%%.not base64.@@@".to_owned(), ErrorCode::TokenMalformed),
        (
            format!("{}.{payload}.c2ln", URL_SAFE_NO_PAD.encode("not json")),
            ErrorCode::TokenMalformed,
        ),
        ("x".repeat(3 * 1024), ErrorCode::TokenTooLarge),
        (
            server::jwt::mint_admin(secret, server.app.app_id, now, 600),
            ErrorCode::TokenNoLoginPrivilege,
        ),
    ];
    for (token, code) in cases {
        assert_eq!(
            raw_login_code(&server, token.clone()).await,
            code,
            "{code:?}"
        );
        // The SDK reports the same code as Disconnected (an oversized token
        // it refuses itself, before sending: `RoomError::InvalidToken`).
        if code != ErrorCode::TokenTooLarge {
            assert_eq!(
                sdk_login_code(&server, token).await,
                code.code(),
                "{code:?} via the SDK"
            );
        }
    }
    // A 100 KB token is over the signaling message limit: the server
    // answers MessageTooLarge and stays up.
    assert_eq!(
        raw_login_code(&server, "A".repeat(100 * 1024)).await,
        ErrorCode::MessageTooLarge
    );
    // The bystander is still there, and a good JWT still logs in.
    bystander.quiet(std::time::Duration::from_millis(200)).await;
    let (_, ok) = server
        .token_login(
            "room-a",
            "u1",
            server.jwt("u1", Some("room-a"), Privileges::ALL, 600),
        )
        .await;
    assert_eq!(ok.users.len(), 1, "{ok:?}");
    assert!(ok.token_expires_in_ms.is_some_and(|ms| ms > 590_000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_cf1_tokens_still_log_in() {
    let server = TestServer::start().await;
    let legacy = server.token("u1", Some("room-a"), Privileges::ALL, 600);
    assert!(legacy.starts_with("CF1."));
    let (_, ok) = server.token_login("room-a", "u1", legacy).await;
    assert!(ok.token_expires_in_ms.is_some());
    // Renewing with a JWT works too.
    let (mut c, _) = server
        .token_login(
            "room-b",
            "u2",
            server.token("u2", None, Privileges::ALL, 600),
        )
        .await;
    match c
        .renew_token(1, server.jwt("u2", None, Privileges::ALL, 1200))
        .await
    {
        ServerMessage::Ack { .. } => {}
        other => panic!("expected the renewal's Ack, got {other:?}"),
    }
}
