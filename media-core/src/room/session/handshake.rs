//! Handshake and resume: connecting, answering the server's `Challenge`
//! with `Login` (a new server session) or `Resume` (the same one), the
//! answers to both, losing the connection and backing off within the retry
//! window, and ending the room.

use super::outbox::{details, Outbox, NO_DATA};
use super::requests::Request;
use super::{ConnId, Ctx, Flow, Link, Output, Room, SessionConfig};
use crate::error::RoomError;
use crate::event::{PlayerState, PublisherState, RoomState, RoomStateChangedReason, User};
use crate::room::media::MediaCommand;
use crate::room::reconnect::{Backoff, ReconnectPolicy};
use crate::room::view::View;
use crate::room::PublishChannel;
use protocol::{
    ClientMessage, Credentials, ErrorCode, Login, LoginOk, Resume, SequencedEvent, PROTOCOL_VERSION,
};
use std::time::{Duration, Instant};

/// How long a connection may take from `Connect` to `LoginOk`/`Resumed`.
pub(super) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

impl Room {
    /// The server's first message on a connection: log in, or resume the
    /// server session this room has.
    pub(super) fn on_challenge(
        &mut self,
        conn: ConnId,
        version: u16,
        nonce: &str,
        ctx: &Ctx,
        out: &mut Outbox,
    ) {
        let Link::Connecting { deadline, .. } = self.link else {
            out.debug(
                ErrorCode::WrongState,
                "on_challenge",
                "unexpected challenge",
            );
            return;
        };
        if version != PROTOCOL_VERSION {
            tracing::warn!(version, "server speaks another protocol version");
        }
        let msg = match &self.resume {
            Some((session_id, resume_key)) => ClientMessage::Resume(Resume {
                version: PROTOCOL_VERSION,
                session_id: session_id.clone(),
                resume_key: resume_key.clone(),
                last_seq: self.last_seq,
            }),
            None => ClientMessage::Login(self.login_message(&ctx.config, nonce)),
        };
        out.send(conn, msg);
        self.link = Link::Authenticating {
            conn,
            deadline,
            resuming: self.resume.is_some(),
        };
    }

    /// The `Login` for this room, with the token or an AppSign proof over
    /// the server's `nonce`.
    fn login_message(&self, config: &SessionConfig, nonce: &str) -> Login {
        let credentials = match &self.config.token {
            Some(token) => Credentials::Token {
                token: token.clone(),
            },
            None => Credentials::AppSign {
                proof: protocol::auth::login_proof(
                    &config.app_sign,
                    config.app_id,
                    &self.room_id,
                    &self.user.user_id,
                    nonce,
                ),
            },
        };
        Login {
            version: PROTOCOL_VERSION,
            app_id: config.app_id,
            room_id: self.room_id.clone(),
            user: self.user.to_wire(),
            credentials,
            notify_users: self.config.is_user_status_notify,
            max_member_count: self.config.max_member_count,
        }
    }

    /// Logged in: a new server session. Reports the room as the server
    /// describes it and restarts everything the old session had (a relogin
    /// republishes and plays again).
    pub(super) fn on_login_ok(
        &mut self,
        now: Instant,
        conn: ConnId,
        ok: LoginOk,
        ctx: &mut Ctx,
        out: &mut Outbox,
    ) {
        if !matches!(
            self.link,
            Link::Authenticating {
                resuming: false,
                ..
            }
        ) {
            out.debug(ErrorCode::WrongState, "on_login_ok", "unexpected login_ok");
            return;
        }
        let relogin = self.ever_connected;
        self.redirects = 0;
        self.resume = Some((ok.session_id, ok.resume_key));
        self.last_seq = ok.seq;
        // Before any negotiation below: new peer connections use them.
        out.media(MediaCommand::IceServers(ok.ice_servers));
        self.start_heartbeats(now, ok.heartbeat_interval_ms);
        self.link = Link::Live { conn };
        self.ever_connected = true;
        let reason = if relogin {
            RoomStateChangedReason::Reconnected
        } else {
            RoomStateChangedReason::Logined
        };
        out.state(
            &self.room_id,
            RoomState::Connected,
            reason,
            ErrorCode::Success,
            NO_DATA.into(),
        );

        let snapshot = View::from_wire_snapshot(
            ok.users.into_iter().map(User::from_wire).collect(),
            ok.streams,
            ok.online_count,
        );
        self.take_snapshot(snapshot, relogin, out);
        self.set_token_expiry(now, ok.token_expires_in_ms, out);

        // A new server session: only broadcasts survive (unsent ones go out
        // now, sent ones time out); the token in the login is already current.
        // The old session's peer connections are gone on the server: close
        // ours, claim the streams again and ask to play again.
        self.requests
            .retain(|_, r| matches!(r, Request::Broadcast { .. }));
        self.republish(conn, ctx, out);
        self.replay(ctx, out);
        self.flush_requests(out);
    }

    /// The login was refused: the room ends (a refused relogin too).
    pub(super) fn on_login_failed(
        &mut self,
        code: ErrorCode,
        message: String,
        out: &mut Outbox,
    ) -> Flow {
        if matches!(
            self.link,
            Link::Authenticating {
                resuming: false,
                ..
            }
        ) {
            let reason = self.failure_reason();
            return self.end(code, reason, details(&message), out);
        }
        out.debug(code, "on_login_failed", message);
        Flow::Continue
    }

    /// Resumed: the same server session, with the events missed while away.
    /// Media kept running; what was lost with the old connection is redone.
    pub(super) fn on_resumed(
        &mut self,
        now: Instant,
        conn: ConnId,
        missed: Vec<SequencedEvent>,
        ctx: &mut Ctx,
        out: &mut Outbox,
    ) {
        if !matches!(self.link, Link::Authenticating { resuming: true, .. }) {
            out.debug(ErrorCode::WrongState, "on_resumed", "unexpected resumed");
            return;
        }
        self.link = Link::Live { conn };
        self.resume_heartbeats(now);
        // Connected first, then what changed while away: the same order as a
        // fresh login (state, then user/stream updates).
        out.state(
            &self.room_id,
            RoomState::Connected,
            RoomStateChangedReason::Reconnected,
            ErrorCode::Success,
            NO_DATA.into(),
        );
        for se in missed {
            self.apply_event(se, out);
        }
        // Answers lost with the old connection will not come: offers restart,
        // and a state that may not have arrived is sent again below.
        let unanswered = self.forget_lost_answers();
        self.resume_publishers(now, conn, ctx, out);
        self.resume_players(now, out);
        self.resend_states(unanswered, ctx, out);
        self.sync_send_states(ctx, out);
        self.flush_requests(out);
    }

    /// The resume was refused: a kick ends the room; otherwise the server
    /// session is gone and the room logs in again.
    pub(super) fn on_resume_failed(
        &mut self,
        now: Instant,
        code: ErrorCode,
        message: String,
        ctx: &mut Ctx,
        out: &mut Outbox,
    ) -> Flow {
        if !matches!(self.link, Link::Authenticating { resuming: true, .. }) {
            out.debug(code, "on_resume_failed", message);
        } else if code == ErrorCode::KickedOut {
            return self.end(
                code,
                RoomStateChangedReason::KickOut,
                details(&message),
                out,
            );
        } else {
            self.session_gone(now, code, ctx, out);
        }
        Flow::Continue
    }

    /// Off a live link: ends the room once the retry window is over, opens
    /// the next connection when the backoff is done, and counts a handshake
    /// that hangs as a lost connection.
    pub(super) fn link_timer(&mut self, now: Instant, ctx: &mut Ctx, out: &mut Outbox) -> Flow {
        if now >= self.backoff.window_end() {
            let reason = self.failure_reason();
            return self.end(ErrorCode::ReconnectTimeout, reason, NO_DATA.into(), out);
        }
        match self.link {
            Link::Waiting { until } => {
                if now >= until {
                    self.connect(now, ctx, out);
                }
            }
            Link::Connecting { deadline, .. } | Link::Authenticating { deadline, .. } => {
                if now >= deadline {
                    self.lose(now, "handshake timed out", out);
                }
            }
            Link::Live { .. } => {}
        }
        Flow::Continue
    }

    /// Why the room ends when the server cannot be reached or refuses us:
    /// the first login failed, or a reconnect did.
    pub(super) fn failure_reason(&self) -> RoomStateChangedReason {
        if self.ever_connected {
            RoomStateChangedReason::ReconnectFailed
        } else {
            RoomStateChangedReason::LoginFailed
        }
    }

    /// Opens a new connection attempt (to the redirect target, if any).
    pub(super) fn connect(&mut self, now: Instant, ctx: &mut Ctx, out: &mut Outbox) {
        let conn = ctx.new_conn();
        self.link = Link::Connecting {
            conn,
            deadline: now + HANDSHAKE_TIMEOUT,
        };
        self.last_rx = now;
        out.push(Output::Connect {
            conn,
            url: self.target.clone(),
        });
    }

    /// The connection is gone (or must be given up): report the interruption
    /// if we were connected, then wait for the next backoff step.
    pub(super) fn lose(&mut self, now: Instant, why: &str, out: &mut Outbox) {
        tracing::info!(room_id = %self.room_id, why, "connection to the room server lost");
        if let Some(conn) = self.link.conn() {
            out.push(Output::Close { conn });
        }
        self.forget_unreachable_target();
        if matches!(self.link, Link::Live { .. }) {
            out.state(
                &self.room_id,
                RoomState::Connecting,
                RoomStateChangedReason::Reconnecting,
                ErrorCode::NetworkInterrupted,
                NO_DATA.into(),
            );
            for p in self.publishers.iter_mut().flatten() {
                p.state = PublisherState::PublishRequesting;
                out.publisher(
                    &p.stream_id,
                    p.state,
                    ErrorCode::NetworkInterrupted,
                    NO_DATA.into(),
                );
            }
            for (stream_id, player) in self.players.iter_mut() {
                if player.state == PlayerState::Playing {
                    player.state = PlayerState::PlayRequesting;
                    out.player(
                        stream_id,
                        player.state,
                        ErrorCode::NetworkInterrupted,
                        NO_DATA.into(),
                    );
                }
            }
            self.backoff = Backoff::new(self.backoff_policy(), now);
            self.stop_heartbeats();
        }
        let delay = self.backoff.next_delay();
        self.link = Link::Waiting { until: now + delay };
    }

    /// The server no longer has this session (it expired, or a resume was
    /// refused): the resume credentials are useless, so log in afresh. While
    /// live this is a lost connection (reported, retried with backoff in the
    /// retry window); a refused resume logs in at once on a new connection.
    /// Either way `LoginOk` then runs the relogin path (republish, replay).
    pub(super) fn session_gone(
        &mut self,
        now: Instant,
        code: ErrorCode,
        ctx: &mut Ctx,
        out: &mut Outbox,
    ) {
        tracing::info!(room_id = %self.room_id, %code, "server session gone; logging in again");
        self.resume = None;
        match self.link {
            Link::Authenticating {
                conn,
                resuming: true,
                ..
            } => {
                out.push(Output::Close { conn });
                self.connect(now, ctx, out);
            }
            _ => self.lose(now, "server session gone", out),
        }
    }

    /// The retry policy this room backs off with.
    fn backoff_policy(&self) -> ReconnectPolicy {
        self.backoff.policy()
    }

    /// Ends the room: closes the connection, stops publishers, fails pending
    /// broadcasts and reports `Disconnected(code)`.
    pub(super) fn end(
        &mut self,
        code: ErrorCode,
        reason: RoomStateChangedReason,
        data: String,
        out: &mut Outbox,
    ) -> Flow {
        if let Some(conn) = self.link.conn() {
            out.push(Output::Close { conn });
        }
        for channel in [PublishChannel::Main, PublishChannel::Aux] {
            self.drop_publisher(channel, code, NO_DATA.into(), out);
        }
        for (stream_id, _) in std::mem::take(&mut self.players) {
            out.player(&stream_id, PlayerState::NoPlay, code, NO_DATA.into());
            out.media(MediaCommand::StopPlaying { stream_id });
        }
        for (request, req) in std::mem::take(&mut self.requests) {
            if matches!(req, Request::Broadcast { .. }) {
                out.push(Output::BroadcastDone {
                    request,
                    result: Err(RoomError::LoggedOut),
                });
            }
        }
        out.state(&self.room_id, RoomState::Disconnected, reason, code, data);
        Flow::End
    }
}
