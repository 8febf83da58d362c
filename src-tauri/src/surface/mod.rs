//! Video tiles: where each tile's video is drawn, per platform.
//!
//! The UI marks every video slot with a `data-tile-id` element and sends the
//! rects (device pixels, relative to the webview) with `update_tiles`. A tile
//! gets a surface when something is shown in it (`start_preview`,
//! `start_playing_stream`): each start opens a fresh surface and renderer,
//! which replace the tile's previous ones only once the engine accepted the
//! call (so a refused call leaves the running video alone, and a player that
//! stops later can only close its own renderer). The app keeps a clone of
//! every renderer to resize and hide it; the engine gets another through
//! `Canvas::renderer`.
//!
//! Which path draws is chosen once, on first use:
//! - `native-x11`: an X11 child window over the tile, drawn by media-core's
//!   GPU renderer (`x11`).
//! - `canvas`: frames converted to RGBA and drawn by the page (`canvas`),
//!   where there is no native surface: Wayland, an OS without one yet, or
//!   `CONFER_RENDER=canvas`.
//!
//! Windows (an `HWND` child of the main window) and macOS (an `NSView` above
//! the `WKWebView`) are not implemented: their surfaces would be a variant of
//! `Backend` and `Surface` each, chosen in `choose_backend` from the
//! window's raw handle; until then they use the canvas.

mod canvas;
mod scale;
#[cfg(target_os = "linux")]
mod x11;

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use media_core::render::RendererHandle;
use tauri::ipc::{Channel, InvokeResponseBody};
use tauri::WebviewWindow;

pub use confer_app_types::tiles::{Diagnostics, RenderPath, TileRect};

use crate::error::CommandError;
use canvas::CanvasTile;

/// The environment variable that forces the canvas path (`canvas`).
pub const RENDER_ENV: &str = "CONFER_RENDER";

/// A tile's position and size in whole pixels, or `None` when nothing of
/// it should show.
fn placement(rect: &TileRect) -> Option<((i32, i32), (u32, u32))> {
    let width = rect.width.round().clamp(0.0, f64::from(u16::MAX)) as u32;
    let height = rect.height.round().clamp(0.0, f64::from(u16::MAX)) as u32;
    let clamp = |v: f64| v.round().clamp(-f64::from(u16::MAX), f64::from(u16::MAX)) as i32;
    (rect.visible && width > 0 && height > 0)
        .then(|| ((clamp(rect.x), clamp(rect.y)), (width, height)))
}

/// What a tile shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TileOwner {
    /// The local camera preview (mirrored).
    Preview,
    /// A played stream.
    Stream(String),
}

/// Every tile's surface, keyed by tile ID.
pub struct Surfaces {
    window: WebviewWindow,
    registry: Mutex<Registry>,
    /// Opens one surface at a time (GPU setup is heavy on small machines).
    opening: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Registry {
    choice: Option<Choice>,
    /// The latest rects from the UI.
    rects: HashMap<String, TileRect>,
    tiles: HashMap<String, Tile>,
    /// Canvas channels from `attach_canvas`, kept for surfaces opened later.
    channels: HashMap<String, Channel<InvokeResponseBody>>,
    /// The webview's offset inside the toplevel, physical pixels.
    offset: (i32, i32),
    adapter: Option<String>,
}

/// The path chosen, why, and on what.
struct Choice {
    backend: Backend,
    reason: String,
    platform: String,
}

enum Backend {
    #[cfg(target_os = "linux")]
    X11(x11::X11Host),
    Canvas,
}

/// A tile's drawing target.
enum Surface {
    #[cfg(target_os = "linux")]
    Native(std::sync::Arc<x11::ChildWindow>),
    Canvas(CanvasTile),
}

/// A live tile: its surface and the app's clone of its renderer.
struct Tile {
    owner: TileOwner,
    renderer: RendererHandle,
    surface: Surface,
    /// The size the renderer was last told.
    size: Option<(u32, u32)>,
}

impl Surface {
    /// Shows the surface at `position` (relative to the toplevel), `size`
    /// physical pixels.
    fn show(&self, position: (i32, i32), size: (u32, u32)) {
        match self {
            #[cfg(target_os = "linux")]
            Surface::Native(window) => window.show_at(position, size),
            Surface::Canvas(canvas) => {
                // The page draws the canvas where the tile is.
                let _ = position;
                canvas.set_size(Some(size));
            }
        }
    }

    /// Hides the surface.
    fn hide(&self) {
        match self {
            #[cfg(target_os = "linux")]
            Surface::Native(window) => window.hide(),
            Surface::Canvas(canvas) => canvas.set_size(None),
        }
    }

    /// Mirrors the picture where the renderer cannot (a frame sink gets the
    /// frames unflipped); native renderers mirror themselves.
    fn set_mirror(&self, mirror: bool) {
        match self {
            #[cfg(target_os = "linux")]
            Surface::Native(_) => {}
            Surface::Canvas(canvas) => canvas.set_mirror(mirror),
        }
    }
}

impl Tile {
    /// Places the tile per `rect` (`None`: hidden), offset by the webview's
    /// position in the toplevel.
    fn apply(&mut self, rect: Option<&TileRect>, (dx, dy): (i32, i32)) {
        match rect.and_then(placement) {
            Some(((x, y), size)) => {
                self.surface.show((x + dx, y + dy), size);
                if self.size != Some(size) {
                    self.renderer.resize(size.0, size.1);
                    self.size = Some(size);
                }
                self.renderer.set_visible(true);
            }
            None => {
                self.surface.hide();
                self.renderer.set_visible(false);
            }
        }
    }
}

impl Drop for Tile {
    fn drop(&mut self) {
        // Ends the render thread (which holds the window) before the surface
        // goes; clones the engine still holds see a closed renderer.
        self.renderer.close();
    }
}

/// A surface and renderer opened for a tile, not shown yet: hand
/// [`PendingTile::renderer`] to the engine, then [`Surfaces::commit`] it.
/// Dropped uncommitted, both are closed.
pub struct PendingTile {
    tile_id: String,
    tile: Option<Tile>,
}

impl PendingTile {
    /// A clone of the new renderer, for `Canvas::renderer`.
    pub fn renderer(&self) -> Option<RendererHandle> {
        self.tile.as_ref().map(|t| t.renderer.clone())
    }
}

fn lock(registry: &Mutex<Registry>) -> MutexGuard<'_, Registry> {
    registry.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Surfaces {
    /// The registry for the tiles of `window` (the main window).
    pub fn new(window: WebviewWindow) -> Self {
        Surfaces {
            window,
            registry: Mutex::new(Registry::default()),
            opening: tokio::sync::Mutex::new(()),
        }
    }

    /// Takes the UI's current rects: every live tile is moved, resized,
    /// shown or hidden to match (a tile not in the list is hidden). Call it
    /// on the GTK main thread (a synchronous command).
    pub fn update_tiles(&self, rects: Vec<TileRect>) {
        self.ensure_choice();
        #[cfg(target_os = "linux")]
        let offset = x11::webview_offset(&self.window);
        #[cfg(not(target_os = "linux"))]
        let offset: Option<(i32, i32)> = None;
        let mut registry = lock(&self.registry);
        if let Some(offset) = offset {
            registry.offset = offset;
        }
        registry.rects = rects.into_iter().map(|r| (r.tile_id.clone(), r)).collect();
        let Registry {
            rects,
            tiles,
            offset,
            ..
        } = &mut *registry;
        for (id, tile) in tiles.iter_mut() {
            tile.apply(rects.get(id), *offset);
        }
    }

    /// Opens a new surface and renderer for `tile_id` (blocking GPU setup
    /// runs off the async runtime's threads). The tile's current video goes
    /// on until the result is committed.
    pub async fn open(&self, tile_id: &str, owner: TileOwner) -> Result<PendingTile, CommandError> {
        let _one_at_a_time = self.opening.lock().await;
        self.ensure_choice();
        let fresh = {
            let registry = lock(&self.registry);
            let placement = registry.rects.get(tile_id).and_then(placement);
            match registry.choice.as_ref().map(|c| &c.backend) {
                #[cfg(target_os = "linux")]
                Some(Backend::X11(host)) => {
                    let (dx, dy) = registry.offset;
                    let ((x, y), size) = placement.unwrap_or(((0, 0), (1, 1)));
                    let window = host
                        .create_child((x + dx, y + dy), size)
                        .map_err(CommandError::internal)?;
                    Fresh::Native(std::sync::Arc::new(window), size)
                }
                _ => Fresh::Canvas(registry.channels.get(tile_id).cloned()),
            }
        };
        let (surface, renderer) = match fresh {
            #[cfg(target_os = "linux")]
            Fresh::Native(window, (width, height)) => {
                use media_core::render::{Canvas, RawWindowTarget, ViewMode};
                let target = RawWindowTarget::new(std::sync::Arc::clone(&window), width, height);
                let renderer = tauri::async_runtime::spawn_blocking(move || {
                    Canvas::window(target, ViewMode::AspectFit).open()
                })
                .await
                .map_err(|e| CommandError::internal(format!("renderer setup panicked: {e}")))??;
                (Surface::Native(window), renderer)
            }
            Fresh::Canvas(channel) => {
                let (canvas, renderer) = CanvasTile::open(channel)?;
                (Surface::Canvas(canvas), renderer)
            }
        };
        Ok(PendingTile {
            tile_id: tile_id.to_owned(),
            tile: Some(Tile {
                owner,
                renderer,
                surface,
                size: None,
            }),
        })
    }

    /// Shows a pending tile in place of the tile's previous surface (and of
    /// any other tile the same owner had), placed per the latest rect.
    pub fn commit(&self, mut pending: PendingTile) {
        let Some(mut tile) = pending.tile.take() else {
            return;
        };
        let replaced: Vec<Tile> = {
            let mut registry = lock(&self.registry);
            let mut replaced = registry
                .take_where(|id, t| t.owner == tile.owner && id != pending.tile_id.as_str());
            tile.surface.set_mirror(tile.owner == TileOwner::Preview);
            #[cfg(target_os = "linux")]
            if let Surface::Native(_) = &tile.surface {
                registry.adapter = Some(tile.renderer.stats().adapter);
            }
            tile.apply(registry.rects.get(&pending.tile_id), registry.offset);
            replaced.extend(registry.tiles.insert(pending.tile_id.clone(), tile));
            replaced
        };
        // Closing joins render threads: not under the lock.
        drop(replaced);
    }

    /// Closes the surface `owner` draws into, if any.
    pub fn release(&self, owner: &TileOwner) {
        let gone = lock(&self.registry).take_where(|_, t| &t.owner == owner);
        drop(gone);
    }

    /// Closes every played stream's surface (after a logout).
    pub fn release_streams(&self) {
        let gone = lock(&self.registry).take_where(|_, t| matches!(t.owner, TileOwner::Stream(_)));
        drop(gone);
    }

    /// Closes every surface.
    pub fn release_all(&self) {
        let gone = lock(&self.registry).take_where(|_, _| true);
        drop(gone);
    }

    /// Sends `tile_id`'s pictures to `channel` (canvas path; kept for
    /// surfaces opened later, ignored by native surfaces).
    pub fn attach_canvas(&self, tile_id: String, channel: Channel<InvokeResponseBody>) {
        let mut registry = lock(&self.registry);
        if let Some(Tile {
            surface: Surface::Canvas(canvas),
            ..
        }) = registry.tiles.get(&tile_id)
        {
            canvas.set_channel(channel.clone());
        }
        registry.channels.insert(tile_id, channel);
    }

    /// The active path and live surfaces.
    pub fn diagnostics(&self) -> Diagnostics {
        self.ensure_choice();
        let registry = lock(&self.registry);
        let (render_path, reason, platform) = match &registry.choice {
            Some(choice) => (
                choice.backend.path(),
                choice.reason.clone(),
                choice.platform.clone(),
            ),
            None => (
                RenderPath::Canvas,
                String::new(),
                std::env::consts::OS.into(),
            ),
        };
        Diagnostics {
            render_path,
            reason,
            adapter: registry.adapter.clone(),
            platform,
            tiles: registry.tiles.len(),
        }
    }

    /// Chooses the path on first use. (Not under the registry lock: reading
    /// the window's handle may wait for the GTK main thread.)
    fn ensure_choice(&self) {
        if lock(&self.registry).choice.is_some() {
            return;
        }
        let choice = choose_backend(&self.window);
        tracing::info!(path = ?choice.backend.path(), reason = choice.reason, "video render path");
        lock(&self.registry).choice.get_or_insert(choice);
    }
}

impl Registry {
    /// Removes and returns the tiles matching `pick`.
    fn take_where(&mut self, pick: impl Fn(&str, &Tile) -> bool) -> Vec<Tile> {
        let ids: Vec<String> = self
            .tiles
            .iter()
            .filter(|(id, tile)| pick(id, tile))
            .map(|(id, _)| id.clone())
            .collect();
        ids.iter().filter_map(|id| self.tiles.remove(id)).collect()
    }
}

/// A surface about to get its renderer.
enum Fresh {
    #[cfg(target_os = "linux")]
    Native(std::sync::Arc<x11::ChildWindow>, (u32, u32)),
    Canvas(Option<Channel<InvokeResponseBody>>),
}

impl Backend {
    fn path(&self) -> RenderPath {
        match self {
            #[cfg(target_os = "linux")]
            Backend::X11(_) => RenderPath::NativeX11,
            Backend::Canvas => RenderPath::Canvas,
        }
    }
}

/// Picks the path for `window`: native where this platform has one and the
/// window is on it, the canvas otherwise (or when `CONFER_RENDER=canvas`).
fn choose_backend(window: &WebviewWindow) -> Choice {
    use raw_window_handle::{HasWindowHandle, RawWindowHandle};
    let raw = window.window_handle().map(|h| h.as_raw());
    let platform = match &raw {
        Ok(RawWindowHandle::Xlib(_) | RawWindowHandle::Xcb(_)) => "linux-x11".to_owned(),
        Ok(RawWindowHandle::Wayland(_)) => "linux-wayland".to_owned(),
        _ => std::env::consts::OS.to_owned(),
    };
    let canvas = |reason: String| Choice {
        backend: Backend::Canvas,
        reason,
        platform: platform.clone(),
    };
    if std::env::var(RENDER_ENV).is_ok_and(|v| v.eq_ignore_ascii_case("canvas")) {
        return canvas(format!("forced by {RENDER_ENV}=canvas"));
    }
    match raw {
        #[cfg(target_os = "linux")]
        Ok(RawWindowHandle::Xlib(handle)) => native_x11(handle.window, &platform, canvas),
        #[cfg(target_os = "linux")]
        Ok(RawWindowHandle::Xcb(handle)) => {
            native_x11(u64::from(handle.window.get()), &platform, canvas)
        }
        Ok(RawWindowHandle::Wayland(_)) => canvas("no X11 display: Wayland".into()),
        Ok(_) => canvas(format!(
            "native video surfaces are not implemented on {} yet",
            std::env::consts::OS
        )),
        Err(error) => canvas(format!("the main window has no native handle: {error}")),
    }
}

#[cfg(target_os = "linux")]
fn native_x11(parent: u64, platform: &str, canvas: impl Fn(String) -> Choice) -> Choice {
    match x11::X11Host::connect(parent) {
        Ok(host) => Choice {
            backend: Backend::X11(host),
            reason: "X11 child windows over the webview".into(),
            platform: platform.to_owned(),
        },
        Err(error) => canvas(format!("X11 unavailable: {error}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rect(x: f64, width: f64, visible: bool) -> TileRect {
        TileRect {
            tile_id: "t".into(),
            x,
            y: 10.4,
            width,
            height: 90.6,
            visible,
        }
    }

    #[test]
    fn rects_round_to_pixels_and_hide_when_empty() {
        assert_eq!(
            placement(&rect(-3.5, 160.2, true)),
            Some(((-4, 10), (160, 91)))
        );
        assert_eq!(placement(&rect(0.0, 160.0, false)), None);
        assert_eq!(placement(&rect(0.0, 0.2, true)), None);
        let parsed: TileRect = serde_json::from_str(
            r#"{"tile_id":"self","x":1,"y":2,"width":3.5,"height":4,"visible":true}"#,
        )
        .unwrap();
        assert_eq!(parsed.tile_id, "self");
        assert_eq!(
            serde_json::to_value(RenderPath::NativeX11).unwrap(),
            "native-x11"
        );
    }
}
