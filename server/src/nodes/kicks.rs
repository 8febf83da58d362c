//! One login per user across nodes: a login on another node that takes a
//! user's claim over from a session of this node publishes
//! `app_id|node|session` on this node's kick channel
//! (`store::redis::kick_channel`, from the take-over script itself); this
//! node removes that session as kicked out (the client gets `KickedOut`,
//! as for a second login on the same node).
//!
//! Pub/sub is fire-and-forget: a notice published while this node's
//! subscription is down (Redis unreachable, reconnecting) is lost, and the
//! old session stays until it leaves. Messages are untrusted: one of the
//! wrong shape, for another node, or naming a session of another app is
//! ignored.

use super::Node;
use crate::hub::Leave;
use crate::store::redis::kick_channel;
use crate::ServerState;
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The wait before subscribing again after the subscription failed.
const RESUBSCRIBE: Duration = Duration::from_millis(500);
/// The longest message accepted.
const MAX_MESSAGE_BYTES: usize = 256;

/// A kick notice: the app and this node's session to remove.
#[derive(Debug, PartialEq, Eq)]
struct Notice {
    app_id: u32,
    session_id: String,
}

/// Reads `app_id|node|session` for `node_id`.
fn parse(message: &str, node_id: &str) -> Option<Notice> {
    if message.len() > MAX_MESSAGE_BYTES {
        return None;
    }
    let mut parts = message.splitn(3, '|');
    let app_id = parts.next()?.parse().ok()?;
    let node = parts.next()?;
    let session_id = parts.next()?;
    let session_ok = !session_id.is_empty() && session_id.chars().all(|c| c.is_ascii_hexdigit());
    (node == node_id && session_ok).then(|| Notice {
        app_id,
        session_id: session_id.to_owned(),
    })
}

impl Node {
    /// Listens on this node's kick channel until shutdown begins,
    /// subscribing again whenever the subscription fails.
    pub async fn run_kicks(self: Arc<Self>, state: ServerState) {
        let mut shutdown = state.shutdown_signal();
        loop {
            tokio::select! {
                () = self.listen_kicks(&state) => {}
                () = crate::state::shutdown_begun(&mut shutdown) => return,
            }
            tokio::select! {
                () = tokio::time::sleep(RESUBSCRIBE) => {}
                () = crate::state::shutdown_begun(&mut shutdown) => return,
            }
        }
    }

    /// One subscription: returns when it fails.
    async fn listen_kicks(&self, state: &ServerState) {
        let mut pubsub = match self.client.get_async_pubsub().await {
            Ok(pubsub) => pubsub,
            Err(error) => {
                tracing::warn!(%error, "kick channel: cannot connect to Redis");
                return;
            }
        };
        if let Err(error) = pubsub.subscribe(kick_channel(&self.id)).await {
            tracing::warn!(%error, "kick channel: cannot subscribe");
            return;
        }
        let mut messages = pubsub.on_message();
        while let Some(message) = messages.next().await {
            let Ok(text) = std::str::from_utf8(message.get_payload_bytes()) else {
                continue;
            };
            let Some(notice) = parse(text, &self.id) else {
                tracing::warn!("kick channel: message ignored (wrong shape or node)");
                continue;
            };
            kick(state, &notice).await;
        }
        tracing::warn!("kick channel: subscription ended");
    }
}

/// Removes the notice's session as kicked out, if it is this app's.
async fn kick(state: &ServerState, notice: &Notice) {
    let hub = state.hub();
    let ours = hub
        .session_info(&notice.session_id)
        .is_some_and(|s| s.app_id == notice.app_id);
    if !ours {
        return;
    }
    let leave = Leave::Kicked { in_place: false };
    let cleanups = hub.leave(&notice.session_id, leave, Instant::now());
    tracing::info!(session_id = %notice.session_id, "session kicked out by a login on another node");
    state.apply_cleanups(cleanups).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_are_checked() {
        assert_eq!(
            parse("7|n1|00ff", "n1"),
            Some(Notice {
                app_id: 7,
                session_id: "00ff".into()
            })
        );
        let long = format!("7|n1|{}", "a".repeat(MAX_MESSAGE_BYTES));
        for bad in [
            "7|n2|00ff",
            "x|n1|00ff",
            "7|n1|",
            "7|n1|zz",
            "7|n1",
            long.as_str(),
        ] {
            assert_eq!(parse(bad, "n1"), None, "{bad}");
        }
    }
}
