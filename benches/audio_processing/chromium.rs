//! Chromium's own processing on the same input: headless Chromium captures
//! a WAV file through its fake audio device and records what the track
//! delivers with `echoCancellation` / `noiseSuppression` /
//! `autoGainControl` off, noise suppression only, and everything on
//! (tests/browser/audio-processing-capture.mjs). The recordings are aligned
//! to the clean speech and scored like Confer's output.

use crate::signals::RATE;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Why the comparison could not run (printed, the rest of the bench goes on).
#[derive(Debug)]
pub(crate) struct Unavailable(pub(crate) String);

/// The capture script, and what it needs.
fn script() -> Result<PathBuf, Unavailable> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        return Err(Unavailable(format!("no Chromium at {chromium}")));
    }
    if !dir.join("node_modules/playwright-core").exists() {
        return Err(Unavailable(
            "tests/browser/node_modules is missing (npm ci there)".into(),
        ));
    }
    Ok(dir.join("audio-processing-capture.mjs"))
}

/// Records `input` through Chromium for `seconds` with each set of
/// constraints; returns (name, samples on the 16-bit scale).
pub(crate) fn capture(
    input: &[i16],
    far: Option<&[i16]>,
    seconds: usize,
) -> Result<Vec<(String, Vec<i16>)>, Unavailable> {
    let script = script()?;
    let dir = std::env::temp_dir().join(format!("confer-apm-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| Unavailable(format!("{}: {e}", dir.display())))?;
    let wav = dir.join("input.wav");
    write_wav(&wav, input).map_err(|e| Unavailable(format!("{}: {e}", wav.display())))?;
    let mut command = Command::new("node");
    command
        .arg(&script)
        .arg(&wav)
        .arg(seconds.to_string())
        .arg(&dir);
    if let Some(far) = far {
        let far_wav = dir.join("far.wav");
        write_wav(&far_wav, far).map_err(|e| Unavailable(format!("{e}")))?;
        command.arg("--far").arg(&far_wav);
    }
    let output = command
        .output()
        .map_err(|e| Unavailable(format!("node: {e}")))?;
    let result = if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| line.split_once(' '))
            .filter_map(|(name, path)| {
                let bytes = std::fs::read(path).ok()?;
                let samples = bytes
                    .chunks_exact(4)
                    .map(|b| {
                        let x = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                        (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16
                    })
                    .collect();
                Some((name.to_owned(), samples))
            })
            .collect())
    } else {
        Err(Unavailable(format!(
            "the capture script failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    };
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// The part of `recording` that lines up with one pass of the looped
/// `reference` (the fake device loops the file and starts anywhere in it):
/// the best lag by the 1 ms energy envelope, then to the sample.
pub(crate) fn align(recording: &[i16], reference: &[i16]) -> Option<Vec<i16>> {
    let n = reference.len();
    if recording.len() <= n {
        return None;
    }
    let step = RATE / 1000;
    let envelope = |x: &[i16]| -> Vec<f64> {
        x.chunks(step)
            .map(|c| c.iter().map(|&s| (s as f64).abs()).sum::<f64>())
            .collect()
    };
    let (rec_env, ref_env) = (envelope(recording), envelope(reference));
    let lags = rec_env.len().saturating_sub(ref_env.len());
    let coarse = (0..=lags).max_by(|&a, &b| {
        let corr = |lag: usize| -> f64 {
            ref_env
                .iter()
                .zip(&rec_env[lag..])
                .map(|(r, x)| r * x)
                .sum()
        };
        corr(a).total_cmp(&corr(b))
    })? * step;
    let last = recording.len() - n;
    let fine =
        (coarse.saturating_sub(2 * step)..=(coarse + 2 * step).min(last)).max_by(|&a, &b| {
            let corr = |lag: usize| -> f64 {
                (0..n)
                    .step_by(3)
                    .map(|i| reference[i] as f64 * recording[lag + i] as f64)
                    .sum()
            };
            corr(a).total_cmp(&corr(b))
        })?;
    Some(recording[fine..fine + n].to_vec())
}

/// Writes 48 kHz mono 16-bit PCM.
fn write_wav(path: &Path, samples: &[i16]) -> std::io::Result<()> {
    let data_len = (samples.len() * 2) as u32;
    let mut bytes = Vec::with_capacity(44 + samples.len() * 2);
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&(36 + data_len).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes()); // PCM
    bytes.extend_from_slice(&1u16.to_le_bytes()); // mono
    bytes.extend_from_slice(&(RATE as u32).to_le_bytes());
    bytes.extend_from_slice(&(RATE as u32 * 2).to_le_bytes());
    bytes.extend_from_slice(&2u16.to_le_bytes());
    bytes.extend_from_slice(&16u16.to_le_bytes());
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        bytes.extend_from_slice(&s.to_le_bytes());
    }
    std::fs::write(path, bytes)
}
