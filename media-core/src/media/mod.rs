//! The media side of an engine: per publishing channel a capture -> encode
//! -> publish pipeline ([`channel`]), per played stream a receive -> decode
//! -> render/playout pipeline ([`player`]), and the peer connections the
//! session asks for ([`MediaCommand`]). What happens is reported back as
//! [`Fact`]s, which the driver feeds to the session so every event reaches
//! the app in order on the one channel.

mod channel;
mod counters;
mod player;
mod slot;
mod sound_level;
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
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

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

/// The app's media settings.
#[derive(Debug)]
struct Settings {
    /// Per channel: sources, video config and publish mutes. They hold
    /// whether or not the channel runs; every pipeline starts from them.
    sources: [ChannelSources; 2],
    speaker_id: Option<String>,
    audio_sink: Option<AudioSink>,
}

/// The media side of one engine, shared by the engine handle (settings,
/// preview, mutes) and the driver task (session commands).
#[derive(Debug)]
pub(crate) struct Media {
    rt: Handle,
    transport: TransportConfig,
    /// The room server's STUN/TURN servers (from the last login).
    server_ice: Mutex<Vec<protocol::IceServer>>,
    /// TURN over TCP/TLS for the agent, which speaks TURN over UDP only.
    turn_bridges: TurnBridges,
    facts: FactSender,
    settings: Mutex<Settings>,
    channels: Mutex<[Option<ChannelPipeline>; 2]>,
    /// Channels the app previews (the pipeline runs while previewing or publishing).
    previewing: Mutex<[bool; 2]>,
    players: Mutex<HashMap<String, PlayerPipeline>>,
    /// Canvases passed to `start_playing_stream`, taken when the pipeline starts.
    canvases: Mutex<HashMap<String, Option<Canvas>>>,
    /// Mutes the app set on played streams (`(video, audio)`), applied to
    /// pipelines that start later too.
    play_mutes: Mutex<HashMap<String, (bool, bool)>>,
    speaker: Mutex<Option<Arc<Speaker>>>,
    mic_muted: Arc<AtomicBool>,
    /// The sound level monitor's timer task, while it runs.
    sound_monitor: Mutex<Option<JoinHandle<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Media {
    /// The transport settings for a new peer connection: the profile's,
    /// with the room server's ICE servers added.
    fn transport_config(&self) -> TransportConfig {
        let mut config = self.transport.clone();
        config
            .ice_servers
            .extend(lock(&self.server_ice).iter().cloned());
        config.ice_servers = self.turn_bridges.rewrite(&config.ice_servers);
        config
    }

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
            server_ice: Mutex::new(Vec::new()),
            facts,
            settings: Mutex::new(Settings {
                sources: [sources(), sources()],
                speaker_id: None,
                audio_sink: None,
            }),
            channels: Mutex::new([None, None]),
            previewing: Mutex::new([false, false]),
            players: Mutex::new(HashMap::new()),
            canvases: Mutex::new(HashMap::new()),
            play_mutes: Mutex::new(HashMap::new()),
            speaker: Mutex::new(None),
            mic_muted: Arc::new(AtomicBool::new(false)),
            sound_monitor: Mutex::new(None),
        }
    }

    // ---- settings from the engine ----

    pub(crate) fn set_video_source(&self, channel: PublishChannel, kind: VideoSourceKind) {
        lock(&self.settings).sources[channel.index()].video = kind;
        self.restart_channel(channel);
    }

    pub(crate) fn set_audio_source(&self, channel: PublishChannel, kind: AudioSourceKind) {
        lock(&self.settings).sources[channel.index()].audio = kind;
        self.restart_channel(channel);
    }

    pub(crate) fn set_video_config(&self, channel: PublishChannel, config: VideoConfig) {
        lock(&self.settings).sources[channel.index()].config = config;
        self.restart_channel(channel);
    }

    pub(crate) fn video_config(&self, channel: PublishChannel) -> VideoConfig {
        lock(&self.settings).sources[channel.index()].config
    }

    pub(crate) fn set_speaker(&self, id: Option<String>) {
        lock(&self.settings).speaker_id = id;
        *lock(&self.speaker) = None;
    }

    /// The speaker chosen with `set_speaker` (`None`: the default output).
    pub(crate) fn speaker_id(&self) -> Option<String> {
        lock(&self.settings).speaker_id.clone()
    }

    pub(crate) fn set_audio_sink(&self, sink: Option<AudioSink>) {
        lock(&self.settings).audio_sink = sink;
    }

    pub(crate) fn mute_microphone(&self, mute: bool) {
        self.mic_muted.store(mute, Ordering::Relaxed);
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
        lock(&self.settings).sources[channel.index()].mutes.clone()
    }

    /// Applies `f` to a running channel's shared state.
    fn with_channel(&self, channel: PublishChannel, f: impl FnOnce(&channel::ChannelShared)) {
        if let Some(p) = &lock(&self.channels)[channel.index()] {
            f(&p.shared);
        }
    }

    pub(crate) fn set_zoom(&self, channel: PublishChannel, factor: f64) -> Result<(), DeviceError> {
        match lock(&self.channels)[channel.index()]
            .as_ref()
            .and_then(|p| p.source())
        {
            Some(source) => source.set_zoom(factor),
            None => Err(DeviceError::ZoomUnsupported),
        }
    }

    /// Mutes (or unmutes) a played stream's video or audio, now and for a
    /// pipeline that has not started yet.
    pub(crate) fn mute_player(&self, stream_id: &str, video: Option<bool>, audio: Option<bool>) {
        let mut mutes = lock(&self.play_mutes);
        let entry = mutes.entry(stream_id.to_owned()).or_insert((false, false));
        entry.0 = video.unwrap_or(entry.0);
        entry.1 = audio.unwrap_or(entry.1);
        let (v, a) = *entry;
        drop(mutes);
        if let Some(p) = lock(&self.players).get(stream_id) {
            p.shared.mute_video.store(v, Ordering::Relaxed);
            p.shared.mute_audio.store(a, Ordering::Relaxed);
        }
    }

    /// Shows the channel's captured video on `canvas` (mirrored).
    pub(crate) fn start_preview(&self, channel: PublishChannel, renderer: RendererHandle) {
        lock(&self.previewing)[channel.index()] = true;
        self.ensure_channel(channel);
        self.with_channel(channel, |c| {
            if let Some(old) = lock(&c.preview).replace(renderer) {
                old.close();
            }
        });
    }

    pub(crate) fn stop_preview(&self, channel: PublishChannel) {
        lock(&self.previewing)[channel.index()] = false;
        self.with_channel(channel, |c| {
            if let Some(old) = lock(&c.preview).take() {
                old.close();
            }
        });
        self.stop_channel_if_idle(channel);
    }

    /// Starts the sound level monitor, or restarts it with a new interval
    /// (clamped to 100 ms..=3 s): one task that reports
    /// [`Event::CapturedSoundLevelUpdate`] and, while streams are played,
    /// [`Event::RemoteSoundLevelUpdate`] every interval.
    pub(crate) fn start_sound_level_monitor(self: &Arc<Self>, interval: Duration) {
        let interval = sound_level::clamp_interval(interval);
        let mut monitor = lock(&self.sound_monitor);
        if let Some(old) = monitor.take() {
            old.abort();
        }
        // The first report covers the first interval only.
        self.take_sound_levels();
        let media = Arc::downgrade(self);
        *monitor = Some(self.rt.spawn(sound_level_monitor(media, interval)));
    }

    /// Stops the sound level monitor (nothing happens when it is not running).
    pub(crate) fn stop_sound_level_monitor(&self) {
        if let Some(task) = lock(&self.sound_monitor).take() {
            task.abort();
        }
    }

    /// The levels since the last call: the main channel's captured audio (0
    /// when it does not run or captures no audio) and every played stream's.
    fn take_sound_levels(&self) -> (f32, BTreeMap<String, f32>) {
        let captured = lock(&self.channels)[PublishChannel::Main.index()]
            .as_ref()
            .map_or(0.0, |p| p.shared.captured_level.take());
        let remote = lock(&self.players)
            .iter()
            .map(|(id, p)| (id.clone(), p.shared.level.take()))
            .collect();
        (captured, remote)
    }

    /// Remembers the canvas for a player the session is about to start.
    pub(crate) fn set_player_canvas(&self, stream_id: &str, canvas: Option<Canvas>) {
        lock(&self.canvases).insert(stream_id.to_owned(), canvas);
    }

    // ---- commands from the session ----

    pub(crate) fn handle(self: &Arc<Self>, command: MediaCommand) {
        match command {
            MediaCommand::StartPublishing { channel, stream_id } => {
                self.ensure_channel(channel);
                self.with_channel(channel, |c| *lock(&c.stream_id) = Some(stream_id));
            }
            MediaCommand::StopPublishing { channel } => {
                let mut closing = None;
                self.with_channel(channel, |c| {
                    *lock(&c.stream_id) = None;
                    closing = Some(c.link.transport.begin());
                });
                if let Some((_, Some(t))) = closing {
                    self.rt.spawn(async move { t.close().await });
                }
                self.stop_channel_if_idle(channel);
            }
            MediaCommand::StartPlaying { stream_id } => self.start_player(&stream_id),
            MediaCommand::StopPlaying { stream_id } => {
                lock(&self.canvases).remove(&stream_id);
                lock(&self.play_mutes).remove(&stream_id);
                if let Some(p) = lock(&self.players).remove(&stream_id) {
                    self.rt.spawn(p.stop());
                }
            }
            MediaCommand::IceServers(servers) => *lock(&self.server_ice) = servers,
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
                let this = self.clone();
                self.rt.spawn(async move {
                    match role {
                        MediaRole::Publish => {
                            if let Some(t) = this.publish_transport(&stream_id) {
                                t.add_remote_candidate(candidate).await;
                            }
                        }
                        MediaRole::Play => {
                            if let Some(t) = this.play_transport(&stream_id) {
                                t.add_remote_candidate(candidate).await;
                            }
                        }
                    }
                });
            }
            MediaCommand::CloseTransport { stream_id, role } => {
                let this = self.clone();
                self.rt.spawn(async move {
                    match role {
                        MediaRole::Publish => {
                            if let Some(c) = this.channel_of(&stream_id) {
                                c.link.transport.close().await;
                            }
                        }
                        MediaRole::Play => {
                            let shared = lock(&this.players)
                                .get(&stream_id)
                                .map(|p| p.shared.clone());
                            if let Some(s) = shared {
                                s.transport.close().await;
                            }
                        }
                    }
                });
            }
        }
    }

    /// Stops every pipeline (engine destroyed).
    pub(crate) async fn shutdown(&self) {
        self.stop_sound_level_monitor();
        let channels: Vec<ChannelPipeline> = lock(&self.channels)
            .iter_mut()
            .filter_map(Option::take)
            .collect();
        for c in channels {
            c.stop(true).await;
        }
        let players: Vec<PlayerPipeline> = lock(&self.players).drain().map(|(_, p)| p).collect();
        for p in players {
            p.stop().await;
        }
    }

    // ---- internals ----

    fn fact(&self, stream_id: &str, role: MediaRole, fact: MediaFact) {
        let _ = self.facts.send(Fact::Media {
            stream_id: stream_id.to_owned(),
            role,
            fact,
        });
    }

    fn ensure_channel(&self, channel: PublishChannel) {
        let mut channels = lock(&self.channels);
        if channels[channel.index()].is_none() {
            let sources = lock(&self.settings).sources[channel.index()].clone();
            channels[channel.index()] = Some(ChannelPipeline::start(
                channel,
                &sources,
                Arc::new(channel::PublishLink::new()),
                self.mic_muted.clone(),
                self.facts.clone(),
                &self.rt,
            ));
        }
    }

    fn stop_channel_if_idle(&self, channel: PublishChannel) {
        let previewing = lock(&self.previewing)[channel.index()];
        let mut channels = lock(&self.channels);
        let idle = channels[channel.index()]
            .as_ref()
            .is_some_and(|p| lock(&p.shared.stream_id).is_none());
        if idle && !previewing {
            if let Some(p) = channels[channel.index()].take() {
                self.rt.spawn(p.stop(true));
            }
        }
    }

    /// Restarts a running channel with new settings, keeping what it
    /// publishes and previews (the transport is renegotiated by its stream's
    /// own flow: a restarted pipeline keeps the slot's transport).
    fn restart_channel(&self, channel: PublishChannel) {
        let old = lock(&self.channels)[channel.index()].take();
        let Some(old) = old else {
            return;
        };
        let sources = lock(&self.settings).sources[channel.index()].clone();
        let new = ChannelPipeline::start(
            channel,
            &sources,
            old.shared.link.clone(),
            self.mic_muted.clone(),
            self.facts.clone(),
            &self.rt,
        );
        *lock(&new.shared.stream_id) = lock(&old.shared.stream_id).clone();
        *lock(&new.shared.preview) = lock(&old.shared.preview).take();
        // The next picture must be decodable on its own.
        new.shared
            .link
            .force_keyframe
            .store(true, Ordering::Relaxed);
        lock(&self.channels)[channel.index()] = Some(new);
        self.rt.spawn(old.stop(false));
    }

    fn channel_of(&self, stream_id: &str) -> Option<Arc<channel::ChannelShared>> {
        lock(&self.channels)
            .iter()
            .flatten()
            .find(|p| lock(&p.shared.stream_id).as_deref() == Some(stream_id))
            .map(|p| p.shared.clone())
    }

    fn publish_transport(&self, stream_id: &str) -> Option<Arc<PublishTransport>> {
        self.channel_of(stream_id)
            .and_then(|c| c.link.transport.get())
    }

    fn play_transport(&self, stream_id: &str) -> Option<Arc<PlayTransport>> {
        lock(&self.players)
            .get(stream_id)
            .and_then(|p| p.shared.transport.get())
    }

    fn negotiate_publish(self: &Arc<Self>, stream_id: String) {
        // The link, not the pipeline: a restarted pipeline keeps it.
        let Some(link) = self.channel_of(&stream_id).map(|c| c.link.clone()) else {
            return;
        };
        let (generation, old) = link.transport.begin();
        let this = self.clone();
        self.rt.spawn(async move {
            let Some((_transport, mut events)) = this
                .replace_transport(
                    &stream_id,
                    MediaRole::Publish,
                    &link.transport,
                    (generation, old),
                    PublishTransport::new(&this.transport_config()),
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
                    PublishEvent::KeyframeRequested => {
                        link.force_keyframe.store(true, Ordering::Relaxed)
                    }
                    PublishEvent::TargetBitrate(bps) => link.target_kbps.store(
                        u32::try_from(bps / 1000).unwrap_or(u32::MAX),
                        Ordering::Relaxed,
                    ),
                }
            }
        });
    }

    fn start_player(&self, stream_id: &str) {
        let canvas = lock(&self.canvases).remove(stream_id).flatten();
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
        if let Some((video, audio)) = lock(&self.play_mutes).get(stream_id) {
            pipeline.shared.mute_video.store(*video, Ordering::Relaxed);
            pipeline.shared.mute_audio.store(*audio, Ordering::Relaxed);
        }
        if let Some(old) = lock(&self.players).insert(stream_id.to_owned(), pipeline) {
            self.rt.spawn(old.stop());
        }
    }

    fn negotiate_play(self: &Arc<Self>, stream_id: String) {
        let Some(shared) = lock(&self.players)
            .get(&stream_id)
            .map(|p| p.shared.clone())
        else {
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
            let sink = lock(&this.settings).audio_sink.clone();
            if let Some(p) = lock(&this.players).get_mut(&stream_id) {
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

    fn speaker(&self) -> Arc<Speaker> {
        let mut slot = lock(&self.speaker);
        if let Some(s) = &*slot {
            return s.clone();
        }
        let id = lock(&self.settings).speaker_id.clone();
        let speaker = Arc::new(Speaker::open(id.as_deref()));
        if speaker.is_null() {
            tracing::info!("no speaker: played audio goes to the null output");
        }
        *slot = Some(speaker.clone());
        speaker
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
        let (level, levels) = media.take_sound_levels();
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
        assert!(!lock(&media.settings).sources[PublishChannel::Aux.index()]
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
}
