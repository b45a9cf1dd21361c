//! The statistics behind the gate: distribution quantiles, the seeded paired
//! bootstrap (expanded percentile), Newcombe's interval for paired
//! proportions and McNemar's exact test. docs/gate.md explains the choices.

use std::f64::consts::SQRT_2;

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
#[cfg(test)]
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

/// The independent units the statistics resample: each case, or each
/// group of cases that share a source (a dataset's `group` column), whose
/// deltas move together and so must be resampled together (cluster
/// resampling; Miller 2024, §3). The mean delta is still the mean over
/// cases: Σ sums / Σ sizes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Units {
    /// Each unit's summed delta.
    pub sums: Vec<f64>,
    /// Each unit's number of cases (≥ 1); `None` when every unit is one
    /// case (a million ungrouped cases need no million ones).
    sizes: Option<Vec<f64>>,
}

impl Units {
    /// Every case its own unit.
    pub(crate) fn of_cases(deltas: Vec<f64>) -> Self {
        Self {
            sums: deltas,
            sizes: None,
        }
    }

    /// Units of several cases each: `sums[i]` over `sizes[i]` cases.
    pub(crate) fn of_groups(sums: Vec<f64>, sizes: Vec<f64>) -> Self {
        debug_assert_eq!(sums.len(), sizes.len());
        Self {
            sums,
            sizes: Some(sizes),
        }
    }

    /// How many cases unit `i` holds.
    pub(crate) fn size(&self, i: usize) -> f64 {
        self.sizes.as_ref().map_or(1.0, |sizes| sizes[i])
    }

    /// How many cases all units hold.
    fn cases(&self) -> f64 {
        match &self.sizes {
            Some(sizes) => sizes.iter().sum(),
            None => self.sums.len() as f64,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.sums.len()
    }

    pub(crate) fn mean(&self) -> f64 {
        let cases = self.cases();
        if cases <= 0.0 {
            0.0
        } else {
            self.sums.iter().sum::<f64>() / cases
        }
    }

    /// The standard error of the mean, cluster-robust (with the G/(G − 1)
    /// small-sample factor); for single cases it is the usual sd/√n.
    pub(crate) fn se(&self) -> f64 {
        let g = self.len();
        if g < 2 {
            return 0.0;
        }
        let mean = self.mean();
        let cases = self.cases();
        let ss: f64 = (0..g)
            .map(|i| (self.sums[i] - mean * self.size(i)).powi(2))
            .sum();
        (g as f64 / (g as f64 - 1.0) * ss).sqrt() / cases
    }

    /// The spread of one unit's delta, as sd of a case would be: se·√G.
    pub(crate) fn sd(&self) -> f64 {
        self.se() * (self.len() as f64).sqrt()
    }

    fn all_equal(&self) -> bool {
        let first = self.sums[0] / self.size(0);
        (0..self.len()).all(|i| self.sums[i] / self.size(i) == first)
    }
}

/// One way to bound the mean delta. Each is valid on its own; a scored
/// criterion keeps the widest of several (see [`Widest`]). The interval and
/// the p-values are two readings of the same bound: `interval(tail).1 < x`
/// exactly when `p_below(x) ≤ tail` (and the mirror for the lower bound), so a
/// verdict read off the interval agrees with the test Holm adjusts.
pub(crate) trait Bound {
    /// The two-sided interval with `tail` in each tail.
    fn interval(&self, tail: f64) -> (f64, f64);
    /// One-sided p-value for "the mean delta is below `x`".
    fn p_below(&self, x: f64) -> f64;
}

/// The number of values at or above (`above`) / at or below `x` in a
/// sorted slice.
fn count_at_or_beyond(sorted: &[f64], x: f64, above: bool) -> usize {
    if above {
        sorted.len() - sorted.partition_point(|m| *m < x)
    } else {
        sorted.partition_point(|m| *m <= x)
    }
}

/// The bounds of an interval read from sorted resampled means whose
/// p-values are (c + 1)/(B + 1) at percentile tail `pct`: the
/// (m + 1)-th value from each end, m = ⌊pct·(B + 1)⌋ − 1. When m < 0 no
/// resample count can reach that tail, and the bound is the widest a mean
/// delta can be.
fn order_bounds(sorted: &[f64], pct: f64) -> (f64, f64) {
    let b = sorted.len();
    let m = (pct * (b + 1) as f64 + 1e-9).floor() as i64 - 1;
    if m < 0 || b == 0 {
        return (-1.0, 1.0);
    }
    let m = (m as usize).min(b - 1);
    (sorted[m], sorted[b - 1 - m])
}

/// The resampling p-value: never 0, because the observed data are one of
/// the resamples (Davison & Hinkley 1997, §4.2; Phipson & Smyth 2010).
fn resampling_p(count: usize, resamples: usize) -> f64 {
    ((count + 1) as f64 / (resamples + 1) as f64).min(1.0)
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

/// SplitMix64 (Steele, Lea & Flood 2014): a tiny seeded generator whose
/// quality is ample for resampling, and that stays fast unoptimised (the
/// gate runs in debug-built tests thousands of times).
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// A uniform index below `n` from 32 random bits (Lemire's multiply-shift;
/// its bias, below n / 2³², is far under the bootstrap's own noise).
fn pick(bits: u32, n: usize) -> usize {
    ((u64::from(bits) * n as u64) >> 32) as usize
}

/// √(n / (n − 1)): the expansion factor.
fn expansion(n: usize) -> f64 {
    (n as f64 / (n as f64 - 1.0)).sqrt()
}

/// The percentile-scale tail matching a nominal one-sided tail at `n`
/// cases (n ≥ 2).
pub(crate) fn expanded_tail(tail: f64, n: usize) -> f64 {
    let df = n as f64 - 1.0;
    normal_cdf(-expansion(n) * t_quantile(1.0 - tail, df))
}

impl Bootstrap {
    /// Resamples the units with replacement; each resample's mean is its
    /// summed delta over its number of cases.
    pub(crate) fn run(units: &Units, resamples: usize, seed: u64) -> Self {
        let n = units.len();
        let mean = units.mean();
        if n < 2 {
            return Self {
                n,
                mean,
                means: Vec::new(),
            };
        }
        let resamples = resamples.max(1);
        // All unit means equal: every resample has the same mean; no need
        // to draw.
        if units.all_equal() {
            return Self {
                n,
                mean,
                means: vec![mean; resamples],
            };
        }
        let (sums, sizes) = (&units.sums, units.sizes.as_deref());
        let mut rng = SplitMix64(seed);
        let mut means = Vec::with_capacity(resamples);
        for _ in 0..resamples {
            let (mut sum, mut cases) = (0.0, 0.0);
            let mut drawn = 0;
            // Two indices per 64 random bits: the resampling loop is the
            // gate's only hot path, and it runs unoptimised in debug builds.
            while drawn < n {
                let bits = rng.next_u64();
                for half in [bits as u32, (bits >> 32) as u32] {
                    if drawn < n {
                        let i = pick(half, n);
                        sum += sums[i];
                        if let Some(sizes) = sizes {
                            cases += sizes[i];
                        }
                        drawn += 1;
                    }
                }
            }
            means.push(match sizes {
                Some(_) => sum / cases,
                None => sum / n as f64,
            });
        }
        means.sort_by(f64::total_cmp);
        Self { n, mean, means }
    }

    pub(crate) fn resamples(&self) -> usize {
        self.means.len()
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
        t_cdf(normal_quantile(percentile_tail) / expansion(self.n), df)
    }

    fn p_beyond(&self, x: f64, above: bool) -> f64 {
        if self.n < 2 {
            return 1.0;
        }
        let count = count_at_or_beyond(&self.means, x, above);
        self.nominal_tail(resampling_p(count, self.means.len()))
    }
}

impl Bound for Bootstrap {
    /// Bounds are order statistics chosen so that `hi < x` exactly when
    /// `p_below(x) ≤ tail`. Deltas lie in [−1, 1], which is all one case
    /// can say.
    fn interval(&self, tail: f64) -> (f64, f64) {
        if self.n < 2 {
            return (-1.0, 1.0);
        }
        let (lo, hi) = order_bounds(&self.means, expanded_tail(tail, self.n));
        // An interval for the mean always holds the observed mean; only
        // extreme skew at a very low confidence could break that.
        (lo.min(self.mean), hi.max(self.mean))
    }

    /// The nominal tail at which the interval's upper bound would reach `x`.
    fn p_below(&self, x: f64) -> f64 {
        self.p_beyond(x, true)
    }
}

/// Below this many cases the sign-flip test is enumerated exactly (2ⁿ sign
/// patterns) instead of bootstrapping, whose resamples are too few and too
/// lumpy to read tails from.
pub(crate) const EXACT_SIGN_FLIP_MAX: usize = 12;

/// The exact sign-flip (Fisher–Pitman) permutation test of the mean delta.
/// Testing "mean < x" flips the signs of each unit's Sᵤ − x·nᵤ; a pattern
/// flipping the set S scores at least the observed sum exactly when
/// x ≤ mean(S) (its summed deltas over its cases), so the p-value is
/// (1 + #{S ≠ ∅ : mean(S) ≥ x}) / 2ⁿ, and the interval's bounds are order
/// statistics of the 2ⁿ − 1 subset means. Exact when the deltas are
/// symmetric about their mean; never 0.
#[derive(Debug, Clone)]
pub(crate) struct SignFlip {
    /// Means of every non-empty subset of the units, sorted ascending.
    subset_means: Vec<f64>,
}

impl SignFlip {
    /// At most [`EXACT_SIGN_FLIP_MAX`] units are enumerated.
    pub(crate) fn run(units: &Units) -> Self {
        let n = units.len().min(EXACT_SIGN_FLIP_MAX);
        let patterns = 1usize << n;
        let mut sums = vec![(0.0, 0.0); patterns];
        let mut subset_means = Vec::with_capacity(patterns.saturating_sub(1));
        for mask in 1..patterns {
            let low = mask.trailing_zeros() as usize;
            let (sum, cases) = sums[mask & (mask - 1)];
            sums[mask] = (sum + units.sums[low], cases + units.size(low));
            subset_means.push(sums[mask].0 / sums[mask].1);
        }
        subset_means.sort_by(f64::total_cmp);
        Self { subset_means }
    }
}

impl Bound for SignFlip {
    fn interval(&self, tail: f64) -> (f64, f64) {
        order_bounds(&self.subset_means, tail)
    }

    fn p_below(&self, x: f64) -> f64 {
        let count = count_at_or_beyond(&self.subset_means, x, true);
        resampling_p(count, self.subset_means.len())
    }
}

/// Student's t interval for the mean delta. On sparse, skewed deltas it is
/// wider than the percentile interval at small n, which is what keeps the
/// false-alarm rate at the tolerance boundary below its level there.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TBound {
    n: usize,
    mean: f64,
    se: f64,
}

impl TBound {
    /// With n − 1 degrees of freedom, n the number of units.
    pub(crate) fn new(units: &Units) -> Self {
        Self {
            n: units.len(),
            mean: units.mean(),
            se: units.se(),
        }
    }

    fn p_beyond(&self, x: f64, above: bool) -> f64 {
        if self.n < 2 {
            return 1.0;
        }
        let distance = if above { self.mean - x } else { x - self.mean };
        if self.se <= 0.0 {
            return if distance > 0.0 { 0.0 } else { 1.0 };
        }
        1.0 - t_cdf(distance / self.se, self.n as f64 - 1.0)
    }
}

impl Bound for TBound {
    fn interval(&self, tail: f64) -> (f64, f64) {
        if self.n < 2 {
            return (-1.0, 1.0);
        }
        let half = t_quantile(1.0 - tail, self.n as f64 - 1.0) * self.se;
        (self.mean - half, self.mean + half)
    }

    fn p_below(&self, x: f64) -> f64 {
        self.p_beyond(x, false)
    }
}

/// What n cases (or groups) cannot have seen: a change that strikes a share
/// q of them is missed by all n with probability (1 − q)ⁿ, so the exact
/// (Clopper–Pearson) upper bound on the share of changed cases that no case
/// showed is 1 − tail^(1/n), and each could move its score by up to 1.
/// Every scored interval is at least that wide around the mean, so equal
/// deltas (ceiling effects, deterministic judges) never give a point
/// interval and an "unchanged" that nothing supports.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UnseenChange {
    n: usize,
    mean: f64,
}

impl UnseenChange {
    pub(crate) fn new(n: usize, mean: f64) -> Self {
        Self { n, mean }
    }

    /// The half-width at this tail.
    pub(crate) fn half_width(n: usize, tail: f64) -> f64 {
        if n == 0 {
            return 1.0;
        }
        1.0 - tail.clamp(0.0, 1.0).powf(1.0 / n as f64)
    }

    /// The fewest cases whose floor is below `distance` at this tail.
    pub(crate) fn cases_for(distance: f64, tail: f64) -> f64 {
        if distance >= 1.0 {
            return 1.0;
        }
        if distance <= 0.0 {
            return f64::INFINITY;
        }
        (tail.ln() / (1.0 - distance).ln()).floor() + 1.0
    }

    fn p_beyond(&self, distance: f64) -> f64 {
        if distance <= 0.0 {
            1.0
        } else {
            (1.0 - distance)
                .max(0.0)
                .powi(self.n.min(i32::MAX as usize) as i32)
        }
    }
}

impl Bound for UnseenChange {
    fn interval(&self, tail: f64) -> (f64, f64) {
        let half = Self::half_width(self.n, tail);
        (self.mean - half, self.mean + half)
    }

    fn p_below(&self, x: f64) -> f64 {
        self.p_beyond(x - self.mean)
    }
}

/// Several valid bounds; the widest interval and the largest p-value, so
/// a claim stands only when every one of them makes it.
pub(crate) struct Widest {
    pub(crate) mean: f64,
    pub(crate) bounds: Vec<Box<dyn Bound + Send + Sync>>,
}

impl Bound for Widest {
    fn interval(&self, tail: f64) -> (f64, f64) {
        let (mut lo, mut hi) = (self.mean, self.mean);
        for bound in &self.bounds {
            let (l, h) = bound.interval(tail);
            lo = lo.min(l);
            hi = hi.max(h);
        }
        (lo.max(-1.0), hi.min(1.0))
    }

    fn p_below(&self, x: f64) -> f64 {
        self.bounds.iter().map(|b| b.p_below(x)).fold(0.0, f64::max)
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
pub(crate) fn wilson(successes: u64, n: u64, z: f64) -> (f64, f64) {
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
        let boot = Bootstrap::run(&Units::of_cases(deltas.clone()), 4000, 7);
        let x = -0.02;
        let p = boot.p_below(x);
        assert!(p > 0.0 && p < 0.5, "p {p}");
        assert!(boot.interval(p * 1.01).1 < x);
        assert!(boot.interval(p * 0.99).1 >= x);
    }

    #[test]
    fn bootstrap_is_reproducible_and_seed_dependent() {
        let deltas: Vec<f64> = (0..30).map(|i| f64::from(i % 7) / 10.0 - 0.3).collect();
        let a = Bootstrap::run(&Units::of_cases(deltas.clone()), 2000, 1).interval(0.025);
        let b = Bootstrap::run(&Units::of_cases(deltas.clone()), 2000, 1).interval(0.025);
        let c = Bootstrap::run(&Units::of_cases(deltas.clone()), 2000, 2).interval(0.025);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn expanded_bootstrap_is_close_to_t_interval_for_symmetric_data() {
        let deltas: Vec<f64> = (0..25).map(|i| f64::from(i % 5) / 10.0 - 0.2).collect();
        let (mean, sd) = mean_sd(&deltas);
        let half_t = t_quantile(0.975, 24.0) * sd / 25f64.sqrt();
        let (lo, hi) = Bootstrap::run(&Units::of_cases(deltas.clone()), 4000, 3).interval(0.025);
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
