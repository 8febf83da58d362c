//! Connection diagnostics (`confer doctor`, the app's reachability check):
//! the steps a call needs, checked in order, each a pass or a fail with its
//! target, error code and what was seen.
//!
//! 1. **dns**: the server's host name resolves;
//! 2. **tcp**: its port accepts a connection;
//! 3. **tls**: (wss only) the handshake succeeds with the profile's trust
//!    (system roots, an extra CA or a pinned fingerprint);
//! 4. **websocket**: `/ws` upgrades;
//! 5. **login**: the server accepts the credentials (and hands out ICE
//!    servers);
//! 6. **udp-media**: a test stream reaches the SFU over UDP (the selected
//!    candidate pair is reported: a TCP pair means UDP is blocked);
//! 7. **turn-udp / turn-tcp / turn-tls**: an allocation on each TURN server
//!    the login handed out.
//!
//! A failed step before login ends the run: what follows cannot work.

mod media;
mod signaling;
mod turn;

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::engine::EngineProfile;
use protocol::ErrorCode;

/// What a diagnosis checks and with which credentials.
#[derive(Debug, Clone)]
pub struct DoctorOptions {
    /// The server, its app and the TLS trust (as an engine would use them).
    pub profile: EngineProfile,
    /// A login token, used instead of the profile's AppSign when set.
    pub token: Option<String>,
    /// The room the test login joins (any room the credentials allow).
    pub room_id: String,
    /// The user ID of the test login; one nobody uses.
    pub user_id: String,
    /// How long each step may take.
    pub step_timeout: Duration,
    /// Whether to publish a test stream to check the media path.
    pub media: bool,
}

/// One step of a diagnosis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// Name resolution.
    Dns,
    /// A TCP connection to the signaling port.
    Tcp,
    /// The TLS handshake.
    Tls,
    /// The WebSocket upgrade.
    Websocket,
    /// The login.
    Login,
    /// Media to the SFU over UDP.
    UdpMedia,
    /// A TURN allocation over UDP.
    TurnUdp,
    /// A TURN allocation over TCP.
    TurnTcp,
    /// A TURN allocation over TLS.
    TurnTls,
}

impl Step {
    /// The step's name as printed (`dns`, `udp-media`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Step::Dns => "dns",
            Step::Tcp => "tcp",
            Step::Tls => "tls",
            Step::Websocket => "websocket",
            Step::Login => "login",
            Step::UdpMedia => "udp-media",
            Step::TurnUdp => "turn-udp",
            Step::TurnTcp => "turn-tcp",
            Step::TurnTls => "turn-tls",
        }
    }
}

/// The outcome of one step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Check {
    /// Which step.
    pub name: Step,
    /// What it reached (`host:port`, a URL).
    pub target: String,
    /// Whether it passed.
    pub ok: bool,
    /// The error code when it failed (0 when it passed).
    pub code: u32,
    /// What was seen: an address, a path, an error message.
    pub detail: String,
    /// How long it took.
    pub elapsed_ms: u64,
}

impl Check {
    /// A step that passed (code 0, `Success`).
    fn pass(
        name: Step,
        target: impl Into<String>,
        detail: impl Into<String>,
        since: Instant,
    ) -> Check {
        Check {
            ok: true,
            ..Check::fail(name, target, ErrorCode::Success, detail, since)
        }
    }

    fn fail(
        name: Step,
        target: impl Into<String>,
        code: ErrorCode,
        detail: impl Into<String>,
        since: Instant,
    ) -> Check {
        Check {
            name,
            target: target.into(),
            ok: false,
            code: code.code(),
            detail: detail.into(),
            elapsed_ms: elapsed_ms(since),
        }
    }

    /// One line: `PASS dns        example.org:443  1.2.3.4 (2 ms)` or
    /// `FAIL tls  host:443  code 1002040: ...`.
    pub fn line(&self) -> String {
        if self.ok {
            format!(
                "PASS {:<10} {:<28} {} ({} ms)",
                self.name.name(),
                self.target,
                self.detail,
                self.elapsed_ms
            )
        } else {
            format!(
                "FAIL {:<10} {:<28} code {}: {} ({} ms)",
                self.name.name(),
                self.target,
                self.code,
                self.detail,
                self.elapsed_ms
            )
        }
    }
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Runs every step in order, calling `report` as each one ends; returns
/// them all. Stops after a failed step before login.
pub async fn diagnose(options: &DoctorOptions, mut report: impl FnMut(&Check)) -> Vec<Check> {
    let mut checks = Vec::new();
    let mut push = |check: Check, checks: &mut Vec<Check>| {
        report(&check);
        let ok = check.ok;
        checks.push(check);
        ok
    };
    let login = match signaling::run(options, |c| push(c, &mut checks)).await {
        Some(login) => login,
        None => return checks,
    };
    if options.media {
        push(media::udp_media(options).await, &mut checks);
    }
    // The same trust as the signaling: a self-hosted TURN/TLS shares the
    // server's certificate (and so its pin).
    let tls = match crate::room::tls::client_config(&options.profile.tls) {
        Ok(tls) => tls,
        Err(_) => return checks,
    };
    for check in turn::allocations(&login.ice_servers, tls, options.step_timeout).await {
        push(check, &mut checks);
    }
    checks
}
