//! A machine-readable stamp (frame number + capture time) drawn into the top
//! of a video frame, robust enough to survive H.264 at low bitrate, so a
//! receiver can count frames and measure glass-to-glass delay.
//!
//! # Format (version 1)
//!
//! The stamp is a 96-bit payload drawn as a grid of 32 columns x 3 rows of
//! square blocks in the luma plane, starting at the top-left pixel:
//!
//! - block side `b = floor(width / 32)` pixels (a frame narrower than 64
//!   pixels carries no stamp); the band covers `x in [0, 32*b)`,
//!   `y in [0, 3*b)`;
//! - bit `i` (0..96) is the block in row `floor(i / 32)`, column `i % 32`,
//!   i.e. the block with top-left pixel `((i % 32) * b, floor(i / 32) * b)`;
//! - a 1 bit is white (Y = 235), a 0 bit black (Y = 16); the chroma under
//!   the band is neutral (U = V = 128);
//! - to read a bit, average the luma over the block's centre (the inner
//!   square from `b/4` to `b - b/4` in both directions, integer division)
//!   and compare with mid-gray: `average >= 128` is 1.
//!
//! The 96 bits are 12 bytes, each byte most significant bit first (bit 0 is
//! the MSB of byte 0):
//!
//! | bytes | content |
//! |---|---|
//! | 0..4 | frame number, u32 big-endian |
//! | 4..10 | capture time in Unix microseconds modulo 2^48, big-endian |
//! | 10..12 | CRC-16/CCITT-FALSE of bytes 0..10 (poly 0x1021, init 0xFFFF, no reflection, no final xor), big-endian |
//!
//! A reader rejects the stamp when the CRC does not match. 2^48 us is about
//! 8.9 years, so the reader restores the full time as the value congruent to
//! the 48 bits that is nearest to its own clock (48 bits also fit a
//! JavaScript number exactly).

use crate::frame::{unix_time_us, VideoFrame};

/// Number of block columns in the band.
pub const COLUMNS: u32 = 32;
/// Number of block rows in the band.
pub const ROWS: u32 = 3;
/// Luma of a 1 bit.
pub const WHITE: u8 = 235;
/// Luma of a 0 bit.
pub const BLACK: u8 = 16;

const TIME_BITS: u32 = 48;
const TIME_MASK: u64 = (1 << TIME_BITS) - 1;
const PAYLOAD_BYTES: usize = 12;

/// What the band carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Stamp {
    /// The frame number (wraps at 2^32).
    pub frame_number: u32,
    /// The capture time as Unix microseconds (only the low 48 bits travel).
    pub capture_time_us: u64,
}

/// The block side for a frame width, `None` when the frame is too narrow.
pub fn block_size(width: u32) -> Option<u32> {
    let b = width / COLUMNS;
    (b >= 2).then_some(b)
}

/// The height of the band for a frame width (0 when there is no band).
pub fn band_height(width: u32) -> u32 {
    block_size(width).map_or(0, |b| b * ROWS)
}

/// Paints the stamp into the top of the frame. Frames too small for the band
/// (narrower than 64 pixels or shorter than the band) are left unchanged.
pub fn draw(frame: &mut VideoFrame, stamp: Stamp) {
    let Some(b) = block_size(frame.width) else {
        return;
    };
    if ROWS * b > frame.height || frame.validate().is_err() {
        return;
    }
    let payload = encode(stamp);
    let (w, b) = (frame.width as usize, b as usize);
    let (y_plane, u_plane, v_plane) = frame.planes_mut();
    for row in 0..ROWS as usize {
        for col in 0..COLUMNS as usize {
            let i = row * COLUMNS as usize + col;
            let bit = payload[i / 8] >> (7 - i % 8) & 1;
            let luma = if bit == 1 { WHITE } else { BLACK };
            for y in row * b..(row + 1) * b {
                y_plane[y * w + col * b..y * w + (col + 1) * b].fill(luma);
            }
        }
    }
    let (cw, band_w, band_h) = (w / 2, COLUMNS as usize * b / 2, ROWS as usize * b / 2);
    for cy in 0..band_h {
        u_plane[cy * cw..cy * cw + band_w].fill(128);
        v_plane[cy * cw..cy * cw + band_w].fill(128);
    }
}

/// Reads the stamp, restoring the full capture time against this machine's
/// clock. `None` when there is no valid stamp (CRC mismatch or too small).
pub fn read(frame: &VideoFrame) -> Option<Stamp> {
    read_near(frame, unix_time_us())
}

/// Reads the stamp, restoring the full capture time as the value nearest to
/// `reference_us` whose low 48 bits match.
pub fn read_near(frame: &VideoFrame, reference_us: u64) -> Option<Stamp> {
    let b = block_size(frame.width)? as usize;
    if ROWS as usize * b > frame.height as usize || frame.validate().is_err() {
        return None;
    }
    let w = frame.width as usize;
    let y_plane = frame.y();
    let (lo, hi) = (b / 4, b - b / 4);
    let mut payload = [0u8; PAYLOAD_BYTES];
    for i in 0..(ROWS * COLUMNS) as usize {
        let (row, col) = (i / COLUMNS as usize, i % COLUMNS as usize);
        let (mut sum, mut count) = (0u32, 0u32);
        for y in row * b + lo..row * b + hi {
            for &v in &y_plane[y * w + col * b + lo..y * w + col * b + hi] {
                sum += v as u32;
                count += 1;
            }
        }
        if sum >= 128 * count {
            payload[i / 8] |= 1 << (7 - i % 8);
        }
    }
    let crc = u16::from_be_bytes([payload[10], payload[11]]);
    if crc16(&payload[..10]) != crc {
        return None;
    }
    let frame_number = u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]);
    let mut t = [0u8; 8];
    t[2..].copy_from_slice(&payload[4..10]);
    Some(Stamp {
        frame_number,
        capture_time_us: restore_time(u64::from_be_bytes(t), reference_us),
    })
}

/// The 12 payload bytes for a stamp (see the module doc).
fn encode(stamp: Stamp) -> [u8; PAYLOAD_BYTES] {
    let mut p = [0u8; PAYLOAD_BYTES];
    p[..4].copy_from_slice(&stamp.frame_number.to_be_bytes());
    p[4..10].copy_from_slice(&(stamp.capture_time_us & TIME_MASK).to_be_bytes()[2..]);
    let crc = crc16(&p[..10]);
    p[10..].copy_from_slice(&crc.to_be_bytes());
    p
}

/// The value with these low 48 bits that is nearest to `reference`.
fn restore_time(low: u64, reference: u64) -> u64 {
    let period = 1u64 << TIME_BITS;
    let base = reference & !TIME_MASK;
    [
        base.checked_sub(period),
        Some(base),
        base.checked_add(period),
    ]
    .into_iter()
    .flatten()
    .filter_map(|b| b.checked_add(low))
    .min_by_key(|c| c.abs_diff(reference))
    .unwrap_or(low)
}

/// CRC-16/CCITT-FALSE.
fn crc16(data: &[u8]) -> u16 {
    let mut crc = 0xFFFFu16;
    for &byte in data {
        crc ^= (byte as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::test_pattern::TestPattern;
    use crate::codec::h264::{H264Decoder, H264Encoder};
    use crate::codec::video_config::VideoConfig;

    #[test]
    fn crc_matches_the_standard_check_value() {
        assert_eq!(crc16(b"123456789"), 0x29B1);
    }

    #[test]
    fn round_trip_without_codec() {
        let now = unix_time_us();
        let mut f = VideoFrame::black(320, 180);
        let stamp = Stamp {
            frame_number: 0xDEAD_BEEF,
            capture_time_us: now,
        };
        draw(&mut f, stamp);
        assert_eq!(read(&f), Some(stamp));
        // A corrupted block fails the CRC.
        let b = block_size(320).unwrap() as usize;
        let y = &mut f.planes_mut().0;
        for row in 0..b {
            for x in 0..b {
                y[row * 320 + x] = 255 - y[row * 320 + x];
            }
        }
        assert_eq!(read(&f), None);
        assert_eq!(read(&VideoFrame::black(320, 180)), None);
        assert_eq!(read(&VideoFrame::black(32, 32)), None);
    }

    #[test]
    fn time_is_restored_near_the_reference() {
        let t = 1_764_000_000_000_000u64;
        assert_eq!(restore_time(t & TIME_MASK, t + 5_000_000), t);
        assert_eq!(restore_time(t & TIME_MASK, t - 5_000_000), t);
        let edge = (t | TIME_MASK) - 10; // just before a 2^48 boundary
        assert_eq!(restore_time(edge & TIME_MASK, edge + 100), edge);
        assert_eq!(restore_time((edge + 100) & TIME_MASK, edge), edge + 100);
    }

    /// Encodes `frames` test-pattern frames with our encoder and checks the
    /// stamps read back after decoding.
    fn survives_h264(width: u32, height: u32, fps: u32, kbps: u32, frames: u32) {
        let config = VideoConfig {
            width,
            height,
            fps,
            bitrate_kbps: kbps,
            keyframe_interval_s: 2,
        };
        let mut encoder = H264Encoder::new(&config).unwrap();
        let mut decoder = H264Decoder::new().unwrap();
        let mut pattern = TestPattern::new(width, height);
        let start = unix_time_us();
        let (mut ok, mut p_frames_ok) = (0, 0);
        for n in 0..frames {
            let t = start + n as u64 * 1_000_000 / fps as u64;
            let frame = pattern.frame(n, t);
            let Some(encoded) = encoder.encode(&frame, false).unwrap() else {
                continue;
            };
            let Some(decoded) = decoder.decode(&encoded.data).unwrap() else {
                continue;
            };
            if read(&decoded)
                == Some(Stamp {
                    frame_number: n,
                    capture_time_us: t,
                })
            {
                ok += 1;
                if !encoded.keyframe {
                    p_frames_ok += 1;
                }
            }
        }
        assert!(
            ok * 100 >= frames * 99,
            "{width}x{height}@{kbps}k: only {ok}/{frames} stamps read back"
        );
        assert!(p_frames_ok > frames / 2, "P-frames must carry stamps too");
    }

    #[test]
    fn survives_h264_at_180p_150_kbps() {
        survives_h264(320, 180, 15, 150, 150);
    }

    #[test]
    fn survives_h264_at_720p_1500_kbps() {
        survives_h264(1280, 720, 30, 1500, 90);
    }
}
