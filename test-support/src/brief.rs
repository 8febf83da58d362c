//! Compact one-line forms of SDK events, so a test can assert a whole
//! sequence of room, publisher and player state changes at once.

use media_core::Event;

/// The compact form of an event used in sequence assertions, e.g.
/// `"state Connected 0"`, `"user Add [b]"`, `"count 3"`, `"stream Delete [s1]"`.
pub fn brief(e: &Event) -> String {
    match e {
        Event::RoomStateUpdate {
            state, error_code, ..
        } => format!("state {state:?} {error_code}"),
        Event::RoomUserUpdate {
            update_type, users, ..
        } => format!(
            "user {update_type:?} [{}]",
            users
                .iter()
                .map(|u| u.user_id.as_str())
                .collect::<Vec<_>>()
                .join(",")
        ),
        Event::RoomOnlineUserCountUpdate { count, .. } => format!("count {count}"),
        Event::RoomStreamUpdate {
            update_type,
            streams,
            ..
        } => format!(
            "stream {update_type:?} [{}]",
            streams
                .iter()
                .map(|s| s.stream_id.as_str())
                .collect::<Vec<_>>()
                .join(",")
        ),
        Event::PublisherStateUpdate {
            stream_id,
            state,
            error_code,
            ..
        } => {
            format!("publisher {stream_id} {state:?} {error_code}")
        }
        Event::RoomBroadcastMessage { messages, .. } => format!(
            "broadcast [{}]",
            messages
                .iter()
                .map(|m| m.text.as_str())
                .collect::<Vec<_>>()
                .join(",")
        ),
        Event::RoomTokenWillExpire { .. } => "token will expire".to_owned(),
        Event::RoomStateChanged { reason, .. } => format!("changed {reason:?}"),
        other => format!("{other:?}"),
    }
}

/// `"mic a-cam Mute"` / `"camera a-cam Open"` for the remote device events,
/// `None` for the rest.
pub fn device_brief(e: &Event) -> Option<String> {
    match e {
        Event::RemoteMicStateUpdate { stream_id, state } => {
            Some(format!("mic {stream_id} {state:?}"))
        }
        Event::RemoteCameraStateUpdate { stream_id, state } => {
            Some(format!("camera {stream_id} {state:?}"))
        }
        _ => None,
    }
}

/// Briefs of the state-changing events: without `RoomStateChanged` (which
/// mirrors every state update), first-frame and quality reports (media
/// timing, checked by the media tests) and remote device states (checked by
/// `remote_device_state.rs`).
pub fn briefs(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter(|e| !is_media_detail(e))
        .map(brief)
        .collect()
}

/// Events that report media progress or a remote publisher's devices
/// rather than a room, publisher or player state change.
pub fn is_media_detail(e: &Event) -> bool {
    matches!(
        e,
        Event::RoomStateChanged { .. }
            | Event::RemoteMicStateUpdate { .. }
            | Event::RemoteCameraStateUpdate { .. }
            | Event::PublisherCapturedVideoFirstFrame { .. }
            | Event::PublisherQualityUpdate { .. }
            | Event::PlayerRecvVideoFirstFrame { .. }
            | Event::PlayerRenderVideoFirstFrame { .. }
            | Event::PlayerRecvAudioFirstFrame { .. }
            | Event::PlayerQualityUpdate { .. }
            | Event::CapturedSoundLevelUpdate { .. }
            | Event::RemoteSoundLevelUpdate { .. }
    )
}
