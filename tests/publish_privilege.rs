//! A token minted without the publish privilege (`confer token mint
//! --no-publish`) logs in but cannot publish: `confer call --token T
//! --publish s` ends its publisher in NoPublish with TokenNoPublishPrivilege
//! (1007008), keeps its room, and a player in the room, asking for that very
//! stream, never sees it nor decodes a frame of it.

use protocol::token::Privileges;
use protocol::ErrorCode;
use serde_json::Value;
use std::process::Stdio;
use std::time::Duration;
use test_support::{cli, TestServer};

const WATCH_ONLY: Privileges = Privileges {
    login: true,
    publish: false,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_no_publish_token_publishes_nothing_anyone_receives() {
    let server = TestServer::start().await;
    let room = "privilege-room";
    let mut player = cli::confer_call(&server, room, "watcher")
        .args(["--play", "auto", "--play", "viewer-cam", "--probe"])
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn player");
    let mut player_lines = cli::stdout_lines(&mut player);

    let token = server.token("viewer", Some(room), WATCH_ONLY, 600);
    let mut viewer = cli::confer_call(&server, room, "viewer")
        .env_remove("CONFER_APP_SIGN")
        .args([
            "--token",
            &token,
            "--publish",
            "viewer-cam",
            "--source",
            "test",
        ])
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn viewer");
    let mut viewer_lines = cli::stdout_lines(&mut viewer);
    let refused = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = viewer_lines.next_line().await {
            let v: Value = serde_json::from_str(&line).expect("JSON lines");
            if v["event"] == "PublisherStateUpdate" && v["state"] == "NoPublish" {
                return v;
            }
            assert_ne!(v["state"], "Publishing", "published: {line}");
        }
        panic!("viewer exited before its publish was refused");
    })
    .await
    .expect("publish refused in time");
    assert_eq!(
        refused["error_code"],
        ErrorCode::TokenNoPublishPrivilege.code(),
        "{refused}"
    );
    cli::drain(viewer_lines);

    // For three seconds: no stream appears, no frame is decoded.
    let seen = tokio::time::timeout(Duration::from_secs(3), async {
        while let Ok(Some(line)) = player_lines.next_line().await {
            let v: Value = serde_json::from_str(&line).expect("JSON lines");
            assert!(v["probe"].is_null(), "the player decoded media: {line}");
            assert!(
                !(v["event"] == "RoomStreamUpdate" && v["update_type"] == "Add"),
                "a stream appeared: {line}"
            );
        }
    })
    .await;
    assert!(seen.is_err(), "the player exited");
    // The viewer is still in its room.
    assert!(viewer.try_wait().expect("wait").is_none(), "viewer exited");
    cli::terminate(&mut viewer).await;
    cli::terminate(&mut player).await;
}
