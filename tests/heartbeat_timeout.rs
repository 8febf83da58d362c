//! A `confer call` participant killed with SIGKILL cannot log out: the server
//! removes it (user Delete, stream Delete) only after the heartbeat timeout.
//! One stopped with SIGTERM logs out cleanly and leaves at once.

use std::process::Stdio;
use std::time::{Duration, Instant};
use test_support::{briefs, cli, Peer, TestServer};
use tokio::process::Child;

/// Starts `confer call` publishing `stream` and waits until it is Publishing.
async fn spawn_call(server: &TestServer, room: &str, user: &str, stream: &str) -> Child {
    let mut child = cli::confer_call(server, room, user)
        .args(["--publish", stream, "--preset", "180p"])
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn confer call");
    let mut lines = cli::stdout_lines(&mut child);
    let mut seen = Vec::new();
    let ready = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            let v: serde_json::Value = serde_json::from_str(&line).expect("each line is JSON");
            seen.push(line);
            if v["event"] == "PublisherStateUpdate" && v["state"] == "Publishing" {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(
        ready,
        Ok(true),
        "confer call never published; printed: {seen:#?}"
    );
    cli::drain(lines);
    child
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_process_is_removed_after_heartbeat_timeout() {
    let timeout = Duration::from_millis(2500);
    let server = TestServer::start_with(|c| {
        c.heartbeat_interval_ms = 300;
        c.heartbeat_timeout_ms = timeout.as_millis() as u64;
    })
    .await;
    let mut watcher = Peer::join(server.profile(), "hb-room", "watcher", true).await;
    let mut child = spawn_call(&server, "hb-room", "doomed", "doomed-cam").await;
    watcher.wait_stream_update("stream Add [doomed-cam]").await;

    child.start_kill().expect("SIGKILL");
    let killed_at = Instant::now();
    let _ = child.wait().await;
    let gone = watcher.wait_stream_update("stream Delete").await;
    let elapsed = killed_at.elapsed();
    assert_eq!(briefs(&[gone]), ["stream Delete [doomed-cam]"]);
    assert_eq!(
        briefs(&[watcher.next().await, watcher.next().await]),
        ["user Delete [doomed]", "count 1"]
    );
    // Not removed when the socket closed: only once the timeout ran out
    // (the last heartbeat was at most one interval before the kill).
    assert!(
        elapsed >= timeout - Duration::from_millis(300 + 200),
        "removed after {elapsed:?}, before the {timeout:?} heartbeat timeout"
    );
    watcher.engine.destroy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminated_process_logs_out_cleanly() {
    // A long heartbeat timeout: a prompt Delete can only come from the logout.
    let server = TestServer::start_with(|c| c.heartbeat_timeout_ms = 120_000).await;
    let mut watcher = Peer::join(server.profile(), "hb-room", "watcher", true).await;
    let mut child = spawn_call(&server, "hb-room", "polite", "polite-cam").await;
    watcher.wait_stream_update("stream Add [polite-cam]").await;

    let exit = cli::terminate(&mut child).await;
    assert!(exit.success(), "exit status {exit:?}");
    // The stream's device states (after its Add) are not part of this.
    let mut gone = Vec::new();
    while gone.len() < 3 {
        gone.extend(briefs(&[watcher.next().await]));
    }
    assert_eq!(
        gone,
        [
            "stream Delete [polite-cam]",
            "user Delete [polite]",
            "count 1"
        ]
    );
    watcher.engine.destroy().await;
}
