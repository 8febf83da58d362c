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
//!     restore_token: None,
//! })?;
//! engine.start_publishing_stream("alice-screen", PublishChannel::Aux).unwrap();
//! let end = share.changed().await; // Stopped, or SourceGone when the window closed
//! # Ok(()) }
//! ```
//!
//! On a Wayland session the list holds one source,
//! [`ScreenTarget::Portal`]: the desktop's own dialog picks the monitor or
//! window when the share starts. [`ScreenShare::restore_token`] is what
//! the app keeps in its settings and passes back
//! ([`ScreenCaptureConfig::restore_token`]) so the next share does not ask.
//!
//! The share's state changes also come as
//! [`Event::ScreenCaptureStateUpdate`] on the engine's event channel (what
//! an app listens to); the [`ScreenShare`]'s watch is for code holding it.

#[cfg(feature = "wayland")]
use crate::capture::screen::portal::{PortalSource, ShareRequest};
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
    /// The X display (`None`: `$DISPLAY`); for [`ScreenTarget::Portal`],
    /// the D-Bus address of the bus whose portal is asked (`None`: the
    /// session bus).
    pub display: Option<String>,
    /// Text (5 fps, sharp, screen-content mode) or motion (30 fps).
    pub hint: ContentHint,
    /// For [`ScreenTarget::Portal`]: the token an earlier share gave
    /// ([`ScreenShare::restore_token`]), so the portal shares the same
    /// monitor or window without asking (it asks when the token is no
    /// longer valid). Ignored for X11 targets.
    pub restore_token: Option<String>,
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
    restore_token: Option<String>,
    /// A Wayland share's portal session, closed by `stop`.
    #[cfg(feature = "wayland")]
    portal: Option<PortalSource>,
}

impl ScreenShare {
    /// A portal share's new restore token (`None` for X11 shares, or when
    /// the portal gave none): the app stores it in its settings, replacing
    /// the one it passed (tokens are single-use), and passes it in the next
    /// [`ScreenCaptureConfig::restore_token`].
    pub fn restore_token(&self) -> Option<&str> {
        self.restore_token.as_deref()
    }

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
        #[cfg(feature = "wayland")]
        if let Some(portal) = &self.portal {
            // The compositor stops the stream and its "sharing" indicator.
            portal.close();
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
    /// [`ScreenTarget::Portal`] has none (`ScreenCaptureUnsupported`): the
    /// portal's dialog shows its own.
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
    /// [`ScreenTarget::Portal`] asks the xdg-desktop-portal (Wayland):
    /// this blocks until the user has picked in its dialog (at once when
    /// `config.restore_token` restores an earlier pick), on the current
    /// tokio runtime (call it from `spawn_blocking` or a multi-thread
    /// runtime); the new token is [`ScreenShare::restore_token`]. The user
    /// cancelling is `PermissionDenied`; the portal session ending later
    /// (the compositor's "stop sharing") is `SourceGone`, as for a closed
    /// window.
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
        let Opened {
            probe,
            source,
            size: (width, height),
            restore_token,
        } = open(&config)?;
        let video = config.hint.video_config(width.max(16), height.max(16));
        video
            .validate()
            .map_err(|e| DeviceError::InvalidConfig(e.to_string()))?;
        self.set_video_config(video, PublishChannel::Aux)
            .map_err(|e| DeviceError::InvalidConfig(e.to_string()))?;
        // No audio: custom PCM nobody pushes, muted for the players.
        self.set_audio_source(AudioSourceKind::Custom, PublishChannel::Aux);
        self.mute_publish_stream_audio(true, PublishChannel::Aux);
        #[cfg(feature = "wayland")]
        let portal = match &probe {
            Probe::Portal(portal) => Some(portal.clone()),
            Probe::X11(_) => None,
        };
        self.set_video_source(source, PublishChannel::Aux);
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
            restore_token,
            #[cfg(feature = "wayland")]
            portal,
        })
    }
}

/// What the share's watcher checks: the X11 source, or the portal share.
#[derive(Debug)]
enum Probe {
    X11(Box<ScreenCapture>),
    #[cfg(feature = "wayland")]
    Portal(PortalSource),
}

impl Probe {
    /// The source's size, or why there is none.
    fn size(&self) -> Result<(u32, u32), ScreenError> {
        match self {
            Probe::X11(capture) => capture.size(),
            #[cfg(feature = "wayland")]
            Probe::Portal(portal) => portal.size(),
        }
    }
}

/// An opened share source: its probe, the aux channel's video source, its
/// size and a portal share's restore token.
struct Opened {
    probe: Probe,
    source: VideoSourceKind,
    size: (u32, u32),
    restore_token: Option<String>,
}

/// Opens `config`'s source: asks the portal for [`ScreenTarget::Portal`]
/// (feature `wayland`), else opens the X11 capture.
fn open(config: &ScreenCaptureConfig) -> Result<Opened, ScreenError> {
    #[cfg(feature = "wayland")]
    if config.target == ScreenTarget::Portal {
        let request = ShareRequest {
            restore_token: config.restore_token.clone(),
            ..ShareRequest::default()
        };
        let portal = PortalSource::open_blocking(config.display.as_deref(), request)?;
        return Ok(Opened {
            size: portal.size()?,
            restore_token: portal.restore_token().map(str::to_owned),
            source: VideoSourceKind::PortalScreen {
                source: portal.clone(),
                hint: config.hint,
            },
            probe: Probe::Portal(portal),
        });
    }
    let capture = ScreenCapture::open(config.display.as_deref(), config.target)?;
    Ok(Opened {
        size: capture.size()?,
        restore_token: None,
        source: VideoSourceKind::Screen {
            target: config.target,
            display: config.display.clone(),
            hint: config.hint,
        },
        probe: Probe::X11(Box::new(capture)),
    })
}

/// Checks every [`WATCH_INTERVAL`] that the source exists; when it is gone
/// (or the display refuses it), stops the aux stream and says so. Ends
/// when `stop` is set.
fn watch_source(
    probe: &Probe,
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
