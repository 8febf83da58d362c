//! The room as the server reports it: the users and streams in `LoginOk`
//! and the numbered events after it, kept in the [`View`] and reported to
//! the app (a relogin reports only what changed).

use super::outbox::Outbox;
use super::Room;
use crate::event::{BroadcastMessage, Event, Stream, UpdateType, User};
use crate::room::view::{RemoteDevices, View};
use protocol::{RoomEvent, SequencedEvent};

impl Room {
    /// Reports the room as `LoginOk` describes it (after a relogin, what
    /// differs from the view) and keeps it as the view.
    pub(super) fn take_snapshot(&mut self, snapshot: View, relogin: bool, out: &mut Outbox) {
        let notify = self.config.is_user_status_notify;
        let room_id = self.room_id.clone();
        if relogin {
            let d = self.view.diff(&snapshot);
            if notify {
                out.users(&room_id, UpdateType::Delete, d.users_gone);
                out.users(&room_id, UpdateType::Add, d.users_new);
                if snapshot.online_count != self.view.online_count {
                    out.event(Event::RoomOnlineUserCountUpdate {
                        room_id: room_id.clone(),
                        count: snapshot.online_count,
                    });
                }
            }
            out.streams(&room_id, UpdateType::Delete, d.streams_gone);
            let appeared: Vec<String> = d.streams_new.iter().map(|s| s.stream_id.clone()).collect();
            out.streams(&room_id, UpdateType::Add, d.streams_new);
            // New streams report their devices; kept ones only what changed.
            for s in snapshot.streams() {
                if let Some(new) = snapshot.devices(&s.stream_id) {
                    let old = if appeared.contains(&s.stream_id) {
                        None
                    } else {
                        self.view.devices(&s.stream_id)
                    };
                    out.devices(&s.stream_id, old, new);
                }
            }
        } else {
            if notify {
                out.users(&room_id, UpdateType::Add, snapshot.users());
                out.event(Event::RoomOnlineUserCountUpdate {
                    room_id: room_id.clone(),
                    count: snapshot.online_count,
                });
            }
            out.streams(&room_id, UpdateType::Add, snapshot.streams());
            for s in snapshot.streams() {
                if let Some(new) = snapshot.devices(&s.stream_id) {
                    out.devices(&s.stream_id, None, new);
                }
            }
        }
        self.view = snapshot;
    }

    /// Applies a numbered room event (once: a replayed one is ignored) and
    /// reports it.
    pub(super) fn apply_event(&mut self, se: SequencedEvent, out: &mut Outbox) {
        if se.seq <= self.last_seq {
            tracing::trace!(seq = se.seq, "duplicate event ignored");
            return;
        }
        self.last_seq = se.seq;
        let room_id = self.room_id.clone();
        match se.event {
            RoomEvent::UserUpdate { update_type, users } => {
                let users: Vec<User> = users.into_iter().map(User::from_wire).collect();
                let update_type = UpdateType::from_wire(update_type);
                self.view.apply_users(update_type, &users);
                out.users(&room_id, update_type, users);
            }
            RoomEvent::OnlineUserCount { count } => {
                self.view.online_count = count;
                out.event(Event::RoomOnlineUserCountUpdate { room_id, count });
            }
            RoomEvent::StreamUpdate {
                update_type,
                streams,
            } => {
                let devices: Vec<(String, RemoteDevices)> = streams
                    .iter()
                    .map(|s| (s.stream_id.clone(), RemoteDevices::of(s)))
                    .collect();
                let streams: Vec<Stream> = streams.into_iter().map(Stream::from_wire).collect();
                let update_type = UpdateType::from_wire(update_type);
                self.view.apply_streams(update_type, &streams);
                out.streams(&room_id, update_type, streams);
                if update_type == UpdateType::Add {
                    for (stream_id, new) in devices {
                        if self.view.set_devices(&stream_id, new).is_some() {
                            out.devices(&stream_id, None, new);
                        }
                    }
                }
            }
            RoomEvent::StreamStateUpdate {
                stream_id,
                audio_muted,
                video_muted,
            } => {
                let new = RemoteDevices::from_muted(audio_muted, video_muted);
                // Streams not in the view (unknown, or our own) are ignored.
                if let Some(old) = self.view.set_devices(&stream_id, new) {
                    out.devices(&stream_id, old, new);
                }
            }
            RoomEvent::Broadcast { message } => out.event(Event::RoomBroadcastMessage {
                room_id,
                messages: vec![BroadcastMessage::from_wire(message)],
            }),
        }
    }
}
