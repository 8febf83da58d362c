//! Raw media frames passed between capture, codecs and renderers.
//!
//! - [`VideoFrame`]: one I420 picture (BT.601 limited range: luma 16..=235,
//!   chroma centred on 128), even width and height.
//! - [`AudioFrame`]: 20 ms of interleaved 16-bit PCM at 48 kHz.
//!
//! Timestamps are Unix microseconds ([`unix_time_us`]) taken at capture, so a
//! receiver on the same clock can measure glass-to-glass delay.

use protocol::ErrorCode;
use std::time::{SystemTime, UNIX_EPOCH};

/// The only audio sample rate the pipeline uses (Opus' native rate).
pub const AUDIO_SAMPLE_RATE: u32 = 48_000;

/// Samples per channel in one [`AudioFrame`]: 20 ms at 48 kHz.
pub const AUDIO_FRAME_SAMPLES: usize = 960;

/// The duration of one [`AudioFrame`] in microseconds.
pub const AUDIO_FRAME_US: u64 = 20_000;

/// Largest width or height a [`VideoFrame`] may have (openh264's limit).
pub const MAX_VIDEO_DIMENSION: u32 = 3840;

/// The current time as Unix microseconds, the clock of every `capture_time_us`.
pub fn unix_time_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// A frame that does not match its declared format or size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Width or height is zero, odd, or larger than [`MAX_VIDEO_DIMENSION`].
    #[error(
        "video size {width}x{height} must be even, non-zero and at most {MAX_VIDEO_DIMENSION}"
    )]
    InvalidSize {
        /// The width given.
        width: u32,
        /// The height given.
        height: u32,
    },
    /// The pixel buffer's length does not match the size and format.
    #[error("{format} buffer for {width}x{height} must be {expected} bytes, got {actual}")]
    WrongLength {
        /// `"I420"` or `"RGBA"`.
        format: &'static str,
        /// The width given.
        width: u32,
        /// The height given.
        height: u32,
        /// The length the format needs.
        expected: usize,
        /// The length given.
        actual: usize,
    },
    /// Audio that is not 48 kHz.
    #[error("audio sample rate must be 48000 Hz, got {0}")]
    UnsupportedSampleRate(u32),
    /// Audio that is neither mono nor stereo.
    #[error("audio must have 1 or 2 channels, got {0}")]
    UnsupportedChannels(u16),
    /// An audio buffer whose length is wrong for its channel count (or not
    /// 20 ms where a whole frame is required).
    #[error("audio buffer of {actual} samples; expected {expected}")]
    WrongSampleCount {
        /// The number of samples needed.
        expected: usize,
        /// The number of samples given.
        actual: usize,
    },
}

impl FrameError {
    /// The error code of this error (always [`ErrorCode::InvalidFrame`]).
    pub fn code(&self) -> ErrorCode {
        ErrorCode::InvalidFrame
    }
}

/// One I420 picture: the Y plane (`width * height` bytes) followed by the U
/// and V planes (`(width / 2) * (height / 2)` bytes each), no padding.
#[derive(Clone, PartialEq, Eq)]
pub struct VideoFrame {
    /// Width in pixels (even).
    pub width: u32,
    /// Height in pixels (even).
    pub height: u32,
    /// Y, then U, then V, each tightly packed.
    pub data: Vec<u8>,
    /// Capture time as Unix microseconds (0 when unknown, e.g. fresh out of a decoder).
    pub capture_time_us: u64,
}

impl std::fmt::Debug for VideoFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoFrame")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("data_len", &self.data.len())
            .field("capture_time_us", &self.capture_time_us)
            .finish()
    }
}

impl VideoFrame {
    /// The I420 buffer length for a size: `w*h + 2 * (w/2)*(h/2)`.
    pub fn i420_len(width: u32, height: u32) -> usize {
        let (w, h) = (width as usize, height as usize);
        w * h + 2 * (w / 2) * (h / 2)
    }

    /// Checks a size: even, non-zero, at most [`MAX_VIDEO_DIMENSION`].
    pub fn check_size(width: u32, height: u32) -> Result<(), FrameError> {
        let ok = |d: u32| d > 0 && d % 2 == 0 && d <= MAX_VIDEO_DIMENSION;
        if ok(width) && ok(height) {
            Ok(())
        } else {
            Err(FrameError::InvalidSize { width, height })
        }
    }

    /// Wraps an I420 buffer, checking its size and length.
    pub fn new(
        width: u32,
        height: u32,
        data: Vec<u8>,
        capture_time_us: u64,
    ) -> Result<VideoFrame, FrameError> {
        let frame = VideoFrame {
            width,
            height,
            data,
            capture_time_us,
        };
        frame.validate()?;
        Ok(frame)
    }

    /// A black frame (Y 16, U and V 128) with capture time 0.
    ///
    /// # Panics
    ///
    /// Panics if the size is invalid (see [`VideoFrame::check_size`]).
    pub fn black(width: u32, height: u32) -> VideoFrame {
        assert!(
            Self::check_size(width, height).is_ok(),
            "VideoFrame::black needs an even, non-zero size, got {width}x{height}"
        );
        let luma = (width * height) as usize;
        let mut data = vec![128u8; Self::i420_len(width, height)];
        data[..luma].fill(16);
        VideoFrame {
            width,
            height,
            data,
            capture_time_us: 0,
        }
    }

    /// Checks that the size is valid and `data` has the I420 length for it.
    pub fn validate(&self) -> Result<(), FrameError> {
        Self::check_size(self.width, self.height)?;
        let expected = Self::i420_len(self.width, self.height);
        if self.data.len() != expected {
            return Err(FrameError::WrongLength {
                format: "I420",
                width: self.width,
                height: self.height,
                expected,
                actual: self.data.len(),
            });
        }
        Ok(())
    }

    /// The Y plane (`width` bytes per row).
    pub fn y(&self) -> &[u8] {
        &self.data[..self.luma_len()]
    }

    /// The U plane (`width / 2` bytes per row).
    pub fn u(&self) -> &[u8] {
        let (l, c) = (self.luma_len(), self.chroma_len());
        &self.data[l..l + c]
    }

    /// The V plane (`width / 2` bytes per row).
    pub fn v(&self) -> &[u8] {
        let (l, c) = (self.luma_len(), self.chroma_len());
        &self.data[l + c..l + 2 * c]
    }

    /// The three planes, mutable: `(y, u, v)`.
    pub fn planes_mut(&mut self) -> (&mut [u8], &mut [u8], &mut [u8]) {
        let (l, c) = (self.luma_len(), self.chroma_len());
        let (y, rest) = self.data.split_at_mut(l);
        let (u, rest) = rest.split_at_mut(c);
        (y, u, &mut rest[..c])
    }

    /// Converts tightly packed RGBA (`width * height * 4` bytes) to I420 with
    /// BT.601 limited-range coefficients; chroma is the average of each 2x2
    /// block. Alpha is ignored.
    pub fn from_rgba(width: u32, height: u32, rgba: &[u8]) -> Result<VideoFrame, FrameError> {
        Self::check_size(width, height)?;
        let (w, h) = (width as usize, height as usize);
        if rgba.len() != w * h * 4 {
            return Err(FrameError::WrongLength {
                format: "RGBA",
                width,
                height,
                expected: w * h * 4,
                actual: rgba.len(),
            });
        }
        let mut frame = VideoFrame {
            width,
            height,
            data: vec![0; Self::i420_len(width, height)],
            capture_time_us: 0,
        };
        let (y_plane, u_plane, v_plane) = frame.planes_mut();
        for (row, y_row) in y_plane.chunks_exact_mut(w).enumerate() {
            let src = &rgba[row * w * 4..(row + 1) * w * 4];
            for (y, px) in y_row.iter_mut().zip(src.chunks_exact(4)) {
                let (r, g, b) = (px[0] as i32, px[1] as i32, px[2] as i32);
                *y = (((66 * r + 129 * g + 25 * b + 128) >> 8) + 16) as u8;
            }
        }
        let cw = w / 2;
        for cy in 0..h / 2 {
            for cx in 0..cw {
                let (mut r, mut g, mut b) = (0i32, 0i32, 0i32);
                for (dy, dx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                    let i = ((2 * cy + dy) * w + 2 * cx + dx) * 4;
                    r += rgba[i] as i32;
                    g += rgba[i + 1] as i32;
                    b += rgba[i + 2] as i32;
                }
                let (r, g, b) = ((r + 2) >> 2, (g + 2) >> 2, (b + 2) >> 2);
                u_plane[cy * cw + cx] = (((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128) as u8;
                v_plane[cy * cw + cx] = (((112 * r - 94 * g - 18 * b + 128) >> 8) + 128) as u8;
            }
        }
        Ok(frame)
    }

    fn luma_len(&self) -> usize {
        self.width as usize * self.height as usize
    }

    fn chroma_len(&self) -> usize {
        (self.width as usize / 2) * (self.height as usize / 2)
    }
}

/// 20 ms of interleaved signed 16-bit PCM at 48 kHz.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioFrame {
    /// Always [`AUDIO_SAMPLE_RATE`] (48000).
    pub sample_rate: u32,
    /// 1 (mono) or 2 (stereo, interleaved L R L R ...).
    pub channels: u16,
    /// [`AUDIO_FRAME_SAMPLES`] samples per channel, interleaved.
    pub samples: Vec<i16>,
    /// Capture time of the first sample as Unix microseconds (0 when unknown).
    pub capture_time_us: u64,
}

impl AudioFrame {
    /// 20 ms of silence.
    pub fn silence(channels: u16, capture_time_us: u64) -> AudioFrame {
        AudioFrame {
            sample_rate: AUDIO_SAMPLE_RATE,
            channels,
            samples: vec![0; AUDIO_FRAME_SAMPLES * channels as usize],
            capture_time_us,
        }
    }

    /// Checks the rate (48 kHz), the channel count (1 or 2) and that the
    /// frame holds exactly 20 ms.
    pub fn validate(&self) -> Result<(), FrameError> {
        check_audio_format(self.sample_rate, self.channels)?;
        let expected = AUDIO_FRAME_SAMPLES * self.channels as usize;
        if self.samples.len() != expected {
            return Err(FrameError::WrongSampleCount {
                expected,
                actual: self.samples.len(),
            });
        }
        Ok(())
    }

    /// Samples per channel.
    pub fn samples_per_channel(&self) -> usize {
        self.samples.len() / self.channels.max(1) as usize
    }
}

/// Checks an audio format: 48 kHz, 1 or 2 channels.
pub fn check_audio_format(sample_rate: u32, channels: u16) -> Result<(), FrameError> {
    if sample_rate != AUDIO_SAMPLE_RATE {
        return Err(FrameError::UnsupportedSampleRate(sample_rate));
    }
    if !(1..=2).contains(&channels) {
        return Err(FrameError::UnsupportedChannels(channels));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn black_frame_has_i420_layout() {
        let f = VideoFrame::black(64, 48);
        assert_eq!(f.data.len(), 64 * 48 * 3 / 2);
        assert!(f.y().iter().all(|&y| y == 16));
        assert_eq!(f.u().len(), 32 * 24);
        assert!(f.u().iter().chain(f.v()).all(|&c| c == 128));
        f.validate().unwrap();
    }

    #[test]
    fn validation_rejects_bad_sizes() {
        assert_eq!(
            VideoFrame::new(63, 48, vec![0; 10], 0).unwrap_err(),
            FrameError::InvalidSize {
                width: 63,
                height: 48
            }
        );
        let err = VideoFrame::new(64, 48, vec![0; 10], 0).unwrap_err();
        assert!(matches!(
            err,
            FrameError::WrongLength {
                expected: 4608,
                actual: 10,
                ..
            }
        ));
        assert_eq!(err.code(), ErrorCode::InvalidFrame);
        assert!(VideoFrame::new(0, 0, vec![], 0).is_err());
        assert!(VideoFrame::new(64, 48, vec![0; 4608], 7).is_ok());
    }

    #[test]
    fn rgba_conversion_uses_bt601_limited_range() {
        let px = |r: u8, g: u8, b: u8| [r, g, b, 255];
        let mut rgba = Vec::new();
        for _ in 0..4 {
            rgba.extend_from_slice(&px(255, 255, 255));
        }
        let white = VideoFrame::from_rgba(2, 2, &rgba).unwrap();
        assert_eq!(white.y(), &[235, 235, 235, 235]);
        assert_eq!((white.u()[0], white.v()[0]), (128, 128));
        let black = VideoFrame::from_rgba(2, 2, &[0, 0, 0, 255].repeat(4)).unwrap();
        assert_eq!(black.y(), &[16, 16, 16, 16]);
        let red = VideoFrame::from_rgba(2, 2, &px(255, 0, 0).repeat(4)).unwrap();
        assert_eq!((red.y()[0], red.u()[0], red.v()[0]), (82, 90, 240));
        assert!(VideoFrame::from_rgba(2, 2, &[0; 15]).is_err());
    }

    #[test]
    fn audio_validation() {
        let f = AudioFrame::silence(2, 0);
        f.validate().unwrap();
        assert_eq!(f.samples_per_channel(), 960);
        let bad = AudioFrame {
            sample_rate: 44_100,
            ..f.clone()
        };
        assert_eq!(
            bad.validate().unwrap_err(),
            FrameError::UnsupportedSampleRate(44_100)
        );
        let short = AudioFrame {
            samples: vec![0; 100],
            ..f
        };
        assert!(matches!(
            short.validate(),
            Err(FrameError::WrongSampleCount { .. })
        ));
    }
}
