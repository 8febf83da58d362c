//! The media transport's counters in Prometheus text: the SFU's shared
//! port (what the mux routed, learned and dropped) and the built-in TURN
//! server (allocations, refusals by reason, relayed traffic, drops).

use confer_turn::StatsSnapshot;

use crate::prometheus::{Catalogue, Exposition};
use crate::sfu::MuxCounters;

/// The families [`render`] writes.
const FAMILIES: &Catalogue = &[
    (
        "confer_media_udp_datagrams_total",
        "counter",
        "Datagrams on the SFU's shared UDP port, by outcome.",
    ),
    (
        "confer_media_udp_routes_learned_total",
        "counter",
        "Remote addresses learned from checks whose integrity verified.",
    ),
    (
        "confer_media_tcp_connections_total",
        "counter",
        "ICE-TCP connections on the SFU's shared TCP port, by outcome.",
    ),
    (
        "confer_media_peer_connections",
        "gauge",
        "SFU peer connections registered on the shared ports.",
    ),
    (
        "confer_turn_allocations",
        "gauge",
        "TURN allocations alive.",
    ),
    (
        "confer_turn_allocations_created_total",
        "counter",
        "TURN allocations created.",
    ),
    (
        "confer_turn_refused_total",
        "counter",
        "TURN requests refused, by reason.",
    ),
    (
        "confer_turn_relayed_bytes_total",
        "counter",
        "Bytes relayed by TURN, by direction.",
    ),
    (
        "confer_turn_dropped_total",
        "counter",
        "Relayed packets or inputs TURN dropped, by reason.",
    ),
];

/// The lines for whatever runs: nothing for a part that does not.
pub(crate) fn render(mux: Option<&MuxCounters>, turn: Option<&StatsSnapshot>) -> String {
    let mut out = Exposition::new(FAMILIES);
    if let Some(m) = mux {
        out.family("confer_media_udp_datagrams_total").by(
            "outcome",
            &[
                ("routed", m.udp_routed),
                ("unrouted", m.udp_unrouted),
                ("bad_integrity", m.udp_bad_integrity),
                ("queue_full", m.udp_queue_full),
            ],
        );
        out.family("confer_media_udp_routes_learned_total")
            .value(m.udp_learned);
        let tcp = [("routed", m.tcp_routed), ("refused", m.tcp_refused)];
        out.family("confer_media_tcp_connections_total")
            .by("outcome", &tcp);
        out.family("confer_media_peer_connections")
            .value(m.connections);
    }
    if let Some(t) = turn {
        out.family("confer_turn_allocations")
            .value(t.allocations_active);
        out.family("confer_turn_allocations_created_total")
            .value(t.allocations_created);
        let r = &t.refused;
        out.family("confer_turn_refused_total").by(
            "reason",
            &[
                ("bad_request", r.bad_request),
                ("unauthorized", r.unauthorized),
                ("wrong_credentials", r.wrong_credentials),
                ("stale_nonce", r.stale_nonce),
                ("forbidden_peer", r.forbidden),
                ("quota", r.quota_reached),
                ("capacity", r.insufficient_capacity),
                ("allocation_mismatch", r.allocation_mismatch),
                ("unsupported_transport", r.unsupported_transport),
            ],
        );
        let relayed = [
            ("to_peer", t.to_peer.bytes),
            ("to_client", t.to_client.bytes),
        ];
        out.family("confer_turn_relayed_bytes_total")
            .by("direction", &relayed);
        out.family("confer_turn_dropped_total").by(
            "reason",
            &[
                ("bandwidth", t.dropped_bandwidth),
                ("no_permission", t.dropped_no_permission),
                ("malformed", t.malformed),
                ("stream_cap", t.stream_connections_refused),
            ],
        );
    }
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_runs_is_rendered() {
        assert_eq!(render(None, None), "");
        let mux = MuxCounters {
            udp_routed: 5,
            udp_bad_integrity: 2,
            connections: 3,
            ..MuxCounters::default()
        };
        let text = render(Some(&mux), None);
        assert!(text.contains("confer_media_udp_datagrams_total{outcome=\"bad_integrity\"} 2\n"));
        assert!(text.contains("confer_media_peer_connections 3\n"));
        assert!(!text.contains("confer_turn"));
        let mut turn = StatsSnapshot::default();
        turn.refused.quota_reached = 4;
        turn.to_peer.bytes = 1200;
        let text = render(None, Some(&turn));
        assert!(text.contains("confer_turn_refused_total{reason=\"quota\"} 4\n"));
        assert!(text.contains("confer_turn_relayed_bytes_total{direction=\"to_peer\"} 1200\n"));
        assert!(crate::prometheus::well_formed(FAMILIES));
    }
}
