//! Media signaling: play subscriptions, SDP offers and trickled ICE
//! candidates from clients, and the SFU's events routed back to sessions.
//!
//! - `PlayStream` subscribes the session to a stream of its app (any room);
//!   `StreamReady` goes out when the stream is live, at once or later, and
//!   `StreamEnded` when its publisher's connection goes away. Subscriptions
//!   last until `StopPlaying` or the session leaves, so a stream that comes
//!   back is announced again.
//! - Messages to a session travel through its connection's outbox (as room
//!   events do, but without sequence numbers or replay): after a resume the
//!   live subscriptions without a player connection get `StreamReady` again.
//! - Peer connections belong to sessions, not to WebSocket connections: a
//!   signaling reconnect leaves the media flowing.

use crate::config::MediaConfig;
use crate::hub::Hub;
use crate::plays::PlaySubscriptions;
use crate::sfu::{ForwardingMute, LegRef, Sfu, SfuObserver, StreamKey};
use crate::store::Cleanup;
use protocol::{ErrorCode, IceCandidate, MediaRole, ServerMessage, VideoLayer};
use std::sync::{Arc, Mutex, MutexGuard};

/// The media half of the server: the SFU and the play subscriptions.
#[derive(Debug)]
pub struct Media {
    sfu: Sfu,
    plays: Arc<Mutex<PlaySubscriptions>>,
    hub: Arc<Hub>,
}

/// Routes the SFU's events to sessions through the hub.
struct Router {
    hub: Arc<Hub>,
    plays: Arc<Mutex<PlaySubscriptions>>,
}

impl SfuObserver for Router {
    fn local_candidate(&self, leg: &LegRef, candidate: IceCandidate) {
        self.hub.send_to_session(
            &leg.session_id,
            ServerMessage::TrickleIce {
                stream_id: leg.stream.stream_id.clone(),
                role: leg.role,
                candidate,
            },
        );
    }

    fn stream_live(&self, stream: &StreamKey) {
        // Under the subscriptions lock, so a concurrent PlayStream sees
        // either "live" or this notice, never both or neither.
        let mut plays = lock(&self.plays);
        let stream_id = &stream.stream_id;
        self.tell(plays.set_live(stream), || ServerMessage::StreamReady {
            stream_id: stream_id.clone(),
        });
    }

    fn stream_ended(&self, stream: &StreamKey) {
        let mut plays = lock(&self.plays);
        let stream_id = &stream.stream_id;
        self.tell(plays.set_ended(stream), || ServerMessage::StreamEnded {
            stream_id: stream_id.clone(),
        });
    }

    fn video_layers(&self, stream: &StreamKey, session_id: &str, active: Vec<VideoLayer>) {
        self.hub.send_to_session(
            session_id,
            ServerMessage::VideoLayers {
                stream_id: stream.stream_id.clone(),
                active,
            },
        );
    }
}

impl Router {
    /// Sends each of `sessions` the message `msg` makes.
    fn tell(&self, sessions: Vec<String>, msg: impl Fn() -> ServerMessage) {
        for session_id in sessions {
            self.hub.send_to_session(&session_id, msg());
        }
    }
}

impl Media {
    /// The SFU for `config`, reporting through `hub`.
    pub fn new(config: MediaConfig, hub: Arc<Hub>) -> Self {
        let plays = Arc::new(Mutex::new(PlaySubscriptions::default()));
        let router = Arc::new(Router {
            hub: Arc::clone(&hub),
            plays: Arc::clone(&plays),
        });
        Media {
            sfu: Sfu::new(config, router),
            plays,
            hub,
        }
    }

    /// The SFU.
    pub fn sfu(&self) -> &Sfu {
        &self.sfu
    }

    /// `PlayStream`: subscribes with a cap on the video layers;
    /// `StreamReady` is queued at once if the stream is live (behind the
    /// caller's direct `Ack`). Asking again replaces the cap.
    pub fn play(&self, stream: &StreamKey, session_id: &str, max_layer: VideoLayer) {
        let mut plays = lock(&self.plays);
        let live = plays.subscribe(stream, session_id, max_layer);
        self.sfu.set_max_layer(stream, session_id, max_layer);
        if live {
            self.hub.send_to_session(
                session_id,
                ServerMessage::StreamReady {
                    stream_id: stream.stream_id.clone(),
                },
            );
        }
    }

    /// `PlayVideoLayer`: changes the cap of a subscription, for its live
    /// player connection at once and its next ones. `false` if the session
    /// did not ask to play the stream.
    pub fn set_max_layer(
        &self,
        stream: &StreamKey,
        session_id: &str,
        max_layer: VideoLayer,
    ) -> bool {
        if !lock(&self.plays).set_cap(stream, session_id, max_layer) {
            return false;
        }
        self.sfu.set_max_layer(stream, session_id, max_layer);
        true
    }

    /// `StopPlaying`: unsubscribes and closes the player connection.
    /// `false` if the session did not play the stream.
    pub async fn stop_playing(&self, stream: &StreamKey, session_id: &str) -> bool {
        let subscribed = lock(&self.plays).unsubscribe(stream, session_id);
        let connected = self.sfu.stop_playing(stream, session_id).await;
        subscribed || connected
    }

    /// `SdpOffer`: the SFU's answer. `owns` says whether the session
    /// published (claimed) the stream.
    pub async fn offer(
        &self,
        stream: &StreamKey,
        session_id: &str,
        role: MediaRole,
        sdp: String,
        owns: bool,
    ) -> Result<String, ErrorCode> {
        let answered = match role {
            MediaRole::Publish => {
                if !owns {
                    return Err(ErrorCode::NotStreamOwner);
                }
                self.sfu.publish(stream, session_id, sdp).await
            }
            MediaRole::Play => {
                let Some(cap) = lock(&self.plays).cap(stream, session_id) else {
                    return Err(ErrorCode::StreamNotLive);
                };
                self.sfu.play(stream, session_id, sdp, cap).await
            }
        };
        answered.map_err(|error| {
            tracing::warn!(stream_id = %stream.stream_id, session_id, ?role, %error, "media offer refused");
            error.code(role)
        })
    }

    /// `TrickleIce` from the client.
    pub async fn candidate(
        &self,
        stream: &StreamKey,
        session_id: &str,
        role: MediaRole,
        candidate: IceCandidate,
    ) {
        let leg = LegRef {
            stream: stream.clone(),
            role,
            session_id: session_id.to_owned(),
        };
        self.sfu.add_candidate(&leg, candidate).await;
    }

    /// A session resumed: live subscriptions without a player connection
    /// get `StreamReady` again (the first may have been lost with the socket).
    pub fn resumed(&self, session_id: &str) {
        let plays = lock(&self.plays);
        for stream in plays.live_streams_of(session_id) {
            if !self.sfu.is_playing(&stream, session_id) {
                self.hub.send_to_session(
                    session_id,
                    ServerMessage::StreamReady {
                        stream_id: stream.stream_id.clone(),
                    },
                );
            }
        }
    }

    /// The media side of store cleanups: a withdrawn stream closes its
    /// publisher connection; a session that left loses its subscriptions and
    /// connections.
    pub async fn apply_cleanups(&self, cleanups: &[Cleanup]) {
        for cleanup in cleanups {
            match cleanup {
                Cleanup::ReleaseStream(stream) => {
                    let key = StreamKey {
                        app_id: stream.app_id,
                        stream_id: stream.id.clone(),
                    };
                    self.sfu.stop_publishing(&key, &stream.session_id).await;
                    // A server mute ends with the stream.
                    self.sfu
                        .set_forwarding_mute(&key, ForwardingMute::default());
                }
                Cleanup::LeaveRoom(member) => {
                    lock(&self.plays).drop_session(&member.session_id);
                    self.sfu.close_session(&member.session_id).await;
                }
                Cleanup::ReleaseUser(_) => {}
            }
        }
    }

    /// Closes every peer connection (server shutdown).
    pub async fn close_all(&self) {
        self.sfu.close_all().await;
    }

    /// (streams with subscribers, sessions with subscriptions).
    pub fn subscription_counts(&self) -> (usize, usize) {
        lock(&self.plays).counts()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
