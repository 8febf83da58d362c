//! One played stream's pipeline: the playing transport -> H.264 decoder ->
//! renderer (native window or frame sink), and Opus decoder -> speaker (or
//! the null speaker) and the app's audio sink.
//!
//! Decoding runs on its own thread; the transport's events are read by a
//! tokio task that also decodes audio (cheap, through the audio jitter
//! buffer, which repairs lost packets and times the playout) and handles
//! loss: after an
//! incomplete video frame, frames are skipped until the next keyframe (which
//! the transport has already requested), so no corrupted picture is shown;
//! an incomplete non-reference frame is only skipped itself. Decoded video
//! is shown at its playout time ([`PlayoutDelay`]), in sync with the audio;
//! a frame far later than that is decoded but not shown.

use super::audio_jitter::{AudioJitterBuffer, RepairCounts, TimedFrame};
use super::counters::{Counter, RateMeter};
use super::playout_delay::{PlayoutDelay, MAX_PLAYOUT_DELAY};
use super::slot::Slot;
use super::sound_level::LevelMeter;
use super::sync::{PlayoutSync, Track, MAX_SYNC_DELAY};
use super::{AudioSink, Fact, FactSender, PlayedAudio};
use crate::capture::speaker::Speaker;
use crate::codec::h264::H264Decoder;
use crate::event::Event;
use crate::frame::AudioFrame;
use crate::quality::{estimate_mos, PlayStreamQuality, StreamQualityLevel, QUALITY_INTERVAL};
use crate::render::{I420Planes, RendererHandle};
use crate::transport::{EncodedVideoFrame, PlayEvent, PlayTransport};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Frames waiting for the decoder (or for their playout time, up to
/// [`MAX_PLAYOUT_DELAY`] of them); more means it cannot keep up, and the
/// newest are dropped (the next one sent is marked incomplete, so the
/// decoder waits for a keyframe).
const DECODE_QUEUE: usize = 60;
/// A frame for the decode thread, with when it was queued (its playout
/// delay does not count the wait behind earlier frames' holds).
type Queued = (EncodedVideoFrame, Instant);
/// While waiting for a keyframe, ask the publisher again this often.
const KEYFRAME_RETRY: Duration = Duration::from_millis(500);
/// No new frame for this long counts as a freeze in the break rate.
const FREEZE: Duration = Duration::from_millis(500);

/// State shared between a player's threads and the engine.
#[derive(Debug)]
pub(crate) struct PlayerShared {
    pub(crate) stream_id: String,
    pub(crate) transport: Slot<PlayTransport>,
    renderer: Mutex<Option<RendererHandle>>,
    pub(crate) mute_video: AtomicBool,
    pub(crate) mute_audio: AtomicBool,
    recv_frames: Counter,
    decoded: Counter,
    rendered: Counter,
    video_bytes: Counter,
    audio_packets: Counter,
    audio_bytes: Counter,
    /// Audio packets lost on the wire.
    audio_lost: Counter,
    /// Lost audio frames recovered (RED or FEC).
    audio_recovered: Counter,
    /// Lost audio frames concealed (PLC).
    audio_concealed: Counter,
    /// The audio jitter buffer's target delay, µs.
    audio_jitter_delay_us: AtomicU64,
    frozen_ms: Counter,
    size: Mutex<(u32, u32)>,
    /// Send-to-decode delay of the latest frame, µs (-1 = unknown).
    e2e_us: AtomicI64,
    /// Sender time of the latest audio and video presented, Unix ms (0 = none).
    last_audio_capture_ms: AtomicI64,
    last_video_capture_ms: AtomicI64,
    first_recv: AtomicBool,
    first_render: AtomicBool,
    first_audio: AtomicBool,
    /// Lines audio and video up on the publisher's clock.
    sync: Mutex<PlayoutSync>,
    /// The decoded audio's level (whether or not it is played out).
    pub(crate) level: LevelMeter,
}

impl PlayerShared {
    /// Adds what the audio jitter buffer counted since `before`.
    fn count_audio(&self, before: RepairCounts, after: RepairCounts) {
        self.audio_packets.add(after.received - before.received);
        self.audio_lost.add(after.lost - before.lost);
        self.audio_recovered.add(
            after.recovered_red + after.recovered_fec - before.recovered_red - before.recovered_fec,
        );
        self.audio_concealed.add(after.concealed - before.concealed);
    }
}

/// A running player pipeline.
#[derive(Debug)]
pub(crate) struct PlayerPipeline {
    pub(crate) shared: Arc<PlayerShared>,
    decode_tx: std::sync::mpsc::SyncSender<Queued>,
    decoder: Option<std::thread::JoinHandle<()>>,
    tasks: Vec<JoinHandle<()>>,
}

impl PlayerPipeline {
    /// Starts the decode side; media arrives once a transport is installed
    /// and [`PlayerPipeline::attach`] feeds its events.
    pub(crate) fn start(
        stream_id: &str,
        renderer: Option<RendererHandle>,
        facts: FactSender,
        rt: &tokio::runtime::Handle,
    ) -> PlayerPipeline {
        let shared = Arc::new(PlayerShared {
            stream_id: stream_id.to_owned(),
            transport: Slot::new(),
            renderer: Mutex::new(renderer),
            mute_video: AtomicBool::new(false),
            mute_audio: AtomicBool::new(false),
            recv_frames: Counter::default(),
            decoded: Counter::default(),
            rendered: Counter::default(),
            video_bytes: Counter::default(),
            audio_packets: Counter::default(),
            audio_bytes: Counter::default(),
            audio_lost: Counter::default(),
            audio_recovered: Counter::default(),
            audio_concealed: Counter::default(),
            audio_jitter_delay_us: AtomicU64::new(0),
            frozen_ms: Counter::default(),
            size: Mutex::new((0, 0)),
            e2e_us: AtomicI64::new(-1),
            last_audio_capture_ms: AtomicI64::new(0),
            last_video_capture_ms: AtomicI64::new(0),
            first_recv: AtomicBool::new(false),
            first_render: AtomicBool::new(false),
            first_audio: AtomicBool::new(false),
            sync: Mutex::new(PlayoutSync::default()),
            level: LevelMeter::default(),
        });
        let (decode_tx, decode_rx) = std::sync::mpsc::sync_channel(DECODE_QUEUE);
        let decoder = {
            let (shared, facts) = (shared.clone(), facts.clone());
            std::thread::Builder::new()
                .name("confer-decode".into())
                .spawn(move || decode_loop(&shared, &decode_rx, &facts))
                .map_err(|e| tracing::error!(%e, "cannot start the decode thread"))
                .ok()
        };
        let tasks = vec![rt.spawn(quality_loop(shared.clone(), facts))];
        PlayerPipeline {
            shared,
            decode_tx,
            decoder,
            tasks,
        }
    }

    /// Feeds a new transport's events into the pipeline until they end.
    pub(crate) fn attach(
        &mut self,
        events: mpsc::Receiver<PlayEvent>,
        speaker: Arc<Speaker>,
        sink: Option<AudioSink>,
        generation: u64,
        facts: FactSender,
        rt: &tokio::runtime::Handle,
    ) {
        self.tasks.retain(|t| !t.is_finished());
        self.tasks.push(rt.spawn(event_loop(
            self.shared.clone(),
            events,
            self.decode_tx.clone(),
            speaker,
            sink,
            generation,
            facts,
        )));
    }

    /// Stops the pipeline and closes the transport.
    pub(crate) async fn stop(mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
        self.shared.transport.close().await;
        if let Some(r) = lock(&self.shared.renderer).take() {
            r.close();
        }
        drop(self.decode_tx);
        if let Some(d) = self.decoder.take() {
            let _ = tokio::task::spawn_blocking(move || d.join()).await;
        }
    }
}

async fn event_loop(
    shared: Arc<PlayerShared>,
    mut events: mpsc::Receiver<PlayEvent>,
    decode: std::sync::mpsc::SyncSender<Queued>,
    speaker: Arc<Speaker>,
    sink: Option<AudioSink>,
    generation: u64,
    facts: FactSender,
) {
    let stream_id = shared.stream_id.clone();
    let fact = |f: super::MediaFact| {
        let _ = facts.send(Fact::Media {
            stream_id: stream_id.clone(),
            role: protocol::MediaRole::Play,
            fact: f,
        });
    };
    let mut jitter: Option<AudioJitterBuffer> = None;
    // How much later than its sender time audio is presented, to play in
    // sync with the video (from the latest packet).
    let mut sync_delay_us: Option<u64> = None;
    // Audio waits for its presentation time in its own task, in order, so
    // video events are never held up behind it.
    let (playout, frames) = mpsc::unbounded_channel();
    let player = tokio::spawn(play_out(shared.clone(), frames, speaker, sink));
    let _abort_player = AbortOnDrop(player);
    // A video frame was dropped for a full decode queue: the next one cannot
    // be decoded on its own unless it is a keyframe.
    let mut video_dropped = false;
    loop {
        // Audio held behind a missing packet is played when that one is due.
        let due = jitter.as_ref().and_then(AudioJitterBuffer::deadline_us);
        let event = match due {
            Some(due) => {
                let wait = due.saturating_sub(crate::frame::unix_time_us());
                match tokio::time::timeout(Duration::from_micros(wait), events.recv()).await {
                    Ok(event) => event,
                    Err(_) => {
                        if let Some(buffer) = &mut jitter {
                            let before = buffer.counts();
                            let frames = buffer.poll(crate::frame::unix_time_us());
                            shared.count_audio(before, buffer.counts());
                            play_frames(&shared, &playout, frames, sync_delay_us);
                        }
                        continue;
                    }
                }
            }
            None => events.recv().await,
        };
        let Some(event) = event else { break };
        if !shared.transport.is_current(generation) {
            return;
        }
        match event {
            PlayEvent::Connected => fact(super::MediaFact::Connected),
            PlayEvent::Disconnected => tracing::debug!(stream_id, "play transport disconnected"),
            PlayEvent::Failed => {
                fact(super::MediaFact::Failed(
                    "ICE/DTLS connection failed".into(),
                ));
                return;
            }
            PlayEvent::Video(mut frame) => {
                shared.recv_frames.add(1);
                shared.video_bytes.add(frame.data.len() as u64);
                if video_dropped && !(frame.keyframe && frame.complete) {
                    frame.complete = false;
                    frame.discardable = false;
                }
                match decode.try_send((frame, Instant::now())) {
                    Ok(()) => video_dropped = false,
                    Err(std::sync::mpsc::TrySendError::Full(_)) => video_dropped = true,
                    Err(std::sync::mpsc::TrySendError::Disconnected(_)) => return,
                }
            }
            PlayEvent::Audio(packet) => {
                let buffer = match &mut jitter {
                    Some(b) => b,
                    None => match AudioJitterBuffer::new(1, rtc_profile::RED_PAYLOAD_TYPE) {
                        Ok(b) => jitter.insert(b),
                        Err(e) => {
                            tracing::error!(%e, "cannot create the Opus decoder");
                            continue;
                        }
                    },
                };
                shared.audio_bytes.add(packet.data.len() as u64);
                let before = buffer.counts();
                let now_us = crate::frame::unix_time_us();
                let frames = buffer.push(&packet, now_us);
                shared.count_audio(before, buffer.counts());
                shared
                    .audio_jitter_delay_us
                    .store(buffer.target_delay_us(), Ordering::Relaxed);
                if !shared.first_audio.swap(true, Ordering::Relaxed) {
                    let _ = facts.send(Fact::Event(Event::PlayerRecvAudioFirstFrame {
                        stream_id: stream_id.clone(),
                    }));
                }
                if let Some(t) = packet.capture_time_us {
                    let at = lock(&shared.sync).present_at(Track::Audio, t, now_us);
                    sync_delay_us = Some(at.saturating_sub(t));
                }
                play_frames(&shared, &playout, frames, sync_delay_us);
            }
        }
    }
}

/// Hands decoded audio to the playout task: in sync with the video (its
/// sender time plus `sync_delay_us`), and never before the jitter buffer's
/// playout time.
fn play_frames(
    shared: &PlayerShared,
    playout: &mpsc::UnboundedSender<PlayoutFrame>,
    frames: Vec<TimedFrame>,
    sync_delay_us: Option<u64>,
) {
    for f in frames {
        shared.level.add(&f.frame.samples);
        let synced = f.sender_us.zip(sync_delay_us).map(|(t, d)| t + d);
        let at = synced.map_or(f.play_at_us, |at| at.max(f.play_at_us));
        let _ = playout.send((f.frame, f.sender_us, at));
    }
}

/// Aborts a task when the owner goes away.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A decoded frame, its sender time if known and when to present it (Unix µs).
type PlayoutFrame = (AudioFrame, Option<u64>, u64);

/// Plays decoded audio out at its presentation time.
async fn play_out(
    shared: Arc<PlayerShared>,
    mut frames: mpsc::UnboundedReceiver<PlayoutFrame>,
    speaker: Arc<Speaker>,
    sink: Option<AudioSink>,
) {
    // This player's own input into the speaker's mix.
    let speaker = speaker.stream();
    while let Some((frame, sent, at)) = frames.recv().await {
        let wait = at.saturating_sub(crate::frame::unix_time_us());
        if wait > 0 {
            tokio::time::sleep(Duration::from_micros(wait).min(MAX_SYNC_DELAY)).await;
        }
        if let Some(sent) = sent {
            shared
                .last_audio_capture_ms
                .store((sent / 1000) as i64, Ordering::Relaxed);
        }
        if !shared.mute_audio.load(Ordering::Relaxed) {
            speaker.push(&frame);
        }
        if let Some(sink) = &sink {
            sink.deliver(PlayedAudio {
                stream_id: shared.stream_id.clone(),
                frame,
            });
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn decode_loop(
    shared: &PlayerShared,
    frames: &std::sync::mpsc::Receiver<Queued>,
    facts: &FactSender,
) {
    let mut decoder = match H264Decoder::new() {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(%e, "cannot create the H.264 decoder");
            return;
        }
    };
    let event = |e: Event| {
        let _ = facts.send(Fact::Event(e));
    };
    let mut waiting_for_keyframe = true;
    let mut last_request: Option<Instant> = None;
    let mut last_shown: Option<Instant> = None;
    let mut playout = PlayoutDelay::default();
    while let Ok((frame, queued)) = frames.recv() {
        if shared.mute_video.load(Ordering::Relaxed) {
            // Muted video is not decoded at all; unmuting waits for (and asks
            // for) a keyframe.
            waiting_for_keyframe = true;
            last_request = None;
            continue;
        }
        if !frame.complete && !frame.discardable {
            waiting_for_keyframe = true;
        }
        if waiting_for_keyframe && !(frame.complete && frame.keyframe) {
            // Ask again while waiting: a request (or the keyframe) may be lost.
            if last_request.is_none_or(|t| t.elapsed() >= KEYFRAME_RETRY) {
                if let Some(t) = shared.transport.get() {
                    t.request_keyframe();
                    last_request = Some(Instant::now());
                }
            }
            continue;
        }
        if !frame.complete {
            // A damaged non-reference frame: nothing refers to it.
            continue;
        }
        waiting_for_keyframe = false;
        if !shared.first_recv.swap(true, Ordering::Relaxed) {
            event(Event::PlayerRecvVideoFirstFrame {
                stream_id: shared.stream_id.clone(),
            });
        }
        let decoding = Instant::now();
        let picture = match decoder.decode(&frame.data) {
            Ok(Some(p)) => p,
            Ok(None) => continue,
            Err(e) => {
                tracing::debug!(%e, "undecodable frame; waiting for a keyframe");
                waiting_for_keyframe = true;
                last_request = None;
                continue;
            }
        };
        shared.decoded.add(1);
        let now_us = crate::frame::unix_time_us();
        if let Some(captured) = frame.capture_time_us {
            let delay_us = now_us.saturating_sub(captured);
            shared.e2e_us.store(
                i64::try_from(delay_us).unwrap_or(i64::MAX),
                Ordering::Relaxed,
            );
        }
        *lock(&shared.size) = (picture.width, picture.height);
        let now = Instant::now();
        if let Some(prev) = last_shown {
            let gap = now.duration_since(prev);
            if gap > FREEZE {
                shared.frozen_ms.add(gap.as_millis() as u64);
            }
        }
        last_shown = Some(now);
        // Held until its presentation time (its playout time, in sync with
        // the audio), and not while holding the renderer.
        if let Some(captured) = frame.capture_time_us {
            let ready = crate::frame::unix_time_us();
            let waited = now.saturating_duration_since(queued);
            let queued_us = ready.saturating_sub(waited.as_micros() as u64);
            let decode_us = now.saturating_duration_since(decoding).as_micros() as u64;
            let Some(playable) = playout.schedule(captured, queued_us, decode_us, ready) else {
                continue;
            };
            let at = lock(&shared.sync).present_at(Track::Video, captured, playable);
            let wait = Duration::from_micros(at.saturating_sub(ready))
                .min(MAX_PLAYOUT_DELAY.max(MAX_SYNC_DELAY));
            if !wait.is_zero() {
                std::thread::sleep(wait);
            }
            shared
                .last_video_capture_ms
                .store((captured / 1000) as i64, Ordering::Relaxed);
        }
        let renderer = lock(&shared.renderer);
        let Some(r) = renderer.as_ref() else {
            continue;
        };
        let capture_time_us = frame.capture_time_us.unwrap_or(0);
        let shown = I420Planes::from_contiguous(
            picture.width,
            picture.height,
            &picture.data,
            capture_time_us,
        )
        .map_err(|e| e.to_string())
        .and_then(|planes| r.push(&planes).map_err(|e| e.to_string()));
        drop(renderer);
        match shown {
            Ok(()) => {
                shared.rendered.add(1);
                if !shared.first_render.swap(true, Ordering::Relaxed) {
                    event(Event::PlayerRenderVideoFirstFrame {
                        stream_id: shared.stream_id.clone(),
                    });
                }
            }
            Err(e) => tracing::debug!(e, "render failed"),
        }
    }
}

async fn quality_loop(shared: Arc<PlayerShared>, facts: FactSender) {
    let mut meter = RateMeter::new(10, Instant::now());
    let mut tick = tokio::time::interval(QUALITY_INTERVAL);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(transport) = shared.transport.get() else {
            continue;
        };
        let readings = [
            shared.recv_frames.get(),
            shared.decoded.get(),
            shared.rendered.get(),
            shared.video_bytes.get(),
            shared.audio_packets.get(),
            shared.audio_bytes.get(),
            shared.audio_concealed.get(),
            shared.frozen_ms.get(),
            shared.audio_lost.get(),
            shared.audio_recovered.get(),
        ];
        let r = meter.rates(Instant::now(), &readings);
        let stats = transport.stats().await;
        let rtt_ms = stats.rtt.map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        let e2e_ms = shared.e2e_us.load(Ordering::Relaxed).max(0) as f64 / 1000.0;
        let (a, v) = (
            shared.last_audio_capture_ms.load(Ordering::Relaxed),
            shared.last_video_capture_ms.load(Ordering::Relaxed),
        );
        let (width, height) = *lock(&shared.size);
        // Frames due: one per packet, received or lost.
        let audio_due = r[4] + r[8];
        let share_of_due = |x: f64| if audio_due > 0.0 { x / audio_due } else { 0.0 };
        let loss = stats.loss_fraction;
        let quality = PlayStreamQuality {
            path: stats.path,
            video_recv_fps: r[0],
            video_decode_fps: r[1],
            video_render_fps: r[2],
            video_kbps: r[3] * 8.0 / 1000.0,
            video_break_rate: (r[7] / 1000.0).min(1.0),
            audio_recv_fps: r[4],
            audio_kbps: r[5] * 8.0 / 1000.0,
            audio_break_rate: share_of_due(r[6]),
            audio_loss_rate: Some(share_of_due(r[8])),
            audio_recovered_rate: Some(share_of_due(r[9])),
            audio_jitter_buffer_ms: Some(
                shared.audio_jitter_delay_us.load(Ordering::Relaxed) as f64 / 1000.0,
            ),
            mos: if r[4] > 0.0 {
                estimate_mos(loss, e2e_ms)
            } else {
                0.0
            },
            rtt_ms,
            packet_loss_rate: loss,
            jitter_ms: stats.jitter.as_secs_f64() * 1000.0,
            end_to_end_delay_ms: e2e_ms,
            av_timestamp_diff_ms: if a > 0 && v > 0 { (a - v) as f64 } else { 0.0 },
            width,
            height,
            video_codec: "H264".into(),
            total_recv_bytes: stats.bytes_received,
            level: Some(StreamQualityLevel::grade(
                loss,
                rtt_ms,
                r[0] > 0.0 || r[4] > 0.0,
            )),
        };
        let _ = facts.send(Fact::Event(Event::PlayerQualityUpdate {
            stream_id: shared.stream_id.clone(),
            quality,
        }));
    }
}
