//! Media links: each published or played stream's peer connection to the
//! SFU ([`MediaLink`]) and the media decisions: playing negotiates once the
//! server says the stream is live and stops when it ends; a link that fails
//! is retried after [`MEDIA_RETRY`], one that hangs gives up after
//! [`NEGOTIATION_TIMEOUT`]; offers and candidates go to the server only on a
//! live link. Where a signaling step starts or drops a link (a publish the
//! server confirmed, a relogin, a resume) it calls [`negotiate`] or
//! [`close_link`] from here. The session asks the media side with
//! [`MediaCommand`]s and hears back [`MediaFact`]s (`room/media.rs`).

use super::outbox::{details, Outbox, NO_DATA};
use super::requests::Request;
use super::{Ctx, Link, Publisher, Room};
use crate::event::{PlayerState, PublisherState};
use crate::room::media::{MediaCommand, MediaFact};
use protocol::{ClientMessage, ErrorCode, MediaRole};
use std::time::{Duration, Instant};

/// How long to wait before renegotiating a failed media connection.
pub(super) const MEDIA_RETRY: Duration = Duration::from_secs(1);
/// How long an offer may wait for its answer and the connection to come up.
pub(super) const NEGOTIATION_TIMEOUT: Duration = Duration::from_secs(15);

/// Where a stream's peer connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MediaLink {
    /// No peer connection.
    Idle,
    /// Offer requested or sent; waiting for the answer and the connection.
    Negotiating { deadline: Instant },
    /// Connected.
    Connected,
    /// Failed; renegotiate at `at`.
    Retry { at: Instant },
}

impl MediaLink {
    /// When this link needs a timer.
    pub(super) fn deadline(&self) -> Option<Instant> {
        match *self {
            MediaLink::Negotiating { deadline } => Some(deadline),
            MediaLink::Retry { at } => Some(at),
            MediaLink::Idle | MediaLink::Connected => None,
        }
    }
}

/// Asks the media side for a (new) peer connection; returns the link state.
pub(super) fn negotiate(
    now: Instant,
    stream_id: &str,
    role: MediaRole,
    out: &mut Outbox,
) -> MediaLink {
    out.media(MediaCommand::Negotiate {
        stream_id: stream_id.to_owned(),
        role,
    });
    MediaLink::Negotiating {
        deadline: now + NEGOTIATION_TIMEOUT,
    }
}

/// Closes the stream's peer connection, if it has one (the pipeline keeps
/// running).
pub(super) fn close_link(link: &mut MediaLink, stream_id: &str, role: MediaRole, out: &mut Outbox) {
    if *link != MediaLink::Idle {
        *link = MediaLink::Idle;
        out.media(MediaCommand::CloseTransport {
            stream_id: stream_id.to_owned(),
            role,
        });
    }
}

impl Room {
    /// The SFU's answer to an offer this session still waits for.
    pub(super) fn on_answer(
        &mut self,
        request_id: u32,
        stream_id: String,
        role: MediaRole,
        sdp: String,
        out: &mut Outbox,
    ) {
        if self.requests.remove(&request_id).is_some() {
            out.media(MediaCommand::Answer {
                stream_id,
                role,
                sdp,
            });
        }
    }

    /// A played stream is live: negotiate its peer connection.
    pub(super) fn on_stream_ready(&mut self, now: Instant, stream_id: &str, out: &mut Outbox) {
        let Some(player) = self.players.get_mut(stream_id) else {
            return;
        };
        player.live = true;
        if player.media != MediaLink::Connected {
            player.media = negotiate(now, stream_id, MediaRole::Play, out);
        }
    }

    /// A played stream ended: close its peer connection and wait for it to
    /// be live again.
    pub(super) fn on_stream_ended(&mut self, stream_id: &str, out: &mut Outbox) {
        let Some(player) = self.players.get_mut(stream_id) else {
            return;
        };
        player.live = false;
        close_link(&mut player.media, stream_id, MediaRole::Play, out);
        player.state = PlayerState::PlayRequesting;
        out.player(
            stream_id,
            player.state,
            ErrorCode::StreamEnded,
            NO_DATA.into(),
        );
    }

    /// What the media side reports about a stream's peer connection.
    pub(super) fn on_media(
        &mut self,
        now: Instant,
        stream_id: &str,
        role: MediaRole,
        fact: MediaFact,
        ctx: &mut Ctx,
        out: &mut Outbox,
    ) {
        let live_conn = match self.link {
            Link::Live { conn } => Some(conn),
            _ => None,
        };
        match fact {
            MediaFact::Offer(sdp) => {
                if self.media_link(stream_id, role).is_none() {
                    return;
                }
                let Some(conn) = live_conn else {
                    // Renegotiated after the signaling comes back (on_resumed).
                    return;
                };
                let request_id = ctx.new_request();
                self.requests.insert(
                    request_id,
                    Request::Offer {
                        stream_id: stream_id.to_owned(),
                        role,
                    },
                );
                out.send(
                    conn,
                    ClientMessage::SdpOffer {
                        request_id,
                        stream_id: stream_id.to_owned(),
                        role,
                        sdp,
                    },
                );
            }
            MediaFact::Candidate(candidate) => {
                if let (Some(conn), Some(_)) = (live_conn, self.media_link(stream_id, role)) {
                    out.send(
                        conn,
                        ClientMessage::TrickleIce {
                            stream_id: stream_id.to_owned(),
                            role,
                            candidate,
                        },
                    );
                }
            }
            MediaFact::Connected => {
                self.on_media_connected(stream_id, role, live_conn.is_some(), out)
            }
            MediaFact::Failed(why) => {
                let code = match role {
                    MediaRole::Publish => ErrorCode::PublishTransportFailed,
                    MediaRole::Play => ErrorCode::PlayTransportFailed,
                };
                self.on_media_failed(now, stream_id, role, code, &why, out);
            }
        }
    }

    /// The publisher of `stream_id`, on either channel.
    fn publisher_mut(&mut self, stream_id: &str) -> Option<&mut Publisher> {
        self.publishers
            .iter_mut()
            .flatten()
            .find(|p| p.stream_id == stream_id)
    }

    /// The media link of a stream this session publishes or plays.
    fn media_link(&mut self, stream_id: &str, role: MediaRole) -> Option<&mut MediaLink> {
        match role {
            MediaRole::Publish => self.publisher_mut(stream_id).map(|p| &mut p.media),
            MediaRole::Play => self.players.get_mut(stream_id).map(|p| &mut p.media),
        }
    }

    /// A stream's peer connection is up: publishing or playing, once the
    /// signaling is up too (and, for a publisher, the stream confirmed).
    fn on_media_connected(
        &mut self,
        stream_id: &str,
        role: MediaRole,
        signaling_up: bool,
        out: &mut Outbox,
    ) {
        match role {
            MediaRole::Publish => {
                let Some(p) = self.publisher_mut(stream_id) else {
                    return;
                };
                p.media = MediaLink::Connected;
                if p.acked && signaling_up && p.state != PublisherState::Publishing {
                    p.state = PublisherState::Publishing;
                    out.publisher(stream_id, p.state, ErrorCode::Success, NO_DATA.into());
                }
            }
            MediaRole::Play => {
                let Some(player) = self.players.get_mut(stream_id) else {
                    return;
                };
                player.media = MediaLink::Connected;
                if signaling_up && player.state != PlayerState::Playing {
                    player.state = PlayerState::Playing;
                    out.player(stream_id, player.state, ErrorCode::Success, NO_DATA.into());
                }
            }
        }
    }

    /// A stream's peer connection failed (or its offer was refused): report
    /// it and renegotiate after [`MEDIA_RETRY`] if there is still something to
    /// connect to.
    pub(super) fn on_media_failed(
        &mut self,
        now: Instant,
        stream_id: &str,
        role: MediaRole,
        code: ErrorCode,
        why: &str,
        out: &mut Outbox,
    ) {
        tracing::info!(stream_id, ?role, %code, why, "media connection failed");
        match role {
            MediaRole::Publish => {
                let Some(p) = self.publisher_mut(stream_id) else {
                    return;
                };
                p.media = MediaLink::Retry {
                    at: now + MEDIA_RETRY,
                };
                p.state = PublisherState::PublishRequesting;
                out.publisher(stream_id, p.state, code, details(why));
            }
            MediaRole::Play => {
                let Some(player) = self.players.get_mut(stream_id) else {
                    return;
                };
                // A stream that is not live waits for StreamReady instead.
                player.media = if player.live && code != ErrorCode::StreamNotLive {
                    MediaLink::Retry {
                        at: now + MEDIA_RETRY,
                    }
                } else {
                    MediaLink::Idle
                };
                player.state = PlayerState::PlayRequesting;
                out.player(stream_id, player.state, code, details(why));
            }
        }
        out.media(MediaCommand::CloseTransport {
            stream_id: stream_id.to_owned(),
            role,
        });
    }

    /// Retries failed media links and gives up on negotiations that hang.
    pub(super) fn on_media_timers(&mut self, now: Instant, out: &mut Outbox) {
        if !matches!(self.link, Link::Live { .. }) {
            return;
        }
        let mut due: Vec<(String, MediaRole, bool)> = Vec::new();
        for p in self.publishers.iter().flatten() {
            match p.media {
                MediaLink::Retry { at } if now >= at => {
                    due.push((p.stream_id.clone(), MediaRole::Publish, true))
                }
                MediaLink::Negotiating { deadline } if now >= deadline => {
                    due.push((p.stream_id.clone(), MediaRole::Publish, false))
                }
                _ => {}
            }
        }
        for (stream_id, player) in &self.players {
            match player.media {
                MediaLink::Retry { at } if now >= at => {
                    due.push((stream_id.clone(), MediaRole::Play, true))
                }
                MediaLink::Negotiating { deadline } if now >= deadline => {
                    due.push((stream_id.clone(), MediaRole::Play, false))
                }
                _ => {}
            }
        }
        for (stream_id, role, retry) in due {
            if retry {
                let link = negotiate(now, &stream_id, role, out);
                if let Some(l) = self.media_link(&stream_id, role) {
                    *l = link;
                }
            } else {
                let code = match role {
                    MediaRole::Publish => ErrorCode::PublishTransportFailed,
                    MediaRole::Play => ErrorCode::PlayTransportFailed,
                };
                self.on_media_failed(now, &stream_id, role, code, "negotiation timed out", out);
            }
        }
    }

    /// When the media links next need [`Room::on_media_timers`].
    pub(super) fn media_deadlines(&self) -> impl Iterator<Item = Instant> + '_ {
        self.publishers
            .iter()
            .flatten()
            .filter_map(|p| p.media.deadline())
            .chain(self.players.values().filter_map(|p| p.media.deadline()))
    }
}
