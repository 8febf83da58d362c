//! Webhook signatures: HMAC-SHA256 over `"<t>.<body>"` with the app's
//! webhook secret, sent as `Confer-Signature: t=<unix seconds>,v1=<hex>`.
//! The timestamp is inside what is signed, so a captured request cannot be
//! replayed later with a new `t`: [`verify`] refuses a `t` too far from
//! the receiver's clock.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The request header that carries the signature.
pub const SIGNATURE_HEADER: &str = "Confer-Signature";

/// How far from the receiver's clock a signature's timestamp may be, by
/// default (seconds): the sender's clock skew plus the delivery's delay.
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;

/// Why [`verify`] refused a webhook request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The header is not `t=<unix seconds>,v1=<64 hex digits>`.
    #[error("malformed Confer-Signature header")]
    Malformed,
    /// The timestamp is further than the tolerance from the receiver's
    /// clock: a replay, or a clock far off.
    #[error("signature timestamp outside the tolerance")]
    Stale,
    /// No `v1` signature matches the body with this secret: tampered,
    /// or signed with another secret.
    #[error("signature does not match")]
    Mismatch,
}

/// The `Confer-Signature` header value for `body` sent at `unix_secs`.
pub fn sign(secret: &[u8], unix_secs: u64, body: &[u8]) -> String {
    let mac = mac_of(secret, unix_secs, body).finalize().into_bytes();
    format!("t={unix_secs},v1={}", hex(&mac))
}

/// Checks a webhook request as a receiver should: `header` is the
/// `Confer-Signature` value, `body` the raw request body (before any JSON
/// parsing), `secret` the app's webhook secret (its `server_secret` unless
/// `[webhooks] secret` is set), `now_unix_secs` the receiver's clock.
/// Accepts when a `v1` signature matches (compared in constant time) and
/// `t` is within `tolerance_secs` of now.
///
/// ```
/// use server::webhooks::{sign, verify, VerifyError};
/// let body = br#"{"id":"evt_1","event":"room_started"}"#;
/// let header = sign(b"s3cret", 1_800_000_000, body);
/// assert_eq!(verify(b"s3cret", &header, body, 1_800_000_010, 300), Ok(()));
/// assert_eq!(verify(b"s3cret", &header, b"{}", 1_800_000_010, 300), Err(VerifyError::Mismatch));
/// assert_eq!(verify(b"s3cret", &header, body, 1_800_009_000, 300), Err(VerifyError::Stale));
/// ```
pub fn verify(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now_unix_secs: u64,
    tolerance_secs: u64,
) -> Result<(), VerifyError> {
    let mut t = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = Some(v.parse::<u64>().map_err(|_| VerifyError::Malformed)?),
            Some(("v1", v)) => signatures.push(unhex(v).ok_or(VerifyError::Malformed)?),
            // Other schemes (a future v2) are skipped.
            Some(_) => {}
            None => return Err(VerifyError::Malformed),
        }
    }
    let t = t.ok_or(VerifyError::Malformed)?;
    if signatures.is_empty() {
        return Err(VerifyError::Malformed);
    }
    if t.abs_diff(now_unix_secs) > tolerance_secs {
        return Err(VerifyError::Stale);
    }
    let matches = signatures
        .iter()
        .any(|sig| mac_of(secret, t, body).verify_slice(sig).is_ok());
    if matches {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

/// The MAC over `"<t>.<body>"`.
fn mac_of(secret: &[u8], unix_secs: u64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(unix_secs.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 32 bytes from 64 hex digits.
fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"id":"evt_0123","event":"user_joined"}"#;
    const T: u64 = 1_800_000_000;

    #[test]
    fn a_signature_verifies_and_any_change_fails() {
        let header = sign(b"secret", T, BODY);
        assert!(header.starts_with("t=1800000000,v1="), "{header}");
        assert_eq!(verify(b"secret", &header, BODY, T, 300), Ok(()));
        assert_eq!(verify(b"secret", &header, BODY, T + 300, 300), Ok(()));
        let mut tampered = BODY.to_vec();
        tampered[10] ^= 1;
        assert_eq!(
            verify(b"secret", &header, &tampered, T, 300),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify(b"other", &header, BODY, T, 300),
            Err(VerifyError::Mismatch)
        );
        // A replay with a fresh timestamp but the old signature.
        let replayed = header.replace("t=1800000000", "t=1800000900");
        assert_eq!(
            verify(b"secret", &replayed, BODY, T + 900, 300),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify(b"secret", &header, BODY, T + 301, 300),
            Err(VerifyError::Stale)
        );
        assert_eq!(
            verify(b"secret", &header, BODY, T - 301, 300),
            Err(VerifyError::Stale)
        );
    }

    #[test]
    fn a_bad_header_is_malformed_and_other_schemes_are_skipped() {
        for header in [
            "",
            "t=1",
            "v1=00",
            "t=x,v1=00",
            "t=1,v1=zz",
            "garbage",
            "t=1,v1=0011",
        ] {
            assert_eq!(
                verify(b"k", header, BODY, 1, 300),
                Err(VerifyError::Malformed),
                "{header}"
            );
        }
        let good = sign(b"k", T, BODY);
        let with_v2 = format!("{good},v2=whatever");
        assert_eq!(verify(b"k", &with_v2, BODY, T, 300), Ok(()));
        let second = format!(
            "t={T},v1={},{}",
            "0".repeat(64),
            &good[good.find("v1").unwrap_or(0)..]
        );
        assert_eq!(verify(b"k", &second, BODY, T, 300), Ok(()), "{second}");
    }
}
