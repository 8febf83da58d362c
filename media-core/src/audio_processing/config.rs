//! What the processing does, and how the SDK changes it during a call.

use super::reference::EchoReference;
use super::AudioProcessor;
use crate::capture::source::AudioSource;
use crate::capture::speaker::{Speaker, SpeakerStream};
use crate::frame::AudioFrame;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// How hard echo cancellation suppresses what is left of the echo after
/// its adaptive filter (ZEGO: `ZegoAECMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AecMode {
    /// Most suppression: no residual echo, more clipping of double talk.
    Aggressive,
    /// WebRTC AEC3's own tuning (the default).
    #[default]
    Medium,
    /// Least suppression: double talk stays fuller, faint echo may remain.
    Soft,
}

/// How strongly noise is suppressed (ZEGO: `ZegoANSMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AnsMode {
    /// WebRTC noise suppression, up to 6 dB, and keyboard click
    /// suppression (10 ms of latency).
    Soft,
    /// WebRTC noise suppression, up to 12 dB, and keyboard click
    /// suppression (the default).
    #[default]
    Medium,
    /// WebRTC noise suppression, up to 21 dB, and keyboard click
    /// suppression.
    Aggressive,
    /// RNNoise (a recurrent neural network, `nnnoiseless`) with a Wiener
    /// post-filter and keyboard click suppression: also removes
    /// non-stationary noise.
    Ai,
}

/// The processing settings. The default is what a call starts with: echo
/// cancellation, noise suppression and gain control on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessingConfig {
    /// Acoustic echo cancellation (`enable_aec`).
    pub aec: bool,
    /// Its suppression strength (`set_aec_mode`).
    pub aec_mode: AecMode,
    /// Echo cancellation also while the output looks like headphones
    /// (`enable_headphone_aec`; on by default, since device names are only
    /// a hint).
    pub headphone_aec: bool,
    /// Noise suppression (`enable_ans`).
    pub ans: bool,
    /// Its strength (`set_ans_mode`).
    pub ans_mode: AnsMode,
    /// Automatic gain control (`enable_agc`).
    pub agc: bool,
}

impl Default for ProcessingConfig {
    fn default() -> Self {
        ProcessingConfig {
            aec: true,
            aec_mode: AecMode::Medium,
            headphone_aec: true,
            ans: true,
            ans_mode: AnsMode::Medium,
            agc: true,
        }
    }
}

impl ProcessingConfig {
    /// Everything off: frames pass through bit-exact.
    pub fn off() -> ProcessingConfig {
        ProcessingConfig {
            aec: false,
            ans: false,
            agc: false,
            ..ProcessingConfig::default()
        }
    }

    /// True when any stage touches the signal (the high-pass filter runs
    /// with echo cancellation or noise suppression).
    pub fn any(&self) -> bool {
        self.aec || self.ans || self.agc
    }
}

/// The engine's processing settings and echo reference, shared with every
/// channel's audio loop: a setter stores a new config, each loop's
/// [`AudioProcessor`](super::AudioProcessor) picks it up on its next frame.
#[derive(Debug, Clone, Default)]
pub struct SharedProcessing {
    inner: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    config: Mutex<ProcessingConfig>,
    /// Bumped on every change, so loops compare a number per frame.
    generation: AtomicU64,
    reference: EchoReference,
    /// Where the processed capture is played back (the audio loopback).
    loopback: Mutex<Option<Arc<Speaker>>>,
}

impl SharedProcessing {
    /// The current settings.
    pub fn config(&self) -> ProcessingConfig {
        *self.inner.config.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes the settings with `change`.
    pub fn update(&self, change: impl FnOnce(&mut ProcessingConfig)) {
        let mut config = self.inner.config.lock().unwrap_or_else(|e| e.into_inner());
        change(&mut config);
        self.inner.generation.fetch_add(1, Ordering::Release);
    }

    /// The number of changes so far.
    pub fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::Acquire)
    }

    /// Plays every processed capture frame on `speaker` from the next frame
    /// on; `None` stops (the audio loopback).
    pub fn set_loopback(&self, speaker: Option<Arc<Speaker>>) {
        *self
            .inner
            .loopback
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = speaker;
        self.inner.generation.fetch_add(1, Ordering::Release);
    }

    /// True while the processed capture is played back.
    pub fn loopback_on(&self) -> bool {
        self.loopback().is_some()
    }

    fn loopback(&self) -> Option<Arc<Speaker>> {
        self.inner
            .loopback
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Where the speaker delivers what it plays.
    pub fn reference(&self) -> &EchoReference {
        &self.inner.reference
    }

    /// A processor for the audio loop of `source` when it is a microphone
    /// or the app's custom audio; `None` for a synthetic tone, which is
    /// sent as generated.
    pub fn processor_for(&self, source: &AudioSource) -> Option<LiveProcessor> {
        (source.microphone().is_some() || source.custom().is_some()).then(|| self.processor())
    }

    /// A processor for one audio loop that follows the settings.
    pub fn processor(&self) -> LiveProcessor {
        let seen = self.generation();
        LiveProcessor {
            processor: AudioProcessor::new(self.config(), self.inner.reference.tap()),
            shared: self.clone(),
            seen,
            loopback: self.loopback().as_ref().map(Speaker::stream),
        }
    }
}

/// An [`AudioProcessor`] that applies [`SharedProcessing`]'s changes before
/// the next frame it processes, and plays what it processed back while the
/// audio loopback is on.
#[derive(Debug)]
pub struct LiveProcessor {
    processor: AudioProcessor,
    shared: SharedProcessing,
    seen: u64,
    /// The loopback's input into the speaker's mix.
    loopback: Option<SpeakerStream>,
}

impl LiveProcessor {
    /// Processes one captured frame in place with the current settings
    /// (and queues it on the loopback speaker when that is on).
    pub fn process(&mut self, frame: &mut AudioFrame) {
        let generation = self.shared.generation();
        if generation != self.seen {
            self.seen = generation;
            self.processor.set_config(self.shared.config());
            let speaker = self.shared.loopback();
            let same = match (&self.loopback, &speaker) {
                (Some(stream), Some(speaker)) => Arc::ptr_eq(stream.speaker(), speaker),
                (None, None) => true,
                _ => false,
            };
            if !same {
                self.loopback = speaker.as_ref().map(Speaker::stream);
            }
        }
        self.processor.process(frame);
        if let Some(speaker) = &self.loopback {
            speaker.push(frame);
        }
    }
}
