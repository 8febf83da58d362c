//! Hosting a call: what `host_call` and `host_invite` return, and the
//! `HostStopped` event.

use serde::Serialize;

use crate::settings::HostScope;

/// What the UI needs to join and share a hosted call (the contract's `HostInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct HostInfo {
    /// What this app joins, e.g. `ws://127.0.0.1:40123/ws`.
    pub ws_url: String,
    /// `http://127.0.0.1:40123` (https when hosting on the network).
    pub http_url: String,
    /// The server's debug page: `http_url` + `/`.
    pub debug_page_url: String,
    /// Signaling URLs others can use (LAN addresses when hosting on the network).
    pub addresses: Vec<String>,
    /// The AppID to log in with.
    pub app_id: u32,
    /// The AppSign (64 hex characters): for this app's own login only;
    /// invites never carry it.
    pub app_sign: String,
    /// The SHA-256 fingerprint of the server's certificate (colon hex),
    /// when it speaks TLS.
    pub fingerprint: Option<String>,
    /// The ports to forward on a router for guests outside the network.
    pub forward: Forward,
    /// Who can reach it.
    #[serde(skip)]
    pub scope: HostScope,
}

/// The ports a home router must forward to this computer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Forward {
    /// Signaling (https/wss).
    pub tcp: u16,
    /// Media (the SFU's UDP port), when it has one fixed port.
    pub udp: Option<u16>,
}

/// An invite to one hosted room (the contract's `HostInvite`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct HostInvite {
    /// `confer://join?server=..&app_id=..&room=..&token=..&fp=..`.
    pub link: String,
    /// The room-scoped token the link carries.
    pub token: String,
    /// When the token expires, Unix seconds.
    pub expires_at: u64,
}

/// The payload of the `HostStopped` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct HostStopped {
    /// Why the embedded server stopped.
    pub reason: String,
}
