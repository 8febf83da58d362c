//! The room as the server reports it: users, streams, devices, broadcasts.

use super::*;
use crate::event::BroadcastMessage;

fn state_event(seq: u64, id: &str, audio_muted: bool, video_muted: bool) -> ServerMessage {
    event(
        seq,
        RoomEvent::StreamStateUpdate {
            stream_id: id.into(),
            audio_muted,
            video_muted,
        },
    )
}

#[test]
fn remote_device_states_are_reported_on_add_and_on_change() {
    let mut h = H::new();
    use RemoteDeviceState::{Mute, Open};
    let mut snapshot = ok(&[], &[("sa", "a"), ("sm", "m")], 3);
    snapshot.streams[1].audio_muted = true;
    let (conn, out) = h.logged_in(0, false, snapshot);
    assert_eq!(
        events(&out)[2..],
        [
            stream_update(UpdateType::Add, &[("sa", "a"), ("sm", "m")]),
            mic("sa", Open),
            camera("sa", Open),
            mic("sm", Mute),
            camera("sm", Open),
        ]
    );
    // A change reports only the device that changed; a repeat nothing.
    let out = h.input(10, conn, state_event(1, "sa", false, true));
    assert_eq!(events(&out), [camera("sa", Mute)]);
    assert!(events(&h.input(20, conn, state_event(2, "sa", false, true))).is_empty());
    let out = h.input(30, conn, state_event(3, "sa", true, false));
    assert_eq!(events(&out), [mic("sa", Mute), camera("sa", Open)]);
    // Unknown streams (and the local user's own) are not reported.
    assert!(events(&h.input(40, conn, state_event(4, "zz", true, true))).is_empty());
    // A stream added muted reports it right after the Add.
    let mut sc = wire_stream("sc", "c");
    sc.video_muted = true;
    let out = h.input(
        50,
        conn,
        event(
            5,
            RoomEvent::StreamUpdate {
                update_type: protocol::UpdateType::Add,
                streams: vec![sc],
            },
        ),
    );
    assert_eq!(
        events(&out),
        [
            stream_update(UpdateType::Add, &[("sc", "c")]),
            mic("sc", Open),
            camera("sc", Mute),
        ]
    );
    // A deleted stream reports nothing more.
    let out = h.input(
        60,
        conn,
        event(
            6,
            RoomEvent::StreamUpdate {
                update_type: protocol::UpdateType::Delete,
                streams: vec![wire_stream("sa", "a")],
            },
        ),
    );
    assert_eq!(
        events(&out),
        [stream_update(UpdateType::Delete, &[("sa", "a")])]
    );
    assert!(events(&h.input(70, conn, state_event(7, "sa", false, false))).is_empty());

    // A resume replays what was missed.
    h.close(1000, conn);
    let c2 = h.reconnect(1250, 1300);
    let missed = vec![SequencedEvent {
        seq: 8,
        event: RoomEvent::StreamStateUpdate {
            stream_id: "sm".into(),
            audio_muted: false,
            video_muted: false,
        },
    }];
    let out = h.input(1310, c2, ServerMessage::Resumed { missed });
    assert_eq!(events(&out)[2..], [mic("sm", Open)]);

    // A relogin reconciles: new streams report both devices, kept ones
    // what changed meanwhile, unchanged ones nothing.
    h.close(2000, c2);
    let c3 = h.reconnect(2250, 2300);
    let (_, c4) = h.resume_refused(2310, c3);
    let mut again = ok(&[], &[("sc", "c"), ("sd", "d"), ("sm", "m")], 4);
    again.session_id = "s2".into();
    again.streams[0].video_muted = true;
    again.streams[1].audio_muted = true;
    again.streams[2].video_muted = true;
    let out = h.answer_login(2320, 2330, c4, again);
    assert_eq!(
        events(&out)[2..],
        [
            stream_update(UpdateType::Add, &[("sd", "d")]),
            mic("sd", Mute),
            camera("sd", Open),
            camera("sm", Mute),
        ]
    );
    h.save("remote_device_states");
}

#[test]
fn duplicate_events_are_ignored() {
    let mut h = H::new();
    let (conn, _) = h.logged_in(0, true, ok(&[], &[], 1));
    assert_eq!(
        events(&h.input(1, conn, event(1, users_added(&["b"])))).len(),
        1
    );
    assert!(h.input(2, conn, event(1, users_added(&["b"]))).is_empty());
    assert_eq!(
        events(&h.input(3, conn, event(2, users_added(&["c"])))).len(),
        1
    );
    h.save("duplicate_events_ignored");
}

#[test]
fn incoming_broadcast_is_an_event() {
    let mut h = H::new();
    let (conn, _) = h.logged_in(0, false, ok(&[], &[], 1));
    let message = protocol::BroadcastMessage {
        message_id: 7,
        from_user: wire_user("a"),
        text: "hi".into(),
        send_time_ms: 1,
    };
    let out = h.input(1, conn, event(1, RoomEvent::Broadcast { message }));
    assert_eq!(
        events(&out),
        vec![Event::RoomBroadcastMessage {
            room_id: "r1".into(),
            messages: vec![BroadcastMessage {
                message_id: 7,
                from_user: user("a"),
                text: "hi".into(),
                send_time_ms: 1
            }]
        }]
    );
    h.save("incoming_broadcast");
}
