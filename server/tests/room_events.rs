//! User, stream and broadcast fan-out between raw clients.
#![allow(clippy::unwrap_used)]

use protocol::{AckBody, ClientMessage, ErrorCode, RoomEvent, ServerMessage, UpdateType};
use std::time::Duration;
use test_support::client;
use test_support::TestServer;

fn event(m: ServerMessage) -> (u64, RoomEvent) {
    match m {
        ServerMessage::Event(e) => (e.seq, e.event),
        other => panic!("expected an event, got {other:?}"),
    }
}

fn user_ids(e: &RoomEvent) -> (UpdateType, Vec<String>) {
    match e {
        RoomEvent::UserUpdate { update_type, users } => (
            *update_type,
            users.iter().map(|u| u.user_id.clone()).collect(),
        ),
        other => panic!("expected a user update, got {other:?}"),
    }
}

#[tokio::test]
async fn users_join_and_leave_in_order() {
    let server = TestServer::start_with(|_| {}).await;
    let (mut a, _) = server.login("r", "a", true).await;
    let (mut b, ok_b) = server.login("r", "b", true).await;
    assert_eq!(
        ok_b.users
            .iter()
            .map(|u| u.user_id.as_str())
            .collect::<Vec<_>>(),
        vec!["a"]
    );
    assert_eq!(ok_b.online_count, 2);
    let (seq, e) = event(a.recv().await);
    assert_eq!(
        (seq, user_ids(&e)),
        (1, (UpdateType::Add, vec!["b".to_owned()]))
    );
    assert_eq!(
        event(a.recv().await),
        (2, RoomEvent::OnlineUserCount { count: 2 })
    );

    // c does not want user updates: it gets no user list, others still see it.
    let (mut c, ok_c) = server.login("r", "c", false).await;
    assert!(ok_c.users.is_empty());
    assert_eq!(ok_c.online_count, 3);
    for client in [&mut a, &mut b] {
        let (_, e) = event(client.recv().await);
        assert_eq!(user_ids(&e), (UpdateType::Add, vec!["c".to_owned()]));
        assert_eq!(
            event(client.recv().await).1,
            RoomEvent::OnlineUserCount { count: 3 }
        );
    }

    // b publishes: everyone else sees the stream, b gets the ack.
    assert_eq!(
        b.request(&ClientMessage::PublishStream {
            request_id: 1,
            stream_id: "cam-b".into(),
            extra_info: "hd".into(),
            audio_muted: false,
            video_muted: false,
        })
        .await,
        ServerMessage::Ack {
            request_id: 1,
            body: AckBody::StreamPublished {
                stream_id: "cam-b".into()
            }
        }
    );
    for client in [&mut a, &mut c] {
        match event(client.recv().await).1 {
            RoomEvent::StreamUpdate {
                update_type: UpdateType::Add,
                streams,
            } => {
                assert_eq!(streams[0].stream_id, "cam-b");
                assert_eq!(streams[0].user.user_id, "b");
                assert_eq!(streams[0].extra_info, "hd");
            }
            other => panic!("{other:?}"),
        }
    }
    // Re-publishing the same ID is idempotent; another user cannot take it.
    assert!(matches!(
        b.request(&client::publish_stream(2, "cam-b")).await,
        ServerMessage::Ack { request_id: 2, .. }
    ));
    assert!(matches!(
        a.request(&client::publish_stream(3, "cam-b")).await,
        ServerMessage::Error {
            request_id: Some(3),
            code: ErrorCode::StreamIdInUse,
            fatal: false,
            ..
        }
    ));
    assert!(matches!(
        a.request(&client::publish_stream(4, "bad id")).await,
        ServerMessage::Error {
            code: ErrorCode::InvalidStreamId,
            ..
        }
    ));
    assert!(matches!(
        a.request(&client::stop_publishing(5, "cam-b")).await,
        ServerMessage::Error {
            code: ErrorCode::NotPublishing,
            ..
        }
    ));

    // A newcomer sees the stream in its snapshot.
    let (mut d, ok_d) = server.login("r", "d", true).await;
    assert_eq!(ok_d.streams.len(), 1);
    for client in [&mut a, &mut b] {
        assert_eq!(
            user_ids(&event(client.recv().await).1).1,
            vec!["d".to_owned()]
        );
        assert_eq!(
            event(client.recv().await).1,
            RoomEvent::OnlineUserCount { count: 4 }
        );
    }

    // b logs out: stream Delete to all, then user Delete + count to notify sessions.
    b.send(&ClientMessage::Logout { request_id: 9 }).await;
    assert_eq!(
        b.closed().await,
        vec![ServerMessage::Ack {
            request_id: 9,
            body: AckBody::LoggedOut
        }]
    );
    for client in [&mut a, &mut d] {
        assert!(matches!(
            event(client.recv().await).1,
            RoomEvent::StreamUpdate {
                update_type: UpdateType::Delete,
                ..
            }
        ));
        assert_eq!(
            user_ids(&event(client.recv().await).1),
            (UpdateType::Delete, vec!["b".to_owned()])
        );
        assert_eq!(
            event(client.recv().await).1,
            RoomEvent::OnlineUserCount { count: 3 }
        );
    }
    assert!(matches!(
        event(c.recv().await).1,
        RoomEvent::StreamUpdate {
            update_type: UpdateType::Delete,
            ..
        }
    ));
    c.quiet(Duration::from_millis(200)).await;

    // The stream ID is free again.
    assert!(matches!(
        a.request(&client::publish_stream(10, "cam-b")).await,
        ServerMessage::Ack { request_id: 10, .. }
    ));
    assert_eq!(
        a.request(&client::stop_publishing(11, "cam-b")).await,
        ServerMessage::Ack {
            request_id: 11,
            body: AckBody::StreamStopped {
                stream_id: "cam-b".into()
            }
        }
    );
    server.handle.shutdown().await;
}

#[tokio::test]
async fn broadcasts_reach_the_others() {
    let server = TestServer::start_with(|_| {}).await;
    let (mut a, _) = server.login("r", "a", false).await;
    let (mut b, _) = server.login("r", "b", false).await;
    assert_eq!(
        a.request(&ClientMessage::SendBroadcast {
            request_id: 1,
            text: "hello".into(),
        })
        .await,
        ServerMessage::Ack {
            request_id: 1,
            body: AckBody::BroadcastSent { message_id: 1 }
        }
    );
    match event(b.recv().await).1 {
        RoomEvent::Broadcast { message } => {
            assert_eq!(message.message_id, 1);
            assert_eq!(message.text, "hello");
            assert_eq!(message.from_user.user_id, "a");
            assert!(message.send_time_ms > 0);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        a.request(&ClientMessage::SendBroadcast {
            request_id: 2,
            text: String::new(),
        })
        .await,
        ServerMessage::Error {
            code: ErrorCode::BroadcastEmpty,
            fatal: false,
            ..
        }
    ));
    assert!(matches!(
        a.request(&ClientMessage::SendBroadcast {
            request_id: 3,
            text: "x".repeat(1025),
        })
        .await,
        ServerMessage::Error {
            code: ErrorCode::BroadcastTooLong,
            ..
        }
    ));
    let mut limited = false;
    for i in 0..12 {
        a.send(&ClientMessage::SendBroadcast {
            request_id: 100 + i,
            text: "spam".into(),
        })
        .await;
        if let ServerMessage::Error {
            code: ErrorCode::BroadcastRateLimited,
            request_id,
            fatal: false,
            ..
        } = a.recv().await
        {
            assert_eq!(request_id, Some(100 + i));
            limited = true;
            break;
        }
    }
    assert!(limited);
    server.handle.shutdown().await;
}

#[tokio::test]
async fn stream_state_reaches_the_others_and_late_joiners() {
    let server = TestServer::start_with(|_| {}).await;
    let (mut a, _) = server.login("r", "a", false).await;
    let (mut b, _) = server.login("r", "b", false).await;
    // b publishes with its microphone already muted: the Add says so.
    assert!(matches!(
        b.request(&ClientMessage::PublishStream {
            request_id: 1,
            stream_id: "cam-b".into(),
            extra_info: String::new(),
            audio_muted: true,
            video_muted: false,
        })
        .await,
        ServerMessage::Ack { request_id: 1, .. }
    ));
    match event(a.recv().await).1 {
        RoomEvent::StreamUpdate {
            update_type: UpdateType::Add,
            streams,
        } => assert!(streams[0].audio_muted && !streams[0].video_muted),
        other => panic!("{other:?}"),
    }
    // b turns its camera off: a hears it, b gets the ack.
    assert_eq!(
        b.request(&ClientMessage::StreamState {
            request_id: 2,
            stream_id: "cam-b".into(),
            audio_muted: true,
            video_muted: true,
        })
        .await,
        ServerMessage::Ack {
            request_id: 2,
            body: AckBody::StreamStateUpdated {
                stream_id: "cam-b".into()
            }
        }
    );
    assert_eq!(
        event(a.recv().await),
        (
            2,
            RoomEvent::StreamStateUpdate {
                stream_id: "cam-b".into(),
                audio_muted: true,
                video_muted: true,
            }
        )
    );
    // The same state again is acknowledged without an event.
    assert!(matches!(
        b.request(&ClientMessage::StreamState {
            request_id: 3,
            stream_id: "cam-b".into(),
            audio_muted: true,
            video_muted: true,
        })
        .await,
        ServerMessage::Ack { request_id: 3, .. }
    ));
    a.quiet(Duration::from_millis(200)).await;
    // Someone else's stream, an unknown one, a malformed ID: typed refusals.
    for (request_id, stream_id, code) in [
        (4, "cam-b", ErrorCode::NotStreamOwner),
        (5, "nope", ErrorCode::NotStreamOwner),
        (6, "bad id", ErrorCode::InvalidStreamId),
    ] {
        let got = a
            .request(&ClientMessage::StreamState {
                request_id,
                stream_id: stream_id.into(),
                audio_muted: false,
                video_muted: false,
            })
            .await;
        assert!(
            matches!(&got, ServerMessage::Error { request_id: Some(r), code: c, fatal: false, .. }
                if *r == request_id && *c == code),
            "{stream_id}: {got:?}"
        );
    }
    b.quiet(Duration::from_millis(200)).await;
    // A newcomer finds the current state in its snapshot.
    let (_c, ok_c) = server.login("r", "c", false).await;
    assert_eq!(ok_c.streams.len(), 1);
    assert!(ok_c.streams[0].audio_muted && ok_c.streams[0].video_muted);
    server.handle.shutdown().await;
}
