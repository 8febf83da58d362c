//! The PipeWire side of a portal share: the remote the portal opened (a
//! file descriptor) and one input stream on the node it named, run on a
//! thread of its own (PipeWire's main loop is not `Send`).
//!
//! Formats asked for: BGRx and BGRA in shared memory (no DMA-BUF modifiers
//! are offered, so the compositor sends `MemFd`/`MemPtr` buffers), the
//! layout [`bgrx_to_i420`] reads. The newest picture is kept; a capture
//! converts it to I420. A stream that errors or disconnects marks the
//! source gone.

use super::gone::Gone;
use super::PortalError;
use crate::capture::screen::bgrx_to_i420;
use crate::frame::{unix_time_us, VideoFrame};
use pipewire as pw;
use pw::spa;
use spa::param::video::{VideoFormat, VideoInfoRaw};
use spa::pod::Pod;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

/// The newest picture the stream delivered, as sent (BGRx rows).
#[derive(Debug, Default)]
pub(super) struct Picture {
    /// Width in pixels.
    pub(super) width: u32,
    /// Height in pixels.
    pub(super) height: u32,
    /// Bytes from one row to the next.
    pub(super) stride: usize,
    /// `height` rows of `stride` bytes.
    pub(super) bgrx: Vec<u8>,
    /// When it arrived (unix µs).
    pub(super) time_us: u64,
    /// Pictures delivered so far.
    pub(super) count: u64,
}

impl Picture {
    /// The picture as I420 (its size cropped to even); `None` before the
    /// first one.
    pub(super) fn to_i420(&self) -> Option<VideoFrame> {
        let (w, h) = (self.width & !1, self.height & !1);
        (self.count > 0 && w > 0 && h > 0)
            .then(|| bgrx_to_i420(w, h, &self.bgrx, self.stride, self.time_us))
    }
}

/// The picture slot shared between the PipeWire thread and captures.
pub(super) type PictureSlot = Arc<Mutex<Picture>>;

/// A running PipeWire input stream; dropping it stops its thread.
pub(super) struct PipeWireStream {
    quit: pw::channel::Sender<()>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for PipeWireStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipeWireStream").finish_non_exhaustive()
    }
}

impl PipeWireStream {
    /// Connects to the PipeWire remote `fd` and streams node `node_id` into
    /// `slot`; marks `gone` when the stream fails or ends. Errors when
    /// PipeWire cannot set up the context, the connection or the stream.
    pub(super) fn connect(
        fd: OwnedFd,
        node_id: u32,
        slot: PictureSlot,
        gone: Gone,
    ) -> Result<PipeWireStream, PortalError> {
        let (quit, quit_rx) = pw::channel::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("confer-pipewire".into())
            .spawn(move || {
                if let Err(e) = run(fd, node_id, slot, gone, quit_rx, &ready_tx) {
                    let _ = ready_tx.send(Err(e));
                }
            })
            .map_err(|e| PortalError::PipeWire(format!("cannot start its thread: {e}")))?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(PipeWireStream {
                quit,
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(PortalError::PipeWire("its thread ended".into()))
            }
        }
    }
}

impl Drop for PipeWireStream {
    fn drop(&mut self) {
        let _ = self.quit.send(());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The stream's callbacks' own state.
struct StreamData {
    format: VideoInfoRaw,
    slot: PictureSlot,
    gone: Gone,
}

/// The PipeWire thread: sets up, says ready (or returns the error), runs
/// the loop until `quit`.
fn run(
    fd: OwnedFd,
    node_id: u32,
    slot: PictureSlot,
    gone: Gone,
    quit: pw::channel::Receiver<()>,
    ready: &std::sync::mpsc::Sender<Result<(), PortalError>>,
) -> Result<(), PortalError> {
    let failed =
        |what: &'static str| move |e: pw::Error| PortalError::PipeWire(format!("{what}: {e}"));
    pw::init();
    let mainloop = pw::main_loop::MainLoopRc::new(None).map_err(failed("main loop"))?;
    let context = pw::context::ContextRc::new(&mainloop, None).map_err(failed("context"))?;
    let core = context
        .connect_fd_rc(fd, None)
        .map_err(failed("connecting to the portal's remote"))?;
    let core_gone = gone.clone();
    let _core_listener = core
        .add_listener_local()
        .error(move |id, _seq, res, message| {
            // id 0 is the core itself: the connection is broken.
            if id == pw::core::PW_ID_CORE {
                core_gone.mark(&format!("PipeWire connection failed ({res}): {message}"));
            }
        })
        .register();
    let stream = pw::stream::StreamBox::new(
        &core,
        "confer-screen",
        pw::properties::properties! {
            *pw::keys::MEDIA_TYPE => "Video",
            *pw::keys::MEDIA_CATEGORY => "Capture",
            *pw::keys::MEDIA_ROLE => "Screen",
        },
    )
    .map_err(failed("stream"))?;
    let data = StreamData {
        format: VideoInfoRaw::default(),
        slot,
        gone,
    };
    let _listener = stream
        .add_local_listener_with_user_data(data)
        .state_changed(|_, data, _old, new| match new {
            pw::stream::StreamState::Error(e) => data.gone.mark(&format!("PipeWire stream: {e}")),
            pw::stream::StreamState::Unconnected => data.gone.mark("PipeWire stream disconnected"),
            _ => {}
        })
        .param_changed(|_, data, id, param| {
            if id == spa::param::ParamType::Format.as_raw() {
                if let Some(param) = param {
                    if data.format.parse(param).is_err() {
                        tracing::warn!("PipeWire: unreadable video format");
                    }
                }
            }
        })
        .process(|stream, data| {
            if let Some(mut buffer) = stream.dequeue_buffer() {
                if let Some(d) = buffer.datas_mut().first_mut() {
                    keep_picture(d, &data.format, &data.slot);
                }
            }
        })
        .register()
        .map_err(failed("stream listener"))?;
    let format = format_param().map_err(PortalError::PipeWire)?;
    let mut params = [Pod::from_bytes(&format)
        .ok_or_else(|| PortalError::PipeWire("bad format parameter".into()))?];
    stream
        .connect(
            spa::utils::Direction::Input,
            Some(node_id),
            pw::stream::StreamFlags::AUTOCONNECT | pw::stream::StreamFlags::MAP_BUFFERS,
            &mut params,
        )
        .map_err(failed("connecting the stream"))?;
    let weak = mainloop.downgrade();
    let _quit = quit.attach(mainloop.loop_(), move |()| {
        if let Some(mainloop) = weak.upgrade() {
            mainloop.quit();
        }
    });
    let _ = ready.send(Ok(()));
    mainloop.run();
    Ok(())
}

/// Copies one buffer's picture into the slot when its format is known.
fn keep_picture(data: &mut spa::buffer::Data, format: &VideoInfoRaw, slot: &PictureSlot) {
    if !matches!(format.format(), VideoFormat::BGRx | VideoFormat::BGRA) {
        return;
    }
    let (width, height) = (format.size().width, format.size().height);
    let chunk = data.chunk();
    let (offset, size) = (chunk.offset() as usize, chunk.size() as usize);
    let stride = match usize::try_from(chunk.stride()) {
        Ok(0) | Err(_) => width as usize * 4,
        Ok(stride) => stride,
    };
    let Some(bytes) = data.data() else { return };
    let needed = stride * (height as usize).saturating_sub(1) + width as usize * 4;
    let end = offset.saturating_add(size).min(bytes.len());
    let rows = bytes.get(offset..end).unwrap_or_default();
    if width == 0 || height == 0 || stride < width as usize * 4 || rows.len() < needed {
        return;
    }
    let mut picture = slot.lock().unwrap_or_else(PoisonError::into_inner);
    picture.bgrx.clear();
    picture.bgrx.extend_from_slice(&rows[..needed]);
    picture.width = width;
    picture.height = height;
    picture.stride = stride;
    picture.time_us = unix_time_us();
    picture.count += 1;
}

/// The `EnumFormat` parameter: raw video, BGRx or BGRA, any size and rate.
fn format_param() -> Result<Vec<u8>, String> {
    use spa::param::format::{FormatProperties, MediaSubtype, MediaType};
    let object = spa::pod::object!(
        spa::utils::SpaTypes::ObjectParamFormat,
        spa::param::ParamType::EnumFormat,
        spa::pod::property!(FormatProperties::MediaType, Id, MediaType::Video),
        spa::pod::property!(FormatProperties::MediaSubtype, Id, MediaSubtype::Raw),
        spa::pod::property!(
            FormatProperties::VideoFormat,
            Choice,
            Enum,
            Id,
            VideoFormat::BGRx,
            VideoFormat::BGRx,
            VideoFormat::BGRA
        ),
        spa::pod::property!(
            FormatProperties::VideoSize,
            Choice,
            Range,
            Rectangle,
            spa::utils::Rectangle {
                width: 1920,
                height: 1080
            },
            spa::utils::Rectangle {
                width: 1,
                height: 1
            },
            spa::utils::Rectangle {
                width: 8192,
                height: 8192
            }
        ),
        spa::pod::property!(
            FormatProperties::VideoFramerate,
            Choice,
            Range,
            Fraction,
            spa::utils::Fraction { num: 30, denom: 1 },
            spa::utils::Fraction { num: 0, denom: 1 },
            spa::utils::Fraction { num: 240, denom: 1 }
        ),
    );
    spa::pod::serialize::PodSerializer::serialize(
        std::io::Cursor::new(Vec::new()),
        &spa::pod::Value::Object(object),
    )
    .map(|(cursor, _)| cursor.into_inner())
    .map_err(|e| format!("cannot build the format parameter: {e:?}"))
}
