//! Microphones through cpal, delivering 20 ms mono [`AudioFrame`]s at 48 kHz.
//!
//! The cpal stream lives on its own thread (streams are not `Send` on every
//! platform); its callback re-chunks whatever the device delivers into
//! 960-sample frames and pushes them into a drop-oldest
//! [`frame_queue`](super::queue). The stream asks for `BufferSize::Fixed(960)`
//! (the default over-buffers about 4x on PulseAudio) and falls back to the
//! device default if refused. Stereo-only devices are mixed down to mono.
//!
//! Capture is held to real time by a [`RealTimePacer`]: audio a device
//! delivers faster than its sample rate allows is dropped in the callback
//! (counted, [`Microphone::dropped_frames`]) and a device that keeps doing so
//! is reported once ([`Microphone::take_warning`]). Discard pseudo-devices
//! such as the ALSA `null` PCM ([`is_discard_device`]) are neither listed nor
//! opened.

use super::pacing::{Pace, RealTimePacer};
use super::queue::{frame_queue, FrameReceiver, FrameSender};
use super::{audio_host, is_discard_device, DeviceError, DeviceInfo};
use crate::frame::{unix_time_us, AudioFrame, AUDIO_FRAME_SAMPLES, AUDIO_SAMPLE_RATE};
use cpal::traits::{DeviceTrait, HostTrait};
use cpal::{FromSample, SizedSample, StreamConfig};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// 20 ms frames buffered between the device and the consumer (0.5 s).
const QUEUE_FRAMES: usize = 25;

/// The audio inputs present now; empty without a sound server or device.
/// Discard pseudo-devices ([`is_discard_device`]) are left out.
pub fn list_microphones() -> Vec<DeviceInfo> {
    let host = audio_host();
    match host.input_devices() {
        Ok(devices) => devices.filter_map(|d| real_device_info(&d)).collect(),
        Err(e) => {
            tracing::debug!("listing audio inputs failed: {e}");
            Vec::new()
        }
    }
}

/// An open microphone delivering 20 ms mono frames from its own thread.
#[derive(Debug)]
pub struct Microphone {
    info: DeviceInfo,
    frames: Option<FrameReceiver<AudioFrame>>,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    health: Arc<CaptureHealth>,
    warned: bool,
}

/// What the capture callback tells the owner.
#[derive(Debug, Default)]
struct CaptureHealth {
    /// Samples dropped for arriving faster than real time.
    dropped_samples: AtomicU64,
    /// Set once the device kept delivering faster than real time.
    faster_than_real_time: AtomicBool,
}

impl Microphone {
    /// Opens a microphone (`id` from [`list_microphones`], or the default
    /// input for `None`) at 48 kHz and starts capturing.
    ///
    /// Errors: [`DeviceError::NoMicrophone`] when there is no input at all
    /// (or the default input does not open),
    /// [`DeviceError::DeviceNotFound`] for an unknown id,
    /// [`DeviceError::DeviceOpenFailed`] when the device refuses every
    /// 48 kHz configuration. A discard pseudo-device (the ALSA `null` PCM)
    /// is never opened: as the default input the first real input is used
    /// instead, or [`DeviceError::NoMicrophone`] when there is none.
    pub fn open(id: Option<&str>) -> Result<Microphone, DeviceError> {
        let host = audio_host();
        if id.is_none() && list_microphones().is_empty() {
            return Err(DeviceError::NoMicrophone);
        }
        let device = pick_device(
            id,
            || host.default_input_device(),
            || host.input_devices().ok(),
        );
        let Some(device) = device else {
            if list_microphones().is_empty() {
                return Err(DeviceError::NoMicrophone);
            }
            return Err(DeviceError::DeviceNotFound(
                id.unwrap_or("default").to_owned(),
            ));
        };
        let info = device_info(&device).unwrap_or_else(|| DeviceInfo {
            id: id.unwrap_or("default").to_owned(),
            name: "default input".into(),
        });
        let (tx, rx) = frame_queue(QUEUE_FRAMES);
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let (ready_tx, ready_rx) = mpsc::channel();
        let health = Arc::new(CaptureHealth::default());
        let thread_health = health.clone();
        let thread = std::thread::Builder::new()
            .name("confer-microphone".into())
            .spawn(
                move || match build_input_stream(&device, tx, &thread_health) {
                    Ok(stream) => {
                        let _ = ready_tx.send(Ok(()));
                        // Runs until the Microphone drops its sender.
                        let _ = stop_rx.recv();
                        drop(stream);
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                },
            )
            .map_err(DeviceError::Thread)?;
        let started = ready_rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| {
                Err(DeviceError::DeviceOpenFailed(
                    "microphone did not start".into(),
                ))
            });
        if let Err(e) = started {
            drop(stop_tx);
            let _ = thread.join();
            // ALSA offers a "default" input even with no sound card at all:
            // when the default cannot open, there is no usable microphone.
            if id.is_none() {
                tracing::debug!(%e, "default input does not open");
                return Err(DeviceError::NoMicrophone);
            }
            return Err(e);
        }
        Ok(Microphone {
            info,
            frames: Some(rx),
            stop: Some(stop_tx),
            thread: Some(thread),
            health,
            warned: false,
        })
    }

    /// 20 ms frames' worth of audio dropped so far because the device
    /// delivered it faster than real time.
    pub fn dropped_frames(&self) -> u64 {
        self.health.dropped_samples.load(Ordering::Relaxed) / AUDIO_FRAME_SAMPLES as u64
    }

    /// [`DeviceError::FasterThanRealTime`] once, after the device has kept
    /// delivering audio faster than real time for about 2 s (it is not a
    /// real microphone); `None` before and after. Capture goes on, paced.
    pub fn take_warning(&mut self) -> Option<DeviceError> {
        if self.warned || !self.health.faster_than_real_time.load(Ordering::Relaxed) {
            return None;
        }
        self.warned = true;
        Some(DeviceError::FasterThanRealTime(self.info.name.clone()))
    }

    /// Which input this is.
    pub fn info(&self) -> &DeviceInfo {
        &self.info
    }

    /// Takes the frame queue (once); later calls return `None`.
    pub fn take_frames(&mut self) -> Option<FrameReceiver<AudioFrame>> {
        self.frames.take()
    }

    /// Stops capturing and closes the device.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Microphone {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A device's id (cpal's persistent `host:id` string) and name.
pub(super) fn device_info(device: &cpal::Device) -> Option<DeviceInfo> {
    let id = device.id().ok()?.to_string();
    let name = device
        .description()
        .map(|d| d.name().to_owned())
        .unwrap_or_else(|_| id.clone());
    Some(DeviceInfo { id, name })
}

/// [`device_info`] of a device that is not a discard pseudo-device.
pub(super) fn real_device_info(device: &cpal::Device) -> Option<DeviceInfo> {
    device_info(device).filter(|i| !is_discard_device(&i.id, &i.name))
}

/// The device to open: for an `id`, the real device with that id; for
/// `None`, the `default` device unless it is a discard pseudo-device, else
/// the first real one of `devices` (the host's inputs or outputs).
pub(super) fn pick_device<I: Iterator<Item = cpal::Device>>(
    id: Option<&str>,
    default: impl FnOnce() -> Option<cpal::Device>,
    devices: impl FnOnce() -> Option<I>,
) -> Option<cpal::Device> {
    match id {
        None => default()
            .filter(|d| !is_discard(d))
            .or_else(|| devices().and_then(|mut ds| ds.find(|d| real_device_info(d).is_some()))),
        Some(id) => devices()
            .and_then(|mut ds| ds.find(|d| real_device_info(d).is_some_and(|i| i.id == id))),
    }
}

/// True for a device known to be a discard pseudo-device (one without an
/// id is given the benefit of the doubt).
fn is_discard(device: &cpal::Device) -> bool {
    device_info(device).is_some_and(|i| is_discard_device(&i.id, &i.name))
}

fn build_input_stream(
    device: &cpal::Device,
    tx: FrameSender<AudioFrame>,
    health: &Arc<CaptureHealth>,
) -> Result<cpal::Stream, DeviceError> {
    // A 20 ms buffer: one frame.
    let frames = crate::frame::AUDIO_FRAME_SAMPLES as u32;
    super::start_48k_stream([1, 2], frames, |config| {
        build_typed::<i16>(device, config, tx.clone(), health.clone())
            .or_else(|_| build_typed::<f32>(device, config, tx.clone(), health.clone()))
    })
    .map(|(stream, _)| stream)
    .map_err(DeviceError::DeviceOpenFailed)
}

fn build_typed<T>(
    device: &cpal::Device,
    config: StreamConfig,
    tx: FrameSender<AudioFrame>,
    health: Arc<CaptureHealth>,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample,
    i16: FromSample<T>,
{
    let channels = config.channels as usize;
    let mut pending: Vec<i16> = Vec::with_capacity(AUDIO_FRAME_SAMPLES * 2);
    let mut pacer = RealTimePacer::new(AUDIO_SAMPLE_RATE);
    device.build_input_stream::<T, _, _>(
        config,
        move |data: &[T], _| {
            let samples = data.len() / channels.max(1);
            if let Pace::Drop { report } = pacer.admit(samples, Instant::now()) {
                health
                    .dropped_samples
                    .fetch_add(samples as u64, Ordering::Relaxed);
                if report {
                    tracing::warn!(
                        dropped_samples = pacer.dropped_samples(),
                        "the audio input delivers audio faster than real time; \
                         it is not a real microphone"
                    );
                    health.faster_than_real_time.store(true, Ordering::Relaxed);
                }
                // A device that returns at once would otherwise spin here.
                if let Some(pause) = pacer.throttle(samples) {
                    std::thread::sleep(pause);
                }
                return;
            }
            let now = unix_time_us();
            pending.extend(data.chunks_exact(channels).map(|c| {
                let sum: i32 = c.iter().map(|&s| s.to_sample::<i16>() as i32).sum();
                (sum / channels as i32) as i16
            }));
            // The newest sample was captured about now; date frames backwards.
            let mut first_sample_us =
                now.saturating_sub(pending.len() as u64 * 1_000_000 / AUDIO_SAMPLE_RATE as u64);
            while pending.len() >= AUDIO_FRAME_SAMPLES {
                let samples: Vec<i16> = pending.drain(..AUDIO_FRAME_SAMPLES).collect();
                let frame = AudioFrame {
                    sample_rate: AUDIO_SAMPLE_RATE,
                    channels: 1,
                    samples,
                    capture_time_us: first_sample_us,
                };
                first_sample_us += crate::frame::AUDIO_FRAME_US;
                let _ = tx.send(frame);
            }
        },
        |e| tracing::warn!("microphone stream error: {e}"),
        Some(Duration::from_secs(5)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::ErrorCode;

    #[test]
    fn no_microphone_is_a_clear_error() {
        if list_microphones().is_empty() {
            let err = Microphone::open(None).unwrap_err();
            assert_eq!(err.code(), ErrorCode::NoMicrophone);
            let err = Microphone::open(Some("alsa:nothing")).unwrap_err();
            assert_eq!(err.code(), ErrorCode::NoMicrophone);
        } else {
            let err = Microphone::open(Some("no-such-host:no-such-device")).unwrap_err();
            assert_eq!(err.code(), ErrorCode::DeviceNotFound);
        }
    }

    #[test]
    fn the_alsa_null_pcm_is_never_a_microphone() {
        assert!(list_microphones()
            .iter()
            .all(|d| !crate::capture::is_discard_device(&d.id, &d.name)));
        let err = Microphone::open(Some("alsa:null")).unwrap_err();
        assert!(
            matches!(
                err.code(),
                ErrorCode::NoMicrophone | ErrorCode::DeviceNotFound
            ),
            "{err}"
        );
    }

    /// Needs a sound server: `PULSE_SERVER=... cargo test -- --ignored`.
    #[test]
    #[ignore = "needs an audio input (e.g. a PulseAudio null sink monitor)"]
    fn captures_20_ms_frames_from_a_real_input() {
        let mut mic = Microphone::open(None).unwrap();
        let mut frames = mic.take_frames().unwrap();
        for _ in 0..10 {
            let f = frames
                .recv_timeout(Duration::from_secs(2))
                .expect("a frame");
            f.validate().unwrap();
            assert_eq!(f.channels, 1);
        }
        mic.stop();
    }
}
