//! The media step of a diagnosis: an engine logs in, publishes the test
//! pattern (no camera, no microphone) and waits for the first quality
//! report that names the selected candidate pair.

use std::time::{Duration, Instant};

use protocol::ErrorCode;

use super::{Check, DoctorOptions, Step};
use crate::capture::source::{AudioSourceKind, VideoSourceKind};
use crate::event::{Event, PublisherState, RoomState};
use crate::transport::{CandidateKind, MediaPath, PathProtocol};
use crate::{Engine, PublishChannel, RoomConfig, User};

/// Publishing takes a quality interval (3 s) to report its path; the step
/// gets at least this long.
const MEDIA_STEP_MIN: Duration = Duration::from_secs(8);

/// Publishes a test stream and reports the path its media took.
pub(super) async fn udp_media(options: &DoctorOptions) -> Check {
    let started = Instant::now();
    let target = options.profile.server.clone();
    let fail = |code: ErrorCode, detail: String| {
        Check::fail(Step::UdpMedia, &target, code, detail, started)
    };
    let (engine, mut events) = match Engine::create(options.profile.clone()) {
        Ok(created) => created,
        Err(e) => return fail(e.code(), e.to_string()),
    };
    let user = format!("{}-media", options.user_id);
    engine.set_video_source(VideoSourceKind::TestPattern, PublishChannel::Main);
    engine.set_audio_source(
        AudioSourceKind::Tone { freq_hz: 440.0 },
        PublishChannel::Main,
    );
    let config = RoomConfig {
        token: options.token.clone(),
        ..RoomConfig::default()
    };
    let stream = format!("{user}-probe");
    let outcome = async {
        engine
            .login_room(
                &options.room_id,
                User::new(user.clone(), "confer doctor"),
                config,
            )
            .map_err(|e| (e.code(), e.to_string()))?;
        let mut publishing = false;
        while let Some(event) = events.recv().await {
            match event {
                Event::RoomStateUpdate {
                    state: RoomState::Connected,
                    ..
                } if !publishing => {
                    publishing = true;
                    engine
                        .start_publishing_stream(&stream, PublishChannel::Main)
                        .map_err(|e| (e.code(), e.to_string()))?;
                }
                Event::RoomStateUpdate {
                    state: RoomState::Disconnected,
                    error_code,
                    ..
                } => {
                    return Err((code_of(error_code), "the login ended".to_owned()));
                }
                Event::PublisherStateUpdate {
                    state: PublisherState::NoPublish,
                    error_code,
                    ..
                } if error_code != 0 => {
                    return Err((code_of(error_code), "publishing failed".to_owned()));
                }
                Event::PublisherQualityUpdate { quality, .. } => {
                    if let Some(path) = quality.path {
                        return Ok(path);
                    }
                }
                _ => {}
            }
        }
        Err((ErrorCode::EngineDestroyed, "the engine stopped".to_owned()))
    };
    let limit = options.step_timeout.max(MEDIA_STEP_MIN);
    let result = tokio::time::timeout(limit, outcome).await;
    engine.destroy().await;
    match result {
        Ok(Ok(path)) => judge(path, &target, started),
        Ok(Err((code, detail))) => fail(code, detail),
        Err(_) => fail(
            ErrorCode::PublishTransportFailed,
            format!("no media path within {} s", limit.as_secs()),
        ),
    }
}

/// UDP straight to the SFU passes; TCP or a TURN relay means UDP to the
/// SFU is blocked on the way (media still flows, less well).
fn judge(path: MediaPath, target: &str, started: Instant) -> Check {
    let text = describe(path);
    match (path.protocol, path.local) {
        (PathProtocol::Udp, CandidateKind::Host | CandidateKind::Srflx | CandidateKind::Prflx) => {
            Check::pass(Step::UdpMedia, target, text, started)
        }
        _ => Check::fail(
            Step::UdpMedia,
            target,
            ErrorCode::MediaUdpBlocked,
            text,
            started,
        ),
    }
}

fn describe(path: MediaPath) -> String {
    let kind = |k: CandidateKind| match k {
        CandidateKind::Host => "host",
        CandidateKind::Srflx => "srflx",
        CandidateKind::Prflx => "prflx",
        CandidateKind::Relay => "relay",
    };
    let protocol = match path.protocol {
        PathProtocol::Udp => "udp",
        PathProtocol::Tcp => "tcp",
    };
    format!(
        "media path {} -> {} over {protocol}",
        kind(path.local),
        kind(path.remote)
    )
}

fn code_of(code: u32) -> ErrorCode {
    ErrorCode::from_code(code).unwrap_or(ErrorCode::Internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_direct_udp_passes() {
        let path = |local, protocol| MediaPath {
            local,
            remote: CandidateKind::Host,
            protocol,
        };
        let now = Instant::now();
        assert!(judge(path(CandidateKind::Host, PathProtocol::Udp), "t", now).ok);
        assert!(judge(path(CandidateKind::Srflx, PathProtocol::Udp), "t", now).ok);
        let tcp = judge(path(CandidateKind::Host, PathProtocol::Tcp), "t", now);
        assert_eq!(
            (tcp.ok, tcp.code),
            (false, ErrorCode::MediaUdpBlocked.code())
        );
        assert_eq!(tcp.detail, "media path host -> host over tcp");
        assert!(!judge(path(CandidateKind::Relay, PathProtocol::Udp), "t", now).ok);
    }
}
