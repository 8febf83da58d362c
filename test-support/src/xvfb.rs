//! A private X server (Xvfb) of a chosen size and plain X11 windows that
//! show given pixels: what the screen-share tests capture, away from the
//! display the rest of the tests share.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use x11rb::connection::{Connection, RequestConnection};
use x11rb::protocol::xproto::{
    AtomEnum, ConnectionExt as _, CreateGCAux, CreateWindowAux, ImageFormat, PropMode, WindowClass,
};
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;

/// An Xvfb process; killed when dropped.
#[derive(Debug)]
pub struct Xvfb {
    child: Child,
    display: String,
}

impl Xvfb {
    /// Starts `Xvfb` with one `width` x `height` 24-bit screen on a display
    /// it picks (`-displayfd`: it says which once it accepts connections);
    /// `None` when there is no `Xvfb` binary or it does not come up.
    pub fn start(width: u32, height: u32) -> Option<Xvfb> {
        let mut child = Command::new("Xvfb")
            .args(["-displayfd", "1", "-nolisten", "tcp", "-screen", "0"])
            .arg(format!("{width}x{height}x24"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let mut line = String::new();
        let read = child
            .stdout
            .take()
            .map(|out| BufReader::new(out).read_line(&mut line));
        match (read, line.trim().parse::<u32>()) {
            (Some(Ok(_)), Ok(n)) => Some(Xvfb {
                child,
                display: format!(":{n}"),
            }),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                None
            }
        }
    }

    /// The display name, e.g. `:60`.
    pub fn display(&self) -> &str {
        &self.display
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A mapped top-level window with a title, showing BGRX pixels.
#[derive(Debug)]
pub struct TestWindow {
    conn: RustConnection,
    id: u32,
    gc: u32,
    width: u16,
    height: u16,
}

impl TestWindow {
    /// Opens a `width` x `height` window at `(x, y)` titled `title` on
    /// `display` and waits until the server has mapped it.
    ///
    /// # Panics
    ///
    /// Panics if the display cannot be reached or refuses a request.
    pub fn open(display: &str, x: i16, y: i16, width: u16, height: u16, title: &str) -> Self {
        let (conn, screen) = RustConnection::connect(Some(display)).expect("connect to X");
        let root = conn.setup().roots[screen].root;
        let id = conn.generate_id().expect("an X id");
        conn.create_window(
            24,
            id,
            root,
            x,
            y,
            width,
            height,
            0,
            WindowClass::INPUT_OUTPUT,
            0,
            &CreateWindowAux::new().background_pixel(0),
        )
        .expect("CreateWindow");
        conn.change_property8(
            PropMode::REPLACE,
            id,
            AtomEnum::WM_NAME,
            AtomEnum::STRING,
            title.as_bytes(),
        )
        .expect("set WM_NAME");
        let gc = conn.generate_id().expect("an X id");
        conn.create_gc(gc, id, &CreateGCAux::new())
            .expect("CreateGC");
        conn.map_window(id).expect("MapWindow");
        conn.sync().expect("sync");
        TestWindow {
            conn,
            id,
            gc,
            width,
            height,
        }
    }

    /// The X window id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Shows `bgrx` (`width * height * 4` bytes, rows top to bottom), in
    /// bands that fit the server's request size.
    ///
    /// # Panics
    ///
    /// Panics on a wrong length or a failed request.
    pub fn show_bgrx(&self, bgrx: &[u8]) {
        let row = usize::from(self.width) * 4;
        assert_eq!(bgrx.len(), row * usize::from(self.height));
        let rows_per_band = ((self.conn.maximum_request_bytes() - 64) / row).max(1);
        for (band, pixels) in bgrx.chunks(row * rows_per_band).enumerate() {
            self.conn
                .put_image(
                    ImageFormat::Z_PIXMAP,
                    self.id,
                    self.gc,
                    self.width,
                    (pixels.len() / row) as u16,
                    0,
                    (band * rows_per_band) as i16,
                    0,
                    24,
                    pixels,
                )
                .expect("PutImage");
        }
        self.conn.sync().expect("sync");
    }

    /// Destroys the window (as a closing application would).
    pub fn close(self) {
        self.conn.destroy_window(self.id).expect("DestroyWindow");
        self.conn.sync().expect("sync");
    }
}
