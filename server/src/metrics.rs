//! Server counters and their Prometheus text rendering.

use crate::gate::GateStats;
use crate::prometheus::{Catalogue, Exposition};
use protocol::ErrorCode;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// The families [`Metrics::render`] writes.
const FAMILIES: &Catalogue = &[
    ("confer_rooms", "gauge", "Rooms on this server."),
    (
        "confer_users",
        "gauge",
        "Sessions (connected or awaiting resume).",
    ),
    ("confer_connections", "gauge", "Open WebSocket connections."),
    (
        "confer_tcp_connections",
        "gauge",
        "Open TCP connections (HTTP, WebSocket, closing).",
    ),
    (
        "confer_tcp_connections_pending",
        "gauge",
        "Open TCP connections whose session has not logged in (evictable).",
    ),
    (
        "confer_tcp_connections_max",
        "gauge",
        "TCP connections the server holds at most (after fitting the open-file limit).",
    ),
    (
        "confer_messages_in_total",
        "counter",
        "Messages received from clients.",
    ),
    (
        "confer_messages_out_total",
        "counter",
        "Messages sent to clients.",
    ),
    ("confer_logins_total", "counter", "Successful logins."),
    (
        "confer_tcp_accepted_total",
        "counter",
        "TCP connections admitted.",
    ),
    (
        "confer_tcp_accept_errors_total",
        "counter",
        "Failed accepts (out of file descriptors, ...).",
    ),
    (
        "confer_tcp_closed_early_total",
        "counter",
        "TCP connections refused at accept or cut short, by reason.",
    ),
    (
        "confer_errors_total",
        "counter",
        "Errors reported to clients, by code.",
    ),
];

/// Counters updated by connections; gauges of rooms and users come from the hub.
#[derive(Debug)]
pub struct Metrics {
    connections: AtomicI64,
    messages_in: AtomicU64,
    messages_out: AtomicU64,
    logins: AtomicU64,
    /// One counter per entry of [`ErrorCode::ALL`].
    errors: Vec<AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            connections: AtomicI64::new(0),
            messages_in: AtomicU64::new(0),
            messages_out: AtomicU64::new(0),
            logins: AtomicU64::new(0),
            errors: ErrorCode::ALL.iter().map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

/// Keeps the connection gauge up while alive.
#[derive(Debug)]
pub struct ConnectionGauge<'a>(&'a Metrics);

impl Drop for ConnectionGauge<'_> {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// Counts an open connection until the guard drops.
    pub fn connection(&self) -> ConnectionGauge<'_> {
        self.connections.fetch_add(1, Ordering::Relaxed);
        ConnectionGauge(self)
    }

    /// A message was received.
    pub fn message_in(&self) {
        self.messages_in.fetch_add(1, Ordering::Relaxed);
    }

    /// A message was sent.
    pub fn message_out(&self) {
        self.messages_out.fetch_add(1, Ordering::Relaxed);
    }

    /// A login succeeded.
    pub fn login(&self) {
        self.logins.fetch_add(1, Ordering::Relaxed);
    }

    /// An error with this code was reported to a client.
    pub fn error(&self, code: ErrorCode) {
        if let Some(i) = ErrorCode::ALL.iter().position(|c| *c == code) {
            if let Some(counter) = self.errors.get(i) {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// How often `code` was reported.
    pub fn errors_of(&self, code: ErrorCode) -> u64 {
        ErrorCode::ALL
            .iter()
            .position(|c| *c == code)
            .and_then(|i| self.errors.get(i))
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// The Prometheus text exposition, with the hub's room and user counts
    /// and the connection gate's figures.
    pub fn render(&self, rooms: usize, users: usize, gate: &GateStats) -> String {
        let mut out = Exposition::new(FAMILIES);
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        out.family("confer_rooms").value(rooms);
        out.family("confer_users").value(users);
        out.family("confer_connections")
            .value(self.connections.load(Ordering::Relaxed));
        out.family("confer_tcp_connections").value(gate.open);
        out.family("confer_tcp_connections_pending")
            .value(gate.pending);
        out.family("confer_tcp_connections_max")
            .value(gate.capacity);
        out.family("confer_messages_in_total")
            .value(load(&self.messages_in));
        out.family("confer_messages_out_total")
            .value(load(&self.messages_out));
        out.family("confer_logins_total").value(load(&self.logins));
        out.family("confer_tcp_accepted_total").value(gate.accepted);
        out.family("confer_tcp_accept_errors_total")
            .value(gate.accept_errors);
        out.family("confer_tcp_closed_early_total").by(
            "reason",
            &[
                ("refused_full", gate.refused_full),
                ("refused_per_ip", gate.refused_per_source),
                ("evicted", gate.evicted),
                ("header_timeout", gate.header_timeouts),
                ("idle_timeout", gate.idle_timeouts),
                ("tls_failed", gate.tls_failures),
            ],
        );
        let mut errors = out.family("confer_errors_total");
        for (code, count) in ErrorCode::ALL.iter().zip(&self.errors) {
            let count = load(count);
            if count > 0 {
                let labels = format!("{{code=\"{}\",name=\"{}\"}}", code.code(), code.name());
                errors.sample(&labels, count);
            }
        }
        out.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        let guard = m.connection();
        m.message_in();
        m.login();
        m.error(ErrorCode::RateLimited);
        m.error(ErrorCode::RateLimited);
        let gate = GateStats {
            open: 4,
            evicted: 2,
            ..GateStats::default()
        };
        let text = m.render(3, 7, &gate);
        assert!(text.contains("confer_tcp_connections 4\n"));
        assert!(text.contains("confer_tcp_closed_early_total{reason=\"evicted\"} 2\n"));
        assert!(text.contains("confer_rooms 3\n"));
        assert!(text.contains("confer_users 7\n"));
        assert!(text.contains("confer_connections 1\n"));
        assert!(text.contains("confer_messages_in_total 1\n"));
        assert!(text.contains("confer_logins_total 1\n"));
        assert!(text.contains("confer_errors_total{code=\"1009004\",name=\"RateLimited\"} 2\n"));
        drop(guard);
        assert!(m
            .render(0, 0, &GateStats::default())
            .contains("confer_connections 0\n"));
        assert_eq!(m.errors_of(ErrorCode::RateLimited), 2);
        assert!(crate::prometheus::well_formed(FAMILIES));
    }
}
