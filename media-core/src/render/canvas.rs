//! Where a stream is shown: a native window or a frame sink.

use std::fmt;
use std::sync::Arc;

use raw_window_handle::{HasDisplayHandle, HasWindowHandle};
use serde::{Deserialize, Serialize};

use super::{FrameSink, RenderError, RendererHandle};

/// How the picture is fitted to a view whose aspect ratio differs from the
/// video's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum ViewMode {
    /// Show the whole picture, scaled to fit; black bars fill the rest.
    #[default]
    AspectFit,
    /// Fill the whole view, scaled to cover it; the overflow is cropped.
    AspectFill,
    /// Stretch the picture to the view, ignoring the aspect ratio.
    ScaleToFill,
}

/// A native window to render into: anything that owns a window handle and
/// its display handle (`raw-window-handle` 0.6), plus the window's current
/// size in physical pixels.
///
/// The owner is kept alive as long as any renderer uses it, so the window
/// cannot disappear under the surface. To use a window you only have raw
/// handles for (e.g. an X11 child window made with Xlib), wrap them in a type
/// whose `window_handle()` / `display_handle()` call
/// `WindowHandle::borrow_raw` / `DisplayHandle::borrow_raw` and which keeps
/// the window open until it is dropped.
///
/// Cloning is cheap and shares the owner.
#[derive(Clone)]
pub struct RawWindowTarget {
    pub(crate) owner: Arc<dyn WindowOwner>,
    width: u32,
    height: u32,
}

/// A window + display handle owner that can move to the render thread.
pub(crate) trait WindowOwner: HasWindowHandle + HasDisplayHandle + Send + Sync {}
impl<T: HasWindowHandle + HasDisplayHandle + Send + Sync> WindowOwner for T {}

impl RawWindowTarget {
    /// A target for the window that `owner` refers to, currently
    /// `width` x `height` physical pixels.
    pub fn new(
        owner: impl HasWindowHandle + HasDisplayHandle + Send + Sync + 'static,
        width: u32,
        height: u32,
    ) -> Self {
        RawWindowTarget {
            owner: Arc::new(owner),
            width,
            height,
        }
    }

    /// The size given at creation, in physical pixels.
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }
}

impl fmt::Debug for RawWindowTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let window = self.owner.window_handle().map(|h| h.as_raw());
        f.debug_struct("RawWindowTarget")
            .field("window", &window)
            .field("width", &self.width)
            .field("height", &self.height)
            .finish()
    }
}

/// Where a stream is shown, and how: pass it to the player, or call
/// [`Canvas::open`] to get the renderer yourself.
#[derive(Debug, Clone)]
pub struct Canvas {
    target: CanvasTarget,
    view_mode: ViewMode,
    mirror: bool,
}

#[derive(Debug, Clone)]
enum CanvasTarget {
    Window(RawWindowTarget),
    Sink(FrameSink),
    Renderer(RendererHandle),
}

impl Canvas {
    /// Draw into a native window with the GPU, fitted per `view_mode`.
    pub fn window(target: RawWindowTarget, view_mode: ViewMode) -> Self {
        Canvas {
            target: CanvasTarget::Window(target),
            view_mode,
            mirror: false,
        }
    }

    /// Hand every frame to `sink` (headless use, tests, recording).
    pub fn sink(sink: FrameSink) -> Self {
        Canvas {
            target: CanvasTarget::Sink(sink),
            view_mode: ViewMode::default(),
            mirror: false,
        }
    }

    /// A canvas that is already open: [`Canvas::open`] returns a clone of
    /// `renderer`. The app keeps its own clone to resize, hide or close the
    /// view while the player (or preview) pushes frames into it; the view
    /// mode and mirroring stay as set on the renderer
    /// ([`RendererHandle::set_view_mode`], [`RendererHandle::set_mirror`]),
    /// [`Canvas::mirrored`] does not change them.
    pub fn renderer(renderer: RendererHandle) -> Self {
        Canvas {
            target: CanvasTarget::Renderer(renderer),
            view_mode: ViewMode::default(),
            mirror: false,
        }
    }

    /// Flip the picture horizontally (a local preview usually is). A sink
    /// receives the frames unflipped either way.
    pub fn mirrored(mut self, mirror: bool) -> Self {
        self.mirror = mirror;
        self
    }

    /// The view mode.
    pub fn view_mode(&self) -> ViewMode {
        self.view_mode
    }

    /// Whether the picture is mirrored.
    pub fn is_mirrored(&self) -> bool {
        self.mirror
    }

    /// The window, when this canvas draws into one.
    pub fn window_target(&self) -> Option<&RawWindowTarget> {
        match &self.target {
            CanvasTarget::Window(target) => Some(target),
            CanvasTarget::Sink(_) | CanvasTarget::Renderer(_) => None,
        }
    }

    /// The sink, when this canvas hands frames to one.
    pub fn frame_sink(&self) -> Option<&FrameSink> {
        match &self.target {
            CanvasTarget::Sink(sink) => Some(sink),
            CanvasTarget::Window(_) | CanvasTarget::Renderer(_) => None,
        }
    }

    /// The renderer, when this canvas was made with [`Canvas::renderer`].
    pub fn opened_renderer(&self) -> Option<&RendererHandle> {
        match &self.target {
            CanvasTarget::Renderer(renderer) => Some(renderer),
            CanvasTarget::Window(_) | CanvasTarget::Sink(_) => None,
        }
    }

    /// Starts rendering: for a window, creates the GPU device and surface on
    /// a new render thread (blocks until they exist, typically tens of
    /// milliseconds; call it from `spawn_blocking` in async code); for a sink,
    /// returns at once; for [`Canvas::renderer`], returns that renderer.
    pub fn open(self) -> Result<RendererHandle, RenderError> {
        match self.target {
            CanvasTarget::Window(target) => {
                RendererHandle::spawn_window(target, self.view_mode, self.mirror)
            }
            CanvasTarget::Sink(sink) => Ok(RendererHandle::for_sink(sink)),
            CanvasTarget::Renderer(renderer) => Ok(renderer),
        }
    }
}
