//! The seed's flow with three engines against the real server on loopback:
//! room states, user / count / stream / broadcast events in the right order,
//! with and without `is_user_status_notify`.

use media_core::{Event, PublishChannel, RoomState};
use test_support::{briefs, Peer, TestServer};

/// Reads the next `n` events (ignoring RoomStateChanged) as briefs.
async fn next_briefs(peer: &mut Peer, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    while out.len() < n {
        let e = peer.next().await;
        out.extend(briefs(std::slice::from_ref(&e)));
    }
    out
}

fn sorted_users(e: &Event) -> Vec<String> {
    match e {
        Event::RoomUserUpdate { users, .. } => {
            let mut ids: Vec<_> = users.iter().map(|u| u.user_id.clone()).collect();
            ids.sort();
            ids
        }
        other => panic!("expected RoomUserUpdate, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_engines_with_user_notifications() {
    let server = TestServer::start().await;
    let room = "seed-room";

    let mut a = Peer::create(server.profile(), "a");
    a.login(room, true, None);
    assert_eq!(
        next_briefs(&mut a, 3).await,
        ["state Connecting 0", "state Connected 0", "count 1"]
    );

    let mut b = Peer::create(server.profile(), "b");
    b.login(room, true, None);
    assert_eq!(
        next_briefs(&mut b, 4).await,
        [
            "state Connecting 0",
            "state Connected 0",
            "user Add [a]",
            "count 2"
        ]
    );
    assert_eq!(next_briefs(&mut a, 2).await, ["user Add [b]", "count 2"]);

    a.engine
        .start_publishing_stream("stream-a", PublishChannel::Main)
        .expect("publish accepted");
    assert_eq!(
        next_briefs(&mut a, 2).await,
        [
            "publisher stream-a PublishRequesting 0",
            "publisher stream-a Publishing 0"
        ]
    );
    assert_eq!(next_briefs(&mut b, 1).await, ["stream Add [stream-a]"]);

    let mut c = Peer::create(server.profile(), "c");
    c.login(room, true, None);
    assert_eq!(
        next_briefs(&mut c, 2).await,
        ["state Connecting 0", "state Connected 0"]
    );
    let users = c
        .wait_for("user Add", |e| matches!(e, Event::RoomUserUpdate { .. }))
        .await;
    assert_eq!(sorted_users(&users), ["a", "b"]);
    assert_eq!(
        next_briefs(&mut c, 2).await,
        ["count 3", "stream Add [stream-a]"]
    );
    for p in [&mut a, &mut b] {
        assert_eq!(next_briefs(p, 2).await, ["user Add [c]", "count 3"]);
    }

    let id = c
        .engine
        .send_broadcast_message("hello room")
        .await
        .expect("broadcast sent");
    for p in [&mut a, &mut b] {
        match p.next().await {
            Event::RoomBroadcastMessage { room_id, messages } => {
                assert_eq!(room_id, room);
                assert_eq!(messages.len(), 1);
                assert_eq!(messages[0].message_id, id);
                assert_eq!(messages[0].text, "hello room");
                assert_eq!(messages[0].from_user.user_id, "c");
                assert_eq!(messages[0].from_user.user_name, "Name of c");
            }
            other => panic!("expected broadcast, got {other:?}"),
        }
    }

    a.engine
        .stop_publishing_stream(PublishChannel::Main)
        .expect("stop accepted");
    assert_eq!(
        next_briefs(&mut a, 1).await,
        ["publisher stream-a NoPublish 0"]
    );
    for p in [&mut b, &mut c] {
        assert_eq!(next_briefs(p, 1).await, ["stream Delete [stream-a]"]);
    }

    b.engine.logout_room().expect("logout accepted");
    assert_eq!(next_briefs(&mut b, 1).await, ["state Disconnected 0"]);
    for p in [&mut a, &mut c] {
        assert_eq!(next_briefs(p, 2).await, ["user Delete [b]", "count 2"]);
    }

    // destroy() logs out: the others see the user leave at once.
    c.engine.destroy().await;
    assert_eq!(next_briefs(&mut a, 2).await, ["user Delete [c]", "count 1"]);

    a.engine.logout_room().expect("logout accepted");
    assert_eq!(next_briefs(&mut a, 1).await, ["state Disconnected 0"]);
    a.engine.destroy().await;
    b.engine.destroy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_events_only_for_those_who_asked() {
    let server = TestServer::start().await;
    let room = "quiet-room";
    let mut quiet = Peer::join(server.profile(), room, "quiet", false).await;
    let mut loud = Peer::join(server.profile(), room, "loud", true).await;
    // loud sees quiet already in the room.
    loud.wait_for("user Add [quiet]", |e| {
        matches!(e, Event::RoomUserUpdate { .. })
    })
    .await;
    assert_eq!(next_briefs(&mut loud, 1).await, ["count 2"]);

    let third = Peer::join(server.profile(), room, "third", false).await;
    assert_eq!(
        next_briefs(&mut loud, 2).await,
        ["user Add [third]", "count 3"]
    );

    // quiet got no user or count events: the next thing it sees is the stream.
    third
        .engine
        .start_publishing_stream("third-cam", PublishChannel::Main)
        .expect("publish accepted");
    assert_eq!(next_briefs(&mut quiet, 1).await, ["stream Add [third-cam]"]);
    assert_eq!(next_briefs(&mut loud, 1).await, ["stream Add [third-cam]"]);

    // Leaving: stream Delete for everyone, user Delete only for loud.
    third.engine.destroy().await;
    assert_eq!(
        next_briefs(&mut quiet, 1).await,
        ["stream Delete [third-cam]"]
    );
    assert_eq!(
        next_briefs(&mut loud, 3).await,
        [
            "stream Delete [third-cam]",
            "user Delete [third]",
            "count 2"
        ]
    );
    // quiet logs out: loud sees it leave; quiet's own log never had a user event.
    quiet.engine.logout_room().expect("logout accepted");
    assert_eq!(next_briefs(&mut quiet, 1).await, ["state Disconnected 0"]);
    assert_eq!(
        next_briefs(&mut loud, 2).await,
        ["user Delete [quiet]", "count 1"]
    );
    assert!(
        !quiet.log.iter().any(|e| matches!(
            e,
            Event::RoomUserUpdate { .. } | Event::RoomOnlineUserCountUpdate { .. }
        )),
        "quiet got user events: {:#?}",
        quiet.log
    );
    quiet.engine.destroy().await;
    loud.engine.destroy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_joiner_sees_existing_streams_and_states_reset_after_logout() {
    let server = TestServer::start().await;
    let mut a = Peer::join(server.profile(), "r", "a", false).await;
    a.publish("a-main").await;
    let mut b = Peer::create(server.profile(), "b");
    b.login("r", false, None);
    assert_eq!(
        next_briefs(&mut b, 3).await,
        [
            "state Connecting 0",
            "state Connected 0",
            "stream Add [a-main]"
        ]
    );
    // Logging out while publishing: NoPublish, then Disconnected.
    a.engine.logout_room().expect("logout accepted");
    assert_eq!(
        next_briefs(&mut a, 2).await,
        ["publisher a-main NoPublish 0", "state Disconnected 0"]
    );
    assert_eq!(next_briefs(&mut b, 1).await, ["stream Delete [a-main]"]);
    // The same engine can log in again.
    a.login("r", false, None);
    assert_eq!(a.wait_state(RoomState::Connected).await, 0);
    a.engine.destroy().await;
    b.engine.destroy().await;
}
