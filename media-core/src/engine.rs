//! The engine: the handle an app creates once per call session, with one
//! method per SDK call. Calls check their arguments and the engine's state at
//! once and never wait for the network; what happens next arrives as
//! [`Event`]s on the receiver returned by [`Engine::create`].

use crate::audio_processing::{AecMode, AnsMode, ProcessingConfig};
use crate::capture::source::{AudioSourceKind, VideoSourceKind};
use crate::capture::speaker::CustomAudioOutput;
use crate::capture::{camera, microphone, speaker, DeviceError, DeviceInfo};
use crate::codec::video_config::VideoConfig;
use crate::codec::CodecError;
use crate::error::{EngineError, PlayerError, PublisherError, RoomError};
use crate::event::{Event, User};
use crate::media::{AudioSink, Media};
use crate::render::{Canvas, RenderError};
use crate::room::driver::{self, Shared};
use crate::room::reconnect::ReconnectPolicy;
use crate::room::session::{Session, SessionConfig};
use crate::room::tls::TlsOptions;
use crate::room::{PublishChannel, RoomConfig, VideoStreamType};
use crate::transport::TransportConfig;
use protocol::VideoLayer;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// The receiving end of an engine's events (the SDK's callbacks).
pub type EventReceiver = mpsc::UnboundedReceiver<Event>;

/// How long [`Engine::destroy`] waits for the logout to be sent and the
/// engine's task to end.
const DESTROY_TIMEOUT: Duration = Duration::from_secs(2);

/// The application's audio/video scenario; picks video and audio defaults
/// (used by the media half of the SDK).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Scenario {
    /// General purpose.
    #[default]
    Default,
    /// One-to-one or small group video calls at standard quality.
    StandardVideoCall,
    /// Video calls at higher resolution and bitrate.
    HighQualityVideoCall,
    /// One host, many viewers (live streaming).
    Broadcast,
}

/// Everything needed to create an engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineProfile {
    /// The AppID (non-zero), as registered on the server.
    pub app_id: u32,
    /// The AppSign: 64 hexadecimal characters, or `""` when every login
    /// carries a token ([`RoomConfig::token`]). It never leaves this process:
    /// logins prove it with an HMAC over the server's challenge.
    pub app_sign: String,
    /// The scenario.
    pub scenario: Scenario,
    /// The signaling endpoint, e.g. `ws://127.0.0.1:8080/ws`.
    pub server: String,
    /// Reconnect timing.
    pub reconnect: ReconnectPolicy,
    /// Media transport settings (the UDP bind address, jitter buffer, bandwidth bounds).
    pub transport: TransportConfig,
    /// How a `wss://` server is trusted: the system's roots, an extra CA, or
    /// a pinned certificate fingerprint.
    pub tls: TlsOptions,
}

/// A handle to one engine. Cheap to clone; all clones drive the same engine.
/// Not a process-wide singleton: a process may create many engines (each has
/// its own connection and event channel).
///
/// Dropping the last handle without [`Engine::destroy`] also logs out and ends
/// the engine's task, but without waiting for the logout to be sent.
#[derive(Debug, Clone)]
pub struct Engine {
    handle: Arc<Handle>,
}

#[derive(Debug)]
struct Handle {
    shared: Arc<Shared>,
    media: Arc<Media>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        mark_destroyed(&self.shared);
    }
}

impl Engine {
    /// Creates an engine and returns it with its event receiver. Listen to
    /// the receiver before logging in so no event is missed (they queue
    /// meanwhile).
    ///
    /// Checks that `app_id` is not 0, `app_sign` is empty or 64 hex
    /// characters and `server` is a `ws://` or `wss://` URL.
    ///
    /// The engine spawns its task on the current Tokio runtime; outside one
    /// this fails with [`EngineError::NoRuntime`].
    pub fn create(profile: EngineProfile) -> Result<(Engine, EventReceiver), EngineError> {
        if profile.app_id == 0 {
            return Err(EngineError::InvalidAppId);
        }
        if !profile.app_sign.is_empty() && !protocol::auth::is_valid_app_sign(&profile.app_sign) {
            return Err(EngineError::InvalidAppSign);
        }
        let server = profile.server.trim();
        let has_host = |rest: &str| !rest.is_empty() && !rest.starts_with('/');
        let valid_url = server
            .strip_prefix("ws://")
            .or_else(|| server.strip_prefix("wss://"))
            .is_some_and(has_host);
        if !valid_url {
            return Err(EngineError::InvalidServerUrl);
        }
        let tls = crate::room::tls::client_config(&profile.tls)
            .map_err(|_| EngineError::InvalidTlsConfig)?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| EngineError::NoRuntime)?;
        let session = Session::new(SessionConfig {
            app_id: profile.app_id,
            app_sign: profile.app_sign.clone(),
            reconnect: profile.reconnect,
            server_url: server.to_owned(),
        });
        let shared = Arc::new(Shared::new(session));
        let (tx, rx) = mpsc::unbounded_channel();
        let (facts_tx, facts_rx) = mpsc::unbounded_channel();
        let media = Arc::new(Media::new(
            runtime.clone(),
            profile.transport.clone(),
            Arc::clone(&tls),
            VideoConfig::for_scenario(profile.scenario),
            facts_tx,
        ));
        let task = runtime.spawn(driver::run(
            shared.clone(),
            server.to_owned(),
            tls,
            tx,
            media.clone(),
            facts_rx,
        ));
        tracing::info!(app_id = profile.app_id, scenario = ?profile.scenario, server, "engine created");
        let engine = Engine {
            handle: Arc::new(Handle {
                shared,
                media,
                task: Mutex::new(Some(task)),
            }),
        };
        Ok((engine, rx))
    }

    /// Logs in to `room_id` as `user` (the room is created on first login).
    ///
    /// Emits `RoomStateUpdate(Connecting)` at once, then `Connected` or
    /// `Disconnected(code)`; with `config.is_user_status_notify`, the users
    /// already present and the online count follow, then the streams already
    /// published. The connection is kept alive and resumed after network
    /// interruptions within the [`ReconnectPolicy`] window.
    pub fn login_room(
        &self,
        room_id: &str,
        user: User,
        config: RoomConfig,
    ) -> Result<(), RoomError> {
        self.call(RoomError::EngineDestroyed, |s, now| {
            s.login(now, room_id, user, config)
        })
    }

    /// Leaves the room: publishers report `NoPublish`, the room
    /// `Disconnected(0)`, at once; the server is told when connected.
    pub fn logout_room(&self) -> Result<(), RoomError> {
        self.call(RoomError::EngineDestroyed, |s, now| s.logout(now))
    }

    /// Replaces the login token (answer to [`Event::RoomTokenWillExpire`]).
    /// A refusal by the server is reported as an [`Event::Debug`].
    pub fn renew_token(&self, token: &str) -> Result<(), RoomError> {
        self.call(RoomError::EngineDestroyed, |s, now| {
            s.renew_token(now, token)
        })
    }

    /// Sends a broadcast message to everyone else in the room and resolves
    /// with its message ID, or with the server's refusal
    /// ([`RoomError::Rejected`], e.g. `BroadcastRateLimited`),
    /// [`RoomError::RequestTimeout`] after 5 s, or [`RoomError::LoggedOut`]
    /// when the room is left meanwhile. Argument errors return at once.
    pub async fn send_broadcast_message(&self, text: &str) -> Result<u64, RoomError> {
        let rx = {
            let shared = &self.handle.shared;
            let mut g = shared.lock();
            if g.destroyed {
                return Err(RoomError::EngineDestroyed);
            }
            let request = g.session.send_broadcast(Instant::now(), text)?;
            let (tx, rx) = oneshot::channel();
            g.waiters.insert(request, tx);
            drop(g);
            shared.wake();
            rx
        };
        rx.await.unwrap_or(Err(RoomError::EngineDestroyed))
    }

    /// Starts publishing the local stream `stream_id` on `channel`: the
    /// channel's video and audio sources are captured, encoded (H.264, Opus)
    /// and sent to the SFU. Needs [`Engine::login_room`] first (it may still
    /// be connecting).
    ///
    /// Emits `PublisherStateUpdate(PublishRequesting)` at once, then
    /// `Publishing` once the server has claimed the stream ID and the media
    /// connection is up, or `NoPublish(code)` (e.g. `StreamIdInUse`). A
    /// missing camera or microphone is reported as
    /// [`Event::LocalDeviceError`]; what remains is still published.
    pub fn start_publishing_stream(
        &self,
        stream_id: &str,
        channel: PublishChannel,
    ) -> Result<(), PublisherError> {
        self.call(PublisherError::EngineDestroyed, |s, now| {
            s.start_publishing(now, stream_id, channel)
        })
    }

    /// Stops publishing on `channel`: `PublisherStateUpdate(NoPublish)` at once.
    pub fn stop_publishing_stream(&self, channel: PublishChannel) -> Result<(), PublisherError> {
        self.call(PublisherError::EngineDestroyed, |s, now| {
            s.stop_publishing(now, channel)
        })
    }

    /// Starts playing `stream_id`, showing its video on `canvas` (or nowhere:
    /// audio only). Needs [`Engine::login_room`] first.
    ///
    /// Emits `PlayerStateUpdate(PlayRequesting)` at once; `Playing` once the
    /// stream is live and its media connection is up (a stream that is not
    /// published yet is waited for); back to `PlayRequesting(StreamEnded)`
    /// when its publisher stops, and `Playing` again if it returns. Then
    /// `PlayerRecvVideoFirstFrame`, `PlayerRenderVideoFirstFrame` and a
    /// `PlayerQualityUpdate` every 3 s.
    pub fn start_playing_stream(
        &self,
        stream_id: &str,
        canvas: Option<Canvas>,
    ) -> Result<(), PlayerError> {
        self.handle.media.set_player_canvas(stream_id, canvas);
        self.call(PlayerError::EngineDestroyed, |s, now| {
            s.start_playing(now, stream_id)
        })
    }

    /// Which simulcast layer to receive of a played stream (ZEGO's
    /// `setPlayStreamVideoType`): `Small` caps it at the lowest layer (a
    /// thumbnail tile), `Big` and `Default` leave it uncapped (the SFU sends
    /// what the downlink allows). Kept for the stream while it is played,
    /// across reconnects; a stream not being played is
    /// [`PlayerError::NotPlaying`].
    pub fn set_play_stream_video_type(
        &self,
        stream_id: &str,
        video_type: VideoStreamType,
    ) -> Result<(), PlayerError> {
        self.set_play_stream_video_layer(stream_id, video_type.max_layer())
    }

    /// Caps the simulcast layer received of a played stream at `max_layer`
    /// (see [`set_play_stream_video_type`](Self::set_play_stream_video_type);
    /// `Medium` asks for half the publisher's size at most).
    pub fn set_play_stream_video_layer(
        &self,
        stream_id: &str,
        max_layer: VideoLayer,
    ) -> Result<(), PlayerError> {
        self.call(PlayerError::EngineDestroyed, |s, now| {
            s.set_play_video_layer(now, stream_id, max_layer)
        })
    }

    /// Stops playing `stream_id`: `PlayerStateUpdate(NoPlay)` at once.
    pub fn stop_playing_stream(&self, stream_id: &str) -> Result<(), PlayerError> {
        self.call(PlayerError::EngineDestroyed, |s, now| {
            s.stop_playing(now, stream_id)
        })
    }

    /// Shows the main channel's captured video on `canvas` (mirrored for a
    /// window, and for an already open renderer from [`Canvas::renderer`]).
    /// Works with or without publishing. A camera that cannot be opened is
    /// reported as [`Event::LocalDeviceError`].
    pub fn start_preview(&self, canvas: Canvas) -> Result<(), RenderError> {
        if let Some(renderer) = canvas.opened_renderer() {
            renderer.set_mirror(true);
        }
        let mirrored = canvas.window_target().is_some();
        let renderer = canvas.mirrored(mirrored).open()?;
        self.handle
            .media
            .start_preview(PublishChannel::Main, renderer);
        Ok(())
    }

    /// Stops the preview (capture stops too unless publishing).
    pub fn stop_preview(&self) {
        self.handle.media.stop_preview(PublishChannel::Main);
    }

    /// Chooses a channel's video source: a camera (the default), the test
    /// pattern, a `.y4m` file or custom frames. Applies at once if running.
    pub fn set_video_source(&self, kind: VideoSourceKind, channel: PublishChannel) {
        self.handle.media.set_video_source(channel, kind);
    }

    /// Chooses a channel's audio source: a microphone (the default), a tone
    /// or custom PCM. Applies at once if running.
    pub fn set_audio_source(&self, kind: AudioSourceKind, channel: PublishChannel) {
        self.handle.media.set_audio_source(channel, kind);
    }

    /// Uses the camera `device_id` (from [`Engine::video_devices`]) on `channel`.
    pub fn use_video_device(
        &self,
        device_id: &str,
        channel: PublishChannel,
    ) -> Result<(), DeviceError> {
        if !camera::list_cameras().iter().any(|d| d.id == device_id) {
            return Err(DeviceError::DeviceNotFound(device_id.to_owned()));
        }
        self.set_video_source(
            VideoSourceKind::Camera {
                id: Some(device_id.to_owned()),
            },
            channel,
        );
        Ok(())
    }

    /// Uses the microphone `device_id` (from [`Engine::audio_devices`]) on the main channel.
    pub fn use_audio_device(&self, device_id: &str) -> Result<(), DeviceError> {
        if !microphone::list_microphones()
            .iter()
            .any(|d| d.id == device_id)
        {
            return Err(DeviceError::DeviceNotFound(device_id.to_owned()));
        }
        self.set_audio_source(
            AudioSourceKind::Microphone {
                id: Some(device_id.to_owned()),
            },
            PublishChannel::Main,
        );
        Ok(())
    }

    /// Plays received audio on the speaker `device_id` (from
    /// [`Engine::speaker_devices`]); `None` = the default output.
    pub fn use_speaker_device(&self, device_id: Option<&str>) -> Result<(), DeviceError> {
        if let Some(id) = device_id {
            if !speaker::list_speakers().iter().any(|d| d.id == id) {
                return Err(DeviceError::DeviceNotFound(id.to_owned()));
            }
        }
        self.handle.media.set_speaker(device_id.map(str::to_owned));
        if self.handle.media.audio_processing().loopback_on() {
            self.start_audio_loopback();
        }
        Ok(())
    }

    /// Plays a short test chime (660 Hz then 880 Hz, 0.4 s each, at
    /// -12 dBFS) on the speaker `device_id` (from [`Engine::speaker_devices`]),
    /// or on the engine's speaker ([`Engine::use_speaker_device`]) for
    /// `None`, and resolves once it has been played (about 1 s).
    ///
    /// Works in any state, before login too. The chime has an output
    /// stream of its own: audio being played (a call) goes on, mixed with
    /// it. Fails at once with [`DeviceError::DeviceNotFound`] for an unknown
    /// device, [`DeviceError::NoSpeaker`] when there is no output at all, or
    /// [`DeviceError::DeviceOpenFailed`]; it never falls back to silence.
    pub async fn play_test_sound(&self, device_id: Option<&str>) -> Result<(), DeviceError> {
        let id = device_id
            .map(str::to_owned)
            .or_else(|| self.handle.media.speaker_id());
        // Opening the device and pacing the chime block.
        tokio::task::spawn_blocking(move || speaker::play_test_sound(id.as_deref()))
            .await
            .map_err(DeviceError::TestSound)?
    }

    /// The cameras present (empty when there are none).
    pub fn video_devices(&self) -> Vec<DeviceInfo> {
        camera::list_cameras()
    }

    /// The microphones present.
    pub fn audio_devices(&self) -> Vec<DeviceInfo> {
        microphone::list_microphones()
    }

    /// The speakers present.
    pub fn speaker_devices(&self) -> Vec<DeviceInfo> {
        speaker::list_speakers()
    }

    /// Sets a channel's video resolution, frame rate and bitrate (see
    /// [`VideoConfig`] and its presets). Applies at once if running.
    pub fn set_video_config(
        &self,
        config: VideoConfig,
        channel: PublishChannel,
    ) -> Result<(), CodecError> {
        config.validate()?;
        self.handle.media.set_video_config(channel, config);
        Ok(())
    }

    /// A channel's video config.
    pub fn video_config(&self, channel: PublishChannel) -> VideoConfig {
        self.handle.media.video_config(channel)
    }

    /// Stops (or resumes) sending video on `channel`; capture and preview go on.
    /// Holds whether or not the channel runs: set before previewing or
    /// publishing, it applies from the start; it survives pipeline restarts.
    /// Players of the channel's stream get [`Event::RemoteCameraStateUpdate`].
    pub fn mute_publish_stream_video(&self, mute: bool, channel: PublishChannel) {
        self.handle.media.mute_publish_video(channel, mute);
        self.local_mute(crate::room::session::LocalMute::StreamVideo(channel), mute);
    }

    /// Stops (or resumes) sending audio on `channel`. Like
    /// [`Engine::mute_publish_stream_video`], it holds whether or not the
    /// channel runs.
    /// Players of the channel's stream get [`Event::RemoteMicStateUpdate`].
    pub fn mute_publish_stream_audio(&self, mute: bool, channel: PublishChannel) {
        self.handle.media.mute_publish_audio(channel, mute);
        self.local_mute(crate::room::session::LocalMute::StreamAudio(channel), mute);
    }

    /// Turns the camera off (no capture, no preview, nothing sent) or back on.
    /// Like [`Engine::mute_publish_stream_video`], it holds whether or not the
    /// channel runs.
    /// Players of the channel's stream get [`Event::RemoteCameraStateUpdate`].
    pub fn enable_camera(&self, enable: bool, channel: PublishChannel) {
        self.handle.media.enable_camera(channel, enable);
        self.local_mute(crate::room::session::LocalMute::CameraOff(channel), !enable);
    }

    /// Mutes the microphone for every channel (nothing is sent while muted).
    /// Players of the published streams get [`Event::RemoteMicStateUpdate`].
    pub fn mute_microphone(&self, mute: bool) {
        self.handle.media.mute_microphone(mute);
        self.local_mute(crate::room::session::LocalMute::Microphone, mute);
    }

    /// Sends audio with RED (RFC 2198) redundancy on every channel when the
    /// SFU accepted it: none below 2 % uplink loss, then one to three
    /// earlier Opus frames in each packet as loss grows. On by default;
    /// off sends plain Opus (with in-band FEC) whatever the loss.
    pub fn enable_audio_red(&self, enable: bool) {
        self.handle.media.enable_audio_red(enable);
    }

    /// Opus DTX on every channel: in silence no audio packets are sent
    /// (players conceal the gap as comfort noise). Off by default.
    pub fn enable_audio_dtx(&self, enable: bool) {
        self.handle.media.enable_audio_dtx(enable);
    }

    /// Acoustic echo cancellation of the captured audio, with what the
    /// speaker plays as the reference (ZEGO: `enableAEC`). On by default;
    /// takes effect on the next 10 ms of audio, before or during a call.
    pub fn enable_aec(&self, enable: bool) {
        self.processing(|c| c.aec = enable);
    }

    /// How hard echo cancellation suppresses residual echo (ZEGO:
    /// `setAECMode`; default [`AecMode::Medium`]). A change restarts the
    /// canceller, which re-converges in about a second.
    pub fn set_aec_mode(&self, mode: AecMode) {
        self.processing(|c| c.aec_mode = mode);
    }

    /// Echo cancellation also while the output looks like headphones or a
    /// headset by its name (ZEGO: `enableHeadphoneAEC`). On by default,
    /// since a name is only a hint.
    pub fn enable_headphone_aec(&self, enable: bool) {
        self.processing(|c| c.headphone_aec = enable);
    }

    /// Noise suppression of the captured audio (ZEGO: `enableANS`). On by
    /// default.
    pub fn enable_ans(&self, enable: bool) {
        self.processing(|c| c.ans = enable);
    }

    /// Noise suppression strength (ZEGO: `setANSMode`; default
    /// [`AnsMode::Medium`]); [`AnsMode::Ai`] is RNNoise, which also takes
    /// out non-stationary noise. Every mode takes keyboard clicks out.
    pub fn set_ans_mode(&self, mode: AnsMode) {
        self.processing(|c| c.ans_mode = mode);
    }

    /// Automatic gain control of the captured audio (ZEGO: `enableAGC`):
    /// a quiet voice is raised to speech level. On by default.
    pub fn enable_agc(&self, enable: bool) {
        self.processing(|c| c.agc = enable);
    }

    /// Plays received audio into an output the app pulls at its own clock
    /// (ZEGO: custom audio render) instead of a speaker device, for
    /// players started afterwards; what the app pulls is the echo
    /// canceller's reference. [`use_speaker_device`](Self::use_speaker_device)
    /// goes back to a device.
    pub fn use_custom_audio_output(&self) -> CustomAudioOutput {
        self.handle.media.use_custom_audio_output()
    }

    /// Plays the processed microphone (or custom audio) on the speaker, so
    /// the user hears what others will hear: echo cancellation, noise
    /// suppression and gain control applied (a device check before a call;
    /// Agora's `startAudioDeviceLoopbackTest`, ZEGO's ear return). Works
    /// while the capture runs: previewing ([`start_preview`](Self::start_preview))
    /// or publishing; not for the synthetic tone. What is played is the echo
    /// canceller's reference, so its echo is not sent. Follows
    /// [`use_speaker_device`](Self::use_speaker_device); without an output
    /// the audio goes to the null speaker. Meant for before a call: during
    /// one, the loopback's frames queue on the speaker with the played
    /// streams'.
    pub fn start_audio_loopback(&self) {
        self.handle.media.set_audio_loopback(true);
    }

    /// Stops [`start_audio_loopback`](Self::start_audio_loopback) from the
    /// next captured frame on. Does nothing when it is not running.
    pub fn stop_audio_loopback(&self) {
        self.handle.media.set_audio_loopback(false);
    }

    /// The capture processing settings in force.
    pub fn audio_processing_config(&self) -> ProcessingConfig {
        self.handle.media.audio_processing().config()
    }

    /// Changes the capture processing settings; every audio loop applies
    /// them before its next frame.
    fn processing(&self, change: impl FnOnce(&mut ProcessingConfig)) {
        self.handle.media.audio_processing().update(change);
    }

    /// Simulcast publishing (ZEGO's dual-stream video): a channel whose
    /// video config is 720p or more publishes three H.264 layers (the
    /// configured size, half, a quarter), 360p up to 720p two, smaller one;
    /// the SFU sends each player the layer its downlink and
    /// [`set_play_stream_video_type`](Self::set_play_stream_video_type)
    /// allow, and the publisher encodes only the layers someone plays. On
    /// by default; off publishes one layer whatever the size. A shared
    /// screen always publishes one full-size layer. Applies to publishing
    /// connections made afterwards.
    pub fn enable_video_simulcast(&self, enable: bool) {
        self.handle.media.enable_video_simulcast(enable);
    }

    /// Gives `channel` the default sources (camera, microphone) for its
    /// next start without restarting it while it still runs (a share that
    /// stops: its pipeline ends with the stream, and opening the camera
    /// meanwhile would only raise device errors).
    pub(crate) fn default_sources_for_next_start(&self, channel: PublishChannel) {
        self.handle.media.set_sources_for_next_start(
            channel,
            VideoSourceKind::Camera { id: None },
            AudioSourceKind::Microphone { id: None },
        );
    }

    /// Delivers `event` on the engine's event channel, in order with the
    /// session's events (for SDK parts outside the session, e.g. the screen
    /// share's state). Queued in the session itself, so an event emitted
    /// before [`Engine::destroy`] comes before the logout's and is
    /// delivered before the channel closes.
    pub(crate) fn emit(&self, event: Event) {
        let shared = &self.handle.shared;
        shared.lock().session.emit(event);
        shared.wake();
    }

    /// Lets the session announce what the published streams send now.
    fn local_mute(&self, mute: crate::room::session::LocalMute, on: bool) {
        let _ = self.call((), |s, now| {
            s.set_local_mute(now, mute, on);
            Ok::<(), ()>(())
        });
    }

    /// Zooms the camera of `channel`; `ZoomUnsupported` when it has no zoom
    /// control (or the source is not a camera).
    pub fn set_camera_zoom_factor(
        &self,
        factor: f64,
        channel: PublishChannel,
    ) -> Result<(), DeviceError> {
        self.handle.media.set_zoom(channel, factor)
    }

    /// Stops (or resumes) receiving a played stream's video into the decoder and
    /// canvas: muted video is not decoded; unmuting resumes at the next keyframe.
    pub fn mute_play_stream_video(&self, stream_id: &str, mute: bool) -> Result<(), PlayerError> {
        self.mute_player(stream_id, Some(mute), None)
    }

    /// Stops (or resumes) playing out a played stream's audio.
    pub fn mute_play_stream_audio(&self, stream_id: &str, mute: bool) -> Result<(), PlayerError> {
        self.mute_player(stream_id, None, Some(mute))
    }

    fn mute_player(
        &self,
        stream_id: &str,
        video: Option<bool>,
        audio: Option<bool>,
    ) -> Result<(), PlayerError> {
        self.call(PlayerError::EngineDestroyed, |s, _| {
            if s.is_playing(stream_id) {
                Ok(())
            } else {
                Err(PlayerError::NotPlaying)
            }
        })?;
        self.handle.media.mute_player(stream_id, video, audio);
        Ok(())
    }

    /// Receives the decoded audio of every played stream (`None` to stop).
    pub fn set_audio_sink(&self, sink: Option<AudioSink>) {
        self.handle.media.set_audio_sink(sink);
    }

    /// Starts the sound level monitor, or changes its interval when it runs
    /// (ZEGO: `startSoundLevelMonitor`). Every `interval` (clamped to
    /// 100 ms..=3000 ms) the engine reports [`Event::CapturedSoundLevelUpdate`]
    /// (the main channel's captured audio, muted or not, previewing or
    /// publishing; 0 when nothing is captured) and, while streams are
    /// played, [`Event::RemoteSoundLevelUpdate`]. Works in any state, before
    /// login too; never fails.
    pub fn start_sound_level_monitor(&self, interval: std::time::Duration) {
        self.handle.media.start_sound_level_monitor(interval);
    }

    /// Stops the sound level monitor (ZEGO: `stopSoundLevelMonitor`); no
    /// level event follows. Does nothing when it is not running.
    pub fn stop_sound_level_monitor(&self) {
        self.handle.media.stop_sound_level_monitor();
    }

    /// Destroys the engine: logs out if logged in, waits until the logout
    /// has been sent (or failed) and the engine's task has ended, at most
    /// about 2 s. Events produced by the logout are still delivered, then the
    /// event channel closes. Afterwards every call returns `EngineDestroyed`.
    pub async fn destroy(&self) {
        mark_destroyed(&self.handle.shared);
        let task = self
            .handle
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(mut task) = task {
            if tokio::time::timeout(DESTROY_TIMEOUT, &mut task)
                .await
                .is_err()
            {
                tracing::warn!("engine task did not end in time; aborting it");
                task.abort();
            }
        }
    }

    fn call<T, E>(
        &self,
        destroyed: E,
        f: impl FnOnce(&mut Session, Instant) -> Result<T, E>,
    ) -> Result<T, E> {
        let shared = &self.handle.shared;
        let mut g = shared.lock();
        if g.destroyed {
            return Err(destroyed);
        }
        let result = f(&mut g.session, Instant::now());
        drop(g);
        shared.wake();
        result
    }
}

/// Marks the engine destroyed (logging out first) and wakes its task.
fn mark_destroyed(shared: &Shared) {
    let mut g = shared.lock();
    if !g.destroyed {
        g.destroyed = true;
        if g.session.is_logged_in() {
            let _ = g.session.logout(Instant::now());
        }
    }
    drop(g);
    shared.wake();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{PublisherState, RoomState};
    use futures_util::{SinkExt, StreamExt};
    use protocol::{AckBody, ClientMessage, ErrorCode, LoginOk, ServerMessage, PROTOCOL_VERSION};
    use tokio::net::TcpListener;
    use tokio_tungstenite::tungstenite::Message;

    const SIGN: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    fn profile(server: String) -> EngineProfile {
        EngineProfile {
            app_id: 1,
            app_sign: SIGN.into(),
            scenario: Scenario::Default,
            server,
            reconnect: ReconnectPolicy {
                initial_backoff: Duration::from_millis(20),
                ..Default::default()
            },
            transport: TransportConfig::default(),
            tls: TlsOptions::default(),
        }
    }

    type ServerWs = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

    async fn accept(listener: &TcpListener) -> ServerWs {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        let challenge = ServerMessage::Challenge {
            version: PROTOCOL_VERSION,
            nonce: "n".into(),
        };
        ws.send(Message::text(challenge.encode())).await.unwrap();
        ws
    }

    async fn recv(ws: &mut ServerWs) -> ClientMessage {
        loop {
            match ws.next().await.unwrap().unwrap() {
                Message::Text(t) => return ClientMessage::decode(t.as_str()).unwrap(),
                Message::Close(_) => panic!("closed"),
                _ => {}
            }
        }
    }

    async fn send(ws: &mut ServerWs, msg: ServerMessage) {
        ws.send(Message::text(msg.encode())).await.unwrap();
    }

    fn login_ok() -> ServerMessage {
        ServerMessage::LoginOk(LoginOk {
            session_id: "s".into(),
            resume_key: "k".into(),
            room_id: "r1".into(),
            users: vec![],
            streams: vec![],
            online_count: 1,
            seq: 0,
            heartbeat_interval_ms: 5000,
            heartbeat_timeout_ms: 15000,
            token_expires_in_ms: None,
            ice_servers: Vec::new(),
        })
    }

    async fn next_state(events: &mut EventReceiver) -> (RoomState, u32) {
        loop {
            match events.recv().await.unwrap() {
                Event::RoomStateUpdate {
                    state, error_code, ..
                } => return (state, error_code),
                _ => continue,
            }
        }
    }

    #[test]
    fn create_outside_a_runtime_is_an_error() {
        let err = Engine::create(profile("ws://127.0.0.1:1/ws".into()))
            .map(|_| ())
            .unwrap_err();
        assert!(matches!(err, EngineError::NoRuntime), "{err:?}");
        assert_eq!(err.code(), protocol::ErrorCode::NoRuntime);
    }

    #[test]
    fn create_validates_the_profile() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _guard = rt.enter();
        let ok = profile("ws://127.0.0.1:1/ws".into());
        let with = |f: fn(&mut EngineProfile)| {
            let mut p = ok.clone();
            f(&mut p);
            Engine::create(p).map(|_| ()).unwrap_err()
        };
        assert!(matches!(with(|p| p.app_id = 0), EngineError::InvalidAppId));
        assert!(matches!(
            with(|p| p.app_sign = "abc".into()),
            EngineError::InvalidAppSign
        ));
        assert!(matches!(
            with(|p| p.server = "http://x/ws".into()),
            EngineError::InvalidServerUrl
        ));
        assert!(matches!(
            with(|p| p.server = "ws://".into()),
            EngineError::InvalidServerUrl
        ));
        let mut token_only = ok.clone();
        token_only.app_sign = String::new();
        assert!(Engine::create(token_only).is_ok());
        assert!(Engine::create(ok).is_ok());
    }

    #[tokio::test]
    async fn login_publish_reconnect_and_destroy_over_a_socket() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/ws", listener.local_addr().unwrap());
        let (engine, mut events) = Engine::create(profile(url)).unwrap();
        let other = engine.clone();
        engine
            .login_room("r1", User::new("u1", "A"), RoomConfig::default())
            .unwrap();
        assert_eq!(
            other.login_room("r1", User::new("u1", "A"), RoomConfig::default()),
            Err(RoomError::AlreadyLoggedIn)
        );
        assert_eq!(next_state(&mut events).await, (RoomState::Connecting, 0));

        let mut ws = accept(&listener).await;
        assert!(matches!(recv(&mut ws).await, ClientMessage::Login(_)));
        send(&mut ws, login_ok()).await;
        assert_eq!(next_state(&mut events).await, (RoomState::Connected, 0));

        engine
            .start_publishing_stream("p1", PublishChannel::Main)
            .unwrap();
        let ClientMessage::PublishStream { request_id, .. } = recv(&mut ws).await else {
            panic!("expected publish");
        };
        send(
            &mut ws,
            ServerMessage::Ack {
                request_id,
                body: AckBody::StreamPublished {
                    stream_id: "p1".into(),
                },
            },
        )
        .await;

        // Broadcast round trip.
        let (result, msg) = tokio::join!(engine.send_broadcast_message("hi"), async {
            let msg = recv(&mut ws).await;
            if let ClientMessage::SendBroadcast { request_id, .. } = msg {
                send(
                    &mut ws,
                    ServerMessage::Ack {
                        request_id,
                        body: AckBody::BroadcastSent { message_id: 9 },
                    },
                )
                .await;
            }
            msg
        });
        assert!(matches!(msg, ClientMessage::SendBroadcast { .. }));
        assert_eq!(result, Ok(9));

        // The server drops the connection: the engine resumes.
        drop(ws);
        assert_eq!(
            next_state(&mut events).await,
            (RoomState::Connecting, ErrorCode::NetworkInterrupted.code())
        );
        let mut ws = accept(&listener).await;
        assert!(matches!(recv(&mut ws).await, ClientMessage::Resume(_)));
        send(&mut ws, ServerMessage::Resumed { missed: vec![] }).await;
        assert_eq!(next_state(&mut events).await, (RoomState::Connected, 0));

        // Destroy: the logout is on the wire when it resolves.
        engine.destroy().await;
        // Media negotiation for the published stream may be on the wire first.
        let logout = loop {
            match recv(&mut ws).await {
                ClientMessage::SdpOffer { .. } | ClientMessage::TrickleIce { .. } => continue,
                other => break other,
            }
        };
        assert!(matches!(logout, ClientMessage::Logout { .. }), "{logout:?}");
        let mut rest = Vec::new();
        while let Some(e) = events.recv().await {
            rest.push(e);
        }
        assert!(rest.iter().any(|e| matches!(
            e,
            Event::PublisherStateUpdate {
                state: PublisherState::NoPublish,
                ..
            }
        )));
        assert!(matches!(rest.last(), Some(Event::RoomStateChanged { .. })));
        assert_eq!(other.logout_room(), Err(RoomError::EngineDestroyed));
        assert_eq!(
            other.send_broadcast_message("x").await,
            Err(RoomError::EngineDestroyed)
        );
    }

    #[tokio::test]
    async fn destroy_without_login_or_server_is_quick() {
        let (engine, mut events) = Engine::create(profile("ws://127.0.0.1:9/ws".into())).unwrap();
        engine
            .login_room("r1", User::new("u1", ""), RoomConfig::default())
            .unwrap();
        engine.destroy().await;
        let mut states = Vec::new();
        while let Some(e) = events.recv().await {
            if let Event::RoomStateUpdate { state, .. } = e {
                states.push(state);
            }
        }
        assert_eq!(states, [RoomState::Connecting, RoomState::Disconnected]);
    }

    #[tokio::test]
    async fn destroy_delivers_an_event_emitted_just_before_it_in_order() {
        let (engine, mut events) = Engine::create(profile("ws://127.0.0.1:9/ws".into())).unwrap();
        engine
            .login_room("r1", User::new("u1", ""), RoomConfig::default())
            .unwrap();
        let stopped = Event::ScreenCaptureStateUpdate {
            state: crate::ScreenShareState::Stopped,
            error_code: 0,
            info: String::new(),
        };
        // A share stopped right before the app destroys the engine.
        engine.emit(stopped.clone());
        engine.destroy().await;
        let mut rest = Vec::new();
        while let Some(e) = events.recv().await {
            rest.push(e);
        }
        let at = rest.iter().position(|e| *e == stopped);
        let disconnected = rest.iter().position(|e| {
            matches!(
                e,
                Event::RoomStateUpdate {
                    state: RoomState::Disconnected,
                    ..
                }
            )
        });
        assert!(at.is_some(), "the Stopped event was dropped: {rest:?}");
        assert!(at < disconnected, "Stopped after the logout: {rest:?}");
    }
}
