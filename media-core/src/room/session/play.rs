//! Players: asking the server to play a stream (`PlayStream`), again after
//! a relogin; the media of a played stream starts when the server says it is
//! live (`media_links.rs`). Each player keeps its simulcast layer cap
//! (`set_play_stream_video_layer`): every `PlayStream` carries it, and a
//! change on a live link is sent as `PlayVideoLayer`.

use super::media_links::{close_link, negotiate, MediaLink};
use super::outbox::{Outbox, NO_DATA};
use super::requests::Request;
use super::{Ctx, Room, Session};
use crate::error::PlayerError;
use crate::event::PlayerState;
use crate::room::media::MediaCommand;
use protocol::{ids, ErrorCode, MediaRole, VideoLayer};
use std::time::Instant;

/// A stream the local user plays.
#[derive(Debug)]
pub(super) struct Player {
    /// As last reported to the app.
    pub(super) state: PlayerState,
    /// The server said the stream is live (`StreamReady` without a later `StreamEnded`).
    pub(super) live: bool,
    /// The peer connection to the SFU.
    pub(super) media: MediaLink,
    /// The highest simulcast layer the SFU may send (the app's cap).
    pub(super) max_layer: VideoLayer,
}

impl Player {
    /// A player whose request is on its way.
    pub(super) fn new() -> Self {
        Player {
            state: PlayerState::PlayRequesting,
            live: false,
            media: MediaLink::Idle,
            max_layer: VideoLayer::High,
        }
    }
}

impl Session {
    /// Starts playing `stream_id`: `PlayRequesting(0)` at once; media starts
    /// when the server says the stream is live.
    pub(crate) fn start_playing(
        &mut self,
        _now: Instant,
        stream_id: &str,
    ) -> Result<(), PlayerError> {
        let room = self.room.as_mut().ok_or(PlayerError::NotLoggedIn)?;
        ids::StreamId::new(stream_id).map_err(|_| PlayerError::InvalidStreamId)?;
        if room.players.contains_key(stream_id) {
            return Err(PlayerError::AlreadyPlaying);
        }
        room.players.insert(stream_id.to_owned(), Player::new());
        self.out.player(
            stream_id,
            PlayerState::PlayRequesting,
            ErrorCode::Success,
            NO_DATA.into(),
        );
        self.out.media(MediaCommand::StartPlaying {
            stream_id: stream_id.to_owned(),
        });
        room.request_play(stream_id, &mut self.ctx, &mut self.out);
        Ok(())
    }

    /// Stops playing `stream_id`: `NoPlay(0)` at once.
    pub(crate) fn stop_playing(
        &mut self,
        _now: Instant,
        stream_id: &str,
    ) -> Result<(), PlayerError> {
        let room = self.room.as_mut().ok_or(PlayerError::NotLoggedIn)?;
        if room.players.remove(stream_id).is_none() {
            return Err(PlayerError::NotPlaying);
        }
        room.requests.retain(|_, r| {
            !matches!(r, Request::Play { stream_id: s, .. } | Request::PlayLayer { stream_id: s, .. }
                if s == stream_id)
        });
        self.out.player(
            stream_id,
            PlayerState::NoPlay,
            ErrorCode::Success,
            NO_DATA.into(),
        );
        self.out.media(MediaCommand::StopPlaying {
            stream_id: stream_id.to_owned(),
        });
        let request_id = self.ctx.new_request();
        room.requests.insert(
            request_id,
            Request::StopPlay {
                stream_id: stream_id.to_owned(),
                sent_on: None,
            },
        );
        room.flush_requests(&mut self.out);
        Ok(())
    }
}

impl Session {
    /// Caps the simulcast layer the SFU sends for `stream_id`, now and on
    /// every later (re)play. A `PlayStream` not yet sent on the live link
    /// carries the new cap; otherwise it is sent as `PlayVideoLayer`.
    pub(crate) fn set_play_video_layer(
        &mut self,
        _now: Instant,
        stream_id: &str,
        max_layer: VideoLayer,
    ) -> Result<(), PlayerError> {
        let room = self.room.as_mut().ok_or(PlayerError::NotLoggedIn)?;
        let player = room
            .players
            .get_mut(stream_id)
            .ok_or(PlayerError::NotPlaying)?;
        if player.max_layer == max_layer {
            return Ok(());
        }
        player.max_layer = max_layer;
        let live = match room.link {
            super::Link::Live { conn } => Some(conn),
            _ => None,
        };
        let mut play_carries_it = false;
        room.requests.retain(|_, r| match r {
            Request::Play {
                stream_id: s,
                max_layer: m,
                sent_on,
            } if s == stream_id => {
                *m = max_layer;
                play_carries_it = live.is_none() || *sent_on != live;
                true
            }
            // Superseded.
            Request::PlayLayer { stream_id: s, .. } => s != stream_id,
            _ => true,
        });
        if !play_carries_it {
            let request_id = self.ctx.new_request();
            room.requests.insert(
                request_id,
                Request::PlayLayer {
                    stream_id: stream_id.to_owned(),
                    max_layer,
                    sent_on: None,
                },
            );
            room.flush_requests(&mut self.out);
        }
        Ok(())
    }
}

impl Room {
    /// Queues a `PlayStream` request for `stream_id`, with its player's cap.
    pub(super) fn request_play(&mut self, stream_id: &str, ctx: &mut Ctx, out: &mut Outbox) {
        let request_id = ctx.new_request();
        let max_layer = self
            .players
            .get(stream_id)
            .map_or(VideoLayer::High, |p| p.max_layer);
        self.requests.insert(
            request_id,
            Request::Play {
                stream_id: stream_id.to_owned(),
                max_layer,
                sent_on: None,
            },
        );
        self.flush_requests(out);
    }

    /// A new server session: closes each player's peer connection and asks
    /// to play again.
    pub(super) fn replay(&mut self, ctx: &mut Ctx, out: &mut Outbox) {
        let played: Vec<String> = self.players.keys().cloned().collect();
        for stream_id in played {
            if let Some(player) = self.players.get_mut(&stream_id) {
                // Live again when the new server session says so.
                player.live = false;
                close_link(&mut player.media, &stream_id, MediaRole::Play, out);
            }
            self.request_play(&stream_id, ctx, out);
        }
    }

    /// The same server session again: a player whose peer connection held
    /// is playing again; one negotiating a live stream starts over.
    pub(super) fn resume_players(&mut self, now: Instant, out: &mut Outbox) {
        for (stream_id, player) in self.players.iter_mut() {
            match player.media {
                MediaLink::Connected => {
                    player.state = PlayerState::Playing;
                    out.player(stream_id, player.state, ErrorCode::Success, NO_DATA.into());
                }
                MediaLink::Negotiating { .. } if player.live => {
                    player.media = negotiate(now, stream_id, MediaRole::Play, out);
                }
                _ => {}
            }
        }
    }
}
