//! Probe filler: an H.264 filler data NAL unit (type 12, which decoders
//! skip), the bytes a sender adds to a frame to show its link more rate
//! than the encoder makes. RTP padding-only packets would be the usual
//! way, but webrtc-rs 0.21 marshals at most 4 bytes of padding
//! (`rtc-rtp` `Packet::marshal_to`), too little to probe with.

/// A filler data NAL unit of `len` bytes (at least 2), as an RFC 6184
/// single NAL unit packet's payload: header type 12, 0xFF bytes, the RBSP
/// stop bit.
pub fn h264_filler_nal(len: usize) -> Vec<u8> {
    let mut nal = vec![0xff; len.max(2)];
    nal[0] = 0x0c;
    if let Some(last) = nal.last_mut() {
        *last = 0x80;
    }
    nal
}

/// Whether an H.264 RTP payload is a filler data NAL unit (a probe's, as
/// [`h264_filler_nal`] makes).
pub fn is_h264_filler(payload: &[u8]) -> bool {
    payload.first().is_some_and(|b| b & 0x1f == 12)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filler_data_nal_unit() {
        assert_eq!(h264_filler_nal(5), [0x0c, 0xff, 0xff, 0xff, 0x80]);
        assert_eq!(h264_filler_nal(0), [0x0c, 0x80]);
        assert!(is_h264_filler(&h264_filler_nal(5)));
        assert!(!is_h264_filler(&[0x65, 0x88]), "an IDR slice");
        assert!(!is_h264_filler(&[]));
    }
}
