//! Golden transcripts: the harness records every input it gives the
//! session (API calls, connection events, server messages, media facts,
//! timer ticks, each at its `at_ms`) and every output it reads (client
//! messages, events, media commands, ...), in the protocol's and the
//! events' own JSON. Tests that cover a flow the web page implements save
//! theirs under `media-core/tests/fixtures/transcripts/`, and the page's
//! engine (`server/web/src/engine.ts`) replays each one in its node tests
//! (`make web-test`): the page cannot drift from the session unnoticed.
//!
//! A saved transcript that differs from what its test produces fails the
//! test; `CONFER_WRITE_TRANSCRIPTS=1 cargo test -p media-core --lib
//! room::session` writes them again.

use super::*;
use crate::error::{PlayerError, PublisherError};
use serde_json::{json, Value};
use std::path::PathBuf;

/// Every transcript a test saves (a file in the folder that is not here,
/// or a name here with no file, fails [`every_transcript_is_produced`]).
const TRANSCRIPTS: &[&str] = &[
    "login_handshake",
    "login_with_token_without_notify",
    "login_failed",
    "login_redirected",
    "reconnect_resume_replays_missed_events",
    "resume_refused_relogin_reconciles",
    "retry_window_exhausted",
    "first_login_unreachable",
    "kicked_out",
    "kicked_out_on_resume",
    "session_expired_while_frozen",
    "silence_timer_first_then_resume_refused",
    "shutdown_interruption",
    "logout_while_publishing",
    "heartbeats_and_silent_server",
    "token_expiry_warning_and_renew",
    "token_short_warns_at_once",
    "broadcast_ack_error_timeout_logout",
    "server_error_debug_event",
    "remote_device_states",
    "incoming_broadcast",
    "play_follows_the_stream",
    "media_retry_and_negotiation_timeout",
    "publish_refused_no_privilege",
    "session_expired_during_resume",
    "duplicate_events_ignored",
    "offer_refused_stream_not_live",
    "signaling_loss_relogin_renegotiates",
    "legacy_kick_expired_session",
    "local_mutes_announced",
    "publish_starts_with_current_mutes",
    "mute_state_sent_again_on_resume",
    "logout_stops_all_media",
    "login_ice_servers",
    "renew_fresh_turn_credentials",
    "handshake_timeout",
    "publisher_state_sequences",
    "play_video_layer_kept_across_relogin",
    "play_video_layer_while_reconnecting",
    "play_video_layer_refused",
    "dynacast_video_layers",
];

/// The environment variable that makes the tests write their transcripts.
const WRITE_ENV: &str = "CONFER_WRITE_TRANSCRIPTS";

fn folder() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/transcripts")
}

/// What a harness gave its session and read from it, in order.
#[derive(Debug, Default)]
pub(super) struct Recorder {
    steps: Vec<Value>,
}

impl Recorder {
    /// An input given at `at_ms`.
    pub(super) fn input(&mut self, at_ms: u64, input: Value) {
        self.steps.push(json!({ "at_ms": at_ms, "input": input }));
    }

    /// Outputs read, in order.
    pub(super) fn outputs(&mut self, out: &[Output]) {
        for o in out {
            self.steps.push(json!({ "output": output_json(o) }));
        }
    }

    /// Compares the transcript with `name`'s file (or writes it with
    /// [`WRITE_ENV`] set); `retry_window` is the session's.
    pub(super) fn check(&self, name: &str, retry_window: Duration) {
        assert!(TRANSCRIPTS.contains(&name), "{name} is not in TRANSCRIPTS");
        let doc = json!({
            "name": name,
            "config": { "app_id": 1, "retry_window_ms": retry_window.as_millis() as u64 },
            "steps": self.steps,
        });
        let text = serde_json::to_string_pretty(&doc).expect("a transcript serializes") + "\n";
        let path = folder().join(format!("{name}.json"));
        if std::env::var_os(WRITE_ENV).is_some() {
            std::fs::create_dir_all(folder()).expect("creates the transcripts folder");
            std::fs::write(&path, text).expect("writes the transcript");
            return;
        }
        let saved = std::fs::read_to_string(&path).unwrap_or_default();
        if saved != text {
            let line = saved
                .lines()
                .zip(text.lines())
                .position(|(a, b)| a != b)
                .unwrap_or_else(|| saved.lines().count().min(text.lines().count()));
            panic!(
                "{} differs from what the test produces (first at line {}): \
                 regenerate with {WRITE_ENV}=1 cargo test -p media-core --lib room::session",
                path.display(),
                line + 1
            );
        }
    }
}

/// An API call's input.
pub(super) fn call(kind: &str, fields: Value) -> Value {
    let mut v = json!({ "kind": kind });
    if let (Value::Object(m), Value::Object(f)) = (&mut v, fields) {
        m.extend(f);
    }
    v
}

/// An API call's result: nothing when it succeeded, else its error code.
pub(super) fn with_result<T>(mut input: Value, result: &Result<T, impl HasCode>) -> Value {
    if let (Value::Object(m), Err(e)) = (&mut input, result) {
        m.insert("error_code".into(), json!(e.error_code()));
    }
    input
}

/// The error types of the calls, by their code.
pub(super) trait HasCode {
    /// The error's code number.
    fn error_code(&self) -> u32;
}

impl HasCode for RoomError {
    fn error_code(&self) -> u32 {
        self.code().code()
    }
}

impl HasCode for PublisherError {
    fn error_code(&self) -> u32 {
        self.code().code()
    }
}

impl HasCode for PlayerError {
    fn error_code(&self) -> u32 {
        self.code().code()
    }
}

fn to_json(v: impl serde::Serialize) -> Value {
    serde_json::to_value(v).expect("serializes")
}

/// A transport input on `conn`.
pub(super) fn transport_json(conn: ConnId, t: &Transport) -> Value {
    match t {
        Transport::Opened => json!({ "kind": "opened", "conn": conn }),
        Transport::Message(msg) => json!({ "kind": "message", "conn": conn, "msg": to_json(msg) }),
        Transport::Malformed(why) => json!({ "kind": "malformed", "conn": conn, "why": why }),
        Transport::Closed(why) => json!({ "kind": "closed", "conn": conn, "why": why }),
        Transport::Refused(code, why) => {
            json!({ "kind": "refused", "conn": conn, "code": code, "why": why })
        }
    }
}

/// A media fact about `stream_id`.
pub(super) fn media_json(stream_id: &str, role: MediaRole, fact: &MediaFact) -> Value {
    let fact = match fact {
        MediaFact::Offer(sdp) => json!({ "offer": sdp }),
        MediaFact::Candidate(c) => json!({ "candidate": to_json(c) }),
        MediaFact::Connected => json!("connected"),
        MediaFact::Failed(why) => json!({ "failed": why }),
    };
    json!({ "kind": "media", "stream_id": stream_id, "role": to_json(role), "fact": fact })
}

fn output_json(o: &Output) -> Value {
    match o {
        Output::Connect { conn, url: None } => json!({ "kind": "connect", "conn": conn }),
        Output::Connect {
            conn,
            url: Some(url),
        } => json!({ "kind": "connect", "conn": conn, "url": url }),
        Output::Send { conn, msg } => json!({ "kind": "send", "conn": conn, "msg": to_json(msg) }),
        Output::Close { conn } => json!({ "kind": "close", "conn": conn }),
        Output::Event(e) => json!({ "kind": "event", "event": to_json(e) }),
        Output::BroadcastDone { request, result } => match result {
            Ok(id) => json!({ "kind": "broadcast_done", "request": request, "message_id": id }),
            Err(e) => {
                json!({ "kind": "broadcast_done", "request": request, "error_code": e.error_code() })
            }
        },
        Output::Media(c) => json!({ "kind": "media", "command": command_json(c) }),
    }
}

fn command_json(c: &MediaCommand) -> Value {
    match c {
        MediaCommand::StartPublishing { channel, stream_id } => {
            json!({ "kind": "start_publishing", "channel": to_json(channel), "stream_id": stream_id })
        }
        MediaCommand::StopPublishing { channel } => {
            json!({ "kind": "stop_publishing", "channel": to_json(channel) })
        }
        MediaCommand::StartPlaying { stream_id } => {
            json!({ "kind": "start_playing", "stream_id": stream_id })
        }
        MediaCommand::StopPlaying { stream_id } => {
            json!({ "kind": "stop_playing", "stream_id": stream_id })
        }
        MediaCommand::Negotiate { stream_id, role } => {
            json!({ "kind": "negotiate", "stream_id": stream_id, "role": to_json(role) })
        }
        MediaCommand::Answer {
            stream_id,
            role,
            sdp,
        } => {
            json!({ "kind": "answer", "stream_id": stream_id, "role": to_json(role), "sdp": sdp })
        }
        MediaCommand::RemoteCandidate {
            stream_id,
            role,
            candidate,
        } => json!({
            "kind": "remote_candidate", "stream_id": stream_id, "role": to_json(role),
            "candidate": to_json(candidate),
        }),
        MediaCommand::CloseTransport { stream_id, role } => {
            json!({ "kind": "close_transport", "stream_id": stream_id, "role": to_json(role) })
        }
        MediaCommand::IceServers(servers) => {
            json!({ "kind": "ice_servers", "servers": to_json(servers) })
        }
        MediaCommand::VideoLayers { stream_id, active } => {
            json!({ "kind": "video_layers", "stream_id": stream_id, "active": to_json(active) })
        }
    }
}

/// The folder holds exactly the transcripts of [`TRANSCRIPTS`].
#[test]
fn every_transcript_is_produced() {
    if std::env::var_os(WRITE_ENV).is_some() {
        return; // the other tests are writing them
    }
    let mut on_disk: Vec<String> = std::fs::read_dir(folder())
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().into_string().ok()?;
                    name.strip_suffix(".json").map(str::to_owned)
                })
                .collect()
        })
        .unwrap_or_default();
    on_disk.sort();
    let mut listed: Vec<String> = TRANSCRIPTS.iter().map(|s| (*s).to_owned()).collect();
    listed.sort();
    assert_eq!(
        on_disk, listed,
        "the transcripts folder and TRANSCRIPTS differ ({WRITE_ENV}=1 writes them)"
    );
}
