//! A synthetic audio source (a sine tone at -12 dBFS), the speaker test
//! chime ([`test_chime`]) and a frequency estimator to check them at the
//! other end of a call or of a speaker.

use crate::frame::{AudioFrame, AUDIO_FRAME_SAMPLES, AUDIO_SAMPLE_RATE};
use std::f64::consts::PI;

/// Amplitude of the tone: -12 dBFS (10^(-12/20) of full scale).
pub const TONE_AMPLITUDE: f64 = 0.251_188_643;

/// Generates a phase-continuous sine tone, 20 ms per call.
#[derive(Debug, Clone)]
pub struct ToneGenerator {
    freq_hz: f64,
    sample_rate: u32,
    channels: u16,
    phase: f64,
}

impl ToneGenerator {
    /// A tone of `freq_hz` at `sample_rate` (48000 for the pipeline) on
    /// `channels` identical channels.
    pub fn new(freq_hz: f64, sample_rate: u32, channels: u16) -> ToneGenerator {
        ToneGenerator {
            freq_hz,
            sample_rate: sample_rate.max(1),
            channels: channels.max(1),
            phase: 0.0,
        }
    }

    /// The tone's frequency.
    pub fn freq_hz(&self) -> f64 {
        self.freq_hz
    }

    /// The next 20 ms, stamped with `capture_time_us`.
    pub fn next_frame(&mut self, capture_time_us: u64) -> AudioFrame {
        let per_channel = (self.sample_rate as usize * 20 / 1000).max(1);
        let step = 2.0 * PI * self.freq_hz / self.sample_rate as f64;
        let mut samples = Vec::with_capacity(per_channel * self.channels as usize);
        for _ in 0..per_channel {
            let s = (self.phase.sin() * TONE_AMPLITUDE * i16::MAX as f64).round() as i16;
            samples.extend(std::iter::repeat_n(s, self.channels as usize));
            self.phase = (self.phase + step) % (2.0 * PI);
        }
        debug_assert!(self.sample_rate != AUDIO_SAMPLE_RATE || per_channel == AUDIO_FRAME_SAMPLES);
        AudioFrame {
            sample_rate: self.sample_rate,
            channels: self.channels,
            samples,
            capture_time_us,
        }
    }
}

/// The speaker test chime's notes, in order (a rising fifth: E5, A5).
pub const CHIME_NOTES_HZ: [f64; 2] = [660.0, 880.0];
/// How long each note of the chime lasts.
pub const CHIME_NOTE_MS: u32 = 400;
/// The fade-in and fade-out of each note (no clicks at the edges).
pub const CHIME_FADE_MS: u32 = 10;

/// The speaker test chime as 20 ms mono frames at `sample_rate` (48000 for
/// the speaker): each of [`CHIME_NOTES_HZ`] for [`CHIME_NOTE_MS`], at
/// -12 dBFS ([`TONE_AMPLITUDE`]), faded in and out over [`CHIME_FADE_MS`]
/// (raised cosine). Frames are stamped with their offset from the start.
pub fn test_chime(sample_rate: u32) -> Vec<AudioFrame> {
    let rate = sample_rate.max(1) as usize;
    let note_len = rate * CHIME_NOTE_MS as usize / 1000;
    let fade_len = (rate * CHIME_FADE_MS as usize / 1000).max(1);
    let mut samples = Vec::with_capacity(note_len * CHIME_NOTES_HZ.len());
    for freq in CHIME_NOTES_HZ {
        let step = 2.0 * PI * freq / rate as f64;
        samples.extend((0..note_len).map(|i| {
            let edge = i.min(note_len - 1 - i);
            let gain = if edge < fade_len {
                0.5 - 0.5 * (PI * edge as f64 / fade_len as f64).cos()
            } else {
                1.0
            };
            let s = (step * i as f64).sin() * TONE_AMPLITUDE * gain;
            (s * i16::MAX as f64).round() as i16
        }));
    }
    let per_frame = (rate * 20 / 1000).max(1);
    samples
        .chunks(per_frame)
        .enumerate()
        .map(|(i, chunk)| {
            let mut samples = chunk.to_vec();
            samples.resize(per_frame, 0);
            AudioFrame {
                sample_rate: rate as u32,
                channels: 1,
                samples,
                capture_time_us: i as u64 * 20_000,
            }
        })
        .collect()
}

/// The level of the `freq_hz` component of mono `samples` as the dBFS of a
/// sine's amplitude (a full-scale sine is 0 dBFS, [`ToneGenerator`]'s tone
/// -12 dBFS): one Hann-windowed DFT bin at exactly `freq_hz`. Tones more
/// than two bins (2 x sample_rate / len) away leak little into it: on
/// 40 ms at 48 kHz, 440 Hz and 660 Hz are told apart.
pub fn tone_level_dbfs(samples: &[i16], freq_hz: f64, sample_rate: u32) -> f64 {
    let n = samples.len() as f64;
    let (mut re, mut im, mut window_sum) = (0.0, 0.0, 0.0);
    for (i, &s) in samples.iter().enumerate() {
        let w = 0.5 - 0.5 * (2.0 * PI * i as f64 / n).cos();
        let phase = 2.0 * PI * freq_hz * i as f64 / sample_rate.max(1) as f64;
        re += w * s as f64 * phase.cos();
        im += w * s as f64 * phase.sin();
        window_sum += w;
    }
    let amplitude = 2.0 * (re * re + im * im).sqrt() / window_sum.max(f64::MIN_POSITIVE);
    20.0 * (amplitude / i16::MAX as f64).max(1e-12).log10()
}

/// The frequency of the strongest spectral peak in interleaved `samples`
/// (channels are averaged), or `None` for silence or fewer than 1024 samples
/// per channel.
///
/// Method: Hann window, radix-2 FFT over the largest power of two that fits
/// (at most 65536 samples, i.e. 1.37 s at 48 kHz), peak bin refined by
/// parabolic interpolation of the log magnitudes. On 1 s of a clean tone the
/// error is a small fraction of a bin (bin = 1.46 Hz at 48 kHz).
pub fn dominant_frequency(samples: &[i16], channels: u16, sample_rate: u32) -> Option<f64> {
    let channels = channels.max(1) as usize;
    let mono: Vec<f64> = samples
        .chunks_exact(channels)
        .map(|c| c.iter().map(|&s| s as f64).sum::<f64>() / channels as f64)
        .collect();
    if mono.len() < 1024 {
        return None;
    }
    let n = prev_power_of_two(mono.len()).min(1 << 16);
    // Use the end of the signal: codec start-up transients are at the front.
    let tail = &mono[mono.len() - n..];
    let mut re: Vec<f64> = tail
        .iter()
        .enumerate()
        .map(|(i, &s)| s * (0.5 - 0.5 * (2.0 * PI * i as f64 / n as f64).cos()))
        .collect();
    let mut im = vec![0.0; n];
    fft(&mut re, &mut im);
    let power: Vec<f64> = (0..n / 2).map(|k| re[k] * re[k] + im[k] * im[k]).collect();
    let (peak, &peak_power) = power
        .iter()
        .enumerate()
        .skip(1)
        .max_by(|a, b| a.1.total_cmp(b.1))?;
    // Silence (or DC only): a peak below about -80 dBFS.
    let full_scale = (i16::MAX as f64 * n as f64 / 4.0).powi(2);
    if peak_power < full_scale * 1e-8 {
        return None;
    }
    let mut bin = peak as f64;
    if peak + 1 < power.len() {
        let (a, b, c) = (
            power[peak - 1].max(1e-12).ln(),
            peak_power.ln(),
            power[peak + 1].max(1e-12).ln(),
        );
        let denom = a - 2.0 * b + c;
        if denom.abs() > 1e-12 {
            // Vertex of the parabola through the three log powers, in bins.
            bin += 0.5 * (a - c) / denom;
        }
    }
    Some(bin * sample_rate as f64 / n as f64)
}

fn prev_power_of_two(x: usize) -> usize {
    if x == 0 {
        0
    } else {
        1 << (usize::BITS - 1 - x.leading_zeros())
    }
}

/// In-place iterative radix-2 FFT; `re.len()` must be a power of two.
fn fft(re: &mut [f64], im: &mut [f64]) {
    let n = re.len();
    let mut j = 0;
    for i in 1..n {
        let mut bit = n >> 1;
        while j & bit != 0 {
            j ^= bit;
            bit >>= 1;
        }
        j |= bit;
        if i < j {
            re.swap(i, j);
            im.swap(i, j);
        }
    }
    let mut len = 2;
    while len <= n {
        let angle = -2.0 * PI / len as f64;
        let (w_re, w_im) = (angle.cos(), angle.sin());
        for start in (0..n).step_by(len) {
            let (mut cur_re, mut cur_im) = (1.0, 0.0);
            for k in 0..len / 2 {
                let (a, b) = (start + k, start + k + len / 2);
                let t_re = re[b] * cur_re - im[b] * cur_im;
                let t_im = re[b] * cur_im + im[b] * cur_re;
                re[b] = re[a] - t_re;
                im[b] = im[a] - t_im;
                re[a] += t_re;
                im[a] += t_im;
                let next_re = cur_re * w_re - cur_im * w_im;
                cur_im = cur_re * w_im + cur_im * w_re;
                cur_re = next_re;
            }
        }
        len <<= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone_seconds(freq: f64, channels: u16, seconds: usize) -> Vec<i16> {
        let mut tone = ToneGenerator::new(freq, AUDIO_SAMPLE_RATE, channels);
        (0..seconds * 50)
            .flat_map(|i| tone.next_frame(i as u64 * 20_000).samples)
            .collect()
    }

    #[test]
    fn the_tone_level_tells_440_from_660_hz_in_40_ms() {
        let tone = tone_seconds(440.0, 1, 1);
        let window = &tone[..1920];
        let level = tone_level_dbfs(window, 440.0, AUDIO_SAMPLE_RATE);
        assert!((level + 12.0).abs() < 0.1, "{level:.2} dBFS");
        let leak = tone_level_dbfs(window, 660.0, AUDIO_SAMPLE_RATE);
        assert!(leak < -50.0, "{leak:.1} dBFS at 660 Hz");
        assert!(tone_level_dbfs(&[0; 960], 440.0, AUDIO_SAMPLE_RATE) < -200.0);
    }

    /// The largest jump between neighbouring samples.
    fn max_step(samples: &[i16]) -> i32 {
        samples
            .windows(2)
            .map(|w| (w[1] as i32 - w[0] as i32).abs())
            .max()
            .unwrap()
    }

    #[test]
    fn frames_are_20_ms_at_minus_12_dbfs() {
        let mut tone = ToneGenerator::new(1000.0, AUDIO_SAMPLE_RATE, 2);
        let f = tone.next_frame(42);
        f.validate().unwrap();
        assert_eq!(f.capture_time_us, 42);
        let peak = f.samples.iter().map(|s| s.unsigned_abs()).max().unwrap();
        assert!((8150..=8240).contains(&peak), "peak {peak}");
        assert_eq!(f.samples[0], f.samples[1], "channels are identical");
    }

    #[test]
    fn phase_is_continuous_across_frames() {
        let max_step = max_step(&tone_seconds(440.0, 1, 1));
        // 2*pi*440/48000 * 8231 = 474: no jump larger than the slope allows.
        assert!(max_step <= 480, "discontinuity: {max_step}");
    }

    #[test]
    fn estimates_frequency_well_under_one_percent() {
        for freq in [100.0, 440.0, 997.0, 3150.5, 12_000.0] {
            let est = dominant_frequency(&tone_seconds(freq, 2, 1), 2, 48_000).unwrap();
            assert!(
                ((est - freq) / freq).abs() < 0.001,
                "{freq} Hz estimated as {est}"
            );
        }
    }

    #[test]
    fn the_chime_is_660_then_880_hz_faded_at_minus_12_dbfs() {
        let frames = test_chime(AUDIO_SAMPLE_RATE);
        // 2 notes of 400 ms in 20 ms frames.
        assert_eq!(frames.len(), 40);
        for (i, f) in frames.iter().enumerate() {
            f.validate().unwrap();
            assert_eq!((f.channels, f.capture_time_us), (1, i as u64 * 20_000));
        }
        let samples: Vec<i16> = frames.iter().flat_map(|f| f.samples.clone()).collect();
        assert_eq!(samples.len(), 38_400, "0.8 s at 48 kHz");
        let (first, second) = samples.split_at(19_200);
        for (note, want) in [(first, 660.0), (second, 880.0)] {
            let est = dominant_frequency(note, 1, AUDIO_SAMPLE_RATE).unwrap();
            assert!((est - want).abs() < 2.0, "{want} Hz measured as {est}");
            // Faded: starts and ends at (near) zero, grows over 10 ms (480 samples).
            assert_eq!(note[0], 0);
            assert!(
                note[note.len() - 1].unsigned_abs() < 30,
                "{}",
                note[note.len() - 1]
            );
            let peak = |s: &[i16]| s.iter().map(|s| s.unsigned_abs()).max().unwrap();
            assert!(peak(&note[..48]) < 300, "first ms {}", peak(&note[..48]));
            assert!(
                peak(&note[..240]) < 5_000,
                "first 5 ms {}",
                peak(&note[..240])
            );
            // Full level (-12 dBFS, as the tone) between the fades.
            assert!((8150..=8240).contains(&peak(&note[480..note.len() - 480])));
            // No clicks: no step larger than the sine's slope allows at 880 Hz.
            let max_step = max_step(note);
            assert!(max_step <= 1_000, "discontinuity {max_step}");
        }
        // No click at the join either.
        assert!((first[first.len() - 1] as i32 - second[0] as i32).abs() < 30);
    }

    #[test]
    fn silence_and_short_input_have_no_frequency() {
        assert_eq!(dominant_frequency(&[0; 48_000], 1, 48_000), None);
        assert_eq!(dominant_frequency(&[1000; 100], 1, 48_000), None);
    }
}
