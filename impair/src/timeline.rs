//! Conditions over time: fixed, changed at given seconds (a capacity step, a
//! blackout), or following a capacity trace.
//!
//! A schedule file has one change a line, `<at> <spec patch>`, applied on
//! top of the conditions before it (`#` starts a comment):
//!
//! ```text
//! 0s   rate=5mbps,delay=50ms
//! 10s  rate=500kbps
//! 40s  rate=5mbps
//! ```
//!
//! A capacity trace (Mahimahi-like) has `<milliseconds> <kbps>` lines: the
//! capacity from that time on; it repeats from the start after its last
//! line's time plus the gap before it.

use crate::conditions::{parse_duration, Conditions, SpecError};
use std::time::Duration;

/// Conditions that change at given offsets from the start.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    /// (offset, conditions from then on), sorted by offset; the first is at 0.
    steps: Vec<(Duration, Conditions)>,
    /// The timeline starts over after this long (traces repeat).
    period: Option<Duration>,
}

/// Why a schedule or trace could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimelineError {
    /// A line is not `<time> <value>`.
    #[error("line {line}: expected `<time> <{expected}>`")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// What the second column holds.
        expected: &'static str,
    },
    /// The time of a line is not a duration.
    #[error("line {line}: `{value}` is not a time")]
    BadTime {
        /// 1-based line number.
        line: usize,
        /// The time as written.
        value: String,
    },
    /// Lines must go forward in time.
    #[error("line {line}: times must not go backwards")]
    Backwards {
        /// 1-based line number.
        line: usize,
    },
    /// A schedule line's spec is invalid.
    #[error("line {line}: {source}")]
    Spec {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        #[source]
        source: SpecError,
    },
    /// The trace has no lines.
    #[error("the trace is empty")]
    Empty,
}

impl Timeline {
    /// The same conditions all the time.
    pub fn constant(conditions: Conditions) -> Timeline {
        Timeline {
            steps: vec![(Duration::ZERO, conditions)],
            period: None,
        }
    }

    /// This timeline, then `conditions` from `at` on (replacing any later
    /// steps).
    pub fn then(mut self, at: Duration, conditions: Conditions) -> Timeline {
        self.steps.retain(|(t, _)| *t < at);
        self.steps.push((at, conditions));
        self
    }

    /// `base`, with nothing getting through from `at` for `length`.
    pub fn blackout(base: Conditions, at: Duration, length: Duration) -> Timeline {
        Timeline::constant(base.clone())
            .then(at, Conditions::blackout())
            .then(at + length, base)
    }

    /// Reads a schedule (`<at> <spec patch>` lines) starting from `base`.
    pub fn parse_schedule(text: &str, base: Conditions) -> Result<Timeline, TimelineError> {
        let mut timeline = Timeline::constant(base.clone());
        let mut current = base;
        let mut last = Duration::ZERO;
        for (line, at, rest) in lines(text, "spec")? {
            if at < last {
                return Err(TimelineError::Backwards { line });
            }
            current = current
                .patched(rest)
                .map_err(|source| TimelineError::Spec { line, source })?;
            timeline = timeline.then(at, current.clone());
            last = at;
        }
        Ok(timeline)
    }

    /// Reads a capacity trace (`<ms> <kbps>` lines) on top of `base`; it
    /// repeats.
    pub fn parse_trace(text: &str, base: Conditions) -> Result<Timeline, TimelineError> {
        let mut steps: Vec<(Duration, Conditions)> = Vec::new();
        for (line, at, rest) in lines(text, "kbps")? {
            if steps.last().is_some_and(|(t, _)| at <= *t) {
                return Err(TimelineError::Backwards { line });
            }
            let conditions = base
                .patched(&format!("rate={rest}kbps"))
                .map_err(|source| TimelineError::Spec { line, source })?;
            steps.push((at, conditions));
        }
        let (first, last) = match (steps.first(), steps.last()) {
            (Some(first), Some(last)) => (first.0, last.0),
            _ => return Err(TimelineError::Empty),
        };
        let gap = steps
            .len()
            .checked_sub(2)
            .map_or(Duration::from_secs(1), |i| last - steps[i].0);
        if first > Duration::ZERO {
            steps.insert(0, (Duration::ZERO, steps[0].1.clone()));
        }
        Ok(Timeline {
            steps,
            period: Some(last + gap),
        })
    }

    /// The conditions `elapsed` after the start.
    pub fn at(&self, elapsed: Duration) -> &Conditions {
        let elapsed = match self.period {
            Some(period) if !period.is_zero() => {
                Duration::from_nanos((elapsed.as_nanos() % period.as_nanos()) as u64)
            }
            _ => elapsed,
        };
        let index = self.steps.partition_point(|(t, _)| *t <= elapsed);
        &self.steps[index.saturating_sub(1)].1
    }
}

/// The non-empty, non-comment lines of `text` as (line number, time, rest).
fn lines<'a>(
    text: &'a str,
    expected: &'static str,
) -> Result<Vec<(usize, Duration, &'a str)>, TimelineError> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.split('#').next().unwrap_or("").trim()))
        .filter(|(_, l)| !l.is_empty())
        .map(|(line, l)| {
            let (time, rest) = l
                .split_once(char::is_whitespace)
                .ok_or(TimelineError::Malformed { line, expected })?;
            let at = parse_time(time, expected).ok_or_else(|| TimelineError::BadTime {
                line,
                value: time.to_owned(),
            })?;
            Ok((line, at, rest.trim()))
        })
        .collect()
}

/// A schedule's times default to seconds, a trace's to milliseconds.
fn parse_time(value: &str, expected: &str) -> Option<Duration> {
    if value.ends_with('s') || expected != "spec" {
        parse_duration(value)
    } else {
        parse_duration(&format!("{value}s"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(t: &Timeline, ms: u64) -> Option<u64> {
        t.at(Duration::from_millis(ms)).rate_bps
    }

    #[test]
    fn a_schedule_steps_capacity_down_and_back() {
        let text = "# step\n0 rate=5mbps,delay=50ms\n10s rate=500kbps\n40 rate=5mbps\n";
        let t = Timeline::parse_schedule(text, Conditions::default()).expect("schedule");
        assert_eq!(rate(&t, 0), Some(5_000_000));
        assert_eq!(rate(&t, 9_999), Some(5_000_000));
        assert_eq!(rate(&t, 10_000), Some(500_000));
        assert_eq!(rate(&t, 39_000), Some(500_000));
        assert_eq!(rate(&t, 100_000), Some(5_000_000));
        assert_eq!(
            t.at(Duration::from_secs(20)).delay,
            Duration::from_millis(50)
        );
    }

    #[test]
    fn a_blackout_loses_everything_for_its_length_only() {
        let t = Timeline::blackout(
            Conditions::default(),
            Duration::from_secs(2),
            Duration::from_secs(2),
        );
        assert_eq!(t.at(Duration::from_millis(1_999)).loss.rate(), 0.0);
        assert_eq!(t.at(Duration::from_millis(2_000)).loss.rate(), 1.0);
        assert_eq!(t.at(Duration::from_millis(4_000)).loss.rate(), 0.0);
    }

    #[test]
    fn a_trace_repeats() {
        let t = Timeline::parse_trace("0 1000\n500 200\n1000 3000\n", Conditions::default())
            .expect("trace");
        assert_eq!(rate(&t, 0), Some(1_000_000));
        assert_eq!(rate(&t, 700), Some(200_000));
        assert_eq!(rate(&t, 1_200), Some(3_000_000));
        // Period: last (1000) + last gap (500).
        assert_eq!(rate(&t, 1_500), Some(1_000_000));
        assert_eq!(rate(&t, 2_100), Some(200_000));
    }

    #[test]
    fn bad_files_say_which_line() {
        let base = Conditions::default;
        assert_eq!(
            Timeline::parse_schedule("0 rate=1mbps\nfast\n", base()),
            Err(TimelineError::Malformed {
                line: 2,
                expected: "spec"
            })
        );
        assert!(matches!(
            Timeline::parse_schedule("5 rate=1mbps\n2 rate=2mbps", base()),
            Err(TimelineError::Backwards { line: 2 })
        ));
        assert!(matches!(
            Timeline::parse_schedule("x rate=1mbps", base()),
            Err(TimelineError::BadTime { line: 1, .. })
        ));
        assert!(matches!(
            Timeline::parse_schedule("1 speed=3", base()),
            Err(TimelineError::Spec { line: 1, .. })
        ));
        assert!(matches!(
            Timeline::parse_trace("0 100\n0 200", base()),
            Err(TimelineError::Backwards { line: 2 })
        ));
        assert!(matches!(
            Timeline::parse_trace("0 lots", base()),
            Err(TimelineError::Spec { line: 1, .. })
        ));
        assert_eq!(
            Timeline::parse_trace("# nothing\n", base()),
            Err(TimelineError::Empty)
        );
    }
}
