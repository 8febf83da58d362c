//! Confer's desktop app: the Tauri shell between the web UI (`ui/`) and the
//! SDK (`media-core`), with the room server embedded for hosting calls.
//! `docs/app-contract.md` is the contract with the UI: every SDK call is a
//! command, every engine event a Tauri event of the same name.
//!
//! The data the commands take and return lives in `confer-app-types`
//! (`types/`), from which `contract/` generates the UI's TypeScript.
//!
//! Modules, one job each: [`error`] (what commands reject with), [`events`]
//! (engine events to the UI), [`engine_state`], [`room_commands`],
//! [`media_commands`] and [`device_commands`] (the SDK commands),
//! [`app_commands`] (hosting, tiles, settings), [`host`] (the embedded
//! server), [`settings`], [`paths`], [`surface`] (where video is drawn) and
//! [`shutdown`] (leaving cleanly when the window closes), [`updater`]
//! (self-updates from a signed feed) and [`share_commands`] (screen sharing).

pub mod app_commands;
pub mod device_commands;
pub mod engine_state;
pub mod events;
pub mod host;
pub mod media_commands;
pub mod paths;
pub mod room_commands;
pub mod settings;
pub mod share_commands;
pub mod shutdown;
pub mod surface;
pub mod updater;

pub use confer_app_types::error;

use tauri::Manager;

/// The label of the app's one window (`tauri.conf.json`).
pub const MAIN_WINDOW: &str = "main";

/// Builds and runs the app until it exits.
pub fn run() {
    init_logging();
    let app = tauri::Builder::default()
        .plugin(tauri_plugin_updater::Builder::new().build())
        .plugin(tauri_plugin_process::init())
        .manage(updater::PendingUpdate::default())
        .manage(engine_state::EngineState::default())
        .manage(host::Host::default())
        .manage(shutdown::Closing::default())
        .manage(share_commands::Shares::default())
        .setup(|app| {
            let window = app
                .get_webview_window(MAIN_WINDOW)
                .ok_or("the main window is missing from tauri.conf.json")?;
            app.manage(surface::Surfaces::new(window));
            tracing::info!(config_dir = %paths::config_dir().display(), "Confer app started");
            Ok(())
        })
        .on_window_event(|window, event| {
            if let tauri::WindowEvent::CloseRequested { api, .. } = event {
                if window.label() == MAIN_WINDOW {
                    api.prevent_close();
                    shutdown::begin(window.app_handle().clone());
                }
            }
        })
        .invoke_handler(tauri::generate_handler![
            room_commands::create_engine,
            room_commands::destroy_engine,
            room_commands::login_room,
            room_commands::logout_room,
            room_commands::renew_token,
            room_commands::send_broadcast_message,
            media_commands::start_preview,
            media_commands::stop_preview,
            media_commands::start_publishing_stream,
            media_commands::stop_publishing_stream,
            media_commands::start_playing_stream,
            media_commands::stop_playing_stream,
            media_commands::mute_microphone,
            media_commands::enable_camera,
            media_commands::mute_publish_stream_audio,
            media_commands::mute_publish_stream_video,
            media_commands::mute_play_stream_audio,
            media_commands::mute_play_stream_video,
            media_commands::set_play_stream_video_layer,
            media_commands::start_sound_level_monitor,
            media_commands::stop_sound_level_monitor,
            device_commands::list_devices,
            device_commands::use_video_device,
            device_commands::use_audio_device,
            device_commands::use_speaker_device,
            device_commands::test_speaker,
            device_commands::set_video_source,
            device_commands::set_audio_source,
            device_commands::set_video_config,
            device_commands::set_camera_zoom_factor,
            device_commands::set_audio_processing,
            device_commands::set_audio_loopback,
            device_commands::audio_processing,
            app_commands::host_call,
            app_commands::host_invite,
            app_commands::check_reachability,
            app_commands::stop_hosting,
            app_commands::update_tiles,
            app_commands::attach_canvas,
            app_commands::diagnostics,
            app_commands::load_settings,
            app_commands::save_settings,
            app_commands::user_theme,
            app_commands::app_info,
            share_commands::list_share_sources,
            share_commands::start_share,
            share_commands::stop_share,
            updater::check_update,
            updater::install_update,
        ])
        .build(tauri::generate_context!());
    match app {
        Ok(app) => app.run(|_, _| {}),
        Err(error) => {
            tracing::error!(%error, "the app could not start");
            eprintln!("Confer could not start: {error}");
            std::process::exit(1);
        }
    }
}

/// Logs to stderr; `RUST_LOG` overrides the default `info`, with the
/// WebRTC libraries' own logs at errors only (they warn once per
/// duplicated packet, which every doubled resend makes on a lossy link).
fn init_logging() {
    let filter = media_core::log_filter("info");
    let _ = tracing_subscriber::fmt().with_env_filter(filter).try_init();
}
