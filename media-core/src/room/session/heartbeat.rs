//! Heartbeats: the client sends one every interval the server asked for
//! (acknowledging the last event it has), and counts the server as gone
//! when nothing at all arrived for two intervals and a grace.

use super::outbox::Outbox;
use super::{ConnId, Room};
use protocol::ClientMessage;
use std::time::{Duration, Instant};

/// The server counts as silent after `2 * heartbeat interval + SILENCE_GRACE`.
pub(super) const SILENCE_GRACE: Duration = Duration::from_secs(2);
/// The interval until the server names one, and when it names none.
pub(super) const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(5);
/// The shortest interval taken from a server.
const MIN_HEARTBEAT: Duration = Duration::from_millis(100);

impl Room {
    /// A new server session: heartbeats every interval it asked for
    /// (`0`: the default), the first one interval from `now`.
    pub(super) fn start_heartbeats(&mut self, now: Instant, interval_ms: u64) {
        self.heartbeat_interval = match interval_ms {
            0 => DEFAULT_HEARTBEAT,
            ms => Duration::from_millis(ms).max(MIN_HEARTBEAT),
        };
        self.resume_heartbeats(now);
    }

    /// The link is live again: the next heartbeat is one interval from `now`.
    pub(super) fn resume_heartbeats(&mut self, now: Instant) {
        self.next_heartbeat = Some(now + self.heartbeat_interval);
    }

    /// The link is lost: no heartbeats until it is live again.
    pub(super) fn stop_heartbeats(&mut self) {
        self.next_heartbeat = None;
    }

    /// On a live link: gives up on a silent server, or sends the heartbeat
    /// that is due.
    pub(super) fn heartbeat_timer(&mut self, now: Instant, conn: ConnId, out: &mut Outbox) {
        if now >= self.silence_deadline() {
            self.lose(now, "server silent", out);
        } else if self.next_heartbeat.is_some_and(|t| now >= t) {
            out.send(conn, ClientMessage::Heartbeat { ack: self.last_seq });
            self.next_heartbeat = Some(now + self.heartbeat_interval);
        }
    }

    /// When the live link next needs [`Room::heartbeat_timer`].
    pub(super) fn heartbeat_deadline(&self) -> Instant {
        match self.next_heartbeat {
            Some(hb) => hb.min(self.silence_deadline()),
            None => self.silence_deadline(),
        }
    }

    /// When the server counts as silent if nothing more arrives.
    fn silence_deadline(&self) -> Instant {
        self.last_rx + self.heartbeat_interval * 2 + SILENCE_GRACE
    }
}
