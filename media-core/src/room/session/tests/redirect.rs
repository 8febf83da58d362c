//! Redirects to the room's node: followed like a direct login, bounded,
//! same scheme only, and forgotten when the node cannot be reached.

use super::*;
use crate::room::session::redirect::MAX_REDIRECTS;

fn redirect(url: &str) -> ServerMessage {
    ServerMessage::Redirect { url: url.into() }
}

/// The `Connect` in `out`, with its URL.
fn connect_to(out: &[Output]) -> (ConnId, Option<String>) {
    out.iter()
        .find_map(|o| match o {
            Output::Connect { conn, url } => Some((*conn, url.clone())),
            _ => None,
        })
        .expect("connects")
}

#[test]
fn a_redirected_login_looks_like_a_direct_one() {
    let mut direct = H::new();
    let (_, direct_out) = direct.logged_in(0, true, ok(&["a"], &[("sa", "a")], 2));

    let mut h = H::new();
    let first = h.login(0, true);
    let ClientMessage::Login(login) = h.challenge(5, first) else {
        panic!("expected a login");
    };
    let out = h.input(8, first, redirect("ws://node-2:7000/ws"));
    assert!(events(&out).is_empty(), "the app notices nothing: {out:?}");
    assert!(out.contains(&Output::Close { conn: first }), "{out:?}");
    let (second, url) = connect_to(&out);
    assert_eq!(url.as_deref(), Some("ws://node-2:7000/ws"));
    let ClientMessage::Login(again) = h.challenge(10, second) else {
        panic!("expected a login");
    };
    assert_eq!(again.user, login.user);
    assert_eq!(again.room_id, login.room_id);
    let out = h.input(
        20,
        second,
        ServerMessage::LoginOk(ok(&["a"], &[("sa", "a")], 2)),
    );
    assert_eq!(events(&out), events(&direct_out));
    h.save("login_redirected");
}

#[test]
fn redirects_are_bounded() {
    let mut h = H::new();
    let mut conn = h.login(0, false);
    for n in 0..MAX_REDIRECTS {
        let _ = h.challenge(10, conn);
        let out = h.input(10, conn, redirect(&format!("ws://node-{n}/ws")));
        assert!(events(&out).is_empty(), "{out:?}");
        conn = connect_to(&out).0;
    }
    let _ = h.challenge(20, conn);
    let out = h.input(20, conn, redirect("ws://node-x/ws"));
    assert_disconnected(
        &events(&out),
        ErrorCode::TooManyRedirects,
        RoomStateChangedReason::LoginFailed,
    );
}

#[test]
fn a_redirect_to_another_scheme_is_refused() {
    for url in ["wss://node-2/ws", "http://node-2/ws", "ws:///ws"] {
        let mut h = H::new();
        let conn = h.login(0, false);
        let _ = h.challenge(5, conn);
        let out = h.input(8, conn, redirect(url));
        assert_disconnected(
            &events(&out),
            ErrorCode::RedirectRefused,
            RoomStateChangedReason::LoginFailed,
        );
    }
}

#[test]
fn a_lost_node_sends_the_next_attempt_home() {
    let mut h = H::new();
    let first = h.login(0, false);
    let _ = h.challenge(5, first);
    let out = h.input(8, first, redirect("ws://node-2/ws"));
    let (second, _) = connect_to(&out);
    let _ = h.answer_login(10, 10, second, ok(&[], &[], 1));
    // Cut while live: the resume goes back to the session's node...
    h.close(100, second);
    let out = h.tick(100 + 250);
    let (third, url) = connect_to(&out);
    assert_eq!(url.as_deref(), Some("ws://node-2/ws"));
    // ...which is gone: the attempt after that starts at the server URL.
    h.close(400, third);
    let out = h.tick(400 + 500);
    let (_, url) = connect_to(&out);
    assert_eq!(url, None);
}
