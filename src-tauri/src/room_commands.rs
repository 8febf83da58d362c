//! SDK commands for the engine's lifetime and the room: create/destroy,
//! login/logout, token renewal, broadcast messages.

use std::time::Duration;

use confer_app_types::profile::parse_profile;
use media_core::{Engine, RoomConfig, User};
use tauri::{AppHandle, State};

use crate::engine_state::EngineState;
use crate::error::CommandError;
use crate::events;
use crate::surface::Surfaces;

/// Creates the engine (destroying a previous one first) and starts
/// forwarding its events to the UI.
#[tauri::command(rename_all = "snake_case")]
pub async fn create_engine(
    app: AppHandle,
    engines: State<'_, EngineState>,
    surfaces: State<'_, Surfaces>,
    profile: serde_json::Value,
) -> Result<(), CommandError> {
    let profile = parse_profile(profile)?;
    if let Some(old) = engines.replace(None) {
        surfaces.release_all();
        old.destroy().await;
    }
    // Async commands run on Tauri's Tokio runtime, which the engine needs.
    let (engine, events) = Engine::create(profile)?;
    events::forward(app, events);
    engines.replace(Some(engine));
    Ok(())
}

/// Destroys the engine (logging out first); resolves once it is gone.
#[tauri::command(rename_all = "snake_case")]
pub async fn destroy_engine(
    engines: State<'_, EngineState>,
    surfaces: State<'_, Surfaces>,
) -> Result<(), CommandError> {
    surfaces.release_all();
    if let Some(engine) = engines.replace(None) {
        engine.destroy().await;
    }
    Ok(())
}

/// Logs in to `room_id`.
#[tauri::command(rename_all = "snake_case")]
pub async fn login_room(
    engines: State<'_, EngineState>,
    room_id: String,
    user_id: String,
    user_name: String,
    token: Option<String>,
    is_user_status_notify: bool,
) -> Result<(), CommandError> {
    let config = RoomConfig {
        is_user_status_notify,
        token: token.filter(|t| !t.is_empty()),
        ..RoomConfig::default()
    };
    engines
        .engine()?
        .login_room(&room_id, User::new(user_id, user_name), config)?;
    Ok(())
}

/// Leaves the room; every played stream stops (and its tile closes).
#[tauri::command(rename_all = "snake_case")]
pub async fn logout_room(
    engines: State<'_, EngineState>,
    surfaces: State<'_, Surfaces>,
) -> Result<(), CommandError> {
    let result = engines.engine()?.logout_room();
    surfaces.release_streams();
    Ok(result?)
}

/// Replaces the login token.
#[tauri::command(rename_all = "snake_case")]
pub async fn renew_token(
    engines: State<'_, EngineState>,
    token: String,
) -> Result<(), CommandError> {
    Ok(engines.engine()?.renew_token(&token)?)
}

/// Sends a broadcast message to the room; resolves with its message ID.
#[tauri::command(rename_all = "snake_case")]
pub async fn send_broadcast_message(
    engines: State<'_, EngineState>,
    message: String,
) -> Result<u64, CommandError> {
    Ok(engines.engine()?.send_broadcast_message(&message).await?)
}

/// Logs out and destroys the engine, for closing the app: at most `limit`.
pub async fn shut_down_engine(engines: &EngineState, limit: Duration) {
    if let Some(engine) = engines.replace(None) {
        let _ = engine.logout_room();
        if tokio::time::timeout(limit, engine.destroy()).await.is_err() {
            tracing::warn!("engine did not shut down in time");
        }
    }
}
