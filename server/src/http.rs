//! HTTP routes: `/ws` signaling, `/healthz`, `/metrics`, and the web debug
//! page with its API ([`crate::web`]), the update feed ([`crate::updates`]),
//! the server API ([`crate::admin_api`]).

use crate::connection::{self, ReadError};
use crate::gate::Admitted;
use crate::state::ServerState;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Extension;
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
        .merge(crate::admin_api::routes())
        .merge(crate::whip::routes())
        .with_state(state)
}

async fn signaling(
    State(state): State<ServerState>,
    admitted: Option<Extension<Admitted>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let limit = state.config().limits.max_message_bytes + OVERSIZE_GRACE_BYTES;
    let admitted = admitted.map(|Extension(a)| a);
    upgrade
        .max_message_size(limit)
        .max_frame_size(limit)
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .on_upgrade(move |socket| async move {
            let (sink, stream) = socket.split();
            let stream = stream.map(|frame| frame.map_err(read_error));
            if state.is_shutting_down() {
                connection::refuse(state, sink, ErrorCode::ServerShuttingDown).await;
            } else {
                connection::serve(state, sink, stream, admitted).await;
            }
        })
}

/// Sorts a WebSocket read failure (axum boxes the codec's error) into the
/// kinds the connection answers differently.
fn read_error(error: axum::Error) -> ReadError {
    use tungstenite::error::ProtocolError;
    use tungstenite::Error;
    let error = error.into_inner();
    match error.downcast_ref::<Error>() {
        Some(Error::Capacity(e)) => ReadError::TooLarge(*e),
        Some(Error::Utf8(_)) => ReadError::InvalidUtf8,
        // The peer vanished: nothing to answer.
        Some(Error::Protocol(ProtocolError::ResetWithoutClosingHandshake)) => ReadError::Io(error),
        Some(Error::Protocol(e)) => ReadError::Protocol(e.clone()),
        _ => ReadError::Io(error),
    }
}

async fn healthz() -> &'static str {
    "ok"
}

async fn metrics(State(state): State<ServerState>) -> impl IntoResponse {
    let (rooms, users) = state.hub().counts();
    let sfu = state.media().sfu();
    let (mux, turn) = (sfu.mux_counters(), state.turn_stats());
    let (publishers, players) = sfu.legs();
    let scrape = crate::metrics::Scrape {
        rooms,
        users,
        gate: state.gate().stats(),
        mux: mux.as_ref(),
        turn: turn.as_ref(),
        publishers,
        players,
        media: Some(sfu.meter().as_ref()),
    };
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        state.metrics().render(&scrape),
    )
}
