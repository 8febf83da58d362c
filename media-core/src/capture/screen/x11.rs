//! X11 capture over the X protocol (x11rb's pure-Rust connection, no
//! libxcb): a screen's root window, one RandR monitor's part of it, or one
//! window, read with GetImage (ZPixmap), the cursor from XFixes drawn over
//! it.
//!
//! A window is read from its own drawable: on a server without a
//! compositor the parts covered by other windows read as what covers them.
//! A window that is destroyed answers BadWindow/BadDrawable:
//! [`ScreenError::SourceGone`]; one that is unmapped answers BadMatch:
//! [`ScreenError::NotVisible`].

use super::convert::{bgrx_to_i420, Cursor};
use super::shm::Segment;
use super::{ScreenError, ScreenSourceInfo, ScreenTarget, Thumbnail};
use crate::frame::{unix_time_us, VideoFrame};
use x11rb::connection::Connection;
use x11rb::errors::{ConnectionError, ReplyError};
use x11rb::protocol::randr::{self, ConnectionExt as _};
use x11rb::protocol::xfixes::ConnectionExt as _;
use x11rb::protocol::xproto::{AtomEnum, ConnectionExt as _, ImageFormat, MapState, Window};
use x11rb::protocol::ErrorKind;
use x11rb::rust_connection::RustConnection;

/// An open capture of one screen or window.
pub struct X11Capture {
    conn: RustConnection,
    root: Window,
    target: ScreenTarget,
    drawable: Window,
    /// A monitor's name: the picture is its rectangle of the root window.
    monitor: Option<u32>,
    /// XFixes is there: the cursor is drawn.
    cursor: bool,
    /// Pictures come through shared memory (MIT-SHM 1.2) when the server
    /// offers it.
    shared_memory: bool,
    /// The segment, made at the first picture and remade larger when the
    /// source grows.
    segment: Option<Segment>,
}

impl std::fmt::Debug for X11Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("X11Capture")
            .field("target", &self.target)
            .field("cursor", &self.cursor)
            .field("shared_memory", &self.shared_memory)
            .finish_non_exhaustive()
    }
}

/// Connects to `display` and says which RandR version this client speaks
/// (monitors are RandR 1.5; a server without RandR just lists none).
fn connect(display: Option<&str>) -> Result<(RustConnection, usize), ScreenError> {
    let (conn, screen) =
        RustConnection::connect(display).map_err(|e| ScreenError::Connect(e.to_string()))?;
    let _ = conn.randr_query_version(1, 5).map(|c| c.reply());
    Ok((conn, screen))
}

/// Maps a failed request: a missing window is the source gone, an unmapped
/// one not visible, anything else the server refusing `request`.
fn reply_error(request: &'static str) -> impl Fn(ReplyError) -> ScreenError {
    move |e| match e {
        ReplyError::X11Error(x) => match x.error_kind {
            ErrorKind::Window | ErrorKind::Drawable => ScreenError::SourceGone,
            ErrorKind::Match => ScreenError::NotVisible,
            kind => ScreenError::Refused {
                request,
                detail: format!("{kind:?}"),
            },
        },
        ReplyError::ConnectionError(e) => connection_error(e),
    }
}

/// [`ScreenTarget::Portal`] given to X11.
fn not_x11() -> ScreenError {
    ScreenError::UnsupportedFormat("the portal's pick is captured through the portal".into())
}

fn connection_error(e: ConnectionError) -> ScreenError {
    ScreenError::Connection(e.to_string())
}

impl X11Capture {
    /// Opens a capture of `target` on `display` (`None`: `$DISPLAY`).
    /// Errors: no display, an unknown screen index or window
    /// ([`ScreenError::SourceGone`]), a screen that is not 24/32-bit.
    pub fn open(display: Option<&str>, target: ScreenTarget) -> Result<X11Capture, ScreenError> {
        if target == ScreenTarget::Portal {
            return Err(not_x11());
        }
        let (conn, default_screen) = connect(display)?;
        let setup = conn.setup();
        let root = setup.roots[default_screen].root;
        let drawable = match target {
            ScreenTarget::Screen(index) => {
                let screen = setup
                    .roots
                    .get(index as usize)
                    .ok_or(ScreenError::SourceGone)?;
                if screen.root_depth != 24 && screen.root_depth != 32 {
                    return Err(ScreenError::UnsupportedFormat(format!(
                        "screen depth {}",
                        screen.root_depth
                    )));
                }
                screen.root
            }
            ScreenTarget::Window(id) => id,
            ScreenTarget::Monitor(_) => root,
            ScreenTarget::Portal => return Err(not_x11()),
        };
        let monitor = match target {
            ScreenTarget::Monitor(name) => Some(name),
            _ => None,
        };
        let cursor = conn
            .xfixes_query_version(4, 0)
            .ok()
            .and_then(|c| c.reply().ok())
            .is_some();
        let shared_memory = Segment::supported(&conn);
        let capture = X11Capture {
            conn,
            root,
            target,
            drawable,
            monitor,
            cursor,
            shared_memory,
            segment: None,
        };
        capture.size()?;
        Ok(capture)
    }

    /// What this captures.
    pub fn target(&self) -> ScreenTarget {
        self.target
    }

    /// Whether the cursor is drawn (the server has XFixes).
    pub fn draws_cursor(&self) -> bool {
        self.cursor
    }

    /// Whether pictures come through shared memory (MIT-SHM 1.2; the
    /// default when the server offers it) rather than the socket.
    pub fn uses_shared_memory(&self) -> bool {
        self.shared_memory
    }

    /// Reads pictures through the socket (GetImage) instead of shared
    /// memory, or back (where the server offers it); for comparing them.
    pub fn set_shared_memory(&mut self, on: bool) {
        self.shared_memory = on && Segment::supported(&self.conn);
        if !self.shared_memory {
            if let Some(segment) = self.segment.take() {
                segment.detach(&self.conn);
            }
        }
    }

    /// The source's current size in pixels (a window's may change).
    pub fn size(&self) -> Result<(u32, u32), ScreenError> {
        let (_, _, width, height) = self.region()?;
        Ok((u32::from(width), u32::from(height)))
    }

    /// The captured rectangle of the drawable: all of it, or a monitor's
    /// part of the root window ([`ScreenError::SourceGone`] once that
    /// monitor is gone).
    fn region(&self) -> Result<(i16, i16, u16, u16), ScreenError> {
        if let Some(name) = self.monitor {
            let monitor = monitors(&self.conn, self.root)?
                .into_iter()
                .find(|m| m.name == name)
                .ok_or(ScreenError::SourceGone)?;
            return Ok((monitor.x, monitor.y, monitor.width, monitor.height));
        }
        let geometry = self
            .conn
            .get_geometry(self.drawable)
            .map_err(connection_error)?
            .reply()
            .map_err(reply_error("GetGeometry"))?;
        Ok((0, 0, geometry.width, geometry.height))
    }

    /// Captures one picture at the source's current size (rounded down to
    /// even), the cursor drawn on it when it is over the source.
    pub fn capture(&mut self) -> Result<VideoFrame, ScreenError> {
        let image = self.grab()?;
        Ok(bgrx_to_i420(
            image.width,
            image.height,
            &image.data,
            image.stride,
            image.capture_time_us,
        ))
    }

    /// One picture, cursor drawn, box-averaged down to fit `max_width` x
    /// `max_height` (aspect kept, never enlarged) as PNG.
    pub fn thumbnail(&mut self, max_width: u32, max_height: u32) -> Result<Thumbnail, ScreenError> {
        let image = self.grab()?;
        Ok(Thumbnail::from_bgrx(
            image.width,
            image.height,
            &image.data,
            image.stride,
            max_width,
            max_height,
        ))
    }

    /// The source's pixels now (BGRX, even size), the cursor drawn.
    fn grab(&mut self) -> Result<Image<'_>, ScreenError> {
        let (x, y, width, height) = self.region()?;
        let (width, height) = (u32::from(width & !1), u32::from(height & !1));
        if width == 0 || height == 0 {
            return Err(ScreenError::NotVisible);
        }
        let cursor = match self.cursor {
            true => self.cursor_image((x, y))?,
            false => None,
        };
        let capture_time_us = unix_time_us();
        let (depth, mut data) = self.read((x, y), width as u16, height as u16)?;
        if depth != 24 && depth != 32 {
            return Err(ScreenError::UnsupportedFormat(format!(
                "image depth {depth}"
            )));
        }
        let stride = data.len() / height as usize;
        if stride < width as usize * 4 {
            return Err(ScreenError::UnsupportedFormat(format!(
                "{} bytes per row for {width} pixels",
                stride
            )));
        }
        if let Some(cursor) = cursor {
            cursor.draw(&mut data, stride, width as usize, height as usize);
        }
        Ok(Image {
            width,
            height,
            stride,
            data,
            capture_time_us,
        })
    }

    /// The pixels of the drawable's `width` x `height` at `origin`
    /// (ZPixmap) and their depth: through the shared segment (made or grown
    /// as needed), else through the socket.
    fn read(
        &mut self,
        origin: (i16, i16),
        width: u16,
        height: u16,
    ) -> Result<(u8, Pixels<'_>), ScreenError> {
        let need = usize::from(width) * usize::from(height) * 4;
        if self.shared_memory && self.segment.as_ref().is_none_or(|s| s.len() < need) {
            if let Some(old) = self.segment.take() {
                old.detach(&self.conn);
            }
            self.segment = Segment::create(&self.conn, need);
            // A server that will not make one: the socket from now on.
            self.shared_memory = self.segment.is_some();
        }
        if let Some(segment) = &mut self.segment {
            let (depth, data) = segment.get_image(
                &self.conn,
                self.drawable,
                origin,
                width,
                height,
                reply_error("ShmGetImage"),
            )?;
            return Ok((depth, Pixels::Shared(data)));
        }
        let image = self
            .conn
            .get_image(
                ImageFormat::Z_PIXMAP,
                self.drawable,
                origin.0,
                origin.1,
                width,
                height,
                !0,
            )
            .map_err(connection_error)?
            .reply()
            .map_err(reply_error("GetImage"))?;
        Ok((image.depth, Pixels::Sent(image.data)))
    }

    /// The cursor placed in the coordinates of the source's rectangle at
    /// `origin` (`None` when XFixes will not say).
    fn cursor_image(&self, origin: (i16, i16)) -> Result<Option<Cursor>, ScreenError> {
        let Ok(Ok(reply)) = self.conn.xfixes_get_cursor_image().map(|c| c.reply()) else {
            return Ok(None);
        };
        let (mut x, mut y) = (
            i32::from(reply.x) - i32::from(reply.xhot),
            i32::from(reply.y) - i32::from(reply.yhot),
        );
        if self.drawable != self.root {
            // The window's origin on the root window.
            let window = self
                .conn
                .translate_coordinates(self.drawable, self.root, 0, 0)
                .map_err(connection_error)?
                .reply()
                .map_err(reply_error("TranslateCoordinates"))?;
            x -= i32::from(window.dst_x);
            y -= i32::from(window.dst_y);
        }
        x -= i32::from(origin.0);
        y -= i32::from(origin.1);
        Ok(Some(Cursor {
            x,
            y,
            width: usize::from(reply.width),
            argb: reply.cursor_image,
        }))
    }
}

/// One grabbed picture: BGRX rows `stride` bytes apart.
struct Image<'a> {
    width: u32,
    height: u32,
    stride: usize,
    data: Pixels<'a>,
    capture_time_us: u64,
}

/// Pixels sent through the socket, or in the shared segment.
enum Pixels<'a> {
    Sent(Vec<u8>),
    Shared(&'a mut [u8]),
}

impl std::ops::Deref for Pixels<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Pixels::Sent(data) => data,
            Pixels::Shared(data) => data,
        }
    }
}

impl std::ops::DerefMut for Pixels<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        match self {
            Pixels::Sent(data) => data,
            Pixels::Shared(data) => data,
        }
    }
}

/// See [`super::list_sources`]: every screen, then the windows a window
/// manager lists (`_NET_CLIENT_LIST`) or, without one, the mapped
/// top-level windows that have a name.
pub(super) fn list_sources(display: Option<&str>) -> Result<Vec<ScreenSourceInfo>, ScreenError> {
    let (conn, default_screen) = connect(display)?;
    let mut sources: Vec<ScreenSourceInfo> = conn
        .setup()
        .roots
        .iter()
        .enumerate()
        .map(|(i, screen)| ScreenSourceInfo {
            target: ScreenTarget::Screen(i as u32),
            name: format!("Screen {}", i + 1),
            width: u32::from(screen.width_in_pixels),
            height: u32::from(screen.height_in_pixels),
            pid: None,
        })
        .collect();
    let roots: Vec<Window> = conn.setup().roots.iter().map(|s| s.root).collect();
    // Monitors are captured on the default screen.
    sources.extend(monitor_sources(&conn, roots[default_screen])?);
    let atoms = Atoms::new(&conn)?;
    for root in roots {
        for window in top_level_windows(&conn, &atoms, root)? {
            let Some(name) = window_name(&conn, &atoms, window)? else {
                continue;
            };
            // A window that vanished while listing is just left out.
            let Ok(Ok(geometry)) = conn.get_geometry(window).map(|c| c.reply()) else {
                continue;
            };
            sources.push(ScreenSourceInfo {
                target: ScreenTarget::Window(window),
                name,
                width: u32::from(geometry.width),
                height: u32::from(geometry.height),
                pid: window_pid(&conn, &atoms, window),
            });
        }
    }
    Ok(sources)
}

/// The active RandR monitors of `root`'s screen (none without RandR 1.5).
fn monitors(conn: &RustConnection, root: Window) -> Result<Vec<randr::MonitorInfo>, ScreenError> {
    let Ok(Ok(reply)) = conn.randr_get_monitors(root, true).map(|c| c.reply()) else {
        return Ok(Vec::new());
    };
    Ok(reply.monitors)
}

/// A source per monitor of `root`'s screen when it has more than one (a
/// single monitor is the screen itself), named by RandR ("Monitor
/// HDMI-1").
fn monitor_sources(
    conn: &RustConnection,
    root: Window,
) -> Result<Vec<ScreenSourceInfo>, ScreenError> {
    let monitors = monitors(conn, root)?;
    if monitors.len() < 2 {
        return Ok(Vec::new());
    }
    let mut sources = Vec::with_capacity(monitors.len());
    for (i, monitor) in monitors.iter().enumerate() {
        let name = conn
            .get_atom_name(monitor.name)
            .map_err(connection_error)?
            .reply()
            .map(|r| String::from_utf8_lossy(&r.name).into_owned())
            .unwrap_or_else(|_| (i + 1).to_string());
        sources.push(ScreenSourceInfo {
            target: ScreenTarget::Monitor(monitor.name),
            name: format!("Monitor {name}"),
            width: u32::from(monitor.width),
            height: u32::from(monitor.height),
            pid: None,
        });
    }
    Ok(sources)
}

/// The atoms the listing reads.
struct Atoms {
    client_list: u32,
    net_wm_name: u32,
    net_wm_pid: u32,
    utf8_string: u32,
}

impl Atoms {
    fn new(conn: &RustConnection) -> Result<Atoms, ScreenError> {
        let atom = |name: &[u8]| -> Result<u32, ScreenError> {
            Ok(conn
                .intern_atom(false, name)
                .map_err(connection_error)?
                .reply()
                .map_err(reply_error("InternAtom"))?
                .atom)
        };
        Ok(Atoms {
            client_list: atom(b"_NET_CLIENT_LIST")?,
            net_wm_name: atom(b"_NET_WM_NAME")?,
            net_wm_pid: atom(b"_NET_WM_PID")?,
            utf8_string: atom(b"UTF8_STRING")?,
        })
    }
}

fn top_level_windows(
    conn: &RustConnection,
    atoms: &Atoms,
    root: Window,
) -> Result<Vec<Window>, ScreenError> {
    let listed = conn
        .get_property(false, root, atoms.client_list, AtomEnum::WINDOW, 0, 4096)
        .map_err(connection_error)?
        .reply()
        .map_err(reply_error("GetProperty"))?;
    if let Some(windows) = listed.value32() {
        let windows: Vec<Window> = windows.collect();
        if !windows.is_empty() {
            return Ok(windows);
        }
    }
    let children = conn
        .query_tree(root)
        .map_err(connection_error)?
        .reply()
        .map_err(reply_error("QueryTree"))?
        .children;
    Ok(children
        .into_iter()
        .filter(|&w| {
            conn.get_window_attributes(w)
                .ok()
                .and_then(|c| c.reply().ok())
                .is_some_and(|a| a.map_state == MapState::VIEWABLE && !a.override_redirect)
        })
        .collect())
}

/// `_NET_WM_NAME` (UTF-8), else `WM_NAME`; `None` for a window without a
/// name (or one that is gone).
fn window_name(
    conn: &RustConnection,
    atoms: &Atoms,
    window: Window,
) -> Result<Option<String>, ScreenError> {
    let read = |property: u32, kind: u32| -> Result<Option<String>, ScreenError> {
        let reply = match conn
            .get_property(false, window, property, kind, 0, 1024)
            .map_err(connection_error)?
            .reply()
        {
            Ok(reply) => reply,
            Err(ReplyError::X11Error(_)) => return Ok(None),
            Err(e) => return Err(reply_error("GetProperty")(e)),
        };
        let name = String::from_utf8_lossy(&reply.value).trim().to_string();
        Ok((!name.is_empty()).then_some(name))
    };
    match read(atoms.net_wm_name, atoms.utf8_string)? {
        Some(name) => Ok(Some(name)),
        None => read(AtomEnum::WM_NAME.into(), AtomEnum::STRING.into()),
    }
}

/// The window's `_NET_WM_PID` (`None` when it does not say or is gone).
fn window_pid(conn: &RustConnection, atoms: &Atoms, window: Window) -> Option<u32> {
    conn.get_property(false, window, atoms.net_wm_pid, AtomEnum::CARDINAL, 0, 1)
        .ok()?
        .reply()
        .ok()?
        .value32()?
        .next()
}
