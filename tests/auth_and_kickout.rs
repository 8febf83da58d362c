//! Who may log in: AppSign proof, tokens (expired, forged, wrong room, no
//! login privilege), wrong AppID; and the kick-out when the same user logs
//! in elsewhere; invites (any user ID, one room) that never kick anyone out.
//! Each refusal reaches the app as Disconnected with its code.

use media_core::{Event, RoomState};
use protocol::token::Privileges;
use protocol::ErrorCode;
use std::time::Duration;
use test_support::{briefs, Peer, TestServer};

/// Logs in with `token` and returns the Disconnected error code.
async fn login_fails_with(server: &TestServer, app_sign: &str, token: Option<String>) -> u32 {
    let mut profile = server.profile();
    profile.app_sign = app_sign.to_owned();
    let mut p = Peer::create(profile, "u1");
    p.login("room-1", true, token);
    assert_eq!(p.wait_state(RoomState::Connecting).await, 0);
    let code = p.wait_state(RoomState::Disconnected).await;
    // No retry after an auth failure: nothing more arrives.
    let after = p.collect_for(Duration::from_millis(600)).await;
    assert!(
        briefs(&after).is_empty(),
        "events after failure: {after:#?}"
    );
    p.engine.destroy().await;
    code
}

/// Logs "tok" into "room-t" with no AppSign, only a token for `token_room`
/// valid `ttl` seconds, and checks it connects.
async fn token_login(server: &TestServer, token_room: Option<&str>, ttl: i64) -> Peer {
    let mut profile = server.profile();
    profile.app_sign = String::new();
    let mut p = Peer::create(profile, "tok");
    p.login(
        "room-t",
        false,
        Some(server.token("tok", token_room, Privileges::ALL, ttl)),
    );
    assert_eq!(p.wait_state(RoomState::Connected).await, 0);
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_app_sign_is_refused() {
    let server = TestServer::start().await;
    let wrong = "ab".repeat(32);
    assert_eq!(
        login_fails_with(&server, &wrong, None).await,
        ErrorCode::AppSignMismatch.code()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_app_id_is_refused() {
    let server = TestServer::start().await;
    let mut profile = server.profile();
    profile.app_id = server.app.app_id.wrapping_add(1);
    let mut p = Peer::create(profile, "u1");
    p.login("room-1", false, None);
    assert_eq!(
        p.wait_state(RoomState::Disconnected).await,
        ErrorCode::AppNotFound.code()
    );
    p.engine.destroy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_refusals_have_their_codes() {
    let server = TestServer::start().await;
    let cases = [
        (
            server.token("u1", None, Privileges::ALL, -60),
            ErrorCode::TokenExpired,
        ),
        (
            server.token("u1", Some("other-room"), Privileges::ALL, 600),
            ErrorCode::TokenWrongRoom,
        ),
        (
            server.token("u2", None, Privileges::ALL, 600),
            ErrorCode::TokenWrongUser,
        ),
        (
            server.token(
                "u1",
                None,
                Privileges {
                    login: false,
                    publish: true,
                },
                600,
            ),
            ErrorCode::TokenNoLoginPrivilege,
        ),
        ("CF1.bm90LWpzb24.c2ln".to_owned(), ErrorCode::TokenMalformed),
    ];
    for (token, code) in cases {
        assert_eq!(
            login_fails_with(&server, "", Some(token)).await,
            code.code(),
            "{code:?}"
        );
    }
    // Forged: right shape, signed with another secret.
    let claims = protocol::token::peek(&server.token("u1", None, Privileges::ALL, 600))
        .expect("own token parses");
    let forged = protocol::token::mint(b"not-the-secret", &claims);
    assert_eq!(
        login_fails_with(&server, "", Some(forged)).await,
        ErrorCode::TokenForged.code()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_login_works_without_app_sign() {
    let server = TestServer::start().await;
    let p = token_login(&server, Some("room-t"), 600).await;
    p.engine.destroy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_will_expire_then_renew() {
    let server = TestServer::start().await;
    // 20 s left: less than the 30 s notice, so the warning comes right away.
    let mut p = token_login(&server, None, 20).await;
    match p
        .wait_for("RoomTokenWillExpire", |e| {
            matches!(e, Event::RoomTokenWillExpire { .. })
        })
        .await
    {
        Event::RoomTokenWillExpire {
            room_id,
            remain_time_in_second,
        } => {
            assert_eq!(room_id, "room-t");
            assert!(remain_time_in_second <= 20, "{remain_time_in_second}");
        }
        _ => unreachable!(),
    }
    // A fresh token for an hour: no further warning soon.
    p.engine
        .renew_token(&server.token("tok", None, Privileges::ALL, 3600))
        .expect("renew accepted");
    let after = p.collect_for(Duration::from_millis(800)).await;
    assert!(
        !after.iter().any(|e| matches!(
            e,
            Event::RoomTokenWillExpire { .. } | Event::RoomStateUpdate { .. }
        )),
        "{after:#?}"
    );
    p.engine.destroy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_user_elsewhere_kicks_the_first_session() {
    let server = TestServer::start().await;
    let mut watcher = Peer::join(server.profile(), "kick-room", "watcher", true).await;
    let mut first = Peer::join(server.profile(), "kick-room", "dup", true).await;
    watcher
        .wait_for("user Add [dup]", |e| {
            matches!(e, Event::RoomUserUpdate { .. })
        })
        .await;

    let mut second = Peer::join(server.profile(), "kick-room", "dup", true).await;
    assert_eq!(
        first.wait_state(RoomState::Disconnected).await,
        ErrorCode::KickedOut.code()
    );
    // The kicked engine does not retry.
    let after = first.collect_for(Duration::from_millis(800)).await;
    assert!(
        briefs(&after).is_empty(),
        "kicked engine kept going: {after:#?}"
    );
    // The new session works: it sees the watcher.
    second
        .wait_for("user Add [watcher]", |e| {
            matches!(e, Event::RoomUserUpdate { .. })
        })
        .await;
    // The watcher saw no churn for "dup" (same room, replaced in place).
    let seen = watcher.collect_for(Duration::from_millis(500)).await;
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, Event::RoomUserUpdate { .. })),
        "watcher saw churn: {seen:#?}"
    );
    for p in [first, second, watcher] {
        p.engine.destroy().await;
    }
}

/// A guest logging in with the host's invite (no AppSign).
fn guest(server: &TestServer, user: &str, room: &str, invite: &str) -> Peer {
    let mut profile = server.profile();
    profile.app_sign = String::new();
    let mut p = Peer::create(profile, user);
    p.login(room, true, Some(invite.to_owned()));
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invite_admits_new_user_ids_and_never_kicks_anyone_out() {
    let server = TestServer::start().await;
    let invite = server.invite("party", 600);
    let mut host = Peer::join(server.profile(), "party", "host", true).await;

    let mut ann = guest(&server, "ann", "party", &invite);
    assert_eq!(ann.wait_state(RoomState::Connected).await, 0);
    host.wait_for("user Add [ann]", |e| {
        matches!(e, Event::RoomUserUpdate { .. })
    })
    .await;
    ann.wait_for("online count 2", |e| {
        matches!(e, Event::RoomOnlineUserCountUpdate { count: 2, .. })
    })
    .await;

    // The host's user ID and a guest's own are both taken: refused, and
    // nobody is kicked out.
    for taken in ["host", "ann"] {
        let mut thief = guest(&server, taken, "party", &invite);
        assert_eq!(
            thief.wait_state(RoomState::Disconnected).await,
            ErrorCode::UserIdInUse.code(),
            "invite login as {taken}"
        );
        thief.engine.destroy().await;
    }
    // The same user ID in another room (the token is for "party") is refused too.
    let mut elsewhere = guest(&server, "bob", "other-room", &invite);
    assert_eq!(
        elsewhere.wait_state(RoomState::Disconnected).await,
        ErrorCode::TokenWrongRoom.code()
    );
    elsewhere.engine.destroy().await;
    for p in [&mut host, &mut ann] {
        let seen = p.collect_for(Duration::from_millis(500)).await;
        assert!(
            !seen.iter().any(|e| matches!(
                e,
                Event::RoomStateUpdate { .. } | Event::RoomUserUpdate { .. }
            )),
            "a refused invite login disturbed the call: {seen:#?}"
        );
    }

    // Once ann leaves, her user ID is free for the invite again.
    ann.engine.destroy().await;
    host.wait_for("user Delete [ann]", |e| {
        matches!(e, Event::RoomUserUpdate { .. })
    })
    .await;
    let mut again = guest(&server, "ann", "party", &invite);
    assert_eq!(again.wait_state(RoomState::Connected).await, 0);
    for p in [again, host] {
        p.engine.destroy().await;
    }
}
