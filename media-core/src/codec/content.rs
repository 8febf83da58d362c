//! What a shared screen's content asks of the encoder (the browser's
//! `contentHint`): text and code want sharp pictures at a low frame rate,
//! openh264's screen-content mode with a low quantiser cap (QP 12-14:
//! sharp from the keyframe, cheapest while scrolling); detail wants them
//! in camera usage, which refines a still page over a few frames; motion
//! (a video, an animation) wants 30 fps at camera settings.

use super::video_config::VideoConfig;

/// The kind of picture a shared screen shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ContentHint {
    /// Text, code, slides: 5 fps, bits spent on sharpness, openh264's
    /// `SCREEN_CONTENT_REAL_TIME` usage.
    #[default]
    Text,
    /// Pictures (photos, maps, diagrams) that must be sharp when still:
    /// 5 fps, the text bitrate, camera real-time usage, which keeps to that
    /// bitrate when the picture moves ([`ContentHint::Text`]'s QP cap does
    /// not: a panning photo cost it 19x the target), at the price of
    /// blurrier text (1080p: 39.5 against 53.3 dB still, and 3x the bits
    /// of `Text` while text scrolls).
    Detail,
    /// Video or animation: 30 fps, camera real-time usage.
    Motion,
}

/// The quantiser range of screen-content mode (min, max). openh264's own
/// (26-35, taken whenever a bound is 0) codes a page of 1-pixel text at
/// 32-33 dB and never refines it; capped at 14 the same 1080p page codes
/// at 52 dB, its keyframe 1.7x larger (1.17 MB against 0.70 MB) and,
/// against the sharper reference, a scrolled line costs a tenth
/// (25 KB against 268 KB for ten 12-pixel scrolls). 16-20 are no middle
/// ground: 34.7-37 dB at about the same sizes.
pub(crate) const SCREEN_QP: (u8, u8) = (12, 14);

/// Bits per pixel per second a hint spends at most: text gets ~0.24 bits
/// per pixel per frame at 5 fps (a 1080p screen ~2.5 Mbit/s), motion
/// ~0.06 at 30 fps (~3.7 Mbit/s).
const TEXT_BITS_PER_PIXEL_S: f64 = 1.2;
const MOTION_BITS_PER_PIXEL_S: f64 = 1.8;

impl ContentHint {
    /// Whether the encoder runs in openh264's screen-content mode.
    pub fn screen_content(self) -> bool {
        self == ContentHint::Text
    }

    /// The capture and encode frame rate.
    pub fn fps(self) -> u32 {
        match self {
            ContentHint::Text | ContentHint::Detail => 5,
            ContentHint::Motion => 30,
        }
    }

    /// The encoder's target for a `width` x `height` source (its own size:
    /// a shared screen is never scaled down before the link asks).
    pub fn video_config(self, width: u32, height: u32) -> VideoConfig {
        let bits = match self {
            ContentHint::Text | ContentHint::Detail => TEXT_BITS_PER_PIXEL_S,
            ContentHint::Motion => MOTION_BITS_PER_PIXEL_S,
        };
        let (width, height) = (width & !1, height & !1);
        let kbps = (f64::from(width) * f64::from(height) * bits / 1000.0) as u32;
        VideoConfig {
            width,
            height,
            fps: self.fps(),
            bitrate_kbps: kbps.clamp(300, 8_000),
            // Static text changes little: a keyframe every 10 s (players
            // that join ask for one); motion every 4 s.
            keyframe_interval_s: match self {
                ContentHint::Text | ContentHint::Detail => 10,
                ContentHint::Motion => 4,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::h264::{H264Decoder, H264Encoder};
    use crate::frame::VideoFrame;

    #[test]
    fn text_is_sharp_and_slow_motion_is_fluid() {
        let text = ContentHint::Text.video_config(1920, 1080);
        assert_eq!((text.width, text.height, text.fps), (1920, 1080, 5));
        assert_eq!(text.bitrate_kbps, 2488);
        let motion = ContentHint::Motion.video_config(2560, 1441);
        assert_eq!((motion.width, motion.height, motion.fps), (2560, 1440, 30));
        assert_eq!(motion.bitrate_kbps, 6635);
        assert!(text.validate().is_ok() && motion.validate().is_ok());
        assert_eq!(ContentHint::Text.video_config(64, 64).bitrate_kbps, 300);
        assert_eq!(
            ContentHint::Detail.video_config(1920, 1080),
            text,
            "detail differs from text in the encoder's usage only"
        );
        assert!(ContentHint::Text.screen_content());
        assert!(!ContentHint::Detail.screen_content() && !ContentHint::Motion.screen_content());
    }

    /// A page of "text": 1-pixel strokes in 8x12 cells on white.
    fn text_page(width: u32, height: u32) -> VideoFrame {
        let mut frame = VideoFrame::black(width, height);
        let w = width as usize;
        let (y, u, v) = frame.planes_mut();
        u.fill(128);
        v.fill(128);
        for (i, px) in y.iter_mut().enumerate() {
            let (col, row) = (i % w, i / w);
            let glyph = (col / 8 * 7 + row / 12 * 13) % 11;
            let (cx, cy) = (col % 8, row % 12);
            let stroke = cy > 2 && cy < 10 && cx < 6 && (cx == glyph % 6 || cy == 3 + glyph % 6);
            *px = if stroke && row % 240 < 200 { 16 } else { 235 };
        }
        frame
    }

    fn psnr(a: &[u8], b: &[u8]) -> f64 {
        let mse = a
            .iter()
            .zip(b)
            .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
            .sum::<f64>()
            / a.len() as f64;
        10.0 * (255.0 * 255.0 / mse.max(1e-9)).log10()
    }

    /// Screen-content mode sends a static page once, sharp: every later
    /// picture is a few bytes, the page at the 35 dB or better
    /// (52 dB seen with [`SCREEN_QP`]; 33.0 dB with openh264's own range),
    /// and scrolling against that sharp picture is cheap (ten 12-pixel
    /// scrolls cost a twentieth of the keyframe, under 0.4x before).
    #[test]
    fn screen_content_mode_sends_a_static_page_once_and_sharp() {
        let (w, h) = (640, 360);
        let config = ContentHint::Text.video_config(w, h);
        let page = text_page(w, h);
        let mut encoder = H264Encoder::new(&config).unwrap();
        encoder.set_screen_content(true).unwrap();
        let mut decoder = H264Decoder::new().unwrap();
        let mut last = None;
        let mut keyframe_bytes = 0;
        for n in 0..10u64 {
            let mut frame = page.clone();
            frame.capture_time_us = n * 200_000;
            let encoded = encoder.encode(&frame, false).unwrap().unwrap();
            assert_eq!(encoded.keyframe, n == 0);
            if n == 0 {
                keyframe_bytes = encoded.data.len();
            }
            assert!(
                n == 0 || encoded.data.len() < 100,
                "{} bytes",
                encoded.data.len()
            );
            last = decoder.decode(&encoded.data).unwrap().or(last);
        }
        let decoded = last.expect("decoded pictures");
        let quality = psnr(decoded.y(), page.y());
        assert!(quality >= 35.0, "luma PSNR {quality:.1} dB");

        let tall = text_page(w, h + 12 * 10);
        let mut scrolled_bytes = 0;
        for n in 1..=10usize {
            let mut frame = page.clone();
            let from = n * 12 * w as usize;
            frame
                .planes_mut()
                .0
                .copy_from_slice(&tall.y()[from..][..(w * h) as usize]);
            frame.capture_time_us = 2_000_000 + n as u64 * 200_000;
            scrolled_bytes += encoder.encode(&frame, false).unwrap().unwrap().data.len();
        }
        assert!(
            scrolled_bytes * 4 < keyframe_bytes,
            "ten scrolls {scrolled_bytes} bytes, the keyframe {keyframe_bytes}"
        );
    }
}
