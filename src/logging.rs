//! Process-wide log output for the CLI: human text or JSON lines on stderr.

use clap::ValueEnum;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable text.
    Text,
    /// One JSON object per line (structured fields kept).
    Json,
}

/// Installs the stderr subscriber; `RUST_LOG` overrides `default_filter`
/// (to which the WebRTC libraries are added at `error`, see
/// [`media_core::QUIET_LIBRARIES`]).
pub(crate) fn init(format: LogFormat, default_filter: &str) {
    let filter = media_core::log_filter(default_filter);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (tests) is harmless: keep the first subscriber.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
