//! Login tokens: HMAC-SHA256 over the app, user, optional room, privileges,
//! issue and expiry time, keyed by the app's server secret.
//!
//! Format: `CF1.<base64url(JSON claims)>.<base64url(HMAC-SHA256(secret, "CF1." + claims))>`.
//!
//! This is the legacy format: servers mint JWTs (HS256, the same claims;
//! `server::jwt`) and still accept `CF1.` tokens for one release. The
//! claims, the refusals ([`TokenError`]) and [`check`] are shared by both.
//!
//! ```
//! use protocol::token::{mint, verify, Expectation, Privilege, Privileges, TokenClaims};
//! let claims = TokenClaims::new(7, "alice", Some("room1".into()), Privileges::ALL, 1_000, 3_600);
//! let token = mint(b"secret", &claims);
//! let expect = Expectation { app_id: 7, user_id: "alice", room_id: "room1", privilege: Privilege::Login };
//! assert_eq!(verify(&token, b"secret", &expect, 2_000).unwrap(), claims);
//! ```

use crate::limits::MAX_TOKEN_BYTES;
use crate::ErrorCode;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// What every token in this (legacy) format starts with; a JWT never does.
pub const PREFIX: &str = "CF1.";

/// What a token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Privileges {
    /// May log in to the room.
    pub login: bool,
    /// May publish streams.
    pub publish: bool,
}

impl Privileges {
    /// Nothing: neither login nor publish.
    pub const NONE: Privileges = Privileges {
        login: false,
        publish: false,
    };

    /// Login and publish.
    pub const ALL: Privileges = Privileges {
        login: true,
        publish: true,
    };
}

/// One privilege a verifier asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Privilege {
    /// Logging in.
    Login,
    /// Publishing.
    Publish,
}

/// The signed content of a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TokenClaims {
    /// The AppID the token is for.
    pub app_id: u32,
    /// The user the token is for; empty in an invite ([`TokenClaims::invite`]),
    /// which any user ID may use (never a valid user ID itself).
    pub user_id: String,
    /// The room the token is limited to; `None` = any room.
    pub room_id: Option<String>,
    /// What the token allows.
    pub privileges: Privileges,
    /// Issue time, Unix seconds.
    pub iat: u64,
    /// Expiry time, Unix seconds.
    pub exp: u64,
}

impl TokenClaims {
    /// Claims issued at `now` (Unix seconds) valid for `ttl_secs`.
    pub fn new(
        app_id: u32,
        user_id: impl Into<String>,
        room_id: Option<String>,
        privileges: Privileges,
        now: u64,
        ttl_secs: u64,
    ) -> Self {
        TokenClaims {
            app_id,
            user_id: user_id.into(),
            room_id,
            privileges,
            iat: now,
            exp: now.saturating_add(ttl_secs),
        }
    }

    /// An invite: claims for whichever user ID a guest picks, limited to
    /// `room_id`. A server admits an invite's login only under a user ID
    /// nobody holds (it never kicks anyone out), so sharing the link never
    /// lets a guest take over the host's identity.
    pub fn invite(
        app_id: u32,
        room_id: impl Into<String>,
        privileges: Privileges,
        now: u64,
        ttl_secs: u64,
    ) -> Self {
        TokenClaims::new(app_id, "", Some(room_id.into()), privileges, now, ttl_secs)
    }

    /// Whether these are an invite's claims (any user ID, one room).
    pub fn is_invite(&self) -> bool {
        self.user_id.is_empty()
    }
}

/// What the verifier expects the token to say.
#[derive(Debug, Clone, Copy)]
pub struct Expectation<'a> {
    /// The AppID the login is for.
    pub app_id: u32,
    /// The user logging in.
    pub user_id: &'a str,
    /// The room being joined.
    pub room_id: &'a str,
    /// The privilege needed.
    pub privilege: Privilege,
}

/// Why a token was refused. Each variant has its own [`ErrorCode`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not in the token format.
    #[error("token is malformed")]
    Malformed,
    /// The signature does not verify.
    #[error("token signature is invalid")]
    Forged,
    /// Past its expiry time.
    #[error("token expired {0} s ago")]
    Expired(u64),
    /// Issued for another app.
    #[error("token was issued for AppID {0}")]
    WrongApp(u32),
    /// Issued for another user.
    #[error("token was issued for another user")]
    WrongUser,
    /// Issued for another room.
    #[error("token was issued for another room")]
    WrongRoom,
    /// Lacks the privilege.
    #[error("token does not grant the {0:?} privilege")]
    MissingPrivilege(Privilege),
    /// Longer than [`MAX_TOKEN_BYTES`].
    #[error("token is longer than {MAX_TOKEN_BYTES} bytes")]
    TooLarge,
    /// A JWT signed with another algorithm than HS256 (or `alg: none`).
    #[error("token algorithm {0:?} is refused; only HS256 is accepted")]
    AlgorithmRefused(String),
    /// A JWT that expires further ahead than the server accepts.
    #[error("token expires {0} s from now, more than the longest lifetime accepted")]
    LifetimeTooLong(u64),
    /// A JWT whose `nbf` is still ahead.
    #[error("token is valid only in {0} s")]
    NotYetValid(u64),
}

impl TokenError {
    /// The error code reported for this refusal.
    pub fn code(&self) -> ErrorCode {
        match self {
            TokenError::Malformed => ErrorCode::TokenMalformed,
            TokenError::Forged => ErrorCode::TokenForged,
            TokenError::Expired(_) => ErrorCode::TokenExpired,
            TokenError::WrongApp(_) => ErrorCode::TokenWrongApp,
            TokenError::WrongUser => ErrorCode::TokenWrongUser,
            TokenError::WrongRoom => ErrorCode::TokenWrongRoom,
            TokenError::MissingPrivilege(Privilege::Login) => ErrorCode::TokenNoLoginPrivilege,
            TokenError::MissingPrivilege(Privilege::Publish) => ErrorCode::TokenNoPublishPrivilege,
            TokenError::TooLarge => ErrorCode::TokenTooLarge,
            TokenError::AlgorithmRefused(_) => ErrorCode::TokenAlgorithmRefused,
            TokenError::LifetimeTooLong(_) => ErrorCode::TokenLifetimeTooLong,
            TokenError::NotYetValid(_) => ErrorCode::TokenNotYetValid,
        }
    }
}

/// Signs `claims` with the app's server secret.
pub fn mint(secret: &[u8], claims: &TokenClaims) -> String {
    let json = serde_json::to_vec(claims).expect("claims are plain data and always serialize");
    let signed = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(json));
    let sig = mac(secret, signed.as_bytes()).finalize().into_bytes();
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// Reads the claims without checking the signature. Clients use this to learn
/// a token's expiry; servers must use [`verify`].
pub fn peek(token: &str) -> Result<TokenClaims, TokenError> {
    split(token).map(|(_, claims, _)| claims)
}

/// Checks the signature with `secret`, then the app, user, room, expiry (at
/// `now`, Unix seconds) and privilege. Returns the claims when all hold.
pub fn verify(
    token: &str,
    secret: &[u8],
    expect: &Expectation<'_>,
    now: u64,
) -> Result<TokenClaims, TokenError> {
    let (signed, claims, sig) = split(token)?;
    if claims.app_id != expect.app_id {
        return Err(TokenError::WrongApp(claims.app_id));
    }
    mac(secret, signed.as_bytes())
        .verify_slice(&sig)
        .map_err(|_| TokenError::Forged)?;
    check(&claims, expect, now)?;
    Ok(claims)
}

/// Checks claims whose signature has been verified (in any token format)
/// against what the login expects: invite, user, room, expiry (at `now`,
/// Unix seconds) and privilege. The app is checked before the signature.
pub fn check(claims: &TokenClaims, expect: &Expectation<'_>, now: u64) -> Result<(), TokenError> {
    if claims.is_invite() {
        // An invite without a room would be a pass to every room.
        if claims.room_id.is_none() {
            return Err(TokenError::Malformed);
        }
    } else if claims.user_id != expect.user_id {
        return Err(TokenError::WrongUser);
    }
    if claims
        .room_id
        .as_deref()
        .is_some_and(|r| r != expect.room_id)
    {
        return Err(TokenError::WrongRoom);
    }
    if now >= claims.exp {
        return Err(TokenError::Expired(now - claims.exp));
    }
    let granted = match expect.privilege {
        Privilege::Login => claims.privileges.login,
        Privilege::Publish => claims.privileges.publish,
    };
    if !granted {
        return Err(TokenError::MissingPrivilege(expect.privilege));
    }
    Ok(())
}

fn split(token: &str) -> Result<(&str, TokenClaims, Vec<u8>), TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::TooLarge);
    }
    if !token.starts_with(PREFIX) {
        return Err(TokenError::Malformed);
    }
    let (signed, sig) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
    let payload = signed.strip_prefix(PREFIX).ok_or(TokenError::Malformed)?;
    let json = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| TokenError::Malformed)?;
    let claims: TokenClaims = serde_json::from_slice(&json).map_err(|_| TokenError::Malformed)?;
    let sig = URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| TokenError::Malformed)?;
    Ok((signed, claims, sig))
}

fn mac(secret: &[u8], data: &[u8]) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret).expect("HMAC-SHA256 accepts keys of any length");
    mac.update(data);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn expect<'a>(room: &'a str, privilege: Privilege) -> Expectation<'a> {
        Expectation {
            app_id: 1,
            user_id: "u1",
            room_id: room,
            privilege,
        }
    }

    fn claims(room: Option<&str>, privileges: Privileges) -> TokenClaims {
        TokenClaims::new(1, "u1", room.map(str::to_owned), privileges, 100, 60)
    }

    #[test]
    fn valid_token_verifies() {
        let t = mint(SECRET, &claims(Some("r1"), Privileges::ALL));
        assert!(verify(&t, SECRET, &expect("r1", Privilege::Login), 120).is_ok());
        assert!(verify(&t, SECRET, &expect("r1", Privilege::Publish), 120).is_ok());
        let any_room = mint(SECRET, &claims(None, Privileges::ALL));
        assert!(verify(&any_room, SECRET, &expect("other", Privilege::Login), 120).is_ok());
        assert_eq!(peek(&t).unwrap().exp, 160);
    }

    #[test]
    fn each_refusal_has_its_own_code() {
        let t = mint(SECRET, &claims(Some("r1"), Privileges::ALL));
        let e = |t: &str, secret: &[u8], ex: Expectation<'_>, now| {
            verify(t, secret, &ex, now).unwrap_err().code()
        };
        assert_eq!(
            e(&t, SECRET, expect("r1", Privilege::Login), 160),
            ErrorCode::TokenExpired
        );
        assert_eq!(
            e(&t, b"other", expect("r1", Privilege::Login), 120),
            ErrorCode::TokenForged
        );
        assert_eq!(
            e(&t, SECRET, expect("r2", Privilege::Login), 120),
            ErrorCode::TokenWrongRoom
        );
        let mut wrong_user = expect("r1", Privilege::Login);
        wrong_user.user_id = "u2";
        assert_eq!(e(&t, SECRET, wrong_user, 120), ErrorCode::TokenWrongUser);
        let mut wrong_app = expect("r1", Privilege::Login);
        wrong_app.app_id = 2;
        assert_eq!(e(&t, SECRET, wrong_app, 120), ErrorCode::TokenWrongApp);
        let no_login = mint(
            SECRET,
            &claims(
                None,
                Privileges {
                    login: false,
                    publish: true,
                },
            ),
        );
        assert_eq!(
            e(&no_login, SECRET, expect("r1", Privilege::Login), 120),
            ErrorCode::TokenNoLoginPrivilege
        );
        let no_publish = mint(
            SECRET,
            &claims(
                None,
                Privileges {
                    login: true,
                    publish: false,
                },
            ),
        );
        assert_eq!(
            e(&no_publish, SECRET, expect("r1", Privilege::Publish), 120),
            ErrorCode::TokenNoPublishPrivilege
        );
        assert_eq!(
            e("garbage", SECRET, expect("r1", Privilege::Login), 120),
            ErrorCode::TokenMalformed
        );
    }

    #[test]
    fn tampered_claims_are_forged() {
        let t = mint(
            SECRET,
            &claims(
                Some("r1"),
                Privileges {
                    login: true,
                    publish: false,
                },
            ),
        );
        let (_, sig) = t.rsplit_once('.').unwrap();
        let upgraded = claims(Some("r1"), Privileges::ALL);
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&upgraded).unwrap());
        let forged = format!("{PREFIX}{payload}.{sig}");
        assert_eq!(
            verify(&forged, SECRET, &expect("r1", Privilege::Publish), 120).unwrap_err(),
            TokenError::Forged
        );
    }

    #[test]
    fn an_invite_admits_any_user_to_its_room_only() {
        let invite = TokenClaims::invite(1, "r1", Privileges::ALL, 100, 60);
        assert!(invite.is_invite());
        let t = mint(SECRET, &invite);
        for user in ["u1", "guest", "*"] {
            let mut ex = expect("r1", Privilege::Publish);
            ex.user_id = user;
            assert_eq!(verify(&t, SECRET, &ex, 120).unwrap(), invite);
        }
        assert_eq!(
            verify(&t, SECRET, &expect("r2", Privilege::Login), 120).unwrap_err(),
            TokenError::WrongRoom
        );
        assert_eq!(
            verify(&t, SECRET, &expect("r1", Privilege::Login), 160).unwrap_err(),
            TokenError::Expired(0)
        );
        // Hand-made claims for any user and any room are refused.
        let everywhere = TokenClaims::new(1, "", None, Privileges::ALL, 100, 60);
        assert_eq!(
            verify(
                &mint(SECRET, &everywhere),
                SECRET,
                &expect("r1", Privilege::Login),
                120
            )
            .unwrap_err(),
            TokenError::Malformed
        );
    }

    proptest! {
        #[test]
        fn garbage_never_verifies(s in ".{0,400}") {
            prop_assert!(verify(&s, SECRET, &expect("r1", Privilege::Login), 120).is_err());
        }

        #[test]
        fn round_trip(user in "[a-z0-9]{1,64}", room in proptest::option::of("[a-z0-9]{1,128}"),
                      login: bool, publish: bool, iat in 0u64..1u64 << 40, ttl in 1u64..1u64 << 20) {
            let c = TokenClaims::new(9, user.clone(), room.clone(), Privileges { login, publish }, iat, ttl);
            let t = mint(SECRET, &c);
            prop_assert_eq!(peek(&t).unwrap(), c.clone());
            let ex = Expectation { app_id: 9, user_id: &user, room_id: room.as_deref().unwrap_or("x"), privilege: Privilege::Login };
            let r = verify(&t, SECRET, &ex, iat);
            if login { prop_assert_eq!(r.unwrap(), c); } else { prop_assert!(r.is_err()); }
        }
    }
}
