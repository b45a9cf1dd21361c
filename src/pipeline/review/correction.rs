//! The judge's errors, from reviewers' labels, and the correction the gate
//! makes for them (Rogan & Gladen 1978).
//!
//! A judge that passes a truly passing output with probability Se
//! (sensitivity) and a truly failing one with probability 1 − Sp
//! (specificity Sp) reports a pass rate q = Se·π + (1 − Sp)·(1 − π) when
//! the true pass rate is π. The difference between two versions is then
//! shrunk by Youden's J = Se + Sp − 1:
//!
//! ```text
//! q_head − q_base = J · (π_head − π_base)
//! ```
//!
//! so a judge with J = 0.6 shows a true drop of 0.05 as 0.03, inside a 0.04
//! tolerance: "unchanged" for a real regression. The gate divides by J, and
//! because J is only estimated from a few dozen labels it divides by the
//! whole of J's confidence range, not by the estimate (which would let the
//! labels' sampling error through as false verdicts; the calibration test
//! keeps that mutant). The assumption: the judge errs at the same rates on
//! both versions' outputs (non-differential error).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use statrs::distribution::{Beta, ContinuousCDF};

use super::ReviewLabel;

/// Labels counted against the judge's pass/fail decision on the same outputs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfusionTable {
    /// Reviewer pass, judge pass.
    pub both_pass: u64,
    /// Reviewer pass, judge fail.
    pub judge_failed_a_pass: u64,
    /// Reviewer fail, judge pass.
    pub judge_passed_a_fail: u64,
    /// Reviewer fail, judge fail.
    pub both_fail: u64,
}

impl ConfusionTable {
    pub fn of<'a>(labels: impl IntoIterator<Item = &'a ReviewLabel>) -> Self {
        let mut table = Self::default();
        for label in labels {
            match (label.human.passes(), label.judge_passes()) {
                (true, true) => table.both_pass += 1,
                (true, false) => table.judge_failed_a_pass += 1,
                (false, true) => table.judge_passed_a_fail += 1,
                (false, false) => table.both_fail += 1,
            }
        }
        table
    }

    pub fn n(&self) -> u64 {
        self.both_pass + self.judge_failed_a_pass + self.judge_passed_a_fail + self.both_fail
    }

    /// Outputs the reviewers passed.
    pub fn human_passes(&self) -> u64 {
        self.both_pass + self.judge_failed_a_pass
    }

    /// Outputs the reviewers failed.
    pub fn human_fails(&self) -> u64 {
        self.judge_passed_a_fail + self.both_fail
    }

    /// Youden's J = Se + Sp − 1, the factor a judge shrinks differences by;
    /// `None` until both classes have a label.
    pub fn youden(&self) -> Option<f64> {
        let se = ratio(self.both_pass, self.human_passes())?;
        let sp = ratio(self.both_fail, self.human_fails())?;
        Some(se + sp - 1.0)
    }

    /// Bounds on J with P(J < low) ≤ `tail` and P(J > high) ≤ `tail`: the
    /// exact (Clopper–Pearson) one-sided bounds of Se and Sp, each at
    /// `tail / 2`, added (the two come from disjoint sets of labels).
    pub fn youden_bounds(&self, tail: f64) -> (f64, f64) {
        let (se_lo, se_hi) = clopper_pearson(self.both_pass, self.human_passes(), tail / 2.0);
        let (sp_lo, sp_hi) = clopper_pearson(self.both_fail, self.human_fails(), tail / 2.0);
        (se_lo + sp_lo - 1.0, se_hi + sp_hi - 1.0)
    }
}

fn ratio(k: u64, n: u64) -> Option<f64> {
    (n > 0).then(|| k as f64 / n as f64)
}

/// The exact one-sided bounds of a binomial proportion, each at `tail`:
/// P(p < low) ≤ tail and P(p > high) ≤ tail. No trials: (0, 1).
pub fn clopper_pearson(k: u64, n: u64, tail: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let tail = tail.clamp(1e-300, 0.5);
    let (kf, nf) = (k as f64, n as f64);
    let low = if k == 0 {
        0.0
    } else {
        Beta::new(kf, nf - kf + 1.0).map_or(0.0, |b| b.inverse_cdf(tail))
    };
    let high = if k == n {
        1.0
    } else {
        Beta::new(kf + 1.0, nf - kf).map_or(1.0, |b| b.inverse_cdf(1.0 - tail))
    };
    (low, high)
}

/// The split of one one-sided tail between its two sources of error: half
/// for the interval of the observed (judged) difference, a quarter for each
/// side of J's range (both sides are needed, since which one bounds the
/// result depends on the observed interval's sign).
pub fn split_tail(tail: f64) -> (f64, f64) {
    (tail / 2.0, tail / 4.0)
}

/// The interval of the true difference, from an interval of the judged
/// difference and J's range: each bound divided by whichever J in the range
/// puts it farthest out. A range of J that reaches 0 (a judge that may be no
/// better than chance, or worse, which flips signs) bounds nothing: ±1.
pub fn corrected_interval((lo, hi): (f64, f64), (j_lo, j_hi): (f64, f64)) -> (f64, f64) {
    if j_lo <= 0.0 || j_hi < j_lo {
        return (-1.0, 1.0);
    }
    // A bound on the far side of 0 grows as J shrinks; one on the near
    // side shrinks as J grows.
    let low = if lo <= 0.0 { lo / j_lo } else { lo / j_hi };
    let high = if hi >= 0.0 { hi / j_lo } else { hi / j_hi };
    (low.clamp(-1.0, 1.0), high.clamp(-1.0, 1.0))
}

/// The point estimate of the true difference: judged / Ĵ, within [−1, 1];
/// `None` when Ĵ is not positive.
pub fn corrected_point(observed: f64, youden: f64) -> Option<f64> {
    (youden > 0.0).then(|| (observed / youden).clamp(-1.0, 1.0))
}

/// The reviewers' evidence on each judge the gate corrects: (prompt,
/// criterion) → its labels' table. A criterion that opted in with no labels
/// is here with an empty table, and its verdicts are inconclusive (nothing
/// is known of the judge, so J may be 0).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReviewedJudges {
    tables: BTreeMap<(String, String), ConfusionTable>,
}

impl ReviewedJudges {
    pub fn insert(&mut self, prompt: &str, criterion: &str, table: ConfusionTable) {
        self.tables
            .insert((prompt.to_owned(), criterion.to_owned()), table);
    }

    pub fn get(&self, prompt: &str, criterion: &str) -> Option<&ConfusionTable> {
        self.tables.get(&(prompt.to_owned(), criterion.to_owned()))
    }

    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clopper_pearson_matches_published_values() {
        // 7/100, one-sided 97.5% each: [0.0286, 0.1389] (two-sided 95% CP).
        let (lo, hi) = clopper_pearson(7, 100, 0.025);
        assert!((lo - 0.0286).abs() < 2e-4, "{lo}");
        assert!((hi - 0.1389).abs() < 2e-4, "{hi}");
        // All successes: the upper bound is 1 and the lower α^(1/n).
        let (lo, hi) = clopper_pearson(20, 20, 0.05);
        assert_eq!(hi, 1.0);
        assert!((lo - 0.05f64.powf(1.0 / 20.0)).abs() < 1e-9);
        assert_eq!(clopper_pearson(0, 0, 0.05), (0.0, 1.0));
    }

    #[test]
    fn a_judge_shrinks_differences_by_youden_j() {
        let table = ConfusionTable {
            both_pass: 85,
            judge_failed_a_pass: 15,
            judge_passed_a_fail: 25,
            both_fail: 75,
        };
        let j = table.youden().unwrap();
        assert!((j - 0.6).abs() < 1e-12);
        assert!((corrected_point(-0.03, j).unwrap() + 0.05).abs() < 1e-12);
        let (lo, hi) = table.youden_bounds(0.05);
        assert!(lo < 0.6 && hi > 0.6 && lo > 0.3 && hi < 0.8, "{lo} {hi}");
        assert_eq!(corrected_point(0.1, 0.0), None);
    }

    #[test]
    fn the_corrected_interval_takes_the_farthest_j_on_each_side() {
        // Wholly below 0: the low end by the smallest J, the high end by
        // the largest.
        let (lo, hi) = corrected_interval((-0.06, -0.02), (0.5, 0.8));
        assert!((lo + 0.12).abs() < 1e-12 && (hi + 0.025).abs() < 1e-12);
        // Straddling 0: both ends by the smallest J.
        let (lo, hi) = corrected_interval((-0.04, 0.02), (0.5, 0.8));
        assert!((lo + 0.08).abs() < 1e-12 && (hi - 0.04).abs() < 1e-12);
        // A judge that may be no better than chance tells nothing.
        assert_eq!(corrected_interval((-0.04, -0.02), (0.0, 0.8)), (-1.0, 1.0));
        assert_eq!(
            corrected_interval((-0.04, -0.02), (-0.5, -0.1)),
            (-1.0, 1.0)
        );
        // Never beyond the scale.
        assert_eq!(corrected_interval((-0.6, 0.6), (0.5, 0.9)), (-1.0, 1.0));
    }

    #[test]
    fn no_labels_leave_j_unknown() {
        let (lo, hi) = ConfusionTable::default().youden_bounds(0.05);
        assert_eq!((lo, hi), (-1.0, 1.0));
        assert_eq!(corrected_interval((-0.3, -0.2), (lo, hi)), (-1.0, 1.0));
    }
}
