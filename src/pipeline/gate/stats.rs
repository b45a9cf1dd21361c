//! The statistics behind the gate: distribution quantiles, the seeded paired
//! bootstrap (expanded percentile), Newcombe's interval for paired
//! proportions and McNemar's exact test. docs/gate.md explains the choices.

use std::f64::consts::SQRT_2;

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use statrs::distribution::{ContinuousCDF, StudentsT};
use statrs::function::{beta, erf};

/// Comparisons against a tolerance bound allow this much floating-point
/// slack, so a delta of exactly −tolerance is not "below" it by rounding.
pub(crate) const EPS: f64 = 1e-9;

/// Standard normal CDF Φ.
pub(crate) fn normal_cdf(x: f64) -> f64 {
    0.5 * erf::erfc(-x / SQRT_2)
}

/// Standard normal quantile Φ⁻¹, with ±∞ at 0 and 1.
pub(crate) fn normal_quantile(p: f64) -> f64 {
    if p <= 0.0 {
        f64::NEG_INFINITY
    } else if p >= 1.0 {
        f64::INFINITY
    } else {
        -SQRT_2 * erf::erfc_inv(2.0 * p)
    }
}

fn students_t(df: f64) -> Option<StudentsT> {
    StudentsT::new(0.0, 1.0, df).ok()
}

/// Student t CDF with `df` degrees of freedom (the normal one if `df` is unusable).
pub(crate) fn t_cdf(x: f64, df: f64) -> f64 {
    match students_t(df) {
        Some(t) => t.cdf(x),
        None => normal_cdf(x),
    }
}

/// Student t quantile with `df` degrees of freedom.
pub(crate) fn t_quantile(p: f64, df: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    match students_t(df) {
        Some(t) => t.inverse_cdf(p),
        None => normal_quantile(p),
    }
}

/// P(X ≥ k) for X ~ Binomial(n, 1/2): the exact McNemar tail.
pub(crate) fn binomial_half_upper_tail(k: u64, n: u64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > n {
        return 0.0;
    }
    // P(X ≥ k) = I_{1/2}(k, n − k + 1), the regularised incomplete beta.
    beta::beta_reg(k as f64, (n - k + 1) as f64, 0.5).clamp(0.0, 1.0)
}

/// Sample mean and standard deviation (n − 1 denominator; 0 when n < 2).
pub(crate) fn mean_sd(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0);
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, 0.0);
    }
    let ss: f64 = values.iter().map(|v| (v - mean).powi(2)).sum();
    (mean, (ss / (n - 1.0)).sqrt())
}

/// The seeded paired bootstrap of the mean delta, read with Hesterberg's
/// expanded percentile method: the percentile interval, with its tail
/// probabilities moved so that its width matches a t interval at this n.
/// That corrects the plain percentile interval's known narrowness at small
/// n (its spread is too small by √((n−1)/n) and it ignores t's heavier tails).
#[derive(Debug, Clone)]
pub(crate) struct Bootstrap {
    n: usize,
    mean: f64,
    /// Resampled means, sorted ascending. Empty when n < 2.
    means: Vec<f64>,
}

/// A uniform index below `n` from 32 random bits (Lemire's multiply-shift;
/// its bias, below n / 2³², is far under the bootstrap's own noise).
fn pick(bits: u32, n: usize) -> usize {
    ((u64::from(bits) * n as u64) >> 32) as usize
}

impl Bootstrap {
    pub(crate) fn run(deltas: &[f64], resamples: usize, seed: u64) -> Self {
        let n = deltas.len();
        let (mean, _) = mean_sd(deltas);
        if n < 2 {
            return Self {
                n,
                mean,
                means: Vec::new(),
            };
        }
        // All deltas equal: every resample has the same mean; no need to draw.
        if deltas.iter().all(|d| *d == deltas[0]) {
            return Self {
                n,
                mean,
                means: vec![deltas[0]],
            };
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut means = Vec::with_capacity(resamples.max(1));
        for _ in 0..resamples.max(1) {
            let mut sum = 0.0;
            let mut drawn = 0;
            // Two indices per 64 random bits: the resampling loop is the
            // gate's only hot path, and it runs unoptimised in debug builds.
            while drawn < n {
                let bits = rng.next_u64();
                sum += deltas[pick(bits as u32, n)];
                drawn += 1;
                if drawn < n {
                    sum += deltas[pick((bits >> 32) as u32, n)];
                    drawn += 1;
                }
            }
            means.push(sum / n as f64);
        }
        means.sort_by(f64::total_cmp);
        Self { n, mean, means }
    }

    pub(crate) fn resamples(&self) -> usize {
        self.means.len()
    }

    /// √(n / (n − 1)): the expansion factor.
    fn expansion(&self) -> f64 {
        (self.n as f64 / (self.n as f64 - 1.0)).sqrt()
    }

    /// The percentile-scale tail matching a nominal one-sided tail.
    fn expanded_tail(&self, tail: f64) -> f64 {
        let df = self.n as f64 - 1.0;
        normal_cdf(-self.expansion() * t_quantile(1.0 - tail, df))
    }

    /// Inverse of `expanded_tail`.
    fn nominal_tail(&self, percentile_tail: f64) -> f64 {
        if percentile_tail <= 0.0 {
            return 0.0;
        }
        if percentile_tail >= 1.0 {
            return 1.0;
        }
        let df = self.n as f64 - 1.0;
        t_cdf(normal_quantile(percentile_tail) / self.expansion(), df)
    }

    /// The 1-based order statistic, clamped into range.
    fn order_statistic(&self, rank: f64) -> f64 {
        let last = self.means.len();
        let index = (rank.max(1.0) as usize).min(last);
        self.means[index - 1]
    }

    /// The two-sided interval with `tail` in each tail. Its bounds are order
    /// statistics chosen so that `hi < x` exactly when `p_below(x) ≤ tail`.
    /// Deltas lie in [−1, 1], which is all one case can say.
    pub(crate) fn interval(&self, tail: f64) -> (f64, f64) {
        if self.n < 2 {
            return (-1.0, 1.0);
        }
        let b = self.means.len() as f64;
        let pct = self.expanded_tail(tail);
        let lo = self.order_statistic((pct * b).floor() + 1.0);
        let hi = self.order_statistic(((1.0 - pct) * b).ceil());
        // An interval for the mean always holds the observed mean; only
        // extreme skew at a very low confidence could break that.
        (lo.min(self.mean), hi.max(self.mean))
    }

    /// One-sided p-value for "the mean delta is below `x`": the nominal tail
    /// at which the interval's upper bound would reach `x`.
    pub(crate) fn p_below(&self, x: f64) -> f64 {
        if self.n < 2 {
            return 1.0;
        }
        let at_or_above = self.means.len() - self.means.partition_point(|m| *m < x);
        self.nominal_tail(at_or_above as f64 / self.means.len() as f64)
    }
}

/// Paired pass/fail outcomes over the same cases (pass = score 1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PairedTable {
    pub both_pass: u64,
    /// Head passes, baseline failed.
    pub gained: u64,
    /// Baseline passed, head fails.
    pub lost: u64,
    pub both_fail: u64,
}

/// Wilson's score interval for a proportion.
fn wilson(successes: u64, n: u64, z: f64) -> (f64, f64) {
    let n = n as f64;
    let p = successes as f64 / n;
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

impl PairedTable {
    /// Counts from paired scores that are all exactly 0 or 1; `None` otherwise.
    pub(crate) fn from_scores(head: &[f64], baseline: &[f64]) -> Option<Self> {
        let mut table = Self::default();
        for (h, b) in head.iter().zip(baseline) {
            let pass = |s: f64| match s {
                1.0 => Some(true),
                0.0 => Some(false),
                _ => None,
            };
            match (pass(*h)?, pass(*b)?) {
                (true, true) => table.both_pass += 1,
                (true, false) => table.gained += 1,
                (false, true) => table.lost += 1,
                (false, false) => table.both_fail += 1,
            }
        }
        Some(table)
    }

    pub(crate) fn n(&self) -> u64 {
        self.both_pass + self.gained + self.lost + self.both_fail
    }

    fn delta(&self) -> f64 {
        (self.gained as f64 - self.lost as f64) / self.n() as f64
    }

    /// Newcombe's hybrid score interval for a difference of paired
    /// proportions (Newcombe 1998, method 10) at normal quantile `z`.
    fn interval_at(&self, z: f64) -> (f64, f64) {
        let n = self.n();
        if n == 0 {
            return (-1.0, 1.0);
        }
        let head_pass = self.both_pass + self.gained;
        let base_pass = self.both_pass + self.lost;
        let p1 = head_pass as f64 / n as f64;
        let p2 = base_pass as f64 / n as f64;
        let (l1, u1) = wilson(head_pass, n, z);
        let (l2, u2) = wilson(base_pass, n, z);
        let (e, f, g, h) = (
            self.both_pass as f64,
            self.gained as f64,
            self.lost as f64,
            self.both_fail as f64,
        );
        // The correlation between the two proportions, with Newcombe's
        // shrinkage of a positive cross-product by n/2 (his φ̂).
        let margins = (e + f) * (g + h) * (e + g) * (f + h);
        let cross = e * h - f * g;
        let half_n = n as f64 / 2.0;
        let shrunk = if cross > half_n {
            cross - half_n
        } else if cross >= 0.0 {
            0.0
        } else {
            cross
        };
        let phi = if margins > 0.0 {
            (shrunk / margins.sqrt()).clamp(-1.0, 1.0)
        } else {
            0.0
        };
        let spread = |a: f64, b: f64| (a * a - 2.0 * phi * a * b + b * b).max(0.0).sqrt();
        let d = p1 - p2;
        let lo = d - spread(p1 - l1, u2 - p2);
        let hi = d + spread(u1 - p1, p2 - l2);
        (lo.max(-1.0), hi.min(1.0))
    }

    /// The two-sided interval with `tail` in each tail.
    pub(crate) fn interval(&self, tail: f64) -> (f64, f64) {
        let z = normal_quantile(1.0 - tail).clamp(0.0, MAX_Z);
        let (lo, hi) = self.interval_at(z);
        let d = self.delta();
        (lo.min(d), hi.max(d))
    }

    /// One-sided p-value for "the difference is below `x`": the tail at
    /// which Newcombe's upper bound reaches `x`, found by bisection on z.
    pub(crate) fn p_below(&self, x: f64) -> f64 {
        if self.n() == 0 || self.delta() >= x {
            return 1.0;
        }
        let upper = |z: f64| self.interval_at(z).1;
        if upper(MAX_Z) < x {
            return normal_cdf(-MAX_Z);
        }
        let (mut lo, mut hi) = (0.0, MAX_Z);
        for _ in 0..80 {
            let mid = 0.5 * (lo + hi);
            if upper(mid) < x {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        normal_cdf(-0.5 * (lo + hi))
    }

    /// McNemar's exact one-sided p-value that losses outnumber gains by
    /// chance alone (binomial on the discordant pairs).
    pub(crate) fn mcnemar_losses(&self) -> f64 {
        binomial_half_upper_tail(self.lost, self.lost + self.gained)
    }

    /// The same for gains.
    pub(crate) fn mcnemar_gains(&self) -> f64 {
        binomial_half_upper_tail(self.gained, self.lost + self.gained)
    }
}

/// Beyond this many standard errors every interval is effectively [−1, 1].
const MAX_Z: f64 = 40.0;

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn normal_and_t_quantiles_match_tables() {
        assert!(close(normal_quantile(0.975), 1.959964, 1e-5));
        assert!(close(normal_cdf(1.959964), 0.975, 1e-6));
        assert!(close(t_quantile(0.975, 9.0), 2.262157, 1e-5));
        assert!(close(t_cdf(2.262157, 9.0), 0.975, 1e-6));
    }

    #[test]
    fn mcnemar_tail_matches_hand_computation() {
        // P(X ≥ 8 | n = 10, ½) = (45 + 10 + 1) / 1024
        assert!(close(binomial_half_upper_tail(8, 10), 56.0 / 1024.0, 1e-12));
        assert_eq!(binomial_half_upper_tail(0, 0), 1.0);
        assert_eq!(binomial_half_upper_tail(3, 2), 0.0);
    }

    #[test]
    fn newcombe_matches_published_example() {
        // Cavo et al. (2012) as worked in Fagerland, Lydersen & Laake,
        // "Statistical Analysis of Contingency Tables" (2017), ch. 8:
        // 59 / 6 / 16 / 80 → −0.0621 (95% CI −0.1186 to −0.0046).
        let table = PairedTable {
            both_pass: 59,
            gained: 6,
            lost: 16,
            both_fail: 80,
        };
        let (lo, hi) = table.interval(0.025);
        assert!(close(table.delta(), -0.0621, 5e-5));
        assert!(close(lo, -0.1186, 5e-5), "lo {lo}");
        assert!(close(hi, -0.0046, 5e-5), "hi {hi}");
    }

    #[test]
    fn newcombe_p_value_inverts_the_interval() {
        let table = PairedTable {
            both_pass: 20,
            gained: 1,
            lost: 9,
            both_fail: 10,
        };
        let x = -0.02;
        let p = table.p_below(x);
        assert!(p > 0.0 && p < 0.5);
        assert!(table.interval(p * 1.001).1 < x);
        assert!(table.interval(p * 0.999).1 >= x);
    }

    #[test]
    fn bootstrap_p_value_inverts_the_interval() {
        let deltas: Vec<f64> = (0..40)
            .map(|i| {
                if i % 4 == 0 {
                    -0.5
                } else {
                    0.02 * f64::from(i % 3)
                }
            })
            .collect();
        let boot = Bootstrap::run(&deltas, 4000, 7);
        let x = -0.02;
        let p = boot.p_below(x);
        assert!(p > 0.0 && p < 0.5, "p {p}");
        assert!(boot.interval(p * 1.01).1 < x);
        assert!(boot.interval(p * 0.99).1 >= x);
    }

    #[test]
    fn bootstrap_is_reproducible_and_seed_dependent() {
        let deltas: Vec<f64> = (0..30).map(|i| f64::from(i % 7) / 10.0 - 0.3).collect();
        let a = Bootstrap::run(&deltas, 2000, 1).interval(0.025);
        let b = Bootstrap::run(&deltas, 2000, 1).interval(0.025);
        let c = Bootstrap::run(&deltas, 2000, 2).interval(0.025);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn expanded_bootstrap_is_close_to_t_interval_for_symmetric_data() {
        let deltas: Vec<f64> = (0..25).map(|i| f64::from(i % 5) / 10.0 - 0.2).collect();
        let (mean, sd) = mean_sd(&deltas);
        let half_t = t_quantile(0.975, 24.0) * sd / 25f64.sqrt();
        let (lo, hi) = Bootstrap::run(&deltas, 4000, 3).interval(0.025);
        assert!(
            close(lo, mean - half_t, 0.02),
            "lo {lo} vs {}",
            mean - half_t
        );
        assert!(
            close(hi, mean + half_t, 0.02),
            "hi {hi} vs {}",
            mean + half_t
        );
    }
}
