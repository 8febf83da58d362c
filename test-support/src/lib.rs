//! What Confer's tests share across crates.
//!
//! A test that needs something a machine may lack (an X display, root and
//! network namespaces, Chromium, a private PulseAudio) calls [`skip`] when
//! it is missing: on a developer's machine the test says SKIPPED and passes;
//! where `CONFER_REQUIRE_ALL` is set (CI, `.ci/run`) it fails instead, so a
//! missing package can never turn a whole suite green by skipping it.

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
