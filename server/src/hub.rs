//! The hub: this node's live sessions and rooms, and event fan-out.
//!
//! Every operation is synchronous and takes `now` (sans-IO); the one lock is
//! never held across an `.await`. Messages for a session go into its
//! connection's bounded channel (`try_send`, never blocking); each event gets
//! the session's next `seq` and is kept in its [`ReplayBuffer`] until the
//! client acknowledges it, so a dropped connection can resume. A session whose
//! channel is full is detached (its socket closes) and resumes later.
//! Store writes an operation implies are returned as [`Cleanup`]s for the
//! caller to apply after the lock is released.

use crate::activity::{ActivityKind, ActivityListener, Listeners};
use crate::apps::Authorized;
use crate::replay::ReplayBuffer;
use crate::store::{Cleanup, Hold, Member};
use confer_turn::TokenBucket;
use protocol::limits::{BROADCASTS_PER_ROOM_PER_SECOND, MAX_BROADCAST_BYTES};
use protocol::{
    BroadcastMessage, ErrorCode, LoginOk, RoomEvent, SequencedEvent, ServerMessage, StreamInfo,
    UpdateType, UserInfo,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Capacity of each connection's outgoing channel.
pub(crate) const OUTBOX_CAPACITY: usize = 512;

/// The live sessions and rooms of this node.
#[derive(Debug)]
pub struct Hub {
    state: Mutex<HubState>,
    heartbeat_interval: Duration,
    heartbeat_timeout: Duration,
    next_conn: AtomicU64,
}

/// A connection attached to a session: where its messages go.
#[derive(Debug)]
pub struct ConnHandle {
    /// Unique per connection, so a stale connection cannot detach a new one.
    pub id: u64,
    /// The connection's outgoing channel; dropping it closes the connection.
    pub tx: mpsc::Sender<ServerMessage>,
}

/// A login that passed every check, ready to enter its room.
#[derive(Debug, Clone)]
pub struct Admission {
    /// New random session ID.
    pub session_id: String,
    /// New random resume key.
    pub resume_key: String,
    /// The app.
    pub app_id: u32,
    /// The room.
    pub room_id: String,
    /// The user.
    pub user: UserInfo,
    /// Whether the session wants user updates.
    pub notify_users: bool,
    /// Milliseconds until the token expires (token logins).
    pub token_expires_in_ms: Option<u64>,
    /// What the credentials allow (publishing) and until when.
    pub auth: Authorized,
    /// Older sessions of this user the store says this login replaces.
    pub replaces: Vec<String>,
}

/// Who a session is (for store calls and logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// The app.
    pub app_id: u32,
    /// The room.
    pub room_id: String,
    /// The user.
    pub user: UserInfo,
}

/// A resume that attached the connection.
#[derive(Debug)]
pub struct Resumed {
    /// Events after the client's `last_seq`.
    pub missed: Vec<SequencedEvent>,
    /// Who resumed.
    pub info: SessionInfo,
}

/// A resume that failed, with the store writes left to do.
#[derive(Debug)]
pub struct ResumeRefused {
    /// `SessionExpired` or `KickedOut`.
    pub code: ErrorCode,
    /// Store writes for a session removed by this refusal.
    pub cleanups: Vec<Cleanup>,
}

/// Why a session leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leave {
    /// The client logged out.
    Logout,
    /// Not heard from within the heartbeat timeout.
    Expired,
    /// The same user logged in again; `in_place` when into the same room.
    Kicked {
        /// The new login is in the same room (no user churn for the others).
        in_place: bool,
    },
    /// A resume needed events no longer buffered.
    EventsLost,
    /// The server's operator removed the session (server API): the client
    /// gets `Kicked` with this code (`KickedByServer`, `RoomClosed`).
    Removed(ErrorCode),
}

/// A room as the server API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomSummary {
    /// The room.
    pub room_id: String,
    /// Users in it.
    pub users: u32,
    /// Streams published in it.
    pub streams: u32,
}

/// A stream as the server API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamListing {
    /// What the room sees (its mute flags include the server's mute).
    pub info: StreamInfo,
    /// What the server's operator muted.
    pub server_muted: Muted,
}

/// A room on this node as the room store records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomHolding {
    /// The app.
    pub app_id: u32,
    /// The room.
    pub room_id: String,
    /// `(user ID, session ID)` of each member.
    pub members: Vec<(String, String)>,
    /// `(stream ID, publishing session ID)` of each stream.
    pub streams: Vec<(String, String)>,
}

#[derive(Debug, Default)]
struct HubState {
    sessions: HashMap<String, Session>,
    rooms: HashMap<RoomKey, Room>,
    users: HashMap<(u32, String), String>,
    /// Sessions removed for good, until when, and the code a resume gets.
    tombstones: HashMap<String, (Instant, ErrorCode)>,
    /// Told of rooms, users and streams coming and going.
    listeners: Listeners,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct RoomKey {
    app_id: u32,
    room_id: String,
}

impl RoomKey {
    /// The key of room `room_id` of `app_id`.
    fn of(app_id: u32, room_id: &str) -> Self {
        RoomKey {
            app_id,
            room_id: room_id.to_owned(),
        }
    }
}

#[derive(Debug)]
struct Session {
    app_id: u32,
    room_id: String,
    user: UserInfo,
    notify_users: bool,
    resume_key: String,
    seq: u64,
    replay: ReplayBuffer,
    last_heard: Instant,
    conn: Option<ConnHandle>,
    /// What the login's (or the last renewal's) credentials allow.
    auth: Authorized,
}

/// What a published stream does not send.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Muted {
    /// No audio (microphone or stream audio muted).
    pub audio: bool,
    /// No video (camera off or stream video muted).
    pub video: bool,
}

impl Muted {
    /// Muted in either.
    fn or(self, other: Muted) -> Muted {
        Muted {
            audio: self.audio || other.audio,
            video: self.video || other.video,
        }
    }
}

/// A stream the server's operator muted: what its publisher sends, and
/// what the server mutes on top.
#[derive(Debug, Clone, Copy)]
struct ServerMute {
    own: Muted,
    server: Muted,
}

#[derive(Debug)]
struct Room {
    /// Session IDs in join order.
    members: Vec<String>,
    /// Streams with their publishing session.
    streams: Vec<(String, StreamInfo)>,
    /// Streams the server's operator muted, by stream ID.
    server_mutes: HashMap<String, ServerMute>,
    last_message_id: u64,
    broadcasts: TokenBucket,
}

impl Hub {
    /// An empty hub with the given heartbeat timing.
    pub fn new(heartbeat_interval: Duration, heartbeat_timeout: Duration) -> Self {
        Hub {
            state: Mutex::new(HubState::default()),
            heartbeat_interval,
            heartbeat_timeout,
            next_conn: AtomicU64::new(1),
        }
    }

    /// Tells `listener` of every room, user and stream coming and going
    /// from now on.
    pub fn listen(&self, listener: Arc<dyn ActivityListener>) {
        self.lock().listeners.add(listener);
    }

    /// A new connection handle around `tx`.
    pub fn connection(&self, tx: mpsc::Sender<ServerMessage>) -> ConnHandle {
        ConnHandle {
            id: self.next_conn.fetch_add(1, Ordering::Relaxed),
            tx,
        }
    }

    /// Enters an admitted login into its room: kicks older sessions of the
    /// user, tells the others, and returns the `LoginOk` snapshot.
    pub fn admit(&self, a: Admission, conn: ConnHandle, now: Instant) -> (LoginOk, Vec<Cleanup>) {
        let mut st = self.lock();
        let mut cleanups = Vec::new();
        let mut old = a.replaces.clone();
        if let Some(local) = st.users.get(&(a.app_id, a.user.user_id.clone())) {
            old.push(local.clone());
        }
        old.sort();
        old.dedup();
        let mut in_place = false;
        for old_id in old.iter().filter(|id| **id != a.session_id) {
            let Some(s) = st.sessions.get(old_id) else {
                continue;
            };
            let same_room = s.app_id == a.app_id && s.room_id == a.room_id;
            in_place |= same_room;
            cleanups.extend(st.remove(
                old_id,
                Leave::Kicked {
                    in_place: same_room,
                },
                now + self.heartbeat_timeout,
            ));
        }

        let HubState {
            sessions,
            rooms,
            users,
            listeners,
            ..
        } = &mut *st;
        let key = RoomKey::of(a.app_id, &a.room_id);
        if !rooms.contains_key(&key) {
            listeners.emit(a.app_id, &a.room_id, ActivityKind::RoomStarted);
        }
        let room = rooms.entry(key).or_insert_with(|| Room {
            members: Vec::new(),
            streams: Vec::new(),
            server_mutes: HashMap::new(),
            last_message_id: 0,
            broadcasts: TokenBucket::new(
                BROADCASTS_PER_ROOM_PER_SECOND.into(),
                BROADCASTS_PER_ROOM_PER_SECOND.into(),
                now,
            ),
        });
        let others: Vec<UserInfo> = if a.notify_users {
            room.members
                .iter()
                .filter_map(|id| sessions.get(id))
                .map(|s| s.user.clone())
                .collect()
        } else {
            Vec::new()
        };
        let streams = room.streams.iter().map(|(_, s)| s.clone()).collect();
        if !in_place {
            let count = count_of(room.members.len() + 1);
            let add = Arc::new(RoomEvent::UserUpdate {
                update_type: UpdateType::Add,
                users: vec![a.user.clone()],
            });
            let count = Arc::new(RoomEvent::OnlineUserCount { count });
            for id in &room.members {
                if let Some(s) = sessions.get_mut(id).filter(|s| s.notify_users) {
                    s.deliver(&add);
                    s.deliver(&count);
                }
            }
            let joined = ActivityKind::UserJoined {
                user_id: a.user.user_id.clone(),
                user_name: a.user.user_name.clone(),
            };
            listeners.emit(a.app_id, &a.room_id, joined);
        }
        room.members.push(a.session_id.clone());
        let online_count = count_of(room.members.len());
        users.insert((a.app_id, a.user.user_id.clone()), a.session_id.clone());
        sessions.insert(
            a.session_id.clone(),
            Session {
                app_id: a.app_id,
                room_id: a.room_id.clone(),
                user: a.user,
                notify_users: a.notify_users,
                resume_key: a.resume_key.clone(),
                seq: 0,
                replay: ReplayBuffer::default(),
                last_heard: now,
                conn: Some(conn),
                auth: a.auth,
            },
        );
        let ok = LoginOk {
            session_id: a.session_id,
            resume_key: a.resume_key,
            room_id: a.room_id,
            users: others,
            streams,
            online_count,
            seq: 0,
            heartbeat_interval_ms: millis(self.heartbeat_interval),
            heartbeat_timeout_ms: millis(self.heartbeat_timeout),
            token_expires_in_ms: a.token_expires_in_ms,
            ice_servers: Vec::new(),
        };
        (ok, cleanups)
    }

    /// Removes a session, telling the others in its room.
    pub fn leave(&self, session_id: &str, why: Leave, now: Instant) -> Vec<Cleanup> {
        self.lock()
            .remove(session_id, why, now + self.heartbeat_timeout)
    }

    /// Removes a session like [`Hub::leave`], on behalf of connection
    /// `conn_id`: not if another connection has taken the session over (a
    /// resume elsewhere), only if it is still attached to `conn_id` or to
    /// none (the hub let a too slow connection go).
    pub fn leave_from(
        &self,
        session_id: &str,
        conn_id: u64,
        why: Leave,
        now: Instant,
    ) -> Vec<Cleanup> {
        let mut st = self.lock();
        let taken_over = st
            .sessions
            .get(session_id)
            .and_then(|s| s.conn.as_ref())
            .is_some_and(|c| c.id != conn_id);
        if taken_over {
            return Vec::new();
        }
        st.remove(session_id, why, now + self.heartbeat_timeout)
    }

    /// Attaches `conn` to a detached (or still attached) session whose key
    /// matches, returning the events after `last_seq`.
    pub fn resume(
        &self,
        session_id: &str,
        resume_key: &str,
        last_seq: u64,
        conn: ConnHandle,
        now: Instant,
    ) -> Result<Resumed, ResumeRefused> {
        let mut st = self.lock();
        let refused = |code| ResumeRefused {
            code,
            cleanups: Vec::new(),
        };
        if let Some((_, code)) = st
            .tombstones
            .get(session_id)
            .filter(|(until, _)| *until > now)
        {
            return Err(refused(*code));
        }
        let Some(s) = st.sessions.get_mut(session_id) else {
            return Err(refused(ErrorCode::SessionExpired));
        };
        if !constant_time_eq(s.resume_key.as_bytes(), resume_key.as_bytes()) {
            return Err(refused(ErrorCode::SessionExpired));
        }
        let expired = now.saturating_duration_since(s.last_heard) >= self.heartbeat_timeout;
        let missed = match s.replay.since(last_seq) {
            Ok(missed) if !expired => missed,
            _ => {
                let why = if expired {
                    Leave::Expired
                } else {
                    Leave::EventsLost
                };
                let cleanups = st.remove(session_id, why, now + self.heartbeat_timeout);
                return Err(ResumeRefused {
                    code: ErrorCode::SessionExpired,
                    cleanups,
                });
            }
        };
        s.conn = Some(conn);
        s.last_heard = now;
        Ok(Resumed {
            missed,
            info: s.info(),
        })
    }

    /// Detaches `conn_id` from the session if it is still the attached one;
    /// the session stays until the heartbeat timeout.
    pub fn detach(&self, session_id: &str, conn_id: u64) {
        let mut st = self.lock();
        if let Some(s) = st.sessions.get_mut(session_id) {
            if s.conn.as_ref().is_some_and(|c| c.id == conn_id) {
                s.conn = None;
            }
        }
    }

    /// Records that the client was heard from. `false` if the session is gone.
    pub fn heard(&self, session_id: &str, now: Instant) -> bool {
        let mut st = self.lock();
        match st.sessions.get_mut(session_id) {
            Some(s) => {
                s.last_heard = s.last_heard.max(now);
                true
            }
            None => false,
        }
    }

    /// A heartbeat: drops acknowledged events. `false` if the session is gone.
    pub fn heartbeat(&self, session_id: &str, ack: u64, now: Instant) -> bool {
        let mut st = self.lock();
        match st.sessions.get_mut(session_id) {
            Some(s) => {
                s.last_heard = s.last_heard.max(now);
                s.replay.ack(ack.min(s.seq));
                true
            }
            None => false,
        }
    }

    /// Removes sessions not heard from within the heartbeat timeout (telling
    /// their rooms and kicking their connections) and forgets old tombstones.
    pub fn sweep(&self, now: Instant) -> Vec<Cleanup> {
        let mut st = self.lock();
        st.tombstones.retain(|_, (until, _)| *until > now);
        let expired: Vec<String> = st
            .sessions
            .iter()
            .filter(|(_, s)| now.saturating_duration_since(s.last_heard) >= self.heartbeat_timeout)
            .map(|(id, _)| id.clone())
            .collect();
        let mut cleanups = Vec::new();
        for id in expired {
            cleanups.extend(st.remove(&id, Leave::Expired, now + self.heartbeat_timeout));
        }
        cleanups
    }

    /// Who the session is, if it exists.
    pub fn session_info(&self, session_id: &str) -> Option<SessionInfo> {
        self.lock().sessions.get(session_id).map(Session::info)
    }

    /// Whether the session publishes `stream_id`.
    pub fn owns_stream(&self, session_id: &str, stream_id: &str) -> bool {
        let st = self.lock();
        let Some(s) = st.sessions.get(session_id) else {
            return false;
        };
        st.rooms.get(&s.room_key()).is_some_and(|r| {
            r.streams
                .iter()
                .any(|(o, i)| o == session_id && i.stream_id == stream_id)
        })
    }

    /// Adds a stream the store granted to the session, with what it sends
    /// (`muted`), and tells the others. A stream the session already
    /// publishes just takes the new state (see [`Hub::set_stream_state`]).
    /// `false` if the session is gone (the caller releases the claim).
    pub fn add_stream(
        &self,
        session_id: &str,
        stream_id: &str,
        extra_info: &str,
        muted: Muted,
    ) -> bool {
        let mut st = self.lock();
        let HubState {
            sessions,
            rooms,
            listeners,
            ..
        } = &mut *st;
        let Some(s) = sessions.get(session_id) else {
            return false;
        };
        let Some(room) = rooms.get_mut(&s.room_key()) else {
            return false;
        };
        if room
            .streams
            .iter()
            .any(|(o, i)| o == session_id && i.stream_id == stream_id)
        {
            room.set_state(sessions, session_id, stream_id, muted);
            return true;
        }
        let info = StreamInfo {
            stream_id: stream_id.to_owned(),
            user: s.user.clone(),
            extra_info: extra_info.to_owned(),
            audio_muted: muted.audio,
            video_muted: muted.video,
        };
        room.streams.push((session_id.to_owned(), info.clone()));
        let published = ActivityKind::StreamPublished {
            stream_id: stream_id.to_owned(),
            user_id: s.user.user_id.clone(),
        };
        listeners.emit(s.app_id, &s.room_id, published);
        let event = Arc::new(RoomEvent::StreamUpdate {
            update_type: UpdateType::Add,
            streams: vec![info],
        });
        for id in room.members.iter().filter(|id| *id != session_id) {
            if let Some(other) = sessions.get_mut(id) {
                other.deliver(&event);
            }
        }
        true
    }

    /// Records what a stream the session publishes sends now and, if that
    /// changed, tells the others with a `StreamStateUpdate` event (numbered
    /// and replayed like every room event). `NotStreamOwner` when the session
    /// does not publish `stream_id` (unknown, or someone else's).
    pub fn set_stream_state(
        &self,
        session_id: &str,
        stream_id: &str,
        muted: Muted,
    ) -> Result<(), ErrorCode> {
        let mut st = self.lock();
        let HubState {
            sessions, rooms, ..
        } = &mut *st;
        let s = sessions.get(session_id).ok_or(ErrorCode::NotStreamOwner)?;
        let room = rooms
            .get_mut(&s.room_key())
            .ok_or(ErrorCode::NotStreamOwner)?;
        if room.set_state(sessions, session_id, stream_id, muted) {
            Ok(())
        } else {
            Err(ErrorCode::NotStreamOwner)
        }
    }

    /// Withdraws a stream the session publishes and tells the others.
    pub fn remove_stream(&self, session_id: &str, stream_id: &str) -> Result<Cleanup, ErrorCode> {
        let mut st = self.lock();
        let HubState {
            sessions,
            rooms,
            listeners,
            ..
        } = &mut *st;
        let s = sessions.get(session_id).ok_or(ErrorCode::NotPublishing)?;
        let app_id = s.app_id;
        let room = rooms
            .get_mut(&s.room_key())
            .ok_or(ErrorCode::NotPublishing)?;
        let index = room
            .streams
            .iter()
            .position(|(o, i)| o == session_id && i.stream_id == stream_id)
            .ok_or(ErrorCode::NotPublishing)?;
        let (_, info) = room.streams.remove(index);
        room.server_mutes.remove(stream_id);
        listeners.emit(app_id, &s.room_id, stopped(&info));
        let event = Arc::new(RoomEvent::StreamUpdate {
            update_type: UpdateType::Delete,
            streams: vec![info],
        });
        for id in room.members.iter().filter(|id| *id != session_id) {
            if let Some(other) = sessions.get_mut(id) {
                other.deliver(&event);
            }
        }
        Ok(Cleanup::ReleaseStream(Hold {
            app_id,
            id: stream_id.to_owned(),
            session_id: session_id.to_owned(),
        }))
    }

    /// Sends a broadcast message to everyone else in the session's room.
    /// Returns the message ID.
    pub fn broadcast(
        &self,
        session_id: &str,
        text: &str,
        now: Instant,
        unix_ms: u64,
    ) -> Result<u64, ErrorCode> {
        let mut st = self.lock();
        let HubState {
            sessions, rooms, ..
        } = &mut *st;
        let s = sessions.get(session_id).ok_or(ErrorCode::NotLoggedIn)?;
        let from_user = s.user.clone();
        let room = rooms.get_mut(&s.room_key()).ok_or(ErrorCode::NotLoggedIn)?;
        room.broadcast(sessions, Some(session_id), from_user, text, now, unix_ms)
    }

    /// Whether the session may publish a new stream at `now_unix` seconds
    /// (see [`Authorized::check_publish`]); `SessionExpired` if it is gone.
    pub fn check_publish(&self, session_id: &str, now_unix: u64) -> Result<(), ErrorCode> {
        let st = self.lock();
        let s = st
            .sessions
            .get(session_id)
            .ok_or(ErrorCode::SessionExpired)?;
        s.auth.check_publish(now_unix)
    }

    /// Puts a renewed token's grant in place. A token without the publish
    /// privilege withdraws every stream the session publishes (the others
    /// get a stream Delete); their store writes are returned.
    pub fn renew(&self, session_id: &str, auth: Authorized) -> Vec<Cleanup> {
        let mut st = self.lock();
        let HubState {
            sessions,
            rooms,
            listeners,
            ..
        } = &mut *st;
        let Some(s) = sessions.get_mut(session_id) else {
            return Vec::new();
        };
        s.auth = auth;
        if auth.may_publish {
            return Vec::new();
        }
        let key = s.room_key();
        let Some(room) = rooms.get_mut(&key) else {
            return Vec::new();
        };
        let withdrawn = room.withdraw_streams_of(sessions, listeners, session_id, &key);
        if !withdrawn.is_empty() {
            tracing::info!(
                session_id,
                streams = withdrawn.len(),
                "renewed token lacks the publish privilege; streams withdrawn"
            );
        }
        withdrawn
    }

    /// Sends a message that is not a room event (media signaling) to the
    /// session's attached connection: no sequence number, no replay. `false`
    /// if the session has no connection now (or it was too slow and is let go).
    pub fn send_to_session(&self, session_id: &str, msg: ServerMessage) -> bool {
        let mut st = self.lock();
        let Some(s) = st.sessions.get_mut(session_id) else {
            return false;
        };
        let Some(conn) = &s.conn else {
            return false;
        };
        if conn.tx.try_send(msg).is_err() {
            tracing::warn!(user_id = %s.user.user_id, "connection too slow or gone; detaching it");
            s.conn = None;
            return false;
        }
        true
    }

    /// The rooms of `app_id` on this node, by room ID.
    pub fn rooms_of(&self, app_id: u32) -> Vec<RoomSummary> {
        let st = self.lock();
        let mut rooms: Vec<RoomSummary> = st
            .rooms
            .iter()
            .filter(|(key, _)| key.app_id == app_id)
            .map(|(key, room)| RoomSummary {
                room_id: key.room_id.clone(),
                users: count_of(room.members.len()),
                streams: count_of(room.streams.len()),
            })
            .collect();
        rooms.sort_by(|a, b| a.room_id.cmp(&b.room_id));
        rooms
    }

    /// The users in a room, in join order; `RoomNotFound` if it has none.
    pub fn room_users(&self, app_id: u32, room_id: &str) -> Result<Vec<UserInfo>, ErrorCode> {
        let st = self.lock();
        let room = st.room(app_id, room_id)?;
        Ok(room
            .members
            .iter()
            .filter_map(|id| st.sessions.get(id))
            .map(|s| s.user.clone())
            .collect())
    }

    /// The streams published in a room, with the server's mutes.
    pub fn room_streams(
        &self,
        app_id: u32,
        room_id: &str,
    ) -> Result<Vec<StreamListing>, ErrorCode> {
        let st = self.lock();
        let room = st.room(app_id, room_id)?;
        Ok(room
            .streams
            .iter()
            .map(|(_, info)| StreamListing {
                info: info.clone(),
                server_muted: room
                    .server_mutes
                    .get(&info.stream_id)
                    .map(|m| m.server)
                    .unwrap_or_default(),
            })
            .collect())
    }

    /// Removes a user from a room for the server's operator: the client
    /// gets `Kicked` with `KickedByServer`, the others a user Delete.
    pub fn remove_user(
        &self,
        app_id: u32,
        room_id: &str,
        user_id: &str,
        now: Instant,
    ) -> Result<Vec<Cleanup>, ErrorCode> {
        let mut st = self.lock();
        let room = st.room(app_id, room_id)?;
        let session_id = room
            .members
            .iter()
            .find(|id| {
                st.sessions
                    .get(*id)
                    .is_some_and(|s| s.user.user_id == user_id)
            })
            .cloned()
            .ok_or(ErrorCode::UserNotFound)?;
        Ok(st.remove(
            &session_id,
            Leave::Removed(ErrorCode::KickedByServer),
            now + self.heartbeat_timeout,
        ))
    }

    /// Closes a room: every member gets `Kicked` with `RoomClosed`.
    /// Returns how many were removed, and the store writes.
    pub fn close_room(
        &self,
        app_id: u32,
        room_id: &str,
        now: Instant,
    ) -> Result<(usize, Vec<Cleanup>), ErrorCode> {
        let mut st = self.lock();
        let members = st.room(app_id, room_id)?.members.clone();
        let mut cleanups = Vec::new();
        for id in &members {
            cleanups.extend(st.remove(
                id,
                Leave::Removed(ErrorCode::RoomClosed),
                now + self.heartbeat_timeout,
            ));
        }
        Ok((members.len(), cleanups))
    }

    /// The server's operator mutes (`Some(true)`) or lifts the mute on
    /// (`Some(false)`) a stream's audio or video; `None` leaves a kind as
    /// it is. The room sees the stream muted while either its publisher or
    /// the server mutes it (a `StreamStateUpdate` when that changes).
    /// Returns what the server mutes now.
    pub fn server_mute(
        &self,
        app_id: u32,
        room_id: &str,
        stream_id: &str,
        audio: Option<bool>,
        video: Option<bool>,
    ) -> Result<Muted, ErrorCode> {
        let mut st = self.lock();
        let HubState {
            sessions, rooms, ..
        } = &mut *st;
        let room = rooms
            .get_mut(&RoomKey::of(app_id, room_id))
            .ok_or(ErrorCode::RoomNotFound)?;
        let (owner, info) = room
            .streams
            .iter()
            .find(|(_, i)| i.stream_id == stream_id)
            .ok_or(ErrorCode::StreamNotFound)?;
        let owner = owner.clone();
        let current = Muted {
            audio: info.audio_muted,
            video: info.video_muted,
        };
        let mut mute = room
            .server_mutes
            .get(stream_id)
            .copied()
            .unwrap_or(ServerMute {
                own: current,
                server: Muted::default(),
            });
        mute.server.audio = audio.unwrap_or(mute.server.audio);
        mute.server.video = video.unwrap_or(mute.server.video);
        if mute.server == Muted::default() {
            room.server_mutes.remove(stream_id);
        } else {
            room.server_mutes.insert(stream_id.to_owned(), mute);
        }
        room.announce_state(sessions, &owner, stream_id, mute.own.or(mute.server));
        Ok(mute.server)
    }

    /// Sends a broadcast message from the server's operator (as `from`) to
    /// everyone in a room. Returns the message ID.
    pub fn server_broadcast(
        &self,
        app_id: u32,
        room_id: &str,
        from: UserInfo,
        text: &str,
        now: Instant,
        unix_ms: u64,
    ) -> Result<u64, ErrorCode> {
        let mut st = self.lock();
        let HubState {
            sessions, rooms, ..
        } = &mut *st;
        let room = rooms
            .get_mut(&RoomKey::of(app_id, room_id))
            .ok_or(ErrorCode::RoomNotFound)?;
        room.broadcast(sessions, None, from, text, now, unix_ms)
    }

    /// What this node holds, room by room, as store records (written back
    /// to a shared store that lost them: `nodes`).
    pub fn holdings(&self) -> Vec<RoomHolding> {
        let st = self.lock();
        st.rooms
            .iter()
            .map(|(key, room)| RoomHolding {
                app_id: key.app_id,
                room_id: key.room_id.clone(),
                members: room
                    .members
                    .iter()
                    .filter_map(|id| Some((st.sessions.get(id)?.user.user_id.clone(), id.clone())))
                    .collect(),
                streams: room
                    .streams
                    .iter()
                    .map(|(session, info)| (info.stream_id.clone(), session.clone()))
                    .collect(),
            })
            .collect()
    }

    /// Rooms and sessions on this node.
    pub fn counts(&self) -> (usize, usize) {
        let st = self.lock();
        (st.rooms.len(), st.sessions.len())
    }

    fn lock(&self) -> MutexGuard<'_, HubState> {
        // Every mutation leaves the maps consistent between statements that
        // can panic, so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl HubState {
    /// The room `room_id` of `app_id`; `RoomNotFound` if nobody is in it.
    fn room(&self, app_id: u32, room_id: &str) -> Result<&Room, ErrorCode> {
        self.rooms
            .get(&RoomKey::of(app_id, room_id))
            .ok_or(ErrorCode::RoomNotFound)
    }

    /// Removes a session and tells its room. `tombstone_until` is used for kicks.
    fn remove(&mut self, session_id: &str, why: Leave, tombstone_until: Instant) -> Vec<Cleanup> {
        let Some(mut gone) = self.sessions.remove(session_id) else {
            return Vec::new();
        };
        let user_key = (gone.app_id, gone.user.user_id.clone());
        if self.users.get(&user_key).is_some_and(|id| id == session_id) {
            self.users.remove(&user_key);
        }
        let mut cleanups = Vec::new();
        let key = gone.room_key();
        if let Some(room) = self.rooms.get_mut(&key) {
            room.members.retain(|id| id != session_id);
            cleanups.extend(room.withdraw_streams_of(
                &mut self.sessions,
                &self.listeners,
                session_id,
                &key,
            ));
            if why != (Leave::Kicked { in_place: true }) {
                let left = ActivityKind::UserLeft {
                    user_id: gone.user.user_id.clone(),
                    user_name: gone.user.user_name.clone(),
                };
                self.listeners.emit(key.app_id, &key.room_id, left);
                let delete = Arc::new(RoomEvent::UserUpdate {
                    update_type: UpdateType::Delete,
                    users: vec![gone.user.clone()],
                });
                let count = Arc::new(RoomEvent::OnlineUserCount {
                    count: count_of(room.members.len()),
                });
                for id in &room.members {
                    if let Some(s) = self.sessions.get_mut(id).filter(|s| s.notify_users) {
                        s.deliver(&delete);
                        s.deliver(&count);
                    }
                }
            }
            if room.members.is_empty() {
                self.rooms.remove(&key);
                let finished = ActivityKind::RoomFinished;
                self.listeners.emit(key.app_id, &key.room_id, finished);
            }
        }
        cleanups.push(Cleanup::LeaveRoom(Member {
            app_id: gone.app_id,
            room_id: gone.room_id.clone(),
            user_id: gone.user.user_id.clone(),
            session_id: session_id.to_owned(),
        }));
        cleanups.push(Cleanup::ReleaseUser(Hold {
            app_id: gone.app_id,
            id: gone.user.user_id.clone(),
            session_id: session_id.to_owned(),
        }));
        let (what, notice) = match why {
            Leave::Kicked { .. } => (
                "session kicked out by a new login",
                Some(self.tombstone(session_id, tombstone_until, ErrorCode::KickedOut)),
            ),
            Leave::Removed(code) => (
                "session removed by the server's operator",
                Some(self.tombstone(session_id, tombstone_until, code)),
            ),
            Leave::Expired => {
                // Not a kick: the client logs in again as after a cut.
                let code = ErrorCode::SessionExpired;
                let expired = ServerMessage::SessionExpired {
                    code,
                    message: code.message().to_owned(),
                };
                ("session timed out", Some(expired))
            }
            Leave::Logout => ("logged out", None),
            Leave::EventsLost => ("resume needed dropped events; session removed", None),
        };
        tracing::info!(
            app_id = gone.app_id,
            room_id = gone.room_id.as_str(),
            user_id = gone.user.user_id.as_str(),
            session_id,
            "{what}"
        );
        if let (Some(conn), Some(msg)) = (gone.conn.take(), notice) {
            // Best effort: a full channel means the socket is closing anyway.
            let _ = conn.tx.try_send(msg);
        }
        cleanups
    }

    /// Keeps a removed session from resuming until `until` (a resume gets
    /// `code`) and returns the `Kicked` message its client gets.
    fn tombstone(&mut self, session_id: &str, until: Instant, code: ErrorCode) -> ServerMessage {
        self.tombstones.insert(session_id.to_owned(), (until, code));
        ServerMessage::Kicked {
            code,
            message: code.message().to_owned(),
        }
    }
}

impl Room {
    /// Removes every stream `session_id` publishes, tells the other members
    /// (one stream Delete) and returns the claims to release.
    fn withdraw_streams_of(
        &mut self,
        sessions: &mut HashMap<String, Session>,
        listeners: &Listeners,
        session_id: &str,
        key: &RoomKey,
    ) -> Vec<Cleanup> {
        let mut removed = Vec::new();
        self.streams.retain(|(owner, info)| {
            let mine = owner == session_id;
            if mine {
                removed.push(info.clone());
            }
            !mine
        });
        if removed.is_empty() {
            return Vec::new();
        }
        for info in &removed {
            self.server_mutes.remove(&info.stream_id);
            listeners.emit(key.app_id, &key.room_id, stopped(info));
        }
        let cleanups = removed
            .iter()
            .map(|info| {
                Cleanup::ReleaseStream(Hold {
                    app_id: key.app_id,
                    id: info.stream_id.clone(),
                    session_id: session_id.to_owned(),
                })
            })
            .collect();
        let event = Arc::new(RoomEvent::StreamUpdate {
            update_type: UpdateType::Delete,
            streams: removed,
        });
        for id in self.members.iter().filter(|id| *id != session_id) {
            if let Some(s) = sessions.get_mut(id) {
                s.deliver(&event);
            }
        }
        cleanups
    }

    /// Sets the state its publisher reports for `stream_id` if
    /// `session_id` publishes it (combined with a server mute), telling the
    /// other members when it changed. `false` if it does not publish it.
    fn set_state(
        &mut self,
        sessions: &mut HashMap<String, Session>,
        session_id: &str,
        stream_id: &str,
        muted: Muted,
    ) -> bool {
        let muted = match self.server_mutes.get_mut(stream_id) {
            Some(mute) => {
                mute.own = muted;
                muted.or(mute.server)
            }
            None => muted,
        };
        self.announce_state(sessions, session_id, stream_id, muted)
    }

    /// Records what the room sees of `stream_id` (published by
    /// `session_id`) and tells the other members when it changed. `false`
    /// if the session does not publish it.
    fn announce_state(
        &mut self,
        sessions: &mut HashMap<String, Session>,
        session_id: &str,
        stream_id: &str,
        muted: Muted,
    ) -> bool {
        let Some((_, info)) = self
            .streams
            .iter_mut()
            .find(|(o, i)| o == session_id && i.stream_id == stream_id)
        else {
            return false;
        };
        if (info.audio_muted, info.video_muted) == (muted.audio, muted.video) {
            return true;
        }
        info.audio_muted = muted.audio;
        info.video_muted = muted.video;
        let event = Arc::new(RoomEvent::StreamStateUpdate {
            stream_id: stream_id.to_owned(),
            audio_muted: muted.audio,
            video_muted: muted.video,
        });
        for id in self.members.iter().filter(|id| *id != session_id) {
            if let Some(other) = sessions.get_mut(id) {
                other.deliver(&event);
            }
        }
        true
    }
}

impl Room {
    /// Sends a broadcast message to every member but `sender` (`None`: the
    /// server's operator sends it), within the room's rate. Returns its ID.
    fn broadcast(
        &mut self,
        sessions: &mut HashMap<String, Session>,
        sender: Option<&str>,
        from_user: UserInfo,
        text: &str,
        now: Instant,
        unix_ms: u64,
    ) -> Result<u64, ErrorCode> {
        if text.is_empty() {
            return Err(ErrorCode::BroadcastEmpty);
        }
        if text.len() > MAX_BROADCAST_BYTES {
            return Err(ErrorCode::BroadcastTooLong);
        }
        if !self.broadcasts.try_take(1, now) {
            return Err(ErrorCode::BroadcastRateLimited);
        }
        self.last_message_id += 1;
        let message_id = self.last_message_id;
        let event = Arc::new(RoomEvent::Broadcast {
            message: BroadcastMessage {
                message_id,
                from_user,
                text: text.to_owned(),
                send_time_ms: unix_ms,
            },
        });
        for id in self.members.iter().filter(|id| Some(id.as_str()) != sender) {
            if let Some(other) = sessions.get_mut(id) {
                other.deliver(&event);
            }
        }
        Ok(message_id)
    }
}

impl Session {
    fn deliver(&mut self, event: &Arc<RoomEvent>) {
        self.seq += 1;
        self.replay.push(self.seq, Arc::clone(event));
        if let Some(conn) = &self.conn {
            let msg = ServerMessage::Event(SequencedEvent {
                seq: self.seq,
                event: RoomEvent::clone(event),
            });
            if conn.tx.try_send(msg).is_err() {
                tracing::warn!(user_id = %self.user.user_id, "connection too slow or gone; detaching it");
                self.conn = None;
            }
        }
    }

    fn room_key(&self) -> RoomKey {
        RoomKey {
            app_id: self.app_id,
            room_id: self.room_id.clone(),
        }
    }

    fn info(&self) -> SessionInfo {
        SessionInfo {
            app_id: self.app_id,
            room_id: self.room_id.clone(),
            user: self.user.clone(),
        }
    }
}

/// Compares secrets without an early exit on the first differing byte.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The activity of withdrawing the stream `info`.
fn stopped(info: &StreamInfo) -> ActivityKind {
    ActivityKind::StreamStopped {
        stream_id: info.stream_id.clone(),
        user_id: info.user.user_id.clone(),
    }
}

fn count_of(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_millis(1000);

    fn hub() -> Hub {
        Hub::new(Duration::from_millis(300), TIMEOUT)
    }

    fn user(id: &str) -> UserInfo {
        UserInfo {
            user_id: id.into(),
            user_name: format!("name {id}"),
        }
    }

    fn admission(session: &str, room: &str, user_id: &str) -> Admission {
        Admission {
            session_id: session.into(),
            resume_key: format!("key-{session}"),
            app_id: 1,
            room_id: room.into(),
            user: user(user_id),
            notify_users: true,
            token_expires_in_ms: None,
            auth: Authorized::APP_SIGN,
            replaces: Vec::new(),
        }
    }

    fn join(
        hub: &Hub,
        session: &str,
        room: &str,
        user_id: &str,
        now: Instant,
    ) -> mpsc::Receiver<ServerMessage> {
        let (tx, rx) = mpsc::channel(OUTBOX_CAPACITY);
        let conn = hub.connection(tx);
        hub.admit(admission(session, room, user_id), conn, now);
        rx
    }

    fn drain(rx: &mut mpsc::Receiver<ServerMessage>) -> Vec<ServerMessage> {
        let mut out = Vec::new();
        while let Ok(m) = rx.try_recv() {
            out.push(m);
        }
        out
    }

    fn events(msgs: &[ServerMessage]) -> Vec<(u64, RoomEvent)> {
        msgs.iter()
            .filter_map(|m| match m {
                ServerMessage::Event(e) => Some((e.seq, e.event.clone())),
                _ => None,
            })
            .collect()
    }

    fn user_update(t: UpdateType, id: &str) -> RoomEvent {
        RoomEvent::UserUpdate {
            update_type: t,
            users: vec![user(id)],
        }
    }

    /// A hub, the start time and the outboxes of `a` (session `sa`) and `b`
    /// (session `sb`), both in room `r`.
    fn room_of_two() -> (
        Hub,
        Instant,
        mpsc::Receiver<ServerMessage>,
        mpsc::Receiver<ServerMessage>,
    ) {
        let hub = hub();
        let t0 = Instant::now();
        let a = join(&hub, "sa", "r", "a", t0);
        let b = join(&hub, "sb", "r", "b", t0);
        (hub, t0, a, b)
    }

    /// Resumes `session` with `key` after `last_seq` on a fresh connection
    /// (its receiver dropped: the tests look only at the answer).
    fn resume(
        hub: &Hub,
        session: &str,
        key: &str,
        last_seq: u64,
        now: Instant,
    ) -> Result<Resumed, ResumeRefused> {
        let (tx, _rx) = mpsc::channel(8);
        hub.resume(session, key, last_seq, hub.connection(tx), now)
    }

    /// The code a resume of `session` is refused with.
    fn refusal(hub: &Hub, session: &str, key: &str, last_seq: u64, now: Instant) -> ErrorCode {
        resume(hub, session, key, last_seq, now)
            .expect_err("refused")
            .code
    }

    fn is_stream_delete(e: &RoomEvent) -> bool {
        matches!(
            e,
            RoomEvent::StreamUpdate {
                update_type: UpdateType::Delete,
                ..
            }
        )
    }

    #[test]
    fn join_sends_add_then_count_to_others_and_snapshot_to_joiner() {
        let hub = hub();
        let t0 = Instant::now();
        let mut a = join(&hub, "sa", "r", "a", t0);
        let (tx, _b) = mpsc::channel(8);
        let (ok, _) = hub.admit(admission("sb", "r", "b"), hub.connection(tx), t0);
        assert_eq!(ok.users, vec![user("a")]);
        assert_eq!(ok.online_count, 2);
        assert_eq!(ok.seq, 0);
        assert_eq!(
            events(&drain(&mut a)),
            vec![
                (1, user_update(UpdateType::Add, "b")),
                (2, RoomEvent::OnlineUserCount { count: 2 })
            ]
        );
        assert_eq!(hub.counts(), (1, 2));
    }

    #[test]
    fn silent_session_expires_after_timeout_with_leave_events() {
        let (hub, t0, mut a, mut b) = room_of_two();
        assert!(hub.add_stream("sb", "cam", "", Muted::default()));
        drain(&mut a);
        // a keeps sending heartbeats; b stays silent.
        let almost = t0 + TIMEOUT - Duration::from_millis(1);
        assert!(hub.heartbeat("sa", 3, almost));
        assert!(hub.sweep(almost).is_empty());
        let cleanups = hub.sweep(t0 + TIMEOUT);
        assert!(cleanups.contains(&Cleanup::ReleaseStream(Hold {
            app_id: 1,
            id: "cam".into(),
            session_id: "sb".into()
        })));
        let got = events(&drain(&mut a));
        let kinds: Vec<_> = got.iter().map(|(_, e)| e.clone()).collect();
        assert!(is_stream_delete(&kinds[0]));
        assert_eq!(kinds[1], user_update(UpdateType::Delete, "b"));
        assert_eq!(kinds[2], RoomEvent::OnlineUserCount { count: 1 });
        // b's open connection is told (not kicked: it may log in again) and closed.
        let to_b = drain(&mut b);
        assert!(matches!(
            to_b.last(),
            Some(ServerMessage::SessionExpired {
                code: ErrorCode::SessionExpired,
                ..
            })
        ));
        assert!(b.is_closed() || b.try_recv().is_err());
        assert_eq!(hub.counts(), (1, 1));
        // a itself expires later; the room goes away.
        hub.sweep(almost + TIMEOUT);
        assert_eq!(hub.counts(), (0, 0));
    }

    #[test]
    fn detached_session_resumes_with_missed_events() {
        let hub = hub();
        let t0 = Instant::now();
        let a = join(&hub, "sa", "r", "a", t0);
        hub.detach("sa", 1);
        drop(a);
        let _b = join(&hub, "sb", "r", "b", t0);
        let t1 = t0 + Duration::from_millis(500);
        let resumed = resume(&hub, "sa", "key-sa", 0, t1).expect("resumes");
        assert_eq!(resumed.missed.len(), 2);
        assert_eq!(resumed.missed[0].event, user_update(UpdateType::Add, "b"));
        // Wrong key and unknown sessions are refused.
        assert_eq!(
            refusal(&hub, "sa", "nope", 0, t1),
            ErrorCode::SessionExpired
        );
        assert_eq!(refusal(&hub, "zz", "x", 0, t1), ErrorCode::SessionExpired);
    }

    #[test]
    fn resume_needing_dropped_events_removes_the_session() {
        let (hub, t0, _a, _b) = room_of_two();
        assert!(hub.heartbeat("sa", 2, t0));
        assert_eq!(
            refusal(&hub, "sa", "key-sa", 1, t0),
            ErrorCode::SessionExpired
        );
        assert!(hub.session_info("sa").is_none());
    }

    #[test]
    fn same_room_relogin_kicks_without_user_churn() {
        let (hub, t0, mut a, mut b) = room_of_two();
        assert!(hub.add_stream("sb", "cam", "x", Muted::default()));
        drain(&mut a);
        let mut b2 = join(&hub, "sb2", "r", "b", t0);
        // a sees the old stream go, but no user Delete/Add or count change.
        let got = events(&drain(&mut a));
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(is_stream_delete(&got[0].1));
        assert!(matches!(
            drain(&mut b).last(),
            Some(ServerMessage::Kicked {
                code: ErrorCode::KickedOut,
                ..
            })
        ));
        assert!(drain(&mut b2).is_empty());
        // The kicked session cannot resume until the tombstone expires.
        assert_eq!(refusal(&hub, "sb", "key-sb", 0, t0), ErrorCode::KickedOut);
        hub.heartbeat("sa", 0, t0 + TIMEOUT);
        hub.heartbeat("sb2", 0, t0 + TIMEOUT);
        hub.sweep(t0 + TIMEOUT);
        assert_eq!(
            refusal(&hub, "sb", "key-sb", 0, t0 + TIMEOUT),
            ErrorCode::SessionExpired
        );
        assert_eq!(hub.counts(), (1, 2));
    }

    #[test]
    fn relogin_into_another_room_moves_the_user() {
        let hub = hub();
        let t0 = Instant::now();
        let mut a = join(&hub, "sa", "r1", "a", t0);
        let mut c = join(&hub, "sc", "r2", "c", t0);
        let _b = join(&hub, "sb", "r1", "b", t0);
        drain(&mut a);
        let _b2 = join(&hub, "sb2", "r2", "b", t0);
        let to_a: Vec<_> = events(&drain(&mut a)).into_iter().map(|(_, e)| e).collect();
        assert_eq!(
            to_a,
            vec![
                user_update(UpdateType::Delete, "b"),
                RoomEvent::OnlineUserCount { count: 1 }
            ]
        );
        let to_c: Vec<_> = events(&drain(&mut c)).into_iter().map(|(_, e)| e).collect();
        assert_eq!(
            to_c,
            vec![
                user_update(UpdateType::Add, "b"),
                RoomEvent::OnlineUserCount { count: 2 }
            ]
        );
    }

    #[test]
    fn broadcasts_are_numbered_and_rate_limited_per_room() {
        let (hub, t0, _a, mut b) = room_of_two();
        drain(&mut b);
        assert_eq!(
            hub.broadcast("sa", "", t0, 0),
            Err(ErrorCode::BroadcastEmpty)
        );
        assert_eq!(
            hub.broadcast("sa", &"x".repeat(1025), t0, 0),
            Err(ErrorCode::BroadcastTooLong)
        );
        for id in 1..=10 {
            assert_eq!(hub.broadcast("sa", "hi", t0, 0), Ok(id));
        }
        assert_eq!(
            hub.broadcast("sb", "hi", t0, 0),
            Err(ErrorCode::BroadcastRateLimited)
        );
        assert_eq!(
            hub.broadcast("sb", "hi", t0 + Duration::from_millis(100), 0),
            Ok(11)
        );
        assert_eq!(events(&drain(&mut b)).len(), 10);
    }

    #[test]
    fn slow_connection_is_detached_but_keeps_its_events() {
        let hub = hub();
        let t0 = Instant::now();
        let (tx, mut slow) = mpsc::channel(2);
        hub.admit(admission("sa", "r", "a"), hub.connection(tx), t0);
        let _b = join(&hub, "sb", "r", "b", t0);
        let _c = join(&hub, "sc", "r", "c", t0);
        // 4 events for a channel of 2: the connection is let go.
        assert_eq!(drain(&mut slow).len(), 2);
        assert!(slow.is_closed());
        let resumed = resume(&hub, "sa", "key-sa", 2, t0).expect("resumes");
        assert_eq!(
            resumed.missed.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![3, 4]
        );
    }

    #[test]
    fn stream_state_is_kept_and_sent_to_the_others_on_change() {
        let (hub, t0, mut a, mut b) = room_of_two();
        let mut c = join(&hub, "sc", "r2", "c", t0);
        let audio_off = Muted {
            audio: true,
            video: false,
        };
        // Published already muted: the Add carries the state.
        assert!(hub.add_stream("sb", "cam", "", audio_off));
        drain(&mut b);
        match events(&drain(&mut a)).pop() {
            Some((
                _,
                RoomEvent::StreamUpdate {
                    update_type: UpdateType::Add,
                    streams,
                },
            )) => assert!(streams[0].audio_muted && !streams[0].video_muted),
            other => panic!("{other:?}"),
        }
        // Same state again: nothing to tell.
        assert_eq!(hub.set_stream_state("sb", "cam", audio_off), Ok(()));
        assert!(drain(&mut a).is_empty());
        // A change reaches the others, numbered, not the publisher.
        let all_off = Muted {
            audio: true,
            video: true,
        };
        assert_eq!(hub.set_stream_state("sb", "cam", all_off), Ok(()));
        let state = RoomEvent::StreamStateUpdate {
            stream_id: "cam".into(),
            audio_muted: true,
            video_muted: true,
        };
        assert_eq!(events(&drain(&mut a)), vec![(4, state.clone())]);
        assert!(drain(&mut b).is_empty());
        // Repeating the announcement takes the new state too.
        assert!(hub.add_stream("sb", "cam", "", Muted::default()));
        let open = RoomEvent::StreamStateUpdate {
            stream_id: "cam".into(),
            audio_muted: false,
            video_muted: false,
        };
        assert_eq!(events(&drain(&mut a)), vec![(5, open)]);
        assert_eq!(hub.set_stream_state("sb", "cam", all_off), Ok(()));
        // Someone else's stream, an unknown one, another room's session.
        assert_eq!(
            hub.set_stream_state("sa", "cam", Muted::default()),
            Err(ErrorCode::NotStreamOwner)
        );
        assert_eq!(
            hub.set_stream_state("sb", "nope", Muted::default()),
            Err(ErrorCode::NotStreamOwner)
        );
        assert_eq!(
            hub.set_stream_state("sc", "cam", Muted::default()),
            Err(ErrorCode::NotStreamOwner)
        );
        assert_eq!(
            hub.set_stream_state("zz", "cam", Muted::default()),
            Err(ErrorCode::NotStreamOwner)
        );
        assert!(drain(&mut c).is_empty());
        // A late joiner sees the current state in its snapshot.
        let (tx, _d) = mpsc::channel(8);
        let (ok, _) = hub.admit(admission("sd", "r", "d"), hub.connection(tx), t0);
        assert_eq!(ok.streams.len(), 1);
        assert!(ok.streams[0].audio_muted && ok.streams[0].video_muted);
        // A dropped client gets the change on resume.
        hub.detach("sa", 1);
        drop(a);
        assert_eq!(hub.set_stream_state("sb", "cam", Muted::default()), Ok(()));
        let resumed = resume(&hub, "sa", "key-sa", 6, t0).expect("resumes");
        let missed: Vec<_> = resumed.missed.into_iter().map(|e| e.event).collect();
        assert_eq!(
            missed.last(),
            Some(&RoomEvent::StreamStateUpdate {
                stream_id: "cam".into(),
                audio_muted: false,
                video_muted: false,
            })
        );
    }

    #[test]
    fn a_server_mute_holds_over_the_publishers_own_state() {
        let (hub, t0, mut a, mut b) = room_of_two();
        assert!(hub.add_stream("sb", "cam", "", Muted::default()));
        drain(&mut a);
        let seen = |rx: &mut mpsc::Receiver<ServerMessage>| -> Vec<(bool, bool)> {
            events(&drain(rx))
                .into_iter()
                .filter_map(|(_, e)| match e {
                    RoomEvent::StreamStateUpdate {
                        audio_muted,
                        video_muted,
                        ..
                    } => Some((audio_muted, video_muted)),
                    _ => None,
                })
                .collect()
        };
        let video = Muted {
            audio: false,
            video: true,
        };
        assert_eq!(hub.server_mute(1, "r", "cam", None, Some(true)), Ok(video));
        assert_eq!(seen(&mut a), [(false, true)]);
        // The publisher turning its camera on does not lift the server's mute;
        // its microphone going off still shows.
        assert_eq!(hub.set_stream_state("sb", "cam", Muted::default()), Ok(()));
        assert!(seen(&mut a).is_empty());
        let mic_off = Muted {
            audio: true,
            video: false,
        };
        assert_eq!(hub.set_stream_state("sb", "cam", mic_off), Ok(()));
        assert_eq!(seen(&mut a), [(true, true)]);
        let listed = hub.room_streams(1, "r").expect("room");
        assert_eq!(listed[0].server_muted, video);
        // Lifting it shows the publisher's own state.
        assert_eq!(
            hub.server_mute(1, "r", "cam", None, Some(false)),
            Ok(Muted::default())
        );
        assert_eq!(seen(&mut a), [(true, false)]);
        assert_eq!(
            hub.server_mute(1, "r", "nope", Some(true), None),
            Err(ErrorCode::StreamNotFound)
        );
        assert_eq!(
            hub.server_mute(1, "x", "cam", Some(true), None),
            Err(ErrorCode::RoomNotFound)
        );
        // A removed session cannot resume: it gets the removal's code.
        hub.remove_user(1, "r", "b", t0).expect("b is in r");
        assert!(drain(&mut b).iter().any(|m| matches!(
            m,
            ServerMessage::Kicked {
                code: ErrorCode::KickedByServer,
                ..
            }
        )));
        assert_eq!(
            refusal(&hub, "sb", "key-sb", 0, t0),
            ErrorCode::KickedByServer
        );
        assert_eq!(hub.rooms_of(1).len(), 1);
        assert_eq!(hub.close_room(1, "r", t0).map(|(n, _)| n), Ok(1));
        assert!(hub.rooms_of(1).is_empty());
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
