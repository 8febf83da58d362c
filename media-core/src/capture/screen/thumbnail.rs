//! A source's thumbnail for the app's picker: one capture, box-averaged
//! down to fit a box (aspect kept, never enlarged), as PNG.

/// A small picture of a screen or window, PNG-encoded (8-bit RGB), for a
/// picker's `<img src="data:image/png;base64,...">`.
#[derive(Clone, PartialEq, Eq)]
pub struct Thumbnail {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The PNG file's bytes.
    pub png: Vec<u8>,
}

impl std::fmt::Debug for Thumbnail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Thumbnail")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("png_bytes", &self.png.len())
            .finish()
    }
}

impl Thumbnail {
    /// The thumbnail of a `width` x `height` BGRX picture (rows `stride`
    /// bytes apart) that fits `max_width` x `max_height` (at least 1 x 1).
    ///
    /// # Panics
    ///
    /// Panics if `bgrx` holds fewer than `height` rows of `stride` bytes
    /// or a row fewer than `width` pixels: the caller sizes both from the
    /// image.
    pub(crate) fn from_bgrx(
        width: u32,
        height: u32,
        bgrx: &[u8],
        stride: usize,
        max_width: u32,
        max_height: u32,
    ) -> Thumbnail {
        let (tw, th) = fit((width, height), (max_width, max_height));
        let rgb = box_average(width, height, bgrx, stride, tw, th);
        let mut png = Vec::new();
        let mut encoder = png::Encoder::new(&mut png, tw, th);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder
            .write_header()
            .and_then(|mut w| w.write_image_data(&rgb))
            .expect("a non-empty RGB picture encodes into memory");
        Thumbnail {
            width: tw,
            height: th,
            png,
        }
    }
}

/// The size of `source` scaled to fit `bound` (aspect kept, never larger
/// than the source, at least 1 x 1).
fn fit(source: (u32, u32), bound: (u32, u32)) -> (u32, u32) {
    let (w, h) = (u64::from(source.0.max(1)), u64::from(source.1.max(1)));
    let (bw, bh) = (u64::from(bound.0.max(1)), u64::from(bound.1.max(1)));
    // The smaller of the two scales, and never above 1.
    let (num, den) = if bw * h <= bh * w { (bw, w) } else { (bh, h) };
    let (num, den) = if num >= den { (1, 1) } else { (num, den) };
    let scaled = |side: u64| ((side * num / den).max(1)) as u32;
    (scaled(w), scaled(h))
}

/// Each output pixel the mean of the source pixels it covers (RGB).
fn box_average(width: u32, height: u32, bgrx: &[u8], stride: usize, tw: u32, th: u32) -> Vec<u8> {
    let (w, h, tw, th) = (width as usize, height as usize, tw as usize, th as usize);
    assert!(stride >= w * 4 && bgrx.len() >= stride * h.saturating_sub(1) + w * 4);
    let mut rgb = Vec::with_capacity(tw * th * 3);
    let mut sums = vec![[0u32; 4]; tw];
    for ty in 0..th {
        let (y0, y1) = (ty * h / th, ((ty + 1) * h / th).max(ty * h / th + 1));
        sums.fill([0; 4]);
        for row in bgrx[y0 * stride..].chunks(stride).take(y1 - y0) {
            for (tx, sum) in sums.iter_mut().enumerate() {
                let (x0, x1) = (tx * w / tw, ((tx + 1) * w / tw).max(tx * w / tw + 1));
                for px in row[x0 * 4..x1 * 4].chunks_exact(4) {
                    sum[0] += u32::from(px[2]);
                    sum[1] += u32::from(px[1]);
                    sum[2] += u32::from(px[0]);
                    sum[3] += 1;
                }
            }
        }
        for sum in &sums {
            let n = sum[3].max(1);
            rgb.extend(sum[..3].iter().map(|&c| ((c + n / 2) / n) as u8));
        }
    }
    rgb
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_the_box_keeping_the_aspect_and_never_enlarges() {
        assert_eq!(fit((1920, 1080), (320, 180)), (320, 180));
        assert_eq!(fit((1920, 1080), (320, 320)), (320, 180));
        assert_eq!(fit((1080, 1920), (320, 180)), (101, 180));
        assert_eq!(fit((200, 100), (320, 180)), (200, 100));
        assert_eq!(fit((4000, 2), (100, 100)), (100, 1));
        assert_eq!(fit((640, 480), (0, 0)), (1, 1));
    }

    #[test]
    fn averages_each_box_and_encodes_a_png_of_that_size() {
        // 4x2, left half red, right half blue, a padded stride.
        let (w, h, stride) = (4u32, 2u32, 20usize);
        let mut bgrx = vec![0u8; stride * 2];
        for y in 0..2 {
            for x in 0..4 {
                let px: [u8; 4] = if x < 2 {
                    [0, 0, 255, 0]
                } else {
                    [255, 0, 0, 0]
                };
                bgrx[y * stride + x * 4..][..4].copy_from_slice(&px);
            }
        }
        assert_eq!(
            box_average(w, h, &bgrx, stride, 2, 1),
            vec![255, 0, 0, 0, 0, 255]
        );
        assert_eq!(box_average(w, h, &bgrx, stride, 1, 1), vec![128, 0, 128]);
        let thumb = Thumbnail::from_bgrx(w, h, &bgrx, stride, 2, 2);
        assert_eq!((thumb.width, thumb.height), (2, 1));
        assert_eq!(&thumb.png[..8], b"\x89PNG\r\n\x1a\n");
        let decoder = png::Decoder::new(std::io::Cursor::new(&thumb.png));
        let mut reader = decoder.read_info().unwrap();
        let mut out = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut out).unwrap();
        assert_eq!((info.width, info.height), (2, 1));
        assert_eq!(&out[..6], &[255, 0, 0, 0, 0, 255]);
    }
}
