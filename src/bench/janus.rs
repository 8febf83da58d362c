//! Janus's videoroom plugin over its HTTP API (`confer bench --janus`),
//! for a side-by-side fan-out figure with the same synthetic media: one
//! Janus session per room, a handle per publisher and per subscriber.
//!
//! - The room: `create` (H.264 only) on a handle of its own.
//! - A publisher: `joinandconfigure` with the bench's offer; the answer
//!   and the feed ID come back as an event (long poll on the session).
//! - A subscriber: `join` the feed; Janus's offer comes back as an event,
//!   the bench answers with `start`.
//!
//! Events are read by one long-poll task per session and handed to the
//! handle waiting for them.

use super::peer::{http, Body};
use anyhow::{anyhow, bail, Context};
use hyper::Method;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// How long an answer or offer may take to come back as an event.
const EVENT_TIMEOUT: Duration = Duration::from_secs(15);

/// How many times a subscriber joins before giving up.
const SUBSCRIBE_ATTEMPTS: u32 = 3;

/// Handles waiting for their events.
type Waiting = Arc<Mutex<HashMap<u64, mpsc::UnboundedSender<Value>>>>;

/// One videoroom room on one Janus session.
pub(crate) struct Room {
    authority: String,
    /// `{base}/{session}`.
    session_path: String,
    room: u64,
    waiting: Waiting,
    poller: tokio::task::JoinHandle<()>,
}

impl Room {
    /// Creates room `room` for `publishers` publishers on the Janus API at
    /// `authority` + `base` (e.g. `/janus`).
    pub(crate) async fn create(
        authority: &str,
        base: &str,
        room: u64,
        publishers: usize,
    ) -> anyhow::Result<Room> {
        let created = call(authority, base, json!({"janus": "create"})).await?;
        let session = id_of(&created)?;
        let session_path = format!("{base}/{session}");
        let waiting = Waiting::default();
        let poller = tokio::spawn(poll(
            authority.to_owned(),
            session_path.clone(),
            Arc::clone(&waiting),
        ));
        let room = Room {
            authority: authority.to_owned(),
            session_path,
            room,
            waiting,
            poller,
        };
        let handle = room.attach().await?;
        let answer = room
            .message(
                handle,
                json!({"request": "create", "room": room.room, "videocodec": "h264",
                       "publishers": publishers, "bitrate": 0}),
                None,
            )
            .await?;
        let data = &answer["plugindata"]["data"];
        if data["videoroom"] != "created" {
            bail!("creating Janus room {}: {data}", room.room);
        }
        Ok(room)
    }

    /// Publishes with `offer`: (the feed ID, Janus's answer).
    pub(crate) async fn publish(&self, offer: &str) -> anyhow::Result<(u64, String)> {
        let handle = self.attach().await?;
        let event = self
            .negotiate(
                handle,
                json!({"request": "joinandconfigure", "room": self.room, "ptype": "publisher",
                       "display": "bench"}),
                Some(json!({"type": "offer", "sdp": offer})),
            )
            .await?;
        let feed = event["plugindata"]["data"]["id"]
            .as_u64()
            .ok_or_else(|| anyhow!("Janus joined without a feed ID: {event}"))?;
        Ok((feed, sdp_of(&event)?))
    }

    /// Subscribes to `feed`: (the handle, Janus's offer). A feed Janus
    /// does not list yet ("No such feed" right after its publisher's
    /// connection came up) is asked again, [`SUBSCRIBE_ATTEMPTS`] times.
    pub(crate) async fn subscribe(&self, feed: u64) -> anyhow::Result<(u64, String)> {
        let mut attempt = 1;
        loop {
            let handle = self.attach().await?;
            let body = json!({"request": "join", "room": self.room, "ptype": "subscriber",
                              "streams": [{"feed": feed}]});
            match self.negotiate(handle, body, None).await {
                Ok(event) => return Ok((handle, sdp_of(&event)?)),
                Err(e) if attempt < SUBSCRIBE_ATTEMPTS => {
                    tracing::debug!(%e, attempt, "Janus subscribe again");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Starts a subscription with the bench's `answer`.
    pub(crate) async fn start(&self, handle: u64, answer: &str) -> anyhow::Result<()> {
        self.message(
            handle,
            json!({"request": "start"}),
            Some(json!({"type": "answer", "sdp": answer})),
        )
        .await?;
        self.candidates_done(handle).await
    }

    /// Tells Janus the bench's SDP held every candidate (no trickle).
    async fn candidates_done(&self, handle: u64) -> anyhow::Result<()> {
        let path = format!("{}/{handle}", self.session_path);
        let done = json!({"janus": "trickle", "candidate": {"completed": true}});
        call(&self.authority, &path, done).await.map(drop)
    }

    /// Destroys the room and the session.
    pub(crate) async fn close(self) {
        if let Ok(handle) = self.attach().await {
            let body = json!({"request": "destroy", "room": self.room});
            let _ = self.message(handle, body, None).await;
        }
        let _ = call(
            &self.authority,
            &self.session_path,
            json!({"janus": "destroy"}),
        )
        .await;
        self.poller.abort();
    }

    async fn attach(&self) -> anyhow::Result<u64> {
        let body = json!({"janus": "attach", "plugin": "janus.plugin.videoroom"});
        id_of(&call(&self.authority, &self.session_path, body).await?)
    }

    /// A message whose answer is an event with a JSEP (after an `ack`).
    async fn negotiate(
        &self,
        handle: u64,
        body: Value,
        jsep: Option<Value>,
    ) -> anyhow::Result<Value> {
        let (tx, mut rx) = mpsc::unbounded_channel();
        self.lock().insert(handle, tx);
        let offering = jsep.is_some();
        let waited = async {
            let sent = self.message(handle, body, jsep).await?;
            if sent["janus"] != "ack" {
                bail!("Janus answered {sent}");
            }
            if offering {
                self.candidates_done(handle).await?;
            }
            loop {
                let event = rx.recv().await.ok_or_else(|| anyhow!("Janus poll ended"))?;
                let data = &event["plugindata"]["data"];
                if data.get("error").is_some() {
                    bail!("Janus: {data}");
                }
                if event.get("jsep").is_some() {
                    return Ok(event);
                }
            }
        };
        let event = tokio::time::timeout(EVENT_TIMEOUT, waited).await;
        self.lock().remove(&handle);
        event.map_err(|_| anyhow!("no Janus event within {EVENT_TIMEOUT:?}"))?
    }

    async fn message(
        &self,
        handle: u64,
        body: Value,
        jsep: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut request = json!({"janus": "message", "body": body});
        if let Some(jsep) = jsep {
            request["jsep"] = jsep;
        }
        let path = format!("{}/{handle}", self.session_path);
        call(&self.authority, &path, request).await
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, mpsc::UnboundedSender<Value>>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Long-polls the session's events and hands each to its handle, until
/// the session is gone.
async fn poll(authority: String, session_path: String, waiting: Waiting) {
    let path = format!("{session_path}?maxev=10");
    loop {
        let body = match http(&authority, Method::GET, &path, None, None).await {
            Ok((200, _, body)) => body,
            Ok(_) => return,
            // No event within the HTTP timeout (Janus holds a poll 30 s).
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(events) = serde_json::from_str::<Value>(&body) else {
            return;
        };
        let events = match events {
            Value::Array(events) => events,
            event => vec![event],
        };
        for event in events {
            if event["janus"] == "error" {
                return;
            }
            let Some(sender) = event["sender"].as_u64() else {
                continue;
            };
            let waiting = waiting.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(tx) = waiting.get(&sender) {
                let _ = tx.send(event);
            }
        }
    }
}

/// One Janus API request: its JSON answer (a `janus: error` is an error).
async fn call(authority: &str, path: &str, mut body: Value) -> anyhow::Result<Value> {
    body["transaction"] = json!(format!("{:016x}", rand::random::<u64>()));
    let json = Body::Json(body.to_string());
    let (status, _, answer) = http(authority, Method::POST, path, None, Some(json)).await?;
    if status != 200 {
        bail!("Janus {path}: HTTP {status}: {answer}");
    }
    let answer: Value =
        serde_json::from_str(&answer).with_context(|| format!("Janus {path}: {answer}"))?;
    if answer["janus"] == "error" {
        bail!("Janus {path}: {}", answer["error"]);
    }
    Ok(answer)
}

fn id_of(answer: &Value) -> anyhow::Result<u64> {
    answer["data"]["id"]
        .as_u64()
        .ok_or_else(|| anyhow!("Janus answered without an ID: {answer}"))
}

fn sdp_of(event: &Value) -> anyhow::Result<String> {
    event["jsep"]["sdp"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("Janus event without SDP: {event}"))
}
