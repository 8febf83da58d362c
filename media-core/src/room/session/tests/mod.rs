//! The session's tests: a fake clock ([`H`]) drives a [`Session`] through
//! server messages, media facts and timer ticks, and each test reads the
//! outputs like a specification. Shared helpers are here; the tests are in
//! one file per concern.

mod events;
mod heartbeat;
mod login;
mod media;
mod play_layer;
mod publish;
mod redirect;
mod requests;
mod token;
mod transcript;

use super::media_links::{MEDIA_RETRY, NEGOTIATION_TIMEOUT};
use super::*;
use crate::event::{PlayerState, PublisherState, RemoteDeviceState, Stream, UpdateType};
use crate::room::PublishChannel;
use protocol::{
    AckBody, LoginOk, RoomEvent, SequencedEvent, StreamInfo, UserInfo, PROTOCOL_VERSION,
};
use serde_json::json;
use transcript::{call, media_json, transport_json, with_result, Recorder};

const SIGN: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// A session and a fake clock; what goes in and comes out is recorded
/// (see `transcript.rs`: [`H::save`]).
struct H {
    s: Session,
    t0: Instant,
    retry_window: Duration,
    rec: Recorder,
    /// Outputs of recorded calls not yet read by [`H::drain`].
    pending: Vec<Output>,
}

impl H {
    fn new() -> Self {
        Self::with_policy(ReconnectPolicy::default())
    }

    fn with_policy(reconnect: ReconnectPolicy) -> Self {
        H {
            s: Session::new(SessionConfig {
                app_id: 1,
                app_sign: SIGN.into(),
                reconnect,
                server_url: "ws://server/ws".into(),
            }),
            t0: Instant::now(),
            retry_window: reconnect.retry_window,
            rec: Recorder::default(),
            pending: Vec::new(),
        }
    }

    /// Checks (or writes) the transcript of everything so far as `name`.
    fn save(&self, name: &str) {
        self.rec.check(name, self.retry_window);
    }

    fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    /// What the session output since the last drain.
    fn drain(&mut self) -> Vec<Output> {
        let mut out = std::mem::take(&mut self.pending);
        out.extend(self.poll_recorded());
        out
    }

    /// Polls the session's outputs and records them.
    fn poll_recorded(&mut self) -> Vec<Output> {
        let out: Vec<Output> = std::iter::from_fn(|| self.s.poll_output()).collect();
        self.rec.outputs(&out);
        out
    }

    /// Records a call's input and then its outputs (which the next
    /// [`H::drain`] returns), so that each output follows its own input.
    fn record_call(&mut self, ms: u64, input: serde_json::Value) {
        self.rec.input(ms, input);
        let out = self.poll_recorded();
        self.pending.extend(out);
    }

    fn login(&mut self, ms: u64, notify: bool) -> ConnId {
        let config = RoomConfig {
            is_user_status_notify: notify,
            ..Default::default()
        };
        self.call_login(ms, "r1", User::new("u1", "Alice"), config)
            .unwrap();
        let out = self.drain();
        connect_of(&out).expect("login connects")
    }

    /// `login` at `ms`, recorded.
    fn call_login(
        &mut self,
        ms: u64,
        room_id: &str,
        user: User,
        config: RoomConfig,
    ) -> Result<(), RoomError> {
        let input = call(
            "login",
            json!({
                "room_id": room_id,
                "user": { "user_id": user.user_id, "user_name": user.user_name },
                "is_user_status_notify": config.is_user_status_notify,
                "token": config.token,
            }),
        );
        let result = self.s.login(self.at(ms), room_id, user, config);
        self.record_call(ms, with_result(input, &result));
        result
    }

    /// `logout` at `ms`, recorded.
    fn logout(&mut self, ms: u64) -> Result<(), RoomError> {
        let result = self.s.logout(self.at(ms));
        self.record_call(ms, with_result(call("logout", json!({})), &result));
        result
    }

    /// `start_publishing` at `ms`, recorded.
    fn start_publishing(
        &mut self,
        ms: u64,
        id: &str,
        channel: PublishChannel,
    ) -> Result<(), crate::error::PublisherError> {
        let result = self.s.start_publishing(self.at(ms), id, channel);
        let input = call(
            "start_publishing",
            json!({ "stream_id": id, "channel": channel }),
        );
        self.record_call(ms, with_result(input, &result));
        result
    }

    /// `stop_publishing` at `ms`, recorded.
    fn stop_publishing(
        &mut self,
        ms: u64,
        channel: PublishChannel,
    ) -> Result<(), crate::error::PublisherError> {
        let result = self.s.stop_publishing(self.at(ms), channel);
        let input = call("stop_publishing", json!({ "channel": channel }));
        self.record_call(ms, with_result(input, &result));
        result
    }

    /// `start_playing` at `ms`, recorded.
    fn start_playing(&mut self, ms: u64, id: &str) -> Result<(), crate::error::PlayerError> {
        let result = self.s.start_playing(self.at(ms), id);
        let input = call("start_playing", json!({ "stream_id": id }));
        self.record_call(ms, with_result(input, &result));
        result
    }

    /// `stop_playing` at `ms`, recorded.
    fn stop_playing(&mut self, ms: u64, id: &str) -> Result<(), crate::error::PlayerError> {
        let result = self.s.stop_playing(self.at(ms), id);
        let input = call("stop_playing", json!({ "stream_id": id }));
        self.record_call(ms, with_result(input, &result));
        result
    }

    /// `set_play_video_layer` at `ms`, recorded.
    fn set_play_video_layer(
        &mut self,
        ms: u64,
        id: &str,
        max_layer: protocol::VideoLayer,
    ) -> Result<(), crate::error::PlayerError> {
        let result = self.s.set_play_video_layer(self.at(ms), id, max_layer);
        let input = call(
            "set_play_video_layer",
            json!({ "stream_id": id, "max_layer": max_layer }),
        );
        self.record_call(ms, with_result(input, &result));
        result
    }

    /// `renew_token` at `ms`, recorded.
    fn renew_token(&mut self, ms: u64, token: &str) -> Result<(), RoomError> {
        let result = self.s.renew_token(self.at(ms), token);
        let input = call("renew_token", json!({ "token": token }));
        self.record_call(ms, with_result(input, &result));
        result
    }

    /// `send_broadcast` at `ms`, recorded.
    fn send_broadcast(&mut self, ms: u64, text: &str) -> Result<u32, RoomError> {
        let result = self.s.send_broadcast(self.at(ms), text);
        let input = call("send_broadcast", json!({ "text": text }));
        self.record_call(ms, with_result(input, &result));
        result
    }

    /// `set_local_mute` at `ms`, recorded.
    fn set_local_mute(&mut self, ms: u64, mute: LocalMute, on: bool) {
        self.s.set_local_mute(self.at(ms), mute, on);
        let mute = match mute {
            LocalMute::Microphone => json!({ "microphone": null }),
            LocalMute::StreamAudio(c) => json!({ "stream_audio": c }),
            LocalMute::StreamVideo(c) => json!({ "stream_video": c }),
            LocalMute::CameraOff(c) => json!({ "camera_off": c }),
        };
        self.record_call(
            ms,
            call("set_local_mute", json!({ "mute": mute, "on": on })),
        );
    }

    /// Feeds `t` on `conn` at `ms`, recorded.
    fn transport(&mut self, ms: u64, conn: ConnId, t: Transport) -> Vec<Output> {
        self.rec.input(ms, transport_json(conn, &t));
        self.s.handle_transport(self.at(ms), conn, t);
        self.drain()
    }

    fn input(&mut self, ms: u64, conn: ConnId, msg: ServerMessage) -> Vec<Output> {
        self.transport(ms, conn, Transport::Message(msg))
    }

    fn close(&mut self, ms: u64, conn: ConnId) -> Vec<Output> {
        self.transport(ms, conn, Transport::Closed("test".into()))
    }

    fn media(&mut self, ms: u64, id: &str, role: MediaRole, fact: MediaFact) -> Vec<Output> {
        self.rec.input(ms, media_json(id, role, &fact));
        self.s.handle_media(self.at(ms), id, role, fact);
        self.drain()
    }

    fn tick(&mut self, ms: u64) -> Vec<Output> {
        self.rec.input(ms, call("tick", json!({})));
        self.s.handle_timeout(self.at(ms));
        self.drain()
    }

    /// Ticks every heartbeat from `from` to `to` (ms) with the server
    /// answering each heartbeat.
    fn keep_alive(&mut self, conn: ConnId, from: u64, to: u64) {
        for t in (from..=to).step_by(5000) {
            self.tick(t);
            self.input(t, conn, ServerMessage::HeartbeatAck { server_time_ms: t });
        }
    }

    /// Opens `conn`, answers the challenge and returns what was sent.
    fn challenge(&mut self, ms: u64, conn: ConnId) -> ClientMessage {
        let opened = self.transport(ms, conn, Transport::Opened);
        assert!(opened.is_empty(), "{opened:?}");
        let out = self.input(ms, conn, challenge());
        let sent = sent(&out);
        assert_eq!(sent.len(), 1, "{out:?}");
        sent[0].clone()
    }

    /// Logs in at `ms` with `ok` as the answer; returns the connection.
    fn logged_in(&mut self, ms: u64, notify: bool, ok: LoginOk) -> (ConnId, Vec<Output>) {
        let conn = self.login(ms, notify);
        let out = self.answer_login(ms, ms, conn, ok);
        (conn, out)
    }

    /// Answers the challenge on `conn` at `ms` and the login with `ok`
    /// at `ok_ms`; returns what the answer produced.
    fn answer_login(&mut self, ms: u64, ok_ms: u64, conn: ConnId, ok: LoginOk) -> Vec<Output> {
        let _ = self.challenge(ms, conn);
        self.input(ok_ms, conn, ServerMessage::LoginOk(ok))
    }

    /// The publish transport of "p1" connects at `ms`: the publisher is
    /// publishing, and nothing else is reported.
    fn publish_connects(&mut self, ms: u64) {
        let out = self.media(ms, "p1", MediaRole::Publish, MediaFact::Connected);
        assert_eq!(
            events(&out),
            vec![publisher(
                "p1",
                PublisherState::Publishing,
                ErrorCode::Success
            )]
        );
    }

    /// Lets the retry timer fire at `ms` (it must connect) and answers
    /// the challenge at `challenge_ms`; returns the new connection.
    fn reconnect(&mut self, ms: u64, challenge_ms: u64) -> ConnId {
        let conn = connect_of(&self.tick(ms)).unwrap();
        let _ = self.challenge(challenge_ms, conn);
        conn
    }

    /// The server refuses the resume on `conn` at `ms` (session
    /// expired); returns the output and the connection it opens at
    /// once to log in again.
    fn resume_refused(&mut self, ms: u64, conn: ConnId) -> (Vec<Output>, ConnId) {
        let out = self.input(
            ms,
            conn,
            ServerMessage::ResumeFailed {
                code: ErrorCode::SessionExpired,
                message: "gone".into(),
            },
        );
        let next = connect_of(&out).expect("reconnects at once to log in");
        (out, next)
    }
}

/// The server's acknowledgement of a PublishStream request.
fn stream_published(request_id: u32, stream_id: &str) -> ServerMessage {
    ServerMessage::Ack {
        request_id,
        body: AckBody::StreamPublished {
            stream_id: stream_id.into(),
        },
    }
}

fn challenge() -> ServerMessage {
    ServerMessage::Challenge {
        version: PROTOCOL_VERSION,
        nonce: "n1".into(),
    }
}

fn wire_user(id: &str) -> UserInfo {
    UserInfo {
        user_id: id.into(),
        user_name: id.to_uppercase(),
    }
}

fn wire_stream(id: &str, user: &str) -> StreamInfo {
    StreamInfo {
        stream_id: id.into(),
        user: wire_user(user),
        extra_info: String::new(),
        audio_muted: false,
        video_muted: false,
    }
}

fn user(id: &str) -> User {
    User::from_wire(wire_user(id))
}

fn stream(id: &str, u: &str) -> Stream {
    Stream::from_wire(wire_stream(id, u))
}

fn ok(users: &[&str], streams: &[(&str, &str)], count: u32) -> LoginOk {
    LoginOk {
        session_id: "s1".into(),
        resume_key: "k1".into(),
        room_id: "r1".into(),
        users: users.iter().map(|u| wire_user(u)).collect(),
        streams: streams.iter().map(|(s, u)| wire_stream(s, u)).collect(),
        online_count: count,
        seq: 0,
        heartbeat_interval_ms: 5000,
        heartbeat_timeout_ms: 15000,
        token_expires_in_ms: None,
        ice_servers: Vec::new(),
    }
}

fn event(seq: u64, event: RoomEvent) -> ServerMessage {
    ServerMessage::Event(SequencedEvent { seq, event })
}

fn users_added(ids: &[&str]) -> RoomEvent {
    RoomEvent::UserUpdate {
        update_type: protocol::UpdateType::Add,
        users: ids.iter().map(|u| wire_user(u)).collect(),
    }
}

fn connect_of(out: &[Output]) -> Option<ConnId> {
    out.iter().find_map(|o| match o {
        Output::Connect { conn, .. } => Some(*conn),
        _ => None,
    })
}

fn sent(out: &[Output]) -> Vec<ClientMessage> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send { msg, .. } => Some(msg.clone()),
            _ => None,
        })
        .collect()
}

fn events(out: &[Output]) -> Vec<Event> {
    out.iter()
        .filter_map(|o| match o {
            Output::Event(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

fn done(out: &[Output]) -> Vec<(u32, Result<u64, RoomError>)> {
    out.iter()
        .filter_map(|o| match o {
            Output::BroadcastDone { request, result } => Some((*request, result.clone())),
            _ => None,
        })
        .collect()
}

fn state(state: RoomState, code: ErrorCode) -> Event {
    Event::RoomStateUpdate {
        room_id: "r1".into(),
        state,
        error_code: code.code(),
        extended_data: NO_DATA.into(),
    }
}

/// Asserts that `ev` starts with a Disconnected state update with `code`
/// and a state change for `reason` (whatever their extended data).
fn assert_disconnected(ev: &[Event], code: ErrorCode, reason: RoomStateChangedReason) {
    assert!(matches!(
        &ev[0],
        Event::RoomStateUpdate { state: RoomState::Disconnected, error_code, .. }
            if *error_code == code.code()
    ));
    assert!(matches!(
        &ev[1],
        Event::RoomStateChanged { reason: r, .. } if *r == reason
    ));
}

fn changed(reason: RoomStateChangedReason, code: ErrorCode) -> Event {
    Event::RoomStateChanged {
        room_id: "r1".into(),
        reason,
        error_code: code.code(),
        extended_data: NO_DATA.into(),
    }
}

fn publisher(id: &str, state: PublisherState, code: ErrorCode) -> Event {
    Event::PublisherStateUpdate {
        stream_id: id.into(),
        state,
        error_code: code.code(),
        extended_data: NO_DATA.into(),
    }
}

fn user_update(update_type: UpdateType, ids: &[&str]) -> Event {
    Event::RoomUserUpdate {
        room_id: "r1".into(),
        update_type,
        users: ids.iter().map(|u| user(u)).collect(),
    }
}

fn stream_update(update_type: UpdateType, s: &[(&str, &str)]) -> Event {
    Event::RoomStreamUpdate {
        room_id: "r1".into(),
        update_type,
        streams: s.iter().map(|(s, u)| stream(s, u)).collect(),
        extended_data: NO_DATA.into(),
    }
}

fn mic(id: &str, state: RemoteDeviceState) -> Event {
    Event::RemoteMicStateUpdate {
        stream_id: id.into(),
        state,
    }
}

fn camera(id: &str, state: RemoteDeviceState) -> Event {
    Event::RemoteCameraStateUpdate {
        stream_id: id.into(),
        state,
    }
}

fn publish_request(msg: &ClientMessage) -> Option<(u32, String)> {
    match msg {
        ClientMessage::PublishStream {
            request_id,
            stream_id,
            ..
        } => Some((*request_id, stream_id.clone())),
        _ => None,
    }
}

/// Logs in, publishes "p1" on Main and gets it acknowledged.
fn publishing(h: &mut H) -> ConnId {
    let (conn, _) = h.logged_in(0, true, ok(&["a"], &[("sa", "a")], 2));
    h.start_publishing(0, "p1", PublishChannel::Main).unwrap();
    let out = h.drain();
    let (id, _) = publish_request(&sent(&out)[0]).unwrap();
    let out = h.input(0, conn, stream_published(id, "p1"));
    assert_eq!(media(&out), vec![negotiate_cmd("p1", MediaRole::Publish)]);
    h.publish_connects(0);
    conn
}

/// Logs in, publishes "p1" (as [`publishing`]) and plays "s1", both
/// connected.
fn publishing_and_playing(h: &mut H) -> ConnId {
    let conn = publishing(h);
    let _ = play(h, 10, conn, "s1");
    h.input(
        11,
        conn,
        ServerMessage::StreamReady {
            stream_id: "s1".into(),
        },
    );
    let out = h.media(12, "s1", MediaRole::Play, MediaFact::Connected);
    assert_eq!(
        events(&out),
        vec![player("s1", PlayerState::Playing, ErrorCode::Success)]
    );
    conn
}

fn media(out: &[Output]) -> Vec<MediaCommand> {
    out.iter()
        .filter_map(|o| match o {
            Output::Media(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

fn negotiate_cmd(stream_id: &str, role: MediaRole) -> MediaCommand {
    MediaCommand::Negotiate {
        stream_id: stream_id.into(),
        role,
    }
}

fn player(id: &str, state: PlayerState, code: ErrorCode) -> Event {
    Event::PlayerStateUpdate {
        stream_id: id.into(),
        state,
        error_code: code.code(),
        extended_data: NO_DATA.into(),
    }
}

/// Starts playing `id` on a live connection and returns the PlayStream request id.
fn play(h: &mut H, ms: u64, conn: ConnId, id: &str) -> u32 {
    h.start_playing(ms, id).unwrap();
    let out = h.drain();
    assert_eq!(
        events(&out),
        vec![player(id, PlayerState::PlayRequesting, ErrorCode::Success)]
    );
    assert_eq!(
        media(&out),
        vec![MediaCommand::StartPlaying {
            stream_id: id.into()
        }]
    );
    match sent(&out).as_slice() {
        [ClientMessage::PlayStream {
            request_id,
            stream_id,
            ..
        }] if stream_id == id => {
            let request_id = *request_id;
            h.input(
                ms,
                conn,
                ServerMessage::Ack {
                    request_id,
                    body: AckBody::PlayAccepted {
                        stream_id: id.into(),
                    },
                },
            );
            request_id
        }
        other => panic!("expected PlayStream, got {other:?}"),
    }
}

/// Reports an offer for `id` and returns the SdpOffer's request id.
fn offer(h: &mut H, ms: u64, id: &str, role: MediaRole) -> u32 {
    let out = h.media(ms, id, role, MediaFact::Offer("v=0 offer".into()));
    match sent(&out).as_slice() {
        [ClientMessage::SdpOffer {
            request_id,
            stream_id,
            role: r,
            sdp,
        }] if stream_id == id && *r == role && sdp == "v=0 offer" => *request_id,
        other => panic!("expected SdpOffer, got {other:?}"),
    }
}

/// A relogin's media commands when publishing "p1" and playing "s1":
/// the server's ICE servers (none here) are taken, then both old
/// transports close (and renegotiate after).
fn relogin_media_commands() -> Vec<MediaCommand> {
    vec![
        MediaCommand::IceServers(Vec::new()),
        MediaCommand::CloseTransport {
            stream_id: "p1".into(),
            role: MediaRole::Publish,
        },
        MediaCommand::CloseTransport {
            stream_id: "s1".into(),
            role: MediaRole::Play,
        },
    ]
}
