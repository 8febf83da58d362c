//! A session's media signaling, run in order but off its connection loop.
//!
//! Answering an SDP offer makes the SFU build a peer connection, which can
//! take a while on a busy machine; the session's other signaling
//! (heartbeats, broadcasts, logout) must not wait behind it. Offers and
//! candidates still run one after another, so a candidate never reaches the
//! SFU before the peer connection its offer creates.

use crate::sfu::StreamKey;
use crate::state::ServerState;
use protocol::{IceCandidate, MediaRole, ServerMessage};
use tokio::sync::mpsc;

/// One media signaling step of a session.
#[derive(Debug)]
pub(crate) enum MediaOp {
    /// An `SdpOffer`; the answer (or error) goes to the session's connection.
    Offer {
        request_id: u32,
        key: StreamKey,
        role: MediaRole,
        sdp: String,
        /// The session owns the stream (required to publish).
        owns: bool,
    },
    /// A trickled candidate from the client.
    Candidate {
        key: StreamKey,
        role: MediaRole,
        candidate: IceCandidate,
    },
}

/// The queue of one connection's media steps; dropping it ends the worker
/// once the queued steps are done.
#[derive(Debug)]
pub(crate) struct MediaQueue {
    tx: mpsc::UnboundedSender<MediaOp>,
}

impl MediaQueue {
    /// Starts the worker for `session_id`.
    pub(crate) fn start(state: ServerState, session_id: String) -> MediaQueue {
        let (tx, mut rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(op) = rx.recv().await {
                run(&state, &session_id, op).await;
            }
        });
        MediaQueue { tx }
    }

    /// Queues a step.
    pub(crate) fn push(&self, op: MediaOp) {
        // The worker outlives the sender; a send can only fail at shutdown.
        let _ = self.tx.send(op);
    }
}

async fn run(state: &ServerState, session_id: &str, op: MediaOp) {
    match op {
        MediaOp::Offer {
            request_id,
            key,
            role,
            sdp,
            owns,
        } => {
            let reply = match state.media().offer(&key, session_id, role, sdp, owns).await {
                Ok(answer) => ServerMessage::SdpAnswer {
                    request_id,
                    stream_id: key.stream_id,
                    role,
                    sdp: answer,
                },
                Err(code) => {
                    state.metrics().error(code);
                    ServerMessage::error(Some(request_id), code, false)
                }
            };
            state.hub().send_to_session(session_id, reply);
        }
        MediaOp::Candidate {
            key,
            role,
            candidate,
        } => {
            state
                .media()
                .candidate(&key, session_id, role, candidate)
                .await
        }
    }
}
