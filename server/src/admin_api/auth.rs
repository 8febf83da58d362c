//! Who may call the server API: a bearer JWT with `admin: true`, signed
//! with the server secret of the app it names (`confer admin-token`).

use crate::apps::AppRegistry;
use crate::jwt;
use axum::http::{header, HeaderMap, StatusCode};
use protocol::token::PREFIX as LEGACY_PREFIX;
use protocol::ErrorCode;

/// Why a call was refused before it ran: 401 (no valid token) or 403 (a
/// valid token that is not an admin token), with its code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) status: StatusCode,
    pub(crate) code: ErrorCode,
}

/// Checks the `Authorization: Bearer <admin token>` header at `now` (Unix
/// seconds). Returns the AppID the caller administers.
pub(crate) fn authorize(apps: &AppRegistry, headers: &HeaderMap, now: u64) -> Result<u32, Refusal> {
    let unauthorized = |code| Refusal {
        status: StatusCode::UNAUTHORIZED,
        code,
    };
    let forbidden = Refusal {
        status: StatusCode::FORBIDDEN,
        code: ErrorCode::NotAdminToken,
    };
    let token = bearer(headers).ok_or(unauthorized(ErrorCode::AdminTokenRequired))?;
    if token.starts_with(LEGACY_PREFIX) {
        // The legacy format has no admin tokens: a login token.
        return Err(forbidden);
    }
    let app_id = jwt::peek_app_id(token).map_err(|e| unauthorized(e.code()))?;
    let app = apps
        .get(app_id)
        .ok_or(unauthorized(ErrorCode::AppNotFound))?;
    let claims = jwt::decode(token, app.server_secret.as_bytes(), Some(app_id), now)
        .map_err(|e| unauthorized(e.code()))?;
    if !claims.admin {
        return Err(forbidden);
    }
    Ok(app_id)
}

/// The non-empty token of an `Authorization: Bearer <token>` header, if any
/// (the server API's and WHIP/WHEP's credential).
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apps::test_registry;
    use protocol::token::{Privileges, TokenClaims};

    const NOW: u64 = 1_800_000_000;

    fn with(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            format!("Bearer {token}").parse().expect("header value"),
        );
        h
    }

    #[test]
    fn only_a_valid_admin_token_passes() {
        let (apps, app) = test_registry();
        let secret = app.server_secret.as_bytes();
        let admin = jwt::mint_admin(secret, 7, NOW, 60);
        assert_eq!(authorize(&apps, &with(&admin), NOW), Ok(7));
        let code = |h: &HeaderMap| authorize(&apps, h, NOW).unwrap_err();
        assert_eq!(
            code(&HeaderMap::new()),
            Refusal {
                status: StatusCode::UNAUTHORIZED,
                code: ErrorCode::AdminTokenRequired
            }
        );
        let login = jwt::mint(
            secret,
            &TokenClaims::new(7, "u", None, Privileges::ALL, NOW, 60),
        );
        assert_eq!(code(&with(&login)).status, StatusCode::FORBIDDEN);
        assert_eq!(code(&with(&login)).code, ErrorCode::NotAdminToken);
        let cases = [
            (
                jwt::mint_admin(b"wrong", 7, NOW, 60),
                ErrorCode::TokenForged,
            ),
            (jwt::mint_admin(secret, 8, NOW, 60), ErrorCode::AppNotFound),
            (
                jwt::mint_admin(secret, 7, NOW - 120, 60),
                ErrorCode::TokenExpired,
            ),
            ("garbage".to_owned(), ErrorCode::TokenMalformed),
        ];
        for (token, expected) in cases {
            let r = code(&with(&token));
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{expected:?}");
            assert_eq!(r.code, expected);
        }
    }
}
