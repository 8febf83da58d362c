//! Publishers: announcing a stream (`PublishStream`) once the link is live,
//! claiming it again after a relogin, and the local mutes, announced to the
//! room with the stream and by `StreamState` when they change.

use super::media_links::{close_link, negotiate, MediaLink};
use super::outbox::{Outbox, NO_DATA};
use super::requests::Request;
use super::{ConnId, Ctx, Link, Room, Session};
use crate::error::PublisherError;
use crate::event::PublisherState;
use crate::room::media::MediaCommand;
use crate::room::PublishChannel;
use protocol::{ids, ClientMessage, ErrorCode, MediaRole};
use std::time::Instant;

/// A mute the app set on the engine, as the session tracks it: what a
/// published stream sends is announced to the room from these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LocalMute {
    /// `mute_microphone`: no audio on any channel.
    Microphone,
    /// `mute_publish_stream_audio` on a channel.
    StreamAudio(PublishChannel),
    /// `mute_publish_stream_video` on a channel.
    StreamVideo(PublishChannel),
    /// `enable_camera(false)` on a channel (`true` = camera off).
    CameraOff(PublishChannel),
}

/// The local mutes, per channel where they are per channel.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct LocalMutes {
    microphone: bool,
    audio: [bool; 2],
    video: [bool; 2],
    camera_off: [bool; 2],
}

impl LocalMutes {
    /// Records that `mute` is now `on`.
    fn set(&mut self, mute: LocalMute, on: bool) {
        match mute {
            LocalMute::Microphone => self.microphone = on,
            LocalMute::StreamAudio(c) => self.audio[c.index()] = on,
            LocalMute::StreamVideo(c) => self.video[c.index()] = on,
            LocalMute::CameraOff(c) => self.camera_off[c.index()] = on,
        }
    }

    /// What a channel's stream does not send.
    fn of(&self, channel: PublishChannel) -> SendState {
        let i = channel.index();
        SendState {
            audio_muted: self.microphone || self.audio[i],
            video_muted: self.video[i] || self.camera_off[i],
        }
    }
}

/// What a published stream does not send, as announced to the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct SendState {
    audio_muted: bool,
    video_muted: bool,
}

/// A stream the local user publishes on a channel.
#[derive(Debug)]
pub(super) struct Publisher {
    /// The stream it publishes.
    pub(super) stream_id: String,
    /// As last reported to the app.
    pub(super) state: PublisherState,
    /// The server confirmed the stream in this session.
    pub(super) acked: bool,
    /// The outstanding `PublishStream` request, once sent.
    pub(super) request: Option<u32>,
    /// The peer connection to the SFU.
    pub(super) media: MediaLink,
    /// What the server was last told the stream sends (in `PublishStream` or
    /// `StreamState`) in this server session.
    told: SendState,
}

impl Session {
    /// Starts publishing `stream_id` on `channel` (announced once connected).
    pub(crate) fn start_publishing(
        &mut self,
        _now: Instant,
        stream_id: &str,
        channel: PublishChannel,
    ) -> Result<(), PublisherError> {
        let room = self.room.as_mut().ok_or(PublisherError::NotLoggedIn)?;
        ids::StreamId::new(stream_id).map_err(|_| PublisherError::InvalidStreamId)?;
        if room.publishers[channel.index()].is_some() {
            return Err(PublisherError::AlreadyPublishing);
        }
        if room
            .publishers
            .iter()
            .flatten()
            .any(|p| p.stream_id == stream_id)
        {
            return Err(PublisherError::StreamIdInUse);
        }
        room.publishers[channel.index()] = Some(Publisher {
            stream_id: stream_id.to_owned(),
            state: PublisherState::PublishRequesting,
            acked: false,
            request: None,
            media: MediaLink::Idle,
            told: SendState::default(),
        });
        self.out.publisher(
            stream_id,
            PublisherState::PublishRequesting,
            ErrorCode::Success,
            NO_DATA.into(),
        );
        self.out.media(MediaCommand::StartPublishing {
            channel,
            stream_id: stream_id.to_owned(),
        });
        if let Link::Live { conn } = room.link {
            room.announce(channel, conn, &mut self.ctx, &mut self.out);
        }
        Ok(())
    }

    /// Stops publishing on `channel`: `NoPublish(0)` at once, `StopPublishing`
    /// to the server if it knows (or may know) the stream.
    pub(crate) fn stop_publishing(
        &mut self,
        _now: Instant,
        channel: PublishChannel,
    ) -> Result<(), PublisherError> {
        let room = self.room.as_mut().ok_or(PublisherError::NotLoggedIn)?;
        let Some(p) =
            room.drop_publisher(channel, ErrorCode::Success, NO_DATA.into(), &mut self.out)
        else {
            return Err(PublisherError::NotPublishing);
        };
        if p.acked || p.request.is_some() {
            let request_id = self.ctx.new_request();
            room.requests.insert(
                request_id,
                Request::Stop {
                    stream_id: p.stream_id,
                    sent_on: None,
                },
            );
            room.flush_requests(&mut self.out);
        }
        Ok(())
    }

    /// Records a mute the app set (it outlives rooms, like the engine's
    /// media settings). When it changes what a published stream sends, the
    /// server is told with `StreamState` (at once if the stream is
    /// confirmed and the link is live; otherwise when it is confirmed or the
    /// session resumes). A stream announced later carries the state in its
    /// `PublishStream`.
    pub(crate) fn set_local_mute(&mut self, _now: Instant, mute: LocalMute, on: bool) {
        self.ctx.mutes.set(mute, on);
        if let Some(room) = self.room.as_mut() {
            room.sync_send_states(&mut self.ctx, &mut self.out);
        }
    }
}

impl Room {
    /// Sends `PublishStream` for the publisher on `channel`.
    pub(super) fn announce(
        &mut self,
        channel: PublishChannel,
        conn: ConnId,
        ctx: &mut Ctx,
        out: &mut Outbox,
    ) {
        let Some(p) = self.publishers[channel.index()].as_mut() else {
            return;
        };
        let request_id = ctx.new_request();
        p.request = Some(request_id);
        p.told = ctx.mutes.of(channel);
        self.requests
            .insert(request_id, Request::Publish { channel });
        out.send(
            conn,
            ClientMessage::PublishStream {
                request_id,
                stream_id: p.stream_id.clone(),
                extra_info: String::new(),
                audio_muted: p.told.audio_muted,
                video_muted: p.told.video_muted,
            },
        );
    }

    /// The server confirmed the stream announced by `request_id` on `channel`.
    pub(super) fn on_published(
        &mut self,
        now: Instant,
        channel: PublishChannel,
        request_id: u32,
        ctx: &mut Ctx,
        out: &mut Outbox,
    ) {
        if let Some(p) = self.publishers[channel.index()].as_mut() {
            if p.request == Some(request_id) {
                p.request = None;
                p.acked = true;
                // Publishing once the media connection is up.
                let stream_id = p.stream_id.clone();
                p.media = negotiate(now, &stream_id, MediaRole::Publish, out);
                // A mute changed while the announcement was on its way.
                self.sync_send_states(ctx, out);
            }
        }
    }

    /// A new server session: closes each publisher's peer connection and
    /// announces the stream again on `conn`.
    pub(super) fn republish(&mut self, conn: ConnId, ctx: &mut Ctx, out: &mut Outbox) {
        for channel in [PublishChannel::Main, PublishChannel::Aux] {
            if let Some(p) = self.publishers[channel.index()].as_mut() {
                p.acked = false;
                p.request = None;
                close_link(&mut p.media, &p.stream_id, MediaRole::Publish, out);
                self.announce(channel, conn, ctx, out);
            }
        }
    }

    /// The same server session again on `conn`: re-announces streams not
    /// yet confirmed; a confirmed one is publishing again if its peer
    /// connection held, or renegotiates.
    pub(super) fn resume_publishers(
        &mut self,
        now: Instant,
        conn: ConnId,
        ctx: &mut Ctx,
        out: &mut Outbox,
    ) {
        for channel in [PublishChannel::Main, PublishChannel::Aux] {
            let Some(p) = self.publishers[channel.index()].as_mut() else {
                continue;
            };
            if !p.acked {
                if let Some(old) = p.request.take() {
                    self.requests.remove(&old);
                }
                self.announce(channel, conn, ctx, out);
            } else if p.media == MediaLink::Connected {
                p.state = PublisherState::Publishing;
                out.publisher(&p.stream_id, p.state, ErrorCode::Success, NO_DATA.into());
            } else {
                let stream_id = p.stream_id.clone();
                p.media = negotiate(now, &stream_id, MediaRole::Publish, out);
            }
        }
    }

    /// Sends `StreamState` again for the channels whose last one went
    /// unanswered (lost with the old connection).
    pub(super) fn resend_states(&mut self, unanswered: [bool; 2], ctx: &mut Ctx, out: &mut Outbox) {
        for channel in [PublishChannel::Main, PublishChannel::Aux] {
            if unanswered[channel.index()] {
                self.send_state(channel, ctx, out);
            }
        }
    }

    /// Tells the server what each confirmed stream sends now, where that
    /// differs from what it was last told. Needs a live link: on a resume
    /// [`Room::on_resumed`] calls this again; unconfirmed streams announce
    /// their state when confirmed.
    pub(super) fn sync_send_states(&mut self, ctx: &mut Ctx, out: &mut Outbox) {
        for channel in [PublishChannel::Main, PublishChannel::Aux] {
            let stale = self.publishers[channel.index()]
                .as_ref()
                .is_some_and(|p| p.acked && p.told != ctx.mutes.of(channel));
            if stale {
                self.send_state(channel, ctx, out);
            }
        }
    }

    /// Sends `StreamState` with what the confirmed stream on `channel` sends
    /// now, if the link is live.
    fn send_state(&mut self, channel: PublishChannel, ctx: &mut Ctx, out: &mut Outbox) {
        let Link::Live { conn } = self.link else {
            return;
        };
        let Some(p) = self.publishers[channel.index()]
            .as_mut()
            .filter(|p| p.acked)
        else {
            return;
        };
        p.told = ctx.mutes.of(channel);
        let request_id = ctx.new_request();
        self.requests
            .insert(request_id, Request::StreamState { channel });
        out.send(
            conn,
            ClientMessage::StreamState {
                request_id,
                stream_id: p.stream_id.clone(),
                audio_muted: p.told.audio_muted,
                video_muted: p.told.video_muted,
            },
        );
    }

    /// Ends the publisher on `channel` for good, if there is one: reports
    /// `NoPublish` with `code`, stops its pipeline and forgets its unanswered
    /// `PublishStream`, so nothing retries or re-announces it. Returns it.
    pub(super) fn drop_publisher(
        &mut self,
        channel: PublishChannel,
        code: ErrorCode,
        data: String,
        out: &mut Outbox,
    ) -> Option<Publisher> {
        let p = self.publishers[channel.index()].take()?;
        if let Some(id) = p.request {
            self.requests.remove(&id);
        }
        out.publisher(&p.stream_id, PublisherState::NoPublish, code, data);
        out.media(MediaCommand::StopPublishing { channel });
        Some(p)
    }
}
