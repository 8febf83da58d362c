//! The outbox: outputs queued for the driver, in order, and the helpers
//! that build the events the session reports.

use super::{ConnId, Output};
use crate::event::{
    Event, PlayerState, PublisherState, RoomState, RoomStateChangedReason, Stream, UpdateType, User,
};
use crate::room::media::MediaCommand;
use crate::room::view::RemoteDevices;
use protocol::{ClientMessage, ErrorCode};
use std::collections::VecDeque;

/// The extended data of an event that has none.
pub(super) const NO_DATA: &str = "{}";

/// Outputs waiting for the driver, with helpers that build events.
#[derive(Debug, Default)]
pub(super) struct Outbox(VecDeque<Output>);

impl Outbox {
    /// The oldest queued output.
    pub(super) fn pop(&mut self) -> Option<Output> {
        self.0.pop_front()
    }

    /// Queues an output.
    pub(super) fn push(&mut self, o: Output) {
        self.0.push_back(o);
    }

    /// Queues a message to send on `conn`.
    pub(super) fn send(&mut self, conn: ConnId, msg: ClientMessage) {
        self.push(Output::Send { conn, msg });
    }

    /// Queues an event for the app.
    pub(super) fn event(&mut self, e: Event) {
        self.push(Output::Event(e));
    }

    /// Reports the room's state: `RoomStateUpdate`, then `RoomStateChanged`.
    pub(super) fn state(
        &mut self,
        room_id: &str,
        state: RoomState,
        reason: RoomStateChangedReason,
        code: ErrorCode,
        extended_data: String,
    ) {
        self.event(Event::RoomStateUpdate {
            room_id: room_id.to_owned(),
            state,
            error_code: code.code(),
            extended_data: extended_data.clone(),
        });
        self.event(Event::RoomStateChanged {
            room_id: room_id.to_owned(),
            reason,
            error_code: code.code(),
            extended_data,
        });
    }

    /// Reports a publisher's state.
    pub(super) fn publisher(
        &mut self,
        stream_id: &str,
        state: PublisherState,
        code: ErrorCode,
        extended_data: String,
    ) {
        self.event(Event::PublisherStateUpdate {
            stream_id: stream_id.to_owned(),
            state,
            error_code: code.code(),
            extended_data,
        });
    }

    /// Reports a player's state.
    pub(super) fn player(
        &mut self,
        stream_id: &str,
        state: PlayerState,
        code: ErrorCode,
        extended_data: String,
    ) {
        self.event(Event::PlayerStateUpdate {
            stream_id: stream_id.to_owned(),
            state,
            error_code: code.code(),
            extended_data,
        });
    }

    /// Queues a command for the media side.
    pub(super) fn media(&mut self, command: MediaCommand) {
        self.push(Output::Media(command));
    }

    /// Reports users joining or leaving, if there are any.
    pub(super) fn users(&mut self, room_id: &str, update_type: UpdateType, users: Vec<User>) {
        if !users.is_empty() {
            self.event(Event::RoomUserUpdate {
                room_id: room_id.to_owned(),
                update_type,
                users,
            });
        }
    }

    /// Reports streams added or deleted, if there are any.
    pub(super) fn streams(&mut self, room_id: &str, update_type: UpdateType, streams: Vec<Stream>) {
        if !streams.is_empty() {
            self.event(Event::RoomStreamUpdate {
                room_id: room_id.to_owned(),
                update_type,
                streams,
                extended_data: NO_DATA.into(),
            });
        }
    }

    /// Reports a remote stream's microphone and camera: each one that differs
    /// from `old` (both when `old` is `None`: the stream just appeared).
    pub(super) fn devices(
        &mut self,
        stream_id: &str,
        old: Option<RemoteDevices>,
        new: RemoteDevices,
    ) {
        if old.map(|o| o.mic) != Some(new.mic) {
            self.event(Event::RemoteMicStateUpdate {
                stream_id: stream_id.to_owned(),
                state: new.mic,
            });
        }
        if old.map(|o| o.camera) != Some(new.camera) {
            self.event(Event::RemoteCameraStateUpdate {
                stream_id: stream_id.to_owned(),
                state: new.camera,
            });
        }
    }

    /// Reports something the app may want to log (`Event::Debug`).
    pub(super) fn debug(&mut self, code: ErrorCode, func_name: &str, info: impl Into<String>) {
        self.event(Event::Debug {
            error_code: code.code(),
            func_name: func_name.to_owned(),
            info: info.into(),
        });
    }
}

/// `{"message": ...}` as extended data.
pub(super) fn details(message: &str) -> String {
    serde_json::json!({ "message": message }).to_string()
}
