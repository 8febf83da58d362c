//! WHIP (`POST /whip/{room}/{stream}`) and WHEP (`POST /whep/{room}/{stream}`)
//! refusals against the real server: every bad token, room, privilege,
//! stream, body and method gets its HTTP status and typed code, and a
//! refused offer leaves nobody behind in the room. (Media over WHIP and
//! WHEP, with Chromium, is in tests/browser/whip.test.mjs.)

use protocol::token::{Privileges, TokenClaims};
use protocol::ErrorCode;
use test_support::http::{request, Answer};
use test_support::{unix_now, Peer, TestServer};

/// A WebRTC-shaped offer the SFU cannot answer (no ICE credentials, no
/// DTLS fingerprint).
const UNANSWERABLE: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\n\
a=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1;profile-level-id=42e01f\r\n";

async fn offer(server: &TestServer, path: &str, token: Option<&str>, sdp: &str) -> Answer {
    request(server.addr(), "POST", path, token, "application/sdp", sdp).await
}

fn assert_refused(a: &Answer, status: u16, code: ErrorCode, what: &str) {
    assert_eq!(a.status, status, "{what}: {} {}", a.head, a.body);
    assert_eq!(a.code(), u64::from(code.code()), "{what}: {}", a.body);
    assert_eq!(a.body["name"], code.name(), "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whip_refusals_have_their_status_and_code() {
    let server = TestServer::start().await;
    let app_id = server.app.app_id;
    let now = unix_now();
    let good = server.jwt("obs", Some("studio"), Privileges::ALL, 600);
    let no_publish = server.jwt(
        "obs",
        Some("studio"),
        Privileges {
            login: true,
            publish: false,
        },
        600,
    );
    let forged = server::jwt::mint(
        b"not the secret",
        &TokenClaims::new(app_id, "obs", None, Privileges::ALL, now, 600),
    );
    let expired = server.token("obs", None, Privileges::ALL, -60);
    let other_room = server.jwt("obs", Some("elsewhere"), Privileges::ALL, 600);
    let legacy = server.token("obs", Some("studio"), Privileges::ALL, 600);
    assert!(
        legacy.starts_with("CF1."),
        "the test server mints CF1 tokens"
    );
    let sdp = UNANSWERABLE;
    let path = "/whip/studio/obs-cam";
    let cases: Vec<(Option<&str>, u16, ErrorCode, &str)> = vec![
        (None, 401, ErrorCode::TokenMalformed, "no bearer"),
        (Some("garbage"), 401, ErrorCode::TokenMalformed, "garbage"),
        (Some(&forged), 401, ErrorCode::TokenForged, "forged"),
        (Some(&expired), 401, ErrorCode::TokenExpired, "expired"),
        (Some(&other_room), 403, ErrorCode::TokenWrongRoom, "room"),
        (
            Some(&no_publish),
            403,
            ErrorCode::TokenNoPublishPrivilege,
            "no publish",
        ),
    ];
    for (token, status, code, what) in cases {
        let a = offer(&server, path, token, sdp).await;
        assert_refused(&a, status, code, what);
        if status == 401 {
            assert!(
                a.head.contains("www-authenticate: bearer"),
                "{what}: {}",
                a.head
            );
        }
    }
    // Bad IDs, bodies and content types, checked before the token.
    let a = offer(&server, "/whip/bad%20room/obs-cam", Some(&good), sdp).await;
    assert_refused(&a, 400, ErrorCode::InvalidRoomId, "room ID");
    let a = offer(&server, "/whip/studio/bad%20stream", Some(&good), sdp).await;
    assert_refused(&a, 400, ErrorCode::InvalidStreamId, "stream ID");
    let a = offer(&server, path, Some(&good), "hello").await;
    assert_refused(&a, 400, ErrorCode::PublishNegotiationFailed, "not SDP");
    let big = format!("v=0\r\nm=video 9 X 96\r\n{}", "a=x\r\n".repeat(20_000));
    let a = offer(&server, path, Some(&good), &big).await;
    assert_refused(&a, 413, ErrorCode::MessageTooLarge, "100 KB offer");
    let a = request(server.addr(), "POST", path, Some(&good), "text/plain", sdp).await;
    assert_eq!(a.status, 415, "content type: {}", a.head);

    // A well-formed offer the SFU cannot answer: 400, and the session that
    // joined for it is gone again (a room member sees nothing left).
    let watcher = Peer::join(server.profile(), "studio", "watcher", true).await;
    for token in [&good, &legacy] {
        let a = offer(&server, path, Some(token), sdp).await;
        assert_refused(&a, 400, ErrorCode::PublishNegotiationFailed, "unanswerable");
    }
    let admin = server::jwt::mint_admin(server.app.server_secret.as_bytes(), app_id, now, 600);
    let listed = request(
        server.addr(),
        "POST",
        "/api/v1/list_users",
        Some(&admin),
        "application/json",
        r#"{"room_id":"studio"}"#,
    )
    .await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let users: Vec<&str> = listed.body["users"]
        .as_array()
        .expect("users")
        .iter()
        .filter_map(|u| u["user_id"].as_str())
        .collect();
    assert_eq!(users, vec!["watcher"], "nobody left behind");
    drop(watcher);

    // Resources: unknown ones are 404, PATCH (trickle ICE) is 405.
    let a = request(
        server.addr(),
        "DELETE",
        "/whip/studio/obs-cam/00ff",
        None,
        "x",
        "",
    )
    .await;
    assert_refused(&a, 404, ErrorCode::StreamNotFound, "unknown resource");
    let a = request(
        server.addr(),
        "PATCH",
        "/whip/studio/obs-cam/00ff",
        None,
        "application/trickle-ice-sdpfrag",
        "a=x",
    )
    .await;
    assert_eq!(a.status, 405, "PATCH: {}", a.head);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whep_refusals_have_their_status_and_code() {
    let server = TestServer::start().await;
    let mut publisher = Peer::join(server.profile(), "hall", "cam", false).await;
    publisher.publish("cam-main").await;
    let viewer = server.jwt("viewer", Some("hall"), Privileges::ALL, 600);
    let sdp = UNANSWERABLE.replace("sendonly", "recvonly");
    let a = offer(&server, "/whep/hall/nobody", Some(&viewer), &sdp).await;
    assert_refused(&a, 404, ErrorCode::StreamNotFound, "unknown stream");
    let a = offer(&server, "/whep/lobby/cam-main", Some(&viewer), &sdp).await;
    assert_refused(&a, 403, ErrorCode::TokenWrongRoom, "room of another token");
    let anywhere = server.jwt("viewer", None, Privileges::ALL, 600);
    let a = offer(&server, "/whep/lobby/cam-main", Some(&anywhere), &sdp).await;
    assert_refused(&a, 404, ErrorCode::StreamNotFound, "stream of another room");
    let a = offer(
        &server,
        "/whep/hall/cam-main?layer=huge",
        Some(&viewer),
        &sdp,
    )
    .await;
    assert_refused(&a, 400, ErrorCode::MalformedMessage, "bad layer");
    let a = offer(&server, "/whep/hall/cam-main", None, &sdp).await;
    assert_refused(&a, 401, ErrorCode::TokenMalformed, "no bearer");
    let no_login = server.jwt(
        "viewer",
        Some("hall"),
        Privileges {
            login: false,
            publish: false,
        },
        600,
    );
    let a = offer(&server, "/whep/hall/cam-main", Some(&no_login), &sdp).await;
    assert_refused(&a, 403, ErrorCode::TokenNoLoginPrivilege, "no login");
    let a = offer(&server, "/whep/hall/cam-main", Some(&viewer), &sdp).await;
    assert_refused(&a, 400, ErrorCode::PlayNegotiationFailed, "unanswerable");
    drop(publisher);
    server.shutdown().await;
}
