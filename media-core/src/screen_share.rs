//! Screen sharing in the seed SDK's style (ZEGO: `startScreenCapture`,
//! `stopScreenCapture`, the aux channel as the publish channel): a screen
//! or window becomes the aux channel's video source, published as the
//! user's second stream with `start_publishing_stream(id, Aux)`; players
//! play it like any stream.
//!
//! ```no_run
//! # async fn share(engine: media_core::Engine) -> Result<(), media_core::capture::DeviceError> {
//! use media_core::capture::screen::ScreenTarget;
//! use media_core::codec::content::ContentHint;
//! use media_core::{PublishChannel, ScreenCaptureConfig};
//!
//! let mut share = engine.start_screen_capture(ScreenCaptureConfig {
//!     target: ScreenTarget::Screen(0),
//!     display: None,
//!     hint: ContentHint::Text,
//! })?;
//! engine.start_publishing_stream("alice-screen", PublishChannel::Aux).unwrap();
//! let end = share.changed().await; // Stopped, or SourceGone when the window closed
//! # Ok(()) }
//! ```
//!
//! The share's state comes on its own watch (not yet as an [`Event`](crate::Event)).

use crate::capture::screen::{self, ScreenCapture, ScreenError, ScreenSourceInfo, ScreenTarget};
use crate::capture::source::{AudioSourceKind, VideoSourceKind};
use crate::capture::DeviceError;
use crate::codec::content::ContentHint;
use crate::engine::Engine;
use crate::room::PublishChannel;
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

/// Where a share is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScreenShareState {
    /// Frames are captured (and sent while the aux channel publishes).
    Capturing,
    /// [`ScreenShare::stop`] ended it.
    Stopped,
    /// The shared window closed (or the screen or display went away): the
    /// aux stream was stopped (players get stream Delete).
    SourceGone,
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
        self.state.borrow().clone()
    }

    /// Waits for the state to change from what was last seen and returns
    /// it (the current one if the share has ended).
    pub async fn changed(&mut self) -> ScreenShareState {
        let _ = self.state.changed().await;
        self.state.borrow_and_update().clone()
    }

    /// Stops sharing: the aux stream stops publishing (players get stream
    /// Delete), capture ends and the aux channel's sources go back to the
    /// defaults (camera, microphone).
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(watcher) = self.watcher.take() {
            let _ = watcher.join();
        }
        let _ = self.engine.stop_publishing_stream(PublishChannel::Aux);
        self.engine
            .set_video_source(VideoSourceKind::Camera { id: None }, PublishChannel::Aux);
        self.engine.set_audio_source(
            AudioSourceKind::Microphone { id: None },
            PublishChannel::Aux,
        );
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
    /// The screens and top-level windows that can be shared, screens first
    /// (`display`: `None` for `$DISPLAY`).
    pub fn screen_capture_sources(
        &self,
        display: Option<&str>,
    ) -> Result<Vec<ScreenSourceInfo>, DeviceError> {
        Ok(screen::list_sources(display)?)
    }

    /// Starts capturing a screen or window as the aux channel's video at its
    /// own size, with the frame rate and bitrate of `config.hint`; the aux
    /// channel sends no audio. Publish it with
    /// `start_publishing_stream(id, PublishChannel::Aux)`.
    ///
    /// Errors at once when the source cannot be opened (no display, a
    /// window that is gone). When the shared window closes later, the aux
    /// stream stops publishing and the share says
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
        Ok(ScreenShare {
            state,
            stop,
            watcher: Some(watcher),
            engine: self.clone(),
        })
    }
}

/// Checks every [`WATCH_INTERVAL`] that the source exists; when it is gone,
/// stops the aux stream and says so. Ends when `stop` is set.
fn watch_source(
    probe: &ScreenCapture,
    stop: &AtomicBool,
    engine: &Engine,
    state: &watch::Sender<ScreenShareState>,
) {
    while !stop.load(Ordering::Relaxed) {
        match probe.size() {
            Err(e @ (ScreenError::SourceGone | ScreenError::Connection(_))) => {
                tracing::info!("the shared source is gone: {e}");
                let _ = engine.stop_publishing_stream(PublishChannel::Aux);
                state.send_replace(ScreenShareState::SourceGone);
                return;
            }
            _ => std::thread::sleep(WATCH_INTERVAL),
        }
    }
    state.send_replace(ScreenShareState::Stopped);
}
