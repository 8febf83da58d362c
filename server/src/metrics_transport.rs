//! The media transport's counters in Prometheus text: the SFU's shared
//! port (what the mux routed, learned and dropped) and the built-in TURN
//! server (allocations, refusals by reason, relayed traffic, drops).

use std::fmt::Write as _;

use confer_turn::StatsSnapshot;

use crate::sfu::MuxCounters;

/// The lines for whatever runs: nothing for a part that does not.
pub fn render(mux: Option<&MuxCounters>, turn: Option<&StatsSnapshot>) -> String {
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, values: &[(&str, u64)]| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, value) in values {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    if let Some(m) = mux {
        metric(
            "confer_media_udp_datagrams_total",
            "counter",
            "Datagrams on the SFU's shared UDP port, by outcome.",
            &[
                ("{outcome=\"routed\"}", m.udp_routed),
                ("{outcome=\"unrouted\"}", m.udp_unrouted),
                ("{outcome=\"bad_integrity\"}", m.udp_bad_integrity),
                ("{outcome=\"queue_full\"}", m.udp_queue_full),
            ],
        );
        metric(
            "confer_media_udp_routes_learned_total",
            "counter",
            "Remote addresses learned from checks whose integrity verified.",
            &[("", m.udp_learned)],
        );
        metric(
            "confer_media_tcp_connections_total",
            "counter",
            "ICE-TCP connections on the SFU's shared TCP port, by outcome.",
            &[
                ("{outcome=\"routed\"}", m.tcp_routed),
                ("{outcome=\"refused\"}", m.tcp_refused),
            ],
        );
        metric(
            "confer_media_peer_connections",
            "gauge",
            "SFU peer connections registered on the shared ports.",
            &[("", m.connections as u64)],
        );
    }
    if let Some(t) = turn {
        metric(
            "confer_turn_allocations",
            "gauge",
            "TURN allocations alive.",
            &[("", t.allocations_active)],
        );
        metric(
            "confer_turn_allocations_created_total",
            "counter",
            "TURN allocations created.",
            &[("", t.allocations_created)],
        );
        let r = &t.refused;
        metric(
            "confer_turn_refused_total",
            "counter",
            "TURN requests refused, by reason.",
            &[
                ("{reason=\"bad_request\"}", r.bad_request),
                ("{reason=\"unauthorized\"}", r.unauthorized),
                ("{reason=\"wrong_credentials\"}", r.wrong_credentials),
                ("{reason=\"stale_nonce\"}", r.stale_nonce),
                ("{reason=\"forbidden_peer\"}", r.forbidden),
                ("{reason=\"quota\"}", r.quota_reached),
                ("{reason=\"capacity\"}", r.insufficient_capacity),
                ("{reason=\"allocation_mismatch\"}", r.allocation_mismatch),
                (
                    "{reason=\"unsupported_transport\"}",
                    r.unsupported_transport,
                ),
            ],
        );
        metric(
            "confer_turn_relayed_bytes_total",
            "counter",
            "Bytes relayed by TURN, by direction.",
            &[
                ("{direction=\"to_peer\"}", t.to_peer.bytes),
                ("{direction=\"to_client\"}", t.to_client.bytes),
            ],
        );
        metric(
            "confer_turn_dropped_total",
            "counter",
            "Relayed packets or inputs TURN dropped, by reason.",
            &[
                ("{reason=\"bandwidth\"}", t.dropped_bandwidth),
                ("{reason=\"no_permission\"}", t.dropped_no_permission),
                ("{reason=\"malformed\"}", t.malformed),
                ("{reason=\"stream_cap\"}", t.stream_connections_refused),
            ],
        );
    }
    out
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
    }
}
