//! The media transport's figures: the SFU's shared port (what the mux
//! routed, learned and dropped) and the built-in TURN server (allocations,
//! refusals by reason, relayed traffic, drops). Nothing for a part that
//! does not run.

use super::Families;
use crate::sfu::MuxCounters;
use confer_turn::StatsSnapshot;

/// Registers what runs.
pub(super) fn register(
    out: &mut Families<'_>,
    mux: Option<&MuxCounters>,
    turn: Option<&StatsSnapshot>,
) {
    if let Some(m) = mux {
        let outcomes = [
            ("routed", m.udp_routed),
            ("unrouted", m.udp_unrouted),
            ("bad_integrity", m.udp_bad_integrity),
            ("queue_full", m.udp_queue_full),
        ];
        let help = "Datagrams on the SFU's shared UDP port, by outcome";
        out.counters("confer_media_udp_datagrams", help, "outcome", &outcomes);
        let help = "Remote addresses learned from checks whose integrity verified";
        out.counter("confer_media_udp_routes_learned", help, m.udp_learned);
        let tcp = [("routed", m.tcp_routed), ("refused", m.tcp_refused)];
        let help = "ICE-TCP connections on the SFU's shared TCP port, by outcome";
        out.counters("confer_media_tcp_connections", help, "outcome", &tcp);
        let help = "SFU peer connections registered on the shared ports";
        out.gauge("confer_media_peer_connections", help, m.connections as u64);
    }
    if let Some(t) = turn {
        let help = "TURN allocations alive";
        out.gauge("confer_turn_allocations", help, t.allocations_active);
        let help = "TURN allocations created";
        out.counter(
            "confer_turn_allocations_created",
            help,
            t.allocations_created,
        );
        let f = &t.refused;
        let refused = [
            ("bad_request", f.bad_request),
            ("unauthorized", f.unauthorized),
            ("wrong_credentials", f.wrong_credentials),
            ("stale_nonce", f.stale_nonce),
            ("forbidden_peer", f.forbidden),
            ("quota", f.quota_reached),
            ("capacity", f.insufficient_capacity),
            ("allocation_mismatch", f.allocation_mismatch),
            ("unsupported_transport", f.unsupported_transport),
        ];
        let help = "TURN requests refused, by reason";
        out.counters("confer_turn_refused", help, "reason", &refused);
        let relayed = [
            ("to_peer", t.to_peer.bytes),
            ("to_client", t.to_client.bytes),
        ];
        let help = "Bytes relayed by TURN, by direction";
        out.counters("confer_turn_relayed_bytes", help, "direction", &relayed);
        let dropped = [
            ("bandwidth", t.dropped_bandwidth),
            ("no_permission", t.dropped_no_permission),
            ("malformed", t.malformed),
            ("stream_cap", t.stream_connections_refused),
        ];
        let help = "Relayed packets or inputs TURN dropped, by reason";
        out.counters("confer_turn_dropped", help, "reason", &dropped);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::registry::Registry;

    fn text(mux: Option<&MuxCounters>, turn: Option<&StatsSnapshot>) -> String {
        let mut r = Registry::default();
        register(&mut Families(&mut r), mux, turn);
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &r).expect("encodes");
        out
    }

    #[test]
    fn only_what_runs_is_rendered() {
        assert_eq!(text(None, None), "");
        let mux = MuxCounters {
            udp_routed: 5,
            udp_bad_integrity: 2,
            connections: 3,
            ..MuxCounters::default()
        };
        let out = text(Some(&mux), None);
        assert!(out.contains("confer_media_udp_datagrams_total{outcome=\"bad_integrity\"} 2\n"));
        assert!(out.contains("confer_media_peer_connections 3\n"));
        assert!(!out.contains("confer_turn"));
        let mut turn = StatsSnapshot::default();
        turn.refused.quota_reached = 4;
        turn.to_peer.bytes = 1200;
        let out = text(None, Some(&turn));
        assert!(out.contains("confer_turn_refused_total{reason=\"quota\"} 4\n"));
        assert!(out.contains("confer_turn_relayed_bytes_total{direction=\"to_peer\"} 1200\n"));
    }
}
