//! Downscaling an I420 frame before encoding, by a box filter: each output
//! sample is the rounded mean of the source samples its area covers
//! (every source sample is read once, so it costs about one pass over the
//! captured frame).

use crate::frame::VideoFrame;

/// `frame` scaled down to `width` x `height` (even, at most the frame's
/// size; a larger size is clamped to it). Capture time is kept.
pub(crate) fn downscale(frame: &VideoFrame, width: u32, height: u32) -> VideoFrame {
    let (sw, sh) = (frame.width as usize, frame.height as usize);
    let (dw, dh) = (
        (width as usize).min(sw) & !1,
        (height as usize).min(sh) & !1,
    );
    let mut data = Vec::with_capacity(VideoFrame::i420_len(dw as u32, dh as u32));
    box_filter(frame.y(), (sw, sh), (dw, dh), &mut data);
    box_filter(frame.u(), (sw / 2, sh / 2), (dw / 2, dh / 2), &mut data);
    box_filter(frame.v(), (sw / 2, sh / 2), (dw / 2, dh / 2), &mut data);
    VideoFrame {
        width: dw as u32,
        height: dh as u32,
        data,
        capture_time_us: frame.capture_time_us,
    }
}

/// The source span `[start, end)` that output index `i` of `to` covers in
/// `from` samples (never empty).
fn span(i: usize, from: usize, to: usize) -> (usize, usize) {
    let start = i * from / to;
    (start, ((i + 1) * from / to).max(start + 1))
}

/// Appends `plane` (`src` width x height) box-filtered to `dst` size.
fn box_filter(plane: &[u8], src: (usize, usize), dst: (usize, usize), out: &mut Vec<u8>) {
    let (sw, sh) = src;
    let (dw, dh) = dst;
    if (sw, sh) == (2 * dw, 2 * dh) {
        return halve(plane, sw, dh, out);
    }
    let columns: Vec<(usize, usize)> = (0..dw).map(|x| span(x, sw, dw)).collect();
    let mut sums = vec![0u32; dw];
    for y in 0..dh {
        let (y0, y1) = span(y, sh, dh);
        sums.fill(0);
        for row in plane.chunks_exact(sw).skip(y0).take(y1 - y0) {
            for (sum, &(x0, x1)) in sums.iter_mut().zip(&columns) {
                *sum += row[x0..x1].iter().map(|&v| u32::from(v)).sum::<u32>();
            }
        }
        for (sum, &(x0, x1)) in sums.iter().zip(&columns) {
            let n = ((x1 - x0) * (y1 - y0)) as u32;
            out.push(((sum + n / 2) / n) as u8);
        }
    }
}

/// The exact 2x case of [`box_filter`] (every simulcast layer is half the
/// one above), as plain index loops: the same rounded means, several times
/// faster where the crate is built without optimisation (debug tests).
fn halve(plane: &[u8], sw: usize, dh: usize, out: &mut Vec<u8>) {
    let dw = sw / 2;
    for y in 0..dh {
        let top = &plane[2 * y * sw..(2 * y + 1) * sw];
        let bottom = &plane[(2 * y + 1) * sw..(2 * y + 2) * sw];
        for x in 0..dw {
            let sum = u16::from(top[2 * x])
                + u16::from(top[2 * x + 1])
                + u16::from(bottom[2 * x])
                + u16::from(bottom[2 * x + 1]);
            out.push(((sum + 2) / 4) as u8);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::barcode::{self, Stamp};
    use crate::capture::test_pattern::TestPattern;

    #[test]
    fn halves_average_and_keep_the_size_even() {
        // 4x2 luma: 0 and 100 alternating columns; chroma flat.
        let mut frame = VideoFrame::black(4, 2);
        frame
            .planes_mut()
            .0
            .copy_from_slice(&[0, 100, 0, 100, 0, 100, 0, 100]);
        let half = downscale(&frame, 2, 2);
        assert_eq!((half.width, half.height), (2, 2));
        assert_eq!(half.y(), &[50, 50, 50, 50]);
        assert_eq!((half.u(), half.v()), (&[128u8][..], &[128u8][..]));
        assert_eq!(half.data.len(), VideoFrame::i420_len(2, 2));
        half.validate().unwrap();
        let clamped = downscale(&frame, 9, 9);
        assert_eq!((clamped.width, clamped.height), (4, 2));
        assert_eq!(clamped.data, frame.data);
    }

    #[test]
    fn halving_gives_the_box_filter_s_rounded_means() {
        let mut frame = VideoFrame::black(4, 4);
        let luma: Vec<u8> = (0..16).map(|i| (i * 17 % 256) as u8).collect();
        frame.planes_mut().0.copy_from_slice(&luma);
        let half = downscale(&frame, 2, 2);
        let mean = |a: u8, b: u8, c: u8, d: u8| {
            ((u16::from(a) + u16::from(b) + u16::from(c) + u16::from(d) + 2) / 4) as u8
        };
        let l = &luma;
        assert_eq!(
            half.y(),
            &[
                mean(l[0], l[1], l[4], l[5]),
                mean(l[2], l[3], l[6], l[7]),
                mean(l[8], l[9], l[12], l[13]),
                mean(l[10], l[11], l[14], l[15]),
            ]
        );
        half.validate().unwrap();
    }

    #[test]
    fn the_stamp_survives_every_step_of_the_ladder() {
        let mut pattern = TestPattern::new(1280, 720);
        let frame = pattern.frame(1234, 5_000_000);
        let expected = barcode::read_near(&frame, 5_000_000).expect("stamped");
        for (w, h) in [(960, 540), (640, 360), (320, 180)] {
            let small = downscale(&frame, w, h);
            assert_eq!((small.width, small.height), (w, h));
            assert_eq!(small.capture_time_us, frame.capture_time_us);
            let stamp: Stamp = barcode::read_near(&small, 5_000_000).expect("readable");
            assert_eq!(stamp, expected, "at {w}x{h}");
        }
    }
}
