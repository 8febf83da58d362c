//! Simulcast layers: the player's cap (`set_play_stream_video_layer`) on a
//! live link, before the play request goes out, across a resume and a
//! relogin; and the server's dynacast `VideoLayers` for our streams.

use super::*;
use crate::error::PlayerError;
use protocol::VideoLayer;

/// What was sent about layers: `(stream, PlayStream cap or PlayVideoLayer cap, is PlayVideoLayer)`.
fn layer_messages(out: &[Output]) -> Vec<(String, VideoLayer, bool)> {
    sent(out)
        .into_iter()
        .filter_map(|m| match m {
            ClientMessage::PlayStream {
                stream_id,
                max_layer,
                ..
            } => Some((stream_id, max_layer, false)),
            ClientMessage::PlayVideoLayer {
                stream_id,
                max_layer,
                ..
            } => Some((stream_id, max_layer, true)),
            _ => None,
        })
        .collect()
}

#[test]
fn the_cap_is_sent_on_a_live_link_and_asked_with_every_replay() {
    let mut h = H::new();
    let conn = publishing_and_playing(&mut h);
    // Live: sent at once, as PlayVideoLayer; the same cap again sends nothing.
    h.set_play_video_layer(100, "s1", VideoLayer::Low).unwrap();
    let out = h.drain();
    assert_eq!(
        layer_messages(&out),
        vec![("s1".into(), VideoLayer::Low, true)]
    );
    assert!(events(&out).is_empty() && media(&out).is_empty(), "{out:?}");
    let request_id = match sent(&out).as_slice() {
        [ClientMessage::PlayVideoLayer { request_id, .. }] => *request_id,
        other => panic!("expected PlayVideoLayer, got {other:?}"),
    };
    let out = h.input(
        110,
        conn,
        ServerMessage::Ack {
            request_id,
            body: AckBody::PlayVideoLayerSet {
                stream_id: "s1".into(),
                max_layer: VideoLayer::Low,
            },
        },
    );
    assert!(out.is_empty(), "{out:?}");
    h.set_play_video_layer(120, "s1", VideoLayer::Low).unwrap();
    assert!(h.drain().is_empty());
    // A resume keeps the server's play request and its cap: nothing resent.
    h.close(1_000, conn);
    let c2 = h.reconnect(1_250, 1_260);
    let out = h.input(1_270, c2, ServerMessage::Resumed { missed: vec![] });
    assert!(layer_messages(&out).is_empty(), "{out:?}");
    // A relogin asks to play again, with the cap.
    h.close(2_000, c2);
    let c3 = h.reconnect(2_250, 2_260);
    let (_, c4) = h.resume_refused(2_270, c3);
    let out = h.answer_login(2_280, 2_290, c4, ok(&[], &[], 1));
    assert_eq!(
        layer_messages(&out),
        vec![("s1".into(), VideoLayer::Low, false)]
    );
    // Uncapped again on the new link: PlayVideoLayer High.
    h.set_play_video_layer(3_000, "s1", VideoLayer::High)
        .unwrap();
    assert_eq!(
        layer_messages(&h.drain()),
        vec![("s1".into(), VideoLayer::High, true)]
    );
    h.save("play_video_layer_kept_across_relogin");
}

#[test]
fn a_cap_set_while_reconnecting_rides_on_the_play_request_or_follows_the_resume() {
    let mut h = H::new();
    let (conn, _) = h.logged_in(0, false, ok(&[], &[], 1));
    let _ = play(&mut h, 10, conn, "s1");
    // Dropped: a new play request and two caps wait for the link.
    h.close(1_000, conn);
    h.start_playing(1_010, "s2").unwrap();
    h.set_play_video_layer(1_020, "s2", VideoLayer::Medium)
        .unwrap();
    h.set_play_video_layer(1_030, "s1", VideoLayer::Medium)
        .unwrap();
    h.set_play_video_layer(1_040, "s1", VideoLayer::Low)
        .unwrap();
    let out = h.drain();
    assert!(sent(&out).is_empty(), "{out:?}");
    // Resumed: s2's PlayStream carries its cap; s1 (already asked for)
    // gets one PlayVideoLayer with the last cap.
    let c2 = h.reconnect(1_250, 1_260);
    let out = h.input(1_270, c2, ServerMessage::Resumed { missed: vec![] });
    let mut got = layer_messages(&out);
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        vec![
            ("s1".into(), VideoLayer::Low, true),
            ("s2".into(), VideoLayer::Medium, false)
        ]
    );
    h.save("play_video_layer_while_reconnecting");
}

#[test]
fn a_stream_not_played_is_refused_and_a_server_refusal_is_a_debug_event() {
    let mut h = H::new();
    assert_eq!(
        h.set_play_video_layer(0, "s1", VideoLayer::Low),
        Err(PlayerError::NotLoggedIn)
    );
    let (conn, _) = h.logged_in(10, false, ok(&[], &[], 1));
    assert_eq!(
        h.set_play_video_layer(20, "s1", VideoLayer::Low),
        Err(PlayerError::NotPlaying)
    );
    assert_eq!(PlayerError::NotPlaying.code(), ErrorCode::NotPlaying);
    let _ = play(&mut h, 30, conn, "s1");
    h.set_play_video_layer(40, "s1", VideoLayer::Low).unwrap();
    let request_id = match sent(&h.drain()).as_slice() {
        [ClientMessage::PlayVideoLayer { request_id, .. }] => *request_id,
        other => panic!("expected PlayVideoLayer, got {other:?}"),
    };
    let out = h.input(
        50,
        conn,
        ServerMessage::Error {
            request_id: Some(request_id),
            code: ErrorCode::NotPlaying,
            message: "not playing".into(),
            fatal: false,
        },
    );
    assert!(
        matches!(events(&out).as_slice(), [Event::Debug { error_code, func_name, .. }]
            if *error_code == ErrorCode::NotPlaying.code() && func_name == "set_play_stream_video_layer"),
        "{out:?}"
    );
    // Stopped: its caps are gone with it.
    h.stop_playing(60, "s1").unwrap();
    let _ = h.drain();
    assert_eq!(
        h.set_play_video_layer(70, "s1", VideoLayer::Low),
        Err(PlayerError::NotPlaying)
    );
    h.save("play_video_layer_refused");
}

#[test]
fn dynacast_layers_reach_the_media_side_for_our_own_streams_only() {
    let mut h = H::new();
    let conn = publishing(&mut h);
    let layers = |id: &str, active: &[VideoLayer]| ServerMessage::VideoLayers {
        stream_id: id.into(),
        active: active.to_vec(),
    };
    let out = h.input(
        100,
        conn,
        layers("p1", &[VideoLayer::Low, VideoLayer::High]),
    );
    assert_eq!(
        media(&out),
        vec![MediaCommand::VideoLayers {
            stream_id: "p1".into(),
            active: vec![VideoLayer::Low, VideoLayer::High]
        }]
    );
    assert!(events(&out).is_empty() && sent(&out).is_empty());
    let out = h.input(200, conn, layers("other", &[VideoLayer::Low]));
    assert!(out.is_empty(), "{out:?}");
    h.save("dynacast_video_layers");
}
