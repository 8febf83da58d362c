//! Audio processing (issue 16) on this machine, 48 kHz mono: CPU per 10 ms
//! block for each stage, the latency each adds, ERLE and double-talk loss
//! for each AEC mode, the noise figures for each ANS mode and the AGC's
//! output level, on the signals of tests/audio_processing.rs (espeak-ng
//! speech, synthetic echo path, white noise and keyboard clicks), and the
//! same noisy input through headless Chromium's own processing (its fake
//! audio capture from a file). Prints one figure per line. Run in release:
//! `cargo bench --bench audio_processing`.

#[path = "../tests/audio_processing/signals.rs"]
mod signals;

#[path = "audio_processing/chromium.rs"]
mod chromium;

use media_core::audio_processing::{AecMode, AnsMode, ProcessingConfig};
use signals::*;
use std::time::Instant;

fn only(change: impl FnOnce(&mut ProcessingConfig)) -> ProcessingConfig {
    let mut config = ProcessingConfig::off();
    change(&mut config);
    config
}

/// The lag (samples, up to 20 ms) at which `out` best matches `input`.
fn latency_samples(input: &[i16], out: &[i16]) -> usize {
    let range = 2 * RATE..input.len() - 2 * BLOCK;
    (0..=2 * BLOCK)
        .max_by(|&a, &b| {
            let corr = |lag: usize| -> f64 {
                range
                    .clone()
                    .map(|i| input[i] as f64 * out[i + lag] as f64)
                    .sum()
            };
            corr(a).total_cmp(&corr(b))
        })
        .unwrap_or(0)
}

fn main() {
    let seconds = 10;
    let played = scale_to(&far_speech(seconds), -20.0);
    let echo = EchoPath::new(120, 10.0).apply(&played);
    let mut near = scale_to(&near_speech(seconds), -26.0);
    near[..4 * RATE].fill(0);
    let mic_echo = mix(&[&echo]);
    let mic_double = mix(&[&echo, &to_f64(&near)]);
    let blocks = (mic_echo.len() / BLOCK) as f64;

    // CPU and latency per stage (echo scene: the AEC has work to do).
    let stages = [
        ("off", ProcessingConfig::off()),
        ("aec", only(|c| c.aec = true)),
        ("ans_medium", only(|c| c.ans = true)),
        (
            "ans_ai",
            only(|c| {
                c.ans = true;
                c.ans_mode = AnsMode::Ai
            }),
        ),
        ("agc", only(|c| c.agc = true)),
        ("default", ProcessingConfig::default()),
    ];
    let clean = scale_to(&near_speech(seconds), -26.0);
    for (name, config) in stages {
        let started = Instant::now();
        process(config, &played, &mic_echo, |_, _| {});
        let ms = started.elapsed().as_secs_f64() * 1000.0 / blocks;
        println!("cpu_ms_per_10ms_{name} {ms:.3}");
        let out = process(config, &[], &clean, |_, _| {});
        let lag = latency_samples(&clean, &out);
        println!("latency_ms_{name} {:.1}", lag as f64 * 1000.0 / RATE as f64);
    }

    for (name, mode) in [
        ("soft", AecMode::Soft),
        ("medium", AecMode::Medium),
        ("aggressive", AecMode::Aggressive),
    ] {
        let config = only(|c| {
            c.aec = true;
            c.aec_mode = mode
        });
        let out = process(config, &played, &mic_echo, |_, _| {});
        println!(
            "erle_db_{name} {:.1}",
            erle_db(&mic_echo, &out, 2 * RATE..mic_echo.len())
        );
        let out = process(config, &played, &mic_double, |_, _| {});
        let range = 4 * RATE..mic_double.len();
        let drop = active_level_dbfs(&near[range.clone()], &near[range.clone()])
            - active_level_dbfs(&out[range.clone()], &near[range]);
        println!("double_talk_drop_db_{name} {drop:.1}");
    }
    let out = process(ProcessingConfig::default(), &played, &mic_echo, |_, _| {});
    println!(
        "erle_db_default_chain {:.1}",
        erle_db(&mic_echo, &out, 2 * RATE..mic_echo.len())
    );

    let speech_level = active_level_dbfs(&clean, &clean);
    let noise = white_noise(clean.len(), speech_level - 6.2, 3);
    let clicks = keyboard(clean.len(), 10000.0, 5);
    let noisy = mix(&[&to_f64(&clean), &noise, &clicks]);
    // Each noise alone too: the white noise, and the click track (measured
    // on its own blocks: the segmental SNR over all speech hardly sees it).
    let white = mix(&[&to_f64(&clean), &noise]);
    let clicked = mix(&[&to_f64(&clean), &clicks]);
    // Pink noise instead of white, with the clicks: a noise that is not flat.
    let pinked = mix(&[
        &to_f64(&clean),
        &pink_noise(clean.len(), speech_level - 6.2, 3),
        &clicks,
    ]);
    for (name, mode) in [
        ("soft", AnsMode::Soft),
        ("medium", AnsMode::Medium),
        ("aggressive", AnsMode::Aggressive),
        ("ai", AnsMode::Ai),
    ] {
        let out = process(ans_only(mode), &[], &noisy, |_, _| {});
        print_noise_figures(name, &out, &clean, &noisy);
        let out = process(ans_only(mode), &[], &white, |_, _| {});
        print_noise_figures(&format!("white_{name}"), &out, &clean, &white);
        let out = process(ans_only(mode), &[], &pinked, |_, _| {});
        print_noise_figures(&format!("pink_{name}"), &out, &clean, &pinked);
        let out = process(ans_only(mode), &[], &clicked, |_, _| {});
        print_click_figures(name, &out, &clean, &clicked, &clicks);
    }
    let out = process(ProcessingConfig::default(), &[], &noisy, |_, _| {});
    print_noise_figures("default_chain", &out, &clean, &noisy);

    // Chromium on the same input; it loops the file: record two passes and
    // a half, score one pass after the first half (its noise estimate warm).
    for (scene, input) in [("", &noisy), ("clicks_", &clicked)] {
        match chromium::capture(input, None, 2 * seconds + seconds / 2) {
            Ok(recordings) => {
                for (name, recording) in recordings {
                    let name = format!("chromium_{scene}{name}");
                    match chromium::align(&recording[seconds / 2 * RATE..], input) {
                        Some(out) if scene.is_empty() => {
                            print_noise_figures(&name, &out, &clean, input)
                        }
                        Some(out) => print_click_figures(&name, &out, &clean, input, &clicks),
                        None => println!(
                            "{name}_recording_too_short_s {:.1}",
                            recording.len() as f64 / RATE as f64
                        ),
                    }
                }
            }
            Err(chromium::Unavailable(why)) => eprintln!("chromium comparison skipped: {why}"),
        }
    }
    chromium_echo(seconds);

    let quiet = scale_to(&clean, -40.0);
    let out = process(only(|c| c.agc = true), &[], &quiet, |_, _| {});
    let tail = 6 * RATE..quiet.len();
    println!(
        "agc_output_dbfs_from_minus_40 {:.1}",
        active_level_dbfs(&out[tail.clone()], &quiet[tail])
    );
}

/// The noise figures of `out` against `clean` (the input was `noisy`), from
/// the second second on (the noise estimate's start): segmental SNR gain
/// against the clean speech through the chain's 80 Hz high-pass (as the
/// test measures it) and against the clean speech as it is (`_raw`),
/// speech/pause ratio gain, speech level change.
fn print_noise_figures(name: &str, out: &[i16], clean: &[i16], noisy: &[i16]) {
    let skip = RATE;
    let reference = high_passed(clean);
    let (c, r, n, o) = (
        &clean[skip..],
        &reference[skip..],
        &noisy[skip..],
        &out[skip..],
    );
    let before = segmental_snr_db(n, c);
    println!(
        "segmental_snr_gain_db_{name} {:.1}",
        segmental_snr_db(o, r) - before
    );
    println!(
        "segmental_snr_gain_raw_db_{name} {:.1}",
        segmental_snr_db(o, c) - before
    );
    println!(
        "speech_pause_gain_db_{name} {:.1}",
        speech_to_pause_db(o, c) - speech_to_pause_db(n, c)
    );
    println!(
        "speech_level_change_db_{name} {:.1}",
        active_level_dbfs(o, c) - active_level_dbfs(c, c)
    );
}

/// The click track's figures ([`click_figures`]) for `out`, the
/// processed `clicked` (clean speech plus `clicks`).
fn print_click_figures(name: &str, out: &[i16], clean: &[i16], clicked: &[i16], clicks: &[f64]) {
    let figures = click_figures(clicked, out, clean, clicks);
    println!(
        "click_pause_reduction_db_{name} {:.1}",
        figures.pause_reduction
    );
    println!(
        "click_speech_segmental_snr_gain_db_{name} {:.1}",
        figures.speech_after - figures.speech_before
    );
    println!("click_speech_level_change_db_{name} {:.1}", figures.kept);
}

/// Chromium's echo canceller on the same kind of scene: the page plays the
/// far end (looped) and starts capturing 0.3 s later a file holding only
/// its echo (also looped, so the echo lags what is played by ~0.3 s plus
/// the output latency, inside AEC3's delay range). ERLE: the recording
/// with `echoCancellation` against the one without, over one pass.
fn chromium_echo(seconds: usize) {
    let played = scale_to(&far_speech(seconds), -20.0);
    let mic = mix(&[&EchoPath::new(0, 10.0).apply(&played)]);
    let recordings = match chromium::capture(&mic, Some(&played), 2 * seconds + seconds / 2) {
        Ok(recordings) => recordings,
        Err(chromium::Unavailable(why)) => {
            return eprintln!("chromium echo comparison skipped: {why}")
        }
    };
    let aligned = |name: &str| {
        recordings
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, r)| chromium::align(&r[seconds / 2 * RATE..], &mic))
    };
    let Some(off) = aligned("off") else {
        return eprintln!("chromium echo comparison: no usable recording without processing");
    };
    for name in ["aec", "all"] {
        if let Some(out) = aligned(name) {
            println!(
                "chromium_echo_erle_db_{name} {:.1}",
                erle_db(&off, &out, 0..off.len())
            );
        }
    }
}
