//! Video and audio sources: cameras (nokhwa), microphones and speakers
//! (cpal), synthetic test sources, `.y4m` files and custom capture.
//!
//! Every source runs on its own thread and delivers frames through a
//! drop-oldest [`queue::FrameReceiver`]; [`source::VideoSource`] and
//! [`source::AudioSource`] start any of them uniformly. Missing devices are
//! errors with a code ([`DeviceError::code`]), never panics; playout falls
//! back to a null [`speaker::Speaker`] when there is no output.
//!
//! ```
//! use media_core::capture::barcode;
//! use media_core::capture::source::{VideoSource, VideoSourceKind};
//!
//! let mut source = VideoSource::start(&VideoSourceKind::TestPattern, 320, 180, 30)?;
//! let frame = source.frames().blocking_recv().expect("the test pattern never ends");
//! assert_eq!(barcode::read(&frame).map(|s| s.frame_number), Some(0));
//! # Ok::<(), media_core::capture::DeviceError>(())
//! ```
//!
//! Audio devices come from cpal's default host: PulseAudio when a server is
//! reachable (`PULSE_SERVER` or `$XDG_RUNTIME_DIR/pulse/native`), else ALSA.

pub mod barcode;
pub mod camera;
pub mod custom;
pub mod microphone;
pub mod pacing;
pub mod queue;
pub mod screen;
pub mod source;
pub mod speaker;
pub mod test_pattern;
pub mod tone;
pub mod y4m;

use protocol::ErrorCode;

/// A camera, microphone or speaker.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeviceInfo {
    /// A stable id to open the device with.
    pub id: String,
    /// A human-readable name.
    pub name: String,
}

/// Errors opening or controlling a capture device or source.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// There is no camera at all.
    #[error("no camera found")]
    NoCamera,
    /// There is no audio input at all.
    #[error("no microphone found")]
    NoMicrophone,
    /// There is no audio output at all (code `DeviceNotFound`: the protocol
    /// has no speaker code of its own).
    #[error("no speaker found")]
    NoSpeaker,
    /// No device has this id.
    #[error("no device with id {0:?}")]
    DeviceNotFound(String),
    /// The device exists but could not be opened or stopped working.
    #[error("the device could not be opened: {0}")]
    DeviceOpenFailed(String),
    /// The camera library could not open the camera or start its stream.
    #[error("the device could not be opened: {0}")]
    Camera(#[source] nokhwa::NokhwaError),
    /// A capture thread could not be started.
    #[error("the device could not be opened: cannot spawn thread: {0}")]
    Thread(#[source] std::io::Error),
    /// The thread playing the test sound panicked or was cancelled.
    #[error("the device could not be opened: the test sound failed: {0}")]
    TestSound(#[source] tokio::task::JoinError),
    /// The source is not a camera with a zoom control.
    #[error("this camera does not support zoom")]
    ZoomUnsupported,
    /// The camera refused the zoom it says it supports.
    #[error("the device could not be opened: setting zoom failed: {0}")]
    Zoom(#[source] nokhwa::NokhwaError),
    /// A size, rate, channel count or zoom factor out of range.
    #[error("invalid source configuration: {0}")]
    InvalidConfig(String),
    /// A frame size or audio format the frames cannot have.
    #[error("invalid source configuration: {0}")]
    InvalidFormat(#[source] crate::frame::FrameError),
    /// The audio input delivers audio faster than real time, so it is not
    /// a real microphone (e.g. the ALSA `null` PCM). Capture goes on,
    /// paced to real time.
    #[error(
        "the audio input {0:?} delivers audio faster than real time; it is not a real microphone (excess audio is dropped)"
    )]
    FasterThanRealTime(String),
    /// A `.y4m` source failed.
    #[error(transparent)]
    File(#[from] y4m::Y4mError),
    /// A screen or window could not be listed or captured.
    #[error(transparent)]
    Screen(#[from] screen::ScreenError),
}

impl DeviceError {
    /// The error code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            DeviceError::NoCamera => ErrorCode::NoCamera,
            DeviceError::NoMicrophone => ErrorCode::NoMicrophone,
            DeviceError::NoSpeaker => ErrorCode::DeviceNotFound,
            DeviceError::DeviceNotFound(_) => ErrorCode::DeviceNotFound,
            DeviceError::DeviceOpenFailed(_)
            | DeviceError::Camera(_)
            | DeviceError::Thread(_)
            | DeviceError::TestSound(_)
            | DeviceError::Zoom(_) => ErrorCode::DeviceOpenFailed,
            DeviceError::FasterThanRealTime(_) => ErrorCode::NoMicrophone,
            DeviceError::ZoomUnsupported => ErrorCode::ZoomUnsupported,
            DeviceError::InvalidConfig(_) | DeviceError::InvalidFormat(_) => {
                ErrorCode::InvalidVideoConfig
            }
            DeviceError::File(e) => e.code(),
            DeviceError::Screen(e) => e.code(),
        }
    }
}

/// True for audio pseudo-devices that discard playback or capture silence
/// as fast as they are read, such as the ALSA `null` PCM ("Discard all
/// samples (playback) or generate zero samples (capture)"): they are not
/// listed and never opened as a microphone or speaker. `id` is cpal's
/// `host:id` string, `name` the device description.
pub fn is_discard_device(id: &str, name: &str) -> bool {
    let pcm = id.split_once(':').map_or(id, |(_, pcm)| pcm);
    // ALSA PCM names may carry arguments: `null:...`.
    let pcm = pcm.split(':').next().unwrap_or(pcm);
    let name = name.trim().to_ascii_lowercase();
    pcm.eq_ignore_ascii_case("null")
        || name.starts_with("discard all samples")
        || name.starts_with("generate zero samples")
}

/// cpal's default host (PulseAudio when reachable, else ALSA).
fn audio_host() -> cpal::Host {
    cpal::default_host()
}

/// Opens and starts a 48 kHz device stream: each channel count of
/// `channels` in turn, with a buffer of `frames` first (cpal's default
/// over-buffers), then the device's default buffer. `build` makes the stream
/// for one configuration. Returns the stream and its channel count, or the
/// last error.
fn start_48k_stream(
    channels: [u16; 2],
    frames: u32,
    mut build: impl FnMut(cpal::StreamConfig) -> Result<cpal::Stream, cpal::Error>,
) -> Result<(cpal::Stream, u16), String> {
    use cpal::traits::StreamTrait;
    let mut last_error = String::from("no configuration tried");
    for channels in channels {
        for buffer_size in [cpal::BufferSize::Fixed(frames), cpal::BufferSize::Default] {
            let config = cpal::StreamConfig {
                channels,
                sample_rate: crate::frame::AUDIO_SAMPLE_RATE,
                buffer_size,
            };
            match build(config).and_then(|s| s.play().map(|_| s)) {
                Ok(stream) => return Ok((stream, channels)),
                Err(e) => last_error = e.to_string(),
            }
        }
    }
    Err(last_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_alsa_null_pcm_is_a_discard_device() {
        let null_name = "Discard all samples (playback) or generate zero samples (capture)";
        assert!(is_discard_device("alsa:null", null_name));
        assert!(is_discard_device("alsa:null", "whatever"));
        assert!(is_discard_device("alsa:NULL", ""));
        assert!(is_discard_device("alsa:null:CARD=0", ""));
        assert!(is_discard_device("null", ""));
        assert!(is_discard_device("alsa:mynull", null_name));
    }

    #[test]
    fn real_devices_are_not_discard_devices() {
        for (id, name) in [
            ("alsa:default", "Default Audio Device"),
            ("alsa:pulse", "PulseAudio Sound Server"),
            ("alsa:hw:CARD=PCH,DEV=0", "HDA Intel PCH, ALC892 Analog"),
            ("pulseaudio:alsa_input.usb-mic", "USB Microphone"),
            ("pulseaudio:auto_null.monitor", "Monitor of Dummy Output"),
            ("alsa:nullable", "Null-ish but real"),
        ] {
            assert!(!is_discard_device(id, name), "{id} {name}");
        }
    }
}
