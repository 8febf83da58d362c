//! The media half of the signaling session: what the session asks the media
//! side to do ([`MediaCommand`]), what the media side reports back
//! ([`MediaFact`]), and the per-stream negotiation state the session keeps.
//!
//! The session decides *when* a stream negotiates, connects, retries or
//! stops; the media side (capture, codecs, peer connections) does it and
//! reports facts. Keeping the decisions here keeps them sans-IO and testable
//! with a fake clock.

use super::PublishChannel;
use crate::event::PlayerState;
use protocol::{IceCandidate, MediaRole};
use std::time::{Duration, Instant};

/// How long to wait before renegotiating a failed media connection.
pub(crate) const MEDIA_RETRY: Duration = Duration::from_secs(1);
/// How long an offer may wait for its answer and the connection to come up.
pub(crate) const NEGOTIATION_TIMEOUT: Duration = Duration::from_secs(15);

/// What the session asks the media side to do.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum MediaCommand {
    /// Start the capture + encode pipeline of a channel (runs until
    /// `StopPublishing`, across reconnects).
    StartPublishing {
        channel: PublishChannel,
        stream_id: String,
    },
    /// Stop a channel's pipeline and its peer connection.
    StopPublishing { channel: PublishChannel },
    /// Start the decode + render pipeline of a played stream.
    StartPlaying { stream_id: String },
    /// Stop a played stream's pipeline and its peer connection.
    StopPlaying { stream_id: String },
    /// (Re)create the stream's peer connection and report its offer.
    Negotiate { stream_id: String, role: MediaRole },
    /// The SFU's answer to the offer.
    Answer {
        stream_id: String,
        role: MediaRole,
        sdp: String,
    },
    /// A candidate from the SFU.
    RemoteCandidate {
        stream_id: String,
        role: MediaRole,
        candidate: IceCandidate,
    },
    /// Close the stream's peer connection, keeping its pipeline.
    CloseTransport { stream_id: String, role: MediaRole },
    /// The STUN/TURN servers the room server handed out at login, for the
    /// peer connections made from now on.
    IceServers(Vec<protocol::IceServer>),
}

/// What the media side reports about a stream.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum MediaFact {
    /// The new peer connection's offer.
    Offer(String),
    /// A local ICE candidate to trickle.
    Candidate(IceCandidate),
    /// The peer connection is connected (ICE + DTLS).
    Connected,
    /// The peer connection failed or closed unexpectedly.
    Failed(String),
}

/// Where a stream's peer connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MediaLink {
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
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match *self {
            MediaLink::Negotiating { deadline } => Some(deadline),
            MediaLink::Retry { at } => Some(at),
            MediaLink::Idle | MediaLink::Connected => None,
        }
    }
}

/// A stream the local user plays.
#[derive(Debug)]
pub(crate) struct Player {
    pub(crate) state: PlayerState,
    /// The server registered the play request in this server session.
    pub(crate) accepted: bool,
    /// The server said the stream is live (`StreamReady` without a later `StreamEnded`).
    pub(crate) live: bool,
    pub(crate) media: MediaLink,
}

impl Player {
    pub(crate) fn new() -> Self {
        Player {
            state: PlayerState::PlayRequesting,
            accepted: false,
            live: false,
            media: MediaLink::Idle,
        }
    }
}
