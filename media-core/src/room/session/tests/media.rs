//! Media links: when streams negotiate, connect, retry, time out and close.

use super::*;
use crate::error::PlayerError;

#[test]
fn player_waits_for_the_stream_then_plays_and_follows_it() {
    let mut h = H::new();
    let (conn, _) = h.logged_in(0, false, ok(&[], &[], 1));
    let _ = play(&mut h, 10, conn, "s1");
    // Not live yet: nothing happens until StreamReady.
    assert!(h.tick(5_000).iter().all(|o| !matches!(o, Output::Media(_))));
    let out = h.input(
        6_000,
        conn,
        ServerMessage::StreamReady {
            stream_id: "s1".into(),
        },
    );
    assert_eq!(media(&out), vec![negotiate_cmd("s1", MediaRole::Play)]);
    let request_id = offer(&mut h, 6_010, "s1", MediaRole::Play);
    let out = h.input(
        6_020,
        conn,
        ServerMessage::SdpAnswer {
            request_id,
            stream_id: "s1".into(),
            role: MediaRole::Play,
            sdp: "v=0 answer".into(),
        },
    );
    assert_eq!(
        media(&out),
        vec![MediaCommand::Answer {
            stream_id: "s1".into(),
            role: MediaRole::Play,
            sdp: "v=0 answer".into()
        }]
    );
    // Trickle both ways.
    let cand = protocol::IceCandidate {
        candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host".into(),
        sdp_mid: Some("0".into()),
        sdp_mline_index: Some(0),
    };
    let out = h.media(
        6_021,
        "s1",
        MediaRole::Play,
        MediaFact::Candidate(cand.clone()),
    );
    assert_eq!(
        sent(&out),
        vec![ClientMessage::TrickleIce {
            stream_id: "s1".into(),
            role: MediaRole::Play,
            candidate: cand.clone()
        }]
    );
    let out = h.input(
        6_022,
        conn,
        ServerMessage::TrickleIce {
            stream_id: "s1".into(),
            role: MediaRole::Play,
            candidate: cand.clone(),
        },
    );
    assert_eq!(
        media(&out),
        vec![MediaCommand::RemoteCandidate {
            stream_id: "s1".into(),
            role: MediaRole::Play,
            candidate: cand
        }]
    );
    let out = h.media(6_030, "s1", MediaRole::Play, MediaFact::Connected);
    assert_eq!(
        events(&out),
        vec![player("s1", PlayerState::Playing, ErrorCode::Success)]
    );
    // The publisher stops: back to PlayRequesting, the transport closes.
    let out = h.input(
        7_000,
        conn,
        ServerMessage::StreamEnded {
            stream_id: "s1".into(),
        },
    );
    assert_eq!(
        events(&out),
        vec![player(
            "s1",
            PlayerState::PlayRequesting,
            ErrorCode::StreamEnded
        )]
    );
    assert_eq!(
        media(&out),
        vec![MediaCommand::CloseTransport {
            stream_id: "s1".into(),
            role: MediaRole::Play
        }]
    );
    // It returns: negotiate again.
    let out = h.input(
        8_000,
        conn,
        ServerMessage::StreamReady {
            stream_id: "s1".into(),
        },
    );
    assert_eq!(media(&out), vec![negotiate_cmd("s1", MediaRole::Play)]);
    // Stop: NoPlay, StopPlaying to the server, pipeline stopped.
    h.stop_playing(8_100, "s1").unwrap();
    let out = h.drain();
    assert_eq!(
        events(&out),
        vec![player("s1", PlayerState::NoPlay, ErrorCode::Success)]
    );
    assert_eq!(
        media(&out),
        vec![MediaCommand::StopPlaying {
            stream_id: "s1".into()
        }]
    );
    assert!(
        matches!(sent(&out).as_slice(), [ClientMessage::StopPlaying { stream_id, .. }] if stream_id == "s1")
    );
    assert_eq!(h.stop_playing(8_200, "s1"), Err(PlayerError::NotPlaying));
    h.save("play_follows_the_stream");
}

#[test]
fn failed_media_is_retried_and_hung_negotiation_times_out() {
    let mut h = H::new();
    let conn = publishing(&mut h);
    let out = h.media(
        100,
        "p1",
        MediaRole::Publish,
        MediaFact::Failed("ice failed".into()),
    );
    assert!(matches!(
        events(&out).as_slice(),
        [Event::PublisherStateUpdate { state: PublisherState::PublishRequesting, error_code, .. }]
            if *error_code == ErrorCode::PublishTransportFailed.code()
    ));
    assert_eq!(
        media(&out),
        vec![MediaCommand::CloseTransport {
            stream_id: "p1".into(),
            role: MediaRole::Publish
        }]
    );
    assert_eq!(h.s.poll_timeout(), Some(h.at(100) + MEDIA_RETRY));
    let at = 100 + MEDIA_RETRY.as_millis() as u64;
    assert_eq!(
        media(&h.tick(at)),
        vec![negotiate_cmd("p1", MediaRole::Publish)]
    );
    // The new offer is never answered: after the negotiation timeout it
    // counts as a failure and is retried again.
    let _ = offer(&mut h, at + 1, "p1", MediaRole::Publish);
    h.keep_alive(conn, at + 5_000, at + 10_000);
    let out = h.tick(at + NEGOTIATION_TIMEOUT.as_millis() as u64);
    assert_eq!(
        media(&out),
        vec![MediaCommand::CloseTransport {
            stream_id: "p1".into(),
            role: MediaRole::Publish
        }]
    );
    h.save("media_retry_and_negotiation_timeout");
    // Offer refused by the server: also a failure with its code.
    let mut h = H::new();
    let (conn, _) = h.logged_in(0, false, ok(&[], &[], 1));
    let _ = play(&mut h, 1, conn, "s1");
    h.input(
        2,
        conn,
        ServerMessage::StreamReady {
            stream_id: "s1".into(),
        },
    );
    let request_id = offer(&mut h, 3, "s1", MediaRole::Play);
    let out = h.input(
        4,
        conn,
        ServerMessage::error(Some(request_id), ErrorCode::StreamNotLive, false),
    );
    assert_eq!(
        events(&out),
        vec![Event::PlayerStateUpdate {
            stream_id: "s1".into(),
            state: PlayerState::PlayRequesting,
            error_code: ErrorCode::StreamNotLive.code(),
            extended_data: details(ErrorCode::StreamNotLive.message()),
        }]
    );
    // Not live: waits for StreamReady instead of retrying on a timer.
    assert!(media(&h.tick(2_000)).is_empty());
    h.save("offer_refused_stream_not_live");
}

#[test]
fn signaling_loss_keeps_media_and_relogin_renegotiates() {
    let mut h = H::new();
    let conn = publishing_and_playing(&mut h);
    // Signaling drops: both report the interruption; media is left running.
    let out = h.close(1_000, conn);
    assert!(events(&out).contains(&player(
        "s1",
        PlayerState::PlayRequesting,
        ErrorCode::NetworkInterrupted
    )));
    assert!(media(&out).is_empty(), "{out:?}");
    // Resumed: both back at once, no renegotiation.
    let c2 = h.reconnect(1_250, 1_260);
    let out = h.input(1_270, c2, ServerMessage::Resumed { missed: vec![] });
    assert!(media(&out).is_empty());
    assert!(events(&out).contains(&publisher(
        "p1",
        PublisherState::Publishing,
        ErrorCode::Success
    )));
    assert!(events(&out).contains(&player("s1", PlayerState::Playing, ErrorCode::Success)));
    // Dropped again, and this time the server forgot us: log in again,
    // close the old transports, claim and ask to play again.
    h.close(2_000, c2);
    let c3 = h.reconnect(2_250, 2_260);
    let (_, c4) = h.resume_refused(2_270, c3);
    let out = h.answer_login(2_280, 2_290, c4, ok(&[], &[], 1));
    assert_eq!(media(&out), relogin_media_commands());
    let sent = sent(&out);
    assert!(sent
        .iter()
        .any(|m| matches!(m, ClientMessage::PublishStream { stream_id, .. } if stream_id == "p1")));
    assert!(sent
        .iter()
        .any(|m| matches!(m, ClientMessage::PlayStream { stream_id, .. } if stream_id == "s1")));
    h.save("signaling_loss_relogin_renegotiates");
}

#[test]
fn logout_stops_all_media() {
    let mut h = H::new();
    let conn = publishing(&mut h);
    let _ = play(&mut h, 10, conn, "s1");
    h.logout(20).unwrap();
    let out = h.drain();
    assert_eq!(
        media(&out),
        vec![
            MediaCommand::StopPublishing {
                channel: PublishChannel::Main
            },
            MediaCommand::StopPlaying {
                stream_id: "s1".into()
            },
        ]
    );
    assert_eq!(
        events(&out),
        vec![
            publisher("p1", PublisherState::NoPublish, ErrorCode::Success),
            player("s1", PlayerState::NoPlay, ErrorCode::Success),
            state(RoomState::Disconnected, ErrorCode::Success),
            changed(RoomStateChangedReason::Logout, ErrorCode::Success),
        ]
    );
    assert_eq!(h.start_playing(30, "s1"), Err(PlayerError::NotLoggedIn));
    h.save("logout_stops_all_media");
}

#[test]
fn login_ok_hands_its_ice_servers_to_the_media_side() {
    let mut h = H::new();
    let conn = h.login(0, false);
    let turn = protocol::IceServer {
        urls: vec!["turn:203.0.113.40:3478?transport=udp".into()],
        username: "86400:7:u1".into(),
        credential: "c2VjcmV0".into(),
    };
    let mut with_turn = ok(&[], &[], 1);
    with_turn.ice_servers = vec![turn.clone()];
    let out = h.answer_login(10, 20, conn, with_turn);
    assert_eq!(media(&out), vec![MediaCommand::IceServers(vec![turn])]);
    h.save("login_ice_servers");
}
