//! # media-core: Confer's SDK
//!
//! media-core mirrors the ZEGO Express SDK's "Implement Video Call" flow in
//! Rust: create an engine, listen to its events, log in to a room, publish
//! your stream, react to other users' streams, log out, destroy.
//!
//! - the room: login, presence, stream announcements, broadcast messages,
//!   token renewal, heartbeats and automatic reconnection ([`Engine`]);
//! - media: cameras, microphones and synthetic sources ([`capture`]), H.264
//!   and Opus ([`codec`]), WebRTC peer connections to Confer's SFU
//!   ([`transport`]), and rendering into native windows or frame sinks
//!   ([`render`]); quality reports every 3 s ([`quality`]); a sound level
//!   monitor ([`Engine::start_sound_level_monitor`]).
//!
//! ## Quick start
//!
//! ```no_run
//! use media_core::render::{Canvas, FrameSink};
//! use media_core::{Engine, EngineProfile, Event, PublishChannel, RoomConfig, Scenario, UpdateType, User};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let (engine, mut events) = Engine::create(EngineProfile {
//!     app_id: 1,
//!     app_sign: "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff".into(),
//!     scenario: Scenario::StandardVideoCall,
//!     server: "ws://127.0.0.1:8080/ws".into(),
//!     reconnect: Default::default(),
//!     transport: Default::default(),
//!     tls: Default::default(),
//! })?;
//! engine.login_room(
//!     "room1",
//!     User::new("user1", "Alice"),
//!     RoomConfig { is_user_status_notify: true, ..Default::default() },
//! )?;
//! engine.start_publishing_stream("stream1", PublishChannel::Main)?;
//! while let Some(event) = events.recv().await {
//!     match event {
//!         Event::RoomStreamUpdate { update_type: UpdateType::Add, streams, .. } => {
//!             // Show each new stream (a window canvas in an app; a sink here).
//!             for s in streams {
//!                 engine.start_playing_stream(&s.stream_id, Some(Canvas::sink(FrameSink::new())))?;
//!             }
//!         }
//!         Event::RoomStateUpdate { state, error_code, .. } => {
//!             println!("room {state:?} ({error_code})");
//!         }
//!         Event::RoomTokenWillExpire { .. } => engine.renew_token("new token from your backend")?,
//!         other => println!("{}", serde_json::to_string(&other)?),
//!     }
//! #   break;
//! }
//! let id = engine.send_broadcast_message("hello").await?;
//! engine.stop_publishing_stream(PublishChannel::Main)?;
//! engine.logout_room()?;
//! engine.destroy().await; // the logout is on the wire when this resolves
//! # let _ = id; Ok(()) }
//! ```
//!
//! ## Events and states
//!
//! Every result arrives as an [`Event`], in order, on the receiver that
//! [`Engine::create`] returned; calls only check their arguments and the
//! engine's state and return a typed error at once ([`RoomError`],
//! [`PublisherError`], [`EngineError`]; `.code()` gives the
//! [`protocol::ErrorCode`]).
//!
//! The room state ([`RoomState`]) follows the seed:
//!
//! | state | when | error code |
//! |---|---|---|
//! | `Disconnected` | before login, after logout, after a fatal error | 0, or why (AppSign wrong, kicked out, `ReconnectTimeout`) |
//! | `Connecting` | after `login_room`; while retrying after a network interruption | 0, or `NetworkInterrupted` |
//! | `Connected` | logged in | 0 |
//!
//! Each [`Event::RoomStateUpdate`] is followed by an
//! [`Event::RoomStateChanged`] naming the reason (Logining, Logined,
//! Reconnecting, KickOut, ...).
//!
//! ## Reconnection
//!
//! When the connection drops, or the server is silent for two heartbeat
//! intervals plus 2 s, the engine reports `Connecting(NetworkInterrupted)`
//! (publishers `PublishRequesting(NetworkInterrupted)`) and reconnects with
//! exponential backoff ([`ReconnectPolicy`]). It resumes the server session
//! and replays the room events it missed; if the server no longer knows the
//! session it logs in again and reports the difference as user and stream
//! Delete/Add updates, re-announcing its own streams. When the retry window
//! runs out it reports `Disconnected(ReconnectTimeout)`.
//!
//! ## Many engines
//!
//! An engine is not a singleton: each [`Engine::create`] makes an independent
//! engine with its own connection and events, so tests and tools can run many
//! users in one process.
//!
//! ## Logs
//!
//! [`set_log_config`] writes logs to size-rotated files; without it, the SDK
//! logs through whatever `tracing` subscriber the app installed.

#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod audio_processing;
pub mod capture;
pub mod codec;
pub mod doctor;
mod engine;
mod error;
mod event;
#[cfg(any(test, feature = "ts"))]
#[doc(hidden)]
pub mod event_examples;
pub mod frame;
mod log;
mod media;
pub mod quality;
pub mod render;
mod room;
mod screen_share;
pub mod transport;
#[cfg(feature = "ts")]
#[doc(hidden)]
pub mod typescript;

pub use engine::{Engine, EngineProfile, EventReceiver, Scenario};
pub use error::{EngineError, PlayerError, PublisherError, RoomError};
pub use event::{
    BroadcastMessage, Event, PlayerState, PublisherState, RemoteDeviceState, RoomState,
    RoomStateChangedReason, Stream, UpdateType, User,
};
pub use log::{
    log_filter, set_log_config, LogConfig, LOG_FILE_NAME, QUIET_LIBRARIES, ROTATED_FILES,
};
pub use media::{AudioSink, DeviceType, PlayedAudio};
pub use protocol::{ErrorCode, VideoLayer};
pub use quality::{PlayStreamQuality, PublishStreamQuality, StreamQualityLevel};
pub use room::reconnect::ReconnectPolicy;
pub use room::tls::TlsOptions;
pub use room::{PublishChannel, RoomConfig, VideoStreamType};
pub use screen_share::{ScreenCaptureConfig, ScreenShare, ScreenShareState};
