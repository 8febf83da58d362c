//! What a shared screen's content asks of the encoder (the browser's
//! `contentHint`): text and code want sharp pictures at a low frame rate,
//! openh264's screen-content mode (cheapest while scrolling); detail wants
//! them pixel-sharp once still (camera usage, which refines a static page:
//! 40.1 dB against screen mode's 34.5 dB at 1080p, docs/screen-share.md);
//! motion (a video, an animation) wants 30 fps at camera settings.

use super::video_config::VideoConfig;

/// The kind of picture a shared screen shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ContentHint {
    /// Text, code, slides: 5 fps, bits spent on sharpness, openh264's
    /// `SCREEN_CONTENT_REAL_TIME` usage.
    #[default]
    Text,
    /// Small text or pictures that must be pixel-sharp when still: 5 fps,
    /// the text bitrate, camera real-time usage (about 5x the bits of
    /// [`ContentHint::Text`] while scrolling).
    Detail,
    /// Video or animation: 30 fps, camera real-time usage.
    Motion,
}

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

    /// Screen-content mode sends a static page once: every later picture
    /// is a few bytes. It does not refine the keyframe as camera mode does
    /// (this harsh page: 33.0 dB against camera mode's 39.8 dB after ten
    /// frames at 640x360; docs/screen-share.md), hence the 30 dB floor.
    #[test]
    fn screen_content_mode_sends_a_static_page_once() {
        let config = ContentHint::Text.video_config(640, 360);
        let page = text_page(640, 360);
        let mut encoder = H264Encoder::new(&config).unwrap();
        encoder.set_screen_content(true).unwrap();
        let mut decoder = H264Decoder::new().unwrap();
        let mut last = None;
        for n in 0..10u64 {
            let mut frame = page.clone();
            frame.capture_time_us = n * 200_000;
            let encoded = encoder.encode(&frame, false).unwrap().unwrap();
            assert_eq!(encoded.keyframe, n == 0);
            assert!(
                n == 0 || encoded.data.len() < 100,
                "{} bytes",
                encoded.data.len()
            );
            last = decoder.decode(&encoded.data).unwrap().or(last);
        }
        let decoded = last.expect("decoded pictures");
        let quality = psnr(decoded.y(), page.y());
        assert!(quality >= 30.0, "luma PSNR {quality:.1} dB");
    }
}
