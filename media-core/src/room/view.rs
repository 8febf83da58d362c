//! The local view of the room: other users, their streams (with their
//! publishers' microphone and camera state) and the online count, kept up to
//! date from events and compared against a fresh login snapshot after a
//! session could not be resumed.

use crate::event::{RemoteDeviceState, Stream, UpdateType, User};
use protocol::StreamInfo;
use std::collections::BTreeMap;

/// Other users and streams in the room as this client last heard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct View {
    users: BTreeMap<String, User>,
    streams: BTreeMap<String, Stream>,
    /// The device state of each stream in `streams` (kept apart so that a
    /// mute is not a change of the stream itself in [`View::diff`]).
    devices: BTreeMap<String, RemoteDevices>,
    pub(crate) online_count: u32,
}

/// What another user's stream sends, as its players see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RemoteDevices {
    pub(crate) mic: RemoteDeviceState,
    pub(crate) camera: RemoteDeviceState,
}

impl RemoteDevices {
    /// From the mute flags on the wire.
    pub(crate) fn from_muted(audio_muted: bool, video_muted: bool) -> Self {
        RemoteDevices {
            mic: RemoteDeviceState::from_muted(audio_muted),
            camera: RemoteDeviceState::from_muted(video_muted),
        }
    }

    /// The state a wire stream carries.
    pub(crate) fn of(s: &StreamInfo) -> Self {
        Self::from_muted(s.audio_muted, s.video_muted)
    }
}

/// What changed between two views, ready to be emitted as Delete/Add updates.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Diff {
    pub(crate) users_gone: Vec<User>,
    pub(crate) users_new: Vec<User>,
    pub(crate) streams_gone: Vec<Stream>,
    pub(crate) streams_new: Vec<Stream>,
}

impl View {
    /// A view from a login snapshot.
    pub(crate) fn from_snapshot(users: Vec<User>, streams: Vec<Stream>, online_count: u32) -> Self {
        View {
            users: users.into_iter().map(|u| (u.user_id.clone(), u)).collect(),
            streams: streams
                .into_iter()
                .map(|s| (s.stream_id.clone(), s))
                .collect(),
            devices: BTreeMap::new(),
            online_count,
        }
    }

    /// A view from a login snapshot's wire streams (users already converted).
    pub(crate) fn from_wire_snapshot(
        users: Vec<User>,
        streams: Vec<StreamInfo>,
        online_count: u32,
    ) -> Self {
        let devices = streams
            .iter()
            .map(|s| (s.stream_id.clone(), RemoteDevices::of(s)))
            .collect();
        View {
            devices,
            ..View::from_snapshot(
                users,
                streams.into_iter().map(Stream::from_wire).collect(),
                online_count,
            )
        }
    }

    /// Applies a user update.
    pub(crate) fn apply_users(&mut self, update: UpdateType, users: &[User]) {
        apply(&mut self.users, update, users, |u| &u.user_id);
    }

    /// Applies a stream update (a deleted stream's device state goes too).
    pub(crate) fn apply_streams(&mut self, update: UpdateType, streams: &[Stream]) {
        apply(&mut self.streams, update, streams, |s| &s.stream_id);
        if update == UpdateType::Delete {
            for s in streams {
                self.devices.remove(&s.stream_id);
            }
        }
    }

    /// The device state of a stream in the view (`None` for a stream not in
    /// it, or one added without a state).
    pub(crate) fn devices(&self, stream_id: &str) -> Option<RemoteDevices> {
        self.devices.get(stream_id).copied()
    }

    /// Sets the device state of a stream in the view and returns the one it
    /// replaces; `None` (and nothing stored) for a stream not in the view,
    /// such as the local user's own.
    pub(crate) fn set_devices(
        &mut self,
        stream_id: &str,
        devices: RemoteDevices,
    ) -> Option<Option<RemoteDevices>> {
        if !self.streams.contains_key(stream_id) {
            return None;
        }
        Some(self.devices.insert(stream_id.to_owned(), devices))
    }

    /// The users, ordered by ID.
    pub(crate) fn users(&self) -> Vec<User> {
        self.users.values().cloned().collect()
    }

    /// The streams, ordered by ID.
    pub(crate) fn streams(&self) -> Vec<Stream> {
        self.streams.values().cloned().collect()
    }

    /// What goes away and what appears when moving from `self` to `new`. A
    /// user or stream whose details changed counts as gone and new.
    pub(crate) fn diff(&self, new: &View) -> Diff {
        fn gone<T: Clone + PartialEq>(a: &BTreeMap<String, T>, b: &BTreeMap<String, T>) -> Vec<T> {
            a.iter()
                .filter(|(k, v)| b.get(*k) != Some(*v))
                .map(|(_, v)| v.clone())
                .collect()
        }
        Diff {
            users_gone: gone(&self.users, &new.users),
            users_new: gone(&new.users, &self.users),
            streams_gone: gone(&self.streams, &new.streams),
            streams_new: gone(&new.streams, &self.streams),
        }
    }
}

/// Adds `items` to `map` (by the key `key_of` reads) or removes them.
fn apply<T: Clone>(
    map: &mut BTreeMap<String, T>,
    update: UpdateType,
    items: &[T],
    key_of: impl Fn(&T) -> &String,
) {
    for item in items {
        match update {
            UpdateType::Add => {
                map.insert(key_of(item).clone(), item.clone());
            }
            UpdateType::Delete => {
                map.remove(key_of(item));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(id: &str, user: &str, extra: &str) -> Stream {
        Stream {
            stream_id: id.into(),
            user: User::new(user, user),
            extra_info: extra.into(),
        }
    }

    #[test]
    fn devices_follow_their_streams() {
        let wire = |id: &str, audio_muted: bool| StreamInfo {
            stream_id: id.into(),
            user: User::new("a", "a").to_wire(),
            extra_info: String::new(),
            audio_muted,
            video_muted: false,
        };
        let mut v = View::from_wire_snapshot(vec![], vec![wire("sa", true)], 2);
        let muted = RemoteDevices {
            mic: RemoteDeviceState::Mute,
            camera: RemoteDeviceState::Open,
        };
        assert_eq!(v.devices("sa"), Some(muted));
        let open = RemoteDevices::from_muted(false, false);
        assert_eq!(v.set_devices("sa", open), Some(Some(muted)));
        // Not in the view (the local user's own stream): nothing stored.
        assert_eq!(v.set_devices("mine", open), None);
        assert_eq!(v.devices("mine"), None);
        // A mute is not a change of the stream for the relogin diff.
        let fresh = View::from_wire_snapshot(vec![], vec![wire("sa", true)], 2);
        assert_eq!(v.diff(&fresh), Diff::default());
        v.apply_streams(UpdateType::Delete, &[s("sa", "a", "")]);
        assert_eq!(v.devices("sa"), None);
    }

    #[test]
    fn updates_and_diff() {
        let mut v = View::from_snapshot(
            vec![User::new("a", "A"), User::new("b", "B")],
            vec![s("sa", "a", ""), s("sb", "b", "")],
            3,
        );
        v.apply_users(UpdateType::Delete, &[User::new("b", "B")]);
        v.apply_streams(UpdateType::Delete, &[s("sb", "b", "")]);
        assert_eq!(v.users(), vec![User::new("a", "A")]);
        let new = View::from_snapshot(
            vec![User::new("a", "A"), User::new("c", "C")],
            vec![s("sa", "a", "changed"), s("sc", "c", "")],
            3,
        );
        let d = v.diff(&new);
        assert_eq!(d.users_gone, vec![]);
        assert_eq!(d.users_new, vec![User::new("c", "C")]);
        assert_eq!(d.streams_gone, vec![s("sa", "a", "")]);
        assert_eq!(
            d.streams_new,
            vec![s("sa", "a", "changed"), s("sc", "c", "")]
        );
    }
}
