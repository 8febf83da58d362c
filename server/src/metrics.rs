//! Server counters and their Prometheus text rendering.

use crate::gate::GateStats;
use protocol::ErrorCode;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

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
        let mut out = String::with_capacity(2048);
        let mut gauge = |name: &str, help: &str, value: i64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        };
        gauge("confer_rooms", "Rooms on this server.", to_i64(rooms));
        gauge(
            "confer_users",
            "Sessions (connected or awaiting resume).",
            to_i64(users),
        );
        gauge(
            "confer_connections",
            "Open WebSocket connections.",
            self.connections.load(Ordering::Relaxed),
        );
        gauge(
            "confer_tcp_connections",
            "Open TCP connections (HTTP, WebSocket, closing).",
            to_i64_u(gate.open),
        );
        gauge(
            "confer_tcp_connections_pending",
            "Open TCP connections whose session has not logged in (evictable).",
            to_i64_u(gate.pending),
        );
        gauge(
            "confer_tcp_connections_max",
            "TCP connections the server holds at most (after fitting the open-file limit).",
            to_i64_u(gate.capacity),
        );
        let mut counter = |name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        counter(
            "confer_messages_in_total",
            "Messages received from clients.",
            self.messages_in.load(Ordering::Relaxed),
        );
        counter(
            "confer_messages_out_total",
            "Messages sent to clients.",
            self.messages_out.load(Ordering::Relaxed),
        );
        counter(
            "confer_logins_total",
            "Successful logins.",
            self.logins.load(Ordering::Relaxed),
        );
        counter(
            "confer_tcp_accepted_total",
            "TCP connections admitted.",
            gate.accepted,
        );
        counter(
            "confer_tcp_accept_errors_total",
            "Failed accepts (out of file descriptors, ...).",
            gate.accept_errors,
        );
        let _ = writeln!(
            out,
            "# HELP confer_tcp_closed_early_total TCP connections refused at accept or cut short, by reason.\n# TYPE confer_tcp_closed_early_total counter"
        );
        for (reason, value) in [
            ("refused_full", gate.refused_full),
            ("refused_per_ip", gate.refused_per_source),
            ("evicted", gate.evicted),
            ("header_timeout", gate.header_timeouts),
            ("idle_timeout", gate.idle_timeouts),
            ("tls_failed", gate.tls_failures),
        ] {
            let _ = writeln!(
                out,
                "confer_tcp_closed_early_total{{reason=\"{reason}\"}} {value}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP confer_errors_total Errors reported to clients, by code.\n# TYPE confer_errors_total counter"
        );
        for (code, count) in ErrorCode::ALL.iter().zip(&self.errors) {
            let count = count.load(Ordering::Relaxed);
            if count > 0 {
                let _ = writeln!(
                    out,
                    "confer_errors_total{{code=\"{}\",name=\"{}\"}} {count}",
                    code.code(),
                    code.name()
                );
            }
        }
        out
    }
}

fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_i64_u(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
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
    }
}
