//! The ScreenCast portal's handshake as a sans-IO state machine:
//! `CreateSession` -> `SelectSources(types, cursor_mode, persist_mode,
//! restore_token)` -> `Start` -> `OpenPipeWireRemote`.
//!
//! [`Negotiation`] says which call to make next ([`PortalCall`]) and reads
//! each answer ([`PortalReply`]): a request's `Response` signal code (0
//! success, 1 cancelled by the user, 2 ended some other way), a D-Bus error,
//! or the session's `Closed` signal. It never talks to D-Bus itself: the
//! D-Bus layer (`portal/dbus.rs`, over ashpd) makes the calls it asks for.
//!
//! What it decides: the source types asked for, limited to those the portal
//! offers; the cursor drawn into the picture when the portal can
//! (`Embedded`), else left out; persistence and the restore token only from
//! interface version 4, where they exist. A restore token is good for one
//! session: the token `Start` answers with replaces the one passed in.

use super::PortalError;

/// `AvailableSourceTypes` / `types` bit: a monitor.
pub const SOURCE_MONITOR: u32 = 1;
/// `AvailableSourceTypes` / `types` bit: one window.
pub const SOURCE_WINDOW: u32 = 2;
/// `AvailableSourceTypes` / `types` bit: a virtual screen.
pub const SOURCE_VIRTUAL: u32 = 4;

/// `AvailableCursorModes` / `cursor_mode` bit: no cursor in the stream.
pub const CURSOR_HIDDEN: u32 = 1;
/// `AvailableCursorModes` / `cursor_mode` bit: the cursor drawn into the
/// picture.
pub const CURSOR_EMBEDDED: u32 = 2;
/// `AvailableCursorModes` / `cursor_mode` bit: the cursor as stream metadata.
pub const CURSOR_METADATA: u32 = 4;

/// The first ScreenCast interface version with `cursor_mode`.
const CURSOR_MODE_VERSION: u32 = 2;
/// The first ScreenCast interface version with `persist_mode` and
/// `restore_token`.
const PERSIST_VERSION: u32 = 4;

/// How long the portal may remember what the user picked, so that a later
/// share with the restore token does not ask again (`persist_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PersistMode {
    /// Ask every time (0).
    DoNot,
    /// Remember while the application runs (1).
    Application,
    /// Remember until the user revokes it (2).
    #[default]
    UntilRevoked,
}

impl PersistMode {
    /// The value on the wire.
    pub fn as_u32(self) -> u32 {
        match self {
            PersistMode::DoNot => 0,
            PersistMode::Application => 1,
            PersistMode::UntilRevoked => 2,
        }
    }
}

/// What the application asks the portal for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ShareRequest {
    /// Source types the user may pick from ([`SOURCE_MONITOR`],
    /// [`SOURCE_WINDOW`], [`SOURCE_VIRTUAL`] bits).
    pub types: u32,
    /// Whether the cursor should be drawn into the picture.
    pub cursor: bool,
    /// How long the portal may remember the choice.
    pub persist: PersistMode,
    /// The token an earlier share answered with: the portal restores that
    /// choice without asking (when it still can).
    pub restore_token: Option<String>,
}

impl Default for ShareRequest {
    /// A monitor or a window, cursor drawn, remembered until revoked, no
    /// token yet.
    fn default() -> Self {
        ShareRequest {
            types: SOURCE_MONITOR | SOURCE_WINDOW,
            cursor: true,
            persist: PersistMode::UntilRevoked,
            restore_token: None,
        }
    }
}

/// What the portal says about itself before a session: its interface
/// version and the `AvailableSourceTypes` / `AvailableCursorModes`
/// properties (0 where it has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortalInfo {
    /// The ScreenCast interface's `version` property.
    pub version: u32,
    /// `AvailableSourceTypes` bits.
    pub source_types: u32,
    /// `AvailableCursorModes` bits (version 2 and later).
    pub cursor_modes: u32,
}

/// The options of a `SelectSources` call.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SelectSources {
    /// `types`: the source type bits the user may pick from.
    pub types: u32,
    /// `multiple`: always one source.
    pub multiple: bool,
    /// `cursor_mode`, left out before version 2.
    pub cursor_mode: Option<u32>,
    /// `persist_mode`, left out before version 4.
    pub persist_mode: Option<PersistMode>,
    /// `restore_token`, left out before version 4 or when there is none.
    pub restore_token: Option<String>,
}

/// The call to make next.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PortalCall {
    /// `CreateSession` (a request: answered by a `Response`).
    CreateSession,
    /// `SelectSources` on the session (a request).
    SelectSources(SelectSources),
    /// `Start` on the session (a request; the portal shows its dialog unless
    /// it restores an earlier choice).
    Start,
    /// `OpenPipeWireRemote` on the session (a plain method returning a file
    /// descriptor).
    OpenPipeWireRemote,
}

impl PortalCall {
    /// The D-Bus method's name.
    pub fn method(&self) -> &'static str {
        match self {
            PortalCall::CreateSession => "CreateSession",
            PortalCall::SelectSources(_) => "SelectSources",
            PortalCall::Start => "Start",
            PortalCall::OpenPipeWireRemote => "OpenPipeWireRemote",
        }
    }
}

/// One stream of a started session, from `Start`'s `streams` result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortalStream {
    /// The PipeWire node to connect to.
    pub node_id: u32,
    /// Its size in the compositor's coordinates, when the portal says.
    pub size: Option<(i32, i32)>,
    /// Its source type bit, when the portal says.
    pub source_type: Option<u32>,
}

/// The results of a successful `Start`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Started {
    /// The streams the user picked (one: `multiple` is false).
    pub streams: Vec<PortalStream>,
    /// The token that restores this choice next time (version 4, when
    /// persistence was asked for).
    pub restore_token: Option<String>,
}

/// An answer to the last [`PortalCall`], or a signal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PortalReply {
    /// The request's `Response` signal: `code` 0 success, 1 the user
    /// cancelled, 2 the interaction ended some other way. `started` holds
    /// `Start`'s results on success.
    Response {
        /// The response code.
        code: u32,
        /// `Start`'s results (success only).
        started: Option<Started>,
    },
    /// `OpenPipeWireRemote` returned a file descriptor.
    RemoteOpened,
    /// The call itself failed with a D-Bus error.
    CallFailed {
        /// The D-Bus error.
        detail: String,
    },
    /// The session's `Closed` signal: the portal (or the user, from the
    /// compositor's "stop sharing") ended it.
    SessionClosed,
}

/// What to do after a reply.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Next {
    /// Make this call.
    Call(PortalCall),
    /// The handshake is done: connect to this stream.
    Done(Negotiated),
}

/// The outcome of a successful handshake.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Negotiated {
    /// The stream to capture.
    pub stream: PortalStream,
    /// The token for the next share (store it; it replaces the one used).
    pub restore_token: Option<String>,
}

/// Where the handshake is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Step {
    /// `CreateSession` is out.
    CreatingSession,
    /// `SelectSources` is out.
    SelectingSources,
    /// `Start` is out.
    Starting,
    /// `OpenPipeWireRemote` is out, for this outcome.
    OpeningRemote(Negotiated),
    /// Done or failed: nothing more to ask.
    Finished,
}

/// The ScreenCast handshake for one share.
#[derive(Debug, Clone)]
pub struct Negotiation {
    select: SelectSources,
    step: Step,
}

impl Negotiation {
    /// Plans the handshake for `request` on a portal that says `portal`, and
    /// returns the first call (`CreateSession`). Fails when the portal
    /// offers none of the source types asked for.
    pub fn new(
        request: ShareRequest,
        portal: PortalInfo,
    ) -> Result<(Self, PortalCall), PortalError> {
        let types = request.types & portal.source_types;
        if types == 0 {
            return Err(PortalError::Unsupported(format!(
                "source types {:#x} asked, the portal offers {:#x}",
                request.types, portal.source_types
            )));
        }
        let cursor_mode = (portal.version >= CURSOR_MODE_VERSION).then(|| {
            let wanted = if request.cursor {
                CURSOR_EMBEDDED
            } else {
                CURSOR_HIDDEN
            };
            if portal.cursor_modes & wanted != 0 {
                wanted
            } else if portal.cursor_modes & CURSOR_HIDDEN != 0 {
                CURSOR_HIDDEN
            } else {
                // Whatever the portal offers first (metadata: no cursor
                // drawn by us yet).
                portal.cursor_modes & portal.cursor_modes.wrapping_neg()
            }
        });
        let cursor_mode = cursor_mode.filter(|&mode| mode != 0);
        let persists = portal.version >= PERSIST_VERSION;
        let select = SelectSources {
            types,
            multiple: false,
            cursor_mode,
            persist_mode: persists.then_some(request.persist),
            restore_token: request
                .restore_token
                .filter(|token| persists && !token.is_empty()),
        };
        Ok((
            Negotiation {
                select,
                step: Step::CreatingSession,
            },
            PortalCall::CreateSession,
        ))
    }

    /// The `SelectSources` options this handshake sends.
    pub fn select_sources(&self) -> &SelectSources {
        &self.select
    }

    /// Reads the answer to the last call (or a signal) and says what comes
    /// next. After an error or [`Next::Done`] the handshake is over and
    /// every further reply is [`PortalError::OutOfOrder`].
    pub fn handle(&mut self, reply: PortalReply) -> Result<Next, PortalError> {
        let step = std::mem::replace(&mut self.step, Step::Finished);
        let method = match &step {
            Step::CreatingSession => "CreateSession",
            Step::SelectingSources => "SelectSources",
            Step::Starting => "Start",
            Step::OpeningRemote(_) => "OpenPipeWireRemote",
            Step::Finished => return Err(PortalError::OutOfOrder),
        };
        let started = match reply {
            PortalReply::SessionClosed => return Err(PortalError::SessionClosed),
            PortalReply::CallFailed { detail } => return Err(PortalError::Call { method, detail }),
            PortalReply::Response { code: 0, started } => started,
            PortalReply::Response { code: 1, .. } => return Err(PortalError::PermissionDenied),
            PortalReply::Response { code, .. } => return Err(PortalError::Ended { method, code }),
            PortalReply::RemoteOpened => {
                return match step {
                    Step::OpeningRemote(negotiated) => Ok(Next::Done(negotiated)),
                    _ => Err(PortalError::OutOfOrder),
                }
            }
        };
        let next = match step {
            Step::CreatingSession => {
                self.step = Step::SelectingSources;
                PortalCall::SelectSources(self.select.clone())
            }
            Step::SelectingSources => {
                self.step = Step::Starting;
                PortalCall::Start
            }
            Step::Starting => {
                let started = started.unwrap_or_default();
                let stream = *started.streams.first().ok_or(PortalError::NoStream)?;
                self.step = Step::OpeningRemote(Negotiated {
                    stream,
                    restore_token: started.restore_token.filter(|token| !token.is_empty()),
                });
                PortalCall::OpenPipeWireRemote
            }
            Step::OpeningRemote(_) | Step::Finished => return Err(PortalError::OutOfOrder),
        };
        Ok(Next::Call(next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::ErrorCode;

    const GNOME: PortalInfo = PortalInfo {
        version: 5,
        source_types: SOURCE_MONITOR | SOURCE_WINDOW | SOURCE_VIRTUAL,
        cursor_modes: CURSOR_HIDDEN | CURSOR_EMBEDDED | CURSOR_METADATA,
    };

    fn ok() -> PortalReply {
        PortalReply::Response {
            code: 0,
            started: None,
        }
    }

    fn started(node_id: u32, token: Option<&str>) -> PortalReply {
        PortalReply::Response {
            code: 0,
            started: Some(Started {
                streams: vec![PortalStream {
                    node_id,
                    size: Some((1920, 1080)),
                    source_type: Some(SOURCE_MONITOR),
                }],
                restore_token: token.map(str::to_owned),
            }),
        }
    }

    /// Runs the handshake up to `Start`'s answer; returns the machine and the
    /// `SelectSources` options it sent.
    fn to_start(request: ShareRequest, portal: PortalInfo) -> (Negotiation, SelectSources) {
        let (mut n, first) = Negotiation::new(request, portal).expect("types offered");
        assert_eq!(first, PortalCall::CreateSession);
        let Next::Call(PortalCall::SelectSources(select)) = n.handle(ok()).expect("session") else {
            panic!("SelectSources comes after CreateSession");
        };
        assert_eq!(
            n.handle(ok()).expect("selected"),
            Next::Call(PortalCall::Start)
        );
        (n, select)
    }

    #[test]
    fn a_share_runs_the_four_calls_and_hands_back_node_and_token() {
        let (mut n, select) = to_start(ShareRequest::default(), GNOME);
        assert_eq!(
            select,
            SelectSources {
                types: SOURCE_MONITOR | SOURCE_WINDOW,
                multiple: false,
                cursor_mode: Some(CURSOR_EMBEDDED),
                persist_mode: Some(PersistMode::UntilRevoked),
                restore_token: None,
            }
        );
        assert_eq!(
            n.handle(started(42, Some("tok-1"))).expect("started"),
            Next::Call(PortalCall::OpenPipeWireRemote)
        );
        let Next::Done(done) = n.handle(PortalReply::RemoteOpened).expect("opened") else {
            panic!("the handshake ends with the remote");
        };
        assert_eq!(done.stream.node_id, 42);
        assert_eq!(done.restore_token.as_deref(), Some("tok-1"));
        assert!(matches!(n.handle(ok()), Err(PortalError::OutOfOrder)));
    }

    #[test]
    fn a_restore_token_is_passed_back_and_replaced_by_the_new_one() {
        let request = ShareRequest {
            restore_token: Some("tok-1".into()),
            ..ShareRequest::default()
        };
        let (mut n, select) = to_start(request, GNOME);
        assert_eq!(select.restore_token.as_deref(), Some("tok-1"));
        n.handle(started(43, Some("tok-2"))).expect("started");
        let Ok(Next::Done(done)) = n.handle(PortalReply::RemoteOpened) else {
            panic!("done");
        };
        assert_eq!(done.restore_token.as_deref(), Some("tok-2"));
    }

    #[test]
    fn before_version_4_no_persistence_and_before_2_no_cursor_mode() {
        let old = PortalInfo {
            version: 3,
            ..GNOME
        };
        let request = ShareRequest {
            restore_token: Some("tok".into()),
            ..ShareRequest::default()
        };
        let (_, select) = to_start(request.clone(), old);
        assert_eq!((select.persist_mode, select.restore_token), (None, None));
        assert_eq!(select.cursor_mode, Some(CURSOR_EMBEDDED));
        let older = PortalInfo {
            version: 1,
            cursor_modes: 0,
            ..GNOME
        };
        assert_eq!(to_start(request, older).1.cursor_mode, None);
    }

    #[test]
    fn the_cursor_mode_falls_back_to_what_the_portal_offers() {
        let hidden_only = PortalInfo {
            cursor_modes: CURSOR_HIDDEN,
            ..GNOME
        };
        assert_eq!(
            to_start(ShareRequest::default(), hidden_only).1.cursor_mode,
            Some(CURSOR_HIDDEN)
        );
        let metadata_only = PortalInfo {
            cursor_modes: CURSOR_METADATA,
            ..GNOME
        };
        assert_eq!(
            to_start(ShareRequest::default(), metadata_only)
                .1
                .cursor_mode,
            Some(CURSOR_METADATA)
        );
        let no_cursor = ShareRequest {
            cursor: false,
            ..ShareRequest::default()
        };
        assert_eq!(
            to_start(no_cursor, GNOME).1.cursor_mode,
            Some(CURSOR_HIDDEN)
        );
    }

    #[test]
    fn types_are_limited_to_what_the_portal_offers() {
        let monitors = PortalInfo {
            source_types: SOURCE_MONITOR,
            ..GNOME
        };
        assert_eq!(
            to_start(ShareRequest::default(), monitors).1.types,
            SOURCE_MONITOR
        );
        let windows_only = ShareRequest {
            types: SOURCE_WINDOW,
            ..ShareRequest::default()
        };
        let err = Negotiation::new(windows_only, monitors).expect_err("no window sharing");
        assert!(matches!(err, PortalError::Unsupported(_)));
        assert_eq!(err.code(), ErrorCode::ScreenCaptureUnsupported);
    }

    #[test]
    fn the_user_cancelling_is_permission_denied_at_any_request() {
        let cancel = PortalReply::Response {
            code: 1,
            started: None,
        };
        let (mut n, _) = to_start(ShareRequest::default(), GNOME);
        let err = n.handle(cancel.clone()).expect_err("cancelled dialog");
        assert!(matches!(err, PortalError::PermissionDenied));
        assert_eq!(err.code(), ErrorCode::PermissionDenied);
        let (mut n, _) = Negotiation::new(ShareRequest::default(), GNOME).expect("offered");
        assert!(matches!(
            n.handle(cancel),
            Err(PortalError::PermissionDenied)
        ));
    }

    #[test]
    fn other_endings_errors_and_a_closed_session_fail_the_handshake() {
        let (mut n, _) = to_start(ShareRequest::default(), GNOME);
        let err = n
            .handle(PortalReply::Response {
                code: 2,
                started: None,
            })
            .expect_err("ended");
        assert!(matches!(
            err,
            PortalError::Ended {
                method: "Start",
                code: 2
            }
        ));

        let (mut n, _) = to_start(ShareRequest::default(), GNOME);
        let err = n.handle(PortalReply::SessionClosed).expect_err("closed");
        assert_eq!(err.code(), ErrorCode::ScreenSourceGone);

        let (mut n, _) = to_start(ShareRequest::default(), GNOME);
        let err = n.handle(started(1, None)).and_then(|_| {
            n.handle(PortalReply::CallFailed {
                detail: "org.freedesktop.DBus.Error.AccessDenied".into(),
            })
        });
        assert!(matches!(
            err,
            Err(PortalError::Call {
                method: "OpenPipeWireRemote",
                ..
            })
        ));

        let (mut n, _) = to_start(ShareRequest::default(), GNOME);
        let empty = PortalReply::Response {
            code: 0,
            started: Some(Started::default()),
        };
        assert!(matches!(n.handle(empty), Err(PortalError::NoStream)));
    }

    #[test]
    fn a_remote_before_start_is_out_of_order() {
        let (mut n, _) = Negotiation::new(ShareRequest::default(), GNOME).expect("offered");
        assert!(matches!(
            n.handle(PortalReply::RemoteOpened),
            Err(PortalError::OutOfOrder)
        ));
    }
}
