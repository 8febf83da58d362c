//! Stream quality reports: what [`Event::PublisherQualityUpdate`] and
//! [`Event::PlayerQualityUpdate`] carry every 3 s, and how the overall level
//! is graded from loss and round-trip time.
//!
//! [`Event::PublisherQualityUpdate`]: crate::Event::PublisherQualityUpdate
//! [`Event::PlayerQualityUpdate`]: crate::Event::PlayerQualityUpdate

use crate::transport::MediaPath;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How often quality events are emitted.
pub const QUALITY_INTERVAL: Duration = Duration::from_secs(3);

/// Overall stream quality, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum StreamQualityLevel {
    /// Loss < 1% and RTT < 100 ms.
    Excellent,
    /// Loss < 3% and RTT < 200 ms.
    Good,
    /// Loss < 8% and RTT < 400 ms.
    Medium,
    /// Loss < 20% and RTT < 800 ms.
    Bad,
    /// Worse, or no media at all.
    Die,
}

impl StreamQualityLevel {
    /// Grades a stream from its packet loss (0..1), round-trip time and
    /// whether media flows at all.
    pub fn grade(loss: f64, rtt_ms: f64, flowing: bool) -> Self {
        if !flowing {
            return StreamQualityLevel::Die;
        }
        let steps = [(0.01, 100.0), (0.03, 200.0), (0.08, 400.0), (0.20, 800.0)];
        let levels = [
            StreamQualityLevel::Excellent,
            StreamQualityLevel::Good,
            StreamQualityLevel::Medium,
            StreamQualityLevel::Bad,
        ];
        steps
            .iter()
            .zip(levels)
            .find(|((max_loss, max_rtt), _)| loss < *max_loss && rtt_ms < *max_rtt)
            .map_or(StreamQualityLevel::Die, |(_, level)| level)
    }
}

/// Publishing quality (seed: `OnPublisherQualityUpdate`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PublishStreamQuality {
    /// The network path of the stream's media (direct UDP, TCP, relayed);
    /// `None` until ICE has chosen one.
    // Optional in TypeScript too: SDKs before the path was reported omit it.
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub path: Option<MediaPath>,
    /// Frames per second from the video source.
    pub video_capture_fps: f64,
    /// Frames per second out of the encoder.
    pub video_encode_fps: f64,
    /// Frames per second handed to the network.
    pub video_send_fps: f64,
    /// Video bitrate sent, kbit/s.
    pub video_kbps: f64,
    /// Audio frames (20 ms) per second sent.
    pub audio_send_fps: f64,
    /// Audio bitrate sent, kbit/s.
    pub audio_kbps: f64,
    /// Round-trip time to the SFU, ms.
    pub rtt_ms: f64,
    /// Packet loss reported by the SFU, 0..1.
    pub packet_loss_rate: f64,
    /// The bitrate the bandwidth estimator allows, kbit/s (0 when unknown).
    pub target_kbps: f64,
    /// Encoded width.
    pub width: u32,
    /// Encoded height.
    pub height: u32,
    /// Video codec, e.g. `"H264"`.
    pub video_codec: String,
    /// Bytes sent so far (video + audio).
    pub total_send_bytes: u64,
    /// Overall grade.
    pub level: Option<StreamQualityLevel>,
}

/// Playing quality (seed: `OnPlayerQualityUpdate`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PlayStreamQuality {
    /// The network path of the stream's media (direct UDP, TCP, relayed);
    /// `None` until ICE has chosen one.
    // Optional in TypeScript too: SDKs before the path was reported omit it.
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub path: Option<MediaPath>,
    /// Complete video frames received per second.
    pub video_recv_fps: f64,
    /// Frames decoded per second.
    pub video_decode_fps: f64,
    /// Frames rendered per second.
    pub video_render_fps: f64,
    /// Video bitrate received, kbit/s.
    pub video_kbps: f64,
    /// Share of the interval spent frozen (no new frame for > 500 ms), 0..1.
    pub video_break_rate: f64,
    /// Audio frames (20 ms) received per second.
    pub audio_recv_fps: f64,
    /// Audio bitrate received, kbit/s.
    pub audio_kbps: f64,
    /// Share of audio frames that had to be concealed (PLC) after repair
    /// by RED and Opus FEC, 0..1: the loss the listener hears.
    pub audio_break_rate: f64,
    /// Share of audio packets lost on the wire, before repair, 0..1.
    // Optional in TypeScript too: SDKs before it was reported omit it.
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    #[serde(default)]
    pub audio_loss_rate: Option<f64>,
    /// Share of audio frames lost on the wire and recovered from RED
    /// redundancy or Opus FEC, 0..1 (`audio_loss_rate` minus this is about
    /// `audio_break_rate`).
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    #[serde(default)]
    pub audio_recovered_rate: Option<f64>,
    /// The audio jitter buffer's target delay, ms: how long it holds audio
    /// beyond the fastest arrival to absorb jitter.
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    #[serde(default)]
    pub audio_jitter_buffer_ms: Option<f64>,
    /// Estimated audio MOS (1..5) from loss and delay.
    pub mos: f64,
    /// Round-trip time to the SFU, ms (0 when unknown).
    pub rtt_ms: f64,
    /// Packet loss before retransmission, 0..1.
    pub packet_loss_rate: f64,
    /// Interarrival jitter, ms.
    pub jitter_ms: f64,
    /// From the publisher sending the frame to it being decoded here, ms:
    /// the network, the SFU, the jitter buffer and the decoder (from the
    /// publisher's RTCP sender reports, which the SFU relays; 0 when unknown).
    pub end_to_end_delay_ms: f64,
    /// Audio minus video presentation time of the latest frames, ms
    /// (|x| < 200 = in sync).
    pub av_timestamp_diff_ms: f64,
    /// Decoded width.
    pub width: u32,
    /// Decoded height.
    pub height: u32,
    /// Video codec, e.g. `"H264"`.
    pub video_codec: String,
    /// Bytes received so far.
    pub total_recv_bytes: u64,
    /// Overall grade.
    pub level: Option<StreamQualityLevel>,
}

/// An estimate of the audio MOS (1..5) from loss and one-way delay, after
/// the simplified E-model (ITU-T G.107) commonly used by WebRTC stacks.
pub fn estimate_mos(loss: f64, delay_ms: f64) -> f64 {
    let d = delay_ms.max(0.0);
    let delay_impairment = 0.024 * d + if d > 177.3 { 0.11 * (d - 177.3) } else { 0.0 };
    let loss_impairment = 30.0 * (1.0 + 15.0 * loss.clamp(0.0, 1.0)).ln();
    let r = (93.2 - delay_impairment - loss_impairment).clamp(0.0, 100.0);
    let mos = 1.0 + 0.035 * r + 7.0e-6 * r * (r - 60.0) * (100.0 - r);
    mos.clamp(1.0, 5.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grades_by_loss_and_rtt() {
        assert_eq!(
            StreamQualityLevel::grade(0.0, 20.0, true),
            StreamQualityLevel::Excellent
        );
        assert_eq!(
            StreamQualityLevel::grade(0.02, 20.0, true),
            StreamQualityLevel::Good
        );
        assert_eq!(
            StreamQualityLevel::grade(0.0, 300.0, true),
            StreamQualityLevel::Medium
        );
        assert_eq!(
            StreamQualityLevel::grade(0.10, 20.0, true),
            StreamQualityLevel::Bad
        );
        assert_eq!(
            StreamQualityLevel::grade(0.5, 20.0, true),
            StreamQualityLevel::Die
        );
        assert_eq!(
            StreamQualityLevel::grade(0.0, 1.0, false),
            StreamQualityLevel::Die
        );
    }

    #[test]
    fn mos_falls_with_loss_and_delay() {
        let clean = estimate_mos(0.0, 20.0);
        assert!(clean > 4.3, "{clean}");
        assert!(estimate_mos(0.05, 20.0) < clean);
        assert!(estimate_mos(0.0, 400.0) < clean);
        assert!(estimate_mos(1.0, 1000.0) >= 1.0);
    }
}
