//! The SFU's player loss report: an RTCP APP packet (RFC 3550 6.7, name
//! `CFDL`) the SFU sends a publisher with the fraction of one of its tracks'
//! packets a player lost, as that player's receiver report said (the SFU
//! forwards audio with the publisher's sequence numbers, so that is the
//! loss of the whole path, uplink and the player's downlink). A publisher
//! sizes its audio redundancy (RED) by the loss on the whole path, and the
//! SFU's own feedback only covers the uplink. Endpoints that do not know
//! the name (Chromium) ignore the packet.
//!
//! Layout (16 bytes): `V=2 P=0 subtype=0 | PT=204 | length=3 | media SSRC |
//! "CFDL" | fraction lost (1/256, as in a reception report) | 3 zero bytes`.
//!
//! ```
//! use rtc_profile::loss_report::{decode, encode, LossReport};
//!
//! let report = LossReport { media_ssrc: 7, fraction_lost: 64 };
//! assert_eq!(decode(&encode(report)), Some(report));
//! ```

/// RTCP packet type APP.
const PACKET_TYPE_APP: u8 = 204;
/// The APP packet's name.
const NAME: &[u8; 4] = b"CFDL";
/// The packet's length on the wire.
pub const LEN: usize = 16;

/// One player loss report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LossReport {
    /// The publisher's SSRC the loss is about.
    pub media_ssrc: u32,
    /// The fraction of its packets a player lost, in 1/256.
    pub fraction_lost: u8,
}

/// The report as an RTCP packet.
pub fn encode(report: LossReport) -> [u8; LEN] {
    let mut out = [0u8; LEN];
    out[0] = 0x80;
    out[1] = PACKET_TYPE_APP;
    out[2..4].copy_from_slice(&3u16.to_be_bytes());
    out[4..8].copy_from_slice(&report.media_ssrc.to_be_bytes());
    out[8..12].copy_from_slice(NAME);
    out[12] = report.fraction_lost;
    out
}

/// The report an RTCP packet carries; `None` for any other packet.
pub fn decode(packet: &[u8]) -> Option<LossReport> {
    let ok = packet.len() >= LEN
        && packet[0] & 0xc0 == 0x80
        && packet[1] == PACKET_TYPE_APP
        && &packet[8..12] == NAME;
    ok.then(|| LossReport {
        media_ssrc: u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]),
        fraction_lost: packet[12],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_ignores_other_packets() {
        let report = LossReport {
            media_ssrc: 0xdead_beef,
            fraction_lost: 200,
        };
        let wire = encode(report);
        assert_eq!(decode(&wire), Some(report));
        // Any other APP name, a receiver report, short input: not ours.
        let mut other = wire;
        other[8..12].copy_from_slice(b"XXXX");
        assert_eq!(decode(&other), None);
        let mut rr = wire;
        rr[1] = 201;
        assert_eq!(decode(&rr), None);
        assert_eq!(decode(&wire[..12]), None);
    }
}
