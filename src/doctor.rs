//! `confer doctor`: checks, in order, what a call to a server needs (DNS,
//! TCP, TLS, WebSocket, login, UDP media, TURN allocations) and prints one
//! line per step; exits non-zero when one fails.

use crate::connect_args::ConnectArgs;
use anyhow::bail;
use clap::Args;
use media_core::doctor::{diagnose, DoctorOptions};
use media_core::transport::TransportConfig;
use media_core::ReconnectPolicy;
use std::io::Write as _;
use std::time::Duration;

/// Arguments of `confer doctor`.
#[derive(Args)]
pub(crate) struct DoctorArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// The room the test login joins (the token's room, if it names one).
    #[arg(long, default_value = "confer-doctor")]
    room: String,
    /// How long each step may take, in seconds.
    #[arg(long, default_value_t = 5)]
    timeout: u64,
    /// Skip the media step (publishing a test stream).
    #[arg(long)]
    no_media: bool,
    /// Print the checks as JSON lines instead of text.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(args: DoctorArgs) -> anyhow::Result<()> {
    crate::logging::init(crate::logging::LogFormat::Text, "error");
    let step_timeout = Duration::from_secs(args.timeout.max(1));
    let profile = args.connect.profile(
        // A diagnosis reports failures; it retries no longer than a step.
        ReconnectPolicy {
            retry_window: step_timeout,
            ..ReconnectPolicy::default()
        },
        TransportConfig::default(),
    )?;
    let options = DoctorOptions {
        profile,
        token: args.connect.token.clone(),
        room_id: args.room.clone(),
        user_id: format!("doctor-{:08x}", rand::random::<u32>()),
        step_timeout,
        media: !args.no_media,
    };
    let json = args.json;
    let checks = diagnose(&options, |check| {
        let line = if json {
            serde_json::to_string(check).unwrap_or_default()
        } else {
            check.line()
        };
        // A closed pipe (`| head`) is not an error worth a panic.
        let _ = writeln!(std::io::stdout(), "{line}");
    })
    .await;
    let failed = checks.iter().filter(|c| !c.ok).count();
    if failed > 0 {
        bail!("{failed} of {} checks failed", checks.len());
    }
    Ok(())
}
