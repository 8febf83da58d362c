//! Confer's built-in TURN server (RFC 8656 / RFC 5766, relayed transport
//! UDP), so a call gets through NATs and UDP-blocking firewalls without a
//! separate coturn.
//!
//! # Shape
//!
//! * [`Server`] is a sans-IO state machine: feed it client input
//!   ([`Server::handle_client`]), relay-socket input
//!   ([`Server::handle_relayed`]) and time ([`Server::handle_timeout`]), and
//!   carry out what [`Server::poll_output`] returns. It never reads a clock
//!   or touches a socket; relay sockets come from a [`RelayAllocator`].
//! * [`TurnServer::start`] is the tokio shell: UDP listener (required), TCP
//!   and TLS listeners (optional), UDP relay sockets in a port range, one
//!   driver task owning the core. It returns a [`TurnHandle`] with the
//!   bound addresses, [`TurnHandle::stats`] and [`TurnHandle::shutdown`].
//!
//! # Authentication
//!
//! TURN REST credentials, as coturn's `use-auth-secret` and Confer's
//! signaling server (`server/src/ice.rs`) issue them: username
//! `"<expiry unix seconds>:<app>:<user>"`, password
//! `base64(HMAC-SHA1(secret, username))` ([`rest_password`]). Expired
//! usernames get 401. Quotas count per user: the username without the
//! expiry.
//!
//! # Safety defaults
//!
//! Every limit is something an attacker will try: allocations per user
//! (486) and in total (508), relay ports (508), permissions and channels
//! per allocation (508), bandwidth per allocation (excess dropped), TCP/TLS
//! connections (closed at accept) and their idle time. Peers on loopback,
//! private, link-local, CGNAT, multicast, reserved networks and the
//! server's own addresses are refused with 403 ([`PeerPolicy`]) unless
//! [`Config::allowed_peer_networks`] allows them. Malformed input is
//! dropped and counted; on TCP/TLS it closes the connection.
//!
//! # Example
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let config: confer_turn::Config = toml::from_str(r#"
//!     realm = "example.org"
//!     secret = "the-same-secret-as-the-signaling-server"
//!     relay_ip = "203.0.113.10"
//!     listen_udp = "0.0.0.0:3478"
//!     listen_tcp = "0.0.0.0:3478"
//!     relay_port_min = 49152
//!     relay_port_max = 65535
//! "#)?;
//! let turn = confer_turn::TurnServer::start(config, None).await?;
//! // ... serve until asked to stop ...
//! println!("{:?}", turn.stats());
//! turn.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Limits
//!
//! Relays are UDP only (no RFC 6062 TCP relays), one address family per
//! server (the relay IP's), no EVEN-PORT parity or RESERVATION-TOKEN (508),
//! no DTLS listener, and MESSAGE-INTEGRITY-SHA256 / PASSWORD-ALGORITHM
//! (RFC 8489) are not negotiated: SHA-1 long-term credentials as every
//! browser uses.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod allocation;
mod auth;
mod config;
mod error;
mod io;
mod peer_policy;
mod server;
mod stats;
mod token_bucket;
mod wire;

pub use allocation::{CHANNEL_COOLDOWN, CHANNEL_LIFETIME, PERMISSION_LIFETIME};
pub use auth::{long_term_key, rest_password, CredentialError, IntegrityKey, RestUsername};
pub use config::{Config, ConfigError, MIN_SECRET_LEN};
pub use error::TurnError;
pub use io::{TurnHandle, TurnServer};
pub use peer_policy::{canonical_ip, is_special_purpose, IpNet, IpNetParseError, PeerPolicy};
pub use server::{FiveTuple, Output, RelayAllocator, Server, Transport, Verdict};
pub use stats::{Refusal, RefusalCounts, Stats, StatsSnapshot, Traffic};
pub use token_bucket::TokenBucket;
pub use wire::{stream_frame, Frame};
