//! The server API (`POST /api/v1/{method}`) against the real server with
//! real SDK engines: every call without a valid admin token is refused
//! with its code; lists show what is in the rooms; a kick, a room close, a
//! server mute and a server message reach the clients as the SDK's events;
//! the `confer` CLI drives it. With two nodes on one real Redis, the API
//! of either node sees and acts on the rooms of both, and a user logging
//! in on one node is kicked out of the other.

use media_core::{Event, RemoteDeviceState, RoomState, RoomStateChangedReason, UpdateType};
use protocol::token::{Privileges, TokenClaims};
use protocol::ErrorCode;
use protocol::{RoomEvent, ServerMessage};
use serde_json::{json, Value};
use std::process::Command;
use std::time::Duration;
use test_support::client::Client;
use test_support::cluster::Redis;
use test_support::http::{self, Answer};
use test_support::{one_way_call, unix_now, Peer, TestServer};

const METHODS: [&str; 9] = [
    "list_rooms",
    "list_users",
    "list_streams",
    "kick_user",
    "mute_stream",
    "close_room",
    "send_message",
    "mint_token",
    "no_such_method",
];

/// Sends `http_method /api/v1/{method}` with a JSON `body` and an optional
/// bearer token over a fresh connection.
async fn request(
    server: &TestServer,
    http_method: &str,
    method: &str,
    token: Option<&str>,
    body: &str,
) -> Answer {
    http::request(
        server.addr(),
        http_method,
        &format!("/api/v1/{method}"),
        token,
        "application/json",
        body,
    )
    .await
}

async fn post(server: &TestServer, method: &str, token: Option<&str>, body: Value) -> Answer {
    request(server, "POST", method, token, &body.to_string()).await
}

fn admin(server: &TestServer) -> String {
    server::jwt::mint_admin(
        server.app.server_secret.as_bytes(),
        server.app.app_id,
        unix_now(),
        600,
    )
}

/// Calls `method` as the admin and asserts a 200.
async fn call(server: &TestServer, method: &str, body: Value) -> Value {
    let a = post(server, method, Some(&admin(server)), body).await;
    assert_eq!(a.status, 200, "{method}: {}", a.body);
    a.body
}

/// The user IDs `list_users` answers for `room`, in its order.
async fn user_ids(server: &TestServer, room: &str) -> Vec<String> {
    let users = call(server, "list_users", json!({ "room_id": room })).await;
    users["users"]
        .as_array()
        .expect("users")
        .iter()
        .filter_map(|u| u["user_id"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_without_a_valid_admin_token_are_refused_with_their_codes() {
    let server = TestServer::start().await;
    let secret = server.app.server_secret.as_bytes();
    let app_id = server.app.app_id;
    let now = unix_now();
    let login = server::jwt::mint(
        secret,
        &TokenClaims::new(app_id, "u1", None, Privileges::ALL, now, 600),
    );
    let none_alg = {
        let good = admin(&server);
        let payload = good
            .split('.')
            .nth(1)
            .expect("a JWT has a payload")
            .to_owned();
        format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.")
    };
    let cases: Vec<(Option<String>, u16, ErrorCode)> = vec![
        (None, 401, ErrorCode::AdminTokenRequired),
        (Some("garbage".into()), 401, ErrorCode::TokenMalformed),
        (Some(none_alg), 401, ErrorCode::TokenAlgorithmRefused),
        (
            Some(server::jwt::mint_admin(b"not the secret", app_id, now, 600)),
            401,
            ErrorCode::TokenForged,
        ),
        (
            Some(server::jwt::mint_admin(secret, app_id, now - 7200, 600)),
            401,
            ErrorCode::TokenExpired,
        ),
        (
            Some(server::jwt::mint_admin(
                secret,
                app_id.wrapping_add(1),
                now,
                600,
            )),
            401,
            ErrorCode::AppNotFound,
        ),
        (Some("x".repeat(3 * 1024)), 401, ErrorCode::TokenTooLarge),
        (Some(login), 403, ErrorCode::NotAdminToken),
        (
            Some(server.token("u1", None, Privileges::ALL, 600)),
            403,
            ErrorCode::NotAdminToken,
        ),
    ];
    for method in METHODS {
        for (token, status, code) in &cases {
            let a = post(&server, method, token.as_deref(), json!({"room_id": "r"})).await;
            assert_eq!(
                (a.status, a.code()),
                (*status, u64::from(code.code())),
                "{method} {code:?}: {}",
                a.body
            );
            assert_eq!(a.body["name"], code.name());
            assert!(a.body["message"].as_str().is_some_and(|m| !m.is_empty()));
        }
    }
    // A 100 KB token: refused as too large, and the server keeps serving.
    let huge = "A".repeat(100 * 1024);
    let a = post(&server, "list_rooms", Some(&huge), json!({})).await;
    assert_eq!(
        (a.status, a.code()),
        (401, u64::from(ErrorCode::TokenTooLarge.code()))
    );
    let token = admin(&server);
    assert_eq!(
        post(&server, "list_rooms", Some(&token), json!({}))
            .await
            .status,
        200
    );

    // Authorized, but the request is wrong: typed errors too.
    let t = Some(token.as_str());
    let bad = [
        (
            request(&server, "POST", "list_users", t, "{not json").await,
            400,
            ErrorCode::MalformedMessage,
        ),
        (
            post(&server, "list_users", t, json!({"room": "r"})).await,
            400,
            ErrorCode::MalformedMessage,
        ),
        (
            post(&server, "list_users", t, json!({"room_id": ""})).await,
            400,
            ErrorCode::InvalidRoomId,
        ),
        (
            post(&server, "list_users", t, json!({"room_id": "nobody-here"})).await,
            404,
            ErrorCode::RoomNotFound,
        ),
        (
            post(
                &server,
                "kick_user",
                t,
                json!({"room_id": "nobody-here", "user_id": "u"}),
            )
            .await,
            404,
            ErrorCode::RoomNotFound,
        ),
        (
            request(&server, "GET", "list_rooms", t, "").await,
            405,
            ErrorCode::ApiNotFound,
        ),
        (
            post(&server, "no_such_method", t, json!({})).await,
            404,
            ErrorCode::ApiNotFound,
        ),
        (
            post(
                &server,
                "send_message",
                t,
                json!({"room_id": "r", "text": "x".repeat(20 * 1024)}),
            )
            .await,
            413,
            ErrorCode::MessageTooLarge,
        ),
        (
            post(
                &server,
                "mint_token",
                t,
                json!({"user_id": "u", "ttl_secs": 0}),
            )
            .await,
            400,
            ErrorCode::TokenLifetimeTooLong,
        ),
    ];
    for (a, status, code) in bad {
        assert_eq!(
            (a.status, a.code()),
            (status, u64::from(code.code())),
            "{code:?}: {}",
            a.body
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_messages_kicks_and_closes_reach_the_sdk() {
    let server = TestServer::start().await;
    let mut a = Peer::join(server.profile(), "room-1", "a", true).await;
    let mut b = Peer::join(server.profile(), "room-1", "b", true).await;
    let mut c = Peer::join(server.profile(), "room-1", "c", true).await;
    let _other = Peer::join(server.profile(), "room-2", "d", true).await;
    a.publish("a-cam").await;
    b.wait_for("a-cam Add", |e| {
        matches!(
            e,
            Event::RoomStreamUpdate {
                update_type: UpdateType::Add,
                ..
            }
        )
    })
    .await;

    let rooms = call(&server, "list_rooms", json!({})).await;
    assert_eq!(
        rooms,
        json!({"rooms": [
            {"room_id": "room-1", "users": 3, "streams": 1},
            {"room_id": "room-2", "users": 1, "streams": 0},
        ]})
    );
    assert_eq!(user_ids(&server, "room-1").await, ["a", "b", "c"]);
    let streams = call(&server, "list_streams", json!({"room_id": "room-1"})).await;
    assert_eq!(streams["streams"][0]["stream_id"], "a-cam");
    assert_eq!(streams["streams"][0]["user"]["user_id"], "a");
    assert_eq!(streams["streams"][0]["server_video_muted"], false);

    // A server message reaches everyone as the SDK's broadcast event.
    let sent = call(
        &server,
        "send_message",
        json!({"room_id": "room-1", "text": "maintenance at 10"}),
    )
    .await;
    assert!(sent["message_id"].as_u64().is_some());
    for p in [&mut a, &mut b, &mut c] {
        match p
            .wait_for("server message", |e| {
                matches!(e, Event::RoomBroadcastMessage { .. })
            })
            .await
        {
            Event::RoomBroadcastMessage { messages, .. } => {
                assert_eq!(messages[0].text, "maintenance at 10");
                assert_eq!(messages[0].from_user.user_id, "server");
            }
            other => unreachable!("{other:?}"),
        }
    }

    // Kick: b gets the kick-out with KickedByServer and does not retry;
    // the others see b leave.
    call(
        &server,
        "kick_user",
        json!({"room_id": "room-1", "user_id": "b"}),
    )
    .await;
    assert_eq!(
        b.wait_state(RoomState::Disconnected).await,
        ErrorCode::KickedByServer.code()
    );
    let kicked = b
        .wait_for("KickOut", |e| {
            matches!(
                e,
                Event::RoomStateChanged {
                    reason: RoomStateChangedReason::KickOut,
                    ..
                }
            )
        })
        .await;
    match kicked {
        Event::RoomStateChanged { error_code, .. } => {
            assert_eq!(error_code, ErrorCode::KickedByServer.code())
        }
        other => unreachable!("{other:?}"),
    }
    a.wait_for("b Delete", |e| matches!(e, Event::RoomUserUpdate { update_type: UpdateType::Delete, users, .. } if users[0].user_id == "b")).await;
    let a_again = post(
        &server,
        "kick_user",
        Some(&admin(&server)),
        json!({"room_id": "room-1", "user_id": "b"}),
    )
    .await;
    assert_eq!(
        (a_again.status, a_again.code()),
        (404, u64::from(ErrorCode::UserNotFound.code()))
    );

    // Close: everyone left gets RoomClosed; the room is gone.
    let closed = call(&server, "close_room", json!({"room_id": "room-1"})).await;
    assert_eq!(closed["removed"], 2);
    for p in [&mut a, &mut c] {
        assert_eq!(
            p.wait_state(RoomState::Disconnected).await,
            ErrorCode::RoomClosed.code()
        );
    }
    let rooms = call(&server, "list_rooms", json!({})).await;
    assert_eq!(
        rooms,
        json!({"rooms": [{"room_id": "room-2", "users": 1, "streams": 0}]})
    );
    // Nobody reconnects on their own after a kick or a close.
    let after = b.collect_for(Duration::from_millis(800)).await;
    assert!(
        !after.iter().any(|e| matches!(
            e,
            Event::RoomStateUpdate {
                state: RoomState::Connecting,
                ..
            }
        )),
        "{after:#?}"
    );
    for p in [a, b, c] {
        p.engine.destroy().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_mute_stops_forwarding_and_players_see_it() {
    let server = TestServer::start().await;
    let (a, mut b, mut video) = one_way_call(&server, "room-m").await;
    assert!(
        video.count(Duration::from_secs(2)).await > 5,
        "frames before the mute"
    );

    let muted = call(
        &server,
        "mute_stream",
        json!({"room_id": "room-m", "stream_id": "a-cam", "video": true}),
    )
    .await;
    assert_eq!(muted, json!({"audio": false, "video": true}));
    b.wait_for("camera Mute", |e| {
        matches!(
            e,
            Event::RemoteCameraStateUpdate {
                state: RemoteDeviceState::Mute,
                ..
            }
        )
    })
    .await;
    // What was in flight drains; then nothing more is forwarded.
    video.count(Duration::from_millis(700)).await;
    let while_muted = video.count(Duration::from_secs(2)).await;
    assert!(
        while_muted <= 1,
        "{while_muted} frames forwarded while muted"
    );
    let streams = call(&server, "list_streams", json!({"room_id": "room-m"})).await;
    assert_eq!(streams["streams"][0]["server_video_muted"], true);
    assert_eq!(streams["streams"][0]["video_muted"], true);

    // Lifting it: the players see the camera open and frames come back.
    let lifted = call(
        &server,
        "mute_stream",
        json!({"room_id": "room-m", "stream_id": "a-cam", "video": false}),
    )
    .await;
    assert_eq!(lifted, json!({"audio": false, "video": false}));
    b.wait_for("camera Open", |e| {
        matches!(
            e,
            Event::RemoteCameraStateUpdate {
                state: RemoteDeviceState::Open,
                ..
            }
        )
    })
    .await;
    assert!(
        video.first(Duration::from_secs(5)).await.is_some(),
        "frames after the mute is lifted"
    );
    let unknown = post(
        &server,
        "mute_stream",
        Some(&admin(&server)),
        json!({"room_id": "room-m", "stream_id": "nope", "audio": true}),
    )
    .await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (404, u64::from(ErrorCode::StreamNotFound.code()))
    );
    a.engine.destroy().await;
    b.engine.destroy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_drives_the_api() {
    let server = TestServer::start().await;
    let mut b = Peer::join(server.profile(), "room-cli", "b", true).await;
    let confer = env!("CARGO_BIN_EXE_confer");
    let app_id = server.app.app_id.to_string();
    let secret = server.app.server_secret.clone();
    let out = Command::new(confer)
        .args([
            "admin-token",
            "--app-id",
            &app_id,
            "--secret",
            &secret,
            "--ttl",
            "600",
        ])
        .output()
        .expect("runs confer admin-token");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned();
    let run = |args: &[&str]| {
        let out = Command::new(confer)
            .args(args)
            .args(["--server", &server.http_url(), "--admin-token", &token])
            .output()
            .expect("runs confer");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, stdout, stderr) = run(&["rooms"]);
    assert!(ok, "{stderr}");
    let rooms: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(rooms["rooms"][0]["room_id"], "room-cli");
    let (ok, _, stderr) = run(&["kick", "--room", "room-cli", "--user", "nobody"]);
    assert!(!ok && stderr.contains("UserNotFound (1009017)"), "{stderr}");
    let (ok, _, stderr) = run(&["kick", "--room", "room-cli", "--user", "b"]);
    assert!(ok, "{stderr}");
    assert_eq!(
        b.wait_state(RoomState::Disconnected).await,
        ErrorCode::KickedByServer.code()
    );
    // Without --admin-token the CLI mints one from the secret.
    let out = Command::new(confer)
        .args([
            "rooms",
            "--server",
            &server.http_url(),
            "--app-id",
            &app_id,
            "--secret",
            &secret,
        ])
        .output()
        .expect("runs confer rooms");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).expect("JSON"),
        json!({"rooms": []})
    );
    b.engine.destroy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minted_tokens_log_in_where_they_say() {
    let server = TestServer::start().await;
    let minted = call(
        &server,
        "mint_token",
        json!({"user_id": "u1", "room_id": "r1", "ttl_secs": 600, "publish": false}),
    )
    .await;
    assert_eq!(minted["expires_in_secs"], 600);
    let token = minted["token"].as_str().expect("a token").to_owned();
    let claims = server::jwt::peek(&token).expect("a Confer JWT");
    assert_eq!(
        (
            claims.user_id.as_str(),
            claims.room_id.as_deref(),
            claims.privileges.publish
        ),
        ("u1", Some("r1"), false)
    );
    let (_, ok) = server.token_login("r1", "u1", token.clone()).await;
    assert_eq!(ok.room_id, "r1");
    // An invite: any user ID, that room only.
    let invite = call(&server, "mint_token", json!({"room_id": "r1"})).await;
    let invite = invite["token"].as_str().expect("a token").to_owned();
    server.token_login("r1", "guest", invite).await;
    let none = post(&server, "mint_token", Some(&admin(&server)), json!({})).await;
    assert_eq!(
        (none.status, none.code()),
        (400, u64::from(ErrorCode::InvalidUserId.code()))
    );
}

/// Two in-process nodes of one app on `redis` (2 s leases).
async fn two_nodes(redis: &Redis) -> (TestServer, TestServer) {
    let nodes = server::nodes::NodesConfig {
        redis_url: redis.url(),
        public_url: None,
        lease_ms: 2_000,
    };
    let first_nodes = nodes.clone();
    let a = TestServer::start_with(|c| c.nodes = Some(first_nodes)).await;
    let app = a.app.clone();
    let b = TestServer::start_with(|c| {
        c.apps = vec![app];
        c.nodes = Some(nodes);
    })
    .await;
    (a, b)
}

/// Asserts that the next message other than heartbeat acks and room
/// events is `Kicked` with `code`.
async fn assert_kicked(client: &mut Client, code: ErrorCode) {
    let notice = client
        .recv_until(|m| {
            !matches!(
                m,
                ServerMessage::HeartbeatAck { .. } | ServerMessage::Event(_)
            )
        })
        .await;
    match notice {
        ServerMessage::Kicked { code: got, .. } => assert_eq!(got, code),
        other => panic!("expected Kicked with {code:?}, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn either_node_lists_and_acts_on_the_other_nodes_rooms() {
    let Some(redis) = Redis::start("either_node_lists_and_acts_on_the_other_nodes_rooms").await
    else {
        return;
    };
    let (a, b) = two_nodes(&redis).await;
    // "on-a" is pinned to node a, "on-b" to node b.
    let (mut u1, _) = a.login("on-a", "u1", true).await;
    let (mut u2, _) = a.login("on-a", "u2", true).await;
    let (u3, _) = b.login("on-b", "u3", true).await;
    for node in [&a, &b] {
        let rooms = call(node, "list_rooms", json!({})).await;
        assert_eq!(
            rooms,
            json!({"rooms": [
                {"room_id": "on-a", "users": 2, "streams": 0},
                {"room_id": "on-b", "users": 1, "streams": 0},
            ]})
        );
    }
    // Through node b: the users of a's room, a message and a kick there.
    assert_eq!(user_ids(&b, "on-a").await, ["u1", "u2"]);
    call(&b, "list_streams", json!({"room_id": "on-a"})).await;
    call(
        &b,
        "send_message",
        json!({"room_id": "on-a", "text": "hello from b"}),
    )
    .await;
    let heard = u1
        .recv_until(|m| {
            matches!(m, ServerMessage::Event(e)
                if matches!(&e.event, RoomEvent::Broadcast { message } if message.text == "hello from b"))
        })
        .await;
    assert!(matches!(heard, ServerMessage::Event(_)));
    call(&b, "kick_user", json!({"room_id": "on-a", "user_id": "u2"})).await;
    assert_kicked(&mut u2, ErrorCode::KickedByServer).await;
    // A room no node holds, and a user not in a's room: 404 with their codes.
    let token = admin(&b);
    let none = post(
        &b,
        "close_room",
        Some(&token),
        json!({"room_id": "nowhere"}),
    )
    .await;
    assert_eq!(
        (none.status, none.code()),
        (404, u64::from(ErrorCode::RoomNotFound.code()))
    );
    let nobody = post(
        &b,
        "kick_user",
        Some(&token),
        json!({"room_id": "on-a", "user_id": "nobody"}),
    )
    .await;
    assert_eq!(
        (nobody.status, nobody.code()),
        (404, u64::from(ErrorCode::UserNotFound.code()))
    );
    // A mute reaches a's room too (which has no such stream).
    let no_stream = post(
        &b,
        "mute_stream",
        Some(&token),
        json!({"room_id": "on-a", "stream_id": "none", "audio": true}),
    )
    .await;
    assert_eq!(
        (no_stream.status, no_stream.code()),
        (404, u64::from(ErrorCode::StreamNotFound.code()))
    );
    // Closing a's room through b.
    let closed = call(&b, "close_room", json!({"room_id": "on-a"})).await;
    assert_eq!(closed, json!({"removed": 1}));
    assert_kicked(&mut u1, ErrorCode::RoomClosed).await;
    let rooms = call(&a, "list_rooms", json!({})).await;
    assert_eq!(
        rooms,
        json!({"rooms": [{"room_id": "on-b", "users": 1, "streams": 0}]})
    );
    drop((u1, u2, u3));
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_on_another_node_kicks_the_users_first_session_out() {
    let Some(redis) =
        Redis::start("a_login_on_another_node_kicks_the_users_first_session_out").await
    else {
        return;
    };
    let (a, b) = two_nodes(&redis).await;
    let (mut first, _) = a.login("room-a", "dup", true).await;
    let (other, _) = b.login("room-b", "other", true).await;
    // The same user, another room, on node b.
    let (second, _) = b.login("room-b", "dup", true).await;
    assert_kicked(&mut first, ErrorCode::KickedOut).await;
    // The first session is gone from a's room (the room with it); the
    // second stays.
    let rooms = call(&a, "list_rooms", json!({})).await;
    assert_eq!(
        rooms,
        json!({"rooms": [{"room_id": "room-b", "users": 2, "streams": 0}]})
    );
    let mut ids = user_ids(&a, "room-b").await;
    ids.sort();
    assert_eq!(ids, ["dup", "other"]);
    drop((first, second, other));
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kick_notice_missed_while_unsubscribed_is_caught_up() {
    let test = "a_kick_notice_missed_while_unsubscribed_is_caught_up";
    let Some(redis) = Redis::start(test).await else {
        return;
    };
    let (a, b) = two_nodes(&redis).await;
    let (mut first, _) = a.login("room-a", "dup", true).await;
    // Every node's kick subscription cut (the data stays): the take-over
    // notice of the login below finds nobody listening on a (it subscribes
    // again after 500 ms, then reads its sessions' claims).
    redis.cli(&["CLIENT", "KILL", "TYPE", "pubsub"]).await;
    let (second, _) = b.login("room-b", "dup", true).await;
    assert_kicked(&mut first, ErrorCode::KickedOut).await;
    drop((first, second));
    a.shutdown().await;
    b.shutdown().await;
}
