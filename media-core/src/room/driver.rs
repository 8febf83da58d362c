//! The async shell around [`Session`]: one tokio task per engine owns the
//! WebSocket, feeds the session with socket input, commands (via a wake-up)
//! and timer ticks, and carries out what `poll_output` asks for. Events go to
//! the app's channel in the order the session produced them.

use super::session::{ConnId, Output, Session, Transport};
use crate::error::RoomError;
use crate::event::Event;
use crate::media::{Fact, Media};
use futures_util::{SinkExt, StreamExt};
use protocol::ServerMessage;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{
    connect_async_tls_with_config, Connector, MaybeTlsStream, WebSocketStream,
};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
type ConnectFuture = Pin<Box<dyn Future<Output = Result<Ws, tungstenite::Error>> + Send>>;

/// How long sending our close frame may take before the socket is just
/// dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a closing socket then reads what the server still sends (the
/// answer to a `Logout`, say) until the server's close frame.
const CLOSE_DRAIN: Duration = Duration::from_millis(500);

/// State shared between the engine handles and the driver task.
#[derive(Debug)]
pub(crate) struct Shared {
    inner: Mutex<Inner>,
    wake: Notify,
}

/// What the lock protects.
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) session: Session,
    /// Broadcast callers waiting for their answer, by request id.
    pub(crate) waiters: HashMap<u32, oneshot::Sender<Result<u64, RoomError>>>,
    /// Set by `destroy` (or dropping the last engine handle); the driver
    /// flushes what is queued and ends.
    pub(crate) destroyed: bool,
}

impl Shared {
    pub(crate) fn new(session: Session) -> Self {
        Shared {
            inner: Mutex::new(Inner {
                session,
                waiters: HashMap::new(),
                destroyed: false,
            }),
            wake: Notify::new(),
        }
    }

    /// Locks the state. A panic while holding the lock is a bug elsewhere;
    /// the state machine stays usable, so poisoning is ignored.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Tells the driver that the session has new output.
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }
}

enum Wake {
    Command,
    Media(Fact),
    Connected(ConnId, Result<Box<Ws>, tungstenite::Error>),
    Socket(ConnId, Option<Result<Message, String>>),
    Timer,
}

/// Runs the session over WebSockets to `url` until the engine is destroyed,
/// carrying the session's media commands out on `media` and feeding what the
/// media side reports (`facts`) back into the session.
pub(crate) async fn run(
    shared: Arc<Shared>,
    url: String,
    tls: Arc<rustls::ClientConfig>,
    events: mpsc::UnboundedSender<Event>,
    media: Arc<Media>,
    mut facts: mpsc::UnboundedReceiver<Fact>,
) {
    let mut socket: Option<(ConnId, Ws)> = None;
    let mut connecting: Option<(ConnId, ConnectFuture)> = None;
    // Sockets being closed, off this loop (each bounded in time); a destroy
    // waits for them.
    let mut closing: Vec<JoinHandle<()>> = Vec::new();
    loop {
        // Carry out everything the session asked for, feeding back failures.
        loop {
            let (outputs, destroyed) = {
                let mut g = shared.lock();
                let mut outputs = Vec::new();
                while let Some(o) = g.session.poll_output() {
                    match o {
                        Output::BroadcastDone { request, result } => {
                            if let Some(tx) = g.waiters.remove(&request) {
                                let _ = tx.send(result);
                            }
                        }
                        o => outputs.push(o),
                    }
                }
                (outputs, g.destroyed)
            };
            if outputs.is_empty() {
                if destroyed {
                    if let Some((_, ws)) = socket.take() {
                        close(ws).await;
                    }
                    for task in closing.drain(..) {
                        let _ = task.await;
                    }
                    media.shutdown().await;
                    flush_facts(&mut facts, &events);
                    return;
                }
                break;
            }
            for o in outputs {
                match o {
                    Output::Connect { conn, url: target } => {
                        let url = target.unwrap_or_else(|| url.clone());
                        let tls = Connector::Rustls(Arc::clone(&tls));
                        connecting = Some((
                            conn,
                            Box::pin(async move {
                                // Plain for ws://, TLS for wss://.
                                connect_async_tls_with_config(url, None, false, Some(tls))
                                    .await
                                    .map(|(ws, _)| ws)
                            }),
                        ));
                    }
                    Output::Send { conn, msg } => {
                        let Some((current, ws)) = socket.as_mut() else {
                            continue;
                        };
                        if *current != conn {
                            continue;
                        }
                        if let Err(e) = ws.send(Message::text(msg.encode())).await {
                            socket = None;
                            shared.lock().session.handle_transport(
                                Instant::now(),
                                conn,
                                Transport::Closed(format!("send failed: {e}")),
                            );
                        }
                    }
                    Output::Close { conn } => {
                        if connecting.as_ref().is_some_and(|(c, _)| *c == conn) {
                            connecting = None;
                        }
                        if socket.as_ref().is_some_and(|(c, _)| *c == conn) {
                            if let Some((_, ws)) = socket.take() {
                                closing.retain(|task| !task.is_finished());
                                closing.push(tokio::spawn(close(ws)));
                            }
                        }
                    }
                    Output::Event(e) => {
                        tracing::debug!(event = ?e, "event");
                        let _ = events.send(e);
                    }
                    Output::Media(command) => media.handle(command),
                    Output::BroadcastDone { .. } => {}
                }
            }
        }

        let deadline = shared.lock().session.poll_timeout();
        let wake = tokio::select! {
            _ = shared.wake.notified() => Wake::Command,
            Some(fact) = facts.recv() => Wake::Media(fact),
            r = async {
                match connecting.as_mut() {
                    Some((conn, f)) => (*conn, f.await),
                    None => std::future::pending().await,
                }
            } => Wake::Connected(r.0, r.1.map(Box::new)),
            m = async {
                match socket.as_mut() {
                    Some((conn, ws)) => (*conn, ws.next().await.map(|r| r.map_err(|e| e.to_string()))),
                    None => std::future::pending().await,
                }
            } => Wake::Socket(m.0, m.1),
            _ = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
                    None => std::future::pending().await,
                }
            } => Wake::Timer,
        };

        let now = Instant::now();
        match wake {
            Wake::Command => {}
            Wake::Media(Fact::Event(e)) => shared.lock().session.emit(e),
            Wake::Media(Fact::Media {
                stream_id,
                role,
                fact,
            }) => shared
                .lock()
                .session
                .handle_media(now, &stream_id, role, fact),
            Wake::Timer => shared.lock().session.handle_timeout(now),
            Wake::Connected(conn, result) => {
                connecting = None;
                let input = match result {
                    Ok(ws) => {
                        if let Some((_, old)) = socket.replace((conn, *ws)) {
                            drop(old);
                        }
                        Transport::Opened
                    }
                    Err(e) => match crate::room::tls::fatal_connect_error(&e) {
                        Some(code) => Transport::Refused(code, e.to_string()),
                        None => Transport::Closed(format!("connect failed: {e}")),
                    },
                };
                shared.lock().session.handle_transport(now, conn, input);
            }
            Wake::Socket(conn, msg) => {
                let input = match msg {
                    Some(Ok(Message::Text(text))) => match ServerMessage::decode(text.as_str()) {
                        Ok(m) => Some(Transport::Message(m)),
                        Err(e) => Some(Transport::Malformed(e.to_string())),
                    },
                    Some(Ok(Message::Binary(_))) => {
                        Some(Transport::Malformed("binary frame".to_owned()))
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => None,
                    Some(Ok(Message::Close(frame))) => {
                        socket = None;
                        Some(Transport::Closed(format!("closed by server: {frame:?}")))
                    }
                    Some(Err(e)) => {
                        socket = None;
                        Some(Transport::Closed(e))
                    }
                    None => {
                        socket = None;
                        Some(Transport::Closed("connection ended".to_owned()))
                    }
                };
                if let Some(input) = input {
                    shared.lock().session.handle_transport(now, conn, input);
                }
            }
        }
    }
}

/// The most queued media events a destroy still delivers: the queue is
/// drained once, not waited on, so a pipeline that keeps reporting cannot
/// hold the destroy.
const FLUSH_LIMIT: usize = 1024;

/// Delivers the events the media side queued before it was shut down (a
/// device error, a last quality report) so the event channel does not close
/// over them; facts about streams no longer matter.
fn flush_facts(facts: &mut mpsc::UnboundedReceiver<Fact>, events: &mpsc::UnboundedSender<Event>) {
    for _ in 0..FLUSH_LIMIT {
        match facts.try_recv() {
            Ok(Fact::Event(e)) => {
                let _ = events.send(e);
            }
            Ok(Fact::Media { .. }) => {}
            Err(_) => break,
        }
    }
}

/// Closes a socket: sends our close frame, then reads (and drops) what the
/// server still sends until its own close frame, bounded in time. Dropping
/// the socket at once, with the server's last messages unread, would reset
/// the connection: the server's next write to it fails, possibly before it
/// has read the `Logout` just sent.
async fn close(mut ws: Ws) {
    match tokio::time::timeout(CLOSE_TIMEOUT, ws.close(None)).await {
        Ok(Ok(())) => {}
        Ok(Err(_)) | Err(_) => return,
    }
    let _ = tokio::time::timeout(CLOSE_DRAIN, async {
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
}
