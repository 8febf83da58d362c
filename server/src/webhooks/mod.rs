//! Webhooks: each room activity on this node (room started / finished,
//! user joined / left, stream published / stopped) is POSTed as JSON
//! ([`WebhookEvent`]) to every configured URL, signed
//! ([`sign`], header [`SIGNATURE_HEADER`]) with the app's webhook secret,
//! and delivered at least once: retried with exponential backoff until the
//! receiver answers 2xx or the attempts run out ([`outbox`], sans-IO).
//! Receivers check requests with [`verify`] and deduplicate by the event's
//! `id`.
//!
//! Memory is bounded: the hub hands events over through a bounded channel
//! and each URL's queue holds at most `max_queued`; what does not fit is
//! dropped and counted (`confer_webhook_events_total{outcome="dropped"}`).
//!
//! On a clean shutdown ([`Flush`], after the connections have closed)
//! delivery goes on until every queue
//! is empty, or for `flush_ms` at most; what is left then is dropped and
//! counted.

mod event;
pub mod outbox;
mod sign;

pub use event::WebhookEvent;
pub use sign::{sign, verify, VerifyError, DEFAULT_TOLERANCE_SECS, SIGNATURE_HEADER};

use crate::activity::{Activity, ActivityListener};
use crate::state::ServerState;
use outbox::{Outbox, Outcome, Pending, Policy};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};

/// Events between the hub and the delivery task at most.
const HANDOFF_CAPACITY: usize = 1024;

/// The `[webhooks]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Where events are POSTed (`http://` or `https://`), each on its own
    /// queue.
    pub urls: Vec<String>,
    /// The secret signatures use for every app; unset: each app's
    /// `server_secret`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Events queued per URL at most (the rest are dropped and counted).
    pub max_queued: usize,
    /// Attempts per event and URL (the first one included).
    pub max_attempts: u32,
    /// The wait before the first retry, doubled for each further one (up
    /// to a minute).
    pub first_backoff_ms: u64,
    /// How long one attempt may take.
    pub timeout_ms: u64,
    /// How long a clean shutdown goes on delivering what is queued.
    pub flush_ms: u64,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        let policy = Policy::default();
        WebhooksConfig {
            urls: Vec::new(),
            secret: None,
            max_queued: policy.max_queued,
            max_attempts: policy.max_attempts,
            first_backoff_ms: 500,
            timeout_ms: 10_000,
            flush_ms: 5_000,
        }
    }
}

/// Why a `[webhooks]` table is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhooksConfigError {
    /// A URL that is not absolute `http://` or `https://`.
    #[error("webhooks: not an http(s) URL: {0}")]
    Url(String),
    /// `secret` shorter than 32 characters.
    #[error("webhooks: secret must be at least 32 characters")]
    WeakSecret,
    /// A zero queue bound, attempt count or timeout.
    #[error("webhooks: max_queued, max_attempts and timeout_ms must be positive")]
    Zero,
}

impl WebhooksConfig {
    /// Checks the URLs, the secret and the bounds.
    pub fn validate(&self) -> Result<(), WebhooksConfigError> {
        for url in &self.urls {
            let parsed =
                reqwest::Url::parse(url).map_err(|_| WebhooksConfigError::Url(url.clone()))?;
            if !matches!(parsed.scheme(), "http" | "https") || !parsed.has_host() {
                return Err(WebhooksConfigError::Url(url.clone()));
            }
        }
        if self
            .secret
            .as_ref()
            .is_some_and(|s| s.chars().count() < crate::config::MIN_SERVER_SECRET_CHARS)
        {
            return Err(WebhooksConfigError::WeakSecret);
        }
        if self.max_queued == 0 || self.max_attempts == 0 || self.timeout_ms == 0 {
            return Err(WebhooksConfigError::Zero);
        }
        Ok(())
    }

    fn policy(&self) -> Policy {
        Policy {
            max_queued: self.max_queued,
            max_attempts: self.max_attempts,
            first_backoff: Duration::from_millis(self.first_backoff_ms),
            ..Policy::default()
        }
    }
}

/// What became of the events, for `/metrics`.
#[derive(Debug, Default)]
pub struct WebhookStats {
    /// Attempts that the receiver took (2xx), per URL and event.
    pub delivered: AtomicU64,
    /// Failed attempts followed by a retry.
    pub retried: AtomicU64,
    /// Events given up after their last attempt, per URL.
    pub failed: AtomicU64,
    /// Events dropped because a queue was full, per URL (or before any),
    /// or still queued when a shutdown's flush ended.
    pub dropped: AtomicU64,
    /// Events queued or in flight now, over every URL.
    pub queued: AtomicU64,
}

/// The hub's side: turns activities into events for the delivery task.
struct Handoff {
    tx: mpsc::Sender<WebhookEvent>,
    stats: Arc<WebhookStats>,
}

impl ActivityListener for Handoff {
    fn on_activity(&self, activity: &Activity) {
        let event = WebhookEvent::new(activity, unix_ms(), &mut rand::rng());
        if self.tx.try_send(event).is_err() {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Why webhook delivery could not start.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The HTTP client (TLS roots) could not be set up.
    #[error("webhooks: http client: {0}")]
    Client(String),
}

/// The running delivery task, flushed at shutdown.
#[derive(Debug)]
pub struct Flush {
    deadline: oneshot::Sender<Instant>,
    within: Duration,
    task: JoinHandle<()>,
}

impl Flush {
    /// Delivers what is queued (and what comes meanwhile) for `flush_ms`
    /// at most, then stops the task.
    pub async fn run(self) {
        let deadline = Instant::now() + self.within;
        let _ = self.deadline.send(deadline);
        // The task stops at the deadline; the margin covers its last turn.
        let _ = tokio::time::timeout(self.within + Duration::from_secs(1), self.task).await;
    }
}

/// Starts delivering `state`'s room activity to the configured URLs (none
/// configured: nothing). Runs until [`Flush::run`] (or until its
/// [`Flush`] is dropped: then flushed as well).
pub fn start(state: &ServerState) -> Result<Option<Flush>, WebhookError> {
    let Some(config) = state
        .config()
        .webhooks
        .clone()
        .filter(|w| !w.urls.is_empty())
    else {
        return Ok(None);
    };
    let client = http_client(Duration::from_millis(config.timeout_ms))?;
    let secrets = state
        .config()
        .apps
        .iter()
        .map(|app| {
            let secret = config.secret.as_ref().unwrap_or(&app.server_secret);
            (app.app_id, Arc::<[u8]>::from(secret.as_bytes()))
        })
        .collect();
    let stats = Arc::clone(state.metrics().webhooks());
    let (tx, rx) = mpsc::channel(HANDOFF_CAPACITY);
    state.hub().listen(Arc::new(Handoff {
        tx,
        stats: Arc::clone(&stats),
    }));
    let deliver = Delivery {
        client,
        secrets,
        stats,
        outboxes: config
            .urls
            .iter()
            .map(|url| (Arc::from(url.as_str()), Outbox::new(config.policy())))
            .collect(),
    };
    let within = Duration::from_millis(config.flush_ms);
    let (deadline, flush) = oneshot::channel();
    let task = tokio::spawn(deliver.run(rx, flush, within));
    tracing::info!(urls = config.urls.len(), "webhooks on");
    Ok(Some(Flush {
        deadline,
        within,
        task,
    }))
}

/// An HTTP client with rustls on the ring provider and the platform's
/// certificate roots (also the server API's, to other nodes).
pub(crate) fn http_client(timeout: Duration) -> Result<reqwest::Client, WebhookError> {
    use rustls_platform_verifier::BuilderVerifierExt;
    let error = |e: &dyn std::fmt::Display| WebhookError::Client(e.to_string());
    let tls = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| error(&e))?
        .with_platform_verifier()
        .map_err(|e| error(&e))?
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(timeout)
        .user_agent(concat!("confer-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| error(&e))
}

/// The delivery task's state.
struct Delivery {
    client: reqwest::Client,
    secrets: HashMap<u32, Arc<[u8]>>,
    stats: Arc<WebhookStats>,
    /// One queue per URL.
    outboxes: Vec<(Arc<str>, Outbox)>,
}

/// One attempt's result: the URL's index, the event ID, whether it was taken.
type Attempted = (usize, String, bool);

impl Delivery {
    /// Delivers until the flush's deadline comes (sent on `flush`, or
    /// `within` from when it is dropped) and everything queued by then
    /// is delivered or cannot be before it.
    async fn run(
        mut self,
        mut events: mpsc::Receiver<WebhookEvent>,
        mut flush: oneshot::Receiver<Instant>,
        within: Duration,
    ) {
        let mut attempts: JoinSet<Attempted> = JoinSet::new();
        let mut deadline: Option<Instant> = None;
        loop {
            if deadline.is_some() {
                // Everything handed over so far is queued before judging.
                while let Ok(event) = events.try_recv() {
                    self.queue(&event);
                }
            }
            self.send_due(&mut attempts, Instant::now());
            let wake = self
                .outboxes
                .iter()
                .filter_map(|(_, o)| o.poll_timeout())
                .min();
            if let Some(deadline) = deadline {
                // Done when no attempt runs and none is due before the end.
                if attempts.is_empty() && wake.is_none_or(|w| w >= deadline) {
                    break;
                }
            }
            tokio::select! {
                event = events.recv() => match event {
                    Some(event) => self.queue(&event),
                    None => break,
                },
                Some(done) = attempts.join_next(), if !attempts.is_empty() => {
                    if let Ok((index, id, ok)) = done {
                        self.finished(index, &id, ok);
                    }
                }
                () = sleep_until(wake) => {}
                at = &mut flush, if deadline.is_none() => {
                    deadline = Some(at.unwrap_or_else(|_| Instant::now() + within));
                }
                () = sleep_until(deadline) => break,
            }
            self.count_queued();
        }
        attempts.abort_all();
        let left: usize = self.outboxes.iter().map(|(_, o)| o.len()).sum();
        if left > 0 {
            tracing::warn!(left, "webhook events still queued at shutdown; dropped");
            self.stats.dropped.fetch_add(left as u64, Ordering::Relaxed);
        }
        self.outboxes.clear();
        self.count_queued();
    }

    /// Publishes how many events are queued or in flight.
    fn count_queued(&self) {
        let queued: usize = self.outboxes.iter().map(|(_, o)| o.len()).sum();
        self.stats.queued.store(queued as u64, Ordering::Relaxed);
    }

    /// Queues `event` on every URL.
    fn queue(&mut self, event: &WebhookEvent) {
        let body: Arc<str> = match serde_json::to_string(event) {
            Ok(body) => Arc::from(body),
            Err(error) => {
                tracing::warn!(%error, "webhook event not serialized");
                return;
            }
        };
        let now = Instant::now();
        for (url, outbox) in &mut self.outboxes {
            let pending = Pending {
                id: event.id.clone(),
                app_id: event.app_id,
                body: Arc::clone(&body),
            };
            if !outbox.push(pending, now) {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%url, id = %event.id, "webhook queue full; event dropped");
            }
        }
    }

    /// Starts the attempts that are due.
    fn send_due(&mut self, attempts: &mut JoinSet<Attempted>, now: Instant) {
        for (index, (url, outbox)) in self.outboxes.iter_mut().enumerate() {
            for pending in outbox.poll(now) {
                let Some(secret) = self.secrets.get(&pending.app_id).cloned() else {
                    // An app the config does not know cannot be signed for.
                    outbox.finished(&pending.id, true, now);
                    continue;
                };
                let (client, url) = (self.client.clone(), Arc::clone(url));
                attempts.spawn(async move {
                    let ok = post(&client, &url, &secret, &pending).await;
                    (index, pending.id, ok)
                });
            }
        }
    }

    /// Books an attempt's result.
    fn finished(&mut self, index: usize, id: &str, ok: bool) {
        let Some((url, outbox)) = self.outboxes.get_mut(index) else {
            return;
        };
        let counter = match outbox.finished(id, ok, Instant::now()) {
            Some(Outcome::Delivered) => &self.stats.delivered,
            Some(Outcome::Retrying) => &self.stats.retried,
            Some(Outcome::GaveUp) => {
                tracing::warn!(%url, id, "webhook not delivered; attempts exhausted");
                &self.stats.failed
            }
            None => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// One attempt: POSTs the signed body; whether the receiver answered 2xx.
async fn post(client: &reqwest::Client, url: &str, secret: &[u8], event: &Pending) -> bool {
    let signature = sign(secret, unix_ms() / 1000, event.body.as_bytes());
    let sent = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(SIGNATURE_HEADER, signature)
        .header("Confer-Event-Id", event.id.as_str())
        .body(event.body.to_string())
        .send()
        .await;
    match sent {
        Ok(response) => response.status().is_success(),
        Err(error) => {
            tracing::debug!(url, %error, "webhook attempt failed");
            false
        }
    }
}

/// Sleeps until `at`, or forever without it.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
