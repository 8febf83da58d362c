//! The processing chain, one 10 ms block at a time (sans-IO).

use super::config::{AecMode, AnsMode, ProcessingConfig};
use super::post_filter::PostFilter;
use super::reference::RenderTap;
use super::transient::DelayedTransientSuppressor;
use super::BLOCK_SAMPLES;
use crate::frame::{AudioFrame, AUDIO_SAMPLE_RATE};
use aec3::api::{EchoCanceller3Config, EchoControl};
use aec3::audio_processing::aec3::echo_canceller3::EchoCanceller3;
use aec3::audio_processing::agc2::input_volume_controller::Config as InputVolumeConfig;
use aec3::audio_processing::audio_buffer::AudioBuffer;
use aec3::audio_processing::gain_controller2::{GainController2, GainController2Config};
use aec3::audio_processing::high_pass_filter::HighPassFilter;
use aec3::audio_processing::ns::{NoiseSuppressor, NsConfig, SuppressionLevel};

const RATE: usize = AUDIO_SAMPLE_RATE as usize;
/// The sample rate of each of the three bands 48 kHz is split into.
const SPLIT_BAND_RATE: i32 = 16_000;
/// The echo canceller's reverberation decay per block while the near end
/// dominates (AEC3's `ep_strength.nearend_len`; its default is 0.83).
const NEAREND_REVERB_DECAY: f32 = 0.5;

/// Processes captured audio (48 kHz mono; other layouts pass through
/// untouched) with the played-out audio from a [`RenderTap`] as the echo
/// reference. Stages are made when first needed and kept while off, so
/// switching one back on does not start from scratch.
pub struct AudioProcessor {
    config: ProcessingConfig,
    render: RenderTap,
    render_block: [i16; BLOCK_SAMPLES],
    chain: Option<Chain>,
}

impl std::fmt::Debug for AudioProcessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioProcessor")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The DSP state of every stage.
struct Chain {
    capture: AudioBuffer,
    render: AudioBuffer,
    /// 80 Hz high-pass on the lowest split band (16 kHz) or the full band.
    band_high_pass: HighPassFilter,
    full_high_pass: HighPassFilter,
    band: Vec<Vec<f32>>,
    echo: Echo,
    noise: Noise,
    /// Keyboard clicks after WebRTC's noise suppressor (the AI mode has its
    /// own in the post-filter).
    clicks: DelayedTransientSuppressor,
    rnnoise: Box<nnnoiseless::DenoiseState<'static>>,
    rnnoise_in: Vec<f32>,
    post_filter: PostFilter,
    gain: GainController2,
}

// SAFETY: `Chain` is not `Send` only because `aec3` keeps some stages
// behind trait objects without a `Send` bound (`Box<dyn
// BlockProcessorBackend>`, `Box<dyn NoiseLevelEstimator>`, ...). In aec3
// 0.4 every implementation used outside its tests (BlockProcessor,
// DominantNearendDetector, NoiseFloorEstimator, SpeechLevelEstimatorImpl,
// SaturationProtectorImpl, MonoVadImpl) is plain owned data (Vecs, numbers,
// `Arc<dyn Fft>` which rustfft bounds `Send + Sync`), with no `Rc`, `Cell`,
// raw pointer or thread-local state; a chain is used by one thread at a
// time (the audio loop's task, which tokio may move between workers).
// Re-check on an aec3 upgrade.
#[allow(unsafe_code)]
unsafe impl Send for Chain {}

/// The echo canceller and the mode it was made for.
struct Echo {
    mode: AecMode,
    canceller: EchoCanceller3,
}

/// WebRTC's noise suppressor and the mode it was made for.
struct Noise {
    mode: AnsMode,
    suppressor: NoiseSuppressor,
}

impl AudioProcessor {
    /// A processor with `config`, reading the played audio from `render`.
    pub fn new(config: ProcessingConfig, render: RenderTap) -> AudioProcessor {
        AudioProcessor {
            config,
            render,
            render_block: [0; BLOCK_SAMPLES],
            chain: None,
        }
    }

    /// The current settings.
    pub fn config(&self) -> ProcessingConfig {
        self.config
    }

    /// Changes the settings from the next block on.
    pub fn set_config(&mut self, config: ProcessingConfig) {
        self.config = config;
    }

    /// Processes one captured frame in place. The played audio that has
    /// arrived since the last call is fed to the echo canceller first
    /// (and dropped when echo cancellation is off).
    pub fn process(&mut self, frame: &mut AudioFrame) {
        let active =
            self.config.any() && frame.channels == 1 && frame.sample_rate == AUDIO_SAMPLE_RATE;
        for block in frame.samples.chunks_mut(BLOCK_SAMPLES) {
            let aec = self.config.aec && (self.config.headphone_aec || !self.render.headphones());
            let chain = match (active, block.len() == BLOCK_SAMPLES) {
                (true, true) => Some(self.chain.get_or_insert_with(Chain::new)),
                _ => None,
            };
            match chain {
                Some(chain) => {
                    while self.render.take_block(&mut self.render_block) {
                        if aec {
                            chain.analyze_render(&self.render_block, self.config.aec_mode);
                        }
                    }
                    chain.process(block, &self.config, aec);
                }
                None => while self.render.take_block(&mut self.render_block) {},
            }
        }
    }
}

impl Chain {
    fn new() -> Chain {
        let buffer = || AudioBuffer::from_sample_rates(RATE, 1, RATE, 1, RATE);
        let gain_config = GainController2Config {
            input_volume_controller:
                aec3::audio_processing::gain_controller2::InputVolumeControllerRuntimeConfig {
                    enabled: false,
                },
            ..GainController2Config::default()
        };
        Chain {
            capture: buffer(),
            render: buffer(),
            band_high_pass: HighPassFilter::new(SPLIT_BAND_RATE, 1),
            full_high_pass: HighPassFilter::new(RATE as i32, 1),
            band: vec![Vec::new()],
            echo: Echo::new(AecMode::Medium),
            noise: Noise::new(AnsMode::Medium),
            clicks: DelayedTransientSuppressor::new(),
            rnnoise: nnnoiseless::DenoiseState::new(),
            rnnoise_in: vec![0.0; BLOCK_SAMPLES],
            post_filter: PostFilter::new(),
            gain: GainController2::new(gain_config, InputVolumeConfig::default(), RATE, 1, true),
        }
    }

    fn analyze_render(&mut self, block: &[i16], mode: AecMode) {
        self.echo.switch_to(mode);
        load(&mut self.render, block);
        self.render.split_into_frequency_bands();
        self.echo.canceller.analyze_render(&mut self.render);
    }

    /// HPF -> AEC3 -> NS (WebRTC's, on the split bands) -> merge -> the
    /// transient suppressor (WebRTC NS modes, 10 ms held back) | RNNoise
    /// and its post-filter with the transient suppressor (AI mode) ->
    /// AGC2, as WebRTC's audio processing orders them. The bands are split only for AEC3 and
    /// WebRTC's NS, which work on them: the three-band filter bank does not
    /// reconstruct exactly (split and merged alone it cost RNNoise 2.8 dB
    /// of segmental SNR), so RNNoise alone gets the full band, high-passed
    /// there.
    fn process(&mut self, block: &mut [i16], config: &ProcessingConfig, aec: bool) {
        load(&mut self.capture, block);
        if aec {
            self.echo.switch_to(config.aec_mode);
            self.echo.canceller.analyze_capture(&mut self.capture);
        }
        let webrtc_ns = config.ans && config.ans_mode != AnsMode::Ai;
        if aec || webrtc_ns {
            self.capture.split_into_frequency_bands();
            high_pass(
                &mut self.band_high_pass,
                &mut self.band,
                self.capture.split_band_mut(0, 0),
            );
            if aec {
                self.echo
                    .canceller
                    .process_capture(&mut self.capture, false);
            }
            if webrtc_ns {
                self.noise.switch_to(config.ans_mode);
                self.noise.suppressor.analyze(&self.capture);
                self.noise.suppressor.process(&mut self.capture);
            }
            self.capture.merge_frequency_bands();
            if webrtc_ns {
                self.clicks.process(self.capture.channel_mut(0));
            }
        } else if config.ans {
            high_pass(
                &mut self.full_high_pass,
                &mut self.band,
                self.capture.channel_mut(0),
            );
        }
        if config.ans && config.ans_mode == AnsMode::Ai {
            self.rnnoise_in.copy_from_slice(self.capture.channel(0));
            let voice = self
                .rnnoise
                .process_frame(self.capture.channel_mut(0), &self.rnnoise_in);
            self.post_filter
                .process(self.capture.channel_mut(0), &self.rnnoise_in, voice);
        }
        if config.agc {
            self.gain.process(false, &mut self.capture);
        }
        for (out, &sample) in block.iter_mut().zip(self.capture.channel(0)) {
            *out = sample.round().clamp(i16::MIN as f32, i16::MAX as f32) as i16;
        }
    }
}

/// Runs `filter` over `samples` (through `scratch`, the layout it takes).
fn high_pass(filter: &mut HighPassFilter, scratch: &mut [Vec<f32>], samples: &mut [f32]) {
    scratch[0].clear();
    scratch[0].extend_from_slice(samples);
    filter.process(scratch);
    samples.copy_from_slice(&scratch[0]);
}

/// Puts a block into `buffer` (which holds samples on the 16-bit scale).
fn load(buffer: &mut AudioBuffer, block: &[i16]) {
    for (slot, &sample) in buffer.channel_mut(0).iter_mut().zip(block) {
        *slot = sample as f32;
    }
}

impl Echo {
    fn new(mode: AecMode) -> Echo {
        Echo {
            mode,
            canceller: EchoCanceller3::new(aec_config(mode), RATE as i32, 1, 1),
        }
    }

    /// A new canceller when the mode changed (it re-converges in ~1 s).
    fn switch_to(&mut self, mode: AecMode) {
        if mode != self.mode {
            *self = Echo::new(mode);
        }
    }
}

/// AEC3's configuration for a mode: the suppressor's masking thresholds
/// scaled down (more suppression) or up (less), the echo path strength
/// assumed for the residual echo raised or lowered. Every mode assumes a
/// shorter reverberation tail while the near end dominates (double talk):
/// 0.5 per block instead of AEC3's 0.83, which took 3.3 dB off the near
/// end in double talk (tests/audio_processing.rs; 2.6 dB with it) and
/// changes nothing while only the far end talks (ERLE 49.7 dB either way).
fn aec_config(mode: AecMode) -> EchoCanceller3Config {
    let mut config = EchoCanceller3Config::default();
    config.ep_strength.nearend_len = NEAREND_REVERB_DECAY;
    let (scale, gain) = match mode {
        AecMode::Aggressive => (0.5, 1.5),
        AecMode::Medium => return config,
        AecMode::Soft => (2.0, 0.7),
    };
    for mask in [
        &mut config.suppressor.normal_tuning.mask_lf,
        &mut config.suppressor.normal_tuning.mask_hf,
        &mut config.suppressor.nearend_tuning.mask_lf,
        &mut config.suppressor.nearend_tuning.mask_hf,
    ] {
        mask.enr_transparent *= scale;
        mask.enr_suppress *= scale;
    }
    config.ep_strength.default_gain = gain;
    config
}

impl Noise {
    fn new(mode: AnsMode) -> Noise {
        let target_level = match mode {
            AnsMode::Soft => SuppressionLevel::K6dB,
            AnsMode::Medium | AnsMode::Ai => SuppressionLevel::K12dB,
            AnsMode::Aggressive => SuppressionLevel::K21dB,
        };
        let config = NsConfig {
            target_level,
            ..NsConfig::default()
        };
        Noise {
            mode,
            suppressor: NoiseSuppressor::new(config, RATE, 1),
        }
    }

    fn switch_to(&mut self, mode: AnsMode) {
        if mode != self.mode {
            *self = Noise::new(mode);
        }
    }
}
