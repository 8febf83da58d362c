//! Codecs: H.264 (openh264) and Opus, with the video config presets.
//!
//! - [`video_config`]: [`VideoConfig`](video_config::VideoConfig) and the
//!   180p..1080p [`VideoPreset`](video_config::VideoPreset)s, per scenario.
//! - [`h264`]: a real-time constrained-baseline encoder (no B-frames, one
//!   slice, rate control to the target bitrate, periodic and on-demand
//!   keyframes, bitrate changes on the fly) and a decoder; both speak Annex-B
//!   access units.
//! - [`opus`]: 48 kHz, 20 ms Opus with in-band FEC, optional DTX and
//!   packet-loss concealment.
//! - [`red`]: RED (RFC 2198) for Opus, with as many redundant frames as the
//!   measured loss calls for.
//!
//! ```
//! use media_core::capture::test_pattern::TestPattern;
//! use media_core::codec::h264::{H264Decoder, H264Encoder};
//! use media_core::codec::video_config::{VideoConfig, VideoPreset};
//!
//! let config = VideoConfig::from(VideoPreset::P180);
//! let mut encoder = H264Encoder::new(&config)?;
//! let mut decoder = H264Decoder::new()?;
//! let frame = TestPattern::new(config.width, config.height).frame(0, 0);
//! let encoded = encoder.encode(&frame, false)?.expect("the first frame is never skipped");
//! assert!(encoded.keyframe);
//! let decoded = decoder.decode(&encoded.data)?.expect("one access unit, one picture");
//! assert_eq!((decoded.width, decoded.height), (320, 180));
//! # Ok::<(), media_core::codec::CodecError>(())
//! ```

pub mod content;
pub mod h264;
pub mod opus;
pub mod red;
pub(crate) mod red_level;
pub mod video_config;

use crate::frame::FrameError;
use protocol::ErrorCode;

/// Errors from configuring, encoding or decoding media. The codec
/// libraries' own errors are kept as the source.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// A video config out of range (see [`video_config::VideoConfig::validate`]).
    #[error("invalid video config: {0}")]
    InvalidVideoConfig(String),
    /// An input frame that does not match its format.
    #[error(transparent)]
    InvalidFrame(#[from] FrameError),
    /// The codec library rejected its configuration or failed to encode.
    #[error("encoder failed: {0}")]
    Encoder(String),
    /// The data could not be decoded (corrupt or not this codec).
    #[error("decoding failed: {0}")]
    Decoder(String),
    /// libopus refused its configuration or failed to encode.
    #[error("encoder failed: opus: {0}")]
    OpusEncoder(#[source] ::opus::Error),
    /// libopus could not decode a packet (or start a decoder).
    #[error("decoding failed: opus: {0}")]
    OpusDecoder(#[source] ::opus::Error),
    /// openh264 could not create an encoder for the config.
    #[error("encoder failed: cannot create encoder: {0}")]
    H264EncoderCreation(#[source] openh264::Error),
    /// openh264 failed to encode a frame.
    #[error("encoder failed: {0}")]
    H264Encoder(#[source] openh264::Error),
    /// openh264 could not create a decoder.
    #[error("decoding failed: cannot create decoder: {0}")]
    H264DecoderCreation(#[source] openh264::Error),
    /// openh264 could not decode an access unit.
    #[error("decoding failed: {0}")]
    H264Decoder(#[source] openh264::Error),
}

impl CodecError {
    /// The error code of this error. Codec-internal failures have no code
    /// of their own yet and map to [`ErrorCode::Internal`]; undecodable
    /// input maps to [`ErrorCode::InvalidFrame`].
    pub fn code(&self) -> ErrorCode {
        match self {
            CodecError::InvalidVideoConfig(_) => ErrorCode::InvalidVideoConfig,
            CodecError::InvalidFrame(e) => e.code(),
            CodecError::Encoder(_)
            | CodecError::OpusEncoder(_)
            | CodecError::H264EncoderCreation(_)
            | CodecError::H264Encoder(_) => ErrorCode::Internal,
            CodecError::Decoder(_)
            | CodecError::OpusDecoder(_)
            | CodecError::H264DecoderCreation(_)
            | CodecError::H264Decoder(_) => ErrorCode::InvalidFrame,
        }
    }
}
