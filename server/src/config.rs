//! Server configuration: bind address, heartbeat timing, abuse limits and the
//! registered apps, read from and written to TOML.

use protocol::auth::is_valid_app_sign;
use protocol::limits::MAX_MESSAGE_BYTES;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

/// The shortest server secret accepted, in characters.
pub const MIN_SERVER_SECRET_CHARS: usize = 32;

/// Everything the server needs to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerConfig {
    /// Address to listen on (port 0 picks a free port).
    pub bind: SocketAddr,
    /// How often clients must send a heartbeat (told to them in `LoginOk`).
    pub heartbeat_interval_ms: u64,
    /// A session not heard from for this long is removed.
    pub heartbeat_timeout_ms: u64,
    /// A connection that has not sent `Login`/`Resume` within this time
    /// after its WebSocket upgrade is closed.
    pub login_timeout_ms: u64,
    /// A TCP connection whose HTTP request headers have not fully arrived
    /// within this time (from its accept, or from the end of its previous
    /// request on a kept-alive connection) is closed: slowloris, and idle
    /// sockets that never send a request.
    pub header_read_timeout_ms: u64,
    /// A connection that has not upgraded to a WebSocket and moved no bytes
    /// for this long is closed (a stalled request body, a client that stops
    /// reading its response).
    pub http_idle_timeout_ms: u64,
    /// Serve plain http/ws on an address other than loopback. Off by
    /// default: tokens, chat and the login challenge would cross the network
    /// in the clear (and browsers refuse the camera on plain http).
    pub insecure_http: bool,
    /// Abuse and capacity limits.
    pub limits: Limits,
    /// Where the SFU's media (UDP, ICE-TCP) runs: the `[media]` table.
    pub media: MediaConfig,
    /// TLS for https and wss on the listener: the `[tls]` table.
    pub tls: TlsConfig,
    /// STUN/TURN servers handed to clients at login: the `[ice]` table.
    pub ice: IceConfig,
    /// The built-in TURN server: the `[turn]` table (UDP, TCP and TLS
    /// listeners, relay ports, quotas, peer policy). Unset: none. Its
    /// `secret` is `[ice] turn_secret` (filled in from it, or filling it);
    /// with no `[ice] turn_urls`, clients get this server's URLs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub turn: Option<confer_turn::Config>,
    /// Several nodes on one Redis: the `[nodes]` table (`--redis URL`).
    /// Unset: one node with the in-memory room store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodes: Option<crate::nodes::NodesConfig>,
    /// Webhooks: the `[webhooks]` table (`--webhook URL`). Unset: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhooks: Option<crate::webhooks::WebhooksConfig>,
    /// The registered apps.
    pub apps: Vec<AppConfig>,
    /// A directory served read-only at `/updates/` (the desktop app's
    /// update feed: `latest.json` and the signed bundles). `None`: no feed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_feed: Option<PathBuf>,
}

/// One registered app: its AppID and the secrets its clients prove.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppConfig {
    /// The AppID clients log in with.
    pub app_id: u32,
    /// The AppSign (64 hex characters); native clients prove they know it.
    pub app_sign: String,
    /// The secret tokens are minted with (at least 32 characters).
    pub server_secret: String,
    /// Development app: allows conveniences such as minting tokens locally.
    #[serde(default)]
    pub dev_mode: bool,
}

/// The listener's TLS certificate: PEM files (a chain, leaf first, and its
/// private key). Both unset: plain http/ws.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TlsConfig {
    /// The certificate chain (PEM).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    /// The private key (PEM).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
}

impl TlsConfig {
    /// The certificate and key files, when both are set.
    pub fn files(&self) -> Option<(&Path, &Path)> {
        Some((self.cert_file.as_deref()?, self.key_file.as_deref()?))
    }
}

/// The STUN and TURN servers clients are told about (`LoginOk`). TURN
/// credentials follow coturn's REST scheme (`use-auth-secret` with the
/// same `static-auth-secret`), so an external coturn needs no user list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IceConfig {
    /// `stun:host:port` URLs.
    pub stun_urls: Vec<String>,
    /// `turn:host:port?transport=udp|tcp` and `turns:host:port` URLs.
    pub turn_urls: Vec<String>,
    /// The secret shared with the TURN server (at least 16 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub turn_secret: Option<String>,
    /// How long a handed-out TURN credential is valid, in seconds.
    pub credential_ttl_secs: u64,
}

impl Default for IceConfig {
    fn default() -> Self {
        IceConfig {
            stun_urls: Vec::new(),
            turn_urls: Vec::new(),
            turn_secret: None,
            credential_ttl_secs: 24 * 3600,
        }
    }
}

/// Capacity and abuse limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Largest text frame accepted, in bytes.
    pub max_message_bytes: usize,
    /// Rooms one app may have at once.
    pub max_rooms_per_app: usize,
    /// Users one app may have logged in at once.
    pub max_users_per_app: usize,
    /// Users one room may hold (a room's first user may ask for less).
    pub max_users_per_room: usize,
    /// Sustained messages per second one connection may send.
    pub messages_per_second: u32,
    /// Messages one connection may send in a burst.
    pub message_burst: u32,
    /// TCP connections the server holds at once (HTTP, WebSocket, and
    /// closing ones), counted from `accept`. Lowered at start to fit the
    /// process's open-file limit. When full, the oldest connection that has
    /// not logged in is evicted for a new one.
    pub max_connections: usize,
    /// TCP connections one source (an IPv4 address, an IPv6 /64) may hold.
    pub max_connections_per_ip: usize,
}

/// The SFU's media transport: which address and ports its peer
/// connections use and announce.
///
/// By default (`mux = true`) every peer connection shares one UDP port
/// (`udp_port`) and one ICE-TCP port (`tcp_port`): a firewall or router
/// forwards just those two. `mux = false` gives each peer connection its
/// own UDP port from `udp_port_min..=udp_port_max` (or an ephemeral one)
/// and its own ICE-TCP port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MediaConfig {
    /// IP the media sockets bind (127.0.0.1 for local use; 0.0.0.0 binds
    /// every non-loopback interface).
    pub udp_bind_ip: IpAddr,
    /// One UDP port and one TCP port for every peer connection.
    pub mux: bool,
    /// With the mux: the UDP port (0: an ephemeral one, chosen when the
    /// server starts).
    pub udp_port: u16,
    /// With the mux: the ICE-TCP port (0: an ephemeral one, chosen when the
    /// server starts).
    pub tcp_port: u16,
    /// Accept media over TCP (ICE-TCP, passive) for clients whose network
    /// drops UDP.
    pub ice_tcp: bool,
    /// Without the mux: the lowest UDP port to use; with `udp_port_max`, a
    /// range. Unset: ephemeral ports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub udp_port_min: Option<u16>,
    /// Without the mux: the highest UDP port to use (inclusive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub udp_port_max: Option<u16>,
    /// Addresses announced in the SFU's ICE candidates instead of the bound
    /// one, each as its own candidate (first preferred): the public address
    /// of a 1:1 NAT (every cloud VM) and the LAN address together, so
    /// clients on the server's own LAN need no hairpinning router. The port
    /// stays the bound port. Empty: the bound address as it is.
    pub announced_ips: Vec<IpAddr>,
    /// The server's public address, announced beside its own ones: an IP,
    /// or `"auto"` to learn it at start with a STUN Binding request to the
    /// first of `[ice] stun_urls` that answers. Unset: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_ip: Option<PublicIp>,
}

/// `[media] public_ip`: a fixed address or `"auto"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicIp {
    /// Learned at start from a STUN server.
    Auto,
    /// This address.
    Fixed(IpAddr),
}

impl std::str::FromStr for PublicIp {
    type Err = std::net::AddrParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("auto") {
            Ok(PublicIp::Auto)
        } else {
            s.parse().map(PublicIp::Fixed)
        }
    }
}

impl std::fmt::Display for PublicIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PublicIp::Auto => f.write_str("auto"),
            PublicIp::Fixed(ip) => ip.fmt(f),
        }
    }
}

impl Serialize for PublicIp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PublicIp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(|_| {
            serde::de::Error::custom(format!(
                "public_ip must be an IP address or \"auto\", not {text:?}"
            ))
        })
    }
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            udp_bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            mux: true,
            udp_port: 0,
            tcp_port: 0,
            ice_tcp: true,
            udp_port_min: None,
            udp_port_max: None,
            announced_ips: Vec::new(),
            public_ip: None,
        }
    }
}

impl MediaConfig {
    /// Checks the ports fit the mode.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.mux {
            if self.udp_port_min.is_some() || self.udp_port_max.is_some() {
                return Err(ConfigError::MediaPortMode);
            }
            if !self.ice_tcp && self.tcp_port != 0 {
                return Err(ConfigError::MediaPortMode);
            }
            return Ok(());
        }
        if self.udp_port != 0 || self.tcp_port != 0 {
            return Err(ConfigError::MediaPortMode);
        }
        match (self.udp_port_min, self.udp_port_max) {
            (None, None) => Ok(()),
            (Some(min), Some(max)) if min > 0 && min <= max => Ok(()),
            _ => Err(ConfigError::MediaPorts),
        }
    }
}

/// Why a configuration could not be loaded, saved or accepted.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file could not be written.
    #[error("cannot write config {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for a [`ServerConfig`].
    #[error("cannot parse config {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parse error.
        source: Box<toml::de::Error>,
    },
    /// An app's ID is 0.
    #[error("app_id must be non-zero")]
    ZeroAppId,
    /// Two apps share an AppID.
    #[error("app_id {0} is configured twice")]
    DuplicateAppId(u32),
    /// An app's AppSign is not 64 hex characters.
    #[error("app {0}: app_sign must be 64 hexadecimal characters")]
    InvalidAppSign(u32),
    /// An app's server secret is too short.
    #[error("app {0}: server_secret must be at least 32 characters")]
    ShortServerSecret(u32),
    /// The heartbeat timing is unusable.
    #[error("heartbeat_interval_ms must be > 0 and heartbeat_timeout_ms greater than it; login_timeout_ms, header_read_timeout_ms and http_idle_timeout_ms must be > 0")]
    Timing,
    /// The media port range is incomplete or reversed.
    #[error("media: udp_port_min and udp_port_max must both be set, non-zero, with min <= max")]
    MediaPorts,
    /// Ports of one media mode set in the other.
    #[error("media: udp_port and tcp_port are for mux = true (tcp_port also needs ice_tcp = true); udp_port_min/udp_port_max are for mux = false")]
    MediaPortMode,
    /// TURN URLs without a usable shared secret, or a zero credential lifetime.
    #[error(
        "ice: turn_urls need a turn_secret of at least 16 characters and credential_ttl_secs > 0"
    )]
    IceCredentials,
    /// `[turn] secret` and `[ice] turn_secret` differ, or neither is a
    /// secret of at least 16 characters.
    #[error("turn: secret must equal [ice] turn_secret (set one of them, at least 16 characters)")]
    TurnSecret,
    /// TURN over TLS without the server's certificate.
    #[error("turn: listen_tls needs the [tls] certificate (or --tls-self-signed)")]
    TurnTlsWithoutCertificate,
    /// Only one of the TLS certificate and key is set.
    #[error("tls: cert_file and key_file must be set together")]
    TlsIncomplete,
    /// Plain http/ws would be served beyond loopback without `insecure_http`.
    #[error("refusing plain http on {0}: configure [tls] (or --tls-self-signed), bind to loopback, or set insecure_http = true")]
    PlainHttpBeyondLoopback(SocketAddr),
    /// The `[webhooks]` table is not usable.
    #[error(transparent)]
    Webhooks(#[from] crate::webhooks::WebhooksConfigError),
    /// A limit is zero (or the message size is below what the protocol needs).
    #[error("limit {0} must be positive (max_message_bytes at least 1024)")]
    Limit(&'static str),
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)),
            heartbeat_interval_ms: 5_000,
            heartbeat_timeout_ms: 15_000,
            login_timeout_ms: 10_000,
            header_read_timeout_ms: 10_000,
            http_idle_timeout_ms: 30_000,
            limits: Limits::default(),
            media: MediaConfig::default(),
            tls: TlsConfig::default(),
            ice: IceConfig::default(),
            turn: None,
            nodes: None,
            webhooks: None,
            insecure_http: false,
            apps: Vec::new(),
            update_feed: None,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: MAX_MESSAGE_BYTES,
            max_rooms_per_app: 10_000,
            max_users_per_app: 50_000,
            max_users_per_room: 500,
            messages_per_second: 50,
            message_burst: 100,
            max_connections: 20_000,
            max_connections_per_ip: 256,
        }
    }
}

impl AppConfig {
    /// A new app with a random AppID (9-10 digits), AppSign and server secret.
    pub fn generate(dev_mode: bool) -> Self {
        let mut rng = rand::rng();
        AppConfig {
            app_id: rng.random_range(100_000_000..=u32::MAX),
            app_sign: random_hex(&mut rng, 32),
            server_secret: random_hex(&mut rng, 16),
            dev_mode,
        }
    }
}

impl ServerConfig {
    /// A config for local use: binds 127.0.0.1:8080 and registers one random
    /// development app.
    pub fn generate_local() -> Self {
        ServerConfig {
            apps: vec![AppConfig::generate(true)],
            ..ServerConfig::default()
        }
    }

    /// Reads and validates a TOML config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let config: ServerConfig = toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Loads `path`, or when it does not exist writes a fresh
    /// [`generate_local`](Self::generate_local) config there. The flag is
    /// `true` when the file was created.
    pub fn load_or_create(path: &Path) -> Result<(Self, bool), ConfigError> {
        if path.exists() {
            return Ok((Self::load(path)?, false));
        }
        let config = Self::generate_local();
        let write_err = |source| ConfigError::Write {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(write_err)?;
        }
        std::fs::write(path, config.to_toml()).map_err(write_err)?;
        Ok((config, true))
    }

    /// The config as TOML text (what [`load`](Self::load) reads).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("the config is plain data and always serializes to TOML")
    }

    /// Checks the config is usable.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.heartbeat_interval_ms == 0
            || self.heartbeat_timeout_ms <= self.heartbeat_interval_ms
            || self.login_timeout_ms == 0
            || self.header_read_timeout_ms == 0
            || self.http_idle_timeout_ms == 0
        {
            return Err(ConfigError::Timing);
        }
        match (&self.tls.cert_file, &self.tls.key_file) {
            (Some(_), Some(_)) => {}
            (None, None) if self.bind.ip().is_loopback() || self.insecure_http => {}
            (None, None) => return Err(ConfigError::PlainHttpBeyondLoopback(self.bind)),
            _ => return Err(ConfigError::TlsIncomplete),
        }
        let weak_secret = self
            .ice
            .turn_secret
            .as_ref()
            .is_none_or(|s| s.chars().count() < 16);
        if (!self.ice.turn_urls.is_empty() && weak_secret) || self.ice.credential_ttl_secs == 0 {
            return Err(ConfigError::IceCredentials);
        }
        if let Some(turn) = &self.turn {
            let shared = match (&self.ice.turn_secret, turn.secret.is_empty()) {
                (Some(ice), false) => *ice == turn.secret,
                (Some(ice), true) => ice.chars().count() >= 16,
                (None, false) => turn.secret.chars().count() >= 16,
                (None, true) => false,
            };
            if !shared {
                return Err(ConfigError::TurnSecret);
            }
            if turn.listen_tls.is_some() && self.tls.files().is_none() {
                return Err(ConfigError::TurnTlsWithoutCertificate);
            }
        }
        let l = &self.limits;
        let positive = [
            ("max_rooms_per_app", l.max_rooms_per_app),
            ("max_users_per_app", l.max_users_per_app),
            ("max_users_per_room", l.max_users_per_room),
            ("messages_per_second", l.messages_per_second as usize),
            ("message_burst", l.message_burst as usize),
            ("max_connections", l.max_connections),
            ("max_connections_per_ip", l.max_connections_per_ip),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(ConfigError::Limit(name));
        }
        if l.max_message_bytes < 1024 {
            return Err(ConfigError::Limit("max_message_bytes"));
        }
        self.media.validate()?;
        if let Some(webhooks) = &self.webhooks {
            webhooks.validate()?;
        }
        let mut seen = HashSet::new();
        for app in &self.apps {
            if app.app_id == 0 {
                return Err(ConfigError::ZeroAppId);
            }
            if !seen.insert(app.app_id) {
                return Err(ConfigError::DuplicateAppId(app.app_id));
            }
            if !is_valid_app_sign(&app.app_sign) {
                return Err(ConfigError::InvalidAppSign(app.app_id));
            }
            if app.server_secret.chars().count() < MIN_SERVER_SECRET_CHARS {
                return Err(ConfigError::ShortServerSecret(app.app_id));
            }
        }
        Ok(())
    }
}

fn random_hex(rng: &mut impl Rng, bytes: usize) -> String {
    let raw: Vec<u8> = (0..bytes).map(|_| rng.random()).collect();
    protocol::auth::hex(&raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_config_is_valid_and_round_trips() {
        let c = ServerConfig::generate_local();
        c.validate().expect("generated config validates");
        let app = &c.apps[0];
        assert!(app.app_id >= 100_000_000);
        assert_eq!(app.app_sign.len(), 64);
        assert_eq!(app.server_secret.len(), 32);
        assert!(app.dev_mode);
        let back: ServerConfig = toml::from_str(&c.to_toml()).expect("parses");
        assert_eq!(back, c);
    }

    #[test]
    fn partial_file_takes_defaults() {
        let c: ServerConfig = toml::from_str("bind = \"0.0.0.0:9000\"\n").expect("parses");
        assert_eq!(c.heartbeat_timeout_ms, 15_000);
        assert_eq!(c.limits.max_users_per_room, 500);
        assert_eq!(c.media, MediaConfig::default());
    }

    #[test]
    fn media_table_parses_and_validates() {
        let text = "[media]\nudp_bind_ip = \"0.0.0.0\"\nmux = false\nudp_port_min = 40000\nudp_port_max = 40010\nannounced_ips = [\"127.0.0.2\"]\n";
        let c: ServerConfig = toml::from_str(text).expect("parses");
        assert_eq!(c.media.udp_port_min, Some(40000));
        assert_eq!(
            c.media.announced_ips,
            vec!["127.0.0.2".parse::<IpAddr>().unwrap()]
        );
        let mut c = ServerConfig::generate_local();
        c.media.mux = false;
        c.media.udp_port_min = Some(5000);
        assert!(matches!(c.validate(), Err(ConfigError::MediaPorts)));
        c.media.udp_port_max = Some(4000);
        assert!(matches!(c.validate(), Err(ConfigError::MediaPorts)));
        c.media.udp_port_max = Some(5000);
        c.validate().expect("a single fixed port is fine");
        let back: ServerConfig = toml::from_str(&c.to_toml()).expect("parses");
        assert_eq!(back, c);
    }

    #[test]
    fn the_builtin_turn_shares_the_ice_secret_and_needs_the_certificate_for_tls() {
        let mut c = ServerConfig::generate_local();
        c.turn = Some(confer_turn::Config::default());
        assert!(
            matches!(c.validate(), Err(ConfigError::TurnSecret)),
            "no secret anywhere"
        );
        c.ice.turn_secret = Some("0123456789abcdef".into());
        c.validate().expect("the [ice] secret is used");
        if let Some(t) = c.turn.as_mut() {
            t.secret = "another-secret-of-16".into();
        }
        assert!(
            matches!(c.validate(), Err(ConfigError::TurnSecret)),
            "two secrets"
        );
        c.ice.turn_secret = None;
        c.validate().expect("the [turn] secret is used");
        if let Some(t) = c.turn.as_mut() {
            t.listen_tls = Some("127.0.0.1:5349".parse().unwrap());
        }
        assert!(matches!(
            c.validate(),
            Err(ConfigError::TurnTlsWithoutCertificate)
        ));
        let back: ServerConfig = toml::from_str(&c.to_toml()).expect("parses");
        assert_eq!(back, c, "[turn] round-trips through TOML");
    }

    #[test]
    fn public_ip_is_an_address_or_auto() {
        let parse = |v: &str| {
            toml::from_str::<ServerConfig>(&format!("[media]\npublic_ip = \"{v}\"\n"))
                .map(|c| c.media.public_ip)
        };
        assert_eq!(parse("auto").unwrap(), Some(PublicIp::Auto));
        assert_eq!(
            parse("203.0.113.5").unwrap(),
            Some(PublicIp::Fixed("203.0.113.5".parse().unwrap()))
        );
        assert!(parse("somewhere").is_err());
        let mut c = ServerConfig::generate_local();
        c.media.public_ip = Some(PublicIp::Auto);
        let back: ServerConfig = toml::from_str(&c.to_toml()).expect("parses");
        assert_eq!(back, c);
    }

    #[test]
    fn the_mux_is_the_default_and_its_ports_fit_its_mode() {
        let c: ServerConfig = toml::from_str("").expect("parses");
        assert!(c.media.mux && c.media.ice_tcp);
        assert_eq!((c.media.udp_port, c.media.tcp_port), (0, 0));
        let text = "[media]\nudp_port = 3478\ntcp_port = 3479\n";
        let c: ServerConfig = toml::from_str(text).expect("parses");
        assert_eq!((c.media.udp_port, c.media.tcp_port), (3478, 3479));
        let mut c = ServerConfig::generate_local();
        c.media.udp_port = 3478;
        c.validate().expect("a fixed mux port");
        let back: ServerConfig = toml::from_str(&c.to_toml()).expect("parses");
        assert_eq!(back, c);
        // A range is for one port per connection.
        c.media.udp_port_min = Some(40000);
        c.media.udp_port_max = Some(40010);
        assert!(matches!(c.validate(), Err(ConfigError::MediaPortMode)));
        c.media.mux = false;
        assert!(matches!(c.validate(), Err(ConfigError::MediaPortMode)));
        c.media.udp_port = 0;
        c.validate().expect("a range without the mux");
        // A TCP port with ICE-TCP off is a mistake.
        let mut c = ServerConfig::generate_local();
        c.media.ice_tcp = false;
        c.validate().expect("ICE-TCP off");
        c.media.tcp_port = 3479;
        assert!(matches!(c.validate(), Err(ConfigError::MediaPortMode)));
    }

    #[test]
    fn invalid_configs_are_refused() {
        let mut c = ServerConfig::generate_local();
        c.apps[0].app_sign = "abc".into();
        assert!(matches!(c.validate(), Err(ConfigError::InvalidAppSign(_))));
        let mut c = ServerConfig::generate_local();
        c.apps[0].server_secret = "short".into();
        assert!(matches!(
            c.validate(),
            Err(ConfigError::ShortServerSecret(_))
        ));
        let mut c = ServerConfig::generate_local();
        c.apps.push(c.apps[0].clone());
        assert!(matches!(c.validate(), Err(ConfigError::DuplicateAppId(_))));
        let mut c = ServerConfig::generate_local();
        c.heartbeat_timeout_ms = c.heartbeat_interval_ms;
        assert!(matches!(c.validate(), Err(ConfigError::Timing)));
        let mut c = ServerConfig::generate_local();
        c.limits.max_connections = 0;
        assert!(matches!(
            c.validate(),
            Err(ConfigError::Limit("max_connections"))
        ));
        let mut c = ServerConfig::generate_local();
        c.limits.max_connections_per_ip = 0;
        assert!(matches!(
            c.validate(),
            Err(ConfigError::Limit("max_connections_per_ip"))
        ));
        for zero in [
            |c: &mut ServerConfig| c.header_read_timeout_ms = 0,
            |c: &mut ServerConfig| c.http_idle_timeout_ms = 0,
        ] {
            let mut c = ServerConfig::generate_local();
            zero(&mut c);
            assert!(matches!(c.validate(), Err(ConfigError::Timing)));
        }
    }

    #[test]
    fn plain_http_stays_on_loopback_unless_asked() {
        let mut c = ServerConfig::generate_local();
        c.bind = "0.0.0.0:8443".parse().expect("literal");
        assert!(matches!(
            c.validate(),
            Err(ConfigError::PlainHttpBeyondLoopback(_))
        ));
        c.insecure_http = true;
        c.validate().expect("explicitly insecure");
        c.insecure_http = false;
        c.tls.cert_file = Some("cert.pem".into());
        assert!(matches!(c.validate(), Err(ConfigError::TlsIncomplete)));
        c.tls.key_file = Some("key.pem".into());
        c.validate().expect("TLS anywhere");
        let back: ServerConfig = toml::from_str(&c.to_toml()).expect("parses");
        assert_eq!(back, c);
    }

    #[test]
    fn load_or_create_writes_once() {
        let dir = std::env::temp_dir().join(format!("confer-config-{}", std::process::id()));
        let path = dir.join("server.toml");
        let _ = std::fs::remove_file(&path);
        let (first, created) = ServerConfig::load_or_create(&path).expect("creates");
        assert!(created);
        let (second, created) = ServerConfig::load_or_create(&path).expect("loads");
        assert!(!created);
        assert_eq!(first, second);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
