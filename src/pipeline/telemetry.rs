//! Production telemetry as plain data: what applications report after each
//! call of a served prompt, added up into [`Tally`]s (the sufficient
//! statistics the server stores per prompt, version, arm and hour), turned
//! into [`Metrics`], and two arms compared with intervals ([`compare`]).
//!
//! Latency percentiles come from a [`LatencySketch`]: logarithmic buckets
//! whose estimate is within [`SKETCH_RELATIVE_ERROR`] of the true value of
//! the nearest-rank percentile (the rank itself is exact). Sketches add up,
//! so hourly rollups merge into any window without the raw rows.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::pipeline::gate::stats::{normal_quantile, t_quantile, wilson};

/// Bucket growth factor γ: bucket `i` holds latencies in (γ^(i−1), γ^i].
const GAMMA: f64 = 1.02;
/// The sketch's bound on relative error, (γ−1)/(γ+1) ≈ 0.99 %.
pub const SKETCH_RELATIVE_ERROR: f64 = (GAMMA - 1.0) / (GAMMA + 1.0);
/// Latencies are clamped to this range (ms) before bucketing: 10 µs to
/// about 28 hours, so a bucket index always fits comfortably in an `i32`.
const MIN_LATENCY_MS: f64 = 0.01;
const MAX_LATENCY_MS: f64 = 1.0e8;

/// How an execution ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    /// The model or the application failed (an `error_kind` says how).
    Error,
    Timeout,
    /// The model declined to answer.
    Refusal,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [
        Outcome::Ok,
        Outcome::Error,
        Outcome::Timeout,
        Outcome::Refusal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Timeout => "timeout",
            Outcome::Refusal => "refusal",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == text)
    }
}

/// One execution, as far as the statistics care.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Execution {
    pub latency_ms: f64,
    pub outcome: Outcome,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    /// Known cost in US dollars (reported, or priced from the tokens).
    pub cost_usd: Option<f64>,
    /// User feedback in [0, 1]: thumbs up is 1, thumbs down 0.
    pub feedback: Option<f64>,
    /// A quality score in [0, 1] (an online evaluator's, for instance).
    pub quality: Option<f64>,
}

/// Latency buckets: index → count. See the module docs for the bound.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LatencySketch {
    buckets: BTreeMap<i32, u64>,
}

impl LatencySketch {
    /// The bucket holding `latency_ms`.
    pub fn index(latency_ms: f64) -> i32 {
        let clamped = if latency_ms.is_finite() {
            latency_ms.clamp(MIN_LATENCY_MS, MAX_LATENCY_MS)
        } else {
            MAX_LATENCY_MS
        };
        (clamped.ln() / GAMMA.ln()).ceil() as i32
    }

    /// The value reported for bucket `index`: the point whose relative
    /// distance to both ends of the bucket is the same.
    pub fn value(index: i32) -> f64 {
        2.0 * GAMMA.powi(index) / (GAMMA + 1.0)
    }

    pub fn add(&mut self, latency_ms: f64) {
        self.add_bucket(Self::index(latency_ms), 1);
    }

    pub fn add_bucket(&mut self, index: i32, count: u64) {
        if count > 0 {
            *self.buckets.entry(index).or_default() += count;
        }
    }

    pub fn merge(&mut self, other: &LatencySketch) {
        for (index, count) in &other.buckets {
            self.add_bucket(*index, *count);
        }
    }

    pub fn buckets(&self) -> impl Iterator<Item = (i32, u64)> + '_ {
        self.buckets.iter().map(|(i, c)| (*i, *c))
    }

    pub fn count(&self) -> u64 {
        self.buckets.values().sum()
    }

    /// The nearest-rank `q`-quantile (the ⌈q·n⌉-th smallest latency), within
    /// [`SKETCH_RELATIVE_ERROR`]; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
        let mut seen = 0;
        for (index, count) in &self.buckets {
            seen += count;
            if seen >= rank {
                return Some(Self::value(*index));
            }
        }
        None
    }
}

/// Sufficient statistics of a set of executions: everything [`Metrics`]
/// and [`compare`] need, and nothing that grows with the count but the
/// sketch's buckets (a few hundred at most).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    pub count: u64,
    pub ok: u64,
    pub errors: u64,
    pub timeouts: u64,
    pub refusals: u64,
    pub latency_sum_ms: f64,
    pub latency: LatencySketch,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Executions whose cost is known, and the sum and sum of squares of it.
    pub cost_count: u64,
    pub cost_sum: f64,
    pub cost_sum_sq: f64,
    pub feedback_count: u64,
    pub feedback_sum: f64,
    /// Feedback of at least 0.5 (a thumbs up).
    pub feedback_positive: u64,
    pub quality_count: u64,
    pub quality_sum: f64,
}

impl Tally {
    pub fn add(&mut self, execution: &Execution) {
        self.count += 1;
        match execution.outcome {
            Outcome::Ok => self.ok += 1,
            Outcome::Error => self.errors += 1,
            Outcome::Timeout => self.timeouts += 1,
            Outcome::Refusal => self.refusals += 1,
        }
        self.latency_sum_ms += execution.latency_ms;
        self.latency.add(execution.latency_ms);
        self.input_tokens += execution.input_tokens.unwrap_or(0);
        self.output_tokens += execution.output_tokens.unwrap_or(0);
        if let Some(cost) = execution.cost_usd {
            self.cost_count += 1;
            self.cost_sum += cost;
            self.cost_sum_sq += cost * cost;
        }
        if let Some(feedback) = execution.feedback {
            self.feedback_count += 1;
            self.feedback_sum += feedback;
            self.feedback_positive += u64::from(feedback >= 0.5);
        }
        if let Some(quality) = execution.quality {
            self.quality_count += 1;
            self.quality_sum += quality;
        }
    }

    pub fn merge(&mut self, other: &Tally) {
        self.count += other.count;
        self.ok += other.ok;
        self.errors += other.errors;
        self.timeouts += other.timeouts;
        self.refusals += other.refusals;
        self.latency_sum_ms += other.latency_sum_ms;
        self.latency.merge(&other.latency);
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cost_count += other.cost_count;
        self.cost_sum += other.cost_sum;
        self.cost_sum_sq += other.cost_sum_sq;
        self.feedback_count += other.feedback_count;
        self.feedback_sum += other.feedback_sum;
        self.feedback_positive += other.feedback_positive;
        self.quality_count += other.quality_count;
        self.quality_sum += other.quality_sum;
    }

    /// Errors and timeouts (refusals are counted apart).
    pub fn failures(&self) -> u64 {
        self.errors + self.timeouts
    }

    fn cost_mean_and_variance(&self) -> Option<(f64, f64)> {
        if self.cost_count < 2 {
            return None;
        }
        let n = self.cost_count as f64;
        let mean = self.cost_sum / n;
        // Sample variance from the sums; never below 0 by rounding.
        let variance = ((self.cost_sum_sq - n * mean * mean) / (n - 1.0)).max(0.0);
        Some((mean, variance))
    }

    pub fn metrics(&self) -> Metrics {
        let ratio = |part: u64, whole: u64| (whole > 0).then(|| part as f64 / whole as f64);
        let mean = |sum: f64, n: u64| (n > 0).then(|| sum / n as f64);
        Metrics {
            count: self.count,
            latency_ms: LatencyMetrics {
                mean: mean(self.latency_sum_ms, self.count),
                p50: self.latency.quantile(0.50),
                p95: self.latency.quantile(0.95),
                p99: self.latency.quantile(0.99),
            },
            outcomes: OutcomeCounts {
                ok: self.ok,
                error: self.errors,
                timeout: self.timeouts,
                refusal: self.refusals,
            },
            error_rate: ratio(self.failures(), self.count),
            refusal_rate: ratio(self.refusals, self.count),
            cost_usd: CostMetrics {
                known: self.cost_count,
                total: self.cost_sum,
                mean_per_call: mean(self.cost_sum, self.cost_count),
            },
            tokens: TokenMetrics {
                input: self.input_tokens,
                output: self.output_tokens,
            },
            feedback: FeedbackMetrics {
                count: self.feedback_count,
                rate: ratio(self.feedback_count, self.count),
                mean: mean(self.feedback_sum, self.feedback_count),
                positive_rate: ratio(self.feedback_positive, self.feedback_count),
            },
            quality: QualityMetrics {
                count: self.quality_count,
                mean: mean(self.quality_sum, self.quality_count),
            },
        }
    }
}

/// What `GET …/metrics` shows for one version or arm.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    pub count: u64,
    pub latency_ms: LatencyMetrics,
    pub outcomes: OutcomeCounts,
    /// Errors and timeouts over all executions.
    pub error_rate: Option<f64>,
    pub refusal_rate: Option<f64>,
    pub cost_usd: CostMetrics,
    pub tokens: TokenMetrics,
    pub feedback: FeedbackMetrics,
    pub quality: QualityMetrics,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencyMetrics {
    pub mean: Option<f64>,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutcomeCounts {
    pub ok: u64,
    pub error: u64,
    pub timeout: u64,
    pub refusal: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostMetrics {
    /// Executions whose cost is known (reported or priced).
    pub known: u64,
    pub total: f64,
    pub mean_per_call: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenMetrics {
    pub input: u64,
    pub output: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeedbackMetrics {
    /// Executions with feedback.
    pub count: u64,
    /// Share of executions that got feedback.
    pub rate: Option<f64>,
    /// Mean feedback (thumbs up = 1, down = 0).
    pub mean: Option<f64>,
    /// Share of feedback that was positive (≥ 0.5).
    pub positive_rate: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QualityMetrics {
    pub count: u64,
    pub mean: Option<f64>,
}

/// Two-sided confidence of every comparison interval.
pub const CONFIDENCE: f64 = 0.95;

/// Below these counts per arm, a comparison says "not enough data yet"
/// whatever its interval: the normal approximations need them.
pub const MIN_EXECUTIONS: u64 = 30;
pub const MIN_FEEDBACK: u64 = 30;
pub const MIN_COSTS: u64 = 30;

/// Differences this small are "the same" when the whole interval lies
/// within them: 2 points of positive feedback, 1 point of error rate, and
/// 5 % of the control arm's mean cost.
pub const SAME_FEEDBACK: f64 = 0.02;
pub const SAME_ERROR_RATE: f64 = 0.01;
pub const SAME_COST_RELATIVE: f64 = 0.05;

/// What a comparison concludes about arm B against arm A.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Better,
    Worse,
    Same,
    NotEnoughData,
}

/// Which way a metric improves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    HigherIsBetter,
    LowerIsBetter,
}

/// B − A for one metric, with its interval and the verdict on B.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Difference {
    pub a: Option<f64>,
    pub b: Option<f64>,
    pub difference: Option<f64>,
    /// `[low, high]` at [`CONFIDENCE`]; `None` with too little data.
    pub interval: Option<[f64; 2]>,
    pub method: &'static str,
    pub verdict: Verdict,
}

/// The comparison of arm B (candidate) with arm A (control).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub confidence: f64,
    /// Share of feedback that was positive.
    pub positive_feedback: Difference,
    pub error_rate: Difference,
    pub cost_per_call: Difference,
}

fn two_sided_z(confidence: f64) -> f64 {
    normal_quantile(1.0 - (1.0 - confidence) / 2.0)
}

/// Newcombe's hybrid score interval (his method 10) for p_b − p_a from two
/// independent samples: each proportion's Wilson interval, combined.
pub fn newcombe_difference(
    successes_a: u64,
    n_a: u64,
    successes_b: u64,
    n_b: u64,
    confidence: f64,
) -> (f64, f64) {
    let z = two_sided_z(confidence);
    let p_a = successes_a as f64 / n_a as f64;
    let p_b = successes_b as f64 / n_b as f64;
    let (low_a, high_a) = wilson(successes_a, n_a, z);
    let (low_b, high_b) = wilson(successes_b, n_b, z);
    let d = p_b - p_a;
    let low = d - ((p_b - low_b).powi(2) + (high_a - p_a).powi(2)).sqrt();
    let high = d + ((high_b - p_b).powi(2) + (p_a - low_a).powi(2)).sqrt();
    (low, high)
}

/// Welch's interval for mean_b − mean_a from means, sample variances and
/// counts (unequal variances; Welch–Satterthwaite degrees of freedom).
pub fn welch_difference(
    (mean_a, var_a, n_a): (f64, f64, u64),
    (mean_b, var_b, n_b): (f64, f64, u64),
    confidence: f64,
) -> (f64, f64) {
    let (sa, sb) = (var_a / n_a as f64, var_b / n_b as f64);
    let se2 = sa + sb;
    let d = mean_b - mean_a;
    if se2 <= 0.0 {
        return (d, d);
    }
    let df = se2 * se2 / (sa * sa / (n_a as f64 - 1.0) + sb * sb / (n_b as f64 - 1.0));
    let t = t_quantile(1.0 - (1.0 - confidence) / 2.0, df);
    let half = t * se2.sqrt();
    (d - half, d + half)
}

fn verdict(interval: (f64, f64), same_within: f64, direction: Direction) -> Verdict {
    let (low, high) = interval;
    let (up, down) = match direction {
        Direction::HigherIsBetter => (Verdict::Better, Verdict::Worse),
        Direction::LowerIsBetter => (Verdict::Worse, Verdict::Better),
    };
    if low > 0.0 {
        up
    } else if high < 0.0 {
        down
    } else if -same_within <= low && high <= same_within {
        Verdict::Same
    } else {
        Verdict::NotEnoughData
    }
}

fn rate_difference(
    (successes_a, n_a): (u64, u64),
    (successes_b, n_b): (u64, u64),
    minimum: u64,
    same_within: f64,
    direction: Direction,
    confidence: f64,
) -> Difference {
    let rate = |s: u64, n: u64| (n > 0).then(|| s as f64 / n as f64);
    let (a, b) = (rate(successes_a, n_a), rate(successes_b, n_b));
    let difference = a.zip(b).map(|(a, b)| b - a);
    if n_a < minimum || n_b < minimum {
        return Difference {
            a,
            b,
            difference,
            interval: None,
            method: "newcombe",
            verdict: Verdict::NotEnoughData,
        };
    }
    let interval = newcombe_difference(successes_a, n_a, successes_b, n_b, confidence);
    Difference {
        a,
        b,
        difference,
        interval: Some([interval.0, interval.1]),
        method: "newcombe",
        verdict: verdict(interval, same_within, direction),
    }
}

fn cost_difference(a: &Tally, b: &Tally, confidence: f64) -> Difference {
    let mean = |t: &Tally| (t.cost_count > 0).then(|| t.cost_sum / t.cost_count as f64);
    let (mean_a, mean_b) = (mean(a), mean(b));
    let difference = mean_a.zip(mean_b).map(|(a, b)| b - a);
    let enough = a.cost_count >= MIN_COSTS && b.cost_count >= MIN_COSTS;
    let moments = a.cost_mean_and_variance().zip(b.cost_mean_and_variance());
    let Some(((ma, va), (mb, vb))) = moments.filter(|_| enough) else {
        return Difference {
            a: mean_a,
            b: mean_b,
            difference,
            interval: None,
            method: "welch",
            verdict: Verdict::NotEnoughData,
        };
    };
    let interval = welch_difference((ma, va, a.cost_count), (mb, vb, b.cost_count), confidence);
    Difference {
        a: mean_a,
        b: mean_b,
        difference,
        interval: Some([interval.0, interval.1]),
        method: "welch",
        verdict: verdict(
            interval,
            SAME_COST_RELATIVE * ma.abs(),
            Direction::LowerIsBetter,
        ),
    }
}

/// Arm B against arm A at `confidence` (the server uses [`CONFIDENCE`]).
pub fn compare_at(a: &Tally, b: &Tally, confidence: f64) -> Comparison {
    Comparison {
        confidence,
        positive_feedback: rate_difference(
            (a.feedback_positive, a.feedback_count),
            (b.feedback_positive, b.feedback_count),
            MIN_FEEDBACK,
            SAME_FEEDBACK,
            Direction::HigherIsBetter,
            confidence,
        ),
        error_rate: rate_difference(
            (a.failures(), a.count),
            (b.failures(), b.count),
            MIN_EXECUTIONS,
            SAME_ERROR_RATE,
            Direction::LowerIsBetter,
            confidence,
        ),
        cost_per_call: cost_difference(a, b, confidence),
    }
}

/// Arm B against arm A at [`CONFIDENCE`].
pub fn compare(a: &Tally, b: &Tally) -> Comparison {
    compare_at(a, b, CONFIDENCE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn execution(latency_ms: f64, outcome: Outcome) -> Execution {
        Execution {
            latency_ms,
            outcome,
            input_tokens: Some(10),
            output_tokens: Some(5),
            cost_usd: None,
            feedback: None,
            quality: None,
        }
    }

    #[test]
    fn sketch_percentiles_are_within_the_bound_of_the_exact_ones() {
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..20 {
            let n = rng.random_range(1..5000);
            let mut values: Vec<f64> = (0..n)
                .map(|_| (rng.random::<f64>() * 12.0).exp() * 0.05)
                .collect();
            let mut sketch = LatencySketch::default();
            values.iter().for_each(|v| sketch.add(*v));
            values.sort_by(f64::total_cmp);
            for q in [0.0, 0.5, 0.9, 0.95, 0.99, 1.0] {
                let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
                let exact = values[rank - 1].max(MIN_LATENCY_MS);
                let estimate = sketch.quantile(q).unwrap();
                let error = (estimate - exact).abs() / exact;
                assert!(
                    error <= SKETCH_RELATIVE_ERROR + 1e-12,
                    "q={q} n={n}: {estimate} vs {exact} ({error})"
                );
            }
        }
        assert_eq!(LatencySketch::default().quantile(0.5), None);
    }

    #[test]
    fn tallies_merge_as_if_added_at_once() {
        let executions: Vec<Execution> = (0..100)
            .map(|i| Execution {
                cost_usd: (i % 3 != 0).then_some(i as f64 * 0.25),
                feedback: (i % 4 == 0).then_some(if i % 8 == 0 { 1.0 } else { 0.0 }),
                quality: (i % 5 == 0).then_some(0.5),
                ..execution(10.0 + i as f64, Outcome::ALL[i % Outcome::ALL.len()])
            })
            .collect();
        let mut whole = Tally::default();
        executions.iter().for_each(|e| whole.add(e));
        let (mut left, mut right) = (Tally::default(), Tally::default());
        executions[..37].iter().for_each(|e| left.add(e));
        executions[37..].iter().for_each(|e| right.add(e));
        left.merge(&right);
        assert_eq!(left.metrics(), whole.metrics());
        let metrics = whole.metrics();
        assert_eq!(metrics.count, 100);
        assert_eq!(metrics.outcomes.error + metrics.outcomes.timeout, 50);
        assert_eq!(metrics.error_rate, Some(0.5));
        assert_eq!(metrics.feedback.count, 25);
        assert_eq!(metrics.feedback.rate, Some(0.25));
        assert_eq!(metrics.cost_usd.known, 66);
        assert_eq!(metrics.quality.mean, Some(0.5));
    }

    #[test]
    fn newcombe_matches_the_published_example() {
        // Newcombe (1998), Table II example (e): 56/70 vs 48/80, method 10
        // gives 0.0524 to 0.3339 for p1 − p2.
        let (low, high) = newcombe_difference(48, 80, 56, 70, 0.95);
        assert!((low - 0.0524).abs() < 5e-4, "{low}");
        assert!((high - 0.3339).abs() < 5e-4, "{high}");
    }

    #[test]
    fn few_executions_are_not_enough_data_whatever_the_difference() {
        let mut a = Tally::default();
        let mut b = Tally::default();
        for _ in 0..10 {
            a.add(&execution(100.0, Outcome::Ok));
            b.add(&execution(100.0, Outcome::Error));
        }
        let comparison = compare(&a, &b);
        assert_eq!(comparison.error_rate.verdict, Verdict::NotEnoughData);
        assert_eq!(comparison.error_rate.interval, None);
        assert_eq!(comparison.error_rate.difference, Some(1.0));
        assert_eq!(comparison.cost_per_call.verdict, Verdict::NotEnoughData);
    }

    /// One simulated A/B test: two arms of `n` executions each with the given
    /// true error rates, feedback rates and mean costs.
    fn simulate(
        rng: &mut StdRng,
        n: usize,
        error_rate: (f64, f64),
        positive: (f64, f64),
        cost: (f64, f64),
    ) -> (Tally, Tally) {
        let mut arm = |error_rate: f64, positive: f64, cost: f64| {
            let mut tally = Tally::default();
            for _ in 0..n {
                let failed = rng.random::<f64>() < error_rate;
                // Skewed costs (exponential), as token counts are.
                let spent = -cost * (1.0 - rng.random::<f64>()).ln();
                tally.add(&Execution {
                    feedback: Some(if rng.random::<f64>() < positive {
                        1.0
                    } else {
                        0.0
                    }),
                    cost_usd: Some(spent),
                    ..execution(200.0, if failed { Outcome::Error } else { Outcome::Ok })
                });
            }
            tally
        };
        let a = arm(error_rate.0, positive.0, cost.0);
        let b = arm(error_rate.1, positive.1, cost.1);
        (a, b)
    }

    /// Share of simulated A/A tests (no true difference) in which any one of
    /// the three metrics is called better or worse, per metric.
    fn false_verdict_rates(confidence: f64, trials: usize) -> [f64; 3] {
        let mut rng = StdRng::seed_from_u64(2026);
        let mut wrong = [0usize; 3];
        for _ in 0..trials {
            let (a, b) = simulate(&mut rng, 400, (0.08, 0.08), (0.6, 0.6), (0.002, 0.002));
            let c = compare_at(&a, &b, confidence);
            for (slot, difference) in [&c.positive_feedback, &c.error_rate, &c.cost_per_call]
                .into_iter()
                .enumerate()
            {
                if matches!(difference.verdict, Verdict::Better | Verdict::Worse) {
                    wrong[slot] += 1;
                }
            }
        }
        wrong.map(|w| w as f64 / trials as f64)
    }

    /// The bar every metric's false verdict rate must stay under: the 5 %
    /// of a 95 % interval plus three standard errors of the simulation.
    fn false_verdict_bar(trials: usize) -> f64 {
        0.05 + 3.0 * (0.05 * 0.95 / trials as f64).sqrt()
    }

    #[test]
    fn without_a_true_difference_verdicts_are_rarely_better_or_worse() {
        let trials = 1500;
        let rates = false_verdict_rates(CONFIDENCE, trials);
        for (metric, rate) in ["feedback", "error rate", "cost"].iter().zip(rates) {
            assert!(
                rate <= false_verdict_bar(trials),
                "{metric}: {rate} of A/A tests got a verdict"
            );
        }
    }

    #[test]
    fn the_false_verdict_check_catches_a_too_narrow_interval() {
        // A deliberate mutant: a 68 % interval passed off as the real one.
        // The simulation must notice on every metric.
        let trials = 1500;
        let rates = false_verdict_rates(0.68, trials);
        for (metric, rate) in ["feedback", "error rate", "cost"].iter().zip(rates) {
            assert!(
                rate > false_verdict_bar(trials),
                "{metric}: a 68 % interval went unnoticed ({rate})"
            );
        }
    }

    #[test]
    fn intervals_cover_a_true_difference_and_call_it() {
        let mut rng = StdRng::seed_from_u64(99);
        let trials = 400;
        let (mut covered, mut better) = ([0usize; 3], [0usize; 3]);
        let truth = [0.05, -0.03, -0.0004];
        for _ in 0..trials {
            let (a, b) = simulate(&mut rng, 2000, (0.08, 0.05), (0.6, 0.65), (0.002, 0.0016));
            let c = compare(&a, &b);
            let differences = [&c.positive_feedback, &c.error_rate, &c.cost_per_call];
            for (slot, difference) in differences.into_iter().enumerate() {
                let [low, high] = difference.interval.unwrap();
                covered[slot] += usize::from(low <= truth[slot] && truth[slot] <= high);
                better[slot] += usize::from(difference.verdict == Verdict::Better);
            }
        }
        for slot in 0..3 {
            let coverage = covered[slot] as f64 / trials as f64;
            assert!(coverage >= 0.92, "metric {slot}: coverage {coverage}");
            // Large true improvements are found most of the time.
            assert!(better[slot] * 2 > trials, "metric {slot}: {}", better[slot]);
        }
    }

    #[test]
    fn a_tight_interval_around_zero_is_the_same() {
        let mut rng = StdRng::seed_from_u64(5);
        let (a, b) = simulate(&mut rng, 60_000, (0.05, 0.05), (0.5, 0.5), (0.002, 0.002));
        let c = compare(&a, &b);
        assert_eq!(c.error_rate.verdict, Verdict::Same, "{:?}", c.error_rate);
        assert_eq!(c.positive_feedback.verdict, Verdict::Same);
        assert_eq!(c.cost_per_call.verdict, Verdict::Same);
    }
}
