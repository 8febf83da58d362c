//! An in-process engine logged in to a bench's room, with its events.

use media_core::codec::video_config::VideoPreset;
use media_core::transport::TransportConfig;
use media_core::{
    Engine, EngineProfile, Event, EventReceiver, PlayerState, PublishChannel, PublisherState,
    RoomConfig, Scenario, User,
};
use server::AppConfig;
use std::time::{Duration, Instant};

/// One participant: an engine on loopback, logged in to `room`.
pub(crate) struct Peer {
    /// The engine.
    pub(crate) engine: Engine,
    /// Its events.
    pub(crate) events: EventReceiver,
}

impl Peer {
    /// Creates an engine for `app` at `url` and logs `user` in to `room`.
    pub(crate) fn new(url: &str, app: &AppConfig, room: &str, user: &str) -> Peer {
        let (engine, events) = Engine::create(EngineProfile {
            app_id: app.app_id,
            app_sign: app.app_sign.clone(),
            scenario: Scenario::HighQualityVideoCall,
            server: url.to_owned(),
            reconnect: Default::default(),
            transport: TransportConfig {
                bind_ip: std::net::Ipv4Addr::LOCALHOST.into(),
                ..TransportConfig::default()
            },
            tls: Default::default(),
        })
        .expect("engine");
        engine
            .login_room(room, User::new(user, user), RoomConfig::default())
            .expect("login");
        Peer { engine, events }
    }

    /// Creates a player of `stream` that does not decode (video muted: only
    /// the SFU's fan-out to it counts) and waits until it plays.
    pub(crate) async fn listener(
        url: &str,
        app: &AppConfig,
        room: &str,
        user: &str,
        stream: &str,
    ) -> Peer {
        let mut p = Peer::new(url, app, room, user);
        p.engine.start_playing_stream(stream, None).expect("play");
        p.engine.mute_play_stream_video(stream, true).expect("mute");
        p.wait_player(PlayerState::Playing).await;
        p
    }

    /// Publishes `stream` from the synthetic sources at 720p; how long
    /// `start_publishing_stream` took to reach Publishing.
    pub(crate) async fn publish_720p(&mut self, stream: &str) -> Duration {
        test_support::use_synthetic_sources(&self.engine, VideoPreset::P720);
        let t0 = Instant::now();
        self.engine
            .start_publishing_stream(stream, PublishChannel::Main)
            .expect("publish");
        self.wait(|e| {
            matches!(
                e,
                Event::PublisherStateUpdate {
                    state: PublisherState::Publishing,
                    ..
                }
            )
        })
        .await
            - t0
    }

    /// Waits for the player to report `state`; when it did.
    pub(crate) async fn wait_player(&mut self, state: PlayerState) -> Instant {
        self.wait(|e| matches!(e, Event::PlayerStateUpdate { state: s, .. } if *s == state))
            .await
    }

    /// Waits (at most 30 s) for an event matching `pred`; when it came.
    pub(crate) async fn wait(&mut self, pred: impl Fn(&Event) -> bool) -> Instant {
        loop {
            let e = tokio::time::timeout(Duration::from_secs(30), self.events.recv())
                .await
                .expect("event in time")
                .expect("engine alive");
            if pred(&e) {
                return Instant::now();
            }
        }
    }
}
