//! What Confer's tests and benches share across crates.
//!
//! A test that needs something a machine may lack (an X display, root and
//! network namespaces, Chromium, a private PulseAudio) calls [`skip`] when
//! it is missing: on a developer's machine the test says SKIPPED and passes;
//! where `CONFER_REQUIRE_ALL` is set (CI, `.ci/run`) it fails instead, so a
//! missing package can never turn a whole suite green by skipping it.
//! [`proc_stat`] reads a process's CPU time and memory for the benches.
//!
//! With the `server` feature: `TestServer`, a real server on 127.0.0.1:0
//! with a generated local config, and what tests drive it with that does
//! not need the SDK: raw protocol clients (`client`, `raw`), relays that
//! cut or drop traffic (`relay`, `udp_relay`), test certificates (`tls`),
//! one hand-made HTTP request and its answer (`http`),
//! `confer` child processes (`cli`, `flood`, `frozen`), nodes on a
//! private Redis (`cluster`), network
//! namespaces (`netns`) and `/metrics` readers (`metrics`). The server's
//! own tests use only this much.
//!
//! With the `sdk` feature (which includes `server`), SDK engines too:
//! `Peer`, event briefs for sequence assertions (`brief`) and probes for the
//! frames and audio a player got (`media`).
//!
//! With the `turn` feature: a TURN server on loopback and a TURN client
//! (`turn`), for the TURN server's own tests and bench.
#![warn(missing_docs)]

#[cfg(feature = "sdk")]
pub mod brief;
pub mod call_metrics;
#[cfg(feature = "sdk")]
pub mod cellular;
#[cfg(feature = "server")]
pub mod cli;
#[cfg(feature = "server")]
pub mod client;
#[cfg(feature = "server")]
pub mod cluster;
#[cfg(feature = "server")]
pub mod flood;
#[cfg(feature = "sdk")]
pub mod frame_log;
#[cfg(feature = "server")]
pub mod frozen;
#[cfg(feature = "server")]
pub mod http;
#[cfg(feature = "sdk")]
pub mod lanes;
#[cfg(feature = "sdk")]
pub mod media;
#[cfg(feature = "server")]
pub mod metrics;
#[cfg(feature = "server")]
pub mod netns;
#[cfg(feature = "sdk")]
pub mod peer;
pub mod proc_stat;
#[cfg(feature = "server")]
pub mod raw;
#[cfg(feature = "server")]
pub mod relay;
#[cfg(feature = "server")]
pub mod runtime;
#[cfg(feature = "sdk")]
pub mod split_relay;
#[cfg(feature = "server")]
pub mod test_server;
#[cfg(feature = "server")]
pub mod tls;
#[cfg(feature = "turn")]
pub mod turn;
#[cfg(feature = "sdk")]
pub mod udp_relay;
#[cfg(feature = "x11")]
pub mod xvfb;

#[cfg(feature = "sdk")]
pub use brief::{brief, briefs, device_brief, is_media_detail};
#[cfg(feature = "sdk")]
pub use peer::{
    behind_relay, one_way_call, relayed_peer, use_synthetic_sources, Peer, EVENT_TIMEOUT,
};
#[cfg(feature = "server")]
pub use runtime::block_on;
#[cfg(feature = "server")]
pub use test_server::TestServer;

/// Unix seconds now.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The variable that turns skips into failures.
pub const REQUIRE_ALL: &str = "CONFER_REQUIRE_ALL";

/// Whether every test must run here (`CONFER_REQUIRE_ALL` set and not `0`).
pub fn all_required() -> bool {
    std::env::var(REQUIRE_ALL).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Skips `test` because `why` is missing: prints `SKIPPED test: why` and
/// returns, or panics when [`all_required`].
pub fn skip(test: &str, why: &str) {
    assert!(
        !all_required(),
        "{test} cannot run here ({why}) and {REQUIRE_ALL} is set"
    );
    eprintln!("SKIPPED {test}: {why}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skipping_fails_only_when_everything_is_required() {
        // The variable is process-wide: one test checks both ways.
        std::env::remove_var(REQUIRE_ALL);
        skip("a test", "nothing");
        std::env::set_var(REQUIRE_ALL, "0");
        assert!(!all_required());
        std::env::set_var(REQUIRE_ALL, "1");
        assert!(std::panic::catch_unwind(|| skip("a test", "nothing")).is_err());
        std::env::remove_var(REQUIRE_ALL);
    }
}
