//! What one direction of a link does to packets, and its text form: a comma
//! separated list of `key=value` (`loss=5%,delay=50ms,rate=500kbps`).
//!
//! | key | value | meaning |
//! |---|---|---|
//! | `loss` | `5%` or `0.05` | share of packets lost |
//! | `burst` | packets, e.g. `5` | mean loss burst (Gilbert-Elliott); `1` = random |
//! | `delay` | `50ms`, `0.1s`, `500us` | one-way propagation delay |
//! | `jitter` | a duration | delay varies uniformly by up to this, either way |
//! | `reorder` | a share | packets sent without the delay (arrive early) |
//! | `rate` | `500kbps`, `5mbps`, `64000bps`, `off` | capacity |
//! | `queue` | packets | drop-tail queue depth in front of the capacity |
//!
//! `clean` (or an empty spec) is a perfect link; `blackout` loses everything.

use crate::loss::LossModel;
use std::str::FromStr;
use std::time::Duration;

/// The default drop-tail queue depth, in packets.
pub const DEFAULT_QUEUE_PACKETS: usize = 100;

/// What one direction of a link does to packets.
#[derive(Debug, Clone, PartialEq)]
pub struct Conditions {
    /// Which packets are lost.
    pub loss: LossModel,
    /// One-way propagation delay.
    pub delay: Duration,
    /// The delay varies uniformly within `delay ± jitter` (never below 0);
    /// packets stay in order unless `reorder` is set.
    pub jitter: Duration,
    /// Share (0..=1) of packets sent without the propagation delay, so they
    /// overtake the ones before them (netem's `reorder`).
    pub reorder: f64,
    /// Capacity in bits per second; `None` is unlimited.
    pub rate_bps: Option<u64>,
    /// Drop-tail queue depth in packets in front of the capacity: a packet
    /// that finds this many waiting is dropped.
    pub queue_packets: usize,
}

impl Default for Conditions {
    fn default() -> Self {
        Conditions {
            loss: LossModel::None,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            reorder: 0.0,
            rate_bps: None,
            queue_packets: DEFAULT_QUEUE_PACKETS,
        }
    }
}

/// Why a conditions spec could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// A part of the spec is not `key=value`.
    #[error("`{0}` is not key=value")]
    NotKeyValue(String),
    /// The key is not one of loss, burst, delay, jitter, reorder, rate, queue.
    #[error("unknown key `{0}` (expected loss, burst, delay, jitter, reorder, rate or queue)")]
    UnknownKey(String),
    /// The value does not fit its key.
    #[error("`{value}` is not a valid {key}: {expected}")]
    BadValue {
        /// The key.
        key: String,
        /// The value as written.
        value: String,
        /// What the key takes.
        expected: &'static str,
    },
}

impl Conditions {
    /// A link that loses everything.
    pub fn blackout() -> Conditions {
        Conditions {
            loss: LossModel::Random { rate: 1.0 },
            ..Conditions::default()
        }
    }

    /// These conditions with the parts named in `spec` changed (the others
    /// kept): how schedules express a change such as `rate=500kbps`.
    pub fn patched(&self, spec: &str) -> Result<Conditions, SpecError> {
        let mut next = self.clone();
        let mut burst = None;
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "clean" => next = Conditions::default(),
                "blackout" => next.loss = LossModel::Random { rate: 1.0 },
                _ => {
                    let (key, value) = part
                        .split_once('=')
                        .ok_or_else(|| SpecError::NotKeyValue(part.to_owned()))?;
                    let (key, value) = (key.trim(), value.trim());
                    let bad = |expected| SpecError::BadValue {
                        key: key.to_owned(),
                        value: value.to_owned(),
                        expected,
                    };
                    match key {
                        "loss" => {
                            let rate = parse_share(value).ok_or_else(|| bad("a share"))?;
                            next.loss = next.loss.with_rate(rate);
                        }
                        "burst" => {
                            let packets = value
                                .parse::<f64>()
                                .ok()
                                .filter(|b| b.is_finite() && *b >= 1.0)
                                .ok_or_else(|| bad("a mean burst of at least 1 packet"))?;
                            burst = Some(packets);
                        }
                        "delay" => {
                            next.delay = parse_duration(value).ok_or_else(|| bad("a duration"))?
                        }
                        "jitter" => {
                            next.jitter = parse_duration(value).ok_or_else(|| bad("a duration"))?
                        }
                        "reorder" => {
                            next.reorder = parse_share(value).ok_or_else(|| bad("a share"))?
                        }
                        "rate" => next.rate_bps = parse_rate(value).ok_or_else(|| bad("a rate"))?,
                        "queue" => {
                            next.queue_packets = value
                                .parse::<usize>()
                                .ok()
                                .filter(|q| *q > 0)
                                .ok_or_else(|| bad("a number of packets above 0"))?
                        }
                        _ => return Err(SpecError::UnknownKey(key.to_owned())),
                    }
                }
            }
        }
        if let Some(mean_burst) = burst {
            let rate = next.loss.rate();
            next.loss = if mean_burst <= 1.0 || rate <= 0.0 {
                LossModel::None.with_rate(rate)
            } else {
                LossModel::Bursty { rate, mean_burst }
            };
        }
        Ok(next)
    }
}

impl FromStr for Conditions {
    type Err = SpecError;

    fn from_str(spec: &str) -> Result<Conditions, SpecError> {
        Conditions::default().patched(spec)
    }
}

/// `5%` or `0.05`, within 0..=1.
fn parse_share(value: &str) -> Option<f64> {
    let share = match value.strip_suffix('%') {
        Some(percent) => percent.trim().parse::<f64>().ok()? / 100.0,
        None => value.parse::<f64>().ok()?,
    };
    (0.0..=1.0).contains(&share).then_some(share)
}

/// `50ms`, `0.1s`, `500us` (a bare number is milliseconds).
pub(crate) fn parse_duration(value: &str) -> Option<Duration> {
    let (number, scale) = if let Some(n) = value.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = value.strip_suffix("us") {
        (n, 1e-6)
    } else if let Some(n) = value.strip_suffix('s') {
        (n, 1.0)
    } else {
        (value, 1e-3)
    };
    let seconds = number.trim().parse::<f64>().ok()? * scale;
    (seconds.is_finite() && (0.0..=3600.0).contains(&seconds))
        .then(|| Duration::from_secs_f64(seconds))
}

/// `500kbps`, `5mbps`, `64000bps` (a bare number is kbps), `off`/`0` for
/// unlimited: `Some(None)`.
pub(crate) fn parse_rate(value: &str) -> Option<Option<u64>> {
    if value == "off" {
        return Some(None);
    }
    let lower = value.to_ascii_lowercase();
    let (number, scale) = if let Some(n) = lower.strip_suffix("mbps") {
        (n.to_owned(), 1e6)
    } else if let Some(n) = lower.strip_suffix("kbps") {
        (n.to_owned(), 1e3)
    } else if let Some(n) = lower.strip_suffix("bps") {
        (n.to_owned(), 1.0)
    } else {
        (lower, 1e3)
    };
    let bps = number.trim().parse::<f64>().ok()? * scale;
    if !bps.is_finite() || !(0.0..=1e11).contains(&bps) {
        return None;
    }
    Some((bps >= 1.0).then_some(bps as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_spec_reads_every_key() {
        let c: Conditions = "loss=10%,burst=5,delay=50ms,jitter=5ms,reorder=1%,rate=2mbps,queue=40"
            .parse()
            .expect("spec");
        assert_eq!(
            c.loss,
            LossModel::Bursty {
                rate: 0.1,
                mean_burst: 5.0
            }
        );
        assert_eq!(c.delay, Duration::from_millis(50));
        assert_eq!(c.jitter, Duration::from_millis(5));
        assert!((c.reorder - 0.01).abs() < 1e-12);
        assert_eq!(c.rate_bps, Some(2_000_000));
        assert_eq!(c.queue_packets, 40);
    }

    #[test]
    fn a_patch_changes_only_what_it_names() {
        let base: Conditions = "loss=5%,delay=20ms,rate=5mbps".parse().expect("spec");
        let step = base.patched("rate=500kbps").expect("patch");
        assert_eq!(step.rate_bps, Some(500_000));
        assert_eq!(step.delay, base.delay);
        assert_eq!(step.loss, base.loss);
        assert_eq!(step.patched("rate=off").expect("off").rate_bps, None);
        assert_eq!(base.patched("clean").expect("clean"), Conditions::default());
        assert_eq!(base.patched("blackout").expect("blackout").loss.rate(), 1.0);
    }

    #[test]
    fn bad_specs_name_what_is_wrong() {
        let err = |s: &str| s.parse::<Conditions>().expect_err(s);
        assert_eq!(err("loss"), SpecError::NotKeyValue("loss".into()));
        assert_eq!(err("speed=3"), SpecError::UnknownKey("speed".into()));
        for bad in [
            "loss=150%",
            "loss=-1",
            "loss=x",
            "delay=-5ms",
            "delay=2h",
            "jitter=NaNms",
            "rate=-1kbps",
            "rate=fast",
            "queue=0",
            "queue=-3",
            "burst=0.5",
            "reorder=2",
        ] {
            assert!(
                matches!(err(bad), SpecError::BadValue { .. }),
                "{bad} should be a bad value"
            );
        }
    }
}
