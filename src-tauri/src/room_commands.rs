//! SDK commands for the engine's lifetime and the room: create/destroy,
//! login/logout, token renewal, broadcast messages.

use std::time::Duration;

use media_core::{Engine, EngineProfile, RoomConfig, Scenario, User};
use serde::Deserialize;
use tauri::{AppHandle, State};

use crate::engine_state::EngineState;
use crate::error::CommandError;
use crate::events;
use crate::surface::Surfaces;

/// The `profile` argument of `create_engine`, as the UI sends it.
#[derive(Debug, Deserialize)]
struct ProfileArg {
    server: String,
    app_id: serde_json::Value,
    #[serde(default)]
    app_sign: Option<String>,
    #[serde(default)]
    scenario: Option<String>,
    /// The SHA-256 fingerprint of the server's certificate to pin (from an
    /// invite link).
    #[serde(default)]
    pin: Option<String>,
}

/// The engine profile for the UI's `profile` object; argument errors carry
/// the SDK's codes (an unusable AppID is `InvalidAppId`, ...).
fn parse_profile(profile: serde_json::Value) -> Result<EngineProfile, CommandError> {
    let arg: ProfileArg = serde_json::from_value(profile)
        .map_err(|e| CommandError::invalid_argument(format!("profile: {e}")))?;
    let app_id = arg
        .app_id
        .as_u64()
        .and_then(|id| u32::try_from(id).ok())
        .ok_or(media_core::EngineError::InvalidAppId)?;
    let scenario = match arg.scenario.as_deref() {
        None | Some("") => Scenario::Default,
        Some(name) => serde_json::from_value(serde_json::Value::String(name.to_owned()))
            .map_err(|_| CommandError::invalid_argument(format!("unknown scenario {name:?}")))?,
    };
    Ok(EngineProfile {
        app_id,
        app_sign: arg.app_sign.unwrap_or_default().trim().to_owned(),
        scenario,
        server: arg.server,
        reconnect: Default::default(),
        transport: Default::default(),
        tls: media_core::TlsOptions {
            extra_ca_pem: None,
            pinned_cert_sha256: arg.pin.filter(|p| !p.trim().is_empty()),
        },
    })
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::ErrorCode;
    use serde_json::json;

    #[test]
    fn profiles_parse_with_sdk_codes() {
        let ok = parse_profile(json!({
            "server": "ws://127.0.0.1:1/ws",
            "app_id": 42,
            "scenario": "StandardVideoCall"
        }))
        .unwrap();
        assert_eq!(
            (ok.app_id, ok.scenario, ok.app_sign.as_str()),
            (42, Scenario::StandardVideoCall, "")
        );
        let bad_id = parse_profile(json!({"server": "ws://x/ws", "app_id": "42"})).unwrap_err();
        assert_eq!(bad_id.code, ErrorCode::InvalidAppId.code());
        let negative = parse_profile(json!({"server": "ws://x/ws", "app_id": -1})).unwrap_err();
        assert_eq!(negative.code, ErrorCode::InvalidAppId.code());
        let scenario =
            parse_profile(json!({"server": "ws://x/ws", "app_id": 1, "scenario": "Nope"}))
                .unwrap_err();
        assert_eq!(scenario.code, ErrorCode::MalformedMessage.code());
    }
}
