//! One login per user across nodes: a login on another node that takes a
//! user's claim over from a session of this node publishes
//! `app_id|node|session` on this node's kick channel
//! (`store::redis::kick_channel`, from the take-over script itself); this
//! node removes that session as kicked out (the client gets `KickedOut`,
//! as for a second login on the same node).
//!
//! Pub/sub is fire-and-forget: a notice published while this node's
//! subscription is down (Redis unreachable, reconnecting) is lost. So each
//! time the subscription comes back, this node reads the user claims of
//! its sessions ([`Node::sweep_claims`]) and kicks out those another node's
//! session holds now. (After Redis lost its data, which of two logins is
//! the newer cannot be told: both sessions stay.) Messages are untrusted: one of the wrong shape, for another
//! node, or naming a session of another app is ignored.

use super::Node;
use crate::hub::Leave;
use crate::store::redis::{kick_channel, store_error, AppKeys};
use crate::store::StoreError;
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
        let mut again = false;
        loop {
            tokio::select! {
                () = self.listen_kicks(&state, again) => {}
                () = crate::state::shutdown_begun(&mut shutdown) => return,
            }
            again = true;
            tokio::select! {
                () = tokio::time::sleep(RESUBSCRIBE) => {}
                () = crate::state::shutdown_begun(&mut shutdown) => return,
            }
        }
    }

    /// One subscription (after a failed one: then the claims are swept
    /// once subscribed); returns when it fails.
    async fn listen_kicks(&self, state: &ServerState, again: bool) {
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
        if again {
            if let Err(error) = self.sweep_claims(state).await {
                // Subscribed again (and swept) after the next wait.
                tracing::warn!(%error, "kick channel: claims not swept");
                return;
            }
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

impl Node {
    /// Kicks out every session of this node whose user another node's
    /// session holds now (one `HMGET` per room).
    pub(super) async fn sweep_claims(&self, state: &ServerState) -> Result<(), StoreError> {
        let mut redis = self.redis.clone();
        for room in state.hub().holdings() {
            if room.members.is_empty() {
                continue;
            }
            let users: Vec<&str> = room.members.iter().map(|(u, _)| u.as_str()).collect();
            let holders: Vec<Option<String>> = redis::cmd("HMGET")
                .arg(AppKeys::of(room.app_id).users())
                .arg(&users)
                .query_async(&mut redis)
                .await
                .map_err(store_error)?;
            for ((_, session_id), holder) in room.members.iter().zip(holders) {
                let elsewhere = holder
                    .as_deref()
                    .and_then(|h| h.split_once('|'))
                    .is_some_and(|(node, _)| node != self.id);
                if elsewhere {
                    let notice = Notice {
                        app_id: room.app_id,
                        session_id: session_id.clone(),
                    };
                    kick(state, &notice).await;
                }
            }
        }
        Ok(())
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
