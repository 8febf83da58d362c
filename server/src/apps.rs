//! The app registry and credential checks: who may log in, and for how long.

use crate::config::AppConfig;
use crate::jwt;
use protocol::auth::verify_login_proof;
use protocol::token::{Expectation, Privilege};
use protocol::{Credentials, ErrorCode};
use std::collections::HashMap;

/// The registered apps, by AppID.
#[derive(Debug, Clone, Default)]
pub struct AppRegistry {
    apps: HashMap<u32, AppConfig>,
}

/// What a login claims, for credential checks.
#[derive(Debug, Clone, Copy)]
pub struct LoginClaim<'a> {
    /// The AppID.
    pub app_id: u32,
    /// The room.
    pub room_id: &'a str,
    /// The user.
    pub user_id: &'a str,
}

/// A successful credential check: what the session may do, and until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authorized {
    /// Unix seconds when the token expires (`None` for AppSign logins).
    pub token_expires_at: Option<u64>,
    /// Whether the session may publish streams: always with the AppSign
    /// (the app's master secret), with a token only if it grants
    /// [`Privilege::Publish`].
    pub may_publish: bool,
    /// Whether the credentials are an invite (any user ID, one room): the
    /// login must not take a user ID someone holds.
    pub invite: bool,
}

impl AppRegistry {
    /// A registry of `apps` (later duplicates replace earlier ones; the config
    /// validation refuses duplicates).
    pub fn new(apps: &[AppConfig]) -> Self {
        AppRegistry {
            apps: apps.iter().map(|a| (a.app_id, a.clone())).collect(),
        }
    }

    /// The app with this AppID.
    pub fn get(&self, app_id: u32) -> Option<&AppConfig> {
        self.apps.get(&app_id)
    }

    /// Checks a login's credentials against the app's AppSign (proof over
    /// `nonce`) or server secret (token, at `now_unix` seconds).
    pub fn check_login(
        &self,
        claim: LoginClaim<'_>,
        credentials: &Credentials,
        nonce: &str,
        now_unix: u64,
    ) -> Result<Authorized, ErrorCode> {
        let app = self.get(claim.app_id).ok_or(ErrorCode::AppNotFound)?;
        match credentials {
            Credentials::AppSign { proof } => {
                if verify_login_proof(
                    &app.app_sign,
                    claim.app_id,
                    claim.room_id,
                    claim.user_id,
                    nonce,
                    proof,
                ) {
                    Ok(Authorized::APP_SIGN)
                } else {
                    Err(ErrorCode::AppSignMismatch)
                }
            }
            Credentials::Token { token } => self.check_token(claim, token, now_unix),
        }
    }

    /// Checks a login token (a JWT, or a legacy `CF1.` token) for `claim` at
    /// `now_unix` seconds.
    pub fn check_token(
        &self,
        claim: LoginClaim<'_>,
        token: &str,
        now_unix: u64,
    ) -> Result<Authorized, ErrorCode> {
        let app = self.get(claim.app_id).ok_or(ErrorCode::AppNotFound)?;
        let expect = Expectation {
            app_id: claim.app_id,
            user_id: claim.user_id,
            room_id: claim.room_id,
            privilege: Privilege::Login,
        };
        let claims = jwt::verify(token, app.server_secret.as_bytes(), &expect, now_unix)
            .map_err(|e| e.code())?;
        Ok(Authorized {
            token_expires_at: Some(claims.exp),
            may_publish: claims.privileges.publish,
            invite: claims.is_invite(),
        })
    }
}

impl Authorized {
    /// An AppSign login: every privilege, no expiry.
    pub const APP_SIGN: Authorized = Authorized {
        token_expires_at: None,
        may_publish: true,
        invite: false,
    };

    /// Whether publishing is allowed at `now_unix` seconds: `Err` with
    /// `TokenNoPublishPrivilege` if the credentials never allowed it,
    /// `TokenExpired` if the token that allowed it has expired (the session
    /// stays, but a new stream needs a renewed token).
    pub fn check_publish(&self, now_unix: u64) -> Result<(), ErrorCode> {
        if !self.may_publish {
            return Err(ErrorCode::TokenNoPublishPrivilege);
        }
        match self.token_expires_at {
            Some(exp) if now_unix >= exp => Err(ErrorCode::TokenExpired),
            _ => Ok(()),
        }
    }

    /// Milliseconds until the token expires, seen at `now_unix` seconds.
    pub fn expires_in_ms(&self, now_unix: u64) -> Option<u64> {
        self.token_expires_at
            .map(|exp| exp.saturating_sub(now_unix).saturating_mul(1000))
    }
}

/// A registry of one app (AppID 7, fixed secrets, not in development
/// mode) and that app: the unit tests' fixture.
#[cfg(test)]
pub(crate) fn test_registry() -> (AppRegistry, AppConfig) {
    let app = AppConfig {
        app_id: 7,
        app_sign: "ab".repeat(32),
        server_secret: "s".repeat(32),
        dev_mode: false,
    };
    (AppRegistry::new(std::slice::from_ref(&app)), app)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::mint;
    use protocol::auth::login_proof;
    use protocol::token::{Privileges, TokenClaims};

    const CLAIM: LoginClaim<'static> = LoginClaim {
        app_id: 7,
        room_id: "r",
        user_id: "u",
    };

    #[test]
    fn app_sign_proof() {
        let (reg, app) = test_registry();
        let proof = login_proof(&app.app_sign, 7, "r", "u", "n");
        let ok = reg.check_login(
            CLAIM,
            &Credentials::AppSign {
                proof: proof.clone(),
            },
            "n",
            0,
        );
        assert_eq!(ok, Ok(Authorized::APP_SIGN));
        let bad = reg.check_login(CLAIM, &Credentials::AppSign { proof }, "other", 0);
        assert_eq!(bad, Err(ErrorCode::AppSignMismatch));
        let unknown = LoginClaim { app_id: 8, ..CLAIM };
        let proof = login_proof(&app.app_sign, 8, "r", "u", "n");
        assert_eq!(
            reg.check_login(unknown, &Credentials::AppSign { proof }, "n", 0),
            Err(ErrorCode::AppNotFound)
        );
    }

    #[test]
    fn tokens() {
        let (reg, app) = test_registry();
        let claims = TokenClaims::new(7, "u", None, Privileges::ALL, 100, 60);
        let token = mint(app.server_secret.as_bytes(), &claims);
        let creds = Credentials::Token { token };
        let ok = reg.check_login(CLAIM, &creds, "n", 110).expect("valid");
        assert_eq!(ok.expires_in_ms(110), Some(50_000));
        assert_eq!(
            reg.check_login(CLAIM, &creds, "n", 200),
            Err(ErrorCode::TokenExpired)
        );
    }

    #[test]
    fn publish_needs_the_privilege_and_an_unexpired_token() {
        let (reg, app) = test_registry();
        let watch_only = Privileges {
            login: true,
            publish: false,
        };
        for (privileges, at, expected) in [
            (Privileges::ALL, 110, Ok(())),
            (Privileges::ALL, 160, Err(ErrorCode::TokenExpired)),
            (watch_only, 110, Err(ErrorCode::TokenNoPublishPrivilege)),
            (watch_only, 160, Err(ErrorCode::TokenNoPublishPrivilege)),
        ] {
            let claims = TokenClaims::new(7, "u", None, privileges, 100, 60);
            let token = mint(app.server_secret.as_bytes(), &claims);
            let auth = reg.check_token(CLAIM, &token, 110).expect("valid login");
            assert_eq!(auth.check_publish(at), expected, "{privileges:?} at {at}");
        }
        assert_eq!(Authorized::APP_SIGN.check_publish(u64::MAX), Ok(()));
        // A token without the login privilege does not log in at all.
        let no_login = Privileges {
            login: false,
            publish: true,
        };
        let token = mint(
            app.server_secret.as_bytes(),
            &TokenClaims::new(7, "u", None, no_login, 100, 60),
        );
        assert_eq!(
            reg.check_token(CLAIM, &token, 110),
            Err(ErrorCode::TokenNoLoginPrivilege)
        );
    }
}
