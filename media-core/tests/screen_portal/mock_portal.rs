//! A mock of xdg-desktop-portal's ScreenCast interface on a private
//! session bus: `org.freedesktop.portal.Desktop` with the ScreenCast object
//! and one Session object per session, Request `Response` signals emitted
//! after each method returns (as the portal does), a "dialog" that picks a
//! node or is cancelled, and single-use restore tokens.

use media_core::capture::screen::portal::negotiation::{
    CURSOR_EMBEDDED, CURSOR_HIDDEN, SOURCE_MONITOR, SOURCE_WINDOW,
};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use zbus::object_server::SignalEmitter;
use zbus::zvariant::{self, ObjectPath, OwnedObjectPath, OwnedValue, Value};

/// The node id the mock's "dialog" picks unless told another.
pub(crate) const PICKED_NODE: u32 = 42;

/// A `dbus-daemon` of this test's own, killed on drop.
pub(crate) struct PrivateBus {
    daemon: Child,
    /// Its address.
    pub(crate) address: String,
}

impl PrivateBus {
    /// Starts one; `None` (after [`test_support::skip`]) when there is no
    /// `dbus-daemon`.
    pub(crate) fn start(test: &str) -> Option<PrivateBus> {
        let spawned = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--nopidfile", "--print-address=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn();
        let mut daemon = match spawned {
            Ok(daemon) => daemon,
            Err(e) => {
                test_support::skip(
                    test,
                    &format!("no dbus-daemon ({e}): apt install dbus-daemon"),
                );
                return None;
            }
        };
        let mut address = String::new();
        let stdout = daemon.stdout.take().expect("piped stdout");
        BufReader::new(stdout)
            .read_line(&mut address)
            .expect("dbus-daemon prints its address");
        let address = address.trim().to_owned();
        assert!(address.starts_with("unix:"), "bus address {address:?}");
        Some(PrivateBus { daemon, address })
    }
}

impl Drop for PrivateBus {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

/// What the mock saw in one `SelectSources`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Selected {
    pub(crate) types: u32,
    pub(crate) multiple: bool,
    pub(crate) cursor_mode: Option<u32>,
    pub(crate) persist_mode: Option<u32>,
    pub(crate) restore_token: Option<String>,
}

/// The mock's state, shared with the test.
#[derive(Debug, Default)]
pub(crate) struct MockState {
    /// The dialog answers "cancel".
    pub(crate) cancel: bool,
    /// The node the dialog picks (`None`: [`PICKED_NODE`]).
    pub(crate) node: Option<u32>,
    /// A PipeWire daemon's socket: `OpenPipeWireRemote` connects to it
    /// (`None`: a socket pair whose far end the mock keeps open).
    pub(crate) pipewire: Option<PathBuf>,
    /// Dialogs shown (a restored share shows none).
    pub(crate) dialogs: u32,
    /// Every `SelectSources`, in order.
    pub(crate) selects: Vec<Selected>,
    /// Valid restore tokens and the node each restores.
    tokens: HashMap<String, u32>,
    /// Tokens handed out so far.
    issued: u32,
    /// Session paths created.
    sessions: Vec<OwnedObjectPath>,
    /// Sessions the client closed.
    pub(crate) closed_by_client: u32,
    /// The far ends of the stand-in remotes, kept open.
    remotes: Vec<UnixStream>,
}

/// The mock portal on the private bus: `org.freedesktop.portal.Desktop`
/// with the ScreenCast interface and a Session object per session.
pub(crate) struct MockPortal {
    /// What it saw and how it answers.
    pub(crate) state: Arc<Mutex<MockState>>,
    connection: zbus::Connection,
}

impl MockPortal {
    /// Serves the portal on `bus`.
    pub(crate) async fn serve(bus: &PrivateBus) -> MockPortal {
        let state = Arc::new(Mutex::new(MockState::default()));
        let connection = zbus::connection::Builder::address(bus.address.as_str())
            .expect("bus address")
            .name("org.freedesktop.portal.Desktop")
            .expect("portal name")
            .serve_at(
                "/org/freedesktop/portal/desktop",
                ScreenCast {
                    state: state.clone(),
                },
            )
            .expect("portal object")
            .build()
            .await
            .expect("mock portal connection");
        MockPortal { state, connection }
    }

    /// Closes every session from the portal's side (`Closed` signal), as a
    /// compositor's "stop sharing" does.
    pub(crate) async fn close_sessions(&self) {
        let sessions = self.state.lock().expect("mock state").sessions.clone();
        for path in sessions {
            let emitter = SignalEmitter::new(&self.connection, path).expect("session path");
            MockSession::closed(&emitter, HashMap::new())
                .await
                .expect("Closed signal");
        }
    }
}

/// The caller's part of request and session paths (`:1.42` -> `1_42`).
fn sender_part(header: &zbus::message::Header<'_>) -> String {
    header
        .sender()
        .map(|s| s.trim_start_matches(':').replace('.', "_"))
        .unwrap_or_default()
}

fn option_str(options: &HashMap<String, OwnedValue>, key: &str) -> Option<String> {
    options
        .get(key)
        .and_then(|v| v.downcast_ref::<&str>().ok().map(str::to_owned))
}

fn option_u32(options: &HashMap<String, OwnedValue>, key: &str) -> Option<u32> {
    options.get(key).and_then(|v| v.downcast_ref::<u32>().ok())
}

/// Answers a request on its path after the method has returned, as the
/// portal does.
fn respond(
    connection: zbus::Connection,
    path: OwnedObjectPath,
    code: u32,
    results: HashMap<&'static str, OwnedValue>,
) {
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        connection
            .emit_signal(
                None::<()>,
                &path,
                "org.freedesktop.portal.Request",
                "Response",
                &(code, results),
            )
            .await
            .expect("Response signal");
    });
}

fn request_path(
    header: &zbus::message::Header<'_>,
    options: &HashMap<String, OwnedValue>,
) -> OwnedObjectPath {
    let token = option_str(options, "handle_token").unwrap_or_else(|| "t".into());
    ObjectPath::try_from(format!(
        "/org/freedesktop/portal/desktop/request/{}/{token}",
        sender_part(header)
    ))
    .expect("request path")
    .into()
}

struct ScreenCast {
    state: Arc<Mutex<MockState>>,
}

#[zbus::interface(name = "org.freedesktop.portal.ScreenCast")]
impl ScreenCast {
    async fn create_session(
        &self,
        options: HashMap<String, OwnedValue>,
        #[zbus(header)] header: zbus::message::Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
    ) -> zbus::fdo::Result<OwnedObjectPath> {
        let request = request_path(&header, &options);
        let token = option_str(&options, "session_handle_token").unwrap_or_else(|| "s".into());
        let session: OwnedObjectPath = ObjectPath::try_from(format!(
            "/org/freedesktop/portal/desktop/session/{}/{token}",
            sender_part(&header)
        ))
        .map_err(|e| zbus::fdo::Error::InvalidArgs(e.to_string()))?
        .into();
        connection
            .object_server()
            .at(
                &session,
                MockSession {
                    state: self.state.clone(),
                },
            )
            .await?;
        self.state
            .lock()
            .expect("mock state")
            .sessions
            .push(session.clone());
        let handle = OwnedValue::try_from(Value::from(session.as_str().to_owned()))
            .map_err(|e| zbus::fdo::Error::Failed(e.to_string()))?;
        respond(
            connection.clone(),
            request.clone(),
            0,
            HashMap::from([("session_handle", handle)]),
        );
        Ok(request)
    }

    async fn select_sources(
        &self,
        _session: OwnedObjectPath,
        options: HashMap<String, OwnedValue>,
        #[zbus(header)] header: zbus::message::Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
    ) -> OwnedObjectPath {
        let request = request_path(&header, &options);
        let selected = Selected {
            types: option_u32(&options, "types").unwrap_or(0),
            multiple: options
                .get("multiple")
                .and_then(|v| v.downcast_ref::<bool>().ok())
                .unwrap_or(false),
            cursor_mode: option_u32(&options, "cursor_mode"),
            persist_mode: option_u32(&options, "persist_mode"),
            restore_token: option_str(&options, "restore_token"),
        };
        self.state
            .lock()
            .expect("mock state")
            .selects
            .push(selected);
        respond(connection.clone(), request.clone(), 0, HashMap::new());
        request
    }

    async fn start(
        &self,
        _session: OwnedObjectPath,
        _parent_window: String,
        options: HashMap<String, OwnedValue>,
        #[zbus(header)] header: zbus::message::Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
    ) -> OwnedObjectPath {
        let request = request_path(&header, &options);
        let answer = {
            let mut state = self.state.lock().expect("mock state");
            let select = state.selects.last().cloned().unwrap_or_default();
            let restored = select
                .restore_token
                .as_ref()
                .and_then(|token| state.tokens.remove(token));
            match restored {
                Some(node) => Some(node),
                None if state.cancel => None,
                None => {
                    state.dialogs += 1;
                    Some(state.node.unwrap_or(PICKED_NODE))
                }
            }
            .map(|node| {
                state.issued += 1;
                let token = format!("restore-{}", state.issued);
                state.tokens.insert(token.clone(), node);
                (node, token, select.persist_mode.unwrap_or(0))
            })
        };
        let Some((node, token, persist_mode)) = answer else {
            respond(connection.clone(), request.clone(), 1, HashMap::new());
            return request;
        };
        let properties: HashMap<String, OwnedValue> = HashMap::from([
            ("size".to_owned(), owned((1920i32, 1080i32))),
            ("source_type".to_owned(), owned(SOURCE_MONITOR)),
        ]);
        let streams = vec![(node, properties)];
        respond(
            connection.clone(),
            request.clone(),
            0,
            HashMap::from([
                ("streams", owned(streams)),
                ("restore_token", owned(token)),
                ("persist_mode", owned(persist_mode)),
            ]),
        );
        request
    }

    async fn open_pipe_wire_remote(
        &self,
        _session: OwnedObjectPath,
        _options: HashMap<String, OwnedValue>,
    ) -> zbus::fdo::Result<zvariant::OwnedFd> {
        let failed = |e: std::io::Error| zbus::fdo::Error::Failed(e.to_string());
        let mut state = self.state.lock().expect("mock state");
        let remote = match &state.pipewire {
            // As the portal does: a connection to the PipeWire daemon.
            Some(socket) => UnixStream::connect(socket).map_err(failed)?,
            // No daemon: a socket whose far end stays open stands in (the
            // client connects and waits).
            None => {
                let (ours, theirs) = UnixStream::pair().map_err(failed)?;
                state.remotes.push(theirs);
                ours
            }
        };
        Ok(std::os::fd::OwnedFd::from(remote).into())
    }

    #[zbus(property, name = "version")]
    fn version(&self) -> u32 {
        5
    }

    #[zbus(property)]
    fn available_source_types(&self) -> u32 {
        SOURCE_MONITOR | SOURCE_WINDOW
    }

    #[zbus(property)]
    fn available_cursor_modes(&self) -> u32 {
        CURSOR_HIDDEN | CURSOR_EMBEDDED
    }
}

fn owned<'a>(value: impl Into<Value<'a>>) -> OwnedValue {
    OwnedValue::try_from(value.into()).expect("a value without file descriptors")
}

struct MockSession {
    state: Arc<Mutex<MockState>>,
}

#[zbus::interface(name = "org.freedesktop.portal.Session")]
impl MockSession {
    fn close(&self) {
        self.state.lock().expect("mock state").closed_by_client += 1;
    }

    #[zbus(signal)]
    async fn closed(
        emitter: &SignalEmitter<'_>,
        details: HashMap<String, OwnedValue>,
    ) -> zbus::Result<()>;

    #[zbus(property, name = "version")]
    fn version(&self) -> u32 {
        1
    }
}
