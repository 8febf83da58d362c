//! The video track of a publishing connection: one H.264 encoding per
//! simulcast layer (`rid` + SSRC) on one transceiver, or one plain encoding.
//!
//! webrtc-rs 0.21 announces the layers (`a=rid:* send`, `a=simulcast`) but
//! does not put the `sdes:mid` / `sdes:rtp-stream-id` header extensions on
//! packets, and without them the SFU never learns a layer's SSRC
//! (docs/simulcast-spike.md): every packet of a simulcast track carries
//! both here. The track is a `TrackLocalStaticRTP` with a packetizer per
//! layer of our own (the same one `TrackLocalStaticSample` would make) so
//! the packets can go through the [`super::pacer`] instead of leaving all
//! at once: a sample track writes a whole keyframe in one burst.
//!
//! While the publisher probes ([`super::rate_control`]), each frame of the
//! highest sending layer carries filler ([`super::probe_fill`]).

use super::pacer::Pacer;
use super::probe_fill::ProbeFill;
use super::rate_control::RateShared;
use super::TransportError;
use bytes::Bytes;
use protocol::VideoLayer;
use rtc::media_stream::MediaStreamTrack;
use rtc::rtp::extension::HeaderExtension;
use rtc::rtp::packetizer::{new_packetizer, Packetizer};
use rtc::rtp::sequence::Sequencer;
use rtc::rtp::Packet;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::shared::error::Error as RtcError;
use rtc::shared::marshal::{Marshal, MarshalSize};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::peer_connection::PeerConnection;
use webrtc::rtp_transceiver::RtpSender;

/// The payload size packets are cut to (webrtc-rs's sample track uses the same).
const RTP_MTU: usize = 1200;

/// One layer's encoding.
struct LayerOut {
    layer: VideoLayer,
    ssrc: u32,
    packetizer: Mutex<Box<dyn Packetizer>>,
    /// The packetizer's sequence numbers (shared), for probe filler; the
    /// fill state is locked with the packetizer.
    sequencer: Box<dyn Sequencer>,
    fill: Mutex<ProbeFill>,
    /// Written since it was last skipped (not paused).
    live: AtomicBool,
    /// The `rid` a simulcast track's packets carry (with the mid).
    rid: Option<&'static str>,
}

/// A batch of packets for the pacer (one frame of one layer).
struct Paced {
    packets: Vec<Packet>,
    extensions: Vec<HeaderExtension>,
}

/// The video track and how its packets leave.
pub(super) struct VideoOutput {
    track: Arc<TrackLocalStaticRTP>,
    pub(super) sender: Arc<dyn RtpSender>,
    /// Lowest first.
    layers: Vec<LayerOut>,
    clock_rate: u32,
    payload_type: Mutex<Option<u8>>,
    /// The transceiver's mid, once the offer gave it one (simulcast only).
    mid: Mutex<Option<String>>,
    /// The encoders' target, bits per second: what the pacer paces at 2.5x
    /// (0: not set, packets leave at once).
    pacing_target: Arc<AtomicU64>,
    /// To the pacer task (`None`: packets are written at once).
    pacer: Option<(mpsc::UnboundedSender<Paced>, JoinHandle<()>)>,
    /// The probe's rate, from the estimator.
    rate: Arc<RateShared>,
}

impl VideoOutput {
    /// Adds the video track to `pc`: plain for one layer, a simulcast track
    /// with one `rid` per layer otherwise. With `pace`, packets leave
    /// through a pacer task (spawned here). `rate` says when to probe.
    pub(super) async fn add(
        pc: &dyn PeerConnection,
        codec: RTCRtpCodec,
        layers: &[VideoLayer],
        pace: bool,
        rate: Arc<RateShared>,
    ) -> Result<Self, TransportError> {
        let simulcast = layers.len() > 1;
        let now = Instant::now();
        let mut outs = Vec::with_capacity(layers.len());
        let mut codings = Vec::with_capacity(layers.len());
        for &layer in layers {
            let ssrc: u32 = rand::random();
            let payloader = codec.payloader().map_err(TransportError::Setup)?;
            let sequencer: Box<dyn Sequencer> =
                Box::new(rtc::rtp::sequence::new_random_sequencer());
            let packetizer: Box<dyn Packetizer> = Box::new(new_packetizer(
                now,
                RTP_MTU,
                0,
                ssrc,
                payloader,
                sequencer.clone(),
                codec.clock_rate,
            ));
            codings.push(RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    rid: if simulcast {
                        layer.rid().to_owned()
                    } else {
                        String::new()
                    },
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                codec: codec.clone(),
                ..Default::default()
            });
            outs.push(LayerOut {
                layer,
                ssrc,
                packetizer: Mutex::new(packetizer),
                sequencer,
                fill: Mutex::new(ProbeFill::default()),
                live: AtomicBool::new(false),
                rid: simulcast.then(|| layer.rid()),
            });
        }
        let kind = RtpCodecKind::Video;
        let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
            "confer".to_owned(),
            format!("confer-{kind}"),
            format!("confer-{kind}"),
            kind,
            codings,
        )));
        let sender = pc
            .add_track(Arc::clone(&track) as Arc<dyn TrackLocal>)
            .await
            .map_err(TransportError::Setup)?;
        let pacing_target = Arc::new(AtomicU64::new(0));
        let pacer = pace.then(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            let task = tokio::spawn(pace_packets(
                rx,
                Arc::clone(&track),
                Arc::clone(&pacing_target),
                Arc::clone(&rate),
            ));
            (tx, task)
        });
        Ok(VideoOutput {
            track,
            sender,
            layers: outs,
            clock_rate: codec.clock_rate,
            payload_type: Mutex::new(None),
            mid: Mutex::new(None),
            pacing_target,
            pacer,
            rate,
        })
    }

    /// The layers, lowest first.
    pub(super) fn layers(&self) -> impl Iterator<Item = VideoLayer> + '_ {
        self.layers.iter().map(|l| l.layer)
    }

    /// The layer sent with `ssrc`.
    pub(super) fn layer_of(&self, ssrc: u32) -> Option<VideoLayer> {
        self.layers.iter().find(|l| l.ssrc == ssrc).map(|l| l.layer)
    }

    /// The SSRC of the top layer (the only one of a plain track).
    pub(super) fn top_ssrc(&self) -> u32 {
        self.layers.last().map_or(0, |l| l.ssrc)
    }

    /// The clock rate of the codec.
    pub(super) fn clock_rate(&self) -> u32 {
        self.clock_rate
    }

    /// Learns the negotiated payload type and (simulcast) the mid.
    pub(super) async fn learn(&self, pc: &dyn PeerConnection, payload_type: Option<u8>) {
        *lock(&self.payload_type) = payload_type;
        if self.layers.len() < 2 {
            return;
        }
        for transceiver in pc.get_transceivers().await {
            let ours =
                matches!(transceiver.sender().await, Ok(Some(s)) if s.id() == self.sender.id());
            if let (true, Ok(Some(mid))) = (ours, transceiver.mid().await) {
                *lock(&self.mid) = Some(mid);
            }
        }
    }

    /// The encoders' total target, bits per second: the pacer sends at
    /// 2.5x this.
    pub(super) fn set_pacing_target(&self, bps: u64) {
        self.pacing_target.store(bps, Ordering::Relaxed);
    }

    /// Sends one access unit of `layer` lasting `duration`, captured at
    /// `captured`.
    pub(super) async fn write(
        &self,
        layer: VideoLayer,
        data: Bytes,
        duration: Duration,
        captured: Instant,
    ) -> Result<(), TransportError> {
        let payload_type = lock(&self.payload_type).ok_or(TransportError::NotNegotiated)?;
        let out = self.layer(layer)?;
        let mut extensions = Vec::with_capacity(2);
        if let Some(rid) = out.rid {
            let mid = lock(&self.mid)
                .clone()
                .ok_or(TransportError::NotNegotiated)?;
            extensions.push(sdes(rtc_profile::SDES_MID_URI, &mid));
            extensions.push(sdes(rtc_profile::SDES_RID_URI, rid));
        }
        out.live.store(true, Ordering::Relaxed);
        let mut packets = {
            let mut packetizer = lock(&out.packetizer);
            let mut packets = packetizer
                .packetize(captured, &data, self.samples(duration))
                .map_err(TransportError::Write)?;
            // The probe pads the highest sending layer only: its players
            // have the most room.
            let top = !self
                .layers
                .iter()
                .any(|l| l.layer > layer && l.live.load(Ordering::Relaxed));
            let bps = if top { self.rate.probe_bps() } else { 0 };
            let mut fill = lock(&out.fill);
            let count = fill.count(Instant::now(), duration, bps);
            fill.append(&mut packets, count, out.sequencer.as_ref());
            packets
        };
        for p in &mut packets {
            p.header.payload_type = payload_type;
        }
        if let Some((queue, _)) = &self.pacer {
            let paced = Paced {
                packets,
                extensions,
            };
            return queue.send(paced).map_err(|_| TransportError::Closed);
        }
        for p in packets {
            self.track
                .write_rtp_with_extensions(p, &extensions)
                .await
                .map_err(TransportError::Write)?;
        }
        Ok(())
    }

    /// A paused layer's RTP clock moves on by `duration`, so every layer's
    /// timestamps keep to the wall clock across a pause.
    pub(super) fn skip(&self, layer: VideoLayer, duration: Duration) {
        if let Ok(out) = self.layer(layer) {
            out.live.store(false, Ordering::Relaxed);
            lock(&out.packetizer).skip_samples(self.samples(duration));
        }
    }

    /// Stops the pacer.
    pub(super) fn close(&self) {
        if let Some((_, task)) = &self.pacer {
            task.abort();
        }
    }

    fn layer(&self, layer: VideoLayer) -> Result<&LayerOut, TransportError> {
        self.layers
            .iter()
            .find(|l| l.layer == layer)
            .ok_or(TransportError::NoSuchLayer(layer))
    }

    fn samples(&self, duration: Duration) -> u32 {
        (duration.as_secs_f64() * f64::from(self.clock_rate)) as u32
    }
}

impl Drop for VideoOutput {
    fn drop(&mut self) {
        self.close();
    }
}

/// The pacer task: writes each queued packet when [`Pacer`] lets it go.
/// A probe's filler counts toward the target: paced at 2.5x the encoders'
/// target alone (only the lowest layer's 163 kbit/s while the others are
/// paused), a probe for twice the estimate left at the pacer's rate, and
/// the link was shown only that (the publisher's estimate then took ~7 s
/// from 200 kbit/s to 2.2 Mbit/s after a capacity step up).
async fn pace_packets(
    mut queue: mpsc::UnboundedReceiver<Paced>,
    track: Arc<TrackLocalStaticRTP>,
    target: Arc<AtomicU64>,
    rate: Arc<RateShared>,
) {
    let mut pacer = Pacer::new(Instant::now(), target.load(Ordering::Relaxed));
    let mut waiting: VecDeque<(Packet, Arc<Vec<HeaderExtension>>)> = VecDeque::new();
    loop {
        if waiting.is_empty() {
            match queue.recv().await {
                Some(batch) => take(batch, &mut waiting, &mut pacer),
                None => return,
            }
        }
        // Everything queued meanwhile counts toward the drain rate.
        while let Ok(batch) = queue.try_recv() {
            take(batch, &mut waiting, &mut pacer);
        }
        let Some((packet, extensions)) = waiting.pop_front() else {
            continue;
        };
        // No target set (a caller that only writes): nothing to pace at.
        let bps = target.load(Ordering::Relaxed);
        pacer.set_target(if bps > 0 { bps + rate.probe_bps() } else { 0 });
        let wait = pacer.delay(Instant::now());
        if bps > 0 && !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let bytes = wire_size(&packet);
        if let Err(error) = track.write_rtp_with_extensions(packet, &extensions).await {
            tracing::trace!(%error, "paced video packet not written");
        }
        pacer.sent(Instant::now(), bytes);
    }
}

/// Queues a batch's packets for the pacer.
fn take(
    batch: Paced,
    waiting: &mut VecDeque<(Packet, Arc<Vec<HeaderExtension>>)>,
    pacer: &mut Pacer,
) {
    let extensions = Arc::new(batch.extensions);
    for packet in batch.packets {
        pacer.queued(wire_size(&packet));
        waiting.push_back((packet, Arc::clone(&extensions)));
    }
}

/// A packet's size on the wire, roughly (payload and RTP header).
fn wire_size(packet: &Packet) -> usize {
    packet.payload.len() + 12
}

/// An SDES header extension (mid or rid) carrying `value`.
fn sdes(uri: &'static str, value: &str) -> HeaderExtension {
    HeaderExtension::Custom {
        uri: uri.into(),
        extension: Box::new(SdesValue(Bytes::copy_from_slice(value.as_bytes()))),
    }
}

/// The raw bytes of an SDES item in a header extension.
#[derive(Debug, Clone)]
struct SdesValue(Bytes);

impl MarshalSize for SdesValue {
    fn marshal_size(&self) -> usize {
        self.0.len()
    }
}

impl Marshal for SdesValue {
    fn marshal_to(&self, buf: &mut [u8]) -> Result<usize, RtcError> {
        let n = self.0.len();
        buf.get_mut(..n)
            .ok_or(RtcError::ErrBufferTooSmall)?
            .copy_from_slice(&self.0);
        Ok(n)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
