//! Publishing a stream: a sendonly peer connection with one H.264 track
//! (one encoding per simulcast layer, [`super::video_out`]) and one Opus
//! track.

use super::peer::{self, h264_codec, opus_codec, PeerEvent, RemoteDescription};
use super::rate_control::RateShared;
use super::rtcp_tap::{Tap, TapEvent};
use super::video_out::VideoOutput;
use super::{IceCandidate, SignalReceiver, TransportConfig, TransportError};
use bytes::Bytes;
use protocol::VideoLayer;
use rtc::media::Sample;
use rtc::media_stream::MediaStreamTrack;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::statistics::report::RTCStatsReportEntry;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::peer_connection::{PeerConnection, RTCPeerConnectionState, StatsSelector};
use webrtc::rtp_transceiver::RtpSender;

/// What happens to a publishing connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishEvent {
    /// ICE and DTLS are up: media flows.
    Connected,
    /// Connectivity was lost (it may come back).
    Disconnected,
    /// The connection failed for good; make a new transport.
    Failed,
    /// The SFU asked for a keyframe (a player's PLI/FIR, or a player
    /// joined) of one simulcast layer, or (`None`) of every layer.
    KeyframeRequested(Option<VideoLayer>),
    /// A new bandwidth estimate, bits per second: the encoder's target.
    TargetBitrate(u64),
}

/// A snapshot of a publishing connection's counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PublishStats {
    /// RTP payload bytes sent (both tracks).
    pub bytes_sent: u64,
    /// RTP packets sent (both tracks).
    pub packets_sent: u64,
    /// Round-trip time from the SFU's receiver reports.
    pub rtt: Option<Duration>,
    /// Fraction of packets lost (0..1) per the SFU's latest receiver report.
    pub fraction_lost: f64,
    /// Interarrival jitter of the video the SFU reports.
    pub jitter: Option<Duration>,
    /// The latest bandwidth estimate, bits per second.
    pub available_bitrate_bps: Option<u64>,
    /// NACK packets received from the SFU.
    pub nacks_received: u64,
    /// Keyframe requests (PLI/FIR) received from the SFU.
    pub keyframe_requests_received: u64,
    /// The selected candidate pair, once ICE has chosen one.
    pub path: Option<super::MediaPath>,
}

/// A stream being published to the SFU.
pub struct PublishTransport {
    pc: Arc<dyn PeerConnection>,
    remote: RemoteDescription,
    tap: Arc<Tap>,
    /// Between the estimator and the video side.
    rate: Arc<RateShared>,
    video: Arc<VideoOutput>,
    audio: Output,
    driver: Mutex<Option<JoinHandle<()>>>,
    /// ICE and DTLS came up: SRTP has its keys. Media written before is
    /// dropped here (webrtc-rs would drop it too, warning "local_srtp_context
    /// is not set yet" for every packet); the first connection asks the
    /// encoder for a keyframe anyway.
    connected: Arc<AtomicBool>,
    closed: AtomicBool,
}

/// The audio track.
struct Output {
    track: Arc<TrackLocalStaticSample>,
    sender: Arc<dyn RtpSender>,
    ssrc: u32,
    payload_type: Mutex<Option<u8>>,
    /// RED's payload type, when the answer accepted RED.
    red_payload_type: Mutex<Option<u8>>,
}

impl std::fmt::Debug for PublishTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublishTransport")
            .field("video_layers", &self.video.layers().collect::<Vec<_>>())
            .field("audio_ssrc", &self.audio.ssrc)
            .finish_non_exhaustive()
    }
}

impl PublishTransport {
    /// Creates the connection and its offer with plain (single-layer)
    /// video: the first [`super::Signal`] is the offer, then local
    /// candidates follow.
    pub async fn new(
        config: &TransportConfig,
    ) -> Result<(Self, SignalReceiver, mpsc::UnboundedReceiver<PublishEvent>), TransportError> {
        Self::with_layers(config, &[VideoLayer::High]).await
    }

    /// Like [`new`](Self::new), with one video encoding per simulcast layer
    /// in `layers` (lowest first; one layer is plain video, without rid).
    pub async fn with_layers(
        config: &TransportConfig,
        layers: &[VideoLayer],
    ) -> Result<(Self, SignalReceiver, mpsc::UnboundedReceiver<PublishEvent>), TransportError> {
        let (signals_tx, signals) = mpsc::unbounded_channel();
        let peer = peer::build(config, signals_tx).await?;
        let pc = Arc::clone(&peer.pc);
        let made = async {
            let video = VideoOutput::add(
                pc.as_ref(),
                h264_codec(),
                layers,
                config.pace_video,
                Arc::clone(&peer.rate),
            )
            .await?;
            let audio = Output::add(pc.as_ref(), opus_codec()).await?;
            peer::offer(pc.as_ref(), &peer.gate).await?;
            Ok::<_, TransportError>((video, audio))
        }
        .await;
        let (video, audio) = match made {
            Ok(outputs) => outputs,
            Err(error) => {
                let _ = pc.close().await;
                return Err(error);
            }
        };
        let video = Arc::new(video);
        let (events_tx, events) = mpsc::unbounded_channel();
        let connected = Arc::new(AtomicBool::new(false));
        let driver = tokio::spawn(drive(
            peer.events,
            peer.tap_events,
            events_tx,
            Arc::clone(&connected),
            Arc::clone(&video),
        ));
        Ok((
            PublishTransport {
                pc,
                remote: peer.remote,
                tap: peer.tap,
                rate: Arc::clone(&peer.rate),
                video,
                audio,
                driver: Mutex::new(Some(driver)),
                connected,
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
        self.check_open()?;
        self.remote.answer(self.pc.as_ref(), sdp).await?;
        let (video_pt, _) = negotiated(self.video.sender.as_ref()).await;
        self.video.learn(self.pc.as_ref(), video_pt).await;
        self.audio.learn_payload_type().await;
        Ok(())
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

    /// Sends one H.264 access unit (Annex-B) of the top (or only) video
    /// layer lasting `duration` (its RTP timestamp advances by that much),
    /// captured at `capture_time_us` (Unix microseconds).
    pub async fn write_video(
        &self,
        data: Bytes,
        duration: Duration,
        capture_time_us: u64,
    ) -> Result<(), TransportError> {
        let top = self.video.layers().last().unwrap_or(VideoLayer::High);
        self.write_video_layer(top, data, duration, capture_time_us)
            .await
    }

    /// Sends one access unit of simulcast `layer` (see
    /// [`write_video`](Self::write_video)).
    pub async fn write_video_layer(
        &self,
        layer: VideoLayer,
        data: Bytes,
        duration: Duration,
        capture_time_us: u64,
    ) -> Result<(), TransportError> {
        self.check_sendable()?;
        let captured = instant_of_unix_us(capture_time_us);
        self.video.write(layer, data, duration, captured).await
    }

    /// A paused layer's RTP clock moves on by `duration` (nothing is sent),
    /// so its timestamps keep to the wall clock when it resumes.
    pub fn skip_video_layer(&self, layer: VideoLayer, duration: Duration) {
        self.video.skip(layer, duration);
    }

    /// The video layers this connection sends, lowest first (one: plain video).
    pub fn video_layers(&self) -> Vec<VideoLayer> {
        self.video.layers().collect()
    }

    /// The encoders' total target, bits per second: video packets are
    /// paced at 2.5x this (when [`TransportConfig::pace_video`]).
    pub fn set_video_pacing_target(&self, bps: u64) {
        self.video.set_pacing_target(bps);
    }

    /// What the video would send with the estimate unlimited (every layer
    /// the SFU wants at its nominal rate), bits per second: while the
    /// estimate holds the video below this the transport probes the link
    /// with filler (0, the default: never).
    pub fn set_video_wanted_bitrate(&self, bps: u64) {
        self.rate.set_wanted(bps);
    }

    /// Sends one Opus packet lasting `duration` (an empty one sends nothing
    /// and moves the RTP timestamp on: a DTX frame).
    pub async fn write_audio(&self, data: Bytes, duration: Duration) -> Result<(), TransportError> {
        self.check_sendable()?;
        self.audio.write(data, duration, Instant::now()).await
    }

    /// Sends one RED payload (RFC 2198, Opus blocks) lasting `duration`;
    /// `NotNegotiated` when the SFU's answer did not accept RED.
    pub async fn write_audio_red(
        &self,
        data: Bytes,
        duration: Duration,
    ) -> Result<(), TransportError> {
        self.check_sendable()?;
        let payload_type =
            lock(&self.audio.red_payload_type).ok_or(TransportError::NotNegotiated)?;
        self.audio
            .write_as(payload_type, data, duration, Instant::now())
            .await
    }

    /// Whether the SFU's answer accepted RED for the audio.
    pub fn audio_red_negotiated(&self) -> bool {
        lock(&self.audio.red_payload_type).is_some()
    }

    /// What the SFU's RTCP said about loss so far, and the audio budget
    /// while the link is congested (the RED level's input).
    pub(crate) fn loss_reports(&self) -> crate::codec::red_level::LossReports {
        crate::codec::red_level::LossReports {
            audio_budget_bps: self.rate.audio_budget_bps(),
            ..self.tap.snapshot().loss
        }
    }

    /// Counters of the connection now.
    pub async fn stats(&self) -> PublishStats {
        let report = self.pc.get_stats(Instant::now(), StatsSelector::None).await;
        let path = super::path::selected(&report);
        let tap = self.tap.snapshot();
        let mut stats = PublishStats {
            rtt: tap.rtt,
            fraction_lost: tap.fraction_lost.unwrap_or(0.0),
            available_bitrate_bps: tap.target_bitrate,
            nacks_received: tap.nacks_received,
            keyframe_requests_received: tap.keyframe_requests_received,
            jitter: tap
                .remote_jitter_ticks
                .get(&self.video.top_ssrc())
                .map(|t| {
                    Duration::from_micros(
                        u64::from(*t) * 1_000_000 / u64::from(self.video.clock_rate()),
                    )
                }),
            path,
            ..PublishStats::default()
        };
        for entry in report.iter() {
            match entry {
                RTCStatsReportEntry::OutboundRtp(o) => {
                    stats.bytes_sent += o.sent_rtp_stream_stats.bytes_sent;
                    stats.packets_sent += o.sent_rtp_stream_stats.packets_sent;
                }
                RTCStatsReportEntry::RemoteInboundRtp(r)
                    if stats.rtt.is_none() && r.round_trip_time > 0.0 =>
                {
                    stats.rtt = Some(Duration::from_secs_f64(r.round_trip_time));
                }
                _ => {}
            }
        }
        stats
    }

    /// Closes the connection and ends its tasks.
    pub async fn close(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Some(driver) = lock(&self.driver).take() {
            driver.abort();
        }
        self.video.close();
        if let Err(error) = self.pc.close().await {
            tracing::debug!(%error, "closing the publish connection");
        }
    }

    fn check_open(&self) -> Result<(), TransportError> {
        if self.closed.load(Ordering::Acquire) {
            Err(TransportError::Closed)
        } else {
            Ok(())
        }
    }

    /// Open and connected: media written now is sent.
    fn check_sendable(&self) -> Result<(), TransportError> {
        self.check_open()?;
        if self.connected.load(Ordering::Acquire) {
            Ok(())
        } else {
            Err(TransportError::NotConnected)
        }
    }
}

impl Drop for PublishTransport {
    fn drop(&mut self) {
        if let Some(driver) = lock(&self.driver).take() {
            driver.abort();
        }
    }
}

impl Output {
    async fn add(pc: &dyn PeerConnection, codec: RTCRtpCodec) -> Result<Self, TransportError> {
        let ssrc: u32 = rand::random();
        let kind = RtpCodecKind::Audio;
        let track = TrackLocalStaticSample::new(
            Instant::now(),
            MediaStreamTrack::new(
                "confer".to_owned(),
                format!("confer-{kind}"),
                format!("confer-{kind}"),
                kind,
                vec![RTCRtpEncodingParameters {
                    rtp_coding_parameters: RTCRtpCodingParameters {
                        ssrc: Some(ssrc),
                        ..Default::default()
                    },
                    codec,
                    ..Default::default()
                }],
            ),
        )
        .map_err(TransportError::Setup)?;
        let track = Arc::new(track);
        let sender = pc
            .add_track(Arc::clone(&track) as Arc<dyn TrackLocal>)
            .await
            .map_err(TransportError::Setup)?;
        Ok(Output {
            track,
            sender,
            ssrc,
            payload_type: Mutex::new(None),
            red_payload_type: Mutex::new(None),
        })
    }

    async fn learn_payload_type(&self) {
        let (codec, red) = negotiated(self.sender.as_ref()).await;
        if codec.is_some() {
            *lock(&self.payload_type) = codec;
        }
        *lock(&self.red_payload_type) = red;
    }

    async fn write(
        &self,
        data: Bytes,
        duration: Duration,
        timestamp: Instant,
    ) -> Result<(), TransportError> {
        let payload_type = lock(&self.payload_type).ok_or(TransportError::NotNegotiated)?;
        self.write_as(payload_type, data, duration, timestamp).await
    }

    async fn write_as(
        &self,
        payload_type: u8,
        data: Bytes,
        duration: Duration,
        timestamp: Instant,
    ) -> Result<(), TransportError> {
        let sample = Sample {
            data,
            duration,
            ..Sample::new(timestamp)
        };
        self.track
            .sample_writer(self.ssrc, payload_type)
            .write_sample(&sample)
            .await
            .map_err(TransportError::Write)
    }
}

/// The payload types a sender's answer negotiated: its codec (the first
/// that is not RED) and RED's, if accepted.
async fn negotiated(sender: &dyn RtpSender) -> (Option<u8>, Option<u8>) {
    let Ok(params) = sender.get_parameters().await else {
        return (None, None);
    };
    let codecs = &params.rtp_parameters.codecs;
    let is_red = |c: &&rtc::rtp_transceiver::rtp_sender::RTCRtpCodecParameters| {
        c.rtp_codec
            .mime_type
            .eq_ignore_ascii_case(rtc_profile::MIME_TYPE_RED)
    };
    (
        codecs.iter().find(|c| !is_red(c)).map(|c| c.payload_type),
        codecs.iter().find(is_red).map(|c| c.payload_type),
    )
}

/// Maps the connection's and the tap's events to [`PublishEvent`]s, and
/// marks the transport `connected` once it is. A keyframe request names
/// the layer whose SSRC it is about (`None`: another SSRC, every layer).
async fn drive(
    mut peer: mpsc::UnboundedReceiver<PeerEvent>,
    mut tap: mpsc::UnboundedReceiver<TapEvent>,
    events: mpsc::UnboundedSender<PublishEvent>,
    connected: Arc<AtomicBool>,
    video: Arc<VideoOutput>,
) {
    loop {
        let event = tokio::select! {
            e = peer.recv() => match e {
                Some(PeerEvent::State(RTCPeerConnectionState::Connected)) => {
                    connected.store(true, Ordering::Release);
                    PublishEvent::Connected
                }
                Some(PeerEvent::State(RTCPeerConnectionState::Disconnected)) => PublishEvent::Disconnected,
                Some(PeerEvent::State(RTCPeerConnectionState::Failed)) => PublishEvent::Failed,
                Some(_) => continue,
                None => break,
            },
            e = tap.recv() => match e {
                Some(TapEvent::KeyframeRequested { media_ssrc }) => {
                    PublishEvent::KeyframeRequested(video.layer_of(media_ssrc))
                }
                Some(TapEvent::TargetBitrate(bps)) => PublishEvent::TargetBitrate(bps),
                None => break,
            },
        };
        if events.send(event).is_err() {
            break;
        }
    }
}

/// The monotonic instant of a Unix-microseconds wall-clock time (now if it
/// is in the future or unreadable).
fn instant_of_unix_us(unix_us: u64) -> Instant {
    let now = Instant::now();
    let Ok(wall) = SystemTime::now().duration_since(UNIX_EPOCH) else {
        return now;
    };
    let age = wall.saturating_sub(Duration::from_micros(unix_us));
    now.checked_sub(age).unwrap_or(now)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
