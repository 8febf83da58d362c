//! Playing a stream: a recvonly peer connection whose video is reassembled
//! into access units and whose audio packets pass through.

use super::jitter::{repair_wait, AssemblerOutput, FrameAssembler};
use super::peer::{self, PeerEvent, RemoteDescription};
use super::rtcp_tap::Tap;
use super::timeline::{Step, Timeline};
use super::{IceCandidate, MediaKind, SignalReceiver, TransportConfig, TransportError};
use bytes::Bytes;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use rtc::statistics::report::RTCStatsReportEntry;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{PeerConnection, RTCPeerConnectionState, StatsSelector};

/// Media and connection events of a played stream, capacity of their channel.
const EVENT_QUEUE: usize = 1024;

/// One reassembled H.264 access unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedVideoFrame {
    /// Annex-B access unit (4-byte start codes).
    pub data: Bytes,
    /// The frame's RTP timestamp (90 kHz).
    pub rtp_timestamp: u32,
    /// Contains an IDR slice.
    pub keyframe: bool,
    /// Every packet of the frame arrived. After an incomplete frame, expect
    /// damage until the next keyframe (already requested), unless the frame
    /// is `discardable`.
    pub complete: bool,
    /// Incomplete, but only a non-reference picture was damaged
    /// (`nal_ref_idc` 0): skip it, later frames decode (no keyframe was
    /// requested for it).
    pub discardable: bool,
    /// When its last packet arrived.
    pub received_at: Instant,
    /// The sender's wall clock (Unix microseconds) at this RTP timestamp,
    /// from its latest RTCP sender report; `None` before the first report.
    pub capture_time_us: Option<u64>,
}

/// One Opus packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioPacket {
    /// The Opus packet.
    pub data: Bytes,
    /// Its RTP timestamp (48 kHz).
    pub rtp_timestamp: u32,
    /// Its RTP sequence number.
    pub sequence: u16,
    /// Its RTP payload type: Opus, or RED ([`rtc_profile::RED_PAYLOAD_TYPE`])
    /// carrying Opus.
    pub payload_type: u8,
    /// When it arrived.
    pub received_at: Instant,
    /// The sender's wall clock (Unix microseconds) at this RTP timestamp.
    pub capture_time_us: Option<u64>,
}

/// What a played stream delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlayEvent {
    /// ICE and DTLS are up.
    Connected,
    /// Connectivity was lost (it may come back).
    Disconnected,
    /// The connection failed for good.
    Failed,
    /// A video frame, in order.
    Video(EncodedVideoFrame),
    /// An audio packet, in arrival order.
    Audio(AudioPacket),
}

/// A snapshot of a playing connection's counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlayStats {
    /// RTP payload bytes received (both tracks).
    pub bytes_received: u64,
    /// RTP packets received (both tracks).
    pub packets_received: u64,
    /// Packets never received (both tracks, cumulative).
    pub packets_lost: i64,
    /// `packets_lost / (packets_received + packets_lost)`.
    pub loss_fraction: f64,
    /// Interarrival jitter of the video.
    pub jitter: Duration,
    /// Round-trip time to the SFU: from its RTCP reports when they carry
    /// it, else from the ICE keepalives on the selected pair.
    pub rtt: Option<Duration>,
    /// NACK packets sent.
    pub nacks_sent: u64,
    /// Keyframe requests (PLI) sent.
    pub keyframe_requests_sent: u64,
    /// Video frames delivered.
    pub frames_received: u64,
    /// Of which incomplete.
    pub frames_incomplete: u64,
    /// The selected candidate pair, once ICE has chosen one.
    pub path: Option<super::MediaPath>,
}

/// A stream being played from the SFU.
pub struct PlayTransport {
    pc: Arc<dyn PeerConnection>,
    remote: RemoteDescription,
    shared: Arc<Shared>,
    driver: Mutex<Option<JoinHandle<()>>>,
    closed: AtomicBool,
}

impl std::fmt::Debug for PlayTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlayTransport").finish_non_exhaustive()
    }
}

/// What the transport and its tasks share.
struct Shared {
    tap: Arc<Tap>,
    keyframe: Notify,
    ssrcs: Mutex<HashMap<MediaKind, (u32, u32)>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    frames: AtomicU64,
    incomplete: AtomicU64,
    /// The least wait for a missing video packet (more at a longer RTT).
    max_wait: Duration,
    /// The latest measured round-trip time, µs (0: none yet).
    rtt_us: AtomicU64,
    /// The steps to the first keyframe (reported at it).
    timeline: Arc<Timeline>,
}

impl PlayTransport {
    /// Creates the connection and its offer (the first [`super::Signal`]).
    pub async fn new(
        config: &TransportConfig,
    ) -> Result<(Self, SignalReceiver, mpsc::Receiver<PlayEvent>), TransportError> {
        let (signals_tx, signals) = mpsc::unbounded_channel();
        let peer = peer::build(config, signals_tx).await?;
        let pc = Arc::clone(&peer.pc);
        let made = async {
            for kind in [RtpCodecKind::Video, RtpCodecKind::Audio] {
                pc.add_transceiver_from_kind(
                    kind,
                    Some(RTCRtpTransceiverInit {
                        direction: RTCRtpTransceiverDirection::Recvonly,
                        ..Default::default()
                    }),
                )
                .await
                .map_err(TransportError::Setup)?;
            }
            peer::offer(pc.as_ref(), &peer.gate).await
        }
        .await;
        if let Err(error) = made {
            let _ = pc.close().await;
            return Err(error);
        }
        let shared = Arc::new(Shared {
            tap: peer.tap,
            keyframe: Notify::new(),
            ssrcs: Mutex::new(HashMap::new()),
            tasks: Mutex::new(Vec::new()),
            frames: AtomicU64::new(0),
            incomplete: AtomicU64::new(0),
            max_wait: config.jitter_max_wait,
            rtt_us: AtomicU64::new(0),
            timeline: Arc::clone(&peer.timeline),
        });
        let (events_tx, events) = mpsc::channel(EVENT_QUEUE);
        let driver = tokio::spawn(drive(peer.events, Arc::clone(&shared), events_tx));
        Ok((
            PlayTransport {
                pc,
                remote: peer.remote,
                shared,
                driver: Mutex::new(Some(driver)),
                closed: AtomicBool::new(false),
            },
            signals,
            events,
        ))
    }

    /// Applies the SFU's answer. One without candidates waits (at most
    /// 2 s) for the first [`add_remote_candidate`](Self::add_remote_candidate):
    /// feed candidates beside this call, not after it.
    pub async fn accept_answer(&self, sdp: String) -> Result<(), TransportError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(TransportError::Closed);
        }
        self.remote.answer(self.pc.as_ref(), sdp).await
    }

    /// Adds one of the SFU's candidates (an empty one ends them). Call it in
    /// the order they arrived: the candidate is recorded at once (the answer
    /// waits for the first one), the returned future adds it to the
    /// connection.
    pub fn add_remote_candidate(
        &self,
        candidate: IceCandidate,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.remote.candidate(&self.pc, candidate)
    }

    /// Asks the publisher for a keyframe (PLI through the SFU).
    pub fn request_keyframe(&self) {
        self.shared.keyframe.notify_one();
    }

    /// The sender's wall clock (Unix microseconds) at `rtp_timestamp` of a
    /// track, from its latest sender report.
    pub fn sender_time_us(&self, kind: MediaKind, rtp_timestamp: u32) -> Option<u64> {
        self.shared.sender_time_us(kind, rtp_timestamp)
    }

    /// Counters of the connection now.
    pub async fn stats(&self) -> PlayStats {
        let report = self.pc.get_stats(Instant::now(), StatsSelector::None).await;
        let path = super::path::selected(&report);
        let tap = self.shared.tap.snapshot();
        let mut stats = PlayStats {
            keyframe_requests_sent: tap.keyframe_requests_sent,
            frames_received: self.shared.frames.load(Ordering::Relaxed),
            frames_incomplete: self.shared.incomplete.load(Ordering::Relaxed),
            path,
            ..PlayStats::default()
        };
        for entry in report.iter() {
            match entry {
                RTCStatsReportEntry::InboundRtp(i) => {
                    let r = &i.received_rtp_stream_stats;
                    stats.bytes_received += i.bytes_received;
                    // NACKs leave from the generator toward the wire, never
                    // past the tap: the stats count them.
                    stats.nacks_sent += u64::from(i.nack_count);
                    stats.packets_received += r.packets_received;
                    stats.packets_lost += r.packets_lost;
                    if r.rtp_stream_stats.kind == RtpCodecKind::Video {
                        // webrtc-rs reports the RR's jitter in RTP ticks.
                        stats.jitter = Duration::from_secs_f64(r.jitter.max(0.0) / 90_000.0);
                    }
                }
                RTCStatsReportEntry::RemoteOutboundRtp(r) if r.round_trip_time > 0.0 => {
                    stats.rtt = Some(Duration::from_secs_f64(r.round_trip_time));
                }
                _ => {}
            }
        }
        // A receiver's RTCP gives no RTT without XR (the SFU sends none):
        // the ICE keepalives on the same path measure it.
        stats.rtt = stats.rtt.or_else(|| super::path::round_trip(&report));
        if let Some(rtt) = stats.rtt {
            let us = u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX).max(1);
            self.shared.rtt_us.store(us, Ordering::Relaxed);
        }
        let total = stats.packets_received as f64 + stats.packets_lost.max(0) as f64;
        if total > 0.0 {
            stats.loss_fraction = stats.packets_lost.max(0) as f64 / total;
        }
        stats
    }

    /// Closes the connection and ends its tasks.
    pub async fn close(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        self.shared.abort_tasks();
        if let Some(driver) = lock(&self.driver).take() {
            driver.abort();
        }
        if let Err(error) = self.pc.close().await {
            tracing::debug!(%error, "closing the play connection");
        }
    }
}

impl Drop for PlayTransport {
    fn drop(&mut self) {
        self.shared.abort_tasks();
        if let Some(driver) = lock(&self.driver).take() {
            driver.abort();
        }
    }
}

impl Shared {
    fn sender_time_us(&self, kind: MediaKind, rtp_timestamp: u32) -> Option<u64> {
        let (ssrc, clock_rate) = lock(&self.ssrcs).get(&kind).copied()?;
        self.tap
            .sender_clock(ssrc)?
            .unix_us_at(rtp_timestamp, clock_rate)
    }

    fn abort_tasks(&self) {
        for task in lock(&self.tasks).drain(..) {
            task.abort();
        }
    }
}

/// Connection states to events; each arriving track gets its reader task.
async fn drive(
    mut peer: mpsc::UnboundedReceiver<PeerEvent>,
    shared: Arc<Shared>,
    events: mpsc::Sender<PlayEvent>,
) {
    while let Some(event) = peer.recv().await {
        let out = match event {
            PeerEvent::State(RTCPeerConnectionState::Connected) => PlayEvent::Connected,
            PeerEvent::State(RTCPeerConnectionState::Disconnected) => PlayEvent::Disconnected,
            PeerEvent::State(RTCPeerConnectionState::Failed) => PlayEvent::Failed,
            PeerEvent::State(_) => continue,
            PeerEvent::Track(track) => {
                let task = tokio::spawn(read_track(track, Arc::clone(&shared), events.clone()));
                lock(&shared.tasks).push(task);
                continue;
            }
        };
        if events.send(out).await.is_err() {
            break;
        }
    }
}

/// Reads one remote track until it ends.
async fn read_track(
    track: Arc<dyn TrackRemote>,
    shared: Arc<Shared>,
    events: mpsc::Sender<PlayEvent>,
) {
    let Some(ssrc) = track.ssrcs().await.first().copied() else {
        return;
    };
    let kind = match track.kind().await {
        RtpCodecKind::Video => MediaKind::Video,
        RtpCodecKind::Audio => MediaKind::Audio,
        _ => return,
    };
    let clock_rate = track.codec(ssrc).await.map_or(
        if kind == MediaKind::Video {
            90_000
        } else {
            48_000
        },
        |c| c.clock_rate,
    );
    lock(&shared.ssrcs).insert(kind, (ssrc, clock_rate));
    match kind {
        MediaKind::Audio => read_audio(track, shared, events).await,
        MediaKind::Video => read_video(track, ssrc, shared, events).await,
    }
}

async fn read_audio(
    track: Arc<dyn TrackRemote>,
    shared: Arc<Shared>,
    events: mpsc::Sender<PlayEvent>,
) {
    while let Some(event) = track.poll().await {
        match event {
            TrackRemoteEvent::OnRtpPacket(packet) => {
                let rtp_timestamp = packet.header.timestamp;
                let audio = AudioPacket {
                    data: packet.payload,
                    rtp_timestamp,
                    sequence: packet.header.sequence_number,
                    payload_type: packet.header.payload_type,
                    received_at: Instant::now(),
                    capture_time_us: shared.sender_time_us(MediaKind::Audio, rtp_timestamp),
                };
                if events.send(PlayEvent::Audio(audio)).await.is_err() {
                    break;
                }
            }
            TrackRemoteEvent::OnEnded | TrackRemoteEvent::OnError => break,
            _ => {}
        }
    }
}

async fn read_video(
    track: Arc<dyn TrackRemote>,
    ssrc: u32,
    shared: Arc<Shared>,
    events: mpsc::Sender<PlayEvent>,
) {
    let mut assembler = FrameAssembler::new(shared.max_wait);
    loop {
        // Time for NACK repair at the latest RTT (from the stats, or the
        // repairs when they take longer) and loss.
        let rtt_us = shared.rtt_us.load(Ordering::Relaxed);
        let rtt = (rtt_us > 0)
            .then(|| Duration::from_micros(rtt_us))
            .max(assembler.repair_rtt());
        if let Some(rtt) = rtt {
            assembler.set_max_wait(repair_wait(shared.max_wait, rtt, assembler.missing_share()));
        }
        let deadline = assembler.poll_timeout();
        tokio::select! {
            event = track.poll() => match event {
                Some(TrackRemoteEvent::OnRtpPacket(packet)) => {
                    shared.timeline.note(Step::FirstRtp);
                    let h = &packet.header;
                    assembler.push(Instant::now(), h.sequence_number, h.timestamp, h.marker, packet.payload.clone());
                }
                Some(TrackRemoteEvent::OnEnded | TrackRemoteEvent::OnError) | None => break,
                Some(_) => {}
            },
            () = sleep_until(deadline) => {}
            () = shared.keyframe.notified() => assembler.request_keyframe(),
        }
        while let Some(out) = assembler.poll(Instant::now()) {
            match out {
                AssemblerOutput::Frame(f) => {
                    shared.frames.fetch_add(1, Ordering::Relaxed);
                    if !f.complete {
                        tracing::debug!(
                            rtp_timestamp = f.rtp_timestamp,
                            f.discardable,
                            "incomplete frame"
                        );
                        shared.incomplete.fetch_add(1, Ordering::Relaxed);
                    } else if f.keyframe {
                        tracing::debug!(rtp_timestamp = f.rtp_timestamp, "keyframe assembled");
                        shared.timeline.note(Step::FirstKeyframe);
                    }
                    let frame = EncodedVideoFrame {
                        capture_time_us: shared.sender_time_us(MediaKind::Video, f.rtp_timestamp),
                        data: f.data,
                        rtp_timestamp: f.rtp_timestamp,
                        keyframe: f.keyframe,
                        complete: f.complete,
                        discardable: f.discardable,
                        received_at: f.received_at,
                    };
                    if events.send(PlayEvent::Video(frame)).await.is_err() {
                        return;
                    }
                }
                AssemblerOutput::RequestKeyframe => {
                    tracing::debug!("keyframe request sent");
                    let pli = PictureLossIndication {
                        sender_ssrc: 0,
                        media_ssrc: ssrc,
                    };
                    for _ in 0..rtc_profile::PLI_COPIES {
                        if let Err(error) = track.write_rtcp(vec![Box::new(pli.clone())]).await {
                            tracing::debug!(%error, "keyframe request not sent");
                        }
                    }
                }
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
