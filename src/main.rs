//! `confer`: the command-line front of Confer.
//!
//! - `confer serve`: run the room server (generates a local config on first run).
//! - `confer token mint|verify`: mint or check login tokens (JWTs) with an app's server secret.
//! - `confer admin-token`, `confer rooms|users|streams|kick|mute|close-room|send-message`:
//!   the server API (`admin`).
//! - `confer call`: a headless participant that logs in and prints every SDK
//!   event as one JSON line until Ctrl-C, then logs out cleanly; it can save
//!   (`--save-received`) and probe (`--probe`) the streams it plays.
//! - `confer doctor`: checks what a call to a server needs, step by step.
//! - `confer bench`: a load test with WHIP publishers and WHEP players (`bench`).

mod admin;
mod audio_args;
mod bench;
mod call;
mod connect_args;
mod doctor;
mod impair;
mod jsonl;
mod logging;
mod probe;
mod received;
mod serve;
mod signal;
mod token;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "confer",
    version,
    about = "Confer: self-hosted real-time video calls"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the room server.
    Serve(serve::ServeArgs),
    /// Mint or verify login tokens.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Print an admin token for the server API.
    AdminToken(admin::AdminTokenArgs),
    /// Server API calls (rooms, users, streams, kick, mute, close-room,
    /// send-message).
    #[command(flatten)]
    Api(admin::ApiCommand),
    /// Join a room as a headless participant and print events as JSON lines.
    // Boxed: by far the largest arguments (clippy::large_enum_variant).
    Call(Box<call::CallArgs>),
    /// Check what a call to a server needs, step by step (DNS, TCP, TLS,
    /// WebSocket, login, UDP media, TURN), one line per step.
    Doctor(Box<doctor::DoctorArgs>),
    /// Relay UDP to a server through an impaired link (loss, delay, jitter,
    /// reordering, capacity, schedules, traces), for tests and benches.
    Impair(Box<impair::ImpairArgs>),
    /// Load test: rooms of WHIP publishers (a pre-encoded loop) and WHEP
    /// players; prints fps, bitrate, latency, join times, server CPU/RSS.
    Bench(Box<bench::BenchArgs>),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("confer: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Token(cmd) => token::run(cmd),
            Command::AdminToken(args) => admin::admin_token(args),
            Command::Api(cmd) => admin::run(cmd).await,
            Command::Call(args) => call::run(*args).await,
            Command::Doctor(args) => doctor::run(*args).await,
            Command::Impair(args) => impair::run(*args).await,
            Command::Bench(args) => bench::run(*args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("confer: {e:#}");
            ExitCode::FAILURE
        }
    }
}
