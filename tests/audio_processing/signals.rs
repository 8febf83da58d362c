//! Real and synthetic signals for the audio processing tests and benchmark:
//! espeak-ng speech at 48 kHz, a room echo path, noise, keyboard clicks and
//! the measures (ERLE, levels, segmental SNR), and the processing as the
//! SDK's audio loop runs it.

#![allow(dead_code)] // each user takes what it needs

use media_core::audio_processing::{ProcessingConfig, SharedProcessing};
use media_core::frame::AudioFrame;
use std::process::Command;

/// 48 kHz, 10 ms.
pub(crate) const BLOCK: usize = 480;
/// 20 ms frames, as the SDK's sources deliver them.
pub(crate) const FRAME: usize = 960;
pub(crate) const RATE: usize = 48_000;

/// `text` spoken by espeak-ng (`voice`, e.g. "en" or "en+f3"), resampled
/// from its 22050 Hz to 48 kHz, as 16-bit samples.
pub(crate) fn speech(text: &str, voice: &str) -> Vec<i16> {
    let out = Command::new("espeak-ng")
        .args(["--stdout", "-s", "160", "-v", voice, text])
        .output()
        .expect("espeak-ng is not installed (scripts/deps.sh installs it)");
    assert!(out.status.success(), "espeak-ng failed: {:?}", out);
    let wav = out.stdout;
    let data = wav
        .windows(4)
        .position(|w| w == b"data")
        .expect("a WAV data chunk")
        + 8;
    let src: Vec<f32> = wav[data..]
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]) as f32)
        .collect();
    resample(&src, 22_050, RATE)
}

/// Linear interpolation from `from` Hz to `to` Hz.
fn resample(src: &[f32], from: usize, to: usize) -> Vec<i16> {
    let n = src.len() * to / from;
    (0..n)
        .map(|i| {
            let t = i as f64 * from as f64 / to as f64;
            let k = t as usize;
            let f = (t - k as f64) as f32;
            let a = src[k.min(src.len() - 1)];
            let b = src[(k + 1).min(src.len() - 1)];
            (a + (b - a) * f) as i16
        })
        .collect()
}

/// Far-end speech: a few sentences, `seconds` long (repeated as needed).
pub(crate) fn far_speech(seconds: usize) -> Vec<i16> {
    let s = speech(
        "The quick brown fox jumps over the lazy dog. We are testing echo \
         cancellation on a laptop speaker, and the far end keeps talking for a \
         while so that the filter has something to learn from. Numbers help \
         too: one, two, three, four, five, six, seven, eight, nine, ten.",
        "en",
    );
    repeat(&s, seconds * RATE)
}

/// Near-end speech (another voice), `seconds` long.
pub(crate) fn near_speech(seconds: usize) -> Vec<i16> {
    let s = speech(
        "Hello, this is the near end speaking while the other person talks. \
         Can you hear me clearly, without any echo of your own voice?",
        "en+f3",
    );
    repeat(&s, seconds * RATE)
}

fn repeat(s: &[i16], len: usize) -> Vec<i16> {
    s.iter().copied().cycle().take(len).collect()
}

/// Scales `x` so that its level over active 10 ms blocks is `dbfs`.
pub(crate) fn scale_to(x: &[i16], dbfs: f64) -> Vec<i16> {
    let gain = 10f64.powf((dbfs - active_level_dbfs(x, x)) / 20.0);
    x.iter()
        .map(|&s| (s as f64 * gain).round().clamp(-32768.0, 32767.0) as i16)
        .collect()
}

/// A deterministic pseudo-random sequence in [-1, 1).
pub(crate) struct Lcg(pub u64);

impl Lcg {
    pub(crate) fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }
}

/// The acoustic path from loudspeaker to microphone: `delay_ms`, an
/// attenuation of `loss_db`, and a short synthetic room response (the
/// direct sound plus 40 reflections decaying over ~60 ms).
pub(crate) struct EchoPath {
    taps: Vec<(usize, f64)>,
}

impl EchoPath {
    pub(crate) fn new(delay_ms: usize, loss_db: f64) -> EchoPath {
        let delay = delay_ms * RATE / 1000;
        let direct = 10f64.powf(-loss_db / 20.0);
        let mut rng = Lcg(7);
        let mut taps = vec![(delay, direct)];
        for i in 0..40 {
            let at = 48 + i * 70 + ((rng.next() + 1.0) * 30.0) as usize;
            let decay = (-(at as f64) / (0.02 * RATE as f64)).exp();
            taps.push((delay + at, direct * 0.5 * decay * rng.next()));
        }
        EchoPath { taps }
    }

    /// The echo of `played` at sample `i`.
    pub(crate) fn at(&self, played: &[i16], i: usize) -> f64 {
        self.taps
            .iter()
            .filter(|(d, _)| *d <= i)
            .map(|(d, g)| played[i - d] as f64 * g)
            .sum()
    }

    /// The whole echo of `played`.
    pub(crate) fn apply(&self, played: &[i16]) -> Vec<f64> {
        (0..played.len()).map(|i| self.at(played, i)).collect()
    }
}

/// Adds signals (as f64) and rounds to 16 bits.
pub(crate) fn mix(parts: &[&[f64]]) -> Vec<i16> {
    (0..parts[0].len())
        .map(|i| {
            parts
                .iter()
                .map(|p| p[i])
                .sum::<f64>()
                .round()
                .clamp(-32768.0, 32767.0) as i16
        })
        .collect()
}

pub(crate) fn to_f64(x: &[i16]) -> Vec<f64> {
    x.iter().map(|&s| s as f64).collect()
}

/// White noise at `dbfs` RMS.
pub(crate) fn white_noise(len: usize, dbfs: f64, seed: u64) -> Vec<f64> {
    let rms = 32768.0 * 10f64.powf(dbfs / 20.0);
    let mut rng = Lcg(seed);
    // Uniform noise has RMS 1/sqrt(3).
    (0..len).map(|_| rng.next() * rms * 3f64.sqrt()).collect()
}

/// Pink noise (-3 dB per octave: Paul Kellett's filter on white noise) at
/// `dbfs` RMS: a noise that is not flat, as most room noise is not.
pub(crate) fn pink_noise(len: usize, dbfs: f64, seed: u64) -> Vec<f64> {
    const POLES: [(f64, f64); 6] = [
        (0.99886, 0.0555179),
        (0.99332, 0.0750759),
        (0.96900, 0.1538520),
        (0.86650, 0.3104856),
        (0.55000, 0.5329522),
        (-0.7616, -0.0168980),
    ];
    let mut rng = Lcg(seed);
    let mut state = [0.0; 6];
    let mut last = 0.0;
    let pink: Vec<f64> = (0..len)
        .map(|_| {
            let white = rng.next();
            let mut sum = 0.0;
            for (s, (pole, weight)) in state.iter_mut().zip(POLES) {
                *s = pole * *s + white * weight;
                sum += *s;
            }
            let out = sum + last + white * 0.5362;
            last = white * 0.115926;
            out
        })
        .collect();
    let rms = (pink.iter().map(|v| v * v).sum::<f64>() / len.max(1) as f64).sqrt();
    let target = 32768.0 * 10f64.powf(dbfs / 20.0);
    pink.iter().map(|v| v * target / rms.max(1e-12)).collect()
}

/// Keyboard clicks: a 4 ms decaying noise burst every ~150-300 ms, peak
/// `peak` (16-bit scale).
pub(crate) fn keyboard(len: usize, peak: f64, seed: u64) -> Vec<f64> {
    let mut rng = Lcg(seed);
    let mut out = vec![0.0; len];
    let mut at = 2400;
    while at < len {
        for k in 0..192 {
            if at + k < len {
                out[at + k] += peak * rng.next() * (-(k as f64) / 40.0).exp();
            }
        }
        at += 7200 + ((rng.next() + 1.0) * 3600.0) as usize;
    }
    out
}

pub(crate) fn energy(x: &[i16]) -> f64 {
    x.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() + 1e-9
}

pub(crate) fn db(ratio: f64) -> f64 {
    10.0 * ratio.log10()
}

/// Echo return loss enhancement over `range` (samples): how much weaker
/// the output is than the microphone signal (echo only).
pub(crate) fn erle_db(mic: &[i16], out: &[i16], range: std::ops::Range<usize>) -> f64 {
    db(energy(&mic[range.clone()]) / energy(&out[range]))
}

/// The 10 ms blocks where `speech` is active (within 30 dB of its
/// loudest block).
pub(crate) fn active_blocks(speech: &[i16]) -> Vec<bool> {
    let e: Vec<f64> = speech.chunks(BLOCK).map(energy).collect();
    let max = e.iter().cloned().fold(0.0, f64::max);
    e.iter().map(|&b| b > max * 1e-3).collect()
}

/// The level (dBFS RMS) of `x` over the blocks where `speech` is active.
pub(crate) fn active_level_dbfs(x: &[i16], speech: &[i16]) -> f64 {
    let active = active_blocks(speech);
    let (mut sum, mut n) = (0.0, 0usize);
    for (block, _) in x.chunks(BLOCK).zip(&active).filter(|(_, a)| **a) {
        sum += energy(block);
        n += block.len();
    }
    db(sum / n.max(1) as f64 / (32768.0f64 * 32768.0))
}

/// Mean over 10 ms blocks of the ratio between the level where `speech`
/// is active and the level where it is not, in dB: the signal-to-noise
/// ratio of a signal that is speech plus noise, measured without knowing
/// the parts (the processed output), aligned with `speech` at the lag
/// [`best_lag`] finds (a delayed output would otherwise move speech into
/// the pauses).
pub(crate) fn speech_to_pause_db(x: &[i16], speech: &[i16]) -> f64 {
    speech_to_pause_at(x, speech, best_lag(x, speech))
}

/// [`speech_to_pause_db`] with `x` delayed by `lag` samples (from
/// [`best_lag`]; the search is the costly part).
pub(crate) fn speech_to_pause_at(x: &[i16], speech: &[i16], lag: usize) -> f64 {
    let x = &x[lag..];
    let active = active_blocks(speech);
    let (mut on, mut n_on, mut off, mut n_off) = (0.0, 0usize, 0.0, 0usize);
    for (block, a) in x.chunks(BLOCK).zip(&active) {
        if *a {
            on += energy(block);
            n_on += 1;
        } else {
            off += energy(block);
            n_off += 1;
        }
    }
    db((on / n_on.max(1) as f64) / (off / n_off.max(1) as f64))
}

/// Segmental SNR (dB): the mean over 10 ms blocks where `clean` is active
/// (within 30 dB of its loudest block) of clean energy / (x - clean)
/// energy, each block clamped to -10..35 dB (the usual bounds), with `x`
/// aligned at the lag [`best_lag`] finds. Pauses are left out: there the
/// clean energy is ~0, every block sits at the -10 dB floor whatever the
/// suppression does, and counting them would only dilute the figure by the
/// share of pauses in the signal.
pub(crate) fn segmental_snr_db(x: &[i16], clean: &[i16]) -> f64 {
    segmental_snr_lagged(x, clean, best_lag(x, clean))
}

/// [`segmental_snr_db`] with `x` delayed by `lag` samples (from
/// [`best_lag`]; the search is the costly part).
pub(crate) fn segmental_snr_lagged(x: &[i16], clean: &[i16], lag: usize) -> f64 {
    segmental_snr_at(x, clean, &active_blocks(clean), lag)
}

/// Noise suppression alone, in `mode`.
pub(crate) fn ans_only(mode: media_core::audio_processing::AnsMode) -> ProcessingConfig {
    ProcessingConfig {
        ans: true,
        ans_mode: mode,
        ..ProcessingConfig::off()
    }
}

/// What happened to a click track's blocks (the 10 ms blocks where the
/// `clicks` added to `clean` are within 20 dB of their loudest block),
/// from the second second on (the noise estimate's start), dB.
pub(crate) struct ClickFigures {
    /// How much less click energy is left where the speech pauses: the
    /// input's noise energy there over the output's (aligned, against the
    /// clean speech through the chain's high-pass, [`high_passed`]).
    pub(crate) pause_reduction: f64,
    /// Segmental SNR ([`segmental_snr_db`]'s per-block measure) over the
    /// speech-active blocks holding a click, input and output.
    pub(crate) speech_before: f64,
    pub(crate) speech_after: f64,
    /// Blocks holding a click in pauses and in speech.
    pub(crate) blocks: (usize, usize),
    /// The speech level change.
    pub(crate) kept: f64,
}

/// [`ClickFigures`] for `out`, the processed `noisy` (`clean` + `clicks`).
pub(crate) fn click_figures(
    noisy: &[i16],
    out: &[i16],
    clean: &[i16],
    clicks: &[f64],
) -> ClickFigures {
    let reference = high_passed(clean);
    let (noisy, out, clean, reference, clicks) = (
        &noisy[RATE..],
        &out[RATE..],
        &clean[RATE..],
        &reference[RATE..],
        &clicks[RATE..],
    );
    let lag = best_lag(out, reference);
    let active = active_blocks(clean);
    let click_energy: Vec<f64> = clicks
        .chunks(BLOCK)
        .map(|b| b.iter().map(|v| v * v).sum())
        .collect();
    let loudest = click_energy.iter().cloned().fold(0.0, f64::max);
    let block_snr = |s: f64, e: f64| db((s + 1e-9) / (e + 1e-9)).clamp(-10.0, 35.0);
    let (mut pause_in, mut pause_out) = (0.0, 0.0);
    let (mut before, mut after) = (0.0, 0.0);
    let mut blocks = (0, 0);
    for (b, speech) in active.iter().enumerate() {
        let start = b * BLOCK;
        if click_energy[b] < loudest * 0.01 || start + lag + BLOCK > out.len() {
            continue;
        }
        let range = start..start + BLOCK;
        let error = |x: &[i16], r: &[i16], lag: usize| -> f64 {
            range
                .clone()
                .map(|i| (x[i + lag] as f64 - r[i] as f64).powi(2))
                .sum()
        };
        let (e_in, e_out) = (error(noisy, clean, 0), error(out, reference, lag));
        if *speech {
            let s = energy(&clean[range.clone()]);
            before += block_snr(s, e_in);
            after += block_snr(s, e_out);
            blocks.1 += 1;
        } else {
            pause_in += e_in;
            pause_out += e_out;
            blocks.0 += 1;
        }
    }
    let n = blocks.1.max(1) as f64;
    ClickFigures {
        pause_reduction: db(pause_in / pause_out.max(1e-9)),
        speech_before: before / n,
        speech_after: after / n,
        blocks,
        kept: active_level_dbfs(out, clean) - active_level_dbfs(clean, clean),
    }
}

/// The delay of `x` behind `clean` (0..=40 ms: RNNoise and its
/// post-filter delay by 20 ms) where the segmental SNR is highest.
pub(crate) fn best_lag(x: &[i16], clean: &[i16]) -> usize {
    let active = active_blocks(clean);
    let score = |lag: usize| segmental_snr_at(x, clean, &active, lag);
    // A coarse search, then the neighbourhood of the best coarse lag.
    let coarse = (0..=4 * BLOCK)
        .step_by(24)
        .max_by(|a, b| score(*a).total_cmp(&score(*b)))
        .unwrap_or(0);
    (coarse.saturating_sub(23)..=coarse + 23)
        .max_by(|a, b| score(*a).total_cmp(&score(*b)))
        .unwrap_or(coarse)
}

fn segmental_snr_at(x: &[i16], clean: &[i16], active: &[bool], lag: usize) -> f64 {
    let mut sum = 0.0;
    let mut n = 0usize;
    for (b, a) in active.iter().enumerate() {
        let start = b * BLOCK;
        if !*a || start + lag + BLOCK > x.len() {
            continue;
        }
        let (mut s, mut e) = (1e-9, 1e-9);
        for i in start..start + BLOCK {
            let c = clean[i] as f64;
            s += c * c;
            e += (x[i + lag] as f64 - c).powi(2);
        }
        sum += db(s / e).clamp(-10.0, 35.0);
        n += 1;
    }
    sum / n.max(1) as f64
}

/// `x` through an 80 Hz high-pass filter like the one the processing
/// applies whenever echo cancellation or noise suppression is on (WebRTC's
/// second-order Butterworth, its 48 kHz coefficients): the reference for
/// measuring what noise suppression does, apart from that deliberate
/// linear filter.
pub(crate) fn high_passed(x: &[i16]) -> Vec<i16> {
    let (b, a) = ([0.99079, -1.98157, 0.99079], [-1.98149, 0.98166]);
    let (mut x1, mut x2, mut y1, mut y2) = (0.0, 0.0, 0.0, 0.0);
    x.iter()
        .map(|&s| {
            let x0 = s as f64;
            let y0 = b[0] * x0 + b[1] * x1 + b[2] * x2 - a[0] * y1 - a[1] * y2;
            (x2, x1, y2, y1) = (x1, x0, y1, y0);
            y0.round().clamp(-32768.0, 32767.0) as i16
        })
        .collect()
}

/// Runs `mic` through a processor with `config`, the far end's `played`
/// audio reaching the echo reference one frame ahead of the microphone
/// (as the speaker's buffer does). `change` may alter the settings before
/// frame `n`.
pub(crate) fn process(
    config: ProcessingConfig,
    played: &[i16],
    mic: &[i16],
    mut change: impl FnMut(usize, &SharedProcessing),
) -> Vec<i16> {
    let shared = SharedProcessing::default();
    shared.update(|c| *c = config);
    let mut processor = shared.processor();
    let mut out = Vec::with_capacity(mic.len());
    for (n, chunk) in mic.chunks_exact(FRAME).enumerate() {
        change(n, &shared);
        let start = n * FRAME;
        if start + FRAME <= played.len() {
            shared
                .reference()
                .push(&frame(&played[start..start + FRAME]));
        }
        let mut f = frame(chunk);
        processor.process(&mut f);
        out.extend_from_slice(&f.samples);
    }
    out
}

pub(crate) fn frame(samples: &[i16]) -> AudioFrame {
    AudioFrame {
        samples: samples.to_vec(),
        ..AudioFrame::silence(1, 0)
    }
}
