//! WebRTC transport to the SFU (webrtc-rs): one peer connection per published
//! or played stream.
//!
//! - [`PublishTransport`]: a sendonly connection with an H.264 video track
//!   (one encoding, or one per simulcast layer: `video_out.rs`; its packets
//!   paced: `pacer.rs`) and an Opus audio track. Write Annex-B access units
//!   and Opus packets; get
//!   [`PublishEvent`]s (connection state, keyframe requests from the SFU,
//!   bandwidth estimates from GCC over TWCC or REMB) and [`PublishStats`].
//! - [`PlayTransport`]: a recvonly connection that reassembles H.264 access
//!   units behind a small jitter buffer (NACK retransmissions get a bounded
//!   wait; an unrecoverable gap requests a keyframe) and passes Opus packets
//!   through, each stamped with the sender's wall clock from its RTCP sender
//!   reports (A/V sync, end-to-end delay).
//!
//! Signaling is the caller's: each transport emits [`Signal`]s (the offer,
//! then trickled candidates, an empty one last) to send as `SdpOffer` /
//! `TrickleIce`, and takes the answer and the SFU's candidates back
//! ([`PublishTransport::accept_answer`], [`PublishTransport::add_remote_candidate`]).
//! Remote candidates that arrive before the answer are held for it, and an
//! answer without candidates waits for the first: applied with them, ICE
//! starts checking with something to check.
//!
//! Both transports use the same peer-connection setup as the SFU: H.264
//! (packetization-mode 1, profile-level-id 42e01f) and Opus
//! (minptime=10;useinbandfec=1); NACK generator (at most 10 NACKs per packet)
//! and responder, sender/receiver reports, TWCC with a GCC estimator; host
//! candidates on [`TransportConfig::bind_ip`], no mDNS. `close().await` frees
//! the connection and every task.

mod dispersion;
mod jitter;
mod pacer;
mod path;
mod peer;
mod play;
mod probe_fill;
mod publish;
mod rate_control;
mod rtcp_tap;
mod timeline;
pub(crate) mod turn_stream;
mod video_out;

pub use path::{CandidateKind, MediaPath, PathProtocol};
pub use play::{AudioPacket, EncodedVideoFrame, PlayEvent, PlayStats, PlayTransport};
pub use protocol::IceCandidate;
pub use publish::{PublishEvent, PublishStats, PublishTransport};
pub use timeline::PLAY_TIMELINE_TARGET;

use protocol::ErrorCode;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;
use tokio::sync::mpsc;

/// How a transport's peer connection is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportConfig {
    /// IP the UDP socket binds (0.0.0.0: every non-loopback interface;
    /// 127.0.0.1 for loopback tests).
    pub bind_ip: IpAddr,
    /// How long a played video frame waits for a missing packet (NACK
    /// retransmission) before it is given up as incomplete.
    pub jitter_max_wait: Duration,
    /// Pace video packets at 2.5x the encoders' target (a keyframe does not
    /// burst into a small drop-tail queue); off writes each frame's packets
    /// at once. On by default.
    pub pace_video: bool,
    /// Bandwidth estimator start, bits per second (default 2.5 Mbit/s:
    /// every simulcast layer of 720p30 from the first frame; a worse link
    /// brings GCC down within about 2 s).
    pub initial_bitrate_bps: u64,
    /// Bandwidth estimator floor, bits per second.
    pub min_bitrate_bps: u64,
    /// Bandwidth estimator ceiling, bits per second.
    pub max_bitrate_bps: u64,
    /// Tell the SFU our ICE candidates (in the offer and trickled). Off, the
    /// SFU learns our address from our connectivity checks only (peer
    /// reflexive): use it when the path must go through a relay or NAT that
    /// our host candidates would bypass.
    pub announce_local_candidates: bool,
    /// STUN/TURN servers to gather candidates with (in 0.21: `stun:` and
    /// `turn:` over UDP). The room server's (`LoginOk`) are added to these.
    pub ice_servers: Vec<protocol::IceServer>,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            bind_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            jitter_max_wait: Duration::from_millis(250),
            pace_video: true,
            initial_bitrate_bps: 2_500_000,
            min_bitrate_bps: 100_000,
            max_bitrate_bps: 20_000_000,
            announce_local_candidates: true,
            ice_servers: Vec::new(),
        }
    }
}

/// Outgoing signaling of a transport: send `Offer` as `SdpOffer` and
/// `Candidate` as `TrickleIce` (an empty candidate ends them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// The local offer.
    Offer {
        /// SDP.
        sdp: String,
    },
    /// A local ICE candidate.
    Candidate(IceCandidate),
}

/// The receiving end of a transport's [`Signal`]s.
pub type SignalReceiver = mpsc::UnboundedReceiver<Signal>;

/// Which track of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// The Opus track.
    Audio,
    /// The H.264 track.
    Video,
}

/// The WebRTC stack's error a transport failure came from.
pub type WebrtcError = webrtc::error::Error;

/// Why a transport call failed.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum TransportError {
    /// The peer connection could not be created (socket, configuration).
    #[error("media transport setup failed: {0}")]
    Setup(#[source] WebrtcError),
    /// The offer or the answer could not be applied.
    #[error("media negotiation failed: {0}")]
    Negotiation(#[source] WebrtcError),
    /// The offer was applied but the connection has no local description.
    #[error("media negotiation failed: no local description")]
    NoLocalDescription,
    /// Media was written before the answer was applied.
    #[error("the media transport is not negotiated yet")]
    NotNegotiated,
    /// Media was written before ICE and DTLS were up (SRTP has no keys yet).
    #[error("the media transport is not connected yet")]
    NotConnected,
    /// Writing media failed.
    #[error("writing media failed: {0}")]
    Write(#[source] WebrtcError),
    /// The transport was closed.
    #[error("the media transport is closed")]
    Closed,
    /// Video was written for a simulcast layer the track does not have.
    #[error("the video track has no {0:?} layer")]
    NoSuchLayer(protocol::VideoLayer),
}

impl TransportError {
    /// The error code of this failure when publishing.
    pub fn publish_code(&self) -> ErrorCode {
        match self {
            TransportError::Negotiation(_) | TransportError::NoLocalDescription => {
                ErrorCode::PublishNegotiationFailed
            }
            _ => ErrorCode::PublishTransportFailed,
        }
    }

    /// The error code of this failure when playing.
    pub fn play_code(&self) -> ErrorCode {
        match self {
            TransportError::Negotiation(_) | TransportError::NoLocalDescription => {
                ErrorCode::PlayNegotiationFailed
            }
            _ => ErrorCode::PlayTransportFailed,
        }
    }
}
