//! The media transport's figures: the SFU's shared port (what the mux
//! routed, learned and dropped) and the built-in TURN server (allocations,
//! refusals by reason, relayed traffic, drops). Nothing for a part that
//! does not run.

use super::counters;
use crate::sfu::MuxCounters;
use confer_turn::StatsSnapshot;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

fn gauge(v: u64) -> ConstGauge {
    ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX))
}

/// Registers what runs.
pub(super) fn register(r: &mut Registry, mux: Option<&MuxCounters>, turn: Option<&StatsSnapshot>) {
    if let Some(m) = mux {
        let outcomes = [
            ("routed", m.udp_routed),
            ("unrouted", m.udp_unrouted),
            ("bad_integrity", m.udp_bad_integrity),
            ("queue_full", m.udp_queue_full),
        ];
        let help = "Datagrams on the SFU's shared UDP port, by outcome";
        r.register(
            "confer_media_udp_datagrams",
            help,
            counters("outcome", &outcomes),
        );
        let help = "Remote addresses learned from checks whose integrity verified";
        r.register(
            "confer_media_udp_routes_learned",
            help,
            ConstCounter::new(m.udp_learned),
        );
        let tcp = [("routed", m.tcp_routed), ("refused", m.tcp_refused)];
        let help = "ICE-TCP connections on the SFU's shared TCP port, by outcome";
        r.register(
            "confer_media_tcp_connections",
            help,
            counters("outcome", &tcp),
        );
        let help = "SFU peer connections registered on the shared ports";
        r.register(
            "confer_media_peer_connections",
            help,
            gauge(m.connections as u64),
        );
    }
    if let Some(t) = turn {
        r.register(
            "confer_turn_allocations",
            "TURN allocations alive",
            gauge(t.allocations_active),
        );
        let created = ConstCounter::new(t.allocations_created);
        r.register(
            "confer_turn_allocations_created",
            "TURN allocations created",
            created,
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
        r.register("confer_turn_refused", help, counters("reason", &refused));
        let relayed = [
            ("to_peer", t.to_peer.bytes),
            ("to_client", t.to_client.bytes),
        ];
        let help = "Bytes relayed by TURN, by direction";
        r.register(
            "confer_turn_relayed_bytes",
            help,
            counters("direction", &relayed),
        );
        let dropped = [
            ("bandwidth", t.dropped_bandwidth),
            ("no_permission", t.dropped_no_permission),
            ("malformed", t.malformed),
            ("stream_cap", t.stream_connections_refused),
        ];
        let help = "Relayed packets or inputs TURN dropped, by reason";
        r.register("confer_turn_dropped", help, counters("reason", &dropped));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(mux: Option<&MuxCounters>, turn: Option<&StatsSnapshot>) -> String {
        let mut r = Registry::default();
        register(&mut r, mux, turn);
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
