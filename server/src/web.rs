//! The web debug page and its small HTTP API.
//!
//! - `GET /`: the page (compiled TypeScript from `server/web/`, embedded at
//!   build time; a placeholder that says how to build it otherwise).
//! - `GET /web/{path}`: its scripts and styles.
//! - `GET /api/info`: what the page needs to start: the protocol version and
//!   the AppIDs of development apps (so a local page can fill the AppID in).
//! - `POST /api/dev-token` `{app_id, user_id, room_id?, ttl_secs?}`: mints a
//!   login token (a JWT, [`crate::jwt`]), only for apps with `dev_mode = true` (the generated local
//!   config). A server without development apps answers 404 and a
//!   production app 403, both with [`ErrorCode::TokenMintingDisabled`].
//!
//! Errors are JSON `{code, name, message}` with a code from the table.

use crate::state::ServerState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use protocol::ids;
use protocol::token::{Privileges, TokenClaims};
use protocol::{ErrorCode, PROTOCOL_VERSION};
use serde::{Deserialize, Serialize};
use std::time::{SystemTime, UNIX_EPOCH};

mod assets {
    include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));
}

/// Lifetime of a development token when the request names none.
pub const DEV_TOKEN_TTL_SECS: u64 = 3600;
/// The longest lifetime a development token may ask for.
pub const DEV_TOKEN_MAX_TTL_SECS: u64 = 24 * 3600;

/// Whether the compiled page is embedded (`false`: only the placeholder).
pub fn page_built() -> bool {
    assets::BUILT
}

/// The page's routes, merged into the server's router.
pub fn routes() -> Router<ServerState> {
    Router::new()
        .route("/", get(index))
        .route("/web/{*path}", get(asset))
        .route("/api/info", get(info))
        .route("/api/dev-token", post(dev_token))
}

/// An embedded file by its path under `web/dist`.
fn file(path: &str) -> Option<&'static [u8]> {
    assets::FILES
        .iter()
        .find(|(name, _)| *name == path)
        .map(|(_, bytes)| *bytes)
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") | Some("mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") | Some("map") => "application/json",
        _ => "application/octet-stream",
    }
}

fn serve_file(path: &str) -> Response {
    match file(path) {
        Some(bytes) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(content_type(path)),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            ],
            bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

async fn index() -> Response {
    serve_file("index.html")
}

async fn asset(Path(path): Path<String>) -> Response {
    serve_file(&path)
}

/// `GET /api/info`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Info {
    /// The signaling protocol version.
    pub protocol_version: u16,
    /// AppIDs of the apps with `dev_mode = true` (empty in production).
    pub dev_app_ids: Vec<u32>,
    /// Whether the compiled page is embedded.
    pub page_built: bool,
}

async fn info(State(state): State<ServerState>) -> Json<Info> {
    Json(Info {
        protocol_version: PROTOCOL_VERSION,
        dev_app_ids: state
            .config()
            .apps
            .iter()
            .filter(|a| a.dev_mode)
            .map(|a| a.app_id)
            .collect(),
        page_built: page_built(),
    })
}

/// The body of every API error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// The number.
    pub code: u32,
    /// The name, e.g. `TokenMintingDisabled`.
    pub name: String,
    /// The human message.
    pub message: String,
}

impl ApiError {
    /// The body for `code`: its number, name and message.
    pub fn of(code: ErrorCode) -> Self {
        ApiError {
            code: code.code(),
            name: code.name().to_owned(),
            message: code.message().to_owned(),
        }
    }
}

fn error(status: StatusCode, code: ErrorCode) -> Response {
    (status, Json(ApiError::of(code))).into_response()
}

/// `POST /api/dev-token` request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DevTokenRequest {
    /// The AppID.
    pub app_id: u32,
    /// The user the token is for.
    pub user_id: String,
    /// Limit the token to this room (`None`: any room).
    #[serde(default)]
    pub room_id: Option<String>,
    /// Lifetime in seconds (default [`DEV_TOKEN_TTL_SECS`], at most
    /// [`DEV_TOKEN_MAX_TTL_SECS`]).
    #[serde(default)]
    pub ttl_secs: Option<u64>,
}

/// `POST /api/dev-token` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DevTokenResponse {
    /// The token.
    pub token: String,
    /// Seconds until it expires.
    pub expires_in_secs: u64,
}

async fn dev_token(State(state): State<ServerState>, body: Bytes) -> Response {
    let apps = &state.config().apps;
    if !apps.iter().any(|a| a.dev_mode) {
        return error(StatusCode::NOT_FOUND, ErrorCode::TokenMintingDisabled);
    }
    let Ok(req) = serde_json::from_slice::<DevTokenRequest>(&body) else {
        return error(StatusCode::BAD_REQUEST, ErrorCode::MalformedMessage);
    };
    let Some(app) = apps.iter().find(|a| a.app_id == req.app_id) else {
        return error(StatusCode::NOT_FOUND, ErrorCode::AppNotFound);
    };
    if !app.dev_mode {
        return error(StatusCode::FORBIDDEN, ErrorCode::TokenMintingDisabled);
    }
    if let Err(e) = ids::UserId::new(req.user_id.as_str()) {
        return error(StatusCode::BAD_REQUEST, e.code());
    }
    if let Some(room) = &req.room_id {
        if let Err(e) = ids::RoomId::new(room.as_str()) {
            return error(StatusCode::BAD_REQUEST, e.code());
        }
    }
    let ttl = req.ttl_secs.unwrap_or(DEV_TOKEN_TTL_SECS);
    if ttl == 0 || ttl > DEV_TOKEN_MAX_TTL_SECS {
        return error(StatusCode::BAD_REQUEST, ErrorCode::MalformedMessage);
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let claims = TokenClaims::new(
        app.app_id,
        req.user_id,
        req.room_id,
        Privileges::ALL,
        now,
        ttl,
    );
    tracing::info!(app_id = app.app_id, user_id = %claims.user_id, "development token minted");
    Json(DevTokenResponse {
        token: crate::jwt::mint(app.server_secret.as_bytes(), &claims),
        expires_in_secs: ttl,
    })
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("js/main.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("style.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("x"), "application/octet-stream");
    }

    #[test]
    fn an_index_is_always_embedded() {
        assert!(file("index.html").is_some());
        assert!(file("../Cargo.toml").is_none());
    }
}
