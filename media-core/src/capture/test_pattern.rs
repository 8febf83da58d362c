//! A synthetic video source: a diagonal luma gradient and chroma bands that
//! drift every frame, a bouncing box, and the [`barcode`]
//! stamp (frame number + capture time) across the top. Cheap enough to run
//! at 1080p30 in a debug build: each row is a slice copy from a precomputed
//! ramp.

use super::barcode::{self, Stamp};
use crate::frame::VideoFrame;

/// Period of the gradient in pixels.
const PERIOD: usize = 512;
/// Pixels the gradient moves per frame.
const SPEED: usize = 3;

/// Generates test-pattern frames of one size.
#[derive(Debug, Clone)]
pub struct TestPattern {
    width: u32,
    height: u32,
    luma_ramp: Vec<u8>,
    chroma_ramp: Vec<u8>,
}

impl TestPattern {
    /// A pattern for frames of this size (even; see [`VideoFrame::check_size`]).
    ///
    /// # Panics
    ///
    /// Panics if the size is invalid.
    pub fn new(width: u32, height: u32) -> TestPattern {
        assert!(
            VideoFrame::check_size(width, height).is_ok(),
            "TestPattern needs an even, non-zero size, got {width}x{height}"
        );
        let triangle = |i: usize| {
            let p = i % PERIOD;
            let half = PERIOD / 2;
            if p < half {
                p * 255 / half
            } else {
                (PERIOD - p) * 255 / half
            }
        };
        let luma_ramp = (0..PERIOD + width as usize)
            .map(|i| (32 + triangle(i) * 180 / 255) as u8)
            .collect();
        let chroma_ramp = (0..PERIOD + width as usize / 2)
            .map(|i| (88 + triangle(i * 2) * 80 / 255) as u8)
            .collect();
        TestPattern {
            width,
            height,
            luma_ramp,
            chroma_ramp,
        }
    }

    /// The frame size.
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// Frame `frame_number`, stamped with it and `capture_time_us`.
    pub fn frame(&mut self, frame_number: u32, capture_time_us: u64) -> VideoFrame {
        let (w, h) = (self.width as usize, self.height as usize);
        let mut frame = VideoFrame::black(self.width, self.height);
        frame.capture_time_us = capture_time_us;
        let n = frame_number as usize;
        let phase = n * SPEED % PERIOD;
        let (y_plane, u_plane, v_plane) = frame.planes_mut();

        for (y, row) in y_plane.chunks_exact_mut(w).enumerate() {
            let start = (y + phase) % PERIOD;
            row.copy_from_slice(&self.luma_ramp[start..start + w]);
        }
        let cw = w / 2;
        for (cy, (u_row, v_row)) in u_plane
            .chunks_exact_mut(cw)
            .zip(v_plane.chunks_exact_mut(cw))
            .enumerate()
        {
            let u_start = (phase / 2 + cy / 4) % PERIOD;
            u_row.copy_from_slice(&self.chroma_ramp[u_start..u_start + cw]);
            let v_start = (PERIOD - phase % PERIOD + cy) % PERIOD;
            v_row.copy_from_slice(&self.chroma_ramp[v_start..v_start + cw]);
        }

        // The bouncing box, below the barcode band.
        let band = barcode::band_height(self.width) as usize;
        let side = (w.min(h) / 5) & !1;
        if side >= 4 && h > band + side {
            let x = bounce(n * 5, w - side) & !1;
            let y = (band + bounce(n * 3, h - band - side)) & !1;
            let inner = side / 4;
            for row in y..y + side {
                let line = &mut y_plane[row * w + x..row * w + x + side];
                line.fill(220);
                let r = row - y;
                if r >= inner && r < side - inner {
                    line[inner..side - inner].fill(40);
                }
            }
            for row in y / 2..(y + side) / 2 {
                u_plane[row * cw + x / 2..row * cw + (x + side) / 2].fill(200);
                v_plane[row * cw + x / 2..row * cw + (x + side) / 2].fill(60);
            }
        }

        barcode::draw(
            &mut frame,
            Stamp {
                frame_number,
                capture_time_us,
            },
        );
        frame
    }
}

/// A position bouncing between 0 and `range` for a travelled distance `t`.
fn bounce(t: usize, range: usize) -> usize {
    if range == 0 {
        return 0;
    }
    let p = t % (2 * range);
    if p <= range {
        p
    } else {
        2 * range - p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_move_and_carry_their_stamp() {
        let mut pattern = TestPattern::new(640, 360);
        let a = pattern.frame(1, 1_000);
        let b = pattern.frame(2, 2_000);
        a.validate().unwrap();
        assert_ne!(a.y(), b.y(), "content must move");
        let stamp = barcode::read_near(&b, 0).unwrap();
        assert_eq!(
            stamp,
            Stamp {
                frame_number: 2,
                capture_time_us: 2_000
            }
        );
        assert_eq!(b.capture_time_us, 2_000);
    }

    #[test]
    fn tiny_sizes_do_not_panic() {
        let mut pattern = TestPattern::new(2, 2);
        pattern.frame(7, 0).validate().unwrap();
        let mut pattern = TestPattern::new(64, 16);
        pattern.frame(7, 0).validate().unwrap();
    }

    #[test]
    fn bounce_stays_in_range() {
        for t in 0..1000 {
            assert!(bounce(t, 37) <= 37);
        }
        assert_eq!(bounce(5, 0), 0);
    }
}
