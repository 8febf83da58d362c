//! `RendererHandle`: the player's side of a canvas. Window canvases render on
//! a thread of their own, fed through a one-frame mailbox (the newest frame
//! wins); sink canvases deliver in the caller's thread. Clones share one
//! renderer, so an app can keep one to resize or hide the view while a
//! player pushes frames through another.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use tokio::sync::watch;

use super::planes::OwnedI420;
use super::{
    FrameSink, GpuRenderer, I420Planes, RawWindowTarget, RenderError, RendererStats, ViewMode,
};

/// A running renderer for one canvas, from [`Canvas::open`](super::Canvas::open).
///
/// Every method returns at once: a window renderer draws on its own thread,
/// keeping only the newest pushed frame, so a slow GPU drops frames instead of
/// blocking the caller.
///
/// Cloning is cheap: all clones drive the same renderer. It closes when
/// [`close`](RendererHandle::close) is called on any clone, or when the last
/// clone is dropped.
#[derive(Debug, Clone)]
pub struct RendererHandle {
    inner: Arc<Inner>,
}

/// What the clones of one [`RendererHandle`] share.
#[derive(Debug)]
struct Inner {
    kind: Kind,
    rendered: watch::Receiver<u64>,
}

#[derive(Debug)]
enum Kind {
    Window {
        shared: Arc<Shared>,
        thread: Mutex<Option<JoinHandle<()>>>,
    },
    Sink {
        sink: FrameSink,
        state: Mutex<SinkState>,
        rendered: watch::Sender<u64>,
    },
}

impl RendererHandle {
    /// Queues `frame` for drawing, replacing a queued frame that was not
    /// drawn yet. The planes are copied, so the caller's buffer is free when
    /// this returns. While hidden, the newest frame is kept and drawn when
    /// the renderer is shown again.
    pub fn push(&self, frame: &I420Planes<'_>) -> Result<(), RenderError> {
        frame.validate()?;
        match &self.inner.kind {
            Kind::Window { shared, .. } => {
                let mut inbox = shared.lock();
                if inbox.closed {
                    return Err(RenderError::Closed);
                }
                let mut buffer = match inbox.frame.take() {
                    Some(replaced) => {
                        inbox.dropped += 1;
                        replaced
                    }
                    None => inbox.spare.take().unwrap_or_default(),
                };
                buffer.copy_from(frame);
                inbox.frame = Some(buffer);
                let wake = inbox.visible;
                drop(inbox);
                if wake {
                    shared.wake.notify_one();
                }
                Ok(())
            }
            Kind::Sink {
                sink,
                state,
                rendered,
            } => {
                let mut state = lock(state);
                if state.closed {
                    return Err(RenderError::Closed);
                }
                if !state.visible {
                    state.stats.frames_dropped += 1;
                    return Ok(());
                }
                sink.deliver(frame);
                state.stats.frames_rendered += 1;
                rendered.send_replace(state.stats.frames_rendered);
                Ok(())
            }
        }
    }

    /// The view's new size in physical pixels; the surface is reconfigured
    /// and the current frame redrawn. Sinks ignore it.
    pub fn resize(&self, width: u32, height: u32) {
        self.update(|inbox| inbox.size = Some((width, height)));
    }

    /// Changes how the picture is fitted; the current frame is redrawn.
    pub fn set_view_mode(&self, mode: ViewMode) {
        self.update(|inbox| inbox.mode = mode);
    }

    /// Mirrors (or un-mirrors) the picture; the current frame is redrawn.
    pub fn set_mirror(&self, mirror: bool) {
        self.update(|inbox| inbox.mirror = mirror);
    }

    /// Hidden renderers draw nothing (a sink receives nothing) until shown
    /// again; showing redraws the newest frame.
    pub fn set_visible(&self, visible: bool) {
        match &self.inner.kind {
            Kind::Window { .. } => self.update(|inbox| inbox.visible = visible),
            Kind::Sink { state, .. } => lock(state).visible = visible,
        }
    }

    /// Stops rendering and, for a window, waits for the render thread to
    /// finish its current draw and release the surface. Later pushes fail
    /// with [`RenderError::Closed`].
    pub fn close(&self) {
        self.inner.close();
    }

    /// Whether the renderer was closed (or its render thread ended).
    pub fn is_closed(&self) -> bool {
        match &self.inner.kind {
            Kind::Window { shared, .. } => shared.lock().closed,
            Kind::Sink { state, .. } => lock(state).closed,
        }
    }

    /// What the renderer has done so far.
    pub fn stats(&self) -> RendererStats {
        match &self.inner.kind {
            Kind::Window { shared, .. } => {
                let mut stats = lock(&shared.stats).clone();
                stats.frames_dropped += shared.lock().dropped;
                stats
            }
            Kind::Sink { state, .. } => lock(state).stats.clone(),
        }
    }

    /// The number of frames rendered so far, updated after each one: wait
    /// for the first rendered frame with `rendered().wait_for(|n| *n > 0)`.
    pub fn rendered(&self) -> watch::Receiver<u64> {
        self.inner.rendered.clone()
    }

    /// Starts a render thread for `target` and waits until its GPU device and
    /// surface exist.
    pub(crate) fn spawn_window(
        target: RawWindowTarget,
        mode: ViewMode,
        mirror: bool,
    ) -> Result<Self, RenderError> {
        let shared = Arc::new(Shared {
            inbox: Mutex::new(Inbox {
                mode,
                mirror,
                visible: true,
                ..Default::default()
            }),
            wake: Condvar::new(),
            stats: Mutex::new(RendererStats::default()),
        });
        let (rendered_tx, rendered_rx) = watch::channel(0);
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("confer-render".into())
            .spawn(move || {
                let _closed_on_exit = CloseOnExit(Arc::clone(&thread_shared));
                let renderer = match GpuRenderer::for_window(&target) {
                    Ok(renderer) => {
                        *lock(&thread_shared.stats) = renderer.stats();
                        // The spawner waits for this message.
                        let _ = ready_tx.send(Ok(()));
                        renderer
                    }
                    Err(error) => {
                        let _ = ready_tx.send(Err(error));
                        return;
                    }
                };
                render_loop(renderer, &thread_shared, &rendered_tx);
            })
            .map_err(RenderError::RenderThread)?;
        let ready = ready_rx
            .recv()
            .unwrap_or_else(|_| Err(RenderError::Gpu("the render thread panicked".into())));
        if let Err(error) = ready {
            // The thread has returned (or is about to) after sending the error.
            let _ = thread.join();
            return Err(error);
        }
        Ok(RendererHandle::from_inner(Inner {
            kind: Kind::Window {
                shared,
                thread: Mutex::new(Some(thread)),
            },
            rendered: rendered_rx,
        }))
    }

    /// A handle that hands frames to `sink` in the caller's thread.
    pub(crate) fn for_sink(sink: FrameSink) -> Self {
        let (rendered, rendered_rx) = watch::channel(0);
        RendererHandle::from_inner(Inner {
            kind: Kind::Sink {
                sink,
                state: Mutex::new(SinkState {
                    visible: true,
                    closed: false,
                    stats: RendererStats {
                        adapter: "frame sink".into(),
                        ..Default::default()
                    },
                }),
                rendered,
            },
            rendered: rendered_rx,
        })
    }

    fn from_inner(inner: Inner) -> Self {
        RendererHandle {
            inner: Arc::new(inner),
        }
    }

    /// Whether `other` is a clone of this handle (drives the same renderer).
    pub fn same_renderer(&self, other: &RendererHandle) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    fn update(&self, change: impl FnOnce(&mut Inbox)) {
        match &self.inner.kind {
            Kind::Window { shared, .. } => {
                let mut inbox = shared.lock();
                change(&mut inbox);
                inbox.dirty = true;
                drop(inbox);
                shared.wake.notify_one();
            }
            // A sink gets the decoded frames as they are: size, mode and
            // mirroring do not apply.
            Kind::Sink { .. } => {}
        }
    }
}

impl Inner {
    fn close(&self) {
        match &self.kind {
            Kind::Window { shared, thread } => {
                shared.lock().closed = true;
                shared.wake.notify_one();
                if let Some(thread) = lock(thread).take() {
                    if thread.thread().id() != std::thread::current().id() {
                        // A panic on the render thread was already logged by the hook.
                        let _ = thread.join();
                    }
                }
            }
            Kind::Sink { state, .. } => lock(state).closed = true,
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.close();
    }
}

#[derive(Debug)]
struct Shared {
    inbox: Mutex<Inbox>,
    wake: Condvar,
    stats: Mutex<RendererStats>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inbox> {
        lock(&self.inbox)
    }
}

/// What the caller has asked for since the render thread last looked.
#[derive(Debug, Default)]
struct Inbox {
    /// The newest undrawn frame.
    frame: Option<OwnedI420>,
    /// A drawn frame's buffer, reused by the next push.
    spare: Option<OwnedI420>,
    /// Frames replaced before they were drawn, not yet counted in stats.
    dropped: u64,
    size: Option<(u32, u32)>,
    mode: ViewMode,
    mirror: bool,
    visible: bool,
    /// Settings changed: redraw the current frame.
    dirty: bool,
    closed: bool,
}

#[derive(Debug)]
struct SinkState {
    visible: bool,
    closed: bool,
    stats: RendererStats,
}

/// Marks the renderer closed when the render thread ends, even by a panic,
/// so pushes fail instead of queueing forever.
struct CloseOnExit(Arc<Shared>);

impl Drop for CloseOnExit {
    fn drop(&mut self) {
        self.0.lock().closed = true;
    }
}

fn render_loop(mut renderer: GpuRenderer, shared: &Shared, rendered: &watch::Sender<u64>) {
    let mut current: Option<OwnedI420> = None;
    loop {
        let (mode, mirror) = {
            let mut inbox = shared.lock();
            let has_work = |inbox: &Inbox| {
                inbox.closed || inbox.dirty || (inbox.visible && inbox.frame.is_some())
            };
            while !has_work(&inbox) {
                inbox = shared
                    .wake
                    .wait(inbox)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
            if inbox.closed {
                return;
            }
            inbox.dirty = false;
            if let Some((width, height)) = inbox.size.take() {
                renderer.resize(width, height);
            }
            renderer.note_dropped(std::mem::take(&mut inbox.dropped));
            if !inbox.visible {
                continue;
            }
            if let Some(frame) = inbox.frame.take() {
                inbox.spare = current.replace(frame);
            }
            (inbox.mode, inbox.mirror)
        };
        if let Some(frame) = &current {
            match renderer.draw(&frame.planes(), mode, mirror) {
                Ok(true) => {
                    rendered.send_replace(renderer.stats().frames_rendered);
                }
                Ok(false) => {}
                Err(error) => tracing::warn!(%error, "could not draw a video frame"),
            }
        }
        *lock(&shared.stats) = renderer.stats();
    }
}

/// Locks a mutex whose data stays consistent even if a holder panicked.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
