//! Audio/video playout sync for one played stream.
//!
//! Both tracks are timed on the publisher's clock (its RTCP sender reports,
//! relayed by the SFU). Each track has a natural delay: from the publisher
//! sending a frame to the frame being ready here (decoded). Presenting both
//! at `sender time + the larger of the two delays` keeps what was captured
//! together together, at the cost of delaying the faster track only.

use std::time::Duration;

/// Never hold a track back more than this: beyond it, sync costs more
/// latency than a slight mismatch costs lip-sync.
pub(crate) const MAX_SYNC_DELAY: Duration = Duration::from_millis(300);
/// Weight of a new measurement in the smoothed delays.
const SMOOTHING: f64 = 0.1;

/// Which track a frame belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Track {
    Audio,
    Video,
}

/// The smoothed natural delay of each track, in microseconds.
#[derive(Debug, Default)]
pub(crate) struct PlayoutSync {
    audio_us: Option<f64>,
    video_us: Option<f64>,
}

impl PlayoutSync {
    /// A frame of `track` sent at `sender_us` is ready at `ready_us` (both
    /// Unix µs): returns when to present it (≥ `ready_us`).
    pub(crate) fn present_at(&mut self, track: Track, sender_us: u64, ready_us: u64) -> u64 {
        let natural = ready_us.saturating_sub(sender_us) as f64;
        let slot = match track {
            Track::Audio => &mut self.audio_us,
            Track::Video => &mut self.video_us,
        };
        *slot = Some(slot.map_or(natural, |d| d + SMOOTHING * (natural - d)));
        let (Some(audio), Some(video)) = (self.audio_us, self.video_us) else {
            // Nothing to sync with yet.
            return ready_us;
        };
        let target = audio.max(video).min(MAX_SYNC_DELAY.as_micros() as f64) as u64;
        (sender_us + target).max(ready_us)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_faster_track_waits_for_the_slower() {
        let mut s = PlayoutSync::default();
        // Alone, a track is presented when ready.
        assert_eq!(s.present_at(Track::Audio, 1_000_000, 1_005_000), 1_005_000);
        // Video takes 40 ms, audio 5 ms: audio is held to match video.
        assert_eq!(s.present_at(Track::Video, 1_000_000, 1_040_000), 1_040_000);
        assert_eq!(s.present_at(Track::Audio, 2_000_000, 2_005_000), 2_040_000);
        assert_eq!(s.present_at(Track::Video, 2_000_000, 2_040_000), 2_040_000);
    }

    #[test]
    fn delays_are_smoothed_and_bounded() {
        let mut s = PlayoutSync::default();
        s.present_at(Track::Audio, 0, 5_000);
        s.present_at(Track::Video, 0, 2_000_000);
        // A 2 s video delay would hold audio at most MAX_SYNC_DELAY.
        let at = s.present_at(Track::Audio, 10_000_000, 10_005_000);
        assert_eq!(at, 10_000_000 + MAX_SYNC_DELAY.as_micros() as u64);
        // One fast video frame moves the estimate only a tenth of the way.
        s.present_at(Track::Video, 20_000_000, 20_010_000);
        let at = s.present_at(Track::Audio, 30_000_000, 30_005_000);
        assert_eq!(at, 30_000_000 + MAX_SYNC_DELAY.as_micros() as u64);
    }
}
