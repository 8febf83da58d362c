//! SDK commands for devices and capture settings: listing and choosing
//! devices, the video and audio source, the video preset, camera zoom, the
//! audio processing.

use media_core::capture::source::{AudioSourceKind, VideoSourceKind};
use media_core::capture::{camera, microphone, speaker, DeviceInfo};
use media_core::codec::video_config::VideoPreset;
use media_core::PublishChannel;
use protocol::ErrorCode;
use tauri::State;

use crate::engine_state::EngineState;
pub use confer_app_types::audio::AudioProcessing;
pub use confer_app_types::devices::{Device, DeviceList};

use crate::error::CommandError;

/// The app publishes on the main channel only.
const CHANNEL: PublishChannel = PublishChannel::Main;
/// The test tone's pitch (`set_audio_source("tone")`).
const TONE_HZ: f64 = 440.0;

/// Lists cameras, microphones and speakers (works without an engine).
#[tauri::command(rename_all = "snake_case")]
pub async fn list_devices() -> Result<DeviceList, CommandError> {
    let convert = |list: Vec<DeviceInfo>| list.into_iter().map(Device::from).collect();
    // Enumerating devices may block for a while (audio servers, v4l).
    tauri::async_runtime::spawn_blocking(move || DeviceList {
        cameras: convert(camera::list_cameras()),
        microphones: convert(microphone::list_microphones()),
        speakers: convert(speaker::list_speakers()),
    })
    .await
    .map_err(|e| CommandError::internal(format!("listing devices failed: {e}")))
}

/// Captures from camera `device_id`.
#[tauri::command(rename_all = "snake_case")]
pub async fn use_video_device(
    engines: State<'_, EngineState>,
    device_id: String,
) -> Result<(), CommandError> {
    engines.engine()?.use_video_device(&device_id, CHANNEL)?;
    engines.set_camera(Some(device_id));
    Ok(())
}

/// Captures from microphone `device_id`.
#[tauri::command(rename_all = "snake_case")]
pub async fn use_audio_device(
    engines: State<'_, EngineState>,
    device_id: String,
) -> Result<(), CommandError> {
    engines.engine()?.use_audio_device(&device_id)?;
    engines.set_microphone(Some(device_id));
    Ok(())
}

/// Plays received audio on speaker `device_id` (`null`: the default one).
#[tauri::command(rename_all = "snake_case")]
pub async fn use_speaker_device(
    engines: State<'_, EngineState>,
    device_id: Option<String>,
) -> Result<(), CommandError> {
    Ok(engines.engine()?.use_speaker_device(device_id.as_deref())?)
}

/// Plays the test chime (about 1 s) on speaker `device_id` (`null`: the
/// engine's speaker, or the default one without an engine) and resolves
/// when it has been played. Works without an engine and before login;
/// a missing or busy output fails with its device code.
#[tauri::command(rename_all = "snake_case")]
pub async fn test_speaker(
    engines: State<'_, EngineState>,
    device_id: Option<String>,
) -> Result<(), CommandError> {
    match engines.engine() {
        Ok(engine) => engine.play_test_sound(device_id.as_deref()).await?,
        Err(_) => tauri::async_runtime::spawn_blocking(move || {
            speaker::play_test_sound(device_id.as_deref())
        })
        .await
        .map_err(|e| CommandError::internal(format!("the test sound failed: {e}")))??,
    }
    Ok(())
}

/// Chooses the video source: `"camera"` (the chosen one) or `"test_pattern"`.
#[tauri::command(rename_all = "snake_case")]
pub async fn set_video_source(
    engines: State<'_, EngineState>,
    source: String,
) -> Result<(), CommandError> {
    let kind = match source.as_str() {
        "camera" => VideoSourceKind::Camera {
            id: engines.camera(),
        },
        "test_pattern" => VideoSourceKind::TestPattern,
        other => {
            return Err(CommandError::invalid_argument(format!(
                "video source must be \"camera\" or \"test_pattern\", not {other:?}"
            )))
        }
    };
    engines.engine()?.set_video_source(kind, CHANNEL);
    Ok(())
}

/// Chooses the audio source: `"microphone"` (the chosen one), `"tone"`
/// (a 440 Hz test tone) or `"none"` (silence).
#[tauri::command(rename_all = "snake_case")]
pub async fn set_audio_source(
    engines: State<'_, EngineState>,
    source: String,
) -> Result<(), CommandError> {
    let kind = match source.as_str() {
        "microphone" => AudioSourceKind::Microphone {
            id: engines.microphone(),
        },
        "tone" => AudioSourceKind::Tone { freq_hz: TONE_HZ },
        // A custom source nobody pushes to: nothing is captured.
        "none" => AudioSourceKind::Custom,
        other => {
            return Err(CommandError::invalid_argument(format!(
                "audio source must be \"microphone\", \"tone\" or \"none\", not {other:?}"
            )))
        }
    };
    engines.engine()?.set_audio_source(kind, CHANNEL);
    Ok(())
}

/// Chooses noise suppression and echo cancellation: applied to the engine
/// at once (before or during a call) and to every engine created later;
/// works without an engine.
#[tauri::command(rename_all = "snake_case")]
pub async fn set_audio_processing(
    engines: State<'_, EngineState>,
    processing: AudioProcessing,
) -> Result<(), CommandError> {
    engines.set_audio_processing(processing);
    Ok(())
}

/// Plays the processed microphone on the speaker (`on`), or stops (the
/// pre-join "Hear yourself"): the SDK's `start_audio_loopback` /
/// `stop_audio_loopback`. Needs an engine (the preview's).
#[tauri::command(rename_all = "snake_case")]
pub async fn set_audio_loopback(
    engines: State<'_, EngineState>,
    on: bool,
) -> Result<(), CommandError> {
    let engine = engines.engine()?;
    if on {
        engine.start_audio_loopback();
    } else {
        engine.stop_audio_loopback();
    }
    Ok(())
}

/// The engine's audio processing as the SDK reports it
/// (`audio_processing_config`); without an engine, the choice the next
/// engine gets.
#[tauri::command(rename_all = "snake_case")]
pub async fn audio_processing(
    engines: State<'_, EngineState>,
) -> Result<AudioProcessing, CommandError> {
    Ok(match engines.engine() {
        Ok(engine) => AudioProcessing::of(&engine.audio_processing_config()),
        Err(_) => engines.audio_processing(),
    })
}

/// The preset named like `"360p"`.
fn parse_preset(name: &str) -> Option<VideoPreset> {
    Some(match name {
        "180p" => VideoPreset::P180,
        "270p" => VideoPreset::P270,
        "360p" => VideoPreset::P360,
        "540p" => VideoPreset::P540,
        "720p" => VideoPreset::P720,
        "1080p" => VideoPreset::P1080,
        _ => return None,
    })
}

/// Sets the video resolution, frame rate and bitrate from a preset name.
#[tauri::command(rename_all = "snake_case")]
pub async fn set_video_config(
    engines: State<'_, EngineState>,
    preset: String,
) -> Result<(), CommandError> {
    let preset = parse_preset(&preset).ok_or_else(|| {
        CommandError::new(
            ErrorCode::InvalidVideoConfig,
            format!("unknown video preset {preset:?} (180p, 270p, 360p, 540p, 720p or 1080p)"),
        )
    })?;
    Ok(engines
        .engine()?
        .set_video_config(preset.config(), CHANNEL)?)
}

/// Zooms the camera.
#[tauri::command(rename_all = "snake_case")]
pub async fn set_camera_zoom_factor(
    engines: State<'_, EngineState>,
    factor: f64,
) -> Result<(), CommandError> {
    Ok(engines.engine()?.set_camera_zoom_factor(factor, CHANNEL)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preset_names_match_the_sdk_presets() {
        for (name, preset) in ["180p", "270p", "360p", "540p", "720p", "1080p"]
            .iter()
            .zip(VideoPreset::ALL)
        {
            assert_eq!(parse_preset(name), Some(preset));
        }
        assert_eq!(parse_preset("4k"), None);
    }
}
