//! SDK commands for local and remote media: preview, publishing, playing,
//! and the mutes.

use media_core::render::Canvas;
use media_core::PublishChannel;
use tauri::State;

use crate::engine_state::EngineState;
use crate::error::CommandError;
use crate::surface::{Surfaces, TileOwner};

/// The app publishes on the main channel only.
const CHANNEL: PublishChannel = PublishChannel::Main;

/// The renderer of a pending tile, as a canvas for the engine.
fn canvas_of(pending: &crate::surface::PendingTile) -> Result<Canvas, CommandError> {
    pending
        .renderer()
        .map(Canvas::renderer)
        .ok_or_else(|| CommandError::internal("the tile's renderer is gone"))
}

/// Shows the camera preview (mirrored) in tile `tile_id`.
#[tauri::command(rename_all = "snake_case")]
pub async fn start_preview(
    engines: State<'_, EngineState>,
    surfaces: State<'_, Surfaces>,
    tile_id: String,
) -> Result<(), CommandError> {
    let engine = engines.engine()?;
    let pending = surfaces.open(&tile_id, TileOwner::Preview).await?;
    engine.start_preview(canvas_of(&pending)?)?;
    surfaces.commit(pending);
    Ok(())
}

/// Stops the preview and closes its tile's surface.
#[tauri::command(rename_all = "snake_case")]
pub async fn stop_preview(
    engines: State<'_, EngineState>,
    surfaces: State<'_, Surfaces>,
) -> Result<(), CommandError> {
    let engine = engines.engine()?;
    engine.stop_preview();
    surfaces.release(&TileOwner::Preview);
    Ok(())
}

/// Publishes the main channel as `stream_id`.
#[tauri::command(rename_all = "snake_case")]
pub async fn start_publishing_stream(
    engines: State<'_, EngineState>,
    stream_id: String,
) -> Result<(), CommandError> {
    Ok(engines
        .engine()?
        .start_publishing_stream(&stream_id, CHANNEL)?)
}

/// Stops publishing the main channel.
#[tauri::command(rename_all = "snake_case")]
pub async fn stop_publishing_stream(engines: State<'_, EngineState>) -> Result<(), CommandError> {
    Ok(engines.engine()?.stop_publishing_stream(CHANNEL)?)
}

/// Plays `stream_id`, showing its video in tile `tile_id`.
#[tauri::command(rename_all = "snake_case")]
pub async fn start_playing_stream(
    engines: State<'_, EngineState>,
    surfaces: State<'_, Surfaces>,
    stream_id: String,
    tile_id: String,
) -> Result<(), CommandError> {
    let engine = engines.engine()?;
    let pending = surfaces
        .open(&tile_id, TileOwner::Stream(stream_id.clone()))
        .await?;
    engine.start_playing_stream(&stream_id, Some(canvas_of(&pending)?))?;
    surfaces.commit(pending);
    Ok(())
}

/// Stops playing `stream_id` and closes its tile's surface.
#[tauri::command(rename_all = "snake_case")]
pub async fn stop_playing_stream(
    engines: State<'_, EngineState>,
    surfaces: State<'_, Surfaces>,
    stream_id: String,
) -> Result<(), CommandError> {
    let result = engines.engine()?.stop_playing_stream(&stream_id);
    surfaces.release(&TileOwner::Stream(stream_id));
    Ok(result?)
}

/// Mutes (or unmutes) the microphone.
#[tauri::command(rename_all = "snake_case")]
pub async fn mute_microphone(
    engines: State<'_, EngineState>,
    mute: bool,
) -> Result<(), CommandError> {
    engines.engine()?.mute_microphone(mute);
    Ok(())
}

/// Turns the camera on or off.
#[tauri::command(rename_all = "snake_case")]
pub async fn enable_camera(
    engines: State<'_, EngineState>,
    enable: bool,
) -> Result<(), CommandError> {
    engines.engine()?.enable_camera(enable, CHANNEL);
    Ok(())
}

/// Stops (or resumes) sending audio.
#[tauri::command(rename_all = "snake_case")]
pub async fn mute_publish_stream_audio(
    engines: State<'_, EngineState>,
    mute: bool,
) -> Result<(), CommandError> {
    engines.engine()?.mute_publish_stream_audio(mute, CHANNEL);
    Ok(())
}

/// Stops (or resumes) sending video.
#[tauri::command(rename_all = "snake_case")]
pub async fn mute_publish_stream_video(
    engines: State<'_, EngineState>,
    mute: bool,
) -> Result<(), CommandError> {
    engines.engine()?.mute_publish_stream_video(mute, CHANNEL);
    Ok(())
}

/// Mutes (or unmutes) a played stream's audio.
#[tauri::command(rename_all = "snake_case")]
pub async fn mute_play_stream_audio(
    engines: State<'_, EngineState>,
    stream_id: String,
    mute: bool,
) -> Result<(), CommandError> {
    Ok(engines.engine()?.mute_play_stream_audio(&stream_id, mute)?)
}

/// Mutes (or unmutes) a played stream's video.
#[tauri::command(rename_all = "snake_case")]
pub async fn mute_play_stream_video(
    engines: State<'_, EngineState>,
    stream_id: String,
    mute: bool,
) -> Result<(), CommandError> {
    Ok(engines.engine()?.mute_play_stream_video(&stream_id, mute)?)
}

/// Caps the simulcast layer received of a played stream (the grid asks by
/// tile size: `low` for thumbnails, `high` for a big tile; ui/src/layer-caps.ts).
#[tauri::command(rename_all = "snake_case")]
pub async fn set_play_stream_video_layer(
    engines: State<'_, EngineState>,
    stream_id: String,
    layer: protocol::VideoLayer,
) -> Result<(), CommandError> {
    Ok(engines
        .engine()?
        .set_play_stream_video_layer(&stream_id, layer)?)
}

/// Starts the sound level monitor, or changes its interval (`interval_ms`,
/// clamped to 100..=3000): `CapturedSoundLevelUpdate` and, while streams
/// are played, `RemoteSoundLevelUpdate` events every interval. Works before
/// login too (the pre-join meter).
#[tauri::command(rename_all = "snake_case")]
pub async fn start_sound_level_monitor(
    engines: State<'_, EngineState>,
    interval_ms: u32,
) -> Result<(), CommandError> {
    engines
        .engine()?
        .start_sound_level_monitor(std::time::Duration::from_millis(u64::from(interval_ms)));
    Ok(())
}

/// Stops the sound level monitor.
#[tauri::command(rename_all = "snake_case")]
pub async fn stop_sound_level_monitor(engines: State<'_, EngineState>) -> Result<(), CommandError> {
    engines.engine()?.stop_sound_level_monitor();
    Ok(())
}
