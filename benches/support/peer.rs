//! An in-process engine logged in to a bench's room, with its events.

use media_core::transport::TransportConfig;
use media_core::{Engine, EngineProfile, Event, EventReceiver, RoomConfig, Scenario, User};
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
