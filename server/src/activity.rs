//! What the hub reports as rooms, users and streams come and go on this
//! node: the webhooks ([`crate::webhooks`]) and the per-room media metrics
//! ([`crate::metrics`]) listen.

/// One change of a room, as the hub sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    /// The app.
    pub app_id: u32,
    /// The room.
    pub room_id: String,
    /// What happened.
    pub kind: ActivityKind,
}

/// What happened in a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActivityKind {
    /// Its first user entered: the room exists now.
    RoomStarted,
    /// Its last user left: the room is gone.
    RoomFinished,
    /// A user entered (not a same-room re-login, which the room does not see).
    UserJoined {
        /// The user.
        user_id: String,
        /// The user's display name.
        user_name: String,
    },
    /// A user left (logout, timeout, kick, removal by the operator).
    UserLeft {
        /// The user.
        user_id: String,
        /// The user's display name.
        user_name: String,
    },
    /// A user published a stream.
    StreamPublished {
        /// The stream.
        stream_id: String,
        /// Its publisher.
        user_id: String,
    },
    /// A stream was withdrawn (stopped, or its publisher left).
    StreamStopped {
        /// The stream.
        stream_id: String,
        /// Its publisher.
        user_id: String,
    },
}

/// Told of every [`Activity`]. Called under the hub's lock: must not block
/// or call back into the hub.
pub trait ActivityListener: Send + Sync + 'static {
    /// `activity` just happened.
    fn on_activity(&self, activity: &Activity);
}

/// The listeners the hub tells.
#[derive(Default, Clone)]
pub(crate) struct Listeners(Vec<std::sync::Arc<dyn ActivityListener>>);

impl std::fmt::Debug for Listeners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Listeners({})", self.0.len())
    }
}

impl Listeners {
    /// Adds one.
    pub(crate) fn add(&mut self, listener: std::sync::Arc<dyn ActivityListener>) {
        self.0.push(listener);
    }

    /// Tells every listener that `kind` happened in room `room_id` of `app_id`.
    pub(crate) fn emit(&self, app_id: u32, room_id: &str, kind: ActivityKind) {
        if self.0.is_empty() {
            return;
        }
        let activity = Activity {
            app_id,
            room_id: room_id.to_owned(),
            kind,
        };
        for listener in &self.0 {
            listener.on_activity(&activity);
        }
    }
}
