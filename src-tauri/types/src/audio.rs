//! Audio processing as the app offers it: the "Noise suppression" and
//! "Echo cancellation" choices the settings keep, how each maps onto the
//! SDK's processing config, and what `audio_processing` reports back from
//! the engine.

use media_core::audio_processing::{AnsMode, ProcessingConfig};
use serde::{Deserialize, Serialize};

/// The "Noise suppression" setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum NoiseSuppression {
    /// The microphone as it comes.
    Off,
    /// WebRTC noise suppression, medium, and keyboard clicks (the SDK's
    /// default).
    #[default]
    Standard,
    /// WebRTC noise suppression, aggressive, and keyboard clicks.
    Strong,
    /// RNNoise, a recurrent neural network, and keyboard clicks.
    Ai,
}

/// The "Echo cancellation" setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum EchoCancellation {
    /// Always on (the default: a device's name only hints at headphones).
    #[default]
    On,
    /// On, except while the speaker looks like headphones or a headset
    /// (the SDK's `enable_headphone_aec(false)`).
    SpeakersOnly,
    /// Off.
    Off,
}

/// The audio processing choices (`set_audio_processing`'s arguments, the
/// settings' fields) or the engine's current state (`audio_processing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AudioProcessing {
    /// Noise suppression.
    pub noise_suppression: NoiseSuppression,
    /// Echo cancellation.
    pub echo_cancellation: EchoCancellation,
}

impl AudioProcessing {
    /// `config` with these choices applied (gain control and the echo
    /// canceller's strength are left as they are).
    pub fn applied_to(self, config: ProcessingConfig) -> ProcessingConfig {
        let (ans, ans_mode) = match self.noise_suppression {
            NoiseSuppression::Off => (false, config.ans_mode),
            NoiseSuppression::Standard => (true, AnsMode::Medium),
            NoiseSuppression::Strong => (true, AnsMode::Aggressive),
            NoiseSuppression::Ai => (true, AnsMode::Ai),
        };
        let (aec, headphone_aec) = match self.echo_cancellation {
            EchoCancellation::On => (true, true),
            EchoCancellation::SpeakersOnly => (true, false),
            EchoCancellation::Off => (false, config.headphone_aec),
        };
        ProcessingConfig {
            aec,
            headphone_aec,
            ans,
            ans_mode,
            ..config
        }
    }

    /// The choices an engine's `config` amounts to (the SDK's soft noise
    /// mode, which the app never sets, reads as standard).
    pub fn of(config: &ProcessingConfig) -> AudioProcessing {
        let noise_suppression = match (config.ans, config.ans_mode) {
            (false, _) => NoiseSuppression::Off,
            (true, AnsMode::Soft | AnsMode::Medium) => NoiseSuppression::Standard,
            (true, AnsMode::Aggressive) => NoiseSuppression::Strong,
            (true, AnsMode::Ai) => NoiseSuppression::Ai,
        };
        let echo_cancellation = match (config.aec, config.headphone_aec) {
            (false, _) => EchoCancellation::Off,
            (true, false) => EchoCancellation::SpeakersOnly,
            (true, true) => EchoCancellation::On,
        };
        AudioProcessing {
            noise_suppression,
            echo_cancellation,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_the_sdks_default() {
        let sdk = ProcessingConfig::default();
        assert_eq!(AudioProcessing::of(&sdk), AudioProcessing::default());
        assert_eq!(AudioProcessing::default().applied_to(sdk), sdk);
    }

    #[test]
    fn every_choice_reads_back_from_the_config_it_makes() {
        use EchoCancellation as E;
        use NoiseSuppression as N;
        for noise_suppression in [N::Off, N::Standard, N::Strong, N::Ai] {
            for echo_cancellation in [E::On, E::SpeakersOnly, E::Off] {
                let choice = AudioProcessing {
                    noise_suppression,
                    echo_cancellation,
                };
                let config = choice.applied_to(ProcessingConfig::default());
                assert_eq!(AudioProcessing::of(&config), choice);
                assert!(config.agc, "gain control is not the app's choice");
            }
        }
        let off = AudioProcessing {
            noise_suppression: N::Off,
            echo_cancellation: E::Off,
        };
        let config = off.applied_to(ProcessingConfig::default());
        assert!(!config.aec && !config.ans);
        let json = serde_json::to_string(&AudioProcessing {
            noise_suppression: N::Ai,
            echo_cancellation: E::SpeakersOnly,
        })
        .unwrap();
        assert_eq!(
            json,
            r#"{"noise_suppression":"ai","echo_cancellation":"speakers_only"}"#
        );
    }
}
