//! The login token: renewing it, and warning the app [`TOKEN_WARNING`]
//! before it expires.

use super::outbox::{Outbox, NO_DATA};
use super::requests::Request;
use super::{Room, Session};
use crate::error::RoomError;
use crate::event::Event;
use crate::room::media::MediaCommand;
use crate::room::PublishChannel;
use protocol::{limits, ErrorCode, IceServer};
use std::time::{Duration, Instant};

/// `RoomTokenWillExpire` fires this long before the token expires.
pub(super) const TOKEN_WARNING: Duration = Duration::from_secs(30);

impl Session {
    /// Replaces the login token: used for later logins and sent to the server.
    pub(crate) fn renew_token(&mut self, _now: Instant, token: &str) -> Result<(), RoomError> {
        let Some(room) = self.room.as_mut() else {
            return Err(RoomError::NotLoggedIn);
        };
        check_token(token)?;
        room.config.token = Some(token.to_owned());
        room.requests
            .retain(|_, r| !matches!(r, Request::Renew { .. }));
        let request_id = self.ctx.new_request();
        room.requests.insert(
            request_id,
            Request::Renew {
                token: token.to_owned(),
                sent_on: None,
            },
        );
        room.flush_requests(&mut self.out);
        Ok(())
    }
}

impl Room {
    /// The token expires `expires_in_ms` from `now` (`None`: never); warns
    /// at once if that is within [`TOKEN_WARNING`], or schedules the warning.
    pub(super) fn set_token_expiry(
        &mut self,
        now: Instant,
        expires_in_ms: Option<u64>,
        out: &mut Outbox,
    ) {
        self.token_warn_at = None;
        self.token_expires_at = None;
        let Some(ms) = expires_in_ms else {
            return;
        };
        let left = Duration::from_millis(ms);
        self.token_expires_at = Some(now + left);
        if left <= TOKEN_WARNING {
            out.event(Event::RoomTokenWillExpire {
                room_id: self.room_id.clone(),
                remain_time_in_second: whole_seconds(left),
            });
        } else {
            self.token_warn_at = Some(now + (left - TOKEN_WARNING));
        }
    }

    /// The server renewed the token: its expiry, fresh TURN credentials, and
    /// whether it still grants publishing.
    pub(super) fn on_token_renewed(
        &mut self,
        now: Instant,
        expires_in_ms: u64,
        publish: bool,
        ice_servers: Vec<IceServer>,
        out: &mut Outbox,
    ) {
        self.set_token_expiry(now, Some(expires_in_ms), out);
        if !ice_servers.is_empty() {
            // Fresh TURN credentials for the connections made from now on.
            out.media(MediaCommand::IceServers(ice_servers));
        }
        if !publish {
            // The server already withdrew every stream we published.
            for channel in [PublishChannel::Main, PublishChannel::Aux] {
                self.drop_publisher(
                    channel,
                    ErrorCode::TokenNoPublishPrivilege,
                    NO_DATA.into(),
                    out,
                );
            }
        }
    }

    /// Warns the app when the token's warning time has come.
    pub(super) fn token_timer(&mut self, now: Instant, out: &mut Outbox) {
        if let (Some(warn), Some(expires)) = (self.token_warn_at, self.token_expires_at) {
            if now >= warn {
                self.token_warn_at = None;
                out.event(Event::RoomTokenWillExpire {
                    room_id: self.room_id.clone(),
                    remain_time_in_second: whole_seconds(expires.saturating_duration_since(now)),
                });
            }
        }
    }
}

/// A token the server could take: not empty, not too long.
pub(super) fn check_token(token: &str) -> Result<(), RoomError> {
    if token.is_empty() || token.len() > limits::MAX_TOKEN_BYTES {
        return Err(RoomError::InvalidToken);
    }
    Ok(())
}

/// `d` in seconds, rounded to the nearest.
fn whole_seconds(d: Duration) -> u32 {
    u32::try_from(d.as_millis().saturating_add(500) / 1000).unwrap_or(u32::MAX)
}
