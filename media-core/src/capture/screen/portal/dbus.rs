//! The thin D-Bus layer: makes the calls [`Negotiation`] asks for through
//! ashpd (zbus on tokio) and feeds it the answers, and watches the session's
//! `Closed` signal for as long as the share lasts.

use super::gone::Gone;
use super::negotiation::{
    Negotiated, Negotiation, Next, PersistMode, PortalCall, PortalInfo, PortalReply, PortalStream,
    SelectSources, ShareRequest, Started,
};
use super::PortalError;
use ashpd::desktop::screencast::{CursorMode, Screencast, SelectSourcesOptions, SourceType};
use ashpd::desktop::{PersistMode as WirePersistMode, ResponseError, Session};
use ashpd::enumflags2::BitFlags;
use futures_util::StreamExt;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use tokio::sync::watch;

/// A started portal session: what was negotiated, and a task that marks
/// the source gone on the session's `Closed` signal.
pub(super) struct PortalSession {
    pub(super) negotiated: Negotiated,
    session: Arc<Session<Screencast>>,
    watcher: tokio::task::JoinHandle<()>,
    /// `close` ran: nothing left to do on drop.
    closed: bool,
}

impl std::fmt::Debug for PortalSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortalSession")
            .field("negotiated", &self.negotiated)
            .finish_non_exhaustive()
    }
}

impl PortalSession {
    /// Runs the handshake for `request` on `connection` (`None`: the session
    /// bus) and returns the session with its PipeWire remote; once started,
    /// the session's `Closed` signal marks `gone`.
    pub(super) async fn open(
        connection: Option<ashpd::zbus::Connection>,
        request: ShareRequest,
        gone: Gone,
    ) -> Result<(PortalSession, OwnedFd), PortalError> {
        let portal = match connection {
            Some(connection) => Screencast::with_connection(connection).await,
            None => Screencast::new().await,
        }
        .map_err(|e| PortalError::Unavailable(e.to_string()))?;
        let info = portal_info(&portal).await;
        let (mut negotiation, first) = Negotiation::new(request, info)?;
        debug_assert_eq!(first, PortalCall::CreateSession);
        let session = match portal.create_session(Default::default()).await {
            Ok(session) => Arc::new(session),
            Err(e) => {
                let reply = reply_of(Err::<(), _>(e));
                return Err(negotiation
                    .handle(reply)
                    .err()
                    .unwrap_or(PortalError::OutOfOrder));
            }
        };
        let (closed_tx, mut closed) = watch::channel(false);
        let watcher = tokio::spawn(watch_closed(session.clone(), closed_tx, gone));
        let mut next = negotiation.handle(PortalReply::Response {
            code: 0,
            started: None,
        });
        let mut remote = None;
        let negotiated = loop {
            let call = match next {
                Ok(Next::Call(call)) => call,
                Ok(Next::Done(negotiated)) => break Ok(negotiated),
                Err(e) => break Err(e),
            };
            let reply = tokio::select! {
                reply = make_call(&portal, &session, &call, &mut remote) => reply,
                _ = closed.wait_for(|&c| c) => PortalReply::SessionClosed,
            };
            next = negotiation.handle(reply);
        };
        let close_on_error = |e: PortalError| {
            watcher.abort();
            tokio::spawn(close_session(session.clone()));
            e
        };
        let negotiated = negotiated.map_err(&close_on_error)?;
        let remote = remote.ok_or_else(|| close_on_error(PortalError::OutOfOrder))?;
        Ok((
            PortalSession {
                negotiated,
                session,
                watcher,
                closed: false,
            },
            remote,
        ))
    }

    /// Ends the session (the compositor stops the stream and its
    /// "sharing" indicator).
    pub(super) async fn close(mut self) {
        self.closed = true;
        self.watcher.abort();
        close_session(self.session.clone()).await;
    }
}

impl Drop for PortalSession {
    /// A session dropped without [`close`](Self::close) is closed on the
    /// runtime it was dropped on, if any: the portal's session lives as long
    /// as the bus connection, which outlives the capture.
    fn drop(&mut self) {
        self.watcher.abort();
        if !self.closed {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(close_session(self.session.clone()));
            }
        }
    }
}

/// Calls the session's `Close`; an error (already closed) is only logged.
async fn close_session(session: Arc<Session<Screencast>>) {
    if let Err(e) = session.close().await {
        tracing::debug!("closing the portal session: {e}");
    }
}

/// Waits for the session's `Closed` signal; then says so to the handshake
/// (`closed`) and marks the source gone.
async fn watch_closed(session: Arc<Session<Screencast>>, closed: watch::Sender<bool>, gone: Gone) {
    match session.receive_closed().await {
        Ok(mut signals) => {
            if signals.next().await.is_some() {
                closed.send_replace(true);
                gone.mark("the portal session was closed");
            }
        }
        Err(e) => tracing::warn!("cannot watch the portal session: {e}"),
    }
}

/// The portal's version and available source types and cursor modes (0
/// where it does not say).
async fn portal_info(portal: &Screencast) -> PortalInfo {
    let version = portal.version();
    let source_types = portal
        .available_source_types()
        .await
        .map(|t| t.bits())
        .unwrap_or(0);
    let cursor_modes = portal
        .available_cursor_modes()
        .await
        .map(|m| m.bits())
        .unwrap_or(0);
    PortalInfo {
        version,
        source_types,
        cursor_modes,
    }
}

/// Makes `call` and turns its outcome into a reply; the PipeWire remote's
/// descriptor lands in `remote`.
async fn make_call(
    portal: &Screencast,
    session: &Session<Screencast>,
    call: &PortalCall,
    remote: &mut Option<OwnedFd>,
) -> PortalReply {
    match call {
        // Made before the loop: the session object is needed to watch it.
        PortalCall::CreateSession => PortalReply::CallFailed {
            detail: "CreateSession asked twice".into(),
        },
        PortalCall::SelectSources(select) => {
            let sent = portal.select_sources(session, select_options(select)).await;
            reply_of(sent.and_then(|request| request.response()))
        }
        PortalCall::Start => {
            let sent = portal.start(session, None, Default::default()).await;
            match sent.and_then(|request| request.response()) {
                Ok(streams) => PortalReply::Response {
                    code: 0,
                    started: Some(Started {
                        streams: streams
                            .streams()
                            .iter()
                            .map(|s| PortalStream {
                                node_id: s.pipe_wire_node_id(),
                                size: s.size(),
                                source_type: s.source_type().map(|t| t as u32),
                            })
                            .collect(),
                        restore_token: streams.restore_token().map(str::to_owned),
                    }),
                },
                Err(e) => reply_of(Err::<(), _>(e)),
            }
        }
        PortalCall::OpenPipeWireRemote => {
            match portal
                .open_pipe_wire_remote(session, Default::default())
                .await
            {
                Ok(fd) => {
                    *remote = Some(fd);
                    PortalReply::RemoteOpened
                }
                Err(e) => reply_of(Err::<(), _>(e)),
            }
        }
    }
}

/// A request's outcome as the handshake reads it: the `Response` codes 0,
/// 1 (cancelled) and 2 (other), or the D-Bus error.
fn reply_of<T>(outcome: Result<T, ashpd::Error>) -> PortalReply {
    match outcome {
        Ok(_) => PortalReply::Response {
            code: 0,
            started: None,
        },
        Err(ashpd::Error::Response(ResponseError::Cancelled)) => PortalReply::Response {
            code: 1,
            started: None,
        },
        Err(ashpd::Error::Response(ResponseError::Other)) => PortalReply::Response {
            code: 2,
            started: None,
        },
        Err(e) => PortalReply::CallFailed {
            detail: e.to_string(),
        },
    }
}

/// `SelectSources` options on the wire.
fn select_options(select: &SelectSources) -> SelectSourcesOptions {
    let cursor_mode = select.cursor_mode.and_then(|mode| {
        BitFlags::<CursorMode>::from_bits(mode)
            .ok()
            .and_then(|modes| modes.iter().next())
    });
    let persist_mode = select.persist_mode.map(|mode| match mode {
        PersistMode::DoNot => WirePersistMode::DoNot,
        PersistMode::Application => WirePersistMode::Application,
        PersistMode::UntilRevoked => WirePersistMode::ExplicitlyRevoked,
    });
    SelectSourcesOptions::default()
        .set_sources(BitFlags::<SourceType>::from_bits_truncate(select.types))
        .set_multiple(select.multiple)
        .set_cursor_mode(cursor_mode)
        .set_persist_mode(persist_mode)
        .set_restore_token(select.restore_token.as_deref())
}
