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

fn claim(map: &mut HashMap<String, String>, key: String, session_id: String) -> Claim {
    match map.get(&key) {
        Some(holder) if *holder == session_id => Claim::AlreadyHeld,
        Some(holder) => Claim::HeldBy(holder.clone()),
        None => {
            map.insert(key, session_id);
            Claim::Granted
        }
    }
}

impl RoomStore for MemoryStore {
    fn join_room(&self, request: JoinRequest) -> StoreFuture<'_, Result<Joined, JoinRefusal>> {
        let result = self.join(request);
        Box::pin(async move { Ok(result) })
    }

    fn leave_room(
        &self,
        app_id: u32,
        room_id: String,
        user_id: String,
        session_id: String,
    ) -> StoreFuture<'_, bool> {
        let left = self.leave(app_id, &room_id, &user_id, &session_id);
        Box::pin(async move { Ok(left) })
    }

    fn claim_user(
        &self,
        app_id: u32,
        user_id: String,
        session_id: String,
    ) -> StoreFuture<'_, Claim> {
        let result = claim(
            &mut self.lock().entry(app_id).or_default().users,
            user_id,
            session_id,
        );
        Box::pin(async move { Ok(result) })
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
        Box::pin(async move { Ok(previous) })
    }

    fn release_user(
        &self,
        app_id: u32,
        user_id: String,
        session_id: String,
    ) -> StoreFuture<'_, bool> {
        let mut apps = self.lock();
        let released = apps.get_mut(&app_id).is_some_and(|app| {
            if app.users.get(&user_id) == Some(&session_id) {
                app.users.remove(&user_id);
                true
            } else {
                false
            }
        });
        drop(apps);
        Box::pin(async move { Ok(released) })
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
        let result = match streams.get(&stream_id) {
            Some(c) if c.session_id == session_id => Claim::AlreadyHeld,
            Some(c) => Claim::HeldBy(c.session_id.clone()),
            None => {
                streams.insert(
                    stream_id,
                    StreamClaim {
                        session_id,
                        room_id,
                    },
                );
                Claim::Granted
            }
        };
        drop(apps);
        Box::pin(async move { Ok(result) })
    }

    fn release_stream(
        &self,
        app_id: u32,
        stream_id: String,
        session_id: String,
    ) -> StoreFuture<'_, bool> {
        let mut apps = self.lock();
        let released = apps.get_mut(&app_id).is_some_and(|app| {
            if app
                .streams
                .get(&stream_id)
                .is_some_and(|c| c.session_id == session_id)
            {
                app.streams.remove(&stream_id);
                true
            } else {
                false
            }
        });
        drop(apps);
        Box::pin(async move { Ok(released) })
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
        Box::pin(async move { Ok(counts) })
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
