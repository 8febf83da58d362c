//! A token's privileges hold at every request that needs them, by every
//! route: publish, the media offer, after a resume, after a relogin, and
//! across token renewals (up and down).
#![allow(clippy::unwrap_used)]

use protocol::token::Privileges;
use protocol::{
    AckBody, ClientMessage, ErrorCode, MediaRole, Resume, RoomEvent, ServerMessage, UpdateType,
    PROTOCOL_VERSION,
};
use std::time::Duration;
use test_support::client::{publish_stream, Client};
use test_support::{metrics, TestServer};

const WATCH_ONLY: Privileges = Privileges {
    login: true,
    publish: false,
};

async fn publish_refused(c: &mut Client, request_id: u32, code: ErrorCode) {
    match c.request(&publish_stream(request_id, "cam")).await {
        ServerMessage::Error {
            request_id: Some(id),
            code: got,
            fatal: false,
            ..
        } if id == request_id => assert_eq!(got, code),
        other => panic!("expected {code:?}, got {other:?}"),
    }
}

async fn renew(c: &mut Client, request_id: u32, token: String) -> bool {
    match c.renew_token(request_id, token).await {
        ServerMessage::Ack {
            body: AckBody::TokenRenewed { publish, .. },
            ..
        } => publish,
        other => panic!("expected TokenRenewed, got {other:?}"),
    }
}

/// The watcher sees no stream at all (only heartbeat acks) for a while.
async fn no_stream_seen(watcher: &mut Client) {
    watcher.quiet(Duration::from_millis(300)).await;
}

async fn resume(server: &TestServer, ok: &protocol::LoginOk) -> Client {
    let mut c = server.connect().await;
    let resume = Resume {
        version: PROTOCOL_VERSION,
        session_id: ok.session_id.clone(),
        resume_key: ok.resume_key.clone(),
        last_seq: 0,
    };
    match c.request(&ClientMessage::Resume(resume)).await {
        ServerMessage::Resumed { .. } => c,
        other => panic!("expected Resumed, got {other:?}"),
    }
}

#[tokio::test]
async fn a_token_without_publish_cannot_publish_by_any_route() {
    let server = TestServer::start_with(|_| {}).await;
    let (mut watcher, _) = server.login("r", "watcher", false).await;
    let token = server.aged_token("viewer", WATCH_ONLY, 0, 600);
    let (mut viewer, ok) = server.token_login("r", "viewer", token.clone()).await;

    // Publishing, and offering media for the stream anyway.
    publish_refused(&mut viewer, 1, ErrorCode::TokenNoPublishPrivilege).await;
    let offer = ClientMessage::SdpOffer {
        request_id: 2,
        stream_id: "cam".into(),
        role: MediaRole::Publish,
        sdp: "v=0\r\n".into(),
    };
    match viewer.request(&offer).await {
        ServerMessage::Error {
            request_id: Some(2),
            code: ErrorCode::NotStreamOwner,
            ..
        } => {}
        other => panic!("{other:?}"),
    }
    no_stream_seen(&mut watcher).await;

    // After a resume on a new connection: still refused.
    drop(viewer);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut resumed = resume(&server, &ok).await;
    publish_refused(&mut resumed, 3, ErrorCode::TokenNoPublishPrivilege).await;
    // After a relogin with the same token: still refused.
    drop(resumed);
    let (mut relogged, _) = server.token_login("r", "viewer", token).await;
    publish_refused(&mut relogged, 4, ErrorCode::TokenNoPublishPrivilege).await;
    no_stream_seen(&mut watcher).await;

    // Renewing with a token that grants publishing opens it...
    let full = server.aged_token("viewer", Privileges::ALL, 0, 600);
    assert!(renew(&mut relogged, 5, full).await);
    match relogged.request(&publish_stream(6, "cam")).await {
        ServerMessage::Ack {
            body: AckBody::StreamPublished { .. },
            ..
        } => {}
        other => panic!("{other:?}"),
    }
    match watcher
        .recv_until(|m| matches!(m, ServerMessage::Event(_)))
        .await
    {
        ServerMessage::Event(e) => assert!(matches!(
            e.event,
            RoomEvent::StreamUpdate {
                update_type: UpdateType::Add,
                ..
            }
        )),
        other => panic!("{other:?}"),
    }

    // ...and renewing without it closes it again and withdraws the stream.
    let watch_only = server.aged_token("viewer", WATCH_ONLY, 0, 600);
    assert!(!renew(&mut relogged, 7, watch_only).await);
    match watcher
        .recv_until(|m| matches!(m, ServerMessage::Event(_)))
        .await
    {
        ServerMessage::Event(e) => assert!(
            matches!(
                &e.event,
                RoomEvent::StreamUpdate {
                    update_type: UpdateType::Delete,
                    streams,
                } if streams[0].stream_id == "cam"
            ),
            "{e:?}"
        ),
        other => panic!("{other:?}"),
    }
    publish_refused(&mut relogged, 8, ErrorCode::TokenNoPublishPrivilege).await;
    // The stream ID is free again for someone allowed to use it.
    let (mut other, _) = server.login("r", "other", false).await;
    assert!(matches!(
        other.request(&publish_stream(1, "cam")).await,
        ServerMessage::Ack { .. }
    ));
    metrics::assert_has(&server, &["name=\"TokenNoPublishPrivilege\"} 4"]).await;
    server.handle.shutdown().await;
}

#[tokio::test]
async fn an_expired_token_keeps_its_session_but_publishes_nothing_new() {
    let server = TestServer::start_with(|_| {}).await;
    // Issued 599 s ago for 600 s: one second left.
    let token = server.aged_token("late", Privileges::ALL, 599, 600);
    let (mut late, _) = server.token_login("r", "late", token).await;
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    publish_refused(&mut late, 1, ErrorCode::TokenExpired).await;
    // A renewal makes it possible again.
    let fresh = server.aged_token("late", Privileges::ALL, 0, 600);
    assert!(renew(&mut late, 2, fresh).await);
    assert!(matches!(
        late.request(&publish_stream(3, "cam")).await,
        ServerMessage::Ack { .. }
    ));
    server.handle.shutdown().await;
}

#[tokio::test]
async fn the_app_sign_grants_publishing() {
    let server = TestServer::start_with(|_| {}).await;
    let (mut native, _) = server.login("r", "native", false).await;
    assert!(matches!(
        native.request(&publish_stream(1, "cam")).await,
        ServerMessage::Ack { .. }
    ));
    server.handle.shutdown().await;
}

#[tokio::test]
async fn a_renewal_hands_out_fresh_turn_credentials() {
    const SECRET: &str = "turn-secret-of-the-test";
    let server = TestServer::start_with(|c| {
        c.ice.turn_urls = vec!["turn:203.0.113.7:3478".into()];
        c.ice.turn_secret = Some(SECRET.into());
        c.ice.credential_ttl_secs = 600;
    })
    .await;
    let token = server.aged_token("ann", Privileges::ALL, 0, 60);
    let (mut c, ok) = server.token_login("r", "ann", token).await;
    let first = &ok.ice_servers[0];
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let renewed = match c
        .request(&ClientMessage::RenewToken {
            request_id: 3,
            token: server.aged_token("ann", Privileges::ALL, 0, 120),
        })
        .await
    {
        ServerMessage::Ack {
            body: AckBody::TokenRenewed { ice_servers, .. },
            ..
        } => ice_servers,
        other => panic!("expected TokenRenewed, got {other:?}"),
    };
    let [fresh] = &renewed[..] else {
        panic!("one TURN server: {renewed:?}");
    };
    assert_eq!(fresh.urls, first.urls);
    let expiry = |u: &str| -> u64 { u.split(':').next().unwrap().parse().unwrap() };
    assert!(
        expiry(&fresh.username) > expiry(&first.username),
        "minted later, expires later: {} vs {}",
        fresh.username,
        first.username
    );
    assert!(fresh.username.ends_with(":ann"), "{}", fresh.username);
    assert_eq!(
        fresh.credential,
        server::ice::credential(SECRET, &fresh.username),
        "coturn's use-auth-secret scheme"
    );
}
