//! `/healthz`, `/metrics` and graceful shutdown.
#![allow(clippy::unwrap_used)]

use protocol::{ErrorCode, ServerMessage};
use test_support::http::{self, Answer};
use test_support::TestServer;

#[tokio::test]
async fn healthz_and_metrics() {
    let server = TestServer::start_with(|_| {}).await;
    let health = server.http_get_ok("/healthz").await;
    assert!(health.ends_with("ok"), "{health}");
    let (_a, _) = server.login("r1", "a", true).await;
    let (_b, _) = server.login("r2", "b", true).await;
    let m = server.http_get_ok("/metrics").await;
    for line in [
        "confer_rooms 2",
        "confer_users 2",
        "confer_connections 2",
        "confer_logins_total 2",
        "# TYPE confer_messages_in_total counter",
        "# TYPE confer_messages_out_total counter",
        // The media families render before any call.
        "# TYPE confer_media_packets_forwarded_total counter",
    ] {
        assert!(m.contains(line), "missing {line:?} in {m}");
    }
    server.handle.shutdown().await;
}

#[tokio::test]
async fn shutdown_says_goodbye_to_everyone() {
    let server = TestServer::start_with(|_| {}).await;
    let (mut a, _) = server.login("r", "a", true).await;
    let mut waiting = server.connect().await;
    let addr = server.handle.local_addr();
    server.handle.shutdown().await;
    for c in [&mut a, &mut waiting] {
        let msgs = c.closed().await;
        assert!(
            msgs.iter().any(|m| matches!(
                m,
                ServerMessage::Shutdown {
                    code: ErrorCode::ServerShuttingDown,
                    ..
                }
            )),
            "{msgs:?}"
        );
    }
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "listener closed"
    );
}

/// One request to the router itself (no socket, as axum's
/// `examples/testing` does): the status and the body.
async fn oneshot(router: &axum::Router, method: &str, uri: &str) -> (u16, String) {
    use tower::ServiceExt;
    let request = axum::http::Request::builder()
        .method(method)
        .uri(uri)
        .body(axum::body::Body::empty())
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn routes_answer_without_a_socket() {
    let config = server::ServerConfig::generate_local();
    let app_id = config.apps[0].app_id;
    let router = server::app(server::ServerState::new(config).unwrap());
    assert_eq!(
        oneshot(&router, "GET", "/healthz").await,
        (200, "ok".into())
    );
    let (status, metrics) = oneshot(&router, "GET", "/metrics").await;
    assert_eq!(status, 200);
    assert!(metrics.contains("confer_rooms 0\n"), "{metrics}");
    let (status, info) = oneshot(&router, "GET", "/api/info").await;
    assert_eq!(status, 200);
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["dev_app_ids"], serde_json::json!([app_id]));
    assert_eq!(oneshot(&router, "GET", "/web/nope.js").await.0, 404);
    assert_eq!(
        oneshot(&router, "GET", "/api/error-codes").await.0,
        404,
        "gone: the page has the generated table"
    );
    let (status, body) = oneshot(&router, "GET", "/updates/latest.json").await;
    assert_eq!(
        (status, api_code(&serde_json::from_str(&body).unwrap())),
        (404, ErrorCode::UpdateFileNotFound)
    );
    // /ws without an upgrade: refused by the extractor, never served.
    let (status, _) = oneshot(&router, "GET", "/ws").await;
    assert!((400..500).contains(&status), "{status}");
    assert_eq!(oneshot(&router, "POST", "/healthz").await.0, 405);
}

/// `POST /api/dev-token` with a JSON body.
async fn dev_token(server: &TestServer, body: &str) -> Answer {
    http::request(
        server.addr(),
        "POST",
        "/api/dev-token",
        None,
        "application/json",
        body,
    )
    .await
}

fn split_response(raw: &str) -> (u16, String) {
    let status = raw[9..12].parse().unwrap();
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, body.to_owned())
}

fn token_login(app: &server::AppConfig, room: &str, token: &str) -> protocol::ClientMessage {
    protocol::ClientMessage::Login(protocol::Login {
        version: protocol::PROTOCOL_VERSION,
        app_id: app.app_id,
        room_id: room.into(),
        user: protocol::UserInfo {
            user_id: "web-user".into(),
            user_name: "Web".into(),
        },
        credentials: protocol::Credentials::Token {
            token: token.to_owned(),
        },
        notify_users: false,
        max_member_count: 0,
    })
}

/// The typed error code of an answer's JSON body, checking its name and
/// message.
fn api_code(v: &serde_json::Value) -> ErrorCode {
    let code = ErrorCode::from_code(v["code"].as_u64().unwrap() as u32).unwrap();
    assert_eq!(v["name"], code.name(), "{v}");
    assert_eq!(v["message"], code.message(), "{v}");
    code
}

#[tokio::test]
async fn the_debug_page_is_served() {
    let server = TestServer::start_with(|_| {}).await;
    let page = server.http_get_ok("/").await;
    assert!(page.contains("text/html"), "{page}");
    assert!(page.contains("Confer"), "{page}");
    if server::web::page_built() {
        // The compiled page loads its script from the server, nothing else.
        assert!(page.contains("/web/js/main.js"), "{page}");
        assert!(!page.contains("https://"), "no CDN: {page}");
        let js = server.http_get_ok("/web/js/main.js").await;
        assert!(js.contains("text/javascript"), "{js}");
    } else {
        assert!(page.contains("make web"), "placeholder says how: {page}");
    }
    let missing = server.http_get("/web/nope.js").await;
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
    let info = server.http_get("/api/info").await;
    let (status, body) = split_response(&info);
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["dev_app_ids"], serde_json::json!([server.app.app_id]));
}

#[tokio::test]
async fn dev_mode_mints_tokens_that_log_in() {
    let server = TestServer::start_with(|_| {}).await;
    assert!(
        server.app.dev_mode,
        "the generated local config is a dev app"
    );
    let body = format!(
        r#"{{"app_id":{},"user_id":"web-user","room_id":"r1"}}"#,
        server.app.app_id
    );
    let answer = dev_token(&server, &body).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let v = answer.body;
    let token = v["token"].as_str().unwrap().to_owned();
    assert_eq!(v["expires_in_secs"], server::web::DEV_TOKEN_TTL_SECS);
    let claims = server::jwt::peek(&token).unwrap();
    assert_eq!(
        (
            claims.app_id,
            claims.user_id.as_str(),
            claims.room_id.as_deref()
        ),
        (server.app.app_id, "web-user", Some("r1"))
    );
    // The token logs in to its room, and only there.
    let mut c = server.connect().await;
    assert!(matches!(
        c.request(&token_login(&server.app, "r1", &token)).await,
        ServerMessage::LoginOk(_)
    ));
    let mut c = server.connect().await;
    assert!(matches!(
        c.request(&token_login(&server.app, "r2", &token)).await,
        ServerMessage::LoginFailed {
            code: ErrorCode::TokenWrongRoom,
            ..
        }
    ));

    // Bad requests get typed codes.
    let cases = [
        ("{".to_owned(), 400, ErrorCode::MalformedMessage),
        (
            r#"{"app_id":1,"user_id":"u"}"#.to_owned(),
            404,
            ErrorCode::AppNotFound,
        ),
        (
            format!(r#"{{"app_id":{},"user_id":""}}"#, server.app.app_id),
            400,
            ErrorCode::InvalidUserId,
        ),
        (
            format!(
                r#"{{"app_id":{},"user_id":"u","room_id":"bad room"}}"#,
                server.app.app_id
            ),
            400,
            ErrorCode::InvalidRoomId,
        ),
        (
            format!(
                r#"{{"app_id":{},"user_id":"u","ttl_secs":0}}"#,
                server.app.app_id
            ),
            400,
            ErrorCode::MalformedMessage,
        ),
    ];
    for (body, want_status, want_code) in cases {
        let answer = dev_token(&server, &body).await;
        assert_eq!(answer.status, want_status, "{body} -> {}", answer.body);
        assert_eq!(api_code(&answer.body), want_code, "{body}");
    }
}

#[tokio::test]
async fn production_apps_cannot_mint_tokens() {
    // No development app at all: the endpoint is not there.
    let server = TestServer::start_with(|c| {
        for app in &mut c.apps {
            app.dev_mode = false;
        }
    })
    .await;
    let body = format!(r#"{{"app_id":{},"user_id":"u"}}"#, server.app.app_id);
    let answer = dev_token(&server, &body).await;
    assert_eq!(answer.status, 404, "{}", answer.body);
    assert_eq!(api_code(&answer.body), ErrorCode::TokenMintingDisabled);
    let (_, info) = split_response(&server.http_get("/api/info").await);
    assert!(info.contains(r#""dev_app_ids":[]"#), "{info}");

    // A production app beside a development one: refused.
    let server = TestServer::start_with(|c| {
        c.apps[0].dev_mode = false;
        c.apps.push(server::AppConfig::generate(true));
    })
    .await;
    let body = format!(r#"{{"app_id":{},"user_id":"u"}}"#, server.app.app_id);
    let answer = dev_token(&server, &body).await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert_eq!(api_code(&answer.body), ErrorCode::TokenMintingDisabled);
}
