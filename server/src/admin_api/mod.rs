//! The server API: HTTP JSON for an app's backend, on the server's HTTP
//! listener, Twirp-style: `POST /api/v1/{method}` with a JSON body and
//! `Authorization: Bearer <admin token>` (a JWT with `admin: true` signed
//! with the app's server secret: `confer admin-token`, or any JWT library).
//! A call acts on the rooms of the token's app; with several nodes
//! (`--redis`), on every node's (`forward.rs`: `list_rooms` merges them, a
//! room call goes to the room's node).
//!
//! Methods ([`types`] has the bodies): `list_rooms`, `list_users`,
//! `list_streams`, `kick_user` (the client gets `Kicked` with
//! `KickedByServer`), `mute_stream` (the SFU stops forwarding; the room
//! gets a `StreamStateUpdate`), `close_room` (everyone gets `Kicked` with
//! `RoomClosed`), `send_message` (a room broadcast), `mint_token`.
//!
//! Errors are JSON `{code, name, message}` ([`crate::web::ApiError`]):
//! 401 without a valid token, 403 with a token that is not an admin token,
//! 400 bad JSON or IDs, 404 an unknown room, user, stream or method, 405 a
//! method other than POST, 413 a body over [`MAX_BODY_BYTES`], 429 the
//! room's message rate.

mod auth;
pub(crate) use auth::bearer;
mod forward;
pub mod types;

use crate::hub::Muted;
use crate::jwt;
use crate::sfu::{ForwardingMute, StreamKey};
use crate::state::ServerState;
use crate::web::ApiError;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use protocol::ids::{RoomId, StreamId, UserId};
use protocol::token::{Privileges, TokenClaims};
use protocol::{ErrorCode, UserInfo};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use types::*;

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Lifetime of a `mint_token` token when the request names none.
pub const DEFAULT_TOKEN_TTL_SECS: u64 = 3600;

/// The API's routes, merged into the server's router.
pub fn routes() -> Router<ServerState> {
    Router::new().route("/api/v1/{*method}", any(call))
}

/// A refused call: its HTTP status and code.
type Refused = (StatusCode, ErrorCode);

async fn call(
    State(state): State<ServerState>,
    Path(name): Path<String>,
    method: Method,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let now_unix = unix_now();
    let app_id = match auth::authorize(state.apps(), &headers, now_unix) {
        Ok(app_id) => app_id,
        Err(refusal) => {
            let mut response = error((refusal.status, refusal.code));
            if refusal.status == StatusCode::UNAUTHORIZED {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer"),
                );
            }
            return response;
        }
    };
    if method != Method::POST {
        return error((StatusCode::METHOD_NOT_ALLOWED, ErrorCode::ApiNotFound));
    }
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(_) => return error((StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::MessageTooLarge)),
    };
    // A call from another node is answered from this node alone.
    let from_peer = headers.contains_key(forward::FORWARDED);
    let result = match name.as_str() {
        "list_rooms" => list_rooms(&state, app_id, &body, &headers, from_peer).await,
        "mint_token" => mint_token(&state, app_id, &body, now_unix),
        room_call => {
            let here = match room_call {
                "list_users" => list_users(&state, app_id, &body),
                "list_streams" => list_streams(&state, app_id, &body),
                "kick_user" => kick_user(&state, app_id, &body).await,
                "mute_stream" => mute_stream(&state, app_id, &body),
                "close_room" => close_room(&state, app_id, &body).await,
                "send_message" => send_message(&state, app_id, &body),
                _ => Err((StatusCode::NOT_FOUND, ErrorCode::ApiNotFound)),
            };
            match here {
                Err((_, ErrorCode::RoomNotFound)) if !from_peer => {
                    forward::to_owner(&state, app_id, room_call, &headers, &body).await
                }
                other => other,
            }
        }
    };
    match result {
        Ok(response) => response,
        Err(refused) => {
            tracing::info!(app_id, method = name, code = %refused.1, "server API call refused");
            error(refused)
        }
    }
}

async fn list_rooms(
    state: &ServerState,
    app_id: u32,
    body: &Bytes,
    headers: &HeaderMap,
    from_peer: bool,
) -> Result<Response, Refused> {
    if !body.is_empty() {
        let _: serde::de::IgnoredAny = parse(body)?;
    }
    let mut rooms: Vec<RoomItem> = state
        .hub()
        .rooms_of(app_id)
        .into_iter()
        .map(|r| RoomItem {
            room_id: r.room_id,
            users: r.users,
            streams: r.streams,
        })
        .collect();
    if !from_peer {
        rooms.extend(forward::peer_rooms(state, headers).await?);
        rooms.sort_by(|a, b| a.room_id.cmp(&b.room_id));
    }
    ok(ListRoomsResponse { rooms })
}

fn list_users(state: &ServerState, app_id: u32, body: &Bytes) -> Result<Response, Refused> {
    let req: RoomRequest = parse(body)?;
    room_id(&req.room_id)?;
    let users = state
        .hub()
        .room_users(app_id, &req.room_id)
        .map_err(not_found)?;
    ok(ListUsersResponse { users })
}

fn list_streams(state: &ServerState, app_id: u32, body: &Bytes) -> Result<Response, Refused> {
    let req: RoomRequest = parse(body)?;
    room_id(&req.room_id)?;
    let streams = state
        .hub()
        .room_streams(app_id, &req.room_id)
        .map_err(not_found)?
        .into_iter()
        .map(|s| StreamItem {
            stream_id: s.info.stream_id,
            user: s.info.user,
            extra_info: s.info.extra_info,
            audio_muted: s.info.audio_muted,
            video_muted: s.info.video_muted,
            server_audio_muted: s.server_muted.audio,
            server_video_muted: s.server_muted.video,
        })
        .collect();
    ok(ListStreamsResponse { streams })
}

async fn kick_user(state: &ServerState, app_id: u32, body: &Bytes) -> Result<Response, Refused> {
    let req: KickUserRequest = parse(body)?;
    room_id(&req.room_id)?;
    UserId::new(req.user_id.as_str()).map_err(|e| bad(e.code()))?;
    let cleanups = state
        .hub()
        .remove_user(app_id, &req.room_id, &req.user_id, Instant::now())
        .map_err(not_found)?;
    tracing::info!(app_id, room_id = %req.room_id, user_id = %req.user_id, "user kicked through the server API");
    state.apply_cleanups(cleanups).await;
    ok(RemovedResponse { removed: 1 })
}

fn mute_stream(state: &ServerState, app_id: u32, body: &Bytes) -> Result<Response, Refused> {
    let req: MuteStreamRequest = parse(body)?;
    room_id(&req.room_id)?;
    StreamId::new(req.stream_id.as_str()).map_err(|e| bad(e.code()))?;
    let Muted { audio, video } = state
        .hub()
        .server_mute(app_id, &req.room_id, &req.stream_id, req.audio, req.video)
        .map_err(not_found)?;
    let stream = StreamKey {
        app_id,
        stream_id: req.stream_id.clone(),
    };
    state
        .media()
        .sfu()
        .set_forwarding_mute(&stream, ForwardingMute { audio, video });
    tracing::info!(app_id, stream_id = %req.stream_id, audio, video, "server mute set through the server API");
    ok(MuteStreamResponse { audio, video })
}

async fn close_room(state: &ServerState, app_id: u32, body: &Bytes) -> Result<Response, Refused> {
    let req: RoomRequest = parse(body)?;
    room_id(&req.room_id)?;
    let (removed, cleanups) = state
        .hub()
        .close_room(app_id, &req.room_id, Instant::now())
        .map_err(not_found)?;
    tracing::info!(app_id, room_id = %req.room_id, removed, "room closed through the server API");
    state.apply_cleanups(cleanups).await;
    ok(RemovedResponse {
        removed: u32::try_from(removed).unwrap_or(u32::MAX),
    })
}

fn send_message(state: &ServerState, app_id: u32, body: &Bytes) -> Result<Response, Refused> {
    let req: SendMessageRequest = parse(body)?;
    room_id(&req.room_id)?;
    let from = UserInfo {
        user_id: req.from_user_id.unwrap_or_else(|| "server".to_owned()),
        user_name: req.from_user_name.unwrap_or_else(|| "Server".to_owned()),
    };
    UserId::new(from.user_id.as_str()).map_err(|e| bad(e.code()))?;
    protocol::ids::check_user_name(&from.user_name).map_err(|e| bad(e.code()))?;
    let message_id = state
        .hub()
        .server_broadcast(
            app_id,
            &req.room_id,
            from,
            &req.text,
            Instant::now(),
            unix_now_ms(),
        )
        .map_err(|code| match code {
            ErrorCode::RoomNotFound => (StatusCode::NOT_FOUND, code),
            ErrorCode::BroadcastRateLimited => (StatusCode::TOO_MANY_REQUESTS, code),
            _ => bad(code),
        })?;
    ok(SendMessageResponse { message_id })
}

fn mint_token(
    state: &ServerState,
    app_id: u32,
    body: &Bytes,
    now_unix: u64,
) -> Result<Response, Refused> {
    let req: MintTokenRequest = parse(body)?;
    if let Some(room) = &req.room_id {
        room_id(room)?;
    }
    let ttl = req.ttl_secs.unwrap_or(DEFAULT_TOKEN_TTL_SECS);
    if ttl == 0 || ttl > jwt::MAX_LIFETIME_SECS {
        return Err(bad(ErrorCode::TokenLifetimeTooLong));
    }
    let privileges = Privileges {
        login: true,
        publish: req.publish.unwrap_or(true),
    };
    let claims = match (req.user_id, req.room_id) {
        (Some(user), room) => {
            UserId::new(user.as_str()).map_err(|e| bad(e.code()))?;
            TokenClaims::new(app_id, user, room, privileges, now_unix, ttl)
        }
        (None, Some(room)) => TokenClaims::invite(app_id, room, privileges, now_unix, ttl),
        (None, None) => return Err(bad(ErrorCode::InvalidUserId)),
    };
    let app = state
        .apps()
        .get(app_id)
        .ok_or((StatusCode::UNAUTHORIZED, ErrorCode::AppNotFound))?;
    ok(MintTokenResponse {
        token: jwt::mint(app.server_secret.as_bytes(), &claims),
        expires_in_secs: ttl,
    })
}

fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, Refused> {
    serde_json::from_slice(body).map_err(|_| bad(ErrorCode::MalformedMessage))
}

fn room_id(room: &str) -> Result<(), Refused> {
    RoomId::new(room).map(drop).map_err(|e| bad(e.code()))
}

fn bad(code: ErrorCode) -> Refused {
    (StatusCode::BAD_REQUEST, code)
}

fn not_found(code: ErrorCode) -> Refused {
    (StatusCode::NOT_FOUND, code)
}

fn ok<T: Serialize>(body: T) -> Result<Response, Refused> {
    Ok(Json(body).into_response())
}

fn error((status, code): Refused) -> Response {
    (status, Json(ApiError::of(code))).into_response()
}

fn unix_now() -> u64 {
    unix_now_ms() / 1000
}

fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
