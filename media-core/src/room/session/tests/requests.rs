//! Requests and their answers, errors and timeouts.

use super::*;

#[test]
fn broadcasts_resolve_with_ack_error_timeout_or_logout() {
    let mut h = H::new();
    let (conn, _) = h.logged_in(0, false, ok(&[], &[], 1));
    let b1 = h.send_broadcast(10, "one").unwrap();
    let b2 = h.send_broadcast(10, "two").unwrap();
    let b3 = h.send_broadcast(10, "three").unwrap();
    let out = h.drain();
    assert_eq!(
        sent(&out)[0],
        ClientMessage::SendBroadcast {
            request_id: b1,
            text: "one".into()
        }
    );
    let out = h.input(
        20,
        conn,
        ServerMessage::Ack {
            request_id: b1,
            body: AckBody::BroadcastSent { message_id: 42 },
        },
    );
    assert_eq!(done(&out), vec![(b1, Ok(42))]);
    let out = h.input(
        30,
        conn,
        ServerMessage::error(Some(b2), ErrorCode::BroadcastRateLimited, false),
    );
    assert_eq!(
        done(&out),
        vec![(
            b2,
            Err(RoomError::Rejected(ErrorCode::BroadcastRateLimited))
        )]
    );
    h.tick(5000); // heartbeat
    assert_eq!(h.s.poll_timeout(), Some(h.at(5010)));
    assert_eq!(
        done(&h.tick(5010)),
        vec![(b3, Err(RoomError::RequestTimeout))]
    );
    let b4 = h.send_broadcast(6000, "four").unwrap();
    h.logout(6001).unwrap();
    let out = h.drain();
    assert_eq!(done(&out), vec![(b4, Err(RoomError::LoggedOut))]);
    h.save("broadcast_ack_error_timeout_logout");
}

#[test]
fn server_error_without_request_is_a_debug_event() {
    let mut h = H::new();
    let (conn, _) = h.logged_in(0, false, ok(&[], &[], 1));
    let out = h.input(
        1,
        conn,
        ServerMessage::error(None, ErrorCode::RateLimited, false),
    );
    assert!(matches!(
        &events(&out)[..],
        [Event::Debug { error_code, .. }] if *error_code == ErrorCode::RateLimited.code()
    ));
    h.save("server_error_debug_event");
}
