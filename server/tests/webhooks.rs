//! Webhooks against a real receiver on loopback: a real login / publish /
//! stop / logout flow through the server, a receiver that refuses the
//! first two attempts of every event, each event taken once by ID with a
//! signature checked by an independent HMAC.
#![allow(clippy::unwrap_used)]

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac};
use protocol::ClientMessage;
use server::webhooks::{verify, VerifyError, WebhookEvent, WebhooksConfig, SIGNATURE_HEADER};
use sha2::Sha256;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use test_support::{client, TestServer};

/// What the receiver saw: attempts per event ID, and each taken request;
/// and how many attempts of each event it refuses.
#[derive(Default)]
struct Seen {
    attempts: HashMap<String, u32>,
    taken: Vec<(String, Vec<u8>)>,
    refuse: u32,
}

type Shared = Arc<Mutex<Seen>>;

/// Refuses (503) the first `refuse` attempts of each event, takes the next.
async fn receive(State(seen): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let event: WebhookEvent = serde_json::from_slice(&body).unwrap();
    let signature = headers[SIGNATURE_HEADER].to_str().unwrap().to_owned();
    let mut seen = seen.lock().unwrap();
    let attempts = seen.attempts.entry(event.id).or_default();
    *attempts += 1;
    if *attempts <= seen.refuse {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    seen.taken.push((signature, body.to_vec()));
    StatusCode::OK
}

/// The URL of a receiver refusing the first `refuse` attempts of each
/// event, and what it saw.
async fn receiver(refuse: u32) -> (String, Shared) {
    let seen = Shared::new(Mutex::new(Seen {
        refuse,
        ..Seen::default()
    }));
    let app = axum::Router::new()
        .route("/hook", post(receive))
        .with_state(Arc::clone(&seen));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

/// An HMAC-SHA256 check written from the documented scheme alone:
/// `v1` is hex(HMAC(secret, "<t>.<body>")).
fn independent_check(secret: &str, header: &str, body: &[u8]) -> bool {
    let t = header
        .split(',')
        .find_map(|p| p.strip_prefix("t="))
        .unwrap();
    let v1 = header
        .split(',')
        .find_map(|p| p.strip_prefix("v1="))
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    expected == v1
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn a_call_flow_reaches_a_flaky_receiver_once_per_event_signed() {
    let (url, seen) = receiver(2).await;
    let server = TestServer::start_with(|c| {
        c.webhooks = Some(WebhooksConfig {
            urls: vec![url],
            first_backoff_ms: 50,
            ..WebhooksConfig::default()
        });
    })
    .await;
    let secret = server.app.server_secret.clone();

    let (mut a, _) = server.login("standup", "alice", true).await;
    let (mut b, _) = server.login("standup", "bob", true).await;
    a.request(&client::publish_stream(1, "alice-cam")).await;
    a.request(&client::stop_publishing(2, "alice-cam")).await;
    b.send(&ClientMessage::Logout { request_id: 3 }).await;
    b.closed().await;
    a.send(&ClientMessage::Logout { request_id: 4 }).await;
    a.closed().await;

    let expected = [
        ("room_started", None),
        ("user_joined", Some("alice")),
        ("user_joined", Some("bob")),
        ("stream_published", Some("alice")),
        ("stream_stopped", Some("alice")),
        ("user_left", Some("bob")),
        ("user_left", Some("alice")),
        ("room_finished", None),
    ];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while seen.lock().unwrap().taken.len() < expected.len() {
        assert!(tokio::time::Instant::now() < deadline, "events missing");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Nothing more arrives (no duplicate after a 200).
    tokio::time::sleep(Duration::from_millis(500)).await;

    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert_eq!(seen.taken.len(), expected.len());
    let mut events: Vec<WebhookEvent> = Vec::new();
    for (header, body) in &seen.taken {
        assert!(independent_check(&secret, header, body), "{header}");
        assert_eq!(
            verify(secret.as_bytes(), header, body, now_secs(), 300),
            Ok(())
        );
        // Tampered body or signature: refused.
        let mut tampered = body.clone();
        tampered[2] ^= 0x20;
        assert_eq!(
            verify(secret.as_bytes(), header, &tampered, now_secs(), 300),
            Err(VerifyError::Mismatch)
        );
        let last = header.len() - 1;
        let flipped = if header.ends_with('0') { "1" } else { "0" };
        let forged = format!("{}{flipped}", &header[..last]);
        assert_eq!(
            verify(secret.as_bytes(), &forged, body, now_secs(), 300),
            Err(VerifyError::Mismatch)
        );
        events.push(serde_json::from_slice(body).unwrap());
    }
    // Each event ID: three attempts, taken once.
    assert_eq!(seen.attempts.len(), expected.len());
    assert!(
        seen.attempts.values().all(|n| *n == 3),
        "{:?}",
        seen.attempts
    );
    events.sort_by_key(|e| e.created_at_ms);
    let got: Vec<(&str, Option<&str>)> = events
        .iter()
        .map(|e| (e.event.as_str(), e.user_id.as_deref()))
        .collect();
    // Events of the same millisecond may come in either order: compare sorted.
    let (mut got_sorted, mut want_sorted) = (got.clone(), expected.to_vec());
    got_sorted.sort();
    want_sorted.sort();
    assert_eq!(got_sorted, want_sorted, "{got:?}");
    assert_eq!(got.first(), Some(&("room_started", None)));
    assert_eq!(got.last(), Some(&("room_finished", None)));
    for e in &events {
        assert_eq!(
            (e.app_id, e.room_id.as_str()),
            (server.app.app_id, "standup")
        );
    }
    assert!(events
        .iter()
        .any(|e| e.stream_id.as_deref() == Some("alice-cam")));
    drop(seen);

    let metrics = server.http_get("/metrics").await;
    assert!(
        metrics.contains("confer_webhook_events_total{outcome=\"delivered\"} 8\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("confer_webhook_retries_total 16\n"),
        "{metrics}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_dead_receiver_costs_bounded_memory_and_counts_drops() {
    // Nothing listens on this port: every attempt fails at once.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", dead.local_addr().unwrap());
    drop(dead);
    let server = TestServer::start_with(|c| {
        c.webhooks = Some(WebhooksConfig {
            urls: vec![url],
            max_queued: 3,
            max_attempts: 2,
            first_backoff_ms: 60_000,
            ..WebhooksConfig::default()
        });
    })
    .await;
    // 1 room start + 6 joins: 7 events, 3 fit.
    let mut clients = Vec::new();
    for user in ["u1", "u2", "u3", "u4", "u5", "u6"] {
        clients.push(server.login("r", user, false).await.0);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = server.http_get("/metrics").await;
        if metrics.contains("confer_webhook_events_total{outcome=\"dropped\"} 4\n") {
            assert!(metrics.contains("confer_webhook_queued 3\n"), "{metrics}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{metrics}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(clients);
    server.shutdown().await;
}

#[tokio::test]
async fn a_shutdown_delivers_the_events_still_queued_once_each() {
    let (url, seen) = receiver(1).await;
    let server = TestServer::start_with(|c| {
        c.webhooks = Some(WebhooksConfig {
            urls: vec![url],
            // Every retry is due after the shutdown below has begun.
            first_backoff_ms: 1_500,
            flush_ms: 5_000,
            ..WebhooksConfig::default()
        });
    })
    .await;
    let (mut a, _) = server.login("flush", "alice", true).await;
    a.request(&client::publish_stream(1, "alice-cam")).await;
    // room_started, user_joined, stream_published: each refused once.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while seen.lock().unwrap().attempts.len() < 3 {
        assert!(tokio::time::Instant::now() < deadline, "no first attempts");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        seen.lock().unwrap().taken.is_empty(),
        "taken before shutdown"
    );
    let state = server.handle.state().clone();
    server.shutdown().await;
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    let events: Vec<WebhookEvent> = seen
        .taken
        .iter()
        .map(|(_, body)| serde_json::from_slice(body).unwrap())
        .collect();
    let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    let ids: HashSet<&str> = events.iter().map(|e| e.id.as_str()).collect();
    eprintln!("delivered by the shutdown's flush: {names:?}");
    assert_eq!(ids.len(), events.len(), "an event taken twice: {names:?}");
    // Each on its second attempt: the retry came during the flush.
    assert!(
        seen.attempts.values().all(|n| *n == 2),
        "{:?}",
        seen.attempts
    );
    assert_eq!(seen.attempts.len(), events.len(), "{names:?}");
    for want in ["room_started", "user_joined", "stream_published"] {
        assert!(names.contains(&want), "{want} not in {names:?}");
    }
    let stats = state.metrics().webhooks();
    assert_eq!(stats.delivered.load(Ordering::Relaxed), events.len() as u64);
    assert_eq!(stats.dropped.load(Ordering::Relaxed), 0);
    assert_eq!(stats.queued.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn a_shutdown_flush_is_bounded_and_counts_what_is_left() {
    // A receiver that takes each request and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let hung = tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            held.push(socket);
        }
    });
    let server = TestServer::start_with(|c| {
        c.webhooks = Some(WebhooksConfig {
            urls: vec![url],
            timeout_ms: 60_000,
            flush_ms: 300,
            ..WebhooksConfig::default()
        });
    })
    .await;
    let (a, _) = server.login("hung", "alice", true).await;
    let state = server.handle.state().clone();
    let stats = Arc::clone(state.metrics().webhooks());
    // room_started and user_joined in flight at the receiver.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while stats.queued.load(Ordering::Relaxed) < 2 {
        assert!(tokio::time::Instant::now() < deadline, "events not queued");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(a);
    // Bounded by flush_ms (generously: the grace for connections too).
    tokio::time::timeout(Duration::from_secs(15), server.shutdown())
        .await
        .expect("the shutdown's flush ends at its deadline");
    assert_eq!(stats.delivered.load(Ordering::Relaxed), 0);
    assert_eq!(stats.dropped.load(Ordering::Relaxed), 2);
    assert_eq!(stats.queued.load(Ordering::Relaxed), 0);
    hung.abort();
}
