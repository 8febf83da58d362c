//! Reading the server's `/metrics` text in assertions.

/// The `confer_tcp_closed_early_total` sample for `reason` (panics, with
/// the whole text, when it is missing).
pub fn closed_early(metrics: &str, reason: &str) -> u64 {
    let key = format!("confer_tcp_closed_early_total{{reason=\"{reason}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(key.as_str()))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{reason} missing: {metrics}"))
}

/// Asserts that the server's `/metrics` text has every one of `samples`
/// (the whole text on failure).
pub async fn assert_has(server: &crate::TestServer, samples: &[&str]) {
    let metrics = server.http_get("/metrics").await;
    for sample in samples {
        assert!(metrics.contains(sample), "{sample} missing: {metrics}");
    }
}
