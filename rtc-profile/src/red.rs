//! RED, redundant audio data (RFC 2198): one RTP payload carrying the
//! current Opus packet (the primary block) after up to a few older ones
//! (redundant blocks), so a receiver that lost the older packets recovers
//! them from a later one.
//!
//! Layout: one 4-byte header per redundant block (`F=1 | block PT (7) |
//! timestamp offset (14) | block length (10)`), a 1-byte header for the
//! primary (`F=0 | block PT`), then the blocks' data in the same order,
//! oldest first. The offset says how far (in RTP ticks) before the packet's
//! own timestamp the block's audio starts.
//!
//! ```
//! use rtc_profile::red::{build, parse, RedBlock};
//!
//! let older = RedBlock { payload_type: 111, timestamp_offset: 960, data: b"older" };
//! let payload = build(111, b"now", &[older])?;
//! let red = parse(&payload)?;
//! assert_eq!(red.primary.data, b"now");
//! assert_eq!(red.redundant, vec![older]);
//! # Ok::<(), rtc_profile::red::RedError>(())
//! ```

/// The share of a congested link's rate (a standing queue) that audio with
/// its RED redundancy may take: the publisher caps its uplink's RED by it,
/// the SFU a congested player leg's. Redundancy does not repair congestion
/// loss, it feeds it.
pub const CONGESTED_AUDIO_SHARE: f64 = 0.2;

/// The largest timestamp offset a redundant block header can carry.
pub const MAX_TIMESTAMP_OFFSET: u16 = (1 << 14) - 1;
/// The largest block a redundant block header can describe.
pub const MAX_BLOCK_LEN: usize = (1 << 10) - 1;

/// One block of a RED payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedBlock<'a> {
    /// The payload type of the block's data (Opus).
    pub payload_type: u8,
    /// How many RTP ticks before the packet's timestamp the block starts
    /// (0 for the primary block).
    pub timestamp_offset: u16,
    /// The block's data (one Opus packet).
    pub data: &'a [u8],
}

/// A parsed RED payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedPayload<'a> {
    /// The redundant blocks, oldest first (largest offset first).
    pub redundant: Vec<RedBlock<'a>>,
    /// The primary block: this packet's own audio.
    pub primary: RedBlock<'a>,
}

/// Why a RED payload could not be parsed or built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RedError {
    /// The block headers end before the final (primary) header.
    #[error("RED payload ends inside its block headers")]
    TruncatedHeaders,
    /// The redundant blocks' lengths add up to more than the payload holds.
    #[error("RED block lengths exceed the payload")]
    TruncatedBlocks,
    /// A redundant block longer than a header can describe (1023 bytes).
    #[error("a RED redundant block is {0} bytes, more than 1023")]
    BlockTooLong(usize),
    /// A timestamp offset beyond 14 bits.
    #[error("a RED timestamp offset of {0} ticks exceeds 16383")]
    OffsetTooLarge(u16),
    /// A payload type beyond 7 bits.
    #[error("payload type {0} does not fit in 7 bits")]
    PayloadTypeTooLarge(u8),
}

/// Parses a RED payload. Never panics: malformed input is an error.
pub fn parse(payload: &[u8]) -> Result<RedPayload<'_>, RedError> {
    let mut headers = Vec::new();
    let mut at = 0;
    let primary_type = loop {
        let first = *payload.get(at).ok_or(RedError::TruncatedHeaders)?;
        if first & 0x80 == 0 {
            at += 1;
            break first & 0x7f;
        }
        let header = payload.get(at..at + 4).ok_or(RedError::TruncatedHeaders)?;
        let offset = (u16::from(header[1]) << 6) | (u16::from(header[2]) >> 2);
        let len = (usize::from(header[2] & 0x03) << 8) | usize::from(header[3]);
        headers.push((first & 0x7f, offset, len));
        at += 4;
    };
    let mut redundant = Vec::with_capacity(headers.len());
    for (payload_type, timestamp_offset, len) in headers {
        let data = payload.get(at..at + len).ok_or(RedError::TruncatedBlocks)?;
        redundant.push(RedBlock {
            payload_type,
            timestamp_offset,
            data,
        });
        at += len;
    }
    Ok(RedPayload {
        redundant,
        primary: RedBlock {
            payload_type: primary_type,
            timestamp_offset: 0,
            data: &payload[at..],
        },
    })
}

/// Builds a RED payload from the primary block's data and the redundant
/// blocks (oldest first).
pub fn build(
    primary_type: u8,
    primary: &[u8],
    redundant: &[RedBlock<'_>],
) -> Result<Vec<u8>, RedError> {
    let size = redundant.iter().map(|b| 4 + b.data.len()).sum::<usize>() + 1 + primary.len();
    let mut out = Vec::with_capacity(size);
    for block in redundant {
        let pt = seven_bits(block.payload_type)?;
        if block.timestamp_offset > MAX_TIMESTAMP_OFFSET {
            return Err(RedError::OffsetTooLarge(block.timestamp_offset));
        }
        let len = block.data.len();
        if len > MAX_BLOCK_LEN {
            return Err(RedError::BlockTooLong(len));
        }
        let offset = block.timestamp_offset;
        out.extend_from_slice(&[
            0x80 | pt,
            (offset >> 6) as u8,
            (((offset & 0x3f) << 2) as u8) | (len >> 8) as u8,
            (len & 0xff) as u8,
        ]);
    }
    out.push(seven_bits(primary_type)?);
    for block in redundant {
        out.extend_from_slice(block.data);
    }
    out.extend_from_slice(primary);
    Ok(out)
}

/// The primary block's data of a RED payload: what a receiver that did not
/// negotiate RED gets instead (`None` when the payload is malformed).
pub fn primary(payload: &[u8]) -> Option<&[u8]> {
    parse(payload).ok().map(|p| p.primary.data)
}

fn seven_bits(payload_type: u8) -> Result<u8, RedError> {
    if payload_type > 0x7f {
        Err(RedError::PayloadTypeTooLarge(payload_type))
    } else {
        Ok(payload_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(offset: u16, data: &[u8]) -> RedBlock<'_> {
        RedBlock {
            payload_type: 111,
            timestamp_offset: offset,
            data,
        }
    }

    #[test]
    fn round_trip_with_up_to_three_redundant_blocks() {
        let older = [block(2880, b"three"), block(1920, b"two"), block(960, b"")];
        for n in 0..=3 {
            let red = &older[3 - n..];
            let payload = build(111, b"primary", red).unwrap();
            assert_eq!(
                payload.len(),
                4 * n + 1 + 7 + red.iter().map(|b| b.data.len()).sum::<usize>()
            );
            let parsed = parse(&payload).unwrap();
            assert_eq!(parsed.redundant, red);
            assert_eq!(parsed.primary, block(0, b"primary"));
            assert_eq!(primary(&payload), Some(&b"primary"[..]));
        }
    }

    #[test]
    fn rfc_2198_header_layout() {
        // The RFC's example: a redundant block 0x3ff long at offset 16383.
        let data = vec![7u8; MAX_BLOCK_LEN];
        let payload = build(0, b"", &[block(MAX_TIMESTAMP_OFFSET, &data)]).unwrap();
        assert_eq!(&payload[..5], &[0x80 | 111, 0xff, 0xff, 0xff, 0x00]);
        let parsed = parse(&payload).unwrap();
        assert_eq!(parsed.redundant[0].timestamp_offset, MAX_TIMESTAMP_OFFSET);
        assert_eq!(parsed.redundant[0].data.len(), MAX_BLOCK_LEN);
        assert_eq!(parsed.primary.payload_type, 0);
        assert!(parsed.primary.data.is_empty());
    }

    #[test]
    fn building_refuses_what_a_header_cannot_say() {
        let long = vec![0u8; MAX_BLOCK_LEN + 1];
        assert_eq!(
            build(111, b"", &[block(960, &long)]),
            Err(RedError::BlockTooLong(1024))
        );
        assert_eq!(
            build(111, b"", &[block(MAX_TIMESTAMP_OFFSET + 1, b"")]),
            Err(RedError::OffsetTooLarge(16384))
        );
        assert_eq!(
            build(200, b"", &[]),
            Err(RedError::PayloadTypeTooLarge(200))
        );
    }

    #[test]
    fn malformed_payloads_are_errors_not_panics() {
        assert_eq!(parse(&[]), Err(RedError::TruncatedHeaders));
        // A redundant header cut short, or never followed by a primary header.
        assert_eq!(parse(&[0x80 | 111, 0x0f]), Err(RedError::TruncatedHeaders));
        assert_eq!(
            parse(&[0x80 | 111, 0x0f, 0x00, 0x01]),
            Err(RedError::TruncatedHeaders)
        );
        // Block lengths beyond the end.
        assert_eq!(
            parse(&[0x80 | 111, 0x0f, 0x00, 0x05, 111, 1, 2]),
            Err(RedError::TruncatedBlocks)
        );
        assert_eq!(primary(&[0xff; 3]), None);
        // Every short byte string parses or fails, never panics.
        let mut x: u32 = 0x1234_5678;
        for len in 0..64 {
            for _ in 0..200 {
                let bytes: Vec<u8> = (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 17;
                        x ^= x << 5;
                        x as u8
                    })
                    .collect();
                if let Ok(p) = parse(&bytes) {
                    let used: usize = p.redundant.iter().map(|b| 4 + b.data.len()).sum::<usize>()
                        + 1
                        + p.primary.data.len();
                    assert_eq!(used, bytes.len());
                }
            }
        }
    }
}
