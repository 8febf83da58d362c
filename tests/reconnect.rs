//! Network loss between an engine and the server, made by a TCP relay that
//! cuts every connection: a short cut resumes the session (Connecting ->
//! Connected, others see no churn, the engine gets what it missed); a cut
//! longer than the retry window ends in Disconnected with the timeout code.

use media_core::{Event, PublisherState, RoomState};
use protocol::ErrorCode;
use std::time::Duration;
use test_support::relay::TcpRelay;
use test_support::{briefs, Peer, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_cut_resumes_without_churn() {
    let server = TestServer::start().await;
    let relay = TcpRelay::start(server.addr()).await;
    let via_relay = server.profile_for(&format!("ws://{}/ws", relay.addr()));

    let mut b = Peer::join(server.profile(), "net-room", "b", true).await;
    let mut a = Peer::join(via_relay, "net-room", "a", true).await;
    a.publish("a-cam").await;
    b.wait_stream_update("stream Add").await;

    relay.cut();
    assert_eq!(
        a.wait_state(RoomState::Connecting).await,
        ErrorCode::NetworkInterrupted.code()
    );
    // While a is away, c joins: a must learn about it after resuming.
    let c = Peer::join(server.profile(), "net-room", "c", true).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    relay.restore();
    assert_eq!(a.wait_state(RoomState::Connected).await, 0);
    a.wait_for("user Add [c] after resume", |e| {
        matches!(e, Event::RoomUserUpdate { users, .. } if users.iter().any(|u| u.user_id == "c"))
    })
    .await;
    a.wait_for("Publishing again", |e| {
        matches!(
            e,
            Event::PublisherStateUpdate {
                state: PublisherState::Publishing,
                error_code: 0,
                ..
            }
        )
    })
    .await;
    // The publisher went through PublishRequesting with the interruption code.
    assert!(a.log.iter().any(|e| matches!(e,
        Event::PublisherStateUpdate { state: PublisherState::PublishRequesting, error_code, .. }
            if *error_code == ErrorCode::NetworkInterrupted.code())));

    // b saw c arrive and nothing about a: no Delete/Add churn, stream kept.
    let seen = b.collect_for(Duration::from_millis(800)).await;
    let seen = briefs(&seen);
    assert!(
        seen.iter()
            .all(|s| !s.contains("[a]") && !s.contains("a-cam")),
        "b saw churn for a: {seen:?}"
    );
    assert!(seen.iter().any(|s| s == "user Add [c]"), "{seen:?}");

    for p in [a, b, c] {
        p.engine.destroy().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_longer_than_retry_window_disconnects() {
    let server = TestServer::start_with(|c| {
        c.heartbeat_interval_ms = 300;
        c.heartbeat_timeout_ms = 1500;
    })
    .await;
    let relay = TcpRelay::start(server.addr()).await;
    let mut via_relay = server.profile_for(&format!("ws://{}/ws", relay.addr()));
    via_relay.reconnect.retry_window = Duration::from_secs(2);

    let mut b = Peer::join(server.profile(), "net-room", "b", true).await;
    let mut a = Peer::join(via_relay, "net-room", "a", true).await;
    b.wait_for("user Add [a]", |e| {
        matches!(e, Event::RoomUserUpdate { .. })
    })
    .await;

    relay.cut();
    assert_eq!(
        a.wait_state(RoomState::Connecting).await,
        ErrorCode::NetworkInterrupted.code()
    );
    assert_eq!(
        a.wait_state(RoomState::Disconnected).await,
        ErrorCode::ReconnectTimeout.code()
    );
    // The server drops a after its heartbeat timeout.
    let gone = b
        .wait_for("user Delete [a]", |e| {
            matches!(e, Event::RoomUserUpdate { .. })
        })
        .await;
    assert_eq!(briefs(&[gone]), ["user Delete [a]"]);
    a.engine.destroy().await;
    b.engine.destroy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_login_retries_until_the_server_appears() {
    let server = TestServer::start().await;
    let relay = TcpRelay::start(server.addr()).await;
    relay.cut();
    let mut a = Peer::create(
        server.profile_for(&format!("ws://{}/ws", relay.addr())),
        "a",
    );
    a.login("late-room", false, None);
    assert_eq!(a.wait_state(RoomState::Connecting).await, 0);
    tokio::time::sleep(Duration::from_millis(700)).await;
    relay.restore();
    assert_eq!(a.wait_state(RoomState::Connected).await, 0);
    a.engine.destroy().await;
}
