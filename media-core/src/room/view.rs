//! The local view of the room: other users, their streams and the online
//! count, kept up to date from events and compared against a fresh login
//! snapshot after a session could not be resumed.

use crate::event::{Stream, UpdateType, User};
use std::collections::BTreeMap;

/// Other users and streams in the room as this client last heard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct View {
    users: BTreeMap<String, User>,
    streams: BTreeMap<String, Stream>,
    pub(crate) online_count: u32,
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
            online_count,
        }
    }

    /// Applies a user update.
    pub(crate) fn apply_users(&mut self, update: UpdateType, users: &[User]) {
        for u in users {
            match update {
                UpdateType::Add => {
                    self.users.insert(u.user_id.clone(), u.clone());
                }
                UpdateType::Delete => {
                    self.users.remove(&u.user_id);
                }
            }
        }
    }

    /// Applies a stream update.
    pub(crate) fn apply_streams(&mut self, update: UpdateType, streams: &[Stream]) {
        for s in streams {
            match update {
                UpdateType::Add => {
                    self.streams.insert(s.stream_id.clone(), s.clone());
                }
                UpdateType::Delete => {
                    self.streams.remove(&s.stream_id);
                }
            }
        }
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
