//! Everything the media side of an engine holds, in one struct behind one
//! lock (the `state` field of [`super::Media`]).
//!
//! The engine handle (settings, preview, mutes) and the driver task
//! (session commands) both change it, from different threads. Each
//! operation takes the lock once (twice when it starts a pipeline: see
//! below), never across an `.await`, and never while holding another lock
//! of the media side. Locks taken *inside* it are leaves that nothing holds
//! while taking it: a pipeline's own mutexes (the stream ID and preview its
//! threads read), a transport [`super::slot::Slot`], a renderer's. The TURN
//! bridges have their own lock and are never called with this one held.
//!
//! Starting a channel's pipeline can open a camera or a microphone, which
//! takes long, so it happens without the lock: [`ChannelState::begin_start`]
//! bumps the channel's generation and hands out what the start needs;
//! [`ChannelState::install`] takes the new pipeline only if no later start
//! or stop bumped the generation meanwhile, and gives it what the channel
//! wants *then* (stream, preview). A start that lost is stopped by its
//! caller. So whatever runs between the two halves (a `StartPublishing`, a
//! second settings change, a stop) is applied to the installed pipeline or
//! to the one that replaces it, and every pipeline started is either
//! installed or stopped.

use super::channel::{ChannelPipeline, ChannelSources, PublishLink};
use super::player::PlayerPipeline;
use super::AudioSink;
use crate::capture::speaker::Speaker;
use crate::render::{Canvas, RendererHandle};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::task::JoinHandle;

/// The app's media settings.
#[derive(Debug)]
pub(super) struct Settings {
    /// Per channel: sources, video config and publish mutes. They hold
    /// whether or not the channel runs; every pipeline starts from them.
    pub(super) sources: [ChannelSources; 2],
    pub(super) speaker_id: Option<String>,
    pub(super) audio_sink: Option<AudioSink>,
}

/// The media side's state.
#[derive(Debug)]
pub(super) struct MediaState {
    pub(super) settings: Settings,
    /// The room server's STUN/TURN servers (from the last login).
    pub(super) server_ice: Vec<protocol::IceServer>,
    /// Indexed by [`crate::room::PublishChannel::index`].
    pub(super) channels: [ChannelState; 2],
    pub(super) players: HashMap<String, PlayerPipeline>,
    /// Canvases passed to `start_playing_stream`, taken when the pipeline starts.
    pub(super) canvases: HashMap<String, Option<Canvas>>,
    /// Mutes the app set on played streams (`(video, audio)`), applied to
    /// pipelines that start later too.
    pub(super) play_mutes: HashMap<String, (bool, bool)>,
    /// The speaker players share, opened by the first one.
    pub(super) speaker: Option<Arc<Speaker>>,
    /// The sound level monitor's timer task, while it runs.
    pub(super) sound_monitor: Option<JoinHandle<()>>,
}

impl MediaState {
    pub(super) fn new(sources: [ChannelSources; 2]) -> Self {
        MediaState {
            settings: Settings {
                sources,
                speaker_id: None,
                audio_sink: None,
            },
            server_ice: Vec::new(),
            channels: [ChannelState::new(), ChannelState::new()],
            players: HashMap::new(),
            canvases: HashMap::new(),
            play_mutes: HashMap::new(),
            speaker: None,
            sound_monitor: None,
        }
    }

    /// The link of the channel publishing `stream_id`.
    pub(super) fn link_of(&self, stream_id: &str) -> Option<Arc<PublishLink>> {
        self.channels
            .iter()
            .find(|c| c.stream_id.as_deref() == Some(stream_id))
            .map(|c| c.link.clone())
    }

    /// The link of the channel publishing `stream_id` and that channel's
    /// settings (its video source and config decide its layers).
    pub(super) fn publishing(&self, stream_id: &str) -> Option<(Arc<PublishLink>, ChannelSources)> {
        let i = self
            .channels
            .iter()
            .position(|c| c.stream_id.as_deref() == Some(stream_id))?;
        Some((
            self.channels[i].link.clone(),
            self.settings.sources[i].clone(),
        ))
    }

    /// The levels since the last call: the main channel's captured audio (0
    /// when it does not run or captures no audio) and every played stream's.
    pub(super) fn take_sound_levels(&self) -> (f32, BTreeMap<String, f32>) {
        let captured = self.channels[crate::room::PublishChannel::Main.index()]
            .pipeline
            .as_ref()
            .map_or(0.0, |p| p.shared.captured_level.take());
        let remote = self
            .players
            .iter()
            .map(|(id, p)| (id.clone(), p.shared.level.take()))
            .collect();
        (captured, remote)
    }
}

/// One publishing channel: what the app and the session want of it, and
/// the pipeline that does it. The pipeline runs exactly while the channel
/// previews or publishes.
#[derive(Debug)]
pub(super) struct ChannelState {
    /// The renderer the app previews on (`start_preview`), while it does.
    pub(super) preview: Option<RendererHandle>,
    /// The stream the session publishes on this channel.
    pub(super) stream_id: Option<String>,
    /// The connection to the SFU: every pipeline of one run of the channel
    /// shares it (a restart keeps it); a channel that stops gets a new one.
    pub(super) link: Arc<PublishLink>,
    /// The running pipeline.
    pub(super) pipeline: Option<ChannelPipeline>,
    /// Bumped by every start and stop: a pipeline started for an older
    /// generation is stopped instead of installed.
    generation: u64,
    /// A start for `generation` is under way (without the lock).
    starting: bool,
}

/// Which start [`ChannelState::begin_start`] is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Start {
    /// The channel began to preview or publish: start a pipeline unless one
    /// runs or is starting.
    IfIdle,
    /// Its settings changed: replace the running (or starting) pipeline,
    /// nothing when none.
    Replace,
}

/// What a pipeline start takes out of the lock.
#[derive(Debug)]
pub(super) struct Starting {
    pub(super) generation: u64,
    pub(super) sources: ChannelSources,
    pub(super) link: Arc<PublishLink>,
}

/// A pipeline that is no longer the channel's, to stop (off the lock).
#[derive(Debug)]
pub(super) struct Retired {
    pub(super) pipeline: ChannelPipeline,
    /// Whether its link went with it (close the transport).
    pub(super) close_transport: bool,
}

impl ChannelState {
    fn new() -> Self {
        ChannelState {
            preview: None,
            stream_id: None,
            link: Arc::new(PublishLink::new()),
            pipeline: None,
            generation: 0,
            starting: false,
        }
    }

    /// Whether the channel should run.
    pub(super) fn wanted(&self) -> bool {
        self.preview.is_some() || self.stream_id.is_some()
    }

    /// Sets what the channel publishes, here and in the running pipeline.
    pub(super) fn set_stream_id(&mut self, stream_id: Option<String>) {
        if let Some(p) = &self.pipeline {
            *lock(&p.shared.stream_id) = stream_id.clone();
        }
        self.stream_id = stream_id;
    }

    /// Sets the preview renderer, here and in the running pipeline;
    /// returns the previous one (to close).
    pub(super) fn set_preview(
        &mut self,
        renderer: Option<RendererHandle>,
    ) -> Option<RendererHandle> {
        if let Some(p) = &self.pipeline {
            *lock(&p.shared.preview) = renderer.clone();
        }
        std::mem::replace(&mut self.preview, renderer)
    }

    /// Begins a pipeline start with `sources`, if `start` calls for one.
    pub(super) fn begin_start(
        &mut self,
        start: Start,
        sources: &ChannelSources,
    ) -> Option<Starting> {
        let busy = self.pipeline.is_some() || self.starting;
        let go = match start {
            Start::IfIdle => !busy,
            Start::Replace => busy,
        };
        if !go || !self.wanted() {
            return None;
        }
        self.generation += 1;
        self.starting = true;
        Some(Starting {
            generation: self.generation,
            sources: sources.clone(),
            link: self.link.clone(),
        })
    }

    /// Ends the start of `new` for `generation`: installs it with the
    /// stream and preview the channel has now and returns the pipeline it
    /// replaced, or, when a later start or a stop came meanwhile, returns
    /// `new` itself. Either way the caller stops what it gets back.
    pub(super) fn install(&mut self, generation: u64, new: ChannelPipeline) -> Option<Retired> {
        if generation != self.generation {
            let close_transport = !Arc::ptr_eq(&new.shared.link, &self.link);
            return Some(Retired {
                pipeline: new,
                close_transport,
            });
        }
        // Every way to idle goes through `stop_if_idle`, which bumps the
        // generation in the same lock.
        debug_assert!(self.wanted(), "a current start on an idle channel");
        self.starting = false;
        *lock(&new.shared.stream_id) = self.stream_id.clone();
        *lock(&new.shared.preview) = self.preview.clone();
        let old = self.pipeline.replace(new)?;
        // The preview is the new pipeline's now; its first picture must be
        // decodable on its own.
        lock(&old.shared.preview).take();
        self.link.request_keyframe(None);
        Some(Retired {
            pipeline: old,
            close_transport: false,
        })
    }

    /// Stops the channel if it neither previews nor publishes: returns its
    /// pipeline (to stop, closing its transport), cancels a start under way
    /// and gives the channel a fresh link for its next run.
    pub(super) fn stop_if_idle(&mut self) -> Option<Retired> {
        if self.wanted() || (self.pipeline.is_none() && !self.starting) {
            return None;
        }
        self.generation += 1;
        self.starting = false;
        self.link = Arc::new(PublishLink::new());
        self.pipeline.take().map(|pipeline| Retired {
            pipeline,
            close_transport: true,
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
