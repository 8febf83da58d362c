//! What the video encoder produces: size, frame rate, bitrate, keyframe
//! interval; with presets from 180p to 1080p and a default per scenario.

use super::CodecError;
use crate::Scenario;

/// The encoder's target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VideoConfig {
    /// Width in pixels (even, 16..=3840).
    pub width: u32,
    /// Height in pixels (even, 16..=3840; the smaller side at most 2160).
    pub height: u32,
    /// Frames per second (1..=60).
    pub fps: u32,
    /// Target bitrate in kbit/s (30..=20000).
    pub bitrate_kbps: u32,
    /// Seconds between periodic keyframes (0: only on request, 1..=60).
    pub keyframe_interval_s: u32,
}

/// The standard sizes. Values (16:9, keyframe every 2 s):
///
/// | preset | size | fps | kbit/s |
/// |---|---|---|---|
/// | `P180` | 320x180 | 15 | 150 |
/// | `P270` | 480x270 | 15 | 300 |
/// | `P360` | 640x360 | 15 | 400 |
/// | `P540` | 960x540 | 15 | 800 |
/// | `P720` | 1280x720 | 30 | 1500 |
/// | `P1080` | 1920x1080 | 30 | 3000 |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoPreset {
    /// 320x180, 15 fps, 150 kbit/s.
    P180,
    /// 480x270, 15 fps, 300 kbit/s.
    P270,
    /// 640x360, 15 fps, 400 kbit/s.
    P360,
    /// 960x540, 15 fps, 800 kbit/s.
    P540,
    /// 1280x720, 30 fps, 1500 kbit/s.
    P720,
    /// 1920x1080, 30 fps, 3000 kbit/s.
    P1080,
}

impl VideoPreset {
    /// Every preset, smallest first.
    pub const ALL: [VideoPreset; 6] = [
        VideoPreset::P180,
        VideoPreset::P270,
        VideoPreset::P360,
        VideoPreset::P540,
        VideoPreset::P720,
        VideoPreset::P1080,
    ];

    /// The preset's config.
    pub fn config(self) -> VideoConfig {
        let (width, height, fps, bitrate_kbps) = match self {
            VideoPreset::P180 => (320, 180, 15, 150),
            VideoPreset::P270 => (480, 270, 15, 300),
            VideoPreset::P360 => (640, 360, 15, 400),
            VideoPreset::P540 => (960, 540, 15, 800),
            VideoPreset::P720 => (1280, 720, 30, 1500),
            VideoPreset::P1080 => (1920, 1080, 30, 3000),
        };
        VideoConfig {
            width,
            height,
            fps,
            bitrate_kbps,
            keyframe_interval_s: 2,
        }
    }
}

impl From<VideoPreset> for VideoConfig {
    fn from(preset: VideoPreset) -> VideoConfig {
        preset.config()
    }
}

impl Default for VideoConfig {
    /// The 360p preset.
    fn default() -> VideoConfig {
        VideoPreset::P360.config()
    }
}

impl VideoConfig {
    /// The default video for a scenario: `Default` and `StandardVideoCall`
    /// 360p, `HighQualityVideoCall` 720p, `Broadcast` 1080p.
    pub fn for_scenario(scenario: Scenario) -> VideoConfig {
        match scenario {
            Scenario::Default | Scenario::StandardVideoCall => VideoPreset::P360.config(),
            Scenario::HighQualityVideoCall => VideoPreset::P720.config(),
            Scenario::Broadcast => VideoPreset::P1080.config(),
        }
    }

    /// Checks every field's range ([`CodecError::InvalidVideoConfig`],
    /// code `InvalidVideoConfig`).
    pub fn validate(&self) -> Result<(), CodecError> {
        let bad = |what: String| Err(CodecError::InvalidVideoConfig(what));
        let (w, h) = (self.width, self.height);
        if w % 2 != 0 || h % 2 != 0 || w < 16 || h < 16 || w.max(h) > 3840 || w.min(h) > 2160 {
            return bad(format!(
                "size {w}x{h}: must be even, at least 16, at most 3840x2160"
            ));
        }
        if !(1..=60).contains(&self.fps) {
            return bad(format!("fps {}: must be 1..=60", self.fps));
        }
        if !(30..=20_000).contains(&self.bitrate_kbps) {
            return bad(format!(
                "bitrate {} kbit/s: must be 30..=20000",
                self.bitrate_kbps
            ));
        }
        if self.keyframe_interval_s > 60 {
            return bad(format!(
                "keyframe interval {} s: must be 0..=60",
                self.keyframe_interval_s
            ));
        }
        Ok(())
    }

    /// Frames between periodic keyframes (0: none).
    pub fn keyframe_interval_frames(&self) -> u64 {
        self.keyframe_interval_s as u64 * self.fps as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::ErrorCode;

    #[test]
    fn presets_are_valid_and_grow() {
        let configs: Vec<_> = VideoPreset::ALL.iter().map(|p| p.config()).collect();
        for c in &configs {
            c.validate().unwrap();
        }
        assert!(configs
            .windows(2)
            .all(|w| w[0].height < w[1].height && w[0].bitrate_kbps < w[1].bitrate_kbps));
        assert_eq!(VideoConfig::from(VideoPreset::P720).width, 1280);
    }

    #[test]
    fn scenarios_pick_presets() {
        assert_eq!(
            VideoConfig::for_scenario(Scenario::Default),
            VideoPreset::P360.config()
        );
        assert_eq!(
            VideoConfig::for_scenario(Scenario::HighQualityVideoCall),
            VideoPreset::P720.config()
        );
        assert_eq!(VideoConfig::for_scenario(Scenario::Broadcast).height, 1080);
    }

    #[test]
    fn validation_catches_each_field() {
        let ok = VideoConfig::default();
        for bad in [
            VideoConfig { width: 641, ..ok },
            VideoConfig { height: 0, ..ok },
            VideoConfig { width: 4096, ..ok },
            VideoConfig { fps: 0, ..ok },
            VideoConfig {
                bitrate_kbps: 5,
                ..ok
            },
            VideoConfig {
                keyframe_interval_s: 100,
                ..ok
            },
        ] {
            let err = bad.validate().unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidVideoConfig, "{bad:?}");
        }
        assert_eq!(ok.keyframe_interval_frames(), 30);
    }
}
