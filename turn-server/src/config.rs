//! The server's settings: a `[turn]` table in Confer's TOML, every field
//! with a default but the secret.

use crate::peer_policy::IpNet;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// The shortest shared secret accepted: anyone who knows the secret can mint
/// credentials, so it must not be guessable.
pub const MIN_SECRET_LEN: usize = 16;

/// TURN server settings. Deserialize it from TOML (missing fields take the
/// defaults listed on each field), then [`Config::validate`] it (done by
/// [`crate::TurnServer::start`] and [`crate::Server::new`]).
///
/// ```
/// let config: confer_turn::Config = toml::from_str(r#"
///     realm = "example.org"
///     secret = "a-long-random-shared-secret"
///     relay_ip = "203.0.113.10"
///     relay_port_min = 49152
///     relay_port_max = 65535
/// "#).unwrap();
/// assert_eq!(config.max_allocations_per_user, 10);
/// config.validate().unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The realm in challenges and in the long-term credential key.
    /// Default `"confer"`.
    pub realm: String,
    /// The TURN REST shared secret (coturn's `static-auth-secret`), the same
    /// one the signaling server signs credentials with. At least
    /// [`MIN_SECRET_LEN`] characters. No default.
    pub secret: String,
    /// UDP listener. Default `0.0.0.0:3478`.
    pub listen_udp: SocketAddr,
    /// TCP listener, if any. Default none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen_tcp: Option<SocketAddr>,
    /// TLS-over-TCP listener, if any (e.g. `0.0.0.0:5349` or `:443`); needs
    /// a `rustls::ServerConfig` at start. Default none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen_tls: Option<SocketAddr>,
    /// The IP relay sockets bind on. Default `0.0.0.0`, which needs
    /// `external_ip` (the address to advertise must be known).
    pub relay_ip: IpAddr,
    /// Lowest relay port (with `relay_port_max`). Default none: the OS picks
    /// ephemeral ports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relay_port_min: Option<u16>,
    /// Highest relay port, inclusive. Default none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relay_port_max: Option<u16>,
    /// The address advertised in XOR-RELAYED-ADDRESS when `relay_ip` sits
    /// behind a 1:1 NAT. Default none: `relay_ip` is advertised.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_ip: Option<IpAddr>,
    /// Allocations one user (the username without its expiry) may hold at
    /// once; more are refused with 486. Default 10.
    pub max_allocations_per_user: u32,
    /// Allocations the server holds at once; more are refused with 508.
    /// Default 1000.
    pub max_allocations: u32,
    /// Permissions (peer IPs) per allocation; more are refused with 508.
    /// Default 32.
    pub max_permissions_per_allocation: u32,
    /// Channels per allocation; more are refused with 508. Default 32.
    pub max_channels_per_allocation: u32,
    /// Relayed bytes per second per allocation and direction (a token
    /// bucket with one second of burst); excess packets are dropped.
    /// 0 = unlimited. Default 1,250,000 (10 Mbit/s).
    pub bandwidth_bytes_per_sec: u64,
    /// Networks exempt from the default peer deny rules (loopback, private,
    /// link-local, CGNAT, multicast, the server's own addresses...), e.g.
    /// `["127.0.0.0/8"]` for tests or `["192.168.1.0/24"]` for a LAN-only
    /// deployment. Default none.
    pub allowed_peer_networks: Vec<IpNet>,
    /// Extra networks denied as peers. Default none.
    pub denied_peer_networks: Vec<IpNet>,
    /// Allocation lifetime when the client asks for none or less. Default 600 s.
    pub default_lifetime_secs: u32,
    /// Longest allocation lifetime granted. Default 3600 s.
    pub max_lifetime_secs: u32,
    /// How long a NONCE stays valid before requests get 438 Stale Nonce.
    /// Default 600 s.
    pub nonce_lifetime_secs: u32,
    /// TCP + TLS connections held at once; more are closed at accept.
    /// Default 1024.
    pub max_stream_connections: u32,
    /// A TCP/TLS connection without an allocation is closed after this long
    /// without a complete message (also bounds the TLS handshake).
    /// Default 30 s.
    pub stream_idle_timeout_secs: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            realm: "confer".to_owned(),
            secret: String::new(),
            listen_udp: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 3478),
            listen_tcp: None,
            listen_tls: None,
            relay_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            relay_port_min: None,
            relay_port_max: None,
            external_ip: None,
            max_allocations_per_user: 10,
            max_allocations: 1000,
            max_permissions_per_allocation: 32,
            max_channels_per_allocation: 32,
            bandwidth_bytes_per_sec: 1_250_000,
            allowed_peer_networks: Vec::new(),
            denied_peer_networks: Vec::new(),
            default_lifetime_secs: 600,
            max_lifetime_secs: 3600,
            nonce_lifetime_secs: 600,
            max_stream_connections: 1024,
            stream_idle_timeout_secs: 30,
        }
    }
}

/// A [`Config`] that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The secret is shorter than [`MIN_SECRET_LEN`].
    #[error("turn secret must be at least {MIN_SECRET_LEN} characters")]
    SecretTooShort,
    /// The realm is empty or longer than STUN allows (763 bytes).
    #[error("turn realm must be 1-763 bytes")]
    InvalidRealm,
    /// Only one of `relay_port_min` / `relay_port_max` is set, or min > max,
    /// or the range includes port 0.
    #[error("relay port range must set both ends, 1 <= min <= max")]
    InvalidPortRange,
    /// `relay_ip` is unspecified and no `external_ip` says what to advertise.
    #[error("relay_ip is unspecified (0.0.0.0 or ::): set relay_ip or external_ip")]
    RelayAddressUnknown,
    /// A lifetime is 0, or the default exceeds the maximum.
    #[error("lifetimes must be > 0 and default_lifetime_secs <= max_lifetime_secs")]
    InvalidLifetime,
    /// A limit that must be at least 1 is 0.
    #[error("{0} must be at least 1")]
    ZeroLimit(&'static str),
}

impl Config {
    /// A configuration with defaults and the given secret, realm and relay IP.
    pub fn new(secret: impl Into<String>, realm: impl Into<String>, relay_ip: IpAddr) -> Config {
        Config {
            secret: secret.into(),
            realm: realm.into(),
            relay_ip,
            ..Config::default()
        }
    }

    /// Checks the configuration can work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.secret.chars().count() < MIN_SECRET_LEN {
            return Err(ConfigError::SecretTooShort);
        }
        if self.realm.is_empty() || self.realm.len() > 763 {
            return Err(ConfigError::InvalidRealm);
        }
        match (self.relay_port_min, self.relay_port_max) {
            (None, None) => {}
            (Some(min), Some(max)) if min >= 1 && min <= max => {}
            _ => return Err(ConfigError::InvalidPortRange),
        }
        if self.relay_ip.is_unspecified() && self.external_ip.is_none() {
            return Err(ConfigError::RelayAddressUnknown);
        }
        if self.default_lifetime_secs == 0
            || self.nonce_lifetime_secs == 0
            || self.default_lifetime_secs > self.max_lifetime_secs
        {
            return Err(ConfigError::InvalidLifetime);
        }
        for (name, value) in [
            ("max_allocations_per_user", self.max_allocations_per_user),
            ("max_allocations", self.max_allocations),
            (
                "max_permissions_per_allocation",
                self.max_permissions_per_allocation,
            ),
            (
                "max_channels_per_allocation",
                self.max_channels_per_allocation,
            ),
            ("max_stream_connections", self.max_stream_connections),
            ("stream_idle_timeout_secs", self.stream_idle_timeout_secs),
        ] {
            if value == 0 {
                return Err(ConfigError::ZeroLimit(name));
            }
        }
        Ok(())
    }

    /// The relay port range, if one is configured.
    pub fn relay_ports(&self) -> Option<std::ops::RangeInclusive<u16>> {
        Some(self.relay_port_min?..=self.relay_port_max?)
    }

    /// `stream_idle_timeout_secs` as a duration.
    pub fn stream_idle_timeout(&self) -> Duration {
        Duration::from_secs(u64::from(self.stream_idle_timeout_secs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> Config {
        Config::new("0123456789abcdef", "confer", "127.0.0.1".parse().unwrap())
    }

    #[test]
    fn defaults_follow_coturn_and_the_rfc() {
        let config: Config =
            toml::from_str("secret = \"0123456789abcdef\"\nrelay_ip = \"192.0.2.1\"").unwrap();
        assert_eq!(config.default_lifetime_secs, 600);
        assert_eq!(config.max_lifetime_secs, 3600);
        assert_eq!(
            config.listen_udp,
            "0.0.0.0:3478".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(config.realm, "confer");
        config.validate().unwrap();
    }

    #[test]
    fn toml_takes_networks_and_rejects_unknown_fields() {
        let config: Config = toml::from_str(
            "secret = \"0123456789abcdef\"\nallowed_peer_networks = [\"127.0.0.0/8\", \"::1\"]",
        )
        .unwrap();
        assert_eq!(config.allowed_peer_networks.len(), 2);
        assert!(toml::from_str::<Config>("secrett = \"x\"").is_err());
        assert!(toml::from_str::<Config>("allowed_peer_networks = [\"10.0.0.0/40\"]").is_err());
    }

    #[test]
    fn validation_refuses_unworkable_settings() {
        assert_eq!(valid().validate(), Ok(()));
        let short = Config {
            secret: "short".into(),
            ..valid()
        };
        assert_eq!(short.validate(), Err(ConfigError::SecretTooShort));
        let half_range = Config {
            relay_port_min: Some(50000),
            ..valid()
        };
        assert_eq!(half_range.validate(), Err(ConfigError::InvalidPortRange));
        let inverted = Config {
            relay_port_min: Some(50001),
            relay_port_max: Some(50000),
            ..valid()
        };
        assert_eq!(inverted.validate(), Err(ConfigError::InvalidPortRange));
        let unspecified = Config {
            relay_ip: "0.0.0.0".parse().unwrap(),
            ..valid()
        };
        assert_eq!(
            unspecified.validate(),
            Err(ConfigError::RelayAddressUnknown)
        );
        let natted = Config {
            external_ip: Some("203.0.113.1".parse().unwrap()),
            ..unspecified
        };
        assert_eq!(natted.validate(), Ok(()));
        let lifetimes = Config {
            default_lifetime_secs: 7200,
            ..valid()
        };
        assert_eq!(lifetimes.validate(), Err(ConfigError::InvalidLifetime));
        let zero = Config {
            max_allocations: 0,
            ..valid()
        };
        assert_eq!(
            zero.validate(),
            Err(ConfigError::ZeroLimit("max_allocations"))
        );
        let realm = Config {
            realm: String::new(),
            ..valid()
        };
        assert_eq!(realm.validate(), Err(ConfigError::InvalidRealm));
    }
}
