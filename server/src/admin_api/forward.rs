//! The server API across nodes (`--redis`): `list_rooms` merges every live
//! node's rooms, and a room call (`list_users`, `list_streams`,
//! `kick_user`, `mute_stream`, `close_room`, `send_message`) for a room
//! this node does not hold goes to the node that owns it, with the same
//! admin token and body, its answer passed back as it is. A forwarded call
//! carries [`FORWARDED`] and is never forwarded again.

use super::types::{ListRoomsResponse, RoomItem};
use super::Refused;
use crate::state::ServerState;
use axum::body::Bytes;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use protocol::ErrorCode;
use serde::Deserialize;
use std::sync::OnceLock;
use std::time::Duration;

/// The header marking a call one node made to another.
pub(super) const FORWARDED: &str = "confer-forwarded";
/// How long a call to another node may take.
const TIMEOUT: Duration = Duration::from_secs(5);
/// The largest answer read from another node.
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// The room a room call names (its other fields are the method's own).
#[derive(Deserialize)]
struct RoomOf {
    room_id: String,
}

/// What went wrong asking another node.
#[derive(Debug, thiserror::Error)]
enum PeerError {
    /// The HTTP client could not be set up.
    #[error("http client: {0}")]
    Client(String),
    /// The node did not answer, or not in time.
    #[error("{0}")]
    Http(#[from] reqwest::Error),
    /// The node's answer is too large or not the expected JSON.
    #[error("unexpected answer")]
    Answer,
}

fn client() -> Result<&'static reqwest::Client, PeerError> {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    if let Some(client) = CLIENT.get() {
        return Ok(client);
    }
    let client =
        crate::webhooks::http_client(TIMEOUT).map_err(|e| PeerError::Client(e.to_string()))?;
    Ok(CLIENT.get_or_init(|| client))
}

/// The API URL of `method` on the node whose signaling URL is `ws_url`
/// (`ws://host/ws` -> `http://host/api/v1/method`).
fn api_url(ws_url: &str, method: &str) -> String {
    let base = ws_url.strip_suffix("/ws").unwrap_or(ws_url);
    let base = base
        .strip_prefix("wss://")
        .map(|rest| format!("https://{rest}"))
        .or_else(|| {
            base.strip_prefix("ws://")
                .map(|rest| format!("http://{rest}"))
        })
        .unwrap_or_else(|| base.to_owned());
    format!("{base}/api/v1/{method}")
}

/// POSTs `body` to `method` on the node at `ws_url` with the caller's
/// `Authorization`; its status and body.
async fn post(
    ws_url: &str,
    method: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(StatusCode, Bytes), PeerError> {
    let mut request = client()?
        .post(api_url(ws_url, method))
        .header(FORWARDED, "1")
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.clone());
    if let Some(auth) = headers.get(header::AUTHORIZATION) {
        request = request.header(header::AUTHORIZATION, auth.clone());
    }
    let response = request.send().await?;
    let status = StatusCode::from_u16(response.status().as_u16()).map_err(|_| PeerError::Answer)?;
    if response
        .content_length()
        .is_some_and(|n| n > MAX_ANSWER_BYTES as u64)
    {
        return Err(PeerError::Answer);
    }
    let answer = response.bytes().await?;
    if answer.len() > MAX_ANSWER_BYTES {
        return Err(PeerError::Answer);
    }
    Ok((status, answer))
}

/// A store failure as the API's refusal.
fn unavailable(error: &dyn std::fmt::Display) -> Refused {
    tracing::warn!(%error, "server API: asking the other nodes failed");
    (StatusCode::BAD_GATEWAY, ErrorCode::Internal)
}

/// A room call this node could not serve (no such room here), sent to the
/// room's node: its answer, or `RoomNotFound` when no other node owns it.
pub(super) async fn to_owner(
    state: &ServerState,
    app_id: u32,
    method: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response, Refused> {
    let not_found = (StatusCode::NOT_FOUND, ErrorCode::RoomNotFound);
    let (Some(node), Ok(room)) = (state.node(), serde_json::from_slice::<RoomOf>(body)) else {
        return Err(not_found);
    };
    let owner = node
        .owner_url(app_id, &room.room_id)
        .await
        .map_err(|e| unavailable(&e))?;
    let Some(url) = owner else {
        return Err(not_found);
    };
    let (status, answer) = post(&url, method, headers, body)
        .await
        .map_err(|e| unavailable(&e))?;
    tracing::info!(app_id, method, room_id = %room.room_id, node = %url, "server API call forwarded to the room's node");
    Ok((status, [(header::CONTENT_TYPE, "application/json")], answer).into_response())
}

/// The rooms of every other live node (a node that does not answer is
/// left out, logged).
pub(super) async fn peer_rooms(
    state: &ServerState,
    headers: &HeaderMap,
) -> Result<Vec<RoomItem>, Refused> {
    let Some(node) = state.node() else {
        return Ok(Vec::new());
    };
    let urls = node.peer_urls().await.map_err(|e| unavailable(&e))?;
    let mut rooms = Vec::new();
    for url in urls {
        let asked = post(&url, "list_rooms", headers, &Bytes::from_static(b"{}")).await;
        let listed = asked.and_then(|(status, answer)| {
            if !status.is_success() {
                return Err(PeerError::Answer);
            }
            serde_json::from_slice::<ListRoomsResponse>(&answer).map_err(|_| PeerError::Answer)
        });
        match listed {
            Ok(listed) => rooms.extend(listed.rooms),
            Err(error) => {
                tracing::warn!(%error, node = %url, "server API: a node's rooms left out")
            }
        }
    }
    Ok(rooms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_api_url_comes_from_its_signaling_url() {
        assert_eq!(
            api_url("ws://127.0.0.1:7000/ws", "kick_user"),
            "http://127.0.0.1:7000/api/v1/kick_user"
        );
        assert_eq!(
            api_url("wss://a.example/ws", "list_rooms"),
            "https://a.example/api/v1/list_rooms"
        );
    }
}
