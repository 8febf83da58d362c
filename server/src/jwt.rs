//! Login and admin tokens as JWTs (RFC 7519): HS256 over the app's server
//! secret, so an app's backend mints them with any JWT library.
//!
//! Claims (JSON): `app_id` (number), `user_id` (string; empty or absent in an
//! invite), `room_id` (string, absent = any room), `privileges`
//! (`{"login": bool, "publish": bool}`), `iat`, `nbf` (optional) and `exp`
//! (Unix seconds), and `admin: true` in an admin token (server API). The
//! same claims as the legacy `CF1.` format ([`protocol::token`]), which
//! [`verify`] still accepts for one release.
//!
//! Refusals keep one code each ([`TokenError::code`]): too large, malformed,
//! an algorithm other than HS256 (`alg: none`, RS256 with the secret as a
//! public key: alg confusion), another app, a bad signature, not valid yet,
//! a lifetime over [`MAX_LIFETIME_SECS`], expired, another user or room, a
//! missing privilege.
//!
//! ```
//! use protocol::token::{Expectation, Privilege, Privileges, TokenClaims};
//! let claims = TokenClaims::new(7, "alice", Some("room1".into()), Privileges::ALL, 1_000, 3_600);
//! let token = server::jwt::mint(b"secret", &claims);
//! let expect = Expectation { app_id: 7, user_id: "alice", room_id: "room1", privilege: Privilege::Login };
//! assert_eq!(server::jwt::verify(&token, b"secret", &expect, 2_000).unwrap(), claims);
//! ```

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use protocol::limits::MAX_TOKEN_BYTES;
use protocol::token::{self, Expectation, Privilege, Privileges, TokenClaims, TokenError};
use serde::{Deserialize, Serialize};

/// The longest a JWT may still be valid when it is presented: 30 days
/// (a token that never really expires is a password).
pub const MAX_LIFETIME_SECS: u64 = 30 * 24 * 3600;
/// How far ahead of the server's clock a token's `nbf` may be (clock skew
/// between the minting backend and the server).
pub const CLOCK_SKEW_SECS: u64 = 60;

/// The claims of a Confer JWT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwtClaims {
    /// The AppID the token is for.
    pub app_id: u32,
    /// The user; empty in an invite and in an admin token.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user_id: String,
    /// The room the token is limited to; `None` = any room.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room_id: Option<String>,
    /// What a login with the token may do (absent: nothing).
    #[serde(default = "no_privileges")]
    pub privileges: Privileges,
    /// Issue time, Unix seconds.
    pub iat: u64,
    /// Not valid before, Unix seconds (absent: valid from `iat` on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// An admin token: calls the server API for its app; never logs in.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub admin: bool,
}

impl JwtClaims {
    /// The login claims of a token (admin flag and `nbf` dropped).
    pub fn login_claims(&self) -> TokenClaims {
        TokenClaims {
            app_id: self.app_id,
            user_id: self.user_id.clone(),
            room_id: self.room_id.clone(),
            privileges: self.privileges,
            iat: self.iat,
            exp: self.exp,
        }
    }
}

/// A login JWT for `claims`, signed with the app's server secret.
///
/// # Panics
///
/// If `secret` is empty (a server config requires 32 characters).
pub fn mint(secret: &[u8], claims: &TokenClaims) -> String {
    sign(
        secret,
        &JwtClaims {
            app_id: claims.app_id,
            user_id: claims.user_id.clone(),
            room_id: claims.room_id.clone(),
            privileges: claims.privileges,
            iat: claims.iat,
            nbf: Some(claims.iat),
            exp: claims.exp,
            admin: false,
        },
    )
}

/// An admin token for the server API of `app_id`, issued at `now` (Unix
/// seconds) and valid for `ttl_secs`.
///
/// # Panics
///
/// If `secret` is empty, like [`mint`].
pub fn mint_admin(secret: &[u8], app_id: u32, now: u64, ttl_secs: u64) -> String {
    sign(
        secret,
        &JwtClaims {
            app_id,
            user_id: String::new(),
            room_id: None,
            privileges: Privileges::NONE,
            iat: now,
            nbf: Some(now),
            exp: now.saturating_add(ttl_secs),
            admin: true,
        },
    )
}

/// Verifies a login token in either format (a JWT, or a legacy `CF1.`
/// token) against what the login expects, at `now` (Unix seconds).
/// Returns the token's claims.
pub fn verify(
    token: &str,
    secret: &[u8],
    expect: &Expectation<'_>,
    now: u64,
) -> Result<TokenClaims, TokenError> {
    if token.starts_with(token::PREFIX) {
        return token::verify(token, secret, expect, now);
    }
    let claims = decode(token, secret, Some(expect.app_id), now)?;
    if claims.admin {
        // An admin token is for the server API only.
        return Err(TokenError::MissingPrivilege(Privilege::Login));
    }
    let login = claims.login_claims();
    token::check(&login, expect, now)?;
    Ok(login)
}

/// The AppID a JWT says it is for, unverified: which secret to check it with.
pub fn peek_app_id(token: &str) -> Result<u32, TokenError> {
    peek(token).map(|c| c.app_id)
}

/// Reads a JWT's claims without checking the signature (to show a token's
/// expiry, say; a server must use [`verify`] or [`decode`]). Refuses
/// oversized tokens, other shapes, and every algorithm but HS256.
pub fn peek(token: &str) -> Result<JwtClaims, TokenError> {
    #[derive(Deserialize)]
    struct RawHeader {
        alg: String,
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::TooLarge);
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let header: RawHeader = json_part(header)?;
    if header.alg != "HS256" {
        return Err(TokenError::AlgorithmRefused(header.alg));
    }
    json_part(payload)
}

/// Verifies a JWT's size, algorithm, app (`expect_app`, when known),
/// signature, `nbf` and lifetime at `now` (Unix seconds), and that it has
/// not expired. Returns its claims; what they grant is the caller's check.
pub fn decode(
    token: &str,
    secret: &[u8],
    expect_app: Option<u32>,
    now: u64,
) -> Result<JwtClaims, TokenError> {
    let claims = peek(token)?;
    if expect_app.is_some_and(|a| a != claims.app_id) {
        return Err(TokenError::WrongApp(claims.app_id));
    }
    let mut validation = Validation::new(Algorithm::HS256);
    // Times are checked below, each with its own code.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.required_spec_claims.clear();
    // An empty secret verifies nothing.
    let key = DecodingKey::from_secret(secret).map_err(|_| TokenError::Forged)?;
    let verified = jsonwebtoken::decode::<JwtClaims>(token.as_bytes(), &key, &validation)
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => TokenError::Forged,
            ErrorKind::InvalidAlgorithm => TokenError::AlgorithmRefused(String::new()),
            _ => TokenError::Malformed,
        })?
        .claims;
    if let Some(nbf) = verified.nbf {
        if nbf > now.saturating_add(CLOCK_SKEW_SECS) {
            return Err(TokenError::NotYetValid(nbf - now));
        }
    }
    if now >= verified.exp {
        return Err(TokenError::Expired(now - verified.exp));
    }
    let left = verified.exp - now;
    if left > MAX_LIFETIME_SECS {
        return Err(TokenError::LifetimeTooLong(left));
    }
    Ok(verified)
}

fn json_part<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, TokenError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)
}

fn sign(secret: &[u8], claims: &JwtClaims) -> String {
    let key = EncodingKey::from_secret(secret)
        .expect("the caller passes a non-empty secret (see mint's panics)");
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &key)
        .expect("HS256 signs plain claims with any non-empty key")
}

fn no_privileges() -> Privileges {
    Privileges::NONE
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::ErrorCode;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
    const NOW: u64 = 1_800_000_000;

    fn expect(room: &str) -> Expectation<'_> {
        Expectation {
            app_id: 1,
            user_id: "u1",
            room_id: room,
            privilege: Privilege::Login,
        }
    }

    fn login(room: Option<&str>, ttl: u64) -> String {
        let claims = TokenClaims::new(1, "u1", room.map(str::to_owned), Privileges::ALL, NOW, ttl);
        mint(SECRET, &claims)
    }

    fn code(token: &str, secret: &[u8], room: &str, now: u64) -> ErrorCode {
        verify(token, secret, &expect(room), now)
            .expect_err("refused")
            .code()
    }

    /// A JWT with this header and claims JSON, signed (HS256) with `secret`.
    fn hand_made(header: &str, claims: &str, secret: &[u8]) -> String {
        use hmac::{Hmac, Mac};
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).expect("any key length");
        mac.update(signed.as_bytes());
        format!(
            "{signed}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    }

    #[test]
    fn a_login_jwt_is_a_standard_hs256_jwt() {
        let token = login(Some("r1"), 600);
        let mut parts = token.split('.');
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap())
                .unwrap();
        assert_eq!(header["alg"], "HS256");
        assert_eq!(header["typ"], "JWT");
        let claims = verify(&token, SECRET, &expect("r1"), NOW + 10).expect("valid");
        assert_eq!(claims.exp, NOW + 600);
        // What a backend in another language mints by hand verifies too.
        let by_hand = hand_made(
            r#"{"alg":"HS256","typ":"JWT"}"#,
            &format!(
                r#"{{"app_id":1,"user_id":"u1","privileges":{{"login":true,"publish":false}},"iat":{NOW},"exp":{}}}"#,
                NOW + 60
            ),
            SECRET,
        );
        let claims = verify(&by_hand, SECRET, &expect("any"), NOW).expect("hand-made JWT");
        assert!(!claims.privileges.publish);
    }

    #[test]
    fn each_refusal_has_its_code() {
        let t = login(Some("r1"), 600);
        assert_eq!(code(&t, SECRET, "r2", NOW), ErrorCode::TokenWrongRoom);
        assert_eq!(
            code(&t, b"another app's secret", "r1", NOW),
            ErrorCode::TokenForged
        );
        assert_eq!(code(&t, SECRET, "r1", NOW + 600), ErrorCode::TokenExpired);
        let far = login(None, MAX_LIFETIME_SECS + 3600);
        assert_eq!(
            code(&far, SECRET, "r1", NOW),
            ErrorCode::TokenLifetimeTooLong
        );
        let mut wrong_app = expect("r1");
        wrong_app.app_id = 2;
        assert_eq!(
            verify(&t, SECRET, &wrong_app, NOW).unwrap_err().code(),
            ErrorCode::TokenWrongApp
        );
        for garbage in [
            "",
            "a.b.c",
            "!!!.@@@.###",
            "eyJhbGciOiJIUzI1NiJ9",
            "x.y.z.w",
        ] {
            assert_eq!(
                code(garbage, SECRET, "r1", NOW),
                ErrorCode::TokenMalformed,
                "{garbage}"
            );
        }
        let huge = "a".repeat(100 * 1024);
        assert_eq!(code(&huge, SECRET, "r1", NOW), ErrorCode::TokenTooLarge);
        let later = hand_made(
            r#"{"alg":"HS256"}"#,
            &format!(
                r#"{{"app_id":1,"user_id":"u1","privileges":{{"login":true,"publish":true}},"iat":{NOW},"nbf":{},"exp":{}}}"#,
                NOW + 3600,
                NOW + 7200
            ),
            SECRET,
        );
        assert_eq!(code(&later, SECRET, "r1", NOW), ErrorCode::TokenNotYetValid);
        // Within the clock skew, nbf is fine.
        assert!(verify(&later, SECRET, &expect("r1"), NOW + 3600 - CLOCK_SKEW_SECS).is_ok());
    }

    #[test]
    fn alg_none_and_alg_confusion_are_refused() {
        let claims = format!(
            r#"{{"app_id":1,"user_id":"u1","privileges":{{"login":true,"publish":true}},"iat":{NOW},"exp":{}}}"#,
            NOW + 60
        );
        let payload = URL_SAFE_NO_PAD.encode(&claims);
        for alg in ["none", "None", "NONE"] {
            let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
            for sig in ["", "AAAA"] {
                let t = format!("{header}.{payload}.{sig}");
                assert_eq!(
                    code(&t, SECRET, "r1", NOW),
                    ErrorCode::TokenAlgorithmRefused
                );
            }
        }
        // The right MAC under another algorithm's name, and other HMACs.
        for alg in ["RS256", "HS384", "HS512", "ES256", "EdDSA", "hs256"] {
            let t = hand_made(&format!(r#"{{"alg":"{alg}"}}"#), &claims, SECRET);
            assert_eq!(
                code(&t, SECRET, "r1", NOW),
                ErrorCode::TokenAlgorithmRefused,
                "{alg}"
            );
        }
        assert!(verify(
            &hand_made(r#"{"alg":"HS256"}"#, &claims, SECRET),
            SECRET,
            &expect("r1"),
            NOW
        )
        .is_ok());
    }

    #[test]
    fn admin_tokens_never_log_in_and_legacy_tokens_still_do() {
        let admin = mint_admin(SECRET, 1, NOW, 600);
        assert_eq!(
            code(&admin, SECRET, "r1", NOW),
            ErrorCode::TokenNoLoginPrivilege
        );
        let claims = decode(&admin, SECRET, Some(1), NOW).expect("admin token decodes");
        assert!(claims.admin);
        assert_eq!(peek_app_id(&admin), Ok(1));
        let legacy = token::mint(
            SECRET,
            &TokenClaims::new(1, "u1", None, Privileges::ALL, NOW, 60),
        );
        assert!(verify(&legacy, SECRET, &expect("r1"), NOW).is_ok());
        assert_eq!(
            code(&legacy, SECRET, "r1", NOW + 60),
            ErrorCode::TokenExpired
        );
        let oversized = format!("{}{}", token::PREFIX, "a".repeat(MAX_TOKEN_BYTES));
        assert_eq!(
            code(&oversized, SECRET, "r1", NOW),
            ErrorCode::TokenTooLarge
        );
    }

    #[test]
    fn invites_work_as_jwts() {
        let invite = TokenClaims::invite(1, "r1", Privileges::ALL, NOW, 60);
        let t = mint(SECRET, &invite);
        let mut guest = expect("r1");
        guest.user_id = "guest";
        assert_eq!(verify(&t, SECRET, &guest, NOW), Ok(invite));
        assert_eq!(code(&t, SECRET, "r2", NOW), ErrorCode::TokenWrongRoom);
    }

    proptest::proptest! {
        #[test]
        fn garbage_never_verifies(s in ".{0,600}") {
            proptest::prop_assert!(verify(&s, SECRET, &expect("r1"), NOW).is_err());
        }

        #[test]
        fn round_trip(user in "[a-z0-9]{1,64}", room in proptest::option::of("[a-z0-9]{1,128}"),
                      publish: bool, ttl in 1u64..MAX_LIFETIME_SECS) {
            let c = TokenClaims::new(9, user.clone(), room.clone(), Privileges { login: true, publish }, NOW, ttl);
            let t = mint(SECRET, &c);
            let ex = Expectation { app_id: 9, user_id: &user, room_id: room.as_deref().unwrap_or("x"), privilege: Privilege::Login };
            proptest::prop_assert_eq!(verify(&t, SECRET, &ex, NOW), Ok(c));
        }
    }
}
