//! Heartbeats and a silent server.

use super::*;

#[test]
fn heartbeats_and_silent_server_detection() {
    let mut h = H::new();
    let (conn, _) = h.logged_in(0, false, ok(&[], &[], 1));
    h.input(
        1000,
        conn,
        event(1, RoomEvent::OnlineUserCount { count: 2 }),
    );
    assert_eq!(h.s.poll_timeout(), Some(h.at(5000)));
    assert_eq!(
        h.tick(5000),
        vec![Output::Send {
            conn,
            msg: ClientMessage::Heartbeat { ack: 1 }
        }]
    );
    assert_eq!(h.s.poll_timeout(), Some(h.at(10_000)));
    h.tick(10_000);
    // Last heard at 1000: silent after 1000 + 2 * 5000 + 2000.
    assert_eq!(h.s.poll_timeout(), Some(h.at(13_000)));
    let out = h.tick(13_000);
    assert!(out.contains(&Output::Close { conn }));
    assert_eq!(
        events(&out)[0],
        state(RoomState::Connecting, ErrorCode::NetworkInterrupted)
    );
    h.save("heartbeats_and_silent_server");
}
