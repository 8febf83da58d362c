//! The in-memory [`RoomStore`]: one process, one mutex, no leases needed.

use super::{AppCounts, Claim, JoinRefusal, JoinRequest, Joined, RoomStore, StoreFuture};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

/// Room state in this process's memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    apps: Mutex<HashMap<u32, AppState>>,
}

#[derive(Debug, Default)]
struct AppState {
    users: HashMap<String, String>,
    streams: HashMap<String, StreamClaim>,
    rooms: HashMap<String, RoomRecord>,
    members: usize,
}

#[derive(Debug)]
struct StreamClaim {
    session_id: String,
    #[allow(dead_code)] // kept for parity with a networked store's record
    room_id: String,
}

#[derive(Debug)]
struct RoomRecord {
    limit: usize,
    members: HashMap<String, String>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u32, AppState>> {
        // A panic while holding this lock cannot leave the maps half-updated
        // in a way that matters more than losing the server, so keep going.
        self.apps.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn join(&self, r: JoinRequest) -> Result<Joined, JoinRefusal> {
        let mut apps = self.lock();
        let app = apps.entry(r.app_id).or_default();
        let existing = app.rooms.get(&r.room_id);
        let already_member = existing.is_some_and(|room| room.members.contains_key(&r.user_id));
        if existing.is_none() && app.rooms.len() >= r.max_rooms {
            return Err(JoinRefusal::TooManyRooms);
        }
        if !already_member && app.members >= r.max_users {
            return Err(JoinRefusal::TooManyUsers);
        }
        if let Some(room) = existing {
            if !already_member && room.members.len() >= room.limit {
                return Err(JoinRefusal::RoomFull);
            }
        }
        let room = app.rooms.entry(r.room_id).or_insert_with(|| RoomRecord {
            limit: r.room_limit.max(1),
            members: HashMap::new(),
        });
        let replaced = room.members.insert(r.user_id, r.session_id);
        if replaced.is_none() {
            app.members += 1;
        }
        Ok(Joined { replaced })
    }

    fn leave(&self, app_id: u32, room_id: &str, user_id: &str, session_id: &str) -> bool {
        let mut apps = self.lock();
        let Some(app) = apps.get_mut(&app_id) else {
            return false;
        };
        let Some(room) = app.rooms.get_mut(room_id) else {
            return false;
        };
        if room.members.get(user_id).map(String::as_str) != Some(session_id) {
            return false;
        }
        room.members.remove(user_id);
        app.members = app.members.saturating_sub(1);
        if room.members.is_empty() {
            app.rooms.remove(room_id);
        }
        true
    }
}

/// A claim record: which session holds the key.
trait Held {
    fn holder(&self) -> &str;
}

impl Held for String {
    fn holder(&self) -> &str {
        self
    }
}

impl Held for StreamClaim {
    fn holder(&self) -> &str {
        &self.session_id
    }
}

/// Set-if-absent: inserts `record` (held by `session_id`) if nobody holds `key`.
fn claim<V: Held>(
    map: &mut HashMap<String, V>,
    key: String,
    session_id: &str,
    record: impl FnOnce() -> V,
) -> Claim {
    match map.get(&key) {
        Some(held) if held.holder() == session_id => Claim::AlreadyHeld,
        Some(held) => Claim::HeldBy(held.holder().to_owned()),
        None => {
            map.insert(key, record());
            Claim::Granted
        }
    }
}

/// Compare-and-delete: removes `key` if `session_id` holds it.
fn release<V: Held>(map: &mut HashMap<String, V>, key: &str, session_id: &str) -> bool {
    if map.get(key).is_some_and(|held| held.holder() == session_id) {
        map.remove(key);
        true
    } else {
        false
    }
}

/// A store call's answer: the in-memory store never fails and never waits.
fn ready<T: Send + 'static>(value: T) -> StoreFuture<'static, T> {
    Box::pin(std::future::ready(Ok(value)))
}

impl RoomStore for MemoryStore {
    fn join_room(&self, request: JoinRequest) -> StoreFuture<'_, Result<Joined, JoinRefusal>> {
        ready(self.join(request))
    }

    fn leave_room(
        &self,
        app_id: u32,
        room_id: String,
        user_id: String,
        session_id: String,
    ) -> StoreFuture<'_, bool> {
        ready(self.leave(app_id, &room_id, &user_id, &session_id))
    }

    fn claim_user(
        &self,
        app_id: u32,
        user_id: String,
        session_id: String,
    ) -> StoreFuture<'_, Claim> {
        let mut apps = self.lock();
        let users = &mut apps.entry(app_id).or_default().users;
        ready(claim(users, user_id, &session_id, || session_id.clone()))
    }

    fn take_over_user(
        &self,
        app_id: u32,
        user_id: String,
        session_id: String,
    ) -> StoreFuture<'_, Option<String>> {
        let previous = self
            .lock()
            .entry(app_id)
            .or_default()
            .users
            .insert(user_id, session_id.clone())
            .filter(|p| *p != session_id);
        ready(previous)
    }

    fn release_user(
        &self,
        app_id: u32,
        user_id: String,
        session_id: String,
    ) -> StoreFuture<'_, bool> {
        let mut apps = self.lock();
        let app = apps.get_mut(&app_id);
        ready(app.is_some_and(|app| release(&mut app.users, &user_id, &session_id)))
    }

    fn claim_stream(
        &self,
        app_id: u32,
        stream_id: String,
        session_id: String,
        room_id: String,
    ) -> StoreFuture<'_, Claim> {
        let mut apps = self.lock();
        let streams = &mut apps.entry(app_id).or_default().streams;
        ready(claim(streams, stream_id, &session_id, || StreamClaim {
            session_id: session_id.clone(),
            room_id,
        }))
    }

    fn release_stream(
        &self,
        app_id: u32,
        stream_id: String,
        session_id: String,
    ) -> StoreFuture<'_, bool> {
        let mut apps = self.lock();
        let app = apps.get_mut(&app_id);
        ready(app.is_some_and(|app| release(&mut app.streams, &stream_id, &session_id)))
    }

    fn app_counts(&self, app_id: u32) -> StoreFuture<'_, AppCounts> {
        let counts = self
            .lock()
            .get(&app_id)
            .map(|a| AppCounts {
                rooms: a.rooms.len(),
                users: a.members,
            })
            .unwrap_or_default();
        ready(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join(room: &str, user: &str, session: &str) -> JoinRequest {
        JoinRequest {
            app_id: 1,
            room_id: room.into(),
            user_id: user.into(),
            session_id: session.into(),
            room_limit: 2,
            max_rooms: 2,
            max_users: 3,
        }
    }

    #[tokio::test]
    async fn limits_and_replacement() {
        let s = MemoryStore::new();
        let ok = |r: Result<Result<Joined, JoinRefusal>, _>| r.expect("memory store never fails");
        assert_eq!(
            ok(s.join_room(join("a", "u1", "s1")).await),
            Ok(Joined { replaced: None })
        );
        assert!(ok(s.join_room(join("a", "u2", "s2")).await).is_ok());
        assert_eq!(
            ok(s.join_room(join("a", "u3", "s3")).await),
            Err(JoinRefusal::RoomFull)
        );
        // Same user again replaces in place even when the room is full.
        assert_eq!(
            ok(s.join_room(join("a", "u2", "s2b")).await),
            Ok(Joined {
                replaced: Some("s2".into())
            })
        );
        assert!(ok(s.join_room(join("b", "u3", "s3")).await).is_ok());
        assert_eq!(
            ok(s.join_room(join("c", "u4", "s4")).await),
            Err(JoinRefusal::TooManyRooms)
        );
        assert_eq!(
            ok(s.join_room(join("b", "u4", "s4")).await),
            Err(JoinRefusal::TooManyUsers)
        );
        assert_eq!(s.app_counts(1).await, Ok(AppCounts { rooms: 2, users: 3 }));
        // Leaving with a stale session does nothing; the right one empties the room.
        assert_eq!(
            s.leave_room(1, "a".into(), "u2".into(), "s2".into()).await,
            Ok(false)
        );
        assert_eq!(
            s.leave_room(1, "b".into(), "u3".into(), "s3".into()).await,
            Ok(true)
        );
        assert_eq!(s.app_counts(1).await, Ok(AppCounts { rooms: 1, users: 2 }));
    }

    #[tokio::test]
    async fn claims_are_set_if_absent() {
        let s = MemoryStore::new();
        assert_eq!(
            s.claim_user(1, "u".into(), "s1".into()).await,
            Ok(Claim::Granted)
        );
        assert_eq!(
            s.claim_user(1, "u".into(), "s1".into()).await,
            Ok(Claim::AlreadyHeld)
        );
        assert_eq!(
            s.claim_user(1, "u".into(), "s2".into()).await,
            Ok(Claim::HeldBy("s1".into()))
        );
        assert_eq!(
            s.claim_user(2, "u".into(), "s9".into()).await,
            Ok(Claim::Granted)
        );
        assert_eq!(
            s.take_over_user(1, "u".into(), "s2".into()).await,
            Ok(Some("s1".into()))
        );
        assert_eq!(s.release_user(1, "u".into(), "s1".into()).await, Ok(false));
        assert_eq!(s.release_user(1, "u".into(), "s2".into()).await, Ok(true));

        assert_eq!(
            s.claim_stream(1, "v".into(), "s1".into(), "r".into()).await,
            Ok(Claim::Granted)
        );
        assert_eq!(
            s.claim_stream(1, "v".into(), "s2".into(), "r".into()).await,
            Ok(Claim::HeldBy("s1".into()))
        );
        assert_eq!(
            s.release_stream(1, "v".into(), "s2".into()).await,
            Ok(false)
        );
        assert_eq!(s.release_stream(1, "v".into(), "s1".into()).await, Ok(true));
        assert_eq!(
            s.claim_stream(1, "v".into(), "s2".into(), "r".into()).await,
            Ok(Claim::Granted)
        );
    }
}
