//! How many redundant frames RED sends ([`RedLevel`], sans-IO): sized by
//! the loss on the whole path from the publisher to its worst player.
//!
//! - Uplink: the SFU's transport-wide congestion control feedback (about
//!   every 100 ms, one status per packet sent) over the last
//!   [`ESTIMATE_WINDOW`]. Feedback is plentiful, so a lossy path that also
//!   drops feedback still leaves an estimate; feedback that stops while
//!   audio is sent ([`STARVED`]) counts as losing everything. Without any
//!   transport-wide feedback, the SFU's receiver reports.
//! - Players: the SFU's loss reports ([`rtc_profile::loss_report`]), one
//!   per player receiver report about this publisher's track (about one a
//!   second, each crossing two lossy legs: at 50 % loss each way one in
//!   four arrives). The SFU forwards audio with the publisher's sequence
//!   numbers, so a player's loss is that of the whole path, uplink
//!   included.
//! - Each follows its worst figure of the last [`HOLD`] (uplink) or
//!   [`DOWNLINK_HOLD`] (players), so the level rises at once and falls only
//!   once the loss stayed lower that long; the path loses the larger of
//!   the two (the players' figure, when it comes, covers the uplink too).
//! - The uplink's loss counts for two legs ([`two_legs`]): until a player
//!   says otherwise, its leg is taken to lose what the uplink loses. The
//!   players' reports are rare and were seen to say 0 while the path lost
//!   75 % (50 % each way through the relay: every report in a 30 s run),
//!   which left the level at the uplink's 3-5 copies and 20 % of the
//!   frames concealed.
//! - Before the first figure the path is unknown: [`UNKNOWN_LOSS`].
//! - **The estimate's cap**: while the publisher's link queues (its loss
//!   is congestion, which more redundancy only feeds), audio with its
//!   redundancy takes at most the budget the rate control gives
//!   ([`LossReports::audio_budget_bps`]: a fifth of the estimate). Loss
//!   without a queue (random loss on a link with room) is not capped: there the
//!   estimate says little about the room (GCC's loss reaction takes it to
//!   its floor at 50 % loss), and audio is what must get through.

use super::red::MAX_REDUNDANCY;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Loss below this sends no redundancy.
const NO_REDUNDANCY_BELOW: f64 = 0.02;
/// The share of frames left lost after redundancy the level aims at (on
/// random loss), before Opus FEC.
const RESIDUAL: f64 = 0.02;
/// The transport-wide feedback window one uplink estimate covers.
const ESTIMATE_WINDOW: Duration = Duration::from_secs(2);
/// An estimate needs feedback on at least this many packets.
const MIN_PACKETS: u64 = 20;
/// How long an uplink figure counts: the level follows the worst in this
/// window.
const HOLD: Duration = Duration::from_secs(5);
/// How long a player's loss report counts: reports are rarer (and lost on
/// two legs), so the worst is held longer.
const DOWNLINK_HOLD: Duration = Duration::from_secs(15);
/// No transport-wide feedback for this long while audio is sent (after
/// some came before): the path is taken as losing everything.
const STARVED: Duration = Duration::from_secs(1);
/// A pause in sending longer than this starts a new run (the feedback it
/// did not get is no sign of loss).
const PAUSE: Duration = Duration::from_millis(200);
/// The loss assumed before any figure: one redundant frame.
const UNKNOWN_LOSS: f64 = 0.05;
/// What an audio packet costs on the wire beside its RED payload, bytes:
/// IPv4 20, UDP 8, RTP 12, header extensions 12, SRTP tag 10.
const PACKET_OVERHEAD: usize = 62;
/// Audio packets a second (20 ms frames).
const PACKETS_PER_S: f64 = 50.0;

/// What the SFU said about loss so far: counters and latest figures from
/// the publisher connection's inbound RTCP.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct LossReports {
    /// Packets transport-wide feedback gave a status for (cumulative).
    pub(crate) feedback_reported: u64,
    /// Of those, the ones it said arrived.
    pub(crate) feedback_received: u64,
    /// Receiver reports seen (cumulative).
    pub(crate) uplink_reports: u64,
    /// The latest receiver report's worst fraction lost (0..1).
    pub(crate) uplink_fraction_lost: Option<f64>,
    /// Downlink loss reports seen (cumulative).
    pub(crate) downlink_reports: u64,
    /// The latest downlink loss report's fraction lost (0..1).
    pub(crate) downlink_fraction_lost: Option<f64>,
    /// While the link queues: the most audio may take, bits/s.
    pub(crate) audio_budget_bps: Option<u64>,
}

/// The most redundant frames (of `opus_bytes` each, the frame's own size
/// standing in for its predecessors') that keep 20 ms RED packets within
/// `budget_bps` on the wire.
pub(crate) fn affordable_redundancy(opus_bytes: usize, budget_bps: u64) -> usize {
    let per_packet = budget_bps as f64 / 8.0 / PACKETS_PER_S;
    // The primary block's header is 1 byte, each redundant one's 4.
    let base = (PACKET_OVERHEAD + 1 + opus_bytes) as f64;
    let per_copy = (opus_bytes + 4) as f64;
    (((per_packet - base) / per_copy).floor().max(0.0) as usize).min(MAX_REDUNDANCY)
}

/// How many older frames to repeat at a packet loss of `loss` (0..1): none
/// below 2 %, else the fewest that leave under [`RESIDUAL`] of the frames
/// lost on random loss (one up to 14 %, two up to 27 %, three up to 37 %,
/// five at 50 %), at most [`MAX_REDUNDANCY`].
pub(crate) fn redundancy_for_loss(loss: f64) -> usize {
    if loss.is_nan() || loss < NO_REDUNDANCY_BELOW {
        return 0;
    }
    if loss >= 1.0 {
        return MAX_REDUNDANCY;
    }
    // A frame is lost when its packet and its k copies all are: loss^(k+1).
    // (Less a hair against rounding at the steps.)
    let copies = (RESIDUAL.ln() / loss.ln() - 1e-9).ceil() as usize;
    copies.saturating_sub(1).clamp(1, MAX_REDUNDANCY)
}

/// The path's loss when each of its two legs (publisher to SFU, SFU to a
/// player) loses `leg` (0..1) at random: a packet arrives if both legs
/// carry it.
fn two_legs(leg: f64) -> f64 {
    1.0 - (1.0 - leg.clamp(0.0, 1.0)).powi(2)
}

/// The largest value pushed within the last `hold`.
#[derive(Debug)]
struct HeldMax {
    hold: Duration,
    /// Candidates for the maximum, oldest first, values decreasing.
    samples: VecDeque<(Instant, f64)>,
}

impl HeldMax {
    fn new(hold: Duration) -> Self {
        HeldMax {
            hold,
            samples: VecDeque::new(),
        }
    }

    fn push(&mut self, now: Instant, value: f64) {
        while self.samples.back().is_some_and(|&(_, v)| v <= value) {
            self.samples.pop_back();
        }
        self.samples.push_back((now, value));
    }

    fn max(&mut self, now: Instant) -> Option<f64> {
        while self
            .samples
            .front()
            .is_some_and(|&(t, _)| now.saturating_duration_since(t) > self.hold)
        {
            self.samples.pop_front();
        }
        self.samples.front().map(|&(_, v)| v)
    }
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct RedLevel {
    /// (when, feedback reported, feedback received): the window's counters.
    feedback: VecDeque<(Instant, u64, u64)>,
    /// When feedback last grew.
    last_feedback: Option<Instant>,
    /// The latest update and when this run of updates started.
    last_update: Option<Instant>,
    run_start: Option<Instant>,
    uplink: HeldMax,
    downlink: HeldMax,
    /// Report counts already taken in.
    uplink_reports: u64,
    downlink_reports: u64,
    /// The redundancy last returned.
    redundancy: usize,
}

impl RedLevel {
    /// A level with no figures yet.
    pub(crate) fn new() -> Self {
        RedLevel {
            feedback: VecDeque::new(),
            last_feedback: None,
            last_update: None,
            run_start: None,
            uplink: HeldMax::new(HOLD),
            downlink: HeldMax::new(DOWNLINK_HOLD),
            uplink_reports: 0,
            downlink_reports: 0,
            redundancy: 0,
        }
    }

    /// Takes the reports as of `now` (called for each frame sent); returns
    /// how many redundant frames to send.
    pub(crate) fn update(&mut self, now: Instant, reports: &LossReports) -> usize {
        let loss = self.path_loss(now, reports);
        let redundancy = redundancy_for_loss(loss);
        if redundancy != self.redundancy {
            tracing::debug!(redundancy, loss, ?reports, "RED level");
            self.redundancy = redundancy;
        }
        redundancy
    }

    /// [`update`](Self::update) for a frame of `opus_bytes`, within the
    /// reports' audio budget if the link queues.
    pub(crate) fn update_within(
        &mut self,
        now: Instant,
        reports: &LossReports,
        opus_bytes: usize,
    ) -> usize {
        let wanted = self.update(now, reports);
        match reports.audio_budget_bps {
            Some(budget) => wanted.min(affordable_redundancy(opus_bytes, budget)),
            None => wanted,
        }
    }

    /// The loss the level is sized by (0..1).
    fn path_loss(&mut self, now: Instant, reports: &LossReports) -> f64 {
        if self
            .last_update
            .is_none_or(|t| now.saturating_duration_since(t) > PAUSE)
        {
            self.run_start = Some(now);
        }
        self.last_update = Some(now);
        self.note_feedback(now, reports);
        if reports.uplink_reports != self.uplink_reports {
            self.uplink_reports = reports.uplink_reports;
            if self.last_feedback.is_none() {
                if let Some(loss) = reports.uplink_fraction_lost {
                    self.uplink.push(now, loss);
                }
            }
        }
        if reports.downlink_reports != self.downlink_reports {
            self.downlink_reports = reports.downlink_reports;
            if let Some(loss) = reports.downlink_fraction_lost {
                self.downlink.push(now, loss);
            }
        }
        let uplink = self.uplink.max(now);
        let downlink = self.downlink.max(now);
        if uplink.is_none() && downlink.is_none() {
            return UNKNOWN_LOSS;
        }
        two_legs(uplink.unwrap_or(0.0))
            .max(downlink.unwrap_or(0.0))
            .clamp(0.0, 1.0)
    }

    /// Takes in transport-wide feedback: an uplink estimate over the
    /// window, or total loss when it stopped coming.
    fn note_feedback(&mut self, now: Instant, reports: &LossReports) {
        let latest = (reports.feedback_reported, reports.feedback_received);
        match self.feedback.back() {
            // A new connection counts from zero again.
            Some(&(_, reported, _)) if latest.0 < reported => self.feedback.clear(),
            Some(&(_, reported, _)) if latest.0 == reported => {
                let since = self.last_feedback.max(self.run_start);
                if self.last_feedback.is_some()
                    && since.is_some_and(|t| now.saturating_duration_since(t) > STARVED)
                {
                    self.uplink.push(now, 1.0);
                }
                return;
            }
            _ => {}
        }
        if latest.0 == 0 {
            return;
        }
        self.last_feedback = Some(now);
        self.feedback.push_back((now, latest.0, latest.1));
        // Keep one sample at or before the window's start as its base.
        while self
            .feedback
            .get(1)
            .is_some_and(|&(t, _, _)| now.saturating_duration_since(t) >= ESTIMATE_WINDOW)
        {
            self.feedback.pop_front();
        }
        let &(_, base_reported, base_received) = self.feedback.front().expect("just pushed");
        let reported = latest.0 - base_reported;
        let received = latest.1.saturating_sub(base_received).min(reported);
        if reported >= MIN_PACKETS {
            self.uplink
                .push(now, (reported - received) as f64 / reported as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: Duration = Duration::from_millis(20);

    #[test]
    fn a_queueing_link_caps_the_redundancy_by_the_budget() {
        // 80-byte frames (32 kbit/s Opus): a packet is 143 + 84 per copy
        // bytes, 57.2 + 33.6 per copy kbit/s.
        assert_eq!(affordable_redundancy(80, 50_000), 0);
        assert_eq!(affordable_redundancy(80, 125_000), 2);
        assert_eq!(affordable_redundancy(80, 1_000_000), MAX_REDUNDANCY);
        let t0 = Instant::now();
        let mut level = RedLevel::new();
        let lossy = LossReports {
            uplink_reports: 1,
            uplink_fraction_lost: Some(0.75),
            ..LossReports::default()
        };
        assert_eq!(level.update_within(t0, &lossy, 80), MAX_REDUNDANCY);
        let queueing = LossReports {
            audio_budget_bps: Some(125_000),
            ..lossy
        };
        assert_eq!(level.update_within(t0 + FRAME, &queueing, 80), 2);
    }

    #[test]
    fn redundancy_follows_loss() {
        assert_eq!(redundancy_for_loss(0.0), 0);
        assert_eq!(redundancy_for_loss(0.019), 0);
        assert_eq!(redundancy_for_loss(0.05), 1);
        assert_eq!(redundancy_for_loss(0.15), 2);
        assert_eq!(redundancy_for_loss(0.3), 3);
        assert_eq!(redundancy_for_loss(0.5), 5);
        // 50 % each way (75 % on the path): as many as a packet carries.
        assert_eq!(redundancy_for_loss(0.75), MAX_REDUNDANCY);
        assert_eq!(redundancy_for_loss(1.0), MAX_REDUNDANCY);
        assert_eq!(redundancy_for_loss(f64::NAN), 0);
    }

    /// Sends audio for `secs` with feedback every 100 ms on 10 packets, of
    /// which `lost_of_10` were lost (none when `feedback_lost` of its
    /// number); returns the redundancy at each frame.
    fn run(
        level: &mut RedLevel,
        reports: &mut LossReports,
        start: Instant,
        secs: u64,
        lost_of_10: u64,
        feedback_lost: impl Fn(u64) -> bool,
    ) -> Vec<usize> {
        (0..secs * 50)
            .map(|frame| {
                if frame % 5 == 4 && !feedback_lost(frame / 5) {
                    reports.feedback_reported += 10;
                    reports.feedback_received += 10 - lost_of_10;
                }
                level.update(start + FRAME * frame as u32, reports)
            })
            .collect()
    }

    #[test]
    fn starts_safe_then_follows_feedback_even_when_most_of_it_is_lost() {
        let mut level = RedLevel::new();
        let mut reports = LossReports::default();
        let t0 = Instant::now();
        assert_eq!(level.update(t0, &reports), 1, "unknown path: one copy");
        // 30 % loss (51 % over two legs); 2 of every 3 feedback packets lost.
        let levels = run(&mut level, &mut reports, t0, 10, 3, |n| n % 3 != 0);
        assert!(levels[60..].iter().all(|&l| l == 5), "{levels:?}");
        // A clean path: the level stays for the hold, then drops to none.
        let t1 = t0 + Duration::from_secs(10);
        let levels = run(&mut level, &mut reports, t1, 10, 0, |_| false);
        // The window's estimates fall over 2 s, the worst is held for 5 s.
        assert_eq!(levels[0], 5);
        assert_eq!(levels[200], 5);
        assert_eq!(levels[350..], vec![0; 150][..], "{levels:?}");
    }

    #[test]
    fn feedback_that_stops_while_sending_is_taken_as_loss() {
        let mut level = RedLevel::new();
        let mut reports = LossReports::default();
        let t0 = Instant::now();
        let levels = run(&mut level, &mut reports, t0, 4, 0, |_| false);
        assert_eq!(*levels.last().unwrap(), 0);
        // All feedback lost from 4 s on.
        let t1 = t0 + Duration::from_secs(4);
        let levels = run(&mut level, &mut reports, t1, 3, 0, |_| true);
        assert_eq!(levels[40], 0, "not yet starved");
        assert_eq!(levels[60], MAX_REDUNDANCY);
        // A pause in sending (muted) is no sign of loss: the figures have
        // aged out, the path is unknown again.
        let t2 = t1 + Duration::from_secs(20);
        let levels = run(&mut level, &mut reports, t2, 2, 0, |_| true);
        assert_eq!((levels[0], levels[40]), (1, 1));
        assert_eq!(levels[60], MAX_REDUNDANCY, "starved again");
    }

    #[test]
    fn a_player_losing_more_than_the_uplink_raises_the_level() {
        let mut level = RedLevel::new();
        let mut reports = LossReports::default();
        let t0 = Instant::now();
        // 10 % up (19 % over two legs): two copies.
        let levels = run(&mut level, &mut reports, t0, 3, 1, |_| false);
        assert_eq!(*levels.last().unwrap(), 2);
        // A player lost 28 % (uplink and its downlink): three copies.
        reports.downlink_reports += 1;
        reports.downlink_fraction_lost = Some(0.28);
        let t1 = t0 + Duration::from_secs(3);
        assert_eq!(level.update(t1, &reports), 3);
        // A player losing less than the uplink changes nothing.
        let mut less = reports;
        less.downlink_reports += 1;
        less.downlink_fraction_lost = Some(0.05);
        assert_eq!(level.update(t1 + FRAME, &less), 3);
        // The worst report ages out after its hold.
        let mut reports = less;
        let levels = run(&mut level, &mut reports, t1 + FRAME * 2, 16, 1, |_| false);
        assert_eq!(levels[700], 3);
        assert_eq!(*levels.last().unwrap(), 2);
    }

    #[test]
    fn half_the_packets_lost_upstream_asks_for_every_copy() {
        // 50 % each way is 75 % on the path.
        assert!((two_legs(0.5) - 0.75).abs() < 1e-9);
        assert_eq!(two_legs(0.0), 0.0);
        let mut level = RedLevel::new();
        let mut reports = LossReports::default();
        let levels = run(&mut level, &mut reports, Instant::now(), 3, 5, |_| false);
        assert_eq!(*levels.last().unwrap(), MAX_REDUNDANCY);
    }

    #[test]
    fn receiver_reports_count_only_without_transport_wide_feedback() {
        let mut level = RedLevel::new();
        let t0 = Instant::now();
        let reports = LossReports {
            uplink_reports: 1,
            uplink_fraction_lost: Some(0.15),
            ..LossReports::default()
        };
        assert_eq!(level.update(t0, &reports), 3);
        let mut later = LossReports {
            feedback_reported: 100,
            feedback_received: 100,
            uplink_reports: 2,
            uplink_fraction_lost: Some(0.5),
            ..LossReports::default()
        };
        // Transport-wide feedback from now on: the report of 50 % is not
        // taken, the held one (15 %) counts for the hold.
        assert_eq!(level.update(t0 + FRAME, &later), 3);
        later.feedback_reported += 100;
        later.feedback_received += 100;
        assert_eq!(level.update(t0 + FRAME * 2, &later), 3);
        assert_eq!(level.update(t0 + HOLD + FRAME * 2, &later), 0);
    }
}
