//! The "AI" mode's second stage: a Wiener filter on the noisy input whose
//! speech estimate is RNNoise's output.
//!
//! RNNoise applies one gain per band (22 bands, interpolated) and smooths
//! it over time, which distorts even clean speech (espeak-ng speech through
//! RNNoise alone comes out at a segmental SNR of 17 dB) and leaves the
//! noise between the harmonics of voiced speech. Here RNNoise's output
//! serves as the speech power estimate S per FFT bin (50 Hz), a recursive
//! average of the input's power where RNNoise finds no speech as the noise
//! power N, and the Wiener gain S / (S + N) is applied to the noisy input
//! itself (aligned with RNNoise's 10 ms delay): the fine structure and
//! phase of the speech come from the input, the decision of what is speech
//! (and so where the noise can be measured) from the network.
//!
//! 20 ms frames, 10 ms hops (square-root Hann windows, perfect
//! reconstruction at unit gain): one more hop, 10 ms, of latency. Each
//! input block goes through the transient (keyboard click) suppressor
//! before it joins the analysis window, with the block after it, which the
//! alignment holds anyway, as its look-ahead: the clicks RNNoise passes are
//! gone from what the Wiener gain is applied to.

use super::transient::TransientSuppressor;
use super::BLOCK_SAMPLES;
use realfft::num_complex::Complex32;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use std::sync::Arc;

/// Analysis window: two blocks.
const WINDOW: usize = 2 * BLOCK_SAMPLES;
/// FFT bins up to Nyquist.
const BINS: usize = WINDOW / 2 + 1;
/// Per-bin weight of the noise estimate's past, per frame where RNNoise
/// finds no speech (a ~200 ms time constant at 10 ms hops).
const NOISE_MEMORY: f32 = 0.95;
/// RNNoise's power gain in a bin (its output's power over its input's)
/// under which the bin holds noise only (-20 dB), and over which it holds
/// speech (-10 dB) and the noise estimate is left as it is; in between the
/// estimate is updated in proportion.
const NOISE_ONLY_GAIN: f32 = 0.01;
const SPEECH_GAIN: f32 = 0.1;
/// The lowest gain (-25 dB): what is left of the noise where there is no
/// speech, so the floor does not sound gated.
const MIN_GAIN: f32 = 0.056;

/// The post-filter's state.
pub(super) struct PostFilter {
    forward: Arc<dyn RealToComplex<f32>>,
    inverse: Arc<dyn ComplexToReal<f32>>,
    window: Vec<f32>,
    /// The last two blocks of RNNoise's output, and of its input one block
    /// later (aligned with the output).
    denoised: Vec<f32>,
    noisy: Vec<f32>,
    /// RNNoise's latest input block, not yet aligned with its output.
    pending: Vec<f32>,
    /// The second half of the last synthesis frame, waiting for its overlap.
    tail: Vec<f32>,
    frame: Vec<f32>,
    speech: Vec<Complex32>,
    spectrum: Vec<Complex32>,
    power: Vec<f32>,
    scratch: Vec<Complex32>,
    noise: NoiseEstimate,
    transient: TransientSuppressor,
    /// RNNoise's voice probability for `pending`.
    pending_voice: f32,
}

impl PostFilter {
    pub(super) fn new() -> PostFilter {
        let mut planner = RealFftPlanner::<f32>::new();
        let forward = planner.plan_fft_forward(WINDOW);
        let inverse = planner.plan_fft_inverse(WINDOW);
        let scratch_len = forward.get_scratch_len().max(inverse.get_scratch_len());
        // sqrt of a periodic Hann window: analysis x synthesis sums to 1 at
        // 50 % overlap.
        let window = (0..WINDOW)
            .map(|i| {
                let phase = 2.0 * std::f32::consts::PI * i as f32 / WINDOW as f32;
                (0.5 - 0.5 * phase.cos()).sqrt()
            })
            .collect();
        PostFilter {
            forward,
            inverse,
            window,
            denoised: vec![0.0; WINDOW],
            noisy: vec![0.0; WINDOW],
            pending: vec![0.0; BLOCK_SAMPLES],
            tail: vec![0.0; BLOCK_SAMPLES],
            frame: vec![0.0; WINDOW],
            speech: vec![Complex32::default(); BINS],
            spectrum: vec![Complex32::default(); BINS],
            power: vec![0.0; BINS],
            scratch: vec![Complex32::default(); scratch_len],
            noise: NoiseEstimate::new(),
            transient: TransientSuppressor::new(),
            pending_voice: 0.0,
        }
    }

    /// Takes one 10 ms block RNNoise was given (`noisy`) and what it
    /// returned for it (`block`, the block before); `block` becomes the
    /// filtered block before that (one more hop of latency).
    pub(super) fn process(&mut self, block: &mut [f32], noisy: &[f32], voice: f32) {
        slide(&mut self.denoised, block);
        // The input block that joins the window now, its transients
        // suppressed with the newest block as look-ahead.
        self.transient
            .process(&mut self.pending, noisy, self.pending_voice);
        self.pending_voice = voice;
        slide(&mut self.noisy, &self.pending);
        self.pending.copy_from_slice(noisy);
        self.transform(Signal::Denoised);
        self.transform(Signal::Noisy);
        for (p, c) in self.power.iter_mut().zip(&self.spectrum) {
            *p = c.norm_sqr();
        }
        let noise = self.noise.update(&self.power, &self.speech);
        for ((out, speech), n) in self.spectrum.iter_mut().zip(&self.speech).zip(noise) {
            let s = speech.norm_sqr();
            let gain = (s / (s + n.max(1e-3))).max(MIN_GAIN);
            *out *= gain;
        }
        // DC and Nyquist must be real for the inverse transform.
        self.spectrum[0].im = 0.0;
        self.spectrum[BINS - 1].im = 0.0;
        // Lengths are fixed by construction: the FFTs cannot fail.
        let _ = self.inverse.process_with_scratch(
            &mut self.spectrum,
            &mut self.frame,
            &mut self.scratch,
        );
        let scale = 1.0 / WINDOW as f32;
        let (first, second) = self.frame.split_at(BLOCK_SAMPLES);
        let (w_first, w_second) = self.window.split_at(BLOCK_SAMPLES);
        for (i, out) in block.iter_mut().enumerate() {
            *out = self.tail[i] + first[i] * w_first[i] * scale;
            self.tail[i] = second[i] * w_second[i] * scale;
        }
    }

    /// The windowed spectrum of the last two blocks of `signal`.
    fn transform(&mut self, signal: Signal) {
        let (input, output) = match signal {
            Signal::Denoised => (&self.denoised, &mut self.speech),
            Signal::Noisy => (&self.noisy, &mut self.spectrum),
        };
        for ((f, x), w) in self.frame.iter_mut().zip(input).zip(&self.window) {
            *f = x * w;
        }
        let _ = self
            .forward
            .process_with_scratch(&mut self.frame, output, &mut self.scratch);
    }
}

/// Which of the two signals to transform.
enum Signal {
    Denoised,
    Noisy,
}

/// Shifts `window` by one block and appends `block`.
fn slide(window: &mut [f32], block: &[f32]) {
    window.copy_within(BLOCK_SAMPLES.., 0);
    window[BLOCK_SAMPLES..].copy_from_slice(block);
}

/// The noise power per bin: a recursive average of the input's power
/// ([`NOISE_MEMORY`]) over the frames where RNNoise finds no speech in that
/// bin, judged by how much it attenuates the bin (from [`SPEECH_GAIN`] down
/// to [`NOISE_ONLY_GAIN`]: updated not at all up to fully). Where RNNoise
/// keeps the bin, the estimate holds. No assumption on the noise's
/// spectrum: each bin follows its own noise (a fan's slope, a hum's
/// lines). It replaced a minimum-statistics estimate (Martin 2001,
/// simplified), whose minimum over 1.28 s lags behind level changes and
/// scatters from bin to bin (docs/audio-processing.md has the figures).
struct NoiseEstimate {
    estimate: Vec<f32>,
    started: bool,
}

impl NoiseEstimate {
    fn new() -> NoiseEstimate {
        NoiseEstimate {
            estimate: vec![0.0; BINS],
            started: false,
        }
    }

    /// Takes one frame's power spectrum (`power`) and RNNoise's output for
    /// it (`speech`); returns the noise estimate.
    fn update(&mut self, power: &[f32], speech: &[Complex32]) -> &[f32] {
        if !self.started {
            self.started = true;
            self.estimate.copy_from_slice(power);
            return &self.estimate;
        }
        for ((estimate, &p), s) in self.estimate.iter_mut().zip(power).zip(speech) {
            let kept = (s.norm_sqr() / p.max(1e-3)).min(1.0);
            let presence =
                ((kept - NOISE_ONLY_GAIN) / (SPEECH_GAIN - NOISE_ONLY_GAIN)).clamp(0.0, 1.0);
            let memory = NOISE_MEMORY + (1.0 - NOISE_MEMORY) * presence;
            *estimate = memory * *estimate + (1.0 - memory) * p;
        }
        &self.estimate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Uniform white noise of RMS `rms` (a fixed pseudo-random sequence).
    fn white_noise(len: usize, rms: f32) -> Vec<f32> {
        let mut state = 7u64;
        (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let uniform = (state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0;
                uniform * rms * 3f32.sqrt()
            })
            .collect()
    }

    /// The power spectra of `signal`'s frames, as the filter sees them.
    fn spectra(signal: &[f32]) -> Vec<Vec<f32>> {
        let mut filter = PostFilter::new();
        signal
            .chunks_exact(BLOCK_SAMPLES)
            .map(|block| {
                slide(&mut filter.noisy, block);
                filter.transform(Signal::Noisy);
                filter.spectrum.iter().map(|c| c.norm_sqr()).collect()
            })
            .collect()
    }

    #[test]
    fn where_rnnoise_finds_no_speech_the_noise_estimate_matches_white_noise() {
        let rms = 1000.0;
        let mut estimate = NoiseEstimate::new();
        let silence = vec![Complex32::default(); BINS];
        let mut ratios = Vec::new();
        for (n, power) in spectra(&white_noise(6 * 48_000, rms)).iter().enumerate() {
            let noise = estimate.update(power, &silence);
            if n >= 200 {
                // E|Y|^2 of white noise through the window: rms^2 * sum(w^2).
                let mean = noise[10..BINS - 10].iter().sum::<f32>() / (BINS - 20) as f32;
                ratios.push(mean / (rms * rms * BLOCK_SAMPLES as f32));
            }
        }
        let db = 10.0 * (ratios.iter().sum::<f32>() / ratios.len() as f32).log10();
        assert!(db.abs() < 0.5, "noise estimate off by {db:.2} dB");
    }

    #[test]
    fn where_rnnoise_keeps_the_input_the_noise_estimate_holds() {
        let mut estimate = NoiseEstimate::new();
        let quiet = spectra(&white_noise(48_000, 100.0));
        let loud = spectra(&white_noise(48_000, 3000.0));
        let silence = vec![Complex32::default(); BINS];
        for power in &quiet {
            estimate.update(power, &silence);
        }
        let before: f32 = estimate.estimate.iter().sum();
        for power in &loud {
            // RNNoise passing everything: its output is its input.
            let kept: Vec<Complex32> = power
                .iter()
                .map(|p| Complex32::new(p.sqrt(), 0.0))
                .collect();
            estimate.update(power, &kept);
        }
        let after: f32 = estimate.estimate.iter().sum();
        assert!((after / before - 1.0).abs() < 1e-3, "{before} -> {after}");
    }

    #[test]
    fn where_rnnoise_finds_no_speech_25_db_of_the_input_are_left() {
        let mut filter = PostFilter::new();
        let input = white_noise(100 * BLOCK_SAMPLES, 3000.0);
        let mut out = Vec::new();
        for block in input.chunks_exact(BLOCK_SAMPLES) {
            let mut denoised = vec![0.0; BLOCK_SAMPLES];
            filter.process(&mut denoised, block, 0.0);
            out.extend_from_slice(&denoised);
        }
        let level = |x: &[f32]| x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32;
        let db = 10.0 * (level(&out[20 * BLOCK_SAMPLES..]) / level(&input)).log10();
        assert!((db + 25.0).abs() < 0.5, "{db:.1} dB");
    }
}
