//! Transient (keyboard click) suppression, in the time domain with 10 ms
//! of look-ahead: in the "AI" mode inside the post-filter (which holds the
//! next block anyway), after WebRTC's noise suppressor in the other modes
//! ([`DelayedTransientSuppressor`], 10 ms of added latency).
//!
//! RNNoise passes keyboard clicks almost untouched (1.7 dB less click
//! energy in the pauses of speech plus clicks, tests/audio_processing.rs),
//! and a Wiener gain whose speech estimate is RNNoise's output passes them
//! too. Clicks differ from speech in time, not in spectrum: a keystroke is
//! a broadband burst that rises within a millisecond and dies within a few,
//! while speech that rises as fast (a plosive's release) goes on into
//! aspiration or a vowel. So, on 1 ms sub-blocks of the pre-emphasised
//! signal (first difference: a click's energy is spread up to 24 kHz,
//! voiced speech's is low):
//!
//! - a transient starts at a sub-block whose energy is [`ONSET`] times the
//!   background (a slow average of the sub-blocks that were not
//!   transients) and times every sub-block of the 10 ms before it, and
//!   lasts until the energy falls back under [`RELEASE`] times the
//!   background, which must happen within [`MAX_LENGTH`] sub-blocks;
//! - a transient's samples are scaled down to the background's level (the
//!   gain is the square root of the energy ratio), the gain taken as the
//!   minimum over ±[`GAIN_SPREAD`] samples and then averaged over as many
//!   (no step at the edges, no leak before the onset); below
//!   [`LOW_BAND_HZ`] it is spared in proportion to RNNoise's voice
//!   probability.
//!
//! WebRTC's own transient suppressor (not in the `aec3` port) also spared
//! speech by a voice probability.

use super::BLOCK_SAMPLES;

/// Sub-block length: 1 ms at 48 kHz.
const SUB: usize = 48;
/// Sub-blocks per block.
const SUBS: usize = BLOCK_SAMPLES / SUB;
/// Energy over the background, and over every sub-block of the 10 ms
/// before (x10, 10 dB), where a transient starts. The second condition
/// spares voiced speech, whose pitch pulses repeat every 2.5-12 ms.
const ONSET: f32 = 10.0;
/// Energy over the background (x2, 3 dB) under which it has ended.
const RELEASE: f32 = 2.0;
/// The longest transient, in sub-blocks (8 ms): what stays up longer is
/// not a click.
const MAX_LENGTH: usize = 8;
/// The background follows the sub-blocks that are not transients with
/// this weight per sub-block (a ~20 ms time constant).
const BACKGROUND_WEIGHT: f32 = 0.05;
/// Samples either side over which the gain is spread.
const GAIN_SPREAD: usize = 24;
/// Target gains kept either side of the block: what the smoothing reaches.
const EDGE: usize = 2 * GAIN_SPREAD;
/// Below this the gain applies only as far as RNNoise finds no voice:
/// most of a voice's energy is there, little of a click's.
const LOW_BAND_HZ: f32 = 1000.0;

/// The suppressor's state between blocks.
pub(super) struct TransientSuppressor {
    /// Pre-emphasised energy per sub-block: the block before, the block
    /// being processed, the look-ahead block.
    energy: [f32; 3 * SUBS],
    /// Which of those sub-blocks belong to a transient.
    marked: [bool; 3 * SUBS],
    /// The last sample of the look-ahead block (for the first difference).
    last: f32,
    background: f32,
    /// Per-sample target gain from [`EDGE`] samples before the block to
    /// [`EDGE`] after it (the previous block's end, the next one's start as
    /// far as the look-ahead tells).
    target: Vec<f32>,
    /// The minimum of `target` over ±[`GAIN_SPREAD`].
    spread: Vec<f32>,
    low_pass: Biquad,
}

/// A second-order Butterworth low-pass (direct form I).
struct Biquad {
    b: [f32; 3],
    a: [f32; 2],
    x: [f32; 2],
    y: [f32; 2],
}

impl Biquad {
    fn low_pass(corner_hz: f32, rate: f32) -> Biquad {
        let w = 2.0 * std::f32::consts::PI * corner_hz / rate;
        let alpha = w.sin() / std::f32::consts::SQRT_2;
        let a0 = 1.0 + alpha;
        let b1 = (1.0 - w.cos()) / a0;
        Biquad {
            b: [b1 / 2.0, b1, b1 / 2.0],
            a: [-2.0 * w.cos() / a0, (1.0 - alpha) / a0],
            x: [0.0; 2],
            y: [0.0; 2],
        }
    }

    fn next(&mut self, x: f32) -> f32 {
        let y = self.b[0] * x + self.b[1] * self.x[0] + self.b[2] * self.x[1]
            - self.a[0] * self.y[0]
            - self.a[1] * self.y[1];
        self.x = [x, self.x[0]];
        self.y = [y, self.y[0]];
        y
    }
}

impl TransientSuppressor {
    pub(super) fn new() -> TransientSuppressor {
        TransientSuppressor {
            energy: [0.0; 3 * SUBS],
            marked: [false; 3 * SUBS],
            last: 0.0,
            background: 0.0,
            target: vec![1.0; BLOCK_SAMPLES + 2 * EDGE],
            spread: vec![1.0; BLOCK_SAMPLES + 2 * EDGE],
            low_pass: Biquad::low_pass(LOW_BAND_HZ, crate::frame::AUDIO_SAMPLE_RATE as f32),
        }
    }

    /// Suppresses the transients in `block` (10 ms), seeing `next` (the 10
    /// ms after it, unchanged; it comes back as `block` on the next call).
    /// `voice` is RNNoise's voice probability: below [`LOW_BAND_HZ`] the
    /// gain is spared in that proportion.
    pub(super) fn process(&mut self, block: &mut [f32], next: &[f32], voice: f32) {
        self.energy.copy_within(SUBS.., 0);
        self.marked.copy_within(SUBS.., 0);
        self.marked[2 * SUBS..].fill(false);
        for (k, sub) in next.chunks_exact(SUB).enumerate() {
            let mut sum = 0.0;
            for &x in sub {
                let d = x - self.last;
                sum += d * d;
                self.last = x;
            }
            self.energy[2 * SUBS + k] = sum / SUB as f32;
        }
        // The previous block's last target gains, then this block's and
        // the start of the next one's.
        self.target
            .copy_within(BLOCK_SAMPLES..BLOCK_SAMPLES + EDGE, 0);
        self.target[EDGE..].fill(1.0);
        for k in SUBS..2 * SUBS {
            if !self.marked[k] {
                self.find_transient(k);
            }
            if self.marked[k] {
                self.set_target(k);
            } else {
                self.background += BACKGROUND_WEIGHT * (self.energy[k] - self.background);
            }
        }
        for k in 2 * SUBS..2 * SUBS + EDGE.div_ceil(SUB) {
            if self.marked[k] {
                self.set_target(k);
            }
        }
        // The minimum over ±GAIN_SPREAD, then the mean over as many: the
        // gain falls before a transient and rises after it smoothly.
        for i in GAIN_SPREAD..self.target.len() - GAIN_SPREAD {
            self.spread[i] = self.target[i - GAIN_SPREAD..=i + GAIN_SPREAD]
                .iter()
                .copied()
                .fold(1.0, f32::min);
        }
        let window = 2 * GAIN_SPREAD + 1;
        for (j, x) in block.iter_mut().enumerate() {
            let from = EDGE + j - GAIN_SPREAD;
            let gain = self.spread[from..from + window].iter().sum::<f32>() / window as f32;
            let low = self.low_pass.next(*x);
            let low_gain = gain + voice.clamp(0.0, 1.0) * (1.0 - gain);
            *x = low * low_gain + (*x - low) * gain;
        }
    }

    /// Marks the transient that starts at sub-block `k`, if one does: loud
    /// against the background and the 10 ms before, back under the release
    /// level within [`MAX_LENGTH`] sub-blocks.
    fn find_transient(&mut self, k: usize) {
        let floor = self.background.max(1.0);
        let energy = self.energy[k];
        let before = self.energy[k - SUBS..k].iter().copied().fold(0.0, f32::max);
        if energy <= ONSET * floor || energy <= ONSET * before {
            return;
        }
        if let Some(end) = (k + 1..=k + MAX_LENGTH).find(|&j| self.energy[j] < RELEASE * floor) {
            self.marked[k..end].fill(true);
        }
    }

    /// Sets sub-block `k`'s target gain: down to the background's energy.
    fn set_target(&mut self, k: usize) {
        let gain = (self.background.max(1.0) / self.energy[k].max(1.0))
            .sqrt()
            .min(1.0);
        let start = EDGE + (k - SUBS) * SUB;
        let end = (start + SUB).min(self.target.len());
        self.target[start..end].fill(gain);
    }
}

/// The suppressor for a stage without look-ahead of its own (WebRTC NS's
/// modes): it holds each block back by one (10 ms of latency) to see the
/// next. Without a voice probability there, the gain applies to the whole
/// band.
pub(super) struct DelayedTransientSuppressor {
    suppressor: TransientSuppressor,
    held: Vec<f32>,
}

impl DelayedTransientSuppressor {
    pub(super) fn new() -> DelayedTransientSuppressor {
        DelayedTransientSuppressor {
            suppressor: TransientSuppressor::new(),
            held: vec![0.0; BLOCK_SAMPLES],
        }
    }

    /// Takes the newest block; gives back in its place the block before,
    /// its transients suppressed.
    pub(super) fn process(&mut self, block: &mut [f32]) {
        self.suppressor.process(&mut self.held, block, 0.0);
        for (newest, held) in block.iter_mut().zip(&mut self.held) {
            std::mem::swap(newest, held);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `x` through the suppressor, each block once as look-ahead, then
    /// processed with the next as look-ahead (as the post-filter feeds it),
    /// realigned with `x`.
    fn suppress(x: &[f32]) -> Vec<f32> {
        let mut suppressor = DelayedTransientSuppressor::new();
        let mut out = Vec::with_capacity(x.len() + BLOCK_SAMPLES);
        let end = [0.0; BLOCK_SAMPLES];
        for next in x.chunks_exact(BLOCK_SAMPLES).chain([&end[..]]) {
            let mut block = next.to_vec();
            suppressor.process(&mut block);
            out.extend_from_slice(&block);
        }
        out.split_off(BLOCK_SAMPLES)
    }

    /// A deterministic noise in [-1, 1).
    fn noise(len: usize, seed: u64) -> Vec<f32> {
        let mut state = seed;
        (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect()
    }

    fn energy(x: &[f32]) -> f32 {
        x.iter().map(|v| v * v).sum()
    }

    /// Keyboard-like clicks (4 ms decaying bursts, peak 10000, every
    /// 200 ms) on white noise at RMS 300: 15 dB or more of the clicks'
    /// energy goes, and the noise 5 ms away from a click is untouched.
    #[test]
    fn clicks_on_noise_are_brought_down_to_the_noise() {
        let len = 100 * BLOCK_SAMPLES;
        let background: Vec<f32> = noise(len, 3).iter().map(|v| v * 520.0).collect();
        let burst = noise(192, 5);
        let mut clicks = vec![0.0; len];
        for at in (4_800..len - 9_600).step_by(9_600) {
            for (k, b) in burst.iter().enumerate() {
                clicks[at + k] = 10_000.0 * b * (-(k as f32) / 40.0).exp();
            }
        }
        let input: Vec<f32> = background.iter().zip(&clicks).map(|(n, c)| n + c).collect();
        let out = suppress(&input);
        let residual: Vec<f32> = out.iter().zip(&background).map(|(o, n)| o - n).collect();
        let reduction = 10.0 * (energy(&clicks) / energy(&residual)).log10();
        assert!(reduction >= 15.0, "clicks {reduction:.1} dB less");
        let quiet = 4_800 + 192 + 240..4_800 + 9_600 - 240;
        for (o, i) in out[quiet.clone()].iter().zip(&input[quiet]) {
            assert!((o - i).abs() < 0.01, "{o} != {i}");
        }
    }

    /// What rises and stays (a vowel's onset) and what repeats every few
    /// milliseconds (pitch pulses) is not a transient: it passes unchanged.
    #[test]
    fn sustained_and_periodic_sounds_pass() {
        let len = 40 * BLOCK_SAMPLES;
        let mut onset = noise(len, 9);
        onset[..10 * BLOCK_SAMPLES].fill(0.0);
        for x in &mut onset[10 * BLOCK_SAMPLES..] {
            *x *= 5_000.0;
        }
        let mut pulses = noise(len, 11);
        for (i, x) in pulses.iter_mut().enumerate() {
            // A decaying 6 ms buzz every 8 ms (a 125 Hz voice), on a floor.
            let phase = i % 384;
            *x *= 20.0 + 8_000.0 * (-(phase as f32) / 60.0).exp();
        }
        for (name, signal) in [("onset", onset), ("pulses", pulses)] {
            let out = suppress(&signal);
            let changed: Vec<usize> = (0..len)
                .filter(|&i| (out[i] - signal[i]).abs() > 0.01)
                .collect();
            assert!(
                changed.is_empty(),
                "{name}: {} samples changed, from {:?}",
                changed.len(),
                changed.first()
            );
        }
    }
}
