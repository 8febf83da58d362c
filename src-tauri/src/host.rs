//! "Host a call": the room server runs embedded in the app with the apps
//! (AppID, AppSign) of `<config dir>/server.toml`, the same file `confer
//! serve` uses (created on first use). On this computer it is plain ws on
//! loopback; on the network it is wss with a self-signed certificate kept
//! in the config directory, whose fingerprint the invite links carry so a
//! guest's app pins it. Invites are room-scoped, expiring tokens: the
//! AppSign never leaves this app.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use protocol::token::{Privileges, TokenClaims};
use server::{ServerConfig, ServerHandle};

pub use confer_app_types::host::{Forward, HostInfo, HostInvite, HostStopped};

use crate::settings::HostScope;

/// The config file of the embedded server, inside the config directory.
pub const SERVER_CONFIG_FILE: &str = "server.toml";

/// The port hosting on the network tries first, for signaling (TCP) and
/// media (UDP) alike, so a router's forwarding rules stay right from one
/// call to the next (ephemeral ports when it is taken).
pub const NETWORK_HOST_PORT: u16 = 7443;

/// How long an invite link works unless asked otherwise: a day.
pub const DEFAULT_INVITE_TTL_SECS: u64 = 24 * 3600;

/// The longest an invite may live: 30 days.
pub const MAX_INVITE_TTL_SECS: u64 = 30 * 24 * 3600;

/// Why hosting failed.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// `server.toml` could not be read, created or accepted.
    #[error(transparent)]
    Config(#[from] server::ConfigError),
    /// The config registers no app to log in with.
    #[error("{0} registers no app: add an [[apps]] entry or delete the file to get a fresh one")]
    NoApp(String),
    /// The self-signed certificate could not be made or kept.
    #[error("the self-signed certificate: {0}")]
    Certificate(#[from] server::tls::TlsError),
    /// The server could not start.
    #[error(transparent)]
    Serve(#[from] server::ServeError),
    /// An invite was asked for while no call is hosted.
    #[error("no call is hosted: host one first")]
    NotHosting,
    /// The invite's room ID is not valid.
    #[error("invalid room ID for an invite: {0}")]
    InvalidRoom(String),
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
    /// The app's server secret: what invites are signed with.
    server_secret: String,
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
        let handle = start_embedded(embedded(config, dir, scope)?).await?;
        let port = handle.local_addr().port();
        let scheme = if handle.tls_fingerprint().is_some() {
            "wss"
        } else {
            "ws"
        };
        let ws_url = format!("{scheme}://{}/ws", SocketAddr::new(loopback(), port));
        let addresses = match scope {
            HostScope::ThisComputer => vec![ws_url.clone()],
            HostScope::Network => server::net::lan_addresses()
                .into_iter()
                .map(|ip| format!("{scheme}://{}/ws", SocketAddr::new(ip, port)))
                .collect(),
        };
        let http_url = handle.http_url();
        let info = HostInfo {
            debug_page_url: format!("{http_url}/"),
            ws_url,
            http_url,
            addresses,
            app_id: app.app_id,
            app_sign: app.app_sign,
            fingerprint: handle.tls_fingerprint().map(str::to_owned),
            forward: Forward {
                tcp: port,
                udp: handle.media_udp_port(),
            },
            scope,
        };
        tracing::info!(ws_url = info.ws_url, ?scope, "hosting a call");
        *running = Some(Running {
            handle,
            info: info.clone(),
            server_secret: app.server_secret,
        });
        Ok(info)
    }

    /// An invite to `room` valid `ttl_secs` (capped at
    /// [`MAX_INVITE_TTL_SECS`]): any user ID not in use may join that room
    /// with it, and nothing else.
    pub async fn invite(&self, room: &str, ttl_secs: u64) -> Result<HostInvite, HostError> {
        let running = self.running.lock().await;
        let running = running.as_ref().ok_or(HostError::NotHosting)?;
        let room = protocol::ids::RoomId::new(room.to_owned())
            .map_err(|e| HostError::InvalidRoom(e.to_string()))?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let claims = TokenClaims::invite(
            running.info.app_id,
            room.as_str(),
            Privileges::ALL,
            now,
            ttl_secs.clamp(1, MAX_INVITE_TTL_SECS),
        );
        let token = server::jwt::mint(running.server_secret.as_bytes(), &claims);
        let info = &running.info;
        let server = info.addresses.first().unwrap_or(&info.ws_url);
        let mut link = format!(
            "confer://join?server={}&app_id={}&room={}&token={}",
            percent_encode(server),
            info.app_id,
            percent_encode(room.as_str()),
            percent_encode(&token),
        );
        if let Some(fp) = &info.fingerprint {
            link.push_str(&format!("&fp={}", percent_encode(fp)));
        }
        Ok(HostInvite {
            link,
            token,
            expires_at: claims.exp,
        })
    }

    /// The running server's info.
    pub async fn info(&self) -> Option<HostInfo> {
        self.running.lock().await.as_ref().map(|r| r.info.clone())
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

/// A diagnosis of the hosted call at `server` (one of its addresses), with
/// the host's own credentials and its certificate pinned; `media` adds the
/// test stream.
pub fn doctor_options(
    info: &HostInfo,
    server: &str,
    media: bool,
) -> media_core::doctor::DoctorOptions {
    media_core::doctor::DoctorOptions {
        profile: media_core::EngineProfile {
            app_id: info.app_id,
            app_sign: info.app_sign.clone(),
            scenario: media_core::Scenario::StandardVideoCall,
            server: server.to_owned(),
            reconnect: media_core::ReconnectPolicy {
                retry_window: DOCTOR_STEP_TIMEOUT,
                ..Default::default()
            },
            transport: Default::default(),
            tls: media_core::TlsOptions {
                extra_ca_pem: None,
                pinned_cert_sha256: info.fingerprint.clone(),
            },
        },
        token: None,
        room_id: "confer-reachability".to_owned(),
        user_id: format!("reachability-{:08x}", rand::random::<u32>()),
        step_timeout: DOCTOR_STEP_TIMEOUT,
        media,
    }
}

/// How long each reachability step may take.
const DOCTOR_STEP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(4);

fn loopback() -> IpAddr {
    IpAddr::V4(Ipv4Addr::LOCALHOST)
}

/// Starts the server; on the network, on ephemeral ports when
/// [`NETWORK_HOST_PORT`] is taken (for TCP or UDP).
async fn start_embedded(config: ServerConfig) -> Result<ServerHandle, server::ServeError> {
    let fallback = (config.bind.port() != 0).then(|| {
        let mut c = config.clone();
        c.bind.set_port(0);
        c.media.udp_port = 0;
        c
    });
    match (server::start(config).await, fallback) {
        (Ok(handle), _) => Ok(handle),
        (
            Err(error @ (server::ServeError::Bind { .. } | server::ServeError::Media(_))),
            Some(fallback),
        ) => {
            tracing::info!(%error, "the usual hosting port is taken; using others");
            server::start(fallback).await
        }
        (Err(e), _) => Err(e),
    }
}

/// The config as the embedded server runs it: on loopback only (plain ws,
/// any free port) or on every interface (wss with the self-signed
/// certificate of `dir`, on [`NETWORK_HOST_PORT`]), signaling and media
/// alike.
fn embedded(
    mut config: ServerConfig,
    dir: &Path,
    scope: HostScope,
) -> Result<ServerConfig, HostError> {
    let (ip, port) = match scope {
        HostScope::ThisComputer => (loopback(), 0),
        HostScope::Network => (IpAddr::V4(Ipv4Addr::UNSPECIFIED), NETWORK_HOST_PORT),
    };
    config.bind = SocketAddr::new(ip, port);
    config.media.udp_bind_ip = ip;
    config.media.mux = true;
    config.media.udp_port = port;
    config.insecure_http = false;
    if scope == HostScope::Network {
        let names = server::net::certificate_names(ip);
        let (cert, key) = server::tls::self_signed(dir, &names)?;
        config.tls.cert_file = Some(cert);
        config.tls.key_file = Some(key);
    }
    Ok(config)
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
        assert_eq!(info.fingerprint, None, "loopback hosting is plain ws");
        let port = info
            .http_url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok());
        assert_eq!(Some(info.forward.tcp), port);
        let invite = host.invite("party", 60).await.unwrap();
        assert!(invite
            .link
            .starts_with("confer://join?server=ws%3A%2F%2F127.0.0.1"));
        assert!(
            invite.link.contains("&room=party&token=eyJ"),
            "{}",
            invite.link
        );
        assert!(
            !invite.link.contains(&info.app_sign),
            "the AppSign never leaves"
        );
        let claims = server::jwt::peek(&invite.token).unwrap().login_claims();
        assert!(claims.is_invite(), "an invite is an HS256 JWT");
        assert_eq!(claims.room_id.as_deref(), Some("party"));
        assert_eq!(claims.exp - claims.iat, 60);
        assert!(matches!(
            host.invite("", 60).await,
            Err(HostError::InvalidRoom(_))
        ));
        assert!(dir.join(SERVER_CONFIG_FILE).exists());
        // The server answers.
        let addr = info.http_url.trim_start_matches("http://").to_owned();
        tokio::net::TcpStream::connect(addr).await.unwrap();
        let again = host.start(&dir, HostScope::Network).await.unwrap();
        assert_eq!(again, info);
        assert!(host.stop().await);
        assert!(!host.stop().await);
        assert!(matches!(
            host.invite("party", 60).await,
            Err(HostError::NotHosting)
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
