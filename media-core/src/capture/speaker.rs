//! Audio playout through cpal, with a null sink when there is no output.
//!
//! [`Speaker::open`] never fails: without an output device (the normal case
//! on a headless machine or CI without a sound server) it returns a null
//! speaker that accepts and discards audio, so the rest of the pipeline runs
//! unchanged. [`Speaker::kind`] tells which one is active.
//!
//! Every played stream pushes into its own [`SpeakerStream`]: the speaker
//! keeps one playout queue per stream (at most [`MAX_BUFFERED_MS`] each;
//! when a stream runs ahead its oldest audio is dropped, when it runs
//! behind it is silent) and the output mixes them: each pull takes the next
//! samples of every stream, from where that stream's own audio stands, and
//! sums them with saturation at the 16-bit limits. What is pulled, the mix,
//! is the echo canceller's reference.
//!
//! Discard pseudo-devices such as the ALSA `null` PCM
//! ([`is_discard_device`](super::is_discard_device)) are not outputs: they
//! are not listed, and instead of playing into one (its callback would
//! spin, asking for audio as fast as it can) the null speaker is used. The
//! null speaker has no thread of its own; it mixes and discards audio as it
//! is pushed (each push pulls as much as the pushing stream queued), so it
//! runs at the pace of whoever plays (the player's playout task, paced by
//! the incoming packets and their presentation times).

use super::microphone::{pick_device, real_device_info};
use super::tone::test_chime;
use super::{audio_host, DeviceError, DeviceInfo};
use crate::audio_processing::{looks_like_headphones, EchoReference};
use crate::frame::{AudioFrame, AUDIO_FRAME_SAMPLES, AUDIO_SAMPLE_RATE};
use cpal::traits::{DeviceTrait, HostTrait};
use cpal::{FromSample, Sample, SizedSample, StreamConfig};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Most audio the device speaker buffers before dropping the oldest.
pub const MAX_BUFFERED_MS: u64 = 200;

/// The output buffer [`play_test_sound`] asks for, in frames per period
/// (100 ms; the sound server holds two): a call's 20 ms period lets a
/// process stalled for more than ~40 ms (a loaded machine) cut a gap into
/// the chime, and the chime has no latency to keep low.
const TEST_SOUND_BUFFER_FRAMES: u32 = AUDIO_SAMPLE_RATE / 10;
/// How long [`play_test_sound`] lets the last audio it handed over drain
/// through the sound server's buffer (two periods, and a margin) before
/// closing the output.
const TEST_SOUND_TAIL: Duration = Duration::from_millis(250);
/// The longest [`play_test_sound`] waits for the output to take the chime
/// (an output that stopped pulling).
const TEST_SOUND_TIMEOUT: Duration = Duration::from_secs(10);

/// Plays the test chime ([`test_chime`]: 660 Hz then 880 Hz, 0.4 s each)
/// on output `id` (from [`list_speakers`], or the default output for
/// `None`) and returns once it has been played: about 1.05 s after the
/// output starts pulling audio (a fresh PulseAudio null sink starts about
/// 1.4 s after the stream is opened), at most 10 s (`TEST_SOUND_TIMEOUT`) and
/// the drain later. Blocks the calling thread.
///
/// The chime gets an output stream of its own, with a 100 ms buffer, so
/// audio already playing on the device (a call) goes on: the sound server
/// mixes the two. The whole chime is queued at once, so nothing has to
/// keep up while it plays. Fails at once, without the null speaker
/// fallback, when the output cannot be opened (see
/// [`Speaker::open_device`]).
pub fn play_test_sound(id: Option<&str>) -> Result<(), DeviceError> {
    let speaker = Arc::new(Speaker::open_output(id, TEST_SOUND_BUFFER_FRAMES)?);
    let chime = test_chime(AUDIO_SAMPLE_RATE);
    let chime_ms = chime
        .iter()
        .map(|f| f.samples.len() as u64 * 1000 / (AUDIO_SAMPLE_RATE as u64 * f.channels as u64))
        .sum();
    let stream = speaker.stream_holding(chime_ms);
    for frame in &chime {
        stream.push(frame);
    }
    let deadline = std::time::Instant::now() + TEST_SOUND_TIMEOUT;
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

/// Plays [`AudioFrame`]s on an output device, or discards them: the mix of
/// every [`SpeakerStream`] made with [`Speaker::stream`].
#[derive(Debug)]
pub struct Speaker {
    kind: SpeakerKind,
    pushed: AtomicU64,
    /// The streams' queues and their mix (the null speaker's too).
    playout: Arc<Playout>,
    /// Samples per frame of the mix: the device's channels (1 for the null
    /// speaker and a custom output).
    channels: u16,
    /// The device's stream, held for its `Drop` (which stops it); `None`
    /// for the null speaker and a custom output.
    _output: Option<Output>,
}

#[derive(Debug)]
struct Output {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// What waits to be played, per stream, and where what is played goes for
/// the echo canceller: the reference is taken where the mix is clocked out
/// (the device's callback, the app's pull, the null speaker's push), so it
/// stays aligned with the sound.
#[derive(Debug, Default)]
struct Playout {
    mix: Mutex<Mix>,
    reference: Mutex<Option<EchoReference>>,
}

/// The streams being played.
#[derive(Debug, Default)]
struct Mix {
    streams: Vec<StreamQueue>,
    next_id: u64,
    /// The sum of the streams' samples before saturation.
    sum: Vec<i32>,
}

/// One stream's audio waiting to be played (the mix's channel layout).
#[derive(Debug)]
struct StreamQueue {
    id: u64,
    samples: VecDeque<i16>,
    /// The most it queues, in milliseconds; the oldest audio beyond is
    /// dropped.
    max_ms: u64,
    /// Its [`SpeakerStream`] is gone: removed once played out.
    ended: bool,
}

impl Mix {
    fn queue(&mut self, id: u64) -> Option<&mut StreamQueue> {
        self.streams.iter_mut().find(|q| q.id == id)
    }
}

impl Playout {
    fn mix(&self) -> std::sync::MutexGuard<'_, Mix> {
        self.mix.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Fills `out` (interleaved, `channels`) with the next samples of every
    /// stream summed (silence where a stream has nothing), saturated to 16
    /// bits, and hands them to the echo reference.
    fn pull(&self, out: &mut [i16], channels: u16) {
        let mut mix = self.mix();
        let Mix { streams, sum, .. } = &mut *mix;
        sum.clear();
        sum.resize(out.len(), 0);
        for queue in streams.iter_mut() {
            let n = queue.samples.len().min(out.len());
            for (acc, sample) in sum.iter_mut().zip(queue.samples.drain(..n)) {
                *acc += sample as i32;
            }
        }
        streams.retain(|q| !(q.ended && q.samples.is_empty()));
        for (slot, &acc) in out.iter_mut().zip(sum.iter()) {
            *slot = acc.clamp(i16::MIN as i32, i16::MAX as i32) as i16;
        }
        drop(mix);
        if let Some(reference) = &*self.reference.lock().unwrap_or_else(|e| e.into_inner()) {
            reference.push_samples(out, channels);
        }
    }
}

/// One played stream's input into a [`Speaker`]'s mix (from
/// [`Speaker::stream`]). Its audio plays from where its own queue stands,
/// independently of the other streams'; dropping it lets what it queued
/// play out.
#[derive(Debug)]
pub struct SpeakerStream {
    speaker: Arc<Speaker>,
    id: u64,
}

impl SpeakerStream {
    /// Queues a frame of this stream for playout (mono and stereo are
    /// converted to the output's layout). Frames that are not 48 kHz are
    /// ignored.
    pub fn push(&self, frame: &AudioFrame) {
        self.speaker.push(self.id, frame);
    }

    /// The speaker this stream plays on.
    pub fn speaker(&self) -> &Arc<Speaker> {
        &self.speaker
    }
}

impl Drop for SpeakerStream {
    fn drop(&mut self) {
        let mut mix = self.speaker.playout.mix();
        if let Some(queue) = mix.queue(self.id) {
            queue.ended = true;
        }
        mix.streams.retain(|q| !(q.ended && q.samples.is_empty()));
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
        // A 20 ms buffer: one frame.
        Speaker::open_output(id, AUDIO_FRAME_SAMPLES as u32)
    }

    /// [`Speaker::open_device`] with a device buffer of `buffer_frames`
    /// per period.
    fn open_output(id: Option<&str>, buffer_frames: u32) -> Result<Speaker, DeviceError> {
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
        let playout = Arc::new(Playout::default());
        let (output, channels) =
            Output::start(device, playout.clone(), buffer_frames).map_err(|e| {
                DeviceError::DeviceOpenFailed(format!("audio output {}: {e}", info.name))
            })?;
        Ok(Speaker {
            kind: SpeakerKind::Device(info),
            pushed: AtomicU64::new(0),
            playout,
            channels,
            _output: Some(output),
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
            playout: playout.clone(),
            channels: 1,
            _output: None,
        };
        (speaker, CustomAudioOutput { playout })
    }

    /// A speaker that discards everything.
    pub fn null() -> Speaker {
        Speaker {
            kind: SpeakerKind::Null,
            pushed: AtomicU64::new(0),
            playout: Arc::default(),
            channels: 1,
            _output: None,
        }
    }

    /// Hands the mix as it is played (or discarded) to `reference`, the
    /// echo canceller's view of the output, and tells it whether the output
    /// looks like headphones.
    pub fn with_echo_reference(self, reference: &EchoReference) -> Speaker {
        let headphones = match &self.kind {
            SpeakerKind::Device(info) => looks_like_headphones(&info.name),
            SpeakerKind::Null | SpeakerKind::Custom => false,
        };
        reference.set_headphones(headphones);
        *self
            .playout
            .reference
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(reference.clone());
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

    /// A new input into the mix, for one played stream (at most
    /// [`MAX_BUFFERED_MS`] queued).
    pub fn stream(self: &Arc<Speaker>) -> SpeakerStream {
        self.stream_holding(MAX_BUFFERED_MS)
    }

    /// A new input into the mix that queues at most `max_ms`.
    fn stream_holding(self: &Arc<Speaker>, max_ms: u64) -> SpeakerStream {
        let mut mix = self.playout.mix();
        let id = mix.next_id;
        mix.next_id += 1;
        mix.streams.push(StreamQueue {
            id,
            samples: VecDeque::new(),
            max_ms,
            ended: false,
        });
        drop(mix);
        SpeakerStream {
            speaker: self.clone(),
            id,
        }
    }

    /// Queues a frame of stream `id` (see [`SpeakerStream::push`]).
    fn push(&self, id: u64, frame: &AudioFrame) {
        if frame.sample_rate != AUDIO_SAMPLE_RATE || !(1..=2).contains(&frame.channels) {
            return;
        }
        self.pushed.fetch_add(1, Ordering::Relaxed);
        let mut mix = self.playout.mix();
        let Some(queue) = mix.queue(id) else {
            return;
        };
        let samples = &mut queue.samples;
        let before = samples.len();
        match (frame.channels, self.channels) {
            (a, b) if a == b => samples.extend(frame.samples.iter().copied()),
            (1, _) => samples.extend(frame.samples.iter().flat_map(|&s| [s, s])),
            (_, _) => samples.extend(
                frame
                    .samples
                    .chunks_exact(2)
                    .map(|c| ((c[0] as i32 + c[1] as i32) / 2) as i16),
            ),
        }
        let added = samples.len() - before;
        let max =
            (queue.max_ms as usize * AUDIO_SAMPLE_RATE as usize / 1000) * self.channels as usize;
        let excess = samples.len().saturating_sub(max);
        samples.drain(..excess);
        drop(mix);
        if self.kind == SpeakerKind::Null {
            // Nothing clocks the null speaker out: the frame is "played"
            // (mixed with what the other streams queued meanwhile) as it is
            // pushed.
            let mut played = vec![0; added];
            self.playout.pull(&mut played, self.channels);
        }
    }

    /// Frames pushed so far (played or discarded).
    pub fn frames_pushed(&self) -> u64 {
        self.pushed.load(Ordering::Relaxed)
    }

    /// Audio waiting to be played, in milliseconds: the most any stream
    /// has queued (0 for the null speaker, which plays as it is pushed).
    pub fn buffered_ms(&self) -> u64 {
        let longest = self
            .playout
            .mix()
            .streams
            .iter()
            .map(|q| q.samples.len())
            .max()
            .unwrap_or(0) as u64;
        longest * 1000 / (AUDIO_SAMPLE_RATE as u64 * self.channels as u64)
    }
}

impl Output {
    /// Starts the device's stream (`buffer_frames` per period) pulling from
    /// `playout`; returns it and the device's channels.
    fn start(
        device: cpal::Device,
        playout: Arc<Playout>,
        buffer_frames: u32,
    ) -> Result<(Output, u16), String> {
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("confer-speaker".into())
            .spawn(
                move || match build_output_stream(&device, playout, buffer_frames) {
                    Ok((stream, channels)) => {
                        let _ = ready_tx.send(Ok(channels));
                        let _ = stop_rx.recv();
                        drop(stream);
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                },
            )
            .map_err(|e| format!("cannot spawn thread: {e}"))?;
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(channels)) => Ok((
                Output {
                    stop: Some(stop_tx),
                    thread: Some(thread),
                },
                channels,
            )),
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
    buffer_frames: u32,
) -> Result<(cpal::Stream, u16), String> {
    super::start_48k_stream([2, 1], buffer_frames, |config| {
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

    /// A custom speaker, its output, and a tap on its echo reference.
    fn custom_with_reference() -> (
        Arc<Speaker>,
        CustomAudioOutput,
        crate::audio_processing::RenderTap,
    ) {
        let reference = EchoReference::default();
        let tap = reference.tap();
        let (speaker, output) = Speaker::custom();
        (
            Arc::new(speaker.with_echo_reference(&reference)),
            output,
            tap,
        )
    }

    #[test]
    fn a_custom_output_feeds_the_echo_reference_when_pulled() {
        let (speaker, output, tap) = custom_with_reference();
        let stream = speaker.stream();
        let mut frame = AudioFrame::silence(2, 0);
        frame.samples.fill(500);
        stream.push(&frame);
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

    /// A 20 ms mono frame of `value`.
    fn frame(value: i16) -> AudioFrame {
        AudioFrame {
            samples: vec![value; 960],
            ..AudioFrame::silence(1, 0)
        }
    }

    /// Two players push 20 ms frames of a 440 Hz and a 660 Hz tone (each at
    /// -12 dBFS), one after the other, while the output pulls 20 ms per
    /// pair: every 40 ms of what plays holds both tones at their level
    /// (interleaved frames would hold each for half the time, -6 dB), the
    /// samples are the sums, and the echo reference hears the same mix.
    #[test]
    fn concurrent_streams_are_mixed() {
        use crate::capture::tone::{tone_level_dbfs, ToneGenerator};
        let (speaker, output, tap) = custom_with_reference();
        let (a, b) = (speaker.stream(), speaker.stream());
        let mut tones = [
            ToneGenerator::new(440.0, AUDIO_SAMPLE_RATE, 1),
            ToneGenerator::new(660.0, AUDIO_SAMPLE_RATE, 2),
        ];
        let (mut played, mut expected) = (Vec::new(), Vec::new());
        let mut out = [0i16; 960];
        for _ in 0..50 {
            let (fa, fb) = (tones[0].next_frame(0), tones[1].next_frame(0));
            a.push(&fa);
            b.push(&fb);
            output.pull(&mut out);
            played.extend_from_slice(&out);
            // b is stereo: its left channel is the tone.
            expected.extend(
                fa.samples
                    .iter()
                    .zip(fb.samples.iter().step_by(2))
                    .map(|(&x, &y)| x + y),
            );
        }
        assert_eq!(played, expected);
        for window in played.chunks_exact(1920) {
            for freq in [440.0, 660.0] {
                let level = tone_level_dbfs(window, freq, AUDIO_SAMPLE_RATE);
                assert!((level + 12.0).abs() < 0.5, "{freq} Hz at {level:.1} dBFS");
            }
        }
        let mut heard = vec![0i16; played.len()];
        for block in heard.chunks_exact_mut(480) {
            assert!(tap.take_block(block));
        }
        assert_eq!(heard, played, "the echo reference is the mix");
    }

    /// A stream that starts later plays from where the output stands, not
    /// behind what another stream queued; the sum saturates instead of
    /// wrapping; a dropped stream plays out what it queued and is removed.
    #[test]
    fn each_stream_plays_on_its_own_timeline() {
        let (speaker, output) = Speaker::custom();
        let speaker = Arc::new(speaker);
        let (a, b) = (speaker.stream(), speaker.stream());
        a.push(&frame(30_000));
        a.push(&frame(-30_000));
        assert_eq!(speaker.buffered_ms(), 40);
        b.push(&frame(10_000));
        b.push(&frame(-10_000));
        let mut out = [0i16; 960];
        output.pull(&mut out);
        assert_eq!(out, [i16::MAX; 960], "30000 + 10000 saturates");
        output.pull(&mut out);
        assert_eq!(out, [i16::MIN; 960]);
        drop(a);
        b.push(&frame(7));
        let c = speaker.stream();
        c.push(&frame(5));
        drop(c);
        output.pull(&mut out);
        assert_eq!(out, [12; 960]);
        output.pull(&mut out);
        assert_eq!(out, [0; 960]);
        assert_eq!(speaker.playout.mix().streams.len(), 1, "only b is left");
    }

    /// A stream keeps at most [`MAX_BUFFERED_MS`] (the oldest audio is
    /// dropped); the test chime's stream holds what it was made for, all of
    /// it played in order.
    #[test]
    fn a_stream_queues_up_to_its_limit() {
        let (speaker, output) = Speaker::custom();
        let speaker = Arc::new(speaker);
        let call = speaker.stream();
        for value in 0..15 {
            call.push(&frame(value));
        }
        assert_eq!(speaker.buffered_ms(), MAX_BUFFERED_MS);
        let mut out = [0i16; 960];
        output.pull(&mut out);
        assert_eq!(out, [5; 960], "the first 5 frames were dropped");
        drop(call);
        while speaker.buffered_ms() > 0 {
            output.pull(&mut out);
        }
        let chime = speaker.stream_holding(800);
        for value in 0..40 {
            chime.push(&frame(value));
        }
        assert_eq!(speaker.buffered_ms(), 800);
        for value in 0..40 {
            output.pull(&mut out);
            assert_eq!(out, [value; 960]);
        }
    }

    /// The null speaker plays each push at once, mixed with what the other
    /// streams queued: its echo reference hears the mix too.
    #[test]
    fn the_null_speaker_hands_the_mix_to_the_echo_reference() {
        let reference = EchoReference::default();
        let tap = reference.tap();
        let speaker = Arc::new(Speaker::null().with_echo_reference(&reference));
        let (a, b) = (speaker.stream(), speaker.stream());
        a.push(&frame(100));
        b.push(&frame(20));
        b.push(&frame(30));
        a.push(&frame(400));
        let mut block = [0i16; 480];
        let mut heard = Vec::new();
        while tap.take_block(&mut block) {
            heard.push(block[0]);
        }
        // a's first frame alone, b's two (the second on an empty a), then
        // a's second: nothing is played twice or dropped.
        assert_eq!(heard, [100, 100, 20, 20, 30, 30, 400, 400]);
        assert_eq!(speaker.buffered_ms(), 0);
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
        let speaker = Arc::new(speaker);
        let stream = speaker.stream();
        stream.push(&AudioFrame::silence(2, 0));
        stream.push(&AudioFrame::silence(1, 0));
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
        let speaker = Arc::new(Speaker::open(None));
        assert!(!speaker.is_null());
        let stream = speaker.stream();
        let mut tone = crate::capture::tone::ToneGenerator::new(440.0, AUDIO_SAMPLE_RATE, 1);
        for _ in 0..5 {
            stream.push(&tone.next_frame(0));
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
