//! How the SFU's peer connections are built: codecs, interceptors, ICE
//! settings, their sockets (the shared ports of the [`Mux`], or a port
//! each) and how their candidates are announced.

use super::estimate::LegEstimator;
use super::layer_switch::Estimate;
use super::leg_meter::LegMeter;
use super::mux::{Mux, MuxCounters, Registration};
use super::nack_throttle::NackBudget;
use super::rtcp_delivery::{RtcpDelivery, RtcpFilter};
use super::SfuError;
use crate::config::MediaConfig;
use crate::metrics::media::StreamMeter;
use protocol::MediaRole;
use rtc::interceptor::{CongestionControlBuilder, Registry, Slot, TwccSenderBuilder};
use rtc::peer_connection::configuration::media_engine::MediaEngine;
use rtc::peer_connection::transport::RTCDtlsRole;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, SettingEngineBuilder,
};

/// The slot of the keyframe-request delivery interceptor: after every
/// built-in one, so they all see the RTCP before it narrows it.
const DELIVERY_SLOT: usize = 14_000;
/// The slot of a player leg's NACK throttle: wire-ward of the NACK
/// responder (4 000), so the responder sees only the asks it may answer.
const NACK_THROTTLE_SLOT: usize = 3_500;
/// The slot of a player leg's [`LegMeter`]: wire-ward of the NACK
/// throttle, so it sees every NACK the player sent and every resend.
const LEG_METER_SLOT: usize = 3_400;

/// Codecs, feedback and header extensions of every SFU peer connection:
/// the profile the SDK negotiates too.
fn media_engine() -> Result<MediaEngine, SfuError> {
    rtc_profile::media_engine().map_err(SfuError::Setup)
}

/// Where a player leg's estimate starts, bits/s: enough for the top layer
/// of the SDK's ladder (1.5 Mbit/s) with headroom, so a clean player
/// climbs as soon as its acknowledged rate allows.
const PLAYER_INITIAL_ESTIMATE: f64 = 2_500_000.0;

/// NACK generator (bounded) and responder, TWCC feedback for publishers'
/// bandwidth estimators, receiver reports, and RTCP delivery last. No
/// sender reports of the SFU's own: it relays the publisher's, so players
/// map RTP time to the publisher's clock.
///
/// A player leg also estimates its downlink: transport-wide sequence
/// numbers on what it sends and GCC over the player's feedback
/// ([`LegEstimator`], whose estimates come out on the returned channel);
/// and it resends a packet its player asks for a few times at most
/// ([`NackBudget`]); its NACKs, resends and round trip count into
/// `meter` ([`LegMeter`]).
fn interceptors(
    role: MediaRole,
    meter: &StreamMeter,
) -> (Registry, Option<watch::Receiver<Option<Estimate>>>) {
    let registry = rtc_profile::feedback_interceptors()
        .with(Slot::from(DELIVERY_SLOT), RtcpFilter::new(RtcpDelivery));
    if role != MediaRole::Play {
        return (registry, None);
    }
    let (estimates, estimate) = watch::channel(None);
    let estimator = LegEstimator::new(PLAYER_INITIAL_ESTIMATE, estimates);
    let registry = registry
        .with(
            Slot::CongestionControl,
            CongestionControlBuilder::new(estimator).build(),
        )
        .with(Slot::TwccSender, TwccSenderBuilder::new().build())
        .with(
            Slot::from(NACK_THROTTLE_SLOT),
            RtcpFilter::new(NackBudget::new(estimate.clone())),
        )
        .with(
            Slot::from(LEG_METER_SLOT),
            RtcpFilter::new(LegMeter::new(meter.clone())),
        );
    (registry, Some(estimate))
}

/// Hands out UDP ports from the configured range, round robin (one port
/// per connection, `mux = false`).
#[derive(Debug, Default)]
pub(crate) struct PortCursor {
    next: AtomicUsize,
}

impl PortCursor {
    /// The addresses to try, in order: every port of the range starting at
    /// the cursor, or one ephemeral port.
    fn candidates(&self, config: &MediaConfig) -> Vec<SocketAddr> {
        match (config.udp_port_min, config.udp_port_max) {
            (Some(min), Some(max)) if min <= max => {
                let len = usize::from(max - min) + 1;
                let start = self.next.fetch_add(1, Ordering::Relaxed) % len;
                (0..len)
                    .map(|i| {
                        let offset = u16::try_from((start + i) % len)
                            .expect("the offset is below a u16 range length");
                        SocketAddr::new(config.udp_bind_ip, min + offset)
                    })
                    .collect()
            }
            _ => vec![SocketAddr::new(config.udp_bind_ip, 0)],
        }
    }
}

/// Where the SFU's peer connections get their sockets, and how their
/// candidates are announced. Started once, with the SFU.
#[derive(Debug)]
pub(crate) struct Transport {
    config: MediaConfig,
    sockets: Sockets,
    announce: Announce,
}

#[derive(Debug)]
enum Sockets {
    /// Every connection on the shared ports.
    Mux(Mux),
    /// Every connection binds its own UDP port (from the range) and TCP port.
    PerConnection(PortCursor),
}

impl Transport {
    /// Binds the shared ports (`mux = true`) or prepares the port range.
    /// Must run inside a tokio runtime.
    pub(crate) fn start(config: &MediaConfig) -> Result<Transport, SfuError> {
        let ip = config.udp_bind_ip;
        let sockets = if config.mux {
            let tcp = config.ice_tcp.then(|| SocketAddr::new(ip, config.tcp_port));
            Sockets::Mux(Mux::start(SocketAddr::new(ip, config.udp_port), tcp)?)
        } else {
            Sockets::PerConnection(PortCursor::default())
        };
        let announce = Announce {
            ips: config.announced_ips.clone(),
            udp_port: match &sockets {
                Sockets::Mux(mux) => Some(mux.udp_addr().port()),
                Sockets::PerConnection(_) => None,
            },
            tcp_port: match &sockets {
                Sockets::Mux(mux) => mux.tcp_addr().map(|a| a.port()),
                Sockets::PerConnection(_) => None,
            },
        };
        Ok(Transport {
            config: config.clone(),
            sockets,
            announce,
        })
    }

    /// How candidates are announced.
    pub(crate) fn announce(&self) -> &Announce {
        &self.announce
    }

    /// The shared UDP port (mux only).
    pub(crate) fn udp_port(&self) -> Option<u16> {
        self.mux().map(|m| m.udp_addr().port())
    }

    /// The shared ICE-TCP port (mux with ICE-TCP on).
    pub(crate) fn tcp_port(&self) -> Option<u16> {
        self.mux().and_then(|m| m.tcp_addr()).map(|a| a.port())
    }

    /// The mux's counters (mux only).
    pub(crate) fn counters(&self) -> Option<MuxCounters> {
        self.mux().map(Mux::counters)
    }

    fn mux(&self) -> Option<&Mux> {
        match &self.sockets {
            Sockets::Mux(mux) => Some(mux),
            Sockets::PerConnection(_) => None,
        }
    }

    /// Builds a peer connection for one publisher or player leg.
    pub(crate) async fn build(
        &self,
        handler: Arc<dyn PeerConnectionEventHandler>,
        role: MediaRole,
        meter: &StreamMeter,
    ) -> Result<LegConnection, SfuError> {
        let ip = self.config.udp_bind_ip;
        let tcp_addrs = if self.config.ice_tcp {
            // ICE-TCP, passive: for clients whose network drops UDP.
            vec![SocketAddr::new(ip, 0)]
        } else {
            Vec::new()
        };
        match &self.sockets {
            Sockets::Mux(mux) => {
                let registration = mux.register();
                let (ufrag, password) = registration.credentials();
                let (registry, estimate) = interceptors(role, meter);
                let pc = PeerConnectionBuilder::new()
                    .with_media_engine(media_engine()?)
                    .with_interceptor_registry(registry)
                    .with_setting_engine(
                        settings(role).with_ice_credentials(ufrag, password).build(),
                    )
                    .with_handler(handler)
                    .with_runtime(registration.runtime())
                    // Bound and released at once: the address only keys
                    // the connection's virtual sockets.
                    .with_udp_addrs(vec![SocketAddr::new(ip, 0)])
                    .with_tcp_addrs(tcp_addrs)
                    .build()
                    .await
                    .map_err(SfuError::Transport)?;
                Ok(LegConnection {
                    pc: Arc::new(pc),
                    registration: Some(registration),
                    estimate,
                })
            }
            Sockets::PerConnection(ports) => {
                let mut last_error = SfuError::NoAddress;
                for addr in ports.candidates(&self.config) {
                    let (registry, estimate) = interceptors(role, meter);
                    let built = PeerConnectionBuilder::new()
                        .with_media_engine(media_engine()?)
                        .with_interceptor_registry(registry)
                        .with_setting_engine(settings(role).build())
                        .with_handler(Arc::clone(&handler))
                        .with_udp_addrs(vec![addr])
                        .with_tcp_addrs(tcp_addrs.clone())
                        .build()
                        .await;
                    match built {
                        Ok(pc) => {
                            return Ok(LegConnection {
                                pc: Arc::new(pc),
                                registration: None,
                                estimate,
                            })
                        }
                        Err(error) => {
                            tracing::debug!(%addr, %error, "media socket unavailable");
                            last_error = SfuError::Bind {
                                addr,
                                source: error,
                            };
                        }
                    }
                }
                Err(last_error)
            }
        }
    }
}

/// How often a leg's ICE agent runs while connecting (webrtc-rs: 200 ms).
/// A player's DTLS handshake started about one such tick after its
/// connectivity checks had passed (200 ms of every first frame).
const ICE_CHECK_INTERVAL: Duration = Duration::from_millis(10);
/// Checks per pair before it fails: 1.4 s at [`ICE_CHECK_INTERVAL`], as
/// webrtc-rs's default (7 at 200 ms).
const ICE_MAX_BINDING_REQUESTS: u16 = 140;

/// ICE and DTLS settings of an SFU peer connection. The announced IPs are
/// applied to the candidates as they are signaled ([`Announce`]): the
/// setting engine's NAT 1:1 option is stored but not used by webrtc-rs
/// 0.21.1.
///
/// The DTLS role: whoever sends media should finish the handshake last.
/// The DTLS server finishes first (on the client's Finished) and a sender
/// in that role writes its first packets right behind its last handshake
/// flight. webrtc-rs 0.21.1 reads a burst of datagrams before it hands
/// the handshake's keys to its SRTP layer, so a packet arriving in the
/// same burst as that flight is dropped (`remote_srtp_context is not set
/// yet`): it was a publisher's first RTP packet, often the start of its
/// first keyframe, in about 1 call in 10. So the SFU answers as the DTLS
/// server on a publisher leg (the publisher, the client, sends media only
/// once it has the SFU's last flight, by when the SFU holds its keys) and
/// as the client on a player leg (webrtc-rs's default answer).
fn settings(role: MediaRole) -> SettingEngineBuilder {
    let dtls_role = match role {
        MediaRole::Publish => RTCDtlsRole::Server,
        MediaRole::Play => RTCDtlsRole::Client,
    };
    SettingEngineBuilder::new()
        .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
        .with_ice_connection_attempts(Some(ICE_CHECK_INTERVAL), Some(ICE_MAX_BINDING_REQUESTS))
        .with_answering_dtls_role(dtls_role)
}

/// A leg's peer connection and, with the mux, its place there.
pub(crate) struct LegConnection {
    pc: Arc<dyn PeerConnection>,
    registration: Option<Arc<Registration>>,
    /// A player leg's downlink estimate.
    estimate: Option<watch::Receiver<Option<Estimate>>>,
}

impl LegConnection {
    /// A player leg's downlink estimates (`None` for a publisher leg).
    pub(crate) fn estimate(&self) -> Option<watch::Receiver<Option<Estimate>>> {
        self.estimate.clone()
    }

    /// The peer connection.
    pub(crate) fn pc(&self) -> &Arc<dyn PeerConnection> {
        &self.pc
    }

    /// Closes the peer connection and takes it out of the mux.
    pub(crate) async fn close(&self) {
        if let Err(error) = self.pc.close().await {
            tracing::debug!(%error, "closing a peer connection");
        }
        if let Some(registration) = &self.registration {
            registration.release();
        }
    }
}

/// How the SFU's candidates are signaled: on every announced IP, with the
/// mux's shared ports, and without the `tcptype active` candidate (the
/// SFU only accepts ICE-TCP).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Announce {
    /// The addresses to announce; empty: the bound one.
    pub(crate) ips: Vec<IpAddr>,
    /// The port every UDP candidate carries (the mux's), if any.
    pub(crate) udp_port: Option<u16>,
    /// The port every passive TCP candidate carries (the mux's), if any.
    pub(crate) tcp_port: Option<u16>,
}

impl Announce {
    /// A local candidate line as announced (RFC 8839 `candidate:<foundation>
    /// <component> <transport> <priority> <address> <port> typ ...`): one
    /// copy per announced IP, in order, or none for an active TCP
    /// candidate. Each copy after the first gets its own foundation and a
    /// slightly lower priority, so a client tries the first address first
    /// and checks every one; all of them reach the same socket (a public
    /// address through a 1:1 NAT, a LAN address directly).
    pub(crate) fn candidate(&self, candidate: &str) -> Vec<String> {
        let fields: Vec<&str> = candidate.split(' ').collect();
        if fields.len() <= 5 {
            return vec![candidate.to_owned()];
        }
        let tcp = fields[2].eq_ignore_ascii_case("tcp");
        let tcp_type = fields
            .iter()
            .position(|f| f.eq_ignore_ascii_case("tcptype"))
            .and_then(|i| fields.get(i + 1));
        if tcp && tcp_type.is_some_and(|t| !t.eq_ignore_ascii_case("passive")) {
            return Vec::new();
        }
        let port = if tcp { self.tcp_port } else { self.udp_port };
        let ips: Vec<Option<IpAddr>> = if self.ips.is_empty() {
            vec![None]
        } else {
            self.ips.iter().copied().map(Some).collect()
        };
        let mut priority: u32 = fields[3].parse().unwrap_or(0);
        if tcp {
            // ICE-TCP is the fallback for networks that drop UDP: below every
            // UDP candidate of ours, so a client that can use UDP nominates it.
            priority /= 2;
        }
        ips.iter()
            .zip(0u32..)
            .map(|(ip, i)| {
                let mut copy: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
                if let Some(ip) = ip {
                    copy[4] = ip.to_string();
                }
                if let (Some(port), Some(field)) = (port, copy.get_mut(5)) {
                    *field = port.to_string();
                }
                if i > 0 {
                    copy[0] = format!("{}{i}", fields[0]);
                }
                copy[3] = priority.saturating_sub(i).to_string();
                copy.join(" ")
            })
            .collect()
    }

    /// An SDP with every `a=candidate` line announced.
    pub(crate) fn sdp(&self, sdp: &str) -> String {
        let mut out = String::with_capacity(sdp.len());
        for line in sdp.split_inclusive('\n') {
            match line.strip_prefix("a=") {
                Some(rest) if rest.starts_with("candidate:") => {
                    let body = rest.trim_end_matches(['\r', '\n']);
                    for announced in self.candidate(body) {
                        out.push_str("a=");
                        out.push_str(&announced);
                        out.push_str("\r\n");
                    }
                }
                _ => out.push_str(line),
            }
        }
        out
    }
}

/// Whether the SFU uses a client's trickled candidate: everything but
/// TCP candidates the SFU would have to dial (passive, simultaneous-open):
/// it only accepts ICE-TCP, and never connects to addresses a client names.
pub(crate) fn usable_remote_candidate(candidate: &str) -> bool {
    let fields: Vec<&str> = candidate.split(' ').collect();
    let tcp = fields.get(2).is_some_and(|t| t.eq_ignore_ascii_case("tcp"));
    let tcp_type = fields
        .iter()
        .position(|f| f.eq_ignore_ascii_case("tcptype"))
        .and_then(|i| fields.get(i + 1));
    !tcp || tcp_type.is_some_and(|t| t.eq_ignore_ascii_case("active"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    #[test]
    fn port_range_is_walked_round_robin() {
        let config = MediaConfig {
            udp_bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            mux: false,
            udp_port_min: Some(5000),
            udp_port_max: Some(5002),
            ..MediaConfig::default()
        };
        let cursor = PortCursor::default();
        let ports = |c: &PortCursor| -> Vec<u16> {
            c.candidates(&config).iter().map(SocketAddr::port).collect()
        };
        assert_eq!(ports(&cursor), vec![5000, 5001, 5002]);
        assert_eq!(ports(&cursor), vec![5001, 5002, 5000]);
        let ephemeral = MediaConfig::default();
        assert_eq!(cursor.candidates(&ephemeral)[0].port(), 0);
    }

    #[test]
    fn candidates_are_announced_on_every_configured_ip() {
        let public: IpAddr = "203.0.113.7".parse().unwrap();
        let lan: IpAddr = "10.0.0.1".parse().unwrap();
        let on = |ips: Vec<IpAddr>| Announce {
            ips,
            ..Announce::default()
        };
        let c = "candidate:1 1 udp 2130706431 10.0.0.1 40000 typ host";
        assert_eq!(
            on(vec![public]).candidate(c),
            vec!["candidate:1 1 udp 2130706431 203.0.113.7 40000 typ host"]
        );
        assert_eq!(
            on(vec![public, lan]).candidate(c),
            vec![
                "candidate:1 1 udp 2130706431 203.0.113.7 40000 typ host",
                "candidate:11 1 udp 2130706430 10.0.0.1 40000 typ host",
            ]
        );
        assert_eq!(on(vec![]).candidate(c), vec![c]);
        // TCP candidates rank below every UDP one.
        let tcp = "candidate:2 1 tcp 2130706431 10.0.0.1 40001 typ host tcptype passive";
        assert_eq!(
            on(vec![]).candidate(tcp),
            vec!["candidate:2 1 tcp 1065353215 10.0.0.1 40001 typ host tcptype passive"]
        );
        let sdp = "v=0\r\na=candidate:1 1 udp 9 127.0.0.1 5 typ host\r\na=mid:0\r\n";
        assert_eq!(
            on(vec![public, lan]).sdp(sdp),
            "v=0\r\na=candidate:1 1 udp 9 203.0.113.7 5 typ host\r\na=candidate:11 1 udp 8 10.0.0.1 5 typ host\r\na=mid:0\r\n"
        );
    }

    #[test]
    fn the_mux_ports_replace_each_connections_own_and_active_tcp_is_dropped() {
        let announce = Announce {
            ips: Vec::new(),
            udp_port: Some(3478),
            tcp_port: Some(3479),
        };
        assert_eq!(
            announce.candidate("candidate:1 1 udp 2130706431 10.0.0.1 40000 typ host"),
            vec!["candidate:1 1 udp 2130706431 10.0.0.1 3478 typ host"]
        );
        assert_eq!(
            announce
                .candidate("candidate:2 1 tcp 2130706431 10.0.0.1 40001 typ host tcptype passive"),
            vec!["candidate:2 1 tcp 1065353215 10.0.0.1 3479 typ host tcptype passive"]
        );
        let active = "candidate:3 1 tcp 2130706431 10.0.0.1 9 typ host tcptype active";
        assert!(announce.candidate(active).is_empty());
        assert!(Announce::default().candidate(active).is_empty());
        let sdp = format!("v=0\r\na={active}\r\na=mid:0\r\n");
        assert_eq!(announce.sdp(&sdp), "v=0\r\na=mid:0\r\n");
    }

    #[test]
    fn the_sfu_never_dials_a_clients_tcp_candidate() {
        assert!(usable_remote_candidate(
            "candidate:1 1 udp 2130706431 192.0.2.1 5000 typ host"
        ));
        assert!(usable_remote_candidate(
            "candidate:2 1 tcp 2130706431 192.0.2.1 9 typ host tcptype active"
        ));
        assert!(!usable_remote_candidate(
            "candidate:3 1 tcp 2130706431 192.0.2.1 5001 typ host tcptype passive"
        ));
        assert!(!usable_remote_candidate(
            "candidate:4 1 TCP 2130706431 192.0.2.1 5001 typ host tcptype so"
        ));
    }
}
