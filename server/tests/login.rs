//! Login over a real socket: the happy path and each refusal's code.
#![allow(clippy::unwrap_used)]

use protocol::token::{mint, Privileges, TokenClaims};
use protocol::{ClientMessage, Credentials, ErrorCode, ServerMessage};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use test_support::{metrics, TestServer};

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn login_failure(server: &TestServer, edit: impl FnOnce(&mut protocol::Login)) -> ErrorCode {
    let mut c = server.connect().await;
    let mut login = c.app_sign_login(&server.app, "room1", "u1", true);
    edit(&mut login);
    c.send(&ClientMessage::Login(login)).await;
    let msgs = c.closed().await;
    match msgs.as_slice() {
        [ServerMessage::LoginFailed { code, message }] => {
            assert_eq!(message, code.message());
            *code
        }
        other => panic!("expected one LoginFailed then close, got {other:?}"),
    }
}

#[tokio::test]
async fn app_sign_login_happy_path() {
    let server = TestServer::start_with(|_| {}).await;
    let (_c, ok) = server.login("room1", "u1", true).await;
    assert_eq!(ok.room_id, "room1");
    assert!(ok.users.is_empty());
    assert!(ok.streams.is_empty());
    assert_eq!(ok.online_count, 1);
    assert_eq!(ok.seq, 0);
    assert_eq!(ok.heartbeat_interval_ms, 5000);
    assert_eq!(ok.heartbeat_timeout_ms, 15000);
    assert_eq!(ok.token_expires_in_ms, None);
    assert_eq!(ok.resume_key.len(), 32);
    assert!(!ok.session_id.is_empty());
    server.handle.shutdown().await;
}

#[tokio::test]
async fn refusals_have_their_codes() {
    let server = TestServer::start_with(|_| {}).await;
    let app_id = server.app.app_id;
    assert_eq!(
        login_failure(&server, |l| l.app_id = app_id.wrapping_add(1)).await,
        ErrorCode::AppNotFound
    );
    assert_eq!(
        login_failure(&server, |l| l.credentials = Credentials::AppSign {
            proof: "00".repeat(32)
        })
        .await,
        ErrorCode::AppSignMismatch
    );
    assert_eq!(
        login_failure(&server, |l| l.version = 99).await,
        ErrorCode::UnsupportedVersion
    );
    assert_eq!(
        login_failure(&server, |l| l.room_id = "has space".into()).await,
        ErrorCode::InvalidRoomId
    );
    assert_eq!(
        login_failure(&server, |l| l.user.user_id = String::new()).await,
        ErrorCode::InvalidUserId
    );
    assert_eq!(
        login_failure(&server, |l| l.user.user_name = "a\nb".into()).await,
        ErrorCode::InvalidUserName
    );

    let secret = server.app.server_secret.clone();
    let expired = mint(
        secret.as_bytes(),
        &TokenClaims::new(app_id, "u1", None, Privileges::ALL, now_unix() - 100, 10),
    );
    assert_eq!(
        login_failure(&server, |l| l.credentials =
            Credentials::Token { token: expired })
        .await,
        ErrorCode::TokenExpired
    );
    let wrong_user = mint(
        secret.as_bytes(),
        &TokenClaims::new(app_id, "other", None, Privileges::ALL, now_unix(), 60),
    );
    assert_eq!(
        login_failure(&server, |l| l.credentials =
            Credentials::Token { token: wrong_user })
        .await,
        ErrorCode::TokenWrongUser
    );
    assert_eq!(
        login_failure(&server, |l| l.credentials = Credentials::Token {
            token: "junk".into()
        })
        .await,
        ErrorCode::TokenMalformed
    );
    let sample = "confer_errors_total{code=\"1002015\",name=\"AppSignMismatch\"} 1";
    metrics::assert_has(&server, &[sample]).await;
    server.handle.shutdown().await;
}

#[tokio::test]
async fn token_login_reports_expiry_and_renews() {
    let server = TestServer::start_with(|_| {}).await;
    let secret = server.app.server_secret.clone();
    let app_id = server.app.app_id;
    let token = mint(
        secret.as_bytes(),
        &TokenClaims::new(
            app_id,
            "u1",
            Some("room1".into()),
            Privileges::ALL,
            now_unix(),
            3600,
        ),
    );
    let mut c = server.connect().await;
    let mut login = c.app_sign_login(&server.app, "room1", "u1", true);
    login.credentials = Credentials::Token { token };
    let ServerMessage::LoginOk(ok) = c.request(&ClientMessage::Login(login)).await else {
        panic!("login")
    };
    let ms = ok.token_expires_in_ms.expect("token login has an expiry");
    assert!((3_590_000..=3_600_000).contains(&ms), "{ms}");

    // Tokens for RenewToken (no room): `user`'s, valid for `ttl` seconds.
    let token_of = |user: &str, ttl: u64| {
        let claims = TokenClaims::new(app_id, user, None, Privileges::ALL, now_unix(), ttl);
        mint(secret.as_bytes(), &claims)
    };
    match c.renew_token(5, token_of("u1", 7200)).await {
        ServerMessage::Ack {
            request_id: 5,
            body:
                protocol::AckBody::TokenRenewed {
                    expires_in_ms,
                    publish: true,
                    ..
                },
        } => {
            assert!(expires_in_ms > 7_000_000);
        }
        other => panic!("{other:?}"),
    }
    match c.renew_token(6, token_of("u2", 60)).await {
        ServerMessage::Error {
            request_id: Some(6),
            code: ErrorCode::TokenWrongUser,
            fatal: false,
            ..
        } => {}
        other => panic!("{other:?}"),
    }
    server.handle.shutdown().await;
}

#[tokio::test]
async fn login_timeout_and_login_required() {
    let server = TestServer::start_with(|c| c.login_timeout_ms = 300).await;
    let mut idle = server.connect().await;
    assert_eq!(
        idle.closed_with_fatal_error().await,
        ErrorCode::LoginTimeoutOnServer
    );

    let mut early = server.connect().await;
    early.send(&ClientMessage::Heartbeat { ack: 0 }).await;
    assert_eq!(
        early.closed_with_fatal_error().await,
        ErrorCode::LoginRequired
    );
    server.handle.shutdown().await;
}

#[tokio::test]
async fn room_member_limit_from_first_user() {
    let server = TestServer::start_with(|c| c.limits.max_rooms_per_app = 2).await;
    let mut first = server.connect().await;
    let mut login = first.app_sign_login(&server.app, "small", "u1", true);
    login.max_member_count = 2;
    assert!(matches!(
        first.request(&ClientMessage::Login(login)).await,
        ServerMessage::LoginOk(_)
    ));
    let (_second, ok) = server.login("small", "u2", true).await;
    assert_eq!(ok.online_count, 2);
    assert_eq!(
        login_failure(&server, |l| {
            l.room_id = "small".into();
            l.user.user_id = "u3".into();
        })
        .await,
        ErrorCode::AppSignMismatch
    );
    // (the proof covers the room and user, so build a fresh login for u3)
    let mut third = server.connect().await;
    let login = third.app_sign_login(&server.app, "small", "u3", true);
    third.send(&ClientMessage::Login(login)).await;
    assert!(matches!(
        third.closed().await.as_slice(),
        [ServerMessage::LoginFailed {
            code: ErrorCode::RoomFull,
            ..
        }]
    ));

    let (_other, _) = server.login("other", "u4", true).await;
    let mut fourth = server.connect().await;
    let login = fourth.app_sign_login(&server.app, "third-room", "u5", true);
    fourth.send(&ClientMessage::Login(login)).await;
    assert!(matches!(
        fourth.closed().await.as_slice(),
        [ServerMessage::LoginFailed {
            code: ErrorCode::TooManyRooms,
            ..
        }]
    ));
    tokio::time::sleep(Duration::from_millis(10)).await;
    server.handle.shutdown().await;
}
