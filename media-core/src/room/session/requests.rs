//! Requests and their timeouts: every request that waits for an answer
//! lives in `Room::requests` under its id until the server acknowledges or
//! refuses it (or, for a broadcast, until [`REQUEST_TIMEOUT`]). Requests
//! are (re)sent when a link is live; a new server session keeps only the
//! broadcasts.

use super::outbox::{details, Outbox};
use super::{ConnId, Ctx, Link, Output, Room, Session};
use crate::error::RoomError;
use crate::event::PlayerState;
use crate::room::media::MediaCommand;
use crate::room::PublishChannel;
use protocol::{limits, AckBody, ClientMessage, ErrorCode, MediaRole, VideoLayer};
use std::time::{Duration, Instant};

/// How long a request (broadcast) waits for its answer.
pub(super) const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A request waiting for its answer, by request id in `Room::requests`.
#[derive(Debug)]
pub(super) enum Request {
    /// A `PublishStream`, sent by its publisher (`Room::announce`).
    Publish { channel: PublishChannel },
    /// A `StopPublishing`.
    Stop {
        stream_id: String,
        sent_on: Option<ConnId>,
    },
    /// A `RenewToken`.
    Renew {
        token: String,
        sent_on: Option<ConnId>,
    },
    /// A `SendBroadcast`, failed with a timeout at `deadline`.
    Broadcast {
        text: String,
        deadline: Instant,
        sent_on: Option<ConnId>,
    },
    /// A `PlayStream`, with the player's layer cap (kept current: a
    /// resend asks with the cap in force then).
    Play {
        stream_id: String,
        max_layer: VideoLayer,
        sent_on: Option<ConnId>,
    },
    /// A `PlayVideoLayer` (a new cap for a stream already asked for).
    PlayLayer {
        stream_id: String,
        max_layer: VideoLayer,
        sent_on: Option<ConnId>,
    },
    /// A `StopPlaying`.
    StopPlay {
        stream_id: String,
        sent_on: Option<ConnId>,
    },
    /// An `SdpOffer` (sent directly when the media side reports it; never resent).
    Offer { stream_id: String, role: MediaRole },
    /// A `StreamState` (sent directly; after a resume an unanswered one is
    /// replaced by the current state).
    StreamState { channel: PublishChannel },
}

impl Request {
    /// The message to (re)send for this request on `conn`, marking it sent;
    /// `None` if it needs no sending there. Publishes are announced by their
    /// publisher; a broadcast goes out at most once (a resend could deliver
    /// it twice); stop and renew are idempotent and resent on a new link.
    fn send_on(&mut self, conn: ConnId, request_id: u32) -> Option<ClientMessage> {
        match self {
            Request::Publish { .. } | Request::Offer { .. } | Request::StreamState { .. } => None,
            Request::Broadcast { text, sent_on, .. } => mark_sent(sent_on, conn, Resend::Never)
                .then(|| ClientMessage::SendBroadcast {
                    request_id,
                    text: text.clone(),
                }),
            Request::Stop { stream_id, sent_on } => mark_sent(sent_on, conn, Resend::OnNewLink)
                .then(|| ClientMessage::StopPublishing {
                    request_id,
                    stream_id: stream_id.clone(),
                }),
            Request::Renew { token, sent_on } => {
                mark_sent(sent_on, conn, Resend::OnNewLink).then(|| ClientMessage::RenewToken {
                    request_id,
                    token: token.clone(),
                })
            }
            Request::Play {
                stream_id,
                max_layer,
                sent_on,
            } => mark_sent(sent_on, conn, Resend::OnNewLink).then(|| ClientMessage::PlayStream {
                request_id,
                stream_id: stream_id.clone(),
                max_layer: *max_layer,
            }),
            Request::PlayLayer {
                stream_id,
                max_layer,
                sent_on,
            } => {
                mark_sent(sent_on, conn, Resend::OnNewLink).then(|| ClientMessage::PlayVideoLayer {
                    request_id,
                    stream_id: stream_id.clone(),
                    max_layer: *max_layer,
                })
            }
            Request::StopPlay { stream_id, sent_on } => mark_sent(sent_on, conn, Resend::OnNewLink)
                .then(|| ClientMessage::StopPlaying {
                    request_id,
                    stream_id: stream_id.clone(),
                }),
        }
    }
}

impl Session {
    /// Queues a broadcast message; returns the request id its
    /// [`Output::BroadcastDone`] will carry.
    pub(crate) fn send_broadcast(&mut self, now: Instant, text: &str) -> Result<u32, RoomError> {
        let Some(room) = self.room.as_mut() else {
            return Err(RoomError::NotLoggedIn);
        };
        if text.is_empty() {
            return Err(RoomError::BroadcastEmpty);
        }
        if text.len() > limits::MAX_BROADCAST_BYTES {
            return Err(RoomError::BroadcastTooLong);
        }
        let request_id = self.ctx.new_request();
        room.requests.insert(
            request_id,
            Request::Broadcast {
                text: text.to_owned(),
                deadline: now + REQUEST_TIMEOUT,
                sent_on: None,
            },
        );
        room.flush_requests(&mut self.out);
        Ok(request_id)
    }
}

impl Room {
    /// Sends queued requests not yet sent on the live connection. Broadcasts
    /// are sent at most once (a resend could deliver twice).
    pub(super) fn flush_requests(&mut self, out: &mut Outbox) {
        let Link::Live { conn } = self.link else {
            return;
        };
        for (&request_id, req) in self.requests.iter_mut() {
            if let Some(msg) = req.send_on(conn, request_id) {
                out.send(conn, msg);
            }
        }
    }

    /// The server acknowledged request `request_id`.
    pub(super) fn on_ack(
        &mut self,
        now: Instant,
        request_id: u32,
        body: AckBody,
        ctx: &mut Ctx,
        out: &mut Outbox,
    ) {
        let Some(req) = self.requests.remove(&request_id) else {
            tracing::debug!(request_id, "ack for an unknown or finished request");
            return;
        };
        match (req, body) {
            (Request::Publish { channel }, AckBody::StreamPublished { .. }) => {
                self.on_published(now, channel, request_id, ctx, out);
            }
            (Request::StreamState { .. }, AckBody::StreamStateUpdated { .. }) => {}
            (Request::Play { .. }, AckBody::PlayAccepted { .. }) => {}
            (Request::PlayLayer { .. }, AckBody::PlayVideoLayerSet { .. }) => {}
            (Request::StopPlay { .. }, AckBody::PlayStopped { .. }) => {}
            (Request::Broadcast { .. }, AckBody::BroadcastSent { message_id }) => {
                out.push(Output::BroadcastDone {
                    request: request_id,
                    result: Ok(message_id),
                });
            }
            (
                Request::Renew { .. },
                AckBody::TokenRenewed {
                    expires_in_ms,
                    publish,
                    ice_servers,
                },
            ) => self.on_token_renewed(now, expires_in_ms, publish, ice_servers, out),
            (Request::Stop { .. }, AckBody::StreamStopped { .. }) => {}
            (req, body) => {
                out.debug(
                    ErrorCode::WrongState,
                    "on_ack",
                    format!("ack {body:?} does not match request {req:?}"),
                );
            }
        }
    }

    /// The server refused request `request_id`.
    pub(super) fn on_request_error(
        &mut self,
        now: Instant,
        request_id: u32,
        code: ErrorCode,
        message: String,
        out: &mut Outbox,
    ) {
        let Some(req) = self.requests.remove(&request_id) else {
            out.debug(code, "server", message);
            return;
        };
        match req {
            Request::Publish { channel } => {
                // Refused for good: nothing re-announces it after a reconnect.
                let ours = self.publishers[channel.index()]
                    .as_ref()
                    .is_some_and(|p| p.request == Some(request_id));
                if ours {
                    self.drop_publisher(channel, code, details(&message), out);
                }
            }
            Request::Broadcast { .. } => out.push(Output::BroadcastDone {
                request: request_id,
                result: Err(RoomError::Rejected(code)),
            }),
            Request::Renew { .. } => out.debug(code, "renew_token", message),
            Request::Stop { .. } => out.debug(code, "stop_publishing_stream", message),
            Request::StreamState { .. } => out.debug(code, "stream_state", message),
            Request::StopPlay { .. } => out.debug(code, "stop_playing_stream", message),
            Request::PlayLayer { .. } => out.debug(code, "set_play_stream_video_layer", message),
            Request::Play { stream_id, .. } => {
                if self.players.remove(&stream_id).is_some() {
                    out.player(&stream_id, PlayerState::NoPlay, code, details(&message));
                    out.media(MediaCommand::StopPlaying { stream_id });
                }
            }
            Request::Offer { stream_id, role } => {
                self.on_media_failed(now, &stream_id, role, code, &message, out);
            }
        }
    }

    /// After a resume: forgets the requests whose answers were lost with the
    /// old connection (offers restart; a `StreamState` is sent again).
    /// Returns, per channel, whether a `StreamState` was unanswered.
    pub(super) fn forget_lost_answers(&mut self) -> [bool; 2] {
        let mut unanswered = [false; 2];
        self.requests.retain(|_, r| match r {
            Request::Offer { .. } => false,
            Request::StreamState { channel } => {
                unanswered[channel.index()] = true;
                false
            }
            _ => true,
        });
        unanswered
    }

    /// Fails the broadcasts whose answer did not come in time.
    pub(super) fn expire_broadcasts(&mut self, now: Instant, out: &mut Outbox) {
        let expired: Vec<u32> = self
            .requests
            .iter()
            .filter(|(_, r)| matches!(r, Request::Broadcast { deadline, .. } if now >= *deadline))
            .map(|(&id, _)| id)
            .collect();
        for request in expired {
            self.requests.remove(&request);
            out.push(Output::BroadcastDone {
                request,
                result: Err(RoomError::RequestTimeout),
            });
        }
    }

    /// When the broadcasts waiting for an answer time out.
    pub(super) fn broadcast_deadlines(&self) -> impl Iterator<Item = Instant> + '_ {
        self.requests.values().filter_map(|r| match r {
            Request::Broadcast { deadline, .. } => Some(*deadline),
            _ => None,
        })
    }
}

/// Whether a request already sent is sent again on a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resend {
    /// At most once in all (a resend could take effect twice).
    Never,
    /// Once per connection (idempotent).
    OnNewLink,
}

/// Whether a request last sent on `sent_on` goes out on `conn`; if so,
/// records it as sent there.
fn mark_sent(sent_on: &mut Option<ConnId>, conn: ConnId, resend: Resend) -> bool {
    let due = match *sent_on {
        None => true,
        Some(last) => resend == Resend::OnNewLink && last != conn,
    };
    if due {
        *sent_on = Some(conn);
    }
    due
}
