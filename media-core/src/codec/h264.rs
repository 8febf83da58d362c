//! H.264 through openh264 (built from source, with NASM SIMD).
//!
//! The encoder is set up for real-time calls: camera real-time usage,
//! constrained baseline (no B-frames, so output order is capture order; the
//! SPS says `42c0xx`), a single slice, bitrate rate control without frame
//! skipping (every input frame produces an access unit, so frame numbers
//! drawn in the picture all arrive), keyframes every
//! `keyframe_interval_s` and on request. Each output is one Annex-B access
//! unit; keyframes carry SPS and PPS in front.
//!
//! Temporal layers (docs/simulcast-spike.md, section 3): by default every
//! other picture is a non-reference one (T1, `nal_ref_idc` 0) between
//! reference pictures (T0, `nal_ref_idc` 3), so an SFU can halve a layer's
//! frame rate by dropping the T1 pictures, reading the NAL header alone (no
//! prefix NAL: the stream stays plain AVC). With three layers the pattern
//! is T0 (3), T2 (0), T1 (1), T2 (0). The openh264 crate hard-codes one
//! temporal layer; `build_encoder` sets the count through `raw_api()`
//! after a first, warm-up encode (openh264 initialises on its first frame),
//! on every encoder it builds (a new size or frame rate builds a new one).

use super::content::SCREEN_QP;
use super::video_config::VideoConfig;
use super::CodecError;
use crate::frame::VideoFrame;
use bytes::Bytes;
use openh264::decoder::{Decoder, DecoderConfig, Flush};
use openh264::encoder::{
    BitRate, Encoder, EncoderConfig, FrameRate, FrameType, Profile, QpRange, RateControlMode,
    UsageType,
};
use openh264::formats::{YUVSlices, YUVSource};
use openh264::{OpenH264API, Timestamp};

/// One encoded picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedVideo {
    /// An Annex-B access unit (start codes included).
    pub data: Bytes,
    /// True for an IDR picture (decodable on its own; SPS/PPS included).
    pub keyframe: bool,
    /// The input frame's capture time.
    pub capture_time_us: u64,
    /// The picture width.
    pub width: u32,
    /// The picture height.
    pub height: u32,
}

/// A real-time H.264 encoder.
pub struct H264Encoder {
    encoder: Encoder,
    config: VideoConfig,
    temporal_layers: u8,
    /// openh264's screen-content usage ([`ContentHint::Text`](super::content::ContentHint::Text)).
    screen_content: bool,
    frames_since_keyframe: u64,
    pending_bitrate_kbps: Option<u32>,
    first_capture_us: Option<u64>,
}

impl std::fmt::Debug for H264Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H264Encoder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The temporal layers of every encoder unless told otherwise: two (the
/// T1 pictures carry ~36 % of the bits at 720p and cost nothing extra to
/// encode; a third layer only adds a 7.5 fps step, and its T1 pictures are
/// references, so a lost one breaks the T2 picture after it).
pub const DEFAULT_TEMPORAL_LAYERS: u8 = 2;
/// The most temporal layers [`H264Encoder::set_temporal_layers`] takes.
pub const MAX_TEMPORAL_LAYERS: u8 = 3;

impl H264Encoder {
    /// An encoder for `config` (validated first), with
    /// [`DEFAULT_TEMPORAL_LAYERS`].
    pub fn new(config: &VideoConfig) -> Result<H264Encoder, CodecError> {
        config.validate()?;
        Ok(H264Encoder {
            encoder: build_encoder(config, DEFAULT_TEMPORAL_LAYERS, false)?,
            config: *config,
            temporal_layers: DEFAULT_TEMPORAL_LAYERS,
            screen_content: false,
            frames_since_keyframe: 0,
            pending_bitrate_kbps: None,
            first_capture_us: None,
        })
    }

    /// The current config (size follows the last frame; bitrate the last
    /// [`set_bitrate`](Self::set_bitrate)).
    pub fn config(&self) -> &VideoConfig {
        &self.config
    }

    /// The number of temporal layers.
    pub fn temporal_layers(&self) -> u8 {
        self.temporal_layers
    }

    /// Sets the number of temporal layers (1 ..= [`MAX_TEMPORAL_LAYERS`];
    /// other values are clamped). A change restarts the encoder: the next
    /// frame is a keyframe.
    pub fn set_temporal_layers(&mut self, layers: u8) -> Result<(), CodecError> {
        let layers = layers.clamp(1, MAX_TEMPORAL_LAYERS);
        if layers != self.temporal_layers {
            self.temporal_layers = layers;
            let config = self.config;
            self.restart(&config)?;
        }
        Ok(())
    }

    /// Switches between camera and screen-content usage (see
    /// [`ContentHint`](super::content::ContentHint)); a change restarts the encoder (a keyframe).
    pub fn set_screen_content(&mut self, screen_content: bool) -> Result<(), CodecError> {
        if screen_content != self.screen_content {
            self.screen_content = screen_content;
            let config = self.config;
            self.restart(&config)?;
        }
        Ok(())
    }

    /// Builds a new encoder for `config` (the next frame is a keyframe).
    fn restart(&mut self, config: &VideoConfig) -> Result<(), CodecError> {
        self.encoder = build_encoder(config, self.temporal_layers, self.screen_content)?;
        self.frames_since_keyframe = 0;
        self.first_capture_us = None;
        Ok(())
    }

    /// Changes the target bitrate; applied before the next frame is encoded,
    /// without a keyframe. Values are clamped to 30..=20000 kbit/s.
    pub fn set_bitrate(&mut self, kbps: u32) {
        self.pending_bitrate_kbps = Some(kbps.clamp(30, 20_000));
    }

    /// Replaces the whole config. A new size or frame rate restarts the
    /// encoder (the next frame is a keyframe); otherwise only the bitrate
    /// and keyframe interval change.
    pub fn set_config(&mut self, config: &VideoConfig) -> Result<(), CodecError> {
        config.validate()?;
        if (config.width, config.height, config.fps)
            != (self.config.width, self.config.height, self.config.fps)
        {
            self.restart(config)?;
            self.pending_bitrate_kbps = None;
        } else if config.bitrate_kbps != self.config.bitrate_kbps {
            self.pending_bitrate_kbps = Some(config.bitrate_kbps);
        }
        let bitrate_kbps = self.config.bitrate_kbps;
        self.config = *config;
        if self.pending_bitrate_kbps.is_some() {
            self.config.bitrate_kbps = bitrate_kbps; // applied with the next frame
        }
        Ok(())
    }

    /// Encodes a frame. `force_keyframe` makes it an IDR picture (as does the
    /// keyframe interval). A frame of a new size restarts the encoder at that
    /// size with a keyframe. Returns `None` only if the encoder produced no
    /// output for this frame.
    pub fn encode(
        &mut self,
        frame: &VideoFrame,
        force_keyframe: bool,
    ) -> Result<Option<EncodedVideo>, CodecError> {
        frame.validate()?;
        if (frame.width, frame.height) != (self.config.width, self.config.height) {
            let resized = VideoConfig {
                width: frame.width,
                height: frame.height,
                bitrate_kbps: self
                    .pending_bitrate_kbps
                    .take()
                    .unwrap_or(self.config.bitrate_kbps),
                ..self.config
            };
            resized.validate()?;
            self.restart(&resized)?;
            self.config = resized;
        }
        if let Some(kbps) = self.pending_bitrate_kbps.take() {
            if kbps != self.config.bitrate_kbps {
                if self.first_capture_us.is_none() {
                    // openh264 initialises on the first frame: nothing to keep.
                    self.config.bitrate_kbps = kbps;
                    self.encoder =
                        build_encoder(&self.config, self.temporal_layers, self.screen_content)?;
                } else {
                    apply_bitrate(&mut self.encoder, self.config.bitrate_kbps, kbps)?;
                    self.config.bitrate_kbps = kbps;
                }
            }
        }
        let interval = self.config.keyframe_interval_frames();
        if force_keyframe || (interval > 0 && self.frames_since_keyframe >= interval) {
            self.encoder.force_intra_frame();
        }

        let (w, h) = (frame.width as usize, frame.height as usize);
        let yuv = YUVSlices::new((frame.y(), frame.u(), frame.v()), (w, h), (w, w / 2, w / 2));
        let first = *self.first_capture_us.get_or_insert(frame.capture_time_us);
        let timestamp = Timestamp::from_millis(frame.capture_time_us.saturating_sub(first) / 1000);
        let stream = self
            .encoder
            .encode_at(&yuv, timestamp)
            .map_err(CodecError::H264Encoder)?;
        let keyframe = match stream.frame_type() {
            FrameType::IDR | FrameType::I => true,
            FrameType::P | FrameType::IPMixed => false,
            FrameType::Skip | FrameType::Invalid => return Ok(None),
        };
        let data = stream.to_vec();
        if data.is_empty() {
            return Ok(None);
        }
        self.frames_since_keyframe = if keyframe {
            1
        } else {
            self.frames_since_keyframe + 1
        };
        Ok(Some(EncodedVideo {
            data: Bytes::from(data),
            keyframe,
            capture_time_us: frame.capture_time_us,
            width: frame.width,
            height: frame.height,
        }))
    }
}

/// An H.264 decoder taking one Annex-B access unit at a time.
pub struct H264Decoder {
    decoder: Decoder,
}

impl std::fmt::Debug for H264Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H264Decoder").finish_non_exhaustive()
    }
}

impl H264Decoder {
    /// A decoder.
    pub fn new() -> Result<H264Decoder, CodecError> {
        let config = DecoderConfig::new().flush_after_decode(Flush::NoFlush);
        let decoder = Decoder::with_api_config(OpenH264API::from_source(), config)
            .map_err(CodecError::H264DecoderCreation)?;
        Ok(H264Decoder { decoder })
    }

    /// Decodes one access unit. `Ok(None)` when it completes no picture
    /// (e.g. parameter sets only); an error for corrupt or foreign data
    /// (the decoder stays usable: feed it the next keyframe). Decoded
    /// frames have `capture_time_us` 0; the caller restores timing.
    pub fn decode(&mut self, access_unit: &[u8]) -> Result<Option<VideoFrame>, CodecError> {
        let decoded = self
            .decoder
            .decode(access_unit)
            .map_err(CodecError::H264Decoder)?;
        let Some(yuv) = decoded else {
            return Ok(None);
        };
        let (w, h) = yuv.dimensions();
        let (sy, su, sv) = yuv.strides();
        if w == 0 || h == 0 || w % 2 != 0 || h % 2 != 0 {
            return Err(CodecError::Decoder(format!(
                "unsupported picture size {w}x{h}"
            )));
        }
        let mut data = Vec::with_capacity(w * h * 3 / 2);
        copy_plane(&mut data, yuv.y(), sy, w, h)?;
        copy_plane(&mut data, yuv.u(), su, w / 2, h / 2)?;
        copy_plane(&mut data, yuv.v(), sv, w / 2, h / 2)?;
        Ok(Some(VideoFrame {
            width: w as u32,
            height: h as u32,
            data,
            capture_time_us: 0,
        }))
    }
}

fn copy_plane(
    out: &mut Vec<u8>,
    plane: &[u8],
    stride: usize,
    width: usize,
    height: usize,
) -> Result<(), CodecError> {
    for row in 0..height {
        let line = plane
            .get(row * stride..row * stride + width)
            .ok_or_else(|| CodecError::Decoder("decoded plane shorter than its size".into()))?;
        out.extend_from_slice(line);
    }
    Ok(())
}

/// An encoder for `config` with `temporal_layers` temporal layers (more
/// than one: initialised by a warm-up encode of a black frame, then told
/// through [`set_temporal_layers`]; the next frame is an IDR picture).
fn build_encoder(
    config: &VideoConfig,
    temporal_layers: u8,
    screen_content: bool,
) -> Result<Encoder, CodecError> {
    let usage = match screen_content {
        true => UsageType::ScreenContentRealTime,
        false => UsageType::CameraVideoRealTime,
    };
    let encoder_config = EncoderConfig::new()
        .usage_type(usage)
        .profile(Profile::Baseline)
        .rate_control_mode(RateControlMode::Bitrate)
        .bitrate(BitRate::from_bps(config.bitrate_kbps * 1000))
        .max_frame_rate(FrameRate::from_hz(config.fps as f32))
        .skip_frames(false)
        .num_threads(1)
        .scene_change_detect(false);
    // Screen content: openh264's own range (26-35) leaves text blurred.
    let encoder_config = match screen_content {
        true => encoder_config.qp(QpRange::new(SCREEN_QP.0, SCREEN_QP.1)),
        false => encoder_config,
    };
    let mut encoder = Encoder::with_api_config(OpenH264API::from_source(), encoder_config)
        .map_err(CodecError::H264EncoderCreation)?;
    if temporal_layers > 1 {
        let black = VideoFrame::black(config.width, config.height);
        let (w, h) = (config.width as usize, config.height as usize);
        let yuv = YUVSlices::new((black.y(), black.u(), black.v()), (w, h), (w, w / 2, w / 2));
        encoder
            .encode_at(&yuv, Timestamp::ZERO)
            .map_err(CodecError::H264Encoder)?;
        set_temporal_layers(&mut encoder, temporal_layers)?;
    }
    Ok(encoder)
}

/// Sets the temporal layer count of an initialised encoder through
/// `ENCODER_OPTION_SVC_ENCODE_PARAM_EXT` (read, change one field, write
/// back; openh264 restarts its coding with an IDR picture).
fn set_temporal_layers(encoder: &mut Encoder, layers: u8) -> Result<(), CodecError> {
    use openh264_sys2::{SEncParamExt, ENCODER_OPTION_SVC_ENCODE_PARAM_EXT};
    let mut params = SEncParamExt::default();
    #[allow(unsafe_code)]
    // SAFETY: the encoder is initialised (it has encoded a frame); the
    // option reads and writes one SEncParamExt through the pointer, which
    // lives for both calls; every field but the temporal layer count is
    // written back as openh264 reported it, so the size, format and slice
    // layout the Rust wrapper relies on stay as it set them.
    let rc = unsafe {
        let api = encoder.raw_api();
        let option = ENCODER_OPTION_SVC_ENCODE_PARAM_EXT;
        match api.get_option(option, std::ptr::addr_of_mut!(params).cast()) {
            0 => {
                params.iTemporalLayerNum = i32::from(layers);
                api.set_option(option, std::ptr::addr_of_mut!(params).cast())
            }
            rc => rc,
        }
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(CodecError::Encoder(format!(
            "openh264 refused {layers} temporal layers (code {rc})"
        )))
    }
}

/// Changes the bitrate of a running encoder without a keyframe, through
/// openh264's `ENCODER_OPTION_MAX_BITRATE` / `ENCODER_OPTION_BITRATE` (the
/// openh264 crate does not wrap them). The layer maximum must stay at least
/// the target, so it moves first when raising and last when lowering.
fn apply_bitrate(encoder: &mut Encoder, from_kbps: u32, to_kbps: u32) -> Result<(), CodecError> {
    use openh264_sys2::{
        SBitrateInfo, ENCODER_OPTION, ENCODER_OPTION_BITRATE, ENCODER_OPTION_MAX_BITRATE,
        SPATIAL_LAYER_0, SPATIAL_LAYER_ALL,
    };
    let bps = (to_kbps * 1000) as i32;
    let set = |encoder: &mut Encoder, option: ENCODER_OPTION, layer| {
        let mut info = SBitrateInfo {
            iLayer: layer,
            iBitrate: bps,
        };
        #[allow(unsafe_code)]
        // SAFETY: the encoder is initialised (build_encoder encodes a frame
        // first); the BITRATE and MAX_BITRATE options read one SBitrateInfo
        // through the pointer, which lives for the whole call; neither
        // option changes a parameter the Rust wrapper relies on (size,
        // format, slice layout).
        let rc = unsafe {
            encoder
                .raw_api()
                .set_option(option, std::ptr::addr_of_mut!(info).cast())
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(CodecError::Encoder(format!(
                "openh264 refused bitrate {to_kbps} kbit/s (option {option}, code {rc})"
            )))
        }
    };
    if to_kbps > from_kbps {
        set(encoder, ENCODER_OPTION_MAX_BITRATE, SPATIAL_LAYER_0)?;
        set(encoder, ENCODER_OPTION_BITRATE, SPATIAL_LAYER_ALL)
    } else {
        set(encoder, ENCODER_OPTION_BITRATE, SPATIAL_LAYER_ALL)?;
        set(encoder, ENCODER_OPTION_MAX_BITRATE, SPATIAL_LAYER_0)
    }
}

/// The NAL unit types in an Annex-B buffer, in order (for tests and logs).
pub fn nal_types(annex_b: &[u8]) -> Vec<u8> {
    nal_headers(annex_b).map(|h| h & 0x1f).collect()
}

/// The `nal_ref_idc` of each NAL unit in an Annex-B buffer, in order (0: a
/// picture nothing refers to; the temporal layer an SFU may drop).
pub fn nal_ref_idcs(annex_b: &[u8]) -> Vec<u8> {
    nal_headers(annex_b).map(|h| (h >> 5) & 0x3).collect()
}

/// The header byte of each NAL unit in an Annex-B buffer.
fn nal_headers(annex_b: &[u8]) -> impl Iterator<Item = u8> + '_ {
    openh264::nal_units(annex_b).filter_map(|nal| {
        let start = nal.iter().position(|&b| b == 1)? + 1;
        nal.get(start).copied()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::test_pattern::TestPattern;
    use crate::codec::video_config::VideoPreset;
    use protocol::ErrorCode;

    fn config(preset: VideoPreset) -> VideoConfig {
        preset.config()
    }

    #[test]
    fn keyframes_follow_the_interval_and_requests() {
        let cfg = VideoConfig {
            keyframe_interval_s: 1,
            ..config(VideoPreset::P180)
        };
        let mut enc = H264Encoder::new(&cfg).unwrap();
        let mut pattern = TestPattern::new(cfg.width, cfg.height);
        let mut keyframes = Vec::new();
        for n in 0..40u32 {
            let out = enc
                .encode(&pattern.frame(n, n as u64 * 66_666), n == 20)
                .unwrap()
                .expect("no frame skipping");
            if out.keyframe {
                keyframes.push(n);
                let types = nal_types(&out.data);
                assert!(types.starts_with(&[7, 8]), "SPS, PPS first: {types:?}");
                assert!(types.contains(&5), "an IDR slice: {types:?}");
            } else {
                assert_eq!(nal_types(&out.data), vec![1]);
            }
        }
        // IDR at 0, 15 (1 s at 15 fps), on request at 20, then 35.
        assert_eq!(keyframes, vec![0, 15, 20, 35]);
    }

    #[test]
    fn sps_is_constrained_baseline() {
        let mut enc = H264Encoder::new(&config(VideoPreset::P180)).unwrap();
        let out = enc
            .encode(&VideoFrame::black(320, 180), false)
            .unwrap()
            .unwrap();
        let sps = openh264::nal_units(&out.data).next().unwrap();
        let start = sps.iter().position(|&b| b == 1).unwrap() + 1;
        assert_eq!(sps[start] & 0x1f, 7);
        assert_eq!(sps[start + 1], 0x42, "profile_idc baseline");
        assert_eq!(
            sps[start + 2] & 0x40,
            0x40,
            "constraint_set1 (constrained baseline)"
        );
    }

    /// Encodes `seconds` of test pattern and returns the achieved kbit/s.
    fn achieved_kbps(
        enc: &mut H264Encoder,
        pattern: &mut TestPattern,
        from: u32,
        frames: u32,
    ) -> f64 {
        let fps = enc.config().fps as u64;
        let mut bytes = 0usize;
        for n in from..from + frames {
            let t = n as u64 * 1_000_000 / fps;
            bytes += enc
                .encode(&pattern.frame(n, t), false)
                .unwrap()
                .unwrap()
                .data
                .len();
        }
        bytes as f64 * 8.0 / (frames as f64 / fps as f64) / 1000.0
    }

    #[test]
    fn bitrate_follows_the_target_and_set_bitrate() {
        let cfg = config(VideoPreset::P360);
        let mut enc = H264Encoder::new(&cfg).unwrap();
        let mut pattern = TestPattern::new(cfg.width, cfg.height);
        let frames = cfg.fps * 10;
        let kbps = achieved_kbps(&mut enc, &mut pattern, 0, frames);
        let target = cfg.bitrate_kbps as f64;
        println!("10 s at {target} kbit/s: achieved {kbps:.0}");
        assert!(
            (kbps - target).abs() <= target * 0.25,
            "10 s at {target} kbit/s achieved {kbps:.0}"
        );
        // Frame 150 is a periodic keyframe (every 30 frames); halve the rate
        // after it: no extra keyframe, and the rate follows.
        assert!(
            enc.encode(&pattern.frame(frames, 0), false)
                .unwrap()
                .unwrap()
                .keyframe
        );
        enc.set_bitrate(cfg.bitrate_kbps / 2);
        let next = enc
            .encode(&pattern.frame(frames + 1, 0), false)
            .unwrap()
            .unwrap();
        assert!(!next.keyframe, "a bitrate change must not cost a keyframe");
        let low = achieved_kbps(&mut enc, &mut pattern, frames + 2, cfg.fps * 4);
        println!(
            "after set_bitrate({}): achieved {low:.0}",
            cfg.bitrate_kbps / 2
        );
        assert!(
            low < kbps * 0.75,
            "after set_bitrate({}) achieved {low:.0} (was {kbps:.0})",
            cfg.bitrate_kbps / 2
        );
        assert_eq!(enc.config().bitrate_kbps, cfg.bitrate_kbps / 2);
    }

    #[test]
    fn resolution_change_restarts_with_a_keyframe() {
        let cfg = config(VideoPreset::P180);
        let mut enc = H264Encoder::new(&cfg).unwrap();
        let mut dec = H264Decoder::new().unwrap();
        let mut small = TestPattern::new(320, 180);
        let mut big = TestPattern::new(640, 360);
        for n in 0..3 {
            let out = enc.encode(&small.frame(n, 0), false).unwrap().unwrap();
            assert_eq!(dec.decode(&out.data).unwrap().unwrap().width, 320);
        }
        let out = enc.encode(&big.frame(3, 0), false).unwrap().unwrap();
        assert!(out.keyframe);
        assert_eq!((out.width, out.height), (640, 360));
        assert_eq!(enc.config().width, 640);
        let decoded = dec.decode(&out.data).unwrap().unwrap();
        assert_eq!((decoded.width, decoded.height), (640, 360));
        let out = enc.encode(&big.frame(4, 0), false).unwrap().unwrap();
        assert!(!out.keyframe);
        assert!(dec.decode(&out.data).unwrap().is_some());
    }

    #[test]
    fn set_config_down_a_size_and_rate_keeps_one_decoder_going() {
        // What the publisher's rate control does: 360p30 -> 180p15.
        let cfg = VideoConfig {
            fps: 30,
            ..config(VideoPreset::P360)
        };
        let mut enc = H264Encoder::new(&cfg).unwrap();
        let mut dec = H264Decoder::new().unwrap();
        let mut big = TestPattern::new(640, 360);
        let mut small = TestPattern::new(320, 180);
        for n in 0..3 {
            let out = enc.encode(&big.frame(n, 0), false).unwrap().unwrap();
            assert_eq!(dec.decode(&out.data).unwrap().unwrap().width, 640);
        }
        let smaller = VideoConfig {
            width: 320,
            height: 180,
            fps: 15,
            bitrate_kbps: 100,
            ..cfg
        };
        enc.set_config(&smaller).unwrap();
        for n in 3..6 {
            let out = enc.encode(&small.frame(n, 0), false).unwrap().unwrap();
            assert_eq!(out.keyframe, n == 3, "a keyframe at the change only");
            let decoded = dec.decode(&out.data).unwrap().unwrap();
            assert_eq!((decoded.width, decoded.height), (320, 180));
        }
        assert_eq!(enc.config().keyframe_interval_frames(), 30);
    }

    /// The `nal_ref_idc` of an access unit's slice (all its slices share it).
    fn slice_ref_idc(out: &EncodedVideo) -> u8 {
        let types = nal_types(&out.data);
        let idcs = nal_ref_idcs(&out.data);
        let slice = types.iter().position(|t| matches!(t, 1 | 5)).unwrap();
        idcs[slice]
    }

    #[test]
    fn temporal_layers_alternate_and_the_base_layer_decodes_alone() {
        let cfg = config(VideoPreset::P360);
        let mut enc = H264Encoder::new(&cfg).unwrap();
        assert_eq!(enc.temporal_layers(), 2);
        let mut pattern = TestPattern::new(cfg.width, cfg.height);
        let mut t0_only = H264Decoder::new().unwrap();
        let mut everything = H264Decoder::new().unwrap();
        let (mut since_keyframe, mut t0_frames) = (0u32, 0u32);
        // 70 frames: the periodic keyframe at 30 (2 s at 15 fps) and one
        // asked for at an odd distance from it (45) restart the pattern.
        for n in 0..70u32 {
            let t = 1_000_000 + u64::from(n) * 33_333;
            let out = enc.encode(&pattern.frame(n, t), n == 45).unwrap().unwrap();
            since_keyframe = if out.keyframe { 0 } else { since_keyframe + 1 };
            assert_eq!(out.keyframe, [0, 30, 45].contains(&n), "frame {n}");
            let idc = slice_ref_idc(&out);
            if since_keyframe % 2 == 1 {
                assert_eq!(idc, 0, "frame {n}: T1, not a reference");
                assert_eq!(nal_types(&out.data), vec![1], "frame {n}: no prefix NAL");
            } else {
                assert_eq!(idc, 3, "frame {n}: T0");
                t0_frames += 1;
                let picture = t0_only
                    .decode(&out.data)
                    .unwrap()
                    .unwrap_or_else(|| panic!("T0 frame {n} decodes without the T1 frames"));
                let stamp = crate::capture::barcode::read_near(&picture, t);
                assert_eq!(stamp.map(|s| s.frame_number), Some(n), "T0 frame {n}");
            }
            assert!(everything.decode(&out.data).unwrap().is_some(), "frame {n}");
        }
        assert_eq!(t0_frames, 36);
    }

    #[test]
    fn temporal_layer_count_is_set_and_survives_a_new_size() {
        let cfg = config(VideoPreset::P180);
        let mut enc = H264Encoder::new(&cfg).unwrap();
        let mut small = TestPattern::new(320, 180);
        let mut big = TestPattern::new(640, 360);
        let idcs = |enc: &mut H264Encoder, pattern: &mut TestPattern, from: u32| {
            (from..from + 4)
                .map(|n| slice_ref_idc(&enc.encode(&pattern.frame(n, 0), false).unwrap().unwrap()))
                .collect::<Vec<_>>()
        };
        assert_eq!(idcs(&mut enc, &mut small, 0), vec![3, 0, 3, 0]);
        // A new size builds a new encoder: still two layers.
        assert_eq!(idcs(&mut enc, &mut big, 4), vec![3, 0, 3, 0]);
        enc.set_temporal_layers(3).unwrap();
        assert_eq!(idcs(&mut enc, &mut big, 8), vec![3, 0, 1, 0]);
        enc.set_temporal_layers(0).unwrap();
        assert_eq!(enc.temporal_layers(), 1, "clamped");
        assert_eq!(idcs(&mut enc, &mut big, 12), vec![3, 3, 3, 3]);
    }

    #[test]
    fn invalid_input_is_an_error_not_a_panic() {
        let mut enc = H264Encoder::new(&config(VideoPreset::P180)).unwrap();
        let bad = VideoFrame {
            width: 320,
            height: 180,
            data: vec![0; 10],
            capture_time_us: 0,
        };
        assert_eq!(
            enc.encode(&bad, false).unwrap_err().code(),
            ErrorCode::InvalidFrame
        );
        let err = H264Encoder::new(&VideoConfig {
            width: 7,
            ..config(VideoPreset::P180)
        })
        .unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidVideoConfig);
    }

    #[test]
    fn decoder_survives_garbage() {
        let mut dec = H264Decoder::new().unwrap();
        let mut seed = 0x1234_5678u32;
        let mut errors = 0;
        for len in [0usize, 1, 4, 5, 100, 1000, 5000] {
            let mut junk: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    seed as u8
                })
                .collect();
            if len >= 5 {
                junk[..4].copy_from_slice(&[0, 0, 0, 1]); // looks like a NAL unit
            }
            if dec.decode(&junk).is_err() {
                errors += 1;
            }
        }
        assert!(errors > 0, "garbage must be reported");
        // Still decodes a real stream afterwards.
        let mut enc = H264Encoder::new(&config(VideoPreset::P180)).unwrap();
        let out = enc
            .encode(&VideoFrame::black(320, 180), true)
            .unwrap()
            .unwrap();
        assert!(dec.decode(&out.data).unwrap().is_some());
    }
}
