//! Which packets a link loses: none, independently at random, or in bursts
//! (the two-state Gilbert-Elliott model: a good state that loses nothing and
//! a bad state that loses everything).

use rand::Rng;

/// How a link loses packets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LossModel {
    /// Nothing is lost.
    None,
    /// Each packet is lost independently with probability `rate` (0..=1).
    Random {
        /// Share of packets lost.
        rate: f64,
    },
    /// Losses come in bursts: on average `rate` of the packets are lost, in
    /// runs of `mean_burst` packets (Gilbert-Elliott with loss only in the
    /// bad state: P(bad -> good) = 1 / mean_burst, and P(good -> bad) set so
    /// the bad state's stationary share equals `rate`).
    Bursty {
        /// Share of packets lost in the long run.
        rate: f64,
        /// Mean number of packets in a loss burst (>= 1).
        mean_burst: f64,
    },
}

impl LossModel {
    /// The long-run share of packets this model loses.
    pub fn rate(&self) -> f64 {
        match *self {
            LossModel::None => 0.0,
            LossModel::Random { rate } | LossModel::Bursty { rate, .. } => rate,
        }
    }

    /// The same model losing `rate` instead (`mean_burst` kept); 0 is
    /// [`LossModel::None`].
    pub fn with_rate(self, rate: f64) -> LossModel {
        match self {
            _ if rate <= 0.0 => LossModel::None,
            LossModel::Bursty { mean_burst, .. } => LossModel::Bursty { rate, mean_burst },
            LossModel::None | LossModel::Random { .. } => LossModel::Random { rate },
        }
    }
}

/// The state a loss model carries from one packet to the next.
#[derive(Debug, Default)]
pub(crate) struct LossState {
    /// In the Gilbert-Elliott bad state.
    bad: bool,
}

impl LossState {
    /// Whether the next packet is lost under `model`.
    pub(crate) fn lose(&mut self, model: &LossModel, rng: &mut impl Rng) -> bool {
        match *model {
            LossModel::None => false,
            LossModel::Random { rate } => rate >= 1.0 || rng.random::<f64>() < rate,
            LossModel::Bursty { rate, mean_burst } => {
                if rate >= 1.0 {
                    return true;
                }
                let to_good = 1.0 / mean_burst.max(1.0);
                let to_bad = (rate * to_good / (1.0 - rate)).min(1.0);
                let flip = if self.bad { to_good } else { to_bad };
                if rng.random::<f64>() < flip {
                    self.bad = !self.bad;
                }
                self.bad
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    /// Loss share and mean burst length over `n` packets.
    fn measure(model: LossModel, n: usize) -> (f64, f64) {
        let mut rng = StdRng::seed_from_u64(7);
        let mut state = LossState::default();
        let (mut lost, mut bursts, mut in_burst) = (0usize, 0usize, false);
        for _ in 0..n {
            let l = state.lose(&model, &mut rng);
            if l {
                lost += 1;
                if !in_burst {
                    bursts += 1;
                }
            }
            in_burst = l;
        }
        (lost as f64 / n as f64, lost as f64 / bursts.max(1) as f64)
    }

    #[test]
    fn random_loss_loses_its_share_in_short_runs() {
        let (share, burst) = measure(LossModel::Random { rate: 0.2 }, 200_000);
        assert!((share - 0.2).abs() < 0.01, "share {share}");
        assert!(burst < 1.5, "mean burst {burst}");
    }

    #[test]
    fn bursty_loss_keeps_the_share_and_makes_the_bursts_long() {
        let model = LossModel::Bursty {
            rate: 0.1,
            mean_burst: 5.0,
        };
        let (share, burst) = measure(model, 400_000);
        assert!((share - 0.1).abs() < 0.01, "share {share}");
        assert!((burst - 5.0).abs() < 0.5, "mean burst {burst}");
    }

    #[test]
    fn full_loss_is_a_blackout_and_none_loses_nothing() {
        assert_eq!(measure(LossModel::Random { rate: 1.0 }, 1000).0, 1.0);
        let bursty = LossModel::Bursty {
            rate: 1.0,
            mean_burst: 3.0,
        };
        assert_eq!(measure(bursty, 1000).0, 1.0);
        assert_eq!(measure(LossModel::None, 1000).0, 0.0);
    }
}
