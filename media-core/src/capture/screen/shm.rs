//! MIT-SHM 1.2 capture: the X server writes each picture into a segment it
//! created (`CreateSegment`, handed back as a file descriptor) and that is
//! mapped here, instead of sending the pixels through the socket.

use super::ScreenError;
use std::ptr::NonNull;
use x11rb::connection::Connection;
use x11rb::protocol::shm::ConnectionExt as _;
use x11rb::protocol::xproto::{Drawable, ImageFormat};
use x11rb::rust_connection::RustConnection;

/// A mapped shared-memory segment of `len` bytes, attached to the server.
pub(super) struct Segment {
    seg: u32,
    ptr: NonNull<u8>,
    len: usize,
}

// The mapping is plain memory owned by this value alone.
#[allow(unsafe_code)]
// SAFETY: the pointer is only read or written through `&mut self`.
unsafe impl Send for Segment {}

impl Segment {
    /// Whether the server offers MIT-SHM 1.2 with file descriptors
    /// (`CreateSegment`).
    pub(super) fn supported(conn: &RustConnection) -> bool {
        conn.shm_query_version()
            .ok()
            .and_then(|c| c.reply().ok())
            .is_some_and(|v| (v.major_version, v.minor_version) >= (1, 2))
    }

    /// A segment of `len` bytes the server creates and both sides map;
    /// `None` when the server refuses it or the mapping fails.
    pub(super) fn create(conn: &RustConnection, len: usize) -> Option<Segment> {
        let seg = conn.generate_id().ok()?;
        let reply = conn
            .shm_create_segment(seg, u32::try_from(len).ok()?, false)
            .ok()?
            .reply()
            .ok()?;
        #[allow(unsafe_code)]
        // SAFETY: a fresh shared mapping of a descriptor the server sized to
        // `len` bytes; nothing else in this process maps it.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
                rustix::mm::MapFlags::SHARED,
                &reply.shm_fd,
                0,
            )
        };
        let ptr = match ptr.ok().and_then(|p| NonNull::new(p.cast::<u8>())) {
            Some(ptr) => ptr,
            None => {
                let _ = conn.shm_detach(seg);
                return None;
            }
        };
        Some(Segment { seg, ptr, len })
    }

    /// The segment's size in bytes.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Reads `width` x `height` pixels of `drawable` (ZPixmap) into the
    /// segment and returns them with their depth.
    pub(super) fn get_image(
        &mut self,
        conn: &RustConnection,
        drawable: Drawable,
        (x, y): (i16, i16),
        width: u16,
        height: u16,
        on_error: impl Fn(x11rb::errors::ReplyError) -> ScreenError,
    ) -> Result<(u8, &mut [u8]), ScreenError> {
        let reply = conn
            .shm_get_image(
                drawable,
                x,
                y,
                width,
                height,
                !0,
                ImageFormat::Z_PIXMAP.into(),
                self.seg,
                0,
            )
            .map_err(|e| ScreenError::Connection(e.to_string()))?
            .reply()
            .map_err(on_error)?;
        let size = (reply.size as usize).min(self.len);
        #[allow(unsafe_code)]
        // SAFETY: `len` mapped bytes; the server wrote them before its reply
        // and writes again only on the next request, which needs `&mut self`.
        let data = unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), size) };
        Ok((reply.depth, data))
    }

    /// Detaches the segment from the server (when it is replaced).
    pub(super) fn detach(self, conn: &RustConnection) {
        let _ = conn.shm_detach(self.seg);
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        #[allow(unsafe_code)]
        // SAFETY: the mapping made in `create`, unmapped once.
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}
