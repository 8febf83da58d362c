//! Login, resume, reconnecting within the retry window, kick-out, logout.

use super::*;
use crate::error::PublisherError;
use protocol::{Credentials, Resume};

#[test]
fn login_ok_reports_state_then_users_then_streams() {
    let mut h = H::new();
    h.call_login(
        0,
        "r1",
        User::new("u1", "Alice"),
        RoomConfig {
            is_user_status_notify: true,
            ..Default::default()
        },
    )
    .unwrap();
    let out = h.drain();
    assert_eq!(
        events(&out),
        vec![
            state(RoomState::Connecting, ErrorCode::Success),
            changed(RoomStateChangedReason::Logining, ErrorCode::Success)
        ]
    );
    let conn = connect_of(&out).unwrap();
    let login = h.challenge(10, conn);
    let ClientMessage::Login(login) = login else {
        panic!("expected login, got {login:?}");
    };
    assert_eq!(
        login.credentials,
        Credentials::AppSign {
            proof: protocol::auth::login_proof(SIGN, 1, "r1", "u1", "n1")
        }
    );
    assert!(login.notify_users);
    assert_eq!(login.user, wire_user("u1").clone_with_name("Alice"));
    let out = h.input(
        20,
        conn,
        ServerMessage::LoginOk(ok(&["a"], &[("sa", "a")], 2)),
    );
    assert_eq!(
        events(&out),
        vec![
            state(RoomState::Connected, ErrorCode::Success),
            changed(RoomStateChangedReason::Logined, ErrorCode::Success),
            user_update(UpdateType::Add, &["a"]),
            Event::RoomOnlineUserCountUpdate {
                room_id: "r1".into(),
                count: 2
            },
            stream_update(UpdateType::Add, &[("sa", "a")]),
            mic("sa", RemoteDeviceState::Open),
            camera("sa", RemoteDeviceState::Open),
        ]
    );
    h.save("login_handshake");
}

trait WithName {
    fn clone_with_name(&self, name: &str) -> Self;
}

impl WithName for UserInfo {
    fn clone_with_name(&self, name: &str) -> Self {
        UserInfo {
            user_id: self.user_id.clone(),
            user_name: name.into(),
        }
    }
}

#[test]
fn without_notify_only_streams_follow_and_token_is_used() {
    let mut h = H::new();
    let config = RoomConfig {
        token: Some("CF1.tok.sig".into()),
        ..Default::default()
    };
    h.call_login(0, "r1", User::new("u1", ""), config).unwrap();
    let conn = connect_of(&h.drain()).unwrap();
    let ClientMessage::Login(login) = h.challenge(0, conn) else {
        panic!("expected login");
    };
    assert_eq!(
        login.credentials,
        Credentials::Token {
            token: "CF1.tok.sig".into()
        }
    );
    let out = h.input(0, conn, ServerMessage::LoginOk(ok(&[], &[("sa", "a")], 2)));
    assert_eq!(
        events(&out)[2..],
        [
            stream_update(UpdateType::Add, &[("sa", "a")]),
            mic("sa", RemoteDeviceState::Open),
            camera("sa", RemoteDeviceState::Open),
        ]
    );
    h.save("login_with_token_without_notify");
}

#[test]
fn login_failure_disconnects_without_retry() {
    let mut h = H::new();
    let conn = h.login(0, false);
    let _ = h.challenge(0, conn);
    let out = h.input(
        5,
        conn,
        ServerMessage::LoginFailed {
            code: ErrorCode::AppSignMismatch,
            message: "wrong".into(),
        },
    );
    let ev = events(&out);
    assert_disconnected(
        &ev,
        ErrorCode::AppSignMismatch,
        RoomStateChangedReason::LoginFailed,
    );
    assert!(out.contains(&Output::Close { conn }));
    assert!(!h.s.is_logged_in());
    assert_eq!(h.s.poll_timeout(), None);
    assert!(h.tick(60_000).is_empty());
    h.save("login_failed");
}

#[test]
fn network_loss_backs_off_then_resumes_and_replays_missed_events() {
    let mut h = H::new();
    let conn = publishing(&mut h);
    h.input(100, conn, event(1, users_added(&["b"])));
    let out = h.close(1000, conn);
    assert_eq!(
        events(&out),
        vec![
            state(RoomState::Connecting, ErrorCode::NetworkInterrupted),
            changed(
                RoomStateChangedReason::Reconnecting,
                ErrorCode::NetworkInterrupted
            ),
            publisher(
                "p1",
                PublisherState::PublishRequesting,
                ErrorCode::NetworkInterrupted
            ),
        ]
    );
    // Backoff: 250 ms, then 500, 1000 after failed attempts.
    assert_eq!(h.s.poll_timeout(), Some(h.at(1250)));
    assert!(h.tick(1249).is_empty());
    let c2 = connect_of(&h.tick(1250)).unwrap();
    assert!(events(&h.close(1300, c2)).is_empty());
    assert_eq!(h.s.poll_timeout(), Some(h.at(1800)));
    let c3 = connect_of(&h.tick(1800)).unwrap();
    h.close(1850, c3);
    assert_eq!(h.s.poll_timeout(), Some(h.at(2850)));
    let c4 = connect_of(&h.tick(2850)).unwrap();
    // Stale input from the first connection is ignored.
    assert!(h
        .input(2900, conn, event(9, users_added(&["zz"])))
        .is_empty());
    assert_eq!(
        h.challenge(2900, c4),
        ClientMessage::Resume(Resume {
            version: PROTOCOL_VERSION,
            session_id: "s1".into(),
            resume_key: "k1".into(),
            last_seq: 1
        })
    );
    let missed = vec![
        SequencedEvent {
            seq: 1,
            event: users_added(&["b"]),
        },
        SequencedEvent {
            seq: 2,
            event: users_added(&["c"]),
        },
    ];
    let out = h.input(3000, c4, ServerMessage::Resumed { missed });
    assert_eq!(
        events(&out),
        vec![
            state(RoomState::Connected, ErrorCode::Success),
            changed(RoomStateChangedReason::Reconnected, ErrorCode::Success),
            user_update(UpdateType::Add, &["c"]),
            publisher("p1", PublisherState::Publishing, ErrorCode::Success),
        ]
    );
    // Heartbeats resume on the new connection and acknowledge seq 2.
    let out = h.tick(8000);
    assert_eq!(
        out,
        vec![Output::Send {
            conn: c4,
            msg: ClientMessage::Heartbeat { ack: 2 }
        }]
    );
    h.save("reconnect_resume_replays_missed_events");
}

#[test]
fn resume_failure_logs_in_again_and_reconciles() {
    let mut h = H::new();
    let conn = publishing(&mut h);
    h.close(1000, conn);
    let c2 = h.reconnect(1250, 1300);
    let (out, c3) = h.resume_refused(1310, c2);
    assert!(out.contains(&Output::Close { conn: c2 }));
    assert!(matches!(h.challenge(1320, c3), ClientMessage::Login(_)));
    let mut snapshot = ok(&["b"], &[("sb", "b")], 2);
    snapshot.session_id = "s2".into();
    let out = h.input(1330, c3, ServerMessage::LoginOk(snapshot));
    assert_eq!(
        events(&out),
        vec![
            state(RoomState::Connected, ErrorCode::Success),
            changed(RoomStateChangedReason::Reconnected, ErrorCode::Success),
            user_update(UpdateType::Delete, &["a"]),
            user_update(UpdateType::Add, &["b"]),
            stream_update(UpdateType::Delete, &[("sa", "a")]),
            stream_update(UpdateType::Add, &[("sb", "b")]),
            mic("sb", RemoteDeviceState::Open),
            camera("sb", RemoteDeviceState::Open),
        ]
    );
    let (id, stream_id) = publish_request(&sent(&out)[0]).expect("own stream re-announced");
    assert_eq!(stream_id, "p1");
    let out = h.input(1340, c3, stream_published(id, &stream_id));
    assert_eq!(media(&out), vec![negotiate_cmd("p1", MediaRole::Publish)]);
    h.publish_connects(1350);
    h.save("resume_refused_relogin_reconciles");
}

#[test]
fn retry_window_exhausted_disconnects() {
    let mut h = H::with_policy(ReconnectPolicy {
        retry_window: Duration::from_secs(10),
        ..Default::default()
    });
    let conn = publishing(&mut h);
    h.close(1000, conn);
    let mut now = 1000;
    let mut out = Vec::new();
    while h.s.is_logged_in() {
        now =
            h.s.poll_timeout()
                .map(|t| (t - h.t0).as_millis() as u64)
                .unwrap();
        out = h.tick(now);
        if let Some(c) = connect_of(&out) {
            h.close(now, c);
        }
    }
    assert_eq!(now, 11_000);
    assert_eq!(
        events(&out),
        vec![
            publisher("p1", PublisherState::NoPublish, ErrorCode::ReconnectTimeout),
            state(RoomState::Disconnected, ErrorCode::ReconnectTimeout),
            changed(
                RoomStateChangedReason::ReconnectFailed,
                ErrorCode::ReconnectTimeout
            ),
        ]
    );
    assert_eq!(h.s.poll_timeout(), None);
    h.save("retry_window_exhausted");
}

#[test]
fn first_login_to_an_unreachable_server_gives_up_after_the_window() {
    let mut h = H::with_policy(ReconnectPolicy {
        retry_window: Duration::from_secs(3),
        ..Default::default()
    });
    let conn = h.login(0, false);
    assert!(events(&h.close(10, conn)).is_empty());
    let mut last = Vec::new();
    while h.s.is_logged_in() {
        let now =
            h.s.poll_timeout()
                .map(|t| (t - h.t0).as_millis() as u64)
                .unwrap();
        last = h.tick(now);
        if let Some(c) = connect_of(&last) {
            h.close(now, c);
        }
    }
    assert_eq!(
        events(&last),
        vec![
            state(RoomState::Disconnected, ErrorCode::ReconnectTimeout),
            changed(
                RoomStateChangedReason::LoginFailed,
                ErrorCode::ReconnectTimeout
            ),
        ]
    );
    h.save("first_login_unreachable");
}

#[test]
fn handshake_timeout_counts_as_a_failed_attempt() {
    let mut h = H::new();
    let conn = h.login(0, false);
    assert_eq!(h.s.poll_timeout(), Some(h.at(10_000)));
    let out = h.tick(10_000);
    assert!(out.contains(&Output::Close { conn }));
    assert_eq!(h.s.poll_timeout(), Some(h.at(10_250)));
    h.save("handshake_timeout");
}

#[test]
fn kick_out_disconnects_without_retry() {
    for (msg, name) in [
        (
            ServerMessage::Kicked {
                code: ErrorCode::KickedOut,
                message: "elsewhere".into(),
            },
            "kicked_out",
        ),
        (
            ServerMessage::ResumeFailed {
                code: ErrorCode::KickedOut,
                message: "elsewhere".into(),
            },
            "kicked_out_on_resume",
        ),
    ] {
        let mut h = H::new();
        let mut conn = publishing(&mut h);
        if matches!(msg, ServerMessage::ResumeFailed { .. }) {
            h.close(10, conn);
            conn = h.reconnect(260, 270);
        }
        let out = h.input(300, conn, msg);
        let ev = events(&out);
        assert_eq!(
            ev[0],
            publisher("p1", PublisherState::NoPublish, ErrorCode::KickedOut)
        );
        assert_disconnected(
            &ev[1..],
            ErrorCode::KickedOut,
            RoomStateChangedReason::KickOut,
        );
        assert!(out.contains(&Output::Close { conn }));
        assert_eq!(h.s.poll_timeout(), None);
        h.save(name);
    }
}

/// The server's notice that it removed the session (heartbeat timeout).
fn session_expired() -> ServerMessage {
    ServerMessage::SessionExpired {
        code: ErrorCode::SessionExpired,
        message: "no heartbeat".into(),
    }
}

/// Asserts that nothing in `out` ends the room or a stream for good.
fn assert_never_ended(out: &[Output]) {
    for e in events(out) {
        assert!(
            !matches!(
                e,
                Event::RoomStateUpdate {
                    state: RoomState::Disconnected,
                    ..
                } | Event::RoomStateChanged {
                    reason: RoomStateChangedReason::KickOut
                        | RoomStateChangedReason::Logout
                        | RoomStateChangedReason::ReconnectFailed,
                    ..
                } | Event::PublisherStateUpdate {
                    state: PublisherState::NoPublish,
                    ..
                } | Event::PlayerStateUpdate {
                    state: PlayerState::NoPlay,
                    ..
                }
            ),
            "{e:?}"
        );
    }
}

/// The interruption [`publishing_and_playing`] reports when its link is
/// lost: room, publisher, player.
fn interrupted() -> Vec<Event> {
    vec![
        state(RoomState::Connecting, ErrorCode::NetworkInterrupted),
        changed(
            RoomStateChangedReason::Reconnecting,
            ErrorCode::NetworkInterrupted,
        ),
        publisher(
            "p1",
            PublisherState::PublishRequesting,
            ErrorCode::NetworkInterrupted,
        ),
        player(
            "s1",
            PlayerState::PlayRequesting,
            ErrorCode::NetworkInterrupted,
        ),
    ]
}

/// A new server session for [`publishing_and_playing`] logs in on `conn`
/// at `ms`: Reconnected, the old transports close, "p1" is claimed again
/// (and publishes once acknowledged and connected), "s1" asked for again.
fn relogin_republishes_and_replays(h: &mut H, ms: u64, conn: ConnId) -> Vec<Output> {
    let mut snapshot = ok(&["a"], &[("sa", "a")], 2);
    snapshot.session_id = "s2".into();
    let mut all = h.input(ms, conn, ServerMessage::LoginOk(snapshot));
    assert_eq!(
        events(&all),
        vec![
            state(RoomState::Connected, ErrorCode::Success),
            changed(RoomStateChangedReason::Reconnected, ErrorCode::Success),
        ]
    );
    assert_eq!(media(&all), relogin_media_commands());
    let sent = sent(&all);
    assert_eq!(sent.len(), 2, "{sent:?}");
    let (id, stream_id) = publish_request(&sent[0]).expect("p1 claimed again");
    assert_eq!(stream_id, "p1");
    assert!(matches!(&sent[1], ClientMessage::PlayStream { stream_id, .. } if stream_id == "s1"));
    let out = h.input(ms + 1, conn, stream_published(id, "p1"));
    assert_eq!(media(&out), vec![negotiate_cmd("p1", MediaRole::Publish)]);
    all.extend(out);
    h.publish_connects(ms + 2);
    let ready = ServerMessage::StreamReady {
        stream_id: "s1".into(),
    };
    let out = h.input(ms + 3, conn, ready);
    assert_eq!(media(&out), vec![negotiate_cmd("s1", MediaRole::Play)]);
    all.extend(out);
    let out = h.media(ms + 4, "s1", MediaRole::Play, MediaFact::Connected);
    assert_eq!(
        events(&out),
        vec![player("s1", PlayerState::Playing, ErrorCode::Success)]
    );
    all.extend(out);
    all
}

/// A client frozen (suspended, SIGSTOPped) past the server's heartbeat
/// timeout reads `expiry` on its old connection first thing after
/// waking: an interruption, then a fresh login within the retry window.
/// Saves the transcript as `name`.
fn frozen_client_logs_in_again(expiry: ServerMessage, name: &str) {
    let mut h = H::new();
    let conn = publishing_and_playing(&mut h);
    // Nothing sent or received from 12 ms to 60 s.
    let mut all = h.input(60_000, conn, expiry);
    assert_eq!(events(&all), interrupted());
    assert!(all.contains(&Output::Close { conn }));
    assert_eq!(connect_of(&all), None, "backs off first: {all:?}");
    assert_eq!(h.s.poll_timeout(), Some(h.at(60_250)));
    let out = h.tick(60_250);
    let c2 = connect_of(&out).expect("reconnects after the backoff");
    all.extend(out);
    assert!(
        matches!(h.challenge(60_260, c2), ClientMessage::Login(_)),
        "the expired session cannot be resumed"
    );
    all.extend(relogin_republishes_and_replays(&mut h, 60_270, c2));
    assert_never_ended(&all);
    // Heartbeats go on the new connection.
    assert_eq!(
        h.tick(65_270),
        vec![Output::Send {
            conn: c2,
            msg: ClientMessage::Heartbeat { ack: 0 }
        }]
    );
    h.save(name);
}

#[test]
fn session_expired_while_frozen_logs_in_again() {
    frozen_client_logs_in_again(session_expired(), "session_expired_while_frozen");
}

#[test]
fn legacy_kick_for_an_expired_session_logs_in_again() {
    frozen_client_logs_in_again(
        ServerMessage::Kicked {
            code: ErrorCode::SessionExpired,
            message: "no heartbeat".into(),
        },
        "legacy_kick_expired_session",
    );
}

#[test]
fn frozen_client_whose_own_timer_fires_first_logs_in_again() {
    let mut h = H::new();
    let conn = publishing_and_playing(&mut h);
    // Waking at 60 s, the silence timer runs before the socket is read.
    assert_eq!(h.s.poll_timeout(), Some(h.at(5_000)));
    let mut all = h.tick(60_000);
    assert_eq!(events(&all), interrupted());
    assert!(all.contains(&Output::Close { conn }));
    // The server's notice on the dropped connection comes too late.
    assert!(h.input(60_001, conn, session_expired()).is_empty());
    let out = h.tick(60_250);
    let c2 = connect_of(&out).unwrap();
    all.extend(out);
    assert!(matches!(h.challenge(60_260, c2), ClientMessage::Resume(_)));
    let (out, c3) = h.resume_refused(60_270, c2);
    assert!(out.contains(&Output::Close { conn: c2 }));
    assert!(events(&out).is_empty(), "{out:?}");
    all.extend(out);
    assert!(matches!(h.challenge(60_280, c3), ClientMessage::Login(_)));
    all.extend(relogin_republishes_and_replays(&mut h, 60_290, c3));
    assert_never_ended(&all);
    h.save("silence_timer_first_then_resume_refused");
}

#[test]
fn session_expired_during_a_resume_logs_in_at_once() {
    let mut h = H::new();
    let conn = publishing(&mut h);
    h.close(1_000, conn);
    let c2 = h.reconnect(1_250, 1_260);
    let out = h.input(1_270, c2, session_expired());
    assert!(out.contains(&Output::Close { conn: c2 }));
    assert!(events(&out).is_empty(), "{out:?}");
    let c3 = connect_of(&out).expect("logs in at once");
    assert!(matches!(h.challenge(1_280, c3), ClientMessage::Login(_)));
    h.save("session_expired_during_resume");
}

#[test]
fn shutdown_is_an_interruption() {
    let mut h = H::new();
    let (conn, _) = h.logged_in(0, false, ok(&[], &[], 1));
    let out = h.input(
        100,
        conn,
        ServerMessage::Shutdown {
            code: ErrorCode::ServerShuttingDown,
            message: "bye".into(),
        },
    );
    let ev = events(&out);
    assert!(ev.contains(&state(RoomState::Connecting, ErrorCode::NetworkInterrupted)));
    assert!(out.contains(&Output::Close { conn }));
    assert_eq!(h.s.poll_timeout(), Some(h.at(350)));
    h.save("shutdown_interruption");
}

#[test]
fn wrong_calls_fail_at_once() {
    let mut h = H::new();
    let now = h.at(0);
    assert_eq!(h.s.logout(now), Err(RoomError::NotLoggedIn));
    assert_eq!(h.s.renew_token(now, "t"), Err(RoomError::NotLoggedIn));
    assert_eq!(h.s.send_broadcast(now, "hi"), Err(RoomError::NotLoggedIn));
    assert_eq!(
        h.s.start_publishing(now, "p", PublishChannel::Main),
        Err(PublisherError::NotLoggedIn)
    );
    let login = |s: &mut Session, room: &str, id: &str, name: &str| {
        s.login(now, room, User::new(id, name), RoomConfig::default())
    };
    assert_eq!(login(&mut h.s, "", "u", ""), Err(RoomError::InvalidRoomId));
    assert_eq!(
        login(&mut h.s, "r 1", "u", ""),
        Err(RoomError::InvalidRoomId)
    );
    assert_eq!(login(&mut h.s, "r", "", ""), Err(RoomError::InvalidUserId));
    assert_eq!(
        login(&mut h.s, "r", "u", "a\nb"),
        Err(RoomError::InvalidUserName)
    );
    assert!(h.drain().is_empty());
    login(&mut h.s, "r", "u", "").unwrap();
    assert_eq!(
        login(&mut h.s, "r", "u", ""),
        Err(RoomError::AlreadyLoggedIn)
    );
    assert_eq!(h.s.send_broadcast(now, ""), Err(RoomError::BroadcastEmpty));
    assert_eq!(
        h.s.send_broadcast(now, &"x".repeat(1025)),
        Err(RoomError::BroadcastTooLong)
    );
    assert_eq!(h.s.renew_token(now, ""), Err(RoomError::InvalidToken));

    let mut no_sign = Session::new(SessionConfig {
        app_id: 1,
        app_sign: String::new(),
        reconnect: ReconnectPolicy::default(),
        server_url: "ws://server/ws".into(),
    });
    assert_eq!(
        no_sign.login(now, "r", User::new("u", ""), RoomConfig::default()),
        Err(RoomError::MissingCredentials)
    );
}

#[test]
fn logout_stops_publishers_then_disconnects() {
    let mut h = H::new();
    let conn = publishing(&mut h);
    h.logout(100).unwrap();
    let out = h.drain();
    assert!(matches!(
        out[0],
        Output::Send {
            msg: ClientMessage::Logout { .. },
            ..
        }
    ));
    assert_eq!(out[1], Output::Close { conn });
    assert_eq!(
        events(&out),
        vec![
            publisher("p1", PublisherState::NoPublish, ErrorCode::Success),
            state(RoomState::Disconnected, ErrorCode::Success),
            changed(RoomStateChangedReason::Logout, ErrorCode::Success),
        ]
    );
    assert!(!h.s.is_logged_in());
    assert_eq!(h.s.poll_timeout(), None);
    // Late input from the closed connection is ignored; a new login works.
    assert!(h.input(200, conn, event(1, users_added(&["x"]))).is_empty());
    assert!(h.login(300, false) > conn);
    h.save("logout_while_publishing");
}
