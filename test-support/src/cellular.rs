//! A synthetic cellular capacity trace for the network bench (no real
//! Mahimahi trace can be downloaded here): Mahimahi's format, `<ms> <kbps>`
//! lines, read by [`impair::Timeline::parse_trace`].
//!
//! The capacity moves every 100 ms by a multiplicative random walk (each
//! step x e^N(0, 0.15)), pulled back towards 2 Mbit/s and kept within
//! 0.3-6 Mbit/s, the range and the 100 ms scale of the LTE drive traces in
//! Salsify (NSDI 2018, fig. 6); every ~20 s an outage of 1-2 s at 50 kbit/s
//! (a handover or a tunnel). The generator is seeded, so every run
//! replays the same trace.

/// The bench's LTE-like trace, committed (`traces/lte-synthetic.trace`):
/// 120 s of [`trace`] from seed 15, with a header saying how it was made.
pub const LTE_TRACE: &str = include_str!("../traces/lte-synthetic.trace");

/// Lines of a `seconds`-long trace from `seed`.
pub fn trace(seconds: u64, seed: u64) -> String {
    let mut rng = SplitMix(seed);
    let mut kbps: f64 = 2000.0;
    let mut outage_left = 0u32;
    let mut out = String::new();
    for step in 0..seconds * 10 {
        if outage_left == 0 && rng.unit() < 1.0 / 200.0 {
            outage_left = 10 + (rng.unit() * 10.0) as u32;
        }
        let now = if outage_left > 0 {
            outage_left -= 1;
            50.0
        } else {
            let pull = (2000.0f64 / kbps).ln() * 0.05;
            kbps = (kbps * (rng.normal() * 0.15 + pull).exp()).clamp(300.0, 6000.0);
            kbps
        };
        out.push_str(&format!("{} {:.0}\n", step * 100, now));
    }
    out
}

/// SplitMix64: a tiny seeded generator (the trace must not depend on a
/// crate's algorithm changing).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller).
    fn normal(&mut self) -> f64 {
        let u = self.unit().max(f64::MIN_POSITIVE);
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trace_is_seeded_bounded_and_parses() {
        let a = trace(60, 7);
        assert_eq!(a, trace(60, 7));
        assert_ne!(a, trace(60, 8));
        let rates: Vec<f64> = a
            .lines()
            .map(|l| l.split(' ').nth(1).unwrap().parse().unwrap())
            .collect();
        assert_eq!(rates.len(), 600);
        assert!(rates
            .iter()
            .all(|r| *r == 50.0 || (300.0..=6000.0).contains(r)));
        let base = impair::Conditions::default();
        impair::Timeline::parse_trace(&a, base).expect("a valid trace");
    }

    #[test]
    fn the_committed_trace_is_the_generators() {
        let data: String = LTE_TRACE
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(data, trace(120, 15));
        impair::Timeline::parse_trace(LTE_TRACE, impair::Conditions::default())
            .expect("a valid trace");
    }
}
