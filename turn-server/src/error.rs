//! Errors from starting the server.

use crate::config::ConfigError;
use std::net::SocketAddr;

/// Why [`crate::TurnServer::start`] failed.
#[derive(Debug, thiserror::Error)]
pub enum TurnError {
    /// The configuration cannot work.
    #[error("invalid turn config: {0}")]
    Config(#[from] ConfigError),
    /// `listen_tls` is set but no `rustls::ServerConfig` was given.
    #[error("listen_tls is set but no TLS server config was given")]
    TlsConfigMissing,
    /// A listener could not be bound (port in use, no permission...).
    #[error("cannot bind the TURN {transport} listener on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// "udp", "tcp" or "tls".
        transport: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}
