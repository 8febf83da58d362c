//! Audio playout through cpal, with a null sink when there is no output.
//!
//! [`Speaker::open`] never fails: without an output device (the normal case
//! on a headless machine or CI without a sound server) it returns a null
//! speaker that accepts and discards audio, so the rest of the pipeline runs
//! unchanged. [`Speaker::kind`] tells which one is active.
//!
//! The device speaker keeps a playout buffer of at most
//! [`MAX_BUFFERED_MS`]; when the producer runs ahead the oldest audio is
//! dropped, when it runs behind the device plays silence.
//!
//! Discard pseudo-devices such as the ALSA `null` PCM
//! ([`is_discard_device`](super::is_discard_device)) are not outputs: they
//! are not listed, and instead of playing into one (its callback would
//! spin, asking for audio as fast as it can) the null speaker is used. The
//! null speaker has no thread of its own; it discards each frame as it is
//! pushed, so it runs at the pace of whoever plays (the player's playout
//! task, paced by the incoming packets and their presentation times).

use super::microphone::{pick_device, real_device_info};
use super::tone::test_chime;
use super::{audio_host, DeviceError, DeviceInfo};
use crate::audio_processing::{looks_like_headphones, EchoReference};
use crate::frame::{AudioFrame, AUDIO_SAMPLE_RATE};
use cpal::traits::{DeviceTrait, HostTrait};
use cpal::{FromSample, Sample, SizedSample, StreamConfig};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Most audio the device speaker buffers before dropping the oldest.
pub const MAX_BUFFERED_MS: u64 = 200;

/// How far [`play_test_sound`] keeps ahead of the device.
const TEST_SOUND_AHEAD_MS: u64 = 60;
/// How long [`play_test_sound`] lets the last audio it handed over drain
/// through the sound server's own buffers before closing the output.
const TEST_SOUND_TAIL: Duration = Duration::from_millis(150);

/// Plays the test chime ([`test_chime`]: 660 Hz then 880 Hz, 0.4 s each)
/// on output `id` (from [`list_speakers`], or the default output for
/// `None`) and returns once it has been played: about 1 s after the output
/// starts pulling audio (cpal's PulseAudio stream starts about 1.4 s after
/// it is opened). Blocks the calling thread.
///
/// The chime gets an output stream of its own, so audio already playing
/// on the device (a call) goes on: the sound server mixes the two. Fails at
/// once, without the null speaker fallback, when the output cannot be
/// opened (see [`Speaker::open_device`]).
pub fn play_test_sound(id: Option<&str>) -> Result<(), DeviceError> {
    let speaker = Speaker::open_device(id)?;
    for frame in test_chime(AUDIO_SAMPLE_RATE) {
        // Keep a little ahead of the device: the buffer drops what overflows.
        while speaker.buffered_ms() > TEST_SOUND_AHEAD_MS {
            std::thread::sleep(Duration::from_millis(5));
        }
        speaker.push(&frame);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while speaker.buffered_ms() > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(TEST_SOUND_TAIL);
    Ok(())
}

/// The audio outputs present now; empty without a sound server or device.
/// Discard pseudo-devices are left out.
pub fn list_speakers() -> Vec<DeviceInfo> {
    match audio_host().output_devices() {
        Ok(devices) => devices.filter_map(|d| real_device_info(&d)).collect(),
        Err(e) => {
            tracing::debug!("listing audio outputs failed: {e}");
            Vec::new()
        }
    }
}

/// Which sink a [`Speaker`] plays into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpeakerKind {
    /// A real output device.
    Device(DeviceInfo),
    /// No output device: audio is discarded.
    Null,
    /// The app pulls the audio ([`Speaker::custom`]).
    Custom,
}

/// Plays [`AudioFrame`]s on an output device, or discards them.
#[derive(Debug)]
pub struct Speaker {
    kind: SpeakerKind,
    pushed: AtomicU64,
    output: Option<Output>,
    /// Where what is played goes for the echo canceller.
    echo_reference: Option<EchoReference>,
}

#[derive(Debug)]
struct Output {
    channels: u16,
    playout: Arc<Playout>,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// What waits to be played, and where what is played goes for the echo
/// canceller: the reference is taken where the audio is clocked out (the
/// device's callback, the app's pull), so it stays aligned with the sound.
#[derive(Debug, Default)]
struct Playout {
    buffer: Mutex<VecDeque<i16>>,
    reference: Mutex<Option<EchoReference>>,
}

impl Playout {
    /// Fills `out` (interleaved, `channels`) with the next samples, or
    /// silence, and hands them to the echo reference.
    fn pull(&self, out: &mut [i16], channels: u16) {
        let mut buffer = self.buffer.lock().unwrap_or_else(|e| e.into_inner());
        for slot in out.iter_mut() {
            *slot = buffer.pop_front().unwrap_or(0);
        }
        drop(buffer);
        if let Some(reference) = &*self.reference.lock().unwrap_or_else(|e| e.into_inner()) {
            reference.push_samples(out, channels);
        }
    }
}

/// The app's end of a custom audio output ([`Speaker::custom`]): it pulls
/// what the SDK plays, mono 48 kHz, at its own clock (ZEGO: custom audio
/// render). Cheap to clone.
#[derive(Debug, Clone)]
pub struct CustomAudioOutput {
    playout: Arc<Playout>,
}

impl CustomAudioOutput {
    /// Fills `out` with the next mono samples to play (silence when the
    /// SDK has nothing); what is pulled is the echo canceller's reference.
    pub fn pull(&self, out: &mut [i16]) {
        self.playout.pull(out, 1);
    }
}

impl Speaker {
    /// Opens an output (`id` from [`list_speakers`], or the default output
    /// for `None`) at 48 kHz. Falls back to the null speaker when there is
    /// no such device or it cannot be opened (logged as a warning), and
    /// instead of a discard pseudo-device (the ALSA `null` PCM): as the
    /// default output the first real output is used, or the null speaker.
    pub fn open(id: Option<&str>) -> Speaker {
        Speaker::open_device(id).unwrap_or_else(|e| {
            match (&e, id) {
                (DeviceError::NoSpeaker, None) => {}
                (DeviceError::DeviceNotFound(_), _) => {
                    tracing::warn!("no audio output {id:?}; using the null speaker")
                }
                _ => tracing::warn!("{e}; using the null speaker"),
            }
            Speaker::null()
        })
    }

    /// Opens an output like [`Speaker::open`], but fails instead of falling
    /// back to the null speaker: [`DeviceError::DeviceNotFound`] for an `id`
    /// that names no output, [`DeviceError::NoSpeaker`] when there is no
    /// output at all, [`DeviceError::DeviceOpenFailed`] when it cannot be
    /// opened.
    pub fn open_device(id: Option<&str>) -> Result<Speaker, DeviceError> {
        let host = audio_host();
        let device = pick_device(
            id,
            || host.default_output_device(),
            || host.output_devices().ok(),
        );
        let Some(device) = device else {
            return Err(match id {
                Some(id) => DeviceError::DeviceNotFound(id.to_owned()),
                None => DeviceError::NoSpeaker,
            });
        };
        let info = super::microphone::device_info(&device).unwrap_or_else(|| DeviceInfo {
            id: "default".into(),
            name: "default output".into(),
        });
        let output = Output::start(device).map_err(|e| {
            DeviceError::DeviceOpenFailed(format!("audio output {}: {e}", info.name))
        })?;
        Ok(Speaker {
            kind: SpeakerKind::Device(info),
            pushed: AtomicU64::new(0),
            output: Some(output),
            echo_reference: None,
        })
    }

    /// A speaker the app plays itself: it pulls the audio from the
    /// returned [`CustomAudioOutput`] (mono; at most [`MAX_BUFFERED_MS`]
    /// waits).
    pub fn custom() -> (Speaker, CustomAudioOutput) {
        let playout = Arc::new(Playout::default());
        let speaker = Speaker {
            kind: SpeakerKind::Custom,
            pushed: AtomicU64::new(0),
            output: Some(Output {
                channels: 1,
                playout: playout.clone(),
                stop: None,
                thread: None,
            }),
            echo_reference: None,
        };
        (speaker, CustomAudioOutput { playout })
    }

    /// A speaker that discards everything.
    pub fn null() -> Speaker {
        Speaker {
            kind: SpeakerKind::Null,
            pushed: AtomicU64::new(0),
            output: None,
            echo_reference: None,
        }
    }

    /// Hands every pushed frame (played or discarded) to `reference`, the
    /// echo canceller's view of the output, and tells it whether the output
    /// looks like headphones.
    pub fn with_echo_reference(mut self, reference: &EchoReference) -> Speaker {
        let headphones = match &self.kind {
            SpeakerKind::Device(info) => looks_like_headphones(&info.name),
            SpeakerKind::Null | SpeakerKind::Custom => false,
        };
        reference.set_headphones(headphones);
        match &self.output {
            Some(output) => {
                *output
                    .playout
                    .reference
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = Some(reference.clone())
            }
            // Nothing clocks the null speaker's audio out: it is "played"
            // when pushed.
            None => self.echo_reference = Some(reference.clone()),
        }
        self
    }

    /// Which sink is active.
    pub fn kind(&self) -> &SpeakerKind {
        &self.kind
    }

    /// True for the null speaker.
    pub fn is_null(&self) -> bool {
        self.kind == SpeakerKind::Null
    }

    /// Queues a frame for playout (mono and stereo are converted to the
    /// device's layout). Frames that are not 48 kHz are ignored.
    pub fn push(&self, frame: &AudioFrame) {
        if frame.sample_rate != AUDIO_SAMPLE_RATE || !(1..=2).contains(&frame.channels) {
            return;
        }
        self.pushed.fetch_add(1, Ordering::Relaxed);
        if let Some(reference) = &self.echo_reference {
            reference.push(frame);
        }
        let Some(output) = &self.output else {
            return;
        };
        let mut buffer = output
            .playout
            .buffer
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match (frame.channels, output.channels) {
            (a, b) if a == b => buffer.extend(frame.samples.iter().copied()),
            (1, _) => buffer.extend(frame.samples.iter().flat_map(|&s| [s, s])),
            (_, _) => buffer.extend(
                frame
                    .samples
                    .chunks_exact(2)
                    .map(|c| ((c[0] as i32 + c[1] as i32) / 2) as i16),
            ),
        }
        let max = (MAX_BUFFERED_MS as usize * AUDIO_SAMPLE_RATE as usize / 1000)
            * output.channels as usize;
        if buffer.len() > max {
            let excess = buffer.len() - max;
            buffer.drain(..excess);
        }
    }

    /// Frames pushed so far (played or discarded).
    pub fn frames_pushed(&self) -> u64 {
        self.pushed.load(Ordering::Relaxed)
    }

    /// Audio waiting to be played, in milliseconds (0 for the null speaker).
    pub fn buffered_ms(&self) -> u64 {
        self.output.as_ref().map_or(0, |o| {
            let len = o
                .playout
                .buffer
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .len() as u64;
            len * 1000 / (AUDIO_SAMPLE_RATE as u64 * o.channels as u64)
        })
    }
}

impl Output {
    fn start(device: cpal::Device) -> Result<Output, String> {
        let playout = Arc::new(Playout::default());
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread_buffer = playout.clone();
        let thread = std::thread::Builder::new()
            .name("confer-speaker".into())
            .spawn(move || match build_output_stream(&device, thread_buffer) {
                Ok((stream, channels)) => {
                    let _ = ready_tx.send(Ok(channels));
                    let _ = stop_rx.recv();
                    drop(stream);
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
            })
            .map_err(|e| format!("cannot spawn thread: {e}"))?;
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(channels)) => Ok(Output {
                channels,
                playout,
                stop: Some(stop_tx),
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => Err("the output did not start".into()),
        }
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn build_output_stream(
    device: &cpal::Device,
    playout: Arc<Playout>,
) -> Result<(cpal::Stream, u16), String> {
    super::start_48k_stream([2, 1], |config| {
        build_typed::<i16>(device, config, playout.clone())
            .or_else(|_| build_typed::<f32>(device, config, playout.clone()))
    })
}

fn build_typed<T>(
    device: &cpal::Device,
    config: StreamConfig,
    playout: Arc<Playout>,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample + FromSample<i16>,
{
    let channels = config.channels;
    let mut samples = Vec::new();
    device.build_output_stream::<T, _, _>(
        config,
        move |out: &mut [T], _| {
            samples.resize(out.len(), 0);
            playout.pull(&mut samples, channels);
            for (slot, &sample) in out.iter_mut().zip(&samples) {
                *slot = sample.to_sample::<T>();
            }
        },
        |e| tracing::warn!("speaker stream error: {e}"),
        Some(Duration::from_secs(5)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_custom_output_feeds_the_echo_reference_when_pulled() {
        let reference = EchoReference::default();
        let tap = reference.tap();
        let (speaker, output) = Speaker::custom();
        let speaker = speaker.with_echo_reference(&reference);
        let mut frame = AudioFrame::silence(2, 0);
        frame.samples.fill(500);
        speaker.push(&frame);
        assert_eq!(speaker.buffered_ms(), 20);
        let mut block = [0i16; 480];
        assert!(!tap.take_block(&mut block), "nothing played yet");
        let mut out = [0i16; 480];
        output.pull(&mut out);
        assert_eq!(out, [500; 480]);
        assert!(tap.take_block(&mut block));
        assert_eq!(block, [500; 480]);
        // Pulled past what was pushed: silence, and the reference hears it.
        output.pull(&mut [0i16; 960]);
        output.pull(&mut out);
        assert_eq!(out, [0; 480]);
    }

    #[test]
    fn falls_back_to_the_null_speaker_without_outputs() {
        if list_speakers().is_empty() {
            let speaker = Speaker::open(None);
            assert!(speaker.is_null(), "{:?}", speaker.kind());
        }
        let speaker = Speaker::open(Some("no-such-host:no-such-output"));
        assert!(speaker.is_null());
        // The ALSA null PCM is not a speaker, even when asked for by id.
        assert!(Speaker::open(Some("alsa:null")).is_null());
        assert!(list_speakers()
            .iter()
            .all(|d| !crate::capture::is_discard_device(&d.id, &d.name)));
        speaker.push(&AudioFrame::silence(2, 0));
        speaker.push(&AudioFrame::silence(1, 0));
        assert_eq!(speaker.frames_pushed(), 2);
        assert_eq!(speaker.buffered_ms(), 0);
    }

    #[test]
    fn the_test_sound_fails_at_once_without_the_output() {
        let err = play_test_sound(Some("no-such-host:no-such-output")).unwrap_err();
        assert!(matches!(err, DeviceError::DeviceNotFound(_)), "{err:?}");
        assert_eq!(err.code(), protocol::ErrorCode::DeviceNotFound);
        assert!(matches!(
            Speaker::open_device(Some("alsa:null")),
            Err(DeviceError::DeviceNotFound(_))
        ));
        if list_speakers().is_empty() {
            let err = play_test_sound(None).unwrap_err();
            assert_eq!(err.code(), protocol::ErrorCode::DeviceNotFound, "{err}");
        }
    }

    /// Needs a sound server: `PULSE_SERVER=... cargo test -- --ignored`.
    #[test]
    #[ignore = "needs an audio output (e.g. a PulseAudio null sink)"]
    fn plays_on_a_real_output() {
        let speaker = Speaker::open(None);
        assert!(!speaker.is_null());
        let mut tone = crate::capture::tone::ToneGenerator::new(440.0, AUDIO_SAMPLE_RATE, 1);
        for _ in 0..5 {
            speaker.push(&tone.next_frame(0));
        }
        let before = speaker.buffered_ms();
        assert!(before > 0);
        std::thread::sleep(Duration::from_millis(500));
        let after = speaker.buffered_ms();
        println!(
            "{:?}: buffered {before} ms, 500 ms later {after} ms",
            speaker.kind()
        );
        assert!(after < before, "the device consumes audio");
    }
}
