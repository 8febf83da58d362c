//! The peer-connection builder both transports share: the codecs the SFU
//! negotiates too (one definition, `rtc_profile`), interceptors (NACK
//! generator/responder, SR/RR, TWCC with the publisher's bandwidth
//! estimator: GCC and [`super::rate_control`]), host candidates on the
//! configured IP, no mDNS.

use super::rate_control::{PublisherEstimator, RateShared};
use super::rtcp_tap::{RtcpTap, Tap, TapEvent};
use super::timeline::{Step, Timeline};
use super::{IceCandidate, Signal, TransportConfig, TransportError};
use rtc::interceptor::{
    CongestionControlBuilder, Registry, SenderReportBuilder, Slot, TwccSenderBuilder,
};
use rtc::peer_connection::configuration::{RTCConfigurationBuilder, RTCIceServer};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCIceConnectionState,
    RTCIceGatheringState, RTCPeerConnectionIceEvent, RTCPeerConnectionState, RTCSessionDescription,
    SettingEngineBuilder,
};

pub(crate) use rtc_profile::{h264_codec, opus_codec};

const TAP_SLOT: usize = 14_000;

fn interceptors(config: &TransportConfig, tap: Arc<Tap>, rate: Arc<RateShared>) -> Registry {
    let initial = config.initial_bitrate_bps as f64;
    let estimator = PublisherEstimator::new(
        initial,
        (config.min_bitrate_bps as f64).min(initial),
        (config.max_bitrate_bps as f64).max(initial),
        rate,
    );
    rtc_profile::feedback_interceptors()
        .with(
            Slot::CongestionControl,
            CongestionControlBuilder::new(estimator).build(),
        )
        .with(Slot::TwccSender, TwccSenderBuilder::new().build())
        .with(Slot::SenderReport, SenderReportBuilder::new().build())
        .with(Slot::from(TAP_SLOT), RtcpTap::new(tap))
}

/// What a built connection reports to its transport's driver task.
pub(crate) enum PeerEvent {
    State(RTCPeerConnectionState),
    Track(Arc<dyn TrackRemote>),
}

/// Local signals in order: candidates gathered before the offer went out
/// wait for it (the SFU drops candidates of a connection it does not have).
pub(crate) struct SignalGate {
    signals: mpsc::UnboundedSender<Signal>,
    held: Mutex<Option<Vec<Signal>>>,
    /// [`TransportConfig::announce_local_candidates`].
    announce: bool,
    /// Notes when the offer went out.
    timeline: Arc<Timeline>,
}

impl SignalGate {
    fn new(
        signals: mpsc::UnboundedSender<Signal>,
        announce: bool,
        timeline: Arc<Timeline>,
    ) -> Arc<Self> {
        Arc::new(SignalGate {
            signals,
            held: Mutex::new(Some(Vec::new())),
            announce,
            timeline,
        })
    }

    fn candidate(&self, candidate: IceCandidate) {
        if !self.announce {
            return;
        }
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        match held.as_mut() {
            Some(queue) => queue.push(Signal::Candidate(candidate)),
            None => {
                let _ = self.signals.send(Signal::Candidate(candidate));
            }
        }
    }

    fn offer(&self, sdp: String) {
        let sdp = if self.announce {
            sdp
        } else {
            sdp.split_inclusive('\n')
                .filter(|l| !l.starts_with("a=candidate"))
                .collect()
        };
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let _ = self.signals.send(Signal::Offer { sdp });
        self.timeline.note(Step::OfferSent);
        for signal in held.take().unwrap_or_default() {
            let _ = self.signals.send(signal);
        }
    }
}

/// A built connection with its channels.
pub(crate) struct Peer {
    pub(crate) pc: Arc<dyn PeerConnection>,
    pub(crate) gate: Arc<SignalGate>,
    pub(crate) tap: Arc<Tap>,
    pub(crate) tap_events: mpsc::UnboundedReceiver<TapEvent>,
    /// Between the bandwidth estimator and the video output (the probe).
    pub(crate) rate: Arc<RateShared>,
    pub(crate) events: mpsc::UnboundedReceiver<PeerEvent>,
    pub(crate) remote: RemoteDescription,
    /// When it passed each step (the play breakdown).
    pub(crate) timeline: Arc<Timeline>,
}

/// Builds a peer connection; local candidates go out on `signals`.
/// How long a nominating agent waits for better host pairs (see `build`).
const HOST_ACCEPTANCE_WAIT: Duration = Duration::from_millis(20);
/// How often the agent runs its checks while connecting: it nominates only
/// on such a tick, so webrtc-rs's default (200 ms) made every connection
/// wait about 200 ms after its pairs had checked out.
const CHECK_INTERVAL: Duration = Duration::from_millis(10);
/// Checks per pair before it fails: 1.4 s at [`CHECK_INTERVAL`], as
/// webrtc-rs's default (7 at 200 ms).
const MAX_BINDING_REQUESTS: u16 = 140;
/// How long a nominating agent waits before accepting a server-reflexive pair.
const SRFLX_ACCEPTANCE_WAIT: Duration = Duration::from_millis(200);
/// ... a peer-reflexive pair.
const PRFLX_ACCEPTANCE_WAIT: Duration = Duration::from_millis(300);
/// ... a relayed pair (TURN costs a hop and the server's bandwidth).
const RELAY_ACCEPTANCE_WAIT: Duration = Duration::from_millis(500);

pub(crate) async fn build(
    config: &TransportConfig,
    signals: mpsc::UnboundedSender<Signal>,
) -> Result<Peer, TransportError> {
    let (tap_tx, tap_events) = mpsc::unbounded_channel();
    let tap = Tap::new(tap_tx);
    let rate = Arc::new(RateShared::default());
    let (events_tx, events) = mpsc::unbounded_channel();
    let timeline = Arc::new(Timeline::started());
    let gate = SignalGate::new(
        signals,
        config.announce_local_candidates,
        Arc::clone(&timeline),
    );
    let handler = Arc::new(Handler {
        gate: Arc::clone(&gate),
        events: events_tx,
        timeline: Arc::clone(&timeline),
    });
    let settings = SettingEngineBuilder::new()
        .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
        // We nominate (the offerer controls), at the first check tick
        // after the wait: without one the first pair to check out wins,
        // and on a fast network an ICE-TCP pair can beat the UDP one.
        // A UDP check validates in one round trip, ICE-TCP's after its
        // connect: 20 ms lets a loopback UDP pair (higher priority) validate
        // too and the ICE-TCP pairs connect (with 5 ms they were often never
        // dialed: sfu_mux's ICE-TCP check failed 2 runs in 3); on longer
        // paths the UDP pair checks out first anyway.
        .with_host_acceptance_min_wait(Some(HOST_ACCEPTANCE_WAIT))
        .with_ice_connection_attempts(Some(CHECK_INTERVAL), Some(MAX_BINDING_REQUESTS))
        // The agent's defaults (srflx 0.5 s, prflx 1 s, relay 2 s) hold a
        // relayed call back 2 s even where nothing direct can work; a
        // direct pair to the SFU validates in one round trip, well within
        // these.
        .with_srflx_acceptance_min_wait(Some(SRFLX_ACCEPTANCE_WAIT))
        .with_prflx_acceptance_min_wait(Some(PRFLX_ACCEPTANCE_WAIT))
        .with_relay_acceptance_min_wait(Some(RELAY_ACCEPTANCE_WAIT))
        .build();
    let ice_servers = config
        .ice_servers
        .iter()
        .map(|s| RTCIceServer {
            urls: s.urls.clone(),
            username: s.username.clone(),
            credential: s.credential.clone(),
        })
        .collect();
    let pc = PeerConnectionBuilder::new()
        .with_configuration(
            RTCConfigurationBuilder::new()
                .with_ice_servers(ice_servers)
                .build(),
        )
        .with_media_engine(rtc_profile::media_engine().map_err(TransportError::Setup)?)
        .with_interceptor_registry(interceptors(config, Arc::clone(&tap), Arc::clone(&rate)))
        .with_setting_engine(settings)
        .with_handler(handler)
        .with_udp_addrs(vec![SocketAddr::new(config.bind_ip, 0)])
        // ICE-TCP, active: when the network drops UDP, media goes over TCP
        // to the SFU's passive candidates.
        .with_tcp_addrs(vec![SocketAddr::new(config.bind_ip, 0)])
        .build()
        .await
        .map_err(TransportError::Setup)?;
    Ok(Peer {
        pc: Arc::new(pc),
        gate,
        tap,
        tap_events,
        rate,
        events,
        remote: RemoteDescription::new(Arc::clone(&timeline)),
        timeline,
    })
}

/// Creates the offer and sends it as the first signal.
pub(crate) async fn offer(
    pc: &dyn PeerConnection,
    gate: &SignalGate,
) -> Result<(), TransportError> {
    let offer = pc
        .create_offer(None)
        .await
        .map_err(TransportError::Negotiation)?;
    pc.set_local_description(offer)
        .await
        .map_err(TransportError::Negotiation)?;
    let sdp = pc
        .local_description()
        .await
        .map(|d| d.sdp)
        .ok_or(TransportError::NoLocalDescription)?;
    gate.offer(sdp);
    Ok(())
}

/// How long an answer without candidates waits for the SFU's first trickled
/// one (it follows the answer at once; this only bounds a server that
/// never sends any).
const FIRST_CANDIDATE_WAIT: Duration = Duration::from_secs(2);

/// The answer and the remote candidates that arrived before it.
///
/// The SFU answers before it has gathered, then trickles its candidates.
/// Applying such an answer alone starts ICE checks with nothing to check
/// (webrtc-rs warns "pingAllCandidates called with no candidate pairs"),
/// so an answer without candidates waits for the first trickled one (or
/// the end of them) and is applied with the held candidates in it.
pub(crate) struct RemoteDescription {
    state: Mutex<RemoteState>,
    /// Wakes an answer waiting for a candidate (or their end).
    arrived: tokio::sync::Notify,
    /// Notes when the answer arrived and was applied.
    timeline: Arc<Timeline>,
}

#[derive(Default)]
struct RemoteState {
    answered: bool,
    /// The SFU sent its end-of-candidates (an empty candidate).
    ended: bool,
    pending: Vec<IceCandidate>,
}

impl RemoteDescription {
    fn new(timeline: Arc<Timeline>) -> Self {
        RemoteDescription {
            state: Mutex::default(),
            arrived: tokio::sync::Notify::new(),
            timeline,
        }
    }

    /// Applies the answer with the candidates held for it, then those that
    /// arrived while it was being applied.
    pub(crate) async fn answer(
        &self,
        pc: &dyn PeerConnection,
        sdp: String,
    ) -> Result<(), TransportError> {
        self.timeline.note(Step::AnswerReceived);
        if !has_candidates(&sdp) {
            let _ = tokio::time::timeout(FIRST_CANDIDATE_WAIT, self.first_candidate()).await;
        }
        let held = std::mem::take(&mut self.lock().pending);
        let answer = RTCSessionDescription::answer(with_candidates(sdp, &held))
            .map_err(TransportError::Negotiation)?;
        pc.set_remote_description(answer)
            .await
            .map_err(TransportError::Negotiation)?;
        self.timeline.note(Step::AnswerApplied);
        let late = {
            let mut st = self.lock();
            st.answered = true;
            std::mem::take(&mut st.pending)
        };
        // The held ones again too: webrtc-rs dials a TCP passive candidate
        // only when it comes through `add_ice_candidate` (the ICE agent
        // ignores the copies it already has from the answer).
        for candidate in held.into_iter().chain(late) {
            add_candidate(pc, candidate).await;
        }
        Ok(())
    }

    /// Takes a remote candidate in the order the SFU sent it: records it at
    /// once (held until the answer is applied, or the end of them), and
    /// returns what adds it to `pc` if the answer is already applied.
    pub(crate) fn candidate(
        &self,
        pc: &Arc<dyn PeerConnection>,
        candidate: IceCandidate,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let now = {
            let mut st = self.lock();
            if candidate.candidate.is_empty() {
                st.ended = true;
                self.arrived.notify_one();
                None
            } else if st.answered {
                Some(candidate)
            } else {
                st.pending.push(candidate);
                self.arrived.notify_one();
                None
            }
        };
        let pc = Arc::clone(pc);
        async move {
            if let Some(candidate) = now {
                add_candidate(pc.as_ref(), candidate).await;
            }
        }
    }

    /// Returns once a candidate is held or the SFU ended them.
    async fn first_candidate(&self) {
        loop {
            {
                let st = self.lock();
                if st.ended || !st.pending.is_empty() {
                    return;
                }
            }
            self.arrived.notified().await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RemoteState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Whether an SDP carries ICE candidates.
fn has_candidates(sdp: &str) -> bool {
    sdp.lines().any(|l| l.starts_with("a=candidate:"))
}

/// `sdp` with `candidates` appended as `a=candidate` lines (to its last
/// media section: with BUNDLE every section shares one transport). A
/// candidate the ICE parser refuses is left out, as `add_ice_candidate`
/// would refuse it, rather than failing the whole answer.
fn with_candidates(mut sdp: String, candidates: &[IceCandidate]) -> String {
    for candidate in candidates {
        let body = candidate
            .candidate
            .strip_prefix("candidate:")
            .unwrap_or(&candidate.candidate);
        match rtc::ice::candidate::unmarshal_candidate(body) {
            Ok(_) => {
                if !sdp.ends_with('\n') {
                    sdp.push_str("\r\n");
                }
                sdp.push_str("a=candidate:");
                sdp.push_str(body);
                sdp.push_str("\r\n");
            }
            Err(error) => tracing::debug!(%error, "remote candidate refused"),
        }
    }
    sdp
}

async fn add_candidate(pc: &dyn PeerConnection, candidate: IceCandidate) {
    if let Err(error) = rtc_profile::add_remote_candidate(pc, candidate).await {
        tracing::debug!(%error, "remote candidate refused");
    }
}

struct Handler {
    gate: Arc<SignalGate>,
    events: mpsc::UnboundedSender<PeerEvent>,
    timeline: Arc<Timeline>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        match event.candidate.to_json() {
            Ok(init) => self.gate.candidate(IceCandidate {
                candidate: init.candidate,
                sdp_mid: init.sdp_mid,
                sdp_mline_index: init.sdp_mline_index,
            }),
            Err(error) => tracing::debug!(%error, "local candidate not serializable"),
        }
    }

    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            self.gate.candidate(IceCandidate {
                candidate: String::new(),
                sdp_mid: None,
                sdp_mline_index: None,
            });
        }
    }

    async fn on_ice_connection_state_change(&self, state: RTCIceConnectionState) {
        if state == RTCIceConnectionState::Connected {
            self.timeline.note(Step::IceConnected);
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        if state == RTCPeerConnectionState::Connected {
            self.timeline.note(Step::Connected);
        }
        let _ = self.events.send(PeerEvent::State(state));
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let _ = self.events.send(PeerEvent::Track(track));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(line: &str) -> IceCandidate {
        IceCandidate {
            candidate: line.to_owned(),
            sdp_mid: Some(String::new()),
            sdp_mline_index: Some(0),
        }
    }

    #[test]
    fn held_candidates_join_the_answer_and_garbage_is_left_out() {
        let sdp = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\n".to_owned();
        assert!(!has_candidates(&sdp));
        let joined = with_candidates(
            sdp.clone(),
            &[
                candidate("candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host"),
                candidate("not a candidate"),
                candidate("2 1 tcp 1062207487 127.0.0.1 5001 typ host tcptype passive"),
            ],
        );
        assert_eq!(
            joined,
            format!(
                "{sdp}a=candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host\r\n\
                 a=candidate:2 1 tcp 1062207487 127.0.0.1 5001 typ host tcptype passive\r\n"
            )
        );
        assert!(has_candidates(&joined));
    }
}
