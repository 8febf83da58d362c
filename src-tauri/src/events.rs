//! Forwards an engine's events to the UI: each `media_core::Event`, in
//! order, as a Tauri event named after its `event` field, with the event's
//! JSON as the payload.

use media_core::{Event, EventReceiver};
use tauri::async_runtime::JoinHandle;
use tauri::{AppHandle, Emitter};

/// Spawns the task that emits every event from `events` until the engine
/// is destroyed (its channel closes).
pub fn forward(app: AppHandle, mut events: EventReceiver) -> JoinHandle<()> {
    tauri::async_runtime::spawn(async move {
        while let Some(event) = events.recv().await {
            match payload(&event) {
                Some((name, value)) => {
                    tracing::trace!(name, "engine event");
                    if let Err(error) = app.emit(&name, value) {
                        tracing::warn!(%error, name, "could not emit an engine event");
                    }
                }
                None => tracing::warn!(?event, "engine event without an `event` name"),
            }
        }
        tracing::debug!("engine event channel closed");
    })
}

/// The Tauri event name and payload for `event`: the `event` field of its
/// JSON, and the JSON itself.
fn payload(event: &Event) -> Option<(String, serde_json::Value)> {
    let value = serde_json::to_value(event).ok()?;
    let name = value.get("event")?.as_str()?.to_owned();
    Some((name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_named_after_their_event_field() {
        let event = Event::Debug {
            error_code: 1_009_012,
            func_name: "start_playing_stream".into(),
            info: "x".into(),
        };
        let (name, value) = payload(&event).unwrap();
        assert_eq!(name, "Debug");
        assert_eq!(value["event"], "Debug");
        assert_eq!(value["func_name"], "start_playing_stream");
        assert_eq!(value, serde_json::to_value(&event).unwrap());
    }
}
