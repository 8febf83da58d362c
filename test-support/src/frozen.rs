//! A publishing `confer call` frozen (SIGSTOP, as a laptop suspend freezes
//! it) past the server's heartbeat timeout, then thawed (SIGCONT): its
//! session expired meanwhile, so it must log in again and publish again,
//! and a player (another `confer call --probe`) must see frames again. One
//! round per freeze; each is checked, and timed for the bench.

use crate::{cli, TestServer};
use serde_json::Value;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::Child;
use tokio::sync::mpsc;

/// How long a round may take to recover before it fails.
const RECOVERY_LIMIT: Duration = Duration::from_secs(20);

/// What one freeze cost.
#[derive(Debug, Clone, Copy)]
pub struct Round {
    /// SIGCONT to the publisher's `RoomStateChanged Reconnected`.
    pub relogin: Duration,
    /// SIGCONT to the player decoding a frame captured after the thaw.
    pub frames_again: Duration,
}

/// The JSON lines a child prints, read in the background.
struct Lines(mpsc::UnboundedReceiver<Value>);

impl Lines {
    fn of(child: &mut Child) -> Lines {
        let mut lines = cli::stdout_lines(child);
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if tx.send(v).is_err() {
                        return;
                    }
                }
            }
        });
        Lines(rx)
    }

    /// Waits for a line matching `pred`; every line before it goes through
    /// `check` (which panics on what must not happen).
    async fn until(
        &mut self,
        what: &str,
        pred: impl Fn(&Value) -> bool,
        mut check: impl FnMut(&Value),
    ) -> Value {
        let deadline = tokio::time::Instant::now() + RECOVERY_LIMIT;
        loop {
            match tokio::time::timeout_at(deadline, self.0.recv()).await {
                Ok(Some(v)) => {
                    check(&v);
                    if pred(&v) {
                        return v;
                    }
                }
                Ok(None) => panic!("child exited while waiting for {what}"),
                Err(_) => panic!("timed out waiting for {what}"),
            }
        }
    }
}

fn is_event(v: &Value, name: &str) -> bool {
    v["event"] == name
}

/// Never part of a frozen client's recovery: the room must not end.
fn never_ends(v: &Value) {
    let ended = (is_event(v, "RoomStateChanged")
        && matches!(
            v["reason"].as_str(),
            Some("KickOut" | "ReconnectFailed" | "Logout")
        ))
        || (is_event(v, "RoomStateUpdate") && v["state"] == "Disconnected");
    assert!(!ended, "the frozen client's room ended: {v}");
}

fn signal(child: &Child, sig: &str) {
    let pid = child.id().expect("running").to_string();
    let status = std::process::Command::new("kill")
        .args([sig, &pid])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {sig} {pid}");
}

/// Publishes a test pattern from one `confer call`, plays it in another,
/// then freezes the publisher for `freeze` `rounds` times, checking each
/// recovery. `server` should have a short heartbeat timeout (below `freeze`).
pub async fn freeze_rounds(server: &TestServer, rounds: usize, freeze: Duration) -> Vec<Round> {
    let room = "frozen-room";
    let mut publisher = cli::confer_call(server, room, "sleeper")
        .args([
            "--publish",
            "sleeper-cam",
            "--source",
            "test",
            "--audio",
            "none",
        ])
        .args(["--preset", "180p"])
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn publisher");
    let mut player = cli::confer_call(server, room, "watcher")
        .args(["--play", "auto", "--probe"])
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn player");
    let mut pub_lines = Lines::of(&mut publisher);
    let mut play_lines = Lines::of(&mut player);
    let publishing = |v: &Value| is_event(v, "PublisherStateUpdate") && v["state"] == "Publishing";
    let frame = |v: &Value| v["probe"] == "video";
    pub_lines
        .until("first Publishing", publishing, never_ends)
        .await;
    let first = play_lines.until("first frame", frame, never_ends).await;
    let mut last_frame = first["frame_number"].as_u64().unwrap_or(0);

    let mut out = Vec::with_capacity(rounds);
    for round in 0..rounds {
        // Everything the player has decoded so far is from before the freeze.
        while let Ok(v) = play_lines.0.try_recv() {
            if let Some(n) = v["frame_number"].as_u64() {
                last_frame = last_frame.max(n);
            }
        }
        signal(&publisher, "-STOP");
        tokio::time::sleep(freeze).await;
        // The publisher's session expired: the player saw its stream go
        // (and every frame before that was captured before the freeze).
        play_lines
            .until(
                &format!("round {round}: stream Delete"),
                |v| is_event(v, "RoomStreamUpdate") && v["update_type"] == "Delete",
                |v| {
                    never_ends(v);
                    if let Some(n) = v["frame_number"].as_u64() {
                        last_frame = last_frame.max(n);
                    }
                },
            )
            .await;
        signal(&publisher, "-CONT");
        let thawed = Instant::now();
        pub_lines
            .until(
                &format!("round {round}: Reconnected"),
                |v| is_event(v, "RoomStateChanged") && v["reason"] == "Reconnected",
                never_ends,
            )
            .await;
        let relogin = thawed.elapsed();
        pub_lines
            .until(
                &format!("round {round}: Publishing"),
                publishing,
                never_ends,
            )
            .await;
        let resumed_from = last_frame;
        play_lines
            .until(
                &format!("round {round}: a frame captured after the thaw"),
                |v| frame(v) && v["frame_number"].as_u64().is_some_and(|n| n > resumed_from),
                never_ends,
            )
            .await;
        out.push(Round {
            relogin,
            frames_again: thawed.elapsed(),
        });
    }
    let _ = cli::terminate(&mut publisher).await;
    let _ = cli::terminate(&mut player).await;
    out
}
