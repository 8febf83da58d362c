//! The AppSign challenge: native clients prove they hold the AppSign without
//! sending it. The server sends a random nonce in `Challenge`; the client
//! answers with `HMAC-SHA256(AppSign bytes, "confer-login/1\n" app \n room \n user \n nonce)`
//! in hex, and the server recomputes it with the AppSign it has on file.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Length of an AppSign in hex characters (32 bytes).
pub const APP_SIGN_HEX_LEN: usize = 64;

/// Whether `sign` has the AppSign shape: 64 hex characters.
pub fn is_valid_app_sign(sign: &str) -> bool {
    sign.len() == APP_SIGN_HEX_LEN && sign.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The proof a client sends for a login to `room_id` as `user_id` answering `nonce`.
pub fn login_proof(
    app_sign: &str,
    app_id: u32,
    room_id: &str,
    user_id: &str,
    nonce: &str,
) -> String {
    let mac = proof_mac(app_sign, app_id, room_id, user_id, nonce);
    hex(&mac.finalize().into_bytes())
}

/// Checks a client's proof in constant time.
pub fn verify_login_proof(
    app_sign: &str,
    app_id: u32,
    room_id: &str,
    user_id: &str,
    nonce: &str,
    proof: &str,
) -> bool {
    let Some(bytes) = unhex(proof) else {
        return false;
    };
    proof_mac(app_sign, app_id, room_id, user_id, nonce)
        .verify_slice(&bytes)
        .is_ok()
}

fn proof_mac(
    app_sign: &str,
    app_id: u32,
    room_id: &str,
    user_id: &str,
    nonce: &str,
) -> Hmac<Sha256> {
    let key = unhex(app_sign).unwrap_or_else(|| app_sign.as_bytes().to_vec());
    let mut mac =
        Hmac::<Sha256>::new_from_slice(&key).expect("HMAC-SHA256 accepts keys of any length");
    mac.update(format!("confer-login/1\n{app_id}\n{room_id}\n{user_id}\n{nonce}").as_bytes());
    mac
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || s.len() > 256 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|p| u8::from_str_radix(p, 16).ok()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIGN: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    #[test]
    fn proof_verifies_only_with_same_inputs() {
        let p = login_proof(SIGN, 1, "r", "u", "n1");
        assert!(verify_login_proof(SIGN, 1, "r", "u", "n1", &p));
        assert!(!verify_login_proof(SIGN, 1, "r", "u", "n2", &p));
        assert!(!verify_login_proof(SIGN, 2, "r", "u", "n1", &p));
        assert!(!verify_login_proof(SIGN, 1, "r", "v", "n1", &p));
        let other = SIGN.replace("00", "01");
        assert!(!verify_login_proof(&other, 1, "r", "u", "n1", &p));
        assert!(!verify_login_proof(SIGN, 1, "r", "u", "n1", "zz"));
        assert!(!verify_login_proof(SIGN, 1, "r", "u", "n1", "é"));
    }

    #[test]
    fn app_sign_shape() {
        assert!(is_valid_app_sign(SIGN));
        assert!(!is_valid_app_sign("abc"));
        assert!(!is_valid_app_sign(&"g".repeat(64)));
    }
}
