//! HTTP routes: `/ws` signaling, `/healthz`, `/metrics`, and the web debug
//! page with its API ([`crate::web`]), the update feed ([`crate::updates`]).

use crate::connection;
use crate::state::ServerState;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::StreamExt;
use protocol::ErrorCode;

/// Frames up to this much over the message limit still get a polite
/// `MessageTooLarge` answer; larger ones break the connection in the codec.
const OVERSIZE_GRACE_BYTES: usize = 16 * 1024;
/// Small per-connection read buffer: signaling messages are small and many
/// connections are idle.
const READ_BUFFER_BYTES: usize = 8 * 1024;

/// The server's routes over `state` (no socket needed: tests can call it).
pub fn app(state: ServerState) -> Router {
    Router::new()
        .route("/ws", get(signaling))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .merge(crate::web::routes())
        .merge(crate::updates::routes())
        .with_state(state)
}

async fn signaling(State(state): State<ServerState>, upgrade: WebSocketUpgrade) -> Response {
    let limit = state.config().limits.max_message_bytes + OVERSIZE_GRACE_BYTES;
    let permit = state.connection_permits().clone().try_acquire_owned().ok();
    upgrade
        .max_message_size(limit)
        .max_frame_size(limit)
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .on_upgrade(move |socket| async move {
            let (sink, stream) = socket.split();
            match permit {
                _ if state.is_shutting_down() => {
                    connection::refuse(state, sink, ErrorCode::ServerShuttingDown).await;
                }
                Some(permit) => connection::serve(state, sink, stream, permit).await,
                None => connection::refuse(state, sink, ErrorCode::TooManyConnections).await,
            }
        })
}

async fn healthz() -> &'static str {
    "ok"
}

async fn metrics(State(state): State<ServerState>) -> impl IntoResponse {
    let (rooms, users) = state.hub().counts();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics().render(rooms, users),
    )
}
