//! Packed 32-bit BGRX pixels (an X11 ZPixmap of depth 24 on a
//! little-endian server) to I420, and the cursor drawn over them.
//!
//! Same BT.601 limited-range coefficients as
//! [`VideoFrame::from_rgba`](crate::frame::VideoFrame::from_rgba), with a row
//! stride and two rows at a time (each 2x2 block's chroma from its mean).

use crate::frame::VideoFrame;

/// Converts the top-left `width` x `height` pixels (even) of BGRX rows
/// `stride` bytes apart to an I420 frame stamped `capture_time_us`.
///
/// # Panics
///
/// Panics if `bgrx` is shorter than `height` rows of `stride` bytes, or a
/// row shorter than `width` pixels: the caller sizes both from the image.
pub fn bgrx_to_i420(
    width: u32,
    height: u32,
    bgrx: &[u8],
    stride: usize,
    capture_time_us: u64,
) -> VideoFrame {
    let (w, h) = (width as usize, height as usize);
    assert!(stride >= w * 4 && bgrx.len() >= stride * h.saturating_sub(1) + w * 4);
    let mut frame = VideoFrame::black(width, height);
    frame.capture_time_us = capture_time_us;
    let (y_plane, u_plane, v_plane) = frame.planes_mut();
    let cw = w / 2;
    for pair in 0..h / 2 {
        let top = &bgrx[2 * pair * stride..][..w * 4];
        let bottom = &bgrx[(2 * pair + 1) * stride..][..w * 4];
        let (y_top, y_bottom) = y_plane[2 * pair * w..][..2 * w].split_at_mut(w);
        let u_row = &mut u_plane[pair * cw..][..cw];
        let v_row = &mut v_plane[pair * cw..][..cw];
        for cx in 0..cw {
            let mut sum = [0i32; 3];
            for (src, dst) in [(top, &mut *y_top), (bottom, &mut *y_bottom)] {
                for dx in 0..2 {
                    let px = &src[(2 * cx + dx) * 4..][..3];
                    let (b, g, r) = (px[0] as i32, px[1] as i32, px[2] as i32);
                    dst[2 * cx + dx] = (((66 * r + 129 * g + 25 * b + 128) >> 8) + 16) as u8;
                    sum[0] += r;
                    sum[1] += g;
                    sum[2] += b;
                }
            }
            let [r, g, b] = sum.map(|s| (s + 2) >> 2);
            u_row[cx] = (((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128) as u8;
            v_row[cx] = (((112 * r - 94 * g - 18 * b + 128) >> 8) + 128) as u8;
        }
    }
    frame
}

/// A cursor picture: premultiplied ARGB pixels (XFixes' format), placed
/// with its top-left corner at `(x, y)` in the captured image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cursor {
    /// Left edge in image pixels (may be negative or past the image).
    pub(crate) x: i32,
    /// Top edge in image pixels.
    pub(crate) y: i32,
    /// Width in pixels.
    pub(crate) width: usize,
    /// `width * height` premultiplied ARGB pixels, row by row.
    pub(crate) argb: Vec<u32>,
}

impl Cursor {
    /// Blends the cursor over BGRX rows `stride` bytes apart of an image
    /// `width` x `height`; the parts outside it are clipped.
    pub(crate) fn draw(&self, bgrx: &mut [u8], stride: usize, width: usize, height: usize) {
        if self.width == 0 {
            return;
        }
        for (row, pixels) in self.argb.chunks_exact(self.width).enumerate() {
            let y = self.y + row as i32;
            if y < 0 || y as usize >= height {
                continue;
            }
            for (col, &argb) in pixels.iter().enumerate() {
                let x = self.x + col as i32;
                if x < 0 || x as usize >= width {
                    continue;
                }
                let alpha = argb >> 24;
                if alpha == 0 {
                    continue;
                }
                let dst = &mut bgrx[y as usize * stride + x as usize * 4..][..3];
                for (i, d) in dst.iter_mut().enumerate() {
                    // Premultiplied: source + destination * (1 - alpha).
                    let s = (argb >> (8 * i)) & 0xff;
                    *d = (s + (*d as u32 * (255 - alpha) + 127) / 255).min(255) as u8;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bgrx(w: usize, h: usize, stride: usize, px: [u8; 4]) -> Vec<u8> {
        let mut data = vec![0xee; stride * h];
        for row in 0..h {
            for col in 0..w {
                data[row * stride + col * 4..][..4].copy_from_slice(&px);
            }
        }
        data
    }

    #[test]
    fn converts_like_the_rgba_path_with_a_stride() {
        // Red in BGRX, rows padded to 24 bytes.
        let data = bgrx(4, 2, 24, [0, 0, 255, 0]);
        let frame = bgrx_to_i420(4, 2, &data, 24, 7);
        let rgba = [255u8, 0, 0, 255].repeat(8);
        let reference = VideoFrame::from_rgba(4, 2, &rgba).unwrap();
        assert_eq!(frame.data, reference.data);
        assert_eq!(frame.capture_time_us, 7);
        assert_eq!((frame.y()[0], frame.u()[0], frame.v()[0]), (82, 90, 240));
    }

    #[test]
    fn crops_to_the_size_asked() {
        let data = bgrx(5, 3, 20, [255, 255, 255, 0]);
        let frame = bgrx_to_i420(4, 2, &data, 20, 0);
        assert!(frame.y().iter().all(|&y| y == 235));
    }

    #[test]
    fn draws_an_opaque_and_a_clear_cursor_pixel_clipped() {
        let (w, h, stride) = (4, 4, 16);
        let mut data = bgrx(w, h, stride, [10, 20, 30, 0]);
        let cursor = Cursor {
            x: 2,
            y: 3,
            width: 3,
            // Opaque white, fully transparent, off the image (clipped).
            argb: vec![0xffff_ffff, 0, 0xffff_ffff, 0xffff_ffff, 0, 0],
        };
        cursor.draw(&mut data, stride, w, h);
        assert_eq!(&data[3 * stride + 8..][..3], &[255, 255, 255]);
        assert_eq!(&data[3 * stride + 12..][..3], &[10, 20, 30]);
        // Half-transparent black over the pixel above the cursor's row.
        let half = Cursor {
            x: 0,
            y: 0,
            width: 1,
            argb: vec![0x8000_0000],
        };
        half.draw(&mut data, stride, w, h);
        assert_eq!(&data[..3], &[5, 10, 15]);
    }
}
