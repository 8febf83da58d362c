//! Renewing the token, its privileges and the expiry warning.

use super::*;
use crate::error::PublisherError;

#[test]
fn a_renewal_hands_fresh_turn_credentials_to_the_media_side() {
    let mut h = H::new();
    let conn = h.login(0, false);
    h.answer_login(10, 20, conn, ok(&[], &[], 1));
    let request_id = renew_request(&mut h, 1_000, "CF1.renewed.sig");
    let fresh = protocol::IceServer {
        urls: vec!["turn:203.0.113.40:3478".into()],
        username: "90000:7:u1".into(),
        credential: "bmV3".into(),
    };
    let body = AckBody::TokenRenewed {
        expires_in_ms: 600_000,
        publish: true,
        ice_servers: vec![fresh.clone()],
    };
    let out = h.input(1_001, conn, ServerMessage::Ack { request_id, body });
    assert_eq!(media(&out), vec![MediaCommand::IceServers(vec![fresh])]);
    h.save("renew_fresh_turn_credentials");
}

/// Asks at `ms` to renew the token with `token`, asserts that the request
/// carries it and returns the request's ID.
fn renew_request(h: &mut H, ms: u64, token: &str) -> u32 {
    h.renew_token(ms, token).unwrap();
    let out = h.drain();
    let [ClientMessage::RenewToken {
        request_id,
        token: sent_token,
    }] = &sent(&out)[..]
    else {
        panic!("expected renew, got {out:?}");
    };
    assert_eq!(sent_token, token);
    *request_id
}

/// Renews the token at `ms` on `conn` and acknowledges it with `publish`.
fn renewed(h: &mut H, ms: u64, conn: ConnId, publish: bool) -> Vec<Output> {
    let request_id = renew_request(h, ms, "CF1.renewed.sig");
    let body = AckBody::TokenRenewed {
        expires_in_ms: 600_000,
        publish,
        ice_servers: Vec::new(),
    };
    h.input(ms + 1, conn, ServerMessage::Ack { request_id, body })
}

/// Asserts that `out` tells no publisher state.
fn no_publisher_state(out: &[Output]) {
    assert!(
        events(out)
            .iter()
            .all(|e| !matches!(e, Event::PublisherStateUpdate { .. })),
        "{out:?}"
    );
}

/// Logs in with a token that expires in `expires_in_ms`.
fn logged_in_expiring(h: &mut H, expires_in_ms: u64) -> (ConnId, Vec<Output>) {
    let mut login_ok = ok(&[], &[], 1);
    login_ok.token_expires_in_ms = Some(expires_in_ms);
    h.logged_in(0, false, login_ok)
}

/// The warning that the token expires in `seconds`.
fn will_expire(seconds: u32) -> Event {
    Event::RoomTokenWillExpire {
        room_id: "r1".into(),
        remain_time_in_second: seconds,
    }
}

/// Asserts that `out` announces no stream.
fn announces_nothing(out: &[Output]) {
    assert!(
        sent(out).iter().all(|m| publish_request(m).is_none()),
        "{out:?}"
    );
}

#[test]
fn renewed_token_without_publish_stops_every_publisher_for_good() {
    let mut h = H::new();
    let conn = publishing(&mut h);
    // A second stream, announced but not yet confirmed.
    h.start_publishing(10, "p2", PublishChannel::Aux).unwrap();
    let (aux_request, _) = publish_request(&sent(&h.drain())[0]).unwrap();
    // A renewal that keeps the privilege changes nothing.
    let out = renewed(&mut h, 20, conn, true);
    assert!(events(&out).is_empty() && media(&out).is_empty(), "{out:?}");
    let out = renewed(&mut h, 30, conn, false);
    let code = ErrorCode::TokenNoPublishPrivilege;
    assert_eq!(
        events(&out),
        vec![
            publisher("p1", PublisherState::NoPublish, code),
            publisher("p2", PublisherState::NoPublish, code),
        ]
    );
    assert_eq!(
        media(&out),
        vec![
            MediaCommand::StopPublishing {
                channel: PublishChannel::Main
            },
            MediaCommand::StopPublishing {
                channel: PublishChannel::Aux
            },
        ]
    );
    // The server already withdrew them: nothing to tell it.
    assert!(sent(&out).is_empty(), "{out:?}");
    // The refusal of the announcement in flight changes nothing more.
    let out = h.input(
        40,
        conn,
        ServerMessage::error(Some(aux_request), code, false),
    );
    no_publisher_state(&out);
    assert!(media(&out).is_empty());
    // The room stays up, and no cut brings the streams back: not a
    // resume, not a fresh login.
    let mut all = Vec::new();
    for t in (5_000..=10_000).step_by(5_000) {
        all.extend(h.tick(t));
        all.extend(h.input(t, conn, ServerMessage::HeartbeatAck { server_time_ms: t }));
    }
    all.extend(h.close(11_000, conn));
    let c2 = h.reconnect(11_250, 11_260);
    all.extend(h.input(11_270, c2, ServerMessage::Resumed { missed: vec![] }));
    all.extend(h.close(12_000, c2));
    let c3 = h.reconnect(12_250, 12_260);
    let (out, c4) = h.resume_refused(12_270, c3);
    all.extend(out);
    all.extend(h.answer_login(12_280, 12_290, c4, ok(&["a"], &[("sa", "a")], 2)));
    announces_nothing(&all);
    no_publisher_state(&all);
    assert!(h.s.is_logged_in());
}

#[test]
fn publish_refused_for_want_of_privilege_is_never_retried() {
    let mut h = H::new();
    let (conn, _) = h.logged_in(0, false, ok(&[], &[], 1));
    h.start_publishing(10, "p1", PublishChannel::Main).unwrap();
    let (id, _) = publish_request(&sent(&h.drain())[0]).unwrap();
    let code = ErrorCode::TokenNoPublishPrivilege;
    let out = h.input(20, conn, ServerMessage::error(Some(id), code, false));
    assert_eq!(
        events(&out),
        vec![Event::PublisherStateUpdate {
            stream_id: "p1".into(),
            state: PublisherState::NoPublish,
            error_code: code.code(),
            extended_data: details(code.message()),
        }]
    );
    assert_eq!(
        media(&out),
        vec![MediaCommand::StopPublishing {
            channel: PublishChannel::Main
        }]
    );
    announces_nothing(&out);
    // A cut, a refused resume and a fresh login: still not announced.
    let mut all = h.close(1_000, conn);
    let c2 = h.reconnect(1_250, 1_260);
    let (out, c3) = h.resume_refused(1_270, c2);
    all.extend(out);
    all.extend(h.answer_login(1_280, 1_290, c3, ok(&[], &[], 1)));
    announces_nothing(&all);
    no_publisher_state(&all);
    assert_eq!(
        h.stop_publishing(2_000, PublishChannel::Main),
        Err(PublisherError::NotPublishing)
    );
    h.save("publish_refused_no_privilege");
}

#[test]
fn token_will_expire_thirty_seconds_before_and_renew_resets() {
    let mut h = H::new();
    let (conn, _) = logged_in_expiring(&mut h, 100_000);
    h.keep_alive(conn, 5000, 65_000);
    let out = h.tick(69_999);
    assert!(events(&out).is_empty());
    assert_eq!(events(&h.tick(70_000)), vec![will_expire(30)]);
    let request_id = renew_request(&mut h, 71_000, "CF1.new.sig");
    h.input(
        71_100,
        conn,
        ServerMessage::Ack {
            request_id,
            body: AckBody::TokenRenewed {
                expires_in_ms: 60_000,
                publish: true,
                ice_servers: Vec::new(),
            },
        },
    );
    // Fires again 30 s before the new expiry (71.1 + 60 - 30 s).
    h.keep_alive(conn, 75_000, 100_000);
    assert!(events(&h.tick(101_000)).is_empty());
    assert_eq!(events(&h.tick(101_100)), vec![will_expire(30)]);
    h.save("token_expiry_warning_and_renew");
}

#[test]
fn token_with_little_time_left_warns_at_once() {
    let mut h = H::new();
    let (_, out) = logged_in_expiring(&mut h, 12_000);
    assert_eq!(events(&out).last(), Some(&will_expire(12)));
    h.save("token_short_warns_at_once");
}
