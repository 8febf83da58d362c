//! A played stream's way to its first keyframe, for the first-frame
//! breakdown (`benches/first_frame.rs`): the wall-clock time of each step is
//! noted once (one relaxed load when already noted), and the steps are
//! reported together as one `debug` event with target [`PLAY_TIMELINE_TARGET`]
//! when the first complete keyframe is delivered. Each field is the step's
//! Unix time in microseconds (0: the step was never seen): `created_us`,
//! `offer_sent_us`, `answer_received_us`, `answer_applied_us`,
//! `ice_connected_us`, `connected_us`, `first_rtp_us`, `first_keyframe_us`.

use std::sync::atomic::{AtomicU64, Ordering};

/// The `tracing` target of a played stream's timeline event.
pub const PLAY_TIMELINE_TARGET: &str = "confer::play_timeline";

/// A step of a played stream's connection, in the order they happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// The transport was asked for (before its peer connection is built).
    Created,
    /// The offer went out.
    OfferSent,
    /// The SFU's answer arrived.
    AnswerReceived,
    /// The answer was applied (with the SFU's first candidates).
    AnswerApplied,
    /// ICE found a pair.
    IceConnected,
    /// DTLS is up too: the peer connection is connected.
    Connected,
    /// The first video RTP packet arrived.
    FirstRtp,
    /// The first complete keyframe was delivered.
    FirstKeyframe,
}

const STEPS: usize = Step::FirstKeyframe as usize + 1;

/// The noted steps of one transport.
#[derive(Debug, Default)]
pub(crate) struct Timeline {
    at: [AtomicU64; STEPS],
}

impl Timeline {
    /// A timeline with [`Step::Created`] noted now.
    pub(crate) fn started() -> Self {
        let timeline = Timeline::default();
        timeline.note(Step::Created);
        timeline
    }

    /// Notes `step` now unless it was noted before; the first keyframe
    /// reports the timeline.
    pub(crate) fn note(&self, step: Step) {
        let cell = &self.at[step as usize];
        if cell.load(Ordering::Relaxed) != 0 {
            return;
        }
        let now = crate::frame::unix_time_us().max(1);
        if cell
            .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
            && step == Step::FirstKeyframe
        {
            self.report();
        }
    }

    fn report(&self) {
        let at = |step: Step| self.at[step as usize].load(Ordering::Relaxed);
        tracing::debug!(
            target: PLAY_TIMELINE_TARGET,
            created_us = at(Step::Created),
            offer_sent_us = at(Step::OfferSent),
            answer_received_us = at(Step::AnswerReceived),
            answer_applied_us = at(Step::AnswerApplied),
            ice_connected_us = at(Step::IceConnected),
            connected_us = at(Step::Connected),
            first_rtp_us = at(Step::FirstRtp),
            first_keyframe_us = at(Step::FirstKeyframe),
            "play timeline"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_is_noted_once_in_order() {
        let t = Timeline::started();
        t.note(Step::OfferSent);
        let first = t.at[Step::OfferSent as usize].load(Ordering::Relaxed);
        std::thread::sleep(std::time::Duration::from_millis(2));
        t.note(Step::OfferSent);
        assert_eq!(
            t.at[Step::OfferSent as usize].load(Ordering::Relaxed),
            first
        );
        assert!(first >= t.at[Step::Created as usize].load(Ordering::Relaxed));
        assert_eq!(t.at[Step::FirstRtp as usize].load(Ordering::Relaxed), 0);
    }
}
