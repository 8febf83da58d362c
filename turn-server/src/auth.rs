//! TURN REST credentials (coturn's `use-auth-secret`) and nonces.
//!
//! The signaling server hands each client a username
//! `"<expiry unix seconds>:<app>:<user>"` and the password
//! `base64(HMAC-SHA1(secret, username))` (see `server/src/ice.rs`); the TURN
//! server recomputes the password from the username, so it keeps no user
//! table. MESSAGE-INTEGRITY is keyed with the long-term credential key
//! `MD5(username ":" realm ":" password)` (RFC 5389 §15.4).
//!
//! Nonces are stateless: the expiry and a MAC over it and the client's
//! address, keyed by a random per-process key.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha1::Sha1;
use std::net::SocketAddr;

/// The MESSAGE-INTEGRITY key for one username (MD5 output).
pub type IntegrityKey = [u8; 16];

/// The TURN REST password for `username`: base64 of HMAC-SHA1 keyed by the
/// shared secret. The same function as `server::ice::credential`.
pub fn rest_password(secret: &str, username: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret.as_bytes()) else {
        // HMAC takes keys of any length; this branch cannot run.
        return String::new();
    };
    mac.update(username.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// The long-term credential key `MD5(username ":" realm ":" password)`.
pub fn long_term_key(username: &str, realm: &str, password: &str) -> IntegrityKey {
    let mut md5 = Md5::new();
    md5.update(username.as_bytes());
    md5.update(b":");
    md5.update(realm.as_bytes());
    md5.update(b":");
    md5.update(password.as_bytes());
    md5.finalize().into()
}

/// A TURN REST username taken apart: `"<expiry>:<rest>"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestUsername<'a> {
    /// Unix seconds after which the credential is refused.
    pub expiry: u64,
    /// Everything after the first `:` (Confer: `"<app>:<user>"`): whose
    /// quota the allocation counts against.
    pub user: &'a str,
}

impl<'a> RestUsername<'a> {
    /// Parses `username`, or `None` if it has no numeric expiry or no user.
    pub fn parse(username: &'a str) -> Option<RestUsername<'a>> {
        let (expiry, user) = username.split_once(':')?;
        if user.is_empty() || expiry.is_empty() || !expiry.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(RestUsername {
            expiry: expiry.parse().ok()?,
            user,
        })
    }
}

/// Why a credential was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialError {
    /// The username is not `"<expiry>:<user>"`.
    Malformed,
    /// The username's expiry is in the past.
    Expired,
}

/// Checks a REST username against the wall clock and returns its quota user
/// and integrity key.
pub(crate) fn credential_key<'a>(
    secret: &str,
    realm: &str,
    username: &'a str,
    unix_now: u64,
) -> Result<(RestUsername<'a>, IntegrityKey), CredentialError> {
    let parsed = RestUsername::parse(username).ok_or(CredentialError::Malformed)?;
    if parsed.expiry < unix_now {
        return Err(CredentialError::Expired);
    }
    let password = rest_password(secret, username);
    Ok((parsed, long_term_key(username, realm, &password)))
}

/// What a NONCE attribute turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NonceCheck {
    /// Issued by this server for this client and not expired.
    Valid,
    /// Issued by this server but expired, or not ours: 438 Stale Nonce.
    Stale,
}

/// Issues and checks stateless nonces.
pub(crate) struct Nonces {
    key: [u8; 32],
    lifetime_secs: u64,
}

const NONCE_MAC_BYTES: usize = 10;

impl Nonces {
    pub(crate) fn new(key: [u8; 32], lifetime_secs: u64) -> Nonces {
        Nonces { key, lifetime_secs }
    }

    /// A nonce for `client` valid until `unix_now + lifetime`.
    pub(crate) fn issue(&self, client: SocketAddr, unix_now: u64) -> String {
        let expiry = unix_now.saturating_add(self.lifetime_secs);
        let mut nonce = format!("{expiry:016x}");
        for byte in self.mac(expiry, client) {
            nonce.push_str(&format!("{byte:02x}"));
        }
        nonce
    }

    pub(crate) fn check(&self, nonce: &str, client: SocketAddr, unix_now: u64) -> NonceCheck {
        if nonce.len() != 16 + 2 * NONCE_MAC_BYTES || !nonce.is_ascii() {
            return NonceCheck::Stale;
        }
        let (expiry, mac) = nonce.split_at(16);
        let Ok(expiry) = u64::from_str_radix(expiry, 16) else {
            return NonceCheck::Stale;
        };
        let expected = self.mac(expiry, client);
        let mut given = [0u8; NONCE_MAC_BYTES];
        for (i, byte) in given.iter_mut().enumerate() {
            let Some(Ok(b)) = mac.get(2 * i..2 * i + 2).map(|h| u8::from_str_radix(h, 16)) else {
                return NonceCheck::Stale;
            };
            *byte = b;
        }
        // Constant-time enough: both are MAC outputs of fixed length; fold
        // the difference so timing does not reveal the first wrong byte.
        let diff = expected
            .iter()
            .zip(given.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if diff != 0 || expiry < unix_now {
            NonceCheck::Stale
        } else {
            NonceCheck::Valid
        }
    }

    fn mac(&self, expiry: u64, client: SocketAddr) -> [u8; NONCE_MAC_BYTES] {
        let mut out = [0u8; NONCE_MAC_BYTES];
        let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(&self.key) else {
            return out;
        };
        mac.update(&expiry.to_be_bytes());
        mac.update(client.to_string().as_bytes());
        let digest = mac.finalize().into_bytes();
        out.copy_from_slice(&digest[..NONCE_MAC_BYTES]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_matches_the_signaling_servers_scheme() {
        // The vector of server/src/ice.rs, computed independently with
        // printf '1334196010:bob' | openssl dgst -sha1 -hmac north -binary | base64
        assert_eq!(
            rest_password("north", "1334196010:bob"),
            "MMPi7GUrTEt1CkqNPv9TWrXcERc="
        );
    }

    #[test]
    fn long_term_key_is_md5_of_user_realm_password() {
        // printf 'user:realm:pass' | md5sum -> 8493fbc53ba582fb4c044c456bdc40eb
        assert_eq!(
            long_term_key("user", "realm", "pass"),
            [
                0x84, 0x93, 0xfb, 0xc5, 0x3b, 0xa5, 0x82, 0xfb, 0x4c, 0x04, 0x4c, 0x45, 0x6b, 0xdc,
                0x40, 0xeb
            ]
        );
    }

    #[test]
    fn usernames_carry_expiry_and_user() {
        assert_eq!(
            RestUsername::parse("1700000000:7:alice"),
            Some(RestUsername {
                expiry: 1_700_000_000,
                user: "7:alice"
            })
        );
        for bad in [
            "alice",
            ":alice",
            "17x:alice",
            "1700000000:",
            "-1:alice",
            "+5:a",
        ] {
            assert_eq!(RestUsername::parse(bad), None, "{bad}");
        }
        assert_eq!(
            credential_key("s", "r", "99:bob", 100),
            Err(CredentialError::Expired)
        );
        assert!(credential_key("s", "r", "100:bob", 100).is_ok());
    }

    #[test]
    fn nonces_expire_and_bind_to_the_client() {
        let nonces = Nonces::new([7; 32], 600);
        let client: SocketAddr = "192.0.2.1:5000".parse().unwrap();
        let nonce = nonces.issue(client, 1000);
        assert_eq!(nonces.check(&nonce, client, 1000), NonceCheck::Valid);
        assert_eq!(nonces.check(&nonce, client, 1600), NonceCheck::Valid);
        assert_eq!(nonces.check(&nonce, client, 1601), NonceCheck::Stale);
        let other: SocketAddr = "192.0.2.1:5001".parse().unwrap();
        assert_eq!(nonces.check(&nonce, other, 1000), NonceCheck::Stale);
        let forged = format!("{:016x}{}", u64::MAX, &nonce[16..]);
        assert_eq!(nonces.check(&forged, client, 1000), NonceCheck::Stale);
        assert_eq!(nonces.check("", client, 1000), NonceCheck::Stale);
        assert_eq!(nonces.check("é", client, 1000), NonceCheck::Stale);
    }
}
