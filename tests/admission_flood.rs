//! A half-open flood against `confer serve` under `ulimit -n 1024` (a
//! common service default): 2,000 idle TCP connections that never send a
//! request and 300 that send their headers a byte at a time. The server
//! closes every one within its configured timeouts (or evicts it, or
//! refuses it at accept), while `/healthz` and a real login from another
//! address keep working throughout, and its file descriptors come back.

use server::ServerConfig;
use std::time::Duration;
use test_support::flood::{self, Flood, ServeProcess};
use test_support::metrics::closed_early;

const HEADER_READ_TIMEOUT_MS: u64 = 2_000;
/// Scheduling slack on a loaded 2-core machine (generous: a bound, not a timing).
const SLACK_MS: u64 = 3_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slowloris_floods_are_closed_while_others_are_served() {
    let mut config = ServerConfig::generate_local();
    config.header_read_timeout_ms = HEADER_READ_TIMEOUT_MS;
    config.http_idle_timeout_ms = 3_000;
    let server = ServeProcess::start(config, 1024).await;
    let report = flood::run(&server, Flood::half_open(Duration::from_millis(100))).await;
    println!("{report:?}");
    assert!(
        report.failures.is_empty(),
        "legitimate requests failed during the flood: {:?}",
        report.failures
    );
    assert!(
        report.health_checks >= 3 && report.logins >= 3,
        "{report:?}"
    );
    assert_eq!(report.never_closed, 0, "connections held past the deadline");
    let closed = report.closed_after_ms.len();
    assert!(
        closed + report.refused_at_accept + report.connect_failed == 2_300,
        "{report:?}"
    );
    // The server filled its 768 slots (1024 minus the reserve), then closed them.
    assert!(closed >= 700, "admitted, then closed: {report:?}");
    let slowest = report.closed_after_ms.iter().max().copied().unwrap_or(0);
    assert!(
        slowest <= HEADER_READ_TIMEOUT_MS + SLACK_MS,
        "a connection was held {slowest} ms"
    );
    // The server never held more sockets than its open-file limit allows.
    assert!(report.fds[1] < 1024, "{:?}", report.fds);
    assert!(
        report.fds[2] <= report.fds[0] + 8,
        "descriptors come back: {:?}",
        report.fds
    );
    let metrics = server.get("/metrics").await.expect("metrics");
    let early = |reason: &str| closed_early(&metrics, reason);
    assert!(early("header_timeout") > 0, "{metrics}");
    assert!(
        early("header_timeout") + early("evicted") + early("refused_full") >= 2_000,
        "{metrics}"
    );
    assert!(
        metrics.contains("confer_tcp_connections_max 768\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("confer_tcp_accept_errors_total 0\n"),
        "{metrics}"
    );
}
