//! One way to run any video or audio source: [`VideoSource::start`] and
//! [`AudioSource::start`] spawn the source on its own thread and hand the
//! pipeline a drop-oldest [`FrameReceiver`].
//!
//! Synthetic and file sources are paced in real time on an absolute schedule
//! (`start + n * period`, so there is no drift); a tick that is more than one
//! period late is skipped rather than bursted (the test pattern's frame
//! numbers then show the gap). Devices are paced by the device; custom
//! sources by the app.

use super::camera::Camera;
use super::custom::{
    custom_audio, custom_video, CustomAudioInput, CustomAudioSource, CustomVideoSource,
};
use super::microphone::Microphone;
use super::queue::{frame_queue, FrameReceiver};
#[cfg(feature = "wayland")]
use super::screen::portal::PortalSource;
use super::screen::{ScreenCapture, ScreenError, ScreenTarget};
use super::test_pattern::TestPattern;
use super::tone::ToneGenerator;
use super::y4m::Y4mReader;
use super::DeviceError;
use crate::codec::content::ContentHint;
use crate::frame::{unix_time_us, AudioFrame, VideoFrame, AUDIO_SAMPLE_RATE};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Video frames buffered between a paced source and the pipeline.
const VIDEO_QUEUE_FRAMES: usize = 2;
/// Audio frames (20 ms) buffered between a paced source and the pipeline.
const AUDIO_QUEUE_FRAMES: usize = 25;

/// Where video comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoSourceKind {
    /// The synthetic [`TestPattern`] with the barcode stamp.
    TestPattern,
    /// A camera (`None`: the first one).
    Camera {
        /// A camera id from [`list_cameras`](super::camera::list_cameras).
        id: Option<String>,
    },
    /// A looping `.y4m` file, at the file's size and frame rate.
    Y4m {
        /// The file.
        path: PathBuf,
    },
    /// Frames pushed by the app through [`VideoSource::custom`].
    Custom,
    /// A screen or window ([`screen`](super::screen)) at its own size,
    /// captured at the requested rate; the source ends when it is gone.
    Screen {
        /// What to capture.
        target: ScreenTarget,
        /// The X display (`None`: `$DISPLAY`).
        display: Option<String>,
        /// What it shows: text is encoded in screen-content mode.
        hint: ContentHint,
    },
    /// The monitor or window of a running Wayland portal share
    /// ([`PortalSource`]), at its own size, captured at the requested
    /// rate; the source ends when the share does.
    #[cfg(feature = "wayland")]
    PortalScreen {
        /// The share (restarting the source does not ask the portal again).
        source: PortalSource,
        /// What it shows: text is encoded in screen-content mode.
        hint: ContentHint,
    },
}

impl VideoSourceKind {
    /// Whether this is a shared screen or window (sent as one layer).
    pub fn is_screen(&self) -> bool {
        match self {
            VideoSourceKind::Screen { .. } => true,
            #[cfg(feature = "wayland")]
            VideoSourceKind::PortalScreen { .. } => true,
            _ => false,
        }
    }
}

/// Where audio comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum AudioSourceKind {
    /// A sine tone at -12 dBFS.
    Tone {
        /// The tone's frequency in Hz.
        freq_hz: f64,
    },
    /// A microphone (`None`: the default input). Always mono.
    Microphone {
        /// A device id from [`list_microphones`](super::microphone::list_microphones).
        id: Option<String>,
    },
    /// PCM pushed by the app through [`AudioSource::custom`].
    Custom,
    /// PCM pushed by the app through its [`CustomAudioInput`], which
    /// outlives pipeline restarts.
    CustomInput(CustomAudioInput),
}

/// A running video source.
#[derive(Debug)]
pub struct VideoSource {
    frames: FrameReceiver<VideoFrame>,
    size: (u32, u32),
    fps: f64,
    backend: VideoBackend,
}

#[derive(Debug)]
enum VideoBackend {
    /// Dropping it stops and joins the thread.
    Paced {
        _thread: PacedThread,
    },
    Camera(Camera),
    Custom(CustomVideoSource),
    /// A paced screen capture.
    Screen {
        _thread: PacedThread,
        hint: ContentHint,
    },
}

impl VideoSource {
    /// Starts a source. `width`, `height` and `fps` apply to the test
    /// pattern and are a request to a camera; a `.y4m` file has its own
    /// size and rate; custom frames come at whatever size the app pushes.
    ///
    /// Errors: invalid sizes ([`DeviceError::InvalidConfig`]), no or unknown
    /// camera, unreadable or non-4:2:0 file.
    pub fn start(
        kind: &VideoSourceKind,
        width: u32,
        height: u32,
        fps: u32,
    ) -> Result<VideoSource, DeviceError> {
        let check = || {
            VideoFrame::check_size(width, height).map_err(DeviceError::InvalidFormat)?;
            if !(1..=120).contains(&fps) {
                return Err(DeviceError::InvalidConfig(format!(
                    "fps must be 1..=120, got {fps}"
                )));
            }
            Ok(())
        };
        match kind {
            VideoSourceKind::TestPattern => {
                check()?;
                let (tx, rx) = frame_queue(VIDEO_QUEUE_FRAMES);
                let mut pattern = TestPattern::new(width, height);
                let period = Duration::from_secs_f64(1.0 / fps as f64);
                let thread = PacedThread::spawn("confer-test-pattern", period, move |n| {
                    tx.send(pattern.frame(n as u32, unix_time_us())).is_ok()
                })?;
                Ok(VideoSource {
                    frames: rx,
                    size: (width, height),
                    fps: fps as f64,
                    backend: VideoBackend::Paced { _thread: thread },
                })
            }
            VideoSourceKind::Camera { id } => {
                check()?;
                let mut camera = Camera::open(id.as_deref(), width, height, fps)?;
                let frames = camera
                    .take_frames()
                    .expect("a freshly opened camera still has its frame queue");
                Ok(VideoSource {
                    frames,
                    size: camera.size(),
                    fps: camera.fps() as f64,
                    backend: VideoBackend::Camera(camera),
                })
            }
            VideoSourceKind::Y4m { path } => {
                let mut reader = Y4mReader::open(path)?;
                let (size, fps) = (reader.size(), reader.fps());
                let (tx, rx) = frame_queue(VIDEO_QUEUE_FRAMES);
                let period = Duration::from_secs_f64(1.0 / fps.clamp(1.0, 120.0));
                let thread =
                    PacedThread::spawn("confer-y4m", period, move |_| match reader.next_frame() {
                        Ok(mut frame) => {
                            frame.capture_time_us = unix_time_us();
                            tx.send(frame).is_ok()
                        }
                        Err(e) => {
                            tracing::warn!("y4m source stopped: {e}");
                            false
                        }
                    })?;
                Ok(VideoSource {
                    frames: rx,
                    size,
                    fps,
                    backend: VideoBackend::Paced { _thread: thread },
                })
            }
            VideoSourceKind::Screen {
                target,
                display,
                hint,
            } => {
                check()?;
                let mut capture = ScreenCapture::open(display.as_deref(), *target)?;
                let size = capture.size()?;
                screen_source(move || capture.capture(), size, fps, *hint)
            }
            #[cfg(feature = "wayland")]
            VideoSourceKind::PortalScreen { source, hint } => {
                check()?;
                // Before the first picture: the size the channel was set to.
                let size = source.size().unwrap_or((width, height));
                let source = source.clone();
                screen_source(move || source.capture(), size, fps, *hint)
            }
            VideoSourceKind::Custom => {
                let (source, frames) = custom_video();
                Ok(VideoSource {
                    frames,
                    size: (width, height),
                    fps: fps as f64,
                    backend: VideoBackend::Custom(source),
                })
            }
        }
    }

    /// The next frame; `None` when the source has ended.
    pub async fn recv(&mut self) -> Option<VideoFrame> {
        self.frames.recv().await
    }

    /// The frame queue itself (blocking and non-blocking receives, drop count).
    pub fn frames(&mut self) -> &mut FrameReceiver<VideoFrame> {
        &mut self.frames
    }

    /// The nominal frame size (a custom source's frames may differ).
    pub fn size(&self) -> (u32, u32) {
        self.size
    }

    /// The nominal frame rate.
    pub fn fps(&self) -> f64 {
        self.fps
    }

    /// Whether the frames are a shared screen's text, to be encoded in
    /// screen-content mode ([`ContentHint::Text`]).
    pub fn screen_content(&self) -> bool {
        matches!(&self.backend, VideoBackend::Screen { hint, .. } if hint.screen_content())
    }

    /// The push handle of a [`VideoSourceKind::Custom`] source.
    pub fn custom(&self) -> Option<CustomVideoSource> {
        match &self.backend {
            VideoBackend::Custom(source) => Some(source.clone()),
            _ => None,
        }
    }

    /// Sets the camera zoom; [`DeviceError::ZoomUnsupported`] for sources
    /// that are not a camera or cameras without zoom.
    pub fn set_zoom(&self, factor: f64) -> Result<(), DeviceError> {
        match &self.backend {
            VideoBackend::Camera(camera) => camera.set_zoom(factor),
            _ => Err(DeviceError::ZoomUnsupported),
        }
    }
}

/// A screen source: `capture` paced at `fps` on its own thread (a tick
/// with no picture is skipped; a fatal error ends the source), `size` as
/// the nominal size (rounded down to even).
fn screen_source(
    mut capture: impl FnMut() -> Result<VideoFrame, ScreenError> + Send + 'static,
    (w, h): (u32, u32),
    fps: u32,
    hint: ContentHint,
) -> Result<VideoSource, DeviceError> {
    let (tx, rx) = frame_queue(VIDEO_QUEUE_FRAMES);
    let period = Duration::from_secs_f64(1.0 / fps as f64);
    let thread = PacedThread::spawn("confer-screen", period, move |_| match capture() {
        Ok(frame) => tx.send(frame).is_ok(),
        Err(e) if !e.is_fatal() => true,
        Err(e) => {
            tracing::info!("screen capture stopped: {e}");
            false
        }
    })?;
    Ok(VideoSource {
        frames: rx,
        size: (w & !1, h & !1),
        fps: fps as f64,
        backend: VideoBackend::Screen {
            _thread: thread,
            hint,
        },
    })
}

/// A running audio source delivering 20 ms frames at 48 kHz.
#[derive(Debug)]
pub struct AudioSource {
    frames: FrameReceiver<AudioFrame>,
    channels: u16,
    backend: AudioBackend,
}

#[derive(Debug)]
enum AudioBackend {
    /// Dropping it stops and joins the thread.
    Paced {
        _thread: PacedThread,
    },
    Microphone(Microphone),
    Custom(CustomAudioSource),
}

impl AudioSource {
    /// Starts a source with `channels` (1 or 2; a microphone is always mono).
    pub fn start(kind: &AudioSourceKind, channels: u16) -> Result<AudioSource, DeviceError> {
        crate::frame::check_audio_format(AUDIO_SAMPLE_RATE, channels)
            .map_err(DeviceError::InvalidFormat)?;
        match kind {
            AudioSourceKind::Tone { freq_hz } => {
                let (tx, rx) = frame_queue(AUDIO_QUEUE_FRAMES);
                let mut tone = ToneGenerator::new(*freq_hz, AUDIO_SAMPLE_RATE, channels);
                let thread =
                    PacedThread::spawn("confer-tone", Duration::from_millis(20), move |_| {
                        tx.send(tone.next_frame(unix_time_us())).is_ok()
                    })?;
                Ok(AudioSource {
                    frames: rx,
                    channels,
                    backend: AudioBackend::Paced { _thread: thread },
                })
            }
            AudioSourceKind::Microphone { id } => {
                let mut mic = Microphone::open(id.as_deref())?;
                let frames = mic
                    .take_frames()
                    .expect("a freshly opened microphone still has its frame queue");
                Ok(AudioSource {
                    frames,
                    channels: 1,
                    backend: AudioBackend::Microphone(mic),
                })
            }
            AudioSourceKind::Custom | AudioSourceKind::CustomInput(_) => {
                let (source, frames) = match kind {
                    AudioSourceKind::CustomInput(input) => input.attach(channels),
                    _ => custom_audio(channels),
                }
                .map_err(DeviceError::InvalidFormat)?;
                Ok(AudioSource {
                    frames,
                    channels,
                    backend: AudioBackend::Custom(source),
                })
            }
        }
    }

    /// The next frame; `None` when the source has ended.
    pub async fn recv(&mut self) -> Option<AudioFrame> {
        self.frames.recv().await
    }

    /// The frame queue itself.
    pub fn frames(&mut self) -> &mut FrameReceiver<AudioFrame> {
        &mut self.frames
    }

    /// Channels of the delivered frames.
    pub fn channels(&self) -> u16 {
        self.channels
    }

    /// The push handle of an [`AudioSourceKind::Custom`] source.
    pub fn custom(&self) -> Option<CustomAudioSource> {
        match &self.backend {
            AudioBackend::Custom(source) => Some(source.clone()),
            _ => None,
        }
    }

    /// A problem with the running device worth reporting once (a
    /// microphone that delivers faster than real time), see
    /// [`Microphone::take_warning`]; the source keeps delivering.
    pub fn take_warning(&mut self) -> Option<DeviceError> {
        match &mut self.backend {
            AudioBackend::Microphone(mic) => mic.take_warning(),
            _ => None,
        }
    }

    /// 20 ms frames dropped at the device for arriving faster than real
    /// time (microphones only; 0 otherwise).
    pub fn dropped_frames(&self) -> u64 {
        match &self.backend {
            AudioBackend::Microphone(mic) => mic.dropped_frames(),
            _ => 0,
        }
    }

    /// The microphone's device info, for a microphone source.
    pub fn microphone(&self) -> Option<&super::DeviceInfo> {
        match &self.backend {
            AudioBackend::Microphone(mic) => Some(mic.info()),
            _ => None,
        }
    }
}

/// A thread calling `tick(n)` at `start + n * period` until it returns false
/// or the handle is dropped (which joins the thread).
#[derive(Debug)]
struct PacedThread {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl PacedThread {
    fn spawn(
        name: &str,
        period: Duration,
        mut tick: impl FnMut(u64) -> bool + Send + 'static,
    ) -> Result<PacedThread, DeviceError> {
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = stop.clone();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let start = Instant::now();
                let mut n: u64 = 0;
                while !thread_stop.load(Ordering::Relaxed) {
                    let due = start + period.mul_f64(n as f64);
                    let now = Instant::now();
                    if due > now {
                        std::thread::sleep(due - now);
                    } else if now - due > period {
                        // Fell behind (machine busy): skip the missed ticks.
                        n = ((now - start).as_secs_f64() / period.as_secs_f64()) as u64;
                    }
                    if thread_stop.load(Ordering::Relaxed) || !tick(n) {
                        break;
                    }
                    n += 1;
                }
            })
            .map_err(DeviceError::Thread)?;
        Ok(PacedThread {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for PacedThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::barcode;
    use protocol::ErrorCode;

    #[tokio::test]
    async fn test_pattern_is_paced_in_real_time() {
        let mut source = VideoSource::start(&VideoSourceKind::TestPattern, 320, 180, 50).unwrap();
        let start = Instant::now();
        let mut numbers = Vec::new();
        while numbers.len() < 25 {
            let frame = source.recv().await.unwrap();
            numbers.push(barcode::read(&frame).unwrap().frame_number);
        }
        let elapsed = start.elapsed();
        // 25 frames at 50 fps: about 0.5 s (the first is immediate).
        assert!(elapsed >= Duration::from_millis(440), "{elapsed:?}");
        assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
        assert!(numbers.windows(2).all(|w| w[1] > w[0]), "{numbers:?}");
    }

    #[tokio::test]
    async fn tone_source_delivers_20_ms_frames() {
        let mut source = AudioSource::start(&AudioSourceKind::Tone { freq_hz: 440.0 }, 2).unwrap();
        let a = source.recv().await.unwrap();
        let b = source.recv().await.unwrap();
        a.validate().unwrap();
        assert_eq!(a.channels, 2);
        assert!(b.capture_time_us >= a.capture_time_us + 15_000);
    }

    #[test]
    fn device_sources_report_missing_devices() {
        if super::super::camera::list_cameras().is_empty() {
            let err = VideoSource::start(&VideoSourceKind::Camera { id: None }, 640, 360, 30)
                .unwrap_err();
            assert_eq!(err.code(), ErrorCode::NoCamera);
        }
        if super::super::microphone::list_microphones().is_empty() {
            let err = AudioSource::start(&AudioSourceKind::Microphone { id: None }, 1).unwrap_err();
            assert_eq!(err.code(), ErrorCode::NoMicrophone);
        }
        let err = VideoSource::start(&VideoSourceKind::TestPattern, 321, 180, 30).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidVideoConfig);
        let source = VideoSource::start(&VideoSourceKind::TestPattern, 320, 180, 30).unwrap();
        assert_eq!(
            source.set_zoom(2.0).unwrap_err().code(),
            ErrorCode::ZoomUnsupported
        );
    }

    #[test]
    fn custom_sources_hand_out_push_handles() {
        let mut video = VideoSource::start(&VideoSourceKind::Custom, 64, 48, 30).unwrap();
        let push = video.custom().unwrap();
        push.push_i420(64, 48, vec![16; 4608], 5).unwrap();
        assert_eq!(video.frames().try_recv().unwrap().capture_time_us, 5);
        let mut audio = AudioSource::start(&AudioSourceKind::Custom, 1).unwrap();
        audio
            .custom()
            .unwrap()
            .push_pcm(&[0; 960], 48_000, 1, 9)
            .unwrap();
        assert_eq!(audio.frames().try_recv().unwrap().capture_time_us, 9);
    }
}
