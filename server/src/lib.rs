//! Confer's room server: WebSocket signaling for rooms, users and streams.
//!
//! - `GET /ws`: the signaling protocol of the [`protocol`] crate (challenge,
//!   login or resume, heartbeats, room events with per-session sequence
//!   numbers and replay, publish/stop, broadcast, token renewal, logout),
//!   and media signaling (play subscriptions, SDP offer/answer, trickle ICE)
//!   for the SFU.
//! - `GET /healthz`: `ok`.
//! - `GET /metrics`: Prometheus text.
//! - `GET /`: the web debug page, and its API under `/api/` ([`web`]).
//! - `GET /updates/{path}`: the desktop app's update feed, when one is
//!   configured (`updates`).
//! - `POST /api/v1/{method}`: the server API for an app's backend, with an
//!   admin token ([`admin_api`]); login and admin tokens are JWTs ([`jwt`]).
//! - `POST /whip/{room}/{stream}`, `POST /whep/{room}/{stream}`: WHIP ingest
//!   and WHEP playback with a login token ([`whip`]).
//!
//! ```no_run
//! # async fn run() -> Result<(), server::ServeError> {
//! let config = server::ServerConfig::generate_local();
//! let handle = server::start(config).await?;
//! println!("signaling at {}", handle.ws_url());
//! handle.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Layout: `listener` (the accept loop) and [`gate`] (connection
//! admission), [`config`] (TOML config), `apps` (credential checks), `hub`
//! (live sessions, rooms, fan-out), `store` (shared room state behind the
//! [`RoomStore`] trait; [`RedisStore`] when several [`nodes`] share a
//! Redis), [`connection`] (the WebSocket loop, rate-limited
//! with [`confer_turn::TokenBucket`]), `replay`, `metrics`, `http` (routes), [`state`] and `serve`;
//! media: [`sfu`] (webrtc-rs peer connections, RTP forwarding), `plays`
//! (play subscriptions) and `media` (the signaling glue).

#![warn(missing_docs)]

mod activity;
pub mod admin_api;
mod apps;
pub mod config;
pub mod connection;
pub mod gate;
mod http;
mod hub;
pub mod ice;
pub mod jwt;
mod listener;
mod media;
mod media_queue;
mod metrics;
pub mod net;
pub mod nodes;
mod plays;
mod public_ip;
mod replay;
mod serve;
pub mod sfu;
pub mod state;
mod store;
pub mod tls;
mod turn;
mod updates;
pub mod web;
pub mod webhooks;
pub mod whip;

pub use config::{AppConfig, ConfigError, IceConfig, Limits, MediaConfig, ServerConfig, TlsConfig};
pub use http::app;
pub use serve::{start, ServeError, ServerHandle};
pub use state::ServerState;
pub use store::{
    AppCounts, Claim, Hold, JoinRefusal, JoinRequest, Joined, Member, MemoryStore, RedisStore,
    RoomStore, StoreError, StoreFuture,
};
