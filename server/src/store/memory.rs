//! The in-memory [`RoomStore`]: one process, one mutex, no leases needed.

use super::{
    AppCounts, Claim, Hold, JoinRefusal, JoinRequest, Joined, Member, RoomStore, StoreFuture,
};
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
        let m = r.member;
        let mut apps = self.lock();
        let app = apps.entry(m.app_id).or_default();
        let existing = app.rooms.get(&m.room_id);
        let already_member = existing.is_some_and(|room| room.members.contains_key(&m.user_id));
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
        let room = app.rooms.entry(m.room_id).or_insert_with(|| RoomRecord {
            limit: r.room_limit.max(1),
            members: HashMap::new(),
        });
        let replaced = room.members.insert(m.user_id, m.session_id);
        if replaced.is_none() {
            app.members += 1;
        }
        Ok(Joined { replaced })
    }

    fn leave(&self, m: &Member) -> bool {
        let mut apps = self.lock();
        let Some(app) = apps.get_mut(&m.app_id) else {
            return false;
        };
        let Some(room) = app.rooms.get_mut(&m.room_id) else {
            return false;
        };
        if room.members.get(&m.user_id) != Some(&m.session_id) {
            return false;
        }
        room.members.remove(&m.user_id);
        app.members = app.members.saturating_sub(1);
        if room.members.is_empty() {
            app.rooms.remove(&m.room_id);
        }
        true
    }

    /// Set-if-absent in the app's `map`: `record` if nobody holds the ID.
    fn claim<V: Held>(
        &self,
        hold: Hold,
        map: fn(&mut AppState) -> &mut HashMap<String, V>,
        record: impl FnOnce(String) -> V,
    ) -> Claim {
        let mut apps = self.lock();
        let map = map(apps.entry(hold.app_id).or_default());
        match map.get(&hold.id) {
            Some(held) if held.holder() == hold.session_id => Claim::AlreadyHeld,
            Some(held) => Claim::HeldBy(held.holder().to_owned()),
            None => {
                map.insert(hold.id, record(hold.session_id));
                Claim::Granted
            }
        }
    }

    /// Compare-and-delete in the app's `map`: removes the ID if the session
    /// holds it.
    fn release<V: Held>(
        &self,
        hold: &Hold,
        map: fn(&mut AppState) -> &mut HashMap<String, V>,
    ) -> bool {
        let mut apps = self.lock();
        let Some(map) = apps.get_mut(&hold.app_id).map(map) else {
            return false;
        };
        if map
            .get(&hold.id)
            .is_some_and(|held| held.holder() == hold.session_id)
        {
            map.remove(&hold.id);
            true
        } else {
            false
        }
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

/// A store call's answer: the in-memory store never fails and never waits.
fn ready<T: Send + 'static>(value: T) -> StoreFuture<'static, T> {
    Box::pin(std::future::ready(Ok(value)))
}

impl RoomStore for MemoryStore {
    fn join_room(&self, request: JoinRequest) -> StoreFuture<'_, Result<Joined, JoinRefusal>> {
        ready(self.join(request))
    }

    fn leave_room(&self, member: Member) -> StoreFuture<'_, bool> {
        ready(self.leave(&member))
    }

    fn claim_user(&self, user: Hold) -> StoreFuture<'_, Claim> {
        ready(self.claim(user, |app| &mut app.users, |session_id| session_id))
    }

    fn take_over_user(&self, user: Hold) -> StoreFuture<'_, Option<String>> {
        let previous = self
            .lock()
            .entry(user.app_id)
            .or_default()
            .users
            .insert(user.id, user.session_id.clone())
            .filter(|p| *p != user.session_id);
        ready(previous)
    }

    fn release_user(&self, user: Hold) -> StoreFuture<'_, bool> {
        ready(self.release(&user, |app| &mut app.users))
    }

    fn claim_stream(&self, stream: Hold, room_id: String) -> StoreFuture<'_, Claim> {
        let record = |session_id| StreamClaim {
            session_id,
            room_id,
        };
        ready(self.claim(stream, |app| &mut app.streams, record))
    }

    fn release_stream(&self, stream: Hold) -> StoreFuture<'_, bool> {
        ready(self.release(&stream, |app| &mut app.streams))
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

    fn member(room: &str, user: &str, session: &str) -> Member {
        Member {
            app_id: 1,
            room_id: room.into(),
            user_id: user.into(),
            session_id: session.into(),
        }
    }

    fn hold(app_id: u32, id: &str, session: &str) -> Hold {
        Hold {
            app_id,
            id: id.into(),
            session_id: session.into(),
        }
    }

    fn join(room: &str, user: &str, session: &str) -> JoinRequest {
        JoinRequest {
            member: member(room, user, session),
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
        assert_eq!(s.leave_room(member("a", "u2", "s2")).await, Ok(false));
        assert_eq!(s.leave_room(member("b", "u3", "s3")).await, Ok(true));
        assert_eq!(s.app_counts(1).await, Ok(AppCounts { rooms: 1, users: 2 }));
    }

    #[tokio::test]
    async fn claims_are_set_if_absent() {
        let s = MemoryStore::new();
        assert_eq!(s.claim_user(hold(1, "u", "s1")).await, Ok(Claim::Granted));
        assert_eq!(
            s.claim_user(hold(1, "u", "s1")).await,
            Ok(Claim::AlreadyHeld)
        );
        assert_eq!(
            s.claim_user(hold(1, "u", "s2")).await,
            Ok(Claim::HeldBy("s1".into()))
        );
        assert_eq!(s.claim_user(hold(2, "u", "s9")).await, Ok(Claim::Granted));
        assert_eq!(
            s.take_over_user(hold(1, "u", "s2")).await,
            Ok(Some("s1".into()))
        );
        assert_eq!(s.release_user(hold(1, "u", "s1")).await, Ok(false));
        assert_eq!(s.release_user(hold(1, "u", "s2")).await, Ok(true));

        assert_eq!(
            s.claim_stream(hold(1, "v", "s1"), "r".into()).await,
            Ok(Claim::Granted)
        );
        assert_eq!(
            s.claim_stream(hold(1, "v", "s2"), "r".into()).await,
            Ok(Claim::HeldBy("s1".into()))
        );
        assert_eq!(s.release_stream(hold(1, "v", "s2")).await, Ok(false));
        assert_eq!(s.release_stream(hold(1, "v", "s1")).await, Ok(true));
        assert_eq!(
            s.claim_stream(hold(1, "v", "s2"), "r".into()).await,
            Ok(Claim::Granted)
        );
    }
}
