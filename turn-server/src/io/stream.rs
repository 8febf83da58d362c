//! TCP and TLS-over-TCP clients: accept under a connection cap, frame
//! STUN and ChannelData by their length fields, close on garbage, on idle
//! without an allocation, and on a client that stops reading.

use super::{stopped, Input};
use crate::server::{FiveTuple, Transport};
use crate::stats::{bump, Stats};
use crate::wire::{stream_frame, Frame};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::{sleep_until, timeout, Instant};
use tokio_rustls::TlsAcceptor;

/// Messages queued for one connection before more are dropped.
const OUTGOING_QUEUE: usize = 256;

/// What every connection task needs.
#[derive(Clone)]
pub(super) struct Context {
    pub(super) local: SocketAddr,
    pub(super) inputs: mpsc::Sender<Input>,
    pub(super) shutdown: watch::Receiver<bool>,
    pub(super) limit: Arc<Semaphore>,
    pub(super) idle: Duration,
    pub(super) stats: Arc<Stats>,
}

/// Accepts connections until shutdown; over the cap they are closed at once.
pub(super) async fn accept(listener: TcpListener, tls: Option<TlsAcceptor>, context: Context) {
    let mut shutdown = context.shutdown.clone();
    loop {
        tokio::select! {
            _ = stopped(&mut shutdown) => return,
            accepted = listener.accept() => {
                let (tcp, client) = match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors and the like: back off
                        // instead of spinning.
                        tracing::warn!(%error, "TURN accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Ok(permit) = Arc::clone(&context.limit).try_acquire_owned() else {
                    bump(&context.stats.stream_connections_refused);
                    drop(tcp);
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                tokio::spawn(connection(tcp, client, tls.clone(), context.clone(), permit));
            }
        }
    }
}

/// Counts a connection while it lives.
struct Open(Arc<Stats>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.stream_connections.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn connection(
    tcp: TcpStream,
    client: SocketAddr,
    tls: Option<TlsAcceptor>,
    context: Context,
    _permit: OwnedSemaphorePermit,
) {
    bump(&context.stats.stream_connections);
    let _open = Open(Arc::clone(&context.stats));
    let (transport, deadline) = (
        if tls.is_some() {
            Transport::Tls
        } else {
            Transport::Tcp
        },
        context.idle,
    );
    let from = FiveTuple {
        client,
        server: context.local,
        transport,
    };
    match tls {
        Some(acceptor) => {
            // The handshake is bounded by the idle timeout too.
            if let Ok(Ok(stream)) = timeout(deadline, acceptor.accept(tcp)).await {
                serve(stream, from, context).await;
            }
        }
        None => serve(tcp, from, context).await,
    }
}

async fn serve<S>(stream: S, from: FiveTuple, context: Context)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (tx, mut outgoing) = mpsc::channel::<Vec<u8>>(OUTGOING_QUEUE);
    let has_allocation = Arc::new(AtomicBool::new(false));
    let opened = Input::StreamOpened {
        from,
        tx,
        has_allocation: Arc::clone(&has_allocation),
    };
    if context.inputs.send(opened).await.is_err() {
        return;
    }
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut shutdown = context.shutdown.clone();
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 16 * 1024];
    let mut idle_deadline = Instant::now() + context.idle;
    'serve: loop {
        tokio::select! {
            _ = stopped(&mut shutdown) => break,
            out = outgoing.recv() => {
                // `None`: the driver dropped us (garbage, or shutdown).
                let Some(data) = out else { break };
                // A client that stops reading is cut off instead of
                // holding the task forever.
                match timeout(context.idle, writer.write_all(&data)).await {
                    Ok(Ok(())) => {}
                    _ => break,
                }
            }
            read = reader.read(&mut chunk) => {
                let n = match read {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
                loop {
                    match stream_frame(&buf) {
                        Frame::Incomplete => break,
                        Frame::Invalid => {
                            bump(&context.stats.malformed);
                            break 'serve;
                        }
                        Frame::Complete(len) => {
                            let data: Vec<u8> = buf.drain(..len).collect();
                            idle_deadline = Instant::now() + context.idle;
                            if context.inputs.send(Input::Client { from, data }).await.is_err() {
                                break 'serve;
                            }
                        }
                    }
                }
            }
            _ = sleep_until(idle_deadline), if !has_allocation.load(Ordering::Relaxed) => break,
        }
    }
    let _ = context.inputs.send(Input::StreamClosed { from }).await;
    let _ = timeout(Duration::from_secs(1), writer.shutdown()).await;
}
