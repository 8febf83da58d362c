//! SDK engines against a [`TestServer`]: a [`Peer`] is an engine with the
//! synthetic sources and a log of every event it emitted, with waits that
//! fail the test after [`EVENT_TIMEOUT`].

use crate::media::VideoProbe;
use crate::udp_relay::{UdpRelay, RELAY_IP};
use crate::TestServer;
use media_core::capture::source::{AudioSourceKind, VideoSourceKind};
use media_core::codec::video_config::VideoPreset;
use media_core::transport::TransportConfig;
use media_core::{
    Engine, EngineProfile, Event, EventReceiver, PlayerState, PublishChannel, PublishStreamQuality,
    PublisherState, ReconnectPolicy, RoomConfig, RoomState, Scenario, ScreenShareState, UpdateType,
    User,
};
use std::time::Duration;

use crate::brief::device_brief;

/// How long a test waits for any one expected event before failing.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(15);

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
        use_synthetic_sources(&engine, VideoPreset::P180);
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

    /// Waits for a stream Delete (`what` names it, for the failure
    /// message); returns it.
    pub async fn wait_stream_delete(&mut self, what: &str) -> Event {
        self.wait_for(what, |e| {
            matches!(
                e,
                Event::RoomStreamUpdate {
                    update_type: UpdateType::Delete,
                    ..
                }
            )
        })
        .await
    }

    /// Waits for this engine's screen share to report `state` with
    /// `error_code` (0 for `Capturing` and `Stopped`); returns the event.
    pub async fn wait_share_state(&mut self, state: ScreenShareState, error_code: u32) -> Event {
        self.wait_for(&format!("the share's {state:?} event"), |e| {
            matches!(e, Event::ScreenCaptureStateUpdate { state: s, error_code: c, .. }
                if *s == state && *c == error_code)
        })
        .await
    }

    /// Publishes this engine's screen share as `stream_id` on the aux
    /// channel, waits for `Publishing`, then for `watcher` to see the
    /// stream Add.
    pub async fn publish_share(&mut self, stream_id: &str, watcher: &mut Peer) {
        self.engine
            .start_publishing_stream(stream_id, PublishChannel::Aux)
            .expect("publish accepted");
        self.wait_publisher_state(PublisherState::Publishing).await;
        watcher
            .wait_for(&format!("stream Add of {stream_id}"), |e| {
                matches!(
                    e,
                    Event::RoomStreamUpdate {
                        update_type: UpdateType::Add,
                        ..
                    }
                )
            })
            .await;
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

    /// The publisher quality reports that arrive within `window`, in order.
    pub async fn publisher_qualities(&mut self, window: Duration) -> Vec<PublishStreamQuality> {
        self.collect_for(window)
            .await
            .into_iter()
            .filter_map(|e| match e {
                Event::PublisherQualityUpdate { quality, .. } => Some(quality),
                _ => None,
            })
            .collect()
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

/// Makes `engine`'s main channel publish the synthetic sources (there is no
/// camera or microphone here): the test pattern at `preset` and a 440 Hz
/// tone.
pub fn use_synthetic_sources(engine: &Engine, preset: VideoPreset) {
    engine.set_video_source(VideoSourceKind::TestPattern, PublishChannel::Main);
    engine.set_audio_source(
        AudioSourceKind::Tone { freq_hz: 440.0 },
        PublishChannel::Main,
    );
    engine
        .set_video_config(preset.config(), PublishChannel::Main)
        .expect("preset is valid");
}

/// A two-user call in `room`: `a` publishes `a-cam` (test pattern and tone),
/// `b` plays it onto a video probe; returns once `b`'s player is Playing.
pub async fn one_way_call(server: &TestServer, room: &str) -> (Peer, Peer, VideoProbe) {
    let mut a = Peer::join(server.profile(), room, "a", false).await;
    let mut b = Peer::join(server.profile(), room, "b", false).await;
    a.publish("a-cam").await;
    b.wait_stream_update("stream Add").await;
    let video = b.play_video("a-cam");
    b.wait_player_state(PlayerState::Playing).await;
    (a, b, video)
}

/// A server whose SFU (its one media port, `port`) is reachable only
/// through an impairment relay: it announces the relay's address.
pub async fn behind_relay(port: u16) -> (TestServer, UdpRelay) {
    let relay = UdpRelay::start(port..=port).await;
    let server = TestServer::start_with(|c| {
        c.media.udp_port = port;
        c.media.announced_ips = vec![std::net::IpAddr::from(RELAY_IP)];
    })
    .await;
    (server, relay)
}

/// An engine for `user` that does not announce its own candidates, so the
/// SFU reaches it through [`behind_relay`]'s relay as well.
pub fn relayed_peer(server: &TestServer, user: &str) -> Peer {
    let mut profile = server.profile();
    profile.transport.announce_local_candidates = false;
    Peer::create(profile, user)
}

/// Engine profiles for SDK peers.
impl TestServer {
    /// An engine profile for this server's app.
    pub fn profile(&self) -> EngineProfile {
        self.profile_for(&self.url)
    }

    /// An engine profile pointing at another URL (e.g. a relay).
    pub fn profile_for(&self, url: &str) -> EngineProfile {
        engine_profile(&self.app, url)
    }
}

/// An engine profile for `app` at `url`: media on loopback, retries every
/// 100-500 ms for 30 s.
pub fn engine_profile(app: &server::AppConfig, url: &str) -> EngineProfile {
    EngineProfile {
        app_id: app.app_id,
        app_sign: app.app_sign.clone(),
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
