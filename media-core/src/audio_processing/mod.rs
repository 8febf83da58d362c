//! Voice processing of the captured audio before it is encoded: high-pass
//! filter, acoustic echo cancellation (AEC3), noise suppression (WebRTC's
//! or RNNoise's, the "AI" mode; both with keyboard click suppression) and
//! automatic gain control (AGC2).
//!
//! The DSP comes from the pure-Rust `aec3` crate (a port of WebRTC's audio
//! processing module) and `nnnoiseless` (RNNoise); docs/audio-processing.md
//! says why and what they measure. What is ours is sans-IO and small:
//!
//! - [`AudioProcessor`] takes 20 ms capture frames and the played-out audio
//!   (the echo reference) and processes them in 10 ms blocks at 48 kHz mono.
//! - [`EchoReference`] carries what the speaker plays to every processor of
//!   one engine (each channel's audio loop has its own).
//! - [`ProcessingConfig`] is what the SDK's `enable_aec` / `set_ans_mode` /
//!   ... setters change; [`SharedProcessing`] hands it to running loops.
//!
//! With echo cancellation, noise suppression and gain control all off, a
//! frame comes out bit-exact as it went in.
//!
//! ```
//! use media_core::audio_processing::{AudioProcessor, EchoReference, ProcessingConfig};
//! use media_core::frame::AudioFrame;
//!
//! let reference = EchoReference::default();
//! let mut processor = AudioProcessor::new(ProcessingConfig::off(), reference.tap());
//! let mut frame = AudioFrame::silence(1, 0);
//! frame.samples[0] = 1234;
//! processor.process(&mut frame);
//! assert_eq!(frame.samples[0], 1234);
//! ```

mod config;
mod post_filter;
mod processor;
mod reference;
mod transient;

pub use config::{AecMode, AnsMode, LiveProcessor, ProcessingConfig, SharedProcessing};
pub use processor::AudioProcessor;
pub use reference::{looks_like_headphones, EchoReference, RenderTap};

/// Samples in one processing block: 10 ms at 48 kHz.
pub const BLOCK_SAMPLES: usize = 480;
