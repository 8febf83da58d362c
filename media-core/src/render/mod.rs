//! Rendering decoded video: wgpu into a native window surface, or a
//! [`FrameSink`] for headless use.
//!
//! A played (or previewed) stream is shown on a [`Canvas`]:
//!
//! - [`Canvas::window`] draws into a native window with [`GpuRenderer`]. The
//!   three I420 planes are uploaded as `R8` textures and converted to RGB
//!   (BT.601, limited range) in a WGSL fragment shader; the picture is fitted
//!   to the window per [`ViewMode`] and optionally mirrored (previews are).
//!   Each window gets its own render thread, so pushing a frame never blocks
//!   the caller's async runtime: the thread keeps only the newest frame.
//! - [`Canvas::sink`] hands every frame to a [`FrameSink`]: tests, recorders
//!   and headless participants read [`RenderedFrame`]s from a bounded channel.
//!
//! [`Canvas::open`] turns either into a [`RendererHandle`], the one object the
//! player talks to: [`push`](RendererHandle::push) frames,
//! [`resize`](RendererHandle::resize), change the view mode, hide and close.
//! Handles are cheap clones of one renderer: an app that must keep resizing
//! or hiding a view opens the renderer itself, keeps a clone, and hands the
//! engine [`Canvas::renderer`] (a canvas that is already open).
//!
//! ```
//! use media_core::render::{Canvas, FrameSink, I420Planes};
//!
//! # fn main() -> Result<(), media_core::render::RenderError> {
//! let sink = FrameSink::new();
//! let mut frames = sink.subscribe(8);
//! let renderer = Canvas::sink(sink).open()?;
//!
//! let (y, u, v) = (vec![128u8; 64 * 48], vec![128u8; 32 * 24], vec![128u8; 32 * 24]);
//! renderer.push(&I420Planes::packed(64, 48, &y, &u, &v, 0)?)?;
//! let frame = frames.try_recv().expect("a sink delivers synchronously");
//! assert_eq!((frame.width, frame.height, frame.frame_number), (64, 48, 1));
//! # Ok(()) }
//! ```
//!
//! ## Window handles
//!
//! [`RawWindowTarget::new`] takes any owner of a window and display handle
//! (`raw-window-handle` 0.6: a winit or Tauri window, or your own wrapper
//! around an X11 child window). The wgpu instance is built with that display
//! handle: the GL backend finds no adapter without it, and a surface on
//! another X connection is refused.
//!
//! ## Offscreen
//!
//! [`GpuRenderer::offscreen`] + [`GpuRenderer::render_to_rgba`] render a frame
//! into a texture and read it back as RGBA bytes (tests, thumbnails, a
//! `<canvas>` fallback).

mod canvas;
mod error;
mod gpu;
mod handle;
mod layout;
mod planes;
mod sink;

pub use canvas::{Canvas, RawWindowTarget, ViewMode};
pub use error::RenderError;
pub use gpu::{GpuRenderer, RendererStats};
pub use handle::RendererHandle;
pub use planes::I420Planes;
pub use sink::{FrameReceiver, FrameSink, RenderedFrame};

#[cfg(test)]
mod tests;
// Needs an X server: see the file for how to run it under Xvfb.
#[cfg(all(test, target_os = "linux"))]
mod window_test;
