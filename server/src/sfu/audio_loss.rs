//! Players' audio loss, passed on to the publisher for its audio
//! redundancy: a player's receiver report about an audio track says how much
//! of it the player lost (the whole path: the SFU forwards audio with the
//! publisher's sequence numbers), and the SFU tells the publisher in an
//! [`rtc_profile::loss_report`] (an RTCP APP packet Chromium ignores). The
//! publisher sizes RED by the larger of its uplink loss and the worst of
//! these (it holds the worst report of the last seconds, so every report is
//! passed on as it comes: about one per player per second).

use bytes::Bytes;
use rtc::rtcp::raw_packet::RawPacket;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc_profile::loss_report::{encode, LossReport};
use std::sync::Arc;
use webrtc::media_stream::track_remote::TrackRemote;

/// The worst fraction lost (1/256) a player's RTCP reports, if it carries
/// a receiver report.
pub(super) fn worst_fraction_lost(packets: &[Box<dyn rtc::rtcp::Packet>]) -> Option<u8> {
    packets
        .iter()
        .filter_map(|p| p.as_any().downcast_ref::<ReceiverReport>())
        .flat_map(|rr| rr.reports.iter().map(|r| r.fraction_lost))
        .max()
}

/// Tells the publisher of the track `remote` (SSRC `media_ssrc`) that a
/// player lost `fraction_lost` (1/256) of it (from a task).
pub(super) fn tell_publisher(remote: &Arc<dyn TrackRemote>, media_ssrc: u32, fraction_lost: u8) {
    let report = encode(LossReport {
        media_ssrc,
        fraction_lost,
    });
    let packet = RawPacket(Bytes::copy_from_slice(&report));
    let remote = Arc::clone(remote);
    tokio::spawn(async move {
        if let Err(error) = remote.write_rtcp(vec![Box::new(packet)]).await {
            tracing::debug!(%error, "downlink loss report not sent");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
    use rtc::rtcp::reception_report::ReceptionReport;

    #[test]
    fn the_worst_reported_loss_is_taken() {
        let block = |fraction_lost| ReceptionReport {
            fraction_lost,
            ..Default::default()
        };
        let rr = ReceiverReport {
            reports: vec![block(12), block(90)],
            ..Default::default()
        };
        let packets: Vec<Box<dyn rtc::rtcp::Packet>> =
            vec![Box::new(PictureLossIndication::default()), Box::new(rr)];
        assert_eq!(worst_fraction_lost(&packets), Some(90));
        assert_eq!(worst_fraction_lost(&packets[..1]), None);
    }
}
