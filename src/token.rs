//! `confer token`: mint and verify login tokens with an app's server secret.
//! Tokens are JWTs (HS256, [`server::jwt`]); `verify` also reads the legacy
//! `CF1.` format the server still accepts.

use anyhow::{anyhow, Context};
use clap::{Args, Subcommand};
use protocol::token::{Expectation, Privilege, Privileges, TokenClaims};
use server::ServerConfig;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

/// `confer token` subcommands.
#[derive(Subcommand)]
pub(crate) enum TokenCommand {
    /// Print a new token.
    Mint(MintArgs),
    /// Check a token and print its claims, or its error code.
    Verify(VerifyArgs),
}

/// Where the server secret comes from.
#[derive(Args)]
pub(crate) struct SecretSource {
    /// The AppID.
    #[arg(long)]
    app_id: u32,
    /// The app's server secret; default: looked up in the server config.
    #[arg(long, env = "CONFER_SERVER_SECRET")]
    secret: Option<String>,
    /// Server config to read the secret from.
    #[arg(long, env = "CONFER_CONFIG")]
    config: Option<PathBuf>,
}

/// Arguments of `confer token mint`.
#[derive(Args)]
pub(crate) struct MintArgs {
    #[command(flatten)]
    source: SecretSource,
    /// The user the token is for.
    #[arg(long, required_unless_present = "invite", conflicts_with = "invite")]
    user: Option<String>,
    /// Limit the token to one room (default: any room; required by --invite).
    #[arg(long, required_if_eq("invite", "true"))]
    room: Option<String>,
    /// An invite: any user ID not in use may log in to --room with it
    /// (it never kicks anyone out).
    #[arg(long)]
    invite: bool,
    /// Lifetime in seconds (at most 30 days; 0 mints an expired token).
    #[arg(long, default_value_t = 3600)]
    ttl: u64,
    /// Do not grant the publish privilege.
    #[arg(long)]
    no_publish: bool,
    /// Do not grant the login privilege.
    #[arg(long)]
    no_login: bool,
}

/// Arguments of `confer token verify`.
#[derive(Args)]
pub(crate) struct VerifyArgs {
    #[command(flatten)]
    source: SecretSource,
    /// The token.
    #[arg(long)]
    token: String,
    /// The user logging in.
    #[arg(long)]
    user: String,
    /// The room being joined.
    #[arg(long)]
    room: String,
}

pub(crate) fn run(cmd: TokenCommand) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Mint(args) => {
            if args.ttl > server::jwt::MAX_LIFETIME_SECS {
                return Err(anyhow!(
                    "--ttl is at most {} seconds: servers refuse longer-lived tokens",
                    server::jwt::MAX_LIFETIME_SECS
                ));
            }
            let secret = args.source.secret()?;
            let privileges = Privileges {
                login: !args.no_login,
                publish: !args.no_publish,
            };
            let claims = match (args.user, args.room) {
                (Some(user), room) => TokenClaims::new(
                    args.source.app_id,
                    user,
                    room,
                    privileges,
                    unix_now(),
                    args.ttl,
                ),
                (None, Some(room)) => {
                    TokenClaims::invite(args.source.app_id, room, privileges, unix_now(), args.ttl)
                }
                (None, None) => return Err(anyhow!("--user or --invite --room is required")),
            };
            println!("{}", server::jwt::mint(secret.as_bytes(), &claims));
            Ok(())
        }
        TokenCommand::Verify(args) => {
            let secret = args.source.secret()?;
            let expect = Expectation {
                app_id: args.source.app_id,
                user_id: &args.user,
                room_id: &args.room,
                privilege: Privilege::Login,
            };
            match server::jwt::verify(&args.token, secret.as_bytes(), &expect, unix_now()) {
                Ok(claims) => {
                    println!("{}", serde_json::to_string(&claims)?);
                    Ok(())
                }
                Err(e) => Err(anyhow!("{} ({}): {e}", e.code().name(), e.code().code())),
            }
        }
    }
}

impl SecretSource {
    /// The secret of `app_id`: `secret` if given, else from `config` (or
    /// the default config path).
    pub(crate) fn new(app_id: u32, secret: Option<String>, config: Option<PathBuf>) -> Self {
        SecretSource {
            app_id,
            secret,
            config,
        }
    }

    /// The AppID.
    pub(crate) fn app_id(&self) -> u32 {
        self.app_id
    }

    /// The app's server secret.
    pub(crate) fn secret(&self) -> anyhow::Result<String> {
        if let Some(secret) = &self.secret {
            if secret.is_empty() {
                return Err(anyhow!("the server secret is empty"));
            }
            return Ok(secret.clone());
        }
        let path = self
            .config
            .clone()
            .unwrap_or_else(crate::serve::default_config_path);
        let config = ServerConfig::load(&path)
            .with_context(|| format!("reading the server secret from {}", path.display()))?;
        config
            .apps
            .iter()
            .find(|a| a.app_id == self.app_id)
            .map(|a| a.server_secret.clone())
            .ok_or_else(|| anyhow!("AppID {} is not in {}", self.app_id, path.display()))
    }
}

/// Now, in Unix seconds.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
