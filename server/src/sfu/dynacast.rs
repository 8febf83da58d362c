//! Dynacast (sans-IO): which simulcast layers a publisher should send,
//! from what its players want, told to it when that changes, at most once
//! per [`DEBOUNCE`] (a player's wish can flicker with its estimate).
//! The lowest layer is always sent: a new player starts on it.

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

/// One publisher's dynacast state.
#[derive(Debug, Clone)]
pub(crate) struct Dynacast {
    /// What the publisher was last told (it starts sending all).
    told: [bool; 3],
    last: Option<Instant>,
    scheduled: bool,
}

impl Default for Dynacast {
    fn default() -> Self {
        Dynacast {
            told: [true; 3],
            last: None,
            scheduled: false,
        }
    }
}

impl Dynacast {
    /// What the publisher was last told to send.
    pub(crate) fn told(&self) -> [bool; 3] {
        self.told
    }

    /// The union of the players' wishes is `wanted` at `now` (`due`: this
    /// is the scheduled look).
    pub(crate) fn update(&mut self, wanted: [bool; 3], due: bool, now: Instant) -> Tell {
        if due {
            self.scheduled = false;
        }
        let mut wanted = wanted;
        wanted[VideoLayer::Low.index()] = true;
        if wanted == self.told {
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
        self.told = wanted;
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
        assert_eq!(d.update([true; 3], false, t0), Tell::Nothing);
        assert_eq!(d.update([false; 3], false, t0), Tell::Now(vec![Low]));
        // Within 500 ms: one look scheduled, later changes fold into it.
        assert_eq!(
            d.update([true, true, true], false, ms(100)),
            Tell::At(ms(500))
        );
        assert_eq!(
            d.update([false, true, false], false, ms(200)),
            Tell::Nothing
        );
        assert_eq!(
            d.update([false, true, false], true, ms(500)),
            Tell::Now(vec![Low, Medium])
        );
        // Back to what was told before the look: nothing.
        assert_eq!(
            d.update([true, true, false], false, ms(1200)),
            Tell::Nothing
        );
        assert_eq!(
            d.update([false, false, true], false, ms(1300)),
            Tell::Now(vec![Low, High])
        );
    }
}
