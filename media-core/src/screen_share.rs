//! Screen sharing in the seed SDK's style (ZEGO: `startScreenCapture`,
//! `stopScreenCapture`, the aux channel as the publish channel): a screen
//! or window becomes the aux channel's video source, published as the
//! user's second stream with `start_publishing_stream(id, Aux)`; players
//! play it like any stream.
//!
//! ```no_run
//! # async fn share(engine: media_core::Engine) -> Result<(), media_core::capture::DeviceError> {
//! use media_core::capture::screen::ScreenSourceQuery;
//! use media_core::codec::content::ContentHint;
//! use media_core::{PublishChannel, ScreenCaptureConfig};
//!
//! // The picker: never this app's own windows; a thumbnail per entry.
//! let sources = engine.screen_capture_sources(&ScreenSourceQuery {
//!     exclude_pids: vec![std::process::id()],
//!     ..ScreenSourceQuery::default()
//! })?;
//! let _thumbnail = engine.screen_source_thumbnail(None, sources[0].target, 320, 180)?;
//! let mut share = engine.start_screen_capture(ScreenCaptureConfig {
//!     target: sources[0].target,
//!     display: None,
//!     hint: ContentHint::Text,
//! })?;
//! engine.start_publishing_stream("alice-screen", PublishChannel::Aux).unwrap();
//! let end = share.changed().await; // Stopped, or SourceGone when the window closed
//! # Ok(()) }
//! ```
//!
//! The share's state changes also come as
//! [`Event::ScreenCaptureStateUpdate`] on the engine's event channel (what
//! an app listens to); the [`ScreenShare`]'s watch is for code holding it.

use crate::capture::screen::{
    self, ScreenCapture, ScreenError, ScreenSourceInfo, ScreenSourceQuery, ScreenTarget, Thumbnail,
};
use crate::capture::source::{AudioSourceKind, VideoSourceKind};
use crate::capture::DeviceError;
use crate::codec::content::ContentHint;
use crate::engine::Engine;
use crate::event::Event;
use crate::room::PublishChannel;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::watch;

/// How often the watcher checks that the shared source still exists.
const WATCH_INTERVAL: Duration = Duration::from_millis(200);

/// What to share and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenCaptureConfig {
    /// A screen or window from [`Engine::screen_capture_sources`].
    pub target: ScreenTarget,
    /// The X display (`None`: `$DISPLAY`).
    pub display: Option<String>,
    /// Text (5 fps, sharp, screen-content mode) or motion (30 fps).
    pub hint: ContentHint,
}

/// Where a share is (also carried by [`Event::ScreenCaptureStateUpdate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum ScreenShareState {
    /// Frames are captured (and sent while the aux channel publishes).
    Capturing,
    /// [`ScreenShare::stop`] ended it.
    Stopped,
    /// The shared window closed (or the screen, the display or the portal
    /// session went away): the aux stream was stopped (players get stream
    /// Delete).
    SourceGone,
    /// Capture cannot go on (the display server refused it): the aux
    /// stream was stopped.
    Failed,
}

/// A running share: its state, and [`ScreenShare::stop`]. Dropping it
/// without `stop` only ends the watching: capture and the aux stream go on.
#[derive(Debug)]
pub struct ScreenShare {
    state: watch::Receiver<ScreenShareState>,
    stop: Arc<AtomicBool>,
    watcher: Option<JoinHandle<()>>,
    engine: Engine,
}

impl ScreenShare {
    /// The current state.
    pub fn state(&self) -> ScreenShareState {
        *self.state.borrow()
    }

    /// Waits for the state to change from what was last seen and returns
    /// it (the current one if the share has ended).
    pub async fn changed(&mut self) -> ScreenShareState {
        let _ = self.state.changed().await;
        *self.state.borrow_and_update()
    }

    /// Stops sharing: the aux stream stops publishing (players get stream
    /// Delete), capture ends and the aux channel's sources go back to the
    /// defaults (camera, microphone). A share that was still capturing
    /// reports `Stopped` ([`Event::ScreenCaptureStateUpdate`]); one that had
    /// already ended (source gone, failed) reports nothing more.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(watcher) = self.watcher.take() {
            let _ = watcher.join();
        }
        if self.state() == ScreenShareState::Stopped {
            self.engine
                .emit(state_event(ScreenShareState::Stopped, None));
        }
        let _ = self.engine.stop_publishing_stream(PublishChannel::Aux);
        // Not set_video_source: the channel still runs until the session
        // has stopped the stream, and would open the camera meanwhile.
        self.engine
            .default_sources_for_next_start(PublishChannel::Aux);
        self.engine
            .mute_publish_stream_audio(false, PublishChannel::Aux);
    }
}

impl Drop for ScreenShare {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Engine {
    /// The screens and top-level windows that can be shared, screens first,
    /// without the windows `query` excludes (pass this process's id in
    /// `exclude_pids` so the app never shares itself). Blocks on the
    /// display server for a few ms.
    pub fn screen_capture_sources(
        &self,
        query: &ScreenSourceQuery,
    ) -> Result<Vec<ScreenSourceInfo>, DeviceError> {
        Ok(screen::list_sources(query)?)
    }

    /// A thumbnail of `target` on `display` (`None`: `$DISPLAY`) for a
    /// picker: one capture, cursor drawn, box-averaged down to fit
    /// `max_width` x `max_height` (aspect kept, never enlarged), as PNG.
    /// Blocks for one capture (tens of ms for a 1080p screen).
    pub fn screen_source_thumbnail(
        &self,
        display: Option<&str>,
        target: ScreenTarget,
        max_width: u32,
        max_height: u32,
    ) -> Result<Thumbnail, DeviceError> {
        Ok(ScreenCapture::open(display, target)?.thumbnail(max_width, max_height)?)
    }

    /// Starts capturing a screen or window as the aux channel's video at its
    /// own size, with the frame rate and bitrate of `config.hint`; the aux
    /// channel sends no audio. Publish it with
    /// `start_publishing_stream(id, PublishChannel::Aux)`.
    ///
    /// Errors at once when the source cannot be opened (no display, a
    /// window that is gone: `DeviceError::Screen` with the screen's error
    /// code). Once started it reports `Capturing`
    /// ([`Event::ScreenCaptureStateUpdate`]); when the shared window closes
    /// later, the aux stream stops publishing and the share says
    /// [`ScreenShareState::SourceGone`].
    pub fn start_screen_capture(
        &self,
        config: ScreenCaptureConfig,
    ) -> Result<ScreenShare, DeviceError> {
        let probe = ScreenCapture::open(config.display.as_deref(), config.target)?;
        let (width, height) = probe.size()?;
        let video = config.hint.video_config(width.max(16), height.max(16));
        video
            .validate()
            .map_err(|e| DeviceError::InvalidConfig(e.to_string()))?;
        self.set_video_config(video, PublishChannel::Aux)
            .map_err(|e| DeviceError::InvalidConfig(e.to_string()))?;
        // No audio: custom PCM nobody pushes, muted for the players.
        self.set_audio_source(AudioSourceKind::Custom, PublishChannel::Aux);
        self.mute_publish_stream_audio(true, PublishChannel::Aux);
        self.set_video_source(
            VideoSourceKind::Screen {
                target: config.target,
                display: config.display,
                hint: config.hint,
            },
            PublishChannel::Aux,
        );
        let (state_tx, state) = watch::channel(ScreenShareState::Capturing);
        let stop = Arc::new(AtomicBool::new(false));
        let watcher = {
            let (stop, engine) = (stop.clone(), self.clone());
            std::thread::Builder::new()
                .name("confer-screen-watch".into())
                .spawn(move || watch_source(&probe, &stop, &engine, &state_tx))
                .map_err(DeviceError::Thread)?
        };
        self.emit(state_event(ScreenShareState::Capturing, None));
        Ok(ScreenShare {
            state,
            stop,
            watcher: Some(watcher),
            engine: self.clone(),
        })
    }
}

/// Checks every [`WATCH_INTERVAL`] that the source exists; when it is gone
/// (or the display refuses it), stops the aux stream and says so. Ends
/// when `stop` is set.
fn watch_source(
    probe: &ScreenCapture,
    stop: &AtomicBool,
    engine: &Engine,
    state: &watch::Sender<ScreenShareState>,
) {
    while !stop.load(Ordering::Relaxed) {
        let ended = match probe.size() {
            Ok(_) | Err(ScreenError::NotVisible) => None,
            Err(e @ (ScreenError::SourceGone | ScreenError::Connection(_))) => {
                Some((ScreenShareState::SourceGone, e))
            }
            Err(e) => Some((ScreenShareState::Failed, e)),
        };
        let Some((end, error)) = ended else {
            std::thread::sleep(WATCH_INTERVAL);
            continue;
        };
        tracing::info!("the screen share ends: {error}");
        let _ = engine.stop_publishing_stream(PublishChannel::Aux);
        state.send_replace(end);
        engine.emit(state_event(end, Some(&error)));
        return;
    }
    state.send_replace(ScreenShareState::Stopped);
}

/// The event for a share reaching `state` because of `error`.
fn state_event(state: ScreenShareState, error: Option<&ScreenError>) -> Event {
    Event::ScreenCaptureStateUpdate {
        state,
        error_code: error.map_or(0, |e| e.code().code()),
        info: error.map_or_else(String::new, ToString::to_string),
    }
}
