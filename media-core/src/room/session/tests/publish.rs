//! Publishers and the local mutes announced for them.

use super::*;
use crate::error::PublisherError;

/// The `StreamState` messages in `out` as `(request, stream, audio, video)`.
fn states_sent(out: &[Output]) -> Vec<(u32, String, bool, bool)> {
    sent(out)
        .into_iter()
        .filter_map(|m| match m {
            ClientMessage::StreamState {
                request_id,
                stream_id,
                audio_muted,
                video_muted,
            } => Some((request_id, stream_id, audio_muted, video_muted)),
            _ => None,
        })
        .collect()
}

/// Sets a local mute at `ms`; returns the StreamStates sent (without ids).
fn mute(h: &mut H, ms: u64, m: LocalMute, on: bool) -> Vec<(String, bool, bool)> {
    h.set_local_mute(ms, m, on);
    let out = h.drain();
    assert!(events(&out).is_empty(), "own mutes are not events: {out:?}");
    states_sent(&out)
        .into_iter()
        .map(|(_, s, a, v)| (s, a, v))
        .collect()
}

#[test]
fn local_mutes_are_announced_while_publishing() {
    let mut h = H::new();
    let conn = publishing(&mut h);
    let main = PublishChannel::Main;
    h.set_local_mute(10, LocalMute::Microphone, true);
    let out = h.drain();
    let states = states_sent(&out);
    let [(id, ref stream, true, false)] = states[..] else {
        panic!("{out:?}");
    };
    assert_eq!(stream, "p1");
    let out = h.input(
        20,
        conn,
        ServerMessage::Ack {
            request_id: id,
            body: AckBody::StreamStateUpdated {
                stream_id: "p1".into(),
            },
        },
    );
    assert!(out.is_empty(), "{out:?}");
    // Audio is already off: muting the stream's audio too changes nothing,
    // and unmuting the microphone leaves it off.
    assert_eq!(mute(&mut h, 30, LocalMute::StreamAudio(main), true), []);
    assert_eq!(mute(&mut h, 40, LocalMute::Microphone, false), []);
    assert_eq!(
        mute(&mut h, 50, LocalMute::StreamAudio(main), false),
        [("p1".to_owned(), false, false)]
    );
    // Camera off and video mute both stop the video.
    assert_eq!(
        mute(&mut h, 60, LocalMute::CameraOff(main), true),
        [("p1".to_owned(), false, true)]
    );
    assert_eq!(mute(&mut h, 70, LocalMute::StreamVideo(main), true), []);
    assert_eq!(mute(&mut h, 80, LocalMute::CameraOff(main), false), []);
    assert_eq!(
        mute(&mut h, 90, LocalMute::StreamVideo(main), false),
        [("p1".to_owned(), false, false)]
    );
    // (The page has no aux channel: the transcript ends here.)
    h.save("local_mutes_announced");
    // The aux channel publishes nothing: nothing to tell.
    assert_eq!(
        mute(
            &mut h,
            100,
            LocalMute::StreamVideo(PublishChannel::Aux),
            true
        ),
        []
    );
    // A refusal is only worth a debug event.
    h.set_local_mute(110, LocalMute::Microphone, true);
    let out = h.drain();
    let id = states_sent(&out)[0].0;
    let out = h.input(
        120,
        conn,
        ServerMessage::error(Some(id), ErrorCode::NotStreamOwner, false),
    );
    assert_eq!(
        events(&out),
        vec![Event::Debug {
            error_code: ErrorCode::NotStreamOwner.code(),
            func_name: "stream_state".into(),
            info: ErrorCode::NotStreamOwner.message().into(),
        }]
    );
    // Stopped: later mutes go nowhere.
    h.stop_publishing(130, main).unwrap();
    h.drain();
    assert_eq!(mute(&mut h, 140, LocalMute::Microphone, false), []);
}

#[test]
fn publishing_starts_with_the_current_mute_state() {
    let mut h = H::new();
    // Set before logging in: mutes belong to the engine, not the room.
    assert_eq!(mute(&mut h, 0, LocalMute::Microphone, true), []);
    let (conn, _) = h.logged_in(0, false, ok(&[], &[], 1));
    h.start_publishing(10, "p1", PublishChannel::Main).unwrap();
    let out = h.drain();
    let announced = sent(&out);
    let [ClientMessage::PublishStream {
        request_id,
        audio_muted: true,
        video_muted: false,
        ..
    }] = announced[..]
    else {
        panic!("{announced:?}");
    };
    // The camera goes off while the announcement is on its way: told
    // once the stream is confirmed.
    assert_eq!(
        mute(&mut h, 20, LocalMute::CameraOff(PublishChannel::Main), true),
        []
    );
    let out = h.input(30, conn, stream_published(request_id, "p1"));
    let states: Vec<_> = states_sent(&out)
        .into_iter()
        .map(|(_, s, a, v)| (s, a, v))
        .collect();
    assert_eq!(states, [("p1".to_owned(), true, true)]);
    // A new server session (resume refused): the stream is announced
    // again with its state, no separate StreamState.
    h.close(1000, conn);
    let c2 = h.reconnect(1250, 1300);
    let (_, c3) = h.resume_refused(1310, c2);
    let mut again = ok(&[], &[], 1);
    again.session_id = "s2".into();
    let out = h.answer_login(1320, 1330, c3, again);
    assert!(states_sent(&out).is_empty(), "{out:?}");
    assert!(
        matches!(
            sent(&out)[..],
            [ClientMessage::PublishStream {
                audio_muted: true,
                video_muted: true,
                ..
            }]
        ),
        "{out:?}"
    );
    h.save("publish_starts_with_current_mutes");
}

#[test]
fn mute_state_lost_with_the_connection_is_sent_again_on_resume() {
    let mut h = H::new();
    let conn = publishing(&mut h);
    // Sent, then the connection drops before the answer.
    assert_eq!(
        mute(&mut h, 10, LocalMute::Microphone, true),
        [("p1".to_owned(), true, false)]
    );
    h.close(1000, conn);
    // Changed while away: nothing can be sent.
    assert_eq!(
        mute(
            &mut h,
            1100,
            LocalMute::CameraOff(PublishChannel::Main),
            true
        ),
        []
    );
    let c2 = h.reconnect(1250, 1300);
    let out = h.input(1310, c2, ServerMessage::Resumed { missed: vec![] });
    let states = states_sent(&out);
    let [(id, ref stream, true, true)] = states[..] else {
        panic!("{out:?}");
    };
    assert_eq!(stream, "p1");
    h.input(
        1320,
        c2,
        ServerMessage::Ack {
            request_id: id,
            body: AckBody::StreamStateUpdated {
                stream_id: "p1".into(),
            },
        },
    );
    // Answered and unchanged: a later resume sends nothing.
    h.close(2000, c2);
    let c3 = h.reconnect(2250, 2300);
    let out = h.input(2310, c3, ServerMessage::Resumed { missed: vec![] });
    assert!(states_sent(&out).is_empty(), "{out:?}");
    // An unanswered state is sent again even if unchanged.
    assert_eq!(
        mute(&mut h, 2400, LocalMute::Microphone, false),
        [("p1".to_owned(), false, true)]
    );
    h.close(3000, c3);
    let c4 = h.reconnect(3250, 3300);
    let out = h.input(3310, c4, ServerMessage::Resumed { missed: vec![] });
    let states: Vec<_> = states_sent(&out)
        .into_iter()
        .map(|(_, s, a, v)| (s, a, v))
        .collect();
    assert_eq!(states, [("p1".to_owned(), false, true)]);
    h.save("mute_state_sent_again_on_resume");
}

#[test]
fn publisher_state_sequences() {
    let mut h = H::new();
    let conn = h.login(0, false);
    // Publishing may start while still connecting; it is announced on login.
    h.start_publishing(0, "p1", PublishChannel::Main).unwrap();
    let out = h.drain();
    assert_eq!(
        events(&out),
        vec![publisher(
            "p1",
            PublisherState::PublishRequesting,
            ErrorCode::Success
        )]
    );
    assert!(sent(&out).is_empty());
    let out = h.answer_login(1, 2, conn, ok(&[], &[], 1));
    let (id, _) = publish_request(&sent(&out)[0]).unwrap();
    let out = h.input(3, conn, stream_published(id, "p1"));
    assert!(events(&out).is_empty());
    assert_eq!(media(&out), vec![negotiate_cmd("p1", MediaRole::Publish)]);
    h.publish_connects(3);
    assert_eq!(
        h.start_publishing(4, "p2", PublishChannel::Main),
        Err(PublisherError::AlreadyPublishing)
    );
    // (The page has no aux channel: the transcript ends here.)
    h.save("publisher_state_sequences");
    assert_eq!(
        h.start_publishing(4, "p1", PublishChannel::Aux),
        Err(PublisherError::StreamIdInUse)
    );
    assert_eq!(
        h.start_publishing(4, "bad/id", PublishChannel::Aux),
        Err(PublisherError::InvalidStreamId)
    );
    // The server refuses a stream ID in use elsewhere.
    h.start_publishing(5, "taken", PublishChannel::Aux).unwrap();
    let out = h.drain();
    let (id, _) = publish_request(&sent(&out)[0]).unwrap();
    let out = h.input(
        6,
        conn,
        ServerMessage::error(Some(id), ErrorCode::StreamIdInUse, false),
    );
    let ev = events(&out);
    assert!(matches!(
        &ev[..],
        [Event::PublisherStateUpdate { stream_id, state: PublisherState::NoPublish, error_code, .. }]
            if stream_id == "taken" && *error_code == ErrorCode::StreamIdInUse.code()
    ));
    // Stop.
    h.stop_publishing(7, PublishChannel::Main).unwrap();
    let out = h.drain();
    assert_eq!(
        events(&out),
        vec![publisher(
            "p1",
            PublisherState::NoPublish,
            ErrorCode::Success
        )]
    );
    assert!(matches!(
        &sent(&out)[..],
        [ClientMessage::StopPublishing { stream_id, .. }] if stream_id == "p1"
    ));
    assert_eq!(
        h.stop_publishing(8, PublishChannel::Main),
        Err(PublisherError::NotPublishing)
    );
}
