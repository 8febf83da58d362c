//! Codec cost on this machine: openh264 encode and decode ms per frame at
//! 360p and 720p (300 test-pattern frames each, at the preset bitrate), the
//! bitrate achieved against the target, the share of barcode stamps read
//! back after decoding, the three encoders of a 720p30 simulcast publisher
//! (720p/360p/180p at 1500/495/163 kbit/s, the SDK's nominal rates) in one
//! thread as the video thread runs them (with the SDK's default two
//! temporal layers, and again with one and with three: ms per tick and the
//! share of the bytes in non-reference pictures, the ones an SFU drops to
//! thin a layer's frame rate), and Opus encode/decode ms per 20 ms frame. Prints one figure per line. Run in release: `cargo bench --bench codec`.

use media_core::capture::barcode;
use media_core::capture::test_pattern::TestPattern;
use media_core::capture::tone::ToneGenerator;
use media_core::codec::h264::{nal_ref_idcs, H264Decoder, H264Encoder};
use media_core::codec::opus::{OpusDecoder, OpusEncoder};
use media_core::codec::video_config::{VideoConfig, VideoPreset};
use media_core::frame::unix_time_us;
use std::time::{Duration, Instant};

const VIDEO_FRAMES: u32 = 300;
const AUDIO_FRAMES: u64 = 3000;

fn ms_per(total: Duration, count: u64) -> f64 {
    total.as_secs_f64() * 1000.0 / count as f64
}

fn video(name: &str, config: VideoConfig) {
    let mut encoder = H264Encoder::new(&config).expect("preset configs are valid");
    let mut decoder = H264Decoder::new().expect("decoder");
    let mut pattern = TestPattern::new(config.width, config.height);
    let start_us = unix_time_us();
    let (mut encode_time, mut decode_time) = (Duration::ZERO, Duration::ZERO);
    let (mut bytes, mut decoded, mut stamps_ok, mut keyframes) = (0usize, 0u64, 0u32, 0u32);
    for n in 0..VIDEO_FRAMES {
        let t = start_us + n as u64 * 1_000_000 / config.fps as u64;
        let frame = pattern.frame(n, t);
        let started = Instant::now();
        let encoded = encoder.encode(&frame, false).expect("encode");
        encode_time += started.elapsed();
        let Some(encoded) = encoded else { continue };
        bytes += encoded.data.len();
        keyframes += encoded.keyframe as u32;
        let started = Instant::now();
        let picture = decoder.decode(&encoded.data).expect("decode");
        decode_time += started.elapsed();
        if let Some(picture) = picture {
            decoded += 1;
            let stamp = barcode::read_near(&picture, t);
            if stamp.map(|s| (s.frame_number, s.capture_time_us)) == Some((n, t)) {
                stamps_ok += 1;
            }
        }
    }
    let seconds = VIDEO_FRAMES as f64 / config.fps as f64;
    let kbps = bytes as f64 * 8.0 / seconds / 1000.0;
    println!(
        "h264_encode_{name}_ms_per_frame {:.3}",
        ms_per(encode_time, VIDEO_FRAMES as u64)
    );
    println!(
        "h264_decode_{name}_ms_per_frame {:.3}",
        ms_per(decode_time, decoded.max(1))
    );
    println!("h264_{name}_target_kbps {}", config.bitrate_kbps);
    println!("h264_{name}_achieved_kbps {kbps:.0}");
    println!(
        "h264_{name}_achieved_over_target {:.3}",
        kbps / config.bitrate_kbps as f64
    );
    println!("h264_{name}_keyframes {keyframes}");
    println!(
        "h264_{name}_barcode_read_percent {:.1}",
        stamps_ok as f64 * 100.0 / VIDEO_FRAMES as f64
    );
}

/// Three encoders, one per simulcast layer of a 720p30 source, each fed
/// its own test pattern (the SDK box-filters each from the one above;
/// that costs ~1 ms a tick in release and is not measured here), with
/// `temporal_layers` temporal layers (`None`: the SDK's default); figures
/// named `h264_simulcast_720p_{label}_...`.
fn simulcast_720p(label: &str, temporal_layers: Option<u8>) {
    let layers = [(1280, 720, 1500), (640, 360, 495), (320, 180, 163)];
    let mut encoders: Vec<_> = layers
        .iter()
        .map(|&(width, height, bitrate_kbps)| {
            let config = VideoConfig {
                width,
                height,
                bitrate_kbps,
                ..VideoPreset::P720.config()
            };
            let pattern = TestPattern::new(width, height);
            let mut encoder = H264Encoder::new(&config).expect("valid layer config");
            if let Some(layers) = temporal_layers {
                encoder
                    .set_temporal_layers(layers)
                    .expect("temporal layers");
            }
            (encoder, pattern)
        })
        .collect();
    let start_us = unix_time_us();
    let mut ticks = Vec::with_capacity(VIDEO_FRAMES as usize);
    let (mut bytes, mut nonref_bytes) = (0usize, 0usize);
    for n in 0..VIDEO_FRAMES {
        let t = start_us + u64::from(n) * 1_000_000 / 30;
        let frames: Vec<_> = encoders.iter_mut().map(|(_, p)| p.frame(n, t)).collect();
        let started = Instant::now();
        for ((encoder, _), frame) in encoders.iter_mut().zip(&frames) {
            if let Some(encoded) = encoder.encode(frame, false).expect("encode") {
                bytes += encoded.data.len();
                if nal_ref_idcs(&encoded.data).iter().all(|&idc| idc == 0) {
                    nonref_bytes += encoded.data.len();
                }
            }
        }
        ticks.push(started.elapsed());
    }
    ticks.sort();
    let total: Duration = ticks.iter().sum();
    println!(
        "h264_simulcast_720p_{label}_ms_per_tick {:.3}",
        ms_per(total, VIDEO_FRAMES as u64)
    );
    println!(
        "h264_simulcast_720p_{label}_p95_ms_per_tick {:.3}",
        ticks[ticks.len() * 95 / 100].as_secs_f64() * 1000.0
    );
    println!(
        "h264_simulcast_720p_{label}_achieved_kbps {:.0}",
        bytes as f64 * 8.0 / (f64::from(VIDEO_FRAMES) / 30.0) / 1000.0
    );
    println!(
        "h264_simulcast_720p_{label}_nonref_bytes_percent {:.1}",
        nonref_bytes as f64 * 100.0 / bytes.max(1) as f64
    );
}

fn audio() {
    let mut tone = ToneGenerator::new(440.0, 48_000, 1);
    let frames: Vec<_> = (0..AUDIO_FRAMES)
        .map(|i| tone.next_frame(i * 20_000))
        .collect();
    let mut encoder = OpusEncoder::new(48_000, 1).expect("opus encoder");
    let mut decoder = OpusDecoder::new(48_000, 1).expect("opus decoder");
    let started = Instant::now();
    let packets: Vec<_> = frames
        .iter()
        .map(|f| encoder.encode(f).expect("opus encode"))
        .collect();
    let encode_time = started.elapsed();
    let started = Instant::now();
    for p in &packets {
        decoder.decode(p).expect("opus decode");
    }
    let decode_time = started.elapsed();
    let bytes: usize = packets.iter().map(|p| p.len()).sum();
    println!(
        "opus_encode_ms_per_frame {:.4}",
        ms_per(encode_time, AUDIO_FRAMES)
    );
    println!(
        "opus_decode_ms_per_frame {:.4}",
        ms_per(decode_time, AUDIO_FRAMES)
    );
    println!(
        "opus_mono_kbps {:.1}",
        bytes as f64 * 8.0 / (AUDIO_FRAMES as f64 * 0.02) / 1000.0
    );
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    video("360p", VideoPreset::P360.config());
    video("720p", VideoPreset::P720.config());
    simulcast_720p("3_layers", None);
    simulcast_720p("3_layers_t1", Some(1));
    simulcast_720p("3_layers_t3", Some(3));
    audio();
}
