//! Writing this node's rooms back to a Redis that lost them (restarted
//! without persistence): the room's ownership, its members, the user and
//! stream claims. Live calls never stopped meanwhile (media does not touch
//! Redis); only logins and publishes failed while it was away.

use super::{Node, Placement};
use crate::store::{Claim, Hold, JoinRequest, Member, StoreError};
use crate::ServerState;

/// Writes back every room of the hub; failures are logged (the next lease
/// renewal that finds the lease missing tries again).
pub(super) async fn restore(node: &Node, state: &ServerState) {
    let holdings = state.hub().holdings();
    let rooms = holdings.len();
    for room in holdings {
        if let Err(error) = restore_room(node, state, &room).await {
            tracing::warn!(%error, room_id = %room.room_id, "could not write a room back to Redis");
        }
    }
    tracing::info!(rooms, "rooms written back to Redis");
}

async fn restore_room(
    node: &Node,
    state: &ServerState,
    room: &crate::hub::RoomHolding,
) -> Result<(), StoreError> {
    if let Placement::Elsewhere(url) = node.place(room.app_id, &room.room_id).await? {
        // Another node took the room while Redis was empty: its clients are
        // there now; ours stay until they leave.
        tracing::warn!(room_id = %room.room_id, %url, "room claimed by another node meanwhile");
        return Ok(());
    }
    let store = state.store();
    let limits = &state.config().limits;
    for (user_id, session_id) in &room.members {
        let member = Member {
            app_id: room.app_id,
            room_id: room.room_id.clone(),
            user_id: user_id.clone(),
            session_id: session_id.clone(),
        };
        let request = JoinRequest {
            member,
            room_limit: limits.max_users_per_room,
            max_rooms: usize::MAX,
            max_users: usize::MAX,
        };
        if let Err(refusal) = store.join_room(request).await? {
            tracing::warn!(%refusal, %user_id, "member not written back");
        }
        let user = Hold {
            app_id: room.app_id,
            id: user_id.clone(),
            session_id: session_id.clone(),
        };
        if let Claim::HeldBy(other) = store.claim_user(user).await? {
            tracing::warn!(%user_id, %other, "user claimed by another session meanwhile");
        }
    }
    for (stream_id, session_id) in &room.streams {
        let stream = Hold {
            app_id: room.app_id,
            id: stream_id.clone(),
            session_id: session_id.clone(),
        };
        if let Claim::HeldBy(other) = store.claim_stream(stream, room.room_id.clone()).await? {
            tracing::warn!(%stream_id, %other, "stream claimed by another session meanwhile");
        }
    }
    Ok(())
}
