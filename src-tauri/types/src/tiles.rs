//! Video tiles: the rects `update_tiles` takes and what `diagnostics`
//! returns.

use serde::{Deserialize, Serialize};

/// A tile's rect as the UI sends it (the contract's `TileRect`): device
/// pixels, relative to the webview's top-left corner.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TileRect {
    /// The `data-tile-id` of the tile's video element.
    pub tile_id: String,
    /// Left edge.
    pub x: f64,
    /// Top edge.
    pub y: f64,
    /// Width.
    pub width: f64,
    /// Height.
    pub height: f64,
    /// Whether the tile is shown at all.
    pub visible: bool,
}

/// Which video path is active (the contract's `Diagnostics.render_path`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum RenderPath {
    /// X11 child windows drawn by the GPU.
    #[serde(rename = "native-x11")]
    NativeX11,
    /// RGBA frames drawn by the page.
    #[serde(rename = "canvas")]
    Canvas,
}

/// The contract's `Diagnostics`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Diagnostics {
    /// Which video path is active.
    pub render_path: RenderPath,
    /// Why that path.
    pub reason: String,
    /// The GPU adapter name once a native surface exists.
    pub adapter: Option<String>,
    /// `linux-x11`, `linux-wayland`, `windows`, `macos`, ...
    pub platform: String,
    /// Live surfaces.
    pub tiles: usize,
}
