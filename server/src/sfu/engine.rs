//! How the SFU's peer connections are built: codecs, interceptors, ICE
//! settings and the UDP port each one binds.

use super::rtcp_delivery::RtcpDelivery;
use super::SfuError;
use crate::config::MediaConfig;
use rtc::interceptor::{Registry, Slot};
use rtc::peer_connection::configuration::media_engine::MediaEngine;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, SettingEngineBuilder,
};

/// The slot of the keyframe-request delivery interceptor: after every
/// built-in one, so they all see the RTCP before it narrows it.
const DELIVERY_SLOT: usize = 14_000;

/// Codecs, feedback and header extensions of every SFU peer connection:
/// the profile the SDK negotiates too.
fn media_engine() -> Result<MediaEngine, SfuError> {
    rtc_profile::media_engine().map_err(|e| SfuError::Setup(e.to_string()))
}

/// NACK generator (bounded) and responder, TWCC feedback for publishers'
/// bandwidth estimators, receiver reports, and RTCP delivery last. No
/// sender reports of the SFU's own: it relays the publisher's, so players
/// map RTP time to the publisher's clock.
fn interceptors() -> Registry {
    rtc_profile::feedback_interceptors().with(Slot::from(DELIVERY_SLOT), RtcpDelivery::default())
}

/// Hands out UDP ports from the configured range, round robin.
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

/// Builds a peer connection for one publisher or player leg.
pub(crate) async fn build_peer_connection(
    config: &MediaConfig,
    ports: &PortCursor,
    handler: Arc<dyn PeerConnectionEventHandler>,
) -> Result<Arc<dyn PeerConnection>, SfuError> {
    let mut last_error = String::from("no address to bind");
    for addr in ports.candidates(config) {
        // The announced IP is applied to the candidates as they are
        // signaled ([`announce_candidate`]): the setting engine's NAT 1:1
        // option is stored but not used by webrtc-rs 0.21.1.
        let settings = SettingEngineBuilder::new()
            .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled);
        let built = PeerConnectionBuilder::new()
            .with_media_engine(media_engine()?)
            .with_interceptor_registry(interceptors())
            .with_setting_engine(settings.build())
            .with_handler(Arc::clone(&handler))
            .with_udp_addrs(vec![addr])
            // ICE-TCP, passive: for clients whose network drops UDP.
            .with_tcp_addrs(vec![SocketAddr::new(addr.ip(), 0)])
            .build()
            .await;
        match built {
            Ok(pc) => return Ok(Arc::new(pc)),
            Err(error) => {
                tracing::debug!(%addr, %error, "media socket unavailable");
                last_error = format!("{addr}: {error}");
            }
        }
    }
    Err(SfuError::Transport(last_error))
}

/// A local candidate line as announced: one copy per address of `ips`,
/// in order (RFC 8839 `candidate:<foundation> <component> <transport>
/// <priority> <address> <port> typ ...`). Each copy after the first gets
/// its own foundation and a slightly lower priority, so a client tries the
/// first address first and checks every one; all of them reach the same
/// bound socket (a public address through a 1:1 NAT, a LAN address
/// directly). No `ips`: the candidate as it is.
pub(crate) fn announce_candidate(candidate: &str, ips: &[IpAddr]) -> Vec<String> {
    let fields: Vec<&str> = candidate.split(' ').collect();
    if fields.len() <= 5 {
        return vec![candidate.to_owned()];
    }
    let ips: Vec<Option<IpAddr>> = if ips.is_empty() {
        vec![None]
    } else {
        ips.iter().copied().map(Some).collect()
    };
    let mut priority: u32 = fields[3].parse().unwrap_or(0);
    if fields[2].eq_ignore_ascii_case("tcp") {
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
            if i > 0 {
                copy[0] = format!("{}{i}", fields[0]);
            }
            copy[3] = priority.saturating_sub(i).to_string();
            copy.join(" ")
        })
        .collect()
}

/// An SDP with every `a=candidate` line announced on each of `ips`.
pub(crate) fn announce_sdp(sdp: &str, ips: &[IpAddr]) -> String {
    let mut out = String::with_capacity(sdp.len());
    for line in sdp.split_inclusive('\n') {
        match line.strip_prefix("a=") {
            Some(rest) if rest.starts_with("candidate:") => {
                let body = rest.trim_end_matches(['\r', '\n']);
                for announced in announce_candidate(body, ips) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    #[test]
    fn port_range_is_walked_round_robin() {
        let config = MediaConfig {
            udp_bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            udp_port_min: Some(5000),
            udp_port_max: Some(5002),
            announced_ips: Vec::new(),
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
        let c = "candidate:1 1 udp 2130706431 10.0.0.1 40000 typ host";
        assert_eq!(
            announce_candidate(c, &[public]),
            vec!["candidate:1 1 udp 2130706431 203.0.113.7 40000 typ host"]
        );
        assert_eq!(
            announce_candidate(c, &[public, lan]),
            vec![
                "candidate:1 1 udp 2130706431 203.0.113.7 40000 typ host",
                "candidate:11 1 udp 2130706430 10.0.0.1 40000 typ host",
            ]
        );
        assert_eq!(announce_candidate(c, &[]), vec![c]);
        // TCP candidates rank below every UDP one.
        let tcp = "candidate:2 1 tcp 2130706431 10.0.0.1 40001 typ host tcptype passive";
        assert_eq!(
            announce_candidate(tcp, &[]),
            vec!["candidate:2 1 tcp 1065353215 10.0.0.1 40001 typ host tcptype passive"]
        );
        let sdp = "v=0\r\na=candidate:1 1 udp 9 127.0.0.1 5 typ host\r\na=mid:0\r\n";
        assert_eq!(
            announce_sdp(sdp, &[public, lan]),
            "v=0\r\na=candidate:1 1 udp 9 203.0.113.7 5 typ host\r\na=candidate:11 1 udp 8 10.0.0.1 5 typ host\r\na=mid:0\r\n"
        );
    }
}
