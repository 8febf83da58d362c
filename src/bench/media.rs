//! The bench's synthetic video: a loop of test-pattern frames (each with
//! its frame number in the barcode) encoded once at start, replayed by
//! every publisher, and recognised by every player from its bytes, without
//! a decoder: the barcode makes every frame of the loop distinct, so the
//! hash of a frame's NAL units names its place in the loop.

use anyhow::Context;
use hyper::body::Bytes;
use media_core::capture::test_pattern::TestPattern;
use media_core::codec::h264::H264Encoder;
use media_core::codec::video_config::VideoConfig;
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hasher};

/// NAL unit types left out of a frame's key: SEI, access unit delimiter,
/// filler (the SFU's probes add filler).
const UNKEYED_NAL_TYPES: [u8; 3] = [6, 9, 12];

/// The encoded loop.
#[derive(Debug)]
pub(crate) struct Clip {
    /// Annex-B access units; the first is an IDR picture.
    pub(crate) frames: Vec<Bytes>,
    /// Frames per second it is replayed at.
    pub(crate) fps: u32,
    keys: HashMap<u64, usize>,
}

impl Clip {
    /// Encodes `frames` pictures of `width` x `height` at `kbps`.
    pub(crate) fn encode(
        width: u32,
        height: u32,
        fps: u32,
        kbps: u32,
        frames: u32,
    ) -> anyhow::Result<Clip> {
        let config = VideoConfig {
            width,
            height,
            fps,
            bitrate_kbps: kbps,
            keyframe_interval_s: 0,
        };
        let mut encoder = H264Encoder::new(&config).context("H.264 encoder")?;
        let mut pattern = TestPattern::new(width, height);
        let frame_us = 1_000_000 / u64::from(fps.max(1));
        let mut out = Vec::new();
        let mut keys = HashMap::new();
        for n in 0..frames {
            let picture = pattern.frame(n, 1 + u64::from(n) * frame_us);
            let Some(encoded) = encoder
                .encode(&picture, n == 0)
                .context("encoding the loop")?
            else {
                continue;
            };
            let index = out.len();
            keys.insert(frame_key(annex_b_nals(&encoded.data)), index);
            out.push(encoded.data);
        }
        anyhow::ensure!(!out.is_empty(), "the encoder produced nothing");
        Ok(Clip {
            frames: out,
            fps,
            keys,
        })
    }

    /// The loop position of a frame whose key is `key`.
    pub(crate) fn position(&self, key: u64) -> Option<usize> {
        self.keys.get(&key).copied()
    }
}

/// The key of a frame made of `nals` (each without start code).
pub(crate) fn frame_key<'a>(nals: impl IntoIterator<Item = &'a [u8]>) -> u64 {
    let mut hasher = DefaultHasher::new();
    for nal in nals {
        let Some(&header) = nal.first() else { continue };
        if !UNKEYED_NAL_TYPES.contains(&(header & 0x1f)) {
            hasher.write(nal);
        }
    }
    hasher.finish()
}

/// The NAL units of an Annex-B buffer, without start codes and trailing zeros.
pub(crate) fn annex_b_nals(data: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    starts
        .iter()
        .enumerate()
        .map(|(k, &start)| {
            let end = starts.get(k + 1).map_or(data.len(), |&next| next - 3);
            let mut nal = &data[start..end.max(start)];
            while let [rest @ .., 0] = nal {
                nal = rest;
            }
            nal
        })
        .filter(|nal| !nal.is_empty())
        .collect()
}

/// Reassembles the NAL units of one frame from its H.264 RTP payloads
/// (RFC 6184: single NAL unit, STAP-A, FU-A).
#[derive(Debug, Default)]
pub(crate) struct Depacketizer {
    nals: Vec<Vec<u8>>,
    fragment: Option<Vec<u8>>,
}

impl Depacketizer {
    /// Adds one packet's payload.
    pub(crate) fn push(&mut self, payload: &[u8]) {
        let Some(&first) = payload.first() else {
            return;
        };
        match first & 0x1f {
            1..=23 => self.nals.push(payload.to_vec()),
            24 => {
                let mut rest = &payload[1..];
                while rest.len() >= 2 {
                    let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
                    let Some(nal) = rest.get(2..2 + len) else {
                        break;
                    };
                    self.nals.push(nal.to_vec());
                    rest = &rest[2 + len..];
                }
            }
            28 if payload.len() > 2 => {
                let fu = payload[1];
                if fu & 0x80 != 0 {
                    let mut nal = vec![(first & 0xe0) | (fu & 0x1f)];
                    nal.extend_from_slice(&payload[2..]);
                    self.fragment = Some(nal);
                } else if let Some(nal) = self.fragment.as_mut() {
                    nal.extend_from_slice(&payload[2..]);
                }
                if fu & 0x40 != 0 {
                    if let Some(nal) = self.fragment.take() {
                        self.nals.push(nal);
                    }
                }
            }
            _ => {}
        }
    }

    /// The frame ends (marker bit): its key, if it had a picture's NAL
    /// units (filler alone is no frame).
    pub(crate) fn finish(&mut self) -> Option<u64> {
        self.fragment = None;
        let nals = std::mem::take(&mut self.nals);
        let pictures = nals.iter().any(|n| {
            n.first()
                .is_some_and(|h| !UNKEYED_NAL_TYPES.contains(&(h & 0x1f)))
        });
        pictures.then(|| frame_key(nals.iter().map(Vec::as_slice)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annex_b_splits_on_three_and_four_byte_start_codes() {
        let data = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 4, 5, 0,
        ];
        let nals = annex_b_nals(&data);
        assert_eq!(
            nals,
            vec![&[0x67, 1, 2][..], &[0x68, 3][..], &[0x65, 4, 5][..]]
        );
    }

    #[test]
    fn depacketized_frames_have_the_key_of_their_annex_b_source() {
        let idr: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8 + 1).collect();
        let mut annex_b = vec![0, 0, 0, 1, 0x67, 9, 0, 0, 1, 0x68, 8, 0, 0, 0, 1, 0x65];
        annex_b.extend_from_slice(&idr);
        let key = frame_key(annex_b_nals(&annex_b));
        let mut d = Depacketizer::default();
        // STAP-A with SPS and PPS, then the IDR in FU-A fragments, then filler.
        d.push(&[24, 0, 2, 0x67, 9, 0, 2, 0x68, 8]);
        let chunks: Vec<&[u8]> = idr.chunks(1000).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let mut fu = vec![0x60 | 28, 5];
            if i == 0 {
                fu[1] |= 0x80;
            }
            if i == chunks.len() - 1 {
                fu[1] |= 0x40;
            }
            fu.extend_from_slice(chunk);
            d.push(&fu);
        }
        d.push(&[12, 0xff, 0xff]);
        assert_eq!(d.finish(), Some(key));
        d.push(&[12, 0xff]);
        assert_eq!(d.finish(), None, "filler alone is no frame");
    }

    #[test]
    fn every_frame_of_an_encoded_loop_is_recognised() {
        let clip = Clip::encode(160, 96, 15, 150, 20).expect("encodes");
        assert!(clip.frames.len() >= 18);
        for (i, frame) in clip.frames.iter().enumerate() {
            assert_eq!(clip.position(frame_key(annex_b_nals(frame))), Some(i));
        }
    }
}
