//! The renderer's input: a borrowed I420 frame, plus an owned copy for the
//! render thread.

use super::RenderError;

/// A borrowed I420 (YUV 4:2:0, 8-bit, BT.601 limited range) frame: the input
/// of every renderer.
///
/// The chroma planes are `ceil(width / 2) x ceil(height / 2)`. Rows may be
/// padded: row `r` of the Y plane starts at `y[r * y_stride]`. Build it with
/// [`I420Planes::new`] (checks every length) or [`I420Planes::packed`]
/// (no padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct I420Planes<'a> {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The luma plane.
    pub y: &'a [u8],
    /// The Cb plane.
    pub u: &'a [u8],
    /// The Cr plane.
    pub v: &'a [u8],
    /// Bytes between the starts of two luma rows (>= `width`).
    pub y_stride: usize,
    /// Bytes between the starts of two chroma rows (>= `ceil(width / 2)`).
    pub uv_stride: usize,
    /// When the frame was captured, in microseconds (the capturer's clock;
    /// passed through to [`RenderedFrame`](super::RenderedFrame)).
    pub capture_time_us: u64,
}

impl<'a> I420Planes<'a> {
    /// A frame with padded rows; checks that each plane holds its rows.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        width: u32,
        height: u32,
        y: &'a [u8],
        u: &'a [u8],
        v: &'a [u8],
        y_stride: usize,
        uv_stride: usize,
        capture_time_us: u64,
    ) -> Result<Self, RenderError> {
        let planes = I420Planes {
            width,
            height,
            y,
            u,
            v,
            y_stride,
            uv_stride,
            capture_time_us,
        };
        planes.validate()?;
        Ok(planes)
    }

    /// A tightly packed frame (`y_stride = width`, `uv_stride = ceil(width / 2)`).
    pub fn packed(
        width: u32,
        height: u32,
        y: &'a [u8],
        u: &'a [u8],
        v: &'a [u8],
        capture_time_us: u64,
    ) -> Result<Self, RenderError> {
        Self::new(
            width,
            height,
            y,
            u,
            v,
            width as usize,
            chroma_len(width) as usize,
            capture_time_us,
        )
    }

    /// A tightly packed frame from one buffer holding Y, then U, then V
    /// (the layout of `frame::VideoFrame::data`).
    pub fn from_contiguous(
        width: u32,
        height: u32,
        data: &'a [u8],
        capture_time_us: u64,
    ) -> Result<Self, RenderError> {
        let y_len = width as usize * height as usize;
        let c_len = chroma_len(width) as usize * chroma_len(height) as usize;
        if data.len() < y_len + 2 * c_len {
            return Err(RenderError::InvalidFrame(format!(
                "{width}x{height} I420 needs {} bytes, got {}",
                y_len + 2 * c_len,
                data.len()
            )));
        }
        let planes = Self::split_packed(width, height, data, capture_time_us);
        planes.validate()?;
        Ok(planes)
    }

    /// Splits one packed buffer (Y, then U, then V) into planes without
    /// checking them: bytes past V are left out, and a short buffer gives
    /// short planes, which [`validate`](Self::validate) rejects.
    pub(crate) fn split_packed(
        width: u32,
        height: u32,
        data: &'a [u8],
        capture_time_us: u64,
    ) -> Self {
        let y_len = width as usize * height as usize;
        let cw = chroma_len(width) as usize;
        let c_len = cw * chroma_len(height) as usize;
        let (y, rest) = data.split_at(y_len.min(data.len()));
        let (u, rest) = rest.split_at(c_len.min(rest.len()));
        let v = &rest[..c_len.min(rest.len())];
        I420Planes {
            width,
            height,
            y,
            u,
            v,
            y_stride: width as usize,
            uv_stride: cw,
            capture_time_us,
        }
    }

    /// Width of the chroma planes: `ceil(width / 2)`.
    pub fn chroma_width(&self) -> u32 {
        chroma_len(self.width)
    }

    /// Height of the chroma planes: `ceil(height / 2)`.
    pub fn chroma_height(&self) -> u32 {
        chroma_len(self.height)
    }

    /// Checks the size and that every plane holds all its rows.
    pub fn validate(&self) -> Result<(), RenderError> {
        if self.width == 0 || self.height == 0 {
            return Err(RenderError::InvalidFrame(format!(
                "size {}x{} is empty",
                self.width, self.height
            )));
        }
        check_plane("Y", self.y, self.width, self.height, self.y_stride)?;
        let (cw, ch) = (self.chroma_width(), self.chroma_height());
        check_plane("U", self.u, cw, ch, self.uv_stride)?;
        check_plane("V", self.v, cw, ch, self.uv_stride)
    }
}

/// An owned, tightly packed copy of a frame (Y, U, V in one buffer), so the
/// caller's buffer is free as soon as `push` returns.
#[derive(Clone, Default)]
pub(crate) struct OwnedI420 {
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) data: Vec<u8>,
    pub(crate) capture_time_us: u64,
}

impl std::fmt::Debug for OwnedI420 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnedI420")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("capture_time_us", &self.capture_time_us)
            .finish_non_exhaustive()
    }
}

impl OwnedI420 {
    /// Copies `planes` into this buffer, reusing its allocation.
    pub(crate) fn copy_from(&mut self, planes: &I420Planes<'_>) {
        self.width = planes.width;
        self.height = planes.height;
        self.capture_time_us = planes.capture_time_us;
        self.data.clear();
        copy_rows(
            &mut self.data,
            planes.y,
            planes.width,
            planes.height,
            planes.y_stride,
        );
        let (cw, ch) = (planes.chroma_width(), planes.chroma_height());
        copy_rows(&mut self.data, planes.u, cw, ch, planes.uv_stride);
        copy_rows(&mut self.data, planes.v, cw, ch, planes.uv_stride);
    }

    /// The planes of this buffer.
    pub(crate) fn planes(&self) -> I420Planes<'_> {
        I420Planes::split_packed(self.width, self.height, &self.data, self.capture_time_us)
    }
}

pub(crate) fn chroma_len(n: u32) -> u32 {
    n.div_ceil(2)
}

fn check_plane(
    name: &str,
    plane: &[u8],
    width: u32,
    height: u32,
    stride: usize,
) -> Result<(), RenderError> {
    if stride < width as usize {
        return Err(RenderError::InvalidFrame(format!(
            "{name} stride {stride} is less than its width {width}"
        )));
    }
    // The last row only needs `width` bytes.
    let needed = stride * (height as usize - 1) + width as usize;
    if plane.len() < needed {
        return Err(RenderError::InvalidFrame(format!(
            "{name} plane has {} bytes, {width}x{height} with stride {stride} needs {needed}",
            plane.len()
        )));
    }
    Ok(())
}

fn copy_rows(out: &mut Vec<u8>, plane: &[u8], width: u32, height: u32, stride: usize) {
    let width = width as usize;
    if stride == width {
        out.extend_from_slice(&plane[..width * height as usize]);
    } else {
        for row in plane.chunks(stride).take(height as usize) {
            out.extend_from_slice(&row[..width]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_frames_validate_their_lengths() {
        let (y, c) = (vec![0u8; 6 * 4], vec![0u8; 3 * 2]);
        assert!(I420Planes::packed(6, 4, &y, &c, &c, 0).is_ok());
        let err = I420Planes::packed(6, 4, &y[..23], &c, &c, 0).unwrap_err();
        assert!(matches!(err, RenderError::InvalidFrame(_)), "{err}");
        assert!(I420Planes::packed(0, 4, &y, &c, &c, 0).is_err());
        // Odd sizes round the chroma planes up.
        let c9 = vec![0u8; 3 * 3];
        assert!(I420Planes::packed(5, 5, &y[..25.min(y.len())], &c9, &c9, 0).is_err());
        let y25 = vec![0u8; 25];
        assert!(I420Planes::packed(5, 5, &y25, &c9, &c9, 0).is_ok());
    }

    #[test]
    fn strided_frames_copy_to_packed() {
        // 2x2 luma with stride 4, 1x1 chroma with stride 3.
        let y = [1, 2, 99, 99, 3, 4];
        let (u, v) = ([5, 99, 99], [6]);
        let planes = I420Planes::new(2, 2, &y, &u, &v, 4, 3, 7).unwrap();
        let mut owned = OwnedI420::default();
        owned.copy_from(&planes);
        assert_eq!(owned.data, [1, 2, 3, 4, 5, 6]);
        let back = owned.planes();
        assert_eq!(
            (back.y, back.u, back.v),
            (&[1u8, 2, 3, 4][..], &[5u8][..], &[6u8][..])
        );
        assert_eq!(back.capture_time_us, 7);
        let contiguous = I420Planes::from_contiguous(2, 2, &owned.data, 7).unwrap();
        assert_eq!(contiguous, back);
        assert!(I420Planes::from_contiguous(2, 2, &owned.data[..5], 7).is_err());
    }
}
