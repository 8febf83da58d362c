//! Following a `Redirect`: with several server nodes on one Redis, a login
//! that reaches a node other than the room's is sent to the room's node.
//! The session logs in there on a new connection with the same credentials,
//! and the app sees the same events as after a direct login.
//!
//! Bounded: at most [`MAX_REDIRECTS`] in a row (between two `LoginOk`s or
//! failed connections), then the room ends with `TooManyRedirects`. Only a
//! URL of the engine's own scheme is followed (`wss` stays `wss`), else the
//! room ends with `RedirectRefused`.
//! The target is kept for reconnects (a resume goes back to the session's
//! node) until a connection to it fails: the next attempt starts at the
//! engine's server URL again, whose node redirects to wherever the room
//! lives now (another node after a failover).

use super::outbox::{details, Outbox};
use super::{Ctx, Flow, Link, Room};
use protocol::ErrorCode;
use std::time::Instant;

/// Redirects followed at most between two successful logins.
pub(super) const MAX_REDIRECTS: u8 = 3;

/// The longest redirect URL followed.
const MAX_URL_BYTES: usize = 1024;

impl Room {
    /// The server sent the login elsewhere: log in there.
    pub(super) fn on_redirect(
        &mut self,
        now: Instant,
        url: String,
        ctx: &mut Ctx,
        out: &mut Outbox,
    ) -> Flow {
        let Link::Authenticating {
            resuming: false, ..
        } = self.link
        else {
            out.debug(ErrorCode::WrongState, "on_redirect", "unexpected redirect");
            return Flow::Continue;
        };
        if !acceptable(&ctx.config.server_url, &url) {
            let reason = self.failure_reason();
            let shown: String = url.chars().take(128).collect();
            return self.end(ErrorCode::RedirectRefused, reason, details(&shown), out);
        }
        self.redirects = self.redirects.saturating_add(1);
        if self.redirects > MAX_REDIRECTS {
            let reason = self.failure_reason();
            return self.end(ErrorCode::TooManyRedirects, reason, details(&url), out);
        }
        tracing::info!(room_id = %self.room_id, %url, "login redirected to the room's node");
        if let Some(conn) = self.link.conn() {
            out.push(super::Output::Close { conn });
        }
        self.target = Some(url);
        self.connect(now, ctx, out);
        Flow::Continue
    }

    /// A connection that failed before it was live: if it went to a
    /// redirect target, that node may be gone (a failover in progress), so
    /// the next attempt starts at the engine's server URL, with a fresh
    /// count of redirects (the backoff and the retry window bound these).
    pub(super) fn forget_unreachable_target(&mut self) {
        if !matches!(self.link, Link::Live { .. }) {
            self.target = None;
            self.redirects = 0;
        }
    }
}

/// Whether a redirect to `url` may be followed from an engine created for
/// `home`: the same scheme, a host, a sane size, no whitespace.
fn acceptable(home: &str, url: &str) -> bool {
    let scheme = |u: &str| {
        if u.starts_with("wss://") {
            Some("wss://")
        } else if u.starts_with("ws://") {
            Some("ws://")
        } else {
            None
        }
    };
    let Some(want) = scheme(home) else {
        return false;
    };
    let host_follows = url
        .strip_prefix(want)
        .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'));
    host_follows
        && url.len() <= MAX_URL_BYTES
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::acceptable;

    #[test]
    fn only_same_scheme_urls_are_followed() {
        assert!(acceptable("wss://a/ws", "wss://b:7/ws"));
        assert!(acceptable("ws://a/ws", "ws://127.0.0.1:9/ws"));
        for bad in [
            "ws://b/ws",
            "https://b/ws",
            "wss://",
            "wss:///ws",
            "wss://b /ws",
            "",
        ] {
            assert!(!acceptable("wss://a/ws", bad), "{bad}");
        }
        assert!(!acceptable(
            "wss://a/ws",
            &format!("wss://{}", "b".repeat(1100))
        ));
        assert!(!acceptable("ws://a/ws", "wss://b/ws"));
    }
}
