//! The webhook body: one JSON object per room activity.

use crate::activity::{Activity, ActivityKind};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// A webhook's JSON body.
///
/// ```json
/// {"id":"evt_5f0c...","event":"user_joined","app_id":1,"room_id":"standup",
///  "user_id":"alice","user_name":"Alice","created_at_ms":1800000000123}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEvent {
    /// Unique per event, the same on every delivery attempt: receivers
    /// deduplicate by it (delivery is at least once).
    pub id: String,
    /// `room_started`, `room_finished`, `user_joined`, `user_left`,
    /// `stream_published` or `stream_stopped`.
    pub event: String,
    /// The app.
    pub app_id: u32,
    /// The room.
    pub room_id: String,
    /// The user (user and stream events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The user's display name (user events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// The stream (stream events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_id: Option<String>,
    /// When it happened on the server, Unix milliseconds.
    pub created_at_ms: u64,
}

impl WebhookEvent {
    /// The event for `activity` at `unix_ms`, with a new random ID.
    pub fn new(activity: &Activity, unix_ms: u64, rng: &mut impl Rng) -> Self {
        let (event, user_id, user_name, stream_id) = match &activity.kind {
            ActivityKind::RoomStarted => ("room_started", None, None, None),
            ActivityKind::RoomFinished => ("room_finished", None, None, None),
            ActivityKind::UserJoined { user_id, user_name } => {
                ("user_joined", Some(user_id), Some(user_name), None)
            }
            ActivityKind::UserLeft { user_id, user_name } => {
                ("user_left", Some(user_id), Some(user_name), None)
            }
            ActivityKind::StreamPublished { stream_id, user_id } => {
                ("stream_published", Some(user_id), None, Some(stream_id))
            }
            ActivityKind::StreamStopped { stream_id, user_id } => {
                ("stream_stopped", Some(user_id), None, Some(stream_id))
            }
        };
        let id: u128 = rng.random();
        WebhookEvent {
            id: format!("evt_{id:032x}"),
            event: event.to_owned(),
            app_id: activity.app_id,
            room_id: activity.room_id.clone(),
            user_id: user_id.cloned(),
            user_name: user_name.cloned(),
            stream_id: stream_id.cloned(),
            created_at_ms: unix_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_event_has_its_own_id_and_only_its_fields() {
        let mut rng = rand::rng();
        let activity = Activity {
            app_id: 7,
            room_id: "r".into(),
            kind: ActivityKind::StreamPublished {
                stream_id: "s".into(),
                user_id: "u".into(),
            },
        };
        let a = WebhookEvent::new(&activity, 1000, &mut rng);
        let b = WebhookEvent::new(&activity, 1000, &mut rng);
        assert_ne!(a.id, b.id);
        assert_eq!(a.id.len(), 36);
        let json = serde_json::to_string(&a).expect("serializes");
        assert!(json.contains(r#""event":"stream_published""#), "{json}");
        assert!(
            json.contains(r#""stream_id":"s""#) && !json.contains("user_name"),
            "{json}"
        );
        let started = Activity {
            kind: ActivityKind::RoomStarted,
            ..activity
        };
        let json = serde_json::to_string(&WebhookEvent::new(&started, 1, &mut rng)).expect("json");
        assert!(
            !json.contains("user_id") && json.contains(r#""room_id":"r""#),
            "{json}"
        );
    }
}
