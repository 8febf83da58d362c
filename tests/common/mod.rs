//! Shared helpers for the system tests: a real server on 127.0.0.1:0, SDK
//! peers with an event log, a cuttable TCP relay and a raw protocol client.
// Each test binary uses a different subset of these helpers.
#![allow(dead_code, unreachable_pub)]

pub mod cli;
pub mod flood;
pub mod frozen;
pub mod media;
pub mod netns;
pub mod raw;
pub mod relay;
pub mod tls;
pub mod udp_relay;

use media_core::capture::source::{AudioSourceKind, VideoSourceKind};
use media_core::codec::video_config::VideoPreset;
use media_core::transport::TransportConfig;
use media_core::{
    Engine, EngineProfile, Event, EventReceiver, PlayerState, PublishChannel, PublisherState,
    ReconnectPolicy, RoomConfig, RoomState, Scenario, User,
};
use protocol::token::{self, Privileges, TokenClaims};
use server::{AppConfig, ServerConfig, ServerHandle};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a test waits for any one expected event before failing.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(15);

/// A real server on an ephemeral loopback port.
pub struct TestServer {
    handle: Option<ServerHandle>,
    /// The app registered on it.
    pub app: AppConfig,
    /// Its signaling URL.
    pub url: String,
}

impl TestServer {
    /// Starts with the local default config on 127.0.0.1:0.
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// Starts after `tweak` adjusts the config.
    pub async fn start_with(tweak: impl FnOnce(&mut ServerConfig)) -> TestServer {
        // Logs for debugging a failure: RUST_LOG=media_core=debug,server=debug.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let mut config = ServerConfig::generate_local();
        config.bind = "127.0.0.1:0".parse().expect("literal address");
        tweak(&mut config);
        let app = config.apps[0].clone();
        let handle = server::start(config).await.expect("server starts");
        let url = handle.ws_url();
        TestServer {
            handle: Some(handle),
            app,
            url,
        }
    }

    /// The running server.
    pub fn handle(&self) -> &ServerHandle {
        self.handle.as_ref().expect("server running")
    }

    /// The server's address.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.handle.as_ref().expect("server running").local_addr()
    }

    /// Its HTTP base URL.
    pub fn http_url(&self) -> String {
        self.handle.as_ref().expect("server running").http_url()
    }

    /// An engine profile for this server's app.
    pub fn profile(&self) -> EngineProfile {
        self.profile_for(&self.url)
    }

    /// An engine profile pointing at another URL (e.g. a relay).
    pub fn profile_for(&self, url: &str) -> EngineProfile {
        EngineProfile {
            app_id: self.app.app_id,
            app_sign: self.app.app_sign.clone(),
            scenario: Scenario::StandardVideoCall,
            server: url.to_owned(),
            reconnect: ReconnectPolicy {
                retry_window: Duration::from_secs(30),
                initial_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_millis(500),
            },
            transport: TransportConfig {
                bind_ip: std::net::Ipv4Addr::LOCALHOST.into(),
                ..TransportConfig::default()
            },
            tls: Default::default(),
        }
    }

    /// A token for this app signed with its server secret.
    pub fn token(
        &self,
        user: &str,
        room: Option<&str>,
        privileges: Privileges,
        ttl: i64,
    ) -> String {
        let now = unix_now();
        let mut claims = TokenClaims::new(
            self.app.app_id,
            user,
            room.map(str::to_owned),
            privileges,
            now,
            ttl.max(0) as u64,
        );
        if ttl < 0 {
            claims.iat = now - 7200;
            claims.exp = now - ttl.unsigned_abs();
        }
        token::mint(self.app.server_secret.as_bytes(), &claims)
    }

    /// An invite for `room` (any user ID), valid `ttl` seconds.
    pub fn invite(&self, room: &str, ttl: u64) -> String {
        let claims = TokenClaims::invite(self.app.app_id, room, Privileges::ALL, unix_now(), ttl);
        token::mint(self.app.server_secret.as_bytes(), &claims)
    }

    /// Graceful shutdown.
    pub async fn shutdown(&mut self) {
        if let Some(h) = self.handle.take() {
            h.shutdown().await;
        }
    }
}

/// Unix seconds now.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// An SDK engine plus everything it has emitted so far.
pub struct Peer {
    /// The engine.
    pub engine: Engine,
    events: EventReceiver,
    /// Every event received, in order.
    pub log: Vec<Event>,
    /// The user ID it logs in as.
    pub user_id: String,
}

impl Peer {
    /// Creates an engine (not logged in) whose main channel publishes the
    /// synthetic sources (there is no camera or microphone here): the test
    /// pattern at 180p and a 440 Hz tone.
    pub fn create(profile: EngineProfile, user_id: &str) -> Peer {
        let (engine, events) = Engine::create(profile).expect("engine create");
        engine.set_video_source(VideoSourceKind::TestPattern, PublishChannel::Main);
        engine.set_audio_source(
            AudioSourceKind::Tone { freq_hz: 440.0 },
            PublishChannel::Main,
        );
        engine
            .set_video_config(VideoPreset::P180.config(), PublishChannel::Main)
            .expect("preset is valid");
        Peer {
            engine,
            events,
            log: Vec::new(),
            user_id: user_id.to_owned(),
        }
    }

    /// Creates an engine, logs in and waits for Connected.
    pub async fn join(profile: EngineProfile, room: &str, user_id: &str, notify: bool) -> Peer {
        let mut peer = Peer::create(profile, user_id);
        peer.login(room, notify, None);
        peer.wait_state(RoomState::Connected).await;
        peer
    }

    /// Calls login_room (does not wait).
    pub fn login(&mut self, room: &str, notify: bool, token: Option<String>) {
        let config = RoomConfig {
            is_user_status_notify: notify,
            token,
            ..RoomConfig::default()
        };
        let name = format!("Name of {}", self.user_id);
        self.engine
            .login_room(room, User::new(self.user_id.clone(), name), config)
            .expect("login_room accepted");
    }

    /// Publishes `stream_id` on the main channel and waits for Publishing.
    pub async fn publish(&mut self, stream_id: &str) {
        self.engine
            .start_publishing_stream(stream_id, PublishChannel::Main)
            .expect("publish accepted");
        self.wait_publisher_state(PublisherState::Publishing).await;
    }

    /// Waits for a PublisherStateUpdate into `state`; returns it.
    pub async fn wait_publisher_state(&mut self, state: PublisherState) -> Event {
        self.wait_for(
            &format!("{state:?}"),
            |e| matches!(e, Event::PublisherStateUpdate { state: s, .. } if *s == state),
        )
        .await
    }

    /// Waits for a PlayerStateUpdate into `state`; returns it.
    pub async fn wait_player_state(&mut self, state: PlayerState) -> Event {
        self.wait_for(
            &format!("{state:?}"),
            |e| matches!(e, Event::PlayerStateUpdate { state: s, .. } if *s == state),
        )
        .await
    }

    /// Waits for a stream update of any kind (`what` names the one the test
    /// expects, for the failure message); returns it.
    pub async fn wait_stream_update(&mut self, what: &str) -> Event {
        self.wait_for(what, |e| matches!(e, Event::RoomStreamUpdate { .. }))
            .await
    }

    /// The next event (fails the test after [`EVENT_TIMEOUT`]).
    pub async fn next(&mut self) -> Event {
        let event = tokio::time::timeout(EVENT_TIMEOUT, self.events.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{}: no event within {EVENT_TIMEOUT:?}; log: {:#?}",
                    self.user_id, self.log
                )
            })
            .unwrap_or_else(|| {
                panic!(
                    "{}: event channel closed; log: {:#?}",
                    self.user_id, self.log
                )
            });
        self.log.push(event.clone());
        event
    }

    /// Skips events until one matches; returns it.
    pub async fn wait_for(&mut self, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
        let deadline = tokio::time::Instant::now() + EVENT_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.next()).await {
                Ok(e) if pred(&e) => return e,
                Ok(_) => continue,
                Err(_) => panic!("{}: never saw {what}; log: {:#?}", self.user_id, self.log),
            }
        }
    }

    /// Waits for a RoomStateUpdate into `state`; returns its error code.
    pub async fn wait_state(&mut self, state: RoomState) -> u32 {
        let e = self
            .wait_for(
                &format!("RoomStateUpdate {state:?}"),
                |e| matches!(e, Event::RoomStateUpdate { state: s, .. } if *s == state),
            )
            .await;
        match e {
            Event::RoomStateUpdate { error_code, .. } => error_code,
            _ => unreachable!("matched above"),
        }
    }

    /// Waits until a remote device event reads `want` (e.g. `"mic a-cam
    /// Mute"`, see [`device_brief`]); returns it.
    pub async fn wait_device(&mut self, want: &str) -> Event {
        self.wait_for(want, |e| device_brief(e).as_deref() == Some(want))
            .await
    }

    /// Collects whatever arrives within `window`.
    pub async fn collect_for(&mut self, window: Duration) -> Vec<Event> {
        let deadline = tokio::time::Instant::now() + window;
        let mut got = Vec::new();
        while let Ok(Some(e)) = tokio::time::timeout_at(deadline, self.events.recv()).await {
            self.log.push(e.clone());
            got.push(e);
        }
        got
    }
}

/// The compact form of an event used in sequence assertions, e.g.
/// `"state Connected 0"`, `"user Add [b]"`, `"count 3"`, `"stream Delete [s1]"`.
pub fn brief(e: &Event) -> String {
    match e {
        Event::RoomStateUpdate {
            state, error_code, ..
        } => format!("state {state:?} {error_code}"),
        Event::RoomUserUpdate {
            update_type, users, ..
        } => format!(
            "user {update_type:?} [{}]",
            users
                .iter()
                .map(|u| u.user_id.as_str())
                .collect::<Vec<_>>()
                .join(",")
        ),
        Event::RoomOnlineUserCountUpdate { count, .. } => format!("count {count}"),
        Event::RoomStreamUpdate {
            update_type,
            streams,
            ..
        } => format!(
            "stream {update_type:?} [{}]",
            streams
                .iter()
                .map(|s| s.stream_id.as_str())
                .collect::<Vec<_>>()
                .join(",")
        ),
        Event::PublisherStateUpdate {
            stream_id,
            state,
            error_code,
            ..
        } => {
            format!("publisher {stream_id} {state:?} {error_code}")
        }
        Event::RoomBroadcastMessage { messages, .. } => format!(
            "broadcast [{}]",
            messages
                .iter()
                .map(|m| m.text.as_str())
                .collect::<Vec<_>>()
                .join(",")
        ),
        Event::RoomTokenWillExpire { .. } => "token will expire".to_owned(),
        Event::RoomStateChanged { reason, .. } => format!("changed {reason:?}"),
        other => format!("{other:?}"),
    }
}

/// `"mic a-cam Mute"` / `"camera a-cam Open"` for the remote device events,
/// `None` for the rest.
pub fn device_brief(e: &Event) -> Option<String> {
    match e {
        Event::RemoteMicStateUpdate { stream_id, state } => {
            Some(format!("mic {stream_id} {state:?}"))
        }
        Event::RemoteCameraStateUpdate { stream_id, state } => {
            Some(format!("camera {stream_id} {state:?}"))
        }
        _ => None,
    }
}

/// Briefs of the state-changing events: without `RoomStateChanged` (which
/// mirrors every state update), first-frame and quality reports (media
/// timing, checked by the media tests) and remote device states (checked by
/// `remote_device_state.rs`).
pub fn briefs(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter(|e| !is_media_detail(e))
        .map(brief)
        .collect()
}

/// Events that report media progress or a remote publisher's devices
/// rather than a room, publisher or player state change.
pub fn is_media_detail(e: &Event) -> bool {
    matches!(
        e,
        Event::RoomStateChanged { .. }
            | Event::RemoteMicStateUpdate { .. }
            | Event::RemoteCameraStateUpdate { .. }
            | Event::PublisherCapturedVideoFirstFrame { .. }
            | Event::PublisherQualityUpdate { .. }
            | Event::PlayerRecvVideoFirstFrame { .. }
            | Event::PlayerRenderVideoFirstFrame { .. }
            | Event::PlayerRecvAudioFirstFrame { .. }
            | Event::PlayerQualityUpdate { .. }
            | Event::CapturedSoundLevelUpdate { .. }
            | Event::RemoteSoundLevelUpdate { .. }
    )
}

/// A two-user call in `room`: `a` publishes `a-cam` (test pattern and tone),
/// `b` plays it onto a video probe; returns once `b`'s player is Playing.
pub async fn one_way_call(server: &TestServer, room: &str) -> (Peer, Peer, media::VideoProbe) {
    let mut a = Peer::join(server.profile(), room, "a", false).await;
    let mut b = Peer::join(server.profile(), room, "b", false).await;
    a.publish("a-cam").await;
    b.wait_stream_update("stream Add").await;
    let video = b.play_video("a-cam");
    b.wait_player_state(PlayerState::Playing).await;
    (a, b, video)
}
