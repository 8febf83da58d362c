//! The interface between the signaling session and the media side: what the
//! session asks the media side to do ([`MediaCommand`]) and what the media
//! side reports back ([`MediaFact`]).
//!
//! The session decides *when* a stream negotiates, connects, retries or
//! stops (`session/media_links.rs`, sans-IO and tested with a fake clock);
//! the media side (capture, codecs, peer connections, `crate::media`) does
//! it and reports facts, which the driver feeds back to the session.

use super::PublishChannel;
use protocol::{IceCandidate, MediaRole};

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
    /// The SFU's dynacast: encode and send only these simulcast layers of
    /// the stream (the lowest is always sent).
    VideoLayers {
        stream_id: String,
        active: Vec<protocol::VideoLayer>,
    },
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
