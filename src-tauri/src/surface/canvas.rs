//! The canvas fallback: where there is no native surface (Wayland, an OS
//! without one yet, or `CONFER_RENDER=canvas`), a tile's frames go to a
//! [`FrameSink`]; a thread converts each to RGBA at the tile's device-pixel
//! size and sends it to the page over the `tauri::ipc::Channel` the UI gave
//! with `attach_canvas`: `[u32 LE width, u32 LE height, rgba...]`.
//!
//! Channels have no backpressure, so the thread paces itself (at most
//! [`MAX_FPS`] messages a second) and always converts the newest frame,
//! skipping the ones that arrived meanwhile.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use media_core::render::{Canvas, FrameReceiver, FrameSink, RenderError, RendererHandle};
use tauri::ipc::{Channel, InvokeResponseBody};

use super::scale;

/// The most messages a tile sends per second.
const MAX_FPS: u32 = 30;
/// The largest picture sent, per side (a 4K tile at most).
const MAX_SIDE: u32 = 4096;

/// A tile drawn by the page from RGBA messages.
pub(super) struct CanvasTile {
    view: Arc<Mutex<View>>,
}

/// What the converting thread needs to know about the tile.
#[derive(Default)]
struct View {
    /// Device pixels; `None` while hidden.
    size: Option<(u32, u32)>,
    mirror: bool,
    channel: Option<Channel<InvokeResponseBody>>,
    closed: bool,
}

fn lock(view: &Mutex<View>) -> MutexGuard<'_, View> {
    view.lock().unwrap_or_else(PoisonError::into_inner)
}

impl CanvasTile {
    /// A tile and its renderer (a frame sink), sending to `channel` once it
    /// is shown.
    pub(super) fn open(
        channel: Option<Channel<InvokeResponseBody>>,
    ) -> Result<(Self, RendererHandle), RenderError> {
        let sink = FrameSink::new();
        // Room for one frame while the previous is converted; older ones are
        // skipped on the way out.
        let frames = sink.subscribe(2);
        let renderer = Canvas::sink(sink).open()?;
        let view = Arc::new(Mutex::new(View {
            channel,
            ..View::default()
        }));
        let thread_view = Arc::clone(&view);
        std::thread::Builder::new()
            .name("confer-canvas".into())
            .spawn(move || convert_loop(frames, &thread_view))
            .map_err(|e| RenderError::Gpu(format!("cannot start the canvas thread: {e}")))?;
        Ok((CanvasTile { view }, renderer))
    }

    /// Shows the tile at `size` device pixels, or hides it (`None`).
    pub(super) fn set_size(&self, size: Option<(u32, u32)>) {
        lock(&self.view).size = size;
    }

    /// Flips the picture horizontally (the self-view).
    pub(super) fn set_mirror(&self, mirror: bool) {
        lock(&self.view).mirror = mirror;
    }

    /// Where the pictures go.
    pub(super) fn set_channel(&self, channel: Channel<InvokeResponseBody>) {
        lock(&self.view).channel = Some(channel);
    }
}

impl Drop for CanvasTile {
    fn drop(&mut self) {
        lock(&self.view).closed = true;
    }
}

/// Runs until the tile is dropped or every renderer feeding it is gone.
fn convert_loop(mut frames: FrameReceiver, view: &Mutex<View>) {
    let interval = Duration::from_secs(1) / MAX_FPS;
    let mut last_sent: Option<Instant> = None;
    while let Some(mut frame) = frames.blocking_recv() {
        if let Some(wait) = last_sent.and_then(|at| interval.checked_sub(at.elapsed())) {
            std::thread::sleep(wait);
        }
        while let Some(newer) = frames.try_recv() {
            frame = newer;
        }
        let (size, mirror, channel) = {
            let view = lock(view);
            if view.closed {
                return;
            }
            (view.size, view.mirror, view.channel.clone())
        };
        let (Some((width, height)), Some(channel)) = (size, channel) else {
            continue;
        };
        let message = scale::fit_rgba(
            &frame.planes(),
            width.min(MAX_SIDE),
            height.min(MAX_SIDE),
            mirror,
        );
        last_sent = Some(Instant::now());
        if let Err(error) = channel.send(InvokeResponseBody::Raw(message)) {
            tracing::debug!(%error, "canvas channel send failed");
        }
    }
}
