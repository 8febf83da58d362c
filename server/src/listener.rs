//! The accept loop: every TCP connection passes the [`Gate`](crate::gate::Gate) before a byte
//! of HTTP is read, then is served by hyper (HTTP/1.1 with upgrades) with a
//! header-read timeout and an idle timeout until it upgrades to a WebSocket.
//!
//! Refused connections get a `503`/`429` with the typed error as JSON and
//! are closed at once. A connection the server closes itself lingers: it
//! half-closes and reads what the peer still sends (bounded), so the last
//! thing written (a typed error, a close frame) is not lost to a TCP reset.

use crate::gate::{Admitted, Control, Cut, Refused, Ticket};
use crate::state::{shutdown_begun, ServerState};
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use protocol::ErrorCode;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// Pause after a failed `accept` (out of file descriptors): retrying at
/// once would spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);
/// Accepted sockets waiting for an evicted connection's slot, at most; past
/// this a newcomer is refused at once. Admission runs beside the accept loop
/// so the loop never waits (a stalled loop overflows the kernel's accept
/// queue, and the handshakes it drops are sockets nobody can close).
const ADMITTING_MAX: usize = 64;
/// A lingering close reads for at most this long in all...
const LINGER_TOTAL: Duration = Duration::from_secs(2);
/// ...gives up after this long without data...
const LINGER_IDLE: Duration = Duration::from_millis(500);
/// ...and reads at most this much.
const LINGER_MAX_BYTES: usize = 1 << 20;

/// The timeouts of connections that have not upgraded.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HttpTimeouts {
    /// Request headers must arrive within this.
    pub header_read: Duration,
    /// Bytes must move at least this often.
    pub idle: Duration,
}

/// Accepts connections on `listener` until shutdown begins, serving each
/// admitted one with `router`.
/// With `tls`, every connection must start with a TLS handshake (https and
/// wss on the same port); a plain HTTP request gets a `400` with
/// `PlainToTlsPort`.
pub(crate) async fn run(
    listener: TcpListener,
    router: Router,
    state: ServerState,
    tls: Option<TlsAcceptor>,
) {
    let gate = Arc::clone(state.gate());
    let config = state.config();
    let timeouts = HttpTimeouts {
        header_read: Duration::from_millis(config.header_read_timeout_ms),
        idle: Duration::from_millis(config.http_idle_timeout_ms),
    };
    let mut shutdown = state.shutdown_signal();
    let mut last_error_log: Option<Instant> = None;
    let admitting = Arc::new(Semaphore::new(ADMITTING_MAX));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown_begun(&mut shutdown) => break,
        };
        let (tcp, peer) = match accepted {
            Ok(conn) => conn,
            Err(error) => {
                gate.count_accept_error();
                if last_error_log.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                    tracing::error!(%error, "accept failed");
                    last_error_log = Some(Instant::now());
                }
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        let Ok(admitting) = Arc::clone(&admitting).try_acquire_owned() else {
            refuse(&tcp, gate.refuse(Refused::Full));
            continue;
        };
        let (gate, router, state, tls) = (
            Arc::clone(&gate),
            router.clone(),
            state.clone(),
            tls.clone(),
        );
        tokio::spawn(async move {
            let admitted = gate.admit(peer, Instant::now()).await;
            drop(admitting);
            let ticket = match admitted {
                Ok(ticket) => ticket,
                Err(why) => return refuse(&tcp, why),
            };
            let _ = tcp.set_nodelay(true);
            let admitted = ticket.admitted();
            let control = Arc::clone(admitted.control());
            let stream = GatedStream::new(tcp, ticket);
            let Some(acceptor) = tls else {
                return serve_http(stream, admitted, router, state, timeouts).await;
            };
            // Until the handshake is done there is nothing to flush: a
            // failed or stalled one closes at once, without lingering.
            control.close_abortively();
            match tokio::time::timeout(timeouts.header_read, start_tls(stream, &acceptor)).await {
                Ok(Ok(tls)) => {
                    control.close_gracefully();
                    serve_http(tls, admitted, router, state, timeouts).await;
                }
                Ok(Err(Some(plain))) => {
                    // The answer must be read: linger after it.
                    control.close_gracefully();
                    answer_plain_on_tls_port(plain).await;
                }
                Ok(Err(None)) | Err(_) => {
                    control.close_abortively();
                    gate.count_cut(Cut::TlsHandshake);
                    tracing::debug!(peer = %control.peer(), "TLS handshake failed or timed out");
                }
            }
        });
    }
}

/// The TLS record type a handshake starts with.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// Starts TLS on an admitted connection. `Err(Some(stream))`: the client
/// spoke plain HTTP (answer it); `Err(None)`: the handshake failed.
async fn start_tls(
    stream: GatedStream,
    acceptor: &TlsAcceptor,
) -> Result<TlsStream<GatedStream>, Option<GatedStream>> {
    let mut first = [0u8; 1];
    match stream.peek(&mut first).await {
        Ok(1) if first[0] == TLS_HANDSHAKE_RECORD => {}
        Ok(1) => return Err(Some(stream)),
        _ => return Err(None),
    }
    acceptor.accept(stream).await.map_err(|error| {
        tracing::debug!(%error, "TLS handshake failed");
        None
    })
}

/// A plain HTTP request on the TLS port: `400` with `PlainToTlsPort`, so a
/// `ws://` client learns to use `wss://` (the socket then lingers so the
/// answer is read, not reset).
async fn answer_plain_on_tls_port(mut stream: GatedStream) {
    let response = error_response("400 Bad Request", ErrorCode::PlainToTlsPort);
    let _ = stream.write_all(response.as_bytes()).await;
}

/// Serves one admitted connection until it closes or upgrades (the
/// WebSocket then owns the socket, and the ticket with it).
async fn serve_http<S>(
    stream: S,
    admitted: Admitted,
    router: Router,
    state: ServerState,
    timeouts: HttpTimeouts,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let control = Arc::clone(admitted.control());
    let gate = Arc::clone(state.gate());
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(admitted.clone());
        request
            .extensions_mut()
            .insert(ConnectInfo(admitted.peer()));
        let mut router = router.clone();
        async move { tower_service::Service::call(&mut router, request).await }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(timeouts.header_read)
        .max_buf_size(64 * 1024);
    let conn = builder
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(conn);
    let mut shutdown = state.shutdown_signal();
    let mut draining = false;
    loop {
        tokio::select! {
            served = conn.as_mut() => {
                if let Err(error) = served {
                    if error.is_timeout() {
                        control.close_abortively();
                        gate.count_cut(Cut::HeaderTimeout);
                        tracing::debug!(peer = %control.peer(), "request headers timed out");
                    } else {
                        tracing::debug!(peer = %control.peer(), %error, "http connection failed");
                    }
                }
                break;
            }
            () = idle_elapsed(&control, timeouts.idle) => {
                control.close_abortively();
                gate.count_cut(Cut::IdleTimeout);
                tracing::debug!(peer = %control.peer(), "idle http connection closed");
                break;
            }
            () = control.evicted() => break,
            () = shutdown_begun(&mut shutdown), if !draining => {
                conn.as_mut().graceful_shutdown();
                draining = true;
            }
        }
    }
}

/// Resolves once no bytes moved on the connection for `idle`.
async fn idle_elapsed(control: &Control, idle: Duration) {
    loop {
        let deadline = control.last_activity() + idle;
        if Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep_until(deadline.into()).await;
    }
}

/// Answers a refused connection without reading it: the typed error as
/// JSON, then close.
fn refuse(tcp: &TcpStream, why: Refused) {
    let status = match why {
        Refused::Full => "503 Service Unavailable",
        Refused::PerSource => "429 Too Many Requests",
    };
    let response = error_response(status, ErrorCode::TooManyConnections);
    // A fresh socket's send buffer takes this whole; if not, the client
    // sees only the close.
    let _ = tcp.try_write(response.as_bytes());
    tracing::debug!(reason = why.label(), "connection refused");
}

/// A whole HTTP/1.1 response closing the connection, with the typed error
/// (`{code, name, message}`, as the web API's errors) as its body.
fn error_response(status: &str, code: ErrorCode) -> String {
    let body = serde_json::json!({
        "code": code.code(),
        "name": code.name(),
        "message": code.message(),
    })
    .to_string();
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// A TCP stream that holds its [`Ticket`], records when bytes move, and
/// closes by lingering (unless the close is abortive).
#[derive(Debug)]
pub(crate) struct GatedStream {
    tcp: Option<TcpStream>,
    ticket: Option<Ticket>,
}

impl GatedStream {
    /// Wraps an admitted socket.
    pub(crate) fn new(tcp: TcpStream, ticket: Ticket) -> Self {
        GatedStream {
            tcp: Some(tcp),
            ticket: Some(ticket),
        }
    }

    /// Looks at the first bytes without taking them.
    pub(crate) async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        match &self.tcp {
            Some(tcp) => tcp.peek(buf).await,
            None => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    fn parts(&mut self) -> io::Result<(&mut TcpStream, &Ticket)> {
        match (self.tcp.as_mut(), self.ticket.as_ref()) {
            (Some(tcp), Some(ticket)) => Ok((tcp, ticket)),
            _ => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    /// Polls `write` on the socket; bytes written count as activity.
    fn write_with(
        self: Pin<&mut Self>,
        write: impl FnOnce(Pin<&mut TcpStream>) -> Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        let (tcp, ticket) = self.get_mut().parts()?;
        let polled = write(Pin::new(tcp));
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            ticket.control().touch();
        }
        polled
    }
}

impl AsyncRead for GatedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let (tcp, ticket) = self.get_mut().parts()?;
        let before = buf.filled().len();
        let polled = Pin::new(tcp).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            ticket.control().touch();
        }
        polled
    }
}

impl AsyncWrite for GatedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.write_with(|tcp| tcp.poll_write(cx, data))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.write_with(|tcp| tcp.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.as_ref().is_some_and(TcpStream::is_write_vectored)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let (tcp, _) = self.get_mut().parts()?;
        Pin::new(tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let (tcp, _) = self.get_mut().parts()?;
        Pin::new(tcp).poll_shutdown(cx)
    }
}

impl Drop for GatedStream {
    fn drop(&mut self) {
        let (Some(tcp), Some(ticket)) = (self.tcp.take(), self.ticket.take()) else {
            return;
        };
        if ticket.control().is_abortive() {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(linger(tcp, ticket));
        }
    }
}

/// Half-closes `tcp` and reads what the peer still sends until it closes
/// too (bounded in time and bytes), so what we wrote last reaches it
/// instead of being cut by a reset. The ticket is held until the end: the
/// socket still counts.
async fn linger(mut tcp: TcpStream, ticket: Ticket) {
    let _ = tcp.shutdown().await;
    let deadline = tokio::time::Instant::now() + LINGER_TOTAL;
    let mut buf = [0u8; 4096];
    let mut total = 0usize;
    while total < LINGER_MAX_BYTES {
        let until = deadline.min(tokio::time::Instant::now() + LINGER_IDLE);
        match tokio::time::timeout_at(until, tcp.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => total += n,
            _ => break,
        }
    }
    drop(ticket);
}

/// How many connections fit under the process's open-file limit: raises
/// the soft limit to the hard one first, then keeps a quarter of it (at
/// least 64, at most 4096) for everything else (media sockets, files).
pub(crate) fn fit_to_fd_limit(wanted: usize) -> usize {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    let mut soft = limit.current;
    if limit.current < limit.maximum {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            soft = limit.maximum;
        }
    }
    let Some(soft) = soft.and_then(|s| usize::try_from(s).ok()) else {
        return wanted;
    };
    let reserve = (soft / 4).clamp(64, 4096);
    let fit = soft.saturating_sub(reserve).max(1);
    if fit < wanted {
        tracing::warn!(
            wanted,
            fit,
            open_file_limit = soft,
            "max_connections lowered to fit the open-file limit (raise it with ulimit -n)"
        );
    }
    wanted.min(fit)
}
