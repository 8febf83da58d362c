//! Players: asking the server to play a stream (`PlayStream`), again after
//! a relogin; the media of a played stream starts when the server says it is
//! live (`media_links.rs`).

use super::media_links::{close_link, negotiate, MediaLink};
use super::outbox::{Outbox, NO_DATA};
use super::requests::Request;
use super::{Ctx, Room, Session};
use crate::error::PlayerError;
use crate::event::PlayerState;
use crate::room::media::MediaCommand;
use protocol::{ids, ErrorCode, MediaRole};
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
}

impl Player {
    /// A player whose request is on its way.
    pub(super) fn new() -> Self {
        Player {
            state: PlayerState::PlayRequesting,
            live: false,
            media: MediaLink::Idle,
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
        room.requests
            .retain(|_, r| !matches!(r, Request::Play { stream_id: s, .. } if s == stream_id));
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

impl Room {
    /// Queues a `PlayStream` request for `stream_id`.
    pub(super) fn request_play(&mut self, stream_id: &str, ctx: &mut Ctx, out: &mut Outbox) {
        let request_id = ctx.new_request();
        self.requests.insert(
            request_id,
            Request::Play {
                stream_id: stream_id.to_owned(),
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
