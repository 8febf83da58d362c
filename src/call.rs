//! `confer call`: a headless participant. Logs in, optionally announces a
//! stream, prints every SDK event as one JSON line on stdout until Ctrl-C (or
//! SIGTERM), then logs out and destroys the engine so the others see it leave
//! at once. If the room ends in Disconnected with an error (kicked out, wrong
//! AppSign, retry window exhausted) it exits with status 2.

use crate::logging::{self, LogFormat};
use anyhow::{anyhow, Context};
use clap::Args;
use media_core::{
    Engine, EngineProfile, Event, LogConfig, PublishChannel, ReconnectPolicy, RoomConfig,
    RoomState, Scenario, User,
};
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `confer call`.
#[derive(Args)]
pub(crate) struct CallArgs {
    /// Signaling URL of the server, e.g. ws://127.0.0.1:8080/ws.
    #[arg(long, env = "CONFER_SERVER")]
    server: String,
    /// The AppID.
    #[arg(long)]
    app_id: u32,
    /// The AppSign (64 hex characters); or use --token.
    #[arg(long, env = "CONFER_APP_SIGN", default_value = "")]
    app_sign: String,
    /// A login token minted with the app's server secret.
    #[arg(long)]
    token: Option<String>,
    /// Room to join (created on demand).
    #[arg(long)]
    room: String,
    /// Your user ID (unique in the app; a second login elsewhere kicks this one).
    #[arg(long)]
    user: String,
    /// Display name (default: the user ID).
    #[arg(long)]
    name: Option<String>,
    /// Receive user join/leave and online-count events.
    #[arg(long)]
    notify_users: bool,
    /// Announce a stream with this ID once logged in.
    #[arg(long)]
    publish: Option<String>,
    /// How long to keep retrying after the network drops, in seconds.
    #[arg(long, default_value_t = 1200)]
    retry_window: u64,
    /// Write SDK logs (rotating files) into this directory.
    #[arg(long)]
    log_dir: Option<PathBuf>,
}

/// Exit status when the room ended with an error.
const EXIT_ROOM_ERROR: i32 = 2;

pub(crate) async fn run(args: CallArgs) -> anyhow::Result<()> {
    match &args.log_dir {
        Some(dir) => media_core::set_log_config(LogConfig {
            dir: dir.clone(),
            max_size: 5 * 1024 * 1024,
        })
        .map_err(|e| anyhow!("log config: {e}"))?,
        None => logging::init(LogFormat::Text, "warn"),
    }
    let profile = EngineProfile {
        app_id: args.app_id,
        app_sign: args.app_sign.clone(),
        scenario: Scenario::StandardVideoCall,
        server: args.server.clone(),
        reconnect: ReconnectPolicy {
            retry_window: Duration::from_secs(args.retry_window),
            ..ReconnectPolicy::default()
        },
    };
    let (engine, mut events) = Engine::create(profile).map_err(|e| anyhow!("{e}"))?;
    let user = User::new(
        args.user.clone(),
        args.name.clone().unwrap_or_else(|| args.user.clone()),
    );
    let config = RoomConfig {
        is_user_status_notify: args.notify_users,
        token: args.token.clone(),
        ..RoomConfig::default()
    };
    engine
        .login_room(&args.room, user, config)
        .map_err(|e| anyhow!("login_room: {e}"))?;
    if let Some(stream_id) = &args.publish {
        engine
            .start_publishing_stream(stream_id, PublishChannel::Main)
            .map_err(|e| anyhow!("start_publishing_stream: {e}"))?;
    }

    let stop = crate::signal::stop_requested();
    tokio::pin!(stop);
    let mut room_error = None;
    loop {
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { break };
                print_event(&event)?;
                if let Event::RoomStateUpdate { state: RoomState::Disconnected, error_code, .. } = event {
                    if error_code != 0 {
                        room_error = Some(error_code);
                        break;
                    }
                }
            }
            _ = &mut stop => break,
        }
    }

    if room_error.is_none() {
        // Not logged in any more is fine here: we are leaving anyway.
        let _ = engine.logout_room();
    }
    engine.destroy().await;
    while let Ok(event) = events.try_recv() {
        print_event(&event)?;
    }
    if let Some(code) = room_error {
        eprintln!("confer call: room ended with error code {code}");
        std::process::exit(EXIT_ROOM_ERROR);
    }
    Ok(())
}

fn print_event(event: &Event) -> anyhow::Result<()> {
    let line = serde_json::to_string(event).context("serializing an event")?;
    println!("{line}");
    Ok(())
}
