//! Dynacast (sans-IO): which simulcast layers a publisher should send,
//! from what its players want, told to it when that changes, at most once
//! per [`DEBOUNCE`] (a player's wish can flicker with its estimate).
//! The lowest layer is always sent: a new player starts on it. A new
//! publisher leg is told the first union its players want whatever it is,
//! as a publisher may keep what it was told on an earlier leg.

use protocol::VideoLayer;
use std::time::{Duration, Instant};

/// At most one change told to a publisher per this interval.
pub(crate) const DEBOUNCE: Duration = Duration::from_millis(500);

/// What to do after the players' wishes changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tell {
    /// Tell the publisher these layers now.
    Now(Vec<VideoLayer>),
    /// Look again at this time (call [`Dynacast::update`] then).
    At(Instant),
    /// Nothing to tell (or a look is already due).
    Nothing,
}

/// One publisher leg's dynacast state.
#[derive(Debug, Clone, Default)]
pub(crate) struct Dynacast {
    /// What the publisher was last told (nothing yet: it sends what it
    /// decides).
    told: Option<[bool; 3]>,
    last: Option<Instant>,
    scheduled: bool,
}

impl Dynacast {
    /// The union of the players' wishes is `wanted` at `now` (`None`: no
    /// player says yet; `due`: this is the scheduled look).
    pub(crate) fn update(&mut self, wanted: Option<[bool; 3]>, due: bool, now: Instant) -> Tell {
        if due {
            self.scheduled = false;
        }
        let Some(mut wanted) = wanted else {
            return Tell::Nothing;
        };
        wanted[VideoLayer::Low.index()] = true;
        if Some(wanted) == self.told {
            return Tell::Nothing;
        }
        if let Some(last) = self
            .last
            .filter(|t| now.saturating_duration_since(*t) < DEBOUNCE)
        {
            if self.scheduled {
                return Tell::Nothing;
            }
            self.scheduled = true;
            return Tell::At(last + DEBOUNCE);
        }
        self.told = Some(wanted);
        self.last = Some(now);
        Tell::Now(
            VideoLayer::ALL
                .into_iter()
                .filter(|l| wanted[l.index()])
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use VideoLayer::{High, Low, Medium};

    #[test]
    fn changes_are_told_debounced_and_low_always_stays() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut d = Dynacast::default();
        // Nobody says yet: nothing; the first union is told, even "all".
        assert_eq!(d.update(None, false, t0), Tell::Nothing);
        assert_eq!(
            d.update(Some([true; 3]), false, t0),
            Tell::Now(vec![Low, Medium, High])
        );
        assert_eq!(d.update(Some([true; 3]), false, ms(600)), Tell::Nothing);
        assert_eq!(
            d.update(Some([false; 3]), false, ms(600)),
            Tell::Now(vec![Low])
        );
        // Within 500 ms: one look scheduled, later changes fold into it.
        assert_eq!(
            d.update(Some([true; 3]), false, ms(700)),
            Tell::At(ms(1100))
        );
        assert_eq!(
            d.update(Some([false, true, false]), false, ms(800)),
            Tell::Nothing
        );
        assert_eq!(
            d.update(Some([false, true, false]), true, ms(1100)),
            Tell::Now(vec![Low, Medium])
        );
        // Back to what was told before the look: nothing.
        assert_eq!(
            d.update(Some([true, true, false]), false, ms(1800)),
            Tell::Nothing
        );
        assert_eq!(
            d.update(Some([false, false, true]), false, ms(1900)),
            Tell::Now(vec![Low, High])
        );
        // A due look with nobody saying anything clears the schedule.
        assert_eq!(
            d.update(Some([true; 3]), false, ms(2000)),
            Tell::At(ms(2400))
        );
        assert_eq!(d.update(None, true, ms(2400)), Tell::Nothing);
        assert_eq!(
            d.update(Some([true; 3]), false, ms(2500)),
            Tell::Now(vec![Low, Medium, High])
        );
    }
}
