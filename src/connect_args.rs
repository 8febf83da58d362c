//! The arguments that say which server to reach and how to prove who we
//! are, shared by `confer call` and `confer doctor`.

use anyhow::Context;
use clap::Args;
use media_core::transport::TransportConfig;
use media_core::{EngineProfile, ReconnectPolicy, Scenario, TlsOptions};
use std::path::PathBuf;

/// Server, app and credentials.
#[derive(Args)]
pub(crate) struct ConnectArgs {
    /// Signaling URL of the server, e.g. ws://127.0.0.1:8080/ws.
    #[arg(long, env = "CONFER_SERVER")]
    pub(crate) server: String,
    /// The AppID.
    #[arg(long)]
    pub(crate) app_id: u32,
    /// The AppSign (64 hex characters); or use --token.
    #[arg(long, env = "CONFER_APP_SIGN", default_value = "")]
    pub(crate) app_sign: String,
    /// A login token minted with the app's server secret (or an invite's).
    #[arg(long)]
    pub(crate) token: Option<String>,
    /// A CA certificate (PEM file) to trust for a wss:// server, beside the
    /// system's roots.
    #[arg(long, value_name = "FILE")]
    pub(crate) ca_file: Option<PathBuf>,
    /// Trust exactly the wss:// server certificate with this SHA-256
    /// fingerprint (what `confer serve --tls-self-signed` prints).
    #[arg(long, value_name = "SHA256")]
    pub(crate) pin: Option<String>,
}

impl ConnectArgs {
    /// The engine profile for these arguments.
    pub(crate) fn profile(
        &self,
        reconnect: ReconnectPolicy,
        transport: TransportConfig,
    ) -> anyhow::Result<EngineProfile> {
        let extra_ca_pem = match &self.ca_file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?,
            ),
            None => None,
        };
        Ok(EngineProfile {
            app_id: self.app_id,
            app_sign: self.app_sign.clone(),
            scenario: Scenario::StandardVideoCall,
            server: self.server.clone(),
            reconnect,
            transport,
            tls: TlsOptions {
                extra_ca_pem,
                pinned_cert_sha256: self.pin.clone(),
            },
        })
    }
}
