//! Server counters and `/metrics`, rendered by `prometheus-client` (the
//! Prometheus project's Rust client) in the Prometheus text format 0.0.4:
//! signaling and connection figures, the SFU's media per node and per
//! room ([`media`]), its shared ports and the built-in TURN server
//! ([`transport`]), and webhook delivery.

pub(crate) mod media;
mod transport;

use crate::gate::GateStats;
use crate::sfu::{MuxCounters, StreamKey};
use crate::webhooks::WebhookStats;
use media::{MediaMeter, RoomRef, Tally, TallyField};
use prometheus_client::encoding::{prometheus_text, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use protocol::ErrorCode;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The `Content-Type` of `/metrics`.
pub(crate) const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// A family's labels.
pub(crate) type Labels = Vec<(&'static str, String)>;

/// What a scrape reads besides the counters.
#[derive(Debug, Default)]
pub struct Scrape<'a> {
    /// Rooms on this node.
    pub rooms: usize,
    /// Sessions on this node.
    pub users: usize,
    /// The connection gate's figures.
    pub gate: GateStats,
    /// The SFU's shared ports, when it runs with them.
    pub mux: Option<&'a MuxCounters>,
    /// The built-in TURN server, when it runs.
    pub turn: Option<&'a confer_turn::StatsSnapshot>,
    /// The stream of each live publisher connection.
    pub publishers: Vec<StreamKey>,
    /// The stream of each player connection.
    pub players: Vec<StreamKey>,
    /// The SFU's media counters.
    pub media: Option<&'a MediaMeter>,
}

/// Counters updated by connections; gauges of rooms and users come from the hub.
#[derive(Debug, Default)]
pub struct Metrics {
    connections: Gauge,
    messages_in: Counter,
    messages_out: Counter,
    logins: Counter,
    errors: Family<Labels, Counter>,
    webhooks: Arc<WebhookStats>,
}

/// Keeps the connection gauge up while alive.
#[derive(Debug)]
pub struct ConnectionGauge<'a>(&'a Metrics);

impl Drop for ConnectionGauge<'_> {
    fn drop(&mut self) {
        self.0.connections.dec();
    }
}

impl Metrics {
    /// Counts an open connection until the guard drops.
    pub fn connection(&self) -> ConnectionGauge<'_> {
        self.connections.inc();
        ConnectionGauge(self)
    }

    /// A message was received.
    pub fn message_in(&self) {
        self.messages_in.inc();
    }

    /// A message was sent.
    pub fn message_out(&self) {
        self.messages_out.inc();
    }

    /// A login succeeded.
    pub fn login(&self) {
        self.logins.inc();
    }

    /// An error with this code was reported to a client.
    pub fn error(&self, code: ErrorCode) {
        self.errors.get_or_create(&error_labels(code)).inc();
    }

    /// How often `code` was reported.
    pub fn errors_of(&self, code: ErrorCode) -> u64 {
        self.errors.get(&error_labels(code)).map_or(0, |c| c.get())
    }

    /// The webhooks' delivery counters.
    pub fn webhooks(&self) -> &Arc<WebhookStats> {
        &self.webhooks
    }

    /// The text exposition.
    pub fn render(&self, s: &Scrape<'_>) -> String {
        let mut r = Registry::default();
        let mut out = Families(&mut r);
        out.gauge("confer_rooms", "Rooms on this server", s.rooms as u64);
        let users = "Sessions (connected or awaiting resume)";
        out.gauge("confer_users", users, s.users as u64);
        let open = "Open WebSocket connections";
        out.0
            .register("confer_connections", open, self.connections.clone());
        let g = &s.gate;
        let tcp = "Open TCP connections (HTTP, WebSocket, closing)";
        out.gauge("confer_tcp_connections", tcp, g.open);
        let pending = "Open TCP connections whose session has not logged in (evictable)";
        out.gauge("confer_tcp_connections_pending", pending, g.pending);
        let max = "TCP connections the server holds at most (after fitting the open-file limit)";
        out.gauge("confer_tcp_connections_max", max, g.capacity);
        let received = "Messages received from clients";
        out.0
            .register("confer_messages_in", received, self.messages_in.clone());
        let sent = "Messages sent to clients";
        out.0
            .register("confer_messages_out", sent, self.messages_out.clone());
        out.0
            .register("confer_logins", "Successful logins", self.logins.clone());
        out.counter(
            "confer_tcp_accepted",
            "TCP connections admitted",
            g.accepted,
        );
        let failed = "Failed accepts (out of file descriptors, ...)";
        out.counter("confer_tcp_accept_errors", failed, g.accept_errors);
        let early = [
            ("refused_full", g.refused_full),
            ("refused_per_ip", g.refused_per_source),
            ("evicted", g.evicted),
            ("header_timeout", g.header_timeouts),
            ("idle_timeout", g.idle_timeouts),
            ("tls_failed", g.tls_failures),
        ];
        let early_help = "TCP connections refused at accept or cut short, by reason";
        out.counters("confer_tcp_closed_early", early_help, "reason", &early);
        let errors = "Errors reported to clients, by code";
        out.0.register("confer_errors", errors, self.errors.clone());
        self.register_webhooks(&mut out);
        if let Some(media) = s.media {
            register_media(&mut out, media, s);
        }
        transport::register(&mut out, s.mux, s.turn);
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_text::encode(&mut text, &r);
        text
    }

    fn register_webhooks(&self, out: &mut Families<'_>) {
        let w = &self.webhooks;
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let events = [
            ("delivered", load(&w.delivered)),
            ("failed", load(&w.failed)),
            ("dropped", load(&w.dropped)),
        ];
        let help = "Webhook events per URL, by outcome (delivered; failed after the last attempt; dropped on a full queue or at shutdown)";
        out.counters("confer_webhook_events", help, "outcome", &events);
        let retried = "Webhook attempts that failed and were retried";
        out.counter("confer_webhook_retries", retried, load(&w.retried));
        let queued = "Webhook events queued or in flight, over every URL";
        out.gauge("confer_webhook_queued", queued, load(&w.queued));
    }
}

/// A scrape's registry with the shapes of family this module registers
/// (a constant counter or gauge, a counter per value of one label).
pub(crate) struct Families<'a>(pub(crate) &'a mut Registry);

impl Families<'_> {
    /// A counter read from elsewhere.
    pub(crate) fn counter(&mut self, name: &str, help: &str, value: u64) {
        self.0.register(name, help, ConstCounter::new(value));
    }

    /// A gauge read from elsewhere (saturating at `i64::MAX`).
    pub(crate) fn gauge(&mut self, name: &str, help: &str, value: u64) {
        let value = i64::try_from(value).unwrap_or(i64::MAX);
        self.0.register(name, help, ConstGauge::new(value));
    }

    /// A counter family with one series per value of `label`.
    pub(crate) fn counters(
        &mut self,
        name: &str,
        help: &str,
        label: &'static str,
        values: &[(&str, u64)],
    ) {
        let family = Family::<Labels, Counter>::default();
        for (value, n) in values {
            family
                .get_or_create(&vec![(label, (*value).to_owned())])
                .inc_by(*n);
        }
        self.0.register(name, help, family);
    }
}

/// The media figures per node (no label) and per tracked room (`app_id`,
/// `room_id`).
fn register_media(out: &mut Families<'_>, media: &MediaMeter, s: &Scrape<'_>) {
    let node: Labels = Vec::new();
    let rooms: Vec<(RoomRef, Arc<Tally>)> = media.rooms();
    let scopes: Arc<[(Labels, Arc<Tally>)]> = std::iter::once((node, Arc::clone(media.node())))
        .chain(
            rooms
                .iter()
                .map(|(room, t)| (room_labels(room), Arc::clone(t))),
        )
        .collect();
    let series: [(&str, &str, Series); 7] = [
        (
            "confer_media_packets_forwarded",
            "RTP packets the SFU forwarded to players",
            Series::Counter(|t| &t.packets),
        ),
        (
            "confer_media_bytes_forwarded",
            "RTP payload bytes the SFU forwarded to players",
            Series::Counter(|t| &t.bytes),
        ),
        (
            "confer_media_plis",
            "Keyframe requests (PLI/FIR) from players",
            Series::Counter(|t| &t.plis),
        ),
        (
            "confer_media_nacks",
            "NACK feedback packets from players",
            Series::Counter(|t| &t.nacks),
        ),
        (
            "confer_media_retransmissions",
            "RTP packets the SFU resent to players for their NACKs",
            Series::Counter(|t| &t.retransmissions),
        ),
        (
            "confer_media_loss_ratio",
            "Fraction lost per receiver report from players",
            Series::Histogram(|t| &t.loss),
        ),
        (
            "confer_media_rtt_seconds",
            "Round-trip time of player legs (receiver reports answering relayed sender reports)",
            Series::Histogram(|t| &t.rtt),
        ),
    ];
    for (name, help, series) in series {
        match series {
            Series::Counter(field) => {
                let family = Family::<Labels, Counter>::default();
                for (labels, tally) in scopes.iter() {
                    family
                        .get_or_create(labels)
                        .inc_by(field(tally).load(Ordering::Relaxed));
                }
                out.0.register(name, help, family);
            }
            // The histograms live in the tallies; this family encodes them.
            Series::Histogram(field) => {
                let scopes = Arc::clone(&scopes);
                out.0
                    .register(name, help, HistogramFamily { scopes, field });
            }
        }
    }
    let count = |streams: &[StreamKey]| {
        let mut by_room: HashMap<Labels, i64> = HashMap::new();
        by_room.insert(Vec::new(), streams.len() as i64);
        for stream in streams {
            if let Some(room) = media.room_of(stream) {
                *by_room.entry(room_labels(&room)).or_default() += 1;
            }
        }
        for (room, _) in &rooms {
            by_room.entry(room_labels(room)).or_default();
        }
        let family = Family::<Labels, Gauge>::default();
        for (labels, n) in by_room {
            family.get_or_create(&labels).set(n);
        }
        family
    };
    let publishers = count(&s.publishers);
    let players = count(&s.players);
    out.0.register(
        "confer_media_publishers",
        "Live publisher connections",
        publishers,
    );
    out.0
        .register("confer_media_players", "Player connections", players);
}

/// One series of every scope's [`Tally`].
enum Series {
    /// A counter.
    Counter(TallyField),
    /// A histogram.
    Histogram(HistogramField),
}

/// One histogram of a [`Tally`].
pub(crate) type HistogramField = fn(&Tally) -> &Histogram;

/// Encodes one histogram of each scope as one series of a family.
#[derive(Debug)]
pub(crate) struct HistogramFamily {
    /// The scopes: their labels and tallies.
    pub(crate) scopes: Arc<[(Labels, Arc<Tally>)]>,
    /// The histogram of each tally.
    pub(crate) field: HistogramField,
}

impl EncodeMetric for HistogramFamily {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> Result<(), std::fmt::Error> {
        for (labels, tally) in self.scopes.iter() {
            (self.field)(tally).encode(encoder.encode_family(labels)?)?;
        }
        Ok(())
    }

    fn metric_type(&self) -> prometheus_client::metrics::MetricType {
        prometheus_client::metrics::MetricType::Histogram
    }
}

/// A room's labels.
fn room_labels((app_id, room_id): &RoomRef) -> Labels {
    vec![("app_id", app_id.to_string()), ("room_id", room_id.clone())]
}

fn error_labels(code: ErrorCode) -> Labels {
    vec![
        ("code", code.code().to_string()),
        ("name", code.name().to_owned()),
    ]
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
        let scrape = Scrape {
            rooms: 3,
            users: 7,
            gate: GateStats {
                open: 4,
                evicted: 2,
                ..GateStats::default()
            },
            ..Scrape::default()
        };
        let text = m.render(&scrape);
        for line in [
            "confer_tcp_connections 4\n",
            "confer_tcp_closed_early_total{reason=\"evicted\"} 2\n",
            "confer_rooms 3\n",
            "confer_users 7\n",
            "confer_connections 1\n",
            "confer_messages_in_total 1\n",
            "# TYPE confer_messages_in_total counter\n",
            "confer_logins_total 1\n",
            "confer_errors_total{code=\"1009004\",name=\"RateLimited\"} 2\n",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        drop(guard);
        assert!(m
            .render(&Scrape::default())
            .contains("confer_connections 0\n"));
        assert_eq!(m.errors_of(ErrorCode::RateLimited), 2);
    }
}
