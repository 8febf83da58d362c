//! The server API from the command line: `confer rooms`, `users`,
//! `streams`, `kick`, `mute`, `close-room`, `send-message`, and
//! `confer admin-token` to print the admin token they use.
//!
//! Each command POSTs to `<server>/api/v1/<method>` with an admin token:
//! `--admin-token` (or `CONFER_ADMIN_TOKEN`), or one minted on the spot from
//! the app's server secret (`--app-id` with `--secret` or the server
//! config). The answer is printed as JSON; a refusal exits non-zero with
//! its code.

use crate::token::SecretSource;
use anyhow::{anyhow, bail, Context};
use clap::{Args, Subcommand};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{header, Method, Request};
use hyper_util::rt::TokioIo;
use server::admin_api::types::{
    KickUserRequest, MuteStreamRequest, RoomRequest, SendMessageRequest,
};
use server::web::ApiError;
use std::time::Duration;

/// Lifetime of the admin token a command mints for itself.
const CALL_TOKEN_TTL_SECS: u64 = 60;
/// How long a call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// Arguments of `confer admin-token`.
#[derive(Args)]
pub(crate) struct AdminTokenArgs {
    #[command(flatten)]
    source: SecretSource,
    /// Lifetime in seconds (at most 30 days).
    #[arg(long, default_value_t = 3600)]
    ttl: u64,
}

/// Where the server API is and how to authenticate.
#[derive(Args)]
pub(crate) struct ApiArgs {
    /// The server's HTTP base URL, e.g. http://127.0.0.1:7880.
    #[arg(long, env = "CONFER_SERVER_URL")]
    server: String,
    /// An admin token (`confer admin-token`); default: minted from the
    /// app's server secret.
    #[arg(long, env = "CONFER_ADMIN_TOKEN")]
    admin_token: Option<String>,
    /// The AppID (when no --admin-token).
    #[arg(long, required_unless_present = "admin_token")]
    app_id: Option<u32>,
    /// The app's server secret; default: looked up in the server config.
    #[arg(long, env = "CONFER_SERVER_SECRET")]
    secret: Option<String>,
    /// Server config to read the secret from.
    #[arg(long, env = "CONFER_CONFIG")]
    config: Option<std::path::PathBuf>,
}

impl ApiArgs {
    /// The server's HTTP base URL.
    pub(crate) fn server(&self) -> &str {
        &self.server
    }
}

/// A server API command.
#[derive(Subcommand)]
pub(crate) enum ApiCommand {
    /// List the app's rooms on the server.
    Rooms(ApiArgs),
    /// List the users in a room.
    Users(RoomArgs),
    /// List the streams published in a room.
    Streams(RoomArgs),
    /// Remove a user from a room (the client gets KickedByServer).
    Kick(KickArgs),
    /// Stop (or resume) forwarding a stream's audio or video.
    Mute(MuteArgs),
    /// Close a room: everyone in it gets RoomClosed.
    CloseRoom(RoomArgs),
    /// Send a broadcast message to everyone in a room.
    SendMessage(MessageArgs),
}

/// One room.
#[derive(Args)]
pub(crate) struct RoomArgs {
    #[command(flatten)]
    api: ApiArgs,
    /// The room ID.
    #[arg(long)]
    room: String,
}

/// Arguments of `confer kick`.
#[derive(Args)]
pub(crate) struct KickArgs {
    #[command(flatten)]
    room: RoomArgs,
    /// The user ID.
    #[arg(long)]
    user: String,
}

/// Arguments of `confer mute`.
#[derive(Args)]
pub(crate) struct MuteArgs {
    #[command(flatten)]
    room: RoomArgs,
    /// The stream ID.
    #[arg(long)]
    stream: String,
    /// Mute its audio.
    #[arg(long)]
    audio: bool,
    /// Mute its video.
    #[arg(long)]
    video: bool,
    /// Lift the server's mute of the kinds named (both if none is named).
    #[arg(long)]
    unmute: bool,
}

/// Arguments of `confer send-message`.
#[derive(Args)]
pub(crate) struct MessageArgs {
    #[command(flatten)]
    room: RoomArgs,
    /// The text.
    #[arg(long)]
    text: String,
    /// The sender's name the clients see (default: Server).
    #[arg(long)]
    from_name: Option<String>,
}

/// `confer admin-token`: prints an admin token for the server API.
pub(crate) fn admin_token(args: AdminTokenArgs) -> anyhow::Result<()> {
    if args.ttl == 0 || args.ttl > server::jwt::MAX_LIFETIME_SECS {
        bail!(
            "--ttl must be 1 to {} seconds",
            server::jwt::MAX_LIFETIME_SECS
        );
    }
    let secret = args.source.secret()?;
    println!(
        "{}",
        server::jwt::mint_admin(
            secret.as_bytes(),
            args.source.app_id(),
            crate::token::unix_now(),
            args.ttl
        )
    );
    Ok(())
}

/// Runs a server API command and prints its answer.
pub(crate) async fn run(cmd: ApiCommand) -> anyhow::Result<()> {
    let (api, method, body) = match cmd {
        ApiCommand::Rooms(api) => (api, "list_rooms", serde_json::json!({})),
        ApiCommand::Users(r) => (r.api, "list_users", json(&RoomRequest { room_id: r.room })?),
        ApiCommand::Streams(r) => (
            r.api,
            "list_streams",
            json(&RoomRequest { room_id: r.room })?,
        ),
        ApiCommand::Kick(k) => (
            k.room.api,
            "kick_user",
            json(&KickUserRequest {
                room_id: k.room.room,
                user_id: k.user,
            })?,
        ),
        ApiCommand::Mute(m) => {
            let neither = !m.audio && !m.video;
            if neither && !m.unmute {
                bail!("name --audio, --video or both (with --unmute to lift the mute)");
            }
            let pick = |named: bool| (named || neither).then_some(!m.unmute);
            let req = MuteStreamRequest {
                room_id: m.room.room,
                stream_id: m.stream,
                audio: pick(m.audio),
                video: pick(m.video),
            };
            (m.room.api, "mute_stream", json(&req)?)
        }
        ApiCommand::CloseRoom(r) => (r.api, "close_room", json(&RoomRequest { room_id: r.room })?),
        ApiCommand::SendMessage(m) => (
            m.room.api,
            "send_message",
            json(&SendMessageRequest {
                room_id: m.room.room,
                text: m.text,
                from_user_id: None,
                from_user_name: m.from_name,
            })?,
        ),
    };
    let answer = tokio::time::timeout(CALL_TIMEOUT, call(&api, method, &body))
        .await
        .map_err(|_| anyhow!("the server did not answer within {CALL_TIMEOUT:?}"))??;
    println!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(())
}

/// POSTs `body` to `method` and returns the JSON answer, or the refusal
/// as an error naming its code.
pub(crate) async fn call(
    api: &ApiArgs,
    method: &str,
    body: &serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let token = match &api.admin_token {
        Some(token) => token.clone(),
        None => {
            let app_id = api
                .app_id
                .ok_or_else(|| anyhow!("--app-id or --admin-token is required"))?;
            let source = SecretSource::new(app_id, api.secret.clone(), api.config.clone());
            server::jwt::mint_admin(
                source.secret()?.as_bytes(),
                app_id,
                crate::token::unix_now(),
                CALL_TOKEN_TTL_SECS,
            )
        }
    };
    let base = api.server.trim_end_matches('/');
    let Some(authority) = base.strip_prefix("http://") else {
        bail!("--server must be an http:// URL (the CLI does not speak https yet)");
    };
    let uri = format!("{base}/api/v1/{method}");
    let stream = tokio::net::TcpStream::connect(authority)
        .await
        .with_context(|| format!("connecting to {authority}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let request = Request::builder()
        .method(Method::POST)
        .uri(&uri)
        .header(header::HOST, authority)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(serde_json::to_vec(body)?)))?;
    let response = sender
        .send_request(request)
        .await
        .with_context(|| format!("POST {uri}"))?;
    let status = response.status();
    let bytes = response.into_body().collect().await?.to_bytes();
    if status.is_success() {
        return serde_json::from_slice(&bytes)
            .with_context(|| format!("reading the answer of {uri}"));
    }
    match serde_json::from_slice::<ApiError>(&bytes) {
        Ok(e) => Err(anyhow!(
            "{} ({}): {} [HTTP {status}]",
            e.name,
            e.code,
            e.message
        )),
        Err(_) => Err(anyhow!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&bytes)
        )),
    }
}

fn json<T: serde::Serialize>(value: &T) -> anyhow::Result<serde_json::Value> {
    Ok(serde_json::to_value(value)?)
}
