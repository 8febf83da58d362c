//! The ICE servers a client is handed at login: STUN, and TURN with
//! short-lived credentials in the TURN REST scheme coturn implements
//! (`use-auth-secret`): username `<expiry unix seconds>:<app>:<user>`,
//! credential `base64(HMAC-SHA1(secret, username))`. One shared secret
//! serves the server and coturn; nobody configures TURN by hand.

use crate::config::IceConfig;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use protocol::IceServer;
use sha1::Sha1;

/// The ICE servers for `user_id` of app `app_id` at `now_unix` seconds:
/// the STUN URLs as they are, and the TURN URLs with credentials valid
/// for the configured lifetime.
pub fn servers_for(
    config: &IceConfig,
    app_id: u32,
    user_id: &str,
    now_unix: u64,
) -> Vec<IceServer> {
    let mut servers = Vec::new();
    if !config.stun_urls.is_empty() {
        servers.push(IceServer {
            urls: config.stun_urls.clone(),
            username: String::new(),
            credential: String::new(),
        });
    }
    if let (false, Some(secret)) = (config.turn_urls.is_empty(), &config.turn_secret) {
        let expiry = now_unix.saturating_add(config.credential_ttl_secs);
        let username = format!("{expiry}:{app_id}:{user_id}");
        servers.push(IceServer {
            urls: config.turn_urls.clone(),
            credential: credential(secret, &username),
            username,
        });
    }
    servers
}

/// The TURN REST credential for `username`: base64 of its HMAC-SHA1 keyed
/// by the shared secret.
pub fn credential(secret: &str, username: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret.as_bytes()) else {
        // HMAC takes keys of any length; this branch cannot run.
        return String::new();
    };
    mac.update(username.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_follow_the_turn_rest_scheme() {
        // Computed independently:
        // printf '1334196010:bob' | openssl dgst -sha1 -hmac north -binary | base64
        assert_eq!(
            credential("north", "1334196010:bob"),
            "MMPi7GUrTEt1CkqNPv9TWrXcERc="
        );
    }

    #[test]
    fn servers_carry_stun_then_turn_with_expiring_credentials() {
        let config = IceConfig {
            stun_urls: vec!["stun:203.0.113.40:3478".into()],
            turn_urls: vec!["turn:203.0.113.40:3478?transport=udp".into()],
            turn_secret: Some("s".repeat(32)),
            credential_ttl_secs: 3600,
        };
        let servers = servers_for(&config, 7, "alice", 1_000);
        assert_eq!(servers.len(), 2);
        assert_eq!(servers[0].urls, config.stun_urls);
        assert!(servers[0].username.is_empty());
        assert_eq!(servers[1].username, "4600:7:alice");
        assert_eq!(
            servers[1].credential,
            credential(&"s".repeat(32), "4600:7:alice")
        );
        // No secret: no TURN (and nothing at all without STUN).
        let none = IceConfig {
            turn_secret: None,
            stun_urls: Vec::new(),
            ..config
        };
        assert!(servers_for(&none, 7, "alice", 1_000).is_empty());
    }
}
