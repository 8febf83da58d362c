//! A player leg's video writer state: the [`LayerSwitch`] that picks the
//! simulcast layer, the [`Thinning`] that drops temporal layers of it when
//! even that layer does not fit, the [`Rewriter`] that keeps the leg's
//! stream continuous, and the probe (sans-IO apart from the channels it
//! watches: the session's cap, the leg's estimate and a tick).
//!
//! The publisher's probe filler (H.264 filler data after the frames of
//! its highest sending layer) shows the publisher's uplink a rate; a leg
//! forwards it only while its own estimate holds it below a layer it
//! could climb to (the filler shows the leg's link that rate too), and
//! it is not thinned nor was recently (its link is full). Other
//! legs drop it: at a steady 500 kbit/s both ways the publisher probes
//! every few seconds for the 360p and 720p layers it has paused, and its
//! filler queued up on the player's link behind the layer it already
//! had. The filler that carries the frame's marker is forwarded with a
//! 2-byte payload (the player needs the marker to end the frame).
//!
//! The probe pads frames: while the layer switch says the leg probes,
//! the last packet of each forwarded frame is followed by H.264 filler
//! data NAL units (type 12, which decoders skip) in the same picture,
//! the last of them carrying the frame's marker. RTP padding-only packets
//! would be the usual way, but webrtc-rs 0.21 marshals at most 4 bytes of
//! padding (`rtc-rtp` `Packet::marshal_to`), too little to probe with.

use super::forwarder::rewrite_for_leg;
use super::layer_meter::LayerMeter;
use super::layer_switch::{Estimate, LayerSwitch, Route};
use super::rewriter::Rewriter;
use super::state::{Output, Relayed};
use super::temporal::Thinning;
use bytes::Bytes;
use protocol::VideoLayer;
use rtc::rtcp::sender_report::SenderReport;
use rtc::rtp;
use rtc_profile::filler::is_h264_filler;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::time::{interval, Interval, MissedTickBehavior};

/// How often the layer switch re-decides without a packet.
const TICK: Duration = Duration::from_millis(100);
/// The size of one filler packet's payload.
const FILLER_BYTES: usize = 1000;
/// At most this many filler packets after one frame.
const MAX_FILLERS: u64 = 24;
/// The longest gap between frames a probe fills for.
const MAX_FILL_GAP: Duration = Duration::from_millis(100);

/// What one step of the writer produced, for the task to carry out.
#[derive(Default)]
pub(super) struct Written {
    /// Packets to write, in order.
    pub(super) packets: Vec<rtp::Packet>,
    /// A sender report to relay, with the offset onto the leg's clock.
    pub(super) report: Option<(SenderReport, u32)>,
    /// Ask the publisher for a keyframe of this layer.
    pub(super) keyframe: Option<VideoLayer>,
    /// The layers the leg wants changed to these (dynacast).
    pub(super) wanted: Option<[bool; 3]>,
}

/// One player leg's video track.
pub(super) struct VideoLeg {
    /// The playing session, for logs.
    session_id: String,
    switch: LayerSwitch,
    thinning: Thinning,
    rewriter: Rewriter,
    meter: Arc<LayerMeter>,
    cap: watch::Receiver<VideoLayer>,
    estimate: Option<watch::Receiver<Option<Estimate>>>,
    tick: Interval,
    wanted: Option<[bool; 3]>,
    /// When the leg's state was last logged (trace level, once a second).
    logged: Instant,
    /// When the probe last padded a frame.
    padded: Option<Instant>,
    filler: Bytes,
    /// What a publisher's filler packet carrying a frame's marker becomes
    /// on a leg that does not take the publisher's probe.
    marker_filler: Bytes,
}

impl VideoLeg {
    /// A leg reading `meter`, capped by `cap`, adapting to `estimate` (none:
    /// the leg has no transport-wide feedback, the cap decides).
    pub(super) fn new(
        session_id: String,
        meter: Arc<LayerMeter>,
        mut cap: watch::Receiver<VideoLayer>,
        estimate: Option<watch::Receiver<Option<Estimate>>>,
    ) -> Self {
        let mut tick = interval(TICK);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let first_cap = *cap.borrow_and_update();
        VideoLeg {
            session_id,
            switch: LayerSwitch::new(first_cap),
            thinning: Thinning::default(),
            rewriter: Rewriter::default(),
            meter,
            cap,
            estimate,
            tick,
            wanted: None,
            logged: Instant::now(),
            padded: None,
            filler: Bytes::from(rtc_profile::filler::h264_filler_nal(FILLER_BYTES)),
            marker_filler: Bytes::from(rtc_profile::filler::h264_filler_nal(2)),
        }
    }

    /// The layer forwarded now.
    pub(super) fn current(&self) -> Option<VideoLayer> {
        self.switch.current()
    }

    /// A packet or sender report of the publisher's track at `now`.
    pub(super) fn on_relayed(
        &mut self,
        relayed: Relayed,
        output: &Output,
        now: Instant,
    ) -> Written {
        match relayed {
            Relayed::Rtp {
                layer,
                keyframe,
                mut packet,
            } => {
                match self.switch.on_packet(layer, keyframe, now) {
                    Route::Drop => return Written::default(),
                    Route::Switch => {
                        tracing::debug!(session_id = %self.session_id, ?layer, "player leg switched layer");
                        self.rewriter.switch(&packet.header, now);
                        self.thinning.on_switch(packet.header.timestamp);
                    }
                    Route::Forward => {
                        if is_h264_filler(&packet.payload)
                            && (!self.switch.held(&self.meter.layers(now))
                                || self.thinning.thinned(now))
                        {
                            if !packet.header.marker {
                                self.rewriter.drop_packet(&packet.header);
                                return Written::default();
                            }
                            packet.payload = self.marker_filler.clone();
                        }
                        if !self
                            .thinning
                            .forward(packet.header.timestamp, &packet.payload)
                        {
                            self.rewriter.drop_packet(&packet.header);
                            return Written::default();
                        }
                    }
                }
                let marker = packet.header.marker;
                if !self
                    .rewriter
                    .rewrite(&mut packet, output.ssrc, output.payload_type, now)
                {
                    return Written::default();
                }
                let mut packets = vec![packet];
                if marker {
                    self.pad(&mut packets, output, now);
                }
                Written {
                    packets,
                    wanted: self.wanted_change(),
                    ..Written::default()
                }
            }
            Relayed::SenderReport { layer, sr } => Written {
                report: (Some(layer) == self.switch.current())
                    .then(|| (sr, self.rewriter.ts_delta())),
                ..Written::default()
            },
        }
    }

    /// Waits for the next tick, cap or estimate and re-decides; `None` once
    /// the session's player is gone.
    pub(super) async fn next_event(&mut self) -> Option<Written> {
        let estimate = async {
            match self.estimate.as_mut() {
                Some(rx) => rx
                    .changed()
                    .await
                    .ok()
                    .and_then(|()| *rx.borrow_and_update()),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = self.tick.tick() => {}
            changed = self.cap.changed() => {
                changed.ok()?;
                let cap = *self.cap.borrow_and_update();
                self.switch.on_cap(cap);
            }
            Some(estimate) = estimate => self.switch.on_estimate(estimate),
        }
        let now = Instant::now();
        let layers = self.meter.layers(now);
        let keyframe = self.switch.tick(&layers, now);
        let fit = self.switch.fit(&layers);
        let (ratio, down_pending) = (fit.map(|f| f.0), fit.is_some_and(|f| f.1));
        let (lost, queued_ms) = self
            .switch
            .estimate()
            .map_or((0, 0), |e| (e.lost_permille, e.queue_delay_ms));
        let queue_delay = Duration::from_millis(u64::from(queued_ms));
        if let Some(temporal) = self
            .thinning
            .decide(ratio, down_pending, lost, queue_delay, now)
        {
            tracing::debug!(session_id = %self.session_id, temporal, ?ratio, down_pending, "player leg's temporal layers");
        }
        if now.saturating_duration_since(self.logged) >= Duration::from_secs(1) {
            self.logged = now;
            tracing::trace!(session_id = %self.session_id, current = ?self.switch.current(), estimate = ?self.switch.estimate(), ?layers, "player leg");
        }
        if let Some(target) = keyframe {
            tracing::debug!(session_id = %self.session_id, ?target, current = ?self.switch.current(), estimate = ?self.switch.estimate(), ?layers, "player leg wants a layer");
        }
        Some(Written {
            keyframe,
            wanted: self.wanted_change(),
            ..Written::default()
        })
    }

    /// The layers wanted, if they changed since last told.
    fn wanted_change(&mut self) -> Option<[bool; 3]> {
        let wanted = self.switch.wanted();
        (self.wanted != Some(wanted)).then(|| {
            self.wanted = Some(wanted);
            wanted
        })
    }

    /// Pads the frame just ended by `packets[0]` if the leg probes (not
    /// while it is thinned, or was recently: it cannot afford even the
    /// layer it has).
    fn pad(&mut self, packets: &mut Vec<rtp::Packet>, output: &Output, now: Instant) {
        let layers = self.meter.layers(now);
        let probe = self.switch.probe_bps(&layers, now);
        let Some(bps) = probe.filter(|_| !self.thinning.thinned(now)) else {
            self.padded = None;
            return;
        };
        if self.padded.is_none() {
            tracing::debug!(session_id = %self.session_id, bps, estimate = ?self.switch.estimate(), "player leg probes");
        }
        let gap = self
            .padded
            .map_or(MAX_FILL_GAP, |t| now.saturating_duration_since(t))
            .min(MAX_FILL_GAP);
        self.padded = Some(now);
        let bytes = bps as f64 / 8.0 * gap.as_secs_f64();
        let count = ((bytes / FILLER_BYTES as f64).ceil() as u64).min(MAX_FILLERS);
        if count == 0 {
            return;
        }
        packets[0].header.marker = false;
        for n in 1..=count {
            let Some((seq, ts)) = self.rewriter.insert(now) else {
                break;
            };
            let mut filler = rtp::Packet {
                header: rtp::header::Header {
                    version: 2,
                    marker: n == count,
                    sequence_number: seq,
                    timestamp: ts,
                    ..Default::default()
                },
                payload: self.filler.clone(),
            };
            rewrite_for_leg(&mut filler, output.ssrc, output.payload_type);
            packets.push(filler);
        }
        if let Some(last) = packets.last_mut() {
            last.header.marker = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sfu::forwarder::RedOnLeg;
    use rtc::media_stream::MediaStreamTrack;
    use rtc::rtp_transceiver::rtp_sender::{
        RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
    };
    use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
    use VideoLayer::{High, Low};

    #[test]
    fn filler_is_a_filler_data_nal_unit() {
        let nal = rtc_profile::filler::h264_filler_nal(8);
        assert_eq!(&nal[..], &[0x0c, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x80]);
        assert_eq!(nal[0] & 0x1f, 12);
    }

    fn output() -> Output {
        let local = TrackLocalStaticRTP::new(MediaStreamTrack::new(
            "s".into(),
            "t".into(),
            "l".into(),
            RtpCodecKind::Video,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(99),
                    ..Default::default()
                },
                codec: rtc_profile::h264_codec(),
                ..Default::default()
            }],
        ));
        Output {
            index: 1,
            local: Arc::new(local),
            ssrc: 99,
            payload_type: 125,
            red: RedOnLeg::NotAudio,
            layer: Arc::default(),
        }
    }

    fn rtp(layer: VideoLayer, keyframe: bool, seq: u16, ts: u32, marker: bool) -> Relayed {
        Relayed::Rtp {
            layer,
            keyframe,
            packet: rtp::Packet {
                header: rtp::header::Header {
                    version: 2,
                    sequence_number: seq,
                    timestamp: ts,
                    marker,
                    ssrc: 5,
                    payload_type: 102,
                    ..Default::default()
                },
                payload: Bytes::from_static(&[0x65, 0x88]),
            },
        }
    }

    fn report(layer: VideoLayer, rtp_time: u32) -> Relayed {
        Relayed::SenderReport {
            layer,
            sr: SenderReport {
                ssrc: 5,
                rtp_time,
                ..Default::default()
            },
        }
    }

    #[tokio::test]
    async fn one_layer_is_forwarded_with_its_reports_and_probes_pad_its_frames() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let meter = Arc::new(LayerMeter::new(t0));
        meter.record(Low, 1000, true, t0);
        meter.record(High, 1000, true, t0);
        let (_cap, cap_rx) = watch::channel(High);
        let (estimates, estimate_rx) = watch::channel(None);
        let mut leg = VideoLeg::new("s".into(), Arc::clone(&meter), cap_rx, Some(estimate_rx));
        let out = output();
        // The first tick asks for the lowest layer's keyframe.
        let first = leg.next_event().await.expect("a tick");
        assert_eq!(first.keyframe, Some(Low));
        assert!(leg
            .on_relayed(rtp(High, true, 7, 50, true), &out, t0)
            .packets
            .is_empty());
        let started = leg.on_relayed(rtp(Low, true, 10, 1000, true), &out, t0);
        let p = &started.packets[0];
        assert_eq!((p.header.ssrc, p.header.payload_type), (99, 125));
        assert_eq!((p.header.sequence_number, p.header.timestamp), (10, 1000));
        assert_eq!(leg.current(), Some(Low));
        // Only the forwarded layer's sender reports, on the leg's SSRC clock.
        assert!(leg.on_relayed(report(High, 3), &out, t0).report.is_none());
        let (sr, shift) = leg
            .on_relayed(report(Low, 900), &out, t0)
            .report
            .expect("relayed");
        assert_eq!((sr.rtp_time, shift), (900, 0));
        // Held at 300 kbit/s below its cap: after 1.5 s on the layer, a
        // frame's end is padded with filler, the last filler carrying the
        // frame's marker and the sequence going on after it.
        estimate(&mut leg, &estimates, 300_000).await;
        meter.record(Low, 1000, true, at(1900));
        meter.record(High, 1000, true, at(1900));
        let padded = leg
            .on_relayed(rtp(Low, false, 11, 4000, true), &out, at(2000))
            .packets;
        assert!(padded.len() > 1, "{} packets", padded.len());
        assert!(!padded[0].header.marker);
        for (n, p) in padded.iter().enumerate() {
            assert_eq!(p.header.sequence_number, 11 + n as u16);
            assert_eq!(p.header.timestamp, 4000);
            assert_eq!(p.header.marker, n == padded.len() - 1);
        }
        assert_eq!(padded[1].payload[0] & 0x1f, 12);
        let next = leg
            .on_relayed(rtp(Low, false, 12, 7000, true), &out, at(2500))
            .packets;
        assert_eq!(next[0].header.sequence_number, 11 + padded.len() as u16);
    }

    /// Sends the leg an estimate of `bps` (target and acknowledged) and
    /// waits until the leg holds it.
    async fn estimate(leg: &mut VideoLeg, estimates: &watch::Sender<Option<Estimate>>, bps: u64) {
        estimates.send_replace(Some(Estimate {
            target_bps: bps,
            acked_bps: bps,
            lost_permille: 0,
            queue_delay_ms: 0,
            random_loss: false,
        }));
        while leg.switch.estimate().map(|e| e.target_bps) != Some(bps) {
            leg.next_event().await.expect("the estimate");
        }
    }

    fn filler(seq: u16, ts: u32, marker: bool) -> Relayed {
        let Relayed::Rtp { mut packet, .. } = rtp(Low, false, seq, ts, marker) else {
            unreachable!()
        };
        packet.payload = Bytes::from(rtc_profile::filler::h264_filler_nal(1000));
        Relayed::Rtp {
            layer: Low,
            keyframe: false,
            packet,
        }
    }

    /// The forwarded packets' (sequence number, marker, payload length).
    fn sent(written: Written) -> Vec<(u16, bool, usize)> {
        let p = written.packets.iter();
        p.map(|p| (p.header.sequence_number, p.header.marker, p.payload.len()))
            .collect()
    }

    #[tokio::test]
    async fn the_publishers_filler_reaches_only_a_leg_held_below_a_layer() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let meter = Arc::new(LayerMeter::new(t0));
        meter.record(Low, 1000, true, t0);
        let (_cap, cap_rx) = watch::channel(High);
        let (estimates, estimate_rx) = watch::channel(None);
        let mut leg = VideoLeg::new("s".into(), Arc::clone(&meter), cap_rx, Some(estimate_rx));
        let out = output();
        assert_eq!(leg.next_event().await.expect("a tick").keyframe, Some(Low));
        leg.on_relayed(rtp(Low, true, 10, 1000, true), &out, t0);
        estimate(&mut leg, &estimates, 2_000_000).await;
        // The publisher has paused its higher layers: the leg has the best
        // there is, and the publisher's probe is not for it. Its filler
        // goes but for the marker, which ends the frame with 2 bytes.
        let mut relay = |r: Relayed, ms| sent(leg.on_relayed(r, &out, at(ms)));
        assert_eq!(
            relay(rtp(Low, false, 11, 4000, false), 100),
            [(11, false, 2)]
        );
        assert!(relay(filler(12, 4000, false), 100).is_empty());
        assert_eq!(relay(filler(13, 4000, true), 100), [(12, true, 2)]);
        assert_eq!(relay(rtp(Low, false, 14, 7000, true), 200), [(13, true, 2)]);
        // The top layer is back and the estimate holds the leg below it:
        // the publisher's filler shows the leg's link that rate too.
        meter.record(Low, 1000, true, at(1900));
        meter.record(High, 1000, true, at(1900));
        estimate(&mut leg, &estimates, 300_000).await;
        let mut relay = |r: Relayed, ms| sent(leg.on_relayed(r, &out, at(ms)));
        assert_eq!(relay(filler(15, 10_000, false), 2000), [(14, false, 1000)]);
    }
}
