//! The network path a peer connection's media takes: its selected ICE
//! candidate pair, read from the connection's stats (webrtc-rs has no event
//! for it). Reported in the quality events: a direct UDP path, ICE over TCP
//! (a network that drops UDP), or a TURN relay.

use rtc::peer_connection::transport::RTCIceCandidateType;
use rtc::statistics::report::{RTCStatsReport, RTCStatsReportEntry};
use rtc::statistics::stats::ice_candidate::RTCIceCandidateStats;
use rtc::statistics::stats::ice_candidate_pair::{
    RTCIceCandidatePairStats, RTCStatsIceCandidatePairState,
};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How an ICE candidate was found (RFC 8445).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum CandidateKind {
    /// An address of a local interface.
    Host,
    /// The address a NAT maps us to, learned from a STUN server.
    Srflx,
    /// An address learned from the peer's connectivity checks.
    Prflx,
    /// An address on a TURN server that relays the media.
    Relay,
}

/// The transport protocol under the media.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum PathProtocol {
    /// UDP.
    Udp,
    /// TCP (ICE-TCP, RFC 6544).
    Tcp,
}

/// The selected candidate pair of a media connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct MediaPath {
    /// Our side's candidate.
    pub local: CandidateKind,
    /// The server's candidate.
    pub remote: CandidateKind,
    /// UDP or TCP.
    pub protocol: PathProtocol,
}

/// The round trip of the selected pair's latest STUN check (ICE measures
/// it on every keepalive), when one has been measured: the play leg's RTT,
/// which RTCP cannot give a receiver without XR.
pub(crate) fn round_trip(report: &RTCStatsReport) -> Option<Duration> {
    let rtt = selected_pair(report)?.current_round_trip_time;
    (rtt.is_finite() && rtt > 0.0).then(|| Duration::from_secs_f64(rtt))
}

/// The selected pair's path in `report`, once ICE has chosen one.
pub(crate) fn selected(report: &RTCStatsReport) -> Option<MediaPath> {
    let pair = selected_pair(report)?;
    let local = report.iter().find_map(|e| match e {
        RTCStatsReportEntry::LocalCandidate(c) if names(&c.stats.id, &pair.local_candidate_id) => {
            Some(c)
        }
        _ => None,
    })?;
    let remote = report.iter().find_map(|e| match e {
        RTCStatsReportEntry::RemoteCandidate(c)
            if names(&c.stats.id, &pair.remote_candidate_id) =>
        {
            Some(c)
        }
        _ => None,
    });
    Some(MediaPath {
        local: kind(local)?,
        // A remote candidate learned from the peer's checks has no entry.
        remote: remote.and_then(kind).unwrap_or(CandidateKind::Prflx),
        protocol: if local.protocol.eq_ignore_ascii_case("tcp") {
            PathProtocol::Tcp
        } else {
            PathProtocol::Udp
        },
    })
}

/// The selected pair in `report`: the one the transport names, or else a
/// nominated pair that succeeded.
fn selected_pair(report: &RTCStatsReport) -> Option<&RTCIceCandidatePairStats> {
    let named = report.iter().find_map(|e| match e {
        RTCStatsReportEntry::Transport(t) => match report.get(&t.selected_candidate_pair_id) {
            Some(RTCStatsReportEntry::IceCandidatePair(pair)) => Some(pair),
            _ => None,
        },
        _ => None,
    });
    named.or_else(|| {
        report.iter().find_map(|e| match e {
            RTCStatsReportEntry::IceCandidatePair(p)
                if p.nominated && p.state == RTCStatsIceCandidatePairState::Succeeded =>
            {
                Some(p)
            }
            _ => None,
        })
    })
}

/// Whether a candidate's stats ID names the candidate a pair refers to:
/// webrtc-rs 0.21 gives the pair `candidate:<id>` and the candidate entry
/// `RTCLocalIceCandidate_candidate:<id>` (or the same with `Remote`).
fn names(stats_id: &str, pair_ref: &str) -> bool {
    stats_id == pair_ref
        || stats_id
            .strip_suffix(pair_ref)
            .is_some_and(|prefix| prefix.ends_with('_'))
}

fn kind(candidate: &RTCIceCandidateStats) -> Option<CandidateKind> {
    match candidate.candidate_type {
        RTCIceCandidateType::Host => Some(CandidateKind::Host),
        RTCIceCandidateType::Srflx => Some(CandidateKind::Srflx),
        RTCIceCandidateType::Prflx => Some(CandidateKind::Prflx),
        RTCIceCandidateType::Relay => Some(CandidateKind::Relay),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_serialize_as_short_words() {
        let path = MediaPath {
            local: CandidateKind::Relay,
            remote: CandidateKind::Host,
            protocol: PathProtocol::Tcp,
        };
        assert_eq!(
            serde_json::to_string(&path).expect("serializes"),
            r#"{"local":"relay","remote":"host","protocol":"tcp"}"#
        );
        assert_eq!(selected(&RTCStatsReport::default()), None);
    }

    #[test]
    fn candidate_entries_are_found_by_the_pair_reference() {
        assert!(names(
            "RTCLocalIceCandidate_candidate:ab+c",
            "candidate:ab+c"
        ));
        assert!(names("candidate:ab+c", "candidate:ab+c"));
        assert!(!names(
            "RTCLocalIceCandidate_candidate:xab+c",
            "candidate:ab+c"
        ));
        assert!(!names(
            "RTCLocalIceCandidate_candidate:ab",
            "candidate:ab+c"
        ));
    }
}
