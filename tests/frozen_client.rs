//! A publishing client frozen past the heartbeat timeout (a laptop
//! suspend: SIGSTOP, then SIGCONT) loses its server session but never its
//! room: it logs in again, publishes again and the player gets frames
//! again, round after round. The server tells it `SessionExpired` (not a
//! kick-out), which the SDK answers like a cut connection.

use std::time::Duration;
use test_support::{frozen, TestServer};

const ROUNDS: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_publisher_logs_in_again_every_round() {
    let server = TestServer::start_with(|c| {
        c.heartbeat_interval_ms = 250;
        c.heartbeat_timeout_ms = 1_000;
    })
    .await;
    // Twice the timeout: the server has expired the session well before the thaw.
    let rounds = frozen::freeze_rounds(&server, ROUNDS, Duration::from_millis(2_000)).await;
    assert_eq!(rounds.len(), ROUNDS);
    for (i, r) in rounds.iter().enumerate() {
        println!(
            "round {i}: relogin {:?}, frames again {:?}",
            r.relogin, r.frames_again
        );
    }
}
