//! The media side of an engine: per publishing channel a capture -> encode
//! -> publish pipeline ([`channel`]), per played stream a receive -> decode
//! -> render/playout pipeline ([`player`]), and the peer connections the
//! session asks for ([`MediaCommand`]). What happens is reported back as
//! [`Fact`]s, which the driver feeds to the session so every event reaches
//! the app in order on the one channel.
//!
//! The engine handle and the driver task call [`Media`] from different
//! threads; everything they change is one [`state::MediaState`] behind one
//! lock, and a channel's pipeline is started off that lock under a
//! generation number, so a command that lands meanwhile is applied to
//! whichever pipeline ends up running ([`state`] has the rules).

mod adapt;
mod audio_jitter;
mod channel;
mod counters;
mod player;
mod playout_delay;
mod scale;
mod simulcast;
mod slot;
mod sound_level;
mod state;
mod sync;

use crate::capture::source::{AudioSourceKind, VideoSourceKind};
use crate::capture::speaker::Speaker;
use crate::capture::DeviceError;
use crate::codec::video_config::VideoConfig;
use crate::event::Event;
use crate::frame::AudioFrame;
use crate::render::{Canvas, RendererHandle};
use crate::room::media::{MediaCommand, MediaFact};
use crate::room::PublishChannel;
use crate::transport::turn_stream::TurnBridges;
use crate::transport::{
    PlayTransport, PublishEvent, PublishTransport, Signal, SignalReceiver, TransportConfig,
    TransportError,
};
use channel::{ChannelPipeline, ChannelSources, PublishMutes};
use player::PlayerPipeline;
use protocol::MediaRole;
use serde::{Deserialize, Serialize};
use slot::{Slot, Transport};
use state::{MediaState, Retired, Start};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;
use tokio::runtime::Handle;
use tokio::sync::mpsc;

/// Which kind of local device an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DeviceType {
    /// A camera (or the configured video source).
    Camera,
    /// A microphone (or the configured audio source).
    Microphone,
    /// A speaker.
    Speaker,
}

/// Audio a played stream produced, as delivered to an [`AudioSink`].
#[derive(Debug, Clone, PartialEq)]
pub struct PlayedAudio {
    /// The stream it came from.
    pub stream_id: String,
    /// 20 ms of decoded PCM.
    pub frame: AudioFrame,
}

/// Receives the decoded audio of every played stream (the app's audio
/// observer; tests use it to check what was heard).
#[derive(Debug, Clone)]
pub struct AudioSink {
    tx: mpsc::UnboundedSender<PlayedAudio>,
}

impl AudioSink {
    /// A sink and the receiver of what it gets.
    pub fn new() -> (AudioSink, mpsc::UnboundedReceiver<PlayedAudio>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (AudioSink { tx }, rx)
    }

    fn deliver(&self, audio: PlayedAudio) {
        let _ = self.tx.send(audio);
    }
}

/// What the media side reports to the driver.
#[derive(Debug)]
pub(crate) enum Fact {
    /// About a stream's peer connection, for the session to decide on.
    Media {
        stream_id: String,
        role: MediaRole,
        fact: MediaFact,
    },
    /// An event to deliver in order.
    Event(Event),
}

pub(crate) type FactSender = mpsc::UnboundedSender<Fact>;

/// The media side of one engine, shared by the engine handle (settings,
/// preview, mutes) and the driver task (session commands).
///
/// Its state has one owner, the `state` mutex (see [`state`] for the rules);
/// the rest is fixed at creation or has its own synchronisation.
#[derive(Debug)]
pub(crate) struct Media {
    rt: Handle,
    transport: TransportConfig,
    /// TURN over TCP/TLS for the agent, which speaks TURN over UDP only
    /// (its own lock, never taken with `state` held).
    turn_bridges: TurnBridges,
    facts: FactSender,
    /// `mute_microphone`, read by every channel's audio loop.
    mic_muted: Arc<AtomicBool>,
    /// `enable_audio_red` / `enable_audio_dtx`, read by every channel's audio loop.
    audio: Arc<channel::AudioOptions>,
    /// `enable_video_simulcast`, read when a publishing connection is made.
    simulcast: AtomicBool,
    state: Mutex<MediaState>,
    #[cfg(test)]
    test_hooks: TestHooks,
}

/// What tests watch and interleave: every channel pipeline started, and a
/// hook run (without the state lock) the next time one starts.
#[cfg(test)]
#[derive(Default)]
struct TestHooks {
    started: Mutex<Vec<Arc<channel::ChannelShared>>>,
    before_pipeline_start: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

#[cfg(test)]
impl std::fmt::Debug for TestHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestHooks").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Media {
    pub(crate) fn new(
        rt: Handle,
        transport: TransportConfig,
        tls: Arc<rustls::ClientConfig>,
        default_video: VideoConfig,
        facts: FactSender,
    ) -> Self {
        // Each channel its own mutes: cloned settings would share them.
        let sources = || ChannelSources {
            video: VideoSourceKind::Camera { id: None },
            audio: AudioSourceKind::Microphone { id: None },
            config: default_video,
            mutes: Arc::new(PublishMutes::default()),
        };
        Media {
            turn_bridges: TurnBridges::new(rt.clone(), tls),
            rt,
            transport,
            facts,
            mic_muted: Arc::new(AtomicBool::new(false)),
            audio: Arc::default(),
            simulcast: AtomicBool::new(true),
            state: Mutex::new(MediaState::new([sources(), sources()])),
            #[cfg(test)]
            test_hooks: TestHooks::default(),
        }
    }

    fn state(&self) -> MutexGuard<'_, MediaState> {
        lock(&self.state)
    }

    /// The transport settings for a new peer connection: the profile's,
    /// with the room server's ICE servers added.
    fn transport_config(&self) -> TransportConfig {
        let mut config = self.transport.clone();
        let server_ice = self.state().server_ice.clone();
        config.ice_servers.extend(server_ice);
        config.ice_servers = self.turn_bridges.rewrite(&config.ice_servers);
        config
    }

    // ---- settings from the engine ----

    pub(crate) fn set_video_source(&self, channel: PublishChannel, kind: VideoSourceKind) {
        self.state().settings.sources[channel.index()].video = kind;
        self.start_channel(channel, Start::Replace);
    }

    pub(crate) fn set_audio_source(&self, channel: PublishChannel, kind: AudioSourceKind) {
        self.state().settings.sources[channel.index()].audio = kind;
        self.start_channel(channel, Start::Replace);
    }

    /// Sets a channel's sources for its next start without restarting a
    /// running pipeline (which keeps its own until it stops).
    pub(crate) fn set_sources_for_next_start(
        &self,
        channel: PublishChannel,
        video: VideoSourceKind,
        audio: AudioSourceKind,
    ) {
        let mut state = self.state();
        let sources = &mut state.settings.sources[channel.index()];
        sources.video = video;
        sources.audio = audio;
    }

    pub(crate) fn set_video_config(&self, channel: PublishChannel, config: VideoConfig) {
        self.state().settings.sources[channel.index()].config = config;
        self.start_channel(channel, Start::Replace);
    }

    pub(crate) fn video_config(&self, channel: PublishChannel) -> VideoConfig {
        self.state().settings.sources[channel.index()].config
    }

    pub(crate) fn set_speaker(&self, id: Option<String>) {
        let mut state = self.state();
        state.settings.speaker_id = id;
        state.speaker = None;
    }

    /// The speaker chosen with `set_speaker` (`None`: the default output).
    pub(crate) fn speaker_id(&self) -> Option<String> {
        self.state().settings.speaker_id.clone()
    }

    pub(crate) fn set_audio_sink(&self, sink: Option<AudioSink>) {
        self.state().settings.audio_sink = sink;
    }

    pub(crate) fn mute_microphone(&self, mute: bool) {
        self.mic_muted.store(mute, Ordering::Relaxed);
    }

    pub(crate) fn enable_audio_red(&self, enable: bool) {
        self.audio.red.store(enable, Ordering::Relaxed);
    }

    pub(crate) fn enable_audio_dtx(&self, enable: bool) {
        self.audio.dtx.store(enable, Ordering::Relaxed);
    }

    /// The capture processing settings (`enable_aec` ...).
    pub(crate) fn audio_processing(&self) -> &crate::audio_processing::SharedProcessing {
        &self.audio.processing
    }

    /// Plays the processed capture on the speaker players use (`false`
    /// stops); called again after a speaker change, it moves to the new one.
    pub(crate) fn set_audio_loopback(&self, on: bool) {
        let speaker = on.then(|| self.speaker());
        self.audio.processing.set_loopback(speaker);
    }

    /// Players started from now on play into a speaker the app pulls.
    pub(crate) fn use_custom_audio_output(&self) -> crate::capture::speaker::CustomAudioOutput {
        let (speaker, output) = Speaker::custom();
        let speaker = speaker.with_echo_reference(self.audio.processing.reference());
        self.state().speaker = Some(Arc::new(speaker));
        output
    }

    pub(crate) fn enable_video_simulcast(&self, enable: bool) {
        self.simulcast.store(enable, Ordering::Relaxed);
    }

    /// Stops (or resumes) sending video on a channel, whether it runs now
    /// or starts later.
    pub(crate) fn mute_publish_video(&self, channel: PublishChannel, mute: bool) {
        self.publish_mutes(channel)
            .video
            .store(mute, Ordering::Relaxed);
    }

    /// Stops (or resumes) sending audio on a channel, whether it runs now
    /// or starts later.
    pub(crate) fn mute_publish_audio(&self, channel: PublishChannel, mute: bool) {
        self.publish_mutes(channel)
            .audio
            .store(mute, Ordering::Relaxed);
    }

    /// Turns a channel's camera off (or back on), whether the channel runs
    /// now or starts later.
    pub(crate) fn enable_camera(&self, channel: PublishChannel, enable: bool) {
        self.publish_mutes(channel)
            .camera_off
            .store(!enable, Ordering::Relaxed);
    }

    /// A channel's publish mutes, which its running pipeline (if any) and
    /// every later one read.
    fn publish_mutes(&self, channel: PublishChannel) -> Arc<PublishMutes> {
        self.state().settings.sources[channel.index()].mutes.clone()
    }

    pub(crate) fn set_zoom(&self, channel: PublishChannel, factor: f64) -> Result<(), DeviceError> {
        // The camera is asked without the lock.
        let source = self.state().channels[channel.index()]
            .pipeline
            .as_ref()
            .and_then(|p| p.source().cloned());
        match source {
            Some(source) => source.set_zoom(factor),
            None => Err(DeviceError::ZoomUnsupported),
        }
    }

    /// Mutes (or unmutes) a played stream's video or audio, now and for a
    /// pipeline that has not started yet.
    pub(crate) fn mute_player(&self, stream_id: &str, video: Option<bool>, audio: Option<bool>) {
        let mut state = self.state();
        let entry = state
            .play_mutes
            .entry(stream_id.to_owned())
            .or_insert((false, false));
        entry.0 = video.unwrap_or(entry.0);
        entry.1 = audio.unwrap_or(entry.1);
        let (v, a) = *entry;
        if let Some(p) = state.players.get(stream_id) {
            p.shared.mute_video.store(v, Ordering::Relaxed);
            p.shared.mute_audio.store(a, Ordering::Relaxed);
        }
    }

    /// Shows the channel's captured video on `canvas` (mirrored).
    pub(crate) fn start_preview(&self, channel: PublishChannel, renderer: RendererHandle) {
        let old = self.state().channels[channel.index()].set_preview(Some(renderer));
        if let Some(old) = old {
            old.close();
        }
        self.start_channel(channel, Start::IfIdle);
    }

    pub(crate) fn stop_preview(&self, channel: PublishChannel) {
        let (old, retired) = {
            let mut state = self.state();
            let c = &mut state.channels[channel.index()];
            (c.set_preview(None), c.stop_if_idle())
        };
        if let Some(old) = old {
            old.close();
        }
        self.retire(retired);
    }

    /// Starts the sound level monitor, or restarts it with a new interval
    /// (clamped to 100 ms..=3 s): one task that reports
    /// [`Event::CapturedSoundLevelUpdate`] and, while streams are played,
    /// [`Event::RemoteSoundLevelUpdate`] every interval.
    pub(crate) fn start_sound_level_monitor(self: &Arc<Self>, interval: Duration) {
        let interval = sound_level::clamp_interval(interval);
        let mut state = self.state();
        if let Some(old) = state.sound_monitor.take() {
            old.abort();
        }
        // The first report covers the first interval only.
        state.take_sound_levels();
        let media = Arc::downgrade(self);
        state.sound_monitor = Some(self.rt.spawn(sound_level_monitor(media, interval)));
    }

    /// Stops the sound level monitor (nothing happens when it is not running).
    pub(crate) fn stop_sound_level_monitor(&self) {
        if let Some(task) = self.state().sound_monitor.take() {
            task.abort();
        }
    }

    /// Remembers the canvas for a player the session is about to start.
    pub(crate) fn set_player_canvas(&self, stream_id: &str, canvas: Option<Canvas>) {
        self.state().canvases.insert(stream_id.to_owned(), canvas);
    }

    // ---- commands from the session ----

    pub(crate) fn handle(self: &Arc<Self>, command: MediaCommand) {
        match command {
            MediaCommand::StartPublishing { channel, stream_id } => {
                self.state().channels[channel.index()].set_stream_id(Some(stream_id));
                self.start_channel(channel, Start::IfIdle);
            }
            MediaCommand::StopPublishing { channel } => {
                let (closing, retired) = {
                    let mut state = self.state();
                    let c = &mut state.channels[channel.index()];
                    c.set_stream_id(None);
                    (c.link.transport.begin().1, c.stop_if_idle())
                };
                if let Some(t) = closing {
                    self.rt.spawn(async move { t.close().await });
                }
                self.retire(retired);
            }
            MediaCommand::StartPlaying { stream_id } => self.start_player(&stream_id),
            MediaCommand::StopPlaying { stream_id } => {
                let player = {
                    let mut state = self.state();
                    state.canvases.remove(&stream_id);
                    state.play_mutes.remove(&stream_id);
                    state.players.remove(&stream_id)
                };
                if let Some(p) = player {
                    self.rt.spawn(p.stop());
                }
            }
            MediaCommand::IceServers(servers) => self.state().server_ice = servers,
            MediaCommand::VideoLayers { stream_id, active } => {
                if let Some(link) = self.state().link_of(&stream_id) {
                    link.set_wanted(&active);
                }
            }
            MediaCommand::Negotiate { stream_id, role } => match role {
                MediaRole::Publish => self.negotiate_publish(stream_id),
                MediaRole::Play => self.negotiate_play(stream_id),
            },
            MediaCommand::Answer {
                stream_id,
                role,
                sdp,
            } => {
                let this = self.clone();
                self.rt.spawn(async move {
                    let result = match role {
                        MediaRole::Publish => match this.publish_transport(&stream_id) {
                            Some(t) => t.accept_answer(sdp).await,
                            None => return,
                        },
                        MediaRole::Play => match this.play_transport(&stream_id) {
                            Some(t) => t.accept_answer(sdp).await,
                            None => return,
                        },
                    };
                    if let Err(e) = result {
                        this.fact(&stream_id, role, MediaFact::Failed(e.to_string()));
                    }
                });
            }
            MediaCommand::RemoteCandidate {
                stream_id,
                role,
                candidate,
            } => {
                // Recorded here, in the order the SFU sent them (an answer
                // waits for the first); only adding them is spawned.
                match role {
                    MediaRole::Publish => {
                        if let Some(t) = self.publish_transport(&stream_id) {
                            self.rt.spawn(t.add_remote_candidate(candidate));
                        }
                    }
                    MediaRole::Play => {
                        if let Some(t) = self.play_transport(&stream_id) {
                            self.rt.spawn(t.add_remote_candidate(candidate));
                        }
                    }
                }
            }
            // Taken out of its slot here, in the session's order: a close
            // left to a spawned task could run after the next `Negotiate`
            // and end that new transport without a word (its link then
            // hung until the session's negotiation timeout).
            MediaCommand::CloseTransport { stream_id, role } => match role {
                MediaRole::Publish => {
                    let link = self.state().link_of(&stream_id);
                    if let Some(old) = link.and_then(|link| link.transport.begin().1) {
                        self.rt.spawn(async move { old.close().await });
                    }
                }
                MediaRole::Play => {
                    let shared = self.player_shared(&stream_id);
                    if let Some(old) = shared.and_then(|s| s.transport.begin().1) {
                        self.rt.spawn(async move { old.close().await });
                    }
                }
            },
        }
    }

    /// Stops every pipeline (engine destroyed).
    pub(crate) async fn shutdown(&self) {
        let (previews, retired, players) = {
            let mut state = self.state();
            if let Some(task) = state.sound_monitor.take() {
                task.abort();
            }
            let mut previews = Vec::new();
            let mut retired = Vec::new();
            for c in &mut state.channels {
                c.set_stream_id(None);
                previews.extend(c.set_preview(None));
                retired.extend(c.stop_if_idle());
            }
            let players: Vec<PlayerPipeline> = state.players.drain().map(|(_, p)| p).collect();
            (previews, retired, players)
        };
        for r in previews {
            r.close();
        }
        for r in retired {
            r.pipeline.stop(r.close_transport).await;
        }
        for p in players {
            p.stop().await;
        }
    }

    // ---- internals ----

    /// Applies `f` to a running channel's shared state (under the lock).
    #[cfg(test)]
    fn with_channel(&self, channel: PublishChannel, f: impl FnOnce(&channel::ChannelShared)) {
        if let Some(p) = &self.state().channels[channel.index()].pipeline {
            f(&p.shared);
        }
    }

    fn fact(&self, stream_id: &str, role: MediaRole, fact: MediaFact) {
        let _ = self.facts.send(Fact::Media {
            stream_id: stream_id.to_owned(),
            role,
            fact,
        });
    }

    /// Starts a channel's pipeline if `start` calls for it: begins under the
    /// lock, starts the pipeline (sources, threads: slow with a camera)
    /// without it, and installs it under the lock unless a later start or a
    /// stop came meanwhile (then it is stopped). See [`state`].
    fn start_channel(&self, channel: PublishChannel, start: Start) {
        let starting = {
            let mut state = self.state();
            let state = &mut *state;
            let sources = &state.settings.sources[channel.index()];
            state.channels[channel.index()].begin_start(start, sources)
        };
        let Some(starting) = starting else {
            return;
        };
        #[cfg(test)]
        {
            // Taken before it runs: the hook may start a pipeline itself.
            let hook = lock(&self.test_hooks.before_pipeline_start).take();
            if let Some(hook) = hook {
                hook();
            }
        }
        let pipeline = ChannelPipeline::start(
            channel,
            &starting.sources,
            starting.link,
            self.mic_muted.clone(),
            self.audio.clone(),
            self.facts.clone(),
            &self.rt,
        );
        #[cfg(test)]
        lock(&self.test_hooks.started).push(pipeline.shared.clone());
        let retired = self.state().channels[channel.index()].install(starting.generation, pipeline);
        self.retire(retired);
    }

    /// Stops a pipeline that is no longer a channel's, off the caller.
    fn retire(&self, retired: Option<Retired>) {
        if let Some(r) = retired {
            self.rt.spawn(r.pipeline.stop(r.close_transport));
        }
    }

    fn publish_transport(&self, stream_id: &str) -> Option<Arc<PublishTransport>> {
        self.state()
            .link_of(stream_id)
            .and_then(|link| link.transport.get())
    }

    fn player_shared(&self, stream_id: &str) -> Option<Arc<player::PlayerShared>> {
        self.state()
            .players
            .get(stream_id)
            .map(|p| p.shared.clone())
    }

    fn play_transport(&self, stream_id: &str) -> Option<Arc<PlayTransport>> {
        self.player_shared(stream_id)
            .and_then(|s| s.transport.get())
    }

    fn negotiate_publish(self: &Arc<Self>, stream_id: String) {
        // The link, not the pipeline: a restarted pipeline keeps it.
        let Some((link, sources)) = self.state().publishing(&stream_id) else {
            return;
        };
        let layers = simulcast::publish_layers(
            self.simulcast.load(Ordering::Relaxed),
            &sources.video,
            sources.config.width,
            sources.config.height,
        );
        link.renegotiating();
        let initial_kbps = self.transport.initial_bitrate_bps / 1000;
        link.initial_kbps.store(
            u32::try_from(initial_kbps).unwrap_or(u32::MAX),
            Ordering::Relaxed,
        );
        let (generation, old) = link.transport.begin();
        let this = self.clone();
        self.rt.spawn(async move {
            let Some((_transport, mut events)) = this
                .replace_transport(
                    &stream_id,
                    MediaRole::Publish,
                    &link.transport,
                    (generation, old),
                    PublishTransport::with_layers(&this.transport_config(), &layers),
                )
                .await
            else {
                return;
            };
            while let Some(event) = events.recv().await {
                if !link.transport.is_current(generation) {
                    return;
                }
                match event {
                    PublishEvent::Connected => {
                        // A fresh path to the SFU: start players with a
                        // keyframe; open muted tracks.
                        link.connected();
                        this.fact(&stream_id, MediaRole::Publish, MediaFact::Connected);
                    }
                    PublishEvent::Disconnected => {}
                    PublishEvent::Failed => {
                        return this.fact(
                            &stream_id,
                            MediaRole::Publish,
                            MediaFact::Failed("ICE/DTLS connection failed".into()),
                        );
                    }
                    PublishEvent::KeyframeRequested(layer) => link.request_keyframe(layer),
                    PublishEvent::TargetBitrate(bps) => link.target_kbps.store(
                        u32::try_from(bps / 1000).unwrap_or(u32::MAX),
                        Ordering::Relaxed,
                    ),
                }
            }
        });
    }

    fn start_player(&self, stream_id: &str) {
        let canvas = self.state().canvases.remove(stream_id).flatten();
        // Opening a window renderer waits for its GPU: not under the lock.
        let renderer = match canvas.map(Canvas::open).transpose() {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(%e, stream_id, "cannot open the canvas; playing without video");
                let _ = self.facts.send(Fact::Event(Event::Debug {
                    error_code: protocol::ErrorCode::Internal.code(),
                    func_name: "start_playing_stream".into(),
                    info: e.to_string(),
                }));
                None
            }
        };
        let pipeline = PlayerPipeline::start(stream_id, renderer, self.facts.clone(), &self.rt);
        let old = {
            let mut state = self.state();
            if let Some((video, audio)) = state.play_mutes.get(stream_id) {
                pipeline.shared.mute_video.store(*video, Ordering::Relaxed);
                pipeline.shared.mute_audio.store(*audio, Ordering::Relaxed);
            }
            state.players.insert(stream_id.to_owned(), pipeline)
        };
        if let Some(old) = old {
            self.rt.spawn(old.stop());
        }
    }

    fn negotiate_play(self: &Arc<Self>, stream_id: String) {
        let Some(shared) = self.player_shared(&stream_id) else {
            return;
        };
        let (generation, old) = shared.transport.begin();
        let this = self.clone();
        self.rt.spawn(async move {
            let Some((_transport, events)) = this
                .replace_transport(
                    &stream_id,
                    MediaRole::Play,
                    &shared.transport,
                    (generation, old),
                    PlayTransport::new(&this.transport_config()),
                )
                .await
            else {
                return;
            };
            let speaker = this.speaker();
            let mut state = this.state();
            let sink = state.settings.audio_sink.clone();
            // The player this transport was made for, not a later one for
            // the same stream.
            if let Some(p) = state
                .players
                .get_mut(&stream_id)
                .filter(|p| Arc::ptr_eq(&p.shared, &shared))
            {
                p.attach(
                    events,
                    speaker,
                    sink,
                    generation,
                    this.facts.clone(),
                    &this.rt,
                );
            }
        });
    }

    /// The speaker players share, opened (without the lock: a device) by
    /// the first player that needs it.
    fn speaker(&self) -> Arc<Speaker> {
        let id = {
            let state = self.state();
            if let Some(s) = &state.speaker {
                return s.clone();
            }
            state.settings.speaker_id.clone()
        };
        let speaker = Arc::new(
            Speaker::open(id.as_deref()).with_echo_reference(self.audio.processing.reference()),
        );
        if speaker.is_null() {
            tracing::info!("no speaker: played audio goes to the null output");
        }
        let mut state = self.state();
        match &state.speaker {
            // Another player opened it meanwhile: share that one.
            Some(s) => s.clone(),
            None if state.settings.speaker_id == id => {
                state.speaker = Some(speaker.clone());
                speaker
            }
            // `set_speaker` chose another meanwhile: the next player opens it.
            None => speaker,
        }
    }

    /// The shared part of a negotiation: closes the `old` transport of
    /// `slot`, awaits `created` (a failure is reported as a fact), installs
    /// the new transport if `generation` is still current (otherwise closes
    /// it) and forwards its signals. Returns the transport and its events,
    /// or `None` when there is nothing more to do.
    async fn replace_transport<T: Transport, E>(
        &self,
        stream_id: &str,
        role: MediaRole,
        slot: &Slot<T>,
        (generation, old): (u64, Option<Arc<T>>),
        created: impl Future<Output = Result<(T, SignalReceiver, E), TransportError>>,
    ) -> Option<(Arc<T>, E)> {
        if let Some(old) = old {
            old.close().await;
        }
        let (transport, signals, events) = match created.await {
            Ok(t) => t,
            Err(e) => {
                self.fact(stream_id, role, MediaFact::Failed(e.to_string()));
                return None;
            }
        };
        let transport = Arc::new(transport);
        if let Err(t) = slot.install(generation, transport.clone()) {
            t.close().await;
            return None;
        }
        self.forward_signals(stream_id.to_owned(), role, signals);
        Some((transport, events))
    }

    fn forward_signals(
        &self,
        stream_id: String,
        role: MediaRole,
        mut signals: mpsc::UnboundedReceiver<Signal>,
    ) {
        let facts = self.facts.clone();
        self.rt.spawn(async move {
            while let Some(signal) = signals.recv().await {
                let fact = match signal {
                    Signal::Offer { sdp } => MediaFact::Offer(sdp),
                    Signal::Candidate(c) => MediaFact::Candidate(c),
                };
                if facts
                    .send(Fact::Media {
                        stream_id: stream_id.clone(),
                        role,
                        fact,
                    })
                    .is_err()
                {
                    return;
                }
            }
        });
    }
}

/// The sound level monitor's task: every `interval`, the levels since the
/// previous report, until the engine goes away or is destroyed.
async fn sound_level_monitor(media: Weak<Media>, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(media) = media.upgrade() else {
            return;
        };
        let (level, levels) = media.state().take_sound_levels();
        let emit = |event| media.facts.send(Fact::Event(event)).is_ok();
        let sent = emit(Event::CapturedSoundLevelUpdate { level })
            && (levels.is_empty() || emit(Event::RemoteSoundLevelUpdate { levels }));
        if !sent {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::video_config::VideoPreset;
    use std::time::Duration;

    /// Media with the synthetic sources on the main channel (no devices here).
    fn media() -> (Arc<Media>, mpsc::UnboundedReceiver<Fact>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let media = Arc::new(Media::new(
            Handle::current(),
            TransportConfig::default(),
            crate::room::tls::client_config(&Default::default()).unwrap(),
            VideoPreset::P180.config(),
            tx,
        ));
        media.set_video_source(PublishChannel::Main, VideoSourceKind::TestPattern);
        media.set_audio_source(
            PublishChannel::Main,
            AudioSourceKind::Tone { freq_hz: 440.0 },
        );
        (media, rx)
    }

    /// The running pipeline's `(video, audio, camera_off)` mutes, if it runs.
    fn running_mutes(media: &Media, channel: PublishChannel) -> Option<(bool, bool, bool)> {
        let mut got = None;
        media.with_channel(channel, |c| {
            got = Some((
                c.mutes.video.load(Ordering::Relaxed),
                c.mutes.audio.load(Ordering::Relaxed),
                c.mutes.camera_off.load(Ordering::Relaxed),
            ));
        });
        got
    }

    fn captured(media: &Media, channel: PublishChannel) -> u64 {
        let mut n = 0;
        media.with_channel(channel, |c| n = c.captured_frames());
        n
    }

    fn publish(media: &Arc<Media>, channel: PublishChannel, stream_id: &str) {
        media.handle(MediaCommand::StartPublishing {
            channel,
            stream_id: stream_id.into(),
        });
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn publish_mutes_hold_before_start_and_across_restarts() {
        let (media, _facts) = media();
        let main = PublishChannel::Main;

        // Set while nothing runs: the pipeline starts with them.
        media.mute_publish_video(main, true);
        media.mute_publish_audio(main, true);
        media.enable_camera(main, false);
        assert_eq!(running_mutes(&media, main), None);
        publish(&media, main, "s1");
        assert_eq!(running_mutes(&media, main), Some((true, true, true)));
        // The other channel keeps its own.
        assert!(!media.state().settings.sources[PublishChannel::Aux.index()]
            .mutes
            .camera_off
            .load(Ordering::Relaxed));

        // The camera is off: the test pattern is dropped before capture.
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(captured(&media, main), 0);

        // A restart (new video config) keeps them.
        media.set_video_config(main, VideoPreset::P270.config());
        assert_eq!(running_mutes(&media, main), Some((true, true, true)));
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(captured(&media, main), 0);

        // Set while running: applies at once, and to the next restart.
        media.enable_camera(main, true);
        let mut frames = 0;
        for _ in 0..100 {
            frames = captured(&media, main);
            if frames > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(frames > 0, "no frame captured after enable_camera(true)");
        media.mute_publish_audio(main, false);
        assert_eq!(running_mutes(&media, main), Some((true, false, false)));
        media.set_video_source(main, VideoSourceKind::TestPattern);
        assert_eq!(running_mutes(&media, main), Some((true, false, false)));

        // Stopped and published again: still there.
        media.handle(MediaCommand::StopPublishing { channel: main });
        assert_eq!(running_mutes(&media, main), None);
        media.mute_publish_audio(main, true);
        publish(&media, main, "s2");
        assert_eq!(running_mutes(&media, main), Some((true, true, false)));

        media.shutdown().await;
    }

    /// The next captured sound level reported, skipping other facts.
    async fn next_captured_level(facts: &mut mpsc::UnboundedReceiver<Fact>) -> Option<f32> {
        let wait = Duration::from_secs(5);
        loop {
            match tokio::time::timeout(wait, facts.recv()).await.ok()?? {
                Fact::Event(Event::CapturedSoundLevelUpdate { level }) => return Some(level),
                Fact::Event(Event::RemoteSoundLevelUpdate { .. }) => {
                    panic!("remote levels without a played stream")
                }
                _ => {}
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sound_level_monitor_measures_capture_before_mutes_and_transport() {
        let (media, mut facts) = media();
        let main = PublishChannel::Main;

        // Nothing captured yet: 0, every interval.
        media.start_sound_level_monitor(Duration::from_millis(1));
        for _ in 0..2 {
            assert_eq!(next_captured_level(&mut facts).await, Some(0.0));
        }

        // Muted everywhere and without a transport: the tone is still measured.
        media.mute_microphone(true);
        media.mute_publish_audio(main, true);
        publish(&media, main, "s1");
        let mut level = 0.0;
        for _ in 0..20 {
            level = next_captured_level(&mut facts).await.unwrap();
            if level > 40.0 {
                break;
            }
        }
        assert!(level > 40.0, "captured level {level}");

        // Retuned, then stopped: nothing more.
        media.start_sound_level_monitor(Duration::from_secs(60));
        media.stop_sound_level_monitor();
        media.stop_sound_level_monitor();
        while facts.try_recv().is_ok() {}
        tokio::time::sleep(Duration::from_millis(300)).await;
        while let Ok(f) = facts.try_recv() {
            assert!(
                !matches!(f, Fact::Event(Event::CapturedSoundLevelUpdate { .. })),
                "a level after stop"
            );
        }
        media.shutdown().await;
    }

    /// The next time a channel pipeline starts, runs `call` (named `what`)
    /// on another thread, and fails unless it returns within 5 s: a start
    /// must not hold what other calls need.
    fn during_next_pipeline_start(
        media: &Media,
        what: &'static str,
        call: impl FnOnce() + Send + 'static,
    ) {
        let hook = move || {
            let (done, wait) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                call();
                let _ = done.send(());
            });
            if wait.recv_timeout(Duration::from_secs(5)).is_err() {
                panic!("{what} blocked behind a pipeline start");
            }
        };
        *lock(&media.test_hooks.before_pipeline_start) = Some(Box::new(hook));
    }

    /// What a channel's running pipeline publishes.
    fn published(media: &Media, channel: PublishChannel) -> Option<String> {
        let mut got = None;
        media.with_channel(channel, |c| got = lock(&c.stream_id).clone());
        got
    }

    /// Started pipelines that are neither the running one of a channel nor
    /// stopped, after giving spawned stops up to 2 s.
    async fn unowned_pipelines(media: &Media) -> Vec<Arc<channel::ChannelShared>> {
        let mut unowned = Vec::new();
        for _ in 0..40 {
            let mut running = Vec::new();
            for channel in [PublishChannel::Main, PublishChannel::Aux] {
                media.with_channel(channel, |c| {
                    running.push(c as *const channel::ChannelShared)
                });
            }
            unowned = lock(&media.test_hooks.started)
                .iter()
                .filter(|s| !s.stopped() && !running.contains(&Arc::as_ptr(s)))
                .cloned()
                .collect();
            if unowned.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        unowned
    }

    /// The driver's `StartPublishing` lands while the engine restarts the
    /// previewing channel for a new video config (it starts the new
    /// pipeline, which may open a camera, on another thread). Afterwards
    /// one pipeline runs, previewing and publishing; every other one
    /// started was stopped, before and after shutdown.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn start_publishing_during_a_restart_leaves_no_pipeline_unowned() {
        let (media, _facts) = media();
        let main = PublishChannel::Main;
        let preview = crate::render::FrameSink::new();
        media.start_preview(main, RendererHandle::for_sink(preview.clone()));

        let driver = media.clone();
        during_next_pipeline_start(&media, "StartPublishing", move || {
            publish(&driver, main, "s1");
        });
        media.set_video_config(main, VideoPreset::P270.config());

        let unowned = unowned_pipelines(&media).await;
        if !unowned.is_empty() {
            let before: Vec<u64> = unowned.iter().map(|s| s.captured_frames()).collect();
            tokio::time::sleep(Duration::from_millis(300)).await;
            let after: Vec<u64> = unowned.iter().map(|s| s.captured_frames()).collect();
            panic!(
                "{} pipeline(s) started, not running and never stopped, still capturing \
                 (frames {before:?} -> {after:?} in 300 ms)",
                unowned.len()
            );
        }
        assert_eq!(published(&media, main).as_deref(), Some("s1"));
        let frames = preview.frames_rendered();
        let mut previewed = false;
        for _ in 0..100 {
            if preview.frames_rendered() > frames {
                previewed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(previewed, "the preview stopped after the restart");

        media.shutdown().await;
        assert!(unowned_pipelines(&media).await.is_empty());
        assert_eq!(lock(&media.test_hooks.started).len(), 2);
    }

    /// The session stops publishing while the engine restarts a channel
    /// that only publishes: the channel stops, and no pipeline is left.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stop_publishing_during_a_restart_stops_the_channel() {
        let (media, _facts) = media();
        let main = PublishChannel::Main;
        publish(&media, main, "s1");

        let driver = media.clone();
        during_next_pipeline_start(&media, "StopPublishing", move || {
            driver.handle(MediaCommand::StopPublishing { channel: main });
        });
        media.set_video_source(main, VideoSourceKind::TestPattern);

        assert_eq!(running_mutes(&media, main), None, "the channel still runs");
        assert!(unowned_pipelines(&media).await.is_empty());
        media.shutdown().await;
    }

    /// Two settings changes at once (the app's thread and another) while
    /// previewing: the later one is what runs, and the pipeline started for
    /// the earlier one is stopped.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_last_settings_change_during_a_restart_wins() {
        let (media, _facts) = media();
        let main = PublishChannel::Main;
        let preview = crate::render::FrameSink::new();
        media.start_preview(main, RendererHandle::for_sink(preview.clone()));

        let app = media.clone();
        during_next_pipeline_start(&media, "set_video_config", move || {
            app.set_video_config(main, VideoPreset::P360.config());
        });
        media.set_video_config(main, VideoPreset::P270.config());

        assert!(unowned_pipelines(&media).await.is_empty());
        let mut frames = preview.subscribe(1);
        let frame = tokio::time::timeout(Duration::from_secs(5), frames.recv())
            .await
            .expect("no preview frame")
            .expect("the preview closed");
        assert_eq!(
            (frame.width, frame.height),
            (640, 360),
            "the preview's size"
        );
        media.shutdown().await;
    }

    /// Whether an offer for `stream_id` comes within 5 s, skipping other facts.
    async fn offer_comes(facts: &mut mpsc::UnboundedReceiver<Fact>, stream_id: &str) -> bool {
        let wait = Duration::from_secs(5);
        while let Ok(Some(fact)) = tokio::time::timeout(wait, facts.recv()).await {
            if let Fact::Media {
                stream_id: s,
                fact: MediaFact::Offer(_),
                ..
            } = fact
            {
                if s == stream_id {
                    return true;
                }
            }
        }
        false
    }

    // One thread: spawned tasks run only once the test waits, so a close left
    // to a task ran after the `Negotiate` that follows it and silently ended
    // the new transport (a failover's replay hung 15 s on it).
    #[tokio::test]
    async fn a_negotiation_right_after_a_close_gets_its_transport() {
        let (media, mut facts) = media();
        let play = |command| media.handle(command);
        play(MediaCommand::StartPlaying {
            stream_id: "s1".into(),
        });
        let negotiate = || MediaCommand::Negotiate {
            stream_id: "s1".into(),
            role: MediaRole::Play,
        };
        play(negotiate());
        assert!(offer_comes(&mut facts, "s1").await, "first offer");
        play(MediaCommand::CloseTransport {
            stream_id: "s1".into(),
            role: MediaRole::Play,
        });
        play(negotiate());
        assert!(
            offer_comes(&mut facts, "s1").await,
            "no offer from the negotiation after the close"
        );
        assert!(media.play_transport("s1").is_some());
        media.shutdown().await;
    }
}
