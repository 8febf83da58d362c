//! One example of every [`Event`] variant, and the JSON shape test that
//! pins how each serializes (`media-core/tests/fixtures/events.json`): a
//! renamed field or variant, or a changed enum spelling, fails it loudly,
//! because the app UI and its generated TypeScript types read exactly this
//! JSON.
//!
//! Adding a variant breaks [`name`]'s match until it is listed there; add an
//! example to [`all`] and its JSON to the fixture. The generator
//! (`cargo run -p contract`) also refuses an `Event` variant without
//! an example.

use crate::quality::{PlayStreamQuality, PublishStreamQuality, StreamQualityLevel};
use crate::transport::{CandidateKind, MediaPath, PathProtocol};
use crate::{
    BroadcastMessage, DeviceType, Event, PlayerState, PublishChannel, PublisherState,
    RemoteDeviceState, RoomState, RoomStateChangedReason, ScreenShareState, Stream, UpdateType,
    User,
};

/// One example of every variant, in declaration order.
pub fn all() -> Vec<Event> {
    let room_id = || "room-1".to_owned();
    let stream_id = || "alice-main".to_owned();
    let alice = User::new("alice", "Alice");
    vec![
        Event::RoomStateUpdate {
            room_id: room_id(),
            state: RoomState::Connecting,
            error_code: 1_002_011,
            extended_data: "{}".into(),
        },
        Event::RoomStateChanged {
            room_id: room_id(),
            reason: RoomStateChangedReason::Reconnecting,
            error_code: 1_002_011,
            extended_data: "{}".into(),
        },
        Event::RoomUserUpdate {
            room_id: room_id(),
            update_type: UpdateType::Add,
            users: vec![alice.clone()],
        },
        Event::RoomOnlineUserCountUpdate {
            room_id: room_id(),
            count: 2,
        },
        Event::RoomStreamUpdate {
            room_id: room_id(),
            update_type: UpdateType::Delete,
            streams: vec![Stream {
                stream_id: stream_id(),
                user: alice.clone(),
                extra_info: "camera".into(),
            }],
            extended_data: "{}".into(),
        },
        Event::RoomTokenWillExpire {
            room_id: room_id(),
            remain_time_in_second: 30,
        },
        Event::RoomBroadcastMessage {
            room_id: room_id(),
            messages: vec![BroadcastMessage {
                message_id: 7,
                from_user: alice,
                text: "hello".into(),
                send_time_ms: 1_700_000_000_000,
            }],
        },
        Event::PublisherStateUpdate {
            stream_id: "bob-main".into(),
            state: PublisherState::Publishing,
            error_code: 0,
            extended_data: "{}".into(),
        },
        Event::PublisherCapturedVideoFirstFrame {
            channel: PublishChannel::Aux,
        },
        Event::PublisherQualityUpdate {
            stream_id: "bob-main".into(),
            quality: PublishStreamQuality {
                path: Some(MediaPath {
                    local: CandidateKind::Srflx,
                    remote: CandidateKind::Host,
                    protocol: PathProtocol::Udp,
                }),
                video_capture_fps: 30.0,
                video_encode_fps: 29.5,
                video_send_fps: 29.5,
                video_kbps: 1200.5,
                audio_send_fps: 50.0,
                audio_kbps: 32.0,
                rtt_ms: 12.0,
                packet_loss_rate: 0.01,
                target_kbps: 1500.0,
                width: 1280,
                height: 720,
                video_codec: "H264".into(),
                total_send_bytes: 123_456,
                level: Some(StreamQualityLevel::Good),
            },
        },
        Event::PlayerStateUpdate {
            stream_id: stream_id(),
            state: PlayerState::PlayRequesting,
            error_code: 1_004_005,
            extended_data: "{}".into(),
        },
        Event::PlayerRecvVideoFirstFrame {
            stream_id: stream_id(),
        },
        Event::PlayerRenderVideoFirstFrame {
            stream_id: stream_id(),
        },
        Event::PlayerRecvAudioFirstFrame {
            stream_id: stream_id(),
        },
        Event::PlayerQualityUpdate {
            stream_id: stream_id(),
            quality: PlayStreamQuality {
                path: None,
                video_recv_fps: 30.0,
                video_decode_fps: 30.0,
                video_render_fps: 29.0,
                video_kbps: 1100.0,
                video_break_rate: 0.0,
                audio_recv_fps: 50.0,
                audio_kbps: 31.5,
                audio_break_rate: 0.02,
                audio_loss_rate: Some(0.1),
                audio_recovered_rate: Some(0.08),
                audio_jitter_buffer_ms: Some(20.0),
                mos: 4.2,
                rtt_ms: 15.0,
                packet_loss_rate: 0.005,
                jitter_ms: 3.5,
                end_to_end_delay_ms: 80.0,
                av_timestamp_diff_ms: -12.0,
                width: 640,
                height: 360,
                video_codec: "H264".into(),
                total_recv_bytes: 654_321,
                level: None,
            },
        },
        Event::RemoteMicStateUpdate {
            stream_id: stream_id(),
            state: RemoteDeviceState::Mute,
        },
        Event::RemoteCameraStateUpdate {
            stream_id: stream_id(),
            state: RemoteDeviceState::Open,
        },
        Event::CapturedSoundLevelUpdate { level: 75.5 },
        Event::RemoteSoundLevelUpdate {
            levels: [(stream_id(), 66.5), ("carol-main".to_owned(), 0.0)].into(),
        },
        Event::LocalDeviceError {
            device_type: DeviceType::Camera,
            error_code: 1_006_001,
            info: "no camera found".into(),
        },
        Event::ScreenCaptureStateUpdate {
            state: ScreenShareState::SourceGone,
            error_code: 1_006_009,
            info: "the shared window or screen is gone".into(),
        },
        Event::Debug {
            error_code: 1_009_001,
            func_name: "on_message".into(),
            info: "malformed message".into(),
        },
    ]
}

/// The variant's name, as its `"event"` field spells it. Exhaustive on
/// purpose: a new variant does not compile here until it is listed.
pub fn name(e: &Event) -> &'static str {
    match e {
        Event::RoomStateUpdate { .. } => "RoomStateUpdate",
        Event::RoomStateChanged { .. } => "RoomStateChanged",
        Event::RoomUserUpdate { .. } => "RoomUserUpdate",
        Event::RoomOnlineUserCountUpdate { .. } => "RoomOnlineUserCountUpdate",
        Event::RoomStreamUpdate { .. } => "RoomStreamUpdate",
        Event::RoomTokenWillExpire { .. } => "RoomTokenWillExpire",
        Event::RoomBroadcastMessage { .. } => "RoomBroadcastMessage",
        Event::PublisherStateUpdate { .. } => "PublisherStateUpdate",
        Event::PublisherCapturedVideoFirstFrame { .. } => "PublisherCapturedVideoFirstFrame",
        Event::PublisherQualityUpdate { .. } => "PublisherQualityUpdate",
        Event::PlayerStateUpdate { .. } => "PlayerStateUpdate",
        Event::PlayerRecvVideoFirstFrame { .. } => "PlayerRecvVideoFirstFrame",
        Event::PlayerRenderVideoFirstFrame { .. } => "PlayerRenderVideoFirstFrame",
        Event::PlayerRecvAudioFirstFrame { .. } => "PlayerRecvAudioFirstFrame",
        Event::PlayerQualityUpdate { .. } => "PlayerQualityUpdate",
        Event::RemoteMicStateUpdate { .. } => "RemoteMicStateUpdate",
        Event::RemoteCameraStateUpdate { .. } => "RemoteCameraStateUpdate",
        Event::CapturedSoundLevelUpdate { .. } => "CapturedSoundLevelUpdate",
        Event::RemoteSoundLevelUpdate { .. } => "RemoteSoundLevelUpdate",
        Event::LocalDeviceError { .. } => "LocalDeviceError",
        Event::ScreenCaptureStateUpdate { .. } => "ScreenCaptureStateUpdate",
        Event::Debug { .. } => "Debug",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::collections::HashSet;

    const FIXTURE: &str = include_str!("../tests/fixtures/events.json");

    /// Every variant serializes exactly as the fixture says, field for field.
    #[test]
    fn every_event_variant_has_its_json_shape() {
        let fixture: Vec<Value> = serde_json::from_str(FIXTURE).unwrap();
        let examples = all();
        let got: Vec<Value> = examples
            .iter()
            .map(|e| serde_json::to_value(e).unwrap())
            .collect();
        let mut names = HashSet::new();
        for (e, json) in examples.iter().zip(&got) {
            assert_eq!(
                json["event"],
                name(e),
                "the \"event\" tag names the variant"
            );
            assert!(names.insert(name(e)), "two examples of {}", name(e));
        }
        for (i, (want, got)) in fixture.iter().zip(&got).enumerate() {
            assert_eq!(
                got,
                want,
                "event #{i} ({}) changed shape",
                name(&examples[i])
            );
        }
        assert_eq!(
            got.len(),
            fixture.len(),
            "one fixture per example; the JSON of all of them now is:\n{}",
            serde_json::to_string_pretty(&got).unwrap()
        );
    }
}
