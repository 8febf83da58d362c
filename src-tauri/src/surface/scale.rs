//! I420 -> RGBA for the canvas fallback: BT.601 limited range, nearest
//! neighbour scaling, fitted into the tile with black bars (like the native
//! renderer's `AspectFit`), optionally mirrored.

use media_core::render::I420Planes;

/// Bytes before the pixels of a canvas message: `u32 LE width, u32 LE height`.
pub(super) const HEADER_BYTES: usize = 8;

/// One canvas message: the header, then `width * height` RGBA pixels showing
/// `frame` fitted into `width` x `height` (black bars around it).
pub(super) fn fit_rgba(frame: &I420Planes<'_>, width: u32, height: u32, mirror: bool) -> Vec<u8> {
    let (out_w, out_h) = (width as usize, height as usize);
    let mut out = vec![0u8; HEADER_BYTES + out_w * out_h * 4];
    out[..4].copy_from_slice(&width.to_le_bytes());
    out[4..8].copy_from_slice(&height.to_le_bytes());
    // Opaque black everywhere first: the bars.
    for pixel in out[HEADER_BYTES..].chunks_exact_mut(4) {
        pixel[3] = 255;
    }
    let (src_w, src_h) = (frame.width as usize, frame.height as usize);
    if out_w == 0 || out_h == 0 || src_w == 0 || src_h == 0 {
        return out;
    }
    // The picture's size inside the tile, keeping its aspect ratio.
    let (fit_w, fit_h) = if out_w * src_h <= out_h * src_w {
        (out_w, (out_w * src_h / src_w).max(1))
    } else {
        ((out_h * src_w / src_h).max(1), out_h)
    };
    let (x0, y0) = ((out_w - fit_w) / 2, (out_h - fit_h) / 2);
    let columns: Vec<usize> = (0..fit_w)
        .map(|dx| {
            let sx = dx * src_w / fit_w;
            if mirror {
                src_w - 1 - sx
            } else {
                sx
            }
        })
        .collect();
    let pixels = &mut out[HEADER_BYTES..];
    for dy in 0..fit_h {
        let sy = dy * src_h / fit_h;
        let y_row = &frame.y[sy * frame.y_stride..];
        let uv_offset = (sy / 2) * frame.uv_stride;
        let (u_row, v_row) = (&frame.u[uv_offset..], &frame.v[uv_offset..]);
        let start = ((y0 + dy) * out_w + x0) * 4;
        let row = &mut pixels[start..start + fit_w * 4];
        for (pixel, &sx) in row.chunks_exact_mut(4).zip(&columns) {
            let rgb = yuv_to_rgb(y_row[sx], u_row[sx / 2], v_row[sx / 2]);
            pixel[..3].copy_from_slice(&rgb);
        }
    }
    out
}

/// BT.601 limited range, in fixed point.
fn yuv_to_rgb(y: u8, u: u8, v: u8) -> [u8; 3] {
    let c = 298 * (i32::from(y) - 16);
    let d = i32::from(u) - 128;
    let e = i32::from(v) - 128;
    let clamp = |x: i32| ((x + 128) >> 8).clamp(0, 255) as u8;
    [
        clamp(c + 409 * e),
        clamp(c - 100 * d - 208 * e),
        clamp(c + 516 * d),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// BT.601 limited-range YUV of an RGB colour.
    fn yuv(rgb: [u8; 3]) -> [u8; 3] {
        let [r, g, b] = rgb.map(|c| f64::from(c) / 255.0);
        let y = 16.0 + 65.481 * r + 128.553 * g + 24.966 * b;
        let u = 128.0 - 37.797 * r - 74.203 * g + 112.0 * b;
        let v = 128.0 + 112.0 * r - 93.786 * g - 18.214 * b;
        [y, u, v].map(|c| c.round().clamp(0.0, 255.0) as u8)
    }

    /// A `width` x `height` frame, left half `left`, right half `right`.
    fn split(width: u32, height: u32, left: [u8; 3], right: [u8; 3]) -> [Vec<u8>; 3] {
        let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
        let colour = |x: u32| if x < width / 2 { yuv(left) } else { yuv(right) };
        let y = (0..height)
            .flat_map(|_| (0..width).map(move |x| colour(x)[0]))
            .collect();
        let u = (0..ch)
            .flat_map(|_| (0..cw).map(move |x| colour(x * 2)[1]))
            .collect();
        let v = (0..ch)
            .flat_map(|_| (0..cw).map(move |x| colour(x * 2)[2]))
            .collect();
        [y, u, v]
    }

    fn pixel(message: &[u8], width: u32, x: u32, y: u32) -> [u8; 4] {
        let i = HEADER_BYTES + ((y * width + x) * 4) as usize;
        [message[i], message[i + 1], message[i + 2], message[i + 3]]
    }

    #[track_caller]
    fn assert_near(got: [u8; 4], want: [u8; 3]) {
        let close = got[..3]
            .iter()
            .zip(want)
            .all(|(&g, w)| (i32::from(g) - i32::from(w)).abs() <= 3);
        assert!(close && got[3] == 255, "got {got:?}, want {want:?}");
    }

    #[test]
    fn header_colours_bars_and_mirror() {
        let (red, blue) = ([255, 0, 0], [0, 0, 255]);
        let [y, u, v] = split(16, 8, red, blue);
        let frame = I420Planes::packed(16, 8, &y, &u, &v, 0).unwrap();
        // 2:1 into a 32x32 square: 16 rows of picture, 8 black rows above.
        let message = fit_rgba(&frame, 32, 32, false);
        assert_eq!(message.len(), HEADER_BYTES + 32 * 32 * 4);
        assert_eq!(&message[..8], &[32, 0, 0, 0, 32, 0, 0, 0]);
        assert_near(pixel(&message, 32, 16, 2), [0, 0, 0]);
        assert_near(pixel(&message, 32, 2, 16), red);
        assert_near(pixel(&message, 32, 30, 16), blue);
        assert_near(pixel(&message, 32, 16, 29), [0, 0, 0]);
        let mirrored = fit_rgba(&frame, 32, 32, true);
        assert_near(pixel(&mirrored, 32, 2, 16), blue);
        assert_near(pixel(&mirrored, 32, 30, 16), red);
        // Wider than 2:1: bars left and right instead (picture at x 12..28).
        let wide = fit_rgba(&frame, 40, 8, false);
        assert_near(pixel(&wide, 40, 2, 4), [0, 0, 0]);
        assert_near(pixel(&wide, 40, 14, 4), red);
        assert_near(pixel(&wide, 40, 26, 4), blue);
        assert_near(pixel(&wide, 40, 35, 4), [0, 0, 0]);
        // Nothing to draw into.
        assert_eq!(fit_rgba(&frame, 0, 5, false).len(), HEADER_BYTES);
    }
}
