//! "Host a call": the room server runs embedded in the app on a free port,
//! with the apps (AppID, AppSign) of `<config dir>/server.toml`, the same
//! file `confer serve` uses (created on first use).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

use serde::Serialize;
use server::{ServerConfig, ServerHandle};

use crate::settings::HostScope;

/// The config file of the embedded server, inside the config directory.
pub const SERVER_CONFIG_FILE: &str = "server.toml";

/// What the UI needs to join and share a hosted call (the contract's `HostInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostInfo {
    /// What this app joins, e.g. `ws://127.0.0.1:40123/ws`.
    pub ws_url: String,
    /// `http://127.0.0.1:40123`.
    pub http_url: String,
    /// The server's debug page: `http_url` + `/`.
    pub debug_page_url: String,
    /// Signaling URLs others can use (LAN addresses when hosting on the network).
    pub addresses: Vec<String>,
    /// The AppID to log in with.
    pub app_id: u32,
    /// The AppSign (64 hex characters).
    pub app_sign: String,
    /// `confer://join?server=..&app_id=..&app_sign=..` (the UI adds the room).
    pub invite: String,
    /// Who can reach it.
    #[serde(skip)]
    pub scope: HostScope,
}

/// Why hosting failed.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// `server.toml` could not be read, created or accepted.
    #[error(transparent)]
    Config(#[from] server::ConfigError),
    /// The config registers no app to log in with.
    #[error("{0} registers no app: add an [[apps]] entry or delete the file to get a fresh one")]
    NoApp(String),
    /// The server could not start.
    #[error(transparent)]
    Serve(#[from] server::ServeError),
}

/// The embedded server, while it runs.
#[derive(Debug, Default)]
pub struct Host {
    running: tokio::sync::Mutex<Option<Running>>,
}

#[derive(Debug)]
struct Running {
    handle: ServerHandle,
    info: HostInfo,
}

impl Host {
    /// Starts the server for `scope` with the apps of `<dir>/server.toml`,
    /// or returns the running one's info (whatever its scope).
    pub async fn start(&self, dir: &Path, scope: HostScope) -> Result<HostInfo, HostError> {
        let mut running = self.running.lock().await;
        if let Some(running) = running.as_ref() {
            return Ok(running.info.clone());
        }
        let path = dir.join(SERVER_CONFIG_FILE);
        let (config, _) = ServerConfig::load_or_create(&path)?;
        let app = config
            .apps
            .first()
            .cloned()
            .ok_or_else(|| HostError::NoApp(path.display().to_string()))?;
        let handle = server::start(embedded(config, scope)).await?;
        let port = handle.local_addr().port();
        let local = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let ws_url = format!("ws://{local}/ws");
        let http_url = format!("http://{local}");
        let addresses = match scope {
            HostScope::ThisComputer => vec![ws_url.clone()],
            HostScope::Network => server::net::lan_addresses()
                .into_iter()
                .map(|ip| format!("ws://{}/ws", SocketAddr::new(ip, port)))
                .collect(),
        };
        let shared = addresses.first().unwrap_or(&ws_url);
        let invite = format!(
            "confer://join?server={}&app_id={}&app_sign={}",
            percent_encode(shared),
            app.app_id,
            app.app_sign
        );
        let info = HostInfo {
            debug_page_url: format!("{http_url}/"),
            ws_url,
            http_url,
            addresses,
            app_id: app.app_id,
            app_sign: app.app_sign,
            invite,
            scope,
        };
        tracing::info!(ws_url = info.ws_url, ?scope, "hosting a call");
        *running = Some(Running {
            handle,
            info: info.clone(),
        });
        Ok(info)
    }

    /// Stops the server (gracefully: everyone connected is told). Returns
    /// whether one was running.
    pub async fn stop(&self) -> bool {
        let running = self.running.lock().await.take();
        match running {
            Some(running) => {
                running.handle.shutdown().await;
                true
            }
            None => false,
        }
    }
}

/// The config as the embedded server runs it: a free port, on loopback
/// only or on every interface (signaling and media alike).
fn embedded(mut config: ServerConfig, scope: HostScope) -> ServerConfig {
    let ip = match scope {
        HostScope::ThisComputer => IpAddr::V4(Ipv4Addr::LOCALHOST),
        HostScope::Network => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    };
    config.bind = SocketAddr::new(ip, 0);
    config.media.udp_bind_ip = ip;
    // Until hosting uses a self-signed certificate and pinned invites
    // (issue 13), a LAN call is plain ws, chosen explicitly.
    config.insecure_http = scope == HostScope::Network;
    config
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invite_urls_encode_the_server() {
        assert_eq!(
            percent_encode("ws://127.0.0.1:4000/ws"),
            "ws%3A%2F%2F127.0.0.1%3A4000%2Fws"
        );
    }

    #[tokio::test]
    async fn hosting_twice_returns_the_running_server() {
        let dir = std::env::temp_dir().join(format!("confer-app-host-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let host = Host::default();
        let info = host.start(&dir, HostScope::ThisComputer).await.unwrap();
        assert!(info.ws_url.starts_with("ws://127.0.0.1:") && info.ws_url.ends_with("/ws"));
        assert_eq!(info.addresses, vec![info.ws_url.clone()]);
        assert_eq!(info.debug_page_url, format!("{}/", info.http_url));
        assert_eq!(info.app_sign.len(), 64);
        assert!(info
            .invite
            .starts_with("confer://join?server=ws%3A%2F%2F127.0.0.1"));
        assert!(dir.join(SERVER_CONFIG_FILE).exists());
        // The server answers.
        let addr = info.http_url.trim_start_matches("http://").to_owned();
        tokio::net::TcpStream::connect(addr).await.unwrap();
        let again = host.start(&dir, HostScope::Network).await.unwrap();
        assert_eq!(again, info);
        assert!(host.stop().await);
        assert!(!host.stop().await);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
